/*
 * latency.c: mutator latency under a large live heap (the well-known "message ring" GC latency
 * test), written once against bench/contender.h and built as latency_tricolor and
 * latency_boehm; bench/go/latency.go is the same program in Go.
 *
 * What it measures: a ring of RING_SIZE (200,000) slots holds the most recent 1 KiB messages.
 * The program makes PUSHES (1,000,000) pushes; each allocates a new 1 KiB pointer-free message
 * (alloc_leaf_data: gc_alloc_noscan / GC_MALLOC_ATOMIC), writes a few bytes into it and stores
 * it over the oldest slot of the ring, so the message it replaces becomes garbage. The first
 * 200,000 pushes fill the empty ring; from then on about 200 MiB of messages stay live while
 * another 800 MiB is allocated and dropped. The ring itself is one pointer-holding GC object
 * (1.6 MB), reached from a global; tricolor stores into it through its write barrier.
 *
 * Every push is timed with clock_gettime(CLOCK_MONOTONIC) into an array that was malloc'd and
 * touched before the loop (not GC memory). A push that has to wait for the collector (a
 * stop-the-world pause, an allocation that helps with marking or sweeping, a full collection in
 * Boehm's case) shows up as a slow push. Statistics are read from the collector between pushes,
 * every 50,000 pushes, never inside a timed push.
 *
 * Output: one line on stderr,
 *
 *   result: name=<contender> wall_ms=<whole loop> worst_push_us=<slowest push>
 *           p9999_us=<99.99th percentile push> p999_us=<99.9th percentile> p99_us=<99th>
 *           over_1ms=<pushes that took more than 1 ms> gcs=<collections>
 *           worst_pause_us=<the worst cycle's pauses> longest_stop_us=<the longest single
 *           stop> total_pause_ms=<all pauses> peak_rss_kb=<ru_maxrss>
 *
 * (all on one line). worst_pause_us and total_pause_ms are the collector's own figures (see
 * contender.h: for tricolor one cycle's stop-the-world time, both pauses added; for Boehm one
 * whole collection); "n/a" where they could not be measured. worst_push_us is what a program
 * actually felt, pauses and any other waiting included. Compare wall_ms only with the other
 * contenders' figures from the same run of bench/run.sh. stdout gets a checksum line that is
 * the same for every contender (it proves the live messages were not overwritten).
 * "latency_tricolor baseline" runs the same timed loop with no collector and no allocation (each
 * push writes into one of 1,024 preallocated malloc'd messages and stores its address into a
 * malloc'd ring) and reports name=baseline: its worst push is the machine's own noise floor
 * (preemption by other processes, timer ticks), to be read next to the collectors' figures.
 * Because that loop is so quick, it is repeated for BASELINE_MS (2 s, about as long as the
 * collectors' runs) and each push's figure is the worst over the repetitions.
 * "latency_tricolor baseline-busy" (name=baseline-busy) is the same baseline with a second
 * thread of the process spinning on the CPU all along, as a concurrent collector's workers use a
 * second CPU while they mark and sweep: its worst push is the noise floor of a program that
 * keeps two CPUs busy, which on a shared virtual machine may be far above the single-thread one.
 * LATENCY_TOP=N also lists the N slowest pushes on stderr (push number, start in ms since the
 * loop began, duration), to line them up with GODEBUG=gctrace=1 output.
 */
#include "contender.h"

#include <pthread.h>
#include <string.h>

enum {
    RING_SIZE = 200000,
    PUSHES = 1000000,
    MSG_SIZE = 1024,
    SAMPLE_EVERY = 50000,
    BASELINE_MS = 2000,
};

static void **ring; /* a GC object; this global is the root that keeps it alive */

/* For the baseline: no collector, no allocation. */
enum { POOL = 1024 };
static unsigned char (*pool)[MSG_SIZE];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0 < q <= 1) of sorted[0..n), nearest rank. */
static uint64_t quantile(const uint64_t *sorted, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* For baseline-busy: the neighbour thread's work, plain arithmetic until told to stop. */
static volatile int neighbour_stop;
static volatile uint64_t neighbour_count;

static void *neighbour(void *arg)
{
    (void)arg;
    while (!neighbour_stop)
        neighbour_count++;
    return NULL;
}

static void push_baseline(long i)
{
    unsigned char *msg = pool[i % POOL];
    uint64_t tag = (uint64_t)i;
    memcpy(msg, &tag, sizeof tag);
    msg[MSG_SIZE - 1] = (unsigned char)i;
    ring[i % RING_SIZE] = msg;
}

static void push(long i)
{
    unsigned char *msg = alloc_leaf_data(MSG_SIZE);
    uint64_t tag = (uint64_t)i;
    memcpy(msg, &tag, sizeof tag);
    msg[MSG_SIZE - 1] = (unsigned char)i;
    store_ptr(&ring[i % RING_SIZE], msg);
}

int main(int argc, char **argv)
{
    int busy = argc > 1 && strcmp(argv[1], "baseline-busy") == 0;
    int baseline = busy || (argc > 1 && strcmp(argv[1], "baseline") == 0);
    uint64_t *lat = malloc(PUSHES * sizeof *lat);
    if (lat == NULL) {
        fprintf(stderr, "latency: no memory for the latency array\n");
        return 1;
    }
    memset(lat, 0, PUSHES * sizeof *lat); /* fault it in before timing */
    const char *top_env = getenv("LATENCY_TOP");
    long top = top_env != NULL ? strtol(top_env, NULL, 10) : 0;
    uint64_t *started = NULL; /* for LATENCY_TOP: when each push began */
    if (top > 0) {
        started = malloc(PUSHES * sizeof *started);
        if (started == NULL)
            return 1;
        memset(started, 0, PUSHES * sizeof *started);
    }

    unsigned long gcs0 = 0;
    if (baseline) {
        ring = calloc(RING_SIZE, sizeof *ring);
        pool = calloc(POOL, sizeof *pool);
        if (ring == NULL || pool == NULL)
            return 1;
    } else {
        contender_init();
        ring = alloc_node(RING_SIZE * sizeof *ring);
        pause_watch_start();
        gcs0 = contender_gcs();
    }

    pthread_t neighbour_thread;
    if (busy && pthread_create(&neighbour_thread, NULL, neighbour, NULL) != 0) {
        fprintf(stderr, "latency: cannot start the neighbour thread\n");
        return 1;
    }
    uint64_t start = now_ns();
    for (long i = 0; i < PUSHES; i++) {
        uint64_t t0 = now_ns();
        if (baseline)
            push_baseline(i);
        else
            push(i);
        uint64_t d = now_ns() - t0;
        if (d > lat[i]) {
            lat[i] = d;
            if (started != NULL)
                started[i] = t0 - start;
        }
        if ((i + 1) % SAMPLE_EVERY == 0 && !baseline)
            pause_watch_sample();
        if (baseline && i == PUSHES - 1 && now_ns() - start < BASELINE_MS * 1000000ull)
            i = -1; /* another pass */
    }
    uint64_t wall = now_ns() - start;
    if (busy) {
        neighbour_stop = 1;
        pthread_join(neighbour_thread, NULL);
    }
    unsigned long gcs = 0;
    if (!baseline) {
        pause_watch_sample();
        gcs = contender_gcs() - gcs0;
    }

    /* The ring must hold exactly the last RING_SIZE messages, intact. */
    uint64_t sum = 0;
    for (long k = 0; k < RING_SIZE; k++) {
        const unsigned char *msg = ring[k];
        if (baseline)
            break; /* the pool's messages are overwritten on purpose */
        uint64_t tag;
        memcpy(&tag, msg, sizeof tag);
        long want = PUSHES - RING_SIZE + ((k - PUSHES % RING_SIZE + RING_SIZE) % RING_SIZE);
        if (tag != (uint64_t)want || msg[MSG_SIZE - 1] != (unsigned char)want) {
            fprintf(stderr, "latency: slot %ld holds message %llu, not %ld: Failed\n", k,
                    (unsigned long long)tag, want);
            return 1;
        }
        sum += tag;
    }
    if (!baseline)
        printf("ring of %d messages of %d bytes after %d pushes: checksum %llu\n", RING_SIZE,
               MSG_SIZE, PUSHES, (unsigned long long)sum);

    /* The slowest pushes, slowest first: (duration, number) in decreasing order. */
    uint64_t prev_lat = UINT64_MAX;
    long prev_i = -1;
    for (long k = 0; k < top && started != NULL; k++) {
        long worst = -1;
        for (long i = 0; i < PUSHES; i++) {
            int below_prev = lat[i] < prev_lat || (lat[i] == prev_lat && i > prev_i);
            if (below_prev && (worst < 0 || lat[i] > lat[worst]))
                worst = i;
        }
        if (worst < 0)
            break;
        fprintf(stderr, "slow push %ld: #%ld at %.3f ms took %.1f us\n", k + 1, worst,
                (double)started[worst] / 1e6, (double)lat[worst] / 1e3);
        prev_lat = lat[worst];
        prev_i = worst;
    }
    free(started);
    qsort(lat, PUSHES, sizeof *lat, cmp_u64);
    long over_1ms = 0;
    for (long i = PUSHES - 1; i >= 0 && lat[i] > 1000000; i--)
        over_1ms++;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char worst_pause[32] = "n/a", total_pause[32] = "n/a", longest_stop[32] = "n/a";
    if (baseline) {
        strcpy(worst_pause, "0");
        strcpy(total_pause, "0");
        strcpy(longest_stop, "0");
    } else if (pause_watch.measured && pause_watch.lost == 0) {
        snprintf(worst_pause, sizeof worst_pause, "%.1f", (double)pause_watch.max_ns / 1e3);
        snprintf(longest_stop, sizeof longest_stop, "%.1f", (double)pause_watch.longest_ns / 1e3);
        snprintf(total_pause, sizeof total_pause, "%.2f", (double)pause_watch.total_ns / 1e6);
    }
    fflush(stdout);
    fprintf(stderr,
            "result: name=%s wall_ms=%.0f worst_push_us=%.1f p9999_us=%.1f p999_us=%.1f "
            "p99_us=%.1f over_1ms=%ld gcs=%lu worst_pause_us=%s longest_stop_us=%s "
            "total_pause_ms=%s peak_rss_kb=%ld\n",
            busy       ? "baseline-busy"
            : baseline ? "baseline"
                       : contender_name(),
            (double)wall / 1e6, (double)lat[PUSHES - 1] / 1e3,
            (double)quantile(lat, PUSHES, 0.9999) / 1e3, (double)quantile(lat, PUSHES, 0.999) / 1e3,
            (double)quantile(lat, PUSHES, 0.99) / 1e3, over_1ms, gcs, worst_pause, longest_stop, total_pause,
            ru.ru_maxrss);
    free(lat);
    return 0;
}
