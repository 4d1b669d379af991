/*
 * Roots: where marking starts.
 *
 *  - Every registered thread's stack, from the stack pointer it was stopped
 *    at up to its base, and its registers (spilled onto that stack by the
 *    suspend handler).
 *  - The writable segments (data, bss) of the executable and of every
 *    loaded shared library, found with dl_iterate_phdr. libtricolor's own
 *    segments are skipped when it is a shared library; its statics hold no
 *    heap pointers either way (all runtime metadata is off-heap).
 *  - Ranges registered with gc_add_roots.
 *  - Root callbacks (gc_add_root_callback): precise, the embedder visits
 *    its slots. They run only with the world stopped: in the first pause
 *    of a cycle and again at mark termination (mark_root_callbacks), and in
 *    the stop-the-world and checkmark marks (mark_roots).
 *
 * All are scanned conservatively (mark.c). The list of segments is taken
 * before the world is stopped: dl_iterate_phdr takes the dynamic loader's
 * lock, which a stopped thread might hold. Unloading a library with dlclose
 * while a collection runs is therefore not supported.
 */
#ifndef TRICOLOR_ROOTS_H
#define TRICOLOR_ROOTS_H

#include "mark.h"

#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

struct mthread;

/* Records the current writable segments; call with the world running. */
void roots_snapshot_globals(void);
/* Scans the recorded segments and the registered ranges. */
void mark_globals(struct gcw *w);
/* Scans a stopped thread's stack and saved registers. */
void mark_thread_stack(struct mthread *t, struct gcw *w);
/* Calls every root callback, greying what its slots point into; the world
 * is stopped. */
void mark_root_callbacks(struct gcw *w);
/* Every root: each registered thread's stack (the world stopped), the
 * globals, the registered ranges and the root callbacks. */
void mark_roots(struct gcw *w);
/* The roots lock, for fork(). */
void roots_fork_lock(void);
void roots_fork_unlock(void);
/* Bytes of scannable globals in the last snapshot (for gctrace). */
uint64_t roots_globals_bytes(void);

#pragma GCC visibility pop

#endif
