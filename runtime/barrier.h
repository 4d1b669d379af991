/*
 * The write barrier, all of it: the inline fast path, the slow path and its
 * per-thread buffer, the bulk barriers, the restart of a fast path split by
 * a stop, and the records gccheckmark keeps.
 *
 * Fast path. gc_write_ptr is inline in the program's own code, defined in
 * include/tricolor/write_barrier.h (tricolor.h states its contract): while
 * no cycle is marking it is one load of gc_write_barrier_enabled, one
 * predictable branch and the store. On x86-64 it is a fixed sequence of
 * bytes, each defined once there as a GC_WB_* macro. Elsewhere every store
 * takes the slow path.
 *
 * Slow path. While marking, gc_write_ptr_slow records both the value being
 * overwritten and the new value (Go's hybrid barrier: Yuasa's deletion
 * barrier plus Dijkstra's insertion barrier) in the thread's wbbuf, then
 * stores. It runs inside the runtime (enter_runtime), so no stop lands in
 * it, and it reads the flag again: the flag changes only with the world
 * stopped, never while a thread is inside the runtime.
 *
 * Buffers. A full wbbuf is flushed in one batch into the thread's own
 * gcw: each pointer that falls in an unmarked heap object greys it.
 * The collector flushes a thread's buffer and hands its gcw back to the
 * global lists (wbbuf_flush_thread) only while the thread is stopped, or
 * as the thread unregisters, and nothing but this file touches a wbbuf.
 * The ragged barrier before mark termination does it thread by thread, and
 * the termination pause for every thread again.
 *
 * Deferred rescans. gc_rescan(obj) while marking greys obj if it is still
 * white (it will be scanned whole, new stores included). If obj is marked
 * already, grey or black, scanning it again now would let a mutator that
 * rescans in a loop feed concurrent marking forever (nothing else bounds
 * it: rescanning allocates nothing, so no assist pays for it); so, as Lua's
 * collector keeps its "gray again" list for its atomic step, the rescan is
 * deferred to mark termination: the object goes into the thread's table of
 * RESCAN_SLOTS entries, direct-mapped by address, where rescanning the same
 * object again costs nothing, and an entry it evicts goes to the thread's
 * spill buffers. Mark termination scans them all with the world stopped
 * (rescan_flush_thread, from gc.c's flush_threads), so the pause pays for
 * each object rescanned while marking, once per table slot it occupied;
 * a thread that unregisters hands them to concurrent marking instead.
 * Only this file and the termination touch the table.
 *
 * Bulk barriers. gc_memmove shades every aligned word of the destination
 * and of the source before copying (Go's bulkBarrierPreWrite); gc_memclr
 * shades the destination before clearing it.
 *
 * Restarting an interrupted fast path. The collector stops threads with a
 * signal, which can land anywhere, including at +3 or +9 of the x86-64
 * sequence:
 *
 *   +0  83 38 00              cmpl $0,(%rax)       load the flag
 *   +3  0f 85 rel32           jne  slow
 *   +9  48 89 37              movq %rsi,(%rdi)     the store
 *   +12 0f 1f 80 "GCWB"       nopl MARKER(%rax)    the signature
 *
 * A thread stopped there has read the flag but not stored yet. If the stop
 * turns the barrier on, the store would run unbarriered after the world
 * restarts, and the marking invariant would be lost. So the suspend handler
 * (threads.c) asks write_barrier_restart_pc whether the interrupted pc is
 * one of those two points, recognised by the whole sequence's bytes around
 * it, and if so moves the thread back to +0: it reloads the flag when it
 * resumes. The registers the sequence uses are untouched between +0 and +9.
 * The decoder's expected bytes are built from the same GC_WB_* definitions
 * as the sequence, the marker's in little-endian order.
 *
 * Checkmark records. With gccheckmark, gc_write_ptr_slow and gc_memmove
 * also tell checkmark.c what they stored while marking (the slot and the
 * value; the destination range as copied), since the second mark follows
 * an edge from a heap slot only when the slot still holds what a scan read
 * or a barrier stored (checkmark.h). gc_memclr stores no pointer and
 * records nothing.
 */
#ifndef TRICOLOR_BARRIER_H
#define TRICOLOR_BARRIER_H

#include "atomics.h"

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

#define WBBUF_ENTRIES 512
#define RESCAN_SLOTS  256

struct workbuf;
struct wbbuf {
    size_t n;
    uintptr_t ptrs[WBBUF_ENTRIES];
    /* Deferred rescans (gc_rescan of a marked object): a direct-mapped
     * table by address, 0 for empty, and the entries it evicted. */
    size_t rescan_n; /* entries in rescan[] */
    uintptr_t rescan[RESCAN_SLOTS];
    struct workbuf *rescan_spill;
};

struct gcw;
struct mthread;
/* With t stopped (or t the caller, unregistering): greys whatever t's
 * barrier buffer holds into w and empties it, then gives t's own gcw
 * back to the global lists. w may be &t->gcw. */
void wbbuf_flush_thread(struct mthread *t, struct gcw *w);
/* With t stopped for mark termination (or t the caller, unregistering):
 * scans again, into w, every object t's gc_rescan calls deferred (see
 * "Deferred rescans" above), and empties the table. */
void rescan_flush_thread(struct mthread *t, struct gcw *w);
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
