/*
 * Weak callbacks, gc_is_live and gc_mark_live (runtime/weakcb.c): the
 * traps a wrong implementation falls into, each as a test that fails on
 * it.
 *
 * - Callbacks run every cycle, phase 0 then phase 1, with the world
 *   stopped (a registered thread spinning on a counter does not move it
 *   while a callback watches).
 * - A weak table (malloc'd, not a root) cleared by its callback: entries
 *   whose object is live elsewhere stay, with their canaries; the others
 *   are cleared, and their objects freed.
 * - gc_mark_live keeps an object held only by a weak table, with what it
 *   reaches; answers 1 the first time only; once the callback is removed
 *   the object dies.
 * - Callbacks are repeated until none marks anything new: a callback with
 *   ephemeron logic of its own keeps the end of a chain whose links it
 *   lists end first (one round is not enough).
 * - gc_is_live outside a cycle: 1 for a live heap object, 0 for NULL,
 *   static memory and a freed object.
 * - Misuse: gc_mark_live outside a callback, a NULL function, unknown and
 *   twice-removed handles.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tricolor.h>

#include "capture.h"
#include "check_main.h"
#include "support.h"

#define OSIZE 64

#define NROOTS 1024
static void **roots;

static void *thread_body(void *p)
{
    void **job = p;
    gc_thread_register();
    ((void (*)(void *))job[0])(job[1]);
    gc_thread_unregister();
    return NULL;
}

/* Runs fn(arg) on a registered thread that then exits. */
static void on_thread(void (*fn)(void *), void *arg)
{
    pthread_t th;
    void *job[2] = {(void *)fn, arg};
    ck_assert_int_eq(pthread_create(&th, NULL, thread_body, job), 0);
    pthread_join(th, NULL);
}

static void setup(void)
{
    roots = calloc(NROOTS, sizeof *roots);
    gc_add_roots(roots, roots + NROOTS);
}

static void teardown(void)
{
    gc_remove_roots(roots, roots + NROOTS);
    free(roots);
    roots = NULL;
}

/* ---- Phases and a stopped world ------------------------------------------ */

static volatile int spin_stop;
static volatile uint64_t spin_count;
static volatile int calls[2], order_bad, moved;

static void *spinner(void *arg)
{
    (void)arg;
    gc_thread_register();
    while (!spin_stop)
        spin_count++;
    gc_thread_unregister();
    return NULL;
}

static void watch_world(int phase, void *data)
{
    (void)data;
    if (phase == 0 && calls[1] > calls[0])
        order_bad = 1;
    calls[phase]++;
    uint64_t before = spin_count;
    double until = now_s() + 0.0005;
    while (now_s() < until)
        ;
    if (spin_count != before)
        moved = 1;
}

START_TEST(callbacks_run_each_phase_with_the_world_stopped)
{
    pthread_t th;
    spin_stop = 0;
    ck_assert_int_eq(pthread_create(&th, NULL, spinner, NULL), 0);
    while (spin_count == 0)
        sched_yield();
    int h = gc_add_weak_callback(watch_world, NULL);
    ck_assert_int_ge(h, 0);
    for (int i = 0; i < 5; i++)
        gc_collect();
    ck_assert_int_eq(gc_remove_weak_callback(h), 0);
    spin_stop = 1;
    pthread_join(th, NULL);
    ck_assert_int_ge(calls[0], 5);
    ck_assert_int_ge(calls[1], 5);
    ck_assert_int_eq(order_bad, 0);
    ck_assert_msg(!moved, "a registered thread ran during a weak callback");
}
END_TEST

/* ---- A weak table --------------------------------------------------------- */

#define NSLOTS 200
/* malloc'd, not registered: the table's references are weak. */
static void *volatile *table;
static uintptr_t hidden[NSLOTS];
static volatile int cleared_count, live_answers;

static void clear_dead(int phase, void *data)
{
    (void)data;
    if (phase != 0)
        return;
    for (int i = 0; i < NSLOTS; i++) {
        void *p = table[i];
        if (p == NULL)
            continue;
        if (gc_is_live(p)) {
            live_answers++;
        } else {
            table[i] = NULL;
            cleared_count++;
        }
    }
}

static void fill_table(void *arg)
{
    (void)arg;
    for (int i = 0; i < NSLOTS; i++) {
        hidden[i] = new_hidden(OSIZE, i % 3 == 0);
        table[i] = reveal(hidden[i]);
        if (i % 2 == 0)
            roots[i] = reveal(hidden[i]);
    }
}

START_TEST(weak_table_loses_exactly_its_dead_entries)
{
    table = calloc(NSLOTS, sizeof *table);
    int h = gc_add_weak_callback(clear_dead, NULL);
    on_thread(fill_table, NULL);
    cleared_count = 0;
    collect();
    ck_assert_int_eq(cleared_count, NSLOTS / 2);
    for (int i = 0; i < NSLOTS; i++) {
        if (i % 2 == 0) {
            ck_assert_msg(table[i] == reveal(hidden[i]) && is_live(hidden[i], OSIZE),
                          "slot %d: a live entry was lost", i);
        } else {
            ck_assert_msg(table[i] == NULL, "slot %d: a dead entry was kept", i);
            ck_assert_msg(is_freed(hidden[i]), "slot %d: its object was not freed", i);
        }
    }
    gc_remove_weak_callback(h);
    free((void *)table);
}
END_TEST

/* ---- gc_mark_live --------------------------------------------------------- */

static void *volatile *weak_slot; /* malloc'd: a weak reference */
static volatile int mark_results[3];

static void keep_it(int phase, void *data)
{
    (void)data;
    if (phase == 0 && *weak_slot != NULL) {
        int r = gc_mark_live(*weak_slot);
        mark_results[r]++;
        if (r == 1 && gc_mark_live(*weak_slot) != 0)
            mark_results[2]++; /* a second call must answer 0 */
    }
}

static uintptr_t hx, hy;

static void make_x_y(void *arg)
{
    (void)arg;
    hx = new_hidden(OSIZE, 0);
    hy = new_hidden(OSIZE, 1);
    void **x = reveal(hx);
    gc_write_ptr(&x[0], reveal(hy));
    *weak_slot = x;
}

START_TEST(mark_live_keeps_an_object_and_what_it_reaches)
{
    weak_slot = calloc(1, sizeof *weak_slot);
    int h = gc_add_weak_callback(keep_it, NULL);
    on_thread(make_x_y, NULL);
    for (int c = 0; c < 5; c++) {
        collect();
        ck_assert_msg(is_live_from(hx, OSIZE, 1) && is_live(hy, OSIZE), "lost at cycle %d", c);
    }
    ck_assert_int_ge(mark_results[1], 5);
    ck_assert_int_eq(mark_results[2], 0);
    ck_assert_int_eq(gc_remove_weak_callback(h), 0);
    collect();
    collect();
    ck_assert(is_freed(hx));
    ck_assert(is_freed(hy));
    free((void *)weak_slot);
}
END_TEST

/* ---- Rounds until nothing new --------------------------------------------- */

/* A weak-keyed table of the embedder's own: pair i keeps value[i] while
 * key[i] lives. */
#define NPAIRS 3
static void *volatile *pair_key, *volatile *pair_value;
static volatile int rounds;

static void ephemeron_logic(int phase, void *data)
{
    (void)data;
    if (phase == 0)
        rounds++;
    for (int i = 0; i < NPAIRS; i++) {
        if (pair_key[i] == NULL)
            continue;
        if (gc_is_live(pair_key[i])) {
            gc_mark_live(pair_value[i]);
        } else if (phase == 1) {
            pair_key[i] = pair_value[i] = NULL;
        }
    }
}

static uintptr_t hk[NPAIRS + 1];

/* The chain k0 -> k1 -> k2 -> k3 (pairs (k0, k1), ...), listed last link
 * first, so that each round of callbacks marks only one more link. */
static void make_chain(void *arg)
{
    (void)arg;
    for (int i = 0; i <= NPAIRS; i++)
        hk[i] = new_hidden(OSIZE, 1);
    for (int i = 0; i < NPAIRS; i++) {
        int link = NPAIRS - 1 - i; /* pair 0 is the last link */
        pair_key[i] = reveal(hk[link]);
        pair_value[i] = reveal(hk[link + 1]);
    }
    roots[0] = reveal(hk[0]);
}

START_TEST(callbacks_repeat_until_nothing_new)
{
    pair_key = calloc(NPAIRS, sizeof *pair_key);
    pair_value = calloc(NPAIRS, sizeof *pair_value);
    int h = gc_add_weak_callback(ephemeron_logic, NULL);
    on_thread(make_chain, NULL);
    for (int c = 0; c < 3; c++) {
        rounds = 0;
        collect();
        for (int i = 0; i <= NPAIRS; i++)
            ck_assert_msg(is_live(hk[i], OSIZE), "link %d lost at cycle %d", i, c);
        ck_assert_int_ge(rounds, 2);
    }
    roots[0] = NULL;
    collect();
    collect();
    for (int i = 0; i <= NPAIRS; i++)
        ck_assert_msg(is_freed(hk[i]), "link %d kept after the chain's head died", i);
    gc_remove_weak_callback(h);
    free((void *)pair_key);
    free((void *)pair_value);
}
END_TEST

/* ---- gc_is_live outside a cycle ------------------------------------------- */

static uintptr_t hdead;

static void make_dead(void *arg)
{
    (void)arg;
    hdead = new_hidden(OSIZE, 0);
}

static NOINLINE int is_live_hidden(uintptr_t h)
{
    return gc_is_live(reveal(h));
}

START_TEST(is_live_outside_a_cycle)
{
    static int not_heap;
    void *p = gc_alloc(OSIZE);
    ck_assert_int_eq(gc_is_live(p), 1);
    ck_assert_int_eq(gc_is_live((char *)p + 8), 1);
    ck_assert_int_eq(gc_is_live(NULL), 0);
    ck_assert_int_eq(gc_is_live(&not_heap), 0);
    on_thread(make_dead, NULL);
    ck_assert_int_eq(is_live_hidden(hdead), 1);
    collect();
    ck_assert_int_eq(is_live_hidden(hdead), 0);
}
END_TEST

/* ---- Misuse --------------------------------------------------------------- */

static void nothing(int phase, void *data)
{
    (void)phase;
    (void)data;
}

START_TEST(misuse_is_reported)
{
    void *p = gc_alloc(OSIZE);
    capture_begin();
    int r = gc_mark_live(p);
    const char *msg = capture_end();
    ck_assert_int_eq(r, 0);
    ck_assert_msg(strstr(msg, "gc_mark_live") && strstr(msg, "only valid inside a weak callback"),
                  "message: %s", msg);

    capture_begin();
    r = gc_add_weak_callback(NULL, NULL);
    msg = capture_end();
    ck_assert_int_eq(r, -1);
    ck_assert_msg(strstr(msg, "gc_add_weak_callback"), "message: %s", msg);

    capture_begin();
    r = gc_remove_weak_callback(-1);
    msg = capture_end();
    ck_assert_int_eq(r, -1);
    ck_assert_msg(strstr(msg, "gc_remove_weak_callback(-1)"), "message: %s", msg);

    capture_begin();
    r = gc_remove_weak_callback(123456);
    msg = capture_end();
    ck_assert_int_eq(r, -1);

    int h = gc_add_weak_callback(nothing, NULL);
    ck_assert_int_ge(h, 0);
    ck_assert_int_eq(gc_remove_weak_callback(h), 0);
    capture_begin();
    r = gc_remove_weak_callback(h);
    msg = capture_end();
    ck_assert_int_eq(r, -1);
    ck_assert_msg(strstr(msg, "no such callback"), "message: %s", msg);
}
END_TEST

static Suite *weakcb_suite(void)
{
    Suite *s = suite_create("weakcb");
    TCase *tc = tcase_create("weakcb");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, callbacks_run_each_phase_with_the_world_stopped);
    tcase_add_test(tc, weak_table_loses_exactly_its_dead_entries);
    tcase_add_test(tc, mark_live_keeps_an_object_and_what_it_reaches);
    tcase_add_test(tc, callbacks_repeat_until_nothing_new);
    tcase_add_test(tc, is_live_outside_a_cycle);
    tcase_add_test(tc, misuse_is_reported);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gc_init(NULL);
    return run_suite(weakcb_suite(), CK_NOFORK);
}
