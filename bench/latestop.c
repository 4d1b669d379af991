/*
 * latestop.c: what the punctual threads feel when one thread answers a stop
 * late.
 *
 * A stop-the-world pause must wait for every registered thread. A thread
 * that cannot answer at once (descheduled by a busy host, or inside a page
 * fault that takes milliseconds) holds every thread already stopped. The
 * runtime gives such a stop up after GODEBUG=stoptimeout microseconds
 * (default 250), lets the stopped threads run, and tries again 200 us later
 * (gc.c, try_stop); stoptimeout=0 waits as long as it takes.
 *
 * The program: the main thread allocates (lists of 64-byte objects over a
 * live set of about 32 MiB, so that cycles run back to back) and times
 * each step of its loop; a second registered thread is the late one: it
 * sleeps LATE_MS (default 3) ms at a time with the runtime's suspend signal
 * blocked, as a descheduled thread looks to a stopper, and unblocks it
 * between two sleeps. The main thread's slowest steps are the stops it
 * waited in. With argument "punctual", the second thread sleeps with the
 * signal unblocked: the floor of the same run.
 *
 * Output: one line on stderr,
 *
 *   result: name=<late|punctual> stoptimeout_us=<knob> cycles=<n>
 *           abandoned=<stops given up> worst_step_us=<slowest step>
 *           over_1ms=<steps over 1 ms> over_250us=<steps over 250 us>
 *           p9999_us=<99.99th percentile step> longest_stop_us=<longest
 *           pause the runtime recorded>
 *
 *   meson setup build-bench -Dbench=true --buildtype=release
 *   ninja -C build-bench bench/latestop
 *   for t in 250 0; do GODEBUG=stoptimeout=$t build-bench/bench/latestop; done
 */
#include <tricolor.h>

#include "gc.h" /* cycle_stats.num_stops_abandoned: the runtime's internal count */

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    STEPS = 400000,
    LIVE_LISTS = 4096,
    LIST_LEN = 128,
    NODE_SIZE = 64,
};

/* The runtime's default suspend signal (threads.c). */
#define SUSPEND_SIGNAL (SIGRTMIN + 6)

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static volatile int stop_late;
static int late_ms = 3;
static int late_blocks = 1;

static void *late_main(void *arg)
{
    (void)arg;
    gc_thread_register();
    sigset_t sig;
    sigemptyset(&sig);
    sigaddset(&sig, SUSPEND_SIGNAL);
    struct timespec spell = {.tv_sec = late_ms / 1000, .tv_nsec = (late_ms % 1000) * 1000000L};
    while (!__atomic_load_n(&stop_late, __ATOMIC_ACQUIRE)) {
        if (late_blocks)
            pthread_sigmask(SIG_BLOCK, &sig, NULL);
        nanosleep(&spell, NULL);
        if (late_blocks)
            pthread_sigmask(SIG_UNBLOCK, &sig, NULL);
    }
    gc_thread_unregister();
    return NULL;
}

static void **lists; /* a GC object, held by this global */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    late_blocks = !(argc > 1 && strcmp(argv[1], "punctual") == 0);
    if (getenv("LATE_MS"))
        late_ms = atoi(getenv("LATE_MS"));
    if (late_ms < 1)
        late_ms = 1;
    gc_init(NULL);
    gc_add_roots(&lists, &lists + 1);
    lists = gc_alloc(LIVE_LISTS * sizeof(void *));
    int64_t *steps = malloc(STEPS * sizeof *steps);
    if (steps == NULL)
        return 1;
    memset(steps, 0, STEPS * sizeof *steps);

    pthread_t late;
    pthread_create(&late, NULL, late_main, NULL);
    gc_memstats before;
    gc_read_memstats(&before);
    uint32_t cycles0 = before.num_gc;
    uint32_t abandoned0 = cycle_stats.num_stops_abandoned;

    for (int i = 0; i < STEPS; i++) {
        int64_t t0 = now_ns();
        /* One step: a fresh list of LIST_LEN/8 nodes replaces part of an old
         * one, so that the live set stays put and garbage flows. */
        void **head = NULL;
        for (int j = 0; j < LIST_LEN / 8; j++) {
            void **node = gc_alloc(NODE_SIZE);
            node[0] = head;
            head = node;
        }
        gc_write_ptr(&lists[(unsigned)i % LIVE_LISTS], head);
        steps[i] = now_ns() - t0;
    }

    __atomic_store_n(&stop_late, 1, __ATOMIC_RELEASE);
    pthread_join(late, NULL);
    gc_memstats after;
    gc_read_memstats(&after);

    int64_t worst = 0;
    int over_1ms = 0, over_250us = 0;
    for (int i = 0; i < STEPS; i++) {
        if (steps[i] > worst)
            worst = steps[i];
        over_1ms += steps[i] > 1000000;
        over_250us += steps[i] > 250000;
    }
    qsort(steps, STEPS, sizeof *steps, cmp_i64);
    int64_t p9999 = steps[(size_t)STEPS * 9999 / 10000];
    uint64_t longest = 0;
    for (uint32_t n = cycles0 + 1; n <= after.num_gc; n++) {
        uint64_t l = after.pause_longest_ns[(n + 255) % 256];
        if (n + 256 > after.num_gc && l > longest)
            longest = l;
    }
    const char *godebug = getenv("GODEBUG");
    const char *st = godebug ? strstr(godebug, "stoptimeout=") : NULL;
    fprintf(stderr,
            "result: name=%s stoptimeout_us=%d cycles=%u abandoned=%u worst_step_us=%.1f "
            "over_1ms=%d over_250us=%d p9999_us=%.1f longest_stop_us=%.1f\n",
            late_blocks ? "late" : "punctual", st ? atoi(st + 12) : 250, after.num_gc - cycles0,
            cycle_stats.num_stops_abandoned - abandoned0, (double)worst / 1e3, over_1ms, over_250us,
            (double)p9999 / 1e3, (double)longest / 1e3);
    free(steps);
    return 0;
}
