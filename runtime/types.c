/*
 * Typed objects: the registry, span types and the rescan set. See types.h.
 */
#include "types.h"

#include "heap.h"
#include "lock.h"
#include "mark.h"
#include "metadata.h"
#include "platform.h"
#include "threads.h"

#include <string.h>
#include <tricolor.h>

/* ---- The registry ------------------------------------------------------- */

/* types_table[id] for id in 1..ntypes; entries are published with a
 * release store after their contents and never change afterwards. */
RUNTIME_STATE const struct type_info *volatile types_table[MAX_TYPES];
static RUNTIME_STATE volatile AO_t ntypes;

/* Fills the divide-free multiple test of types_size_ok for period bytes. */
static void set_period(struct type_info *ti, uint64_t period)
{
    ti->shift = (unsigned)__builtin_ctzll(period);
    ti->low_mask = ((uint64_t)1 << ti->shift) - 1;
    uint64_t odd = period >> ti->shift;
    /* Newton's iteration for the inverse of odd mod 2^64: each step
     * doubles the correct low bits (odd * odd == 1 mod 8 to start). */
    uint64_t inv = odd;
    for (int i = 0; i < 5; i++)
        inv *= 2 - odd * inv;
    ti->odd_inverse = inv;
    ti->multiple_limit = UINT64_MAX / odd;
}

/* The message for a gc_type that cannot be registered; NULL if it can. */
static const char *type_misuse(const gc_type *t)
{
    if (t == NULL)
        return "the type is NULL";
    if (t->name == NULL)
        return "its name is NULL";
    if ((t->ptrmap == NULL) == (t->trace == NULL))
        return "exactly one of ptrmap and trace must be set";
    if (t->ptrmap && (t->ptrmap_words == 0 || t->ptrmap_words > MAX_PTRMAP_WORDS))
        return "ptrmap_words must be 1 to 2^20";
    if (t->trace && t->ptrmap_words != 0)
        return "a trace type has no ptrmap_words";
    if (t->flags & ~GC_TYPE_RESCAN)
        return "unknown flags";
    return NULL;
}

uint32_t gc_register_type(const gc_type *t)
{
    const char *why = type_misuse(t);
    if (why) {
        runtime_warn("gc_register_type(%s): %s; returning 0", t && t->name ? t->name : "(no name)",
                     why);
        return 0;
    }
    struct mthread *self = current_thread;
    if (self)
        enter_runtime("gc_register_type");
    uint32_t id = 0;
    if (atomic_load(&ntypes) >= MAX_TYPES - 1) {
        runtime_warn("gc_register_type(%s): %d types are registered already; returning 0", t->name,
                     MAX_TYPES - 1);
        goto out;
    }
    struct type_info *ti = persistent_alloc(sizeof *ti, 8, &metadata_stats.other_sys);
    size_t namelen = strlen(t->name);
    char *name = persistent_alloc(namelen + 1, 1, &metadata_stats.other_sys);
    memcpy(name, t->name, namelen + 1);
    ti->name = name;
    set_period(ti, 1); /* a trace type takes any size */
    ti->trace = t->trace;
    ti->flags = t->flags;
    if (t->ptrmap) {
        size_t n = (t->ptrmap_words + 63) / 64;
        uint64_t *map = persistent_alloc(n * sizeof *map, 8, &metadata_stats.other_sys);
        memcpy(map, t->ptrmap, n * sizeof *map);
        /* Bits past the period are not part of the map. */
        if (t->ptrmap_words % 64)
            map[n - 1] &= ((uint64_t)1 << (t->ptrmap_words % 64)) - 1;
        int any = 0;
        for (size_t i = 0; i < n; i++)
            any |= map[i] != 0;
        ti->ptrmap = map;
        ti->ptrmap_words = t->ptrmap_words;
        set_period(ti, t->ptrmap_words * 8);
        ti->mask = map[0];
        ti->small_fast = t->ptrmap_words <= 64;
        ti->noscan = !any;
    }
    AO_t n = atomic_xadd(&ntypes, 1) + 1;
    if (n >= MAX_TYPES) {
        runtime_warn("gc_register_type(%s): %d types are registered already; returning 0", t->name,
                     MAX_TYPES - 1);
        goto out;
    }
    __atomic_store_n(&types_table[n], ti, __ATOMIC_RELEASE);
    id = (uint32_t)n;
out:
    if (self)
        exit_runtime(self);
    return id;
}

/* ---- Span types --------------------------------------------------------- */

/* Protects side_free and the rescan set (types.h). */
static struct rlock types_lock = RLOCK_INIT("types_lock", RANK_TYPES);

/* Side arrays are all MAX_OBJS_PER_SPAN entries; freed ones are kept here,
 * linked through their first bytes. */
static RUNTIME_STATE void *side_free;

static uint16_t *side_alloc(void)
{
    rlock_acquire(&types_lock);
    void *p = side_free;
    if (p)
        side_free = *(void **)p;
    rlock_release(&types_lock);
    if (p == NULL)
        p = persistent_alloc(MAX_OBJS_PER_SPAN * sizeof(uint16_t), 64, &metadata_stats.gc_sys);
    return p;
}

/* The typed_scan_mask of a span of s's size class uniformly of type t
 * (span.h): the type's map repeated over the whole elements that fit in
 * one object, when an object is at most 64 words; else 0. */
static uint64_t span_scan_mask(const struct mspan *s, uint32_t t)
{
    const struct type_info *ti = types_lookup(t);
    size_t nwords = s->elemsize / sizeof(uintptr_t);
    if (ti == NULL || !ti->small_fast || s->elemsize > OBJECT_SCAN_MASK_BYTES)
        return 0;
    uint64_t m = 0;
    for (size_t e = 0; e + ti->ptrmap_words <= nwords; e += ti->ptrmap_words)
        m |= ti->mask << e; /* e <= 63: e + ptrmap_words <= nwords <= 64 */
    return m;
}

void span_types_adopt(struct mspan *s, uint32_t t)
{
    uint32_t old = s->type_id;
    if (old == t || (old == SPAN_TYPE_MIXED && s->alloc_count != 0))
        return;
    if (s->alloc_count == 0) {
        /* No object: a uniform type outright (a side array it may keep
         * is refilled if it becomes MIXED again). No marker looks at the
         * span's mask now, as none has an object of it to scan. */
        __atomic_store_n(&s->typed_scan_mask, t ? span_scan_mask(s, t) : 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->type_id, (uint16_t)t, __ATOMIC_RELEASE);
        return;
    }
    /* Becoming MIXED: the mask goes first, so a marker that reads MIXED
     * reads 0 (and one that still reads the old type may read either the
     * old mask or 0, both right for it: 0 only sends it the slow way). */
    __atomic_store_n(&s->typed_scan_mask, 0, __ATOMIC_RELAXED);
    if (s->obj_types == NULL)
        s->obj_types = side_alloc();
    for (unsigned i = 0; i < s->nelems; i++)
        s->obj_types[i] = span_object_allocated(s, i) ? (uint16_t)old : 0;
    __atomic_store_n(&s->type_id, (uint16_t)SPAN_TYPE_MIXED, __ATOMIC_RELEASE);
}

void span_types_sweep(struct mspan *s)
{
    for (unsigned i = 0; i < s->nelems; i++)
        if (!bit_is_set(s->gcmark_bits, i))
            s->obj_types[i] = 0;
}

void span_types_release(struct mspan *s)
{
    void *p = s->obj_types;
    s->obj_types = NULL;
    s->type_id = 0;
    s->typed_scan_mask = 0;
    if (p == NULL)
        return;
    rlock_acquire(&types_lock);
    *(void **)p = side_free;
    side_free = p;
    rlock_release(&types_lock);
}

/* ---- The rescan set ----------------------------------------------------- */

static RUNTIME_STATE uintptr_t *rescan;
static RUNTIME_STATE size_t nrescan, caprescan;

void types_rescan_add(uintptr_t obj)
{
    rlock_acquire(&types_lock);
    if (nrescan == caprescan) {
        size_t cap = caprescan ? 2 * caprescan : 256;
        uintptr_t *a = persistent_alloc(cap * sizeof *a, 8, &metadata_stats.gc_sys);
        if (nrescan)
            memcpy(a, rescan, nrescan * sizeof *a);
        /* The old array is abandoned: the set only doubles. */
        rescan = a;
        caprescan = cap;
    }
    rescan[nrescan++] = obj;
    rlock_release(&types_lock);
}

void types_rescan_marked(struct gcw *w)
{
    rlock_acquire(&types_lock);
    for (size_t i = 0; i < nrescan; i++) {
        struct mspan *s = span_of_heap(rescan[i]);
        if (s && bit_is_set(s->gcmark_bits, span_object_index(s, rescan[i])))
            mark_rescan(rescan[i], w);
    }
    rlock_release(&types_lock);
}

void types_prune(void)
{
    rlock_acquire(&types_lock);
    size_t j = 0;
    for (size_t i = 0; i < nrescan; i++) {
        struct mspan *s = span_of_heap(rescan[i]);
        if (s && bit_is_set(s->gcmark_bits, span_object_index(s, rescan[i])))
            rescan[j++] = rescan[i];
    }
    nrescan = j;
    rlock_release(&types_lock);
}

size_t types_rescan_count(void)
{
    return __atomic_load_n(&nrescan, __ATOMIC_RELAXED); /* racy: for tests */
}
