/*
 * Per-thread caches (runtime/cache.c): what caching and uncaching spans
 * does to the pacer's heap_live and to the allocation counters.
 *
 * heap_live counts a cached span's free slots as allocated from the moment
 * it is cached (Go's conservative estimate) and takes back what is still
 * free when it is given back; the allocation counters fold in a span's
 * allocations when it is given back. So, whatever refills happen on the
 * way, once the cache has given everything back, heap_live has grown by
 * exactly the bytes allocated and nmalloc by exactly the objects; while
 * spans are cached, nmalloc plus the unfolded counts of the cached spans is
 * exact. A slip in either only shows as pacing drifting over many cycles.
 *
 * The collector runs with GOGC=off: nothing else allocates or resets
 * heap_live meanwhile.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tricolor.h>

#include "cache.h"
#include "check_main.h"
#include "pacer.h"
#include "stats.h"
#include "support.h"
#include "threads.h"

static void uncache_all(void)
{
    struct mthread *t = enter_runtime("test_cache");
    mcache_release_all(&t->mcache);
    exit_runtime(t);
}

static uint64_t unfolded(unsigned sizeclass)
{
    uint64_t n[NUM_SIZE_CLASSES] = {0};
    mcache_unfolded_mallocs(&current_thread->mcache, n);
    return n[sizeclass];
}

START_TEST(heap_live_and_counts_across_refills)
{
    /* Two classes, scan and noscan, several spans' worth each. */
    static const struct {
        size_t size;
        int noscan;
    } kinds[] = {{112, 0}, {112, 1}, {1024, 0}, {3072, 1}};
    void **keep = calloc(4096, sizeof *keep);
    ck_assert_ptr_nonnull(keep);
    gc_add_roots(keep, keep + 4096);
    size_t nkeep = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        unsigned c = size_to_class(kinds[k].size);
        ck_assert_uint_eq(class_to_size[c], kinds[k].size);
        size_t n = 3 * class_nelems(c) + 5;
        ck_assert_uint_le(nkeep + n, 4096);
        uncache_all();
        AO_t live0 = atomic_load(&pacer.heap_live);
        AO_t mallocs0 = atomic_load(&heap_stats.nmalloc[c]);
        for (size_t i = 0; i < n; i++) {
            keep[nkeep++] =
                kinds[k].noscan ? gc_alloc_noscan(kinds[k].size) : gc_alloc(kinds[k].size);
            if (i % 50 == 0)
                ck_assert_msg(atomic_load(&heap_stats.nmalloc[c]) - mallocs0 + unfolded(c) == i + 1,
                              "%zu-byte objects: %lu folded and %lu unfolded after %zu",
                              kinds[k].size,
                              (unsigned long)(atomic_load(&heap_stats.nmalloc[c]) - mallocs0),
                              (unsigned long)unfolded(c), i + 1);
        }
        /* While spans are cached, heap_live counts their free slots too. */
        ck_assert_uint_ge(atomic_load(&pacer.heap_live) - live0, n * kinds[k].size);
        uncache_all();
        AO_t grown = atomic_load(&pacer.heap_live) - live0;
        ck_assert_msg(grown == n * kinds[k].size,
                      "%zu %zu-byte objects (noscan %d): heap_live grew by %lu, not %zu", n,
                      kinds[k].size, kinds[k].noscan, (unsigned long)grown, n * kinds[k].size);
        ck_assert_uint_eq(atomic_load(&heap_stats.nmalloc[c]) - mallocs0, n);
        ck_assert_uint_eq(unfolded(c), 0);
    }
    /* Nothing is left cached. */
    for (unsigned spc = 0; spc < NUM_SPAN_CLASSES; spc++)
        ck_assert_ptr_eq(current_thread->mcache.alloc[spc], &empty_mspan);
    gc_remove_roots(keep, keep + 4096);
    free(keep);
}
END_TEST

static Suite *cache_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("accounting");
    tcase_add_test(tc, heap_live_and_counts_across_refills);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gc_options opts = {.gogc = "off"};
    if (gc_init(&opts) != 0)
        return EXIT_FAILURE;
    return run_suite(cache_suite(), CK_FORK_GETENV);
}
