/*
 * Span bitmap operations. See span.h for the allocation-state invariant.
 */
#include "span.h"

unsigned span_next_free_index(struct mspan *s)
{
    unsigned idx = s->freeindex;
    unsigned nelems = s->nelems;
    if (idx >= nelems)
        return nelems;
    uint64_t cache = s->alloc_cache;
    if (cache == 0 && idx % 64 == 0) {
        /* The fast path took the last slot of the window before (span.h):
         * this one is not loaded yet. (If it was, and is full, it is loaded
         * again for nothing.) */
        span_refill_alloc_cache(s, idx / 64);
        cache = s->alloc_cache;
    }
    while (cache == 0) {
        /* The window is exhausted: move to the next 64-slot word. */
        idx = (idx + 64) & ~63u;
        if (idx >= nelems) {
            s->freeindex = (uint16_t)nelems;
            return nelems;
        }
        span_refill_alloc_cache(s, idx / 64);
        cache = s->alloc_cache;
    }
    unsigned bit = (unsigned)__builtin_ctzll(cache);
    unsigned result = idx + bit;
    if (result >= nelems) {
        s->freeindex = (uint16_t)nelems;
        return nelems;
    }
    s->alloc_cache = cache >> bit >> 1;
    idx = result + 1;
    if (idx % 64 == 0 && idx != nelems)
        span_refill_alloc_cache(s, idx / 64);
    s->freeindex = (uint16_t)idx;
    return result;
}

unsigned span_count_bits(const AO_t *bits, unsigned nelems)
{
    unsigned n = 0;
    unsigned words = nelems / 64;
    for (unsigned i = 0; i < words; i++)
        n += (unsigned)__builtin_popcountll(bits[i]);
    if (nelems % 64)
        n += (unsigned)__builtin_popcountll(bits[words] & ((1ull << (nelems % 64)) - 1));
    return n;
}
