/*
 * Weak pointers (runtime/weak.c), with GOGC off so that only the tests
 * start cycles, under GODEBUG=gccheckmark=1,clobberfree=1 (meson.build).
 *
 * - The same live object gets the same handle; an interior pointer is
 *   refused with a message.
 * - A weak pointer still returns its target, intact, after cycles in which
 *   the target is held strongly (only from a registered root range).
 * - Once the target is unreachable, the handle reads NULL and the target is
 *   freed.
 * - With a finalizer on the target: the handle already reads NULL when the
 *   finalizer runs, stays NULL after the finalizer resurrects the object,
 *   and gc_weak_make on the resurrected object gives a new, working handle.
 * - Between mark termination and the sweep (held off), a dead target's
 *   handle reads NULL though the object is not freed yet.
 */
#include <check.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>

#include <tricolor.h>

#include "atomics.h"
#include "capture.h"
#include "check_main.h"
#include "gc.h"
#include "support.h"
#include "sweep.h"

#include <pthread.h>

static void *slots[2];

static NOINLINE uintptr_t weak_of(uintptr_t h)
{
    return hide(gc_weak_make(reveal(h)));
}

/* Does the handle read the hidden object? */
static NOINLINE int reads(uintptr_t hw, uintptr_t h)
{
    return gc_weak_get(reveal(hw)) == reveal(h);
}

static NOINLINE int reads_null(uintptr_t hw)
{
    return gc_weak_get(reveal(hw)) == NULL;
}

START_TEST(same_handle_and_interior_refused)
{
    char *p = gc_alloc(64);
    gc_weak *w1 = gc_weak_make(p), *w2 = gc_weak_make(p);
    ck_assert_ptr_nonnull(w1);
    ck_assert_ptr_eq(w1, w2);
    ck_assert_ptr_eq(gc_weak_get(w1), p);
    capture_begin();
    gc_weak *wi = gc_weak_make(p + 8);
    const char *msg = capture_end();
    ck_assert_ptr_null(wi);
    ck_assert_msg(strstr(msg, "gc_weak_make") && strstr(msg, "interior"), "message: %s", msg);
    ck_assert_ptr_null(gc_weak_make(NULL));
    ck_assert_ptr_null(gc_weak_get(NULL));
}
END_TEST

START_TEST(live_target_survives_cycles)
{
    gc_add_roots(slots, slots + 2);
    uintptr_t h = new_hidden(64, 1);
    slots[0] = reveal(h);
    uintptr_t hw = weak_of(h);
    slots[1] = reveal(hw);
    for (int i = 0; i < 5; i++) {
        collect();
        ck_assert_msg(reads(hw, h), "a live target's weak pointer read something else");
        ck_assert(is_live(h, 64));
    }
    ck_assert_uint_eq(weak_of(h), hw);
    /* Dropped: the next cycle's mark leaves it unmarked. */
    slots[0] = NULL;
    collect();
    ck_assert_msg(reads_null(hw), "a dead target's weak pointer did not read NULL");
    ck_assert(is_freed(h));
    collect();
    ck_assert(reads_null(hw));
    gc_remove_roots(slots, slots + 2);
    slots[1] = NULL;
}
END_TEST

static volatile AO_t fin_runs, fin_saw_null;
static volatile uintptr_t fin_weak;
static void *resurrected[1];

static void weak_fin(void *obj, void *data)
{
    (void)data;
    if (gc_weak_get(reveal(fin_weak)) == NULL)
        atomic_store(&fin_saw_null, 1);
    resurrected[0] = obj;
    atomic_xadd(&fin_runs, 1);
}

static NOINLINE uintptr_t make_finalizable(void)
{
    uintptr_t h = new_hidden(64, 0);
    int r = gc_set_finalizer(reveal(h), weak_fin, NULL);
    ck_assert_int_eq(r, 0);
    return h;
}

START_TEST(cleared_before_finalizer_and_not_refilled)
{
    gc_add_roots(resurrected, resurrected + 1);
    gc_add_roots(slots, slots + 2);
    uintptr_t h = make_finalizable();
    uintptr_t hw = weak_of(h);
    slots[1] = reveal(hw);
    fin_weak = hw;
    collect();
    double deadline = now_s() + 10;
    while (atomic_load(&fin_runs) == 0 && now_s() < deadline)
        sched_yield();
    ck_assert_uint_eq(atomic_load(&fin_runs), 1);
    ck_assert_msg(atomic_load(&fin_saw_null),
                  "the finalizer saw its object through a weak pointer");
    collect();
    ck_assert(is_live(h, 64));
    ck_assert_msg(reads_null(hw), "resurrection refilled the weak pointer");
    uintptr_t hw2 = weak_of(h);
    ck_assert_uint_ne(hw2, hw);
    ck_assert(reads(hw2, h));
    resurrected[0] = NULL;
    gc_remove_roots(resurrected, resurrected + 1);
    gc_remove_roots(slots, slots + 2);
    slots[1] = NULL;
}
END_TEST

/* A gc_weak_get between mark termination and the sweep of its target's
 * span: the target is unmarked there, about to be freed, and must read
 * NULL. Sweeping is held off (sweep_pause, once the cycle marks) while
 * another thread's gc_collect finishes the cycle and then waits to sweep. */
static void *collector_main(void *arg)
{
    (void)arg;
    gc_collect(); /* unregistered: allowed after gc_init */
    return NULL;
}

START_TEST(unswept_dead_target_reads_null)
{
    gc_add_roots(slots, slots + 2);
    uintptr_t h = new_hidden(64, 1);
    uintptr_t hw = weak_of(h);
    slots[1] = reveal(hw);
    slots[0] = reveal(h);
    collect(); /* nothing pending to sweep; h lives */
    ck_assert(reads(hw, h));
    slots[0] = NULL;
    uint32_t n0 = atomic_load32(&cycle_stats.num_gc);
    clear_stack();
    clear_registers();
    pthread_t th;
    pthread_create(&th, NULL, collector_main, NULL);
    /* Paused once the cycle marks: its first pause has swept what was left. */
    double deadline = now_s() + 10;
    while (atomic_load(&cycle_phase) != PHASE_MARK && atomic_load32(&cycle_stats.num_gc) == n0 &&
           now_s() < deadline)
        sched_yield();
    sweep_pause();
    while (atomic_load32(&cycle_stats.num_gc) == n0 && now_s() < deadline)
        sched_yield();
    int cycled = atomic_load32(&cycle_stats.num_gc) != n0;
    int null_before_sweep = reads_null(hw);
    sweep_unpause();
    pthread_join(th, NULL);
    ck_assert_msg(cycled, "no cycle within 10 s");
    ck_assert_msg(null_before_sweep, "gc_weak_get returned a target its sweep is about to free");
    ck_assert(reads_null(hw));
    ck_assert(is_freed(h));
    gc_remove_roots(slots, slots + 2);
    slots[1] = NULL;
}
END_TEST

static Suite *weak_suite(void)
{
    Suite *s = suite_create("weak");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, same_handle_and_interior_refused);
    tcase_add_test(tc, live_target_survives_cycles);
    tcase_add_test(tc, cleared_before_finalizer_and_not_refilled);
    tcase_add_test(tc, unswept_dead_target_reads_null);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gc_options opts = {.gogc = "off"};
    if (gc_init(&opts) != 0)
        return 1;
    return run_suite(weak_suite(), CK_NOFORK);
}
