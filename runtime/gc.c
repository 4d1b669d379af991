/*
 * The collection cycle (Go's mgc.go). See gc.h for the phases, the
 * invariants and the hand-off of a cycle from the thread that starts it to
 * the controller.
 *
 * In order: the cycle counters and how a cycle is asked for; the cycle
 * itself (sweep termination, concurrent mark, mark termination); the
 * hand-off (cycle_busy) and the controller; fork(); the public entry
 * points. What belongs to other files is theirs: the cycle resets marking
 * and sweeping state through their functions, hands its numbers to trace.c
 * to print, and has its thread started by bgthreads.c.
 */
#include "gc.h"

#include "bgthreads.h"
#include "cache.h"
#include "checkmark.h"
#include "ephemeron.h"
#include "knobs.h"
#include "heap.h"
#include "liveness.h"
#include "mark.h"
#include "pacer.h"
#include "platform.h"
#include "roots.h"
#include "scavenge.h"
#include "sweep.h"
#include "threads.h"
#include "types.h"
#include "trace.h"
#include "worker.h"

#include <limits.h>
#include <sched.h>
#include <tricolor.h>

RUNTIME_STATE volatile AO_t cycle_phase;
RUNTIME_STATE struct cycle_stats cycle_stats;

/* ---- Cycle counters and requests ------------------------------------------ */

/* Cycle bookkeeping. requested, started, marking, terminated and completed
 * count cycles since init; completed <= terminated <= marking <= started <=
 * requested + 1, where marking is the last cycle whose first pause is over
 * and terminated the last whose marking is over (with its successor's
 * trigger set). forced_upto: cycles up to this number were asked for by
 * gc_collect. The futex words wake the controller (requested), allocating
 * threads waiting for a cycle to start (marking) and gc_collect's waiters
 * (completed). handed: the last cycle whose start an allocating thread
 * handed to the controller because a thread was late to its stop; no
 * allocating thread waits for that cycle to start (cycle_wait_for_start),
 * since the controller may wait milliseconds for the late thread. */
static RUNTIME_STATE struct {
    volatile uint32_t requested;
    volatile uint32_t started;
    volatile uint32_t marking;
    volatile uint32_t terminated;
    volatile uint32_t completed;
    volatile uint32_t forced_upto;
    volatile uint32_t handed;
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

/* The longest an allocating thread waits for a cycle to start marking. */
#define START_WAIT_MAX_NS 10000000

/* The collector's threads in a fork child. Only the forking thread survives
 * fork(), and the child's fork handler does not start new ones: a child
 * that goes on to exec or _exit, as nearly every child does, would pay for
 * threads it never uses, and a thread created there may block forever on a
 * lock of the allocator that a parent thread held at the fork (the
 * sanitizers' allocator does not take its locks across fork; a child that
 * only exits then hung). They are started by the first cycle the child asks
 * for instead: every cycle is asked for through request_cycle, and before
 * one has run nothing needs a collector thread (the sweeper, the scavenger,
 * the mark workers and the finalizer runner are woken by cycles; an
 * allocation asks the prefaulter but never waits for an idle one).
 *
 * threads_state: RUNNING, or, in a child, MISSING until one thread wins the
 * compare-and-swap to STARTING, starts them and publishes RUNNING; the
 * others wait for it, unstoppably and inside the runtime or not: the
 * starting waits for nothing but the new threads' first instructions
 * (bgthreads.h), never for a stop or a runtime lock, so a stopper that
 * waits for a waiter waits no longer than that. */
enum { THREADS_RUNNING, THREADS_MISSING, THREADS_STARTING };
static RUNTIME_STATE volatile uint32_t threads_state;
static void (*start_missing_threads)(void);

static void threads_wait_started(void)
{
    uint32_t s;
    while ((s = atomic_load32(&threads_state)) == THREADS_STARTING)
        futex_wait(&threads_state, s);
}

static void ensure_threads(void)
{
    if (__builtin_expect(atomic_load32(&threads_state) == THREADS_RUNNING, 1))
        return;
    if (AO_int_compare_and_swap_full((volatile unsigned *)&threads_state, THREADS_MISSING,
                                     THREADS_STARTING)) {
        start_missing_threads();
        atomic_store32(&threads_state, THREADS_RUNNING);
        futex_wake(&threads_state, INT_MAX);
        return;
    }
    threads_wait_started();
}

static void request_cycle(uint32_t n)
{
    ensure_threads();
    raise_to(&cycles.requested, n);
    futex_wake(&cycles.requested, 1);
}

void cycle_trigger(void)
{
    /* The next cycle may be asked for as soon as the last one's marking is
     * over, while its controller still finishes up: its trigger is set. */
    uint32_t done = atomic_load32(&cycles.terminated);
    if ((int32_t)(atomic_load32(&cycles.requested) - done) > 0)
        return; /* one is already asked for or marking */
    request_cycle(done + 1);
}

void cycle_wait_for_start(struct mthread *t)
{
    int64_t deadline = 0;
    for (;;) {
        uint32_t marking = atomic_load32(&cycles.marking);
        if ((int32_t)(atomic_load32(&cycles.requested) - marking) <= 0 ||
            atomic_load32(&cycles.handed) == marking + 1)
            return;
        if (cycle_try_start(t) != 0)
            return; /* started, or handed to the controller */
        int64_t now = nanotime();
        if (deadline == 0)
            deadline = now + START_WAIT_MAX_NS;
        else if (now >= deadline)
            return;
        runtime_block_begin(t);
        thread_futex_wait(t, &cycles.marking, marking, deadline - now);
        runtime_block_end(t);
    }
}

/* Marks cycle n's first pause as over and wakes the threads waiting for it. */
static void marking_started(uint32_t n)
{
    raise_to(&cycles.marking, n);
    futex_wake(&cycles.marking, INT_MAX);
}

/* ---- The cycle ------------------------------------------------------------ */

/* Per-cycle measurements for gctrace and the pacer. */
struct cycle_record {
    int forced;
    int64_t t_start, t_mark, t_term, t_end; /* phase boundaries */
    /* Pauses: the world stopped, every thread but the stopper held, from
     * the stop's first request to the restart. A stop given up before
     * every thread answered (try_stop) held some threads for a
     * while but never the world: it is not a pause, and is counted apart
     * (stops_abandoned). A mark termination that gave its work back to
     * concurrent marking (TERMINATION_MAX_WORKBUFS) was a pause. */
    int64_t stw_ns;         /* every pause of the cycle, added up (Go's PauseNs) */
    int64_t stw_longest_ns; /* the longest single pause */
    int64_t stw_retried_ns; /* termination pauses that gave up, in stw_ns too */
    uint64_t heap0, heap1, marked, goal;
    int64_t cpu_background, cpu_assist, cpu_idle;
    AO_t termination_workbufs;
    int64_t stop1_ns, stop2_ns; /* of the pauses: time to stop the world */
    int started_by_mutator;     /* the first pause ran on an allocating thread */
    int stops_abandoned;        /* attempts to stop, for either pause, given up (try_stop) */
};

/* Adds one pause of d ns to the cycle's record. */
static void record_pause(struct cycle_record *rec, int64_t d)
{
    rec->stw_ns += d;
    if (d > rec->stw_longest_ns)
        rec->stw_longest_ns = d;
}

static void mark_from_roots(void)
{
    struct gcw w = {0};
    mark_roots(&w);
    mark_drain(&w);
    gcw_dispose(&w);
}

static int stw_procs(void)
{
    int n = available_cpus_cached();
    return knobs.procs < n ? knobs.procs : n;
}

/* Sweeps until nothing is left, then waits for the other sweepers. A
 * registered caller sweeps one span at a time inside the runtime, so that
 * it can be stopped between spans. */
static void help_sweep(struct mthread *t, const char *what)
{
    for (;;) {
        if (t)
            enter_runtime(what);
        size_t n = sweep_one();
        if (t)
            exit_runtime(t);
        if (n == 0)
            break;
    }
    sweep_wait_idle();
}

/* Attempts to stop the world, for either pause: each waits at most
 * GODEBUG=stoptimeout microseconds (default 250) for every thread to stop,
 * and the next comes STOP_RETRY_NS later; after STOP_MAX_ABANDONED in a
 * cycle, or with stoptimeout=0, the stop waits as long as it takes.
 *
 * Why. A thread that answers late (descheduled by a busy host, or in a long
 * page fault: the first touch of a fresh huge page takes milliseconds on
 * some virtual machines) cannot stop until it runs again, and every thread
 * already stopped would wait for it. Giving up lets them run meanwhile; the
 * late thread usually answers the next attempt at once. bench/latestop.c
 * measures what the punctual threads feel either way. */
#define STOP_RETRY_NS      200000
#define STOP_MAX_ABANDONED 8

/* One attempt: 1 with the world stopped since *t0 (nanotime: when the
 * threads that were not late were asked), 0 when it was given up (the
 * caller sleeps STOP_RETRY_NS and tries again, or hands the cycle to the
 * controller). A given-up attempt is not a pause (cycle_record). */
static int try_stop(struct cycle_record *rec, int64_t *t0)
{
    int64_t timeout = (int64_t)knobs.stoptimeout * 1000;
    if (timeout <= 0 || rec->stops_abandoned >= STOP_MAX_ABANDONED)
        timeout = NO_DEADLINE;
    int stopped_some;
    if (stop_the_world_within(timeout, &stopped_some, t0))
        return 1;
    rec->stops_abandoned++;
    cycle_stats.num_stops_abandoned++;
    return 0;
}

/* Sweep termination, the first pause: no span may be unswept when marking
 * starts, the barrier and allocate-black go on. self: the registered thread
 * that runs it (outside the runtime), or NULL for the controller. Returns
 * 0 when an allocating thread's stop was given up, having only swept
 * (help_sweep) and snapshotted the globals: no cycle state has changed, and
 * it hands the cycle to the controller, whose retries stop the late thread
 * first while every other thread runs (threads.h, stop_the_world_within),
 * rather than wait itself. */
static int sweep_termination(struct cycle_record *rec, struct mthread *self)
{
    help_sweep(self, "starting a cycle");
    roots_snapshot_globals();
    rec->heap0 = atomic_load(&pacer.heap_live);
    rec->goal = atomic_load(&pacer.heap_goal);
    while (!try_stop(rec, &rec->t_start)) {
        if (self)
            return 0;
        sleep_ns(STOP_RETRY_NS);
    }
    rec->stop1_ns = nanotime() - rec->t_start;
    sweep_finish();
    if (knobs.gccheckmark)
        checkmark_reset();
    mark_reset();
    mark_sched_reset();
    write_barrier_set(1);
    atomic_store(&cycle_phase, PHASE_MARK);
    /* Allocate-black by span (cache.h): what is cached now is black from
     * here on, and its free bytes are each owner's first assist debt. */
    for (struct mthread *t = threads_first(); t; t = t->next)
        t->assist_bytes -= (int64_t)mcache_alloc_black_all(&t->mcache);
    {
        /* Precise roots are scanned with the world stopped (roots.h). */
        struct gcw w = {0};
        mark_root_callbacks(&w);
        gcw_dispose(&w);
    }
    rec->t_mark = nanotime();
    return 1;
}

/* Flushes every stopped thread's barrier buffer and private grey objects,
 * and scans again the objects its gc_rescan calls deferred (barrier.h). */
static void flush_threads(struct gcw *w)
{
    for (struct mthread *t = threads_first(); t; t = t->next) {
        rescan_flush_thread(t, w);
        wbbuf_flush_thread(t, w);
    }
}

/* The ragged barrier before mark termination (Go's gcMarkDone): each thread
 * is stopped on its own and its buffers flushed. Returns 1 if that produced
 * grey objects, in which case marking goes on. */
static int ragged_flush(void)
{
    while (!threads_trylock())
        sched_yield();
    struct gcw w = {0};
    AO_t before = atomic_load(&mark_work.nfull);
    for (struct mthread *t = threads_first(); t; t = t->next) {
        if (!wbbuf_thread_pending(t))
            continue; /* racy peek; mark termination flushes again */
        thread_suspend_wait(t);
        wbbuf_flush_thread(t, &w);
        thread_resume(t);
    }
    threads_unlock();
    int found = w.wbuf1 != NULL && (w.wbuf1->nobj || (w.wbuf2 && w.wbuf2->nobj));
    gcw_dispose(&w);
    return found || atomic_load(&mark_work.nfull) > before;
}

/* How much grey work mark termination may finish itself before it gives up
 * and restarts concurrent marking instead: a pause must not grow with the
 * heap. */
#define TERMINATION_MAX_WORKBUFS 4
#define TERMINATION_MAX_RETRIES  3

/* The limiter's view of GC time: every assist and pause so far. */
static void feed_limiter(const struct cycle_record *rec, int marking)
{
    int64_t assist = cycle_stats.assist_ns_total + (int64_t)atomic_load(&mark_sched.assist_ns);
    int64_t stw = (int64_t)cycle_stats.pause_total_ns + (rec ? rec->stw_ns : 0);
    limiter_update(assist, stw, marking, knobs.procs, cycle_stats.num_gc + 1);
}

/* In the mark-termination pause, with pause_ns of it gone. */
static void print_pacertrace(const struct cycle_record *rec, int retries, int64_t pause_ns)
{
    struct pacertrace_line p = {
        .retries = retries,
        .workbufs = rec->termination_workbufs,
        .pause_ns = pause_ns,
        .stop1_ns = rec->stop1_ns,
        .stop2_ns = rec->stop2_ns,
        .stops_abandoned = rec->stops_abandoned,
        .started_by_mutator = rec->started_by_mutator,
    };
    char line[240];
    int n = format_pacertrace(line, sizeof line, &p);
    trace_emit(line, n < (int)sizeof line ? n : (int)sizeof line - 1);
}

/* How often the CPU limiter hears of the assists' time while a cycle marks. */
#define LIMITER_PERIOD_NS 10000000

static void concurrent_mark(struct cycle_record *rec)
{
    int64_t last_limiter = nanotime();
    for (int attempt = 0;; attempt++) {
        /* Asleep until the marker whose step leaves marking looking done
         * wakes the controller (worker.c says why that wake-up cannot be
         * lost), and at least every LIMITER_PERIOD_NS to feed the CPU
         * limiter. */
        while (!mark_sched_looks_done()) {
            int64_t now = nanotime();
            if (now - last_limiter >= LIMITER_PERIOD_NS) {
                feed_limiter(rec, 1);
                last_limiter = now;
            }
            mark_done_wait(last_limiter + LIMITER_PERIOD_NS - now);
        }
        /* Values of ephemerons whose key is marked: marked now, so that
         * the pause has only the rest to look at (ephemeron.h). */
        if (ephemerons_mark_concurrent())
            continue;
        if (ragged_flush())
            continue;
        int64_t t0;
        if (!try_stop(rec, &t0)) {
            sleep_ns(STOP_RETRY_NS);
            continue; /* marking may have found work meanwhile */
        }
        rec->stop2_ns = nanotime() - t0;
        atomic_store(&cycle_phase, PHASE_MARK_TERMINATION);
        workers_stop();
        struct gcw w = {0};
        flush_threads(&w);
        /* C stores into globals, registered roots and stacks without a
         * barrier: all of them are scanned again, with the world stopped.
         * (Stacks too: a pointer can move from a global into a stack that
         * was already scanned, and the global be cleared, with no barrier
         * seeing either store; see docs/concurrency.md.) Most of what they
         * reach is already marked, so this costs about one pass over the
         * stacks and globals, however large the heap. */
        mark_reset_root_sizes();
        for (struct mthread *t = threads_first(); t; t = t->next)
            mark_thread_stack(t, &w);
        mark_globals(&w);
        mark_root_callbacks(&w);
        types_rescan_marked(&w); /* GC_TYPE_RESCAN objects (types.h) */
        gcw_dispose(&w);
        if (atomic_load(&mark_work.nfull) > TERMINATION_MAX_WORKBUFS &&
            attempt < TERMINATION_MAX_RETRIES) {
            atomic_store(&cycle_phase, PHASE_MARK);
            start_the_world();
            int64_t d = nanotime() - t0;
            record_pause(rec, d);
            rec->stw_retried_ns += d;
            workers_wake();
            continue;
        }
        rec->t_term = t0;
        rec->termination_workbufs = atomic_load(&mark_work.nfull);
        mark_drain(&w);
        liveness_termination(&w);
        gcw_dispose(&w);
        if (knobs.gcpacertrace)
            print_pacertrace(rec, attempt, nanotime() - t0);
        return;
    }
}

static void stw_mark(struct cycle_record *rec)
{
    mark_from_roots();
    struct gcw w = {0};
    flush_threads(&w);
    mark_drain(&w);
    liveness_termination(&w);
    gcw_dispose(&w);
    rec->t_term = nanotime();
}

/* Mark termination, the second pause (entered with the world stopped). */
static void mark_termination(struct cycle_record *rec)
{
    atomic_store(&cycle_phase, PHASE_MARK_TERMINATION);
    if (knobs.gccheckmark)
        checkmark_verify();
    types_prune(); /* liveness is final: unmarked RESCAN objects are dead */
    for (struct mthread *t = threads_first(); t; t = t->next)
        mcache_release_all(&t->mcache);
    rec->heap1 = atomic_load(&pacer.heap_live);
    rec->marked = atomic_load(&mark_work.bytes_marked);
    write_barrier_set(0);
    atomic_store(&cycle_phase, PHASE_OFF);
    assists_wake();
    /* The background sweeper is not stopped with the world, and a
     * sweep_one it began before the stop chose its unswept lists by the
     * old generation: were the generation to advance under it, it could
     * pop a span just swept in the new one ("swept twice or out of turn").
     * Let any such call finish first; new ones wait for the unpause. */
    sweep_pause();
    sweep_next_generation();
    sweep_unpause();

    /* With gcstoptheworld no worker ran: cycle_finish timed the mark. */
    if (!knobs.gcstoptheworld)
        rec->cpu_background = (int64_t)atomic_load(&mark_sched.background_ns);
    rec->cpu_idle = (int64_t)atomic_load(&mark_sched.idle_ns);
    rec->cpu_assist = (int64_t)atomic_load(&mark_sched.assist_ns);
    struct pacer_cycle pc = {
        .heap_trigger = rec->heap0,
        .heap_live = rec->heap1,
        .heap_marked = rec->marked,
        .heap_scan = atomic_load(&mark_work.heap_scan),
        .stack_scan = atomic_load(&mark_work.stack_scan),
        .globals_scan = atomic_load(&mark_work.globals_scan),
        .mark_ns = rec->t_term - rec->t_mark,
        .assist_ns = rec->cpu_assist,
        .procs = knobs.procs,
    };
    pacer_end_cycle(&pc);
    {
        struct heap_pages pages;
        mheap_read_pages(&pages);
        sweep_pacing_commit(atomic_load(&pacer.heap_live), atomic_load(&pacer.trigger),
                            pages.inuse);
    }

    rec->t_end = nanotime();
    /* With gcstoptheworld the whole cycle was one pause. */
    record_pause(rec, rec->t_end - (knobs.gcstoptheworld ? rec->t_start : rec->t_term));
    cycle_stats.num_gc++;
    if (rec->forced)
        cycle_stats.num_forced_gc++;
    if (rec->started_by_mutator)
        cycle_stats.num_started_by_mutator++;
    cycle_stats.pause_total_ns += (uint64_t)rec->stw_ns;
    cycle_stats.last_gc_unix = (uint64_t)unix_nanotime();
    cycle_stats.pause_ns[(cycle_stats.num_gc + 255) % 256] = (uint64_t)rec->stw_ns;
    cycle_stats.pause_end[(cycle_stats.num_gc + 255) % 256] = cycle_stats.last_gc_unix;
    cycle_stats.pause_longest_ns[(cycle_stats.num_gc + 255) % 256] = (uint64_t)rec->stw_longest_ns;
    /* With gcstoptheworld the mark ran inside the pause: its time is in
     * stw_ns already (gctrace still shows it as the workers' figure). */
    cycle_stats.gc_cpu_ns += rec->stw_ns * stw_procs() + rec->cpu_assist +
                             (knobs.gcstoptheworld ? 0 : rec->cpu_background);
    cycle_stats.assist_ns_total += rec->cpu_assist;
    start_the_world();
    scavenge_set_goals(atomic_load(&pacer.heap_goal), rec->goal);
    feed_limiter(NULL, 0);
}

static void print_gctrace(const struct cycle_record *rec)
{
    struct gctrace_cycle tr = {0};
    int procs = stw_procs();
    /* The two STW clocks add up to the cycle's pause_ns: the second holds
     * every mark-termination pause, retried ones included, which the mark
     * clock leaves out. (With gcstoptheworld the mark clock is a pause too.) */
    int64_t stw1 = rec->t_mark - rec->t_start;
    int64_t stw2 = rec->t_end - rec->t_term + rec->stw_retried_ns;
    tr.num = cycle_stats.num_gc;
    tr.since_init_ns = rec->t_start - cycle_stats.init_time;
    int64_t elapsed = rec->t_end - cycle_stats.init_time;
    tr.cpu_percent = elapsed > 0 ? (int)(cycle_stats.gc_cpu_ns * 100 / (elapsed * knobs.procs)) : 0;
    tr.clock_ns[0] = stw1;
    tr.clock_ns[1] = rec->t_term - rec->t_mark - rec->stw_retried_ns;
    tr.clock_ns[2] = stw2;
    tr.cpu_stw1_ns = stw1 * procs;
    tr.cpu_assist_ns = rec->cpu_assist;
    tr.cpu_background_ns = rec->cpu_background;
    tr.cpu_idle_ns = rec->cpu_idle;
    tr.cpu_stw2_ns = stw2 * procs;
    tr.heap_start = rec->heap0;
    tr.heap_end = rec->heap1;
    tr.heap_marked = rec->marked;
    tr.heap_goal = rec->goal;
    tr.stacks = pacer.last_stack_scan;
    tr.globals = pacer.globals_scan;
    tr.procs = knobs.procs;
    tr.forced = rec->forced;
    char line[256];
    int n = format_gctrace(line, sizeof line, &tr);
    trace_emit(line, n < (int)sizeof line ? n : (int)sizeof line - 1);
}

/* The cycle in progress. Its start and the rest may run on different
 * threads (see cycle_begin), one after the other: cycle_busy orders them. */
static RUNTIME_STATE struct cycle_record cycle_rec;

/* Starts cycle n, up to concurrent marking (in gcstoptheworld mode, the
 * whole cycle runs in the controller's cycle_finish instead). Run by the
 * holder of cycle_busy: the controller (self NULL) or an allocating thread
 * (self, outside the runtime). */
static int cycle_begin(uint32_t n, struct mthread *self)
{
    atomic_store32(&cycles.started, n);
    cycle_rec = (struct cycle_record){
        .forced = (int32_t)(atomic_load32(&cycles.forced_upto) - n) >= 0,
        .started_by_mutator = self != NULL,
    };
    if (!sweep_termination(&cycle_rec, self))
        return 0; /* the controller starts n (cycle_try_start) */
    if (knobs.gcstoptheworld)
        return 1;
    start_the_world();
    marking_started(n);
    record_pause(&cycle_rec, cycle_rec.t_mark - cycle_rec.t_start);
    workers_wake();
    return 1;
}

/* The rest of cycle n, on the controller. */
static void cycle_finish(uint32_t n)
{
    struct cycle_record *rec = &cycle_rec;
    if (knobs.gcstoptheworld) {
        int64_t t = rec->t_mark;
        stw_mark(rec);
        rec->cpu_background = rec->t_term - t;
    } else {
        concurrent_mark(rec);
    }
    mark_termination(rec);
    atomic_store32(&cycles.terminated, n);
    sweeper_wake();
    if (knobs.gctrace)
        print_gctrace(rec);
}

/* ---- The hand-off and the controller -------------------------------------- */

/* cycle_busy: held from a cycle's start to its end, and by fork() (see
 * cycle_fork_prepare) so that a child is never born in the middle of a cycle.
 * A futex word rather than a mutex because it changes hands: a thread that
 * starts a cycle passes it, with the rest of the cycle, to the controller.
 * CYCLE_FREE -> CYCLE_HELD by whoever takes it; CYCLE_HELD -> CYCLE_PASSED
 * by an allocating thread that started a cycle; CYCLE_PASSED -> CYCLE_HELD
 * by the controller, which ends the cycle and frees it. What the starting
 * thread wrote (cycle_rec, the marking state) is published to the
 * controller by the release store of CYCLE_PASSED and its acquire load. */
enum { CYCLE_FREE, CYCLE_HELD, CYCLE_PASSED };
static RUNTIME_STATE volatile uint32_t cycle_busy;

static int cycle_busy_try(void)
{
    return AO_int_compare_and_swap_full((volatile unsigned *)&cycle_busy, CYCLE_FREE, CYCLE_HELD);
}

/* For a registered caller outside the runtime: it waits stoppable. */
static void cycle_busy_acquire(void)
{
    uint32_t v;
    while (!cycle_busy_try())
        if ((v = atomic_load32(&cycle_busy)) != CYCLE_FREE)
            thread_futex_wait(current_thread, &cycle_busy, v, -1);
}

static void cycle_busy_release(void)
{
    atomic_store32(&cycle_busy, CYCLE_FREE);
    futex_wake(&cycle_busy, INT_MAX);
}

/* The controller's claim on cycle n: returns 1 when it must start n itself
 * (it took cycle_busy), 0 when an allocating thread started n and passed
 * cycle_busy on. */
static int controller_claim(uint32_t n)
{
    for (;;) {
        uint32_t v = atomic_load32(&cycle_busy);
        if (v == CYCLE_PASSED && atomic_load32(&cycles.started) == n) {
            atomic_store32(&cycle_busy, CYCLE_HELD);
            return 0;
        }
        if (v == CYCLE_FREE && cycle_busy_try())
            return 1;
        if (v != CYCLE_FREE)
            futex_wait(&cycle_busy, v);
    }
}

int cycle_try_start(struct mthread *t)
{
    if (knobs.gcstoptheworld)
        return 0;
    uint32_t done = atomic_load32(&cycles.completed);
    if (atomic_load32(&cycles.started) != done ||
        (int32_t)(atomic_load32(&cycles.requested) - done) <= 0 || !cycle_busy_try())
        return 0;
    /* Checked again now that no cycle can start or end. */
    if (atomic_load32(&cycles.completed) != done || atomic_load32(&cycles.started) != done) {
        cycle_busy_release();
        return 0;
    }
    feed_limiter(NULL, 0);
    runtime_block_begin(t);
    int started = cycle_begin(done + 1, t);
    runtime_block_end(t);
    if (!started) {
        /* A thread did not stop in time: the controller, waiting in
         * controller_claim, takes the cycle (cycles.started already says
         * done + 1, so no other allocating thread tries) and stops the late
         * thread first, while the allocating threads go on. */
        atomic_store32(&cycles.handed, done + 1);
        cycle_busy_release();
        return -1;
    }
    atomic_store32(&cycle_busy, CYCLE_PASSED);
    futex_wake(&cycle_busy, INT_MAX);
    return 1;
}

static void *controller_main(void *arg)
{
    (void)arg;
    collector_thread_started();
    for (;;) {
        uint32_t req = atomic_load32(&cycles.requested);
        uint32_t done = atomic_load32(&cycles.completed);
        if ((int32_t)(req - done) <= 0) {
            futex_wait(&cycles.requested, req);
            continue;
        }
        uint32_t n = done + 1;
        if (controller_claim(n)) {
            feed_limiter(NULL, 0);
            (void)cycle_begin(n, NULL); /* the controller never hands over */
        }
        cycle_finish(n);
        atomic_store32(&cycles.completed, n);
        marking_started(n); /* gcstoptheworld: only now */
        cycle_busy_release();
        futex_wake(&cycles.completed, INT_MAX);
    }
    return NULL;
}

void controller_start(void)
{
    collector_thread_start(controller_main, NULL, "the collector's controller");
}

void cycle_init(void)
{
    cycle_stats.init_time = nanotime();
}

/* ---- fork() --------------------------------------------------------------- */

void cycle_fork_prepare(void)
{
    struct mthread *t = current_thread;
    /* Waiting here, the thread is outside the runtime: it can be stopped. */
    cycle_busy_acquire();
    /* No cycle runs; finish sweeping, so that no span is held by the
     * sweeper (which the child would not have) when the fork happens. */
    help_sweep(t, "fork");
    /* Nor is a thread being started (bgthreads.h: a fork never copies one
     * still inside its start-up). */
    threads_wait_started();
}

void cycle_fork_parent(void)
{
    cycle_busy_release();
}

void cycle_fork_child(void (*start_threads)(void))
{
    start_missing_threads = start_threads;
    atomic_store32(&threads_state, THREADS_MISSING);
    atomic_store32(&cycle_busy, CYCLE_FREE);
    uint32_t done = atomic_load32(&cycles.completed);
    atomic_store32(&cycles.requested, done);
    atomic_store32(&cycles.started, done);
    atomic_store32(&cycles.marking, done);
    atomic_store32(&cycles.terminated, done);
    atomic_store32(&cycles.forced_upto, done);
}

/* ---- Public entry points ------------------------------------------------- */

void gc_collect(void)
{
    struct mthread *t = current_thread;
    if (t == NULL && cycle_stats.init_time == 0)
        not_registered("gc_collect");
    /* A cycle that starts after this call: one more than any started. */
    uint32_t target = atomic_load32(&cycles.started) + 1;
    raise_to(&cycles.forced_upto, target);
    request_cycle(target);
    uint32_t done;
    while ((int32_t)((done = atomic_load32(&cycles.completed)) - target) < 0)
        thread_futex_wait(t, &cycles.completed, done, -1);
    /* runtime.GC returns with the heap fully swept. */
    help_sweep(t, "gc_collect");
}

int64_t gc_set_memory_limit(int64_t bytes)
{
    /* The pacer reads the page heap under its lock: inside the runtime. */
    struct mthread *t = enter_runtime_maybe();
    int64_t old = pacer_set_memory_limit(bytes);
    exit_runtime_maybe(t);
    if (bytes >= 0 && pacer_should_trigger())
        cycle_trigger();
    return old;
}

int gc_set_percent(int percent)
{
    struct mthread *t = enter_runtime_maybe();
    int old = pacer_set_percent(percent);
    exit_runtime_maybe(t);
    if (percent < 0) {
        /* As debug.SetGCPercent(-1): a cycle already running finishes
         * before this returns, so none is running once the GC is off. */
        uint32_t started = atomic_load32(&cycles.started), done;
        while ((int32_t)((done = atomic_load32(&cycles.completed)) - started) < 0)
            thread_futex_wait(current_thread, &cycles.completed, done, -1);
        return old;
    }
    if (pacer_should_trigger())
        cycle_trigger();
    return old;
}
