/*
 * stress: binary trees under constant mutation while cycles run back to back.
 *
 * Four registered mutator threads each own a forest of trees, held in a
 * heap-allocated array that only the thread's stack points to. Every node
 * carries an id and a checksum of it, checked whenever the node is visited,
 * and for every tree the program keeps its expected shape (node count and a
 * sum of hashed ids) outside the heap, so a freed node that was handed out
 * again is noticed as well as a clobbered one. The mutators, at random:
 *  - verify a whole tree;
 *  - build a new tree and replace an old one (which becomes garbage);
 *  - detach a subtree into a local, allocate garbage for a while (cycles
 *    start meanwhile), check the subtree, and reattach it under another
 *    tree, their own or one of the global trees;
 *  - replace a subtree with a freshly built one;
 *  - swap one of their trees with one of the global trees, which live in
 *    plain global pointers written without a barrier (globals are roots);
 *  - allocate garbage, scannable and noscan; now and then call gc_collect().
 * Every object comes from gc_alloc or gc_alloc_noscan; every store of a heap
 * pointer into a heap object goes through gc_write_ptr. A fifth registered
 * thread builds a tree, keeps the only reference to it in a local and
 * blocks in read() on a pipe for the whole run; at the end the main thread
 * writes to the pipe and the thread checks its tree.
 *
 * Cycles are frequent: GOGC=10 (gc_set_percent(10)) plus a gc_collect()
 * from the main thread every 20 ms. Meant to run under
 * GODEBUG=gccheckmark=1,clobberfree=1: an object the collector missed is a
 * checkmark abort, a node freed while reachable shows 0xdeadbeef or a wrong
 * shape. Any error makes the exit status non-zero.
 *
 *   stress [seconds]    default 20; ends with "stress: N cycles, M errors"
 *   stress SECONDS cooperative
 *
 * "cooperative" runs the same with gc_options.cooperative = 1: every thread
 * polls gc_safepoint() (per operation and per node walked), and every wait
 * of the program's own (the reader's read, the locks of the global trees,
 * the main thread's sleeps and joins) is a blocking region.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#define MUTATORS    4
#define TREES       8    /* per mutator */
#define GLOBALS     8    /* trees in global pointers */
#define MAX_NODES   2048 /* a tree grown past this is replaced */
#define MAX_WALK    (1u << 22)
#define SHOW_ERRORS 20

#define CLOBBER64 0xdeadbeefdeadbeefull

/* gc_options.cooperative (main's "cooperative" argument). */
static int cooperative;

/* The program's own waits: in cooperative mode, inside a blocking region
 * (a stop would otherwise wait for a thread that waits for a stopped one). */
static void wait_begin(void)
{
    if (cooperative)
        gc_enter_blocking();
}

static void wait_end(void)
{
    if (cooperative)
        gc_leave_blocking();
}

struct node {
    struct node *left, *right;
    uint64_t id;
    uint64_t check;
};

/* What a tree should contain: its node count and the sum of mix(id). */
struct shape {
    uint64_t count, sum;
};

static uint64_t checksum(uint64_t id)
{
    return id * 0x9E3779B97F4A7C15ull ^ 0x6a09e667f3bcc909ull;
}

static uint64_t mix(uint64_t id)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    return id ^ (id >> 29);
}

static void shape_add(struct shape *s, const struct shape *t)
{
    s->count += t->count;
    s->sum += t->sum;
}

static void shape_sub(struct shape *s, const struct shape *t)
{
    s->count -= t->count;
    s->sum -= t->sum;
}

/* ---- Errors -------------------------------------------------------------- */

static long errors;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    long n = __atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
    if (n > SHOW_ERRORS)
        return;
    va_list ap;
    va_start(ap, fmt);
    flockfile(stderr);
    fputs("stress: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
    va_end(ap);
}

/* ---- Per-thread state ---------------------------------------------------- */

struct mutator {
    int index;
    uint64_t rng;
    uint64_t next_id;
    struct shape shape[TREES];
    uint64_t ops, visited;
};

static uint64_t rnd(struct mutator *m)
{
    uint64_t x = m->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    m->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void mutator_init(struct mutator *m, int index)
{
    m->index = index;
    m->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(index + 1) ^ (uint64_t)time(NULL);
    if (m->rng == 0)
        m->rng = 1;
    /* The top byte names the thread: no id is ever 0xdeadbeef... */
    m->next_id = (uint64_t)(index + 1) << 56;
}

/* ---- Nodes and trees ----------------------------------------------------- */

/* Is n intact? Reports it if not; its children are not to be followed. */
static int node_ok(const struct node *n, const char *where)
{
    const uint64_t *w = (const uint64_t *)n;
    int clobbered = 0;
    for (int i = 0; i < 4; i++)
        clobbered |= w[i] == CLOBBER64 || (i >= 2 && (uint32_t)w[i] == 0xdeadbeefu);
    if (clobbered) {
        fail("%s: node %p holds the clobberfree pattern (freed while reachable): "
             "%016llx %016llx %016llx %016llx",
             where, (const void *)n, (unsigned long long)w[0], (unsigned long long)w[1],
             (unsigned long long)w[2], (unsigned long long)w[3]);
        return 0;
    }
    if (n->check != checksum(n->id)) {
        fail("%s: node %p has id %016llx but checksum %016llx, want %016llx", where,
             (const void *)n, (unsigned long long)n->id, (unsigned long long)n->check,
             (unsigned long long)checksum(n->id));
        return 0;
    }
    return 1;
}

static struct node *new_node(struct mutator *m)
{
    struct node *n = gc_alloc(sizeof *n);
    if (n->left || n->right || n->id || n->check)
        fail("gc_alloc returned node %p not zeroed", (void *)n);
    n->id = m->next_id++;
    n->check = checksum(n->id);
    return n;
}

/* A tree of at most depth levels; with prune, each child is left out with
 * probability 1/8. Adds what it built to s. */
static struct node *build(struct mutator *m, int depth, int prune, struct shape *s)
{
    struct node *n = new_node(m);
    s->count++;
    s->sum += mix(n->id);
    if (depth > 1) {
        if (!prune || rnd(m) % 8) {
            struct node *l = build(m, depth - 1, prune, s);
            gc_write_ptr(&n->left, l);
        }
        if (!prune || rnd(m) % 8) {
            struct node *r = build(m, depth - 1, prune, s);
            gc_write_ptr(&n->right, r);
        }
    }
    return n;
}

/* Visits every node, checking each; returns 0 on a bad node. */
static int walk(const struct node *n, struct shape *s, const char *where)
{
    while (n) {
        gc_safepoint();
        if (!node_ok(n, where))
            return 0;
        if (++s->count > MAX_WALK) {
            fail("%s: more than %u nodes: the tree has a cycle", where, MAX_WALK);
            return 0;
        }
        s->sum += mix(n->id);
        if (!walk(n->left, s, where))
            return 0;
        n = n->right;
    }
    return 1;
}

/* Checks a whole tree against its expected shape. */
static void verify(const struct node *root, const struct shape *want, const char *where,
                   uint64_t *visited)
{
    struct shape got = {0, 0};
    if (!walk(root, &got, where))
        return;
    if (visited)
        *visited += got.count;
    if (got.count != want->count || got.sum != want->sum)
        fail("%s: tree %p has %llu nodes (id sum %016llx), want %llu (%016llx)", where,
             (const void *)root, (unsigned long long)got.count, (unsigned long long)got.sum,
             (unsigned long long)want->count, (unsigned long long)want->sum);
}

/* A random node of the tree with a non-NULL child, and which child; NULL
 * when the walk ends at a leaf first. */
static struct node *pick_parent(struct mutator *m, struct node *n, int *side, const char *where)
{
    while (n) {
        if (!node_ok(n, where))
            return NULL;
        struct node *kids[2] = {n->left, n->right};
        int s = (int)(rnd(m) & 1);
        if (kids[s] == NULL)
            s = 1 - s;
        if (kids[s] == NULL)
            return NULL;
        if (rnd(m) % 3 == 0) {
            *side = s;
            return n;
        }
        n = kids[s];
    }
    return NULL;
}

/* A random node with a NULL child, and which one. */
static struct node *pick_free_slot(struct mutator *m, struct node *n, int *side, const char *where)
{
    for (;;) {
        if (!node_ok(n, where))
            return NULL;
        int s = (int)(rnd(m) & 1);
        struct node *kid = s ? n->right : n->left;
        if (kid == NULL) {
            *side = s;
            return n;
        }
        n = kid;
    }
}

static struct node **child_slot(struct node *n, int side)
{
    return side ? &n->right : &n->left;
}

/* ---- Global trees -------------------------------------------------------- */

static struct node *global_tree[GLOBALS]; /* plain stores: globals are roots */
static struct shape global_shape[GLOBALS];
static pthread_mutex_t global_lock[GLOBALS];

/* The lock of global tree g; its holder may be stopped at a safepoint. */
static void lock_global(int g)
{
    if (cooperative && pthread_mutex_trylock(&global_lock[g]) == 0)
        return;
    wait_begin();
    pthread_mutex_lock(&global_lock[g]);
    wait_end();
}

static volatile int stop;

/* ---- Mutator operations -------------------------------------------------- */

/* Allocates garbage: a tree of up to depth levels (checked, then dropped), a
 * noscan buffer, and now and then a large object. */
static void churn(struct mutator *m, int depth)
{
    struct shape s = {0, 0};
    struct node *t = build(m, depth, 1, &s);
    char *buf = gc_alloc_noscan(64 + rnd(m) % 4000);
    buf[0] = 1;
    if (rnd(m) % 64 == 0)
        (void)gc_alloc(40000 + rnd(m) % 100000); /* a large object now and then */
    verify(t, &s, "garbage tree", &m->visited);
}

static void replace_tree(struct mutator *m, struct node **forest, int i)
{
    verify(forest[i], &m->shape[i], "replaced tree", &m->visited);
    struct shape s = {0, 0};
    struct node *t = build(m, 3 + (int)(rnd(m) % 8), 1, &s);
    gc_write_ptr(&forest[i], t);
    m->shape[i] = s;
}

static void detach_reattach(struct mutator *m, struct node **forest, int i)
{
    int side;
    struct node *p = pick_parent(m, forest[i], &side, "detach");
    if (p == NULL)
        return;
    struct node *sub = *child_slot(p, side);
    struct shape ss = {0, 0};
    if (!walk(sub, &ss, "detached subtree"))
        return;
    gc_write_ptr(child_slot(p, side), NULL);
    shape_sub(&m->shape[i], &ss);

    /* Only this local holds the subtree now. */
    for (int k = (int)(rnd(m) % 4); k >= 0; k--)
        churn(m, 5 + (int)(rnd(m) % 4));
    verify(sub, &ss, "detached subtree, after allocating", &m->visited);

    if (rnd(m) % 4 == 0) {
        int g = (int)(rnd(m) % GLOBALS);
        lock_global(g);
        struct node *q = pick_free_slot(m, global_tree[g], &side, "attach (global)");
        if (q != NULL) {
            gc_write_ptr(child_slot(q, side), sub);
            shape_add(&global_shape[g], &ss);
            if (global_shape[g].count > MAX_NODES) {
                struct shape s = {0, 0};
                global_tree[g] = build(m, 6, 1, &s);
                global_shape[g] = s;
            }
        }
        pthread_mutex_unlock(&global_lock[g]);
        return;
    }
    int j = (int)(rnd(m) % TREES);
    struct node *q = pick_free_slot(m, forest[j], &side, "attach");
    if (q == NULL)
        return;
    gc_write_ptr(child_slot(q, side), sub);
    shape_add(&m->shape[j], &ss);
    if (m->shape[j].count > MAX_NODES)
        replace_tree(m, forest, j);
}

static void replace_subtree(struct mutator *m, struct node **forest, int i)
{
    int side;
    struct node *p = pick_parent(m, forest[i], &side, "replace subtree");
    if (p == NULL)
        return;
    struct shape old = {0, 0}, fresh = {0, 0};
    if (!walk(*child_slot(p, side), &old, "replaced subtree"))
        return;
    struct node *t = build(m, 1 + (int)(rnd(m) % 6), 1, &fresh);
    gc_write_ptr(child_slot(p, side), t);
    shape_sub(&m->shape[i], &old);
    shape_add(&m->shape[i], &fresh);
    if (m->shape[i].count > MAX_NODES)
        replace_tree(m, forest, i);
}

static void swap_with_global(struct mutator *m, struct node **forest, int i)
{
    int g = (int)(rnd(m) % GLOBALS);
    lock_global(g);
    struct node *t = global_tree[g];
    struct shape ts = global_shape[g];
    verify(t, &ts, "global tree", &m->visited);
    global_tree[g] = forest[i];
    global_shape[g] = m->shape[i];
    pthread_mutex_unlock(&global_lock[g]);
    gc_write_ptr(&forest[i], t);
    m->shape[i] = ts;
}

static struct mutator mutators[MUTATORS];

static void *mutator_main(void *arg)
{
    struct mutator *m = arg;
    if (gc_thread_register() != 0) {
        fail("mutator %d: gc_thread_register failed", m->index);
        return NULL;
    }
    /* The forest: a heap object only this thread's stack points to. */
    struct node **forest = gc_alloc(TREES * sizeof *forest);
    for (int i = 0; i < TREES; i++) {
        struct node *t = build(m, 6, 1, &m->shape[i]);
        gc_write_ptr(&forest[i], t);
    }
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        int i = (int)(rnd(m) % TREES);
        unsigned op = (unsigned)(rnd(m) % 100);
        if (op < 20)
            verify(forest[i], &m->shape[i], "tree", &m->visited);
        else if (op < 35)
            replace_tree(m, forest, i);
        else if (op < 60)
            detach_reattach(m, forest, i);
        else if (op < 75)
            replace_subtree(m, forest, i);
        else if (op < 85)
            swap_with_global(m, forest, i);
        else
            churn(m, 4 + (int)(rnd(m) % 6));
        if (rnd(m) % 2000 == 0)
            gc_collect();
        gc_safepoint();
        m->ops++;
    }
    for (int i = 0; i < TREES; i++)
        verify(forest[i], &m->shape[i], "tree at the end", &m->visited);
    gc_thread_unregister();
    return NULL;
}

/* ---- The blocked reader -------------------------------------------------- */

static struct {
    int fds[2];
    volatile int ready;
    struct shape shape;
    struct mutator m;
    int checked;
} reader;

static void *reader_main(void *arg)
{
    (void)arg;
    if (gc_thread_register() != 0) {
        fail("reader: gc_thread_register failed");
        return NULL;
    }
    /* The only reference to this tree is the local. */
    struct node *volatile root = build(&reader.m, 11, 0, &reader.shape);
    __atomic_store_n(&reader.ready, 1, __ATOMIC_RELEASE);
    char c;
    ssize_t n;
    wait_begin();
    do
        n = read(reader.fds[0], &c, 1);
    while (n < 0 && errno == EINTR);
    wait_end();
    if (n != 1)
        fail("reader: read returned %zd", n);
    verify(root, &reader.shape, "blocked reader's tree", NULL);
    reader.checked = 1;
    root = NULL;
    gc_thread_unregister();
    return NULL;
}

/* ---- Main ---------------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20;
    cooperative = argc > 2 && strcmp(argv[2], "cooperative") == 0;
    if (seconds <= 0 || (argc > 2 && !cooperative)) {
        fprintf(stderr, "usage: stress [seconds [cooperative]]\n");
        return 2;
    }
    gc_options opts = {.cooperative = cooperative};
    if (gc_init(&opts) != 0)
        return 1;
    gc_set_percent(10);

    struct mutator main_m;
    mutator_init(&main_m, MUTATORS + 1);
    for (int g = 0; g < GLOBALS; g++) {
        pthread_mutex_init(&global_lock[g], NULL);
        global_tree[g] = build(&main_m, 7, 1, &global_shape[g]);
    }

    mutator_init(&reader.m, MUTATORS);
    if (pipe(reader.fds) != 0) {
        perror("stress: pipe");
        return 1;
    }
    pthread_t reader_thread, threads[MUTATORS];
    if (pthread_create(&reader_thread, NULL, reader_main, NULL) != 0) {
        perror("stress: pthread_create");
        return 1;
    }
    while (!__atomic_load_n(&reader.ready, __ATOMIC_ACQUIRE)) {
        wait_begin();
        usleep(1000);
        wait_end();
    }
    for (int i = 0; i < MUTATORS; i++) {
        mutator_init(&mutators[i], i);
        if (pthread_create(&threads[i], NULL, mutator_main, &mutators[i]) != 0) {
            perror("stress: pthread_create");
            return 1;
        }
    }

    double end = now() + seconds;
    unsigned collects = 0;
    while (now() < end && __atomic_load_n(&errors, __ATOMIC_RELAXED) <= 100) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        wait_begin();
        nanosleep(&ts, NULL);
        wait_end();
        gc_collect();
        collects++;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    uint64_t ops = 0, visited = 0;
    for (int i = 0; i < MUTATORS; i++) {
        wait_begin();
        pthread_join(threads[i], NULL);
        wait_end();
        ops += mutators[i].ops;
        visited += mutators[i].visited;
    }
    for (int g = 0; g < GLOBALS; g++)
        verify(global_tree[g], &global_shape[g], "global tree at the end", &visited);

    /* One more cycle with the reader still blocked, then wake it. */
    gc_collect();
    if (write(reader.fds[1], "x", 1) != 1)
        fail("write to the reader's pipe failed");
    wait_begin();
    pthread_join(reader_thread, NULL);
    wait_end();
    if (!reader.checked)
        fail("the blocked reader did not check its tree");
    close(reader.fds[0]);
    close(reader.fds[1]);

    gc_memstats ms;
    gc_read_memstats(&ms);
    printf("stress: %.0f s, %llu operations, %llu nodes checked, %llu objects allocated, "
           "%u forced collections\n",
           seconds, (unsigned long long)ops, (unsigned long long)visited,
           (unsigned long long)ms.mallocs, collects);
    printf("stress: %u cycles, %ld errors\n", ms.num_gc, errors);
    return errors == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
