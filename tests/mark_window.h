/*
 * A window inside concurrent marking, for tests of what the collector must
 * do when the mutator moves pointers around while it marks.
 *
 * Such a bug loses an object only when the mutator's moves fall between two
 * steps of the collector: say, after a global was scanned and before the
 * stack that held the pointer is. The stress programs hit those orders by
 * chance; these helpers make one happen. mark_window_open starts a cycle and
 * returns once it is marking, with the calling thread's stack not yet
 * scanned, and keeps it unscanned by blocking the suspend signal: the worker
 * that comes to scan the stack waits, and so does the cycle (it cannot end
 * before every stack is scanned), until mark_window_close. Meanwhile the workers do everything else
 * they can (the globals first), and the test can read the mark bits (is_marked) to see where the
 * collector stands.
 *
 * For suites that run with GOGC off, so that only the tests start cycles,
 * and with the default suspend signal. The thread must be registered.
 */
#ifndef TRICOLOR_TESTS_MARK_WINDOW_H
#define TRICOLOR_TESTS_MARK_WINDOW_H

#include <check.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>

#include "gc.h"
#include "heap.h"
#include "mark.h"
#include "support.h"
#include "threads.h"
#include "worker.h"

/* The runtime's default suspend signal (threads.c). */
#define MARK_WINDOW_SIGNAL (SIGRTMIN + 6)

static UNUSED void mark_window_block(int block)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, MARK_WINDOW_SIGNAL);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* Starts a cycle on this thread, as an allocating thread starts the cycle
 * it triggers (cycle_try_start), with the suspend signal blocked
 * beforehand: the first pause stops every other thread, and marking begins
 * with this thread's stack certainly unscanned. Returns 1 so, marking; 0
 * when the controller took the cycle first (the signal is unblocked again,
 * the cycle goes on without the window, and gc_collect() waits it out). */
static UNUSED int mark_window_open(void)
{
    struct mthread *t = current_thread;
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(atomic_load(&cycle_phase), PHASE_OFF);
    mark_window_block(1);
    enter_runtime("mark_window_open");
    cycle_trigger();
    int started = cycle_try_start(t) == 1; /* -1: handed to the controller */
    exit_runtime(t);
    if (!started) {
        mark_window_block(0);
        return 0;
    }
    /* A worker may claim the stack now (stack_scanned_cycle), but scanning
     * it needs this thread stopped, which waits for mark_window_close. */
    ck_assert_uint_eq(atomic_load(&cycle_phase), PHASE_MARK);
    return 1;
}

/* Lets the cycle scan this thread's stack and go on. */
static UNUSED void mark_window_close(void)
{
    mark_window_block(0);
}

/* Waits (signal blocked) until the cycle has scanned the globals, the
 * executable's and libraries' data and bss: mark_globals counts them into
 * globals_scan once it has scanned them. */
static UNUSED void mark_window_wait_globals(void)
{
    double deadline = now_s() + 10;
    while (atomic_load(&mark_work.globals_scan) == 0) {
        ck_assert_msg(now_s() < deadline, "the globals were not scanned within 10 s");
        sched_yield();
    }
    ck_assert_uint_eq(atomic_load(&cycle_phase), PHASE_MARK);
}

/* Is the hidden object's mark bit set (grey or black this cycle)? */
static UNUSED NOINLINE int is_marked(uintptr_t h)
{
    struct mspan *s;
    unsigned idx;
    uintptr_t obj = find_object((uintptr_t)reveal(h), &s, &idx);
    ck_assert_msg(obj != 0, "is_marked: %p is not an allocated object", reveal(h));
    return bit_is_set((const AO_t *)s->gcmark_bits, idx);
}

#endif
