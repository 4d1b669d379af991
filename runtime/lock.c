/*
 * Runtime locks and the checks of their rule. See lock.h.
 */
#include "lock.h"

#include "platform.h"
#include "threads.h"

void rlock_init(struct rlock *l, const char *name, enum lock_rank rank)
{
    pthread_mutex_init(&l->mutex, NULL);
    l->name = name;
    l->rank = rank;
}

#if LOCK_CHECKS

/* The locks this thread holds, in the order taken. Read by the thread's own
 * suspend handler: plain thread-local words, written before the handler can
 * look (it runs on the same thread). No path holds more than a few. */
#define MAX_HELD 8
static __thread const struct rlock *held[MAX_HELD] __attribute__((tls_model("initial-exec")));
static __thread int nheld __attribute__((tls_model("initial-exec")));

static int holds_threads_lock(void)
{
    for (int i = 0; i < nheld; i++)
        if (held[i]->rank == RANK_THREADS)
            return 1;
    return 0;
}

static void check_acquire(const struct rlock *l)
{
    for (int i = 0; i < nheld; i++)
        if (held[i]->rank >= l->rank)
            fatal("lock order: %s taken while holding %s (docs/design.md, \"Locks, in order\")",
                  l->name, held[i]->name);
    struct mthread *t = current_thread;
    if (t != NULL && !t->in_runtime && l->rank != RANK_THREADS && !holds_threads_lock())
        fatal("%s taken by a registered thread outside the runtime: the collector could stop "
              "it holding the lock (runtime/lock.h)",
              l->name);
    if (nheld == MAX_HELD)
        fatal("%s: more than %d runtime locks held at once", l->name, MAX_HELD);
}

static void record(const struct rlock *l)
{
    held[nheld] = l;
    compiler_fence();
    nheld++;
}

void rlock_acquire(struct rlock *l)
{
    check_acquire(l);
    pthread_mutex_lock(&l->mutex);
    record(l);
}

int rlock_try_acquire(struct rlock *l)
{
    check_acquire(l);
    if (pthread_mutex_trylock(&l->mutex) != 0)
        return 0;
    record(l);
    return 1;
}

void rlock_release(struct rlock *l)
{
    int i = nheld;
    while (i-- > 0 && held[i] != l)
        ;
    if (i < 0)
        fatal("%s released by a thread that does not hold it", l->name);
    for (; i + 1 < nheld; i++)
        held[i] = held[i + 1];
    compiler_fence();
    nheld--;
    pthread_mutex_unlock(&l->mutex);
}

void locks_assert_none_held(const char *what)
{
    if (nheld > 0)
        fatal("%s while holding %s: a stopped thread must hold no runtime lock "
              "(runtime/lock.h)",
              what, held[nheld - 1]->name);
}

#endif
