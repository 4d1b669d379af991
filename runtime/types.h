/*
 * Typed objects: the registry of gc_type descriptions, the type of each
 * heap object, and the set of objects scanned again in the pause.
 *
 * The registry. gc_register_type validates a gc_type and copies it, its
 * name and its pointer map into metadata memory, as a struct type_info;
 * the copy is published in a fixed table of MAX_TYPES entries by a release
 * store, and its id (its index, from 1) is handed out by an atomic add.
 * Entries are never changed or removed, so a reader (a marker, gc_type_of)
 * needs only an acquire load: no lock. Id 0 means "untyped".
 *
 * The type of an object is kept per span (struct mspan, span.h):
 *
 *   type_id == 0               every object of the span is untyped
 *                              (conservative, or plain noscan);
 *   type_id == T, 0 < T < MIXED  every allocated object is of type T
 *                              (the common case: a thread's typed spans,
 *                              mcache.typed, are filled with one type);
 *   type_id == SPAN_TYPE_MIXED  each object's type is obj_types[i], a
 *                              16-bit side array; a free slot's entry is 0.
 *
 * So the marker finds an object's type with one load from the span it has
 * already looked up, and a conservative object costs it one more compare.
 * A uniform span of a ptrmap type with objects of at most 64 words also
 * carries its objects' pointer words as one 64-bit mask (typed_scan_mask,
 * set by span_types_adopt with the type, cleared before MIXED is
 * published), so scanning such an object reads no type_info at all: a
 * loop over the mask's set bits (mark.c, scan_object).
 *
 * Who changes a span's type: only the thread that owns the span (cached
 * it, or swept it), when it takes the span for allocation of one kind:
 *   - a span with no allocated object takes the kind asked for outright;
 *   - otherwise a span whose type is not that kind becomes MIXED: the side
 *     array is filled first (allocated slots: the old type; free slots: 0)
 *     and then type_id is published with a release store. A marker that
 *     read the old uniform type reads it for an object allocated before,
 *     which is of that type; one that reads MIXED finds the entries set.
 * Invariant that lets the untyped fast path (gc_alloc) write nothing: in a
 * MIXED span every free slot's entry is 0. Typed allocation into a MIXED
 * span writes the entry; the sweeper clears the entries of the objects it
 * frees (span_types_sweep); a span given back to the page heap gives its
 * side array back (span_types_release).
 *
 * The rescan set: every object of a GC_TYPE_RESCAN type is recorded when
 * allocated. Stores into such objects carry no barrier (a VM stack), so at
 * mark termination, with the world stopped, each marked one is queued to
 * be scanned again (types_rescan_marked); unmarked ones that the pause's
 * drain reaches are scanned then anyway. After the cycle's liveness is
 * final, the unmarked ones are dead and leave the set (types_prune). The
 * pause therefore grows with the bytes of live RESCAN objects.
 *
 * Lock: types_lock (RANK_TYPES) protects the rescan set and the free list
 * of side arrays. Mutators take it inside the runtime only.
 */
#ifndef TRICOLOR_TYPES_H
#define TRICOLOR_TYPES_H

#include "span.h"

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

struct gcw;

#define MAX_TYPES        4096
#define MAX_PTRMAP_WORDS ((size_t)1 << 20)
#define SPAN_TYPE_MIXED  0xffffu
#define TYPE_FLAG_RESCAN 1u
/* Objects up to this size of a span uniformly of a ptrmap type whose
 * period is at most 64 words get a typed_scan_mask (span.h). */
#define OBJECT_SCAN_MASK_BYTES (64 * sizeof(uintptr_t))

struct type_info {
    /* size % (ptrmap_words * 8) == 0, without a divide: the period is
     * odd << shift; size is a multiple iff its low shift bits are 0 and
     * (size >> shift) * odd_inverse <= multiple_limit (mod 2^64). */
    uint64_t odd_inverse, multiple_limit;
    uint64_t low_mask; /* (1 << shift) - 1 */
    unsigned shift;
    const char *name;
    const uint64_t *ptrmap; /* NULL for a trace type */
    size_t ptrmap_words;    /* the period, in words */
    uint64_t mask;          /* ptrmap[0] when ptrmap_words <= 64 */
    void (*trace)(void *obj, size_t size, void (*visit)(void **, void *), void *ctx);
    unsigned flags;
    int noscan;     /* no pointer bit at all: allocated noscan */
    int small_fast; /* a ptrmap of at most 64 words: mark.c's mask loop */
};

extern const struct type_info *volatile types_table[MAX_TYPES];

/* The type with this id, or NULL (id 0, or not registered). */
static inline const struct type_info *types_lookup(uint32_t id)
{
    if (id >= MAX_TYPES)
        return NULL;
    return __atomic_load_n(&types_table[id], __ATOMIC_ACQUIRE); /* [0] is NULL */
}

/* Is size a whole number of the ptrmap type's periods? */
static inline int types_size_ok(const struct type_info *ti, size_t size)
{
    if (size & ti->low_mask)
        return 0;
    return (uint64_t)(size >> ti->shift) * ti->odd_inverse <= ti->multiple_limit;
}

/* The type id of the allocated object idx of s (0: untyped). */
static inline uint32_t span_object_type(const struct mspan *s, unsigned idx)
{
    uint32_t t = __atomic_load_n(&s->type_id, __ATOMIC_ACQUIRE);
    if (t == SPAN_TYPE_MIXED)
        t = __atomic_load_n(&s->obj_types[idx], __ATOMIC_RELAXED);
    return t;
}

/* s, owned by the caller, is about to hand out slots of type t (0:
 * untyped): make its type say so (see the top of the file). */
void span_types_adopt(struct mspan *s, uint32_t t);
/* Typed allocation of slot idx of an owned MIXED span. */
static inline void span_types_set(struct mspan *s, unsigned idx, uint32_t t)
{
    __atomic_store_n(&s->obj_types[idx], (uint16_t)t, __ATOMIC_RELAXED);
}
/* The sweeper, before it frees the unmarked objects of a MIXED span. */
void span_types_sweep(struct mspan *s);
/* A span going back to the page heap. */
void span_types_release(struct mspan *s);

/* Records obj, just allocated, of a RESCAN type. */
void types_rescan_add(uintptr_t obj);
/* Mark termination, world stopped: queues every marked object of the set. */
void types_rescan_marked(struct gcw *w);
/* After liveness is final, world stopped: drops the unmarked ones. */
void types_prune(void);
/* Objects in the rescan set, read without the lock (for tests). */
size_t types_rescan_count(void);

#pragma GCC visibility pop

#endif
