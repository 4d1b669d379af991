/*
 * ephemerons.c: what 10^4 live ephemerons add to the collector's pauses.
 *
 * Two runs of the same program: "none" holds N keys and N values (64
 * bytes each) from a root array; "ephemerons" holds the N keys from the
 * root array and each value only through an ephemeron (key -> value), the
 * N ephemerons from another root array. The live heap is the same but for
 * the ephemerons themselves (32 bytes each). Each run forces CYCLES
 * cycles with gc_collect and reads each cycle's stop-the-world time (both
 * pauses, MemStats' pause_ns) and, for the ephemeron run, how many entries
 * the mark-termination pause had to look at (the rest were resolved by the
 * concurrent pass: runtime/ephemeron.h).
 *
 *   ephemerons [N [CYCLES]]       default 10000, 300
 *
 * Output, one line per run:
 *   result: run=<none|ephemerons> n=N cycles=C median_pause_us=.. p90_pause_us=..
 *           max_pause_us=.. pause_pending=..
 * and a last line with the medians' difference. Run it alone on a quiet
 * machine; pauses of a few tens of microseconds are at the noise level of
 * a shared virtual machine, so compare medians.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <tricolor.h>

#include "ephemeron.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double run(const char *name, int use_ephemerons, size_t n, int cycles)
{
    void **keys = calloc(n, sizeof *keys);
    void **held = calloc(n, sizeof *held); /* values, or ephemerons */
    gc_add_roots(keys, keys + n);
    gc_add_roots(held, held + n);
    for (size_t i = 0; i < n; i++) {
        keys[i] = gc_alloc(64);
        void *v = gc_alloc(64);
        held[i] = use_ephemerons ? (void *)gc_ephemeron_make(keys[i], v) : v;
    }
    gc_collect();
    gc_collect();
    uint64_t *pause = calloc((size_t)cycles, sizeof *pause);
    size_t pending_max = 0;
    gc_memstats *ms = malloc(sizeof *ms);
    for (int c = 0; c < cycles; c++) {
        gc_collect();
        gc_read_memstats(ms);
        pause[c] = ms->pause_ns[(ms->num_gc + 255) % 256];
        if (ephemerons_last_pause_pending() > pending_max)
            pending_max = ephemerons_last_pause_pending();
    }
    if (use_ephemerons)
        for (size_t i = 0; i < n; i++)
            if (gc_ephemeron_value(held[i]) == NULL) {
                fprintf(stderr, "ephemerons: value %zu lost\n", i);
                exit(1);
            }
    qsort(pause, (size_t)cycles, sizeof *pause, cmp_u64);
    double median = (double)pause[cycles / 2] / 1e3;
    printf("result: run=%s n=%zu cycles=%d median_pause_us=%.1f p90_pause_us=%.1f "
           "max_pause_us=%.1f pause_pending=%zu\n",
           name, n, cycles, median, (double)pause[cycles * 9 / 10] / 1e3,
           (double)pause[cycles - 1] / 1e3, pending_max);
    for (size_t i = 0; i < n; i++)
        keys[i] = held[i] = NULL;
    gc_remove_roots(keys, keys + n);
    gc_remove_roots(held, held + n);
    free(keys);
    free(held);
    free(pause);
    free(ms);
    gc_collect();
    return median;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 10000;
    int cycles = argc > 2 ? atoi(argv[2]) : 300;
    gc_init(NULL);
    double none = run("none", 0, n, cycles);
    double with = run("ephemerons", 1, n, cycles);
    double none2 = run("none", 0, n, cycles);
    printf("result: ephemerons_minus_none_us=%.1f (none: %.1f and %.1f)\n",
           with - (none + none2) / 2, none, none2);
    return 0;
}
