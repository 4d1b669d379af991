/*
 * binary_trees.c: the Benchmarks Game "binary-trees" program, written once against
 * bench/contender.h and built as binary_trees_tricolor and binary_trees_boehm.
 *
 * What it measures: allocation and collection throughput on many short-lived small objects
 * (16-byte tree nodes) while one long-lived tree stays reachable. It builds a "stretch" tree of
 * depth max+1 and drops it, keeps a tree of depth max alive, then for depths 4, 6, ..., max
 * builds and walks 2^(max - depth + 4) trees of that depth. The mutator is one thread, for
 * every contender (bench/go/binary_trees.go is the same program in Go).
 *
 * Usage: binary_trees_<contender> [max_depth]    (default 21; smaller for a quick run)
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
static void register_node_type(void)
{
}
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

static int parse_depth(int argc, char **argv)
{
    if (argc < 2)
        return 21;
    char *end;
    errno = 0;
    long v = strtol(argv[1], &end, 10);
    if (errno != 0 || end == argv[1] || *end != '\0' || v < 0 || v > 30) {
        fprintf(stderr, "usage: %s [max_depth 0..30]\n", argv[0]);
        exit(2);
    }
    return (int)v;
}

int main(int argc, char **argv)
{
    double start = bench_now_ms();
    int n = parse_depth(argc, argv);
    contender_init();
    register_node_type();

    const int min_depth = 4;
    const int max_depth = n > min_depth + 2 ? n : min_depth + 2;

    {
        const int stretch_depth = max_depth + 1;
        node *stretch = bottom_up_tree(stretch_depth);
        printf("stretch tree of depth %d\t check: %ld\n", stretch_depth, item_check(stretch));
    }

    node *long_lived = bottom_up_tree(max_depth);

    for (int depth = min_depth; depth <= max_depth; depth += 2) {
        long iterations = 1L << (max_depth - depth + min_depth);
        long check = 0;
        for (long i = 0; i < iterations; i++)
            check += item_check(bottom_up_tree(depth));
        printf("%ld\t trees of depth %d\t check: %ld\n", iterations, depth, check);
    }

    printf("long lived tree of depth %d\t check: %ld\n", max_depth, item_check(long_lived));

    bench_report(start);
    return 0;
}
