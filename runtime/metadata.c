/*
 * Off-heap metadata allocation. See metadata.h.
 */
#include "metadata.h"

#include "lock.h"
#include "platform.h"

#include <pthread.h>
#include <string.h>

RUNTIME_STATE struct metadata_stats metadata_stats;

#define PERSISTENT_CHUNK (256u << 10)

/* The persistent allocator's lock protects chunk and chunk_left. It is a
 * leaf lock: nothing is called while it is held. */
static struct rlock persistent_lock =
    RLOCK_INIT("the persistent allocator's lock", RANK_PERSISTENT);
static char *persistent_chunk;
static size_t persistent_left;

void *persistent_alloc(size_t size, size_t align, volatile AO_t *sys_stat)
{
    if (align == 0)
        align = 8;
    if (size >= PERSISTENT_CHUNK / 4) {
        void *p = sys_alloc(size);
        if (p == NULL)
            fatal("out of memory allocating %zu bytes of runtime metadata", size);
        atomic_xadd(sys_stat, size);
        return p;
    }
    rlock_acquire(&persistent_lock);
    uintptr_t cur = (uintptr_t)persistent_chunk;
    uintptr_t aligned = (cur + align - 1) & ~(uintptr_t)(align - 1);
    if (persistent_chunk == NULL || aligned + size > cur + persistent_left) {
        char *chunk = sys_alloc(PERSISTENT_CHUNK);
        if (chunk == NULL)
            fatal("out of memory allocating runtime metadata");
        persistent_chunk = chunk;
        persistent_left = PERSISTENT_CHUNK;
        cur = aligned = (uintptr_t)chunk;
        atomic_xadd(&metadata_stats.other_sys, PERSISTENT_CHUNK);
    }
    persistent_left -= aligned + size - cur;
    persistent_chunk = (char *)(aligned + size);
    rlock_release(&persistent_lock);
    /* The chunk was charged to other_sys when it was taken; move this
     * piece's bytes to the caller's counter. */
    if (sys_stat != &metadata_stats.other_sys) {
        atomic_xadd(&metadata_stats.other_sys, (AO_t) - (AO_t)size);
        atomic_xadd(sys_stat, size);
    }
    return (void *)aligned;
}

void fixalloc_init(struct fixalloc *f, size_t size, volatile AO_t *sys_stat,
                   volatile AO_t *inuse_stat)
{
    memset(f, 0, sizeof *f);
    f->size = size < sizeof(void *) ? sizeof(void *) : (size + 7) & ~(size_t)7;
    f->sys_stat = sys_stat;
    f->inuse_stat = inuse_stat;
}

void *fixalloc_alloc(struct fixalloc *f)
{
    void *p;
    if (f->free_list != NULL) {
        p = f->free_list;
        f->free_list = *(void **)p;
        memset(p, 0, f->size);
    } else {
        if (f->chunk_left < f->size) {
            size_t n = 16 * f->size < PERSISTENT_CHUNK / 4 ? PERSISTENT_CHUNK / 4 : 16 * f->size;
            f->chunk = persistent_alloc(n, 64, f->sys_stat);
            f->chunk_left = n;
        }
        p = f->chunk;
        f->chunk += f->size;
        f->chunk_left -= f->size;
    }
    if (f->inuse_stat)
        atomic_xadd(f->inuse_stat, f->size);
    return p;
}

void fixalloc_free(struct fixalloc *f, void *p)
{
    *(void **)p = f->free_list;
    f->free_list = p;
    if (f->inuse_stat)
        atomic_xadd(f->inuse_stat, (AO_t) - (AO_t)f->size);
}

void persistent_fork_lock(void)
{
    rlock_fork_acquire(&persistent_lock);
}

void persistent_fork_unlock(void)
{
    rlock_fork_release(&persistent_lock);
}
