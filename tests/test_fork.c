/*
 * fork(): a child of a program using tricolor has a usable runtime.
 *
 * Two registered threads churn the heap while the main thread forks, again
 * and again, so that forks land in every phase of the cycle. Each child
 * allocates, collects twice (so a cycle runs entirely in the child, with
 * the collector's threads restarted there), checks a tree built before the
 * fork and one built after, and exits with its verdict. A child that hangs
 * is killed and counted as a failure.
 *
 * A third checks that a child starts the collector's threads only at its
 * first cycle, and that they then run.
 *
 * A second test forks while another registered thread's cache holds a span
 * with the only pointer to an object in another span; the child must keep
 * that object through several cycles (the child returns the lost threads'
 * cached spans to the central lists, where they are swept).
 */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <tricolor.h>
#include <unistd.h>

#include "check_main.h"
#include "child.h"
#include "support.h"

struct node {
    struct node *left, *right;
    long id;
};

static struct node *build(int depth, long id)
{
    struct node *n = gc_alloc(sizeof *n);
    n->id = id;
    if (depth > 0) {
        gc_write_ptr(&n->left, build(depth - 1, 2 * id));
        gc_write_ptr(&n->right, build(depth - 1, 2 * id + 1));
    }
    return n;
}

/* Nodes in a tree whose ids are all where they belong; -1 if one is not. */
static long count(const struct node *n, long id)
{
    if (n == NULL)
        return 0;
    if (n->id != id)
        return -1;
    long l = count(n->left, 2 * id), r = count(n->right, 2 * id + 1);
    return l < 0 || r < 0 ? -1 : 1 + l + r;
}

static volatile int stop_churn, churning;

static void *churn(void *arg)
{
    (void)arg;
    gc_thread_register();
    __atomic_add_fetch(&churning, 1, __ATOMIC_RELEASE);
    while (!stop_churn)
        build(8, 1);
    gc_thread_unregister();
    return NULL;
}

START_TEST(test_fork_children_collect)
{
    pthread_t th[2];
    stop_churn = 0;
    churning = 0;
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, churn, NULL);
    /* Fork only once both threads are in their loops: a thread still inside
     * pthread_create or registration may hold the C library's (or a
     * sanitizer's) allocator lock, which no runtime can make safe across
     * fork(). */
    while (__atomic_load_n(&churning, __ATOMIC_ACQUIRE) < 2)
        sched_yield();
    struct node *before = build(12, 1);
    int failures = 0;
    for (int k = 0; k < 12; k++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            for (int i = 0; i < 50; i++)
                build(9, 1);
            gc_collect();
            struct node *after = build(10, 1);
            gc_collect();
            gc_memstats m;
            gc_read_memstats(&m);
            long nb = count(before, 1), na = count(after, 1);
            int ok = nb == (1 << 13) - 1 && na == (1 << 11) - 1 && m.num_gc >= 2 && m.frees > 0;
            if (!ok)
                fprintf(
                    stderr,
                    "fork %d: child counts %ld of %d and %ld of %d nodes, num_gc %u, frees %llu\n",
                    k, nb, (1 << 13) - 1, na, (1 << 11) - 1, m.num_gc, (unsigned long long)m.frees);
            _exit(ok ? 0 : 1);
        }
        int hung;
        int status = child_wait(pid, 60, &hung);
        if (hung || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "fork %d: child %s; the parent counts %ld nodes\n", k,
                    hung ? "hung and was killed" : "failed", count(before, 1));
            failures++;
        }
    }
    stop_churn = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(failures, 0);
    ck_assert_int_eq(count(before, 1), (1 << 13) - 1);
}
END_TEST

/* ---- A span cached by a thread the child does not have ------------------ */

struct cell {
    struct cell *next;
    long id;
};

static struct cell *g_root;           /* N, allocated by the helper (a root) */
static struct cell *volatile handoff; /* X, from the main thread to the helper */
static volatile int helper_done, helper_release;

static void *holder(void *arg)
{
    (void)arg;
    gc_thread_register();
    /* N comes from this thread's cache and stays there (no cycle runs
     * before the fork: GOGC is off); it points to X, which is in another
     * span, the main thread's. */
    struct cell *n = gc_alloc(sizeof *n);
    gc_write_ptr(&n->next, handoff);
    n->id = 1;
    g_root = n;
    handoff = NULL;
    n = NULL;
    __atomic_store_n(&helper_done, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&helper_release, __ATOMIC_ACQUIRE))
        sched_yield();
    gc_thread_unregister();
    return NULL;
}

static NOINLINE void make_x(void)
{
    struct cell *x = gc_alloc(sizeof *x);
    x->id = 0x5eed;
    handoff = x;
}

START_TEST(test_fork_orphan_cache)
{
    /* In the child, the holder thread is gone. Were its cached span (N's)
     * left out of the central lists, it would never be swept again, its
     * mark bits would stay set, the child's second cycle would take N for
     * black without scanning it, and X would be freed. */
    gc_add_roots(&g_root, &g_root + 1);
    int old = gc_set_percent(-1);
    gc_collect();
    helper_done = helper_release = 0;
    make_x();
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, holder, NULL), 0);
    while (!__atomic_load_n(&helper_done, __ATOMIC_ACQUIRE))
        sched_yield();
    clear_stack();
    clear_registers();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (int i = 0; i < 3; i++)
            collect();
        /* Reuse whatever was freed, then look at X. */
        for (int i = 0; i < 100000; i++) {
            struct cell *c = gc_alloc(sizeof *c);
            c->id = -1;
        }
        struct cell *x = g_root->next;
        int ok = gc_base(x) == x && x->id == 0x5eed;
        if (!ok)
            fprintf(stderr, "fork child: X at %p is %s, id %ld\n", (void *)x,
                    gc_base(x) == x ? "allocated" : "free", x->id);
        _exit(ok ? 0 : 1);
    }
    int hung;
    int status = child_wait(pid, 60, &hung);
    __atomic_store_n(&helper_release, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    gc_set_percent(old);
    g_root = NULL;
    gc_remove_roots(&g_root, &g_root + 1);
    ck_assert_msg(!hung && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the child lost an object reachable through a span cached by a thread it does "
                  "not have");
}
END_TEST

/* ---- A child starts the collector's threads only when it needs them ----- */

/* This process's threads, from /proc/self/task; -1 if it cannot be read. */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void *child_collector(void *arg)
{
    (void)arg;
    gc_thread_register();
    struct node *t = build(8, 1);
    gc_collect();
    intptr_t ok = count(t, 1) == (1 << 9) - 1;
    gc_thread_unregister();
    return (void *)ok;
}

START_TEST(test_fork_child_starts_threads_at_its_first_cycle)
{
    /* The parent runs the collector's threads; a child that only exits (or
     * execs) must not start them: threads created in a fork child can
     * block forever on an allocator lock a parent thread held at the fork,
     * and cost every fork/exec. Its first cycle starts them, once, even
     * when two threads ask for cycles at the same time. */
    int parent_threads = thread_count();
    ck_assert_int_gt(parent_threads, 1);
    struct node *before = build(10, 1);
    for (int k = 0; k < 4; k++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            int at_fork = thread_count();
            for (int i = 0; i < 20; i++)
                build(6, 1); /* allocating below the trigger needs no thread */
            int after_allocating = thread_count();
            pthread_t th[2];
            for (int i = 0; i < 2; i++)
                pthread_create(&th[i], NULL, child_collector, NULL);
            intptr_t ok = 1;
            for (int i = 0; i < 2; i++) {
                void *r;
                pthread_join(th[i], &r);
                ok &= (intptr_t)r;
            }
            int after_cycles = thread_count();
            gc_collect();
            int fine = at_fork == 1 && after_allocating == 1 && after_cycles > 1 && ok &&
                       count(before, 1) == (1 << 11) - 1;
            if (!fine)
                fprintf(stderr,
                        "fork child %d: %d threads at the fork, %d after allocating, %d after "
                        "its first cycles (the parent has %d); trees %s\n",
                        k, at_fork, after_allocating, after_cycles, parent_threads,
                        ok ? "intact" : "damaged");
            _exit(fine ? 0 : 1);
        }
        int hung;
        int status = child_wait(pid, 60, &hung);
        ck_assert_msg(!hung, "fork %d: the child hung", k);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "fork %d: the child started threads before its first cycle, or none "
                      "after it",
                      k);
    }
    ck_assert_int_eq(count(before, 1), (1 << 11) - 1);
}
END_TEST

static Suite *fork_suite(void)
{
    Suite *s = suite_create("fork");
    TCase *tc = tcase_create("fork");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_fork_children_collect);
    tcase_add_test(tc, test_fork_orphan_cache);
    tcase_add_test(tc, test_fork_child_starts_threads_at_its_first_cycle);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gc_init(NULL);
    return run_suite(fork_suite(), CK_FORK_GETENV);
}
