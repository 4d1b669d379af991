/*
 * The write barrier's slow path: a per-thread buffer of pointers to shade.
 *
 * gc_write_ptr (include/tricolor/write_barrier.h) is inline: while no
 * cycle is marking it is one load, one predictable branch and the store. While marking, the
 * slow path records both the value being overwritten and the new value
 * (Go's hybrid barrier: Yuasa's deletion barrier plus Dijkstra's insertion
 * barrier) in the thread's wbbuf, then stores. A full buffer is flushed in
 * one batch: each pointer that falls in an unmarked heap object greys it.
 * Buffers are also flushed when marking terminates, and as a thread
 * unregisters; only this file touches a wbbuf (wbbuf_flush_thread).
 *
 * Restarting an interrupted fast path. gc_write_ptr's inline x86-64
 * sequence is
 *
 *   +0  83 38 00              cmpl $0,(%rax)       load the flag
 *   +3  0f 85 rel32           jne  slow
 *   +9  48 89 37              movq %rsi,(%rdi)     the store
 *   +12 0f 1f 80 "GCWB"       nopl MARKER(%rax)    the signature
 *
 * A thread stopped at +3 or +9 has read the flag but not stored yet. If the
 * stop turns the barrier on, the store would run unbarriered after the
 * world restarts, and the marking invariant would be lost. So the suspend
 * handler (threads.c) moves such a thread back to +0, where
 * write_barrier_restart_pc says: it reloads the flag when it resumes. The
 * registers the sequence uses are untouched between +0 and +9. The
 * decoder's expected bytes are built from the GC_WB_* definitions the
 * sequence is written with, the marker's in little-endian order.
 */
#ifndef TRICOLOR_BARRIER_H
#define TRICOLOR_BARRIER_H

#include "atomics.h"

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

#define WBBUF_ENTRIES 512

struct wbbuf {
    size_t n;
    uintptr_t ptrs[WBBUF_ENTRIES];
};

struct gc_work;
struct mthread;
/* With t stopped (or t the caller, unregistering): greys whatever t's
 * barrier buffer holds into w and empties it, then gives t's own gc_work
 * back to the global lists. w may be &t->gcw. */
void wbbuf_flush_thread(struct mthread *t, struct gc_work *w);
/* Whether t holds anything wbbuf_flush_thread would hand over. A racy peek
 * while t runs: only for skipping threads that look idle. */
int wbbuf_thread_pending(const struct mthread *t);
/* Turns the barrier on or off; only with the world stopped. */
void write_barrier_set(int enabled);

/* Where a thread stopped at pc inside gc_write_ptr's inline sequence,
 * between loading the flag and storing, must restart; 0 if pc is not
 * there. The suspend handler counts each restart in
 * write_barrier_restarts. */
uintptr_t write_barrier_restart_pc(uintptr_t pc);
extern volatile AO_t write_barrier_restarts;

#pragma GCC visibility pop

#endif
