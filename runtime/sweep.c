/*
 * Sweeping, proportional sweeping and the background sweeper. See sweep.h;
 * the sweepgen states are described in span.h.
 */
#include "sweep.h"

#include "bgthreads.h"
#include "central.h"
#include "knobs.h"
#include "heap.h"
#include "mprof.h"
#include "special.h"
#include "platform.h"
#include "stats.h"
#include "types.h"

#include <sched.h>
#include <string.h>

/* Threads between sweep_begin and sweep_end: they may hold an unswept span
 * that is on no list. sweep_finish waits for this to reach zero. */
static volatile AO_t sweepers_active;
/* Proportional sweeping (Go's sweep pacing): at mark termination the pages
 * left to sweep are spread over the allocation expected before the next
 * trigger, and every span-sized allocation first sweeps its share, so the
 * next cycle never starts on an unswept heap even when the background
 * sweeper gets no CPU. pages_swept counts pages swept since the basis. */
static RUNTIME_STATE struct {
    volatile AO_t pages_swept;
    volatile AO_t pages_per_byte_x1024; /* fixed point */
    volatile AO_t heap_live_basis;
    volatile AO_t pages_basis;
} pace;

/* Where sweep_one looks first, so that successive calls spread over the
 * classes instead of rescanning empty ones. */
static volatile AO_t sweep_cursor;

void sweep_begin(void)
{
    atomic_xadd(&sweepers_active, 1);
}

void sweep_end(void)
{
    atomic_xadd(&sweepers_active, (AO_t)-1);
}

static void clobber_freed(struct mspan *s)
{
    for (unsigned i = 0; i < s->nelems; i++) {
        if (span_object_allocated(s, i) && !bit_is_set(s->gcmark_bits, i)) {
            uint32_t *p = (uint32_t *)(s->base + (uintptr_t)i * s->elemsize);
            for (size_t w = 0; w < s->elemsize / 4; w++)
                p[w] = CLOBBER_PATTERN;
        }
    }
}

/* Frees a dead large object's span. */
static void free_large(struct mspan *s)
{
    atomic_xadd(&heap_stats.large_free_count, 1);
    atomic_xadd(&heap_stats.large_free_bytes, s->elemsize);
    if (knobs.clobberfree)
        clobber_freed(s);
    mheap_free(s);
}

int sweep_span_owned(struct mspan *s, enum sweep_purpose why)
{
    AO_t sg = atomic_load(&mheap_.sweepgen);
    if (!atomic_cas(&s->sweepgen, sg - 2, sg - 1))
        fatal("span %p (class %u) swept twice or out of turn: sweepgen %lu, heap %lu",
              (void *)s->base, s->spanclass, (unsigned long)s->sweepgen, (unsigned long)sg);
    struct mcentral *c = &mcentral_[s->spanclass];
    unsigned nelems = s->nelems;
    /* Sampled objects that died: their frees go to the heap profile. */
    if (atomic_load_relaxed((volatile AO_t *)&s->specials) != 0)
        mprof_sweep_span(s);
    /* Finalizer, cleanup and weak records of dead objects (special.h). */
    if (atomic_load_relaxed((volatile AO_t *)&s->object_specials) != 0)
        specials_sweep_span(s);

    if (span_is_large(s)) {
        int live = bit_is_set(s->gcmark_bits, 0);
        s->gcmark_bits[0] = 0;
        if (s->checkmark_bits)
            s->checkmark_bits[0] = 0;
        atomic_store(&s->sweepgen, sg);
        atomic_xadd(&pace.pages_swept, s->npages);
        if (!live) {
            free_large(s);
            return 0;
        }
        mcentral_push_swept(c, s);
        return 0;
    }

    if (knobs.clobberfree)
        clobber_freed(s);
    if (s->type_id == SPAN_TYPE_MIXED)
        span_types_sweep(s);
    unsigned nalloc = span_count_bits(s->gcmark_bits, nelems);
    unsigned nfreed = s->alloc_count - nalloc;
    if (nalloc > s->alloc_count)
        fatal("span %p (class %u): %u objects marked but only %u allocated", (void *)s->base,
              s->spanclass, nalloc, s->alloc_count);
    size_t words = span_bitmap_words(nelems);
    AO_t *old_alloc = s->alloc_bits;
    s->alloc_bits = s->gcmark_bits;
    s->gcmark_bits = old_alloc;
    memset(old_alloc, 0, words * sizeof(AO_t));
    if (s->checkmark_bits)
        memset(s->checkmark_bits, 0, words * sizeof(AO_t));
    s->alloc_count = (uint16_t)nalloc;
    s->freeindex = 0;
    span_refill_alloc_cache(s, 0);
    if (nfreed > 0) {
        s->needzero = 1;
        atomic_xadd(&heap_stats.nfree[span_class_size(s->spanclass)], nfreed);
    }
    atomic_store(&s->sweepgen, sg);

    atomic_xadd(&pace.pages_swept, s->npages);

    if (why == SWEEP_FOR_ALLOCATION) {
        if (nalloc < nelems)
            return 1;
        mcentral_push_swept(c, s);
        return 0;
    }
    if (nalloc == 0) {
        span_types_release(s);
        mheap_free(s);
    } else
        mcentral_push_swept(c, s);
    return 0;
}

/* Set while a reader needs the heap still (gc_read_memstats): sweep_one
 * waits instead of starting. */
static volatile AO_t sweep_paused;

void sweep_pause(void)
{
    atomic_store(&sweep_paused, 1);
    atomic_fence();
    sweep_wait_idle();
}

void sweep_unpause(void)
{
    atomic_store(&sweep_paused, 0);
}

size_t sweep_one(void)
{
    /* Announce, then check the pause flag; sweep_pause sets the flag, then
     * waits for announcements to drain: one of the two sees the other. */
    for (;;) {
        sweep_begin();
        if (!atomic_load(&sweep_paused))
            break;
        sweep_end();
        while (atomic_load(&sweep_paused))
            sched_yield();
    }
    unsigned start = (unsigned)atomic_load_relaxed(&sweep_cursor);
    for (unsigned i = 0; i < NUM_SPAN_CLASSES; i++) {
        unsigned spc = (start + i) % NUM_SPAN_CLASSES;
        struct mspan *s = mcentral_pop_unswept(&mcentral_[spc]);
        if (s != NULL) {
            atomic_store_relaxed(&sweep_cursor, spc);
            size_t npages = s->npages;
            sweep_span_owned(s, SWEEP_TO_LISTS);
            sweep_end();
            return npages;
        }
    }
    sweep_end();
    return 0;
}

void sweep_wait_idle(void)
{
    while (atomic_load(&sweepers_active) != 0)
        sched_yield();
}

void sweep_finish(void)
{
    while (sweep_one() != 0)
        ;
    sweep_wait_idle();
}

void sweep_next_generation(void)
{
    atomic_xadd(&mheap_.sweepgen, 2);
}

void sweep_pacing_commit(uint64_t heap_live, uint64_t trigger, size_t pages_to_sweep)
{
    int64_t distance = (int64_t)trigger - (int64_t)heap_live - ((int64_t)1 << 20);
    if (distance < (int64_t)PAGE_SIZE)
        distance = (int64_t)PAGE_SIZE;
    atomic_store(&pace.heap_live_basis, heap_live);
    atomic_store(&pace.pages_basis, atomic_load(&pace.pages_swept));
    atomic_store(&pace.pages_per_byte_x1024, (AO_t)(pages_to_sweep * 1024 / (uint64_t)distance));
}

void sweep_deduct_credit(uint64_t heap_live, size_t span_bytes)
{
    AO_t rate = atomic_load_relaxed(&pace.pages_per_byte_x1024);
    if (rate == 0)
        return;
    uint64_t basis = atomic_load_relaxed(&pace.heap_live_basis);
    uint64_t grown = heap_live + span_bytes > basis ? heap_live + span_bytes - basis : 0;
    uint64_t target = grown * rate / 1024;
    while (atomic_load_relaxed(&pace.pages_swept) - atomic_load_relaxed(&pace.pages_basis) <
           target) {
        if (sweep_one() == 0) {
            atomic_store_relaxed(&pace.pages_per_byte_x1024, 0); /* all swept */
            break;
        }
    }
}

/* ---- The background sweeper ---------------------------------------------- */

/* Bumped by sweeper_wake, once per mark termination: the sweeper sweeps the
 * heap through once for every change it sees. */
static RUNTIME_STATE volatile uint32_t sweeper_wakeups;
/* What the sweeper calls each time it has swept everything (set before the
 * thread starts). */
static void (*sweeper_done)(void);

static void *sweeper_main(void *arg)
{
    (void)arg;
    collector_thread_started();
    uint32_t seen = 0;
    for (;;) {
        uint32_t now;
        while ((now = atomic_load32(&sweeper_wakeups)) == seen)
            futex_wait(&sweeper_wakeups, seen);
        seen = now;
        sweep_finish();
        sweeper_done();
    }
    return NULL;
}

void sweeper_start(void (*done)(void))
{
    sweeper_done = done;
    collector_thread_start(sweeper_main, NULL, "the background sweeper");
}

void sweeper_wake(void)
{
    atomic_xadd32(&sweeper_wakeups, 1);
    futex_wake(&sweeper_wakeups, 1);
}
