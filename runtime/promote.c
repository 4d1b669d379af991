/*
 * Promotion to huge pages. See promote.h for the design and its invariants.
 */
#include "promote.h"

#include "atomics.h"
#include "gc.h"
#include "heap.h"
#include "platform.h"

/* The share of one CPU promotion may use on average, the most it spends at
 * once (and may save up), measured in CPU time of the scavenger's thread. */
#define PROMOTE_CPU_FRACTION 0.25
#define PROMOTE_BUDGET_CAP   50000000 /* 50 ms */
/* How often promoted ranges left released are looked at: one is demoted
 * when it stayed wholly released from one look to the next (1-2 s; the host
 * takes free guest memory back about 2 s after it is freed). */
#define DEMOTE_LOOK_NS 1000000000

static RUNTIME_STATE struct {
    int64_t budget, last, last_look; /* the scavenger's thread only */
    volatile AO_t promoted, demoted;
} promo;

void promote_read_counts(struct promote_counts *out)
{
    out->promoted = atomic_load(&promo.promoted);
    out->demoted = atomic_load(&promo.demoted);
}

void promote_count_demoted(void)
{
    atomic_xadd(&promo.demoted, 1);
}

void promote_count_promoted(void)
{
    atomic_xadd(&promo.promoted, 1);
}

void promote_after_sweep(struct rlock *lock)
{
    if (!mheap_.huge_promote)
        return;
    int64_t now = nanotime();
    if (promo.last == 0)
        promo.budget = PROMOTE_BUDGET_CAP;
    else
        promo.budget += (int64_t)((double)(now - promo.last) * PROMOTE_CPU_FRACTION);
    if (promo.budget > PROMOTE_BUDGET_CAP)
        promo.budget = PROMOTE_BUDGET_CAP;
    promo.last = now;
    if (now - promo.last_look >= DEMOTE_LOOK_NS) {
        promo.last_look = now;
        rlock_acquire(lock);
        size_t n = mheap_demote_stale();
        rlock_release(lock);
        atomic_xadd(&promo.demoted, (AO_t)n);
    }
    int64_t c0 = thread_cpu_time(), spent = 0;
    uintptr_t from = 0;
    while (spent < promo.budget && atomic_load(&cycle_phase) == PHASE_OFF) {
        rlock_acquire(lock);
        uintptr_t h = mheap_promote(from);
        rlock_release(lock);
        if (h == 0)
            break;
        atomic_xadd(&promo.promoted, 1);
        from = h + HUGE_PAGE_BYTES;
        spent = thread_cpu_time() - c0;
    }
    promo.budget -= spent;
}
