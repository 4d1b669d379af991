/*
 * Registered threads: their stacks, their caches, and how the collector
 * stops them.
 *
 * Every thread that allocates or holds GC pointers is registered: it has an
 * mthread record (Go's M and P in one) with its mcache, its write-barrier
 * buffer and its stack bounds. The collector stops a thread with a signal
 * (SIGRTMIN+6 by default, gc_options.suspend_signal to change it). The
 * handler spills the registers onto the stack, records the stack pointer and
 * waits on a futex until it is resumed; the collector then scans the stack
 * from that pointer up to the stack's base. A thread blocked in a system
 * call is stopped the same way, and the call is restarted after (SA_RESTART)
 * or returns EINTR as the call's own rules say.
 *
 * Safe points. A signal can arrive anywhere, including halfway through an
 * allocation, when the thread's mcache is inconsistent and it may hold a
 * central or heap lock. So the runtime brackets every entry into its own
 * code with enter_runtime/exit_runtime, which set a thread-local flag (a
 * plain store: only the thread and its own signal handler read it). A
 * signal that finds the flag set only records that a stop is pending; the
 * thread stops itself in exit_runtime. Hence the invariant the whole
 * collector relies on:
 *
 *   A stopped thread is outside the runtime: it holds no runtime lock and
 *   its mcache and barrier buffer are consistent, so the collector may
 *   flush them while it is stopped.
 *
 * A registered thread that waits inside the runtime (for a lock another
 * stopper may hold, or for a cycle to finish) does so with the flag clear:
 * see runtime_block_begin/end. lock.h states the rule for runtime locks
 * and how builds with assertions check it.
 *
 * threads_lock protects the thread list. A stopper holds it from
 * stop_the_world to start_the_world, so no thread registers or unregisters
 * while the world is stopped.
 */
#ifndef TRICOLOR_THREADS_H
#define TRICOLOR_THREADS_H

#include "atomics.h"
#include "barrier.h"
#include "cache.h"
#include "mark.h"

#include <pthread.h>
#include <signal.h>
#include <ucontext.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

enum { BLOCKING_NONE, BLOCKING_IN, BLOCKING_CLAIMED };

/* Room for the callee-saved registers (x86-64: six; elsewhere a ucontext). */
#if defined(__x86_64__)
#define BLOCKED_REGS_WORDS 6
#else
#define BLOCKED_REGS_WORDS ((sizeof(ucontext_t) + sizeof(uintptr_t) - 1) / sizeof(uintptr_t))
#endif

struct mthread {
    struct mthread *next, *prev; /* the thread list, under threads_lock */
    pthread_t pthread;
    uintptr_t stack_lo, stack_hi;

    /* Stopping (see the top of the file). suspend_req and suspended are
     * futex words shared with the stopper; in_runtime and suspend_pending
     * are shared only with the thread's own signal handler. */
    volatile uint32_t suspend_req; /* generation of the pending stop; 0: none */
    volatile uint32_t suspended;   /* generation of the last stop acknowledged */
    uint32_t suspend_gen;          /* the stopper's counter, under threads_lock */
    volatile uintptr_t stopped_sp;
    volatile sig_atomic_t in_runtime;
    /* Set by the thread's own signal handler, or in cooperative mode by
     * the stopper (threads.c); cleared by park. */
    volatile sig_atomic_t suspend_pending;
    /* Cooperative mode: this thread's stop request is counted in
     * gc_safepoint_requested; under threads_lock. */
    int safepoint_posted;

    struct mcache mcache;
    struct wbbuf wbbuf;
    /* This thread's share of marking: objects it greyed from its barrier
     * buffer or in assists, and the bytes it allocated black. */
    struct gcw gcw;
    /* Mark assist balance: bytes this thread may still allocate during the
     * current mark before it must do scan work (negative: in debt). */
    int64_t assist_bytes;
    /* The cycle whose mark scanned this thread's stack, under threads_lock. */
    uint32_t stack_scanned_cycle;

    /* Blocking regions (gc_enter_blocking, below). blocking is a futex
     * word: BLOCKING_NONE, BLOCKING_IN (inside; the thread may leave), or
     * BLOCKING_CLAIMED (a stopper counts it as stopped; leaving waits until
     * the stopper lets go). blocked_sp and blocked_regs, the stack pointer
     * and callee-saved registers as of the enter, are written before
     * BLOCKING_IN is published and read by the stopper that claimed it.
     * claimed: this thread's current stop is a claim, under threads_lock. */
    volatile uint32_t blocking;
    int claimed;
    /* Did not answer the last stop, which was given up; under threads_lock
     * (stop_the_world_within). */
    int stop_late;
    uintptr_t blocked_sp;
    uintptr_t blocked_regs[BLOCKED_REGS_WORDS];
    /* In gc_walk_heap's callback (heapwalk.c): the world is stopped by this
     * thread, which must not enter the runtime. */
    int walking;
};

extern __thread struct mthread *current_thread __attribute__((tls_model("initial-exec")));

/* coop: cooperative mode (gc_options.cooperative), never signal. */
void threads_init(int suspend_signal, int coop);
int threads_cooperative(void);
/* Registers the calling thread; 0 on success, -1 if it already is. */
int thread_register(void);
int thread_unregister(void);

/* A deadline or timeout that never comes: wait as long as it takes. */
#define NO_DEADLINE INT64_MAX

/* Stops every registered thread except the caller (who may be registered
 * or not), and returns with threads_lock held. */
void stop_the_world(void);
void start_the_world(void);
/* stop_the_world, unless some thread has not stopped within timeout_ns (a
 * thread inside a long page fault, or off the CPU): then the threads
 * already stopped are resumed, threads_lock is released and 0 returned,
 * with *stopped_some telling whether any thread was stopped meanwhile. A
 * thread that acknowledges a request given up on finds it withdrawn and
 * goes on. 1: the world is stopped, as after stop_the_world.
 * The threads that were late to a stop given up (stop_late) are stopped
 * first at the next stop, alone and without a deadline, while every other
 * thread runs; the timeout applies to the others, asked only then.
 * *asked_at: the nanotime at which they were asked, where the pause (the
 * world held) begins. */
int stop_the_world_within(int64_t timeout_ns, int *stopped_some, int64_t *asked_at);
/* Stops one thread and waits until it is stopped, or resumes it (the
 * caller holds threads_lock). */
void thread_suspend(struct mthread *t);
void thread_suspend_wait(struct mthread *t);
void thread_resume(struct mthread *t);

/* threads_lock for the collector's workers, which must never block on it
 * (the controller may hold it while it waits for them): 1 if taken. */
int threads_trylock(void);
void threads_unlock(void);

/* fork(): the world is stopped across it (threads_fork_stop, with the
 * caller outside the runtime), so that every other registered thread is at
 * a safe point with a consistent cache. The parent restarts the world
 * (threads_fork_parent). The child, where only the caller survives, returns
 * the lost threads' cached spans to the central lists, where the sweeper
 * finds them (threads_fork_child, called once no runtime lock is held), and
 * keeps only the caller registered. */
void threads_fork_stop(void);
void threads_fork_parent(void);
void threads_fork_child(void);

/* The thread list; walk it only with threads_lock held (e.g. while the
 * world is stopped). */
struct mthread *threads_first(void);
int threads_count(void);

__attribute__((noreturn)) void not_registered(const char *what);
/* Aborts: what entered the runtime from a blocking region, or from
 * gc_walk_heap's callback (builds with assertions check both). */
__attribute__((noreturn)) void runtime_entry_forbidden(const char *what);
/* Registered threads inside a blocking region now: they do not count as
 * running for the CPU budget (idle marking). */
int threads_blocking(void);
void thread_park_pending(struct mthread *t);

/* A wait outside the runtime by t (registered, or NULL): fn(arg) runs where
 * a stop can reach t. Signal mode: a plain call. Cooperative mode: inside a
 * blocking region, so a stopper claims t while it waits (threads.c states
 * the invariant). fn must touch no GC pointer and take no runtime lock but
 * threads_lock. thread_futex_wait is futex_wait (timeout_ns < 0) or
 * futex_wait_timeout run that way. */
void thread_stoppable_call(struct mthread *t, void (*fn)(void *), void *arg);
void thread_futex_wait(struct mthread *t, volatile uint32_t *word, uint32_t val,
                       int64_t timeout_ns);

static inline struct mthread *enter_runtime(const char *what)
{
    struct mthread *t = current_thread;
    if (__builtin_expect(t == NULL, 0))
        not_registered(what);
#ifndef NDEBUG
    if (__builtin_expect(t->blocking != BLOCKING_NONE || t->walking, 0))
        runtime_entry_forbidden(what);
#endif
    t->in_runtime = 1;
    compiler_fence();
    return t;
}

static inline void exit_runtime(struct mthread *t)
{
    compiler_fence();
    t->in_runtime = 0;
    compiler_fence();
    if (__builtin_expect(t->suspend_pending, 0))
        thread_park_pending(t);
}

/* For the entry points that unregistered threads may call too: enter the
 * runtime if the caller is registered (an unregistered thread is never
 * stopped, so it needs no deferral). Returns the thread, or NULL. */
static inline struct mthread *enter_runtime_maybe(void)
{
    struct mthread *t = current_thread;
    if (t) {
        t->in_runtime = 1;
        compiler_fence();
    }
    return t;
}

static inline void exit_runtime_maybe(struct mthread *t)
{
    if (t)
        exit_runtime(t);
}

/* Around a wait inside the runtime: the thread may be stopped while it
 * waits. It must hold no runtime lock and have a consistent cache. */
static inline void runtime_block_begin(struct mthread *t)
{
    locks_assert_none_held("a stoppable wait");
    if (t)
        exit_runtime(t);
}

static inline void runtime_block_end(struct mthread *t)
{
    if (t) {
        t->in_runtime = 1;
        compiler_fence();
    }
}

#pragma GCC visibility pop

#endif
