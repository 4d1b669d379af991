/*
 * gcbench.c: the Ellis/Kovac/Boehm "GCBench", written once against bench/contender.h and built
 * as gcbench_tricolor and gcbench_boehm (bench/go/gcbench.go is the same program in Go).
 *
 * What it measures: collector throughput while a fixed amount of data stays live. It stretches
 * the heap with a depth-18 tree, keeps a depth-16 tree and an array of 500000 doubles (allocated
 * pointer-free) alive to the end, then for depths 4, 6, ..., 16 builds enough short-lived trees
 * to allocate about as much as two depth-18 trees, first top-down (a node is allocated, then its
 * children are stored into it: every store is a pointer store into an existing heap object, so
 * this is where a write barrier costs) and then bottom-up (children first). One mutator thread.
 *
 * Output on stdout: the program's traditional lines, including per-phase timings ("took N
 * msec"); apart from those timings it is the same for every contender. At the end the
 * long-lived tree is counted and the array checked; a mismatch prints "Failed" on stderr and
 * exits 1 (it means the collector freed or overwrote live data). Then one line on stderr:
 *
 *   result: name=<contender> wall_ms=<ms> peak_rss_kb=<ru_maxrss> gcs=<collections>
 *
 * wall_ms covers the whole run, collector start-up included. Compare it only with the other
 * contenders' figures from the same run of bench/run.sh.
 */
#include "contender.h"

enum {
    kStretchTreeDepth = 18,
    kLongLivedTreeDepth = 16,
    kArraySize = 500000,
    kMinTreeDepth = 4,
    kMaxTreeDepth = 16,
};

typedef struct node {
    struct node *left;
    struct node *right;
    int i, j; /* payload, never read: it gives the node the traditional 24 bytes */
} node;

static node *new_node(node *left, node *right)
{
    node *n = alloc_node(sizeof *n);
    store_ptr(&n->left, left);
    store_ptr(&n->right, right);
    return n;
}

/* Nodes in a complete binary tree of the given depth. */
static long tree_size(int depth)
{
    return (1L << (depth + 1)) - 1;
}

/* How many trees of this depth allocate about as much as two stretch trees. */
static long num_iters(int depth)
{
    return 2 * tree_size(kStretchTreeDepth) / tree_size(depth);
}

/* Top-down: give an existing node two fresh children, then recurse into them. */
static void populate(int depth, node *n)
{
    if (depth <= 0)
        return;
    depth--;
    store_ptr(&n->left, new_node(NULL, NULL));
    store_ptr(&n->right, new_node(NULL, NULL));
    populate(depth, n->left);
    populate(depth, n->right);
}

/* Bottom-up: build both subtrees, then the node that holds them. */
static node *make_tree(int depth)
{
    if (depth <= 0)
        return new_node(NULL, NULL);
    node *left = make_tree(depth - 1);
    node *right = make_tree(depth - 1);
    return new_node(left, right);
}

static long count_nodes(const node *n)
{
    if (n == NULL)
        return 0;
    return 1 + count_nodes(n->left) + count_nodes(n->right);
}

static void time_construction(int depth)
{
    long iters = num_iters(depth);
    printf("Creating %ld trees of depth %d\n", iters, depth);

    double t0 = bench_now_ms();
    for (long i = 0; i < iters; i++) {
        node *temp = new_node(NULL, NULL);
        populate(depth, temp);
    }
    double t1 = bench_now_ms();
    printf("\tTop down construction took %.0f msec\n", t1 - t0);

    for (long i = 0; i < iters; i++)
        (void)make_tree(depth);
    double t2 = bench_now_ms();
    printf("\tBottom up construction took %.0f msec\n", t2 - t1);
}

int main(void)
{
    double start = bench_now_ms();
    contender_init();
    pause_watch_start();

    printf("Garbage Collector Test\n");
    printf(" Live storage will peak at %ld bytes.\n\n",
           (long)(2 * sizeof(node) * (size_t)tree_size(kLongLivedTreeDepth) +
                  sizeof(double) * kArraySize));
    printf(" Stretching memory with a binary tree of depth %d\n", kStretchTreeDepth);
    double t_start = bench_now_ms();

    /* Stretch the heap, then drop the tree. */
    (void)make_tree(kStretchTreeDepth);

    printf(" Creating a long-lived binary tree of depth %d\n", kLongLivedTreeDepth);
    node *long_lived = new_node(NULL, NULL);
    populate(kLongLivedTreeDepth, long_lived);

    printf(" Creating a long-lived array of %d doubles\n", kArraySize);
    double *array = alloc_leaf_data(sizeof(double) * kArraySize);
    for (int i = 0; i < kArraySize / 2; i++)
        array[i] = 1.0 / (double)i;

    for (int depth = kMinTreeDepth; depth <= kMaxTreeDepth; depth += 2) {
        time_construction(depth);
        pause_watch_sample();
    }

    /* Use the long-lived data, so it is live to here, and prove the collector kept it. */
    int ok = count_nodes(long_lived) == tree_size(kLongLivedTreeDepth);
    for (int i = 1; ok && i < kArraySize / 2; i++)
        ok = array[i] == 1.0 / (double)i;
    if (!ok) {
        fprintf(stderr, "Failed: the long-lived tree or array was damaged\n");
        return 1;
    }

    printf("Completed in %.0f msec\n", bench_now_ms() - t_start);
    bench_report(start);
    return 0;
}
