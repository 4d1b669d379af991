/*
 * Sweeping and the cycle counters (runtime/sweep.c, gc.c, stats.c), as
 * gc_read_memstats reports them after gc_collect().
 *
 * Proves: each gc_collect() is exactly one cycle, counted in num_gc and
 * num_forced_gc, its pause recorded in pause_ns and pause_end at
 * [(num_gc + 255) % 256] (inside the call's wall-clock window, also when the
 * 256-entry ring wraps), added to pause_total_ns and stamped in last_gc;
 * cycles the pacer starts count in num_gc but not in num_forced_gc. For a
 * known pattern of garbage, a collection frees exactly that many objects,
 * per size class too, and heap_objects, heap_alloc and total_alloc move by
 * exactly what was allocated and freed; live objects mixed in with the
 * garbage are not counted as freed. Large objects are freed whole: their
 * pages leave heap_inuse for heap_idle, and the same sizes allocated again
 * reuse them without growing the heap. The memstats identities hold in
 * every reading.
 *
 * Exactness and conservative scanning: the garbage is made in noinline
 * helpers that keep only hidden (complemented) addresses, the stack below
 * the caller is cleared before each collection, and each test first checks
 * with gc_base that every garbage object really was freed; only then are the
 * counters compared, exactly. So a stale stack slot would show up as a
 * named object, not as a counter off by one.
 *
 * The collector runs with GOGC=off so that only gc_collect() starts cycles
 * (the pacer test turns it on for a while). Safe under CK_FORK=no: gc_init
 * runs once in main.
 */
#include <check.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tricolor.h>

#include "check_main.h"
#include "support.h"

/* ---- Helpers ------------------------------------------------------------- */

static uint64_t unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static gc_memstats ms_before, ms_mid, ms_after;

static void read_stats(gc_memstats *m)
{
    gc_read_memstats(m);
    ck_assert_uint_eq(m->heap_objects, m->mallocs - m->frees);
    ck_assert_uint_eq(m->heap_idle + m->heap_inuse, m->heap_sys);
    ck_assert_uint_eq(m->alloc, m->heap_alloc);
    ck_assert_uint_le(m->heap_released, m->heap_idle);
    ck_assert_uint_ge(m->num_gc, m->num_forced_gc);
}

/* The by_size index of the class of exactly size bytes. */
static unsigned class_of(const gc_memstats *m, size_t size)
{
    for (unsigned c = 1; c < 61; c++)
        if (m->by_size[c].size == size)
            return c;
    ck_abort_msg("no size class of %zu bytes", size);
    return 0;
}

/* The garbage pattern: counts of objects of sizes that are exact classes. */
static const struct {
    size_t size;
    unsigned count;
    int noscan;
} pattern[] = {
    {8, 300, 0}, {16, 250, 1}, {48, 200, 0}, {208, 100, 0}, {1024, 40, 1}, {8192, 9, 0},
};
#define NPATTERN (sizeof pattern / sizeof pattern[0])

static unsigned pattern_total(void)
{
    unsigned n = 0;
    for (size_t i = 0; i < NPATTERN; i++)
        n += pattern[i].count;
    return n;
}

/* Allocates the pattern; keeps every keep_every-th object alive in keep[]
 * (0: none). Records every object's hidden address and whether it is kept. */
static NOINLINE void make_pattern(uintptr_t *hs, void **keep, unsigned keep_every)
{
    unsigned k = 0;
    for (size_t i = 0; i < NPATTERN; i++) {
        for (unsigned j = 0; j < pattern[i].count; j++, k++) {
            size_t size = pattern[i].size;
            void *p = pattern[i].noscan ? gc_alloc_noscan(size) : gc_alloc(size);
            memset(p, 0x5a, size); /* not pointers */
            hs[k] = hide(p);
            if (keep_every && k % keep_every == 0)
                keep[k] = p;
        }
    }
}

/* ---- Cycle counters ------------------------------------------------------ */

START_TEST(one_cycle_per_collect)
{
    read_stats(&ms_before);
    uint64_t t0 = unix_ns();
    gc_collect();
    uint64_t t1 = unix_ns();
    read_stats(&ms_after);

    ck_assert_uint_eq(ms_after.num_gc, ms_before.num_gc + 1);
    ck_assert_uint_eq(ms_after.num_forced_gc, ms_before.num_forced_gc + 1);
    unsigned slot = (ms_after.num_gc + 255) % 256;
    ck_assert_uint_gt(ms_after.pause_ns[slot], 0);
    ck_assert_uint_le(ms_after.pause_ns[slot], t1 - t0);
    ck_assert_uint_ge(ms_after.pause_end[slot], t0);
    ck_assert_uint_le(ms_after.pause_end[slot], t1);
    ck_assert_uint_eq(ms_after.pause_total_ns, ms_before.pause_total_ns + ms_after.pause_ns[slot]);
    ck_assert_uint_ge(ms_after.last_gc, t0);
    ck_assert_uint_le(ms_after.last_gc, t1);
    ck_assert_uint_eq(ms_after.last_gc, ms_after.pause_end[slot]);
    /* The previous slot is untouched. */
    unsigned prev = (slot + 255) % 256;
    ck_assert_uint_eq(ms_after.pause_ns[prev], ms_before.pause_ns[prev]);
    ck_assert_uint_eq(ms_after.pause_end[prev], ms_before.pause_end[prev]);

    /* Three more, one at a time. */
    for (int i = 0; i < 3; i++)
        gc_collect();
    read_stats(&ms_mid);
    ck_assert_uint_eq(ms_mid.num_gc, ms_after.num_gc + 3);
    ck_assert_uint_eq(ms_mid.num_forced_gc, ms_after.num_forced_gc + 3);
    ck_assert_uint_gt(ms_mid.pause_total_ns, ms_after.pause_total_ns);
}
END_TEST

START_TEST(pause_ring_wraps)
{
    read_stats(&ms_before);
    uint64_t t0 = unix_ns();
    for (int i = 0; i < 300; i++)
        gc_collect();
    uint64_t t1 = unix_ns();
    read_stats(&ms_after);
    ck_assert_uint_eq(ms_after.num_gc, ms_before.num_gc + 300);
    ck_assert_uint_eq(ms_after.num_forced_gc, ms_before.num_forced_gc + 300);

    /* Every slot was written by this loop; cycle n sits at (n + 255) % 256,
     * so walking the last 256 cycles in order gives non-decreasing ends. */
    uint64_t sum = 0, prev_end = 0;
    for (uint32_t n = ms_after.num_gc - 255; n != ms_after.num_gc + 1; n++) {
        unsigned slot = (n + 255) % 256;
        ck_assert_uint_gt(ms_after.pause_ns[slot], 0);
        ck_assert_uint_ge(ms_after.pause_end[slot], t0);
        ck_assert_uint_le(ms_after.pause_end[slot], t1);
        ck_assert_msg(ms_after.pause_end[slot] >= prev_end, "pause_end of cycle %u goes back", n);
        prev_end = ms_after.pause_end[slot];
        sum += ms_after.pause_ns[slot];
    }
    ck_assert_uint_eq(ms_after.last_gc, prev_end);
    ck_assert_uint_ge(ms_after.pause_total_ns - ms_before.pause_total_ns, sum);
    ck_assert_uint_le(ms_after.pause_total_ns - ms_before.pause_total_ns, t1 - t0);
}
END_TEST

START_TEST(pacer_cycles_not_forced)
{
    /* With GOGC=10 the pacer starts cycles on its own (heap goal 400 KiB):
     * allocate garbage until one has run. */
    read_stats(&ms_before);
    int old = gc_set_percent(10);
    ck_assert_int_eq(old, -1);
    uint64_t deadline = unix_ns() + 5000000000u;
    gc_memstats *m = &ms_after;
    do {
        for (int i = 0; i < 1000; i++)
            (void)gc_alloc(512);
        read_stats(m);
    } while (m->num_gc == ms_before.num_gc && unix_ns() < deadline);
    ck_assert_int_eq(gc_set_percent(-1), 10);
    gc_collect(); /* wait for any cycle still running */
    read_stats(m);
    ck_assert_msg(m->num_gc >= ms_before.num_gc + 2, "the pacer started no cycle");
    ck_assert_uint_eq(m->num_forced_gc, ms_before.num_forced_gc + 1);
}
END_TEST

/* ---- Frees --------------------------------------------------------------- */

START_TEST(frees_exact)
{
    unsigned n = pattern_total();
    uintptr_t *hs = calloc(n, sizeof *hs);
    ck_assert(hs != NULL);
    collect();
    read_stats(&ms_before);
    make_pattern(hs, NULL, 0);
    read_stats(&ms_mid);
    collect();
    read_stats(&ms_after);

    for (unsigned k = 0; k < n; k++)
        ck_assert_msg(is_freed(hs[k]), "garbage object %u was not freed", k);
    uint64_t bytes = 0;
    for (size_t i = 0; i < NPATTERN; i++) {
        unsigned c = class_of(&ms_after, pattern[i].size);
        ck_assert_uint_eq(ms_mid.by_size[c].mallocs - ms_before.by_size[c].mallocs,
                          pattern[i].count);
        ck_assert_msg(ms_after.by_size[c].frees - ms_before.by_size[c].frees == pattern[i].count,
                      "class of %zu bytes: %llu frees, want %u", pattern[i].size,
                      (unsigned long long)(ms_after.by_size[c].frees - ms_before.by_size[c].frees),
                      pattern[i].count);
        bytes += (uint64_t)pattern[i].size * pattern[i].count;
    }
    ck_assert_uint_eq(ms_mid.mallocs - ms_before.mallocs, n);
    ck_assert_uint_eq(ms_mid.total_alloc - ms_before.total_alloc, bytes);
    ck_assert_uint_eq(ms_mid.heap_alloc - ms_before.heap_alloc, bytes);
    ck_assert_uint_eq(ms_mid.heap_objects - ms_before.heap_objects, n);
    ck_assert_uint_eq(ms_mid.frees, ms_before.frees);

    ck_assert_uint_eq(ms_after.frees - ms_before.frees, n);
    ck_assert_uint_eq(ms_after.mallocs, ms_mid.mallocs);
    ck_assert_uint_eq(ms_after.heap_objects, ms_before.heap_objects);
    ck_assert_uint_eq(ms_after.heap_alloc, ms_before.heap_alloc);
    ck_assert_uint_eq(ms_after.total_alloc, ms_mid.total_alloc);
    free(hs);
}
END_TEST

START_TEST(frees_exact_with_live_mixed_in)
{
    /* One object in three stays alive (held by a registered root range):
     * exactly the other two thirds are freed, and the live ones stay counted
     * until they too are dropped. */
    unsigned n = pattern_total();
    uintptr_t *hs = calloc(n, sizeof *hs);
    void **keep = calloc(n, sizeof *keep);
    ck_assert(hs != NULL && keep != NULL);
    gc_add_roots(keep, keep + n);
    collect();
    read_stats(&ms_before);
    make_pattern(hs, keep, 3);
    unsigned live = (n + 2) / 3;
    collect();
    read_stats(&ms_after);
    for (unsigned k = 0; k < n; k++) {
        if (k % 3 == 0)
            ck_assert_msg(!is_freed(hs[k]), "live object %u was freed", k);
        else
            ck_assert_msg(is_freed(hs[k]), "garbage object %u was not freed", k);
    }
    ck_assert_uint_eq(ms_after.frees - ms_before.frees, n - live);
    ck_assert_uint_eq(ms_after.heap_objects - ms_before.heap_objects, live);

    memset(keep, 0, n * sizeof *keep);
    collect();
    read_stats(&ms_mid);
    for (unsigned k = 0; k < n; k++)
        ck_assert(is_freed(hs[k]));
    ck_assert_uint_eq(ms_mid.frees - ms_before.frees, n);
    ck_assert_uint_eq(ms_mid.heap_objects, ms_before.heap_objects);
    ck_assert_uint_eq(ms_mid.heap_alloc, ms_before.heap_alloc);
    gc_remove_roots(keep, keep + n);
    free(keep);
    free(hs);
}
END_TEST

/* ---- Large objects ------------------------------------------------------- */

static const size_t large_sizes[] = {40 << 10, 100000, 1 << 20, 3 << 20};
#define NLARGE (sizeof large_sizes / sizeof large_sizes[0])

static size_t pages_of(size_t size)
{
    return (size + 8191) / 8192 * 8192;
}

static NOINLINE void make_large(uintptr_t *hs)
{
    for (size_t i = 0; i < NLARGE; i++) {
        char *p = gc_alloc(large_sizes[i]);
        p[0] = p[large_sizes[i] - 1] = 1;
        hs[i] = hide(p);
    }
}

START_TEST(large_objects_freed)
{
    uintptr_t hs[NLARGE];
    size_t bytes = 0;
    for (size_t i = 0; i < NLARGE; i++)
        bytes += pages_of(large_sizes[i]);

    collect();
    read_stats(&ms_before);
    make_large(hs);
    read_stats(&ms_mid);
    for (size_t i = 0; i < NLARGE; i++)
        ck_assert_uint_eq(gc_size(reveal(hs[i])), pages_of(large_sizes[i]));
    ck_assert_uint_eq(ms_mid.heap_inuse - ms_before.heap_inuse, bytes);
    ck_assert_uint_eq(ms_mid.heap_alloc - ms_before.heap_alloc, bytes);
    ck_assert_uint_eq(ms_mid.mallocs - ms_before.mallocs, NLARGE);

    collect();
    read_stats(&ms_after);
    for (size_t i = 0; i < NLARGE; i++)
        ck_assert_msg(is_freed(hs[i]), "large object %zu was not freed", i);
    ck_assert_uint_eq(ms_after.frees - ms_before.frees, NLARGE);
    ck_assert_uint_eq(ms_after.heap_objects, ms_before.heap_objects);
    ck_assert_uint_eq(ms_after.heap_alloc, ms_before.heap_alloc);
    ck_assert_msg(ms_mid.heap_inuse - ms_after.heap_inuse == bytes,
                  "heap_inuse fell by %llu bytes, want %zu",
                  (unsigned long long)(ms_mid.heap_inuse - ms_after.heap_inuse), bytes);
    ck_assert_uint_eq(ms_after.heap_idle - ms_mid.heap_idle, bytes);
    ck_assert_uint_eq(ms_after.heap_sys, ms_mid.heap_sys);

    /* The same sizes again fit in the freed pages: the heap does not grow. */
    make_large(hs);
    read_stats(&ms_mid);
    ck_assert_uint_eq(ms_mid.heap_sys, ms_after.heap_sys);
    ck_assert_uint_eq(ms_mid.heap_inuse - ms_after.heap_inuse, bytes);
    collect();
    for (size_t i = 0; i < NLARGE; i++)
        ck_assert(is_freed(hs[i]));
}
END_TEST

START_TEST(large_object_live_stays)
{
    /* A live large object beside dead ones is neither freed nor counted. */
    void **keep = calloc(1, sizeof *keep);
    ck_assert(keep != NULL);
    gc_add_roots(keep, keep + 1);
    uintptr_t hs[NLARGE];
    collect();
    read_stats(&ms_before);
    make_large(hs);
    *keep = reveal(hs[2]);
    collect();
    read_stats(&ms_after);
    for (size_t i = 0; i < NLARGE; i++)
        ck_assert(i == 2 ? !is_freed(hs[i]) : is_freed(hs[i]));
    ck_assert_uint_eq(ms_after.frees - ms_before.frees, NLARGE - 1);
    ck_assert_uint_eq(ms_after.heap_inuse - ms_before.heap_inuse, pages_of(large_sizes[2]));
    ck_assert_uint_eq(((char *)reveal(hs[2]))[large_sizes[2] - 1], 1);
    *keep = NULL;
    collect();
    ck_assert(is_freed(hs[2]));
    gc_remove_roots(keep, keep + 1);
    free(keep);
}
END_TEST

/* ---- Lookups while sweeping ---------------------------------------------- */

/* gc_base on objects that stay live must never answer NULL, whatever the
 * sweeper (the background one, or gc_collect helping) is doing to their
 * spans at that moment. A second registered thread looks up every object
 * of a rooted array over and over while the main thread runs cycles. */
#define LOOKUP_N 100000

static struct {
    void **objs;
    volatile int stop;
    long lookups, misses;
    uintptr_t first_miss; /* hidden */
} lookup;

static void *lookup_main(void *arg)
{
    (void)arg;
    gc_thread_register();
    while (!__atomic_load_n(&lookup.stop, __ATOMIC_RELAXED)) {
        for (size_t i = 0; i < LOOKUP_N; i++) {
            void *p = lookup.objs[i];
            if (gc_base(p) != p && lookup.misses++ == 0)
                lookup.first_miss = hide(p);
        }
        lookup.lookups += LOOKUP_N;
    }
    gc_thread_unregister();
    return NULL;
}

static NOINLINE void make_lookup_objects(void)
{
    for (size_t i = 0; i < LOOKUP_N; i++)
        lookup.objs[i] = gc_alloc(16 + (i % 4) * 16);
}

static NOINLINE void make_garbage(void)
{
    for (int i = 0; i < 2000; i++)
        (void)gc_alloc(16 + (i % 4) * 16);
}

START_TEST(gc_base_stable_while_sweeping)
{
    memset(&lookup, 0, sizeof lookup);
    lookup.objs = calloc(LOOKUP_N, sizeof *lookup.objs);
    ck_assert(lookup.objs != NULL);
    gc_add_roots(lookup.objs, lookup.objs + LOOKUP_N);
    make_lookup_objects();
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, lookup_main, NULL), 0);
    uint64_t end = unix_ns() + 3000000000u;
    unsigned cycles = 0;
    while (unix_ns() < end) {
        make_garbage();
        gc_collect();
        cycles++;
    }
    __atomic_store_n(&lookup.stop, 1, __ATOMIC_RELAXED);
    pthread_join(th, NULL);
    gc_remove_roots(lookup.objs, lookup.objs + LOOKUP_N);
    free(lookup.objs);
    ck_assert_msg(lookup.misses == 0,
                  "gc_base returned another answer than the object itself for a live object "
                  "%ld times in %ld lookups over %u cycles (first: %p)",
                  lookup.misses, lookup.lookups, cycles, reveal(lookup.first_miss));
}
END_TEST

static Suite *sweep_suite(void)
{
    Suite *s = suite_create("sweep");
    TCase *cycles = tcase_create("cycles");
    tcase_set_timeout(cycles, 30);
    tcase_add_test(cycles, one_cycle_per_collect);
    tcase_add_test(cycles, pause_ring_wraps);
    tcase_add_test(cycles, pacer_cycles_not_forced);
    suite_add_tcase(s, cycles);

    TCase *frees = tcase_create("frees");
    tcase_add_test(frees, frees_exact);
    tcase_add_test(frees, frees_exact_with_live_mixed_in);
    tcase_add_test(frees, large_objects_freed);
    tcase_add_test(frees, large_object_live_stays);
    suite_add_tcase(s, frees);

    TCase *lookups = tcase_create("lookups");
    tcase_set_timeout(lookups, 30);
    tcase_add_test(lookups, gc_base_stable_while_sweeping);
    suite_add_tcase(s, lookups);
    return s;
}

int main(void)
{
    gc_options opts = {.gogc = "off"};
    if (gc_init(&opts) != 0)
        return EXIT_FAILURE;
    return run_suite(sweep_suite(), CK_FORK_GETENV);
}
