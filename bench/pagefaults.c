/*
 * pagefaults.c: what a page fault and a release cost on this machine, with and without
 * transparent huge pages; the figures behind tricolor's choice to back its heap with huge pages
 * (docs/design.md, docs/benchmarks.md).
 *
 * It maps 1 GiB (aligned to 2 MiB), optionally asks for huge pages (MADV_HUGEPAGE), then three
 * times: writes one byte per 4 KiB page (every page faults in) and releases the whole range
 * with MADV_DONTNEED. Each step is printed with its wall and CPU time:
 *
 *   pagefaults: huge=<0|1> round=<n> touch_ms=<ms> touch_cpu_ms=<ms> release_ms=<ms>
 *
 * Usage: pagefaults [0|1]   (1: ask for huge pages; default 0). The first round may be slower
 * than the others on a virtual machine: it can be the first touch of memory the host has not
 * backed yet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    const size_t n = (size_t)1 << 30, huge = (size_t)2 << 20;
    int want_huge = argc > 1 && atoi(argv[1]) != 0;
    char *m = mmap(NULL, n + huge, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        perror("pagefaults: mmap");
        return 1;
    }
    char *p = (char *)(((unsigned long)m + huge - 1) & ~(unsigned long)(huge - 1));
    if (want_huge && madvise(p, n, MADV_HUGEPAGE) != 0)
        perror("pagefaults: MADV_HUGEPAGE");
    for (int round = 1; round <= 3; round++) {
        double t0 = ms(CLOCK_MONOTONIC), c0 = ms(CLOCK_THREAD_CPUTIME_ID);
        for (size_t i = 0; i < n; i += 4096)
            p[i] = 1;
        double t1 = ms(CLOCK_MONOTONIC), c1 = ms(CLOCK_THREAD_CPUTIME_ID);
        madvise(p, n, MADV_DONTNEED);
        double t2 = ms(CLOCK_MONOTONIC);
        printf("pagefaults: huge=%d round=%d touch_ms=%.1f touch_cpu_ms=%.1f release_ms=%.1f\n",
               want_huge, round, t1 - t0, c1 - c0, t2 - t1);
    }
    return 0;
}
