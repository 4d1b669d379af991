/*
 * Sweeping: turning mark bits into alloc bits, span by span (Go's
 * mgcsweep.go).
 *
 * Mark termination advances the heap's sweepgen by two
 * (sweep_next_generation), and every in-use span is then unswept (its
 * sweepgen two behind the heap's). A span is swept by whoever takes it
 * first: the background sweeper, a collector thread that mark termination
 * wakes (sweeper_wake) and that sweeps until nothing is left, or an
 * allocating thread that needs a span of that class (central.c), so
 * allocation never waits for the whole heap to be swept. Proportional
 * sweeping makes every span-sized allocation first sweep its share of what
 * is left, so sweeping is done by the next trigger even when the background
 * sweeper gets no CPU; the next cycle finishes whatever is left before it
 * starts marking. Sweeping a span: the freed objects are counted,
 * optionally clobbered, the mark bits become the alloc bits, and an empty
 * span goes back to the page heap.
 *
 * Invariants:
 *   - A span is swept once per cycle, by the one thread that moves its
 *     sweepgen from two behind the heap's to one behind (span.h has the
 *     states); a span swept twice is fatal.
 *   - No span is unswept when marking starts: sweep termination sweeps what
 *     is left (sweep_finish) and waits for every sweeper between
 *     sweep_begin and sweep_end.
 *   - Sweeping calls only downward (the central lists, the page heap): the
 *     background sweeper tells the scavenger that it is done through the
 *     callback it was started with.
 */
#ifndef TRICOLOR_SWEEP_H
#define TRICOLOR_SWEEP_H

#include "span.h"

#include <stddef.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

enum sweep_purpose {
    SWEEP_FOR_ALLOCATION, /* the caller wants to allocate from the span */
    SWEEP_TO_LISTS,       /* put the span where it belongs */
};

/* Sweeps s, which the caller took off its central list (so owns).
 * SWEEP_FOR_ALLOCATION: returns 1 and keeps ownership if s has a free slot;
 * otherwise the span is put on its full list and 0 is returned.
 * SWEEP_TO_LISTS: the span goes to a swept list or back to the heap; 0. */
int sweep_span_owned(struct mspan *s, enum sweep_purpose why);

/* Sweeps one unswept span, if any; returns the pages swept, 0 when none is
 * left. */
size_t sweep_one(void);
/* Brackets code that may take an unswept span off a list, so that
 * sweep_finish can wait for it. */
void sweep_begin(void);
void sweep_end(void);
/* Sweeps every unswept span and waits for other sweepers to finish. Not
 * for registered threads (it sweeps outside the runtime's safe points). */
void sweep_finish(void);
/* Waits until no thread is sweeping. */
void sweep_wait_idle(void);
/* Holds the background sweepers off, and lets them go again: with the world
 * stopped, for a consistent statistics snapshot, and around the advance of
 * the sweep generation at mark termination (the background sweeper is not
 * stopped with the world, and picks its lists by the generation). */
void sweep_pause(void);
void sweep_unpause(void);

/* The background sweeper (Go's bgsweep), a collector thread: after each
 * mark termination it sweeps whatever the allocating threads have not, then
 * calls done. bgthreads_start passes the scavenger's cue as done, so that
 * sweeping, on the allocation path below the scavenger, never calls up into
 * it. */
void sweeper_start(void (*done)(void));
/* After mark termination, with the new sweepgen published: wakes the
 * background sweeper. */
void sweeper_wake(void);

/* At mark termination, with the world stopped: advances the heap's sweepgen
 * by 2, so that every in-use span is unswept and this cycle's mark bits are
 * what sweeping turns into alloc bits. */
void sweep_next_generation(void);

/* At mark termination: spread pages_to_sweep over the allocation between
 * heap_live and the next trigger. */
void sweep_pacing_commit(uint64_t heap_live, uint64_t trigger, size_t pages_to_sweep);
/* Before an allocation of span_bytes: sweep this allocation's share. */
void sweep_deduct_credit(uint64_t heap_live, size_t span_bytes);

/* The pattern clobberfree=1 writes into freed objects. */
#define CLOBBER_PATTERN 0xdeadbeefu

#pragma GCC visibility pop

#endif
