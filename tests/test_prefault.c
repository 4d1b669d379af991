/*
 * The prefaulter's decisions (runtime/prefault.c): when it is asked to
 * work, how far a run goes, and that a cancelled run stops.
 *
 * - After a span allocation the heap asks for a run only when the resident
 *   free pages are below half the lead (an eighth of the in-use heap, 6 to
 *   32 MiB, no more than the in-use heap but at least a huge page) and the
 *   scavenger's goals leave at least a huge page of room. A run then
 *   faults stretches in until the lead is made up, and no
 *   further: at the end, the resident free pages are at least the lead and
 *   less than the lead plus one stretch (a huge page). What it faulted in
 *   left heap_released, page for page.
 * - prefault_cancel (gc_free_os_memory's) ends a run in progress after the
 *   stretch in flight: a run cancelled after it began and before its first
 *   stretch faults nothing in, and the next request runs as usual.
 *
 * The tests call prefault_after_alloc themselves, as mheap_alloc does with
 * GODEBUG=prefault=1 or thpgrowth=3; meson runs them with thpgrowth=1 and
 * the prefault knob off, so the tests' own allocations ask for nothing.
 * GOGC is off, so the scavenger's goals leave unlimited room, and 320 MiB
 * of untouched large objects make the lead 32 MiB (its most, an eighth
 * being 40): sixteen stretches.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <tricolor.h>

#include "check_main.h"
#include "heap.h"
#include "prefault.h"
#include "threads.h"
#include "support.h"

#define MiB       ((uint64_t)1 << 20)
#define HUGE      ((uint64_t)HUGE_PAGE_BYTES)
#define LIVE_N    320
#define LIVE_SIZE MiB

static void *live[LIVE_N];

/* The lead for this many in-use pages, as prefault.h defines it. */
static size_t lead_pages(size_t inuse)
{
    size_t lead = inuse / 8, lo = (6 * MiB) >> PAGE_SHIFT, hi = (32 * MiB) >> PAGE_SHIFT;
    if (inuse < lo)
        lo = inuse > (HUGE >> PAGE_SHIFT) ? inuse : HUGE >> PAGE_SHIFT;
    return lead < lo ? lo : lead > hi ? hi : lead;
}

static uint32_t progress(void)
{
    return __atomic_load_n(prefault_progress_word(), __ATOMIC_ACQUIRE);
}

/* Waits until the prefaulter has made no progress for 50 ms. */
static void wait_quiet(void)
{
    double end = now_s() + 10;
    for (;;) {
        uint32_t p = progress();
        usleep(50000);
        if (progress() == p)
            return;
        ck_assert_msg(now_s() < end, "the prefaulter did not settle within 10 s");
    }
}

/* Inside the runtime, as the runtime reads them (runtime/lock.h). */
static struct heap_pages pages(void)
{
    struct mthread *t = enter_runtime("test");
    struct heap_pages h;
    mheap_read_pages(&h);
    exit_runtime(t);
    return h;
}

/* Every free page released, then the prefaulter idle. */
static void released_and_quiet(void)
{
    gc_free_os_memory();
    wait_quiet();
    struct heap_pages h = pages();
    ck_assert_uint_eq(h.free, h.released);
}

START_TEST(requests_and_lead)
{
    released_and_quiet();
    struct heap_pages h = pages();
    size_t lead = lead_pages(h.inuse);
    ck_assert_uint_eq(lead, (32 * MiB) >> PAGE_SHIFT);
    uint32_t p0 = progress();
    uint64_t f0 = prefault_faulted_bytes();

    /* No request: the lead is there, or there is no room. */
    prefault_after_alloc(lead / 2, h.inuse, UINT64_MAX);
    prefault_after_alloc(0, h.inuse, HUGE - 1);
    usleep(100000);
    ck_assert_msg(progress() == p0 && prefault_faulted_bytes() == f0,
                  "the prefaulter ran with half its lead resident or no room");

    /* A request: a run makes up the lead, and stops there. */
    prefault_after_alloc(lead / 2 - 1, h.inuse, UINT64_MAX);
    double end = now_s() + 5;
    while (progress() == p0)
        ck_assert_msg(now_s() < end, "no run within 5 s of a request");
    wait_quiet();
    struct heap_pages after = pages();
    uint64_t faulted = prefault_faulted_bytes() - f0;
    size_t resident = after.free - after.released;
    ck_assert_msg(resident >= lead && resident < lead + (HUGE >> PAGE_SHIFT),
                  "a run left %zu free pages resident for a lead of %zu", resident, lead);
    /* Pages the heap grew by meanwhile came in released. */
    size_t grown = after.inuse + after.free - (h.inuse + h.free);
    uint64_t fell = (uint64_t)(h.released + grown - after.released) * PAGE_SIZE;
    ck_assert_msg(faulted == fell, "faulted in %lu bytes, but heap_released fell by %lu",
                  (unsigned long)faulted, (unsigned long)fell);
}
END_TEST

/* Whether a thread waits for the heap lock, which this thread holds. Only
 * glibc says; elsewhere, a pause long enough for the prefaulter to get
 * there. */
static int heap_lock_contended(void)
{
#ifdef __GLIBC__
    return __atomic_load_n(&mheap_.lock.mutex.__data.__lock, __ATOMIC_RELAXED) > 1;
#else
    usleep(100000);
    return 1;
#endif
}

START_TEST(cancel_ends_a_run)
{
    released_and_quiet();
    struct heap_pages h = pages();
    uint64_t f0 = prefault_faulted_bytes();
    /* Holding the heap lock, ask for a run: the prefaulter begins it (it
     * takes note of the run's epoch) and stops at its first look at the
     * heap, before its first stretch. Cancel the run there. (The heap lock
     * before the prefaulter's lock is against the runtime's lock order; it
     * is safe here because the prefaulter cannot be inside a stretch; so
     * the lock is taken without the order check, inside the runtime, where
     * no stop can land while it is held.) */
    struct mthread *t = enter_runtime("test");
    rlock_fork_acquire(&mheap_.lock);
    prefault_after_alloc(0, h.inuse, UINT64_MAX);
    double end = now_s() + 5;
    while (!heap_lock_contended() && now_s() < end)
        usleep(1000);
    int waiting = heap_lock_contended();
    prefault_cancel();
    rlock_fork_release(&mheap_.lock);
    exit_runtime(t);
    ck_assert_msg(waiting, "the prefaulter did not start its run within 5 s");
    wait_quiet();
    uint64_t faulted = prefault_faulted_bytes() - f0;
    ck_assert_msg(faulted == 0, "a run cancelled before its first stretch faulted %lu KiB in",
                  (unsigned long)(faulted >> 10));
    /* The next request runs as usual. */
    uint32_t p0 = progress();
    prefault_after_alloc(0, h.inuse, UINT64_MAX);
    wait_quiet();
    ck_assert_uint_ne(progress(), p0);
    ck_assert_uint_ge(prefault_faulted_bytes() - f0, (uint64_t)lead_pages(h.inuse) * PAGE_SIZE);
}
END_TEST

static Suite *prefault_suite(void)
{
    Suite *s = suite_create("prefault");
    TCase *tc = tcase_create("runs");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, requests_and_lead);
    tcase_add_test(tc, cancel_ends_a_run);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gc_options opts = {.gogc = "off"};
    if (gc_init(&opts) != 0)
        return EXIT_FAILURE;
    gc_add_roots(live, live + LIVE_N);
    for (int i = 0; i < LIVE_N; i++)
        live[i] = gc_alloc_noscan(LIVE_SIZE);
    return run_suite(prefault_suite(), CK_FORK_GETENV);
}
