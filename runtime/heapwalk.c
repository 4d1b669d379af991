/*
 * gc_walk_heap: every live object, with the world stopped (Go's heap
 * dump, in its simplest form: what an embedder needs to write a heap
 * snapshot, count objects by type, or check an invariant of its own).
 *
 * The walk stops the world, then finishes sweeping, so that every span's
 * allocation state says which objects survived the last cycle or were
 * allocated since: an object is live to the walk when its index is below
 * the span's freeindex or its alloc bit is set (span_object_allocated).
 * Nothing can change that while the world stays stopped: mutators are
 * stopped, the background sweeper has nothing left, and no cycle can end
 * without stopping the world itself. The collector's own threads may still
 * grow the heap (the prefaulter); a new arena holds no span, and the walk
 * reads the arena index and the span map with the same acquire loads a
 * marker uses.
 *
 * The callback runs on the walking thread with the world stopped. It may
 * read objects and call gc_base and gc_size; it must not allocate, store
 * through the barrier, or call anything that stops the world: builds with
 * assertions abort, naming the call, if it enters the runtime.
 */
#include "heap.h"
#include "platform.h"
#include "sweep.h"
#include "threads.h"
#include "types.h"

#include <tricolor.h>

void gc_walk_heap(void (*fn)(void *obj, size_t size, uint32_t type, void *data), void *data)
{
    if (fn == NULL) {
        runtime_warn("gc_walk_heap: the callback is NULL; nothing to do");
        return;
    }
    struct mthread *self = current_thread;
    stop_the_world();
    sweep_finish();
    if (self)
        self->walking = 1;
    uintptr_t lo = atomic_load(&mheap_.arena_lo), hi = atomic_load(&mheap_.arena_hi);
    for (uintptr_t a = lo; a < hi; a += ARENA_BYTES) {
        struct heap_arena *ha =
            (struct heap_arena *)atomic_load((volatile AO_t *)&mheap_.arenas[a >> ARENA_SHIFT]);
        if (ha == NULL)
            continue;
        for (size_t i = 0; i < PAGES_PER_ARENA; i++) {
            struct mspan *s = (struct mspan *)atomic_load((volatile AO_t *)&ha->spans[i]);
            uintptr_t page = a + (i << PAGE_SHIFT);
            if (s == NULL || s->base != page || atomic_load(&s->state) != SPAN_IN_USE)
                continue; /* free, or not the span's first page */
            for (unsigned k = 0; k < s->nelems; k++)
                if (span_object_allocated(s, k))
                    fn((void *)(s->base + (uintptr_t)k * s->elemsize), s->elemsize,
                       span_object_type(s, k), data);
        }
    }
    if (self)
        self->walking = 0;
    start_the_world();
}
