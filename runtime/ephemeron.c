/*
 * Ephemerons: the objects, their registry, and the rule applied
 * concurrently, in the pause and by gccheckmark. See ephemeron.h.
 */
#include "ephemeron.h"

#include "heap.h"
#include "lock.h"
#include "metadata.h"
#include "platform.h"
#include "threads.h"

#include <string.h>
#include <tricolor.h>

/* The heap object (noscan: the marker never reads key or value). tag is
 * EPHEMERON_TAG ^ the object's address, so that an accessor given
 * something else says so; key and value are written when it is made and
 * cleared together in a pause, never otherwise. */
struct gc_ephemeron {
    void *volatile key;
    void *volatile value;
    uintptr_t tag;
};

#define EPHEMERON_TAG ((uintptr_t)0x6570686d65726f6eull)

/* A registry entry: the ephemeron, and its span and index so that its
 * mark bit is two loads away (stable while it is allocated, which is as
 * long as the entry exists: ephemeron.h). */
struct entry {
    uintptr_t obj;
    struct mspan *span;
    uint32_t idx;
};

/* Entries per hold of the lock in the concurrent pass, so that makers do
 * not wait for a whole pass. */
#define PASS_BATCH 256
#define MIN_CAP    1024

static RUNTIME_STATE struct {
    /* lock protects entries, n and cap against the makers' appends (and a
     * grow that moves the array). Appends only, between pauses; entries
     * move or go only in the pause, with the world stopped. */
    struct rlock lock;
    struct entry *entries;
    size_t n, cap;

    /* The controller's, touched only by the concurrent pass and the pause
     * (one thread at a time: the cycle's controller): entries [0,
     * scanned_upto) were looked at this cycle, and those of them not
     * resolved are listed in pending[0, npending), ascending. */
    uint32_t *pending;
    size_t npending, pending_cap;
    size_t scanned_upto;
    size_t last_pause_pending;
} reg = {.lock = RLOCK_INIT("the ephemeron registry's lock", RANK_EPHEMERON)};

/* ---- Mark bits ------------------------------------------------------------ */

/* The bits that count now: the checkmark bits during gccheckmark's second
 * mark, the mark bits otherwise. */
static inline int span_bit(const struct mspan *s, unsigned idx)
{
    return bit_is_set(mark_work.checkmark ? s->checkmark_bits : s->gcmark_bits, idx);
}

/* Is the object containing p marked? 0 when p is in no allocated object. */
static int object_marked(uintptr_t p)
{
    struct mspan *s;
    unsigned idx;
    return find_object(p, &s, &idx) != 0 && span_bit(s, idx);
}

/* Greys the value v of ephemeron e; returns 1 if that marked it anew. */
static size_t grey_value(uintptr_t e, uintptr_t v, struct gcw *w)
{
    struct mspan *s;
    unsigned idx;
    if (v == 0 || find_object(v, &s, &idx) == 0 || span_bit(s, idx))
        return 0;
    if (mark_work.checkmark && !bit_is_set(s->gcmark_bits, idx))
        fatal("gccheckmark: object %p, the value of ephemeron %p whose key %p is reachable, "
              "was not marked",
              (void *)v, (void *)e, ((struct gc_ephemeron *)e)->key);
    grey_pointer(v, w);
    return 1;
}

/* The rule for one entry: 1 when it is resolved for this cycle (its
 * ephemeron and key are marked and its value greyed, or it is cleared and
 * marked), 0 while it is pending. Counts new marks into *newly. */
static int resolve(const struct entry *en, struct gcw *w, size_t *newly)
{
    if (!span_bit(en->span, en->idx))
        return 0;
    const struct gc_ephemeron *e = (const struct gc_ephemeron *)en->obj;
    uintptr_t key = (uintptr_t)e->key;
    if (key == 0)
        return 1;
    if (!object_marked(key))
        return 0;
    *newly += grey_value(en->obj, (uintptr_t)e->value, w);
    return 1;
}

/* ---- The registry ----------------------------------------------------------- */

static void registry_append(uintptr_t obj, struct mspan *s, unsigned idx)
{
    rlock_acquire(&reg.lock);
    if (reg.n == reg.cap) {
        size_t cap = reg.cap ? reg.cap * 2 : MIN_CAP;
        struct entry *a = sys_alloc(cap * sizeof *a);
        if (a == NULL)
            fatal("out of memory: cannot grow the ephemeron registry to %zu entries", cap);
        atomic_xadd(&metadata_stats.gc_sys, cap * sizeof *a);
        if (reg.entries) {
            memcpy(a, reg.entries, reg.n * sizeof *a);
            sys_free(reg.entries, reg.cap * sizeof *a);
            atomic_xadd(&metadata_stats.gc_sys, (AO_t) - (reg.cap * sizeof *a));
        }
        reg.entries = a;
        reg.cap = cap;
    }
    reg.entries[reg.n++] = (struct entry){obj, s, idx};
    rlock_release(&reg.lock);
}

/* Room for want pending indices. The controller's: no lock. */
static void pending_reserve(size_t want)
{
    if (want <= reg.pending_cap)
        return;
    size_t cap = reg.pending_cap ? reg.pending_cap : MIN_CAP;
    while (cap < want)
        cap *= 2;
    uint32_t *p = sys_alloc(cap * sizeof *p);
    if (p == NULL)
        fatal("out of memory: cannot grow the ephemerons' pending list to %zu entries", cap);
    atomic_xadd(&metadata_stats.gc_sys, cap * sizeof *p);
    if (reg.pending) {
        memcpy(p, reg.pending, reg.npending * sizeof *p);
        sys_free(reg.pending, reg.pending_cap * sizeof *p);
        atomic_xadd(&metadata_stats.gc_sys, (AO_t) - (reg.pending_cap * sizeof *p));
    }
    reg.pending = p;
    reg.pending_cap = cap;
}

size_t ephemerons_count(void)
{
    struct mthread *t = enter_runtime_maybe();
    rlock_acquire(&reg.lock);
    size_t n = reg.n;
    rlock_release(&reg.lock);
    exit_runtime_maybe(t);
    return n;
}

size_t ephemerons_last_pause_pending(void)
{
    return reg.last_pause_pending;
}

/* ---- The rule, concurrently and in the pause ------------------------------- */

/* Looks at the pending entries and then at those appended since the last
 * look, keeping the ones still unresolved pending. Takes the lock batch by
 * batch (in the pause nobody else holds it: the world is stopped). */
static size_t pass(struct gcw *w)
{
    size_t newly = 0, out = 0;
    for (size_t i = 0; i < reg.npending; i += PASS_BATCH) {
        size_t end = i + PASS_BATCH < reg.npending ? i + PASS_BATCH : reg.npending;
        rlock_acquire(&reg.lock);
        for (size_t j = i; j < end; j++) {
            uint32_t k = reg.pending[j];
            if (!resolve(&reg.entries[k], w, &newly))
                reg.pending[out++] = k;
        }
        rlock_release(&reg.lock);
    }
    reg.npending = out;
    for (;;) {
        pending_reserve(reg.npending + PASS_BATCH);
        rlock_acquire(&reg.lock);
        size_t n = reg.n;
        size_t end = reg.scanned_upto + PASS_BATCH < n ? reg.scanned_upto + PASS_BATCH : n;
        for (size_t k = reg.scanned_upto; k < end; k++)
            if (!resolve(&reg.entries[k], w, &newly))
                reg.pending[reg.npending++] = (uint32_t)k;
        reg.scanned_upto = end;
        rlock_release(&reg.lock);
        if (end == n)
            break;
    }
    return newly;
}

int ephemerons_mark_concurrent(void)
{
    struct gcw w = {0};
    size_t newly = pass(&w);
    gcw_dispose(&w);
    return newly != 0;
}

size_t ephemerons_mark_pending(struct gcw *w)
{
    return pass(w);
}

void ephemerons_sweep(void)
{
    struct gcw none = {0};
    (void)pass(&none); /* only lists what is left: the fixpoint marked all it could */
    if (none.wbuf1 != NULL || none.bytes_marked != 0)
        fatal("ephemerons_sweep: the rule marked more after the last fixpoint");
    reg.last_pause_pending = reg.npending;
    rlock_acquire(&reg.lock);
    /* Descending: every pending index above k is dealt with (kept or
     * dropped) before k, so the last entry moved into a dropped slot is
     * one that stays. */
    for (size_t j = reg.npending; j-- > 0;) {
        size_t k = reg.pending[j];
        struct entry *en = &reg.entries[k];
        if (!bit_is_set(en->span->gcmark_bits, en->idx)) {
            *en = reg.entries[--reg.n]; /* dead: freed by this cycle's sweep */
            continue;
        }
        struct gc_ephemeron *e = (struct gc_ephemeron *)en->obj;
        if (e->key != NULL && !object_marked((uintptr_t)e->key)) {
            e->key = NULL;
            e->value = NULL;
        }
    }
    rlock_release(&reg.lock);
    reg.npending = 0;
    reg.scanned_upto = 0;
}

size_t ephemerons_checkmark(struct gcw *w)
{
    size_t newly = 0;
    rlock_acquire(&reg.lock);
    for (size_t k = 0; k < reg.n; k++) {
        const struct entry *en = &reg.entries[k];
        const struct gc_ephemeron *e = (const struct gc_ephemeron *)en->obj;
        if (span_bit(en->span, en->idx) && e->key != NULL && object_marked((uintptr_t)e->key))
            newly += grey_value(en->obj, (uintptr_t)e->value, w);
    }
    rlock_release(&reg.lock);
    return newly;
}

/* ---- The public calls ------------------------------------------------------- */

static inline int marking(void)
{
    return __atomic_load_n(&gc_write_barrier_enabled, __ATOMIC_RELAXED) != 0;
}

gc_ephemeron *gc_ephemeron_make(void *key, void *value)
{
    if (key == NULL || gc_base(key) == NULL) {
        runtime_warn("gc_ephemeron_make(%p, %p): the key is not in a heap object; returning NULL",
                     key, value);
        return NULL;
    }
    struct gc_ephemeron *e = gc_alloc_noscan(sizeof *e);
    struct mthread *t = enter_runtime("gc_ephemeron_make");
    e->key = key;
    e->value = value;
    e->tag = EPHEMERON_TAG ^ (uintptr_t)e;
    struct mspan *s = span_of_heap((uintptr_t)e);
    registry_append((uintptr_t)e, s, span_object_index(s, (uintptr_t)e));
    exit_runtime(t);
    return e;
}

/* Is e an ephemeron? Inside the runtime (or on the controller). */
static int is_ephemeron(const gc_ephemeron *e)
{
    return e != NULL && ((uintptr_t)e & 15) == 0 && span_of_heap((uintptr_t)e) != NULL &&
           e->tag == (EPHEMERON_TAG ^ (uintptr_t)e);
}

/* The accessors. From a registered thread, while marking, what is returned
 * is shaded: it is a strong reference from now on. From a weak callback
 * (the controller, in the pause) they return what the ephemeron holds and
 * mark nothing. */
static void *read_field(const gc_ephemeron *e, int want_value, const char *what)
{
    struct mthread *t = enter_runtime_maybe();
    if (!is_ephemeron(e)) {
        exit_runtime_maybe(t);
        runtime_warn("%s(%p): not an ephemeron (made by gc_ephemeron_make); returning NULL", what,
                     (const void *)e);
        return NULL;
    }
    void *key = e->key;
    void *r = want_value && key != NULL ? e->value : key;
    if (r != NULL && t != NULL && marking())
        grey_pointer((uintptr_t)r, &t->gcw);
    exit_runtime_maybe(t);
    return r;
}

void *gc_ephemeron_key(const gc_ephemeron *e)
{
    return read_field(e, 0, "gc_ephemeron_key");
}

void *gc_ephemeron_value(const gc_ephemeron *e)
{
    return read_field(e, 1, "gc_ephemeron_value");
}
