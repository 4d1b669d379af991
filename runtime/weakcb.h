/*
 * Weak callbacks, and the two questions they may ask: gc_is_live and
 * gc_mark_live (gc_add_weak_callback, gc_remove_weak_callback).
 *
 * An embedder's own weak tables (Lua's __mode tables, an intern table of
 * strings) cannot be ephemerons or weak pointers: the table is the
 * embedder's, and only it knows which of its slots are weak. So the
 * collector calls it back at the one moment the answer "is this object
 * live?" is both final and safe to act on: at mark termination, with the
 * world stopped and the grey queue empty (liveness.h). The callback asks
 * gc_is_live() of what its table holds, clears the dead entries itself,
 * and may gc_mark_live() what must stay (ephemeron logic of its own); if
 * any callback marked something new, every callback runs again, with the
 * ephemerons' rule in between, until a round marks nothing new. Phase 0
 * runs before finalizers are queued (liveness.h step 1), phase 1 after
 * (step 3), so a table can choose whether objects kept only by a pending
 * finalizer count as live.
 *
 * Where they run: on the cycle's controller, a collector thread that is
 * not registered, while every registered thread is stopped (at any
 * instruction outside the runtime: possibly in the middle of an operation
 * on the very table the callback clears). So a callback must not take a
 * lock that a mutator may hold, allocate, or call gc_* other than
 * gc_is_live, gc_mark_live, gc_base, gc_size and the ephemeron accessors;
 * and a table it clears must be one whose slots can be cleared at any
 * moment (one word per slot, stored atomically). docs/embedding.md has a
 * worked example.
 *
 * The table of callbacks: an array of (fn, data), grown from persistent
 * memory, whose index is the handle; a removed slot is reused by the next
 * add. cbs.lock (rank RANK_WEAKCB) protects it; the controller takes it
 * only to read the next entry and never holds it across a callback, so a
 * callback may add or remove callbacks. Registered threads take it inside
 * the runtime, so a stopped thread never holds it. data is not a root.
 *
 * gc_is_live. Inside a callback: the mark bit (objects allocated while
 * marking are marked: allocate-black). Elsewhere it answers for now: an
 * allocated object is live, except that in a span not yet swept an
 * unmarked object is dead (the last mark found it unreachable and the
 * sweep will free it), read under the span's sweepgen as a seqlock so
 * that a concurrent sweep of the span is waited out. Outside a cycle that
 * is 1 for every live heap object; while marking, every allocated object
 * (the mark's answer is not final yet).
 */
#ifndef TRICOLOR_WEAKCB_H
#define TRICOLOR_WEAKCB_H

#include "mark.h"

#include <stddef.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* Runs every weak callback once with phase, on the controller in the
 * pause; gc_mark_live marks into w and drains it. Returns the objects the
 * callbacks newly marked (0: nothing new). */
size_t weak_callbacks_run(int phase, struct gcw *w);

#pragma GCC visibility pop

#endif
