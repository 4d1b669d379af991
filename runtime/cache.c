/*
 * Per-thread caches. See cache.h.
 */
#include "cache.h"

#include "central.h"
#include "gc.h"
#include "mark.h"
#include "pacer.h"
#include "platform.h"
#include "stats.h"
#include "sweep.h"
#include "types.h"

RUNTIME_STATE struct mspan empty_mspan;

void mcache_init(struct mcache *c)
{
    for (unsigned i = 0; i < NUM_SPAN_CLASSES; i++)
        c->alloc[i] = c->typed[i] = &empty_mspan;
    for (unsigned i = 0; i < TYPED_MEMO_ENTRIES; i++)
        c->typed_memo[i] = (struct typed_memo){.type = i + 1}; /* empty (cache.h) */
    mprof_cache_init(&c->prof);
}

/* Folds s's allocations since it was cached into the counters. */
static void fold_mallocs(struct mspan *s)
{
    unsigned n = s->alloc_count - s->alloc_count_at_cache;
    if (n)
        atomic_xadd(&heap_stats.nmalloc[span_class_size(s->spanclass)], n);
    s->alloc_count_at_cache = s->alloc_count;
}

/* The bytes of s's free slots, which heap_live counts from the moment the
 * span is cached (as if they were all allocated, Go's conservative
 * estimate) until it is given back. */
static AO_t unused_bytes(const struct mspan *s)
{
    return (AO_t)(s->nelems - s->alloc_count) * s->elemsize;
}

/* Gives back the span in *slot, if any (the heap profiler only holds slots
 * of alloc[] spans). */
static void uncache(struct mcache *c, unsigned spc, struct mspan **slot)
{
    struct mspan *s = *slot;
    if (s == &empty_mspan)
        return;
    if (slot == &c->alloc[spc])
        mprof_cache_release(&c->prof, spc, s);
    mark_span_alloc_black_end(s); /* the invariant (cache.h) */
    fold_mallocs(s);
    pacer_heap_live_add(-(int64_t)unused_bytes(s));
    mcentral_uncache_span(&mcentral_[spc], s);
    *slot = &empty_mspan;
}

/* Refills *slot with a span of class spc that takes objects of type t. */
static struct mspan *refill_slot(struct mcache *c, unsigned spc, struct mspan **slot, uint32_t t,
                                 struct heap_alloc *ha)
{
    uncache(c, spc, slot);
    unsigned sc = span_class_size(spc);
    sweep_deduct_credit(pacer_heap_live(), class_to_npages[sc] * PAGE_SIZE);
    struct mspan *s = mcentral_cache_span(&mcentral_[spc], ha);
    if (s == NULL)
        return NULL;
    if (s->type_id != t)
        span_types_adopt(s, t);
    pacer_heap_live_add((int64_t)unused_bytes(s));
    *slot = s;
    /* Cached while marking: black from now on (cache.h). The phase is read
     * after s is in the slot and the thread stays inside the runtime, so a
     * stop that changes it comes after this and sees s cached. */
    if (atomic_load_relaxed(&cycle_phase) != PHASE_OFF)
        mark_span_alloc_black(s);
    return s;
}

struct mspan *mcache_refill(struct mcache *c, unsigned spc, struct heap_alloc *ha)
{
    return refill_slot(c, spc, &c->alloc[spc], 0, ha);
}

struct mspan *mcache_refill_typed(struct mcache *c, unsigned spc, uint32_t t, struct heap_alloc *ha)
{
    return refill_slot(c, spc, &c->typed[spc], t, ha);
}

size_t mcache_alloc_black_all(struct mcache *c)
{
    size_t bytes = 0;
    for (unsigned spc = 0; spc < NUM_SPAN_CLASSES; spc++) {
        if (c->alloc[spc] != &empty_mspan)
            bytes += mark_span_alloc_black(c->alloc[spc]);
        if (c->typed[spc] != &empty_mspan)
            bytes += mark_span_alloc_black(c->typed[spc]);
    }
    return bytes;
}

void mcache_release_all(struct mcache *c)
{
    for (unsigned spc = 0; spc < NUM_SPAN_CLASSES; spc++) {
        uncache(c, spc, &c->alloc[spc]);
        uncache(c, spc, &c->typed[spc]);
    }
}

void mcache_unfolded_mallocs(const struct mcache *c, uint64_t nmalloc[NUM_SIZE_CLASSES])
{
    for (unsigned spc = 0; spc < NUM_SPAN_CLASSES; spc++) {
        const struct mspan *s = c->alloc[spc];
        if (s != &empty_mspan)
            nmalloc[span_class_size(spc)] += s->alloc_count - s->alloc_count_at_cache;
        s = c->typed[spc];
        if (s != &empty_mspan)
            nmalloc[span_class_size(spc)] += s->alloc_count - s->alloc_count_at_cache;
    }
}
