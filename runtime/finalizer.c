/*
 * Finalizers and cleanups. See finalizer.h.
 */
#include "finalizer.h"

void finalizers_queue_ready(struct gcw *w)
{
    (void)w;
}
