/*
 * The page allocator: which pages of the heap are free, and the state of a
 * free page's memory (Go's pageAlloc, flattened).
 *
 * The heap (heap.h) reserves address space in arenas of 64 MiB and makes it
 * ready as it grows. The page allocator keeps, for each arena, a bit per
 * page saying whether the page is taken (part of a span, being released or
 * faulted in, or not yet ready), and a summary per chunk of 512 pages
 * (4 MiB): the free pages at its start, the longest free run in it, the
 * free pages at its end. A request takes the lowest-addressed run of free
 * pages that fits (first fit by address), found by walking the summaries
 * upward from search_addr, below which no page is free. Free runs need no
 * descriptors and coalesce by construction. Packing the heap towards low
 * addresses is what lets the scavenger work from the top: the two rarely
 * meet, and memory once released is not faulted back in while lower free
 * pages remain.
 *
 * Two more bits per page describe a free page's memory: scavenged, set while
 * it is returned to the OS (or never touched: new memory counts as released
 * until first allocated, as in Go), and dirty, set while it may hold old
 * data (it was part of a span and has not been released with DONTNEED since).
 * Allocating a page clears both; `released` is exactly the number of
 * scavenged bits set. A run needs zeroing when any of its pages was dirty.
 *
 * Huge pages: when the heap's memory may be backed by transparent huge
 * pages, touching any page of a wholly released 2 MiB page faults in all of
 * it, so taking a run counts every page of such huge pages resident, the
 * free ones as free and unreleased (pagealloc_take).
 *
 * Two searches serve the heap's releasing and faulting in: the highest free
 * pages not yet released below a limit (the scavenger works downward), and
 * the lowest free released pages (the prefaulter works upward). A stretch
 * being released or faulted in is taken out of the free runs meanwhile, so
 * that nobody allocates it, while it stays counted as free.
 *
 * Locking: the page allocator has no lock of its own; every function here
 * runs under the heap lock, as Go's pageAlloc runs under mheap_.lock.
 */
#ifndef TRICOLOR_PAGEALLOC_H
#define TRICOLOR_PAGEALLOC_H

#include "span.h"

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

#define ARENA_SHIFT       26
#define ARENA_BYTES       ((uintptr_t)1 << ARENA_SHIFT)
#define PAGES_PER_ARENA   (ARENA_BYTES >> PAGE_SHIFT)
#define ARENA_INDEX_COUNT ((size_t)1 << (47 - ARENA_SHIFT)) /* 47-bit user space */
#define CHUNK_PAGES       512                               /* pages summarised together: 4 MiB */
#define CHUNKS_PER_ARENA  (PAGES_PER_ARENA / CHUNK_PAGES)
#define HUGE_PAGE_BYTES   ((uintptr_t)2 << 20)

/* The per-page bitmaps of an arena. */
enum page_bitmap {
    PAGES_TAKEN,     /* in use, being released or faulted in, or not yet ready */
    PAGES_SCAVENGED, /* free and returned to the OS (or never touched) */
    PAGES_DIRTY,     /* free and may hold old data */
    PAGE_BITMAPS,
};

/* Free pages in a chunk: at its start, the longest run, at its end. */
struct chunk_summary {
    uint16_t start, max, end;
};

#define HUGE_PAGES_PER_ARENA (ARENA_BYTES / HUGE_PAGE_BYTES)

/* One arena's pages. promoted: a bit per 2 MiB huge page of the arena, set
 * while that range is asked to be backed by a huge page (promote.h). */
struct arena_pages {
    uint64_t bits[PAGE_BITMAPS][PAGES_PER_ARENA / 64];
    struct chunk_summary summary[CHUNKS_PER_ARENA];
    uint32_t promoted;
    uint32_t released_seen; /* promoted, wholly free and released at the last look */
};

/* Page counts: ready = inuse + free; released <= free. */
struct heap_pages {
    size_t inuse, free, released;
};

struct pagealloc {
    struct arena_pages **arenas; /* indexed by address >> ARENA_SHIFT */
    uintptr_t *arena_bases;      /* every arena's base, in address order */
    size_t narenas;
    uintptr_t search_addr; /* no page below it is free */
    int huge_pages;        /* the memory may be backed by huge pages */
    struct heap_pages count;
};

extern struct pagealloc pagealloc_;

void pagealloc_init(int huge_pages);
/* Records a new arena from base, every page taken: not yet ready. */
void pagealloc_add_arena(uintptr_t base);
/* Adds npages new, ready pages from base to the free pages, as released. */
void pagealloc_grow(uintptr_t base, size_t npages);
/* The lowest run of npages free pages, or 0 when there is none. */
uintptr_t pagealloc_find(size_t npages);
/* Whether any of npages pages from base is released: touching it faults. */
int pagealloc_cold(uintptr_t base, size_t npages);
/* Takes npages free pages from base for a span; returns whether any of them
 * may hold old data (the span needs zeroing). */
int pagealloc_take(uintptr_t base, size_t npages);
/* Gives a span's npages pages from base back: free, and dirty. */
void pagealloc_free(uintptr_t base, size_t npages);
/* The maximal run of free pages containing p, for tests: 0 when p's page is
 * not free, else its first page in *base and its length in *npages. */
int pagealloc_free_run(uintptr_t p, uintptr_t *base, size_t *npages);

/* The stretch to release next, below limit: [*lo, *hi), free pages ending
 * with the highest unreleased one (huge_aware: whole free huge pages),
 * holding at most max_pages unreleased pages, taken out of the free runs
 * until pagealloc_release_end. 0 when there is none. */
int pagealloc_release_begin(uintptr_t limit, size_t max_pages, int huge_aware, uintptr_t *lo,
                            uintptr_t *hi);
/* The stretch [lo, hi) was returned to the OS: released, free again, and
 * clean unless use_free (MADV_FREE may keep the old data). Returns the
 * pages newly released. */
size_t pagealloc_release_end(uintptr_t lo, uintptr_t hi, int use_free);
/* The lowest free released pages at or above search_addr, up to the end of
 * their huge page and at most max_pages (a whole free huge page goes whole
 * or not at all), taken out of the free runs and counted resident until
 * pagealloc_prefault_end; 0 when there are none (*lo 0: none at all) or
 * they do not fit in max_pages. */
size_t pagealloc_prefault_begin(size_t max_pages, uintptr_t *lo);
void pagealloc_prefault_end(uintptr_t lo, size_t npages);
/* The free released pages from `from` on, at most max_pages, taken out of
 * the free runs and counted resident until pagealloc_prefault_end: the
 * caller faults them in. Returns how many (0: none). */
size_t pagealloc_populate_begin(uintptr_t from, size_t max_pages);

/* Promotion to huge pages (promote.h). The lowest 2 MiB range at or above
 * from that is wholly free, resident (no page released) and not promoted,
 * taken out of the free runs until pagealloc_promote_end; 0 when none. */
uintptr_t pagealloc_promote_begin(uintptr_t from);
/* The range taken by pagealloc_promote_begin is free again, promoted and
 * zero (the caller gave its memory back and faulted it in anew). */
void pagealloc_promote_end(uintptr_t h);
/* Every range of the new arena at arena_base counts as promoted: its memory
 * asks for huge pages from the start (heap.c, thpgrowth=2). */
void pagealloc_set_promoted(uintptr_t arena_base);
/* Whether the 2 MiB range at h (aligned) is promoted. */
int pagealloc_promoted(uintptr_t h);
/* The promoted bits of the arena at arena_base, a bit per 2 MiB range. */
uint32_t pagealloc_promoted_bits(uintptr_t arena_base);
/* Whether every page of the 2 MiB range at h is released / free. */
int pagealloc_wholly_released(uintptr_t h);
int pagealloc_wholly_free(uintptr_t h);
/* Takes the free 2 MiB range at h out of the free runs (take) or gives it
 * back (!take). */
void pagealloc_take_range(uintptr_t h, int take);
/* Whether every page of npages from base is released. */
int pagealloc_all_released(uintptr_t base, size_t npages);
/* Promoted ranges that were wholly free and released at the previous call
 * and still are: up to max of them are demoted (their bit cleared), taken
 * out of the free runs and stored in out[] for the caller to mark small
 * pages and give back with pagealloc_take_range. Returns how many. */
size_t pagealloc_demote_stale(uintptr_t *out, size_t max);
/* Clears the promoted bit of the 2 MiB range at h; returns whether it was set. */
int pagealloc_demote(uintptr_t h);

#pragma GCC visibility pop

#endif
