/*
 * Liveness decided with the world stopped: the last step of mark
 * termination, after the grey queue is empty.
 *
 * Marking alone answers "is this object reachable from the roots?". Some
 * questions can only be answered once that answer is final, and their
 * answers can make more objects live, so they run to a fixpoint:
 *
 *   1. Ephemerons (ephemeron.h): a pair whose key is marked makes its
 *      value live. The embedder's weak callbacks, phase 0 (gc_weak_fn):
 *      they see which objects are marked, clear their tables' dead
 *      entries, and may mark more (gc_mark_live). Repeated, with the grey
 *      queue drained after each round, until a round marks nothing new.
 *   2. Finalizers (finalizer.h): objects with a finalizer that are still
 *      unmarked are queued and resurrected, with all they reach.
 *   3. Ephemerons and weak callbacks again (phase 1), to a fixpoint:
 *      resurrected objects may be keys.
 *   4. What is still unmarked is dead: ephemerons with a dead key are
 *      cleared, dead ephemerons leave the registry (ephemerons_sweep).
 *
 * Invariant for everything after this step: an object is live for this
 * cycle iff its mark bit is set; the sweeper frees exactly the rest.
 */
#ifndef TRICOLOR_LIVENESS_H
#define TRICOLOR_LIVENESS_H

#include "mark.h"

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* Runs steps 1-4 above; the world is stopped and w's queue is drained. */
void liveness_termination(struct gcw *w);

#pragma GCC visibility pop

#endif
