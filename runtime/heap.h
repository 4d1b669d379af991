/*
 * mheap: the page heap. Address space, free page runs, the span map.
 *
 * The heap reserves address space in arenas of 64 MiB (aligned, placed from
 * a fixed hint upward so that heap addresses are recognisable and mostly
 * contiguous) and makes it readable and writable in 4 MiB steps as it grows.
 * Every page of the heap belongs to exactly one span: in use (objects),
 * or free (a run of free pages, perhaps released to the OS).
 *
 * The span map: each arena has a heap_arena record whose spans[] entry for
 * a page points to the in-use span containing it. Free runs map their first
 * and last page only (for coalescing); their interior entries are NULL. An
 * address is resolved to its span in O(1): bounds check, arena index, page
 * index. Entries are published with release stores and read with acquire
 * loads, so a marker that finds a span sees its fields.
 *
 * The page allocator: free runs of fewer than 128 pages sit in bins by
 * exact length, with a bitmap of non-empty bins, so a request finds the
 * smallest fitting run with a couple of count-trailing-zeros: O(1). Longer
 * runs sit on one list searched best-fit; there are few of them, since
 * freeing coalesces a run with its free neighbours at once. Allocation takes
 * the low end of a run and leaves the rest in its bin.
 *
 * Released pages: heap_arena.scavenged has a bit per page, set while a free
 * page's memory has been returned to the OS (or never touched: new memory
 * counts as released until first allocated, as in Go). Allocating a page
 * clears its bit. heap_released is exactly the number of set bits.
 *
 * Locking: mheap.lock protects the bins, the span map writes, the arena
 * growth state, the span and bitmap free lists and the page counters.
 * It is a leaf-ish lock: taken by central lists (under their own lock) and
 * by the sweeper; nothing that takes a central lock is called under it.
 */
#ifndef TRICOLOR_HEAP_H
#define TRICOLOR_HEAP_H

#include "metadata.h"
#include "span.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

#define ARENA_SHIFT 26
#define ARENA_BYTES ((uintptr_t)1 << ARENA_SHIFT)
#define PAGES_PER_ARENA (ARENA_BYTES >> PAGE_SHIFT)
#define ARENA_INDEX_COUNT ((size_t)1 << (47 - ARENA_SHIFT)) /* 47-bit user space */
#define HEAP_GROW_PAGES 512                                  /* 4 MiB */
#define FREE_BINS 128
#define MAX_BITMAP_WORDS (MAX_OBJS_PER_SPAN / 64)

struct heap_arena {
    struct mspan *volatile spans[PAGES_PER_ARENA];
    uint64_t scavenged[PAGES_PER_ARENA / 64];
};

struct mheap {
    pthread_mutex_t lock;
    struct heap_arena **arenas; /* indexed by address >> ARENA_SHIFT */
    volatile AO_t arena_lo, arena_hi;
    uintptr_t grow_next, grow_end; /* reserved, not yet made ready */
    uintptr_t hint;

    struct mspan *free_bins[FREE_BINS];
    uint64_t free_bins_nonempty[FREE_BINS / 64];
    struct mspan *free_large;

    struct fixalloc span_alloc;
    struct fixalloc bits_alloc[MAX_BITMAP_WORDS + 1];

    /* Pages, under lock. sys = inuse + free; released <= free. */
    size_t pages_inuse, pages_free, pages_released;

    volatile AO_t sweepgen;
};

extern struct mheap mheap_;

void mheap_init(void);
/* A new in-use span of npages pages for spanclass, its bitmaps zeroed.
 * NULL when the OS refuses memory. */
struct mspan *mheap_alloc(size_t npages, unsigned spanclass);
/* Returns an in-use span's pages to the free runs. */
void mheap_free(struct mspan *s);

/* The span map entry for p, or NULL; not necessarily in use. */
static inline struct mspan *span_of(uintptr_t p)
{
    uintptr_t lo = atomic_load_relaxed(&mheap_.arena_lo);
    if (p - lo >= atomic_load_relaxed(&mheap_.arena_hi) - lo)
        return NULL;
    struct heap_arena *a =
        (struct heap_arena *)atomic_load((volatile AO_t *)&mheap_.arenas[p >> ARENA_SHIFT]);
    if (a == NULL)
        return NULL;
    return (struct mspan *)atomic_load(
        (volatile AO_t *)&a->spans[(p >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1)]);
}

/* The in-use span whose object area contains p, or NULL. */
static inline struct mspan *span_of_heap(uintptr_t p)
{
    struct mspan *s = span_of(p);
    if (s == NULL || atomic_load(&s->state) != SPAN_IN_USE || p < s->base || p >= s->limit)
        return NULL;
    return s;
}

/* Go's findObject: the base of the allocated object containing p (interior
 * pointers included), with its span and index; 0 when p is not in one. */
static inline uintptr_t find_object(uintptr_t p, struct mspan **sp, unsigned *idxp)
{
    struct mspan *s = span_of_heap(p);
    if (s == NULL)
        return 0;
    unsigned idx = span_object_index(s, p);
    if (!span_object_allocated(s, idx))
        return 0;
    *sp = s;
    *idxp = idx;
    return s->base + (uintptr_t)idx * s->elemsize;
}

/* Where the search for pages to release goes on: below addr; run_base is
 * the free run it stopped inside, if any. Zeroed: from the top. */
struct release_cursor {
    uintptr_t addr, run_base;
};

/* Returns to the OS up to max_pages free pages that are not yet released,
 * from the highest free run below the cursor, and moves the cursor down past
 * what it looked at. huge_aware: release only whole 2 MiB-aligned huge
 * pages. use_free: MADV_FREE rather than MADV_DONTNEED. Returns the pages
 * released; 0 means nothing is left below the cursor. */
size_t mheap_release(struct release_cursor *cursor, size_t max_pages, int huge_aware,
                     int use_free);

/* Page counts under the lock, for statistics and pacing. */
struct heap_pages {
    size_t inuse, free, released;
};
void mheap_read_pages(struct heap_pages *out);

#pragma GCC visibility pop

#endif
