/*
 * Promotion to huge pages: fresh heap memory in small pages, memory the heap
 * reuses in huge pages.
 *
 * Why. Transparent huge pages make a heap that reuses its memory faster
 * (binary-trees spends about 7% more time on 4 KiB pages here: TLB misses),
 * but the first touch of a fresh 2 MiB huge page is one fault that backs all
 * of it at once. On a virtual machine whose host has taken free memory back
 * (virtio-balloon free page reporting gives the host every free 2 MiB block
 * of the guest within seconds), that fault costs 3-5 ms of CPU, and the
 * allocation that makes it stalls for as long: while a heap grew, about one
 * push in 5,000 of the latency benchmark took milliseconds. Backing memory
 * costs the same per byte in small pages, but in pieces: heap.c faults
 * released small pages in 64 KiB at a time with one madvise
 * (MADV_POPULATE_WRITE, 0.3-0.6 ms per 2 MiB here, against 5-12 ms when the
 * same pages are touched one fault at a time).
 *
 * What (GODEBUG=thpgrowth=0, and part of thpgrowth=3). The heap's arenas are MADV_NOHUGEPAGE (heap.c, register_arenas), so
 * fresh memory is faulted in small pages. When a cycle's sweeping has ended,
 * the scavenger's thread, with nothing left to release, promotes ranges the
 * heap reuses: a 2 MiB-aligned range that is wholly free and resident (every
 * page of it was allocated before and none is released; fresh growth is
 * released memory and never qualifies) is taken out of the free runs, its
 * small pages are given back (MADV_DONTNEED), it is marked MADV_HUGEPAGE,
 * and one fault from this thread brings it back as a huge page, zero
 * (heap.c, mheap_promote). The lowest such ranges go first: first fit
 * allocates there next. No allocating thread waits for a promotion: the
 * range is out of the free runs while it happens, and the fault takes only
 * the per-VMA lock of the range's own mapping.
 *
 * Not MADV_COLLAPSE of ranges in use: its copy runs with the mapping locked
 * for writing, and every fault of the allocating threads in that mapping
 * waits behind it (docs/benchmarks.md, "The prefaulter, A/B").
 *
 * Bounds. Promotion runs only while no cycle marks (cycle_phase is off), so
 * that it takes a CPU neither the marking nor, on a two-CPU machine, the
 * program needs; it stops as soon as a cycle starts. Its CPU time is paced
 * like the scavenger's: a budget that accrues at PROMOTE_CPU_FRACTION of
 * wall time, capped, spent one range at a time.
 *
 * Invariants.
 *   - A promoted range is wholly resident or wholly released: a release
 *     that leaves part of one resident (gc_free_os_memory, the allocation
 *     path's releases) demotes it, MADV_NOHUGEPAGE, before the pages are
 *     free again (heap.c, demote_released), so a huge page is never partly
 *     released and kept whole (its RSS would stay, or khugepaged would
 *     refill it). A range released whole stays promoted: reused within a
 *     second or two, the host still backs it and it faults in whole in about
 *     0.1 ms. Left released longer, it is fresh memory again, and the next
 *     look demotes it (DEMOTE_LOOK_NS; heap.c, mheap_demote_stale), so an
 *     allocating thread does not fault in a cold huge page. The looks run
 *     after cycles: a program that stops collecting and then grows again
 *     into ranges released whole before it stopped may still fault one in.
 *   - pagealloc counts a promoted range that is wholly released and then
 *     touched as wholly resident (pagealloc.c, huge_pages_faulting).
 *   - The background scavenger releases whole free 2 MiB ranges only, as it
 *     did when fresh memory was huge pages (scavenge.h), so a promoted
 *     range in use is never split by it.
 *   - Each range is promoted under the scavenger's lock, which fork()
 *     takes, so a child never inherits a range taken out of the heap.
 *
 * The modes. GODEBUG=thpgrowth=0 is promotion alone. thpgrowth=3 (the
 * default) adds the prefaulter making fresh growth huge pages ahead of
 * allocation, on its own thread (prefault.h): such a range counts as
 * promoted, and follows the rules above. thpgrowth=1 faults fresh memory in
 * huge pages on the allocating thread and promotes nothing (the default
 * before thpgrowth=3). thpgrowth=2 is promotion for all but the heap's first
 * arena, which asks for huge pages from the start and counts as promoted
 * (heap.c, register_arenas). Promotion alone, on the 2-CPU VM of
 * docs/benchmarks.md ("Huge pages for reused memory only"), removed the
 * allocating thread's multi-millisecond first touches (pushes with over
 * 1 ms of CPU: 1-17 per run against 63-193) but cost GCBench 16-22% of user
 * time and wall time (its small heap is TLB-bound and rarely has a whole
 * free 2 MiB range to promote) and binary-trees 4-13% of CPU; made ahead,
 * fresh memory is huge pages from the start and neither pays that.
 * GODEBUG=disablethp=1 means no huge pages at all (fresh memory is faulted
 * in 64 KiB at a time).
 */
#ifndef TRICOLOR_PROMOTE_H
#define TRICOLOR_PROMOTE_H

#include "lock.h"

#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* Ranges promoted and demoted so far, for tests and benchmarks. */
struct promote_counts {
    uint64_t promoted, demoted;
};
void promote_read_counts(struct promote_counts *out);
/* Called by heap.c when it demotes a range, and when the prefaulter makes
 * a fresh range a huge page (thpgrowth=3). */
void promote_count_demoted(void);
void promote_count_promoted(void);

/* On the scavenger's thread, when sweeping has ended and it has nothing to
 * release: promotes reused ranges while the budget lasts and no cycle
 * marks, holding lock around each one. */
void promote_after_sweep(struct rlock *lock);

#pragma GCC visibility pop

#endif
