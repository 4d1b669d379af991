/*
 * contender.h: the allocator shim shared by the GC benchmarks (binary_trees.c, gcbench.c).
 *
 * Each benchmark is written once against these few names and compiled twice, with
 * -DCONTENDER_TRICOLOR or -DCONTENDER_BOEHM, so both collectors run exactly the same code:
 *
 *   contender_init()          start the collector (before any allocation)
 *   contender_name()          "tricolor" or "boehm", for the result line
 *   alloc_node(size)          zeroed object that may hold GC pointers
 *   alloc_leaf_data(size)     object that never holds GC pointers (numbers); its contents are
 *                             unspecified (tricolor zeroes it, GC_MALLOC_ATOMIC does not)
 *   store_ptr(slot, value)    store a GC pointer into a GC object (tricolor's write barrier)
 *   contender_gcs()           collections so far, as the collector counts them
 *
 * bench_report() prints the one result line every benchmark ends with, on stderr:
 *
 *   result: name=<contender> wall_ms=<ms> peak_rss_kb=<ru_maxrss> gcs=<collections>
 *
 * bench/run.sh parses that line; the Go versions in bench/go/ print the same line.
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

static inline unsigned long contender_gcs(void)
{
    static gc_memstats stats; /* about 8 KiB: keep it off the stack */
    gc_read_memstats(&stats);
    return stats.num_gc;
}

#elif defined(CONTENDER_BOEHM) && !defined(CONTENDER_TRICOLOR)

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

#else
#error "compile with exactly one of -DCONTENDER_TRICOLOR or -DCONTENDER_BOEHM"
#endif

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
    double wall_ms = bench_now_ms() - start_ms;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fflush(stdout);
    fprintf(stderr, "result: name=%s wall_ms=%.0f peak_rss_kb=%ld gcs=%lu\n", contender_name(),
            wall_ms, ru.ru_maxrss, contender_gcs());
}

#endif /* BENCH_CONTENDER_H */
