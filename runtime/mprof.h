/*
 * The heap profiler: sampled allocations, their call stacks, and their
 * deaths (Go's mprof.go, with the sampling of malloc.go and the profile
 * specials of mheap.go).
 *
 * Sampling. As Go's runtime.MemProfileRate: an allocation is sampled on
 * average once per rate bytes, by an exponential countdown, so that each
 * allocation of size S is sampled with probability 1 - exp(-S/rate),
 * independently of the others; the profile writer divides by that
 * probability (pprof.h), so the totals are unbiased. rate 1 samples every
 * allocation, rate 0 none. Go counts one countdown of bytes per thread;
 * tricolor keeps one per span class (in allocations of that class) and one
 * in bytes for large objects. Cutting a Poisson process of bytes into
 * classes gives a Poisson process of the same intensity in each, so the
 * sampling is the same in distribution, and a per-class countdown lets the
 * fast path stay as it is:
 *
 * The allocation fast path (cache.h) takes the next set bit of the cached
 * span's alloc_cache and falls into the slow path (malloc.c next_free) when
 * the window is empty. With countdown k for class c, the slow path leaves
 * in alloc_cache only the next k-1 free slots and holds the others back
 * (mprof_class.held): the fast path then runs out exactly before the
 * sampled allocation, which the slow path makes, puts the held slots back
 * and records. Between samples the fast path costs nothing extra; with
 * rate 0 nothing is held back and the slow path pays one load and branch.
 * The fast allocations since the window was armed are s->alloc_count -
 * armed_count: the cached span counts every allocation. A span that leaves
 * the cache (refill, the mark-termination flush, unregistering, fork) is
 * disarmed on the way out (mprof_cache_release); held-back slots need not be
 * put back, since caching a span recomputes its alloc_cache.
 *
 * Recording. The sampled allocation's call stack (up to MPROF_MAX_STACK
 * return addresses above gc_alloc) is taken with glibc's backtrace(),
 * primed at init (its first call loads libgcc_s), and taken in a blocking
 * region (threads.h): the unwinder may take the dynamic loader's lock, which
 * a thread stopped by the collector may hold, so the thread must be
 * stoppable while it waits for it. At that point the slot is taken, its
 * address is in a register of this frame (a root), and the cache is
 * consistent, as in an assist's wait. The stack and the size pick a bucket
 * (a hash table of never-freed buckets, as Go's buckhash), and a special
 * record is attached to the object: to its span's list of specials
 * (mspan.specials).
 *
 * Deaths. The sweeper calls mprof_sweep_span for a span with specials,
 * before the mark bits become alloc bits: a special whose object is not
 * marked is freed, and the free is counted in its bucket.
 *
 * Cycles (Go's three-stage memRecord): mallocs happen in real time, frees
 * only when the sweeper gets to them, so counting both as they come would
 * skew toward mallocs. Each bucket counts events per heap-profile cycle C
 * (mheap_.sweepgen / 2, which mark termination advances with the world
 * stopped): mallocs in future[(C+2)%3], sweep frees in future[(C+1)%3], so
 * that both sides of mark termination C+1 meet in the same slot. A slot is
 * folded into the published counts (active) once its cycle is complete:
 * Go does it right after each mark termination; tricolor does it lazily,
 * before recording any event and before writing a profile, catching up on
 * every cycle since the last fold (a slot whose cycle has passed receives
 * no more events, and no slot is reused before it is folded). When every
 * span that holds a special has been swept in cycle C, slot (C+1)%3 is
 * complete too and the writer folds it as well (Go's mProf_PostSweep after
 * runtime.GC): the in-use figures are then those of the last completed
 * cycle, its frees included. If nothing was ever published (no cycle yet),
 * the writer folds everything, as Go's MemProfile does.
 *
 * Writing. gc_write_heap_profile copies every bucket's published counts
 * under prof_lock, then leaves the runtime and hands them to pprof.c, which
 * mallocs, reads /proc and may wait for the loader's lock. GCHEAPPROFILE=FILE
 * writes at exit (an atexit handler, in the process that set it only), and
 * GODEBUG=heapprofilesignal=N on signal N: the handler only counts and wakes
 * a writer thread of the profiler's own (unregistered, all signals blocked),
 * which replaces FILE by rename.
 *
 * Locking. prof_lock (mprof.c) protects the buckets' counts, the hash
 * table's insertions, the specials lists (mspan.specials is written only
 * under it; the sweeper's first look is a racy peek, which can only miss a
 * special being attached to a live object), the special records' allocator
 * and the cycle catch-up. It is taken only inside the runtime or on threads
 * the collector never stops (its own, the signal writer, unregistered
 * callers of the writer; lock.h), and is a leaf but for the persistent
 * allocator: in docs/design.md's order it comes after mark_work.lock and before
 * the persistent allocator's lock. Buckets are never freed and their
 * stacks never change: the writer walks them without the lock, reading
 * the counts it copied under it. The writer's own lock (write_lock)
 * serialises writers; it is taken outside the runtime and is not a runtime
 * lock.
 */
#ifndef TRICOLOR_MPROF_H
#define TRICOLOR_MPROF_H

#include "atomics.h"
#include "sizeclasses.h"
#include "span.h"

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

struct mthread;

/* Go's maxStack: the most return addresses recorded per sample. */
#define MPROF_MAX_STACK 32
/* Go's default MemProfileRate. */
#define MPROF_DEFAULT_RATE (512 * 1024)

/* One span class's countdown, in its thread's mcache. */
struct mprof_class {
    uint64_t held;            /* free slots taken out of alloc_cache, relative to armed_freeindex */
    uint32_t left;            /* allocations to the sampled one (included); 0: none drawn */
    uint16_t armed_count;     /* the span's alloc_count when armed */
    uint16_t armed_freeindex; /* its freeindex then */
    uint8_t armed;
};

/* A thread's sampling state (struct mcache). */
struct mprof_cache {
    struct mprof_class cls[NUM_SPAN_CLASSES];
    uint64_t large_left; /* bytes of large objects to the next sample; 0: none drawn */
    uint64_t rng;        /* xorshift64* state */
};

/* The sampling rate in bytes (0: off), gc_set_memprofile_rate's. */
extern volatile AO_t mprof_rate;

/* At gc_init, before any allocation: the rate from GODEBUG=memprofilerate
 * (unless gc_set_memprofile_rate came first), the unwinder primed, and the
 * profile written at exit if GCHEAPPROFILE names a file, and on the signal
 * GODEBUG=heapprofilesignal names, by a thread of the profiler's own. */
void mprof_init(void);
/* Seeds a new thread's state. */
void mprof_cache_init(struct mprof_cache *pc);

/* Whether the slow path must call mprof_unarm and mprof_count_slow: the
 * profiler is on, or was when class spc was armed. */
static inline int mprof_slow_path_active(const struct mprof_cache *pc, unsigned spc)
{
    return atomic_load_relaxed(&mprof_rate) != 0 || pc->cls[spc].armed;
}
/* In the slow path, before a slot of s (class spc's cached span) is taken:
 * puts the held slots back into s's alloc_cache and counts the fast
 * allocations since the class was armed. */
void mprof_unarm(struct mprof_cache *pc, unsigned spc, struct mspan *s);
/* After the slow path took a slot of s (alloc_count counted): 1 if this
 * allocation is sampled. Arms s's window for the next one. */
int mprof_count_slow(struct mprof_cache *pc, unsigned spc, struct mspan *s);
/* For a large object of size bytes: 1 if it is sampled. */
int mprof_count_large(struct mprof_cache *pc, size_t size);
/* Records the sampled object p of span s: its stack, its bucket, its
 * special. Called with no lock held by the allocation path's slow functions
 * (next_free, alloc_large), with ret their own return address into gc_alloc
 * or gc_alloc_noscan: the stack recorded starts at that function's caller. */
void mprof_sample(struct mthread *t, struct mspan *s, uintptr_t p, uintptr_t ret);

/* s, class spc's cached span, leaves the thread's cache (refill, the
 * mark-termination flush, unregistering, fork): disarms the class. */
static inline void mprof_cache_release(struct mprof_cache *pc, unsigned spc, const struct mspan *s)
{
    struct mprof_class *k = &pc->cls[spc];
    if (k->armed) {
        k->left -= (uint16_t)(s->alloc_count - k->armed_count);
        k->armed = 0;
        k->held = 0;
    }
}

/* The sweeper, on a span it owns, before its mark bits become alloc bits:
 * frees the specials of dead objects and counts their frees. */
void mprof_sweep_span(struct mspan *s);

/* fork(): prof_lock, in the runtime's lock order (init.c); and in the
 * child, the writers' lock, which a thread that did not survive the fork
 * may have held, and the signal writer thread, started again. */
void mprof_fork_lock(void);
void mprof_fork_unlock(void);
void mprof_fork_child(void);

/* For tests: the next sampling distance in bytes for a mean of rate, from
 * the state *rng (Go's fastexprand, plus one). */
uint64_t mprof_exprand(uint64_t *rng, uint64_t rate);

#pragma GCC visibility pop

#endif
