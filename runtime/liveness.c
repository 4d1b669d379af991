/*
 * Liveness decided with the world stopped. See liveness.h.
 */
#include "liveness.h"

#include "finalizer.h"

/* One phase's fixpoint: rounds until a round marks nothing new. */
static void fixpoint(int phase, struct gcw *w)
{
    (void)phase;
    mark_drain(w);
}

void liveness_termination(struct gcw *w)
{
    fixpoint(0, w);
    finalizers_queue_ready(w);
    mark_drain(w);
    fixpoint(1, w);
}
