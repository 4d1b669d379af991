/*
 * Weak pointers (Go's weak.Pointer): gc_weak_make and gc_weak_get.
 *
 * A weak pointer is a handle, one per object: a small noscan heap object
 * (struct weak_handle, special.h) holding its target's base as a plain word,
 * so that it does not keep the target alive, and named by the target's
 * SPECIAL_WEAK record, so that gc_weak_make returns the same handle for the
 * same live object. The record keeps the handle alive (a root) while the
 * target lives; the caller's references keep it alive after.
 *
 * When the target dies its handle is cleared (target = 0), never refilled:
 *   - at mark termination, for an object whose finalizer is being queued
 *     (finalizer.h): before it is resurrected;
 *   - by the sweeper, for any other unmarked object, before the span's
 *     sweepgen says swept and before the object's memory can be reused.
 *
 * gc_weak_get, lock-free, inside the runtime (so no stop of the world falls
 * in the middle; mheap_.sweepgen, which changes only with the world stopped,
 * is fixed for the call). With x the handle's target and s its span:
 *   - x == 0: dead;
 *   - s swept this cycle (s->sweepgen == sg): the target, read again after
 *     sweepgen, is the answer (the sweeper clears it before it publishes
 *     sg, so a target freed by this sweep reads 0);
 *   - s being swept (sg-1): wait for its sweeper (a few microseconds; a
 *     sweeper is never stopped in the middle of a span);
 *   - s not yet swept (sg-2): the mark bits are this cycle's verdict and
 *     stay put until the sweeper claims the span: x is live iff marked.
 *     The bit is read, then sweepgen and the target again; if either
 *     changed, look again.
 * While marking, the result is shaded (gc_shade), as Go does: it is a
 * strong pointer the mark may not have seen.
 */
#ifndef TRICOLOR_WEAK_H
#define TRICOLOR_WEAK_H

#pragma GCC visibility push(hidden)
#pragma GCC visibility pop

#endif
