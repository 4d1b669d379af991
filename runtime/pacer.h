/*
 * The pacer: when the next cycle starts, and how big the heap may grow.
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
    volatile AO_t last_heap_goal; /* the goal of the cycle that just ended */
    uint64_t last_stack_scan, globals_scan;
    volatile AO_t gc_percent; /* as an int; -1 = off */
};

extern struct gc_controller_state gc_controller;

void pacer_init(int gc_percent);
/* Computes the goal and trigger after a mark termination. */
void pacer_commit(void);
/* Sets GOGC; returns the old value. */
int pacer_set_percent(int percent);

static inline int pacer_should_trigger(void)
{
    return atomic_load_relaxed(&gc_controller.heap_live) >=
           atomic_load_relaxed(&gc_controller.trigger);
}

#endif
