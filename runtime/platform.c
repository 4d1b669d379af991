/*
 * Platform glue for Linux. See platform.h.
 */
#include "platform.h"

#include <errno.h>
#include <hwloc.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void *sys_reserve(void *hint, size_t n)
{
    void *p = mmap(hint, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int sys_map(void *p, size_t n)
{
    return mprotect(p, n, PROT_READ | PROT_WRITE);
}

void sys_unused(void *p, size_t n, int use_free)
{
    if (use_free && madvise(p, n, MADV_FREE) == 0)
        return;
    madvise(p, n, MADV_DONTNEED);
}

void sys_populate(void *p, size_t n)
{
    /* A store into each page. Not madvise(MADV_POPULATE_WRITE): that holds
     * the process's mmap lock for the whole range, and an mmap or mprotect
     * on another thread (a metadata chunk, heap growth) then waits for it,
     * and every fault behind that mmap too; with per-VMA locks a fault
     * takes only its own VMA's lock. The stored zero changes nothing: the
     * caller owns the range and needs none of its contents. */
    for (size_t off = 0; off < n; off += 4096)
        ((volatile char *)p)[off] = 0;
}

int sys_populate_now(void *p, size_t n)
{
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
    return madvise(p, n, MADV_POPULATE_WRITE);
}

enum thp_mode sys_thp_mode(void)
{
    char buf[128] = {0};
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f == NULL)
        return THP_NEVER;
    if (fgets(buf, sizeof buf, f) == NULL)
        buf[0] = 0;
    fclose(f);
    if (strstr(buf, "[always]"))
        return THP_ALWAYS;
    if (strstr(buf, "[madvise]"))
        return THP_MADVISE;
    return THP_NEVER;
}

void sys_hugepages(void *p, size_t n, int want)
{
    madvise(p, n, want ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

void *sys_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void sys_free(void *p, size_t n)
{
    munmap(p, n);
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t nanotime(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t unix_nanotime(void)
{
    return clock_ns(CLOCK_REALTIME);
}

int64_t thread_cpu_time(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

void sleep_ns(int64_t ns)
{
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    nanosleep(&ts, NULL);
}

int available_cpus(void)
{
    hwloc_topology_t topo;
    int n = -1;
    if (hwloc_topology_init(&topo) == 0) {
        if (hwloc_topology_load(topo) == 0) {
            hwloc_bitmap_t set = hwloc_bitmap_alloc();
            if (set && hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) == 0)
                n = hwloc_bitmap_weight(set);
            if (n <= 0)
                n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
            hwloc_bitmap_free(set);
        }
        hwloc_topology_destroy(topo);
    }
    if (n <= 0)
        n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

int available_cpus_cached(void)
{
    static int cached;
    if (cached == 0)
        cached = available_cpus();
    return cached;
}

void futex_wait(volatile uint32_t *addr, uint32_t val)
{
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

void futex_wait_timeout(volatile uint32_t *addr, uint32_t val, int64_t ns)
{
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

void futex_wake(volatile uint32_t *addr, int n)
{
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Writes "tricolor: <prefix><message>\n" to stderr in one write, so that
 * the line is not interleaved with other output. No allocation: it may run
 * with the world stopped. */
static void write_line(const char *prefix, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    char line[600];
    int n = snprintf(line, sizeof line, "tricolor: %s%s\n", prefix, buf);
    if (n > 0)
        (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line("fatal error: ", fmt, ap);
    va_end(ap);
    abort();
}

void runtime_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line("", fmt, ap);
    va_end(ap);
}
