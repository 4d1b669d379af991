/*
 * mheap: the page heap. Address space, free page runs, the span map.
 *
 * The heap reserves address space in arenas of 64 MiB (aligned, placed from
 * a fixed hint upward so that heap addresses are recognisable and mostly
 * contiguous) and makes it readable and writable in 4 MiB steps as it grows.
 * Every ready page of the heap is either part of one in-use span (objects)
 * or free (perhaps released to the OS).
 *
 * The span map: each arena has a heap_arena record whose spans[] entry for
 * a page points to the in-use span containing it, NULL for a free page. An
 * address is resolved to its span in O(1): bounds check, arena index, page
 * index. Entries are published with release stores and read with acquire
 * loads, so a marker that finds a span sees its fields.
 *
 * The page allocator (Go's pageAlloc, flattened): each arena keeps a bit
 * per page saying whether the page is taken (in use, being released, or not
 * yet made ready), and a summary per chunk of 512 pages (4 MiB): the free
 * pages at its start, the longest free run in it, the free pages at its end.
 * A request takes the lowest-addressed run of free pages that fits (first
 * fit by address), found by walking the summaries upward from search_addr,
 * below which no page is free. Free runs need no descriptors and coalesce
 * by construction. Packing the heap towards low addresses is what lets the
 * scavenger work from the top: the two rarely meet, and memory once released
 * is not faulted back in while lower free pages remain.
 *
 * Two more bits per page describe a free page's memory: scavenged, set while
 * it is returned to the OS (or never touched: new memory counts as released
 * until first allocated, as in Go), and dirty, set while it may hold old
 * data (it was part of a span and has not been released with DONTNEED since).
 * Allocating a page clears both; heap_released is exactly the number of
 * scavenged bits set. A span needs zeroing when any of its pages was dirty.
 *
 * Transparent huge pages: when the kernel offers them (THP "always", or
 * "madvise", where the heap asks for them unless GODEBUG=disablethp=1), the
 * heap's memory is faulted in 2 MiB at a time, which on virtual machines is
 * many times cheaper than 512 faults of 4 KiB, and a whole free huge page is
 * released by one cheap madvise. The scavenger then releases only whole free
 * huge pages in the background (see scavenge.h).
 *
 * Locking: mheap.lock protects the page bitmaps and summaries, search_addr,
 * the span map writes, the arena growth state, the span and bitmap free lists and the page
 * counters. It is a leaf-ish lock: taken by central lists (under their own lock) and by the
 * sweeper; nothing that takes a central lock is called under it.
 */
#ifndef TRICOLOR_HEAP_H
#define TRICOLOR_HEAP_H

#include "lock.h"
#include "metadata.h"
#include "span.h"

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

#define ARENA_SHIFT       26
#define ARENA_BYTES       ((uintptr_t)1 << ARENA_SHIFT)
#define PAGES_PER_ARENA   (ARENA_BYTES >> PAGE_SHIFT)
#define ARENA_INDEX_COUNT ((size_t)1 << (47 - ARENA_SHIFT)) /* 47-bit user space */
#define HEAP_GROW_PAGES   512                               /* 4 MiB */
#define MAX_BITMAP_WORDS  (MAX_OBJS_PER_SPAN / 64)
#define CHUNK_PAGES       512 /* pages summarised together: 4 MiB */
#define CHUNKS_PER_ARENA  (PAGES_PER_ARENA / CHUNK_PAGES)
#define HUGE_PAGE_BYTES   ((uintptr_t)2 << 20)

/* The per-page bitmaps of an arena. */
enum page_bitmap {
    PAGES_TAKEN,     /* in use, being released, or not yet ready */
    PAGES_SCAVENGED, /* free and returned to the OS (or never touched) */
    PAGES_DIRTY,     /* free and may hold old data */
    PAGE_BITMAPS,
};

/* Free pages in a chunk: at its start, the longest run, at its end. */
struct chunk_summary {
    uint16_t start, max, end;
};

struct heap_arena {
    struct mspan *volatile spans[PAGES_PER_ARENA];
    uint64_t bits[PAGE_BITMAPS][PAGES_PER_ARENA / 64];
    struct chunk_summary summary[CHUNKS_PER_ARENA];
};

struct mheap {
    struct rlock lock;
    struct heap_arena **arenas; /* indexed by address >> ARENA_SHIFT */
    uintptr_t *arena_bases;     /* every arena's base, in address order */
    size_t narenas;
    volatile AO_t arena_lo, arena_hi;
    uintptr_t grow_next, grow_end; /* reserved, not yet made ready */
    uintptr_t hint;
    int huge_pages; /* the heap's memory may be backed by huge pages */

    uintptr_t search_addr; /* no page below it is free */

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
/* Frees an in-use span's pages, and its descriptor. */
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

/* Where the search for pages to release goes on: below addr. Zeroed: from
 * the top. */
struct release_cursor {
    uintptr_t addr;
};

/* Returns to the OS up to max_pages free pages that are not yet released,
 * from the highest such pages below the cursor, in one stretch of free pages
 * (released ones included), and moves the cursor down to its start.
 * huge_aware: release only whole free 2 MiB-aligned huge pages. use_free:
 * MADV_FREE rather than MADV_DONTNEED. Returns the pages released; 0 means
 * nothing is left below the cursor. */
size_t mheap_release(struct release_cursor *cursor, size_t max_pages, int huge_aware, int use_free);

/* Faults in the lowest free released pages, up to the end of their huge
 * page and at most max_pages (a whole free huge page goes whole or not at
 * all), growing the heap when it has none; they come back free, unreleased
 * and zero. Takes the lock, but not across the faulting. Returns the pages
 * faulted in, 0 if none. The prefaulter's work (prefault.h). */
size_t mheap_prefault(size_t max_pages);

/* Page counts under the lock, for statistics and pacing. */
struct heap_pages {
    size_t inuse, free, released;
};
void mheap_read_pages(struct heap_pages *out);

/* The maximal run of free pages containing p, for tests: 0 when p's page is
 * not free, else its first page in *base and its length in *npages. */
int mheap_free_run(uintptr_t p, uintptr_t *base, size_t *npages);

#pragma GCC visibility pop

#endif
