/*
 * The scavenger: giving free pages back to the OS.
 *
 * Free pages that stay free cost RSS for nothing. A background thread
 * releases them with madvise(MADV_DONTNEED) (MADV_FREE with
 * GODEBUG=madvdontneed=0), from the highest addresses down, in chunks of up
 * to 16 MiB, each stretch of unreleased pages in one call (heap.c). Chunks
 * are large because a call costs as much as the pages it covers: on the
 * machines measured, releasing 1 GiB took 6 s of CPU in Go's 64 KiB calls
 * and 50-60 ms in 4-32 MiB calls. It runs while either of Go's goals is unmet:
 *
 *   retained (in-use + free, unreleased pages) <= 110% of the in-use heap
 *     scaled to the next goal: last_heap_inuse * goal / last_goal * 1.10
 *   with a memory limit, Sys - HeapReleased <= 95% of the limit
 *     (Go 1.19 computed this one as limit * 95 and so never ran it)
 *
 * Pacing: about 1% of one CPU on average. The scavenger has a CPU-time
 * budget that accrues at 1% of wall time and may save up to 100 ms (it
 * starts full), so a heap that just shrank by a gigabyte goes back within a
 * fraction of a second; a burst that overruns its budget owes at most one
 * burst's worth.
 *
 * The goals are set at each mark termination, and the scavenger is woken
 * when sweeping finishes. When the heap grows past the retention goal or the
 * limit, the allocating thread releases the excess itself, up to what it
 * just grew by; and with a memory limit, any span allocation that finds the
 * runtime over the limit releases the excess. Both are bounded to 64 MiB, so
 * one allocation never stalls for long.
 *
 * When the heap's memory may be backed by transparent huge pages (THP
 * "always", or "madvise", where the heap asks for them, or promoted ranges
 * with GODEBUG=thpgrowth=0, promote.h; see heap.h), the background
 * scavenger releases only whole free 2 MiB-aligned huge pages, so as never
 * to split a huge page whose other part is in use, and because releasing a
 * whole one costs one cheap call (1 GiB in 1.5 ms here, against 60 ms in 4
 * KiB pages). Releases on the allocation path and gc_free_os_memory take
 * any free page. A partly released huge page may be collapsed again by the
 * kernel's khugepaged, which refills its released part: that is why the
 * background scavenger leaves partly used huge pages alone. Releasing never
 * changes protections, so it adds entries to /proc/self/maps only where it
 * demotes a promoted range it releases a part of (MADV_NOHUGEPAGE, so that a
 * huge page partly released does not keep its RSS; promote.h).
 *
 * When sweeping has ended and nothing is left to release, the scavenger's
 * thread promotes reused ranges to huge pages (promote.h), under its lock.
 */
#ifndef TRICOLOR_SCAVENGE_H
#define TRICOLOR_SCAVENGE_H

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

void scavenge_init(void);
void scavenge_start(void);
/* At mark termination: new goals, search from the top again. */
void scavenge_set_goals(uint64_t heap_goal, uint64_t last_heap_goal);
/* When sweeping has finished: wake the scavenger, print scavtrace. */
void scavenge_sweep_done(void);
/* After the heap grew by bytes: release the excess over the goals. */
void scavenge_on_growth(size_t bytes);
/* The release cursor's lock, for fork(). */
void scavenge_fork_lock(void);
void scavenge_fork_unlock(void);
/* With a memory limit, after any span allocation: if the runtime holds more
 * than the limit from the OS, release the excess now (Go's allocation-path
 * scavenging), bounded as scavenge_on_growth is. */
void scavenge_for_limit(void);
/* How many more bytes the heap, whose pages are p, may retain before it is
 * over either goal (UINT64_MAX: no goal yet). Takes no lock, so that the
 * heap may ask while it holds its own; the prefaulter stays within it. */
struct heap_pages;
uint64_t scavenge_headroom(const struct heap_pages *p);
/* CPU time the background scavenger has used, in nanoseconds. */
uint64_t scavenge_cpu_ns(void);

#pragma GCC visibility pop

#endif
