/*
 * safepoint.c: what a gc_safepoint() poll costs when no stop is requested,
 * in nanoseconds per poll (goal: under 1 ns).
 *
 * The poll is a relaxed load of gc_safepoint_requested and a branch the
 * compiler lays out as not taken. It is measured where an embedder puts it:
 * in a loop of its own. Two loops run the same work, one with a poll per
 * iteration and one without, each ITERATIONS times (default 2x10^8, or
 * argv[1]), best of ROUNDS (31) runs; the difference divided by the
 * iterations is the poll's cost. Many short rounds, best of each, because
 * a shared machine's interference only ever adds time. The work is a short dependent chain (an
 * interpreter's dispatch does more), kept opaque to the compiler so that
 * neither loop is vectorised or folded away:
 *
 *   empty    x = x * 3 + i           (about one cycle of latency an iteration)
 *   list     walk a 4096-node ring   (a load an iteration, as an interpreter does)
 *
 * Run with the collector in cooperative mode (gc_options.cooperative = 1),
 * idle: nothing allocates, so no stop is ever requested and every poll
 * takes the fast path. In signal mode the poll is the same code.
 *
 *   meson setup build-bench -Dbench=true --buildtype=release
 *   ninja -C build-bench bench/safepoint && build-bench/bench/safepoint
 */
#include <tricolor.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROUNDS    31
#define RING_SIZE 4096

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Keeps x in a register and opaque: no vectorisation, no closed form. */
#define OPAQUE(x) __asm__ volatile("" : "+r"(x))

static __attribute__((noinline)) uint64_t empty_plain(uint64_t n)
{
    uint64_t x = 1;
    for (uint64_t i = 0; i < n; i++) {
        x = x * 3 + i;
        OPAQUE(x);
    }
    return x;
}

static __attribute__((noinline)) uint64_t empty_polled(uint64_t n)
{
    uint64_t x = 1;
    for (uint64_t i = 0; i < n; i++) {
        x = x * 3 + i;
        OPAQUE(x);
        gc_safepoint();
    }
    return x;
}

struct ring {
    struct ring *next;
    uint64_t value;
};

static __attribute__((noinline)) uint64_t list_plain(const struct ring *r, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        sum += r->value;
        r = r->next;
    }
    return sum;
}

static __attribute__((noinline)) uint64_t list_polled(const struct ring *r, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        sum += r->value;
        r = r->next;
        gc_safepoint();
    }
    return sum;
}

static volatile uint64_t sink;

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000000ull;
    gc_options opts = {.cooperative = 1, .gogc = "off"};
    if (gc_init(&opts) != 0)
        return 1;

    /* A ring in shuffled order, so that the walk is a chain of loads. */
    struct ring *nodes = gc_alloc(RING_SIZE * sizeof *nodes);
    unsigned *order = malloc(RING_SIZE * sizeof *order);
    for (unsigned i = 0; i < RING_SIZE; i++)
        order[i] = i;
    uint64_t seed = 88172645463325252ull;
    for (unsigned i = RING_SIZE - 1; i > 0; i--) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        unsigned j = (unsigned)(seed % (i + 1));
        unsigned t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (unsigned i = 0; i < RING_SIZE; i++) {
        nodes[order[i]].value = i;
        nodes[order[i]].next = &nodes[order[(i + 1) % RING_SIZE]];
    }
    free(order);

    double best[4] = {1e30, 1e30, 1e30, 1e30};
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_ns();
        sink = empty_plain(n);
        double t1 = now_ns();
        sink = empty_polled(n);
        double t2 = now_ns();
        sink = list_plain(nodes, n / 4);
        double t3 = now_ns();
        sink = list_polled(nodes, n / 4);
        double t4 = now_ns();
        double d[4] = {(t1 - t0) / (double)n, (t2 - t1) / (double)n, (t3 - t2) / (double)(n / 4),
                       (t4 - t3) / (double)(n / 4)};
        for (int k = 0; k < 4; k++)
            if (d[k] < best[k])
                best[k] = d[k];
    }
    printf("gc_safepoint() with no stop requested, best of %d rounds\n", ROUNDS);
    printf("%-8s %12s %12s %12s\n", "loop", "plain ns/it", "polled ns/it", "ns/poll");
    printf("%-8s %12.3f %12.3f %12.3f\n", "empty", best[0], best[1], best[1] - best[0]);
    printf("%-8s %12.3f %12.3f %12.3f\n", "list", best[2], best[3], best[3] - best[2]);
    return 0;
}
