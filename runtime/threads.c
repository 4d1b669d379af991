/*
 * Thread registration and stopping. See threads.h for the safe-point
 * invariant. One stop serves both callers: stop_the_world is
 * stop_the_world_within with no deadline, and one wait_suspended waits for a
 * thread's acknowledgement with or without one.
 *
 * Two ways to stop a thread, chosen once by threads_init:
 *
 *   Signal mode (the default): thread_suspend posts the request in
 *   suspend_req and sends suspend_signal; the handler parks the thread, or
 *   defers the stop to exit_runtime when the signal lands inside the
 *   runtime.
 *
 *   Cooperative mode (gc_options.cooperative): nothing is signalled.
 *   thread_suspend posts suspend_req, sets suspend_pending (so that a thread
 *   inside the runtime parks in exit_runtime, exactly as a deferred signal
 *   would) and raises gc_safepoint_requested, which every gc_safepoint()
 *   poll reads. The thread parks at its next poll or runtime exit
 *   (gc_safepoint_slow, exit_runtime), or the stopper claims it in a
 *   blocking region: wait_suspended keeps trying the claim while it waits,
 *   because a thread may enter a region after the request was posted. Every
 *   wait the runtime makes a registered thread do outside the runtime runs
 *   as a blocking region in this mode (thread_stoppable_call), or a stop
 *   would wait for a thread that waits for the stop.
 *
 * Either way a stopped thread is in one of two states, and mark_thread_stack
 * scans it accordingly: parked (stopped_sp, written by park before its
 * acknowledgement) or claimed in a region (blocked_sp and blocked_regs,
 * written before BLOCKING_IN was published).
 */
#include "threads.h"

#include "lock.h"
#include "metadata.h"
#include "platform.h"

#include <tricolor.h>

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

__thread struct mthread *current_thread __attribute__((tls_model("initial-exec")));

static struct rlock threads_lock = RLOCK_INIT("threads_lock", RANK_THREADS);
static struct mthread *all_threads;
static int nthreads;
static int suspend_signal;
/* Cooperative mode, fixed by threads_init before any thread registers. */
static int cooperative;

/* Cooperative mode: nonzero while some thread has a posted, not yet
 * withdrawn stop request (safepoints_posted > 0). Written by the holder of
 * threads_lock; read by every gc_safepoint() poll with a relaxed load, so
 * a thread may see it late (it then parks at a later poll) or see it set
 * when its own request is already withdrawn (gc_safepoint_slow then finds
 * suspend_req 0 and returns). Stays 0 in signal mode. */
uint32_t gc_safepoint_requested;
/* Requests posted in cooperative mode and not yet withdrawn by
 * thread_resume; under threads_lock. */
static int safepoints_posted;
/* mthread records; threads_lock protects it. */
static struct fixalloc mthread_alloc;
/* Unregisters a thread that exits while still registered. */
static pthread_key_t exit_key;

int threads_trylock(void)
{
    return rlock_try_acquire(&threads_lock);
}

void threads_unlock(void)
{
    rlock_release(&threads_lock);
}

struct mthread *threads_first(void)
{
    return all_threads;
}

int threads_count(void)
{
    /* Written under threads_lock; read without it by the mark workers. */
    return __atomic_load_n(&nthreads, __ATOMIC_RELAXED);
}

void not_registered(const char *what)
{
    fatal("%s called from a thread that is not registered with the collector; call gc_init() "
          "on the main thread and gc_thread_register() on every other thread first",
          what);
}

/* Spills the callee-saved registers into regs, which lies in the caller's
 * frame below every frame of the thread: scanning from regs up to the stack
 * base covers them. (Caller-saved registers hold nothing live across the
 * call that got here; in the signal path, the kernel saved every register
 * in the signal frame, higher up the same stack.) */
#if defined(__x86_64__)
#define SPILL_REGISTERS(regs)                                                                      \
    __asm__ volatile("movq %%rbx, 0(%0)\n\tmovq %%rbp, 8(%0)\n\tmovq %%r12, 16(%0)\n\t"            \
                     "movq %%r13, 24(%0)\n\tmovq %%r14, 32(%0)\n\tmovq %%r15, 40(%0)"              \
                     :                                                                             \
                     : "r"(regs)                                                                   \
                     : "memory")
#else
#define SPILL_REGISTERS(regs) getcontext((ucontext_t *)(regs))
#endif

/* Waits, stopped, until the stopper clears suspend_req. */
static __attribute__((noinline)) void park(struct mthread *t)
{
    t->suspend_pending = 0;
    /* Cooperative mode: the stopper, on another thread, sets
     * suspend_pending after posting suspend_req. Clear, then read the
     * request, with a full fence between: either this read sees the new
     * request or the stopper's later store of 1 stays (a signal handler
     * runs on this thread and needs no fence). */
    if (cooperative)
        atomic_fence();
    uint32_t gen = atomic_load32(&t->suspend_req);
    if (gen == 0)
        return;
    locks_assert_none_held("stopped by the collector");
#if defined(__x86_64__)
    uintptr_t regs[6];
#else
    ucontext_t regs[1];
#endif
    SPILL_REGISTERS(regs);
    t->stopped_sp = (uintptr_t)regs;
    /* Acknowledge this request by its generation, so that a stopper never
     * mistakes the acknowledgement of an earlier stop for its own. */
    atomic_store32(&t->suspended, gen);
    futex_wake(&t->suspended, 1);
    while (atomic_load32(&t->suspend_req) == gen)
        futex_wait(&t->suspend_req, gen);
    t->stopped_sp = 0;
    compiler_fence();
}

void thread_park_pending(struct mthread *t)
{
    int saved = errno;
    park(t);
    errno = saved;
}

/* A thread stopped inside gc_write_ptr's inline sequence after loading the
 * flag and before storing resumes at the load instead (barrier.h explains
 * why; barrier.c recognises the sequence). Here: only the pc, in the
 * signal's context. */
static void restart_interrupted_barrier(void *ucv)
{
#if defined(__x86_64__)
    ucontext_t *uc = ucv;
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    uintptr_t restart = write_barrier_restart_pc(pc);
    if (restart) {
        uc->uc_mcontext.gregs[REG_RIP] = (greg_t)restart;
        atomic_xadd(&write_barrier_restarts, 1);
    }
#else
    (void)ucv;
#endif
}

static void on_suspend_signal(int sig, siginfo_t *info, void *uc)
{
    (void)sig;
    (void)info;
    int saved = errno;
    struct mthread *t = current_thread;
    if (t != NULL && atomic_load32(&t->suspend_req) != 0) {
        restart_interrupted_barrier(uc);
        if (t->in_runtime)
            t->suspend_pending = 1; /* exit_runtime will park */
        else
            park(t);
    }
    errno = saved;
}

static void on_thread_exit(void *arg)
{
    struct mthread *t = arg;
    if (t != NULL && current_thread == t)
        thread_unregister();
}

void threads_init(int sig, int coop)
{
    suspend_signal = sig ? sig : SIGRTMIN + 6;
    cooperative = coop != 0;
    fixalloc_init(&mthread_alloc, sizeof(struct mthread), &metadata_stats.mcache_sys,
                  &metadata_stats.mcache_inuse);
    if (pthread_key_create(&exit_key, on_thread_exit) != 0)
        fatal("cannot create the thread-exit key");
    /* Cooperative mode signals no thread: the signal is left to the host. */
    if (cooperative)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_suspend_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(suspend_signal, &sa, NULL) != 0)
        fatal("cannot install the suspend handler for signal %d", suspend_signal);
}

int threads_cooperative(void)
{
    return cooperative;
}

/* Takes threads_lock; a registered caller waits stoppable. */
static void lock_threads(void *unused)
{
    (void)unused;
    rlock_acquire(&threads_lock);
}

static void threads_lock_stoppable(struct mthread *self)
{
    /* A claim never outlives its claimer's hold on threads_lock (every
     * stopper resumes before it unlocks), so once this thread holds the
     * lock no claim on it is left and leaving the region cannot wait. */
    thread_stoppable_call(self, lock_threads, NULL);
}

static void stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0 ||
        pthread_attr_getstack(&attr, &addr, &size) != 0)
        fatal("cannot find the stack of the registering thread");
    pthread_attr_destroy(&attr);
    *lo = (uintptr_t)addr;
    *hi = (uintptr_t)addr + size;
}

int thread_register(void)
{
    if (current_thread != NULL)
        return -1;
    uintptr_t lo, hi;
    stack_bounds(&lo, &hi);
    /* Not yet registered, so no stopper waits for this thread: taking the
     * lock while a stop holds it is safe. */
    rlock_acquire(&threads_lock);
    struct mthread *t = fixalloc_alloc(&mthread_alloc);
    t->pthread = pthread_self();
    t->stack_lo = lo;
    t->stack_hi = hi;
    mcache_init(&t->mcache);
    t->next = all_threads;
    if (all_threads)
        all_threads->prev = t;
    all_threads = t;
    nthreads++;
    current_thread = t;
    rlock_release(&threads_lock);
    pthread_setspecific(exit_key, t);
    return 0;
}

int thread_unregister(void)
{
    struct mthread *t = current_thread;
    if (t == NULL)
        return -1;
    if (t->blocking != BLOCKING_NONE) {
        runtime_warn("gc_thread_unregister: called inside a blocking region; leaving the region "
                     "first (call gc_leave_blocking before unregistering)");
        gc_leave_blocking();
    }
    /* Hand the cache and barrier buffer back while still registered (a
     * cycle may be marking: the buffer's pointers must be shaded). */
    enter_runtime("gc_thread_unregister");
    mcache_release_all(&t->mcache);
    rescan_flush_thread(t, &t->gcw);
    wbbuf_flush_thread(t, &t->gcw);
    exit_runtime(t);
    /* Wait for the lock stoppable: a stopper may hold it while it waits for
     * this very thread to stop. */
    threads_lock_stoppable(t);
    /* Holding the lock, no stop is in progress and none can start. */
    if (t->prev)
        t->prev->next = t->next;
    else
        all_threads = t->next;
    if (t->next)
        t->next->prev = t->prev;
    nthreads--;
    current_thread = NULL;
    fixalloc_free(&mthread_alloc, t);
    rlock_release(&threads_lock);
    pthread_setspecific(exit_key, NULL);
    return 0;
}

void thread_suspend(struct mthread *t)
{
    if (++t->suspend_gen == 0)
        t->suspend_gen = 1;
    /* A thread in a blocking region is not signalled: the stopper claims
     * it, and it counts as stopped where it entered the region. */
    if (AO_int_compare_and_swap_full((volatile unsigned *)&t->blocking, BLOCKING_IN,
                                     BLOCKING_CLAIMED)) {
        /* stopped_sp is left alone: the thread may still be leaving park()
         * for an earlier, signalled stop that found it in the region, and
         * clear it on its way out. A claimed thread is scanned from
         * blocked_sp (roots.c). */
        t->claimed = 1;
        atomic_store32(&t->suspended, t->suspend_gen);
        return;
    }
    atomic_store32(&t->suspend_req, t->suspend_gen);
    if (cooperative) {
        /* For a thread inside the runtime: it parks in exit_runtime (park
         * explains the fence that keeps this store from being lost). */
        t->suspend_pending = 1;
        t->safepoint_posted = 1;
        if (safepoints_posted++ == 0)
            atomic_store32(&gc_safepoint_requested, 1);
        /* The request is visible before wait_suspended looks for a region
         * the thread may have entered meanwhile (enter_blocking fences the
         * other way). */
        atomic_fence();
        return;
    }
    int err = pthread_kill(t->pthread, suspend_signal);
    if (err != 0)
        fatal("cannot signal thread %p to stop (error %d): did it exit without "
              "gc_thread_unregister?",
              (void *)t, err);
}

/* Cooperative mode: how long a stopper sleeps before it looks again for a
 * region to claim. A thread that enters a region while a request is posted
 * wakes it sooner; this bounds a wake-up that was missed. */
#define CLAIM_RECHECK_NS 1000000

/* Cooperative mode: claims t if it is in a blocking region now. Its
 * request stays posted (thread_resume withdraws both). */
static int claim_region(struct mthread *t)
{
    if (atomic_load32(&t->blocking) != BLOCKING_IN ||
        !AO_int_compare_and_swap_full((volatile unsigned *)&t->blocking, BLOCKING_IN,
                                      BLOCKING_CLAIMED))
        return 0;
    t->claimed = 1;
    atomic_store32(&t->suspended, t->suspend_gen);
    return 1;
}

/* Waits until t acknowledges its stop (or, in cooperative mode, is claimed
 * in a region), giving up at deadline (nanotime, or NO_DEADLINE); 1 if t
 * stopped. */
static int wait_suspended(struct mthread *t, int64_t deadline)
{
    /* Spin a little first: a running thread acknowledges within a few
     * microseconds, and sleeping on the futex would add a wake-up's worth
     * of latency to every pause. */
    for (int i = 0; i < 2000; i++) {
        if (atomic_load32(&t->suspended) == t->suspend_gen)
            return 1;
        if (cooperative && claim_region(t))
            return 1;
        cpu_relax();
    }
    uint32_t seen;
    while ((seen = atomic_load32(&t->suspended)) != t->suspend_gen) {
        if (cooperative) {
            if (claim_region(t))
                return 1;
            int64_t wait = CLAIM_RECHECK_NS;
            if (deadline != NO_DEADLINE) {
                int64_t left = deadline - nanotime();
                if (left <= 0)
                    return 0;
                if (left < wait)
                    wait = left;
            }
            futex_wait_timeout(&t->suspended, seen, wait);
            continue;
        }
        if (deadline == NO_DEADLINE) {
            futex_wait(&t->suspended, seen);
            continue;
        }
        int64_t left = deadline - nanotime();
        if (left <= 0)
            return 0;
        futex_wait_timeout(&t->suspended, seen, left);
    }
    return 1;
}

void thread_resume(struct mthread *t)
{
    if (t->safepoint_posted) {
        t->safepoint_posted = 0;
        if (--safepoints_posted == 0)
            atomic_store32(&gc_safepoint_requested, 0);
    }
    if (t->claimed) {
        t->claimed = 0;
        /* Cooperative mode: a request posted before the claim is withdrawn
         * before the thread may leave its region, so that it never parks
         * later for a stop that is over (park would find 0 and return, but
         * a stale generation would make it wait for the next resume). */
        if (cooperative)
            atomic_store32(&t->suspend_req, 0);
        atomic_store32(&t->blocking, BLOCKING_IN);
        futex_wake(&t->blocking, 1);
        return;
    }
    atomic_store32(&t->suspend_req, 0);
    futex_wake(&t->suspend_req, 1);
}

void thread_suspend_wait(struct mthread *t)
{
    thread_suspend(t);
    wait_suspended(t, NO_DEADLINE);
}

/* Also stop_the_world, as timeout_ns NO_DEADLINE: every thread stops. */
int stop_the_world_within(int64_t timeout_ns, int *stopped_some, int64_t *asked_at)
{
    struct mthread *self = current_thread;
    /* A registered caller is outside the runtime, so it can be stopped while
     * it waits for the lock: another stopper may hold it and wait for us.
     * Once it holds the lock nobody else can stop it. */
    if (self)
        threads_lock_stoppable(self);
    else
        rlock_acquire(&threads_lock);
    int some = 0;
    /* The threads late to the last stop, given up, are stopped first and
     * waited for as long as it takes: while they are, every other thread
     * runs, so a thread off its CPU for milliseconds holds only itself.
     * Holding one of them while the others are asked is harmless: a
     * stopped thread holds no runtime lock (it parks only outside the
     * runtime), and the others answer within the timeout as usual. */
    for (struct mthread *t = all_threads; t; t = t->next)
        if (t != self && t->stop_late)
            thread_suspend(t);
    for (struct mthread *t = all_threads; t; t = t->next)
        if (t != self && t->stop_late) {
            wait_suspended(t, NO_DEADLINE);
            some = 1;
        }
    *asked_at = nanotime();
    for (struct mthread *t = all_threads; t; t = t->next)
        if (t != self && !t->stop_late)
            thread_suspend(t);
    int64_t deadline = timeout_ns == NO_DEADLINE ? NO_DEADLINE : *asked_at + timeout_ns;
    int all = 1;
    for (struct mthread *t = all_threads; t; t = t->next) {
        if (t == self)
            continue;
        if (t->stop_late) {
            t->stop_late = 0; /* stopped above */
        } else if (wait_suspended(t, deadline)) {
            some = 1;
        } else {
            t->stop_late = 1; /* late this time: first at the next stop */
            all = 0;
        }
    }
    *stopped_some = some;
    if (all)
        return 1;
    /* Withdraw every request (the generation protocol makes a late
     * acknowledgement harmless: park sees suspend_req cleared). */
    start_the_world();
    return 0;
}

void stop_the_world(void)
{
    int stopped_some;
    int64_t asked_at;
    stop_the_world_within(NO_DEADLINE, &stopped_some, &asked_at);
}

void start_the_world(void)
{
    struct mthread *self = current_thread;
    for (struct mthread *t = all_threads; t; t = t->next)
        if (t != self)
            thread_resume(t);
    rlock_release(&threads_lock);
}

/*
 * Blocking regions: gc_enter_blocking / gc_leave_blocking (Go's
 * entersyscallblock/exitsyscall, for threads that block in C).
 *
 * A thread about to block records where its stack ends and its
 * callee-saved registers (whatever it holds in registers across the region
 * is there or on the stack above blocked_sp: caller-saved registers do not
 * live across the call to gc_enter_blocking), then publishes BLOCKING_IN.
 * From then on it touches no GC memory and no GC pointer, so a stopper
 * need not signal it: thread_suspend claims it with a compare-and-swap
 * (BLOCKING_IN -> BLOCKING_CLAIMED) and counts it as stopped at blocked_sp,
 * and thread_resume lets it go (-> BLOCKING_IN). Leaving is the reverse
 * swap, BLOCKING_IN -> BLOCKING_NONE; a thread that finds its region
 * claimed waits on the futex until the stopper lets go. So a thread in a
 * blocking region never gets the suspend signal (no EINTR from the
 * collector), and it is stopped, scanned and flushed like any other while
 * it stays inside.
 */
static volatile AO_t nblocking;

int threads_blocking(void)
{
    return (int)atomic_load_relaxed(&nblocking);
}

void runtime_entry_forbidden(const char *what)
{
    if (current_thread->walking)
        fatal("%s called from gc_walk_heap's callback, which runs with the world stopped and "
              "must not enter the runtime",
              what);
    fatal("%s called inside a blocking region (between gc_enter_blocking and "
          "gc_leave_blocking), where the thread must not touch GC memory",
          what);
}

/* The C half of gc_enter_blocking: regs holds the caller's callee-saved
 * registers exactly as they were at the call, and caller_sp is the
 * caller's stack pointer after the call returns. */
void enter_blocking(const uintptr_t *regs, uintptr_t caller_sp);

void enter_blocking(const uintptr_t *regs, uintptr_t caller_sp)
{
    struct mthread *t = current_thread;
    if (t == NULL)
        not_registered("gc_enter_blocking");
    if (t->blocking != BLOCKING_NONE) {
        runtime_warn("gc_enter_blocking: this thread is already in a blocking region; ignored");
        return;
    }
    memcpy(t->blocked_regs, regs, sizeof t->blocked_regs);
    t->blocked_sp = caller_sp;
    atomic_xadd(&nblocking, 1);
    /* Publishes the registers and stack pointer to a stopper that claims
     * the region (a full barrier: the claim is a compare-and-swap). */
    atomic_store32(&t->blocking, BLOCKING_IN);
    if (cooperative) {
        /* A stopper that posted a request before this thread got here
         * waits for an acknowledgement that will not come until the
         * region ends: wake it, and it claims the region instead. The
         * fence pairs with thread_suspend's: either the stopper sees
         * BLOCKING_IN or this load sees its request. */
        atomic_fence();
        if (atomic_load32(&t->suspend_req) != 0)
            futex_wake(&t->suspended, 1);
    }
}

/* gc_enter_blocking must see the caller's callee-saved registers before
 * any compiled code can reuse them (a C function may keep its own values
 * in them, saving the caller's in a frame that is gone once it returns),
 * so on x86-64 its first half is written out: it stores rbx, rbp and
 * r12-r15 in its frame and hands them, with the caller's stack pointer, to
 * enter_blocking. Elsewhere getcontext in the caller's place does what it
 * can: a port should write the same few instructions. */
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl gc_enter_blocking\n"
        ".type gc_enter_blocking, @function\n"
        "gc_enter_blocking:\n"
        ".cfi_startproc\n"
        "    endbr64\n"
        "    subq $56, %rsp\n"
        ".cfi_adjust_cfa_offset 56\n"
        "    movq %rbx, 0(%rsp)\n"
        "    movq %rbp, 8(%rsp)\n"
        "    movq %r12, 16(%rsp)\n"
        "    movq %r13, 24(%rsp)\n"
        "    movq %r14, 32(%rsp)\n"
        "    movq %r15, 40(%rsp)\n"
        "    movq %rsp, %rdi\n"
        "    leaq 64(%rsp), %rsi\n" /* above the return address */
        "    call enter_blocking\n"
        "    addq $56, %rsp\n"
        ".cfi_adjust_cfa_offset -56\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size gc_enter_blocking, .-gc_enter_blocking\n");
#else
void gc_enter_blocking(void)
{
    ucontext_t regs;
    getcontext(&regs);
    enter_blocking((const uintptr_t *)&regs, (uintptr_t)__builtin_frame_address(0));
}
#endif

void gc_leave_blocking(void)
{
    struct mthread *t = current_thread;
    if (t == NULL)
        not_registered("gc_leave_blocking");
    if (t->blocking == BLOCKING_NONE) {
        runtime_warn("gc_leave_blocking: this thread is not in a blocking region (no "
                     "gc_enter_blocking before it); ignored");
        return;
    }
    /* A claimed region is left once the stopper lets go. */
    while (!AO_int_compare_and_swap_full((volatile unsigned *)&t->blocking, BLOCKING_IN,
                                         BLOCKING_NONE))
        futex_wait(&t->blocking, BLOCKING_CLAIMED);
    atomic_xadd(&nblocking, (AO_t)-1);
}

/*
 * Cooperative safepoints (gc_safepoint() in tricolor.h).
 */
void gc_safepoint_slow(void)
{
    struct mthread *t = current_thread;
    /* Inside the runtime (a poll from a callback), the stop waits for
     * exit_runtime; inside a region the thread is claimed instead. */
    if (t == NULL || t->in_runtime || t->blocking != BLOCKING_NONE)
        return;
    if (atomic_load32(&t->suspend_req) != 0)
        thread_park_pending(t);
}

/*
 * Waits the runtime makes a registered thread do outside the runtime (for a
 * cycle, for threads_lock, for marking to progress). In signal mode a
 * signal stops the thread wherever it waits, so fn just runs. In
 * cooperative mode nothing would stop it, and a stop that needs this
 * thread would wait for the very thing the thread waits for: fn runs
 * inside a blocking region instead, which a stopper claims.
 *
 * The invariant that makes the claim sound: while claimed, this thread is
 * inside fn (or about to leave the region): gc_leave_blocking cannot
 * complete until the stopper lets go, after its scan. Its stack is scanned
 * from the stack pointer that gc_enter_blocking recorded in this frame, and
 * everything above it (this frame's spilled callee-saved registers and
 * every caller's frame) is frozen: the callers are suspended in this call,
 * and fn touches no GC pointer (it may write other data into a caller's
 * frame: the unwinder fills a caller's array of return addresses). The
 * record is rewritten at each entry, so it is never stale. Noinline, so
 * that this frame lies between the callers' frames and fn's.
 *
 * (Why not claim the thread where runtime_block_begin is called? Its
 * frame goes on running there, and the compiler may move a value between
 * a slot above the recorded stack pointer and a register the record does
 * not hold: the scan would read a stale stack of a running thread.)
 */
__attribute__((noinline)) void thread_stoppable_call(struct mthread *t, void (*fn)(void *),
                                                     void *arg)
{
    if (!cooperative || t == NULL || t->blocking != BLOCKING_NONE) {
        fn(arg);
        return;
    }
    gc_enter_blocking();
    fn(arg);
    gc_leave_blocking();
    compiler_fence();
}

struct futex_wait_args {
    volatile uint32_t *word;
    uint32_t val;
    int64_t timeout_ns;
};

static void futex_wait_call(void *arg)
{
    struct futex_wait_args *a = arg;
    if (a->timeout_ns < 0)
        futex_wait(a->word, a->val);
    else
        futex_wait_timeout(a->word, a->val, a->timeout_ns);
}

void thread_futex_wait(struct mthread *t, volatile uint32_t *word, uint32_t val, int64_t timeout_ns)
{
    struct futex_wait_args a = {word, val, timeout_ns};
    thread_stoppable_call(t, futex_wait_call, &a);
}

void threads_fork_stop(void)
{
    stop_the_world();
}

void threads_fork_parent(void)
{
    start_the_world();
}

void threads_fork_child(void)
{
    /* Only the forking thread exists here. The others were stopped at safe
     * points, so their caches are consistent: their spans go back to the
     * central lists, or they would never be swept again, and a span that is
     * never swept keeps last cycle's mark bits, which make the next mark
     * take its objects for black and skip what they point to. The records
     * themselves are dropped, not freed. */
    struct mthread *self = current_thread;
    for (struct mthread *t = all_threads; t; t = t->next)
        if (t != self)
            mcache_release_all(&t->mcache);
    all_threads = self;
    nthreads = self ? 1 : 0;
    if (self) {
        self->next = self->prev = NULL;
        self->pthread = pthread_self();
        self->suspend_req = 0;
        self->suspended = self->suspend_gen;
        self->safepoint_posted = 0;
    }
    safepoints_posted = 0;
    atomic_store32(&gc_safepoint_requested, 0);
    rlock_release(&threads_lock);
}
