/*
 * mcentral: the spans of one span class that no thread has cached.
 *
 * Each central keeps four lists, as Go's does: spans with free slots
 * (partial) and without (full), each split into swept and unswept. Which of
 * the pair is "swept" flips with the heap's sweepgen: partial[sg/2 % 2] holds
 * swept spans, partial[1 - sg/2 % 2] unswept ones. So when a cycle ends and
 * sweepgen advances by 2, every swept span becomes unswept at once, with no
 * list walking.
 *
 * Invariant: a span on a central list is owned by that list. Taking it off
 * (under the central's lock) makes the taker its owner, the only thread
 * that may sweep it, cache it or free it. A span cached by a thread is on
 * no list. Large objects are spans of size class 0, kept on full lists so
 * that the sweeper finds them.
 *
 * Lock order: a central's lock may be held while taking the heap lock,
 * never the other way round. No central lock is held while sweeping.
 */
#ifndef TRICOLOR_CENTRAL_H
#define TRICOLOR_CENTRAL_H

#include "heap.h"
#include "lock.h"
#include "span.h"

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

struct span_list {
    struct mspan *first;
    size_t count;
};

struct mcentral {
    struct rlock lock;
    unsigned spanclass;
    struct span_list partial[2];
    struct span_list full[2];
};

extern struct mcentral mcentral_[NUM_SPAN_CLASSES];

void mcentral_init(void);
/* A span with at least one free slot, swept, owned by the caller, its
 * alloc cache set up at freeindex. NULL when the heap cannot grow, or when
 * a new span would fault and ha->resident_only (ha->cold). A span from the
 * page heap is reported in *ha (heap.h). */
struct mspan *mcentral_cache_span(struct mcentral *c, struct heap_alloc *ha);
/* Gives a cached span back (it is swept: sweepgen == the heap's). */
void mcentral_uncache_span(struct mcentral *c, struct mspan *s);
/* Puts a swept span that the caller owns on the right swept list. */
void mcentral_push_swept(struct mcentral *c, struct mspan *s);
/* Takes an unswept span off c's lists, or NULL. */
struct mspan *mcentral_pop_unswept(struct mcentral *c);
/* Every central lock, for fork(). */
void mcentral_lock_all(void);
void mcentral_unlock_all(void);
/* Number of spans on c's unswept lists (racy; for pacing). */
size_t mcentral_unswept_count(struct mcentral *c);

#pragma GCC visibility pop

#endif
