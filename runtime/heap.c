/*
 * The page heap. See heap.h for the design and its invariants.
 */
#include "heap.h"

#include "env.h"
#include "pacer.h"
#include "platform.h"
#include "prefault.h"
#include "scavenge.h"

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

#define CHUNK_BYTES ((uintptr_t)CHUNK_PAGES << PAGE_SHIFT)

static inline size_t chunk_index(uintptr_t p)
{
    return page_index(p) / CHUNK_PAGES;
}

static void set_span_entry(uintptr_t page_addr, struct mspan *s)
{
    atomic_store((volatile AO_t *)&arena_of(page_addr)->spans[page_index(page_addr)], (AO_t)s);
}

void mheap_init(void)
{
    rlock_init(&mheap_.lock, "the heap lock", RANK_HEAP);
    /* The arena index covers the whole user address space; only the pages
     * of it that index real arenas are ever touched. */
    mheap_.arenas = sys_alloc(ARENA_INDEX_COUNT * sizeof(struct heap_arena *));
    if (mheap_.arenas == NULL)
        fatal("cannot reserve the arena index");
    mheap_.arena_bases = sys_alloc(ARENA_INDEX_COUNT * sizeof(uintptr_t));
    if (mheap_.arena_bases == NULL)
        fatal("cannot reserve the arena list");
    mheap_.hint = ARENA_HINT;
    mheap_.huge_pages = !knobs.disablethp && sys_thp_mode() != THP_NEVER;
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

/* ---- Page bitmaps ------------------------------------------------------ */

enum bits_op { BITS_SET, BITS_CLEAR, BITS_COUNT };

/* Sets, clears or counts the `which` bits of npages pages from base, which
 * may cross into the next arena if it is adjacent. Returns how many bits
 * changed (set, clear) or are set (count). */
static size_t page_bits(enum page_bitmap which, enum bits_op op, uintptr_t base, size_t npages)
{
    size_t n = 0;
    while (npages > 0) {
        size_t pi = page_index(base), bit = pi % 64;
        size_t k = 64 - bit < npages ? 64 - bit : npages;
        uint64_t mask = (k == 64 ? ~0ull : (1ull << k) - 1) << bit;
        uint64_t *w = &arena_of(base)->bits[which][pi / 64];
        uint64_t old = *w;
        if (op == BITS_SET)
            *w = old | mask;
        else if (op == BITS_CLEAR)
            *w = old & ~mask;
        n += (size_t)__builtin_popcountll(op == BITS_COUNT ? old & mask : old ^ *w);
        base += k << PAGE_SHIFT;
        npages -= k;
    }
    return n;
}

/* The first index at or after from, below nbits, whose bit in w is value;
 * nbits if there is none. */
static size_t next_bit(const uint64_t *w, size_t nbits, size_t from, int value)
{
    while (from < nbits) {
        uint64_t x = value ? w[from / 64] : ~w[from / 64];
        x &= ~0ull << (from % 64);
        if (x) {
            size_t r = from / 64 * 64 + (size_t)__builtin_ctzll(x);
            return r < nbits ? r : nbits;
        }
        from = (from / 64 + 1) * 64;
    }
    return nbits;
}

static const uint64_t *chunk_taken_bits(const struct heap_arena *a, size_t chunk)
{
    return &a->bits[PAGES_TAKEN][chunk * (CHUNK_PAGES / 64)];
}

/* Recomputes the summary of one chunk from its taken bits. */
static void chunk_summarize(struct heap_arena *a, size_t chunk)
{
    const uint64_t *w = chunk_taken_bits(a, chunk);
    struct chunk_summary sum = {0, 0, 0};
    size_t p = 0;
    while (p < CHUNK_PAGES) {
        size_t z = next_bit(w, CHUNK_PAGES, p, 0);
        if (z == CHUNK_PAGES)
            break;
        size_t o = next_bit(w, CHUNK_PAGES, z, 1);
        if (z == 0)
            sum.start = (uint16_t)o;
        if (o == CHUNK_PAGES)
            sum.end = (uint16_t)(o - z);
        if (o - z > sum.max)
            sum.max = (uint16_t)(o - z);
        p = o;
    }
    a->summary[chunk] = sum;
}

/* Marks npages pages from base taken (set) or free, and brings the chunk
 * summaries and search_addr up to date. */
static void pages_take(uintptr_t base, size_t npages, int take)
{
    page_bits(PAGES_TAKEN, take ? BITS_SET : BITS_CLEAR, base, npages);
    uintptr_t last = base + ((npages - 1) << PAGE_SHIFT);
    for (uintptr_t c = base & ~(CHUNK_BYTES - 1); c <= last; c += CHUNK_BYTES)
        chunk_summarize(arena_of(c), chunk_index(c));
    if (!take && base < mheap_.search_addr)
        mheap_.search_addr = base;
}

/* The position in arena_bases of the arena containing p, or of the first
 * arena above it; narenas if there is none. */
static size_t arena_position(uintptr_t p)
{
    size_t lo = 0, hi = mheap_.narenas;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (mheap_.arena_bases[mid] + ARENA_BYTES <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The lowest run of npages free pages, or 0 when there is none; moves
 * search_addr up to the first free page. Under the lock. */
static uintptr_t pages_find(size_t npages)
{
    size_t run = 0; /* free pages just below chunk c, contiguous */
    uintptr_t run_base = 0, prev_end = 0;
    int seen_free = 0;
    for (size_t i = arena_position(mheap_.search_addr); i < mheap_.narenas; i++) {
        uintptr_t ab = mheap_.arena_bases[i];
        struct heap_arena *a = arena_of(ab);
        if (ab != prev_end)
            run = 0; /* not adjacent to the arena before */
        prev_end = ab + ARENA_BYTES;
        size_t first = ab < mheap_.search_addr ? chunk_index(mheap_.search_addr) : 0;
        for (size_t ci = first; ci < CHUNKS_PER_ARENA; ci++) {
            uintptr_t c = ab + ci * CHUNK_BYTES;
            struct chunk_summary sum = a->summary[ci];
            if (sum.max == 0) {
                run = 0;
                continue;
            }
            const uint64_t *w = chunk_taken_bits(a, ci);
            if (!seen_free) {
                mheap_.search_addr = c + (next_bit(w, CHUNK_PAGES, 0, 0) << PAGE_SHIFT);
                seen_free = 1;
            }
            if (run > 0 && run + sum.start >= npages)
                return run_base;
            if (sum.max >= npages) {
                for (size_t p = 0;;) {
                    size_t z = next_bit(w, CHUNK_PAGES, p, 0);
                    size_t o = next_bit(w, CHUNK_PAGES, z, 1);
                    if (o - z >= npages)
                        return c + (z << PAGE_SHIFT);
                    p = o;
                }
            }
            if (sum.start == CHUNK_PAGES) {
                if (run == 0)
                    run_base = c;
                run += CHUNK_PAGES;
            } else {
                run = sum.end;
                run_base = c + ((uintptr_t)(CHUNK_PAGES - sum.end) << PAGE_SHIFT);
            }
        }
    }
    if (!seen_free)
        mheap_.search_addr = atomic_load_relaxed(&mheap_.arena_hi);
    return 0;
}

int mheap_free_run(uintptr_t p, uintptr_t *base, size_t *npages)
{
    rlock_acquire(&mheap_.lock);
    p &= ~(uintptr_t)(PAGE_SIZE - 1);
    int found =
        span_of(p) == NULL && arena_of(p) != NULL && !page_bits(PAGES_TAKEN, BITS_COUNT, p, 1);
    if (found) {
        uintptr_t lo = p, hi = p + PAGE_SIZE;
        while (arena_of(lo - PAGE_SIZE) && !page_bits(PAGES_TAKEN, BITS_COUNT, lo - PAGE_SIZE, 1))
            lo -= PAGE_SIZE;
        while (arena_of(hi) && !page_bits(PAGES_TAKEN, BITS_COUNT, hi, 1))
            hi += PAGE_SIZE;
        *base = lo;
        *npages = (hi - lo) >> PAGE_SHIFT;
    }
    rlock_release(&mheap_.lock);
    return found;
}

/* Adds npages new, ready pages from base to the free pages, as released. */
static void pages_grow(uintptr_t base, size_t npages)
{
    mheap_.pages_free += npages;
    mheap_.pages_released += page_bits(PAGES_SCAVENGED, BITS_SET, base, npages);
    pages_take(base, npages, 0);
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
    if (thp == THP_MADVISE && mheap_.huge_pages)
        sys_hugepages((void *)base, n, 1);
    else if (thp == THP_ALWAYS && !mheap_.huge_pages)
        sys_hugepages((void *)base, n, 0);
    for (uintptr_t a = base; a < base + n; a += ARENA_BYTES) {
        struct heap_arena *ha =
            persistent_alloc(sizeof(struct heap_arena), 64, &metadata_stats.gc_sys);
        memset(ha->bits[PAGES_TAKEN], 0xff, sizeof ha->bits[PAGES_TAKEN]);
        atomic_store((volatile AO_t *)&mheap_.arenas[a >> ARENA_SHIFT], (AO_t)ha);
        size_t i = arena_position(a);
        memmove(&mheap_.arena_bases[i + 1], &mheap_.arena_bases[i],
                (mheap_.narenas - i) * sizeof(uintptr_t));
        mheap_.arena_bases[i] = a;
        mheap_.narenas++;
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
            if (left > 0 && sys_map((void *)mheap_.grow_next, left) == 0)
                pages_grow(mheap_.grow_next, left >> PAGE_SHIFT);
            mheap_.grow_next = r;
            mheap_.grow_end = r + n;
        }
    }
    uintptr_t base = mheap_.grow_next;
    if (sys_map((void *)base, bytes) != 0)
        return -1;
    mheap_.grow_next += bytes;
    pages_grow(base, pages);
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

/* With huge pages, touching a page of a 2 MiB-aligned range that has no
 * resident page faults in the whole range, not one page: so when a span is
 * allocated from a huge page that is wholly released, every page of that
 * huge page becomes resident, and is counted so (the free ones as free and
 * unreleased, where the scavenger sees them), not only the span's. Without
 * this, heap_released would count memory the process holds. (Should the
 * kernel fall back to small pages, the error is on the safe side: memory
 * counted as held that is not.) */
static void huge_pages_faulting(uintptr_t base, size_t npages)
{
    const size_t hp = HUGE_PAGE_BYTES >> PAGE_SHIFT;
    uintptr_t end = base + (npages << PAGE_SHIFT);
    for (uintptr_t h = base & ~(HUGE_PAGE_BYTES - 1); h < end; h += HUGE_PAGE_BYTES) {
        if (page_bits(PAGES_SCAVENGED, BITS_COUNT, h, hp) == hp)
            mheap_.pages_released -= page_bits(PAGES_SCAVENGED, BITS_CLEAR, h, hp);
    }
}

/* Whether any of npages pages from base is released: touching it would
 * fault. */
static int pages_cold(uintptr_t base, size_t npages)
{
    return page_bits(PAGES_SCAVENGED, BITS_COUNT, base, npages) != 0;
}

/* A small allocation whose first-fit run is cold (or that found none) waits
 * for the stretch the prefaulter is faulting in, once, rather than fault
 * pages in itself (prefault.h). Under the lock, which it drops while it
 * waits, so the search starts over after: the run found before may be gone.
 * Returns the run to use, 0 if there is none. */
static uintptr_t find_resident(uintptr_t base, size_t npages)
{
    if (base != 0 && !pages_cold(base, npages))
        return base;
    uint32_t seen = prefault_progress();
    rlock_release(&mheap_.lock);
    prefault_wait(seen);
    rlock_acquire(&mheap_.lock);
    return pages_find(npages);
}

struct mspan *mheap_alloc(size_t npages, unsigned spanclass)
{
    rlock_acquire(&mheap_.lock);
    uintptr_t base = pages_find(npages);
    if (knobs.prefault && npages <= PREFAULT_WAIT_PAGES)
        base = find_resident(base, npages);
    size_t grew = 0;
    if (base == 0) {
        size_t before = mheap_.pages_free;
        if (mheap_grow(npages) != 0) {
            rlock_release(&mheap_.lock);
            return NULL;
        }
        grew = (mheap_.pages_free - before) << PAGE_SHIFT;
        base = pages_find(npages);
        if (base == 0)
            fatal("the heap grew by %zu bytes but has no run of %zu free pages", grew, npages);
    }
    pages_take(base, npages, 1);
    if (base == mheap_.search_addr)
        mheap_.search_addr = base + (npages << PAGE_SHIFT);
    int needzero = page_bits(PAGES_DIRTY, BITS_CLEAR, base, npages) != 0;
    mheap_.pages_free -= npages;
    mheap_.pages_inuse += npages;
    if (mheap_.huge_pages)
        huge_pages_faulting(base, npages);
    mheap_.pages_released -= page_bits(PAGES_SCAVENGED, BITS_CLEAR, base, npages);

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
    struct heap_pages after = {mheap_.pages_inuse, mheap_.pages_free, mheap_.pages_released};
    rlock_release(&mheap_.lock);
    if (knobs.prefault)
        prefault_after_alloc(after.free - after.released, after.inuse, scavenge_headroom(&after));
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
    rlock_acquire(&mheap_.lock);
    /* Dead before its pages are unmapped: a lock-free reader that still
     * holds s (gc_base) sees it is not in use. The descriptor and bitmaps
     * go back to their fixallocs, whose memory is never unmapped. */
    atomic_store(&s->state, SPAN_DEAD);
    for (size_t i = 0; i < s->npages; i++)
        set_span_entry(s->base + (i << PAGE_SHIFT), NULL);
    page_bits(PAGES_DIRTY, BITS_SET, s->base, s->npages);
    pages_take(s->base, s->npages, 0);
    mheap_.pages_inuse -= s->npages;
    mheap_.pages_free += s->npages;
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
    out->inuse = mheap_.pages_inuse;
    out->free = mheap_.pages_free;
    out->released = mheap_.pages_released;
    rlock_release(&mheap_.lock);
}

/* ---- Releasing free pages to the OS ------------------------------------- */

static int page_taken(uintptr_t p)
{
    return page_bits(PAGES_TAKEN, BITS_COUNT, p, 1) != 0;
}

static int page_scavenged(uintptr_t p)
{
    return page_bits(PAGES_SCAVENGED, BITS_COUNT, p, 1) != 0;
}

/* Whether the page below p is ready heap memory, in the same mapping. */
static int page_below_exists(uintptr_t p)
{
    return (p & (ARENA_BYTES - 1)) != 0 || arena_of(p - 1) != NULL;
}

/* How many arenas start below limit: the ones a downward search visits. */
static size_t arenas_below(uintptr_t limit)
{
    size_t i = arena_position(limit - 1);
    if (i < mheap_.narenas && mheap_.arena_bases[i] < limit)
        i++;
    return i;
}

/* The highest free, unreleased page below limit, or 0. Under the lock. */
static uintptr_t highest_unreleased(uintptr_t limit)
{
    for (size_t i = arenas_below(limit); i-- > 0;) {
        uintptr_t ab = mheap_.arena_bases[i];
        struct heap_arena *a = arena_of(ab);
        size_t top = limit < ab + ARENA_BYTES ? (limit - ab) >> PAGE_SHIFT : PAGES_PER_ARENA;
        for (size_t w = (top + 63) / 64; w-- > 0;) {
            uint64_t m = ~(a->bits[PAGES_TAKEN][w] | a->bits[PAGES_SCAVENGED][w]);
            if (w == top / 64 && top % 64)
                m &= (1ull << (top % 64)) - 1;
            if (m)
                return ab + ((w * 64 + 63 - (size_t)__builtin_clzll(m)) << PAGE_SHIFT);
        }
    }
    return 0;
}

/* The highest whole free huge page below limit with unreleased pages, or 0. */
static uintptr_t highest_unreleased_huge(uintptr_t limit)
{
    for (size_t i = arenas_below(limit); i-- > 0;) {
        uintptr_t ab = mheap_.arena_bases[i];
        struct heap_arena *a = arena_of(ab);
        uintptr_t top = limit < ab + ARENA_BYTES ? limit : ab + ARENA_BYTES;
        for (uintptr_t h = top & ~(HUGE_PAGE_BYTES - 1); h > ab;) {
            h -= HUGE_PAGE_BYTES;
            size_t w0 = page_index(h) / 64, nw = (HUGE_PAGE_BYTES >> PAGE_SHIFT) / 64;
            uint64_t taken = 0, scav = ~0ull;
            for (size_t w = w0; w < w0 + nw; w++) {
                taken |= a->bits[PAGES_TAKEN][w];
                scav &= a->bits[PAGES_SCAVENGED][w];
            }
            if (taken == 0 && scav != ~0ull)
                return h;
        }
    }
    return 0;
}

/* The stretch to release next, below limit: [*lo, *hi), free pages ending
 * with the highest unreleased one (or whole huge pages), holding at most
 * max_pages unreleased pages. 0 when there is none. Under the lock. */
static int release_find(uintptr_t limit, size_t max_pages, int huge_aware, uintptr_t *lo,
                        uintptr_t *hi)
{
    size_t n = 0;
    if (huge_aware) {
        const size_t hp = HUGE_PAGE_BYTES >> PAGE_SHIFT;
        uintptr_t h = highest_unreleased_huge(limit);
        if (h == 0)
            return 0;
        *hi = h + HUGE_PAGE_BYTES;
        do {
            n += hp - page_bits(PAGES_SCAVENGED, BITS_COUNT, h, hp);
            *lo = h;
            h -= HUGE_PAGE_BYTES;
        } while (n < max_pages && page_below_exists(*lo) &&
                 page_bits(PAGES_TAKEN, BITS_COUNT, h, hp) == 0);
        return 1;
    }
    uintptr_t q = highest_unreleased(limit);
    if (q == 0)
        return 0;
    *hi = q + PAGE_SIZE;
    *lo = q;
    n = 1;
    while (n < max_pages && page_below_exists(*lo) && !page_taken(*lo - PAGE_SIZE)) {
        *lo -= PAGE_SIZE;
        n += !page_scavenged(*lo);
    }
    return 1;
}

size_t mheap_release(struct release_cursor *cursor, size_t max_pages, int huge_aware, int use_free)
{
    uintptr_t lo, hi;
    rlock_acquire(&mheap_.lock);
    if (cursor->addr == 0 || cursor->addr > mheap_.arena_hi)
        cursor->addr = mheap_.arena_hi;
    if (cursor->addr <= mheap_.arena_lo ||
        !release_find(cursor->addr, max_pages, huge_aware, &lo, &hi)) {
        cursor->addr = mheap_.arena_lo;
        rlock_release(&mheap_.lock);
        return 0;
    }
    /* Take the stretch out of the heap so nobody allocates it while it is
     * being released; the lock is not held across the madvise call. The
     * pages stay counted as free. */
    size_t npages = (hi - lo) >> PAGE_SHIFT;
    pages_take(lo, npages, 1);
    rlock_release(&mheap_.lock);

    /* One madvise call over the whole stretch, released pages included:
     * on the machines measured a call costs far more than the pages it
     * covers. Only this thread (the holder of the scavenger's lock)
     * changes the bits of a stretch being released. */
    sys_unused((void *)lo, hi - lo, use_free);

    rlock_acquire(&mheap_.lock);
    size_t changed = page_bits(PAGES_SCAVENGED, BITS_SET, lo, npages);
    mheap_.pages_released += changed;
    if (!use_free)
        page_bits(PAGES_DIRTY, BITS_CLEAR, lo, npages); /* reads back as zero */
    pages_take(lo, npages, 0);
    cursor->addr = lo;
    rlock_release(&mheap_.lock);
    return changed;
}

/* ---- Faulting free pages in ahead of allocation (prefault.h) ----------- */

/* The lowest free, released page at or above from, or 0. Under the lock. */
static uintptr_t lowest_free_released(uintptr_t from)
{
    for (size_t i = arena_position(from); i < mheap_.narenas; i++) {
        uintptr_t ab = mheap_.arena_bases[i];
        const struct heap_arena *a = arena_of(ab);
        size_t first = ab < from ? page_index(from) : 0;
        for (size_t w = first / 64; w < PAGES_PER_ARENA / 64; w++) {
            uint64_t m = ~a->bits[PAGES_TAKEN][w] & a->bits[PAGES_SCAVENGED][w];
            if (w == first / 64)
                m &= ~0ull << (first % 64);
            if (m)
                return ab + ((w * 64 + (size_t)__builtin_ctzll(m)) << PAGE_SHIFT);
        }
    }
    return 0;
}

size_t mheap_prefault(size_t max_pages)
{
    rlock_acquire(&mheap_.lock);
    uintptr_t lo = lowest_free_released(mheap_.search_addr);
    size_t grew = 0;
    if (lo == 0) {
        size_t before = mheap_.pages_free;
        if (mheap_grow(HUGE_PAGE_BYTES >> PAGE_SHIFT) == 0) {
            grew = mheap_.pages_free - before;
            lo = lowest_free_released(mheap_.search_addr);
        }
    }
    /* The stretch: from lo while pages are free and released, to the end of
     * lo's huge page at most. A whole free huge page is faulted whole or
     * not at all: touching any of it faults all of it in (see
     * huge_pages_faulting). */
    size_t n = 0;
    if (lo != 0) {
        uintptr_t end = (lo & ~(HUGE_PAGE_BYTES - 1)) + HUGE_PAGE_BYTES;
        for (uintptr_t p = lo; p < end && !page_taken(p) && page_scavenged(p); p += PAGE_SIZE)
            n++;
        int whole = mheap_.huge_pages && n == HUGE_PAGE_BYTES >> PAGE_SHIFT;
        if (n > max_pages)
            n = whole ? 0 : max_pages;
    }
    if (n == 0) {
        rlock_release(&mheap_.lock);
        return 0;
    }
    /* Out of the heap while it is faulted in, as a stretch being released
     * is; counted resident from now on (an undercount of heap_released
     * until the call returns, never an overcount). */
    pages_take(lo, n, 1);
    mheap_.pages_released -= page_bits(PAGES_SCAVENGED, BITS_CLEAR, lo, n);
    rlock_release(&mheap_.lock);
    if (grew && (int64_t)atomic_load_relaxed(&gc_controller.memory_limit) != INT64_MAX)
        pacer_recompute();

    sys_populate((void *)lo, n << PAGE_SHIFT);

    rlock_acquire(&mheap_.lock);
    pages_take(lo, n, 0);
    rlock_release(&mheap_.lock);
    return n;
}
