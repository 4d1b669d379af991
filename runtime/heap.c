/*
 * The page heap. See heap.h for the design and its invariants, and
 * pagealloc.h for the free pages.
 */
#include "heap.h"

#include "knobs.h"
#include "platform.h"
#include "promote.h"

#include <string.h>

RUNTIME_STATE struct mheap mheap_;

/* Released pages that an allocation takes are faulted in this many bytes at
 * a time with one system call each (see heap.h, "Fresh memory"). */
#define POPULATE_CHUNK_BYTES ((uintptr_t)64 << 10)

/* Where the first arena is placed: a high address well away from the
 * executable, the C heap, the libraries and the stacks. Not Go's 0xc0 << 32:
 * a scan is conservative, and a word whose upper half is the int 192 and
 * lower half a small int (two adjacent ints in some library's data) would
 * point into the heap. One did: glibc keeps MALLOC_PERTURB_'s byte in an
 * int of its .bss after a zero int, and with MALLOC_PERTURB_=192 (meson
 * test picks it at random) the word read 0xc000000000, the heap's first
 * object, which then never died. An upper half of 0x3a9c (15004) is a far
 * less likely int. */
#define ARENA_HINT ((uintptr_t)0x3a9cull << 32)

static inline struct heap_arena *arena_of(uintptr_t p)
{
    return mheap_.arenas[p >> ARENA_SHIFT];
}

static void set_span_entry(uintptr_t page_addr, struct mspan *s)
{
    atomic_store((volatile AO_t *)&arena_of(page_addr)
                     ->spans[(page_addr >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1)],
                 (AO_t)s);
}

void mheap_init(void)
{
    rlock_init(&mheap_.lock, "the heap lock", RANK_HEAP);
    /* The arena index covers the whole user address space; only the pages
     * of it that index real arenas are ever touched. */
    mheap_.arenas = sys_alloc(ARENA_INDEX_COUNT * sizeof(struct heap_arena *));
    if (mheap_.arenas == NULL)
        fatal("cannot reserve the arena index");
    mheap_.hint = ARENA_HINT;
    mheap_.huge_pages = !knobs.disablethp && sys_thp_mode() != THP_NEVER;
    mheap_.huge_growth = mheap_.huge_pages && knobs.thpgrowth == 1;
    mheap_.huge_promote = mheap_.huge_pages && knobs.thpgrowth != 1;
    mheap_.huge_first = mheap_.huge_pages && knobs.thpgrowth == 2;
    mheap_.huge_ahead = mheap_.huge_pages && knobs.thpgrowth == 3;
    pagealloc_init(mheap_.huge_growth);
    /* An empty range: span_of rejects every address until an arena exists. */
    mheap_.arena_lo = 0;
    mheap_.arena_hi = 0;
    fixalloc_init(&mheap_.span_alloc, sizeof(struct mspan), &metadata_stats.mspan_sys,
                  &metadata_stats.mspan_inuse);
    for (size_t w = 1; w <= MAX_BITMAP_WORDS; w++)
        fixalloc_init(&mheap_.bits_alloc[w], w * sizeof(AO_t), &metadata_stats.gc_sys, NULL);
    /* Start at 2 so that sg-2 never underflows. */
    mheap_.sweepgen = 2;
}

/* ---- Growth ------------------------------------------------------------ */

/* Reserves n bytes (a multiple of ARENA_BYTES) aligned to ARENA_BYTES,
 * preferring the hint. */
static uintptr_t reserve_arenas(size_t n)
{
    for (int tries = 0; tries < 64; tries++) {
        void *p = sys_reserve((void *)mheap_.hint, n);
        if (p == NULL)
            break;
        uintptr_t u = (uintptr_t)p;
        if ((u & (ARENA_BYTES - 1)) == 0) {
            mheap_.hint = u + n;
            return u;
        }
        /* Misaligned: take a larger reservation and trim it. */
        sys_free(p, n);
        p = sys_reserve((void *)mheap_.hint, n + ARENA_BYTES);
        if (p == NULL)
            break;
        u = (uintptr_t)p;
        uintptr_t aligned = (u + ARENA_BYTES - 1) & ~(ARENA_BYTES - 1);
        if (aligned > u)
            sys_free(p, aligned - u);
        if (aligned + n < u + n + ARENA_BYTES)
            sys_free((void *)(aligned + n), u + n + ARENA_BYTES - (aligned + n));
        mheap_.hint = aligned + n;
        return aligned;
    }
    return 0;
}

/* Sets up the records of the arenas in a new reservation of n bytes from
 * base: every page taken (not ready) until the heap grows into it. */
static void register_arenas(uintptr_t base, size_t n)
{
    /* Huge pages are asked for, or refused, once per reservation, before
     * any of it is ready, so that the reservation stays one mapping. */
    enum thp_mode thp = sys_thp_mode();
    int first = mheap_.arena_hi == 0;
    if (thp == THP_MADVISE && mheap_.huge_growth)
        sys_hugepages((void *)base, n, 1);
    else if (mheap_.huge_promote || (thp == THP_ALWAYS && !mheap_.huge_pages))
        sys_hugepages((void *)base, n, 0);
    for (uintptr_t a = base; a < base + n; a += ARENA_BYTES) {
        struct heap_arena *ha =
            persistent_alloc(sizeof(struct heap_arena), 64, &metadata_stats.gc_sys);
        atomic_store((volatile AO_t *)&mheap_.arenas[a >> ARENA_SHIFT], (AO_t)ha);
        pagealloc_add_arena(a);
    }
    /* thpgrowth=2: the heap's first arena asks for huge pages and counts as
     * promoted from the start (promote.h), so that a small heap lives in
     * huge pages as with thpgrowth=1, and the growth beyond it is small
     * pages, promoted once reused. (None of it is ready yet either.) */
    if (first && mheap_.huge_first) {
        sys_hugepages((void *)base, ARENA_BYTES, 1);
        pagealloc_set_promoted(base);
    }
    /* The index entries are published first, and hi before lo: a reader
     * racing with the first growth sees [0, hi), which only lets it look up
     * index entries that exist (NULL or not), never an inverted range. */
    if (base + n > mheap_.arena_hi)
        atomic_store(&mheap_.arena_hi, base + n);
    if (first || base < mheap_.arena_lo)
        atomic_store(&mheap_.arena_lo, base);
}

/* Makes at least npages new pages ready and adds them to the free runs,
 * counted as released. Returns the bytes grown by, 0 when the OS refuses. */
static size_t mheap_grow(size_t npages)
{
    size_t before = pagealloc_.count.free;
    size_t pages = (npages + HEAP_GROW_PAGES - 1) / HEAP_GROW_PAGES * HEAP_GROW_PAGES;
    size_t bytes = pages << PAGE_SHIFT;
    if (mheap_.grow_end - mheap_.grow_next < bytes) {
        size_t n = (bytes + ARENA_BYTES - 1) & ~(ARENA_BYTES - 1);
        uintptr_t r = reserve_arenas(n);
        if (r == 0)
            return 0;
        register_arenas(r, n);
        if (r == mheap_.grow_end) {
            mheap_.grow_end += n;
        } else {
            /* The old reservation's tail is abandoned as ready, free
             * memory rather than lost. */
            size_t left = mheap_.grow_end - mheap_.grow_next;
            if (left > 0 && sys_map((void *)mheap_.grow_next, left) == 0)
                pagealloc_grow(mheap_.grow_next, left >> PAGE_SHIFT);
            mheap_.grow_next = r;
            mheap_.grow_end = r + n;
        }
    }
    uintptr_t base = mheap_.grow_next;
    if (sys_map((void *)base, bytes) != 0)
        return 0;
    mheap_.grow_next += bytes;
    pagealloc_grow(base, pages);
    return (pagealloc_.count.free - before) << PAGE_SHIFT;
}

/* ---- Spans ------------------------------------------------------------- */

static AO_t *bits_alloc(size_t words)
{
    return fixalloc_alloc(&mheap_.bits_alloc[words]);
}

static void bits_free(AO_t *bits, size_t words)
{
    if (bits)
        fixalloc_free(&mheap_.bits_alloc[words], bits);
}

struct mspan *mheap_alloc(size_t npages, unsigned spanclass, struct heap_alloc *ha)
{
    ha->from_heap = 1;
    ha->cold = 0;
    ha->grew = 0;
    rlock_acquire(&mheap_.lock);
    uintptr_t base = pagealloc_find(npages);
    if (ha->resident_only && (base == 0 || pagealloc_cold(base, npages))) {
        /* Growing, or a released run: either would fault. */
        ha->cold = 1;
        ha->wait_seen = atomic_load32(ha->wait_word);
        ha->after = pagealloc_.count;
        rlock_release(&mheap_.lock);
        return NULL;
    }
    if (base == 0) {
        ha->grew = mheap_grow(npages);
        if (ha->grew == 0) {
            rlock_release(&mheap_.lock);
            return NULL;
        }
        base = pagealloc_find(npages);
        if (base == 0)
            fatal("the heap grew by %zu bytes but has no run of %zu free pages", ha->grew, npages);
    }
    /* Small pages that are released: fault them in with system calls, and
     * the free released pages after them up to the next chunk boundary
     * (taken out of the free runs meanwhile, as the prefaulter's stretches
     * are; a fork() meanwhile leaves the child those few pages short). */
    int populate = !mheap_.huge_growth && pagealloc_cold(base, npages) &&
                   !pagealloc_promoted(base & ~(HUGE_PAGE_BYTES - 1));
    size_t extra = 0;
    int needzero = pagealloc_take(base, npages);
    if (populate) {
        uintptr_t end = base + (npages << PAGE_SHIFT);
        uintptr_t stop = (end + POPULATE_CHUNK_BYTES - 1) & ~(POPULATE_CHUNK_BYTES - 1);
        if (stop > end)
            extra = pagealloc_populate_begin(end, (stop - end) >> PAGE_SHIFT);
    }

    struct mspan *s = fixalloc_alloc(&mheap_.span_alloc);
    unsigned sizeclass = span_class_size(spanclass);
    s->base = base;
    s->npages = npages;
    s->spanclass = (uint8_t)spanclass;
    s->needzero = (uint8_t)needzero;
    if (sizeclass == 0) {
        s->elemsize = npages << PAGE_SHIFT;
        s->nelems = 1;
        s->divmagic = 0;
    } else {
        s->elemsize = class_to_size[sizeclass];
        s->nelems = (uint16_t)class_nelems(sizeclass);
        s->divmagic = class_to_divmagic[sizeclass];
    }
    s->limit =
        sizeclass == 0 ? base + (npages << PAGE_SHIFT) : base + (uintptr_t)s->nelems * s->elemsize;
    size_t words = span_bitmap_words(s->nelems);
    s->alloc_bits = bits_alloc(words);
    s->gcmark_bits = bits_alloc(words);
    s->checkmark_bits = knobs.gccheckmark ? bits_alloc(words) : NULL;
    s->freeindex = 0;
    s->alloc_count = 0;
    span_refill_alloc_cache(s, 0);
    s->sweepgen = mheap_.sweepgen;
    atomic_store(&s->state, SPAN_IN_USE);
    for (size_t i = 0; i < npages; i++)
        set_span_entry(base + (i << PAGE_SHIFT), s);
    ha->after = pagealloc_.count;
    rlock_release(&mheap_.lock);
    if (populate) {
        size_t total = (npages + extra) << PAGE_SHIFT, step = POPULATE_CHUNK_BYTES;
        for (size_t off = 0; off < total; off += step)
            sys_populate_now((void *)(base + off), total - off < step ? total - off : step);
        if (extra) {
            rlock_acquire(&mheap_.lock);
            pagealloc_prefault_end(base + (npages << PAGE_SHIFT), extra);
            rlock_release(&mheap_.lock);
        }
    }
    return s;
}

void mheap_free(struct mspan *s)
{
    rlock_acquire(&mheap_.lock);
    /* Dead before its pages are unmapped: a lock-free reader that still
     * holds s (gc_base) sees it is not in use. The descriptor and bitmaps
     * go back to their fixallocs, whose memory is never unmapped. */
    atomic_store(&s->state, SPAN_DEAD);
    for (size_t i = 0; i < s->npages; i++)
        set_span_entry(s->base + (i << PAGE_SHIFT), NULL);
    pagealloc_free(s->base, s->npages);
    size_t words = span_bitmap_words(s->nelems);
    bits_free(s->alloc_bits, words);
    bits_free(s->gcmark_bits, words);
    bits_free(s->checkmark_bits, words);
    fixalloc_free(&mheap_.span_alloc, s);
    rlock_release(&mheap_.lock);
}

void mheap_read_pages(struct heap_pages *out)
{
    rlock_acquire(&mheap_.lock);
    *out = pagealloc_.count;
    rlock_release(&mheap_.lock);
}

int mheap_free_run(uintptr_t p, uintptr_t *base, size_t *npages)
{
    rlock_acquire(&mheap_.lock);
    int found = span_of(p) == NULL && pagealloc_free_run(p, base, npages);
    rlock_release(&mheap_.lock);
    return found;
}

/* ---- Releasing free pages to the OS ------------------------------------- */

/* The promoted huge pages that [lo, hi) releases a part of go back to small
 * pages before the stretch is free again: a huge page partly released would
 * keep its RSS, or be refilled by khugepaged. One that the release leaves
 * wholly released stays promoted: reused soon, its memory is still backed
 * by the host and faults in whole in a tenth of a millisecond; left
 * released, it is demoted later (mheap_demote_stale). The stretch is out of
 * the free runs, so nobody touches it meanwhile. */
static void demote_released(uintptr_t lo, uintptr_t hi)
{
    for (uintptr_t h = lo & ~(HUGE_PAGE_BYTES - 1); h < hi; h += HUGE_PAGE_BYTES) {
        uintptr_t e = h + HUGE_PAGE_BYTES;
        rlock_acquire(&mheap_.lock);
        int whole = (h >= lo || pagealloc_all_released(h, (lo - h) >> PAGE_SHIFT)) &&
                    (e <= hi || pagealloc_all_released(hi, (e - hi) >> PAGE_SHIFT));
        int was = !whole && pagealloc_demote(h);
        rlock_release(&mheap_.lock);
        if (!was)
            continue;
        promote_count_demoted();
        /* The part of the huge page outside the stretch is in use or free
         * and resident: it stays mapped, in small pages from now on. */
        sys_hugepages((void *)h, HUGE_PAGE_BYTES, 0);
    }
}

size_t mheap_release(struct release_cursor *cursor, size_t max_pages, int huge_aware, int use_free)
{
    uintptr_t lo, hi;
    rlock_acquire(&mheap_.lock);
    if (cursor->addr == 0 || cursor->addr > mheap_.arena_hi)
        cursor->addr = mheap_.arena_hi;
    if (cursor->addr <= mheap_.arena_lo ||
        !pagealloc_release_begin(cursor->addr, max_pages, huge_aware, &lo, &hi)) {
        cursor->addr = mheap_.arena_lo;
        rlock_release(&mheap_.lock);
        return 0;
    }
    /* The stretch is out of the free runs, so nobody allocates it while it
     * is being released; the lock is not held across the madvise call. */
    rlock_release(&mheap_.lock);

    /* One madvise call over the whole stretch, released pages included:
     * on the machines measured a call costs far more than the pages it
     * covers. Only this thread changes the bits of the stretch meanwhile. */
    sys_unused((void *)lo, hi - lo, use_free);
    if (mheap_.huge_promote)
        demote_released(lo, hi);

    rlock_acquire(&mheap_.lock);
    size_t changed = pagealloc_release_end(lo, hi, use_free);
    cursor->addr = lo;
    rlock_release(&mheap_.lock);
    return changed;
}

/* ---- Faulting free pages in ahead of allocation (prefault.h) ----------- */

size_t mheap_prefault(size_t max_pages, size_t *grew)
{
    *grew = 0;
    rlock_acquire(&mheap_.lock);
    uintptr_t lo;
    size_t n = pagealloc_prefault_begin(max_pages, &lo);
    if (n == 0 && lo == 0) {
        *grew = mheap_grow(HUGE_PAGE_BYTES >> PAGE_SHIFT);
        if (*grew)
            n = pagealloc_prefault_begin(max_pages, &lo);
    }
    /* thpgrowth=3: a whole range, free and wholly released (fresh growth,
     * or memory the scavenger gave back), becomes a huge page here, on this
     * thread, and counts as promoted (promote.h's rules apply to it from
     * then on). One still promoted, released whole not long ago, asks for
     * its huge page already. Read under the lock: the promoted bits of
     * other ranges change under it. */
    int huge = mheap_.huge_ahead && n == HUGE_PAGE_BYTES >> PAGE_SHIFT && !pagealloc_promoted(lo);
    rlock_release(&mheap_.lock);
    if (n == 0)
        return 0;
    if (huge)
        sys_hugepages((void *)lo, HUGE_PAGE_BYTES, 1);
    sys_populate((void *)lo, n << PAGE_SHIFT);
    rlock_acquire(&mheap_.lock);
    if (huge)
        pagealloc_promote_end(lo);
    else
        pagealloc_prefault_end(lo, n);
    rlock_release(&mheap_.lock);
    if (huge)
        promote_count_promoted();
    return n;
}

/* ---- Promotion to huge pages (promote.h) -------------------------------- */

uintptr_t mheap_promote(uintptr_t from)
{
    rlock_acquire(&mheap_.lock);
    uintptr_t h = pagealloc_promote_begin(from);
    rlock_release(&mheap_.lock);
    if (h == 0)
        return 0;
    /* The range is out of the free runs: nobody allocates or touches it.
     * Its small pages go back, the range asks for a huge page, and one
     * fault (a store into each page, in case the kernel falls back to small
     * pages) brings it back, zero. */
    sys_unused((void *)h, HUGE_PAGE_BYTES, 0);
    sys_hugepages((void *)h, HUGE_PAGE_BYTES, 1);
    sys_populate((void *)h, HUGE_PAGE_BYTES);
    rlock_acquire(&mheap_.lock);
    pagealloc_promote_end(h);
    rlock_release(&mheap_.lock);
    return h;
}

size_t mheap_demote_stale(void)
{
    uintptr_t hs[64];
    rlock_acquire(&mheap_.lock);
    size_t n = pagealloc_demote_stale(hs, sizeof hs / sizeof hs[0]);
    rlock_release(&mheap_.lock);
    for (size_t i = 0; i < n; i++)
        sys_hugepages((void *)hs[i], HUGE_PAGE_BYTES, 0);
    rlock_acquire(&mheap_.lock);
    for (size_t i = 0; i < n; i++)
        pagealloc_take_range(hs[i], 0);
    rlock_release(&mheap_.lock);
    return n;
}
