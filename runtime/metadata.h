/*
 * Off-heap metadata: persistent chunks and fixed-size free lists.
 *
 * Everything the runtime knows about the heap (span descriptors, bitmaps,
 * per-thread caches, work buffers, the span map) lives outside the heap, in
 * memory the collector never scans and the allocator never hands to users.
 * None of it comes from malloc: a thread stopped by the collector may hold
 * malloc's lock, so the collector must be able to run without it.
 *
 * persistent_alloc hands out memory that is never freed, carved from 256 KiB
 * chunks. fixalloc keeps a free list of objects of one size on top of it
 * (Go's mfixalloc): it is not thread-safe, its owner's lock protects it.
 * Every byte obtained from the OS is charged to one of the metadata_stats
 * counters, so that Sys adds up.
 */
#ifndef TRICOLOR_METADATA_H
#define TRICOLOR_METADATA_H

#include "atomics.h"

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* Where metadata bytes are charged: MemStats' *_sys fields. */
struct metadata_stats {
    volatile AO_t mspan_sys, mspan_inuse;
    volatile AO_t mcache_sys, mcache_inuse;
    volatile AO_t gc_sys;    /* bitmaps, work buffers, arena metadata */
    volatile AO_t other_sys; /* everything else */
};
extern struct metadata_stats metadata_stats;

/* Zeroed memory that is never freed; charges *sys_stat. Aborts on failure. */
void *persistent_alloc(size_t size, size_t align, volatile AO_t *sys_stat);

/* The persistent allocator's lock, for fork(). */
void persistent_fork_lock(void);
void persistent_fork_unlock(void);

struct fixalloc {
    size_t size;
    void *free_list;
    char *chunk;
    size_t chunk_left;
    volatile AO_t *sys_stat;   /* charged when a chunk is taken */
    volatile AO_t *inuse_stat; /* size per object handed out; may be NULL */
};

void fixalloc_init(struct fixalloc *f, size_t size, volatile AO_t *sys_stat,
                   volatile AO_t *inuse_stat);
/* Zeroed object. */
void *fixalloc_alloc(struct fixalloc *f);
void fixalloc_free(struct fixalloc *f, void *p);

#pragma GCC visibility pop

#endif
