/*
 * Cooperative stops (gc_options.cooperative = 1; runtime/threads.c). The
 * whole suite runs in that mode, under GODEBUG=gccheckmark=1,clobberfree=1:
 * a thread scanned from the wrong place loses objects (a checkmark abort, or
 * 0xdeadbeef where a value was), and a stop that waits for a thread that can
 * never reach a safepoint hangs, which the watchdog turns into a failure.
 *
 * - A thread that only polls gc_safepoint() while cycles are forced: it
 *   stops at its polls (it sees gc_safepoint_requested) and its list, held
 *   in its locals, survives.
 * - A thread that never polls but sits in epoll_wait inside a blocking
 *   region for 2 s while 50 cycles run: no EINTR, its list intact, the
 *   first cycles not waiting for the region to end, and it counts as idle
 *   for idle marking.
 * - A thread that only allocates (gc_alloc is a safepoint).
 * - Every wait the runtime itself makes a thread do, each from its own
 *   thread at once: gc_collect waiting for a cycle, gc_set_percent(-1)
 *   waiting for one to end, threads_lock in gc_thread_unregister and in the
 *   stops of gc_read_memstats, fork() waiting for the cycle to finish, the
 *   heap profiler's unwinding, and allocations waiting for marking (assists).
 * - No thread is ever signalled: the suspend signal's default handler is
 *   replaced by one that counts.
 * - Misuse: gc_init asking for the other mode after the first, polls from an
 *   unregistered thread and inside a region.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tricolor.h>

#include "capture.h"
#include "check_main.h"
#include "support.h"
#include "threads.h"

/* ---- Helpers: waits of the test's own, and a watchdog -------------------- */

/* The main thread waits for its helpers inside a region: a stop that
 * started meanwhile would otherwise wait for it. */
static void join(pthread_t th, void **ret)
{
    gc_enter_blocking();
    pthread_join(th, ret);
    gc_leave_blocking();
}

static volatile int signals_received;

static void count_signal(int sig)
{
    (void)sig;
    __atomic_add_fetch(&signals_received, 1, __ATOMIC_RELAXED);
}

/* Unregistered, so never stopped: aborts the run if a test hangs (a stop
 * that waits for a thread that never reaches a safepoint). */
static volatile int test_done;
static const char *test_name;

static void *watchdog_main(void *arg)
{
    double end = now_s() + (double)(intptr_t)arg;
    while (!__atomic_load_n(&test_done, __ATOMIC_ACQUIRE)) {
        if (now_s() > end) {
            fprintf(stderr,
                    "test_safepoint: %s hung (a stop waits for a thread that cannot "
                    "reach a safepoint)\n",
                    test_name);
            abort();
        }
        usleep(10000);
    }
    return NULL;
}

static pthread_t watchdog;

static void watchdog_arm(const char *name, int seconds)
{
    test_name = name;
    test_done = 0;
    pthread_create(&watchdog, NULL, watchdog_main, (void *)(intptr_t)seconds);
}

static void watchdog_disarm(void)
{
    __atomic_store_n(&test_done, 1, __ATOMIC_RELEASE);
    pthread_join(watchdog, NULL);
}

/* n forced cycles, each with a stop for MemStats; returns the cycles run. */
static uint32_t force_cycles(int n)
{
    gc_memstats *m = malloc(sizeof *m);
    gc_read_memstats(m);
    uint32_t n0 = m->num_gc;
    for (int i = 0; i < n; i++) {
        collect();
        gc_read_memstats(m);
    }
    uint32_t ran = m->num_gc - n0;
    free(m);
    return ran;
}

/* ---- A thread that only polls --------------------------------------------- */

struct spinner {
    volatile int stop, ready;
    uint64_t polls, requests_seen;
    int intact;
};

static void *spinner_main(void *arg)
{
    struct spinner *s = arg;
    gc_thread_register();
    struct list_node *list = make_list(1000, 4000);
    s->ready = 1;
    uint64_t sum = 0;
    while (!s->stop) {
        for (struct list_node *x = list; x; x = x->next) {
            sum += x->value;
            if (__atomic_load_n(&gc_safepoint_requested, __ATOMIC_RELAXED))
                s->requests_seen++;
            gc_safepoint();
            s->polls++;
        }
    }
    s->intact = list_intact(list, 1000, 4000) && sum != 0;
    gc_thread_unregister();
    return NULL;
}

START_TEST(a_polling_thread_stops_at_its_polls)
{
    watchdog_arm("a_polling_thread_stops_at_its_polls", 60);
    struct spinner s = {0};
    pthread_t th;
    pthread_create(&th, NULL, spinner_main, &s);
    while (!s.ready)
        gc_safepoint();
    uint32_t ran = force_cycles(50);
    s.stop = 1;
    join(th, NULL);
    watchdog_disarm();
    ck_assert_uint_ge(ran, 50);
    ck_assert_msg(s.requests_seen > 0, "the spinner never saw a stop requested (%llu polls)",
                  (unsigned long long)s.polls);
    ck_assert_msg(s.intact, "the spinner's list did not survive the cycles");
    ck_assert_int_eq(signals_received, 0);
    ck_assert_uint_eq(gc_safepoint_requested, 0);
}
END_TEST

/* ---- A thread that never polls, in epoll_wait inside a region ------------ */

struct epoller {
    volatile int inside, left;
    int result, err, intact;
};

static void *epoller_main(void *arg)
{
    struct epoller *e = arg;
    gc_thread_register();
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[0]};
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev);
    struct list_node *list = make_list(2000, 9000);
    gc_enter_blocking();
    e->inside = 1;
    struct epoll_event out;
    int r = epoll_wait(ep, &out, 1, 2000);
    e->left = 1;
    e->err = r < 0 ? errno : 0;
    e->result = r;
    gc_leave_blocking();
    e->intact = list_intact(list, 2000, 9000);
    close(ep);
    close(fds[0]);
    close(fds[1]);
    gc_thread_unregister();
    return NULL;
}

START_TEST(a_thread_in_epoll_wait_inside_a_region_is_claimed)
{
    watchdog_arm("a_thread_in_epoll_wait_inside_a_region_is_claimed", 60);
    struct epoller e = {0};
    pthread_t th;
    pthread_create(&th, NULL, epoller_main, &e);
    while (!e.inside)
        gc_safepoint();
    /* Idle marking counts it as idle (worker.c, spare_cpu). */
    int counted_idle = threads_blocking() >= 1;
    /* The first cycles end while the thread is still inside: its region is
     * claimed, not waited out. */
    uint32_t ran = force_cycles(5);
    int left_early = e.left;
    ran += force_cycles(45);
    join(th, NULL);
    watchdog_disarm();
    ck_assert_uint_ge(ran, 50);
    ck_assert_msg(e.result == 0, "epoll_wait returned %d (errno %s): the collector interrupted it",
                  e.result, strerror(e.err));
    ck_assert_msg(e.intact, "the blocked thread's list did not survive the cycles");
    ck_assert_int_eq(signals_received, 0);
    ck_assert_msg(!left_early, "the first 5 cycles waited for the region to end");
    ck_assert_msg(counted_idle, "a thread in a blocking region does not count as idle");
}
END_TEST

/* ---- A thread that only allocates ---------------------------------------- */

static volatile int stop_allocating;

static void *allocator_main(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 1000000;
    gc_thread_register();
    intptr_t bad = 0;
    for (int round = 0; !stop_allocating; round++) {
        struct list_node *list = make_list(200, seed + (uint64_t)round);
        bad += !list_intact(list, 200, seed + (uint64_t)round);
    }
    gc_thread_unregister();
    return (void *)bad;
}

START_TEST(a_thread_that_only_allocates_needs_no_polls)
{
    watchdog_arm("a_thread_that_only_allocates_needs_no_polls", 60);
    stop_allocating = 0;
    pthread_t th[2];
    for (intptr_t i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, allocator_main, (void *)(i + 1));
    uint32_t ran = force_cycles(50);
    stop_allocating = 1;
    void *bad[2];
    for (int i = 0; i < 2; i++)
        join(th[i], &bad[i]);
    watchdog_disarm();
    ck_assert_uint_ge(ran, 50);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(bad[i] == NULL, "allocator %d lost %ld lists", i, (long)(intptr_t)bad[i]);
    ck_assert_int_eq(signals_received, 0);
}
END_TEST

/* ---- Every wait of the runtime's own, at once ---------------------------- */

static volatile int stop_waiters;

/* gc_collect: waits for its cycle, then sweeps. */
static void *collector_main(void *arg)
{
    (void)arg;
    gc_thread_register();
    while (!stop_waiters)
        gc_collect();
    gc_thread_unregister();
    return NULL;
}

/* gc_set_percent(-1): waits for the running cycle to end. */
static void *percent_main(void *arg)
{
    (void)arg;
    gc_thread_register();
    while (!stop_waiters) {
        gc_set_percent(-1);
        gc_set_percent(10);
    }
    gc_set_percent(100);
    gc_thread_unregister();
    return NULL;
}

/* Registers, allocates, unregisters: gc_thread_unregister waits for
 * threads_lock, which a stopper holds. */
static void *short_lived_main(void *arg)
{
    (void)arg;
    gc_thread_register();
    struct list_node *list = make_list(50, 77);
    intptr_t bad = !list_intact(list, 50, 77);
    gc_thread_unregister();
    return (void *)bad;
}

static void *spawner_main(void *arg)
{
    (void)arg;
    gc_thread_register();
    intptr_t bad = 0;
    while (!stop_waiters) {
        pthread_t th;
        pthread_create(&th, NULL, short_lived_main, NULL);
        void *r;
        join(th, &r);
        bad += (intptr_t)r;
    }
    gc_thread_unregister();
    return (void *)bad;
}

/* fork(): waits for the cycle in progress to finish. */
static void *forker_main(void *arg)
{
    (void)arg;
    gc_thread_register();
    intptr_t bad = 0;
    for (int i = 0; !stop_waiters && i < 20; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        int status = 1;
        gc_enter_blocking();
        waitpid(pid, &status, 0);
        gc_leave_blocking();
        bad += pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        struct list_node *list = make_list(100, 55);
        bad += !list_intact(list, 100, 55);
    }
    gc_thread_unregister();
    return (void *)bad;
}

START_TEST(the_runtimes_own_waits_are_safepoints)
{
    watchdog_arm("the_runtimes_own_waits_are_safepoints", 90);
    stop_waiters = 0;
    stop_allocating = 0;
    /* Every allocation sampled: each unwinds its stack stoppably. */
    gc_set_memprofile_rate(1);
    struct spinner s = {0};
    pthread_t spin, th[7];
    pthread_create(&spin, NULL, spinner_main, &s);
    pthread_create(&th[0], NULL, collector_main, NULL);
    pthread_create(&th[1], NULL, collector_main, NULL);
    pthread_create(&th[2], NULL, percent_main, NULL);
    pthread_create(&th[3], NULL, spawner_main, NULL);
    pthread_create(&th[4], NULL, forker_main, NULL);
    pthread_create(&th[5], NULL, allocator_main, (void *)5);
    pthread_create(&th[6], NULL, allocator_main, (void *)6);
    gc_memstats *m = malloc(sizeof *m);
    double end = now_s() + 3;
    while (now_s() < end)
        gc_read_memstats(m);
    free(m);
    stop_waiters = 1;
    stop_allocating = 1;
    s.stop = 1;
    intptr_t bad = 0;
    for (int i = 0; i < 7; i++) {
        void *r;
        join(th[i], &r);
        bad += (intptr_t)r;
    }
    join(spin, NULL);
    gc_set_memprofile_rate(512 * 1024);
    watchdog_disarm();
    ck_assert_msg(bad == 0, "%ld lists lost", (long)bad);
    ck_assert_msg(s.intact, "the spinner's list did not survive");
    ck_assert_int_eq(signals_received, 0);
}
END_TEST

/* ---- Misuse --------------------------------------------------------------- */

static void *unregistered_poll_main(void *arg)
{
    (void)arg;
    gc_safepoint_slow();
    gc_safepoint();
    return NULL;
}

START_TEST(misuse_is_reported_and_harmless)
{
    gc_options signal_mode = {0};
    capture_begin();
    int r = gc_init(&signal_mode);
    const char *err = capture_end();
    ck_assert_int_eq(r, 0);
    ck_assert_msg(strstr(err, "gc_init") && strstr(err, "cooperative"),
                  "gc_init in the other mode: %s", err);
    ck_assert_int_eq(threads_cooperative(), 1);

    gc_options again = {.cooperative = 1};
    capture_begin();
    gc_init(&again);
    err = capture_end();
    ck_assert_msg(err[0] == '\0', "gc_init again in the same mode: %s", err);

    pthread_t th;
    pthread_create(&th, NULL, unregistered_poll_main, NULL);
    join(th, NULL);

    gc_enter_blocking();
    gc_safepoint_slow();
    gc_leave_blocking();
    gc_safepoint_slow();
    ck_assert_uint_eq(gc_safepoint_requested, 0);
}
END_TEST

static Suite *safepoint_suite(void)
{
    Suite *s = suite_create("safepoint");
    TCase *tc = tcase_create("safepoint");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, a_polling_thread_stops_at_its_polls);
    tcase_add_test(tc, a_thread_in_epoll_wait_inside_a_region_is_claimed);
    tcase_add_test(tc, a_thread_that_only_allocates_needs_no_polls);
    tcase_add_test(tc, the_runtimes_own_waits_are_safepoints);
    tcase_add_test(tc, misuse_is_reported_and_harmless);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* Cooperative mode installs no handler: a signal from the collector
     * would be counted here (the default action would kill the process). */
    signal(SIGRTMIN + 6, count_signal);
    gc_options opts = {.cooperative = 1};
    if (gc_init(&opts) != 0)
        return 1;
    return run_suite(safepoint_suite(), CK_NOFORK);
}
