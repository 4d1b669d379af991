/*
 * Allocation: gc_alloc and gc_alloc_noscan.
 *
 * Small objects (up to 32 KiB) come from the thread's cached span of their
 * span class: the fast path takes the next free slot with a count-trailing-
 * zeros and touches no shared memory. When the span is full the thread
 * refills from the central list (cache.c), which is also where a cycle is
 * triggered. Large objects get a span of their own from the page heap.
 *
 * Memory is returned zeroed: spans carved from fresh pages are known to be
 * zero (needzero == 0) and are not cleared again; a span that has held
 * objects is cleared object by object as it is reused.
 *
 * While a cycle marks, new objects are allocated black (their mark bit set),
 * so they survive the cycle that saw them born. Small objects are black by
 * span: their slots were marked when their span was cached (cache.h), so
 * the fast path marks nothing, and the thread's assist debt is charged with
 * the span's free bytes at that moment (charge_refill), not per object.
 * The fast path only tests the debt (assist_debt). Large objects are
 * marked one by one (allocate_black).
 *
 * The heap profiler samples in the slow paths only (mprof.h): it keeps the
 * fast path from taking the allocation to be sampled, by holding free slots
 * out of the cached span's window.
 */
#include "cache.h"
#include "central.h"
#include "gc.h"
#include "heap.h"
#include "mark.h"
#include "mprof.h"
#include "pacer.h"
#include "knobs.h"
#include "platform.h"
#include "prefault.h"
#include "scavenge.h"
#include "stats.h"
#include "sweep.h"
#include "threads.h"
#include "types.h"
#include "worker.h"

#include <emmintrin.h>
#include <sched.h>
#include <string.h>
#include <tricolor.h>

/* Above this a size is refused outright: no address space could hold it. */
#define MAX_ALLOC ((size_t)1 << 46)

static void (*oom_handler)(size_t);

void malloc_set_oom_handler(void (*handler)(size_t))
{
    oom_handler = handler;
}

__attribute__((noreturn, cold)) static void out_of_memory(size_t size)
{
    if (oom_handler)
        oom_handler(size);
    fatal("out of memory: cannot allocate %zu bytes", size);
}

/* The policy that follows a span allocation from the page heap. The heap
 * reports what it did (heap.h) and calls none of this itself: the pacer and
 * the scavenger hear of growth, the prefaulter of a short lead. */
static void after_span_alloc(const struct heap_alloc *ha)
{
    if (prefault_on())
        prefault_after_alloc(ha->after.free - ha->after.released, ha->after.inuse,
                             scavenge_headroom(&ha->after));
    int limited = (int64_t)atomic_load_relaxed(&pacer.memory_limit) != INT64_MAX;
    if (ha->grew) {
        /* More memory held from the OS lowers a memory-limit goal, and may
         * put the heap over the scavenger's goals. */
        if (limited)
            pacer_recompute();
        scavenge_on_growth(ha->grew);
    }
    if (limited)
        scavenge_for_limit();
}

/* With the prefaulter on, a span of at most PREFAULT_WAIT_PAGES that would
 * fault is refused once (ha.cold): the thread waits for the stretch being
 * faulted in, if any, and asks again (prefault.h). */
static int resident_only(size_t npages)
{
    return knobs.prefault && !mheap_.huge_ahead && npages <= PREFAULT_WAIT_PAGES;
}

/* mcache_refill (typed: mcache_refill_typed for type), and what follows
 * it. */
static struct mspan *refill(struct mthread *t, unsigned spc, size_t size, int typed, uint32_t type)
{
    struct heap_alloc ha = {
        .resident_only = resident_only(class_to_npages[span_class_size(spc)]),
        .wait_word = prefault_progress_word(),
    };
    struct mspan *s = typed ? mcache_refill_typed(&t->mcache, spc, type, &ha)
                            : mcache_refill(&t->mcache, spc, &ha);
    if (s == NULL && ha.cold) {
        prefault_wait(ha.wait_seen);
        ha = (struct heap_alloc){0};
        s = typed ? mcache_refill_typed(&t->mcache, spc, type, &ha)
                  : mcache_refill(&t->mcache, spc, &ha);
    }
    if (s == NULL)
        out_of_memory(size);
    if (ha.from_heap)
        after_span_alloc(&ha);
    return s;
}

/* Clears a reused small object. Sizes are 8 or multiples of 16 (no object
 * of 24 bytes is allocated: sizeclasses.c), and objects of a multiple of 16
 * bytes are 16-byte aligned: up to 64 bytes, two or four aligned 16-byte
 * stores that may overlap, and no loop; up to 256, a loop of them; above,
 * memset. */
static inline void zero_object(uintptr_t p, size_t n)
{
    __m128i z = _mm_setzero_si128();
    if (__builtin_expect(n <= 64, 1)) {
        if (n == 8) {
            *(uint64_t *)p = 0;
            return;
        }
        _mm_store_si128((__m128i *)p, z);
        _mm_store_si128((__m128i *)(p + n - 16), z);
        if (n > 32) {
            _mm_store_si128((__m128i *)(p + 16), z);
            _mm_store_si128((__m128i *)(p + n - 32), z);
        }
        return;
    }
    if (n > 256) {
        memset((void *)p, 0, n);
        return;
    }
    for (size_t off = 0; off < n; off += 16)
        _mm_store_si128((__m128i *)(p + off), z);
}

/* A span cached while marking came blackened (cache.h): the thread owes
 * assist work for all its free bytes at once, as if it had allocated them.
 * Its next allocation, once the object is taken and cleared, pays
 * (assist_debt). Were the span to be given back before it is full, the
 * slots left would have been charged for nothing; only a cycle's end or
 * the thread's unregistering does that, and both drop the debt anyway. */
static inline void charge_refill(struct mthread *t, const struct mspan *s)
{
    if (s->alloc_black)
        t->assist_bytes -= (int64_t)(s->nelems - s->alloc_count) * (int64_t)s->elemsize;
}

/* The slow half of mallocgc; clears the object itself (mallocgc has not
 * the span at hand: the cache may have been flushed meanwhile, by a stop
 * during mprof_sample's stoppable unwinding). */
static __attribute__((noinline)) uintptr_t next_free(struct mthread *t, unsigned spc, size_t size)
{
    struct mspan *s = t->mcache.alloc[spc];
    int profiling = mprof_slow_path_active(&t->mcache.prof, spc);
    if (profiling)
        mprof_unarm(&t->mcache.prof, spc, s);
    unsigned idx = span_next_free_index(s);
    if (idx >= s->nelems) {
        cycle_wait_for_start(t);
        s = refill(t, spc, size, 0, 0);
        charge_refill(t, s);
        idx = span_next_free_index(s);
        if (pacer_should_trigger())
            cycle_trigger();
    }
    s->alloc_count++;
    uintptr_t p = s->base + (uintptr_t)idx * s->elemsize;
    if (s->needzero)
        zero_object(p, s->elemsize);
    if (profiling && mprof_count_slow(&t->mcache.prof, spc, s))
        mprof_sample(t, s, p, (uintptr_t)__builtin_return_address(0));
    return p;
}

/* The fast path found the thread in assist debt (charge_refill): it pays
 * while marking. Out of a cycle the debt is stale (a cycle ended before it
 * was paid; the next one starts from 0, mark_sched_reset): dropped. */
static __attribute__((noinline)) void assist_debt(struct mthread *t)
{
    if (atomic_load_relaxed(&cycle_phase) == PHASE_MARK)
        mark_assist(t);
    else
        t->assist_bytes = 0;
}

/* A large object while marking: it is black, and its bytes are charged to
 * the thread's assist balance. */
static __attribute__((noinline)) void allocate_black(struct mthread *t, struct mspan *s,
                                                     uintptr_t p)
{
    mark_new_object(s, p, &t->gcw);
    t->assist_bytes -= (int64_t)s->elemsize;
    if (t->assist_bytes < 0 && atomic_load_relaxed(&cycle_phase) == PHASE_MARK)
        mark_assist(t);
}

static __attribute__((noinline)) void *alloc_large(struct mthread *t, size_t size, int noscan,
                                                   uint32_t type)
{
    if (size > MAX_ALLOC)
        out_of_memory(size);
    cycle_wait_for_start(t);
    size_t npages = (size + PAGE_SIZE - 1) >> PAGE_SHIFT;
    unsigned spc = make_span_class(0, noscan);
    sweep_deduct_credit(pacer_heap_live(), npages * PAGE_SIZE);
    struct heap_alloc ha = {
        .resident_only = resident_only(npages),
        .wait_word = prefault_progress_word(),
    };
    struct mspan *s = mheap_alloc(npages, spc, &ha);
    if (s == NULL && ha.cold) {
        prefault_wait(ha.wait_seen);
        ha = (struct heap_alloc){0};
        s = mheap_alloc(npages, spc, &ha);
    }
    if (s == NULL)
        out_of_memory(size);
    after_span_alloc(&ha);
    s->typed_scan_mask = 0;      /* larger than any mask covers (span.h) */
    s->type_id = (uint16_t)type; /* before any marker can see the object */
    s->freeindex = 1;
    s->alloc_count = 1;
    if (s->needzero)
        memset((void *)s->base, 0, s->elemsize);
    pacer_heap_live_add((int64_t)s->elemsize);
    atomic_xadd(&heap_stats.large_alloc_count, 1);
    atomic_xadd(&heap_stats.large_alloc_bytes, s->elemsize);
    /* On the central list the sweeper finds it. It must get there before
     * allocate_black, whose assist may wait in a blocking region, where a
     * cycle can end and advance sweepgen past a span on no list. */
    mcentral_push_swept(&mcentral_[spc], s);
    /* The object is the caller's only once returned; until then only this
     * frame holds it, and s (a span descriptor, outside the heap) does not
     * keep it alive. The assist below may wait in a blocking region while
     * whole cycles run (every thread in a region is scanned without being
     * stopped): the address stays in a stack slot of this frame, where the
     * scan finds it, and is never recomputed from s. */
    void *volatile obj = (void *)s->base;
    if (atomic_load_relaxed(&cycle_phase) != PHASE_OFF)
        allocate_black(t, s, (uintptr_t)obj);
    if (mprof_count_large(&t->mcache.prof, s->elemsize))
        mprof_sample(t, s, (uintptr_t)obj, (uintptr_t)__builtin_return_address(0));
    if (pacer_should_trigger())
        cycle_trigger();
    return obj;
}

/* Always inlined: the heap profiler finds gc_alloc's caller one frame above
 * next_free and alloc_large. */
static inline __attribute__((always_inline)) void *mallocgc(struct mthread *t, size_t size,
                                                            int noscan)
{
    if (__builtin_expect(size > MAX_SMALL_SIZE, 0))
        return alloc_large(t, size, noscan, 0);
    unsigned spc = make_span_class(size_to_class(size), noscan);
    struct mspan *s = t->mcache.alloc[spc];
    uintptr_t p = mspan_next_free_fast(s);
    if (__builtin_expect(p != 0, 1)) {
        if (s->needzero)
            zero_object(p, s->elemsize);
    } else {
        p = next_free(t, spc, size); /* cleared there */
    }
    if (__builtin_expect(t->assist_bytes < 0, 0))
        assist_debt(t); /* p is black already (cache.h) */
    return (void *)p;
}

void *gc_alloc(size_t size)
{
    struct mthread *t = enter_runtime("gc_alloc");
    void *p = mallocgc(t, size, 0);
    exit_runtime(t);
    return p;
}

void *gc_alloc_noscan(size_t size)
{
    struct mthread *t = enter_runtime("gc_alloc_noscan");
    void *p = mallocgc(t, size, 1);
    exit_runtime(t);
    return p;
}

/* ---- Typed allocation (types.h) ------------------------------------------ */

/* The slow half of mallocgc_typed: the thread's typed span of class spc is
 * full, of another type, MIXED, or none. Clears the object, as next_free. */
static __attribute__((noinline)) uintptr_t next_free_typed(struct mthread *t, unsigned spc,
                                                           uint32_t type, size_t size)
{
    struct mspan *s = t->mcache.typed[spc];
    unsigned idx = span_next_free_index(s);
    if (idx >= s->nelems) {
        cycle_wait_for_start(t);
        s = refill(t, spc, size, 1, type);
        charge_refill(t, s);
        idx = span_next_free_index(s);
        if (pacer_should_trigger())
            cycle_trigger();
    }
    /* A span of another type takes this one too: it becomes MIXED (slot
     * idx, taken, counts as of the old type until set just below). */
    if (s->type_id != type)
        span_types_adopt(s, type);
    if (s->type_id == SPAN_TYPE_MIXED)
        span_types_set(s, idx, type);
    s->alloc_count++;
    uintptr_t p = s->base + (uintptr_t)idx * s->elemsize;
    if (s->needzero)
        zero_object(p, s->elemsize);
    return p;
}

/* mallocgc for a typed object of span class spc. The fast path is
 * mallocgc's, taken when the thread's typed span for the class holds
 * exactly this type. Not sampled by the heap profiler. */
static inline __attribute__((always_inline)) void *mallocgc_typed(struct mthread *t, unsigned spc,
                                                                  uint32_t type, size_t size)
{
    struct mspan *s = t->mcache.typed[spc];
    uintptr_t p = 0;
    if (__builtin_expect(s->type_id == type, 1))
        p = mspan_next_free_fast(s);
    if (__builtin_expect(p != 0, 1)) {
        if (s->needzero)
            zero_object(p, s->elemsize);
    } else {
        p = next_free_typed(t, spc, type, size); /* cleared there */
    }
    if (__builtin_expect(t->assist_bytes < 0, 0))
        assist_debt(t); /* p is black already (cache.h) */
    return (void *)p;
}

/* The type, checked against the size; aborts naming the call on misuse. */
static __attribute__((noinline, cold, noreturn)) void typed_misuse(const char *call, uint32_t type,
                                                                   size_t size)
{
    const struct type_info *ti = types_lookup(type);
    if (ti == NULL)
        fatal("%s(%u, %zu): %u is not a registered type id (gc_register_type)", call, type, size,
              type);
    if (!types_size_ok(ti, size))
        fatal("%s(%u, %zu): the size is not a multiple of type %s's %zu bytes (its ptrmap_words "
              "words)",
              call, type, size, ti->name, ti->ptrmap_words * 8);
    fatal("%s(%u, %zu): misuse", call, type, size);
}

/* gc_alloc_typed when the thread's memo does not know (type, size): the
 * checks, the memo entry (small sizes of types without RESCAN), a large
 * object, or a RESCAN object recorded in the rescan set. */
static __attribute__((noinline)) void *alloc_typed_slow(struct mthread *t, uint32_t type,
                                                        size_t size)
{
    const struct type_info *ti = types_lookup(type);
    if (__builtin_expect(ti == NULL || !types_size_ok(ti, size), 0))
        typed_misuse("gc_alloc_typed", type, size);
    void *p;
    if (size > MAX_SMALL_SIZE) {
        p = alloc_large(t, size, ti->noscan, type);
    } else {
        unsigned spc = make_span_class(size_to_class(size), ti->noscan);
        if (!(ti->flags & TYPE_FLAG_RESCAN))
            t->mcache.typed_memo[type % TYPED_MEMO_ENTRIES] =
                (struct typed_memo){.type = type, .spc = spc, .size = size};
        p = mallocgc_typed(t, spc, type, size);
    }
    if (ti->flags & TYPE_FLAG_RESCAN)
        types_rescan_add((uintptr_t)p);
    return p;
}

/* The fast path is one lookup in the thread's memo (cache.h), then
 * mallocgc's: fewer instructions than gc_alloc, which computes the size
 * class. */
void *gc_alloc_typed(uint32_t type, size_t size)
{
    struct mthread *t = enter_runtime("gc_alloc_typed");
    const struct typed_memo *m = &t->mcache.typed_memo[type % TYPED_MEMO_ENTRIES];
    void *p;
    if (__builtin_expect(m->type == type && m->size == size, 1))
        p = mallocgc_typed(t, m->spc, type, size);
    else
        p = alloc_typed_slow(t, type, size);
    exit_runtime(t);
    return p;
}

/* find_object for callers that may run while spans are being swept (the
 * collector itself only looks objects up while marking, when no sweep
 * runs). A span's sweepgen is odd while it is being swept: wait that out,
 * and retry if a sweep started or ended during the lookup, as a seqlock
 * reader does. */
static uintptr_t find_object_stable(uintptr_t p, size_t *size)
{
    for (;;) {
        struct mspan *s = span_of_heap(p);
        if (s == NULL)
            return 0;
        AO_t sg = atomic_load(&s->sweepgen);
        if (sg & 1) {
            sched_yield();
            continue;
        }
        struct mspan *s2;
        unsigned idx;
        uintptr_t base = find_object(p, &s2, &idx);
        size_t n = base ? s2->elemsize : 0;
        atomic_fence();
        if (atomic_load(&s->sweepgen) == sg && span_of_heap(p) == s) {
            *size = n;
            return base;
        }
    }
}

void *gc_realloc(void *p, size_t size)
{
    if (p == NULL)
        return gc_alloc(size);
    struct mthread *t = enter_runtime("gc_realloc");
    size_t old = 0;
    uintptr_t base = find_object_stable((uintptr_t)p, &old);
    struct mspan *s = base == (uintptr_t)p ? span_of_heap(base) : NULL;
    int noscan = s != NULL && span_class_noscan(s->spanclass);
    uint32_t type = s != NULL ? span_object_type(s, span_object_index(s, base)) : 0;
    exit_runtime(t);
    if (base != (uintptr_t)p) {
        runtime_warn("gc_realloc(%p, %zu): %p is not the start of a heap object; returning NULL", p,
                     size, p);
        return NULL;
    }
    if (size <= old)
        return p; /* the object's size class already holds it */
    void *q;
    if (type) {
        const struct type_info *ti = types_lookup(type);
        if (!types_size_ok(ti, size)) {
            runtime_warn("gc_realloc(%p, %zu): the size is not a multiple of type %s's %zu "
                         "bytes; returning NULL",
                         p, size, ti->name, ti->ptrmap_words * 8);
            return NULL;
        }
        q = gc_alloc_typed(type, size);
    } else {
        q = noscan ? gc_alloc_noscan(size) : gc_alloc(size);
    }
    if (noscan)
        memcpy(q, p, old);
    else
        gc_memmove(q, p, old);
    return q;
}

void *gc_base(const void *p)
{
    size_t size;
    return (void *)find_object_stable((uintptr_t)p, &size);
}

/* Lock-free, as gc_base. */
uint32_t gc_type_of(const void *p)
{
    size_t size;
    uintptr_t base = find_object_stable((uintptr_t)p, &size);
    uint32_t type = 0;
    if (base) {
        struct mspan *s = span_of_heap(base);
        type = s ? span_object_type(s, span_object_index(s, base)) : 0;
    }
    return type;
}

size_t gc_size(const void *p)
{
    size_t size;
    return find_object_stable((uintptr_t)p, &size) ? size : 0;
}
