/*
 * The pacer. See pacer.h.
 */
#include "pacer.h"

#include "heap.h"
#include "metadata.h"
#include "stats.h"

#include "platform.h"

#include <stdint.h>

RUNTIME_STATE struct pacer_state pacer;
RUNTIME_STATE struct cpu_limiter cpu_limiter = {
    .lock = RLOCK_INIT("the GC CPU limiter's lock", RANK_LIMITER)};

#define HEAP_MINIMUM           ((uint64_t)4 << 20)
#define BACKGROUND_UTILIZATION 0.25

static int percent(void)
{
    return (int)(intptr_t)atomic_load(&pacer.gc_percent);
}

static uint64_t percent_goal(int gogc)
{
    if (gogc < 0)
        return UINT64_MAX;
    uint64_t marked = atomic_load(&pacer.heap_marked);
    uint64_t scan = marked + pacer.last_stack_scan + pacer.globals_scan;
    uint64_t goal = marked + scan / 100 * (uint64_t)gogc + scan % 100 * (uint64_t)gogc / 100;
    uint64_t floor = HEAP_MINIMUM * (uint64_t)gogc / 100;
    return goal < floor ? floor : goal;
}

#define LIMIT_HEADROOM ((uint64_t)1 << 20)

/* Go 1.19's memoryLimitHeapGoal. */
static uint64_t memory_limit_goal(void)
{
    int64_t limit = (int64_t)atomic_load(&pacer.memory_limit);
    if (limit == INT64_MAX)
        return UINT64_MAX;
    struct heap_pages pages;
    mheap_read_pages(&pages);
    uint64_t marked = atomic_load(&pacer.heap_marked);
    uint64_t heap_free = (uint64_t)(pages.free - pages.released) * PAGE_SIZE;
    uint64_t heap_alloc = heap_alloc_bytes();
    uint64_t mapped_ready = runtime_sys_bytes() - (uint64_t)pages.released * PAGE_SIZE;
    if (heap_free + heap_alloc > mapped_ready)
        heap_alloc = mapped_ready - heap_free;
    uint64_t non_heap = mapped_ready - heap_free - heap_alloc;
    uint64_t overage = mapped_ready > (uint64_t)limit ? mapped_ready - (uint64_t)limit : 0;
    if (non_heap + overage >= (uint64_t)limit)
        return marked;
    uint64_t goal = (uint64_t)limit - (non_heap + overage);
    if (goal < 2 * LIMIT_HEADROOM)
        goal = LIMIT_HEADROOM;
    else
        goal -= LIMIT_HEADROOM;
    return goal < marked ? marked : goal;
}

static double cons_mark(void)
{
    double m = 0;
    for (int i = 0; i < 4; i++)
        if (pacer.cons_mark[i] > m)
            m = pacer.cons_mark[i];
    return m;
}

/* Computes goal and trigger from the current state (Go's commit). */
static void commit(void)
{
    uint64_t goal = percent_goal(percent());
    uint64_t limit_goal = memory_limit_goal();
    if (limit_goal < goal)
        goal = limit_goal;
    uint64_t marked = atomic_load(&pacer.heap_marked);
    uint64_t trigger;
    if (goal == UINT64_MAX) {
        trigger = UINT64_MAX;
    } else if (marked >= goal) {
        trigger = goal;
    } else {
        uint64_t span = goal - marked;
        uint64_t min_trigger = marked + span / 64 * 45;
        uint64_t max_trigger = marked + span / 64 * 61;
        if (goal > HEAP_MINIMUM && goal - HEAP_MINIMUM > max_trigger)
            max_trigger = goal - HEAP_MINIMUM;
        double runway = cons_mark() * (1 - BACKGROUND_UTILIZATION) / BACKGROUND_UTILIZATION *
                        (double)pacer.scan_work_expected;
        trigger = runway >= (double)goal ? min_trigger : goal - (uint64_t)runway;
        if (trigger < min_trigger)
            trigger = min_trigger;
        if (trigger > max_trigger)
            trigger = max_trigger;
    }
    atomic_store(&pacer.heap_goal, goal);
    atomic_store(&pacer.trigger, trigger);
}

void pacer_end_cycle(const struct pacer_cycle *c)
{
    uint64_t scan = c->heap_scan + c->stack_scan + c->globals_scan;
    if (c->mark_ns > 0 && scan > 0 && c->procs > 0) {
        double u = BACKGROUND_UTILIZATION + (double)c->assist_ns / ((double)c->mark_ns * c->procs);
        if (u > 0.95)
            u = 0.95;
        double grown =
            c->heap_live > c->heap_trigger ? (double)(c->heap_live - c->heap_trigger) : 0;
        for (int i = 3; i > 0; i--)
            pacer.cons_mark[i] = pacer.cons_mark[i - 1];
        pacer.cons_mark[0] = grown * u / ((double)scan * (1 - u));
    }
    atomic_store(&pacer.heap_marked, c->heap_marked);
    atomic_store(&pacer.heap_live, c->heap_marked);
    pacer.last_heap_scan = c->heap_scan;
    pacer.last_stack_scan = c->stack_scan;
    pacer.globals_scan = c->globals_scan;
    pacer.scan_work_expected = scan;
    commit();
}

void pacer_init(int gc_percent, int64_t memory_limit)
{
    atomic_store(&pacer.gc_percent, (AO_t)(intptr_t)gc_percent);
    atomic_store(&pacer.memory_limit, (AO_t)memory_limit);
    commit();
}

void pacer_recompute(void)
{
    commit();
}

int64_t pacer_set_memory_limit(int64_t limit)
{
    int64_t old = (int64_t)atomic_load(&pacer.memory_limit);
    if (limit < 0)
        return old;
    atomic_store(&pacer.memory_limit, (AO_t)limit);
    commit();
    return old;
}

void limiter_update(int64_t assist_ns_total, int64_t stw_ns_total, int marking, int procs,
                    uint32_t cycle)
{
    int64_t now = nanotime();
    rlock_acquire(&cpu_limiter.lock);
    if (cpu_limiter.last_update == 0) {
        cpu_limiter.last_update = now;
        cpu_limiter.capacity = (int64_t)procs * 1000000000;
    }
    int64_t window = now - cpu_limiter.last_update;
    int64_t total = window * procs;
    int64_t gc = (assist_ns_total - cpu_limiter.last_assist_ns) +
                 (stw_ns_total - cpu_limiter.last_stw_ns) * procs;
    if (marking)
        gc += total / 4;
    if (gc > total)
        gc = total;
    cpu_limiter.fill += gc - (total - gc);
    if (cpu_limiter.fill < 0)
        cpu_limiter.fill = 0;
    if (cpu_limiter.fill > cpu_limiter.capacity)
        cpu_limiter.fill = cpu_limiter.capacity;
    atomic_store(&cpu_limiter.limiting, cpu_limiter.fill >= cpu_limiter.capacity);
    if (cpu_limiter.fill >= cpu_limiter.capacity)
        cpu_limiter.last_enabled_cycle = cycle;
    cpu_limiter.last_update = now;
    cpu_limiter.last_assist_ns = assist_ns_total;
    cpu_limiter.last_stw_ns = stw_ns_total;
    rlock_release(&cpu_limiter.lock);
}

int pacer_set_percent(int p)
{
    if (p < 0)
        p = -1;
    int old = percent();
    atomic_store(&pacer.gc_percent, (AO_t)(intptr_t)p);
    commit();
    return old;
}
