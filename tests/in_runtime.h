/*
 * The runtime's internals, called from tests as the runtime calls them:
 * inside the runtime (enter_runtime / exit_runtime), where the collector's
 * stop cannot land while the caller holds a runtime lock (runtime/lock.h).
 * A registered test thread that called them outside would break the lock
 * rule, and builds with assertions abort when it does.
 */
#ifndef TRICOLOR_TESTS_IN_RUNTIME_H
#define TRICOLOR_TESTS_IN_RUNTIME_H

#include <check.h>
#include <stdint.h>

#include "heap.h"
#include "mark.h"
#include "support.h"
#include "threads.h"

/* mheap_alloc, which must not refuse (no resident_only) nor fail. */
static UNUSED struct mspan *heap_alloc(size_t npages, unsigned spanclass)
{
    struct mthread *t = enter_runtime("test");
    struct heap_alloc ha = {0};
    struct mspan *s = mheap_alloc(npages, spanclass, &ha);
    exit_runtime(t);
    ck_assert(!ha.cold && ha.from_heap);
    return s;
}

static UNUSED void heap_free(struct mspan *s)
{
    struct mthread *t = enter_runtime("test");
    mheap_free(s);
    exit_runtime(t);
}

static UNUSED void heap_read_pages(struct heap_pages *p)
{
    struct mthread *t = enter_runtime("test");
    mheap_read_pages(p);
    exit_runtime(t);
}

static UNUSED int heap_free_run(uintptr_t p, uintptr_t *base, size_t *npages)
{
    struct mthread *t = enter_runtime("test");
    int found = mheap_free_run(p, base, npages);
    exit_runtime(t);
    return found;
}

static UNUSED size_t heap_prefault(size_t max_pages)
{
    struct mthread *t = enter_runtime("test");
    size_t grew;
    size_t n = mheap_prefault(max_pages, &grew);
    exit_runtime(t);
    return n;
}

static UNUSED void rt_gcw_put(struct gcw *w, uintptr_t obj)
{
    struct mthread *t = enter_runtime("test");
    gcw_put(w, obj);
    exit_runtime(t);
}

static UNUSED uintptr_t rt_gcw_get(struct gcw *w)
{
    struct mthread *t = enter_runtime("test");
    uintptr_t obj = gcw_get(w);
    exit_runtime(t);
    return obj;
}

static UNUSED void rt_gcw_dispose(struct gcw *w)
{
    struct mthread *t = enter_runtime("test");
    gcw_dispose(w);
    exit_runtime(t);
}

static UNUSED void rt_grey_pointer(uintptr_t p, struct gcw *w)
{
    struct mthread *t = enter_runtime("test");
    grey_pointer(p, w);
    exit_runtime(t);
}

static UNUSED void rt_mark_drain(struct gcw *w)
{
    struct mthread *t = enter_runtime("test");
    mark_drain(w);
    exit_runtime(t);
}

#endif
