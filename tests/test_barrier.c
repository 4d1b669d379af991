/*
 * The write barrier: its inline sequence, the restart of a store split by a
 * stop, and the bulk variants.
 *
 * gc_write_ptr's x86-64 fast path has an exact byte layout that the suspend
 * handler recognises; these tests find that layout in compiled code and
 * check that the handler's decoder restarts exactly the two interrupted
 * positions that need it, then run stores against hundreds of stops and
 * check that some were in fact restarted and that no store was lost.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <tricolor.h>

#include "check_main.h"
#include "threads.h"

static __attribute__((noinline)) void store_one(void **slot, void *value)
{
    gc_write_ptr(slot, value);
}

/* The address of the first barrier sequence in fn's code. */
static uintptr_t find_sequence(void (*fn)(void **, void *))
{
    const unsigned char *code = (const unsigned char *)(uintptr_t)fn;
    static const unsigned char head[] = {0x83, 0x38, 0x00, 0x0f, 0x85};
    for (int i = 0; i < 256; i++)
        if (memcmp(code + i, head, sizeof head) == 0)
            return (uintptr_t)(code + i);
    return 0;
}

START_TEST(test_sequence_layout)
{
    uintptr_t seq = find_sequence(store_one);
    ck_assert_msg(seq != 0, "no barrier sequence in compiled code");
    const unsigned char *b = (const unsigned char *)seq;
    static const unsigned char tail[] = {0x48, 0x89, 0x37, 0x0f, 0x1f,
                                         0x80, 0x47, 0x43, 0x57, 0x42};
    ck_assert_int_eq(memcmp(b + 9, tail, sizeof tail), 0);
}
END_TEST

START_TEST(test_restart_positions)
{
    uintptr_t seq = find_sequence(store_one);
    ck_assert(seq != 0);
    /* Stopped after the load, before the store: restart at the load. */
    ck_assert_uint_eq(write_barrier_restart_pc(seq + 3), seq);
    ck_assert_uint_eq(write_barrier_restart_pc(seq + 9), seq);
    /* Before the load, or after the store: nothing to do. */
    ck_assert_uint_eq(write_barrier_restart_pc(seq), 0);
    ck_assert_uint_eq(write_barrier_restart_pc(seq + 12), 0);
    ck_assert_uint_eq(write_barrier_restart_pc(seq + 19), 0);
    /* Any other code is left alone. */
    ck_assert_uint_eq(write_barrier_restart_pc((uintptr_t)&find_sequence), 0);
    ck_assert_uint_eq(write_barrier_restart_pc((uintptr_t)&memcmp), 0);
}
END_TEST

struct cell {
    void *slot;
};

static volatile int stop_storing;
static struct cell *volatile shared_cell;
static volatile long stored;

static void *storer(void *arg)
{
    (void)arg;
    gc_thread_register();
    long n = 0;
    while (!stop_storing) {
        /* A fresh object, reachable only through the cell once stored. */
        void *v = gc_alloc(48);
        ((long *)v)[0] = ++n;
        for (int i = 0; i < 64; i++) {
            /* Evicting the flag's cache line makes its load slow, so that
             * stops tend to land right after it: inside the window. */
#if defined(__x86_64__)
            __builtin_ia32_clflush((const void *)&gc_write_barrier_enabled);
#endif
            store_one(&shared_cell->slot, v);
        }
        stored = n;
    }
    gc_thread_unregister();
    return NULL;
}

START_TEST(test_stops_restart_stores)
{
    shared_cell = gc_alloc(sizeof *shared_cell);
    AO_t before = atomic_load(&write_barrier_restarts);
    stop_storing = 0;
    stored = 0;
    pthread_t th;
    pthread_create(&th, NULL, storer, NULL);
    while (stored == 0)
        sched_yield();
    /* Stop the storing thread until some stop lands between its load of
     * the flag and its store (bounded: about 1% of stops do). */
    gc_memstats m;
    for (int i = 0; i < 50000 && atomic_load(&write_barrier_restarts) == before; i++)
        gc_read_memstats(&m);
    /* And collect meanwhile: every object stored must survive. */
    for (int i = 0; i < 100; i++) {
        gc_collect();
        void *v = shared_cell->slot;
        ck_assert_ptr_eq(gc_base(v), v);
        ck_assert(((long *)v)[0] > 0);
    }
    stop_storing = 1;
    pthread_join(th, NULL);
    ck_assert_msg(atomic_load(&write_barrier_restarts) > before,
                  "no stop ever landed inside a barrier sequence");
}
END_TEST

START_TEST(test_bulk_variants)
{
    void **a = gc_alloc(8 * sizeof(void *));
    void **b = gc_alloc(8 * sizeof(void *));
    for (int i = 0; i < 8; i++)
        gc_write_ptr(&a[i], gc_alloc(16));
    gc_memmove(b, a, 8 * sizeof(void *));
    for (int i = 0; i < 8; i++)
        ck_assert_ptr_eq(a[i], b[i]);
    gc_memclr(a, 8 * sizeof(void *));
    for (int i = 0; i < 8; i++)
        ck_assert_ptr_null(a[i]);
    gc_collect();
    for (int i = 0; i < 8; i++)
        ck_assert_ptr_eq(gc_base(b[i]), b[i]);
}
END_TEST

static Suite *barrier_suite(void)
{
    Suite *s = suite_create("barrier");
    TCase *tc = tcase_create("barrier");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sequence_layout);
    tcase_add_test(tc, test_restart_positions);
    tcase_add_test(tc, test_stops_restart_stores);
    tcase_add_test(tc, test_bulk_variants);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gc_init(NULL);
    return run_suite(barrier_suite(), CK_FORK_GETENV);
}
