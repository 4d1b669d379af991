/*
 * Weak callbacks, gc_is_live and gc_mark_live. See weakcb.h.
 */
#include "weakcb.h"

#include "heap.h"
#include "lock.h"
#include "metadata.h"
#include "platform.h"
#include "threads.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <tricolor.h>

struct weakcb {
    gc_weak_fn fn; /* NULL: a free slot */
    void *data;
};

static RUNTIME_STATE struct {
    /* lock protects table, cap and n (slots in use or freed below n). */
    struct rlock lock;
    struct weakcb *table;
    size_t cap, n;

    /* While weak_callbacks_run runs them (the controller's, in the
     * pause): running is set, runner is the controller, w its gcw, newly
     * what gc_mark_live marked anew. */
    volatile AO_t running;
    pthread_t runner;
    struct gcw *w;
    size_t newly;
} cbs = {.lock = RLOCK_INIT("the weak callbacks' lock", RANK_WEAKCB)};

/* Is the caller a weak callback, now? */
static int in_callback(void)
{
    return atomic_load(&cbs.running) && pthread_equal(cbs.runner, pthread_self());
}

size_t weak_callbacks_run(int phase, struct gcw *w)
{
    cbs.w = w;
    cbs.newly = 0;
    cbs.runner = pthread_self();
    atomic_store(&cbs.running, 1);
    for (size_t i = 0;; i++) {
        rlock_acquire(&cbs.lock);
        if (i >= cbs.n) {
            rlock_release(&cbs.lock);
            break;
        }
        struct weakcb c = cbs.table[i];
        rlock_release(&cbs.lock);
        if (c.fn != NULL)
            c.fn(phase, c.data);
    }
    atomic_store(&cbs.running, 0);
    cbs.w = NULL;
    return cbs.newly;
}

int gc_add_weak_callback(gc_weak_fn fn, void *data)
{
    if (fn == NULL) {
        runtime_warn("gc_add_weak_callback(NULL, %p): no function given; returning -1", data);
        return -1;
    }
    struct mthread *t = enter_runtime_maybe();
    rlock_acquire(&cbs.lock);
    size_t h = 0;
    while (h < cbs.n && cbs.table[h].fn != NULL)
        h++;
    if (h == cbs.cap) {
        size_t cap = cbs.cap ? cbs.cap * 2 : 16;
        struct weakcb *a = persistent_alloc(cap * sizeof *a, 8, &metadata_stats.other_sys);
        if (cbs.table)
            memcpy(a, cbs.table, cbs.n * sizeof *a);
        cbs.table = a; /* the old array is persistent memory: a few bytes, kept */
        cbs.cap = cap;
    }
    cbs.table[h] = (struct weakcb){fn, data};
    if (h == cbs.n)
        cbs.n++;
    rlock_release(&cbs.lock);
    exit_runtime_maybe(t);
    return (int)h;
}

int gc_remove_weak_callback(int handle)
{
    struct mthread *t = enter_runtime_maybe();
    rlock_acquire(&cbs.lock);
    int ok = handle >= 0 && (size_t)handle < cbs.n && cbs.table[handle].fn != NULL;
    if (ok)
        cbs.table[handle] = (struct weakcb){NULL, NULL};
    rlock_release(&cbs.lock);
    exit_runtime_maybe(t);
    if (!ok)
        runtime_warn("gc_remove_weak_callback(%d): no such callback; returning -1", handle);
    return ok ? 0 : -1;
}

/* Live now, from anywhere but a callback (weakcb.h): allocated, and
 * marked too if its span is not swept yet. The span's sweepgen is read
 * before and after, as a seqlock: a sweep that ran meanwhile means the
 * bits read may be from either side of it. */
static int live_now(uintptr_t p)
{
    for (;;) {
        struct mspan *s = span_of_heap(p);
        if (s == NULL)
            return 0;
        AO_t sg = atomic_load(&s->sweepgen);
        AO_t heap_sg = atomic_load(&mheap_.sweepgen);
        if (sg == heap_sg - 1) {
            sched_yield(); /* being swept */
            continue;
        }
        unsigned idx = span_object_index(s, p);
        int allocated = span_object_allocated(s, idx);
        int marked = bit_is_set(s->gcmark_bits, idx);
        atomic_fence();
        if (atomic_load(&s->sweepgen) != sg || span_of_heap(p) != s)
            continue;
        if (!allocated)
            return 0;
        return sg == heap_sg - 2 ? marked : 1;
    }
}

int gc_is_live(const void *p)
{
    if (p == NULL)
        return 0;
    if (in_callback()) {
        struct mspan *s;
        unsigned idx;
        return find_object((uintptr_t)p, &s, &idx) != 0 && bit_is_set(s->gcmark_bits, idx);
    }
    struct mthread *t = enter_runtime_maybe();
    int live = live_now((uintptr_t)p);
    exit_runtime_maybe(t);
    return live;
}

int gc_mark_live(void *p)
{
    if (!in_callback()) {
        runtime_warn("gc_mark_live(%p): only valid inside a weak callback (gc_add_weak_callback); "
                     "ignored",
                     p);
        return 0;
    }
    struct mspan *s;
    unsigned idx;
    if (p == NULL || find_object((uintptr_t)p, &s, &idx) == 0 || bit_is_set(s->gcmark_bits, idx))
        return 0;
    grey_pointer((uintptr_t)p, cbs.w);
    mark_drain(cbs.w);
    cbs.newly++;
    return 1;
}
