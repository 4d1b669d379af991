/*
 * Ephemerons: a key and a value, where the value is kept alive by the pair
 * only while the key is alive (gc_ephemeron_make, gc_ephemeron_key,
 * gc_ephemeron_value). What weak-keyed tables need.
 *
 * The object. An ephemeron is a small heap object allocated noscan (struct
 * gc_ephemeron in ephemeron.c: key, value, a tag that says "ephemeron"), so
 * the marker never follows its key or its value: neither is kept alive by
 * the pair as an ordinary pointer would be. What keeps the value alive is
 * the rule below, applied by this file. The caller holds the ephemeron
 * itself like any object; an ephemeron nobody holds dies like any object.
 *
 * The rule: an ephemeron that is marked and whose key is marked gets its
 * value greyed. Applied to a fixpoint (liveness.h), it gives "the value is
 * live iff some live ephemeron's key is live, or it is reachable
 * otherwise". So chains work (e1: k1 -> k2, e2: k2 -> v2: v2 lives while
 * k1 does, once e1's value k2 is marked e2's rule applies), and a value
 * that points to its own key does not keep the key alive (the value is
 * never greyed before the key is marked).
 *
 * The registry. Every ephemeron is entered, when made, in a registry of
 * live ephemerons: an off-heap array of (object, span, index) entries,
 * the span and index cached so that reading the ephemeron's own mark bit
 * costs two loads. The registry never keeps an ephemeron alive (it is not
 * scanned). registry.lock (rank RANK_EPHEMERON) protects its length,
 * capacity and the array pointer; entries are appended by
 * gc_ephemeron_make (inside the runtime, so never by a stopped thread) and
 * reordered or dropped only in the mark-termination pause.
 *
 * Where the work is done, so that the pause does little:
 *   - Concurrently, when marking looks done (ephemerons_mark_concurrent,
 *     called by gc.c's concurrent_mark): one pass over the entries not yet
 *     resolved this cycle. An entry whose ephemeron and key are both marked
 *     gets its value greyed and is resolved: marks only grow during a
 *     cycle, so nothing about it can change. Entries that are not resolved
 *     are kept in a pending list (controller-private, indices in ascending
 *     order); entries appended since the last pass are pending too. If the
 *     pass marked anything, marking goes on and the pass runs again later.
 *   - In the pause (ephemerons_mark_pending, from liveness.c's fixpoint):
 *     the same rule over the pending entries only.
 *   - At the end of the pause (ephemerons_sweep, liveness.h step 4): a
 *     pending entry whose ephemeron is unmarked is dropped (the ephemeron
 *     is freed by this cycle's sweep); a marked ephemeron whose key is
 *     unmarked is cleared (key and value NULL). A resolved entry is live
 *     with a live key by construction. The per-cycle state is then reset.
 *   - gcstoptheworld: no concurrent pass runs, every entry is pending.
 * So with 10^4 live ephemerons whose keys are live, the pause does nothing
 * per ephemeron (bench/ephemerons.c measures it).
 *
 * Invariant the accessors and the registry rely on: an entry names an
 * allocated object between pauses. An ephemeron dies only in a pause that
 * finds it unmarked, and that pause drops its entry before any span is
 * swept. Likewise a key is either live or already cleared when the world
 * restarts: it is cleared in the pause that finds it unmarked, before its
 * span is swept. So a reader never gets a freed key or value from an
 * ephemeron (not even one whose span is being swept concurrently: the
 * clearing happened before that sweep began), and a reader while marking
 * shades what it returns (the result is a strong reference, and may be
 * the only one after the ephemeron is cleared).
 *
 * gccheckmark: the verification mark (checkmark.c) applies the same rule
 * with the checkmark bits (ephemerons_checkmark), to a fixpoint of its
 * own, so values kept only by ephemerons are verified too: a value the
 * real mark should have kept by the rule, and did not, is reported.
 */
#ifndef TRICOLOR_EPHEMERON_H
#define TRICOLOR_EPHEMERON_H

#include "mark.h"

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* While marking, on the controller: greys the values of ephemerons found
 * marked with a marked key, once each per cycle. Returns 1 if that marked
 * anything (marking must go on before mark termination). */
int ephemerons_mark_concurrent(void);

/* In the pause (world stopped, no sweeping): greys into w the values of
 * pending ephemerons that are marked and whose key is marked. Returns the
 * number of objects this newly marked (0: the rule is at a fixpoint as far
 * as the mark bits go; the caller drains w and asks again). */
size_t ephemerons_mark_pending(struct gcw *w);

/* The end of the pause, after the last fixpoint: drops dead ephemerons
 * from the registry, clears live ones whose key is dead, and resets the
 * per-cycle state. */
void ephemerons_sweep(void);

/* In gccheckmark's second mark (mark_work.checkmark set, world stopped):
 * the rule with the checkmark bits, over every entry. Returns the objects
 * newly checkmarked; the caller drains and repeats until 0. */
size_t ephemerons_checkmark(struct gcw *w);

/* For tests and the benchmark: registered ephemerons, and the pending
 * entries the last pause had to look at. */
size_t ephemerons_count(void);
size_t ephemerons_last_pause_pending(void);

#pragma GCC visibility pop

#endif
