/*
 * The write barrier's slow path. See barrier.h.
 */
#include "barrier.h"

#include "atomics.h"
#include "mark.h"
#include "threads.h"

#include <tricolor.h>

uint32_t gc_write_barrier_enabled;

void write_barrier_set(int enabled)
{
    __atomic_store_n(&gc_write_barrier_enabled, enabled ? 1u : 0u, __ATOMIC_RELEASE);
}

void wbbuf_flush(struct wbbuf *b)
{
    if (b->n == 0)
        return;
    mark_shade_batch(b->ptrs, b->n);
    b->n = 0;
}

void gc_write_ptr_slow(void *slot, void *value)
{
    struct mthread *t = enter_runtime("gc_write_ptr");
    /* The flag may have been turned off since the caller read it. It cannot
     * change while this thread is in the runtime: it changes only with the
     * world stopped. */
    if (__atomic_load_n(&gc_write_barrier_enabled, __ATOMIC_RELAXED)) {
        struct wbbuf *b = &t->wbbuf;
        if (b->n + 2 > WBBUF_ENTRIES)
            wbbuf_flush(b);
        b->ptrs[b->n++] = (uintptr_t) * (void **)slot;
        b->ptrs[b->n++] = (uintptr_t)value;
    }
    *(void **)slot = value;
    exit_runtime(t);
}
