/*
 * Tests for the pause records: MemStats' pause_ns, pause_total_ns and
 * pause_longest_ns, and gctrace's two STW clocks, against each other and
 * against a mutator's own clock.
 *
 * Run twice by meson: with GODEBUG=gctrace=1 (concurrent marking: two short
 * pauses a cycle) and with gctrace=1,gcstoptheworld=1 (the whole cycle is
 * one long pause, long enough that a spinning thread's view of it can be
 * compared with the record within 20% despite signal latency).
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "check_main.h"
#include "knobs.h"
#include "platform.h"
#include "support.h"

struct node {
    struct node *next;
    uintptr_t payload[3];
};

/* A live list of about bytes bytes, held by a global (a root). */
static struct node *live_list;

static void build_live(size_t bytes)
{
    for (size_t i = 0; i < bytes / sizeof(struct node); i++) {
        struct node *n = gc_alloc(sizeof *n);
        n->next = live_list;
        live_list = n;
    }
}

static uint64_t latest(const uint64_t ring[256], uint32_t num_gc)
{
    return ring[(num_gc + 255) % 256];
}

/* gctrace's "gc N @T s P%: A+B+C ms clock": the cycle number and A, C. */
static int parse_clock(const char *line, unsigned *num, double *stw1_ms, double *mark_ms,
                       double *stw2_ms)
{
    return sscanf(line, "gc %u @%*fs %*d%%: %lf+%lf+%lf ms clock", num, stw1_ms, mark_ms,
                  stw2_ms) == 4;
}

/* The two STW clocks of each cycle add up to its pause_ns (with
 * gcstoptheworld, the mark clock too: the whole cycle is one pause); the
 * longest pause is at least the first STW clock and at most the sum. */
START_TEST(gctrace_agrees_with_memstats)
{
    ck_assert_msg(knobs.gctrace, "run with GODEBUG=gctrace=1");
    build_live(8 << 20);
    static gc_memstats before, after;
    gc_read_memstats(&before);
    capture_begin();
    for (int i = 0; i < 20; i++)
        gc_collect();
    const char *out = capture_end();
    gc_read_memstats(&after);
    ck_assert_uint_ge(after.num_gc, before.num_gc + 20);

    uint64_t sum = 0;
    int lines = 0;
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        unsigned num;
        double stw1, mark, stw2;
        if (!parse_clock(p, &num, &stw1, &mark, &stw2))
            continue;
        if (num <= before.num_gc || num > after.num_gc)
            continue;
        uint64_t pause = latest(after.pause_ns, num);
        uint64_t longest = latest(after.pause_longest_ns, num);
        double clock_ns = (stw1 + stw2 + (knobs.gcstoptheworld ? mark : 0)) * 1e6;
        /* gctrace prints two or three significant figures. */
        ck_assert_msg(clock_ns >= 0.9 * (double)pause - 20000 &&
                          clock_ns <= 1.1 * (double)pause + 20000,
                      "cycle %u: gctrace's STW clocks %.3f+%.3f ms, pause_ns %.3f ms", num, stw1,
                      stw2, (double)pause / 1e6);
        ck_assert_msg(longest <= pause && (double)longest >= 0.9 * stw1 * 1e6 - 20000,
                      "cycle %u: longest pause %.3f ms, first STW %.3f ms, all %.3f ms", num,
                      (double)longest / 1e6, stw1, (double)pause / 1e6);
        sum += pause;
        lines++;
    }
    ck_assert_int_ge(lines, 20);
    uint64_t total = after.pause_total_ns - before.pause_total_ns;
    ck_assert_uint_ge(total, sum);
    ck_assert_msg(total - sum <= total / 10 + 100000,
                  "pause_total_ns grew by %llu ns, the cycles' pause_ns add up to %llu",
                  (unsigned long long)total, (unsigned long long)sum);
    live_list = NULL;
}
END_TEST

/* ---- A mutator's own clock -------------------------------------------- */

static volatile int spinning, spinner_ready;
static volatile int64_t window_gap; /* longest gap seen since the last reset */

static void *spinner(void *arg)
{
    (void)arg;
    gc_thread_register();
    int64_t last = nanotime();
    spinner_ready = 1;
    while (spinning) {
        int64_t t = nanotime();
        if (t - last > window_gap)
            window_gap = t - last;
        last = t;
    }
    gc_thread_unregister();
    return NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* With gcstoptheworld=1 a cycle is one pause of tens of milliseconds: a
 * thread spinning on the clock sees a gap that long, and the record must
 * match it within 20% (median over the cycles), beyond what the machine
 * itself adds to the gap (the spinner's longest gap over as long a
 * stretch with no cycle, measured just before). */
START_TEST(records_match_a_mutators_clock)
{
    if (!knobs.gcstoptheworld)
        return; /* the concurrent run checks agreement only */
    build_live(32 << 20);
    pthread_t t;
    spinning = 1;
    ck_assert_int_eq(pthread_create(&t, NULL, spinner, NULL), 0);
    while (!spinner_ready)
        ;
    enum { CYCLES = 9 };
    double low[CYCLES], high[CYCLES];
    static gc_memstats ms;
    uint64_t pause = 20000000;
    for (int i = 0; i < CYCLES; i++) {
        /* The machine's own share of a gap: once the world restarts, the
         * spinner may wait for a CPU (on a busy machine, milliseconds). Its
         * longest gap over as long a stretch with no cycle is that floor. */
        window_gap = 0;
        sleep_ms((int)(pause / 1000000) + 1);
        int64_t floor = window_gap;
        window_gap = 0;
        gc_collect();
        int64_t gap = window_gap;
        gc_read_memstats(&ms);
        pause = latest(ms.pause_ns, ms.num_gc);
        ck_assert_uint_gt(pause, 0);
        ck_assert_uint_eq(latest(ms.pause_longest_ns, ms.num_gc), pause); /* one pause */
        low[i] = (double)gap / (double)pause;
        high[i] = (double)(gap - floor) / (double)pause;
        printf("cycle %u: pause_ns %.3f ms, the spinner's longest gap %.3f ms "
               "(%.3f ms with no cycle)\n",
               ms.num_gc, (double)pause / 1e6, (double)gap / 1e6, (double)floor / 1e6);
    }
    spinning = 0;
    pthread_join(t, NULL);
    qsort(low, CYCLES, sizeof low[0], cmp_double);
    qsort(high, CYCLES, sizeof high[0], cmp_double);
    /* The record is not above what the mutator saw, nor far below it once
     * the machine's own stalls are taken out. */
    ck_assert_msg(low[CYCLES / 2] >= 0.8, "median gap/pause_ns %.2f, below 0.8", low[CYCLES / 2]);
    ck_assert_msg(high[CYCLES / 2] <= 1.2, "median (gap - floor)/pause_ns %.2f, above 1.2",
                  high[CYCLES / 2]);
    live_list = NULL;
}
END_TEST

static Suite *pauses_suite(void)
{
    Suite *s = suite_create("pauses");
    TCase *tc = tcase_create("records");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gctrace_agrees_with_memstats);
    tcase_add_test(tc, records_match_a_mutators_clock);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gc_init(NULL);
    return run_suite(pauses_suite(), CK_NOFORK);
}
