/*
 * fork(): a child of a program using tricolor has a usable runtime.
 *
 * Two registered threads churn the heap while the main thread forks, again
 * and again, so that forks land in every phase of the cycle. Each child
 * allocates, collects twice (so a cycle runs entirely in the child, with
 * the collector's threads restarted there), checks a tree built before the
 * fork and one built after, and exits with its verdict. A child that hangs
 * is killed and counted as a failure.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <tricolor.h>
#include <unistd.h>

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

/* Waits for pid for at most seconds; kills it if it is still running. */
static int wait_child(pid_t pid, int seconds)
{
    int status;
    for (int i = 0; i < seconds * 100; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
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
        int status = wait_child(pid, 60);
        if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "fork %d: child %s\n", k,
                    status == -1 ? "hung and was killed" : "failed");
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

int main(void)
{
    gc_init(NULL);
    Suite *s = suite_create("fork");
    TCase *tc = tcase_create("fork");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_fork_children_collect);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
