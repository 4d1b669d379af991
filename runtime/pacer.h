/*
 * The pacer: when the next cycle starts, how big the heap may grow, and how
 * much marking an allocating thread owes.
 *
 * heap_live counts the bytes of live and newly allocated objects as the
 * allocator sees them: reset to the bytes marked at each mark termination,
 * then increased by every span a thread caches (all its free slots at once,
 * corrected when the span is given back) and every large object. A cycle is
 * triggered when heap_live reaches trigger (checked on span refill and large
 * allocation only, never on the fast path).
 *
 * The heap goal is Go's (1.18+): marked + (marked + stacks + globals) *
 * GOGC/100, at least 4 MiB * GOGC/100. GOGC=off makes the goal infinite:
 * no cycle starts on its own, gc_collect still runs one.
 *
 * The trigger leaves room (the runway) for marking to finish before the
 * heap reaches the goal: runway = cons/mark x (1 - u)/u x scan work, with
 * u = 25% the background marking share and cons/mark the measured ratio of
 * allocation to scan work during the last cycles (the largest of the last
 * four, as newer Go does). The trigger is kept between 70% and 95% of the
 * way from marked to the goal (Go's bounds), or goal - 4 MiB if higher.
 *
 * The memory limit (GOMEMLIMIT, gc_set_memory_limit) lowers the goal so
 * that what the runtime holds from the OS (Sys - HeapReleased) stays under
 * the limit: goal = limit - (memory that is not heap objects) - overage -
 * 1 MiB of headroom, never below what was marked (Go 1.19's formula). The
 * goal is recomputed when a cycle ends, when the heap grows and when a knob
 * changes. The limit is soft: when the live heap alone exceeds it, cycles run
 * back to back, and the GC CPU limiter below keeps them from taking more than
 * about half of the CPU.
 *
 * The GC CPU limiter (Go's leaky bucket): a bucket of capacity GOMAXPROCS x
 * 1 CPU-second fills with GC time (assists, 25% of the CPU while marking,
 * pauses x procs) and drains with mutator time. While it is full, assists
 * are skipped, so a limit below the live heap costs throughput, not
 * progress.
 */
#ifndef TRICOLOR_PACER_H
#define TRICOLOR_PACER_H

#include "atomics.h"
#include "lock.h"

#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

struct pacer_state {
    volatile AO_t heap_live;
    volatile AO_t heap_marked; /* bytes marked by the last cycle */
    volatile AO_t trigger;
    volatile AO_t heap_goal;
    volatile AO_t gc_percent; /* as an int; -1 = off */
    /* Scan work of the last cycle, bytes. */
    uint64_t last_heap_scan, last_stack_scan, globals_scan;
    /* What the next cycle's marking is expected to scan. */
    uint64_t scan_work_expected;
    double cons_mark[4];        /* the last measurements, newest first */
    volatile AO_t memory_limit; /* bytes, as int64; INT64_MAX = none */
};

/* The GC CPU limiter. */
struct cpu_limiter {
    struct rlock lock;
    int64_t fill, capacity; /* CPU-nanoseconds */
    int64_t last_update;
    int64_t last_assist_ns, last_stw_ns;
    volatile AO_t limiting;      /* the bucket is full: skip assists */
    uint32_t last_enabled_cycle; /* the last cycle during which it limited */
};
extern struct cpu_limiter cpu_limiter;

extern struct pacer_state pacer;

/* heap_live's one writer outside the pacer: the allocator's layers report
 * each change (a span cached or given back, a large object) through here. */
static inline void pacer_heap_live_add(int64_t delta)
{
    atomic_xadd(&pacer.heap_live, (AO_t)delta);
}

static inline uint64_t pacer_heap_live(void)
{
    return atomic_load_relaxed(&pacer.heap_live);
}

/* What a cycle measured, for pacer_end_cycle. */
struct pacer_cycle {
    uint64_t heap_trigger; /* heap_live when the cycle started */
    uint64_t heap_live;    /* heap_live at mark termination */
    uint64_t heap_marked;
    uint64_t heap_scan, stack_scan, globals_scan;
    int64_t mark_ns, assist_ns;
    int procs;
};

void pacer_init(int gc_percent, int64_t memory_limit);
/* With the world stopped at mark termination: resets heap_live to what was
 * marked, updates cons/mark, computes the next goal and trigger. */
void pacer_end_cycle(const struct pacer_cycle *c);
/* Sets GOGC (and recomputes goal and trigger); returns the old value. */
int pacer_set_percent(int percent);
/* Sets the memory limit (bytes, INT64_MAX for none); returns the old one. */
int64_t pacer_set_memory_limit(int64_t limit);
/* Recomputes goal and trigger from the current state (the heap grew). */
void pacer_recompute(void);
/* Feeds the limiter: total assist and pause time so far, whether marking
 * runs, and the cycle under way (recorded as last_enabled_cycle while the
 * limiter limits). Called by the controller every few milliseconds and at
 * phase changes. */
void limiter_update(int64_t assist_ns_total, int64_t stw_ns_total, int marking, int procs,
                    uint32_t cycle);
static inline int limiter_limiting(void)
{
    return atomic_load_relaxed(&cpu_limiter.limiting) != 0;
}

static inline int pacer_should_trigger(void)
{
    return atomic_load_relaxed(&pacer.heap_live) >= atomic_load_relaxed(&pacer.trigger);
}

#pragma GCC visibility pop

#endif
