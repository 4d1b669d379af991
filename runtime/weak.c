/*
 * Weak pointers. See weak.h.
 */
#include "weak.h"

#include "heap.h"
#include "platform.h"
#include "special.h"
#include "threads.h"

#include <sched.h>
#include <tricolor.h>

/* gc_weak is the public name of a weak handle. */
struct gc_weak {
    struct weak_handle h;
};

/* The object's handle, or NULL. Inside the runtime. */
static struct weak_handle *handle_of(struct mspan *s, uintptr_t base)
{
    rlock_acquire(&specials_lock);
    struct special *sp = special_find(s, base, SPECIAL_WEAK);
    struct weak_handle *h = sp ? sp->u.weak.handle : NULL;
    rlock_release(&specials_lock);
    return h;
}

gc_weak *gc_weak_make(void *obj)
{
    if (obj == NULL)
        return NULL;
    struct mthread *t = enter_runtime("gc_weak_make");
    struct mspan *s = NULL;
    unsigned idx = 0;
    uintptr_t base = find_object((uintptr_t)obj, &s, &idx);
    struct weak_handle *h = base == (uintptr_t)obj ? handle_of(s, base) : NULL;
    exit_runtime(t);
    if (base != (uintptr_t)obj) {
        runtime_warn("gc_weak_make(%p): not the start of a heap object%s; refused", obj,
                     base ? " (an interior pointer)" : "");
        return NULL;
    }
    if (h)
        return (gc_weak *)h;
    /* Allocated outside the lock (an allocation may sweep, or start a
     * cycle); obj, held by the caller, stays where it is. */
    struct weak_handle *fresh = gc_alloc_noscan(sizeof *fresh);
    atomic_store(&fresh->target, base);
    t = enter_runtime("gc_weak_make");
    rlock_acquire(&specials_lock);
    struct special *sp = special_find(s, base, SPECIAL_WEAK);
    if (sp == NULL) {
        sp = special_add(s, base, base, SPECIAL_WEAK);
        sp->u.weak.handle = fresh;
    }
    h = sp->u.weak.handle;
    rlock_release(&specials_lock);
    exit_runtime(t);
    /* The record keeps the handle alive; the root job may have run. */
    gc_shade(h);
    return (gc_weak *)h;
}

void *gc_weak_get(const gc_weak *w)
{
    if (w == NULL)
        return NULL;
    const struct weak_handle *h = &w->h;
    struct mthread *t = enter_runtime("gc_weak_get");
    AO_t sg = atomic_load(&mheap_.sweepgen);
    uintptr_t result = 0;
    for (;;) {
        uintptr_t x = atomic_load(&h->target);
        if (x == 0)
            break;
        struct mspan *s = span_of_heap(x);
        if (s == NULL) {
            /* The span went away: only after the sweeper cleared x. */
            if (atomic_load(&h->target) == 0)
                break;
            fatal("gc_weak_get(%p): the target %p is in no span", (const void *)w, (void *)x);
        }
        AO_t ssg = atomic_load(&s->sweepgen);
        if (ssg == sg) {
            /* Swept: the sweeper cleared the target before publishing sg. */
            result = atomic_load(&h->target);
            break;
        }
        if (ssg == sg - 1) {
            sched_yield();
            continue;
        }
        if (ssg == sg - 2) {
            int marked = bit_is_set(s->gcmark_bits, span_object_index(s, x));
            atomic_fence();
            if (atomic_load(&s->sweepgen) != ssg || atomic_load(&h->target) != x)
                continue;
            result = marked ? x : 0;
            break;
        }
        /* s is another span now (x's was freed after its sweep): look again. */
    }
    exit_runtime(t);
    if (result)
        gc_shade((void *)result);
    return (void *)result;
}
