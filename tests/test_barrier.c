/*
 * The write barrier: its inline sequence, the restart of a store split by a
 * stop, and the bulk variants.
 *
 * gc_write_ptr's x86-64 fast path has an exact byte layout that the suspend
 * handler recognises, defined once as the GC_WB_* macros. These tests check
 * that the macros encode the instructions they name, find the layout in
 * compiled code and check that the handler's decoder restarts exactly the
 * two interrupted positions that need it, then run stores against hundreds
 * of stops and check that some were in fact restarted and that no store was
 * lost.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <tricolor.h>

#include "threads.h"

static __attribute__((noinline)) void store_one(void **slot, void *value)
{
    gc_write_ptr(slot, value);
}

/* The sequence's parts, from the definitions that the inline asm and the
 * runtime's decoder are built from (include/tricolor/write_barrier.h). */
#define MARKER_LE(m) (m) & 0xff, ((m) >> 8) & 0xff, ((m) >> 16) & 0xff, ((m) >> 24) & 0xff
static const unsigned char head[] = {GC_WB_CMP_BYTES, GC_WB_JNE_BYTES};
static const unsigned char tail[] = {GC_WB_STORE_BYTES, GC_WB_NOP_BYTES, MARKER_LE(GC_WB_MARKER)};
static const unsigned char cmp_bytes[] = {GC_WB_CMP_BYTES};
static const unsigned char store_bytes[] = {GC_WB_STORE_BYTES};
/* Where a stop lands after the load (the jne), before the store, after the
 * store, and past the end. */
enum {
    AT_JNE = sizeof cmp_bytes,
    AT_STORE = sizeof head + 4,
    AT_SIG = AT_STORE + sizeof store_bytes,
    SEQ_LEN = AT_STORE + sizeof tail,
};

/* The same instructions as the assembler encodes them from their mnemonics,
 * never executed: the definitions must say what their names say. */
#if defined(__x86_64__)
/* clang-format off */
__asm__(".pushsection .rodata\n"
        "wb_reference:\n\t"
        "cmpl $0, (%rax)\n\t"
        "{disp32} jne wb_reference\n\t"
        "movq %rsi, (%rdi)\n\t"
        "nopl " GC_WB_STRING(GC_WB_MARKER) "(%rax)\n"
        "wb_reference_end:\n\t"
        ".popsection");
/* clang-format on */
extern const unsigned char wb_reference[] __attribute__((visibility("hidden")));
extern const unsigned char wb_reference_end[] __attribute__((visibility("hidden")));
#endif

/* The address of the first barrier sequence in fn's code. */
static uintptr_t find_sequence(void (*fn)(void **, void *))
{
    const unsigned char *code = (const unsigned char *)(uintptr_t)fn;
    for (int i = 0; i < 256; i++)
        if (memcmp(code + i, head, sizeof head) == 0)
            return (uintptr_t)(code + i);
    return 0;
}

START_TEST(test_sequence_layout)
{
#if defined(__x86_64__)
    /* The definitions encode cmpl, jne rel32, movq and nopl disp32. */
    ck_assert_int_eq(wb_reference_end - wb_reference, SEQ_LEN);
    ck_assert_int_eq(memcmp(wb_reference, head, sizeof head), 0);
    ck_assert_int_eq(memcmp(wb_reference + AT_STORE, tail, sizeof tail), 0);
#endif
    /* And the compiled code is made of them. */
    uintptr_t seq = find_sequence(store_one);
    ck_assert_msg(seq != 0, "no barrier sequence in compiled code");
    const unsigned char *b = (const unsigned char *)seq;
    ck_assert_int_eq(memcmp(b + AT_STORE, tail, sizeof tail), 0);
}
END_TEST

START_TEST(test_restart_positions)
{
    uintptr_t seq = find_sequence(store_one);
    ck_assert(seq != 0);
    /* Stopped after the load, before the store: restart at the load. */
    ck_assert_uint_eq(write_barrier_restart_pc(seq + AT_JNE), seq);
    ck_assert_uint_eq(write_barrier_restart_pc(seq + AT_STORE), seq);
    /* Before the load, or after the store: nothing to do. */
    ck_assert_uint_eq(write_barrier_restart_pc(seq), 0);
    ck_assert_uint_eq(write_barrier_restart_pc(seq + AT_SIG), 0);
    ck_assert_uint_eq(write_barrier_restart_pc(seq + SEQ_LEN), 0);
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

int main(void)
{
    gc_init(NULL);
    Suite *s = suite_create("barrier");
    TCase *tc = tcase_create("barrier");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sequence_layout);
    tcase_add_test(tc, test_restart_positions);
    tcase_add_test(tc, test_stops_restart_stores);
    tcase_add_test(tc, test_bulk_variants);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
