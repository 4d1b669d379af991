/*
 * The scavenger. See scavenge.h.
 */
#include "scavenge.h"

#include "knobs.h"
#include "gc.h"
#include "heap.h"
#include "lock.h"
#include "pacer.h"
#include "platform.h"
#include "prefault.h"
#include "promote.h"
#include "stats.h"
#include "threads.h"
#include "trace.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <tricolor.h>

#define RELEASE_PAGES        (((size_t)16 << 20) / PAGE_SIZE) /* per mheap_release call */
#define RETAIN_EXTRA_PERCENT 10
#define REDUCE_EXTRA_PERCENT 5
/* The share of one CPU the scavenger aims for, the least it works at once,
 * the most it works before it sleeps, and how much unused share it may save
 * up (100 ms: 1% of 10 s). */
#define CPU_FRACTION 0.01
#define BURST_NS     1000000
#define MAX_BURST_NS 20000000
#define BUDGET_CAP   100000000
/* The most an allocating thread releases itself after growing the heap. */
#define SYNC_MAX_BYTES ((uint64_t)64 << 20)

static RUNTIME_STATE struct {
    volatile AO_t retain_goal; /* bytes of retained memory; UINT64_MAX: none */
    volatile AO_t limit_goal;  /* bytes of Sys - HeapReleased; UINT64_MAX: none */
    volatile uint32_t wake;    /* futex */
    struct rlock lock;         /* serialises the release cursor */
    struct release_cursor cursor;
    volatile AO_t released_bg; /* bytes released in the background since the last line */
    volatile AO_t cpu_ns;      /* the background scavenger's CPU time */
} scav = {.lock = RLOCK_INIT("the scavenger's lock", RANK_SCAVENGER)};

void scavenge_init(void)
{
    scav.retain_goal = UINT64_MAX;
    scav.limit_goal = UINT64_MAX;
}

static uint64_t retained_bytes(const struct heap_pages *p)
{
    return (uint64_t)(p->inuse + p->free - p->released) * PAGE_SIZE;
}

void scavenge_set_goals(uint64_t heap_goal, uint64_t last_heap_goal)
{
    struct heap_pages p;
    mheap_read_pages(&p);
    uint64_t inuse = (uint64_t)p.inuse * PAGE_SIZE;
    uint64_t retain = UINT64_MAX;
    if (cycle_stats.num_gc >= 1 && heap_goal != UINT64_MAX && last_heap_goal) {
        double g = (double)inuse * ((double)heap_goal / (double)last_heap_goal);
        g *= 1 + RETAIN_EXTRA_PERCENT / 100.0;
        retain = (uint64_t)g & ~(uint64_t)(PAGE_SIZE - 1);
    }
    int64_t limit = (int64_t)atomic_load(&pacer.memory_limit);
    uint64_t limit_goal = UINT64_MAX;
    if (limit != INT64_MAX)
        limit_goal = (uint64_t)limit / 100 * (100 - REDUCE_EXTRA_PERCENT);
    atomic_store(&scav.retain_goal, retain);
    atomic_store(&scav.limit_goal, limit_goal);
    rlock_acquire(&scav.lock);
    scav.cursor.addr = 0; /* from the top again */
    rlock_release(&scav.lock);
}

/* Bytes by which the heap exceeds the scavenger's goals, 0 if none. */
static uint64_t excess(void)
{
    struct heap_pages p;
    mheap_read_pages(&p);
    uint64_t over = 0;
    uint64_t retained = retained_bytes(&p);
    uint64_t retain_goal = atomic_load(&scav.retain_goal);
    if (retained > retain_goal)
        over = retained - retain_goal;
    uint64_t limit_goal = atomic_load(&scav.limit_goal);
    if (limit_goal != UINT64_MAX) {
        uint64_t ready = runtime_sys_bytes() - (uint64_t)p.released * PAGE_SIZE;
        if (ready > limit_goal && ready - limit_goal > over)
            over = ready - limit_goal;
    }
    return over;
}

uint64_t scavenge_headroom(const struct heap_pages *p)
{
    uint64_t room = UINT64_MAX;
    uint64_t retained = retained_bytes(p);
    uint64_t retain_goal = atomic_load(&scav.retain_goal);
    if (retain_goal != UINT64_MAX)
        room = retained < retain_goal ? retain_goal - retained : 0;
    /* The limit as it is now, not as of the last cycle: the prefaulter
     * must never run the process into a limit just set. */
    int64_t limit = (int64_t)atomic_load_relaxed(&pacer.memory_limit);
    if (limit != INT64_MAX) {
        uint64_t limit_goal = (uint64_t)limit / 100 * (100 - REDUCE_EXTRA_PERCENT);
        uint64_t ready = retained + metadata_sys();
        uint64_t r = ready < limit_goal ? limit_goal - ready : 0;
        if (r < room)
            room = r;
    }
    return room;
}

/* Releases up to pages pages; returns the pages released (0: none left). */
static size_t release(size_t pages, int huge_aware)
{
    rlock_acquire(&scav.lock);
    size_t n = mheap_release(&scav.cursor, pages, huge_aware, !knobs.madvdontneed);
    rlock_release(&scav.lock);
    return n;
}

static void *scavenge_main(void *arg)
{
    (void)arg;
    collector_thread_started();
    /* CPU-time budget: it accrues at CPU_FRACTION of wall time, up to
     * BUDGET_CAP, and starts full, so a large excess (a heap that just
     * shrank by a gigabyte) goes back at once while the average stays
     * near 1% of one CPU. */
    int64_t budget = BUDGET_CAP, last = nanotime();
    uint32_t promoted_for = atomic_load32(&scav.wake);
    for (;;) {
        uint32_t seen = atomic_load32(&scav.wake);
        int64_t now = nanotime();
        budget += (int64_t)((double)(now - last) * CPU_FRACTION);
        if (budget > BUDGET_CAP)
            budget = BUDGET_CAP;
        last = now;
        if (excess() == 0) {
            /* Nothing to release: once per cycle, promote reused memory
             * to huge pages (promote.h). */
            if (promoted_for != seen) {
                promoted_for = seen;
                promote_after_sweep(&scav.lock);
            }
            futex_wait(&scav.wake, seen);
            continue;
        }
        if (budget < BURST_NS) {
            sleep_ns((int64_t)((double)(BURST_NS - budget) / CPU_FRACTION));
            continue;
        }
        int64_t c0 = thread_cpu_time(), spent = 0;
        size_t released = 0;
        int exhausted = 0;
        while (spent < budget && spent < MAX_BURST_NS && excess() > 0) {
            size_t n = release(RELEASE_PAGES, mheap_.huge_pages);
            if (n == 0) {
                exhausted = 1;
                break;
            }
            released += n;
            spent = thread_cpu_time() - c0;
        }
        /* A burst may overrun its budget by one call; the debt is capped so
         * that a long call cannot silence the scavenger for seconds. */
        budget -= spent;
        if (budget < -MAX_BURST_NS)
            budget = -MAX_BURST_NS;
        atomic_xadd(&scav.released_bg, (AO_t)released * PAGE_SIZE);
        atomic_xadd(&scav.cpu_ns, (AO_t)spent);
        if (exhausted) {
            /* Nothing left to release until the next cycle. */
            while (atomic_load32(&scav.wake) == seen)
                futex_wait(&scav.wake, seen);
            continue;
        }
        sleep_ns(BURST_NS);
    }
    return NULL;
}

void scavenge_start(void)
{
    collector_thread_start(scavenge_main, NULL, "the scavenger");
}

static void print_scavtrace(uint64_t work, int forced)
{
    struct heap_pages p;
    mheap_read_pages(&p);
    struct scavtrace_line l = {
        .released_since_last = work,
        .released_total = (uint64_t)p.released * PAGE_SIZE,
        .heap_inuse = (uint64_t)p.inuse * PAGE_SIZE,
        .heap_free = (uint64_t)(p.free - p.released) * PAGE_SIZE,
        .forced = forced,
    };
    char line[128];
    int n = format_scavtrace(line, sizeof line, &l);
    trace_emit(line, n < (int)sizeof line ? n : (int)sizeof line - 1);
}

void scavenge_sweep_done(void)
{
    atomic_xadd32(&scav.wake, 1);
    futex_wake(&scav.wake, 1);
    if (knobs.scavtrace) {
        AO_t work = atomic_load(&scav.released_bg);
        atomic_xadd(&scav.released_bg, (AO_t)-work);
        print_scavtrace(work, 0);
    }
}

/* Releases about bytes on the allocating thread, at most SYNC_MAX_BYTES, so
 * that one allocation never stalls for more than a few milliseconds. */
static void release_now(uint64_t bytes)
{
    if (bytes > SYNC_MAX_BYTES)
        bytes = SYNC_MAX_BYTES;
    size_t pages = (size_t)(bytes + PAGE_SIZE - 1) / PAGE_SIZE;
    while (pages > 0) {
        size_t n = release(pages, 0);
        if (n == 0)
            break;
        pages = n >= pages ? 0 : pages - n;
    }
}

void scavenge_on_growth(size_t bytes)
{
    if (limiter_limiting())
        return;
    uint64_t over = excess();
    if (over == 0)
        return;
    /* At most what the heap just grew by. */
    release_now(over < bytes ? over : bytes);
}

void scavenge_for_limit(void)
{
    int64_t limit = (int64_t)atomic_load_relaxed(&pacer.memory_limit);
    if (limit == INT64_MAX || limiter_limiting())
        return;
    struct heap_pages p;
    mheap_read_pages(&p);
    uint64_t ready = runtime_sys_bytes() - (uint64_t)p.released * PAGE_SIZE;
    if (ready <= (uint64_t)limit)
        return;
    release_now(ready - (uint64_t)limit);
}

uint64_t scavenge_cpu_ns(void)
{
    return atomic_load(&scav.cpu_ns);
}

void gc_free_os_memory(void)
{
    gc_collect();
    /* The locks are taken inside the runtime (lock.h), one stretch of at
     * most RELEASE_PAGES at a time: a stop that lands meanwhile waits for
     * one madvise call at most, and is taken between stretches. */
    struct mthread *t = enter_runtime_maybe();
    prefault_cancel();
    struct release_cursor cursor = {0};
    uint64_t released = 0;
    for (;;) {
        rlock_acquire(&scav.lock);
        size_t n = mheap_release(&cursor, RELEASE_PAGES, 0, !knobs.madvdontneed);
        rlock_release(&scav.lock);
        if (n == 0)
            break;
        released += n;
        exit_runtime_maybe(t);
        t = enter_runtime_maybe();
    }
    if (knobs.scavtrace)
        print_scavtrace(released * PAGE_SIZE, 1);
    exit_runtime_maybe(t);
}

void scavenge_fork_lock(void)
{
    rlock_fork_acquire(&scav.lock);
}

void scavenge_fork_unlock(void)
{
    rlock_fork_release(&scav.lock);
}
