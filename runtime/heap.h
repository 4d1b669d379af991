/*
 * mheap: the page heap. Address space, spans, the span map.
 *
 * The heap reserves address space in arenas of 64 MiB (aligned, placed from
 * a fixed hint upward so that heap addresses are recognisable and mostly
 * contiguous) and makes it readable and writable in 4 MiB steps as it grows.
 * Every ready page of the heap is either part of one in-use span (objects)
 * or free (perhaps released to the OS). Which pages are free, and what a
 * free page's memory holds, is the page allocator's (pagealloc.h); the heap
 * turns runs of pages into spans and back, grows, and releases or faults in
 * stretches of free pages for its callers.
 *
 * The span map: each arena has a heap_arena record whose spans[] entry for
 * a page points to the in-use span containing it, NULL for a free page. An
 * address is resolved to its span in O(1): bounds check, arena index, page
 * index. Entries are published with release stores and read with acquire
 * loads, so a marker that finds a span sees its fields.
 *
 * Fresh memory in small pages (GODEBUG=disablethp=1 or thpgrowth=0):
 * released pages (new growth, or given back to the OS) that an allocation
 * takes are faulted in with madvise(MADV_POPULATE_WRITE), 64
 * KiB at a time (the span's pages and the free released pages after them up
 * to a 64 KiB boundary), not one fault per 4 KiB page touched: on the virtual
 * machines measured a fault taken by touching costs about 10 us, and the
 * same pages populated by one call cost 20 times less.
 *
 * Transparent huge pages: when the kernel offers them (THP "always", or
 * "madvise", where the heap asks for them unless GODEBUG=disablethp=1), the
 * heap's memory is faulted in 2 MiB at a time, which on virtual machines is
 * many times cheaper than 512 faults of 4 KiB (cheap on memory the host
 * backs; 3-5 ms in one allocation on memory it has taken back), and a whole
 * free huge page is released by one cheap madvise. The scavenger then
 * releases only whole free huge pages in the background (see scavenge.h).
 * With GODEBUG=thpgrowth=0 (off by default) the arenas are MADV_NOHUGEPAGE,
 * fresh memory is small pages, and 2 MiB ranges the heap reuses are
 * promoted to huge pages in the background (promote.h); thpgrowth=2 does
 * the same except for the first arena, huge pages from the start.
 *
 * Policy lives above. The heap calls no pacer, scavenger or prefaulter: an
 * allocation reports what it did (struct heap_alloc: how much the heap grew,
 * the page counts after, a run refused because it would fault) and the
 * allocator's top layer (malloc.c) decides what follows.
 *
 * Locking: mheap.lock protects the page allocator, the span map writes, the
 * arena growth state, and the span and bitmap free lists. It is taken by
 * central lists (not under their own lock), the sweeper, the scavenger and
 * the prefaulter; nothing that takes a central lock is called under it.
 */
#ifndef TRICOLOR_HEAP_H
#define TRICOLOR_HEAP_H

#include "lock.h"
#include "metadata.h"
#include "pagealloc.h"
#include "span.h"

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

#define HEAP_GROW_PAGES  512 /* 4 MiB */
#define MAX_BITMAP_WORDS (MAX_OBJS_PER_SPAN / 64)

struct heap_arena {
    struct mspan *volatile spans[PAGES_PER_ARENA];
};

struct mheap {
    struct rlock lock;
    struct heap_arena **arenas; /* indexed by address >> ARENA_SHIFT */
    volatile AO_t arena_lo, arena_hi;
    uintptr_t grow_next, grow_end; /* reserved, not yet made ready */
    uintptr_t hint;
    int huge_pages;   /* the heap's memory may be backed by huge pages */
    int huge_growth;  /* fresh memory is faulted in huge pages (thpgrowth=1) */
    int huge_promote; /* thpgrowth=0, 2, 3: small fresh pages, reused ranges promoted */
    int huge_first;   /* thpgrowth=2: the first arena is fresh huge pages, as if promoted */
    int huge_ahead;   /* thpgrowth=3: the prefaulter makes fresh huge pages ahead (prefault.h) */

    struct fixalloc span_alloc;
    struct fixalloc bits_alloc[MAX_BITMAP_WORDS + 1];

    volatile AO_t sweepgen;
};

extern struct mheap mheap_;

void mheap_init(void);

/* A span allocation's request and report. */
struct heap_alloc {
    int resident_only; /* in: refuse a run that would fault (prefault.h) */
    /* in: with resident_only, a word to wait on after a refusal; out: its
     * value when the run was refused, read under the lock */
    const volatile uint32_t *wait_word;
    uint32_t wait_seen;
    int cold;                /* out: refused; nothing was allocated */
    int from_heap;           /* out: the page heap was asked for a span */
    size_t grew;             /* out: bytes the heap grew by */
    struct heap_pages after; /* out: the page counts after */
};

/* A new in-use span of npages pages for spanclass, its bitmaps zeroed, and
 * what it did in *ha. NULL when the OS refuses memory, or (ha->cold) when
 * ha->resident_only and the run it would take is released. */
struct mspan *mheap_alloc(size_t npages, unsigned spanclass, struct heap_alloc *ha);
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
 * all), growing the heap when it has none (by *grew bytes); they come back
 * free, unreleased and zero. Takes the lock, but not across the faulting.
 * Returns the pages faulted in, 0 if none. The prefaulter's work
 * (prefault.h). */
size_t mheap_prefault(size_t max_pages, size_t *grew);

/* Promotes the lowest 2 MiB range at or above from that is wholly free,
 * resident and not promoted yet to a huge page: gives its small pages back
 * and faults it in anew as a huge page, holding no lock meanwhile (the range
 * is out of the free runs). It comes back free, resident and zero. Returns
 * the range's base, 0 when there is none. promote.h's work. */
uintptr_t mheap_promote(uintptr_t from);
/* Demotes to small pages the promoted ranges that were wholly free and
 * released at the previous call and still are (pagealloc_demote_stale):
 * memory left released that long is no longer backed by the host, and
 * faulting it in as one huge page would stall an allocation for
 * milliseconds. Returns how many. promote.h's work. */
size_t mheap_demote_stale(void);

/* Page counts under the lock, for statistics and pacing. */
void mheap_read_pages(struct heap_pages *out);

/* The maximal run of free pages containing p, for tests: 0 when p's page is
 * not free, else its first page in *base and its length in *npages. */
int mheap_free_run(uintptr_t p, uintptr_t *base, size_t *npages);

#pragma GCC visibility pop

#endif
