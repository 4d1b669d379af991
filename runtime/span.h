/*
 * mspan: a run of pages, and the bitmaps that say which of its objects are
 * allocated and which are marked.
 *
 * A span in use holds objects of one span class (size class x scan/noscan),
 * nelems of them, elemsize bytes each, from base up. A large object is a
 * span of class 0 with one element. A free span describes a run of free
 * pages in the page heap (heap.c).
 *
 * Allocation state (Go's scheme): an object i is allocated when
 * i < freeindex or allocBits[i] is set. The allocating thread moves
 * freeindex forward and never writes allocBits; alloc_cache is the inverted
 * 64-bit window of allocBits that starts at freeindex, so that the next free
 * slot is one count-trailing-zeros away. One exception, so that the fast
 * path need not test for the end of a window: after it takes a window's
 * last slot, freeindex is a multiple of 64 and alloc_cache is 0 though the
 * next window is not loaded; span_next_free_index loads it. allocBits only change when the span
 * is swept: the mark bits become the alloc bits (a live object is exactly a
 * marked one) and fresh zeroed mark bits take their place.
 *
 * sweepgen (Go's scheme, with the heap's sweepgen sg advancing by 2 per
 * cycle): s->sweepgen == sg-2 means the span must be swept this cycle,
 * sg-1 that it is being swept, sg that it is swept. Ownership passes by a
 * CAS from sg-2 to sg-1, so each span is swept exactly once per cycle.
 * Per-thread caches are flushed in the mark-termination pause before sg
 * advances, so tricolor never needs Go's sg+1/sg+3 "cached" states.
 *
 * Who writes what:
 *  - base, npages, spanclass, elemsize, nelems, divmagic: set under the heap
 *    lock before state is published as SPAN_IN_USE (release); markers read
 *    them after an acquire load of state.
 *  - freeindex, alloc_cache, alloc_count: the owning cache's thread while the
 *    span is cached; the sweeper or central list lock holder otherwise.
 *    Markers read freeindex racily (see mark.c for why that is safe).
 *  - gcmark_bits: any marker, by atomic OR; the bits of free slots, by the
 *    caching thread (atomic OR and AND) for allocate-black by span
 *    (cache.h).
 */
#ifndef TRICOLOR_SPAN_H
#define TRICOLOR_SPAN_H

#include "atomics.h"
#include "sizeclasses.h"

#include <stdint.h>

struct mprof_special;
struct special;

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

enum span_state {
    SPAN_DEAD = 0, /* descriptor not describing memory */
    SPAN_IN_USE,   /* holds heap objects */
};

struct mspan {
    struct mspan *next, *prev; /* links in a central list */
    int list_id;               /* which list holds it, for assertions; 0: none */

    uintptr_t base;  /* first byte */
    uintptr_t limit; /* end of the last object */
    size_t npages;
    size_t elemsize;
    uint32_t divmagic; /* see sizeclasses.h; 0 for large spans */
    uint16_t nelems;
    uint8_t spanclass;
    uint8_t needzero; /* memory may hold old data: clear objects on allocation */
    volatile AO_t state;

    /* Allocation (see the top of the file). */
    uint16_t freeindex;
    uint16_t alloc_count;
    uint16_t alloc_count_at_cache; /* for the malloc counters */
    /* Allocate-black by span (cache.h): set while the span sits in a cache
     * with its free slots marked, and alloc_count when they were; written
     * by the owning thread, or by a stopper with the world stopped. */
    uint8_t alloc_black;
    uint16_t alloc_count_at_black;
    /* The objects' type (types.h): 0 untyped, a type id, or
     * SPAN_TYPE_MIXED (then obj_types[i] per object). Written by the
     * span's owner (release), read by markers (acquire). */
    uint16_t type_id;
    uint64_t alloc_cache;
    /* A uniformly typed span whose objects are at most 64 words, of a
     * ptrmap type: bit i set iff word i of every object is a pointer slot
     * (whole elements only); 0 otherwise (untyped, MIXED, a trace type,
     * larger objects). Written by the owner before its type_id (types.h),
     * read by markers after it: scan_object's typed fast path. */
    uint64_t typed_scan_mask;
    AO_t *alloc_bits;
    AO_t *gcmark_bits;
    AO_t *checkmark_bits; /* only with GODEBUG=gccheckmark=1 */

    volatile AO_t sweepgen;

    /* The heap profiler's records of sampled objects in this span
     * (mprof.h): written under its lock, peeked at by the sweeper. */
    struct mprof_special *specials;
    /* Finalizers, cleanups and weak records of this span's objects
     * (special.h): written under specials_lock, peeked at by the sweeper. */
    struct special *object_specials;

    /* Per-object type ids of a MIXED span (types.h); NULL otherwise. */
    uint16_t *obj_types;
};

static inline size_t span_bitmap_words(unsigned nelems)
{
    return (nelems + 63) / 64;
}

static inline int bit_is_set(const AO_t *bits, unsigned i)
{
    return (bits[i / 64] >> (i % 64)) & 1;
}

/* Object index of an address inside an in-use span. */
static inline unsigned span_object_index(const struct mspan *s, uintptr_t p)
{
    if (s->divmagic == 0)
        return 0;
    return (unsigned)(((uint64_t)(p - s->base) * s->divmagic) >> 32);
}

static inline int span_is_large(const struct mspan *s)
{
    return (s->spanclass >> 1) == 0;
}

/* Refills alloc_cache from allocBits so that its bit 0 is slot
 * (freeindex rounded down to 64). Slots from nelems up have no bit: a set
 * bit is always a slot that exists, which spares the fast path a bound
 * check. */
static inline void span_refill_alloc_cache(struct mspan *s, unsigned word)
{
    uint64_t free = ~(uint64_t)s->alloc_bits[word];
    unsigned left = s->nelems - word * 64u;
    if (left < 64)
        free &= ((uint64_t)1 << left) - 1;
    s->alloc_cache = free;
}

/* The next free slot at or after freeindex, advancing freeindex past it;
 * nelems when the span is full. The slow half of the cache fast path. */
unsigned span_next_free_index(struct mspan *s);
/* Number of set bits in the first nelems bits of bits. */
unsigned span_count_bits(const AO_t *bits, unsigned nelems);
/* Is object i allocated (see the top of the file)? */
static inline int span_object_allocated(const struct mspan *s, unsigned i)
{
    return i < *(volatile const uint16_t *)&s->freeindex || bit_is_set(s->alloc_bits, i);
}

#pragma GCC visibility pop

#endif
