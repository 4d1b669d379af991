/*
 * trees: a small multi-threaded program that keeps tricolor busy.
 *
 * Two registered threads build binary trees: each keeps one long-lived tree
 * and builds and drops short-lived ones, checking every tree it builds.
 * Run it with GODEBUG=gctrace=1 to watch the cycles go by:
 *
 *   GODEBUG=gctrace=1 ./build/samples/trees [seconds]
 *
 * At the end it prints what gc_read_memstats reports.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <tricolor.h>

struct node {
    struct node *left, *right;
    long id;
};

static struct node *build(int depth, long id)
{
    struct node *n = gc_alloc(sizeof *n);
    n->id = id;
    if (depth > 0) {
        gc_write_ptr(&n->left, build(depth - 1, 2 * id));
        gc_write_ptr(&n->right, build(depth - 1, 2 * id + 1));
    }
    return n;
}

/* Counts the nodes, checking each one's id against its position. */
static long check(const struct node *n, long id)
{
    if (n->id != id) {
        fprintf(stderr, "trees: node %ld found where %ld was expected\n", n->id, id);
        exit(1);
    }
    if (n->left == NULL)
        return 1;
    return 1 + check(n->left, 2 * id) + check(n->right, 2 * id + 1);
}

static double seconds = 3;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    long *trees = arg;
    gc_thread_register();
    struct node *long_lived = build(16, 1);
    double end = now() + seconds;
    while (now() < end) {
        struct node *t = build(10, 1);
        if (check(t, 1) != 2047) {
            fprintf(stderr, "trees: short-lived tree is broken\n");
            exit(1);
        }
        (*trees)++;
    }
    if (check(long_lived, 1) != (1 << 17) - 1) {
        fprintf(stderr, "trees: long-lived tree is broken\n");
        exit(1);
    }
    gc_thread_unregister();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        seconds = atof(argv[1]);
    if (gc_init(NULL) != 0)
        return 1;
    pthread_t threads[2];
    long trees[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, worker, &trees[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    gc_collect();

    gc_memstats m;
    gc_read_memstats(&m);
    printf("trees: built and checked %ld trees of 2047 nodes in %.1f s\n", trees[0] + trees[1],
           seconds);
    printf("cycles %u (forced %u), pause total %.3f ms, last pause %.3f ms\n", m.num_gc,
           m.num_forced_gc, m.pause_total_ns / 1e6, m.pause_ns[(m.num_gc + 255) % 256] / 1e6);
    printf("allocated %.1f MiB in %llu objects, %llu freed; heap in use %.1f MiB of %.1f MiB, "
           "sys %.1f MiB\n",
           m.total_alloc / 1048576.0, (unsigned long long)m.mallocs, (unsigned long long)m.frees,
           m.heap_inuse / 1048576.0, m.heap_sys / 1048576.0, m.sys / 1048576.0);
    return 0;
}
