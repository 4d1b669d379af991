/*
 * Platform glue: address space, clocks and sleeping, CPUs, futexes, fatal
 * errors.
 *
 * The collector's logic never calls mmap, madvise, clock_gettime or hwloc
 * directly; it calls these, so that what it asks of the OS is listed here
 * and nowhere else. Linux only.
 *
 * Address space moves through Go's states: reserved (PROT_NONE, counts for
 * nothing), ready (read-write, counted in Sys), and released (ready but
 * returned with madvise; the pages read as zero when touched again).
 */
#ifndef TRICOLOR_PLATFORM_H
#define TRICOLOR_PLATFORM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* The runtime's own state that may hold heap addresses (arena bounds, search
 * cursors, statistics) lives in this section, which the root scanner skips:
 * the runtime's bookkeeping must never keep a heap object alive, also when
 * the library is linked into the executable. */
#define RUNTIME_STATE __attribute__((section("tricolor_state")))

/* Reserves n bytes of address space near hint (a hint only). NULL on failure. */
void *sys_reserve(void *hint, size_t n);
/* Makes [p, p+n) of a reservation readable and writable. 0 on success. */
int sys_map(void *p, size_t n);
/* Returns [p, p+n) to the OS; the range stays mapped and reads back as zero
 * (MADV_DONTNEED) or, with use_free, as zero or its old contents until the
 * kernel reclaims it (MADV_FREE). */
void sys_unused(void *p, size_t n, int use_free);
/* Faults [p, p+n) in, writable, now, so that its next touch costs nothing:
 * a store of zero into each page. The caller owns the range and needs none
 * of its contents. */
void sys_populate(void *p, size_t n);
int sys_populate_now(void *p, size_t n);
/* How the kernel backs anonymous memory with transparent huge pages
 * (/sys/kernel/mm/transparent_hugepage/enabled). */
enum thp_mode { THP_NEVER, THP_MADVISE, THP_ALWAYS };
enum thp_mode sys_thp_mode(void);
/* Asks for (want) or against huge pages in [p, p+n), a whole reservation:
 * one madvise, so that the range stays one mapping as it is made ready. */
void sys_hugepages(void *p, size_t n, int want);
/* Fresh read-write anonymous memory for metadata, zeroed. NULL on failure. */
void *sys_alloc(size_t n);
void sys_free(void *p, size_t n);

/* Clocks, in nanoseconds. */
int64_t nanotime(void);        /* monotonic */
int64_t unix_nanotime(void);   /* wall clock, Unix epoch */
int64_t thread_cpu_time(void); /* CPU time of the calling thread */
/* Sleeps for about ns nanoseconds (nanosleep; a signal may cut it short). */
void sleep_ns(int64_t ns);

/* CPUs this process may run on (its affinity mask, as hwloc reports it). */
int available_cpus(void);
/* The same, computed once (first call at gc_init). */
int available_cpus_cached(void);

/* Futex wait/wake on a 32-bit word. futex_wait returns when *addr != val, on
 * a wake, or spuriously; callers loop. Both are async-signal-safe. */
void futex_wait(volatile uint32_t *addr, uint32_t val);
/* The same, giving up after about ns nanoseconds. */
void futex_wait_timeout(volatile uint32_t *addr, uint32_t val, int64_t ns);
void futex_wake(volatile uint32_t *addr, int n);

/* Prints "tricolor: fatal error: ..." on stderr and aborts. */
__attribute__((noreturn, format(printf, 1, 2))) void fatal(const char *fmt, ...);
/* Prints "tricolor: ..." on stderr. */
__attribute__((format(printf, 1, 2))) void runtime_warn(const char *fmt, ...);

#pragma GCC visibility pop

#endif
