/*
 * The collector's background threads. See bgthreads.h.
 */
#include "bgthreads.h"

#include "atomics.h"
#include "knobs.h"
#include "gc.h"
#include "platform.h"
#include "prefault.h"
#include "scavenge.h"
#include "sweep.h"
#include "worker.h"

#include <pthread.h>
#include <signal.h>

/* Collector threads that bgthreads_start has launched, and those of them
 * that have started running. */
static uint32_t threads_launched;
static RUNTIME_STATE volatile uint32_t threads_up;

void collector_thread_start(void *(*fn)(void *), void *arg, const char *what)
{
    pthread_t th;
    if (pthread_create(&th, NULL, fn, arg) != 0)
        fatal("cannot start %s", what);
    pthread_detach(th);
    threads_launched++;
}

void collector_thread_started(void)
{
    /* Signals are for the registered threads; the suspend signal in
     * particular must never land here. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    atomic_xadd32(&threads_up, 1);
    futex_wake(&threads_up, 1);
}

void bgthreads_start(void)
{
    atomic_store32(&threads_up, 0);
    threads_launched = 0;
    workers_start(knobs.procs);
    scavenge_start();
    prefault_start();
    controller_start();
    /* The scavenger's cue that sweeping is done is passed in, so that
     * sweeping, on the allocation path below the scavenger, never calls up
     * into it. */
    sweeper_start(scavenge_sweep_done);
    /* Return only once every thread runs its own code (bgthreads.h). */
    uint32_t up;
    while ((up = atomic_load32(&threads_up)) < threads_launched)
        futex_wait(&threads_up, up);
}
