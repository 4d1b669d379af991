/*
 * binary_trees.c: the Benchmarks Game "binary-trees" program, written once against
 * bench/contender.h and built as binary_trees_tricolor, binary_trees_boehm and
 * binary_trees_mimalloc.
 *
 * What it measures: allocation and collection throughput on many short-lived small objects
 * (16-byte tree nodes) while one long-lived tree stays reachable. It builds a "stretch" tree of
 * depth max+1 and drops it, keeps a tree of depth max alive, then for depths 4, 6, ..., max
 * builds and walks 2^(max - depth + 4) trees of that depth. The mutator is one thread unless
 * told otherwise, for every contender (bench/go/binary_trees.go is the same program in Go).
 *
 * Usage: binary_trees_<contender> [max_depth [threads]]   (default 21 and 1)
 *
 * With threads > 1 the trees of each depth are built by that many threads, each its share
 * (the main thread waits), as the Benchmarks Game's parallel versions do; the output is the
 * same. binary_trees_mimalloc frees each tree once checked (malloc and free by hand: what a
 * collector is compared with).
 *
 * Output: stdout is exactly the Benchmarks Game's output and must be identical for every
 * contender (bench/run.sh checks it); the node counts ("check") prove that no live node was
 * lost. Then one line on stderr:
 *
 *   result: name=<contender> wall_ms=<ms> peak_rss_kb=<ru_maxrss> gcs=<collections>
 *
 * Built with -DBENCH_TYPED (binary_trees_tricolor_typed), nodes are typed objects
 * (gc_alloc_typed, a two-word map with both words pointers) instead of conservative ones: the
 * cost of typed scanning against conservative scanning of the same heap.
 *
 * wall_ms covers the whole run, collector start-up included. Compare it only with the other
 * contenders' figures from the same run of bench/run.sh.
 */
#include "contender.h"

#include <errno.h>
#include <pthread.h>

typedef struct node {
    struct node *left;
    struct node *right;
} node;

#ifdef BENCH_TYPED
static uint32_t node_type;
static void register_node_type(void)
{
    static const uint64_t map[] = {0x3};
    static const gc_type t = {.name = "node", .ptrmap = map, .ptrmap_words = 2};
    node_type = gc_register_type(&t);
}
#define alloc_tree_node(size) gc_alloc_typed(node_type, size)
#else
static void register_node_type(void) {}
#define alloc_tree_node(size) alloc_node(size)
#endif

/* Children first, then the parent, as the reference programs do. */
static node *bottom_up_tree(int depth)
{
    node *left = NULL;
    node *right = NULL;
    if (depth > 0) {
        left = bottom_up_tree(depth - 1);
        right = bottom_up_tree(depth - 1);
    }
    node *n = alloc_tree_node(sizeof *n);
    store_ptr(&n->left, left);
    store_ptr(&n->right, right);
    return n;
}

static long item_check(const node *n)
{
    if (n->left == NULL)
        return 1;
    return 1 + item_check(n->left) + item_check(n->right);
}

/* A tree no longer used: freed by the contender that frees, left to the collector otherwise. */
static void drop_tree(node *n)
{
#ifdef CONTENDER_FREES
    if (n->left != NULL) {
        drop_tree(n->left);
        drop_tree(n->right);
    }
    free_node(n);
#else
    (void)n;
#endif
}

/* Builds, checks and drops iterations trees of depth; the sum of their checks. */
static long make_trees(int depth, long iterations)
{
    long check = 0;
    for (long i = 0; i < iterations; i++) {
        node *t = bottom_up_tree(depth);
        check += item_check(t);
        drop_tree(t);
    }
    return check;
}

struct share {
    pthread_t thread;
    int depth;
    long iterations, check;
};

static void *share_main(void *arg)
{
    struct share *s = arg;
    contender_thread_register();
    s->check = make_trees(s->depth, s->iterations);
    contender_thread_unregister();
    return NULL;
}

/* make_trees, split between threads threads. */
static long make_trees_in_threads(int depth, long iterations, int threads)
{
    if (threads == 1)
        return make_trees(depth, iterations);
    struct share shares[64];
    for (int i = 0; i < threads; i++) {
        shares[i].depth = depth;
        shares[i].iterations = iterations / threads + (i < iterations % threads);
        if (pthread_create(&shares[i].thread, NULL, share_main, &shares[i]) != 0) {
            fprintf(stderr, "binary_trees: cannot start a thread\n");
            exit(1);
        }
    }
    long check = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(shares[i].thread, NULL);
        check += shares[i].check;
    }
    return check;
}

static int parse_arg(int argc, char **argv, int i, int dflt, int lo, int hi)
{
    if (argc <= i)
        return dflt;
    char *end;
    errno = 0;
    long v = strtol(argv[i], &end, 10);
    if (errno != 0 || end == argv[i] || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "usage: %s [max_depth 0..30 [threads 1..64]]\n", argv[0]);
        exit(2);
    }
    return (int)v;
}

int main(int argc, char **argv)
{
    double start = bench_now_ms();
    int n = parse_arg(argc, argv, 1, 21, 0, 30);
    int threads = parse_arg(argc, argv, 2, 1, 1, 64);
    contender_init();
    pause_watch_start();
    register_node_type();
    if (threads > 1)
        contender_threads_allow();

    const int min_depth = 4;
    const int max_depth = n > min_depth + 2 ? n : min_depth + 2;

    {
        const int stretch_depth = max_depth + 1;
        node *stretch = bottom_up_tree(stretch_depth);
        printf("stretch tree of depth %d\t check: %ld\n", stretch_depth, item_check(stretch));
        drop_tree(stretch);
    }

    node *long_lived = bottom_up_tree(max_depth);

    for (int depth = min_depth; depth <= max_depth; depth += 2) {
        long iterations = 1L << (max_depth - depth + min_depth);
        long check = make_trees_in_threads(depth, iterations, threads);
        printf("%ld\t trees of depth %d\t check: %ld\n", iterations, depth, check);
        pause_watch_sample();
    }

    printf("long lived tree of depth %d\t check: %ld\n", max_depth, item_check(long_lived));
    drop_tree(long_lived);

    bench_report(start);
    return 0;
}
