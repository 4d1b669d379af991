/*
 * The collection cycle.
 *
 * Mutators ask for a cycle because their heap_live crossed the trigger
 * (cycle_trigger) or because they called gc_collect. The allocating thread
 * that asked usually runs the cycle's start itself, through the first
 * pause, as Go's allocating goroutine runs gcStart (cycle_try_start);
 * the collector's own thread, the controller, runs the rest, and the whole
 * of cycles nobody else started. cycle_busy (gc.c) is held from a cycle's
 * start to its end and passes from the starting thread to the controller.
 * Phases, as Go's:
 *
 *   PHASE_OFF -> (stop) sweep termination -> PHASE_MARK -> mark termination
 *          -> (start) PHASE_OFF, concurrent sweeping
 *
 * Sweep termination finishes the previous cycle's sweep, so no span is
 * unswept when marking starts, and turns on the write barrier and
 * allocate-black (every cached span blackened: cache.h). Marking then runs
 * concurrently (worker.c); mark termination rescans the roots, flushes
 * every thread's cache, turns mark bits into the next cycle's truth by
 * advancing the heap's sweepgen, and commits the pacer, then wakes the
 * background sweeper (sweep.c).
 * GODEBUG=gcstoptheworld=1 runs the whole mark inside the first pause
 * instead. docs/concurrency.md walks through it and argues why nothing
 * reachable is lost.
 *
 * Invariants:
 *   - One cycle at a time: cycle_busy is held from a cycle's start to its
 *     end, and across fork(), so that no child is born mid-cycle.
 *   - cycle_phase changes only with the world stopped.
 *   - The cycle counters keep completed <= terminated <= marking <= started
 *     <= requested + 1 (gc.c says what each counts).
 *   - State of other files that a cycle starts afresh is reset by the
 *     files that own it (mark_reset, mark_sched_reset,
 *     sweep_next_generation); the cycle's trace lines are formatted by
 *     trace.c; its controller thread is started with the others by
 *     bgthreads.c.
 */
#ifndef TRICOLOR_GC_H
#define TRICOLOR_GC_H

#include "atomics.h"
/* Until scavenge.c and prefault.c include it themselves: they found
 * collector_thread_start here before it moved to bgthreads.h. */
#include "bgthreads.h"

#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

enum cycle_phase {
    PHASE_OFF = 0,
    PHASE_MARK,
    PHASE_MARK_TERMINATION,
};

/* Changes only with the world stopped; read inside the runtime. */
extern volatile AO_t cycle_phase;

/* Statistics of completed cycles, written in mark termination with the
 * world stopped and read with the world stopped. */
struct cycle_stats {
    uint32_t num_gc, num_forced_gc;
    uint64_t pause_total_ns;
    uint64_t pause_ns[256], pause_end[256];
    uint64_t pause_longest_ns[256]; /* each cycle's longest single pause */
    uint64_t last_gc_unix;
    int64_t gc_cpu_ns; /* STW time x procs + marking CPU, all cycles */
    int64_t assist_ns_total;
    int64_t init_time;               /* nanotime at gc_init */
    uint32_t num_started_by_mutator; /* cycles an allocating thread started */
    uint32_t num_stops_abandoned;    /* stops given up, either pause (gc.c, try_stop) */
};
extern struct cycle_stats cycle_stats;

/* At gc_init, before the collector's threads start: the time cycles and
 * gctrace count from (cycle_stats.init_time). */
void cycle_init(void);
/* Starts the controller, the collector's thread that runs cycles
 * (bgthreads_start calls it). */
void controller_start(void);
/* fork() support (init.c registers them with pthread_atfork): no cycle runs
 * across a fork, and the child starts with no cycle asked for and none of
 * the collector's threads. start_threads starts them; the first cycle the
 * child asks for calls it, once, before any collector thread is needed
 * (gc.c explains why not in the fork handler). */
void cycle_fork_prepare(void);
void cycle_fork_parent(void);
void cycle_fork_child(void (*start_threads)(void));
/* Asks for a cycle if the heap reached the trigger and none is pending. */
void cycle_trigger(void);
struct mthread;
/* Called by an allocating thread at a point where its cache is consistent:
 * if a cycle has been asked for and marking has not started yet, start it
 * (cycle_try_start), or if another thread is starting it, wait
 * (stoppable, a few milliseconds at most) until it has, unless it tried
 * and handed the start to the controller. A woken controller
 * may wait milliseconds for a CPU while the allocating thread runs on: the
 * heap must not run past the trigger while nothing marks. */
void cycle_wait_for_start(struct mthread *t);
/* Starts the cycle asked for on the calling thread (inside the runtime),
 * through its first pause, if no cycle runs and nobody else is starting
 * one, then passes the rest of it to the controller; Go's allocating
 * goroutine starts the cycle it triggers in the same way. Returns 1 if it
 * did, 0 if it did not try, and -1 if its stop was given up (a thread did
 * not answer in time): the controller then starts the cycle, and the
 * caller need not wait for it (the late thread may hold it milliseconds). */
int cycle_try_start(struct mthread *t);

#pragma GCC visibility pop

#endif
