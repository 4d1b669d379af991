/*
 * gccheckmark's shadow of the heap and its second mark. See checkmark.h.
 */
#include "checkmark.h"

#include "atomics.h"
#include "ephemeron.h"
#include "heap.h"
#include "mark.h"
#include "platform.h"
#include "roots.h"

/* The shadow of each arena, indexed as mheap_.arenas; NULL until the first
 * record into the arena. */
static volatile AO_t *shadows;

void checkmark_init(void)
{
    shadows = sys_alloc(ARENA_INDEX_COUNT * sizeof(AO_t));
    if (shadows == NULL)
        fatal("gccheckmark: cannot reserve the shadow index");
}

static volatile AO_t *shadow_of(uintptr_t slot, int create)
{
    volatile AO_t *entry = &shadows[slot >> ARENA_SHIFT];
    AO_t base = atomic_load(entry);
    if (base == 0) {
        if (!create)
            return NULL;
        void *m = sys_alloc(ARENA_BYTES);
        if (m == NULL)
            fatal("gccheckmark: cannot reserve the shadow of an arena");
        if (!atomic_cas(entry, 0, (AO_t)m))
            sys_free(m, ARENA_BYTES);
        base = atomic_load(entry);
    }
    return (volatile AO_t *)base + ((slot & (ARENA_BYTES - 1)) / sizeof(AO_t));
}

void checkmark_record(uintptr_t slot, uintptr_t value)
{
    if (span_of(slot) == NULL)
        return; /* not a heap slot: a root, scanned again in the pause */
    atomic_store_relaxed(shadow_of(slot, 1), (AO_t)value);
}

void checkmark_record_range(const void *p, size_t n)
{
    uintptr_t a = ((uintptr_t)p + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    for (; a + sizeof(uintptr_t) <= (uintptr_t)p + n; a += sizeof(uintptr_t))
        checkmark_record(a, *(const uintptr_t *)a);
}

int checkmark_obliged(uintptr_t slot, uintptr_t value)
{
    volatile AO_t *s = shadow_of(slot, 0);
    return s != NULL && atomic_load_relaxed(s) == (AO_t)value;
}

void checkmark_reset(void)
{
    rlock_acquire(&mheap_.lock); /* arena_bases: the prefaulter may grow the heap */
    for (size_t i = 0; i < pagealloc_.narenas; i++) {
        uintptr_t a = pagealloc_.arena_bases[i];
        AO_t base = atomic_load(&shadows[a >> ARENA_SHIFT]);
        if (base != 0)
            sys_unused((void *)base, ARENA_BYTES, 0); /* reads back as zero */
    }
    rlock_release(&mheap_.lock);
}

void checkmark_verify(void)
{
    AO_t heap_scan = mark_work.heap_scan, stack_scan = mark_work.stack_scan;
    AO_t globals_scan = mark_work.globals_scan;
    mark_work.checkmark = 1;
    struct gcw w = {0};
    mark_roots(&w);
    /* Ephemerons' values whose key the second mark reaches, to a fixpoint
     * of its own (ephemeron.h). */
    do
        mark_drain(&w);
    while (ephemerons_checkmark(&w) != 0);
    gcw_dispose(&w);
    mark_work.checkmark = 0;
    /* The second mark's scanning is not the cycle's. */
    mark_work.heap_scan = heap_scan;
    mark_work.stack_scan = stack_scan;
    mark_work.globals_scan = globals_scan;
}
