/*
 * Mark workers and assists. See worker.h.
 */
#include "worker.h"

#include "bgthreads.h"
#include "knobs.h"
#include "gc.h"
#include "mark.h"
#include "pacer.h"
#include "platform.h"
#include "roots.h"
#include "special.h"
#include "threads.h"

#include <limits.h>
#include <sched.h>

RUNTIME_STATE struct mark_sched mark_sched;

static int n_dedicated;
static double fractional_cpus; /* CPUs the fractional worker aims for; 0: none */

/* Scan work a worker does between checks of its budget (bytes). */
#define WORKER_SLICE_WORK        ((uint64_t)64 << 10)
#define WORKER_SLICE_WORK_PARKED ((uint64_t)8 << 10)
/* The least an assist does, to amortise its cost (Go's gcOverAssistWork). */
#define ASSIST_MIN_WORK ((uint64_t)64 << 10)
/* The most one assist scans before it lets its allocation return: a larger
 * debt is paid over the next allocations, so that no single one stalls for
 * long. */
#define ASSIST_MAX_WORK ((uint64_t)64 << 10)
/* A parked assist looks again after ASSIST_PARK_NS, and gives up after
 * ASSIST_PARK_MAX_WAITS looks (100 ms). */
#define ASSIST_PARK_NS        1000000
#define ASSIST_PARK_MAX_WAITS 100
/* The longest an idle worker sleeps before it looks for grey work again. No
 * wake-up is lost (mark.c), so this bound only caps the cost of a bug. */
#define WORKER_IDLE_WAIT_NS 10000000

void mark_sched_reset(void)
{
    atomic_xadd(&mark_sched.cycle, 1);
    atomic_store(&mark_sched.roots_done, 0);
    atomic_store(&mark_sched.globals_claimed, 0);
    atomic_store(&mark_sched.bg_credit, 0);
    atomic_store(&mark_sched.scan_done, 0);
    atomic_store(&mark_sched.assist_ns, 0);
    atomic_store(&mark_sched.background_ns, 0);
    atomic_store(&mark_sched.idle_ns, 0);
    for (struct mthread *t = threads_first(); t; t = t->next)
        t->assist_bytes = 0;
}

/* ---- The end of marking, told to the controller ----------------------------
 *
 * done_word: bit 0 (CONTROLLER_SLEEPS) is set by the controller before it
 * looks and sleeps; the rest counts wake-ups. The controller and the marker
 * whose step leaves marking looking done form a Dekker pair:
 *
 *   controller (mark_done_wait)            marker (note_mark_done)
 *   CAS done_word: w -> w | SLEEPS   (A)     its last write: nbusy - 1, or
 *                                            nfull - 1 in trygetfull     (C)
 *   mark_sched_looks_done()? no:             mark_sched_looks_done()? yes:
 *     futex_wait(w | SLEEPS)         (B)       load done_word; if SLEEPS,
 *                                              CAS it clear, wake      (D)
 *
 * A and C are full barriers (atomic_xadd, CAS), so the loads after each
 * follow it: if B misses C, then D sees SLEEPS and changes the word, and
 * the controller's futex_wait either finds the word changed or is woken.
 * Which write is "the last" needs no agreement: every write that can make
 * the look true (a worker's nbusy decrement, a marker's taking of the last
 * full buffer) is followed by that marker's own look and, when true, D;
 * roots_done is only ever set by a worker that still counts in nbusy, and
 * a buffer taken off the list by a worker leaves it counted in nbusy until
 * its next look. An assist, which does not count in nbusy, looks after each
 * drain. So the controller never sleeps past the moment marking looks
 * done: the bound on its wait is the CPU limiter's period, not a safety net
 * that a cycle would depend on. */
#define CONTROLLER_SLEEPS 1u

int mark_sched_looks_done(void)
{
    return atomic_load(&mark_sched.roots_done) && !mark_work_available() &&
           atomic_load(&mark_sched.nbusy) == 0;
}

/* D: called by a marker after its last write (C), which was a full barrier. */
static void note_mark_done(void)
{
    if (!mark_sched_looks_done())
        return;
    for (;;) {
        uint32_t w = atomic_load32(&mark_sched.done_word);
        if (!(w & CONTROLLER_SLEEPS))
            return; /* awake, or woken by another marker: it will look */
        if (AO_int_compare_and_swap_full((volatile unsigned *)&mark_sched.done_word, w,
                                         (w + 2) & ~CONTROLLER_SLEEPS)) {
            futex_wake(&mark_sched.done_word, 1);
            return;
        }
    }
}

void mark_done_wait(int64_t timeout_ns)
{
    uint32_t w = atomic_load32(&mark_sched.done_word);
    /* A: a CAS for its full barrier (SLEEPS may still be set from a wait
     * that timed out: the CAS then changes nothing but still orders). It
     * fails only if a marker's D changed the word since the load: the
     * caller looks again. */
    uint32_t armed = w | CONTROLLER_SLEEPS;
    if (!AO_int_compare_and_swap_full((volatile unsigned *)&mark_sched.done_word, w, armed))
        return;
    if (mark_sched_looks_done())
        return;
    futex_wait_timeout(&mark_sched.done_word, armed, timeout_ns);
}

/* ---- Root jobs ------------------------------------------------------------ */

int mark_unscanned_stacks(struct gcw *w, int world_stopped)
{
    uint32_t cycle = (uint32_t)atomic_load(&mark_sched.cycle);
    if (world_stopped) {
        for (struct mthread *t = threads_first(); t; t = t->next) {
            if (t->stack_scanned_cycle != cycle) {
                t->stack_scanned_cycle = cycle;
                mark_thread_stack(t, w);
            }
        }
        return 1;
    }
    /* One stack at a time, each thread stopped on its own. */
    for (;;) {
        if (!threads_trylock())
            return 0;
        struct mthread *t = threads_first();
        while (t && t->stack_scanned_cycle == cycle)
            t = t->next;
        if (t == NULL) {
            threads_unlock();
            return 1;
        }
        t->stack_scanned_cycle = cycle;
        thread_suspend_wait(t);
        mark_thread_stack(t, w);
        thread_resume(t);
        threads_unlock();
        if (atomic_load(&mark_sched.stop))
            return 0;
    }
}

/* The globals root job, whoever claims it (a worker or an assist): the
 * globals and registered ranges, and what the specials keep alive (weak
 * handles, cleanup args, finalizer data, queued finalizers: special.h),
 * which, unlike the globals, are not scanned again at mark termination. */
static void mark_globals_job(struct gcw *w)
{
    mark_globals(w);
    specials_mark_roots(w);
}

/* Does a root job if one is left; returns 1 if it did work. */
static int root_job(struct gcw *w)
{
    if (atomic_load(&mark_sched.roots_done))
        return 0;
    if (atomic_cas(&mark_sched.globals_claimed, 0, 1)) {
        mark_globals_job(w);
        return 1;
    }
    if (mark_unscanned_stacks(w, 0))
        atomic_store(&mark_sched.roots_done, 1);
    return 1;
}

/* ---- Background workers ------------------------------------------------- */

/* Whether the budget of GOMAXPROCS CPUs has one that neither the registered
 * threads nor the dedicated workers claim. The fractional worker then marks
 * flat out, as Go runs idle mark workers on idle Ps: on a machine whose
 * other CPU would sit idle, marking ends sooner and less is allocated black
 * meanwhile. Registered threads count as running, except those parked in
 * an assist (they wait for marking to progress) and those in a blocking
 * region (gc_enter_blocking). */
static int spare_cpu(void)
{
    /* In cooperative mode a parked assist waits in a blocking region,
     * which threads_blocking() counts already. */
    int parked = threads_cooperative() ? 0 : (int)atomic_load_relaxed(&mark_sched.assists_parked);
    int running = threads_count() - parked - threads_blocking();
    return knobs.procs - running - n_dedicated >= 1;
}

static void worker_mark(int fractional)
{
    struct gcw w = {0};
    int64_t start = nanotime(), busy = 0;
    int holding = 0;
    while (!atomic_load(&mark_sched.stop)) {
        int idle = fractional && spare_cpu();
        if (fractional && !idle) {
            int64_t elapsed = nanotime() - start;
            int64_t due = (int64_t)((double)busy / fractional_cpus);
            if (due > elapsed) {
                int64_t nap = due - elapsed;
                sleep_ns(nap < 1000000 ? nap : 1000000);
                continue;
            }
        }
        int64_t t0 = nanotime(), cpu0 = thread_cpu_time();
        if (!holding) {
            atomic_xadd(&mark_sched.nbusy, 1);
            holding = 1;
        }
        int did = root_job(&w);
        if (!did) {
            /* A parked assist waits for credit: hand it over in smaller
             * slices (each hand-over wakes it, a system call). */
            uint64_t slice = atomic_load_relaxed(&mark_sched.assists_parked)
                                 ? WORKER_SLICE_WORK_PARKED
                                 : WORKER_SLICE_WORK;
            uint64_t n = mark_drain_n(&w, slice, &mark_sched.stop);
            if (n) {
                atomic_xadd(&mark_sched.bg_credit, n);
                atomic_xadd(&mark_sched.scan_done, n);
                if (atomic_load_relaxed(&mark_sched.assists_parked))
                    assists_wake();
                did = 1;
            }
        }
        /* Idle time does not count against the fractional quota. */
        if (!idle)
            busy += nanotime() - t0;
        atomic_xadd(idle ? &mark_sched.idle_ns : &mark_sched.background_ns,
                    (AO_t)(thread_cpu_time() - cpu0));
        if (!did) {
            gcw_dispose(&w);
            atomic_xadd(&mark_sched.nbusy, (AO_t)-1); /* C of the pair above */
            holding = 0;
            note_mark_done();
            /* Until a grey buffer is published or the mark stops. */
            mark_work_wait(&mark_sched.stop, WORKER_IDLE_WAIT_NS);
        }
    }
    gcw_dispose(&w);
    if (holding)
        atomic_xadd(&mark_sched.nbusy, (AO_t)-1);
}

static void *worker_main(void *arg)
{
    int fractional = arg != NULL;
    collector_thread_started();
    uint32_t seen = 0;
    for (;;) {
        uint32_t e;
        while ((e = atomic_load32(&mark_sched.epoch)) == seen)
            futex_wait(&mark_sched.epoch, seen);
        seen = e;
        worker_mark(fractional);
    }
    return NULL;
}

void workers_start(int procs)
{
    double goal = 0.25 * procs;
    int d = (int)(goal + 0.5);
    double err = d / goal - 1;
    if (err < -0.3 || err > 0.3) {
        if (d > goal)
            d--;
        fractional_cpus = goal - d;
    }
    n_dedicated = d;
    for (int i = 0; i < n_dedicated + (fractional_cpus > 0); i++) {
        int fractional = i == n_dedicated;
        collector_thread_start(worker_main, fractional ? (void *)1 : NULL, "a mark worker");
    }
}

void workers_wake(void)
{
    atomic_store(&mark_sched.stop, 0);
    atomic_xadd32(&mark_sched.epoch, 1);
    futex_wake(&mark_sched.epoch, 1 << 20);
}

void workers_stop(void)
{
    atomic_store(&mark_sched.stop, 1);
    mark_work_wake_all(); /* idle workers go back to waiting for a cycle */
    while (atomic_load(&mark_sched.nbusy) != 0)
        sched_yield();
}

/* ---- Assists -------------------------------------------------------------- */

/* Go's revise(): the scan work left, spread over the heap growth left
 * before the goal, in work bytes per allocated byte (x1024). */
static uint64_t assist_work_per_byte_x1024(void)
{
    uint64_t expected = pacer.scan_work_expected;
    uint64_t done = atomic_load_relaxed(&mark_sched.scan_done);
    uint64_t remaining = expected > done ? expected - done : expected / 10 + 1;
    uint64_t goal = atomic_load_relaxed(&pacer.heap_goal);
    uint64_t live = pacer_heap_live();
    if (live >= goal)
        goal = goal + goal / 10; /* past the goal: aim at 10% over it */
    uint64_t distance = goal > live ? goal - live : 0;
    if (distance < ((uint64_t)64 << 10))
        distance = (uint64_t)64 << 10;
    uint64_t r = remaining * 1024 / distance;
    atomic_store_relaxed(&mark_sched.assist_work_per_byte_x1024, r);
    return r ? r : 1;
}

/* Takes up to want units of banked background credit; returns how much. */
static uint64_t take_bg_credit(uint64_t want)
{
    for (;;) {
        AO_t credit = atomic_load_relaxed(&mark_sched.bg_credit);
        if (credit == 0)
            return 0;
        AO_t take = credit < want ? credit : want;
        if (atomic_cas(&mark_sched.bg_credit, credit, credit - take))
            return take;
    }
}

/* Credits work units of scan work (wpb: work per byte, x1024) against t's
 * debt; scanned: t did the work itself (rather than take banked credit),
 * so it also counts as scan work done this cycle. */
static void assist_pay(struct mthread *t, uint64_t work, uint64_t wpb, int scanned)
{
    if (scanned)
        atomic_xadd(&mark_sched.scan_done, work);
    t->assist_bytes += (int64_t)(work * 1024 / wpb);
}

void assists_wake(void)
{
    atomic_xadd32(&mark_sched.assist_wake, 1);
    futex_wake(&mark_sched.assist_wake, INT_MAX);
}

void mark_assist(struct mthread *t)
{
    if (limiter_limiting()) {
        /* GC already takes half the CPU: let the heap grow instead. */
        t->assist_bytes = (int64_t)ASSIST_MIN_WORK;
        return;
    }
    int64_t t0 = nanotime();
    uint64_t wpb = assist_work_per_byte_x1024();
    for (int parked = 0;; parked++) {
        uint32_t wake = atomic_load32(&mark_sched.assist_wake);
        uint64_t want = (uint64_t)(-t->assist_bytes) * wpb / 1024;
        if (want < ASSIST_MIN_WORK)
            want = ASSIST_MIN_WORK;
        int out_of_work = 0;
        /* Banked background credit first, then grey objects. */
        uint64_t took = take_bg_credit(want);
        assist_pay(t, took, wpb, 0);
        want -= took;
        /* The globals are the one root job an assist may do (stacks need
         * their threads stopped): early in a cycle they are where all grey
         * work comes from, and the workers may not have a CPU yet. */
        if (t->assist_bytes < 0 && want > 0 && !atomic_load(&mark_sched.roots_done) &&
            atomic_cas(&mark_sched.globals_claimed, 0, 1)) {
            uint64_t before = t->gcw.scan_work;
            mark_globals_job(&t->gcw);
            uint64_t n = t->gcw.scan_work - before;
            gcw_dispose(&t->gcw); /* the grey objects, for everyone */
            assist_pay(t, n, wpb, 1);
        }
        if (t->assist_bytes < 0 && want > 0) {
            uint64_t budget = want < ASSIST_MAX_WORK ? want : ASSIST_MAX_WORK;
            uint64_t n = mark_drain_n(&t->gcw, budget, &mark_sched.stop);
            assist_pay(t, n, wpb, 1);
            out_of_work = n < budget;
            /* Leftover grey objects go where the workers can see them. */
            gcw_dispose(&t->gcw);
            /* An assist is not in nbusy: if it took the last buffer, it
             * is the one to tell the controller (its C was trygetfull's
             * decrement, or this dispose's lock). */
            note_mark_done();
        }
        /* Still in debt with grey work left: the next allocation goes on
         * paying. */
        if (t->assist_bytes >= 0 || !out_of_work || atomic_load(&cycle_phase) != PHASE_MARK)
            break;
        /* The debt outruns the grey work in reach: the rest is being
         * scanned by the workers, and allocating on would run the heap past
         * its goal before marking ends. Wait, as Go parks an assist, for
         * their credit or the end of marking; bounded, in case a cycle
         * cannot end while this thread waits. */
        if (parked >= ASSIST_PARK_MAX_WAITS) {
            t->assist_bytes = 0;
            break;
        }
        /* Counted in both modes: the workers hand their credit over in
         * small slices, and wake the assist at each, while one is parked.
         * (Counted only outside cooperative mode, a parked assist of a
         * cooperative runtime slept its whole ASSIST_PARK_NS each time:
         * the Lua port's one stall of 1 ms or more per cycle.) */
        atomic_xadd(&mark_sched.assists_parked, 1);
        int64_t park0 = nanotime();
        runtime_block_begin(t);
        thread_futex_wait(t, &mark_sched.assist_wake, wake, ASSIST_PARK_NS);
        runtime_block_end(t);
        atomic_xadd(&mark_sched.assists_parked, (AO_t)-1);
        t0 += nanotime() - park0; /* waiting is not assist time (nor in Go) */
    }
    atomic_xadd(&mark_sched.assist_ns, (AO_t)(nanotime() - t0));
}
