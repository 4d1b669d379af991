/*
 * The collector's background threads: starting them, and knowing that they
 * run.
 *
 * The collector runs threads of its own, never registered with it: the
 * controller (gc.c), the mark workers (worker.c), the background sweeper
 * (sweep.c), the scavenger (scavenge.c) and the prefaulter (prefault.c).
 * Each module owns its thread's code and starts it with
 * collector_thread_start; bgthreads_start decides which threads start, and
 * in which order, at gc_init and again in a fork child, where only the
 * forking thread survives (there when the child first needs them: gc.c).
 *
 * Invariants:
 *   - A collector thread blocks every signal before it does anything else
 *     (collector_thread_started). The suspend signal is for registered
 *     threads only: the collector's threads are never stopped, which the
 *     lock rule (lock.h) relies on.
 *   - bgthreads_start returns only once every thread it launched runs its
 *     own code, so that a fork() right after gc_init never copies a thread
 *     still inside its start-up (where the C library or a sanitizer may hold
 *     an allocator lock that would stay locked in the child).
 *   - bgthreads_start runs on one thread at a time: in gc_init, under its
 *     lock, and in a fork child, on the thread that asks for the child's
 *     first cycle (gc.c, threads_state), never in the fork handler.
 *
 * Go has no direct counterpart: a goroutine is started with `go`, and the
 * scheduler, not a signal mask, keeps it from being preempted where it must
 * not be. The nearest is gcenable (mgc.go), which starts bgsweep and
 * bgscavenge and waits until both run.
 */
#ifndef TRICOLOR_BGTHREADS_H
#define TRICOLOR_BGTHREADS_H

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* Starts the collector's threads (at gc_init, and in a fork child's first
 * cycle) and
 * returns once each has started. Internal despite its prefix. */
void bgthreads_start(void);
/* Starts one of the collector's threads, detached (bgthreads_start waits
 * for it); a failure is fatal, naming what. */
void collector_thread_start(void *(*fn)(void *), void *arg, const char *what);
/* Called first thing by each collector thread: blocks every signal and
 * tells bgthreads_start that the thread runs. */
void collector_thread_started(void);

#pragma GCC visibility pop

#endif
