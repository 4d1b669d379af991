/*
 * stress_barrier: pointers moving between heap objects while marking runs.
 *
 * The write barrier exists for this: a mutator that takes a pointer out of
 * one heap object and stores it into another, while a cycle is marking,
 * must never let the collector miss the object. Each thread owns a table of
 * heap-allocated "boxes"; each box holds a slot per payload, and every
 * payload (a heap object carrying its id and a checksum of it, and a chain
 * pointer to a second payload) is referenced from exactly one slot. Threads
 * constantly swap slots between boxes, rotate chains, and pass payloads to
 * the next thread through a shared mailbox object; only gc_write_ptr stores
 * heap pointers into heap objects. Cycles run back to back (GOGC=5 plus
 * gc_collect calls). Every payload reached is checked; at the end every
 * payload must still be there exactly once. Run under
 * GODEBUG=gccheckmark=1,clobberfree=1: a missed object is either a
 * checkmark abort or a clobbered (0xdeadbeef) payload. With "shade" or
 * "rescan", every store is a plain store followed by gc_shade(value) or
 * gc_rescan(object), as a runtime with after-the-store barriers makes them.
 *
 *   stress_barrier [seconds [shade|rescan]]
 *       prints "stress_barrier: N cycles, M moves, 0 errors"
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tricolor.h>

#define THREADS             4
#define BOXES               64
#define SLOTS               16
#define PAYLOADS_PER_THREAD (BOXES * SLOTS)

struct payload {
    uint64_t id;
    uint64_t check;
    struct payload *chain; /* a second payload hanging off this one, or NULL */
};

struct box {
    struct payload *slot[SLOTS];
};

struct table {
    struct box *boxes[BOXES];
};

/* The mailbox: a heap object reachable from a global. */
struct mailbox {
    struct payload *item[THREADS];
};

static struct mailbox *mailbox;
static pthread_mutex_t mailbox_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop;
static long errors, moves[THREADS];

static uint64_t checksum(uint64_t id)
{
    return id * 0x9E3779B97F4A7C15ull ^ 0x5bd1e995u;
}

static void verify(const struct payload *p)
{
    for (; p; p = p->chain) {
        if (p->check != checksum(p->id) || (uint32_t)p->id == 0xdeadbeefu) {
            fprintf(stderr, "stress_barrier: payload %p is corrupt (id %llx check %llx)\n",
                    (void *)p, (unsigned long long)p->id, (unsigned long long)p->check);
            __atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
            return;
        }
    }
}

static struct payload *new_payload(uint64_t id)
{
    struct payload *p = gc_alloc(sizeof *p);
    p->id = id;
    p->check = checksum(id);
    return p;
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static long chain_length(const struct payload *p)
{
    long n = 0;
    for (; p; p = p->chain)
        n++;
    return n;
}

static long count(const struct table *t)
{
    long n = 0;
    for (int b = 0; b < BOXES; b++)
        for (int s = 0; s < SLOTS; s++)
            for (const struct payload *p = t->boxes[b]->slot[s]; p; p = p->chain)
                n++;
    return n;
}

/* How heap pointers are stored (argv[2]): through gc_write_ptr, or as a
 * runtime with an after-the-store barrier does, a plain store followed by
 * gc_shade of the stored value or gc_rescan of the object written. */
enum store_mode { STORE_WRITE_PTR, STORE_THEN_SHADE, STORE_THEN_RESCAN };
static enum store_mode store_mode;

static void store(void *slot, void *value)
{
    switch (store_mode) {
    case STORE_WRITE_PTR:
        gc_write_ptr(slot, value);
        break;
    case STORE_THEN_SHADE:
        *(void *volatile *)slot = value;
        gc_shade(value);
        break;
    case STORE_THEN_RESCAN:
        *(void *volatile *)slot = value;
        gc_rescan(gc_base(slot));
        break;
    }
}

struct worker {
    int index;
    long payloads; /* held at the end */
};

static void *mutator(void *arg)
{
    struct worker *w = arg;
    gc_thread_register();
    uint64_t seed = 0x1234567 + (uint64_t)w->index * 7919;
    struct table *t = gc_alloc(sizeof *t);
    for (int b = 0; b < BOXES; b++) {
        store(&t->boxes[b], gc_alloc(sizeof(struct box)));
        for (int s = 0; s < SLOTS; s++)
            store(&t->boxes[b]->slot[s],
                  new_payload(((uint64_t)w->index << 32) | (uint64_t)(b * SLOTS + s)));
    }
    long held = PAYLOADS_PER_THREAD;
    while (!stop) {
        uint64_t r = rng(&seed);
        struct box *a = t->boxes[r % BOXES], *b = t->boxes[(r >> 8) % BOXES];
        int i = (int)((r >> 16) % SLOTS), j = (int)((r >> 24) % SLOTS);
        struct payload *p = a->slot[i], *q = b->slot[j];
        switch ((r >> 32) % 4) {
        case 0: /* swap two slots */
            store(&a->slot[i], q);
            store(&b->slot[j], p);
            break;
        case 1: /* hang q's chain under p, if p has room */
            if (p && q && p != q && p->chain == NULL) {
                store(&p->chain, q);
                store(&b->slot[j], NULL);
            }
            break;
        case 2: /* unhang p's chain into an empty slot */
            if (p && p->chain && q == NULL) {
                store(&b->slot[j], p->chain);
                store(&p->chain, NULL);
            }
            break;
        case 3: /* post p to the next thread, take what was posted to us */
            pthread_mutex_lock(&mailbox_lock);
            {
                int next = (w->index + 1) % THREADS;
                struct payload *in = mailbox->item[w->index];
                if (p && mailbox->item[next] == NULL) {
                    store(&mailbox->item[next], p);
                    store(&a->slot[i], NULL);
                    held -= chain_length(p);
                    p = NULL;
                }
                if (in && a->slot[i] == NULL) {
                    store(&a->slot[i], in);
                    store(&mailbox->item[w->index], NULL);
                    held += chain_length(in);
                }
            }
            pthread_mutex_unlock(&mailbox_lock);
            break;
        }
        if ((r & 0xff) == 0) {
            /* Churn: garbage that keeps the cycles coming. */
            for (int k = 0; k < 64; k++)
                new_payload(~0ull);
        }
        if ((r & 0xfff) == 1)
            for (int b2 = 0; b2 < BOXES; b2++)
                for (int s = 0; s < SLOTS; s++)
                    verify(t->boxes[b2]->slot[s]);
        moves[w->index]++;
    }
    for (int b = 0; b < BOXES; b++)
        for (int s = 0; s < SLOTS; s++)
            verify(t->boxes[b]->slot[s]);
    w->payloads = count(t);
    if (w->payloads != held) {
        fprintf(stderr, "stress_barrier: thread %d holds %ld payloads, expected %ld\n", w->index,
                w->payloads, held);
        __atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
    }
    gc_thread_unregister();
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    if (argc > 2 && strcmp(argv[2], "shade") == 0)
        store_mode = STORE_THEN_SHADE;
    else if (argc > 2 && strcmp(argv[2], "rescan") == 0)
        store_mode = STORE_THEN_RESCAN;
    else if (argc > 2) {
        fprintf(stderr, "usage: stress_barrier [seconds [shade|rescan]]\n");
        return 2;
    }
    if (gc_init(NULL) != 0)
        return 1;
    gc_set_percent(5);
    mailbox = gc_alloc(sizeof *mailbox);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i].index = i;
        pthread_create(&th[i], NULL, mutator, &w[i]);
    }
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        struct timespec nap = {0, 20 * 1000 * 1000};
        nanosleep(&nap, NULL);
        gc_collect();
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    stop = 1;
    long total = 0, total_moves = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        total += w[i].payloads;
        total_moves += moves[i];
    }
    for (int i = 0; i < THREADS; i++)
        for (struct payload *p = mailbox->item[i]; p; p = p->chain) {
            verify(p);
            total++;
        }
    if (total != (long)THREADS * PAYLOADS_PER_THREAD) {
        fprintf(stderr, "stress_barrier: %ld payloads in all, expected %d\n", total,
                THREADS * PAYLOADS_PER_THREAD);
        errors++;
    }
    gc_memstats m;
    gc_read_memstats(&m);
    printf("stress_barrier: %u cycles, %ld moves, %ld errors\n", m.num_gc, total_moves, errors);
    return errors != 0;
}
