/*
 * gc_read_memstats: a consistent snapshot, taken with the world stopped
 * (as Go's ReadMemStats), so that every identity holds in one reading:
 * heap_idle + heap_inuse == heap_sys, heap_objects == mallocs - frees,
 * alloc == heap_alloc == total_alloc - (bytes freed).
 */
#include "stats.h"

#include "knobs.h"
#include "gc.h"
#include "heap.h"
#include "metadata.h"
#include "pacer.h"
#include "platform.h"
#include "sweep.h"
#include "threads.h"

#include <string.h>
#include <tricolor.h>

RUNTIME_STATE struct heap_stats heap_stats;

uint64_t heap_alloc_bytes(void)
{
    uint64_t bytes =
        atomic_load(&heap_stats.large_alloc_bytes) - atomic_load(&heap_stats.large_free_bytes);
    for (unsigned c = 1; c < NUM_SIZE_CLASSES; c++)
        bytes += (atomic_load(&heap_stats.nmalloc[c]) - atomic_load(&heap_stats.nfree[c])) *
                 class_to_size[c];
    return bytes;
}

uint64_t metadata_sys(void)
{
    return atomic_load(&metadata_stats.mspan_sys) + atomic_load(&metadata_stats.mcache_sys) +
           atomic_load(&metadata_stats.gc_sys) + atomic_load(&metadata_stats.other_sys);
}

uint64_t runtime_sys_bytes(void)
{
    struct heap_pages pages;
    mheap_read_pages(&pages);
    return (uint64_t)(pages.inuse + pages.free) * PAGE_SIZE + metadata_sys();
}

void gc_read_memstats(gc_memstats *m)
{
    uint64_t nmalloc[NUM_SIZE_CLASSES], nfree[NUM_SIZE_CLASSES];
    struct heap_pages pages;

    stop_the_world();
    /* Mutators are stopped outside the runtime, so none is sweeping; the
     * background sweeper is held off too, so frees and pages agree. */
    sweep_pause();
    for (unsigned c = 0; c < NUM_SIZE_CLASSES; c++) {
        nmalloc[c] = atomic_load(&heap_stats.nmalloc[c]);
        nfree[c] = atomic_load(&heap_stats.nfree[c]);
    }
    for (struct mthread *t = threads_first(); t; t = t->next)
        mcache_unfolded_mallocs(&t->mcache, nmalloc);
    mheap_read_pages(&pages);
    memset(m, 0, sizeof *m);
    uint64_t mallocs = atomic_load(&heap_stats.large_alloc_count);
    uint64_t frees = atomic_load(&heap_stats.large_free_count);
    uint64_t total_alloc = atomic_load(&heap_stats.large_alloc_bytes);
    uint64_t total_free = atomic_load(&heap_stats.large_free_bytes);
    for (unsigned c = 1; c < NUM_SIZE_CLASSES; c++) {
        mallocs += nmalloc[c];
        frees += nfree[c];
        total_alloc += nmalloc[c] * class_to_size[c];
        total_free += nfree[c] * class_to_size[c];
    }
    for (unsigned c = 0; c < 61; c++) {
        m->by_size[c].size = class_to_size[c];
        m->by_size[c].mallocs = c ? nmalloc[c] : 0;
        m->by_size[c].frees = c ? nfree[c] : 0;
    }
    m->mallocs = mallocs;
    m->frees = frees;
    m->total_alloc = total_alloc;
    m->heap_alloc = m->alloc = total_alloc - total_free;
    m->heap_objects = mallocs - frees;
    m->heap_inuse = (uint64_t)pages.inuse * PAGE_SIZE;
    m->heap_idle = (uint64_t)pages.free * PAGE_SIZE;
    m->heap_released = (uint64_t)pages.released * PAGE_SIZE;
    m->heap_sys = m->heap_inuse + m->heap_idle;
    m->mspan_inuse = atomic_load(&metadata_stats.mspan_inuse);
    m->mspan_sys = atomic_load(&metadata_stats.mspan_sys);
    m->mcache_inuse = atomic_load(&metadata_stats.mcache_inuse);
    m->mcache_sys = atomic_load(&metadata_stats.mcache_sys);
    m->gc_sys = atomic_load(&metadata_stats.gc_sys);
    m->other_sys = atomic_load(&metadata_stats.other_sys);
    m->sys = m->heap_sys + m->stack_sys + m->mspan_sys + m->mcache_sys + m->buck_hash_sys +
             m->gc_sys + m->other_sys;
    uint64_t goal = atomic_load(&pacer.heap_goal);
    m->next_gc = goal;
    m->last_gc = cycle_stats.last_gc_unix;
    m->pause_total_ns = cycle_stats.pause_total_ns;
    memcpy(m->pause_ns, cycle_stats.pause_ns, sizeof m->pause_ns);
    memcpy(m->pause_end, cycle_stats.pause_end, sizeof m->pause_end);
    memcpy(m->pause_longest_ns, cycle_stats.pause_longest_ns, sizeof m->pause_longest_ns);
    m->num_gc = cycle_stats.num_gc;
    m->num_forced_gc = cycle_stats.num_forced_gc;
    int64_t elapsed = nanotime() - cycle_stats.init_time;
    if (elapsed > 0 && knobs.procs > 0)
        m->gc_cpu_fraction = (double)cycle_stats.gc_cpu_ns / ((double)elapsed * knobs.procs);
    m->enable_gc = 1;
    sweep_unpause();
    start_the_world();
}
