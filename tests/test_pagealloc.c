/*
 * The page heap (runtime/heap.c) and the page allocator under it
 * (runtime/pagealloc.c).
 *
 * - The page heap (mheap_alloc, mheap_free): span fields and span map
 *   entries of new runs, runs never overlapping, page counters moving by
 *   exactly the pages allocated or freed, free neighbours coalescing in
 *   every order (a free run is only clear bits in the page bitmap, so
 *   mheap_free_run must report each freed run merged with whichever free
 *   neighbours it has), for runs of 1 to 100 pages, first fit taking the
 *   lowest run that fits, and growth when no run fits.
 * - The page allocator's own functions, called directly in one hold of
 *   the heap lock with every free page below the test's runs taken, so that
 *   the outcome is exact: pagealloc_find picks the lowest run that fits and
 *   passes over one that does not; pagealloc_free merges a run with its free
 *   neighbours in every order, across 4 MiB chunks; pagealloc_release_begin
 *   takes the stretch out of the free runs and pagealloc_release_end counts
 *   exactly the pages newly released (not those already released inside
 *   the stretch) and marks them, so that they are not found again.
 *
 * Everything that touches the heap runs inside the runtime, where a stop
 * cannot land while the heap lock is held (runtime/lock.h). Safe under
 * CK_FORK=no: each test turns GOGC off in its fixture and restores it
 * after, and gives back every page it takes.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <tricolor.h>

#include "in_runtime.h"
#include "check_main.h"
#include "heap.h"
#include "platform.h"
#include "span.h"
#include "threads.h"

/* ---- Fixtures ---------------------------------------------------------- */

/* ---- The page heap ----------------------------------------------------- */

static const unsigned raw_class = 1; /* make_span_class(0, 1): large, noscan */

/* The scavenger may release free pages at any moment: only inuse and free
 * are the test's alone. */
static struct heap_pages pages_now(void)
{
    struct heap_pages p;
    heap_read_pages(&p);
    ck_assert_uint_le(p.released, p.free);
    return p;
}

/* heap_alloc, checking the span and the counters. */
static struct mspan *raw_alloc(size_t npages)
{
    struct heap_pages before = pages_now();
    struct mspan *s = heap_alloc(npages, raw_class);
    struct heap_pages after = pages_now();
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(after.inuse, before.inuse + npages);
    ck_assert_msg(after.inuse + after.free == before.inuse + before.free,
                  "the heap grew during a run of %zu pages", npages);

    ck_assert_uint_eq(s->npages, npages);
    ck_assert_uint_eq(s->base % PAGE_SIZE, 0);
    ck_assert_uint_eq(s->limit, s->base + npages * PAGE_SIZE);
    ck_assert_uint_eq(s->elemsize, npages * PAGE_SIZE);
    ck_assert_uint_eq(s->nelems, 1);
    ck_assert_uint_eq(s->spanclass, raw_class);
    ck_assert_uint_eq(atomic_load(&s->state), SPAN_IN_USE);
    for (size_t i = 0; i < npages; i++)
        ck_assert_ptr_eq(span_of(s->base + i * PAGE_SIZE), s);
    ck_assert_ptr_eq(span_of_heap(s->limit - 1), s);
    /* Not an object: nothing was allocated in it. */
    ck_assert_ptr_null(gc_base((void *)s->base));
    return s;
}

static void raw_free(struct mspan *s)
{
    struct heap_pages before = pages_now();
    size_t npages = s->npages;
    uintptr_t base = s->base;
    heap_free(s);
    struct heap_pages after = pages_now();
    ck_assert_uint_eq(after.inuse + npages, before.inuse);
    ck_assert_uint_eq(after.free, before.free + npages);
    ck_assert_ptr_null(span_of_heap(base));
}

static void check_disjoint(struct mspan **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            ck_assert_msg(s[i]->limit <= s[j]->base || s[j]->limit <= s[i]->base,
                          "runs [%p, %p) and [%p, %p) overlap", (void *)s[i]->base,
                          (void *)s[i]->limit, (void *)s[j]->base, (void *)s[j]->limit);
}

/* Makes sure a free run of at least npages exists, so that the test's own
 * allocations never grow the heap. */
static void reserve_free_pages(size_t npages)
{
    struct mspan *s = heap_alloc(npages, raw_class);
    ck_assert_ptr_nonnull(s);
    heap_free(s);
}

START_TEST(page_heap_alloc_free_orders)
{
    static const size_t sizes[] = {1, 2, 3, 5, 8, 13, 21, 64, 127, 128, 129, 300, 600};
    enum { N = sizeof sizes / sizeof sizes[0] };
    reserve_free_pages(2048);
    struct heap_pages start = pages_now();
    struct mspan *s[N];

    for (int order = 0; order < 4; order++) {
        for (size_t i = 0; i < N; i++)
            s[i] = raw_alloc(sizes[i]);
        check_disjoint(s, N);
        struct heap_pages mid = pages_now();
        size_t sum = 0;
        for (size_t i = 0; i < N; i++)
            sum += sizes[i];
        ck_assert_uint_eq(mid.inuse, start.inuse + sum);
        ck_assert_uint_eq(mid.free + sum, start.free);

        switch (order) {
        case 0: /* as allocated */
            for (size_t i = 0; i < N; i++)
                raw_free(s[i]);
            break;
        case 1: /* reversed */
            for (size_t i = N; i-- > 0;)
                raw_free(s[i]);
            break;
        case 2: /* even ones, then odd ones */
            for (size_t i = 0; i < N; i += 2)
                raw_free(s[i]);
            for (size_t i = 1; i < N; i += 2)
                raw_free(s[i]);
            break;
        default: /* from the middle outwards */
            for (size_t k = 0; k < N; k++) {
                size_t i = k % 2 ? N / 2 - (k + 1) / 2 : N / 2 + k / 2;
                raw_free(s[i]);
            }
            break;
        }
        struct heap_pages end = pages_now();
        ck_assert_uint_eq(end.inuse, start.inuse);
        ck_assert_uint_eq(end.free, start.free);
    }
}
END_TEST

/* Five adjacent runs of n pages: two guards around A, B and C. */
static void adjacent_runs(size_t n, struct mspan *run[5])
{
    struct mspan *extra[64];
    size_t nextra = 0, have = 0;
    while (have < 5) {
        struct mspan *s = raw_alloc(n);
        if (have > 0 && s->base != run[have - 1]->limit) {
            /* Not adjacent: keep the ones so far aside and start again. */
            for (size_t i = 0; i < have; i++) {
                ck_assert_msg(nextra < 64, "no five adjacent runs of %zu pages", n);
                extra[nextra++] = run[i];
            }
            have = 0;
        }
        run[have++] = s;
    }
    for (size_t i = 0; i < nextra; i++)
        raw_free(extra[i]);
}

static void coalesce_case(size_t n, const int order[3])
{
    struct mspan *run[5];
    adjacent_runs(n, run);
    uintptr_t a = run[1]->base;
    struct heap_pages start = pages_now();
    for (int k = 0; k < 3; k++) {
        raw_free(run[1 + order[k]]);
        /* Each freed run is one free span with whichever of A, B, C are
         * already free next to it. */
        int freed[3] = {0, 0, 0};
        for (int j = 0; j <= k; j++)
            freed[order[j]] = 1;
        for (int i = 0; i < 3; i++) {
            if (!freed[i])
                continue;
            int lo = i, hi = i;
            while (lo > 0 && freed[lo - 1])
                lo--;
            while (hi < 2 && freed[hi + 1])
                hi++;
            uintptr_t base = a + (uintptr_t)lo * n * PAGE_SIZE;
            size_t npages = (size_t)(hi - lo + 1) * n;
            uintptr_t fbase = 0;
            size_t fpages = 0;
            ck_assert(heap_free_run(a + i * n * PAGE_SIZE, &fbase, &fpages));
            ck_assert_msg(fbase == base && fpages == npages,
                          "order %d%d%d step %d: free run at %p has %zu pages from %p, want %zu "
                          "from %p",
                          order[0], order[1], order[2], k, (void *)(a + i * n * PAGE_SIZE), fpages,
                          (void *)fbase, npages, (void *)base);
            ck_assert_ptr_null(span_of(base));
            ck_assert_ptr_null(span_of(base + (npages - 1) * PAGE_SIZE));
        }
    }
    struct heap_pages freed = pages_now();
    ck_assert_uint_eq(freed.inuse + 3 * n, start.inuse);
    struct mspan *all3 = raw_alloc(3 * n);
    ck_assert_msg(all3->base == a, "order %d%d%d, %zu pages: the 3-run came from %p, not %p",
                  order[0], order[1], order[2], n, (void *)all3->base, (void *)a);
    raw_free(all3);
    raw_free(run[0]);
    raw_free(run[4]);
}

START_TEST(page_heap_coalescing)
{
    static const int orders[6][3] = {{0, 2, 1}, {0, 1, 2}, {2, 1, 0},
                                     {1, 0, 2}, {1, 2, 0}, {2, 0, 1}};
    reserve_free_pages(2048);
    struct heap_pages start = pages_now();
    /* From single pages to runs of 100: five of those take 500 pages, so
     * they almost always straddle a boundary between 512-page chunks, where
     * a free run is counted in two chunk summaries. */
    static const size_t ns[] = {1, 9, 42, 50, 100};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (int o = 0; o < 6; o++)
            coalesce_case(ns[i], orders[o]);
    struct heap_pages end = pages_now();
    ck_assert_uint_eq(end.inuse, start.inuse);
    ck_assert_uint_eq(end.free, start.free);
}
END_TEST

START_TEST(page_heap_lowest_first)
{
    /* First fit by address: of two free runs that fit, the lower one is
     * taken, whichever was freed last. */
    reserve_free_pages(2048);
    for (size_t n = 1; n <= 200; n += 67) {
        struct mspan *run[5];
        adjacent_runs(n, run);
        uintptr_t low = run[1]->base;
        raw_free(run[1]);
        raw_free(run[3]);
        struct mspan *s = raw_alloc(n);
        ck_assert_msg(s->base <= low, "%zu pages came from %p, above the free run at %p", n,
                      (void *)s->base, (void *)low);
        raw_free(s);
        raw_free(run[0]);
        raw_free(run[2]);
        raw_free(run[4]);
    }
}
END_TEST

START_TEST(page_heap_grows)
{
    /* A run larger than all the free pages together grows the heap. */
    struct heap_pages before = pages_now();
    size_t n = before.free + HEAP_GROW_PAGES + 1;
    struct mspan *s = heap_alloc(n, raw_class);
    ck_assert_ptr_nonnull(s);
    struct heap_pages after = pages_now();
    ck_assert_uint_eq(after.inuse, before.inuse + n);
    size_t grown = after.inuse + after.free - (before.inuse + before.free);
    ck_assert_uint_ge(grown, n - before.free);
    ck_assert_ptr_eq(span_of(s->base + (n - 1) * PAGE_SIZE), s);
    raw_free(s);
}
END_TEST

/* ---- The page allocator itself ---------------------------------------- */

static struct mthread *heap_lock(void)
{
    struct mthread *t = enter_runtime("test");
    rlock_acquire(&mheap_.lock);
    return t;
}

static void heap_unlock(struct mthread *t)
{
    rlock_release(&mheap_.lock);
    exit_runtime(t);
}

#define MAX_BELOW 1024

/* Five adjacent runs of n pages taken from the page allocator, run k from
 * base + k n pages: 0 and 4 are guards, the test frees and takes 1 to 3.
 * Every free page below base is taken too, so that nothing outside the
 * runs can be found first. Built and torn down under the heap lock; a
 * failure is recorded in error, and asserted after the lock is released (a
 * failed assertion must not leave the lock held). */
struct runs {
    size_t n;
    uintptr_t base;
    int taken[5];
    uintptr_t below[MAX_BELOW];
    size_t below_pages[MAX_BELOW];
    size_t nbelow;
    char error[256];
};

static uintptr_t run_at(const struct runs *r, int k)
{
    return r->base + ((uintptr_t)k * r->n << PAGE_SHIFT);
}

static int runs_take(struct runs *r, size_t n)
{
    *r = (struct runs){.n = n};
    r->base = pagealloc_find(5 * n);
    if (r->base == 0) {
        snprintf(r->error, sizeof r->error, "no free run of %zu pages", 5 * n);
        return 0;
    }
    for (;;) {
        uintptr_t q = pagealloc_find(1), b;
        size_t np;
        if (q == 0 || q >= r->base)
            break;
        if (r->nbelow == MAX_BELOW || !pagealloc_free_run(q, &b, &np) || b != q) {
            snprintf(r->error, sizeof r->error, "cannot take the free pages below %p",
                     (void *)r->base);
            return 0;
        }
        size_t k = (r->base - q) >> PAGE_SHIFT;
        if (np < k)
            k = np;
        pagealloc_take(q, k);
        r->below[r->nbelow] = q;
        r->below_pages[r->nbelow++] = k;
    }
    for (int k = 0; k < 5; k++) {
        pagealloc_take(run_at(r, k), n);
        r->taken[k] = 1;
    }
    return 1;
}

static void run_free(struct runs *r, int k)
{
    pagealloc_free(run_at(r, k), r->n);
    r->taken[k] = 0;
}

static void runs_give_back(struct runs *r)
{
    for (int k = 0; k < 5; k++)
        if (r->taken[k])
            run_free(r, k);
    for (size_t i = 0; i < r->nbelow; i++)
        pagealloc_free(r->below[i], r->below_pages[i]);
}

/* Records a failure (the first one) unless ok. */
#define EXPECT(r, ok, ...)                                                                         \
    do {                                                                                           \
        if (!(ok) && (r)->error[0] == 0)                                                           \
            snprintf((r)->error, sizeof(r)->error, __VA_ARGS__);                                   \
    } while (0)

START_TEST(pagealloc_first_fit_lowest)
{
    static const size_t ns[] = {1, 67, 200};
    reserve_free_pages(2048);
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        static struct runs r;
        size_t n = ns[i];
        struct mthread *t = heap_lock();
        if (runs_take(&r, n)) {
            run_free(&r, 1);
            run_free(&r, 3);
            /* Two free runs of n, separated by a taken one. */
            uintptr_t first = pagealloc_find(n);
            EXPECT(&r, first == run_at(&r, 1), "%zu pages: found %p, want the lower run %p", n,
                   (void *)first, (void *)run_at(&r, 1));
            pagealloc_take(run_at(&r, 1), n);
            uintptr_t second = pagealloc_find(n);
            EXPECT(&r, second == run_at(&r, 3), "%zu pages, the lower run taken: found %p, want %p",
                   n, (void *)second, (void *)run_at(&r, 3));
            pagealloc_free(run_at(&r, 1), n);
            uintptr_t bigger = pagealloc_find(n + 1);
            EXPECT(&r, bigger == 0 || bigger >= run_at(&r, 5),
                   "%zu pages: a run of %zu found at %p, inside the runs from %p", n, n + 1,
                   (void *)bigger, (void *)r.base);
        }
        runs_give_back(&r);
        heap_unlock(t);
        ck_assert_msg(r.error[0] == 0, "%s", r.error);
    }
}
END_TEST

START_TEST(pagealloc_free_coalesces)
{
    static const int orders[6][3] = {{0, 2, 1}, {0, 1, 2}, {2, 1, 0},
                                     {1, 0, 2}, {1, 2, 0}, {2, 0, 1}};
    /* 300 pages: the five runs span three 512-page chunks. */
    static const size_t ns[] = {1, 100, 300};
    reserve_free_pages(2048);
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        for (int o = 0; o < 6; o++) {
            static struct runs r;
            size_t n = ns[i];
            struct mthread *t = heap_lock();
            if (runs_take(&r, n)) {
                size_t free0 = pagealloc_.count.free;
                int freed[5] = {0};
                for (int step = 0; step < 3; step++) {
                    int k = 1 + orders[o][step];
                    run_free(&r, k);
                    freed[k] = 1;
                    for (int j = 1; j <= 3; j++) {
                        if (!freed[j])
                            continue;
                        int lo = j, hi = j;
                        while (freed[lo - 1])
                            lo--;
                        while (freed[hi + 1])
                            hi++;
                        uintptr_t b = 0;
                        size_t np = 0;
                        int found = pagealloc_free_run(run_at(&r, j), &b, &np);
                        EXPECT(&r, found && b == run_at(&r, lo) && np == (size_t)(hi - lo + 1) * n,
                               "%zu pages, order %d%d%d, step %d: run %d is in a free run of %zu "
                               "pages from %p, want %zu from %p",
                               n, orders[o][0], orders[o][1], orders[o][2], step, j, np, (void *)b,
                               (size_t)(hi - lo + 1) * n, (void *)run_at(&r, lo));
                    }
                }
                EXPECT(&r, pagealloc_.count.free == free0 + 3 * n, "free pages %zu, want %zu",
                       pagealloc_.count.free, free0 + 3 * n);
                uintptr_t all3 = pagealloc_find(3 * n);
                EXPECT(&r, all3 == run_at(&r, 1), "%zu pages: the merged run found at %p, not %p",
                       3 * n, (void *)all3, (void *)run_at(&r, 1));
            }
            runs_give_back(&r);
            heap_unlock(t);
            ck_assert_msg(r.error[0] == 0, "%s", r.error);
        }
    }
}
END_TEST

/* One release as mheap_release does it, the madvise call included; the
 * stretch found is checked against [lo, hi) and its newly released pages
 * against want. */
static void release_one(struct runs *r, uintptr_t limit, size_t max_pages, uintptr_t lo,
                        uintptr_t hi, size_t want)
{
    uintptr_t flo = 0, fhi = 0;
    size_t free0 = pagealloc_.count.free, released0 = pagealloc_.count.released;
    if (!pagealloc_release_begin(limit, max_pages, 0, &flo, &fhi)) {
        EXPECT(r, 0, "release below %p, at most %zu pages: nothing found, want [%p, %p)",
               (void *)limit, max_pages, (void *)lo, (void *)hi);
        return;
    }
    uintptr_t b;
    size_t np;
    EXPECT(r, !pagealloc_free_run(flo, &b, &np), "the stretch being released is still free");
    EXPECT(r, pagealloc_.count.free == free0, "releasing changed the free pages");
    sys_unused((void *)flo, fhi - flo, 0);
    size_t changed = pagealloc_release_end(flo, fhi, 0);
    EXPECT(r, flo == lo && fhi == hi,
           "release below %p, at most %zu pages: [%p, %p), want [%p, %p)", (void *)limit, max_pages,
           (void *)flo, (void *)fhi, (void *)lo, (void *)hi);
    EXPECT(r, changed == want, "[%p, %p): %zu pages newly released, want %zu", (void *)flo,
           (void *)fhi, changed, want);
    EXPECT(r, pagealloc_.count.released == released0 + want, "released pages %zu, want %zu",
           pagealloc_.count.released, released0 + want);
    EXPECT(r, pagealloc_.count.free == free0, "released pages are no longer free");
    EXPECT(r, pagealloc_cold(flo, 1) && pagealloc_cold(fhi - PAGE_SIZE, 1),
           "[%p, %p) released, not marked so", (void *)flo, (void *)fhi);
}

START_TEST(pagealloc_release_counts_exactly)
{
    static struct runs r;
    const size_t n = 64;
    reserve_free_pages(2048);
    struct mthread *t = heap_lock();
    if (runs_take(&r, n)) {
        uintptr_t limit = run_at(&r, 5), lo, hi;
        /* Run 2 alone is free: it is released whole, once. */
        run_free(&r, 2);
        release_one(&r, limit, 10 * n, run_at(&r, 2), run_at(&r, 3), n);
        EXPECT(&r, !pagealloc_release_begin(limit, 10 * n, 0, &lo, &hi),
               "released pages found again: [%p, %p)", (void *)lo, (void *)hi);
        /* Runs 1 to 3 free, 2 released: from the top of run 3 down, at
         * most n + n/2 unreleased pages, the released ones between them
         * included and not counted. */
        run_free(&r, 1);
        run_free(&r, 3);
        release_one(&r, limit, n + n / 2, run_at(&r, 1) + (n / 2 << PAGE_SHIFT), run_at(&r, 4),
                    n + n / 2);
        /* What is left: the lower half of run 1. */
        release_one(&r, limit, 10 * n, run_at(&r, 1), run_at(&r, 1) + (n / 2 << PAGE_SHIFT), n / 2);
        EXPECT(&r, !pagealloc_release_begin(limit, 10 * n, 0, &lo, &hi),
               "released pages found again: [%p, %p)", (void *)lo, (void *)hi);
        uintptr_t b = 0;
        size_t np = 0;
        EXPECT(&r, pagealloc_free_run(run_at(&r, 2), &b, &np) && b == run_at(&r, 1) && np == 3 * n,
               "after releasing, runs 1 to 3 are a free run of %zu pages from %p", np, (void *)b);
    }
    runs_give_back(&r);
    heap_unlock(t);
    ck_assert_msg(r.error[0] == 0, "%s", r.error);
}
END_TEST

/* ---- The runner -------------------------------------------------------- */

static Suite *pagealloc_suite(void)
{
    Suite *s = suite_create("pagealloc");

    TCase *heap = tcase_create("page_heap");
    tcase_add_checked_fixture(heap, collector_off, collector_restore);
    tcase_add_test(heap, page_heap_alloc_free_orders);
    tcase_add_test(heap, page_heap_coalescing);
    tcase_add_test(heap, page_heap_lowest_first);
    tcase_add_test(heap, page_heap_grows);
    suite_add_tcase(s, heap);

    TCase *pa = tcase_create("pagealloc");
    tcase_add_checked_fixture(pa, collector_off, collector_restore);
    tcase_add_test(pa, pagealloc_first_fit_lowest);
    tcase_add_test(pa, pagealloc_free_coalesces);
    tcase_add_test(pa, pagealloc_release_counts_exactly);
    suite_add_tcase(s, pa);
    return s;
}

int main(void)
{
    if (gc_init(NULL) != 0)
        return EXIT_FAILURE;
    return run_suite(pagealloc_suite(), CK_FORK_GETENV);
}
