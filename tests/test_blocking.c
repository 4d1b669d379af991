/*
 * Blocking regions (gc_enter_blocking / gc_leave_blocking; runtime/threads.c).
 * Run with GODEBUG=gccheckmark=1,clobberfree=1.
 *
 * - A thread blocked in poll() inside a region for 2 s while another thread
 *   forces 50 cycles and reads MemStats: it never gets the suspend signal
 *   (poll would return EINTR: SA_RESTART does not restart it), and its
 *   objects, held only in its own locals and registers, survive intact.
 * - The same with epoll_wait, which the kernel never restarts after a
 *   signal handler (SA_RESTART or not): any signal is an EINTR.
 * - Threads entering and leaving regions as fast as they can while cycles
 *   and stops run back to back: every claim is let go, no object is lost.
 * - A leave without an enter, and a second enter, are reported and ignored.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <tricolor.h>

#include "capture.h"
#include "check_main.h"
#include "support.h"
#include "threads.h"

struct node {
    struct node *next;
    uint64_t value;
};

/* A list of n nodes whose values are seed, seed+1, ... */
static NOINLINE struct node *make_list(int n, uint64_t seed)
{
    struct node *head = NULL;
    for (int i = n - 1; i >= 0; i--) {
        struct node *x = gc_alloc(sizeof *x);
        x->value = seed + (uint64_t)i;
        gc_write_ptr(&x->next, head);
        head = x;
    }
    return head;
}

static NOINLINE int list_intact(const struct node *head, int n, uint64_t seed)
{
    int i = 0;
    for (const struct node *x = head; x; x = x->next, i++)
        if (x->value != seed + (uint64_t)i)
            return 0;
    return i == n;
}

/* ---- A thread blocked in poll() ------------------------------------------- */

struct blocker {
    int pipe[2];
    volatile int inside;
    int poll_result, poll_errno, intact;
};

static void *blocker_main(void *arg)
{
    struct blocker *b = arg;
    gc_thread_register();
    struct node *list = make_list(2000, 7000);
    gc_enter_blocking();
    b->inside = 1;
    struct pollfd pfd = {.fd = b->pipe[0], .events = POLLIN};
    int r = poll(&pfd, 1, 2000);
    b->poll_errno = r < 0 ? errno : 0;
    b->poll_result = r;
    gc_leave_blocking();
    b->intact = list_intact(list, 2000, 7000);
    gc_thread_unregister();
    return NULL;
}

START_TEST(a_blocked_thread_is_not_signalled)
{
    struct blocker b = {0};
    ck_assert_int_eq(pipe(b.pipe), 0);
    pthread_t th;
    pthread_create(&th, NULL, blocker_main, &b);
    while (!b.inside)
        usleep(1000);
    gc_memstats *m = malloc(sizeof *m);
    uint32_t n0 = 0;
    for (int i = 0; i < 50; i++) {
        collect();
        gc_read_memstats(m);
        if (i == 0)
            n0 = m->num_gc;
    }
    ck_assert_uint_ge(m->num_gc, n0 + 49);
    free(m);
    pthread_join(th, NULL);
    close(b.pipe[0]);
    close(b.pipe[1]);
    ck_assert_msg(b.poll_result == 0, "poll returned %d (errno %s): the collector interrupted it",
                  b.poll_result, strerror(b.poll_errno));
    ck_assert_msg(b.intact, "the blocked thread's list did not survive the cycles");
}
END_TEST

/* ---- A thread blocked in epoll_wait() ------------------------------------ */

static void *epoll_blocker_main(void *arg)
{
    struct blocker *b = arg;
    gc_thread_register();
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = b->pipe[0]};
    epoll_ctl(ep, EPOLL_CTL_ADD, b->pipe[0], &ev);
    struct node *list = make_list(2000, 8000);
    gc_enter_blocking();
    b->inside = 1;
    struct epoll_event out;
    int r = epoll_wait(ep, &out, 1, 2000);
    b->poll_errno = r < 0 ? errno : 0;
    b->poll_result = r;
    gc_leave_blocking();
    b->intact = list_intact(list, 2000, 8000);
    close(ep);
    gc_thread_unregister();
    return NULL;
}

START_TEST(a_thread_in_epoll_wait_is_not_signalled)
{
    struct blocker b = {0};
    ck_assert_int_eq(pipe(b.pipe), 0);
    pthread_t th;
    pthread_create(&th, NULL, epoll_blocker_main, &b);
    while (!b.inside)
        usleep(1000);
    gc_memstats *m = malloc(sizeof *m);
    gc_read_memstats(m);
    uint32_t n0 = m->num_gc;
    for (int i = 0; i < 50; i++) {
        collect();
        gc_read_memstats(m);
    }
    ck_assert_uint_ge(m->num_gc, n0 + 50);
    free(m);
    pthread_join(th, NULL);
    close(b.pipe[0]);
    close(b.pipe[1]);
    ck_assert_msg(b.poll_result == 0,
                  "epoll_wait returned %d (errno %s): the collector interrupted it", b.poll_result,
                  strerror(b.poll_errno));
    ck_assert_msg(b.intact, "the blocked thread's list did not survive the cycles");
}
END_TEST

/* ---- Regions entered and left while the world stops and starts ---------- */

static volatile int stop_churn;

static void *churn_main(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 100000;
    gc_thread_register();
    int bad = 0;
    for (int round = 0; !stop_churn; round++) {
        struct node *list = make_list(50, seed + (uint64_t)round);
        for (int k = 0; k < 20; k++) {
            gc_enter_blocking();
            gc_leave_blocking();
        }
        bad += !list_intact(list, 50, seed + (uint64_t)round);
    }
    gc_thread_unregister();
    return (void *)(intptr_t)bad;
}

START_TEST(regions_come_and_go_under_stops)
{
    pthread_t th[3];
    for (intptr_t i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, churn_main, (void *)(i + 1));
    gc_memstats *m = malloc(sizeof *m);
    double end = now_s() + 3;
    while (now_s() < end) {
        gc_collect();
        gc_read_memstats(m);
    }
    free(m);
    stop_churn = 1;
    for (int i = 0; i < 3; i++) {
        void *bad;
        pthread_join(th[i], &bad);
        ck_assert_msg(bad == NULL, "thread %d lost %ld lists", i, (long)(intptr_t)bad);
    }
}
END_TEST

/* ---- Misuse ------------------------------------------------------------- */

START_TEST(misuse_is_reported_and_ignored)
{
    capture_begin();
    gc_leave_blocking();
    const char *err = capture_end();
    ck_assert_msg(strstr(err, "gc_leave_blocking") && strstr(err, "not in a blocking region"),
                  "leave without enter: %s", err);

    gc_enter_blocking();
    capture_begin();
    gc_enter_blocking();
    err = capture_end();
    gc_leave_blocking();
    ck_assert_msg(strstr(err, "gc_enter_blocking") && strstr(err, "already"), "a second enter: %s",
                  err);
    ck_assert_int_eq(current_thread->blocking, BLOCKING_NONE);
    ck_assert_int_eq(threads_blocking(), 0);
}
END_TEST

static Suite *blocking_suite(void)
{
    Suite *s = suite_create("blocking");
    TCase *tc = tcase_create("blocking");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_blocked_thread_is_not_signalled);
    tcase_add_test(tc, a_thread_in_epoll_wait_is_not_signalled);
    tcase_add_test(tc, regions_come_and_go_under_stops);
    tcase_add_test(tc, misuse_is_reported_and_ignored);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gc_init(NULL);
    return run_suite(blocking_suite(), CK_FORK_GETENV);
}
