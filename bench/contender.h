/*
 * contender.h: the allocator shim shared by the GC benchmarks (binary_trees.c, gcbench.c,
 * latency.c, spike.c).
 *
 * Each benchmark is written once against these few names and compiled twice, with
 * -DCONTENDER_TRICOLOR or -DCONTENDER_BOEHM, so both collectors run exactly the same code
 * (binary_trees.c also with -DCONTENDER_MIMALLOC: mimalloc's malloc and an explicit free of
 * each tree, the manual memory management a collector competes with):
 *
 *   contender_init()          start the collector (before any allocation)
 *   contender_name()          "tricolor" or "boehm", for the result line
 *   alloc_node(size)          zeroed object that may hold GC pointers
 *   alloc_leaf_data(size)     object that never holds GC pointers (numbers); its contents are
 *                             unspecified (tricolor zeroes it, GC_MALLOC_ATOMIC does not)
 *   store_ptr(slot, value)    store a GC pointer into a GC object (tricolor's write barrier)
 *   contender_gcs()           collections so far, as the collector counts them
 *   contender_free_os_memory()  a full collection, then free memory back to the OS
 *                             (gc_free_os_memory / GC_gcollect_and_unmap)
 *   contender_threads_allow()   call before starting threads that allocate
 *   contender_thread_register() / contender_thread_unregister()
 *                             first and last thing in such a thread
 *   CONTENDER_FREES           defined for the contender that frees (free_node)
 *
 * Stop-the-world pauses, from the collector's own bookkeeping (latency.c):
 *
 *   pause_watch_start()       call once after contender_init, before the measured work
 *   pause_watch_sample()      call often enough that no record is lost (tricolor keeps the last
 *                             256 cycles' pauses: sample at least every 256 cycles); it must not
 *                             run inside a timed region, as it may stop the world itself
 *   pause_watch               the totals: cycles seen, worst cycle's and longest single stop,
 *                             total, cycles whose pause was lost (overwritten before a
 *                             sample), whether measured (mimalloc: never)
 *   pause_watch_report()      a last sample, and one "pauses:" line on stderr
 *
 * What a "pause" is differs, and the benchmarks say so: tricolor's is the stop-the-world time
 * of one cycle (both of its pauses added, gc_memstats.pause_ns, as Go's PauseNs); Boehm's is a
 * whole collection (GC_EVENT_START to GC_EVENT_END), because its default collector is not
 * incremental: the allocating thread waits for the whole mark and for the start of sweeping.
 *
 * bench_report() prints the one result line every benchmark ends with, on stderr:
 *
 *   result: name=<contender> wall_ms=<ms> peak_rss_kb=<ru_maxrss> gcs=<collections>
 *
 * bench/run.sh parses that line; the Go versions in bench/go/ print the same line. Before it,
 * where pause_watch_start() was called and the contender collects, a "pauses:" line
 * (pause_watch_report).
 */
#ifndef BENCH_CONTENDER_H
#define BENCH_CONTENDER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#if defined(CONTENDER_TRICOLOR) && !defined(CONTENDER_BOEHM)

#include <tricolor.h>

static inline void contender_init(void)
{
    if (gc_init(NULL) != 0) {
        fprintf(stderr, "tricolor: gc_init failed\n");
        exit(1);
    }
}

static inline const char *contender_name(void)
{
    return "tricolor";
}

static inline void *alloc_node(size_t size)
{
    return gc_alloc(size);
}

static inline void *alloc_leaf_data(size_t size)
{
    return gc_alloc_noscan(size);
}

static inline void store_ptr(void *slot, void *value)
{
    gc_write_ptr(slot, value);
}

static gc_memstats contender_stats_; /* about 8 KiB: keep it off the stack */

static inline unsigned long contender_gcs(void)
{
    gc_read_memstats(&contender_stats_);
    return contender_stats_.num_gc;
}

static inline void contender_free_os_memory(void)
{
    gc_free_os_memory();
}

static inline void contender_threads_allow(void) {}

static inline void contender_thread_register(void)
{
    gc_thread_register();
}

static inline void contender_thread_unregister(void)
{
    gc_thread_unregister();
}

typedef struct pause_totals {
    unsigned long cycles; /* cycles whose pause was seen */
    unsigned long lost;   /* cycles that ran but whose pause was overwritten unseen */
    uint64_t max_ns;      /* worst single cycle's stop-the-world time */
    uint64_t longest_ns;  /* the longest single stop (pause_longest_ns) */
    uint64_t total_ns;    /* all stop-the-world time (the collector's cumulative figure) */
    int measured;         /* 1: the figures are the collector's own */
} pause_totals;

static pause_totals pause_watch;
static uint32_t pause_watch_seen_; /* num_gc at the last sample */
static uint64_t pause_watch_base_; /* pause_total_ns at the start */

/* Folds the cycles completed since the last sample into pause_watch. */
static inline void pause_watch_sample(void)
{
    gc_read_memstats(&contender_stats_);
    uint32_t n = contender_stats_.num_gc;
    uint32_t first = pause_watch_seen_;
    if (n - first > 256) {
        pause_watch.lost += n - first - 256;
        first = n - 256;
    }
    /* Cycle k+1's pause is at pause_ns[k % 256]. */
    for (uint32_t k = first; k != n; k++) {
        uint64_t p = contender_stats_.pause_ns[k % 256];
        if (p > pause_watch.max_ns)
            pause_watch.max_ns = p;
        if (contender_stats_.pause_longest_ns[k % 256] > pause_watch.longest_ns)
            pause_watch.longest_ns = contender_stats_.pause_longest_ns[k % 256];
        pause_watch.cycles++;
    }
    pause_watch_seen_ = n;
    pause_watch.total_ns = contender_stats_.pause_total_ns - pause_watch_base_;
}

static inline void pause_watch_start(void)
{
    gc_read_memstats(&contender_stats_);
    pause_watch_seen_ = contender_stats_.num_gc;
    pause_watch_base_ = contender_stats_.pause_total_ns;
    pause_watch.measured = 1;
}

#elif defined(CONTENDER_BOEHM) && !defined(CONTENDER_TRICOLOR)

/* For the thread registration calls; threads register themselves, and pthread_create is
 * not redirected. */
#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc.h>

static inline void contender_init(void)
{
    GC_INIT();
}

static inline const char *contender_name(void)
{
    return "boehm";
}

static inline void *alloc_node(size_t size)
{
    return GC_MALLOC(size);
}

static inline void *alloc_leaf_data(size_t size)
{
    return GC_MALLOC_ATOMIC(size);
}

static inline void store_ptr(void *slot, void *value)
{
    *(void **)slot = value;
}

static inline unsigned long contender_gcs(void)
{
    return (unsigned long)GC_get_gc_no();
}

static inline void contender_free_os_memory(void)
{
    GC_gcollect_and_unmap();
}

/* Only when threads will allocate: from here on every GC_MALLOC takes Boehm's lock. */
static inline void contender_threads_allow(void)
{
    GC_allow_register_threads();
}

static inline void contender_thread_register(void)
{
    struct GC_stack_base sb;
    if (GC_get_stack_base(&sb) != GC_SUCCESS || GC_register_my_thread(&sb) != GC_SUCCESS) {
        fprintf(stderr, "boehm: cannot register a thread\n");
        exit(1);
    }
}

static inline void contender_thread_unregister(void)
{
    GC_unregister_my_thread();
}

typedef struct pause_totals {
    unsigned long cycles; /* collections whose pause was seen */
    unsigned long lost;   /* always 0: every collection is seen as it happens */
    uint64_t max_ns;      /* worst single collection, start to end */
    uint64_t longest_ns;  /* the same: a collection is one stop */
    uint64_t total_ns;    /* all collections */
    int measured;         /* 1: the figures were measured */
} pause_totals;

static pause_totals pause_watch;
static uint64_t pause_watch_t0_; /* CLOCK_MONOTONIC ns at GC_EVENT_START; 0 outside one */

/* Runs with Boehm's allocation lock held: no allocation here, only the clock. */
static void GC_CALLBACK pause_watch_event_(GC_EventType ev)
{
    struct timespec ts;
    if (ev != GC_EVENT_START && ev != GC_EVENT_END)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (ev == GC_EVENT_START) {
        pause_watch_t0_ = t;
    } else if (pause_watch_t0_ != 0) {
        uint64_t p = t - pause_watch_t0_;
        if (p > pause_watch.max_ns)
            pause_watch.max_ns = pause_watch.longest_ns = p;
        pause_watch.total_ns += p;
        pause_watch.cycles++;
        pause_watch_t0_ = 0;
    }
}

static inline void pause_watch_start(void)
{
    GC_set_on_collection_event(pause_watch_event_);
    pause_watch.measured = 1;
}

static inline void pause_watch_sample(void) {}

#elif defined(CONTENDER_MIMALLOC) && !defined(CONTENDER_TRICOLOR) && !defined(CONTENDER_BOEHM)

#include <mimalloc.h>

#define CONTENDER_FREES 1

static inline void contender_init(void) {}

static inline const char *contender_name(void)
{
    return "mimalloc";
}

static inline void *alloc_node(size_t size)
{
    return mi_malloc(size);
}

static inline void free_node(void *p)
{
    mi_free(p);
}

static inline void store_ptr(void *slot, void *value)
{
    *(void **)slot = value;
}

static inline unsigned long contender_gcs(void)
{
    return 0;
}

static inline void contender_threads_allow(void) {}
static inline void contender_thread_register(void) {}
static inline void contender_thread_unregister(void) {}

/* No collector, no pauses. */
typedef struct pause_totals {
    unsigned long cycles, lost;
    uint64_t max_ns, longest_ns, total_ns;
    int measured; /* always 0 */
} pause_totals;

static pause_totals pause_watch;
static inline void pause_watch_start(void) {}
static inline void pause_watch_sample(void) {}

#else
#error "compile with exactly one of -DCONTENDER_TRICOLOR, -DCONTENDER_BOEHM, -DCONTENDER_MIMALLOC"
#endif

/* One line on stderr (stdout is compared between contenders): the cycles
 * whose pauses were seen, the longest single stop and the worst cycle's
 * stop-the-world time; nothing where the contender has no collector. */
static inline void pause_watch_report(void)
{
    pause_watch_sample();
    if (!pause_watch.measured)
        return;
    fprintf(stderr, "pauses: cycles=%lu longest_stop_us=%.1f worst_cycle_us=%.1f lost=%lu\n",
            pause_watch.cycles, (double)pause_watch.longest_ns / 1e3,
            (double)pause_watch.max_ns / 1e3, pause_watch.lost);
}

/* Monotonic milliseconds, for wall-clock figures. */
static inline double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The result line: wall time since start_ms, peak resident set, collections. */
static inline void bench_report(double start_ms)
{
    pause_watch_report();
    double wall_ms = bench_now_ms() - start_ms;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fflush(stdout);
    fprintf(stderr, "result: name=%s wall_ms=%.0f peak_rss_kb=%ld gcs=%lu\n", contender_name(),
            wall_ms, ru.ru_maxrss, contender_gcs());
}

#endif /* BENCH_CONTENDER_H */
