/*
 * Marking: the grey queue, scanning, and the mark bits.
 *
 * Colours: an object is white when its mark bit is clear, grey when its
 * mark bit is set and it waits in a work buffer to be scanned, black when
 * its mark bit is set and it has been scanned (or is noscan, which is black
 * as soon as it is marked). Marking ends when no grey object is left.
 *
 * The grey queue is made of work buffers of 253 pointers (2 KiB), as Go's
 * workbufs. Each marker owns a gcw with two buffers and touches the
 * global lists of full and empty buffers (under mark_work.lock) only once per
 * buffer. greyobject sets a mark bit with a compare-and-swap, so each
 * object is queued and counted at most once however many markers find it.
 *
 * A marker that finds no grey work sleeps on a futex word (mark_work_wait)
 * instead of polling; publishing a full buffer (putfull) wakes it. The
 * publisher pays one load of that word, and a system call only when a
 * marker sleeps: mark.c states why no wake-up is lost.
 *
 * Scanning is conservative: every aligned word of a scan object (or of a
 * root range) that points into an allocated heap object greys that object,
 * whether it points to its first byte or inside it. Objects larger than
 * 32 KiB are scanned in 32 KiB oblets, queued separately, so one huge array
 * does not pin one marker, and one assist (inside one allocation) never
 * scans more than one oblet past its budget. (Go's oblets are 128 KiB; 4096
 * words pointing at cold objects already take a few hundred microseconds.)
 *
 * gccheckmark: after marking, the world stays stopped and marking runs
 * again from the roots into the separate checkmark bits (checkmark.h says
 * which edges it follows). An object reached that way whose real mark bit
 * is clear was missed by the real mark: the runtime aborts naming it.
 *
 * work's per-cycle counters (bytes marked, bytes scanned) are reset only
 * with the world stopped, by this file's functions: all of them as a cycle
 * starts (mark_reset), the root sizes again before the termination rescan
 * (mark_reset_root_sizes), so that each figure is one pass's.
 */
#ifndef TRICOLOR_MARK_H
#define TRICOLOR_MARK_H

#include "atomics.h"
#include "lock.h"
#include "span.h"

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

#define WORKBUF_ENTRIES 253
#define OBLET_BYTES     ((size_t)32 << 10)

struct workbuf {
    struct workbuf *next;
    size_t nobj;
    uintptr_t obj[WORKBUF_ENTRIES];
};

/* A marker's private view of the grey queue. */
struct gcw {
    struct workbuf *wbuf1, *wbuf2;
    uint64_t bytes_marked; /* folded into mark_work.bytes_marked by gcw_dispose */
    uint64_t scan_work;    /* bytes scanned */
};

/* The global state of marking (Go's work). */
struct mark_work {
    struct rlock lock; /* protects full, empty */
    struct workbuf *full;
    struct workbuf *empty;
    volatile AO_t nfull;
    volatile AO_t bytes_marked;
    volatile AO_t heap_scan, stack_scan, globals_scan; /* bytes scanned this cycle */
    int checkmark;                                     /* marking into checkmark bits */
    /* Futex word for markers that wait for grey work (mark_work_wait):
     * bit 0 (MARK_WORK_SLEEPER) is set by a marker about to sleep, the
     * rest counts wake-ups. Its own cache line: every putfull reads it. */
    volatile uint32_t sleep_word __attribute__((aligned(64)));
};

extern struct mark_work mark_work;

void mark_init(void);
void gcw_put(struct gcw *w, uintptr_t obj);
/* A grey object, from w's buffers or the global list; 0 when none. */
uintptr_t gcw_get(struct gcw *w);
/* Gives w's buffers and counters back to the global state. */
void gcw_dispose(struct gcw *w);

/* Greys the object p points into, if p points into an allocated object. */
void grey_pointer(uintptr_t p, struct gcw *w);
/* Scans [lo, hi) conservatively; returns nothing, counts into w. */
void scan_block(uintptr_t lo, uintptr_t hi, struct gcw *w);
/* Scans until no grey object is left. */
void mark_drain(struct gcw *w);
/* Scans grey objects until about budget bytes were scanned or none is
 * left; returns the bytes scanned. Stops early when *stop becomes nonzero. */
uint64_t mark_drain_n(struct gcw *w, uint64_t budget, const volatile AO_t *stop);
/* Greys a batch of pointers (the write barrier's buffer) into w. */
void mark_shade_batch(const uintptr_t *ptrs, size_t n, struct gcw *w);
/* gc_rescan: has the heap object whose base is obj scanned (again): greyed
 * if white, queued again if black. 0 if obj is not an allocated object's
 * base. */
int mark_rescan(uintptr_t obj, struct gcw *w);
/* For gc_rescan while marking: -1 if obj is not the start of a heap
 * object; 0 if it was unmarked and is now grey (it will be scanned whole);
 * 1 if it was marked already, grey or black (its rescan is deferred to
 * mark termination: barrier.h). */
int mark_shade_or_marked(uintptr_t obj, struct gcw *w);
/* An empty work buffer off the global list, and back, for buffers that
 * hold objects outside the grey queue (barrier.c's deferred rescans). */
struct workbuf *workbuf_get(void);
void workbuf_put(struct workbuf *b);
/* Marks a newly allocated large object black (allocate-black while
 * marking), counting its bytes into w. Small objects are black by span
 * (below). */
void mark_new_object(struct mspan *s, uintptr_t obj, struct gcw *w);
/* Allocate-black by span (cache.h states the invariant). Marks the free
 * slots of s, a span in a thread's cache while a cycle marks, in bulk, so
 * that the objects the thread takes from it are born black with no atomic
 * of their own; sets s->alloc_black. Returns the bytes of those slots, for
 * the thread's assist debt; 0 (and does nothing) if s->alloc_black was set
 * already. Only s's owner, or a stopper, calls it. */
size_t mark_span_alloc_black(struct mspan *s);
/* s, with s->alloc_black, leaves its cache (or the cycle ends): the marks of
 * its slots still free are cleared, the bytes of the objects taken since
 * mark_span_alloc_black count as marked (mark_work.bytes_marked), and
 * s->alloc_black is cleared. Does nothing without s->alloc_black. */
void mark_span_alloc_black_end(struct mspan *s);
/* Is there grey work on the global list? */
static inline int mark_work_available(void)
{
    return atomic_load_relaxed(&mark_work.nfull) != 0;
}
/* Waiting for grey work, without polling: a marker that found none sleeps
 * until a buffer is published to the global list, *stop becomes nonzero
 * (after mark_work_wake_all), or timeout_ns pass. Returns at once if work
 * or *stop is already there; may return spuriously. The wake costs the
 * publisher one load when nobody sleeps (see putfull in mark.c for why no
 * wake-up is lost). */
void mark_work_wait(const volatile AO_t *stop, int64_t timeout_ns);
/* Wakes every marker in mark_work_wait, unconditionally: for a *stop just
 * set. */
void mark_work_wake_all(void);
/* Resets per-cycle counters; with the world stopped. */
void mark_reset(void);
/* Before mark termination rescans the roots, with the world stopped: the
 * rescan measures the stacks and globals again, so that the cycle's sizes
 * (the pacer's and gctrace's) are one pass's, not the sum of both. */
void mark_reset_root_sizes(void);

#pragma GCC visibility pop

#endif
