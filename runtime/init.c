/*
 * Start-up and thread registration: gc_init, gc_thread_register,
 * gc_thread_unregister.
 *
 * gc_init reads the knobs (knobs.c), builds the size-class tables, sets up the
 * heap, the central lists, the marker and the suspend signal, commits the
 * first heap goal (4 MiB x GOGC/100), starts the collector's threads and
 * registers the calling thread. A second call does nothing.
 *
 * fork(): the child inherits the heap as it was at the fork, with only the
 * forking thread. The atfork handlers (fork_prepare below) wait for any
 * running cycle to end and finish sweeping, stop the world so that every
 * other registered thread is at a safe point with a consistent cache, and
 * take every runtime lock in the runtime's lock order, so that no structure
 * is half updated. The parent unlocks and restarts the world. The child
 * unlocks, returns the other threads' cached spans to the central lists
 * (where the sweeper finds them; a span never swept again would keep stale
 * mark bits), keeps only the forking thread registered, and starts the
 * collector's threads afresh (bgthreads_start, bgthreads.c).
 */
#include "bgthreads.h"
#include "central.h"
#include "checkmark.h"
#include "finalizer.h"
#include "knobs.h"
#include "gc.h"
#include "heap.h"
#include "mark.h"
#include "metadata.h"
#include "mprof.h"
#include "pacer.h"
#include "prefault.h"
#include "roots.h"
#include "scavenge.h"
#include "special.h"
#include "platform.h"
#include "threads.h"

#include <pthread.h>
#include <tricolor.h>

void malloc_set_oom_handler(void (*handler)(size_t));

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile AO_t initialized;

/* fork(): no cycle runs (cycle_fork_prepare), the world is stopped so that
 * every other registered thread is at a safe point, and every runtime lock
 * is taken, in the runtime's lock order, so that the child starts with
 * consistent structures; the child then keeps only the forking thread
 * (returning the others' cached spans); its first cycle restarts the
 * collector's threads (gc.c says why not here). */
static void fork_prepare(void)
{
    cycle_fork_prepare();
    threads_fork_stop();
    roots_fork_lock();
    struct mthread *t = current_thread;
    if (t)
        enter_runtime("fork");
    scavenge_fork_lock();
    prefault_lock();
    mcentral_lock_all();
    rlock_fork_acquire(&mheap_.lock);
    specials_fork_lock();
    rlock_fork_acquire(&mark_work.lock);
    mprof_fork_lock();
    persistent_fork_lock();
}

static void fork_unlock(void)
{
    persistent_fork_unlock();
    mprof_fork_unlock();
    rlock_fork_release(&mark_work.lock);
    specials_fork_unlock();
    rlock_fork_release(&mheap_.lock);
    mcentral_unlock_all();
    prefault_unlock();
    scavenge_fork_unlock();
    struct mthread *t = current_thread;
    if (t)
        exit_runtime(t);
    roots_fork_unlock();
}

static void fork_parent(void)
{
    fork_unlock();
    threads_fork_parent();
    cycle_fork_parent();
}

/* The child's collector threads, started by its first cycle (gc.h). */
static void start_threads_in_child(void)
{
    bgthreads_start();
    finalizer_fork_child();
}

static void fork_child(void)
{
    fork_unlock();
    threads_fork_child();
    prefault_fork_child();
    mprof_fork_child();
    cycle_fork_child(start_threads_in_child);
}

int gc_init(const gc_options *opts)
{
    pthread_mutex_lock(&init_lock);
    if (atomic_load(&initialized)) {
        pthread_mutex_unlock(&init_lock);
        /* The stop mode is fixed once threads may be stopped. */
        if (opts && (opts->cooperative != 0) != threads_cooperative())
            runtime_warn("gc_init: already initialised in %s mode; gc_options.cooperative = %d "
                         "ignored (the stop mode is fixed by the first gc_init)",
                         threads_cooperative() ? "cooperative" : "signal", opts->cooperative);
        return 0;
    }
    int ncpu = available_cpus_cached();
    knobs_load(&knobs, opts, ncpu);
    sizeclasses_init();
    mheap_init();
    mcentral_init();
    mark_init();
    if (knobs.gccheckmark)
        checkmark_init();
    scavenge_init();
    threads_init(opts ? opts->suspend_signal : 0, opts ? opts->cooperative : 0);
    malloc_set_oom_handler(opts ? opts->out_of_memory : NULL);
    pacer_init(knobs.gogc, knobs.memory_limit);
    prefault_init();
    mprof_init();
    finalizer_init(opts ? opts->finalizer_notify : NULL);
    cycle_init();
    bgthreads_start();
    thread_register();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    atomic_store(&initialized, 1);
    pthread_mutex_unlock(&init_lock);
    return 0;
}

int gc_thread_register(void)
{
    if (!atomic_load(&initialized)) {
        runtime_warn("gc_thread_register: call gc_init() first");
        return -1;
    }
    if (thread_register() != 0) {
        runtime_warn("gc_thread_register: this thread is already registered");
        return -1;
    }
    return 0;
}

int gc_thread_unregister(void)
{
    if (thread_unregister() != 0) {
        runtime_warn("gc_thread_unregister: this thread is not registered");
        return -1;
    }
    return 0;
}
