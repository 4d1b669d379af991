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
 */
#ifndef TRICOLOR_PACER_H
#define TRICOLOR_PACER_H

#include "atomics.h"

#include <stdint.h>

struct gc_controller_state {
    volatile AO_t heap_live;
    volatile AO_t heap_marked; /* bytes marked by the last cycle */
    volatile AO_t trigger;
    volatile AO_t heap_goal;
    volatile AO_t gc_percent; /* as an int; -1 = off */
    /* Scan work of the last cycle, bytes. */
    uint64_t last_heap_scan, last_stack_scan, globals_scan;
    /* What the next cycle's marking is expected to scan. */
    uint64_t scan_work_expected;
    double cons_mark[4]; /* the last measurements, newest first */
};

extern struct gc_controller_state gc_controller;

/* What a cycle measured, for pacer_end_cycle. */
struct pacer_cycle {
    uint64_t heap_trigger; /* heap_live when the cycle started */
    uint64_t heap_live;    /* heap_live at mark termination */
    uint64_t heap_marked;
    uint64_t heap_scan, stack_scan, globals_scan;
    int64_t mark_ns, assist_ns;
    int procs;
};

void pacer_init(int gc_percent);
/* With the world stopped at mark termination: resets heap_live to what was
 * marked, updates cons/mark, computes the next goal and trigger. */
void pacer_end_cycle(const struct pacer_cycle *c);
/* Sets GOGC (and recomputes goal and trigger); returns the old value. */
int pacer_set_percent(int percent);

static inline int pacer_should_trigger(void)
{
    return atomic_load_relaxed(&gc_controller.heap_live) >=
           atomic_load_relaxed(&gc_controller.trigger);
}

#endif
