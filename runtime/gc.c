/*
 * The collection cycle and the collector's threads. See gc.h.
 */
#include "gc.h"

#include "cache.h"
#include "env.h"
#include "heap.h"
#include "mark.h"
#include "pacer.h"
#include "platform.h"
#include "roots.h"
#include "sweep.h"
#include "threads.h"
#include "trace.h"

#include <limits.h>
#include <signal.h>
#include <tricolor.h>

volatile AO_t gc_phase;
struct gc_cycle_stats gc_stats;

/* Cycle bookkeeping. requested, started and completed count cycles since
 * init; completed <= started <= requested + 1. forced_upto: cycles up to this
 * number were asked for by gc_collect. The futex words wake the controller
 * (requested), gc_collect's waiters (completed) and the sweeper (sweep_wake). */
static struct {
    volatile uint32_t requested;
    volatile uint32_t started;
    volatile uint32_t completed;
    volatile uint32_t forced_upto;
    volatile uint32_t sweep_wake;
    pthread_t controller, sweeper;
} cycles;

/* Raises *word to at least v. */
static void raise_to(volatile uint32_t *word, uint32_t v)
{
    for (;;) {
        uint32_t cur = atomic_load32(word);
        if ((int32_t)(cur - v) >= 0)
            return;
        if (AO_int_compare_and_swap_full((volatile unsigned *)word, cur, v))
            return;
    }
}

static void request_cycle(uint32_t n)
{
    raise_to(&cycles.requested, n);
    futex_wake(&cycles.requested, 1);
}

void gc_trigger(void)
{
    uint32_t done = atomic_load32(&cycles.completed);
    if (atomic_load32(&cycles.requested) > done)
        return; /* one is already asked for or running */
    request_cycle(done + 1);
}

/* ---- The cycle ------------------------------------------------------------ */

static void mark_from_roots(void)
{
    struct gc_work w = {0};
    for (struct mthread *t = threads_first(); t; t = t->next)
        mark_thread_stack(t, &w);
    mark_globals(&w);
    mark_drain(&w);
    gcw_dispose(&w);
}

/* gccheckmark: mark everything again into the checkmark bits, with the world
 * still stopped; greyobject aborts on any object the first mark missed. */
static void checkmark(void)
{
    AO_t heap_scan = work.heap_scan, stack_scan = work.stack_scan;
    AO_t globals_scan = work.globals_scan;
    work.checkmark = 1;
    mark_from_roots();
    work.checkmark = 0;
    work.heap_scan = heap_scan;
    work.stack_scan = stack_scan;
    work.globals_scan = globals_scan;
}

static int stw_procs(void)
{
    int n = available_cpus_cached();
    return knobs.procs < n ? knobs.procs : n;
}

static void gc_cycle(int forced)
{
    struct gctrace_cycle tr = {0};
    sweep_finish();
    roots_snapshot_globals();

    int64_t t_start = nanotime();
    uint64_t heap0 = atomic_load(&gc_controller.heap_live);
    stop_the_world();

    /* Sweep termination. Mutators are stopped outside the runtime, so
     * nothing is left half swept. */
    sweep_finish();
    mark_reset();
    atomic_store(&gc_phase, GC_MARK);
    int64_t t_mark = nanotime();
    int64_t cpu_mark = thread_cpu_time();

    mark_from_roots();
    /* Anything the write barrier recorded is shaded too (nothing, while the
     * whole mark runs with the world stopped; kept for the concurrent mark). */
    for (struct mthread *t = threads_first(); t; t = t->next)
        wbbuf_flush(&t->wbbuf);
    struct gc_work w = {0};
    mark_drain(&w);
    gcw_dispose(&w);

    int64_t t_term = nanotime();
    cpu_mark = thread_cpu_time() - cpu_mark;

    /* Mark termination. */
    atomic_store(&gc_phase, GC_MARK_TERMINATION);
    if (knobs.gccheckmark)
        checkmark();
    for (struct mthread *t = threads_first(); t; t = t->next)
        mcache_release_all(&t->mcache);
    uint64_t heap1 = atomic_load(&gc_controller.heap_live);
    uint64_t marked = atomic_load(&work.bytes_marked);
    atomic_store(&gc_controller.heap_marked, marked);
    atomic_store(&gc_controller.heap_live, marked);
    uint64_t goal = atomic_load(&gc_controller.heap_goal);
    atomic_store(&gc_controller.last_heap_goal, goal);
    gc_controller.last_stack_scan = atomic_load(&work.stack_scan);
    gc_controller.globals_scan = atomic_load(&work.globals_scan);
    atomic_store(&gc_phase, GC_OFF);
    atomic_xadd(&mheap_.sweepgen, 2);
    pacer_commit();

    int64_t t_end = nanotime();
    uint64_t pause = (uint64_t)(t_end - t_start);
    gc_stats.num_gc++;
    if (forced)
        gc_stats.num_forced_gc++;
    gc_stats.pause_total_ns += pause;
    gc_stats.last_gc_unix = (uint64_t)unix_nanotime();
    gc_stats.pause_ns[(gc_stats.num_gc + 255) % 256] = pause;
    gc_stats.pause_end[(gc_stats.num_gc + 255) % 256] = gc_stats.last_gc_unix;
    int procs = stw_procs();
    int64_t stw1 = t_mark - t_start, stw2 = t_end - t_term;
    gc_stats.gc_cpu_ns += (stw1 + stw2) * procs + cpu_mark;
    start_the_world();

    atomic_xadd32(&cycles.sweep_wake, 1);
    futex_wake(&cycles.sweep_wake, 1);

    if (knobs.gctrace) {
        tr.num = gc_stats.num_gc;
        tr.since_init_ns = t_start - gc_stats.init_time;
        int64_t elapsed = t_end - gc_stats.init_time;
        tr.cpu_percent = elapsed > 0 ? (int)(gc_stats.gc_cpu_ns * 100 / (elapsed * knobs.procs)) : 0;
        tr.clock_ns[0] = stw1;
        tr.clock_ns[1] = t_term - t_mark;
        tr.clock_ns[2] = stw2;
        tr.cpu_stw1_ns = stw1 * procs;
        tr.cpu_background_ns = cpu_mark;
        tr.cpu_stw2_ns = stw2 * procs;
        tr.heap_start = heap0;
        tr.heap_end = heap1;
        tr.heap_marked = marked;
        tr.heap_goal = goal;
        tr.stacks = gc_controller.last_stack_scan;
        tr.globals = gc_controller.globals_scan;
        tr.procs = knobs.procs;
        tr.forced = forced;
        char line[256];
        int n = format_gctrace(line, sizeof line, &tr);
        trace_emit(line, n < (int)sizeof line ? n : (int)sizeof line - 1);
    }
}

/* ---- Threads ------------------------------------------------------------ */

static void block_signals(void)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
}

static void *controller_main(void *arg)
{
    (void)arg;
    block_signals();
    for (;;) {
        uint32_t req = atomic_load32(&cycles.requested);
        uint32_t done = atomic_load32(&cycles.completed);
        if ((int32_t)(req - done) <= 0) {
            futex_wait(&cycles.requested, req);
            continue;
        }
        uint32_t n = done + 1;
        atomic_store32(&cycles.started, n);
        gc_cycle((int32_t)(atomic_load32(&cycles.forced_upto) - n) >= 0);
        atomic_store32(&cycles.completed, n);
        futex_wake(&cycles.completed, INT_MAX);
    }
    return NULL;
}

static void *sweeper_main(void *arg)
{
    (void)arg;
    block_signals();
    uint32_t seen = 0;
    for (;;) {
        uint32_t now;
        while ((now = atomic_load32(&cycles.sweep_wake)) == seen)
            futex_wait(&cycles.sweep_wake, seen);
        seen = now;
        while (sweep_one() != 0)
            ;
    }
    return NULL;
}

void gc_start_threads(void)
{
    gc_stats.init_time = nanotime();
    if (pthread_create(&cycles.controller, NULL, controller_main, NULL) != 0 ||
        pthread_create(&cycles.sweeper, NULL, sweeper_main, NULL) != 0)
        fatal("cannot start the collector's threads");
}

/* ---- Public entry points ------------------------------------------------- */

void gc_collect(void)
{
    struct mthread *t = current_thread;
    if (t == NULL && gc_stats.init_time == 0)
        not_registered("gc_collect");
    /* A cycle that starts after this call: one more than any started. */
    uint32_t target = atomic_load32(&cycles.started) + 1;
    raise_to(&cycles.forced_upto, target);
    request_cycle(target);
    uint32_t done;
    while ((int32_t)((done = atomic_load32(&cycles.completed)) - target) < 0)
        futex_wait(&cycles.completed, done);
    /* Help sweep, then wait for the other sweepers: runtime.GC returns with
     * the heap fully swept. */
    for (;;) {
        if (t)
            enter_runtime("gc_collect");
        size_t n = sweep_one();
        if (t)
            exit_runtime(t);
        if (n == 0)
            break;
    }
    sweep_wait_idle();
}

int gc_set_percent(int percent)
{
    int old = pacer_set_percent(percent);
    if (pacer_should_trigger())
        gc_trigger();
    return old;
}
