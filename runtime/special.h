/*
 * Specials: records the runtime attaches to one heap object (Go's
 * mspan.specials): a finalizer, a cleanup, or the object's weak handle.
 *
 * Where they live. Each record names its object by base address (obj) and
 * the span that holds it; a cleanup also keeps the interior address it was
 * attached at. Every record is on two lists:
 *   - its span's list (mspan.object_specials), so that the sweeper finds
 *     the records of the objects it frees, and lookups by object (the one
 *     finalizer, the one weak handle) walk only that span's records;
 *   - its kind's global list (finalizers; everything else), so that mark
 *     termination walks only the finalizers, and the root job walks the
 *     records whose pointers must stay alive.
 * A record whose object died is moved to the run queue (finalizers at mark
 * termination, cleanups by the sweeper), where finalizer.c takes it.
 *
 * What keeps what alive. A record is a root for the pointers it holds, never
 * for its object: a finalizer's data, a cleanup's arg, a weak record's handle
 * (the gc_weak object, noscan, which holds its target as a plain word), and
 * for a record in the run queue its object too. specials_mark_roots greys
 * them with the other roots as a cycle starts (a concurrent root job); a
 * record made while the barrier is on has those pointers shaded by its maker
 * instead (the root job may have run already). Nothing here is rescanned at
 * mark termination, so a pause does not grow with the number of records.
 *
 * The lock. specials.lock (RANK_SPECIAL, lock.h) protects every list, every
 * record's links and the record allocator, and the run queue. Registered
 * threads take it only inside the runtime (the lock rule of lock.h); the
 * controller takes it at mark termination with the world stopped, the
 * sweeper per span that has records, the root job once per cycle. Held, it
 * allows greying (mark_work.lock, a higher rank) and fixalloc (the
 * persistent allocator), never an allocation from the heap.
 *
 * What changes without the lock: a weak handle's target, which only ever
 * goes from its object to 0 (an atomic store, by the sweeper or at mark
 * termination, while the handle is still marked for this cycle), read
 * lock-free by gc_weak_get (weak.c); and specials_queued, a futex word bumped
 * after records are queued.
 */
#ifndef TRICOLOR_SPECIAL_H
#define TRICOLOR_SPECIAL_H

#include "lock.h"
#include "mark.h"
#include "span.h"

#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

enum special_kind {
    SPECIAL_FINALIZER = 1,
    SPECIAL_CLEANUP,
    SPECIAL_WEAK,
};

/* A weak handle (gc_weak): a noscan heap object. */
struct weak_handle {
    volatile AO_t target; /* the object's base; 0 once it died */
};

struct special {
    struct special *next;                /* the span's list, or the run queue */
    struct special *all_next, *all_prev; /* the kind's global list */
    struct special *id_next;             /* cleanups: the by-id hash chain */
    struct mspan *span;
    uintptr_t obj;  /* the object's base */
    uintptr_t addr; /* where it was attached (a cleanup: maybe interior) */
    uint8_t kind;
    union {
        struct {
            void (*fn)(void *obj, void *data);
            void *data;
        } fin;
        struct {
            void (*fn)(void *arg);
            void *arg;
            uint64_t id;
        } cleanup;
        struct {
            struct weak_handle *handle;
        } weak;
    } u;
};

extern struct rlock specials_lock;
/* Bumped (and woken) each time records join the run queue. */
extern volatile uint32_t specials_queued;

void specials_init(void);

/* All of the following with specials_lock held. */

/* A new record of kind for the object at obj (its base) in span s, linked
 * into the span's and the kind's lists; the caller fills its payload. */
struct special *special_add(struct mspan *s, uintptr_t obj, uintptr_t addr, enum special_kind kind);
/* The object's record of kind (a finalizer, a weak record), or NULL. */
struct special *special_find(struct mspan *s, uintptr_t obj, enum special_kind kind);
/* Unlinks sp from its span's and kind's lists (not freed). */
void special_unlink(struct special *sp);
void special_free(struct special *sp);
/* The first record of the finalizers' list (walk with all_next). */
struct special *specials_finalizers(void);
/* Indexes a new cleanup record by its id (u.cleanup.id set). */
void special_index_cleanup(struct special *sp);
/* The cleanup with id, or NULL. */
struct special *special_find_cleanup(uint64_t id);
/* Appends an unlinked record to the run queue. */
void specials_queue_push(struct special *sp);
/* Takes the run queue's first record, or NULL. */
struct special *specials_queue_pop(void);
/* After pushing: wakes whoever waits for queued records (specials_queued).
 * Needs no lock. */
void specials_queue_wake(void);

/* Marking: greys what every record and queued record keeps alive (see the
 * top). Takes the lock. */
void specials_mark_roots(struct gcw *w);

/* Sweeping: the span's records whose object is unmarked (about to be
 * freed): weak handles are cleared, cleanups queued, the rest dropped.
 * Takes the lock; before the span's mark bits become its alloc bits. */
void specials_sweep_span(struct mspan *s);

/* fork(): the lock, in rank order. */
void specials_fork_lock(void);
void specials_fork_unlock(void);

#pragma GCC visibility pop

#endif
