/*
 * Runtime locks, their order, and the rule that keeps stopping the world
 * free of deadlock.
 *
 * Every lock of the runtime is a struct rlock: a mutex with a name and a
 * rank. The ranks are the lock order (docs/design.md): a thread holding a
 * lock takes only locks of a higher rank.
 *
 * The rule. The collector stops registered threads with a signal and then
 * waits for each to acknowledge. A thread inside the runtime defers the stop
 * to its exit from the runtime (threads.h). So a thread that waits for a
 * runtime lock inside the runtime cannot be stopped until it gets the lock,
 * and if the holder of that lock was stopped, the world never stops:
 *
 *   A stopped thread holds no runtime lock. Equivalently: a registered
 *   thread takes a runtime lock only inside the runtime (between
 *   enter_runtime and exit_runtime), unless it holds threads_lock, which
 *   every stopper needs, so that no stop can begin while it holds it.
 *
 * Unregistered threads and the collector's own threads are never stopped,
 * so they may take any lock anywhere (in order). threads_lock itself is
 * taken by registered threads outside the runtime: its holder cannot be
 * stopped, and whoever waits for it waits stoppable.
 *
 * Checking the rule. With assertions on (any build without NDEBUG: the
 * default debugoptimized build and the sanitizer build), every thread keeps
 * the list of runtime locks it holds, and the runtime aborts, naming the
 * lock, when
 *   - a lock is taken out of rank order;
 *   - a registered thread outside the runtime takes a lock other than
 *     threads_lock without holding threads_lock;
 *   - the suspend handler, or a deferred stop, would stop a thread that
 *     holds a lock;
 *   - a thread starts a stoppable wait inside the runtime
 *     (runtime_block_begin) holding a lock.
 * Release builds take the mutex and nothing else.
 *
 * fork() takes every lock at once, the central lists' many locks of one
 * rank nested among them, with the world stopped: rlock_fork_acquire and
 * rlock_fork_release do that without the bookkeeping.
 */
#ifndef TRICOLOR_LOCK_H
#define TRICOLOR_LOCK_H

#include <pthread.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* The lock order, lowest first. */
enum lock_rank {
    RANK_THREADS = 1, /* threads.c: the thread list; every stopper holds it */
    RANK_ROOTS,       /* roots.c: gc_add_roots ranges */
    RANK_SCAVENGER,   /* scavenge.c: the background scavenger's release cursor */
    RANK_PREFAULT,    /* prefault.c: a stretch out of the heap being faulted in */
    RANK_CENTRAL,     /* central.c: one span class's lists */
    RANK_HEAP,        /* heap.c: the page heap */
    RANK_EPHEMERON,   /* ephemeron.c: the registry of ephemerons (greys under it) */
    RANK_WEAKCB,      /* weakcb.c: the table of weak callbacks */
    RANK_WORK,        /* mark.c: the global lists of work buffers */
    RANK_LIMITER,     /* pacer.c: the GC CPU limiter's bucket */
    RANK_PROF,        /* mprof.c: the heap profiler's buckets and records */
    RANK_PERSISTENT,  /* metadata.c: the persistent allocator */
};

struct rlock {
    pthread_mutex_t mutex;
    const char *name;
    enum lock_rank rank;
};

#define RLOCK_INIT(name_, rank_)                                                                   \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, (name_), (rank_)                                                \
    }

void rlock_init(struct rlock *l, const char *name, enum lock_rank rank);

#ifndef NDEBUG
#define LOCK_CHECKS 1
void rlock_acquire(struct rlock *l);
int rlock_try_acquire(struct rlock *l);
void rlock_release(struct rlock *l);
/* Aborts, naming the lock and what, if the calling thread holds a lock. */
void locks_assert_none_held(const char *what);
#else
#define LOCK_CHECKS 0
static inline void rlock_acquire(struct rlock *l)
{
    pthread_mutex_lock(&l->mutex);
}
static inline int rlock_try_acquire(struct rlock *l)
{
    return pthread_mutex_trylock(&l->mutex) == 0;
}
static inline void rlock_release(struct rlock *l)
{
    pthread_mutex_unlock(&l->mutex);
}
static inline void locks_assert_none_held(const char *what)
{
    (void)what;
}
#endif

static inline void rlock_fork_acquire(struct rlock *l)
{
    pthread_mutex_lock(&l->mutex);
}

static inline void rlock_fork_release(struct rlock *l)
{
    pthread_mutex_unlock(&l->mutex);
}

#pragma GCC visibility pop

#endif
