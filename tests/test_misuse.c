/*
 * Misuse of the public API gets a clear message, and never a crash where
 * the API promises a return value.
 *
 * - Allocating from a thread that is not registered (a thread that never
 *   called gc_thread_register, a thread that unregistered, or a program
 *   that never called gc_init) aborts with a message that says so and names
 *   gc_thread_register. Each case runs in a child process (this program run
 *   again, so the runtime starts from nothing), whose stderr the test reads
 *   and whose death by SIGABRT it checks.
 * - gc_thread_register before gc_init, or twice on one thread, returns -1
 *   with a message; gc_thread_unregister on a thread that is not registered
 *   (never was, or already unregistered) returns -1 with a message. None of
 *   these changes the thread's registration.
 * - A thread that exits while still registered is unregistered on its way
 *   out, so later collections do not try to stop it (in a child process
 *   too, since a failure would hang or abort).
 * - gc_add_roots with a reversed range warns and ignores it; an empty range
 *   and removing a range never added are harmless.
 *
 * Under CK_FORK=no the tests share one process: the first test case runs
 * before gc_init (main never calls it), the second calls it in its fixture.
 * Every child process the tests start is killed if it hangs.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tricolor.h>

#include "capture.h"
#include "check_main.h"
#include "child.h"

/* ---- Capturing stderr ---------------------------------------------------- */

static void teardown(void)
{
    capture_abandon();
}

static void init_fixture(void)
{
    ck_assert_int_eq(gc_init(NULL), 0);
}

/* ---- Child processes ------------------------------------------------------- */

/* Runs this program again as `test_misuse --child name`, with stderr sent
 * to a temporary file, and kills it if it has not ended within 10 seconds.
 * Returns the child's wait status and leaves its stderr in captured
 * (*err). */
static int run_child(const char *name, const char **err)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    const char *const argv[] = {"test_misuse", "--child", name, NULL};
    int hung;
    int status = run_self(argv, f, 10, &hung);
    *err = read_all(f);
    fclose(f);
    ck_assert_msg(!hung, "child %s hung (killed after 10 s); stderr: %s", name, *err);
    return status;
}

static void assert_aborted(int status, const char *err, const char *what)
{
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "%s: the child was not killed by SIGABRT (status %#x); stderr: %s", what, status,
                  err);
}

/* The message every not-registered abort must carry. */
static void assert_not_registered_message(const char *err, const char *fn)
{
    ck_assert_msg(strstr(err, "not registered") != NULL, "no \"not registered\" in: %s", err);
    ck_assert_msg(strstr(err, "gc_thread_register") != NULL, "no \"gc_thread_register\" in: %s",
                  err);
    ck_assert_msg(strstr(err, fn) != NULL, "the message does not name %s: %s", fn, err);
    ck_assert_msg(strstr(err, "tricolor") != NULL, "the message does not say tricolor: %s", err);
}

/* ---- What the children do (no Check in there) ----------------------------- */

static void *alloc_thread(void *arg)
{
    (void)arg;
    gc_alloc(16);
    return NULL;
}

static void *alloc_noscan_thread(void *arg)
{
    (void)arg;
    gc_alloc_noscan(100000);
    return NULL;
}

static int thread_then_join(void *(*fn)(void *))
{
    if (gc_init(NULL) != 0)
        return 3;
    pthread_t t;
    if (pthread_create(&t, NULL, fn, NULL) != 0)
        return 3;
    pthread_join(t, NULL);
    return 0; /* not reached: the thread aborts the process */
}

static int child_unregistered_alloc(void)
{
    return thread_then_join(alloc_thread);
}

static int child_unregistered_alloc_noscan(void)
{
    return thread_then_join(alloc_noscan_thread);
}

static int child_alloc_after_unregister(void)
{
    if (gc_init(NULL) != 0 || gc_thread_unregister() != 0)
        return 3;
    gc_alloc(8);
    return 0;
}

static int child_alloc_without_init(void)
{
    gc_alloc(8);
    return 0;
}

static void *exit_registered_thread(void *arg)
{
    (void)arg;
    if (gc_thread_register() != 0)
        return (void *)1;
    gc_alloc(64);
    return NULL; /* no gc_thread_unregister */
}

/* Threads exit registered, then collections stop the world. A stop that
 * signalled a dead thread would abort ("did it exit without
 * gc_thread_unregister?") or hang. */
static int child_threads_exit_registered(void)
{
    if (gc_init(NULL) != 0)
        return 3;
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        void *ret;
        if (pthread_create(&t, NULL, exit_registered_thread, NULL) != 0 ||
            pthread_join(t, &ret) != 0 || ret != NULL)
            return 3;
    }
    gc_collect();
    gc_collect();
    return 0;
}

static const struct child children[] = {
    {"unregistered-alloc", child_unregistered_alloc},
    {"unregistered-alloc-noscan", child_unregistered_alloc_noscan},
    {"alloc-after-unregister", child_alloc_after_unregister},
    {"alloc-without-init", child_alloc_without_init},
    {"threads-exit-registered", child_threads_exit_registered},
};

/* ---- Before gc_init -------------------------------------------------------- */

START_TEST(alloc_without_init_aborts)
{
    const char *err;
    int status = run_child("alloc-without-init", &err);
    assert_aborted(status, err, "gc_alloc without gc_init");
    assert_not_registered_message(err, "gc_alloc");
    ck_assert_msg(strstr(err, "gc_init") != NULL, "the message does not mention gc_init: %s", err);
}
END_TEST

START_TEST(register_before_init)
{
    capture_begin();
    int r = gc_thread_register();
    const char *err = capture_end();
    ck_assert_int_eq(r, -1);
    ck_assert_int_eq(count_lines(err), 1);
    ck_assert_ptr_nonnull(strstr(err, "gc_thread_register"));
    ck_assert_ptr_nonnull(strstr(err, "gc_init"));
}
END_TEST

/* ---- After gc_init --------------------------------------------------------- */

START_TEST(unregistered_thread_alloc_aborts)
{
    const char *err;
    int status = run_child("unregistered-alloc", &err);
    assert_aborted(status, err, "gc_alloc on an unregistered thread");
    assert_not_registered_message(err, "gc_alloc");

    status = run_child("unregistered-alloc-noscan", &err);
    assert_aborted(status, err, "gc_alloc_noscan on an unregistered thread");
    assert_not_registered_message(err, "gc_alloc_noscan");

    status = run_child("alloc-after-unregister", &err);
    assert_aborted(status, err, "gc_alloc after gc_thread_unregister");
    assert_not_registered_message(err, "gc_alloc");
}
END_TEST

START_TEST(register_twice_main)
{
    /* gc_init registered this thread. */
    capture_begin();
    int r = gc_thread_register();
    const char *err = capture_end();
    ck_assert_int_eq(r, -1);
    ck_assert_int_eq(count_lines(err), 1);
    ck_assert_ptr_nonnull(strstr(err, "gc_thread_register"));
    ck_assert_ptr_nonnull(strstr(err, "already registered"));
    /* Still registered, and only once: allocation and a collection work. */
    void *p = gc_alloc(32);
    ck_assert_ptr_nonnull(p);
    gc_collect();
    ck_assert_ptr_eq(gc_base(p), p);
}
END_TEST

/* What a thread saw, for the main thread to assert. */
struct reg_result {
    int first, second, unreg, unreg_again, reregister, final_unreg;
    int alloc_ok;
};

static void *register_thread(void *arg)
{
    struct reg_result *r = arg;
    r->first = gc_thread_register();
    r->second = gc_thread_register();
    void *p = gc_alloc(24);
    r->alloc_ok = p != NULL && gc_base(p) == p && gc_size(p) == 32;
    r->unreg = gc_thread_unregister();
    r->unreg_again = gc_thread_unregister();
    /* Unregistered, the thread may register again. */
    r->reregister = gc_thread_register();
    r->final_unreg = gc_thread_unregister();
    return NULL;
}

START_TEST(register_twice_thread)
{
    struct reg_result r;
    memset(&r, 0x55, sizeof r);
    capture_begin();
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, register_thread, &r), 0);
    pthread_join(t, NULL);
    const char *err = capture_end();
    ck_assert_int_eq(r.first, 0);
    ck_assert_int_eq(r.second, -1);
    ck_assert_int_eq(r.alloc_ok, 1);
    ck_assert_int_eq(r.unreg, 0);
    ck_assert_int_eq(r.unreg_again, -1);
    ck_assert_int_eq(r.reregister, 0);
    ck_assert_int_eq(r.final_unreg, 0);
    ck_assert_int_eq(count_lines(err), 2);
    ck_assert_ptr_nonnull(strstr(err, "gc_thread_register: this thread is already registered"));
    ck_assert_ptr_nonnull(strstr(err, "gc_thread_unregister"));
    ck_assert_ptr_nonnull(strstr(err, "not registered"));
    /* The thread is gone: a collection must not try to stop it. */
    gc_collect();
}
END_TEST

static void *unregister_thread(void *arg)
{
    *(int *)arg = gc_thread_unregister();
    return NULL;
}

START_TEST(unregister_never_registered)
{
    int r = 12345;
    capture_begin();
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, unregister_thread, &r), 0);
    pthread_join(t, NULL);
    const char *err = capture_end();
    ck_assert_int_eq(r, -1);
    ck_assert_int_eq(count_lines(err), 1);
    ck_assert_ptr_nonnull(strstr(err, "gc_thread_unregister"));
    ck_assert_ptr_nonnull(strstr(err, "not registered"));
    gc_collect();
}
END_TEST

START_TEST(thread_exits_registered)
{
    const char *err;
    int status = run_child("threads-exit-registered", &err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "collections after threads exited registered: status %#x; stderr: %s", status,
                  err);
    ck_assert_str_eq(err, "");
}
END_TEST

static void *reversed_roots[4];

START_TEST(add_roots_reversed)
{
    capture_begin();
    gc_add_roots(&reversed_roots[4], &reversed_roots[0]);
    const char *err = capture_end();
    ck_assert_int_eq(count_lines(err), 1);
    ck_assert_ptr_nonnull(strstr(err, "gc_add_roots"));
    ck_assert_ptr_nonnull(strstr(err, "reversed"));

    /* An empty range and removing what was never added: silent. */
    capture_begin();
    gc_add_roots(&reversed_roots[0], &reversed_roots[0]);
    gc_remove_roots(&reversed_roots[0], &reversed_roots[0]);
    static char unrelated[64];
    gc_remove_roots(unrelated, unrelated + sizeof unrelated);
    err = capture_end();
    ck_assert_str_eq(err, "");

    /* Nothing broke: a collection runs and keeps a rooted object alive. */
    static void *kept[2];
    gc_add_roots(&kept[0], &kept[2]);
    kept[1] = gc_alloc(48);
    memset(kept[1], 0x11, 48);
    gc_collect();
    ck_assert_ptr_eq(gc_base(kept[1]), kept[1]);
    ck_assert_int_eq(((unsigned char *)kept[1])[47], 0x11);
    kept[1] = NULL;
    gc_remove_roots(&kept[0], &kept[2]);
}
END_TEST

static Suite *misuse_suite(void)
{
    Suite *s = suite_create("misuse");

    TCase *before = tcase_create("before_init");
    tcase_add_checked_fixture(before, NULL, teardown);
    tcase_add_test(before, alloc_without_init_aborts);
    tcase_add_test(before, register_before_init);
    tcase_set_timeout(before, 30);
    suite_add_tcase(s, before);

    TCase *after = tcase_create("after_init");
    tcase_add_checked_fixture(after, init_fixture, teardown);
    tcase_add_test(after, unregistered_thread_alloc_aborts);
    tcase_add_test(after, register_twice_main);
    tcase_add_test(after, register_twice_thread);
    tcase_add_test(after, unregister_never_registered);
    tcase_add_test(after, thread_exits_registered);
    tcase_add_test(after, add_roots_reversed);
    tcase_set_timeout(after, 30);
    suite_add_tcase(s, after);
    return s;
}

int main(int argc, char **argv)
{
    int status;
    if (child_dispatch(argc, argv, children, sizeof children / sizeof children[0], &status))
        return status;
    return run_suite(misuse_suite(), CK_FORK_GETENV);
}
