/*
 * The write barrier: its inline sequence, the restart of a store split by a
 * stop, and the bulk variants.
 *
 * gc_write_ptr's x86-64 fast path has an exact byte layout that the suspend
 * handler recognises, defined once as the GC_WB_* macros. These tests check
 * that the macros encode the instructions they name, find the layout in
 * compiled code and check that the handler's decoder restarts exactly the
 * two interrupted positions that need it (and nothing that differs from the
 * sequence in a byte it checks, and nothing it cannot read: the sequence is
 * copied across a page boundary at every split, with either page
 * unreadable), then run stores against hundreds of stops and check that some
 * were in fact restarted and that no store was lost.
 *
 * gc_memmove while a cycle marks: the only pointer to an object X is copied
 * out of an object S that the cycle has not reached into an object D that
 * is already black (allocated during marking), and S is dropped. Only the
 * bulk barrier's shading of what it copies can keep X alive; the test
 * (mark_window.h holds the cycle at that point) checks that X survives the
 * cycle with its contents, which clobberfree=1 would overwrite.
 *
 * Each half of the barrier in the same window (Go's hybrid barrier): a
 * pointer that only this thread's unscanned stack holds, stored with
 * gc_write_ptr into a black object and dropped from the stack, survives
 * (the new value is shaded); and an object reachable when marking started
 * survives that cycle though its only pointer is overwritten, by
 * gc_write_ptr, gc_memclr or gc_memmove, while the cycle marks (the old
 * value is shaded).
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <tricolor.h>

#include "check_main.h"
#include "knobs.h"
#include "mark_window.h"
#include "sweep.h"
#include "support.h"
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
    /* Stopped after the load, before the store: restart at the load.
     * Anywhere else around the sequence: nothing to do. */
    for (int off = -16; off < 32; off++) {
        uintptr_t want = off == AT_JNE || off == AT_STORE ? seq : 0;
        ck_assert_msg(write_barrier_restart_pc(seq + off) == want,
                      "stopped at +%d: restart at %#lx, want %#lx", off,
                      (unsigned long)write_barrier_restart_pc(seq + off), (unsigned long)want);
    }
    /* Any other code is left alone. */
    ck_assert_uint_eq(write_barrier_restart_pc((uintptr_t)&find_sequence), 0);
    ck_assert_uint_eq(write_barrier_restart_pc((uintptr_t)&memcmp), 0);
    /* So is code that differs from the sequence in any byte but the jump's
     * displacement (+5 to +8): a plain cmpl $0,(%rax); jne is common. */
    enum { LEN = 19 };
    unsigned char copy[LEN + 16];
    for (int i = 0; i < LEN; i++) {
        memset(copy, 0x90, sizeof copy);
        memcpy(copy + 8, (const void *)seq, LEN);
        copy[8 + i] ^= 0x01;
        uintptr_t c = (uintptr_t)(copy + 8);
        uintptr_t want = i >= 5 && i <= 8 ? c : 0;
        ck_assert_msg(write_barrier_restart_pc(c + 3) == want &&
                          write_barrier_restart_pc(c + 9) == want,
                      "byte +%d changed: restart at %#lx and %#lx, want %#lx", i,
                      (unsigned long)write_barrier_restart_pc(c + 3),
                      (unsigned long)write_barrier_restart_pc(c + 9), (unsigned long)want);
    }
}
END_TEST

/* The decoder reads the bytes around a stopped thread's pc, from inside the
 * signal handler: where the sequence straddles a page boundary it must read
 * the other page without faulting, and read nothing from a page that is
 * not readable. The real sequence's bytes are copied across the boundary
 * of two fresh pages, at every split. */
START_TEST(test_restart_across_pages)
{
    uintptr_t seq = find_sequence(store_one);
    ck_assert(seq != 0);
    enum { LEN = 19 };
    long page = sysconf(_SC_PAGESIZE);
    char *two =
        mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(two != MAP_FAILED);
    for (int split = 1; split < LEN; split++) {
        ck_assert_int_eq(mprotect(two, 2 * (size_t)page, PROT_READ | PROT_WRITE), 0);
        memset(two, 0x90, 2 * (size_t)page);
        char *copy = two + page - split;
        memcpy(copy, (const void *)seq, LEN);
        uintptr_t c = (uintptr_t)copy;
        for (int off = 0; off < LEN; off++) {
            uintptr_t want = off == 3 || off == 9 ? c : 0;
            ck_assert_msg(write_barrier_restart_pc(c + off) == want,
                          "split at +%d, stopped at +%d: restart at %#lx, want %#lx", split, off,
                          (unsigned long)write_barrier_restart_pc(c + off), (unsigned long)want);
        }
        /* One of the pages unreadable: no fault, and no restart where the
         * sequence cannot be read whole (nor anywhere else). */
        for (int gone = 0; gone < 2; gone++) {
            ck_assert_int_eq(mprotect(two + gone * page, (size_t)page, PROT_NONE), 0);
            for (int off = 0; off < LEN; off++) {
                uintptr_t pc = c + off;
                if ((pc >= (uintptr_t)two + (uintptr_t)page) == (gone == 1))
                    continue; /* the thread cannot be running there */
                ck_assert_msg(write_barrier_restart_pc(pc) == 0,
                              "split at +%d, page %d unreadable, stopped at +%d: restart at %#lx",
                              split, gone, off, (unsigned long)write_barrier_restart_pc(pc));
            }
            ck_assert_int_eq(mprotect(two + gone * page, (size_t)page, PROT_READ | PROT_WRITE), 0);
        }
    }
    munmap(two, 2 * (size_t)page);
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

/* ---- gc_memmove while a cycle marks --------------------------------------- */

/* The object whose survival is tested: a pattern that clobberfree=1 or a
 * reuse would overwrite. */
#define CANARY_BYTES 64

/* D once it holds the copy: a root, though D is black anyway. */
static void *volatile black_root;

/* A new scannable object whose words are a pattern derived from its address
 * (never a heap address); returns the hidden address. */

/* Is the object still allocated, with its pattern? */

/* A new scannable object whose first word points to x. */
static NOINLINE uintptr_t new_holder(uintptr_t x)
{
    void **s = gc_alloc(4 * sizeof(void *));
    gc_write_ptr(&s[0], reveal(x));
    return hide(s);
}

/* A new object D (black: allocated while marking), into which gc_memmove
 * copies the holder's words. */
static NOINLINE uintptr_t copy_into_new(uintptr_t s)
{
    void **d = gc_alloc(4 * sizeof(void *));
    gc_memmove(d, reveal(s), 4 * sizeof(void *));
    black_root = d;
    return hide(d);
}

static NOINLINE int holds(uintptr_t holder, uintptr_t x)
{
    return *(void **)reveal(holder) == reveal(x);
}

START_TEST(test_memmove_while_marking)
{
    int old = gc_set_percent(-1);
    int saved_clobber = knobs.clobberfree;
    knobs.clobberfree = 1; /* a freed X would be overwritten */
    gc_collect();
    int held = 0, lost = 0, copied = 1;
    for (int tries = 0; tries < 50 && held < 3; tries++) {
        uintptr_t x = new_hidden(CANARY_BYTES, 0);
        uintptr_t s = new_holder(x);
        /* S, the only holder of X, is on this thread's stack alone. */
        void *volatile s_root = reveal(s);
        (void)s_root;
        if (!mark_window_open()) {
            s_root = NULL;
            gc_collect();
            continue;
        }
        if (is_marked(s) || is_marked(x)) {
            mark_window_close();
            s_root = NULL;
            gc_collect();
            continue;
        }
        uintptr_t d = copy_into_new(s);
        if (!is_marked(d) || is_marked(x) || is_marked(s)) {
            /* D not black, or the cycle reached X anyway: no test. */
            mark_window_close();
            s_root = NULL;
            black_root = NULL;
            gc_collect();
            continue;
        }
        /* Drop S before the cycle reaches it: D, black and never scanned
         * again, holds the only pointer to X. */
        s_root = NULL;
        clear_stack();
        clear_registers();
        mark_window_close();
        gc_collect();
        held++;
        lost += !is_live(x, CANARY_BYTES);
        copied &= holds(d, x);
        black_root = NULL;
    }
    knobs.clobberfree = saved_clobber;
    gc_set_percent(old);
    ck_assert_msg(held > 0, "the cycle never stopped short of this thread's stack in 50 tries");
    ck_assert_msg(copied, "gc_memmove did not copy the pointer");
    ck_assert_msg(lost == 0,
                  "%d of %d objects whose only pointer gc_memmove copied into a black object "
                  "while marking were freed",
                  lost, held);
}
END_TEST

/* ---- gc_write_ptr, gc_memclr and gc_memmove unlinking while marking ------- */

/* Waits for the cycle in progress to end, then sweeps the whole heap (no
 * new cycle starts: GOGC is off), so that an object the cycle did not mark
 * is freed, and clobbered. */
static void finish_cycle_and_sweep(void)
{
    double deadline = now_s() + 10;
    while (atomic_load(&cycle_phase) != PHASE_OFF)
        ck_assert_msg(now_s() < deadline, "the cycle did not end within 10 s");
    struct mthread *t = current_thread;
    for (;;) {
        enter_runtime("test");
        size_t n = sweep_one();
        exit_runtime(t);
        if (n == 0)
            break;
    }
    sweep_wait_idle();
}

static NOINLINE void unlink_write_ptr(void **s)
{
    gc_write_ptr(&s[0], NULL);
}

static NOINLINE void unlink_memclr(void **s)
{
    gc_memclr(s, 4 * sizeof(void *));
}

static NOINLINE void unlink_memmove(void **s)
{
    static void *const zeros[4];
    gc_memmove(s, zeros, sizeof zeros);
}

/* The deletion half of the barrier (Yuasa's): what was reachable when
 * marking started survives the cycle. X's only pointer is in S, which only
 * this thread's unscanned stack holds; while the cycle marks, unlink()
 * overwrites it. Only the barrier's shading of the old value marks X: the
 * cycle never finds a pointer to it. So X survives this cycle (the next
 * would free it). The rescan of stacks at termination hides a missing
 * deletion barrier from every other test: a pointer moved out of the heap
 * into a stack or global is found there, or, stored into the heap, by the
 * insertion half. */
static void unlinked_survives(void (*unlink)(void **), const char *what)
{
    int old = gc_set_percent(-1);
    int saved_clobber = knobs.clobberfree;
    knobs.clobberfree = 1; /* a freed X would be overwritten */
    gc_collect();
    int held = 0, lost = 0, overwritten = 1;
    for (int tries = 0; tries < 50 && held < 3; tries++) {
        uintptr_t x = new_hidden(CANARY_BYTES, 0);
        uintptr_t s = new_holder(x);
        void *volatile s_root = reveal(s);
        (void)s_root;
        if (!mark_window_open()) {
            s_root = NULL;
            gc_collect();
            continue;
        }
        if (is_marked(s) || is_marked(x)) {
            mark_window_close();
            s_root = NULL;
            gc_collect();
            continue;
        }
        unlink(reveal(s));
        overwritten &= !holds(s, x);
        clear_stack();
        clear_registers();
        mark_window_close();
        finish_cycle_and_sweep();
        held++;
        lost += !is_live(x, CANARY_BYTES);
        s_root = NULL;
    }
    knobs.clobberfree = saved_clobber;
    gc_set_percent(old);
    gc_collect();
    ck_assert_msg(held > 0, "the cycle never stopped short of this thread's stack in 50 tries");
    ck_assert_msg(overwritten, "%s did not overwrite the pointer", what);
    ck_assert_msg(lost == 0,
                  "%d of %d objects reachable when marking started, whose only pointer %s "
                  "overwrote while marking, were freed by that cycle",
                  lost, held, what);
}

START_TEST(test_write_ptr_shades_old_value)
{
    unlinked_survives(unlink_write_ptr, "gc_write_ptr");
}
END_TEST

START_TEST(test_memclr_shades_cleared)
{
    unlinked_survives(unlink_memclr, "gc_memclr");
}
END_TEST

START_TEST(test_memmove_shades_overwritten)
{
    unlinked_survives(unlink_memmove, "gc_memmove");
}
END_TEST

/* A new object D (black: allocated while marking), into which gc_write_ptr
 * stores x. */
/* How the store into D is made: through gc_write_ptr, or a plain store
 * followed by one of the after-the-store barriers. */
enum store_kind { STORE_WRITE_PTR, STORE_THEN_SHADE, STORE_THEN_RESCAN };

static NOINLINE uintptr_t store_into_new_as(uintptr_t x, enum store_kind how)
{
    void **d = gc_alloc(4 * sizeof(void *));
    switch (how) {
    case STORE_WRITE_PTR:
        gc_write_ptr(&d[0], reveal(x));
        break;
    case STORE_THEN_SHADE:
        d[0] = reveal(x);
        gc_shade(d[0]);
        break;
    case STORE_THEN_RESCAN:
        d[0] = reveal(x);
        gc_rescan(d);
        break;
    }
    black_root = d;
    return hide(d);
}

/* The insertion half (Dijkstra's): X's only pointer is on this thread's
 * unscanned stack; while the cycle marks, gc_write_ptr stores it into D,
 * black, and the stack drops it. Only the barrier's shading of the new
 * value marks X. */
static void stored_value_survives(enum store_kind how, const char *what)
{
    int old = gc_set_percent(-1);
    int saved_clobber = knobs.clobberfree;
    knobs.clobberfree = 1;
    gc_collect();
    int held = 0, lost = 0;
    for (int tries = 0; tries < 50 && held < 3; tries++) {
        uintptr_t x = new_hidden(CANARY_BYTES, 0);
        void *volatile x_root = reveal(x);
        (void)x_root;
        if (!mark_window_open()) {
            x_root = NULL;
            gc_collect();
            continue;
        }
        if (is_marked(x)) {
            mark_window_close();
            x_root = NULL;
            gc_collect();
            continue;
        }
        uintptr_t d = store_into_new_as(x, how);
        if (!is_marked(d)) {
            mark_window_close();
            x_root = NULL;
            black_root = NULL;
            gc_collect();
            continue;
        }
        x_root = NULL;
        clear_stack();
        clear_registers();
        mark_window_close();
        gc_collect();
        held++;
        lost += !is_live(x, CANARY_BYTES);
        black_root = NULL;
    }
    knobs.clobberfree = saved_clobber;
    gc_set_percent(old);
    ck_assert_msg(held > 0, "the cycle never stopped short of this thread's stack in 50 tries");
    ck_assert_msg(lost == 0,
                  "%d of %d objects whose only pointer %s stored into a black object while "
                  "marking were freed",
                  lost, held, what);
}

START_TEST(test_write_ptr_shades_new_value)
{
    stored_value_survives(STORE_WRITE_PTR, "gc_write_ptr");
}
END_TEST

/* The after-the-store barriers, in the same order of events: a plain store
 * of X into D (black), then gc_shade(X) or gc_rescan(D). */
START_TEST(test_store_then_shade)
{
    stored_value_survives(STORE_THEN_SHADE, "a plain store followed by gc_shade");
}
END_TEST

START_TEST(test_store_then_rescan)
{
    stored_value_survives(STORE_THEN_RESCAN, "a plain store followed by gc_rescan");
}
END_TEST

static Suite *barrier_suite(void)
{
    Suite *s = suite_create("barrier");
    TCase *tc = tcase_create("barrier");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sequence_layout);
    tcase_add_test(tc, test_restart_positions);
    tcase_add_test(tc, test_restart_across_pages);
    tcase_add_test(tc, test_stops_restart_stores);
    tcase_add_test(tc, test_bulk_variants);
    tcase_add_test(tc, test_memmove_while_marking);
    tcase_add_test(tc, test_write_ptr_shades_new_value);
    tcase_add_test(tc, test_store_then_shade);
    tcase_add_test(tc, test_store_then_rescan);
    tcase_add_test(tc, test_write_ptr_shades_old_value);
    tcase_add_test(tc, test_memclr_shades_cleared);
    tcase_add_test(tc, test_memmove_shades_overwritten);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gc_init(NULL);
    return run_suite(barrier_suite(), CK_FORK_GETENV);
}
