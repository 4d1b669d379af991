/*
 * mcache: a thread's private spans, one per span class, and the
 * allocation fast path over them.
 *
 * Only the owning thread touches its mcache, with no lock and no atomic:
 * taking the next free slot is a count-trailing-zeros on the span's
 * alloc_cache and two stores. When the cached span is full the thread
 * refills from the class's mcentral. The collector flushes every mcache in
 * the mark-termination pause, when no thread is inside the allocator (see
 * threads.h), so after each cycle every span is back on a central list.
 *
 * An empty slot points to empty_mspan, a span with no free slots, so the
 * fast path needs no NULL check.
 *
 * Allocate-black by span. An object allocated while a cycle marks must be
 * black (marked) so that the cycle keeps it. Rather than set each new
 * object's mark bit with an atomic, the collector marks a cached span's
 * free slots all at once (mark_span_alloc_black, a word-wise atomic OR),
 * and the fast path does nothing. The invariant:
 *
 *   While cycle_phase != PHASE_OFF, every span in any mcache has
 *   alloc_black set and the mark bit of every free slot set. A span in no
 *   mcache has alloc_black clear, and no free slot of it is marked.
 *
 * It is kept by: sweep termination, with the world stopped, after the phase
 * becomes PHASE_MARK, blackening every cached span (mcache_alloc_black_all);
 * a refill, which blackens the span it caches when the phase is not OFF,
 * after the span is in the slot and with the thread inside the runtime, so
 * the phase cannot change before the thread is stoppable again; and every
 * uncache, which clears the marks of the slots still free
 * (mark_span_alloc_black_end). Mark termination uncaches every span
 * (mcache_release_all) with the world stopped and before the phase is OFF.
 * So when the sweeper reads the mark bits, they are exactly those of
 * objects: reached ones, and those allocated while marking. A marked free
 * slot is never taken for a live object meanwhile: it is no object to
 * find_object (span_object_allocated), so no marker looks at its bit, and
 * when freeindex passes it, it is already marked. The bytes of objects
 * allocated black are counted as marked when their span leaves the cache;
 * the thread's assist debt is charged with the free bytes of each span it
 * is given while marking (malloc.c), not per object.
 */
#ifndef TRICOLOR_CACHE_H
#define TRICOLOR_CACHE_H

#include "mprof.h"
#include "span.h"

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* One entry of a thread's typed-allocation memo (malloc.c): a type id and
 * a size that gc_alloc_typed has already checked, and their span class
 * (size class and noscan bit). Entry i is looked at only for type ids
 * equal to i modulo TYPED_MEMO_ENTRIES, so an empty one holds type i + 1,
 * which no such id matches (0 would: gc_alloc_typed(0, 0)). Only types
 * without GC_TYPE_RESCAN and small sizes are entered, so a hit needs
 * neither the registry, nor the size check, nor the flag test. The facts
 * an entry states never change (types are never changed or removed), so
 * entries are never invalidated, only replaced. */
struct typed_memo {
    uint32_t type;
    uint32_t spc;
    size_t size;
};
#define TYPED_MEMO_ENTRIES 16 /* direct-mapped by type id: a power of two */

struct mcache {
    struct mspan *alloc[NUM_SPAN_CLASSES];
    /* Spans for typed allocation (gc_alloc_typed), from the same central
     * lists: each holds one type, or is MIXED (types.h), never an untyped
     * uniform span once used; alloc[] spans are untyped or MIXED. */
    struct mspan *typed[NUM_SPAN_CLASSES];
    struct typed_memo typed_memo[TYPED_MEMO_ENTRIES];
    /* The heap profiler's countdowns, which may hold some of the cached
     * spans' free slots out of their alloc_cache (mprof.h). */
    struct mprof_cache prof;
};

extern struct mspan empty_mspan;

struct heap_alloc;

void mcache_init(struct mcache *c);
/* Replaces c's span of class spc, which is full, with one with a free slot.
 * Returns the new span, or NULL when the heap cannot grow or (ha->cold) a
 * new span would fault and ha->resident_only; *ha reports a span from the
 * page heap (heap.h). */
struct mspan *mcache_refill(struct mcache *c, unsigned spc, struct heap_alloc *ha);
/* The same for c's typed span of class spc, which takes type t. */
struct mspan *mcache_refill_typed(struct mcache *c, unsigned spc, uint32_t t,
                                  struct heap_alloc *ha);
/* Allocate-black by span for every span cached in c (the invariant above),
 * with the world stopped as marking starts; returns the bytes of their free
 * slots, the owner's assist debt. */
size_t mcache_alloc_black_all(struct mcache *c);
/* Gives every cached span back to its central list. */
void mcache_release_all(struct mcache *c);
/* Objects allocated from c's cached spans but not yet folded into
 * heap_stats (for exact reads with the world stopped). */
void mcache_unfolded_mallocs(const struct mcache *c, uint64_t nmalloc[NUM_SIZE_CLASSES]);

/* Takes the next free slot of s if the fast path can; 0 otherwise. A set
 * bit of alloc_cache is a slot below nelems (span_refill_alloc_cache), and
 * taking a window's last slot leaves alloc_cache 0, which sends the next
 * allocation to the slow path to load the next window (span.h): no bound
 * to test here. The address is a multiply (no division anywhere). */
static inline uintptr_t mspan_next_free_fast(struct mspan *s)
{
    uint64_t cache = s->alloc_cache;
    if (cache == 0)
        return 0;
    unsigned bit = (unsigned)__builtin_ctzll(cache);
    unsigned idx = s->freeindex + bit;
    s->alloc_cache = cache >> bit >> 1;
    s->freeindex = (uint16_t)(idx + 1);
    s->alloc_count++;
    return s->base + (uintptr_t)idx * s->elemsize;
}

#pragma GCC visibility pop

#endif
