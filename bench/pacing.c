/*
 * pacing.c: does tricolor's pacer hold the heap where GOGC and GOMEMLIMIT say it should?
 * bench/go/pacing.go is the same program in Go. Run it once per setting, each in its own
 * process, with the settings in the environment (bench/run.sh runs GOGC=100, GOGC=50 and
 * GOGC=off GOMEMLIMIT=100MiB); tricolor reads the same variables as Go.
 *
 * What it measures: a steady live set of 64 MiB (65,536 pointer-free objects of 1 KiB in a
 * GC-allocated array of pointers reached from a global) is churned through 1 GiB of
 * allocation: 1,048,576 times, a new 1 KiB object replaces a randomly chosen one (the same
 * xorshift sequence in C and Go). Every 16 MiB allocated, gc_read_memstats is sampled for the
 * peak heap (heap_alloc) and the peak retained memory (sys - heap_released: what the runtime
 * holds from the OS and has not given back).
 *
 * Output: one line on stderr,
 *
 *   result: name=tricolor mode=<GOGC=..[,GOMEMLIMIT=..]> cycles=<cycles during the churn>
 *           predicted=<allocation / (goal - live)> peak_heap_mib=<max heap_alloc>
 *           peak_rss_mib=<ru_maxrss> peak_retained_mib=<max sys - heap_released>
 *           live_mib=<live> goal_mib=<ideal goal> next_gc_mib=<the runtime's goal at the end>
 *           wall_ms=<churn time>
 *
 * (all on one line). The ideal goal is live * (1 + GOGC/100), lowered to the memory limit
 * when one is set; live is the live set's own size (objects and the array), so the ideal
 * goal ignores the runtime's metadata, which the memory limit has to cover as well. With
 * GOGC=off and a memory limit only 1.5x the live set, the goal sits close to the live heap and
 * cycles come often: that is the point of that mode. peak_heap_mib near goal_mib and cycles near
 * predicted mean the pacer does what it says; peak_rss_mib under the limit means the limit
 * held. The figures do not depend on the machine's speed (only on the pacer), unlike timings.
 */
#include <tricolor.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

enum {
    LIVE_OBJECTS = 65536,
    OBJ_SIZE = 1024,
    SAMPLE_EVERY = 16384, /* allocations: 16 MiB */
};
#define CHURN_BYTES (1024.0 * 1024 * 1024)

static void **live; /* a GC object; this global keeps it alive */
static gc_memstats stats;

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *new_object(uint64_t tag)
{
    uint64_t *p = gc_alloc_noscan(OBJ_SIZE);
    p[0] = tag;
    return p;
}

static double mib(double bytes)
{
    return bytes / (1024.0 * 1024.0);
}

int main(void)
{
    if (gc_init(NULL) != 0)
        return 1;
    /* The settings in force, as the runtime parsed them from the environment. */
    int gogc = gc_set_percent(100);
    gc_set_percent(gogc);
    int64_t limit = gc_set_memory_limit(-1);

    const char *env_gogc = getenv("GOGC"), *env_limit = getenv("GOMEMLIMIT");
    char mode[128];
    snprintf(mode, sizeof mode, "GOGC=%s%s%s", env_gogc != NULL ? env_gogc : "100",
             env_limit != NULL ? ",GOMEMLIMIT=" : "", env_limit != NULL ? env_limit : "");

    live = gc_alloc(LIVE_OBJECTS * sizeof *live);
    for (uint64_t i = 0; i < LIVE_OBJECTS; i++)
        gc_write_ptr(&live[i], new_object(i));

    double live_bytes = (double)LIVE_OBJECTS * OBJ_SIZE + (double)LIVE_OBJECTS * sizeof *live;
    double goal = gogc < 0 ? 1e300 : live_bytes * (1.0 + gogc / 100.0);
    if (limit > 0 && limit < INT64_MAX && (double)limit < goal)
        goal = (double)limit;

    gc_read_memstats(&stats);
    uint32_t gcs0 = stats.num_gc;
    double peak_heap = (double)stats.heap_alloc;
    double peak_retained = (double)(stats.sys - stats.heap_released);

    uint64_t churn = (uint64_t)(CHURN_BYTES / OBJ_SIZE);
    double t0 = now_ms();
    for (uint64_t i = 0; i < churn; i++) {
        uint64_t slot = next_random() % LIVE_OBJECTS;
        gc_write_ptr(&live[slot], new_object(LIVE_OBJECTS + i));
        if ((i + 1) % SAMPLE_EVERY == 0) {
            gc_read_memstats(&stats);
            if ((double)stats.heap_alloc > peak_heap)
                peak_heap = (double)stats.heap_alloc;
            if ((double)(stats.sys - stats.heap_released) > peak_retained)
                peak_retained = (double)(stats.sys - stats.heap_released);
        }
    }
    double wall = now_ms() - t0;
    gc_read_memstats(&stats);
    uint32_t cycles = stats.num_gc - gcs0;

    char predicted[32] = "0", goal_s[32] = "inf";
    if (goal < 1e300) {
        snprintf(goal_s, sizeof goal_s, "%.1f", mib(goal));
        if (goal > live_bytes)
            snprintf(predicted, sizeof predicted, "%.1f", CHURN_BYTES / (goal - live_bytes));
        else
            snprintf(predicted, sizeof predicted, "inf");
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr,
            "result: name=tricolor mode=%s cycles=%u predicted=%s peak_heap_mib=%.1f "
            "peak_rss_mib=%.1f peak_retained_mib=%.1f live_mib=%.1f goal_mib=%s "
            "next_gc_mib=%.1f wall_ms=%.0f\n",
            mode, cycles, predicted, mib(peak_heap), (double)ru.ru_maxrss / 1024.0,
            mib(peak_retained), mib(live_bytes), goal_s, mib((double)stats.next_gc), wall);
    return 0;
}
