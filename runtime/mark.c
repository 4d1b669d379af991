/*
 * Marking. See mark.h for the colours and the queue.
 */
#include "mark.h"

#include "checkmark.h"
#include "knobs.h"
#include "heap.h"
#include "metadata.h"
#include "platform.h"
#include "types.h"

#include <limits.h>

RUNTIME_STATE struct mark_work mark_work;

void mark_init(void)
{
    rlock_init(&mark_work.lock, "mark_work.lock", RANK_WORK);
}

void mark_reset(void)
{
    mark_work.bytes_marked = 0;
    mark_work.heap_scan = mark_work.stack_scan = mark_work.globals_scan = 0;
}

void mark_reset_root_sizes(void)
{
    atomic_store(&mark_work.stack_scan, 0);
    atomic_store(&mark_work.globals_scan, 0);
}

/* ---- Waiting for grey work ------------------------------------------------
 *
 * sleep_word: bit 0 (SLEEPER) says a marker sleeps or is about to; the other
 * bits count wake-ups. Sleeper and publisher form a Dekker pair:
 *
 *   sleeper (mark_work_wait)              publisher (putfull)
 *   CAS sleep_word: w -> w | SLEEPER  (A)   xadd nfull, +1            (C)
 *   load nfull; 0: futex_wait(w|SLEEPER) (B)   load sleep_word; if SLEEPER:
 *                                            CAS it to (w + 2) & ~SLEEPER,
 *                                            futex_wake every sleeper (D)
 *
 * A and C are full barriers (LOCK-prefixed on x86; AO's _full otherwise), so
 * the load after each cannot pass the write before it: of B and D, at least
 * one sees the other side's write. If D misses SLEEPER, B sees the new
 * buffer and the marker does not sleep. If B misses the buffer, D sees
 * SLEEPER and changes the word: the marker's futex_wait then either finds
 * the word no longer w|SLEEPER and returns at once, or is asleep already
 * and is woken. So no wake-up is lost: a marker never sleeps past a
 * publish it has not seen. The publisher that clears SLEEPER wakes every
 * sleeper (few: the background workers), and the next publishers, finding
 * SLEEPER clear, pay nothing until a marker arms it again. A sleeper that
 * times out leaves SLEEPER set (clearing it could strand another sleeper on
 * the same value): the next publish then pays one useless wake, no more.
 */
#define SLEEPER 1u

static void wake_sleepers(void)
{
    for (;;) {
        uint32_t w = atomic_load32(&mark_work.sleep_word);
        if (!(w & SLEEPER))
            return; /* nobody sleeps, or another publisher woke them */
        if (AO_int_compare_and_swap_full((volatile unsigned *)&mark_work.sleep_word, w,
                                         (w + 2) & ~SLEEPER)) {
            futex_wake(&mark_work.sleep_word, INT_MAX);
            return;
        }
    }
}

/* The publisher's side, after nfull was raised (a full barrier): one load
 * when nobody sleeps. */
static inline void notify_sleepers(void)
{
    if (__builtin_expect(atomic_load32(&mark_work.sleep_word) & SLEEPER, 0))
        wake_sleepers();
}

void mark_work_wait(const volatile AO_t *stop, int64_t timeout_ns)
{
    uint32_t w = atomic_load32(&mark_work.sleep_word);
    if (!(w & SLEEPER)) {
        if (!AO_int_compare_and_swap_full((volatile unsigned *)&mark_work.sleep_word, w,
                                          w | SLEEPER))
            return; /* the word moved: a publish or a wake just happened */
    }
    /* SLEEPER already set: another sleeper's CAS was this side's A. A
     * publisher whose D comes before that CAS has its C seen by the load
     * of nfull below (ordered after the acquire load above); one whose D
     * comes after it and finds SLEEPER clear found the word changed since
     * that load, and futex_wait returns at once. (This case leans on the
     * full barriers being seen in one order by every CPU, as on x86 and
     * ARMv8.) */
    if (mark_work_available() || atomic_load(stop))
        return;
    futex_wait_timeout(&mark_work.sleep_word, w | SLEEPER, timeout_ns);
}

void mark_work_wake_all(void)
{
    /* After the caller's store to *stop: the xadd is a full barrier, so a
     * sleeper that loads the new word also sees *stop, and one that armed
     * before sleeps on a value that is no longer there. */
    atomic_xadd32(&mark_work.sleep_word, 2);
    futex_wake(&mark_work.sleep_word, INT_MAX);
}

/* ---- Work buffers -------------------------------------------------------- */

static struct workbuf *getempty(void)
{
    rlock_acquire(&mark_work.lock);
    struct workbuf *b = mark_work.empty;
    if (b)
        mark_work.empty = b->next;
    rlock_release(&mark_work.lock);
    if (b == NULL)
        b = persistent_alloc(sizeof *b, 64, &metadata_stats.gc_sys);
    b->next = NULL;
    b->nobj = 0;
    return b;
}

static void putempty(struct workbuf *b)
{
    rlock_acquire(&mark_work.lock);
    b->next = mark_work.empty;
    mark_work.empty = b;
    rlock_release(&mark_work.lock);
}

static void putfull(struct workbuf *b)
{
    rlock_acquire(&mark_work.lock);
    b->next = mark_work.full;
    mark_work.full = b;
    atomic_xadd(&mark_work.nfull, 1); /* C of the Dekker pair (below) */
    rlock_release(&mark_work.lock);
    notify_sleepers();
}

static struct workbuf *trygetfull(void)
{
    if (atomic_load_relaxed(&mark_work.nfull) == 0)
        return NULL;
    rlock_acquire(&mark_work.lock);
    struct workbuf *b = mark_work.full;
    if (b) {
        mark_work.full = b->next;
        atomic_xadd(&mark_work.nfull, (AO_t)-1);
    }
    rlock_release(&mark_work.lock);
    return b;
}

void gcw_put(struct gcw *w, uintptr_t obj)
{
    struct workbuf *b = w->wbuf1;
    if (b == NULL) {
        b = w->wbuf1 = getempty();
    } else if (b->nobj == WORKBUF_ENTRIES) {
        /* Swap with the spare; if that is full too, publish one. */
        w->wbuf1 = w->wbuf2;
        w->wbuf2 = b;
        b = w->wbuf1;
        if (b == NULL) {
            b = w->wbuf1 = getempty();
        } else if (b->nobj == WORKBUF_ENTRIES) {
            putfull(b);
            b = w->wbuf1 = getempty();
        }
    }
    b->obj[b->nobj++] = obj;
}

uintptr_t gcw_get(struct gcw *w)
{
    struct workbuf *b = w->wbuf1;
    if (b == NULL || b->nobj == 0) {
        w->wbuf1 = w->wbuf2;
        w->wbuf2 = b;
        b = w->wbuf1;
        if (b == NULL || b->nobj == 0) {
            struct workbuf *full = trygetfull();
            if (full == NULL)
                return 0;
            if (b)
                putempty(b);
            b = w->wbuf1 = full;
        }
    }
    return b->obj[--b->nobj];
}

void gcw_dispose(struct gcw *w)
{
    struct workbuf *bufs[2] = {w->wbuf1, w->wbuf2};
    for (int i = 0; i < 2; i++) {
        if (bufs[i] == NULL)
            continue;
        if (bufs[i]->nobj)
            putfull(bufs[i]);
        else
            putempty(bufs[i]);
    }
    w->wbuf1 = w->wbuf2 = NULL;
    if (w->bytes_marked)
        atomic_xadd(&mark_work.bytes_marked, w->bytes_marked);
    if (w->scan_work)
        atomic_xadd(&mark_work.heap_scan, w->scan_work);
    w->bytes_marked = w->scan_work = 0;
}

/* ---- Mark bits ------------------------------------------------------------ */

/* Sets bit i; returns 1 if this call set it, 0 if it was already set. */
static int mark_bit_try_set(AO_t *bits, unsigned i)
{
    volatile AO_t *word = &bits[i / 64];
    AO_t mask = (AO_t)1 << (i % 64);
    for (;;) {
        AO_t old = atomic_load_relaxed(word);
        if (old & mask)
            return 0;
        if (atomic_cas(word, old, old | mask))
            return 1;
    }
}

/* Where the checkmark pass found the pointer it is greying, for its report. */
static RUNTIME_STATE uintptr_t checkmark_from, checkmark_from_slot;

__attribute__((noreturn)) static void checkmark_fail(struct mspan *s, uintptr_t obj)
{
    struct mspan *from = span_of_heap(checkmark_from);
    fatal("gccheckmark: object %p (span class %u, %s, size %zu, span %p) is reachable but "
          "was not marked; found at %p in %s %p",
          (void *)obj, s->spanclass, span_class_noscan(s->spanclass) ? "noscan" : "scan",
          s->elemsize, (void *)s->base, (void *)checkmark_from_slot,
          from ? "heap object" : "root range from", (void *)checkmark_from);
}

static void greyobject(struct mspan *s, unsigned idx, uintptr_t obj, struct gcw *w)
{
    if (mark_work.checkmark) {
        if (!mark_bit_try_set(s->checkmark_bits, idx))
            return;
        if (!bit_is_set(s->gcmark_bits, idx))
            checkmark_fail(s, obj);
    } else {
        if (!mark_bit_try_set(s->gcmark_bits, idx))
            return;
        w->bytes_marked += s->elemsize;
    }
    if (!span_class_noscan(s->spanclass))
        gcw_put(w, obj);
}

static inline __attribute__((always_inline)) void grey_pointer_inline(uintptr_t p, struct gcw *w)
{
    struct mspan *s;
    unsigned idx;
    uintptr_t obj = find_object(p, &s, &idx);
    if (obj)
        greyobject(s, idx, obj, w);
}

void grey_pointer(uintptr_t p, struct gcw *w)
{
    grey_pointer_inline(p, w);
}

struct workbuf *workbuf_get(void)
{
    return getempty();
}

void workbuf_put(struct workbuf *b)
{
    putempty(b);
}

int mark_shade_or_marked(uintptr_t obj, struct gcw *w)
{
    struct mspan *s = NULL;
    unsigned idx = 0;
    if (obj == 0 || find_object(obj, &s, &idx) != obj)
        return -1;
    if (!mark_bit_try_set(s->gcmark_bits, idx))
        return 1;
    w->bytes_marked += s->elemsize;
    if (!span_class_noscan(s->spanclass))
        gcw_put(w, obj);
    return 0;
}

int mark_rescan(uintptr_t obj, struct gcw *w)
{
    struct mspan *s = NULL;
    unsigned idx = 0;
    if (obj == 0 || find_object(obj, &s, &idx) != obj)
        return 0;
    if (mark_bit_try_set(s->gcmark_bits, idx))
        w->bytes_marked += s->elemsize;
    if (!span_class_noscan(s->spanclass))
        gcw_put(w, obj); /* scanned again, every oblet of it (scan_object) */
    return 1;
}

void mark_new_object(struct mspan *s, uintptr_t obj, struct gcw *w)
{
    unsigned idx = span_object_index(s, obj);
    if (mark_bit_try_set(s->gcmark_bits, idx))
        w->bytes_marked += s->elemsize;
}

/* ---- Allocate-black by span (the invariant: cache.h) ---------------------- */

/* The free slots of s in bitmap word i: not allocated (span.h), that is at
 * or after freeindex and with a clear alloc bit, and below nelems. */
static inline AO_t free_slots_in_word(const struct mspan *s, size_t i)
{
    unsigned from = s->freeindex;
    AO_t free = ~s->alloc_bits[i];
    if (i == from / 64)
        free &= ~(AO_t)0 << (from % 64);
    if (i == (size_t)(s->nelems - 1) / 64 && s->nelems % 64)
        free &= ((AO_t)1 << (s->nelems % 64)) - 1;
    return free;
}

size_t mark_span_alloc_black(struct mspan *s)
{
    if (s->alloc_black)
        return 0;
    s->alloc_black = 1;
    s->alloc_count_at_black = s->alloc_count;
    size_t words = span_bitmap_words(s->nelems);
    /* Markers set other bits of these words (objects already allocated)
     * at the same time: an atomic OR, one per 64 slots. */
    for (size_t i = s->freeindex / 64; i < words; i++) {
        AO_t free = free_slots_in_word(s, i);
        if (free)
            atomic_or(&s->gcmark_bits[i], free);
    }
    return (size_t)(s->nelems - s->alloc_count) * s->elemsize;
}

void mark_span_alloc_black_end(struct mspan *s)
{
    if (!s->alloc_black)
        return;
    size_t words = span_bitmap_words(s->nelems);
    /* The slots still free were marked by mark_span_alloc_black and by
     * nothing else (no marker finds a free slot: find_object): clearing
     * them leaves exactly the marks of objects. Atomic for the markers'
     * ORs into the same words. */
    for (size_t i = s->freeindex / 64; i < words; i++) {
        AO_t free = free_slots_in_word(s, i);
        if (free)
            atomic_and(&s->gcmark_bits[i], ~free);
    }
    unsigned taken = (uint16_t)(s->alloc_count - s->alloc_count_at_black);
    if (taken)
        atomic_xadd(&mark_work.bytes_marked, (AO_t)taken * s->elemsize);
    s->alloc_black = 0;
}

/* ---- Scanning ----------------------------------------------------------- */

/* Conservative scanning reads whole stacks and segments, red zones included:
 * it is exempt from AddressSanitizer. */
__attribute__((no_sanitize("address"))) void scan_block(uintptr_t lo, uintptr_t hi, struct gcw *w)
{
    uintptr_t heap_lo = atomic_load_relaxed(&mheap_.arena_lo);
    uintptr_t heap_span = atomic_load_relaxed(&mheap_.arena_hi) - heap_lo;
    lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    if (mark_work.checkmark)
        checkmark_from = lo;
    for (uintptr_t a = lo; a + sizeof(uintptr_t) <= hi; a += sizeof(uintptr_t)) {
        uintptr_t p = *(const uintptr_t *)a;
        if (p - heap_lo < heap_span) {
            if (mark_work.checkmark)
                checkmark_from_slot = a;
            grey_pointer(p, w);
        }
    }
}

/* One word of a heap object, at a, holding p (a heap address), under
 * gccheckmark: the real mark records it in the shadow, and the second mark
 * follows an edge into a white object only if the mark was obliged to
 * (checkmark.h). */
static void scan_heap_word_checked(uintptr_t a, uintptr_t p, struct gcw *w)
{
    if (!mark_work.checkmark) {
        checkmark_record(a, p);
        grey_pointer(p, w);
        return;
    }
    struct mspan *s;
    unsigned idx;
    uintptr_t obj = find_object(p, &s, &idx);
    if (obj == 0 || (!bit_is_set(s->gcmark_bits, idx) && !checkmark_obliged(a, p)))
        return;
    checkmark_from_slot = a;
    greyobject(s, idx, obj, w);
}

/* Scans the words [lo, hi) of a heap object. */
static void scan_heap_words(uintptr_t lo, uintptr_t hi, struct gcw *w)
{
    if (!knobs.gccheckmark) {
        scan_block(lo, hi, w);
        return;
    }
    uintptr_t heap_lo = atomic_load_relaxed(&mheap_.arena_lo);
    uintptr_t heap_span = atomic_load_relaxed(&mheap_.arena_hi) - heap_lo;
    if (mark_work.checkmark)
        checkmark_from = lo;
    for (uintptr_t a = lo; a + sizeof(uintptr_t) <= hi; a += sizeof(uintptr_t)) {
        uintptr_t p = *(const uintptr_t *)a;
        if (p - heap_lo < heap_span)
            scan_heap_word_checked(a, p, w);
    }
}

/* ---- Typed scanning (types.h) ------------------------------------------- */

/* The word at a of a typed object, which its map or trace names. */
static inline void scan_typed_slot(uintptr_t a, uintptr_t heap_lo, uintptr_t heap_span,
                                   struct gcw *w)
{
    uintptr_t p = __atomic_load_n((const uintptr_t *)a, __ATOMIC_RELAXED);
    if (p - heap_lo >= heap_span)
        return;
    if (__builtin_expect(knobs.gccheckmark, 0))
        scan_heap_word_checked(a, p, w);
    else
        grey_pointer_inline(p, w);
}

/* Scans the words [first, last) of the typed object at obj through its
 * map, which repeats every ptrmap_words words. */
static inline __attribute__((always_inline)) void
scan_typed_map(const struct type_info *ti, uintptr_t obj, size_t first, size_t last, struct gcw *w)
{
    uintptr_t heap_lo = atomic_load_relaxed(&mheap_.arena_lo);
    uintptr_t heap_span = atomic_load_relaxed(&mheap_.arena_hi) - heap_lo;
    const uintptr_t *words = (const uintptr_t *)obj;
    size_t period = ti->ptrmap_words;
    if (period <= 64) {
        /* Fast path: one 64-bit mask per element. */
        uint64_t mask = ti->mask;
        for (size_t e = first - first % period; e < last; e += period) {
            uint64_t m = mask;
            if (e < first)
                m &= ~(uint64_t)0 << (first - e);
            if (last - e < period)
                m &= ((uint64_t)1 << (last - e)) - 1;
            while (m) {
                unsigned i = (unsigned)__builtin_ctzll(m);
                m &= m - 1;
                scan_typed_slot((uintptr_t)&words[e + i], heap_lo, heap_span, w);
            }
        }
        return;
    }
    const uint64_t *map = ti->ptrmap;
    size_t phase = first % period;
    for (size_t i = first; i < last; i++) {
        if ((map[phase / 64] >> (phase % 64)) & 1)
            scan_typed_slot((uintptr_t)&words[i], heap_lo, heap_span, w);
        if (++phase == period)
            phase = 0;
    }
}

struct trace_visit_ctx {
    uintptr_t lo, hi; /* the object */
    const struct type_info *ti;
    uintptr_t heap_lo, heap_span;
    struct gcw *w;
};

static void trace_visit(void **slot, void *ctx)
{
    struct trace_visit_ctx *c = ctx;
    uintptr_t a = (uintptr_t)slot;
    if (a < c->lo || a >= c->hi || a % sizeof(uintptr_t) != 0)
        fatal("gc_type %s: its trace function visited slot %p, which is not an aligned word "
              "inside the object %p (%zu bytes)",
              c->ti->name, (void *)slot, (void *)c->lo, (size_t)(c->hi - c->lo));
    scan_typed_slot(a, c->heap_lo, c->heap_span, c->w);
}

/* The common case, kept lean: a small object (one oblet) of a type whose
 * period is at most 64 words, without gccheckmark. Elements are counted
 * without a divide: whole ones only, as scan_typed does. */
static inline __attribute__((always_inline)) void
scan_typed_small(const struct type_info *ti, uintptr_t b, size_t n, struct gcw *w)
{
    uintptr_t heap_lo = atomic_load_relaxed(&mheap_.arena_lo);
    uintptr_t heap_span = atomic_load_relaxed(&mheap_.arena_hi) - heap_lo;
    const uintptr_t *words = (const uintptr_t *)b;
    size_t period = ti->ptrmap_words, nwords = n / sizeof(uintptr_t);
    uint64_t mask = ti->mask;
    for (size_t e = 0; e + period <= nwords; e += period) {
        for (uint64_t m = mask; m; m &= m - 1) {
            uintptr_t p = words[e + (unsigned)__builtin_ctzll(m)];
            if (p - heap_lo < heap_span)
                grey_pointer_inline(p, w);
        }
    }
    w->scan_work += n;
}

/* The typed fast path: a small object whose pointer words are the set
 * bits of mask (its span's typed_scan_mask). Only those words are read:
 * less work than conservative scanning, which tests every word. */
static inline __attribute__((always_inline)) void scan_masked(uintptr_t b, uint64_t mask,
                                                              struct gcw *w)
{
    uintptr_t heap_lo = atomic_load_relaxed(&mheap_.arena_lo);
    uintptr_t heap_span = atomic_load_relaxed(&mheap_.arena_hi) - heap_lo;
    const uintptr_t *words = (const uintptr_t *)b;
    do {
        uintptr_t p = words[__builtin_ctzll(mask)];
        mask &= mask - 1;
        if (p - heap_lo < heap_span)
            grey_pointer_inline(p, w);
    } while (mask);
}

/* Scans the typed object (or oblet of it) at b in s. */
static void scan_typed(struct mspan *s, uintptr_t b, const struct type_info *ti, struct gcw *w)
{
    size_t n = s->elemsize;
    uintptr_t obj = n > OBLET_BYTES ? s->base : b;
    if (mark_work.checkmark)
        checkmark_from = obj;
    if (ti->trace) {
        /* One call for the whole object: no oblets. */
        struct trace_visit_ctx c = {
            .lo = obj,
            .hi = obj + n,
            .ti = ti,
            .heap_lo = atomic_load_relaxed(&mheap_.arena_lo),
            .w = w,
        };
        c.heap_span = atomic_load_relaxed(&mheap_.arena_hi) - c.heap_lo;
        ti->trace((void *)obj, n, trace_visit, &c);
        w->scan_work += n;
        return;
    }
    /* Whole elements only: the rest of the size class's slot is not part
     * of the object. */
    size_t period_bytes = ti->ptrmap_words * sizeof(uintptr_t);
    size_t end = n / period_bytes * period_bytes;
    size_t lo = b - obj, hi = end;
    if (n > OBLET_BYTES) {
        if (b == obj) {
            for (size_t off = OBLET_BYTES; off < end; off += OBLET_BYTES)
                gcw_put(w, obj + off);
        }
        if (hi - lo > OBLET_BYTES)
            hi = lo + OBLET_BYTES;
    }
    scan_typed_map(ti, obj, lo / sizeof(uintptr_t), hi / sizeof(uintptr_t), w);
    w->scan_work += hi - lo;
}

static void scan_object(uintptr_t b, struct gcw *w)
{
    struct mspan *s = span_of_heap(b);
    if (s == NULL)
        fatal("scan_object: %p is not in an in-use span", (void *)b);
    uint32_t type = __atomic_load_n(&s->type_id, __ATOMIC_ACQUIRE);
    if (__builtin_expect(type != 0, 0)) {
        /* After type_id's acquire: the mask of that type, or 0 (span.h). */
        uint64_t mask = __atomic_load_n(&s->typed_scan_mask, __ATOMIC_RELAXED);
        if (__builtin_expect(mask != 0 && !knobs.gccheckmark, 1)) {
            scan_masked(b, mask, w);
            w->scan_work += s->elemsize;
            return;
        }
        if (type == SPAN_TYPE_MIXED)
            type = __atomic_load_n(&s->obj_types[span_object_index(s, b)], __ATOMIC_RELAXED);
        if (type != 0) {
            const struct type_info *ti = types_lookup(type);
            if (__builtin_expect(ti->small_fast && s->elemsize <= OBLET_BYTES && !knobs.gccheckmark,
                                 1))
                scan_typed_small(ti, b, s->elemsize, w);
            else
                scan_typed(s, b, ti, w);
            return;
        }
    }
    size_t n = s->elemsize;
    if (n > OBLET_BYTES) {
        if (b == s->base) {
            /* Queue the other oblets; scan the first one now. */
            for (size_t off = OBLET_BYTES; off < n; off += OBLET_BYTES)
                gcw_put(w, b + off);
        }
        uintptr_t end = s->base + n;
        n = end - b < OBLET_BYTES ? end - b : OBLET_BYTES;
    }
    scan_heap_words(b, b + n, w);
    w->scan_work += n;
}

/* ---- Draining, a few objects ahead ---------------------------------------
 *
 * Scanning a grey object starts with a cache miss on the object itself: it
 * was greyed long ago or by another marker, and nothing since read it. The
 * drain loops therefore take grey objects from w into a short FIFO and
 * prefetch each as it enters, scanning the oldest: by the time an object's
 * turn comes its first line is on its way, the other PREFETCH_AHEAD - 1
 * scans having hidden the miss.
 *
 * Except for an object within NEAR_BYTES of the one scanned last, which is
 * scanned at once: it is in the same or the next cache line, and a heap
 * whose objects lie in the order the stack pops them (a tree allocated
 * children first, as binary-trees does) is then still scanned as one
 * stream, which the hardware prefetches better than any queue would. (With
 * the FIFO for every object, marking binary-trees took 18% longer; with
 * none, GCBench's and the Lua port's marking took 2.5 times as long:
 * docs/benchmarks.md, "Prefetching grey objects".)
 *
 * The objects in the FIFO are grey and held by no buffer: the FIFO lives in
 * the drain loop's frame, and every loop empties it into w (gcw_put) before
 * it returns, so that marking's end, which looks only at buffers and at
 * markers that are busy (nbusy, worker.c), never misses one of them.
 */
#define PREFETCH_AHEAD 8
#define NEAR_BYTES     64

struct prefetch_fifo {
    uintptr_t obj[PREFETCH_AHEAD];
    unsigned head, n;
    uintptr_t last; /* the object fifo_next returned last */
};

/* A grey object from w's own buffers, never the global list; 0 if none. */
static inline uintptr_t gcw_get_local(struct gcw *w)
{
    struct workbuf *b = w->wbuf1;
    if (b != NULL && b->nobj > 0)
        return b->obj[--b->nobj];
    b = w->wbuf2;
    if (b != NULL && b->nobj > 0)
        return b->obj[--b->nobj];
    return 0;
}

/* The next object to scan: one near the last, or else the oldest of the
 * FIFO after topping it up from w's own buffers, from the global list only
 * when the FIFO is empty (taking a full buffer early would keep it from
 * the other markers). 0 when there is none. */
static inline uintptr_t fifo_next(struct prefetch_fifo *f, struct gcw *w)
{
    while (f->n < PREFETCH_AHEAD) {
        uintptr_t b = gcw_get_local(w);
        if (b == 0 && (f->n > 0 || (b = gcw_get(w)) == 0))
            break;
        if (b - f->last + NEAR_BYTES < 2 * NEAR_BYTES) /* |b - last| < NEAR_BYTES */
            return f->last = b;
        __builtin_prefetch((const void *)b);
        f->obj[(f->head + f->n++) % PREFETCH_AHEAD] = b;
    }
    if (f->n == 0)
        return 0;
    uintptr_t b = f->obj[f->head];
    f->head = (f->head + 1) % PREFETCH_AHEAD;
    f->n--;
    return f->last = b;
}

/* Gives the objects still in the FIFO back to w. */
static void fifo_return(struct prefetch_fifo *f, struct gcw *w)
{
    for (; f->n > 0; f->n--, f->head = (f->head + 1) % PREFETCH_AHEAD)
        gcw_put(w, f->obj[f->head]);
}

void mark_drain(struct gcw *w)
{
    struct prefetch_fifo f = {0};
    uintptr_t b;
    while ((b = fifo_next(&f, w)) != 0)
        scan_object(b, w);
}

/* Go's balance: when the global list is empty, publish some of this
 * marker's private work so that other markers (assists above all) find
 * some. A marker scanning a tree keeps a short private stack that would
 * otherwise never reach the global list. */
static void gcw_balance(struct gcw *w)
{
    if (w->wbuf2 != NULL && w->wbuf2->nobj > 0) {
        putfull(w->wbuf2);
        w->wbuf2 = NULL;
    } else if (w->wbuf1 != NULL && w->wbuf1->nobj > 4) {
        struct workbuf *half = getempty();
        size_t n = w->wbuf1->nobj / 2;
        w->wbuf1->nobj -= n;
        for (size_t i = 0; i < n; i++)
            half->obj[i] = w->wbuf1->obj[w->wbuf1->nobj + i];
        half->nobj = n;
        putfull(half);
    }
}

uint64_t mark_drain_n(struct gcw *w, uint64_t budget, const volatile AO_t *stop)
{
    uint64_t start = w->scan_work;
    struct prefetch_fifo f = {0};
    uintptr_t b;
    unsigned n = 0;
    while (w->scan_work - start < budget && !atomic_load_relaxed(stop) &&
           (b = fifo_next(&f, w)) != 0) {
        scan_object(b, w);
        if (++n % 64 == 0 && !mark_work_available())
            gcw_balance(w);
    }
    fifo_return(&f, w);
    return w->scan_work - start;
}

void mark_shade_batch(const uintptr_t *ptrs, size_t n, struct gcw *w)
{
    uintptr_t heap_lo = atomic_load_relaxed(&mheap_.arena_lo);
    uintptr_t heap_span = atomic_load_relaxed(&mheap_.arena_hi) - heap_lo;
    for (size_t i = 0; i < n; i++)
        if (ptrs[i] - heap_lo < heap_span)
            grey_pointer(ptrs[i], w);
}
