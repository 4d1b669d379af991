/*
 * Weak pointers under fire: four registered threads dereference weak
 * pointers while strong references to their targets come and go, and the
 * main thread runs cycles back to back. Run with
 * GODEBUG=gccheckmark=1,clobberfree=1, so that a freed object is
 * overwritten at once.
 *
 * Each thread owns SLOTS slots, each a strong pointer and a weak handle, in
 * a registered root range (the handles must stay alive; the strong pointer
 * is what keeps the target alive). A target's words hold a canary derived
 * from its own address. Each step, a thread picks a slot: fills an empty one
 * (a new target and its handle), drops the strong pointer of a full one
 * (the handle stays), or dereferences a handle: an object returned must be
 * allocated and carry its canary, both at once and after a few yields (it is
 * a strong pointer: nothing may free it while held). A gc_weak_get that
 * returns an object the sweep is about to free (an unswept span's unmarked
 * object), or one already freed, fails the canary.
 *
 * One target in eight gets a cleanup whose arg (a canary object) only the
 * cleanup keeps alive, one in eight a finalizer that checks its object's
 * canary: both must find what they get intact.
 *
 * Arguments: [cycles] (default 1000). Needs at least 1e5 dereferences
 * returning an object; exits 1 on any failure.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <tricolor.h>

#define THREADS 4
#define SLOTS   256
#define WORDS   8
#define MAGIC   0x9e3779b97f4a7c15ull

struct slot {
    uintptr_t *strong;
    gc_weak *weak;
};

static struct slot slots[THREADS][SLOTS];
static volatile int stop;
static volatile unsigned long derefs_hit[THREADS], derefs_null[THREADS], failures;
static volatile unsigned long cleanups_run, finalizers_run;

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static __attribute__((noinline)) int canary_ok(const uintptr_t *p)
{
    if (gc_base(p) != p)
        return 0;
    for (int i = 0; i < WORDS; i++)
        if (p[i] != (((uintptr_t)p ^ MAGIC) + (uintptr_t)i))
            return 0;
    return 1;
}

static uintptr_t *new_target(size_t words)
{
    uintptr_t *p = gc_alloc_noscan(words * sizeof *p);
    for (size_t i = 0; i < words; i++)
        p[i] = ((uintptr_t)p ^ MAGIC) + (uintptr_t)i;
    return p;
}

/* A cleanup's arg is kept alive by the cleanup alone. */
static void check_arg(void *arg)
{
    const uintptr_t *a = arg;
    if (gc_base(a) != a || a[0] != ((uintptr_t)a ^ MAGIC) || a[1] != ((uintptr_t)a ^ MAGIC) + 1) {
        fprintf(stderr, "stress_weak: a cleanup's arg %p was freed\n", arg);
        __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&cleanups_run, 1, __ATOMIC_RELAXED);
}

/* A finalizer's object is intact when it runs. */
static void check_obj(void *obj, void *data)
{
    (void)data;
    if (!canary_ok(obj)) {
        fprintf(stderr, "stress_weak: finalizer got a damaged object %p\n", obj);
        __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&finalizers_run, 1, __ATOMIC_RELAXED);
}

static void *mutator(void *arg)
{
    int id = (int)(intptr_t)arg;
    gc_thread_register();
    uint64_t seed = 0x1234567ull * (uint64_t)(id + 1);
    struct slot *my = slots[id];
    while (!stop) {
        struct slot *sl = &my[rnd(&seed) % SLOTS];
        unsigned what = (unsigned)(rnd(&seed) % 8);
        if (sl->weak == NULL || (what == 0 && sl->strong == NULL)) {
            uintptr_t *p = new_target(WORDS);
            unsigned extra = (unsigned)(rnd(&seed) % 8);
            if (extra == 0 && gc_add_cleanup(p + 2, check_arg, new_target(2)) == 0)
                __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
            if (extra == 1 && gc_set_finalizer(p, check_obj, NULL) != 0)
                __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
            sl->strong = p;
            sl->weak = gc_weak_make(p);
            if (sl->weak == NULL || gc_weak_get(sl->weak) != p)
                __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
        } else if (what == 1) {
            sl->strong = NULL;
        } else {
            /* Any thread's handle: read racily, the handle stays alive in
             * its slot until replaced, and a replaced one is only garbage
             * once no stack holds it. */
            struct slot *other = &slots[rnd(&seed) % THREADS][rnd(&seed) % SLOTS];
            gc_weak *w = __atomic_load_n(&other->weak, __ATOMIC_RELAXED);
            if (w == NULL)
                continue;
            uintptr_t *p = gc_weak_get(w);
            if (p == NULL) {
                derefs_null[id]++;
                continue;
            }
            if (!canary_ok(p)) {
                fprintf(stderr, "stress_weak: gc_weak_get returned %p, not a live target\n",
                        (void *)p);
                __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
            }
            for (int i = 0; i < 3; i++)
                sched_yield();
            if (!canary_ok(p)) {
                fprintf(stderr, "stress_weak: %p was freed while held\n", (void *)p);
                __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
            }
            derefs_hit[id]++;
        }
    }
    gc_thread_unregister();
    return NULL;
}

int main(int argc, char **argv)
{
    int cycles = argc > 1 ? atoi(argv[1]) : 1000;
    gc_init(NULL);
    gc_add_roots(slots, (char *)slots + sizeof slots);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, mutator, (void *)(intptr_t)i);
    unsigned long hit = 0;
    int n = 0;
    for (; n < cycles || hit < 100000; n++) {
        gc_collect();
        hit = 0;
        for (int i = 0; i < THREADS; i++)
            hit += derefs_hit[i];
        if (n > 50 * cycles)
            break;
    }
    stop = 1;
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    unsigned long null = 0;
    for (int i = 0; i < THREADS; i++)
        null += derefs_null[i];
    printf("stress_weak: %d cycles, %lu dereferences returned an object, %lu NULL, %lu "
           "cleanups and %lu finalizers run, %lu failures\n",
           n, hit, null, cleanups_run, finalizers_run, failures);
    if (failures || hit < 100000 || null == 0 || cleanups_run == 0 || finalizers_run == 0) {
        fprintf(stderr, "stress_weak: FAILED\n");
        return 1;
    }
    return 0;
}
