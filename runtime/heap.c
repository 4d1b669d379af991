/*
 * The page heap. See heap.h for the design and its invariants.
 */
#include "heap.h"

#include "env.h"
#include "pacer.h"
#include "scavenge.h"
#include "platform.h"

#include <string.h>

RUNTIME_STATE struct mheap mheap_;

/* Where the first arena is placed: a recognisable, high address well away
 * from the executable, the C heap and the stacks (the same choice as Go). */
#define ARENA_HINT ((uintptr_t)0x00c0ull << 32)

static inline struct heap_arena *arena_of(uintptr_t p)
{
    return mheap_.arenas[p >> ARENA_SHIFT];
}

static inline size_t page_index(uintptr_t p)
{
    return (p >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1);
}

static void set_span_entry(uintptr_t page_addr, struct mspan *s)
{
    atomic_store((volatile AO_t *)&arena_of(page_addr)->spans[page_index(page_addr)], (AO_t)s);
}

void mheap_init(void)
{
    pthread_mutex_init(&mheap_.lock, NULL);
    /* The arena index covers the whole user address space; only the pages
     * of it that index real arenas are ever touched. */
    mheap_.arenas = sys_alloc(ARENA_INDEX_COUNT * sizeof(struct heap_arena *));
    if (mheap_.arenas == NULL)
        fatal("cannot reserve the arena index");
    mheap_.hint = ARENA_HINT;
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

/* ---- Released-page bits ---------------------------------------------- */

/* Sets (set != 0) or clears the scavenged bits of npages pages from base;
 * returns how many bits changed. */
static size_t scavenged_update(uintptr_t base, size_t npages, int set)
{
    size_t changed = 0;
    for (size_t i = 0; i < npages; i++) {
        uintptr_t p = base + (i << PAGE_SHIFT);
        struct heap_arena *a = arena_of(p);
        size_t pi = page_index(p);
        uint64_t bit = 1ull << (pi % 64);
        uint64_t *w = &a->scavenged[pi / 64];
        /* Whole zero or whole full words are the common case. */
        if (pi % 64 == 0 && npages - i >= 64) {
            uint64_t old = *w;
            changed += (size_t)__builtin_popcountll(set ? ~old : old);
            *w = set ? ~0ull : 0;
            i += 63;
            continue;
        }
        if (((*w & bit) != 0) != (set != 0)) {
            *w ^= bit;
            changed++;
        }
    }
    return changed;
}

/* ---- Free runs --------------------------------------------------------- */

static void bin_insert(struct mspan *f)
{
    struct mspan **head;
    if (f->npages < FREE_BINS) {
        head = &mheap_.free_bins[f->npages];
        mheap_.free_bins_nonempty[f->npages / 64] |= 1ull << (f->npages % 64);
    } else {
        head = &mheap_.free_large;
    }
    f->prev = NULL;
    f->next = *head;
    if (*head)
        (*head)->prev = f;
    *head = f;
}

static void bin_remove(struct mspan *f)
{
    if (f->prev) {
        f->prev->next = f->next;
    } else if (f->npages < FREE_BINS) {
        mheap_.free_bins[f->npages] = f->next;
        if (f->next == NULL)
            mheap_.free_bins_nonempty[f->npages / 64] &= ~(1ull << (f->npages % 64));
    } else {
        mheap_.free_large = f->next;
    }
    if (f->next)
        f->next->prev = f->prev;
    f->next = f->prev = NULL;
}

/* The smallest free run of at least npages pages, or NULL. */
static struct mspan *free_find(size_t npages)
{
    for (size_t w = npages / 64; npages < FREE_BINS && w < FREE_BINS / 64; w++) {
        uint64_t mask = mheap_.free_bins_nonempty[w];
        if (w == npages / 64)
            mask &= ~0ull << (npages % 64);
        if (mask)
            return mheap_.free_bins[w * 64 + (size_t)__builtin_ctzll(mask)];
    }
    struct mspan *best = NULL;
    for (struct mspan *f = mheap_.free_large; f; f = f->next)
        if (f->npages >= npages && (best == NULL || f->npages < best->npages))
            best = f;
    return best;
}

/* Marks the first and last page of a free run as belonging to f. */
static void map_free_run(struct mspan *f)
{
    set_span_entry(f->base, f);
    set_span_entry(f->base + ((f->npages - 1) << PAGE_SHIFT), f);
}

/* Adds [base, base+npages pages) to the free runs, coalescing with free
 * neighbours. f may be an existing descriptor to reuse, or NULL. */
static void free_insert(struct mspan *f, uintptr_t base, size_t npages, int needzero)
{
    if (f == NULL)
        f = fixalloc_alloc(&mheap_.span_alloc);
    f->base = base;
    f->npages = npages;
    f->limit = base + (npages << PAGE_SHIFT);
    f->needzero = (uint8_t)needzero;
    atomic_store(&f->state, SPAN_FREE);

    struct mspan *before = span_of(base - 1);
    if (before && before != f && atomic_load_relaxed(&before->state) == SPAN_FREE &&
        before->limit == base) {
        bin_remove(before);
        set_span_entry(before->limit - PAGE_SIZE, NULL);
        set_span_entry(f->base, NULL);
        f->base = before->base;
        f->npages += before->npages;
        f->needzero |= before->needzero;
        atomic_store(&before->state, SPAN_DEAD);
        fixalloc_free(&mheap_.span_alloc, before);
    }
    struct mspan *after = span_of(f->limit);
    if (after && after != f && atomic_load_relaxed(&after->state) == SPAN_FREE &&
        after->base == f->limit) {
        bin_remove(after);
        set_span_entry(after->base, NULL);
        set_span_entry(f->limit - PAGE_SIZE, NULL);
        f->npages += after->npages;
        f->limit = after->limit;
        f->needzero |= after->needzero;
        atomic_store(&after->state, SPAN_DEAD);
        fixalloc_free(&mheap_.span_alloc, after);
    }
    map_free_run(f);
    bin_insert(f);
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

static void register_arenas(uintptr_t base, size_t n)
{
    for (uintptr_t a = base; a < base + n; a += ARENA_BYTES) {
        struct heap_arena *ha =
            persistent_alloc(sizeof(struct heap_arena), 64, &metadata_stats.gc_sys);
        atomic_store((volatile AO_t *)&mheap_.arenas[a >> ARENA_SHIFT], (AO_t)ha);
    }
    /* The index entries are published first, and hi before lo: a reader
     * racing with the first growth sees [0, hi), which only lets it look up
     * index entries that exist (NULL or not), never an inverted range. */
    int first = mheap_.arena_hi == 0;
    if (base + n > mheap_.arena_hi)
        atomic_store(&mheap_.arena_hi, base + n);
    if (first || base < mheap_.arena_lo)
        atomic_store(&mheap_.arena_lo, base);
}

/* Makes at least npages new pages ready and adds them to the free runs,
 * counted as released. Returns 0 on success. */
static int mheap_grow(size_t npages)
{
    size_t pages = (npages + HEAP_GROW_PAGES - 1) / HEAP_GROW_PAGES * HEAP_GROW_PAGES;
    size_t bytes = pages << PAGE_SHIFT;
    if (mheap_.grow_end - mheap_.grow_next < bytes) {
        size_t n = (bytes + ARENA_BYTES - 1) & ~(ARENA_BYTES - 1);
        uintptr_t r = reserve_arenas(n);
        if (r == 0)
            return -1;
        register_arenas(r, n);
        if (r == mheap_.grow_end) {
            mheap_.grow_end += n;
        } else {
            /* The old reservation's tail is abandoned as ready, free
             * memory rather than lost. */
            size_t left = mheap_.grow_end - mheap_.grow_next;
            if (left > 0 && sys_map((void *)mheap_.grow_next, left) == 0) {
                size_t lp = left >> PAGE_SHIFT;
                mheap_.pages_free += lp;
                mheap_.pages_released += scavenged_update(mheap_.grow_next, lp, 1);
                free_insert(NULL, mheap_.grow_next, lp, 0);
            }
            mheap_.grow_next = r;
            mheap_.grow_end = r + n;
        }
    }
    uintptr_t base = mheap_.grow_next;
    if (sys_map((void *)base, bytes) != 0)
        return -1;
    mheap_.grow_next += bytes;
    mheap_.pages_free += pages;
    mheap_.pages_released += scavenged_update(base, pages, 1);
    free_insert(NULL, base, pages, 0);
    return 0;
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

struct mspan *mheap_alloc(size_t npages, unsigned spanclass)
{
    pthread_mutex_lock(&mheap_.lock);
    struct mspan *f = free_find(npages);
    size_t grew = 0;
    if (f == NULL) {
        size_t before = mheap_.pages_free;
        if (mheap_grow(npages) != 0) {
            pthread_mutex_unlock(&mheap_.lock);
            return NULL;
        }
        grew = (mheap_.pages_free - before) << PAGE_SHIFT;
        f = free_find(npages);
    }
    bin_remove(f);
    uintptr_t base = f->base;
    int needzero = f->needzero;
    if (f->npages > npages) {
        /* Keep the high part free: allocation packs towards low addresses
         * and the scavenger releases from the top. */
        set_span_entry(f->base, NULL);
        f->base += npages << PAGE_SHIFT;
        f->npages -= npages;
        map_free_run(f);
        bin_insert(f);
    } else {
        atomic_store(&f->state, SPAN_DEAD);
        set_span_entry(f->base, NULL);
        set_span_entry(f->limit - PAGE_SIZE, NULL);
        fixalloc_free(&mheap_.span_alloc, f);
    }
    mheap_.pages_free -= npages;
    mheap_.pages_inuse += npages;
    mheap_.pages_released -= scavenged_update(base, npages, 0);

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
    s->limit = sizeclass == 0 ? base + (npages << PAGE_SHIFT)
                              : base + (uintptr_t)s->nelems * s->elemsize;
    size_t words = span_bitmap_words(s->nelems);
    s->alloc_bits = bits_alloc(words);
    s->gcmark_bits = bits_alloc(words);
    if (knobs.gccheckmark)
        s->checkmark_bits = bits_alloc(words);
    s->freeindex = 0;
    s->alloc_count = 0;
    span_refill_alloc_cache(s, 0);
    s->sweepgen = mheap_.sweepgen;
    atomic_store(&s->state, SPAN_IN_USE);
    for (size_t i = 0; i < npages; i++)
        set_span_entry(base + (i << PAGE_SHIFT), s);
    pthread_mutex_unlock(&mheap_.lock);
    int limited = (int64_t)atomic_load_relaxed(&gc_controller.memory_limit) != INT64_MAX;
    if (grew) {
        /* More memory held from the OS lowers a memory-limit goal, and may
         * put the heap over the scavenger's goals. */
        if (limited)
            pacer_recompute();
        scavenge_on_growth(grew);
    }
    if (limited)
        scavenge_for_limit();
    return s;
}

void mheap_free(struct mspan *s)
{
    pthread_mutex_lock(&mheap_.lock);
    size_t words = span_bitmap_words(s->nelems);
    bits_free(s->alloc_bits, words);
    bits_free(s->gcmark_bits, words);
    bits_free(s->checkmark_bits, words);
    s->alloc_bits = s->gcmark_bits = s->checkmark_bits = NULL;
    for (size_t i = 1; i + 1 < s->npages; i++)
        set_span_entry(s->base + (i << PAGE_SHIFT), NULL);
    mheap_.pages_inuse -= s->npages;
    mheap_.pages_free += s->npages;
    s->spanclass = 0;
    s->nelems = 0;
    free_insert(s, s->base, s->npages, 1);
    pthread_mutex_unlock(&mheap_.lock);
}

void mheap_read_pages(struct heap_pages *out)
{
    pthread_mutex_lock(&mheap_.lock);
    out->inuse = mheap_.pages_inuse;
    out->free = mheap_.pages_free;
    out->released = mheap_.pages_released;
    pthread_mutex_unlock(&mheap_.lock);
}

/* ---- Releasing free pages to the OS ------------------------------------- */

#define HUGE_PAGE_BYTES ((uintptr_t)2 << 20)

static int page_scavenged(uintptr_t p)
{
    size_t pi = page_index(p);
    return (arena_of(p)->scavenged[pi / 64] >> (pi % 64)) & 1;
}

/* The highest free run below c->addr that has unreleased pages in the part
 * that may be released (its range in *lo, *hi); NULL when none is left.
 * Under the heap lock. */
static struct mspan *release_candidate(struct release_cursor *c, int huge_aware, uintptr_t *lo,
                                       uintptr_t *hi)
{
    uintptr_t lo_bound = mheap_.arena_lo;
    uintptr_t p = c->addr;
    /* A run this cursor stopped inside: its interior pages map to nothing,
     * so resume from its first page, which does. */
    struct mspan *resume = c->run_base ? span_of(c->run_base) : NULL;
    if (resume && resume->base == c->run_base && resume->limit >= p && p > resume->base)
        p = resume->limit;
    else
        c->run_base = 0;
    while (p > lo_bound) {
        uintptr_t page = p - PAGE_SIZE;
        struct mspan *s = span_of(page);
        if (s == NULL) {
            p = page; /* not yet ready address space */
            continue;
        }
        p = s->base;
        if (atomic_load_relaxed(&s->state) != SPAN_FREE)
            continue;
        uintptr_t a = s->base, b = s->limit;
        if (c->run_base == s->base && c->addr < b)
            b = c->addr;
        c->run_base = 0;
        if (huge_aware) {
            /* Only whole huge pages: releasing part of one would split a
             * huge page whose other part is in use. */
            a = (a + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
            b &= ~(HUGE_PAGE_BYTES - 1);
            if (a >= b)
                continue;
        }
        for (uintptr_t q = b; q > a; q -= PAGE_SIZE) {
            if (!page_scavenged(q - PAGE_SIZE)) {
                c->addr = p;
                *lo = a;
                *hi = q;
                return s;
            }
        }
    }
    c->addr = lo_bound;
    return NULL;
}

size_t mheap_release(struct release_cursor *cursor, size_t max_pages, int huge_aware,
                     int use_free)
{
    uintptr_t lo, hi;
    pthread_mutex_lock(&mheap_.lock);
    if (cursor->addr == 0 || cursor->addr > mheap_.arena_hi) {
        cursor->addr = mheap_.arena_hi;
        cursor->run_base = 0;
    }
    struct mspan *f = release_candidate(cursor, huge_aware, &lo, &hi);
    if (f == NULL) {
        pthread_mutex_unlock(&mheap_.lock);
        return 0;
    }
    /* Take the run out of the heap so nobody allocates it while its pages
     * are being released; the lock is not held across the madvise calls. */
    bin_remove(f);
    atomic_store(&f->state, SPAN_RELEASING);
    pthread_mutex_unlock(&mheap_.lock);

    /* Release from the top, at most max_pages unreleased pages, in one
     * madvise call over the whole stretch, released pages included: on
     * the machines measured a call costs far more than the pages it
     * covers, so one call over a stretch that is partly released already
     * is much cheaper than one call per unreleased piece. Only this thread
     * changes the bits of a run being released. */
    size_t n = 0;
    uintptr_t stop = hi;
    for (uintptr_t q = hi; q > lo && n < max_pages; q -= PAGE_SIZE) {
        if (!page_scavenged(q - PAGE_SIZE))
            n++;
        stop = q - PAGE_SIZE;
    }
    sys_unused((void *)stop, hi - stop, use_free);

    pthread_mutex_lock(&mheap_.lock);
    size_t changed = scavenged_update(stop, (hi - stop) >> PAGE_SHIFT, 1);
    mheap_.pages_released += changed;
    int needzero = f->needzero;
    if (!use_free && stop == f->base && hi == f->limit)
        needzero = 0; /* every page reads back as zero now */
    if (stop > lo) {
        /* More of this run is left for the next call. */
        cursor->addr = stop;
        cursor->run_base = f->base;
    }
    free_insert(f, f->base, f->npages, needzero);
    pthread_mutex_unlock(&mheap_.lock);
    return changed;
}
