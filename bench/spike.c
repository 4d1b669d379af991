/*
 * spike.c: how fast memory goes back to the OS after a spike, written once against
 * bench/contender.h and built as spike_tricolor and spike_boehm; bench/go/spike.go is the same
 * program in Go.
 *
 * What it measures: the program holds 1 GiB live (131,072 pointer-free objects of 8 KiB, every
 * byte written, in a GC-allocated array reached from a global), then drops it: the global is
 * cleared and the stack is scrubbed, so nothing reaches the objects any more. From that moment
 * it runs a steady 16 MiB workload for 6 seconds: a ring of 2,048 objects of 8 KiB, replaced
 * one after another as fast as the program can (every byte of each new object is written).
 * With GOGC=100 the heap goal after the spike is about 2 GiB, so the heap first grows (all of
 * it garbage) until a cycle finds the spike dead; the free pages must then be given back by
 * the collector (tricolor and Go: a background scavenger paced to about 1% of one CPU; Boehm:
 * unmapping inside its collections, when built with munmap support).
 *
 * Output on stdout: the resident set (from /proc/self/statm) every 250 ms after the drop,
 *
 *   rss: t_ms=<ms since the drop> rss_mib=<MiB>
 *
 * then a checksum line that is the same for every contender. At the end, one line on stderr:
 *
 *   result: name=<contender> time_to_96mib_ms=<ms from the drop until RSS < 96 MiB, or never>
 *           first_gc_ms=<ms from the drop until the first collection after it had finished>
 *           gc_to_96mib_ms=<the difference: how long the memory took to go back, once free>
 *           scavenger_cpu_ms=<CPU the scavenger used in those 6 s, or n/a>
 *           scavenger_cpu_pct=<the same as a share of one CPU>  process_cpu_ms=<whole process>
 *           rss_before_free_mib=<RSS at the end of the 6 s> rss_after_free_mib=<RSS right after
 *           the "free OS memory" call> peak_rss_mib=<ru_maxrss> gcs=<collections in the 6 s>
 *
 * (all on one line). RSS and the collection count are checked every 10 ms. How long the first
 * collection after the drop takes to come depends on the heap goal left by the fill (up to
 * twice the spike, with GOGC=100) and on how fast fresh memory can be faulted in; the time
 * after it is the part that the scavenger (or Boehm's unmapping) decides. The "free OS memory"
 * call is gc_free_os_memory for tricolor, GC_gcollect_and_unmap for Boehm (debug.FreeOSMemory
 * for Go); the 16 MiB ring is still live then, so about 20 MiB is the floor. tricolor's
 * scavenger CPU comes from the runtime's internal scavenge_cpu_ns() (this program links the
 * static library); Boehm has no background scavenger and Go does not expose its own: n/a.
 */
#include "contender.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#ifdef CONTENDER_TRICOLOR
uint64_t scavenge_cpu_ns(void); /* runtime/scavenge.h: internal, linked statically */
#endif

enum {
    SPIKE_OBJECTS = 131072, /* x 8 KiB = 1 GiB */
    OBJ_SIZE = 8192,
    RING_OBJECTS = 2048, /* x 8 KiB = 16 MiB */
    RUN_MS = 6000,
    PRINT_EVERY_MS = 250,
    CHECK_EVERY_MS = 10,
    THRESHOLD_MIB = 96,
};

static void **spike; /* the 1 GiB, while it is live */
static void **ring;  /* the steady workload */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Resident set in MiB, from /proc/self/statm (its second field, in pages). */
static double rss_mib(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    unsigned long size, resident;
    if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
        return -1;
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static void *new_object(unsigned long n)
{
    unsigned char *p = alloc_leaf_data(OBJ_SIZE);
    memset(p, (int)(n & 0xff), OBJ_SIZE);
    return p;
}

__attribute__((noinline)) static void fill_spike(void)
{
    spike = alloc_node(SPIKE_OBJECTS * sizeof *spike);
    for (unsigned long i = 0; i < SPIKE_OBJECTS; i++)
        store_ptr(&spike[i], new_object(i));
}

/* Overwrites the stack below the caller, where fill_spike may have left pointers. */
__attribute__((noinline)) static void scrub_stack(void)
{
    char buf[65536];
    memset(buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

int main(void)
{
    contender_init();
    ring = alloc_node(RING_OBJECTS * sizeof *ring);
    for (unsigned long i = 0; i < RING_OBJECTS; i++)
        store_ptr(&ring[i], new_object(i));
    fill_spike();
    scrub_stack();
    printf("rss: spike live rss_mib=%.1f\n", rss_mib());

    /* The drop. */
    spike = NULL;
    unsigned long gcs0 = contender_gcs();
#ifdef CONTENDER_TRICOLOR
    uint64_t scav0 = scavenge_cpu_ns();
#endif
    double cpu0 = cpu_ms();
    double t_drop = now_ms();

    double next_print = PRINT_EVERY_MS, next_check = CHECK_EVERY_MS, reached = -1, first_gc = -1;
    unsigned long n = RING_OBJECTS;
    for (;;) {
        for (int k = 0; k < 16; k++, n++)
            store_ptr(&ring[n % RING_OBJECTS], new_object(n));
        double t = now_ms() - t_drop;
        if (t < next_check)
            continue;
        double rss = rss_mib();
        if (reached < 0 && rss >= 0 && rss < THRESHOLD_MIB)
            reached = t;
        if (first_gc < 0 && contender_gcs() != gcs0)
            first_gc = t;
        while (t >= next_check)
            next_check += CHECK_EVERY_MS;
        if (t >= next_print) {
            printf("rss: t_ms=%.0f rss_mib=%.1f\n", next_print, rss);
            next_print += PRINT_EVERY_MS;
        }
        if (t >= RUN_MS)
            break;
    }
    double cpu = cpu_ms() - cpu0;
    unsigned long gcs = contender_gcs() - gcs0;
    char scav_ms[32] = "n/a", scav_pct[32] = "n/a";
#ifdef CONTENDER_TRICOLOR
    double scav = (double)(scavenge_cpu_ns() - scav0) / 1e6;
    snprintf(scav_ms, sizeof scav_ms, "%.1f", scav);
    snprintf(scav_pct, sizeof scav_pct, "%.2f", 100.0 * scav / (now_ms() - t_drop));
#endif
    double before_free = rss_mib();
    contender_free_os_memory();
    double after_free = rss_mib();

    /* The ring must hold the last RING_OBJECTS objects, intact. */
    unsigned long sum = 0;
    for (unsigned long i = n - RING_OBJECTS; i < n; i++) {
        const unsigned char *p = ring[i % RING_OBJECTS];
        if (p[0] != (unsigned char)i || p[OBJ_SIZE - 1] != (unsigned char)i) {
            fprintf(stderr, "spike: ring object %lu was overwritten: Failed\n", i);
            return 1;
        }
        sum += p[OBJ_SIZE / 2];
    }
    printf("ring of %d objects of %d bytes intact: checksum %lu\n", RING_OBJECTS, OBJ_SIZE, sum);

    char reached_s[32] = "never", first_gc_s[32] = "never", after_gc_s[32] = "never";
    if (reached >= 0)
        snprintf(reached_s, sizeof reached_s, "%.0f", reached);
    if (first_gc >= 0)
        snprintf(first_gc_s, sizeof first_gc_s, "%.0f", first_gc);
    else
        strcpy(after_gc_s, "n/a");
    if (reached >= 0 && first_gc >= 0)
        snprintf(after_gc_s, sizeof after_gc_s, "%.0f", reached - first_gc);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fflush(stdout);
    fprintf(stderr,
            "result: name=%s time_to_96mib_ms=%s first_gc_ms=%s gc_to_96mib_ms=%s "
            "scavenger_cpu_ms=%s scavenger_cpu_pct=%s "
            "process_cpu_ms=%.0f rss_before_free_mib=%.1f rss_after_free_mib=%.1f "
            "peak_rss_mib=%.1f gcs=%lu\n",
            contender_name(), reached_s, first_gc_s, after_gc_s, scav_ms, scav_pct, cpu,
            before_free, after_free, (double)ru.ru_maxrss / 1024.0, gcs);
    return 0;
}
