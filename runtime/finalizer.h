/*
 * Finalizers and cleanups (Go's runtime.SetFinalizer and
 * runtime.AddCleanup).
 */
#ifndef TRICOLOR_FINALIZER_H
#define TRICOLOR_FINALIZER_H

#include "mark.h"

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* At mark termination (liveness.h, step 2), the world stopped: queues the
 * finalizers of objects still unmarked and marks them, with all they
 * reach, into w. */
void finalizers_queue_ready(struct gcw *w);

#pragma GCC visibility pop

#endif
