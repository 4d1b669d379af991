/*
 * Finalizers and cleanups (runtime/finalizer.c, runtime/special.c), with
 * GOGC off so that only the tests start cycles, under
 * GODEBUG=gccheckmark=1,clobberfree=1 (meson.build).
 *
 * - A finalizer runs once, and its object is freed after (not run twice).
 * - An object reachable only from a finalizer-pending object survives until
 *   the finalizer has run: the finalizer waits until the cycles after its
 *   queueing have swept, then reads the object's canary (clobberfree would
 *   have overwritten it).
 * - A finalizer set in the middle of a mark on the only holder of C, which
 *   then becomes unreachable: C survives for the finalizer.
 * - A chain A -> B, both finalizable: A's finalizer runs first, B's in a
 *   later cycle, and B is intact when A's runs.
 * - Resurrection: the finalizer stores the object in a root; it lives; once
 *   dropped again it dies without a second finalization.
 * - Misuse: an interior pointer, a second finalizer, fn NULL removing it.
 * - Cleanups: several per object at interior pointers, each run once, the
 *   object freed in the cycle it died; gc_cleanup_stop; arg inside the
 *   object refused; with a finalizer, cleanups run at the second death.
 *
 * - fork(): a child runs its finalizers on a runner thread of its own.
 *
 * Run with the argument "notify", the suite is initialised with
 * gc_options.finalizer_notify and runs the queue itself with
 * gc_run_finalizers (the same tests, through wait_for()).
 */
#include <check.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>

#include <tricolor.h>

#include "atomics.h"
#include "capture.h"
#include "check_main.h"
#include "child.h"
#include "mark_window.h"
#include "support.h"

static int notify_mode;
static volatile AO_t notifications;

static void on_notify(void)
{
    atomic_xadd(&notifications, 1);
}

/* Runs (notify mode) or lets the runtime's thread run queued finalizers
 * until *counter reaches want; 0 after 10 s. */
static int wait_for(volatile AO_t *counter, AO_t want)
{
    double deadline = now_s() + 10;
    while (atomic_load(counter) < want) {
        if (now_s() > deadline)
            return 0;
        if (notify_mode)
            gc_run_finalizers(16);
        else
            sched_yield();
    }
    return 1;
}

/* Lets queued work run for a while (so that a second run would show). */
static void settle(void)
{
    double until = now_s() + 0.2;
    while (now_s() < until) {
        if (notify_mode)
            gc_run_finalizers(16);
        sched_yield();
    }
}

/* ---- Run once ----------------------------------------------------------- */

static volatile AO_t once_runs;
static volatile uintptr_t once_seen;

static void once_fn(void *obj, void *data)
{
    ck_assert_ptr_eq(data, (void *)0x1234);
    once_seen = hide(obj);
    atomic_xadd(&once_runs, 1);
}

static NOINLINE uintptr_t make_once(void)
{
    uintptr_t h = new_hidden(48, 0);
    ck_assert_int_eq(gc_set_finalizer(reveal(h), once_fn, (void *)0x1234), 0);
    return h;
}

START_TEST(finalizer_runs_once)
{
    once_runs = 0;
    uintptr_t h = make_once();
    collect();
    ck_assert_msg(wait_for(&once_runs, 1), "the finalizer did not run");
    ck_assert_uint_eq(once_seen, h);
    for (int i = 0; i < 3; i++)
        collect();
    settle();
    ck_assert_uint_eq(atomic_load(&once_runs), 1);
    ck_assert_msg(is_freed(h), "the finalized object was never freed");
}
END_TEST

/* ---- Reachable from a pending object ------------------------------------- */

#define CANARY_WORDS 16
static volatile AO_t pending_release, pending_runs, pending_bad;

/* The finalizer waits until the test has run more cycles, then checks that
 * what its object reaches is intact. */
static void pending_fn(void *obj, void *data)
{
    (void)data;
    while (!atomic_load(&pending_release))
        sched_yield();
    uintptr_t *o = obj;
    uintptr_t hc = o[1];
    uintptr_t *c = (uintptr_t *)o[0];
    if ((uintptr_t)c != ~hc || gc_base(c) != c)
        atomic_xadd(&pending_bad, 1);
    for (size_t i = 0; i < CANARY_WORDS; i++)
        if (c[i] != hc + i)
            atomic_xadd(&pending_bad, 1);
    atomic_xadd(&pending_runs, 1);
}

/* X (finalizable) -> C (canary); returns hidden X. */
static NOINLINE uintptr_t make_holder(uintptr_t *hc)
{
    *hc = new_hidden(CANARY_WORDS * sizeof(uintptr_t), 1);
    uintptr_t *x = gc_alloc(4 * sizeof(uintptr_t));
    x[0] = (uintptr_t)reveal(*hc);
    x[1] = *hc;
    return hide(x);
}

static NOINLINE void set_pending_fn(uintptr_t h)
{
    ck_assert_int_eq(gc_set_finalizer(reveal(h), pending_fn, NULL), 0);
}

/* 0: allocated and unmarked; 1: marked; -1: not allocated. Asserts nothing. */
static NOINLINE int holder_state(uintptr_t h)
{
    struct mspan *s;
    unsigned idx;
    if (find_object((uintptr_t)reveal(h), &s, &idx) == 0)
        return -1;
    return bit_is_set((const AO_t *)s->gcmark_bits, idx);
}

static void pending_check(uintptr_t hc)
{
    /* The finalizer is blocked meanwhile: these cycles sweep, and would
     * have freed (and clobbered) C. */
    for (int i = 0; i < 3; i++)
        collect();
    (void)hc;
    atomic_store(&pending_release, 1);
    if (notify_mode)
        gc_run_finalizers(1);
    ck_assert_msg(wait_for(&pending_runs, 1), "the finalizer did not run");
    ck_assert_uint_eq(atomic_load(&pending_bad), 0);
}

START_TEST(reachable_from_pending_survives)
{
    ck_assert_msg(!notify_mode, "runs with the runtime's thread");
    pending_release = pending_runs = pending_bad = 0;
    uintptr_t hc;
    uintptr_t hx = make_holder(&hc);
    set_pending_fn(hx);
    collect();
    pending_check(hc);
    collect();
    collect();
    ck_assert(is_freed(hx));
    ck_assert(is_freed(hc));
}
END_TEST

/* A finalizer set while a cycle marks, on an object the cycle has not seen
 * yet, that is then dropped: the mark must keep what it holds. */
START_TEST(finalizer_set_mid_mark)
{
    pending_release = pending_runs = pending_bad = 0;
    uintptr_t hc = 0, hx = 0;
    int open = 0;
    /* The holder is made before each try, so that it is white when the
     * cycle starts (a failed try's cycle frees the last one). */
    for (int i = 0; i < 20 && !open; i++) {
        hx = make_holder(&hc);
        clear_stack();
        clear_registers();
        if (!(open = mark_window_open()))
            gc_collect(); /* the controller won the race: try again */
    }
    ck_assert_msg(open, "no mark window in 20 tries");
    /* No assertion before the window closes: a failure would leave the
     * suspend signal blocked. */
    mark_window_wait_globals();
    int state = holder_state(hx);
    set_pending_fn(hx);
    clear_stack();
    clear_registers();
    mark_window_close();
    ck_assert_msg(state == 0, "the holder was %s before its finalizer was set",
                  state < 0 ? "freed" : "marked");
    collect();
    pending_check(hc);
}
END_TEST

/* ---- Chain A -> B ------------------------------------------------------- */

static volatile AO_t chain_a, chain_b, chain_b_intact;

static void chain_b_fn(void *obj, void *data)
{
    (void)obj;
    (void)data;
    atomic_xadd(&chain_b, 1);
}

static void chain_a_fn(void *obj, void *data)
{
    (void)data;
    uintptr_t *a = obj;
    uintptr_t *b = (uintptr_t *)a[0];
    if (gc_base(b) == b && b[1] == 0xb0b0b0b0u)
        atomic_store(&chain_b_intact, 1);
    atomic_xadd(&chain_a, 1);
}

static NOINLINE void make_chain(void)
{
    uintptr_t *a = gc_alloc(32), *b = gc_alloc(32);
    b[1] = 0xb0b0b0b0u;
    a[0] = (uintptr_t)b;
    ck_assert_int_eq(gc_set_finalizer(a, chain_a_fn, NULL), 0);
    ck_assert_int_eq(gc_set_finalizer(b, chain_b_fn, NULL), 0);
}

START_TEST(chain_finalizes_in_order)
{
    chain_a = chain_b = chain_b_intact = 0;
    make_chain();
    collect();
    ck_assert(wait_for(&chain_a, 1));
    settle();
    ck_assert_msg(atomic_load(&chain_b) == 0, "B was finalized in the same cycle as A");
    ck_assert(atomic_load(&chain_b_intact));
    collect();
    ck_assert_msg(wait_for(&chain_b, 1), "B was never finalized");
}
END_TEST

/* ---- Resurrection ------------------------------------------------------- */

static void *resurrected[1];
static volatile AO_t resurrect_runs;

static void resurrect_fn(void *obj, void *data)
{
    (void)data;
    resurrected[0] = obj;
    atomic_xadd(&resurrect_runs, 1);
}

static NOINLINE uintptr_t make_resurrecting(void)
{
    uintptr_t h = new_hidden(64, 0);
    ck_assert_int_eq(gc_set_finalizer(reveal(h), resurrect_fn, NULL), 0);
    return h;
}

static NOINLINE void drop_resurrected(void)
{
    resurrected[0] = NULL;
}

static NOINLINE int is_resurrected(uintptr_t h)
{
    return resurrected[0] == reveal(h);
}

START_TEST(resurrection_then_second_death)
{
    resurrect_runs = 0;
    gc_add_roots(resurrected, resurrected + 1);
    uintptr_t h = make_resurrecting();
    collect();
    ck_assert(wait_for(&resurrect_runs, 1));
    for (int i = 0; i < 3; i++)
        collect();
    ck_assert(is_resurrected(h));
    ck_assert_msg(is_live(h, 64), "the resurrected object was freed or damaged");
    drop_resurrected();
    collect();
    collect();
    settle();
    ck_assert_msg(is_freed(h), "the object did not die a second time");
    ck_assert_uint_eq(atomic_load(&resurrect_runs), 1);
    gc_remove_roots(resurrected, resurrected + 1);
}
END_TEST

/* ---- Misuse -------------------------------------------------------------- */

static volatile AO_t removed_runs;

static void removed_fn(void *obj, void *data)
{
    (void)obj;
    (void)data;
    atomic_xadd(&removed_runs, 1);
}

static NOINLINE uintptr_t make_misused(void)
{
    char *p = gc_alloc(64);
    capture_begin();
    int interior = gc_set_finalizer(p + 8, removed_fn, NULL);
    const char *msg = capture_end();
    ck_assert_int_eq(interior, -1);
    ck_assert_msg(strstr(msg, "gc_set_finalizer") && strstr(msg, "interior"), "message: %s", msg);
    ck_assert_int_eq(gc_set_finalizer(p, removed_fn, NULL), 0);
    capture_begin();
    int twice = gc_set_finalizer(p, removed_fn, NULL);
    msg = capture_end();
    ck_assert_int_eq(twice, -1);
    ck_assert_msg(strstr(msg, "already has a finalizer"), "message: %s", msg);
    ck_assert_int_eq(gc_set_finalizer(p, NULL, NULL), 0);
    return hide(p);
}

START_TEST(misuse_and_removal)
{
    removed_runs = 0;
    uintptr_t h = make_misused();
    collect();
    collect();
    settle();
    ck_assert_uint_eq(atomic_load(&removed_runs), 0);
    ck_assert(is_freed(h));
    capture_begin();
    int bad = gc_set_finalizer((void *)&removed_runs, removed_fn, NULL);
    const char *msg = capture_end();
    ck_assert_int_eq(bad, -1);
    ck_assert_msg(strstr(msg, "not a pointer to a heap object"), "message: %s", msg);
}
END_TEST

/* ---- Cleanups ----------------------------------------------------------- */

static volatile AO_t cleanup_runs, cleanup_sum, cleanup_freed_first;
static volatile uintptr_t cleanup_obj;

static void cleanup_fn(void *arg)
{
    atomic_xadd(&cleanup_sum, (AO_t)(uintptr_t)arg);
    if (is_freed(cleanup_obj))
        atomic_xadd(&cleanup_freed_first, 1);
    atomic_xadd(&cleanup_runs, 1);
}

static NOINLINE uintptr_t make_cleaned(gc_cleanup *stopped)
{
    char *p = gc_alloc(128);
    ck_assert_uint_ne(gc_add_cleanup(p, cleanup_fn, (void *)1), 0);
    ck_assert_uint_ne(gc_add_cleanup(p + 40, cleanup_fn, (void *)10), 0);
    ck_assert_uint_ne(gc_add_cleanup(p + 127, cleanup_fn, (void *)100), 0);
    *stopped = gc_add_cleanup(p + 8, cleanup_fn, (void *)1000);
    ck_assert_uint_ne(*stopped, 0);
    capture_begin();
    gc_cleanup inside = gc_add_cleanup(p, cleanup_fn, p + 16);
    const char *msg = capture_end();
    ck_assert_uint_eq(inside, 0);
    ck_assert_msg(strstr(msg, "gc_add_cleanup") && strstr(msg, "points into the object"),
                  "message: %s", msg);
    return hide(p);
}

START_TEST(cleanups_run_once_object_freed)
{
    cleanup_runs = cleanup_sum = cleanup_freed_first = 0;
    gc_cleanup stopped;
    uintptr_t h = make_cleaned(&stopped);
    cleanup_obj = h;
    gc_cleanup_stop(stopped);
    gc_cleanup_stop(stopped); /* twice: nothing */
    collect();
    ck_assert_msg(is_freed(h), "the object was not freed in the cycle it died");
    ck_assert(wait_for(&cleanup_runs, 3));
    for (int i = 0; i < 2; i++)
        collect();
    settle();
    ck_assert_uint_eq(atomic_load(&cleanup_runs), 3);
    ck_assert_uint_eq(atomic_load(&cleanup_sum), 111);
    ck_assert_uint_eq(atomic_load(&cleanup_freed_first), 3);
}
END_TEST

static volatile AO_t both_fin;

static void both_fin_fn(void *obj, void *data)
{
    (void)obj;
    (void)data;
    ck_assert_uint_eq(atomic_load(&cleanup_runs), 0);
    atomic_xadd(&both_fin, 1);
}

static NOINLINE uintptr_t make_both(void)
{
    char *p = gc_alloc(64);
    int ok = gc_set_finalizer(p, both_fin_fn, NULL) == 0;
    ok &= gc_add_cleanup(p + 8, cleanup_fn, (void *)7) != 0;
    uintptr_t h = hide(p);
    ck_assert(ok);
    return h;
}

START_TEST(cleanup_after_finalizer_and_second_death)
{
    cleanup_runs = cleanup_sum = cleanup_freed_first = both_fin = 0;
    uintptr_t h = make_both();
    cleanup_obj = h;
    collect();
    ck_assert(wait_for(&both_fin, 1));
    settle();
    ck_assert_msg(atomic_load(&cleanup_runs) == 0, "the cleanup ran at the first death");
    collect();
    ck_assert(wait_for(&cleanup_runs, 1));
    ck_assert_uint_eq(atomic_load(&cleanup_sum), 7);
    ck_assert(is_freed(h));
}
END_TEST

START_TEST(notify_is_called)
{
    if (!notify_mode)
        return;
    AO_t before = atomic_load(&notifications);
    once_runs = 0;
    make_once();
    collect();
    double deadline = now_s() + 10;
    while (atomic_load(&notifications) == before && now_s() < deadline)
        sched_yield();
    ck_assert_msg(atomic_load(&notifications) > before, "finalizer_notify was not called");
    /* Nothing runs until the embedder says so. */
    ck_assert_uint_eq(atomic_load(&once_runs), 0);
    ck_assert_uint_eq(gc_run_finalizers(100), 1);
    ck_assert_uint_eq(atomic_load(&once_runs), 1);
    ck_assert_uint_eq(gc_run_finalizers(100), 0);
}
END_TEST

/* ---- fork() ------------------------------------------------------------- */

/* The runner thread is gone in a child; the child starts its own. */
START_TEST(finalizer_runs_in_forked_child)
{
    gc_cleanup_stop(gc_add_cleanup(gc_alloc(16), cleanup_fn, NULL)); /* runner started */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        once_runs = 0;
        make_once();
        collect();
        double deadline = now_s() + 10;
        while (atomic_load(&once_runs) == 0 && now_s() < deadline)
            sched_yield();
        _exit(atomic_load(&once_runs) == 1 ? 0 : 1);
    }
    int hung;
    int status = child_wait(pid, 30, &hung);
    ck_assert_msg(!hung, "the child hung");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the finalizer did not run in the child (status %d)", status);
}
END_TEST

static Suite *finalizer_suite(void)
{
    Suite *s = suite_create(notify_mode ? "finalizer_notify" : "finalizer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    if (notify_mode)
        tcase_add_test(tc, notify_is_called);
    tcase_add_test(tc, finalizer_runs_once);
    if (!notify_mode) {
        tcase_add_test(tc, reachable_from_pending_survives);
        tcase_add_test(tc, finalizer_set_mid_mark);
        tcase_add_test(tc, finalizer_runs_in_forked_child);
    }
    tcase_add_test(tc, chain_finalizes_in_order);
    tcase_add_test(tc, resurrection_then_second_death);
    tcase_add_test(tc, misuse_and_removal);
    tcase_add_test(tc, cleanups_run_once_object_freed);
    tcase_add_test(tc, cleanup_after_finalizer_and_second_death);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    notify_mode = argc > 1 && strcmp(argv[1], "notify") == 0;
    gc_options opts = {.gogc = "off", .finalizer_notify = notify_mode ? on_notify : NULL};
    if (gc_init(&opts) != 0)
        return 1;
    return run_suite(finalizer_suite(), CK_NOFORK);
}
