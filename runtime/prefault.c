/*
 * The prefaulter. See prefault.h for the design.
 */
#include "prefault.h"

#include "knobs.h"
#include "gc.h"
#include "heap.h"
#include "lock.h"
#include "pacer.h"
#include "platform.h"
#include "scavenge.h"
#include "threads.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>

#define HUGE_PAGE_PAGES (HUGE_PAGE_BYTES >> PAGE_SHIFT)
/* The lead: an eighth of the in-use heap, between 6 and 32 MiB, but no
 * more than the in-use heap itself (a huge page at least), so that a tiny
 * heap does not double its RSS for growth it may never make. */
#define LEAD_MIN_PAGES (((size_t)6 << 20) >> PAGE_SHIFT)
#define LEAD_MAX_PAGES (((size_t)32 << 20) >> PAGE_SHIFT)
/* What gc_init faults in: the smallest heap goal. */
#define INIT_PAGES (((size_t)4 << 20) >> PAGE_SHIFT)
/* The longest an allocation waits for a stretch. */
#define WAIT_MAX_NS 10000000

static RUNTIME_STATE struct {
    struct rlock lock;           /* held while a stretch is out of the heap */
    volatile uint32_t requested; /* futex: requests made */
    volatile uint32_t served;    /* the last request a finished run began after */
    volatile uint32_t busy;      /* 1 during a run */
    volatile uint32_t progress;  /* futex: after each stretch and each run */
    volatile AO_t faulted;       /* bytes faulted in, in all */
    uint32_t epoch;              /* under lock: a run ends when it changes */
} pf = {.lock = RLOCK_INIT("the prefaulter's lock", RANK_PREFAULT)};

static size_t lead_pages(size_t inuse)
{
    size_t lead = inuse / 8, least = inuse < LEAD_MIN_PAGES ? inuse : LEAD_MIN_PAGES;
    if (least < HUGE_PAGE_PAGES)
        least = HUGE_PAGE_PAGES;
    return lead < least ? least : lead > LEAD_MAX_PAGES ? LEAD_MAX_PAGES : lead;
}

static void request(void)
{
    atomic_xadd32(&pf.requested, 1);
    futex_wake(&pf.requested, 1);
}

static void bump_progress(void)
{
    atomic_xadd32(&pf.progress, 1);
    futex_wake(&pf.progress, INT_MAX);
}

/* One stretch, if the run begun in epoch was not cancelled, the lead is
 * short and the scavenger's goals leave room: the pages faulted in, 0 when
 * there is nothing to do. */
static size_t step(uint32_t epoch)
{
    struct heap_pages p;
    mheap_read_pages(&p);
    if (p.free - p.released >= lead_pages(p.inuse))
        return 0;
    uint64_t room = scavenge_headroom(&p) / PAGE_SIZE;
    if (room == 0)
        return 0;
    rlock_acquire(&pf.lock);
    size_t n = 0, grew = 0;
    if (pf.epoch == epoch)
        n = mheap_prefault(room < HUGE_PAGE_PAGES ? (size_t)room : HUGE_PAGE_PAGES, &grew);
    rlock_release(&pf.lock);
    /* More memory held from the OS lowers a memory-limit goal. */
    if (grew && (int64_t)atomic_load_relaxed(&pacer.memory_limit) != INT64_MAX)
        pacer_recompute();
    if (n > 0)
        atomic_xadd(&pf.faulted, (AO_t)n * PAGE_SIZE);
    return n;
}

static void *prefaulter_main(void *arg)
{
    (void)arg;
    collector_thread_started();
    if (mheap_.huge_ahead) {
        /* Only a CPU nothing else wants: behind a busy machine's program
         * and marking, not in their way (prefault.h). */
        struct sched_param none = {0};
        pthread_setschedparam(pthread_self(), SCHED_IDLE, &none);
    }
    for (;;) {
        uint32_t req = atomic_load32(&pf.requested);
        if (req == atomic_load32(&pf.served)) {
            futex_wait(&pf.requested, req);
            continue;
        }
        /* A run: stretches until the lead is made up or the goals say
         * stop. Every request up to req was made before it began. */
        atomic_store32(&pf.busy, 1);
        rlock_acquire(&pf.lock);
        uint32_t epoch = pf.epoch;
        rlock_release(&pf.lock);
        while (step(epoch) > 0)
            bump_progress();
        atomic_store32(&pf.served, req);
        atomic_store32(&pf.busy, 0);
        bump_progress();
    }
    return NULL;
}

void prefault_start(void)
{
    collector_thread_start(prefaulter_main, NULL, "the prefaulter");
}

int prefault_on(void)
{
    return knobs.prefault || mheap_.huge_ahead;
}

void prefault_init(void)
{
    if (!prefault_on())
        return;
    size_t done = 0, n;
    size_t grew;
    while (done < INIT_PAGES && (n = mheap_prefault(HUGE_PAGE_PAGES, &grew)) > 0)
        done += n;
    atomic_xadd(&pf.faulted, (AO_t)done * PAGE_SIZE);
}

const volatile uint32_t *prefault_progress_word(void)
{
    return &pf.progress;
}

/* Spins until the progress word moves past *seen, or WAIT_MAX_NS. */
static void spin_for_progress(void *seen)
{
    int64_t deadline = nanotime() + WAIT_MAX_NS;
    for (int i = 0; atomic_load32(&pf.progress) == *(uint32_t *)seen; i++) {
        if (i % 64 == 0 && nanotime() >= deadline)
            break;
        cpu_relax();
    }
}

void prefault_wait(uint32_t seen)
{
    /* Waiting pays only while a stretch is being faulted in: then it is the
     * lowest, and it is nearly done or as slow as any fault. An idle
     * prefaulter is asked to run ahead, and the caller faults its own
     * pages: it would otherwise wait for two threads to get a CPU, which on
     * a busy machine costs more than faulting in memory the host backs. */
    int busy = (int)atomic_load32(&pf.busy);
    request();
    if (!busy)
        return;
    /* Spin, stoppable: a thread that gives its CPU up may wait
     * milliseconds to get it back. */
    struct mthread *t = current_thread;
    runtime_block_begin(t);
    thread_stoppable_call(t, spin_for_progress, &seen);
    runtime_block_end(t);
}

void prefault_after_alloc(size_t resident_free, size_t inuse, uint64_t headroom)
{
    if (resident_free < lead_pages(inuse) / 2 && headroom >= HUGE_PAGE_BYTES &&
        !atomic_load32(&pf.busy))
        request();
}

void prefault_cancel(void)
{
    rlock_acquire(&pf.lock);
    pf.epoch++;
    rlock_release(&pf.lock);
}

uint64_t prefault_faulted_bytes(void)
{
    return atomic_load(&pf.faulted);
}

void prefault_lock(void)
{
    rlock_fork_acquire(&pf.lock);
}

void prefault_unlock(void)
{
    rlock_fork_release(&pf.lock);
}

void prefault_fork_child(void)
{
    /* The prefaulter is gone; the child's first cycle starts another
     * (gc.c). Until then nothing waits for it: busy is 0. */
    atomic_store32(&pf.busy, 0);
    atomic_store32(&pf.served, atomic_load32(&pf.requested));
}
