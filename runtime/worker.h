/*
 * Mark workers and mark assists: who does the marking while the world runs.
 *
 * Background workers are threads started once at gc_init that sleep between
 * cycles. Their budget is 25% of the CPU budget (GOMAXPROCS/GCPROCS), split
 * as Go splits it: round(0.25 x procs) dedicated workers that mark without
 * pause, unless that is more than 30% off the target, in which case the
 * count is rounded down and one fractional worker makes up the rest by
 * marking in short slices and sleeping between them (on 2 CPUs: no
 * dedicated worker, one fractional worker at half a CPU).
 *
 * Idle marking: when the registered threads and the dedicated workers leave
 * a CPU of the budget unclaimed, the fractional worker marks flat out, as
 * Go runs idle workers on idle Ps; that time is reported as idle and is not
 * GC CPU for gc_cpu_fraction or the limiter.
 *
 * Workers first take root jobs (the globals, then each registered thread's
 * stack, scanned with only that thread stopped), then drain the grey queue.
 * The scan work they do is banked as credit for assists.
 *
 * Mark assists: a thread that allocates while marking runs owes scan work in
 * proportion to its allocation (assist_work_per_byte, from the pacer). It
 * first takes banked background credit, then the globals root job if it is
 * still open, then scans objects itself: at least 64 KiB of work, to
 * amortise the cost, and at most 64 KiB per allocation, so that a large
 * debt is paid over several allocations rather than in one long stall. If it
 * runs out of grey objects while still in debt, the rest of the work is with
 * the workers and allocating on would run the heap past its goal: it parks
 * (stoppable, at most 100 ms) until their credit or the end of marking.
 *
 * Invariants:
 *   - mark_sched is this file's. The cycle starts it afresh with the world
 *     stopped (mark_sched_reset, at sweep termination); from then on the
 *     workers, the assists and the cycle's look for the end of marking read
 *     and update it with atomics only.
 *   - When marking starts, every registered thread's assist balance is zero.
 *   - A worker that holds grey work counts in nbusy: marking is over only
 *     when the roots are done, the global grey list is empty and nbusy is
 *     zero (the cycle looks racily; mark termination decides with the world
 *     stopped).
 *   - Nobody polls. A worker that runs out of grey work sleeps until a
 *     buffer is published (mark_work_wait, mark.h); the worker or assist
 *     whose step leaves marking looking done wakes the controller
 *     (mark_done_wait), which otherwise sleeps. Both waits are bounded (the
 *     controller's by the CPU limiter's 10 ms period), but neither relies
 *     on its bound: worker.c and mark.c say why no wake-up is lost.
 */
#ifndef TRICOLOR_WORKER_H
#define TRICOLOR_WORKER_H

#include "atomics.h"

#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

struct mthread;
struct gcw;

/* Concurrent-mark state shared by the controller, workers and assists. */
struct mark_sched {
    volatile AO_t cycle;      /* current cycle number, for stack scans */
    volatile AO_t roots_done; /* globals and every stack scanned */
    volatile AO_t globals_claimed;
    volatile AO_t nbusy;                      /* workers holding grey work */
    volatile AO_t stop;                       /* workers must stop marking now */
    volatile AO_t bg_credit;                  /* banked background scan work, bytes */
    volatile AO_t scan_done;                  /* scan work done this cycle, all markers */
    volatile AO_t assist_ns, background_ns;   /* CPU spent, this cycle */
    volatile AO_t idle_ns;                    /* CPU spent on a spare CPU */
    volatile AO_t assist_work_per_byte_x1024; /* fixed point */
    volatile uint32_t epoch;                  /* futex: bumped when a mark phase starts */
    volatile uint32_t assist_wake;            /* futex: bumped for parked assists */
    volatile AO_t assists_parked;
    /* futex: the controller waits on it for the end of marking
     * (mark_done_wait); bit 0 says it sleeps, the rest counts wake-ups. */
    volatile uint32_t done_word;
};

extern struct mark_sched mark_sched;

/* With the world stopped, as a cycle starts: a new stack-scan generation,
 * no root job done, no background credit, this cycle's CPU counters and
 * scan work at zero, and every registered thread's assist balance at zero.
 * The workers are asleep (workers_wake comes after). */
void mark_sched_reset(void);
/* Starts the mark workers for a budget of procs CPUs. */
void workers_start(int procs);
/* Wakes the workers for a mark phase (after mark_sched is reset). */
void workers_wake(void);
/* Tells the workers to stop and waits until none holds grey work. */
void workers_stop(void);
/* Pays this thread's assist debt; called when assist_bytes < 0. A thread
 * whose debt outruns the grey work left waits (stoppable) until background
 * credit or the end of marking frees it. */
void mark_assist(struct mthread *t);
/* Wakes parked assists: new background credit, or marking is over. */
void assists_wake(void);
/* Has concurrent marking run out of work, as far as a racy look can tell?
 * The roots are done, no grey buffer is on the global list and no worker
 * holds grey work (mark termination decides for sure, with the world
 * stopped). */
int mark_sched_looks_done(void);
/* The controller's wait for the end of marking: returns when
 * mark_sched_looks_done() may have become true (the worker or assist that
 * makes it so wakes it), after at most timeout_ns, or spuriously. */
void mark_done_wait(int64_t timeout_ns);
/* Scans the stacks of registered threads not yet scanned this cycle, each
 * stopped on its own; returns 0 if threads_lock was busy (try later). */
int mark_unscanned_stacks(struct gcw *w, int world_stopped);

#pragma GCC visibility pop

#endif
