/*
 * Promotion to huge pages (runtime/promote.h): fresh heap memory in small
 * pages, reused 2 MiB ranges promoted to huge pages.
 *
 * - Promotion (mheap_promote): after 32 MiB of objects were written and
 *   died, wholly free resident ranges are promoted; each comes back free,
 *   zero, resident (mincore), counted as before (heap_released and
 *   heap_idle unchanged), backed by a huge page (AnonHugePages in
 *   /proc/self/smaps, when the kernel offers huge pages at all), and marked
 *   promoted. Fresh memory is not: with GODEBUG=thpgrowth=0 the heap's
 *   first allocation was faulted in small pages.
 * - Objects allocated into promoted ranges survive collections intact (the
 *   suite runs with GODEBUG=gccheckmark=1, which checks every cycle's
 *   marking against a stop-the-world mark).
 * - The scavenger still releases: gc_free_os_memory releases a promoted
 *   range that holds a live object around it, and that range is demoted
 *   (a huge page partly released would keep its RSS); the released pages
 *   are no longer resident and the object is intact. A promoted range
 *   released whole stays promoted, and mheap_demote_stale demotes it once
 *   it stayed released from one look to the next.
 * - The background promoter (the scavenger's thread after a cycle) promotes
 *   ranges of a heap that reuses its memory.
 *
 * - With GODEBUG=thpgrowth=2 the heap's first arena is huge pages from the
 *   start, counted as promoted, and fresh memory beyond it small pages.
 * - With GODEBUG=thpgrowth=3 (the default) the prefaulter makes fresh
 *   growth huge pages ahead of allocation: the heap's first 4 MiB at
 *   gc_init, and 64 MiB grown at a pace it keeps up with are mostly huge
 *   pages, counted as promoted; the objects survive collections.
 *
 * meson runs this suite with GODEBUG=thpgrowth=0, 2 and 3 (each test skips
 * in the modes not its own), each with gccheckmark=1, clobberfree=1. The tests share one process
 * (CK_FORK=no).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <tricolor.h>

#include "check_main.h"
#include "in_runtime.h"
#include "support.h"

#include "knobs.h"
#include "pagealloc.h"
#include "platform.h"
#include "promote.h"

#define KiB        ((uint64_t)1 << 10)
#define MiB        ((uint64_t)1 << 20)
#define OBJ        (8 * KiB)
#define MAX_RANGES 64

static uintptr_t promoted[MAX_RANGES];
static size_t npromoted;

/* Promotion with fresh memory in small pages from the start (thpgrowth=0). */
static int huge_pages_offered(void)
{
    return mheap_.huge_promote && !mheap_.huge_first && !mheap_.huge_ahead;
}

static uintptr_t promote_one(void)
{
    struct mthread *t = enter_runtime("test");
    uintptr_t h = mheap_promote(0);
    exit_runtime(t);
    return h;
}

/* Ranges already promoted (the background promoter runs after each cycle)
 * that are wholly free, into promoted[]. */
static void gather_promoted(void)
{
    struct mthread *t = enter_runtime("test");
    rlock_acquire(&mheap_.lock);
    for (uintptr_t h = mheap_.arena_lo; h < mheap_.arena_hi && npromoted < 4; h += HUGE_PAGE_BYTES)
        if (mheap_.arenas[h >> ARENA_SHIFT] != NULL && pagealloc_promoted(h) &&
            pagealloc_wholly_free(h) && !pagealloc_cold(h, HUGE_PAGE_BYTES >> PAGE_SHIFT))
            promoted[npromoted++] = h;
    rlock_release(&mheap_.lock);
    exit_runtime(t);
}

/* Takes the promoted range at h out of the free runs, so that the
 * background scavenger leaves it alone while it is checked; 0 when it is
 * no longer promoted, free and resident. */
static int claim(uintptr_t h)
{
    struct mthread *t = enter_runtime("test");
    rlock_acquire(&mheap_.lock);
    int ok = pagealloc_promoted(h) && pagealloc_wholly_free(h) &&
             !pagealloc_cold(h, HUGE_PAGE_BYTES >> PAGE_SHIFT);
    if (ok)
        pagealloc_take_range(h, 1);
    rlock_release(&mheap_.lock);
    exit_runtime(t);
    return ok;
}

static void unclaim(uintptr_t h)
{
    struct mthread *t = enter_runtime("test");
    rlock_acquire(&mheap_.lock);
    pagealloc_take_range(h, 0);
    rlock_release(&mheap_.lock);
    exit_runtime(t);
}

static int is_promoted(uintptr_t h)
{
    struct mthread *t = enter_runtime("test");
    rlock_acquire(&mheap_.lock);
    int p = pagealloc_promoted(h);
    rlock_release(&mheap_.lock);
    exit_runtime(t);
    return p;
}

static size_t demote_stale(void)
{
    struct mthread *t = enter_runtime("test");
    size_t n = mheap_demote_stale();
    exit_runtime(t);
    return n;
}

/* Resident 4 KiB pages of [p, p + n). */
static size_t resident_pages(uintptr_t p, size_t n)
{
    size_t np = n / 4096, r = 0;
    unsigned char *v = malloc(np);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(mincore((void *)p, n, v), 0);
    for (size_t i = 0; i < np; i++)
        r += v[i] & 1;
    free(v);
    return r;
}

/* AnonHugePages of the mapping containing p, in KiB. */
static unsigned long anon_huge_kb(uintptr_t p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int in = 0;
    unsigned long kb = 0, v;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2)
            in = p >= a && p < b;
        else if (in && sscanf(line, "AnonHugePages: %lu kB", &v) == 1)
            kb = v;
    }
    fclose(f);
    return kb;
}

static gc_memstats *memstats(void)
{
    gc_memstats *m = malloc(sizeof *m);
    ck_assert_ptr_nonnull(m);
    gc_read_memstats(m);
    ck_assert_uint_eq(m->heap_idle + m->heap_inuse, m->heap_sys);
    return m;
}

/* n objects of OBJ bytes, written, all live at once, then dropped
 * together and collected. */
static NOINLINE void drop_all(size_t n)
{
    void **a = calloc(n, sizeof(void *));
    ck_assert_ptr_nonnull(a);
    gc_add_roots(a, a + n);
    for (size_t i = 0; i < n; i++)
        a[i] = memset(gc_alloc_noscan(OBJ), 0x5a, OBJ);
    gc_remove_roots(a, a + n);
    memset(a, 0, n * sizeof(void *));
    free(a);
    clear_stack();
    gc_collect();
}

/* Whether the n bytes at p are all c. */
static int all_bytes(const volatile unsigned char *p, size_t n, unsigned char c)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c)
            return 0;
    return 1;
}

/* n objects of OBJ bytes, written, dropped: garbage once this returns. */
static NOINLINE void make_garbage(size_t n)
{
    for (size_t i = 0; i < n; i++)
        memset(gc_alloc_noscan(OBJ), 0x5a, OBJ);
}

static int in_promoted(uintptr_t p)
{
    for (size_t i = 0; i < npromoted; i++)
        if (p >= promoted[i] && p < promoted[i] + HUGE_PAGE_BYTES)
            return 1;
    return 0;
}

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 37 + 11);
}

/* ---- Promotion ------------------------------------------------------------ */

static void **live; /* objects inside promoted ranges, a registered root range */
static size_t nlive;

START_TEST(test_promote)
{
    if (!huge_pages_offered()) {
        fprintf(
            stderr,
            "promote: promotion is off (GODEBUG=thpgrowth=0 not set, THP never, or disablethp)\n");
        return;
    }
    /* The very first heap memory was fresh: faulted in small pages. */
    void *first = gc_alloc_noscan(OBJ);
    memset(first, 1, OBJ);
    ck_assert_uint_eq(anon_huge_kb((uintptr_t)first), 0);

    /* One collection: its goals count the garbage as in use, so the
     * scavenger keeps the memory the garbage frees (a second would give
     * it back). */
    /* 32 MiB of objects, live at once and then dropped together: one
     * collection frees wholly free, resident ranges. With GOGC off the
     * scavenger has no retention goal and keeps them (the background
     * promoter may take some first: gathered too). */
    int gogc = gc_set_percent(-1);
    gc_memstats *m0 = NULL;
    npromoted = 0;
    size_t by_background = 0;
    for (int attempt = 0; attempt < 5 && npromoted < 2; attempt++) {
        drop_all(32 * MiB / OBJ);
        free(m0);
        m0 = memstats();
        npromoted = 0;
        gather_promoted();
        by_background = npromoted;
        uintptr_t h;
        while (npromoted < 4 && (h = promote_one()) != 0)
            promoted[npromoted++] = h;
    }
    gc_set_percent(gogc);
    gc_memstats *m1 = memstats();
    fprintf(
        stderr, "promote: %zu ranges promoted (%zu in the background), released %.1f -> %.1f MiB\n",
        npromoted, by_background, (double)m0->heap_released / MiB, (double)m1->heap_released / MiB);
    ck_assert_uint_ge(npromoted, 2);
    size_t checked = 0;
    for (size_t i = 0; i < npromoted; i++) {
        uintptr_t h = promoted[i];
        ck_assert_uint_eq(h & (HUGE_PAGE_BYTES - 1), 0);
        if (!claim(h))
            continue; /* released by the scavenger meanwhile */
        checked++;
        ck_assert_uint_eq(resident_pages(h, HUGE_PAGE_BYTES), HUGE_PAGE_BYTES / 4096);
        ck_assert_msg(all_bytes((const unsigned char *)h, HUGE_PAGE_BYTES, 0),
                      "promoted range %#lx is not zero", (unsigned long)h);
        if (sys_thp_mode() != THP_NEVER)
            ck_assert_uint_ge(anon_huge_kb(h), 2048);
        unclaim(h);
    }
    ck_assert_uint_ge(checked, 1);
    free(m0);
    free(m1);

    /* Objects into the promoted ranges: first fit allocates there; keep
     * those, drop the rest. */
    nlive = 0;
    live = calloc(2 * MAX_RANGES * HUGE_PAGE_BYTES / OBJ, sizeof(void *));
    ck_assert_ptr_nonnull(live);
    gc_add_roots(live, live + 2 * MAX_RANGES * HUGE_PAGE_BYTES / OBJ);
    for (size_t i = 0; i < 64 * MiB / OBJ && nlive < npromoted * HUGE_PAGE_BYTES / OBJ; i++) {
        unsigned char *o = gc_alloc_noscan(OBJ);
        if (!in_promoted((uintptr_t)o))
            continue;
        memset(o, pattern(nlive), OBJ);
        live[nlive++] = o;
    }
    clear_stack();
    fprintf(stderr, "promote: %zu objects of 8 KiB in the promoted ranges\n", nlive);
    ck_assert_uint_ge(nlive, HUGE_PAGE_BYTES / OBJ);
    for (int c = 0; c < 3; c++) {
        make_garbage(4 * MiB / OBJ);
        gc_collect();
    }
    for (size_t i = 0; i < nlive; i++) {
        unsigned char *o = live[i];
        ck_assert_ptr_eq(gc_base(o), o);
        ck_assert_msg(all_bytes(o, OBJ, pattern(i)), "object %zu in a promoted range changed", i);
    }
}
END_TEST

/* ---- The scavenger still releases ---------------------------------------- */

START_TEST(test_release_demotes)
{
    if (!huge_pages_offered() || nlive == 0)
        return;
    /* Keep one object in the first promoted range, drop the others. */
    uintptr_t h = promoted[0];
    void *keep = NULL;
    for (size_t i = 0; i < nlive; i++) {
        if ((uintptr_t)live[i] >= h && (uintptr_t)live[i] < h + HUGE_PAGE_BYTES && keep == NULL)
            keep = live[i];
        else
            live[i] = NULL;
    }
    ck_assert_ptr_nonnull(keep);
    size_t ki = 0;
    while (live[ki] != keep)
        ki++;
    keep = NULL;
    clear_stack();
    gc_collect();
    gc_collect();
    gc_free_os_memory();

    /* The range that kept an object was released around it: demoted, and
     * only the object's pages (and any span beside it) stay resident. */
    ck_assert_msg(!is_promoted(h), "a partly released range stayed promoted");
    size_t res = resident_pages(h, HUGE_PAGE_BYTES);
    fprintf(stderr,
            "promote: after gc_free_os_memory, %zu of 512 pages resident in the range kept\n", res);
    ck_assert_uint_lt(res, HUGE_PAGE_BYTES / 4096 / 2);
    ck_assert_msg(all_bytes(live[ki], OBJ, pattern(ki)), "the kept object changed");

    /* The ranges released whole: nothing resident, and demoted once they
     * stayed released from one look to the next. */
    size_t whole = 0;
    for (size_t i = 1; i < npromoted; i++) {
        /* Released whole, or around an object a stale copy kept alive
         * (conservative roots), and then demoted. */
        size_t r = resident_pages(promoted[i], HUGE_PAGE_BYTES);
        ck_assert(r == 0 || (r < 64 && !is_promoted(promoted[i])));
        whole += is_promoted(promoted[i]);
    }
    demote_stale();
    size_t demoted = demote_stale();
    fprintf(stderr, "promote: %zu ranges released whole and still promoted, %zu demoted later\n",
            whole, demoted);
    for (size_t i = 1; i < npromoted; i++)
        ck_assert(!is_promoted(promoted[i]));
    gc_remove_roots(live, live + 2 * MAX_RANGES * HUGE_PAGE_BYTES / OBJ);
    free(live);
    live = NULL;
    nlive = 0;
}
END_TEST

/* ---- The background promoter --------------------------------------------- */

static void **tree; /* the live set: a registered root range */
#define TREE_N (16 * MiB / OBJ)

START_TEST(test_background)
{
    if (!huge_pages_offered())
        return;
    struct promote_counts c0, c1;
    promote_read_counts(&c0);
    tree = calloc(TREE_N, sizeof(void *));
    ck_assert_ptr_nonnull(tree);
    gc_add_roots(tree, tree + TREE_N);
    for (size_t i = 0; i < TREE_N; i++)
        tree[i] = memset(gc_alloc_noscan(OBJ), 2, OBJ);
    /* Bursts of garbage that die together, the way a program that builds
     * and drops temporary structures reuses its heap, each followed by a
     * quiet moment: the promoter works only when no cycle marks and the
     * scavenger has nothing to release, which a program allocating without
     * a break (under AddressSanitizer and gccheckmark, slow enough that
     * cycles run back to back) may never give it. */
    double t0 = now_s();
    do {
        make_garbage(16 * MiB / OBJ);
        usleep(50000);
        promote_read_counts(&c1);
    } while (c1.promoted == c0.promoted && now_s() - t0 < 30);
    fprintf(stderr, "promote: the background promoter promoted %lu ranges in %.2f s\n",
            (unsigned long)(c1.promoted - c0.promoted), now_s() - t0);
    ck_assert_uint_gt(c1.promoted, c0.promoted);
    gc_remove_roots(tree, tree + TREE_N);
    free(tree);
    tree = NULL;
}
END_TEST

/* ---- thpgrowth=2: the first arena in huge pages from the start ------------ */

static NOINLINE void fill_past_first_arena(uintptr_t arena, void ***keep, size_t *nkeep,
                                           uintptr_t *beyond)
{
    size_t n = 96 * MiB / OBJ;
    *keep = calloc(n, sizeof(void *));
    ck_assert_ptr_nonnull(*keep);
    gc_add_roots(*keep, *keep + n);
    *beyond = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char *o = gc_alloc_noscan(OBJ);
        memset(o, pattern(i), OBJ);
        (*keep)[i] = o;
        if (*beyond == 0 && (uintptr_t)o - arena >= ARENA_BYTES)
            *beyond = (uintptr_t)o;
    }
    *nkeep = n;
}

START_TEST(test_first_arena_huge)
{
    if (!mheap_.huge_first) {
        fprintf(stderr, "promote: the first arena's huge pages are off (GODEBUG=thpgrowth=2 "
                        "not set, THP never, or disablethp)\n");
        return;
    }
    /* The heap's first memory is in its first arena, which asks for huge
     * pages and counts as promoted from the start. */
    uintptr_t first = (uintptr_t)gc_alloc_noscan(OBJ);
    memset((void *)first, 1, OBJ);
    uintptr_t arena = first & ~(ARENA_BYTES - 1);
    for (uintptr_t h = arena; h < arena + ARENA_BYTES; h += HUGE_PAGE_BYTES)
        ck_assert_msg(is_promoted(h), "range %#lx of the first arena is not promoted",
                      (unsigned long)h);
    ck_assert_uint_ge(anon_huge_kb(first), 2048);

    /* Beyond it, fresh memory is small pages and not promoted. */
    int gogc = gc_set_percent(-1);
    void **keep;
    size_t nkeep;
    uintptr_t beyond;
    fill_past_first_arena(arena, &keep, &nkeep, &beyond);
    ck_assert_msg(beyond != 0, "96 MiB of objects all fit in the first arena");
    ck_assert_msg(!is_promoted(beyond & ~(HUGE_PAGE_BYTES - 1)),
                  "fresh memory beyond the first arena (%#lx) is promoted", (unsigned long)beyond);
    ck_assert_uint_eq(anon_huge_kb(beyond), 0);
    gc_set_percent(gogc);

    /* Both kinds keep their objects through collections (gccheckmark). */
    for (int c = 0; c < 2; c++)
        gc_collect();
    for (size_t i = 0; i < nkeep; i++)
        ck_assert_msg(all_bytes(keep[i], OBJ, pattern(i)), "object %zu changed", i);
    gc_remove_roots(keep, keep + nkeep);
    free(keep);
}
END_TEST

/* ---- thpgrowth=3: fresh growth made huge pages ahead of allocation -------- */

/* AnonHugePages summed over the mappings that overlap [lo, hi) (mappings
 * with the same advice merge: this counts some huge pages outside too). */
static unsigned long anon_huge_kb_in(uintptr_t lo, uintptr_t hi)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int in = 0;
    unsigned long kb = 0, v;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2)
            in = a < hi && b > lo;
        else if (in && sscanf(line, "AnonHugePages: %lu kB", &v) == 1)
            kb += v;
    }
    fclose(f);
    return kb;
}

START_TEST(test_ahead_huge)
{
    if (!mheap_.huge_ahead) {
        fprintf(stderr, "promote: huge pages made ahead are off (GODEBUG=thpgrowth=3 not set, "
                        "THP never, or disablethp)\n");
        return;
    }
    /* gc_init had the prefaulter fault the heap's first 4 MiB in: huge
     * pages, promoted. */
    uintptr_t first = (uintptr_t)gc_alloc_noscan(OBJ);
    memset((void *)first, 1, OBJ);
    ck_assert(is_promoted(first & ~(HUGE_PAGE_BYTES - 1)));
    ck_assert_uint_ge(anon_huge_kb(first), 2048);

    /* 64 MiB of growth at a pace the prefaulter keeps up with (1 MiB, then
     * 20 ms): it faults the fresh ranges in ahead of this thread, each as
     * one huge page, counted promoted. */
    int gogc = gc_set_percent(-1);
    struct promote_counts c0, c1;
    promote_read_counts(&c0);
    size_t n = 64 * MiB / OBJ;
    void **keep = calloc(n, sizeof(void *));
    ck_assert_ptr_nonnull(keep);
    gc_add_roots(keep, keep + n);
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % (MiB / OBJ) == 0)
            usleep(20000);
        unsigned char *o = gc_alloc_noscan(OBJ);
        memset(o, pattern(i), OBJ);
        keep[i] = o;
        lo = (uintptr_t)o < lo ? (uintptr_t)o : lo;
        hi = (uintptr_t)o + OBJ > hi ? (uintptr_t)o + OBJ : hi;
    }
    promote_read_counts(&c1);
    unsigned long huge_kb = anon_huge_kb_in(lo & ~(HUGE_PAGE_BYTES - 1),
                                            (hi + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1));
    fprintf(stderr, "promote: 64 MiB grown: %lu MiB in huge pages, %lu ranges made huge ahead\n",
            huge_kb >> 10, (unsigned long)(c1.promoted - c0.promoted));
    /* All of it on an idle machine; half leaves room for a prefaulter that
     * a loaded machine starves of its CPU (this thread then faults its own
     * memory in, in small pages), and for the few MiB outside the range
     * that its mappings may hold. */
    ck_assert_uint_ge(huge_kb, 32 * 1024);
    ck_assert_uint_ge(c1.promoted - c0.promoted, 16);
    gc_set_percent(gogc);

    /* The objects survive collections (gccheckmark, clobberfree). */
    for (int c = 0; c < 2; c++)
        gc_collect();
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(all_bytes(keep[i], OBJ, pattern(i)), "object %zu changed", i);
    gc_remove_roots(keep, keep + n);
    free(keep);
}
END_TEST

static Suite *promote_suite(void)
{
    Suite *s = suite_create("promote");
    TCase *tc = tcase_create("promote");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_promote);
    tcase_add_test(tc, test_release_demotes);
    tcase_add_test(tc, test_background);
    tcase_add_test(tc, test_first_arena_huge);
    tcase_add_test(tc, test_ahead_huge);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (gc_init(NULL) != 0)
        return EXIT_FAILURE;
    return run_suite(promote_suite(), CK_NOFORK);
}
