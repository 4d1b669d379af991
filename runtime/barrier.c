/*
 * The write barrier's slow path. See barrier.h.
 */
#include "barrier.h"

#include "atomics.h"
#include "checkmark.h"
#include "env.h"
#include "mark.h"
#include "threads.h"

#include <string.h>
#include <tricolor.h>

uint32_t gc_write_barrier_enabled;

void write_barrier_set(int enabled)
{
    __atomic_store_n(&gc_write_barrier_enabled, enabled ? 1u : 0u, __ATOMIC_RELEASE);
}

void wbbuf_flush(struct wbbuf *b, struct gc_work *w)
{
    if (b->n == 0)
        return;
    mark_shade_batch(b->ptrs, b->n, w);
    b->n = 0;
}

static inline int barrier_on(void)
{
    return __atomic_load_n(&gc_write_barrier_enabled, __ATOMIC_RELAXED) != 0;
}

/* Records one pointer-sized word for shading. */
static inline void wbbuf_put(struct mthread *t, uintptr_t p)
{
    struct wbbuf *b = &t->wbbuf;
    if (b->n == WBBUF_ENTRIES)
        wbbuf_flush(b, &t->gcw);
    b->ptrs[b->n++] = p;
}

void gc_write_ptr_slow(void *slot, void *value)
{
    struct mthread *t = enter_runtime("gc_write_ptr");
    /* The flag may have been turned off since the caller read it. It cannot
     * change while this thread is in the runtime: it changes only with the
     * world stopped. */
    if (barrier_on()) {
        wbbuf_put(t, (uintptr_t) * (void **)slot);
        wbbuf_put(t, (uintptr_t)value);
        if (knobs.gccheckmark)
            checkmark_record((uintptr_t)slot, (uintptr_t)value);
    }
    *(void **)slot = value;
    exit_runtime(t);
}

/* Shades every aligned word of [p, p+n). */
static void shade_range(struct mthread *t, const void *p, size_t n)
{
    uintptr_t a = ((uintptr_t)p + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    for (; a + sizeof(uintptr_t) <= (uintptr_t)p + n; a += sizeof(uintptr_t))
        wbbuf_put(t, *(const uintptr_t *)a);
}

/* Go's bulkBarrierPreWrite: before a copy into memory that may hold GC
 * pointers, shade what is overwritten and what is written. */
void *gc_memmove(void *dst, const void *src, size_t n)
{
    struct mthread *t = enter_runtime("gc_memmove");
    int on = barrier_on();
    if (on) {
        shade_range(t, dst, n);
        shade_range(t, src, n);
    }
    memmove(dst, src, n);
    if (on && knobs.gccheckmark)
        checkmark_record_range(dst, n);
    exit_runtime(t);
    return dst;
}

void gc_memclr(void *dst, size_t n)
{
    struct mthread *t = enter_runtime("gc_memclr");
    if (barrier_on())
        shade_range(t, dst, n);
    memset(dst, 0, n);
    exit_runtime(t);
}
