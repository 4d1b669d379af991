/*
 * A weak table cleared by a weak callback while four threads insert into
 * it and look entries up, with cycles running back to back: no entry may
 * ever point to a freed object.
 *
 * The table is malloc'd memory the collector does not scan, so its
 * entries are weak: an object lives while some thread holds it (each
 * thread keeps its last RING inserts in a registered root range) and dies
 * after. The weak callback (phase 0) clears every slot whose object
 * gc_is_live denies. A thread looking an entry up checks its canaries:
 * the object's and its child's words hold their own complemented
 * addresses, and the object the slot it was made for; a second child is
 * held only by an ephemeron keyed on the object (which holds the
 * ephemeron: the registry grows and drops ephemerons from four threads
 * while cycles mark). Run under
 * GODEBUG=gccheckmark=1,clobberfree=1, a freed object is clobbered, and
 * one reused holds another address or slot, so a slot left pointing at a
 * dead object is caught at its next lookup (or at the final check).
 *
 *   stress_weakcb SECONDS
 *
 * Fails (exit 1, or an abort naming what it found) on a bad canary, or if
 * fewer than MIN_CYCLES cycles or MIN_LOOKUPS successful lookups ran, or
 * if the callback never cleared anything (then the test proved nothing).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <tricolor.h>

#define NTHREADS    4
#define NSLOTS      4096
#define RING        64
#define MIN_CYCLES  50
#define MIN_LOOKUPS 100000

struct child {
    uintptr_t canary; /* ~(uintptr_t)this */
    uintptr_t pad[5];
};

struct obj {
    uintptr_t canary; /* ~(uintptr_t)this */
    uintptr_t slot;   /* the slot it was made for */
    struct child *child;
    gc_ephemeron *eph; /* this object -> a second child, held only so */
    uintptr_t pad[4];
};

static _Atomic(struct obj *) *slots; /* malloc'd: not a root */
static atomic_int stop;
static atomic_ulong lookups_found, cleared, inserts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(const struct obj *o, uintptr_t slot, const char *when)
{
    const struct child *c2 = o->eph ? gc_ephemeron_value(o->eph) : NULL;
    if (o->canary != ~(uintptr_t)o || o->slot != slot || o->child == NULL ||
        o->child->canary != ~(uintptr_t)o->child || c2 == NULL || c2->canary != ~(uintptr_t)c2 ||
        gc_ephemeron_key(o->eph) != o) {
        fprintf(stderr,
                "stress_weakcb: %s: slot %lu points to a freed object %p (canary %#lx, slot "
                "%lu, child %p)\n",
                when, (unsigned long)slot, (const void *)o, (unsigned long)o->canary,
                (unsigned long)o->slot, (void *)o->child);
        abort();
    }
}

/* The weak callback: with the world stopped, clear what is dead. */
static void clear_dead(int phase, void *data)
{
    (void)data;
    if (phase != 0)
        return;
    unsigned long n = 0;
    for (size_t i = 0; i < NSLOTS; i++) {
        struct obj *o = atomic_load_explicit(&slots[i], memory_order_relaxed);
        if (o != NULL && !gc_is_live(o)) {
            atomic_store_explicit(&slots[i], NULL, memory_order_relaxed);
            n++;
        }
    }
    atomic_fetch_add(&cleared, n);
}

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static struct obj *make(uintptr_t slot)
{
    struct obj *o = gc_alloc(sizeof *o);
    struct child *c = gc_alloc_noscan(sizeof *c);
    c->canary = ~(uintptr_t)c;
    o->canary = ~(uintptr_t)o;
    o->slot = slot;
    gc_write_ptr(&o->child, c);
    struct child *c2 = gc_alloc_noscan(sizeof *c2);
    c2->canary = ~(uintptr_t)c2;
    gc_write_ptr(&o->eph, gc_ephemeron_make(o, c2));
    return o;
}

static void *mutator(void *arg)
{
    gc_thread_register();
    uint64_t seed = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
    void **ring = calloc(RING, sizeof *ring);
    gc_add_roots(ring, ring + RING);
    unsigned long found = 0, made = 0;
    for (unsigned long n = 0; !atomic_load_explicit(&stop, memory_order_relaxed); n++) {
        uint64_t r = next_random(&seed);
        uintptr_t slot = (uintptr_t)(r >> 16) % NSLOTS;
        if (r % 8 == 0) {
            struct obj *o = make(slot);
            /* Half are held a while by this thread; the rest only by the
             * table, so they die at the next cycle. */
            if (r & 8)
                ring[made % RING] = o;
            made++;
            atomic_store(&slots[slot], o);
        } else {
            struct obj *o = atomic_load(&slots[slot]);
            if (o != NULL) {
                check(o, slot, "lookup");
                found++;
            }
        }
    }
    atomic_fetch_add(&lookups_found, found);
    atomic_fetch_add(&inserts, made);
    gc_remove_roots(ring, ring + RING);
    free(ring);
    gc_thread_unregister();
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    gc_init(NULL);
    slots = calloc(NSLOTS, sizeof *slots);
    int h = gc_add_weak_callback(clear_dead, NULL);
    if (h < 0)
        return 1;
    gc_memstats ms;
    gc_read_memstats(&ms);
    uint32_t gc0 = ms.num_gc;
    pthread_t th[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        pthread_create(&th[i], NULL, mutator, (void *)i);
    double end = now_s() + seconds;
    while (now_s() < end)
        gc_collect();
    atomic_store(&stop, 1);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    gc_collect();
    for (size_t i = 0; i < NSLOTS; i++) {
        struct obj *o = atomic_load(&slots[i]);
        if (o != NULL)
            check(o, i, "final check");
    }
    gc_read_memstats(&ms);
    unsigned cycles = ms.num_gc - gc0;
    printf("stress_weakcb: %u cycles, %lu inserts, %lu lookups found an entry, %lu entries "
           "cleared\n",
           cycles, (unsigned long)inserts, (unsigned long)lookups_found, (unsigned long)cleared);
    if (cycles < MIN_CYCLES || lookups_found < MIN_LOOKUPS || cleared == 0) {
        fprintf(stderr, "stress_weakcb: too little happened to prove anything\n");
        return 1;
    }
    gc_remove_weak_callback(h);
    return 0;
}
