/*
 * Mark assists (runtime/worker.c): how an allocating thread's debt is paid.
 *
 * A thread that allocates while marking owes scan work at the rate the
 * pacer sets (work per byte, x1024). mark_assist pays the debt first from the
 * workers' banked credit, then by scanning grey objects itself, at least
 * 64 KiB of work and at most 64 KiB per call; every unit of work pays
 * 1024 / rate bytes of debt; only work the thread did itself counts as
 * scan work done this cycle (which the rate is computed from). A slip in
 * this arithmetic does not lose objects: it only shows as assists that
 * never end or never happen, the heap overshooting its goal in the stress
 * and pacing runs. So the test drives mark_assist directly, between cycles,
 * with the marking state set up by hand:
 *
 * - with ample banked credit: exactly the debt's worth of credit is taken,
 *   the debt is paid to within one rounding, and no scan work is counted;
 * - with no credit and grey objects in the thread's own buffers: exactly
 *   64 KiB is scanned, counted as scan work, and paid at the same rate; the
 *   grey objects left over go to the global list;
 * - with neither: nothing is paid, and the call returns (no cycle runs to
 *   wait for).
 *
 * Wake-ups (no polling while marking): a marker asleep for grey work
 * (mark_work_wait) is woken by the publish of a full buffer, and the
 * controller asleep for the end of marking (mark_done_wait) by the assist
 * that takes the last grey buffer. Each sleeper waits with a 60 s bound and
 * must be back within 10 s of the event, so a dropped wake-up fails here
 * (tests/mutants/wake-*.patch) rather than only slowing cycles by the
 * bound. Each sleeper is seen asleep in the kernel (/proc) before the
 * event, or the wake-up would not be what it waits for.
 *
 * GOGC is 100 (the assist rate needs a finite goal) and the tests allocate
 * far less than the first trigger: no cycle starts meanwhile.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#include "in_runtime.h"
#include "check_main.h"
#include "gc.h"
#include "mark.h"
#include "pacer.h"
#include "platform.h"
#include "support.h"
#include "threads.h"
#include "worker.h"

#define KiB ((uint64_t)1 << 10)
#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)

/* The marking state the tests change, saved and put back. */
static struct {
    AO_t roots_done, scan_done, bg_credit;
    uint64_t expected;
    int64_t assist_bytes;
} saved;

static void setup(void)
{
    ck_assert_uint_eq(atomic_load(&cycle_phase), PHASE_OFF);
    saved.roots_done = atomic_load(&mark_sched.roots_done);
    saved.scan_done = atomic_load(&mark_sched.scan_done);
    saved.bg_credit = atomic_load(&mark_sched.bg_credit);
    saved.expected = pacer.scan_work_expected;
    saved.assist_bytes = current_thread->assist_bytes;
    /* No root job for the assist to take; a known amount of work left. */
    atomic_store(&mark_sched.roots_done, 1);
    atomic_store(&mark_sched.scan_done, 0);
    pacer.scan_work_expected = 64 * MiB;
}

static void teardown(void)
{
    atomic_store(&mark_sched.roots_done, saved.roots_done);
    atomic_store(&mark_sched.scan_done, saved.scan_done);
    atomic_store(&mark_sched.bg_credit, saved.bg_credit);
    pacer.scan_work_expected = saved.expected;
    current_thread->assist_bytes = saved.assist_bytes;
}

/* Runs one assist for a debt of debt bytes; returns the rate it used. */
static uint64_t assist(int64_t debt)
{
    struct mthread *t = enter_runtime("test_worker");
    t->assist_bytes = -debt;
    mark_assist(t);
    exit_runtime(t);
    uint64_t wpb = atomic_load(&mark_sched.assist_work_per_byte_x1024);
    ck_assert_msg(wpb > 1024, "the assist rate is %lu/1024 work per byte", (unsigned long)wpb);
    return wpb;
}

START_TEST(assist_pays_from_credit)
{
    atomic_store(&mark_sched.bg_credit, GiB);
    int64_t debt = (int64_t)MiB;
    uint64_t wpb = assist(debt);
    uint64_t took = GiB - atomic_load(&mark_sched.bg_credit);
    uint64_t want = (uint64_t)debt * wpb / 1024;
    ck_assert_msg(took == want, "took %lu of credit for a debt worth %lu", (unsigned long)took,
                  (unsigned long)want);
    int64_t left = current_thread->assist_bytes;
    ck_assert_msg(left == -debt + (int64_t)(took * 1024 / wpb),
                  "debt %ld after paying %lu credit at %lu/1024: %ld", (long)-debt,
                  (unsigned long)took, (unsigned long)wpb, (long)left);
    ck_assert_msg(left <= 0 && left > -(int64_t)(1024 / wpb + 2), "debt left: %ld", (long)left);
    ck_assert_msg(atomic_load(&mark_sched.scan_done) == 0,
                  "banked credit was counted as scan work done (%lu)",
                  (unsigned long)atomic_load(&mark_sched.scan_done));
}
END_TEST

/* Scannable objects of 32 KiB holding no pointers: scanning one is 32 KiB
 * of work and greys nothing. */
#define GREY_N     8
#define GREY_BYTES (32 * KiB)
static void *grey_objs[GREY_N];

START_TEST(assist_scans_its_own_work)
{
    gc_add_roots(grey_objs, grey_objs + GREY_N);
    atomic_store(&mark_sched.bg_credit, 0);
    struct mthread *t = current_thread;
    for (int i = 0; i < GREY_N; i++) {
        grey_objs[i] = gc_alloc(GREY_BYTES);
        rt_gcw_put(&t->gcw, (uintptr_t)grey_objs[i]);
    }
    AO_t nfull0 = atomic_load(&mark_work.nfull);
    int64_t debt = (int64_t)MiB;
    uint64_t wpb = assist(debt);
    uint64_t scanned = atomic_load(&mark_sched.scan_done);
    ck_assert_msg(scanned == 2 * GREY_BYTES, "an assist scanned %lu bytes, not 64 KiB",
                  (unsigned long)scanned);
    int64_t left = current_thread->assist_bytes;
    ck_assert_msg(left == -debt + (int64_t)(scanned * 1024 / wpb),
                  "debt %ld after scanning %lu at %lu/1024: %ld", (long)-debt,
                  (unsigned long)scanned, (unsigned long)wpb, (long)left);
    /* The rest went where the workers find it. */
    ck_assert_ptr_null(t->gcw.wbuf1);
    ck_assert_ptr_null(t->gcw.wbuf2);
    ck_assert_uint_eq(atomic_load(&mark_work.nfull), nfull0 + 1);
    struct gcw w = {0};
    int rest = 0;
    while (rt_gcw_get(&w) != 0)
        rest++;
    rt_gcw_dispose(&w);
    ck_assert_int_eq(rest, GREY_N - 2);
    memset(grey_objs, 0, sizeof grey_objs);
    gc_remove_roots(grey_objs, grey_objs + GREY_N);
}
END_TEST

START_TEST(assist_without_work_returns)
{
    atomic_store(&mark_sched.bg_credit, 0);
    int64_t debt = (int64_t)MiB;
    assist(debt);
    ck_assert_int_eq(current_thread->assist_bytes, -debt);
    ck_assert_uint_eq(atomic_load(&mark_sched.scan_done), 0);
}
END_TEST

/* ---- Wake-ups ------------------------------------------------------------ */

#define SLEEPER_BOUND_NS ((int64_t)60 * 1000000000) /* the sleepers' own bound */
#define WAKE_WITHIN_S    10                         /* what the test allows */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void nap_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000};
    nanosleep(&ts, NULL);
}

/* A sleeper thread: its kernel id, a stop word for mark_work_wait, and
 * whether it came back. */
struct sleeper {
    pthread_t th;
    volatile pid_t tid;
    volatile AO_t stop;
    volatile AO_t back;
};

/* Is thread tid of this process asleep (state S) in the kernel? */
static int asleep(pid_t tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *state = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return state != NULL && state[1] == ' ' && state[2] == 'S';
}

/* Waits (at most 10 s) until sl has started and sleeps in the kernel. */
static void wait_until_asleep(struct sleeper *sl)
{
    int64_t deadline = now_ns() + (int64_t)WAKE_WITHIN_S * 1000000000;
    while (sl->tid == 0 || !asleep(sl->tid)) {
        ck_assert_msg(now_ns() < deadline, "the sleeper never went to sleep");
        nap_ms(1);
    }
    nap_ms(20); /* and stays so: not a page fault on the way */
    ck_assert_msg(asleep(sl->tid) && !atomic_load(&sl->back), "the sleeper did not stay asleep");
}

/* Seconds until sl came back (at most WAKE_WITHIN_S + 1: it did not). */
static double wait_back(struct sleeper *sl)
{
    int64_t t0 = now_ns();
    while (!atomic_load(&sl->back) && now_ns() - t0 < (int64_t)WAKE_WITHIN_S * 1000000000)
        nap_ms(1);
    return atomic_load(&sl->back) ? (double)(now_ns() - t0) / 1e9 : WAKE_WITHIN_S + 1;
}

static void *grey_sleeper(void *arg)
{
    struct sleeper *sl = arg;
    sl->tid = (pid_t)syscall(SYS_gettid);
    while (!mark_work_available() && !atomic_load(&sl->stop))
        mark_work_wait(&sl->stop, SLEEPER_BOUND_NS);
    atomic_store(&sl->back, 1);
    return NULL;
}

START_TEST(idle_marker_wakes_when_grey_work_is_published)
{
    ck_assert_uint_eq(atomic_load(&mark_work.nfull), 0);
    struct sleeper sl = {0};
    pthread_create(&sl.th, NULL, grey_sleeper, &sl);
    wait_until_asleep(&sl);
    /* One full buffer to the global list (gcw_dispose publishes it). */
    void **obj = gc_alloc(64);
    struct gcw w = {0};
    rt_gcw_put(&w, (uintptr_t)obj);
    rt_gcw_dispose(&w);
    double took = wait_back(&sl);
    /* Take the buffer back before anything can fail. */
    int got = 0;
    while (rt_gcw_get(&w) != 0)
        got++;
    rt_gcw_dispose(&w);
    atomic_store(&sl.stop, 1);
    mark_work_wake_all();
    pthread_join(sl.th, NULL);
    ck_assert_int_eq(got, 1);
    ck_assert_msg(took <= WAKE_WITHIN_S,
                  "a marker asleep for grey work slept on after a buffer was published");
}
END_TEST

static void *done_sleeper(void *arg)
{
    struct sleeper *sl = arg;
    sl->tid = (pid_t)syscall(SYS_gettid);
    int64_t deadline = now_ns() + SLEEPER_BOUND_NS;
    while (!mark_sched_looks_done() && now_ns() < deadline)
        mark_done_wait(deadline - now_ns());
    atomic_store(&sl->back, 1);
    return NULL;
}

START_TEST(controller_wakes_when_an_assist_takes_the_last_grey_work)
{
    /* roots_done is set (setup), no worker is busy, no banked credit: the
     * one grey buffer below is all that keeps marking from looking done. */
    ck_assert_uint_eq(atomic_load(&mark_work.nfull), 0);
    ck_assert_uint_eq(atomic_load(&mark_sched.nbusy), 0);
    atomic_store(&mark_sched.bg_credit, 0);
    gc_add_roots(grey_objs, grey_objs + 2);
    struct gcw w = {0};
    for (int i = 0; i < 2; i++) {
        grey_objs[i] = gc_alloc(GREY_BYTES);
        rt_gcw_put(&w, (uintptr_t)grey_objs[i]);
    }
    rt_gcw_dispose(&w);
    ck_assert(!mark_sched_looks_done());
    struct sleeper sl = {0};
    pthread_create(&sl.th, NULL, done_sleeper, &sl);
    wait_until_asleep(&sl);
    /* The assist takes the buffer off the list and scans both objects (its
     * 64 KiB): marking now looks done, and the assist must say so. */
    assist((int64_t)MiB);
    ck_assert(mark_sched_looks_done());
    double took = wait_back(&sl);
    if (took > WAKE_WITHIN_S) {
        /* Unblock it for the join: a marker's note, by hand. */
        atomic_xadd32(&mark_sched.done_word, 2);
        futex_wake(&mark_sched.done_word, 1);
    }
    pthread_join(sl.th, NULL);
    memset(grey_objs, 0, sizeof grey_objs);
    gc_remove_roots(grey_objs, grey_objs + 2);
    ck_assert_msg(took <= WAKE_WITHIN_S,
                  "the controller slept on after an assist took the last grey work");
}
END_TEST

static Suite *worker_suite(void)
{
    Suite *s = suite_create("worker");
    TCase *tc = tcase_create("assists");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, assist_pays_from_credit);
    tcase_add_test(tc, assist_scans_its_own_work);
    tcase_add_test(tc, assist_without_work_returns);
    suite_add_tcase(s, tc);
    tc = tcase_create("wake-ups");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 50);
    tcase_add_test(tc, idle_marker_wakes_when_grey_work_is_published);
    tcase_add_test(tc, controller_wakes_when_an_assist_takes_the_last_grey_work);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (gc_init(NULL) != 0)
        return EXIT_FAILURE;
    return run_suite(worker_suite(), CK_FORK_GETENV);
}
