/*
 * Liveness decided with the world stopped. See liveness.h.
 */
#include "liveness.h"

#include "ephemeron.h"
#include "finalizer.h"
#include "weakcb.h"

/* One phase's fixpoint. A round: the ephemerons' rule until it marks
 * nothing (draining after each pass, so that chains of any length are
 * followed), then the weak callbacks, which see marking finished as far
 * as the ephemerons go. Rounds go on while a callback marks something
 * new (gc_mark_live drains what it marks), since that can make more keys
 * live and change what the callbacks would answer. */
static void fixpoint(int phase, struct gcw *w)
{
    for (;;) {
        mark_drain(w);
        while (ephemerons_mark_pending(w) != 0)
            mark_drain(w);
        if (weak_callbacks_run(phase, w) == 0)
            break;
    }
}

void liveness_termination(struct gcw *w)
{
    fixpoint(0, w);
    finalizers_queue_ready(w);
    mark_drain(w);
    fixpoint(1, w);
    ephemerons_sweep();
}
