/*
 * Stress for typed objects and precise roots: four threads build and mutate
 * binary trees whose nodes are, at random, typed by a pointer map, typed by
 * a trace function, or untyped (all in one size class, so spans mix types),
 * while cycles run back to back. Each thread keeps its trees in a
 * GC_TYPE_RESCAN "VM stack" written with plain stores (no barrier), and some
 * in a malloc'ed array visited only by a root callback, also written with
 * plain stores. Every tree is checked (shape and values) when taken out and
 * at the end; with GODEBUG=gccheckmark=1,clobberfree=1 a lost node shows as
 * a checkmark abort or a clobbered value.
 *
 * Usage: stress_types [seconds]   (default 10)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tricolor.h>

#define THREADS     4
#define STACK_SLOTS 256
#define ROOT_SLOTS  32
#define DEPTH       5

typedef struct node {
    struct node *left, *right; /* words 0 and 1: pointers */
    uintptr_t depth;           /* word 2 */
    uintptr_t tag;             /* word 3: a checksum, never a pointer */
} node;

static uint32_t map_type, trace_type, stack_type;

static void node_trace(void *obj, size_t size, gc_visit_fn visit, void *ctx)
{
    (void)size;
    node *n = obj;
    visit((void **)&n->left, ctx);
    visit((void **)&n->right, ctx);
}

/* Each thread's root-callback slots (malloc memory: not scanned). */
static node **root_slots[THREADS];

static void roots(gc_visit_fn visit, void *ctx, void *data)
{
    (void)data;
    for (int t = 0; t < THREADS; t++)
        if (root_slots[t])
            for (int i = 0; i < ROOT_SLOTS; i++)
                visit((void **)&root_slots[t][i], ctx);
}

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static uintptr_t tag_of(uintptr_t depth)
{
    return 0x7a6b0000u + depth * 7;
}

static node *build(int depth, unsigned *seed)
{
    node *n;
    switch (next_rand(seed) % 3) {
    case 0:
        n = gc_alloc_typed(map_type, sizeof *n);
        break;
    case 1:
        n = gc_alloc_typed(trace_type, sizeof *n);
        break;
    default:
        n = gc_alloc(sizeof *n);
        break;
    }
    n->depth = (uintptr_t)depth;
    n->tag = tag_of((uintptr_t)depth);
    if (depth > 0) {
        gc_write_ptr(&n->left, build(depth - 1, seed));
        gc_write_ptr(&n->right, build(depth - 1, seed));
    }
    return n;
}

static void check(const node *n, int depth, const char *where)
{
    if (n == NULL || n->depth != (uintptr_t)depth || n->tag != tag_of((uintptr_t)depth)) {
        fprintf(stderr, "stress_types: a tree from the %s is broken at depth %d (node %p)\n", where,
                depth, (const void *)n);
        abort();
    }
    if (depth > 0) {
        check(n->left, depth - 1, where);
        check(n->right, depth - 1, where);
    }
}

/* Replaces a random subtree of n by a new one of the same depth. */
static void mutate(node *n, int depth, unsigned *seed)
{
    while (depth > 1 && next_rand(seed) % 3 != 0) {
        n = next_rand(seed) & 1 ? n->left : n->right;
        depth--;
    }
    if (depth > 0)
        gc_write_ptr(next_rand(seed) & 1 ? &n->left : &n->right, build(depth - 1, seed));
}

static volatile int stop;

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    gc_thread_register();
    unsigned seed = 12345u + (unsigned)id * 7919u;
    node **stack = gc_alloc_typed(stack_type, STACK_SLOTS * sizeof(void *));
    node **slots = calloc(ROOT_SLOTS, sizeof *slots);
    __atomic_store_n(&root_slots[id], slots, __ATOMIC_RELEASE);
    long rounds = 0;
    while (!stop) {
        unsigned r = next_rand(&seed);
        int i = (int)(r % STACK_SLOTS);
        switch (r % 7) {
        case 0:
        case 1: /* push onto the VM stack: a plain store */
            stack[i] = build(DEPTH, &seed);
            break;
        case 2: /* move between the VM stack and the roots: plain stores */
            if (stack[i]) {
                slots[i % ROOT_SLOTS] = stack[i];
                stack[i] = NULL;
            }
            break;
        case 3:
            if (slots[i % ROOT_SLOTS]) {
                stack[i] = slots[i % ROOT_SLOTS];
                slots[i % ROOT_SLOTS] = NULL;
            }
            break;
        case 4:
            if (stack[i]) {
                check(stack[i], DEPTH, "VM stack");
                mutate(stack[i], DEPTH, &seed);
            }
            break;
        case 5:
            if (slots[i % ROOT_SLOTS])
                check(slots[i % ROOT_SLOTS], DEPTH, "root callback");
            break;
        default:
            gc_alloc(64 + r % 512); /* garbage */
            break;
        }
        rounds++;
    }
    for (int k = 0; k < STACK_SLOTS; k++)
        if (stack[k])
            check(stack[k], DEPTH, "VM stack");
    for (int k = 0; k < ROOT_SLOTS; k++)
        if (slots[k])
            check(slots[k], DEPTH, "root callback");
    gc_thread_unregister();
    return (void *)rounds;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    gc_init(NULL);
    static const uint64_t node_map[] = {0x3};
    gc_type t1 = {.name = "node", .ptrmap = node_map, .ptrmap_words = 4};
    gc_type t2 = {.name = "traced node", .trace = node_trace};
    static const uint64_t all[] = {0x1};
    gc_type t3 = {.name = "vm stack", .ptrmap = all, .ptrmap_words = 1, .flags = GC_TYPE_RESCAN};
    map_type = gc_register_type(&t1);
    trace_type = gc_register_type(&t2);
    stack_type = gc_register_type(&t3);
    int h = gc_add_root_callback(roots, NULL);
    if (!map_type || !trace_type || !stack_type || h < 0) {
        fprintf(stderr, "stress_types: registration failed\n");
        return 1;
    }
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    struct timespec tick = {0, 50 * 1000 * 1000}, t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        nanosleep(&tick, NULL);
        gc_collect();
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    stop = 1;
    long rounds = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        rounds += (long)(intptr_t)r;
    }
    gc_memstats ms;
    gc_read_memstats(&ms);
    gc_remove_root_callback(h);
    printf("stress_types: %ld rounds, %u cycles, no tree broken\n", rounds, ms.num_gc);
    return 0;
}
