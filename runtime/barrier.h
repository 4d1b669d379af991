/*
 * The write barrier's slow path: a per-thread buffer of pointers to shade.
 *
 * gc_write_ptr (include/tricolor.h) is inline: while no cycle is marking it
 * is one load, one predictable branch and the store. While marking, the
 * slow path records both the value being overwritten and the new value
 * (Go's hybrid barrier: Yuasa's deletion barrier plus Dijkstra's insertion
 * barrier) in the thread's wbbuf, then stores. A full buffer is flushed in
 * one batch: each pointer that falls in an unmarked heap object greys it.
 * Buffers are also flushed when marking terminates.
 */
#ifndef TRICOLOR_BARRIER_H
#define TRICOLOR_BARRIER_H

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
/* Greys whatever the buffer holds, into w, and empties it. */
void wbbuf_flush(struct wbbuf *b, struct gc_work *w);
/* Turns the barrier on or off; only with the world stopped. */
void write_barrier_set(int enabled);

#pragma GCC visibility pop

#endif
