/*
 * The prefaulter: fresh heap memory is faulted in before it is allocated.
 *
 * Why. The first touch of a page costs a page fault, and on a virtual
 * machine the first touch of memory the host has not backed yet costs far
 * more: on the 2-CPU VM this project is measured on, a fresh 2 MiB huge
 * page took 3 to 6 ms to fault in, and one 4 KiB fault in a few hundred
 * took 0.4 to 3.8 ms (bench/pagefaults.c, and the latency benchmark's
 * slowest pushes, each one fault). A thread that allocates into memory
 * nobody has touched pays that inside one allocation; while the heap grows,
 * that was the mutator's worst latency by far.
 *
 * What. A background thread keeps a lead of free, resident pages ahead of
 * the allocators while the heap grows. It takes the lowest free released
 * pages (where the page heap's address-ordered first fit goes next) up to
 * the end of their 2 MiB huge page, growing the heap when there are none,
 * faults them in (a store into each page, sys_populate) holding no heap
 * lock, and gives them back free, unreleased and zero (heap.c,
 * mheap_prefault). The lead is an eighth of the in-use heap, at least 6 MiB
 * and at most 32 MiB. Measured on GCBench (a 37 MiB heap that grows in
 * bursts while both CPUs mark), 30 interleaved rounds against thpgrowth=1:
 * at least 2 MiB, the allocating thread outran the prefaulter into small
 * pages (4.4 times the page faults) and took 10% longer; at least 6 MiB,
 * 4% longer at the same peak RSS; a quarter, at least 8 MiB, 3-5% longer
 * with 4-7 MiB more peak RSS. Below 6 MiB of in-use heap the lead is the
 * in-use heap (a huge page at least): a tiny heap would otherwise double
 * its RSS for growth it may never make (the Lua port's coroutine_ring, a
 * few MiB: peak RSS 12.4 MiB with the 6 MiB floor, 10.5 with this).
 *
 * The allocators' side, in malloc.c (the page heap only reports: heap.h):
 *   - After each span allocation (prefault_after_alloc): when the resident
 *     free pages are below half the lead, the prefaulter is asked to work.
 *   - With prefault=1 and thpgrowth other than 3 only: a run of at most
 *     PREFAULT_WAIT_PAGES pages (a small object's span; a
 *     large object's allocation pays for its own pages, as it pays for
 *     zeroing them) that first fit finds in released memory: if a stretch
 *     is being faulted in, the allocating thread spins (stoppable) until it
 *     is done, once, and asks again; otherwise it asks the prefaulter to
 *     run ahead and faults its own pages in.
 *
 * Huge pages made ahead (GODEBUG=thpgrowth=3, the default). The heap's
 * arenas are MADV_NOHUGEPAGE, as with promotion (promote.h). A stretch that
 * is a whole 2 MiB range, free and wholly released (fresh growth, or memory
 * the scavenger gave back), is
 * switched to MADV_HUGEPAGE before the prefaulter touches it, so that one
 * fault on the prefaulter's thread backs it as one huge page, and it counts
 * as promoted from then on (heap.c, mheap_prefault; promote.h's rules apply
 * to it). Allocating threads never wait for the prefaulter in this mode:
 * one that reaches released memory before it faults that memory in itself,
 * 64 KiB per madvise call in small pages (heap.c, "Fresh memory"), never a
 * fresh huge page in one fault; promotion may make those ranges huge pages
 * later, once reused. The prefaulter's thread runs under SCHED_IDLE here:
 * it takes a CPU that nothing else wants, so on a machine whose CPUs are
 * all busy it falls behind instead of taking time from the program or the
 * marking. On the 2-CPU VM of docs/benchmarks.md ("Huge pages made
 * ahead"), against fresh huge pages faulted in by the allocating thread
 * (thpgrowth=1, the default before): the latency benchmark's pushes over
 * 1 ms went from 150-200 per run to 3-6, its p99.99 from 3.1 ms to 0.11-0.14
 * ms, and its wall time fell by a third; GCBench took up to 4.5% longer
 * and binary-trees 0-2%.
 *
 * GODEBUG=prefault=1 with thpgrowth=1: fresh memory in huge pages as the
 * arenas ask, faulted in ahead by a thread of normal priority, allocating
 * threads waiting for a stretch in flight (above). It did not pay where it
 * was measured. On the 2-CPU VM of docs/benchmarks.md it halved
 * the latency benchmark's p99.9 and, on memory the host had not backed,
 * cut its wall time, but its worst push was no better: on cold memory
 * 6-10 ms against 4.6-5.6 ms without it (the allocating thread still waits for
 * a stretch, and the prefaulter takes CPU from the marking), on warm memory
 * 1-7 ms against 4.4-5.4 ms. Sleeping waits, and pacing the allocating thread
 * in 100 us steps, were tried and were worse: on a busy 2-CPU machine a
 * thread that gives up its CPU may wait milliseconds to get it back. And a
 * prefaulter at work is a second busy thread: on that machine, a timed loop
 * with a second thread spinning beside it has a worst iteration of about
 * 4 ms (latency_tricolor baseline-busy), so it cannot buy a worst push below
 * that floor.
 *
 * Bounds. The prefaulter never makes the heap retain more than the
 * scavenger's goals allow (scavenge_headroom), so the two never undo each
 * other's work; it runs only when allocation asks (the heap is growing into
 * released memory), and gc_free_os_memory ends its run (prefault_cancel). gc_init
 * faults in the first 4 MiB, the smallest heap goal, on the calling thread.
 * Without it (thpgrowth 0 to 2, or disablethp=1, with prefault=0),
 * allocating threads fault fresh memory in themselves, as in Go.
 *
 * Synchronisation. pf.lock is held while a stretch is taken out of the heap
 * for faulting, so fork() waits for the stretch to be given back; lock
 * order: pf.lock, then mheap_.lock. The futex words: requested (allocators
 * add 1 to ask for work), served (the last request the prefaulter finished
 * a run for), busy (1 during a run), progress (bumped after each stretch and
 * at the end of each run, what waiters sleep on).
 */
#ifndef TRICOLOR_PREFAULT_H
#define TRICOLOR_PREFAULT_H

#include "atomics.h"

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* Runs of at most this many pages wait for the prefaulter (256 KiB). */
#define PREFAULT_WAIT_PAGES 32

/* Whether the prefaulter works: GODEBUG=prefault=1, or thpgrowth=3. */
int prefault_on(void);

/* At gc_init, when on: fault in the heap's first 4 MiB. */
void prefault_init(void);
void prefault_start(void);
/* While the lock is held no stretch is out of the heap or being faulted
 * in: for fork(), and for tests that compare RSS with the page counts. */
void prefault_lock(void);
void prefault_unlock(void);
void prefault_fork_child(void);

/* The progress counter, bumped after each stretch and each run: the word a
 * span allocation that may be refused hands the heap (struct heap_alloc's
 * wait_word), which reads it under its lock when it refuses. */
const volatile uint32_t *prefault_progress_word(void);
/* Called with no lock held after first fit found released pages: asks the
 * prefaulter for work and, if it is faulting a stretch in, waits (spinning,
 * stoppable, at most 10 ms) for progress past seen. The caller then
 * searches again, and faults in itself whatever is still released. */
void prefault_wait(uint32_t seen);
/* After a span allocation, with no lock held: the heap's resident free
 * pages, in-use pages and the bytes it may still retain (scavenge_headroom),
 * as they were just after it. Asks for work when the lead is short; never
 * waits. */
void prefault_after_alloc(size_t resident_free, size_t inuse, uint64_t headroom);

/* Ends the prefaulter's run, after the stretch in flight if any
 * (gc_free_os_memory: what it releases must stay released until
 * allocation asks again). */
void prefault_cancel(void);

/* Bytes faulted in by the prefaulter, for tests and traces. */
uint64_t prefault_faulted_bytes(void);

#pragma GCC visibility pop

#endif
