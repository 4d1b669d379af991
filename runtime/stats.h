/*
 * Allocation statistics: the counters behind gc_read_memstats.
 *
 * Counting is cheap on the allocation fast path because it happens per
 * span, not per object: a cached span remembers its alloc_count when it was
 * cached, and the difference is added to nmalloc when the span is given back
 * (cache.c). A reader stops the world and adds the differences of the spans
 * still cached, so the figures it reports are exact. Frees are counted by
 * the sweeper, per span. Large objects are counted as they come and go.
 *
 * Byte counters follow Go: a small object counts its size class's size, a
 * large one its span's size.
 */
#ifndef TRICOLOR_STATS_H
#define TRICOLOR_STATS_H

#include "atomics.h"
#include "sizeclasses.h"

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

struct heap_stats {
    volatile AO_t nmalloc[NUM_SIZE_CLASSES]; /* small objects by class, folded in */
    volatile AO_t nfree[NUM_SIZE_CLASSES];
    volatile AO_t large_alloc_count, large_alloc_bytes;
    volatile AO_t large_free_count, large_free_bytes;
};

extern struct heap_stats heap_stats;

/* Bytes of allocated objects as the counters stand now, without the
 * unfolded counts of cached spans (Go's totalAlloc - totalFree). */
uint64_t heap_alloc_bytes(void);
/* Everything obtained from the OS: the heap and all metadata (MemStats.Sys). */
uint64_t runtime_sys_bytes(void);
/* The metadata part of it; takes no lock. */
uint64_t metadata_sys(void);

#pragma GCC visibility pop

#endif
