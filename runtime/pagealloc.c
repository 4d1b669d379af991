/*
 * The page allocator. See pagealloc.h for the design and its invariants;
 * every function runs under the heap lock.
 */
#include "pagealloc.h"

#include "metadata.h"
#include "platform.h"

#include <string.h>

RUNTIME_STATE struct pagealloc pagealloc_;

static inline struct arena_pages *arena_of(uintptr_t p)
{
    return pagealloc_.arenas[p >> ARENA_SHIFT];
}

#define CHUNK_BYTES ((uintptr_t)CHUNK_PAGES << PAGE_SHIFT)

/* The end of the highest arena: above it no page is free. */
static uintptr_t arena_top(void)
{
    return pagealloc_.narenas ? pagealloc_.arena_bases[pagealloc_.narenas - 1] + ARENA_BYTES : 0;
}

enum bits_op { BITS_SET, BITS_CLEAR, BITS_COUNT };

static inline size_t page_index(uintptr_t p)
{
    return (p >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1);
}

static inline size_t chunk_index(uintptr_t p)
{
    return page_index(p) / CHUNK_PAGES;
}

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

static const uint64_t *chunk_taken_bits(const struct arena_pages *a, size_t chunk)
{
    return &a->bits[PAGES_TAKEN][chunk * (CHUNK_PAGES / 64)];
}

/* Recomputes the summary of one chunk from its taken bits. */
static void chunk_summarize(struct arena_pages *a, size_t chunk)
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
    if (!take && base < pagealloc_.search_addr)
        pagealloc_.search_addr = base;
}

/* The position in arena_bases of the arena containing p, or of the first
 * arena above it; narenas if there is none. */
static size_t arena_position(uintptr_t p)
{
    size_t lo = 0, hi = pagealloc_.narenas;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pagealloc_.arena_bases[mid] + ARENA_BYTES <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Moves search_addr up to the first free page on its way. */
uintptr_t pagealloc_find(size_t npages)
{
    size_t run = 0; /* free pages just below chunk c, contiguous */
    uintptr_t run_base = 0, prev_end = 0;
    int seen_free = 0;
    for (size_t i = arena_position(pagealloc_.search_addr); i < pagealloc_.narenas; i++) {
        uintptr_t ab = pagealloc_.arena_bases[i];
        struct arena_pages *a = arena_of(ab);
        if (ab != prev_end)
            run = 0; /* not adjacent to the arena before */
        prev_end = ab + ARENA_BYTES;
        size_t first = ab < pagealloc_.search_addr ? chunk_index(pagealloc_.search_addr) : 0;
        for (size_t ci = first; ci < CHUNKS_PER_ARENA; ci++) {
            uintptr_t c = ab + ci * CHUNK_BYTES;
            struct chunk_summary sum = a->summary[ci];
            if (sum.max == 0) {
                run = 0;
                continue;
            }
            const uint64_t *w = chunk_taken_bits(a, ci);
            if (!seen_free) {
                pagealloc_.search_addr = c + (next_bit(w, CHUNK_PAGES, 0, 0) << PAGE_SHIFT);
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
        pagealloc_.search_addr = arena_top();
    return 0;
}

int pagealloc_free_run(uintptr_t p, uintptr_t *base, size_t *npages)
{
    p &= ~(uintptr_t)(PAGE_SIZE - 1);
    if (arena_of(p) == NULL || page_bits(PAGES_TAKEN, BITS_COUNT, p, 1))
        return 0;
    uintptr_t lo = p, hi = p + PAGE_SIZE;
    while (arena_of(lo - PAGE_SIZE) && !page_bits(PAGES_TAKEN, BITS_COUNT, lo - PAGE_SIZE, 1))
        lo -= PAGE_SIZE;
    while (arena_of(hi) && !page_bits(PAGES_TAKEN, BITS_COUNT, hi, 1))
        hi += PAGE_SIZE;
    *base = lo;
    *npages = (hi - lo) >> PAGE_SHIFT;
    return 1;
}

void pagealloc_grow(uintptr_t base, size_t npages)
{
    pagealloc_.count.free += npages;
    pagealloc_.count.released += page_bits(PAGES_SCAVENGED, BITS_SET, base, npages);
    pages_take(base, npages, 0);
}

static uint32_t promoted_bit(uintptr_t h)
{
    return (uint32_t)1 << ((h & (ARENA_BYTES - 1)) / HUGE_PAGE_BYTES);
}

int pagealloc_promoted(uintptr_t h)
{
    return (arena_of(h)->promoted & promoted_bit(h)) != 0;
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
        if (!pagealloc_.huge_pages && !pagealloc_promoted(h))
            continue;
        if (page_bits(PAGES_SCAVENGED, BITS_COUNT, h, hp) == hp)
            pagealloc_.count.released -= page_bits(PAGES_SCAVENGED, BITS_CLEAR, h, hp);
    }
}

int pagealloc_cold(uintptr_t base, size_t npages)
{
    return page_bits(PAGES_SCAVENGED, BITS_COUNT, base, npages) != 0;
}

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
    if (i < pagealloc_.narenas && pagealloc_.arena_bases[i] < limit)
        i++;
    return i;
}

/* The highest free, unreleased page below limit, or 0. Under the lock. */
static uintptr_t highest_unreleased(uintptr_t limit)
{
    for (size_t i = arenas_below(limit); i-- > 0;) {
        uintptr_t ab = pagealloc_.arena_bases[i];
        struct arena_pages *a = arena_of(ab);
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
        uintptr_t ab = pagealloc_.arena_bases[i];
        struct arena_pages *a = arena_of(ab);
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

/* The lowest free, released page at or above from, or 0. Under the lock. */
static uintptr_t lowest_free_released(uintptr_t from)
{
    for (size_t i = arena_position(from); i < pagealloc_.narenas; i++) {
        uintptr_t ab = pagealloc_.arena_bases[i];
        const struct arena_pages *a = arena_of(ab);
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

void pagealloc_init(int huge_pages)
{
    /* The index covers the whole user address space; only the pages of it
     * that index real arenas are ever touched. */
    pagealloc_.arenas = sys_alloc(ARENA_INDEX_COUNT * sizeof(struct arena_pages *));
    pagealloc_.arena_bases = sys_alloc(ARENA_INDEX_COUNT * sizeof(uintptr_t));
    if (pagealloc_.arenas == NULL || pagealloc_.arena_bases == NULL)
        fatal("cannot reserve the page allocator's arena index");
    pagealloc_.huge_pages = huge_pages;
}

void pagealloc_add_arena(uintptr_t base)
{
    struct arena_pages *ap = persistent_alloc(sizeof *ap, 64, &metadata_stats.gc_sys);
    memset(ap->bits[PAGES_TAKEN], 0xff, sizeof ap->bits[PAGES_TAKEN]);
    pagealloc_.arenas[base >> ARENA_SHIFT] = ap;
    size_t i = arena_position(base);
    memmove(&pagealloc_.arena_bases[i + 1], &pagealloc_.arena_bases[i],
            (pagealloc_.narenas - i) * sizeof(uintptr_t));
    pagealloc_.arena_bases[i] = base;
    pagealloc_.narenas++;
}

int pagealloc_take(uintptr_t base, size_t npages)
{
    pages_take(base, npages, 1);
    if (base == pagealloc_.search_addr)
        pagealloc_.search_addr = base + (npages << PAGE_SHIFT);
    int dirty = page_bits(PAGES_DIRTY, BITS_CLEAR, base, npages) != 0;
    pagealloc_.count.free -= npages;
    pagealloc_.count.inuse += npages;
    huge_pages_faulting(base, npages);
    pagealloc_.count.released -= page_bits(PAGES_SCAVENGED, BITS_CLEAR, base, npages);
    return dirty;
}

void pagealloc_free(uintptr_t base, size_t npages)
{
    page_bits(PAGES_DIRTY, BITS_SET, base, npages);
    pages_take(base, npages, 0);
    pagealloc_.count.inuse -= npages;
    pagealloc_.count.free += npages;
}

int pagealloc_release_begin(uintptr_t limit, size_t max_pages, int huge_aware, uintptr_t *lo,
                            uintptr_t *hi)
{
    if (!release_find(limit, max_pages, huge_aware, lo, hi))
        return 0;
    pages_take(*lo, (*hi - *lo) >> PAGE_SHIFT, 1);
    return 1;
}

size_t pagealloc_release_end(uintptr_t lo, uintptr_t hi, int use_free)
{
    size_t npages = (hi - lo) >> PAGE_SHIFT;
    size_t changed = page_bits(PAGES_SCAVENGED, BITS_SET, lo, npages);
    pagealloc_.count.released += changed;
    if (!use_free)
        page_bits(PAGES_DIRTY, BITS_CLEAR, lo, npages); /* reads back as zero */
    pages_take(lo, npages, 0);
    return changed;
}

size_t pagealloc_prefault_begin(size_t max_pages, uintptr_t *lop)
{
    uintptr_t lo = lowest_free_released(pagealloc_.search_addr);
    *lop = lo;
    if (lo == 0)
        return 0;
    /* From lo while pages are free and released, to the end of lo's huge
     * page at most. A whole free huge page is faulted whole or not at all:
     * touching any of it faults all of it in (see huge_pages_faulting). */
    size_t n = 0;
    uintptr_t end = (lo & ~(HUGE_PAGE_BYTES - 1)) + HUGE_PAGE_BYTES;
    for (uintptr_t p = lo; p < end && !page_taken(p) && page_scavenged(p); p += PAGE_SIZE)
        n++;
    int whole =
        (pagealloc_.huge_pages || pagealloc_promoted(lo)) && n == HUGE_PAGE_BYTES >> PAGE_SHIFT;
    if (n > max_pages)
        n = whole ? 0 : max_pages;
    if (n == 0)
        return 0;
    /* Counted resident from now on: an undercount of released until the
     * stretch is faulted in, never an overcount. */
    pages_take(lo, n, 1);
    pagealloc_.count.released -= page_bits(PAGES_SCAVENGED, BITS_CLEAR, lo, n);
    return n;
}

int pagealloc_demote(uintptr_t h)
{
    int was = pagealloc_promoted(h);
    arena_of(h)->promoted &= ~promoted_bit(h);
    arena_of(h)->released_seen &= ~promoted_bit(h);
    return was;
}

uintptr_t pagealloc_promote_begin(uintptr_t from)
{
    const size_t hp = HUGE_PAGE_BYTES >> PAGE_SHIFT;
    from = (from + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
    for (size_t i = arena_position(from); i < pagealloc_.narenas; i++) {
        uintptr_t ab = pagealloc_.arena_bases[i];
        const struct arena_pages *a = arena_of(ab);
        if (a->promoted == (uint32_t)~0u)
            continue;
        for (uintptr_t h = ab < from ? from : ab; h < ab + ARENA_BYTES; h += HUGE_PAGE_BYTES) {
            if (a->promoted & promoted_bit(h))
                continue;
            size_t w0 = page_index(h) / 64, nw = hp / 64;
            uint64_t busy = 0;
            for (size_t w = w0; w < w0 + nw; w++)
                busy |= a->bits[PAGES_TAKEN][w] | a->bits[PAGES_SCAVENGED][w];
            if (busy == 0) {
                pages_take(h, hp, 1);
                return h;
            }
        }
    }
    return 0;
}

int pagealloc_wholly_released(uintptr_t h)
{
    const size_t hp = HUGE_PAGE_BYTES >> PAGE_SHIFT;
    return page_bits(PAGES_SCAVENGED, BITS_COUNT, h, hp) == hp;
}

int pagealloc_wholly_free(uintptr_t h)
{
    return page_bits(PAGES_TAKEN, BITS_COUNT, h, HUGE_PAGE_BYTES >> PAGE_SHIFT) == 0;
}

void pagealloc_take_range(uintptr_t h, int take)
{
    pages_take(h, HUGE_PAGE_BYTES >> PAGE_SHIFT, take);
}

uint32_t pagealloc_promoted_bits(uintptr_t arena_base)
{
    return arena_of(arena_base)->promoted;
}

int pagealloc_all_released(uintptr_t base, size_t npages)
{
    return page_bits(PAGES_SCAVENGED, BITS_COUNT, base, npages) == npages;
}

size_t pagealloc_demote_stale(uintptr_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < pagealloc_.narenas; i++) {
        uintptr_t ab = pagealloc_.arena_bases[i];
        struct arena_pages *a = arena_of(ab);
        uint32_t now = 0;
        for (uint32_t m = a->promoted; m; m &= m - 1) {
            uintptr_t h = ab + (uintptr_t)__builtin_ctz(m) * HUGE_PAGE_BYTES;
            if (pagealloc_wholly_free(h) && pagealloc_wholly_released(h))
                now |= promoted_bit(h);
        }
        uint32_t stale = now & a->released_seen;
        a->released_seen = now;
        for (; stale && n < max; stale &= stale - 1) {
            uintptr_t h = ab + (uintptr_t)__builtin_ctz(stale) * HUGE_PAGE_BYTES;
            a->promoted &= ~promoted_bit(h);
            a->released_seen &= ~promoted_bit(h);
            pages_take(h, HUGE_PAGE_BYTES >> PAGE_SHIFT, 1);
            out[n++] = h;
        }
    }
    return n;
}

void pagealloc_set_promoted(uintptr_t arena_base)
{
    arena_of(arena_base)->promoted = ~(uint32_t)0;
}

void pagealloc_promote_end(uintptr_t h)
{
    const size_t hp = HUGE_PAGE_BYTES >> PAGE_SHIFT;
    arena_of(h)->promoted |= promoted_bit(h);
    page_bits(PAGES_DIRTY, BITS_CLEAR, h, hp);
    pages_take(h, hp, 0);
}

size_t pagealloc_populate_begin(uintptr_t from, size_t max_pages)
{
    size_t n = 0;
    for (uintptr_t p = from;
         n < max_pages && arena_of(p) != NULL && !page_taken(p) && page_scavenged(p);
         p += PAGE_SIZE)
        n++;
    if (n == 0)
        return 0;
    pages_take(from, n, 1);
    pagealloc_.count.released -= page_bits(PAGES_SCAVENGED, BITS_CLEAR, from, n);
    return n;
}

void pagealloc_prefault_end(uintptr_t lo, size_t npages)
{
    pages_take(lo, npages, 0);
}
