/*
 * Finalizers and cleanups (Go's runtime.SetFinalizer and
 * runtime.AddCleanup): when they are queued, and who runs them.
 *
 * Finalizers. An object has at most one, set on its base address (a
 * SPECIAL_FINALIZER record, special.h). At mark termination, marking done
 * and the world stopped (liveness.h, step 2), finalizers_queue_ready takes
 * the finalizable objects still unmarked in two passes:
 *   1. each one's contents are scanned, but the object itself is not
 *      marked, and the grey queue drained: whatever an unreachable
 *      finalizable object reaches is kept for its finalizer. So of a chain
 *      A -> B of finalizable objects only A is still unmarked after this
 *      pass, and only A's finalizer runs this cycle (B's, once A is gone:
 *      a finalizer sees everything it can reach intact). An object on a
 *      cycle through itself is marked by its own scan: a cycle through a
 *      finalizable object is never collected (as in Go).
 *   2. each one still unmarked has its weak handle cleared (weak.h: a weak
 *      pointer reads NULL from the cycle whose mark left its object
 *      unmarked, even though the object is about to be resurrected), its
 *      record moved to the run queue, and it is marked, with its data:
 *      resurrected, with everything it reaches, until its finalizer has
 *      run. It is freed in a later cycle, once unreachable again, unless a
 *      finalizer is set anew.
 * The pause walks the finalizers' list (not the weak records or the
 * cleanups) and marks what the dead finalizable objects reach.
 *
 * Cleanups. Any number per object, attached at any address inside it; fn
 * never gets the object. The sweeper queues a cleanup when it frees the
 * object (the cycle it dies: nothing resurrects it), so arg must not point
 * into the object, or reach it (then the object never dies; an arg inside
 * the object is refused). With a finalizer on the same object, the object
 * is resurrected for the finalizer, and its cleanups run at its second
 * death. gc_cleanup_stop cancels one not yet queued.
 *
 * Running. Queued records (finalizers and cleanups, in queue order) are
 * run one at a time, never inside an allocation, by
 *   - a runtime thread, started by the first gc_set_finalizer or
 *     gc_add_cleanup: registered, it waits in a blocking region for
 *     specials_queued to change, runs what is queued, and waits again;
 *   - or, with gc_options.finalizer_notify set, the embedder: the same
 *     thread only calls finalizer_notify (outside any runtime lock and
 *     outside its blocking region) each time records are queued, and the
 *     embedder calls gc_run_finalizers(max) on a registered thread of its
 *     choice.
 * A record is freed before its function is called; the object and data stay
 * alive while the runner's stack holds them (stacks are roots).
 *
 * fork(): the child starts its own runner thread if the parent had one;
 * records queued in the parent are run in both processes.
 */
#ifndef TRICOLOR_FINALIZER_H
#define TRICOLOR_FINALIZER_H

#include "mark.h"

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* From gc_init: notify is gc_options.finalizer_notify (NULL: the runtime's
 * thread runs the queue). */
void finalizer_init(void (*notify)(void));

/* At mark termination (liveness.h, step 2), the world stopped: queues the
 * finalizers of objects still unmarked and marks them, with all they
 * reach, into w (see the top). */
void finalizers_queue_ready(struct gcw *w);

/* fork(), in the child, at its first cycle (init.c): a new runner thread
 * if the parent had one. */
void finalizer_fork_child(void);

#pragma GCC visibility pop

#endif
