/*
 * Marking (runtime/mark.c, and the cycle's mark termination in gc.c).
 *
 * - Work buffers: grey objects put into a marker's gcw come back out
 *   exactly once each, whether they stayed in its two buffers or went
 *   through the global list of full buffers (more than two buffers' worth);
 *   gcw_dispose hands a marker's buffers and counters to the global state,
 *   where another marker finds them.
 * - Greying and scanning one object: a pointer anywhere inside an object
 *   (its first byte, an interior byte, its last byte) marks that object
 *   once and queues its base; a noscan object is marked and not queued; a
 *   free slot is not an object; scanning follows interior pointers, and a
 *   large object is scanned whole, oblet by oblet, its scan work counted
 *   exactly once.
 * - Allocate-black: objects of every kind allocated while marking are
 *   marked at once.
 * - Mark termination rescans the globals: during concurrent marking the
 *   only pointer to an object moves from this thread's stack, not yet
 *   scanned, into a global that was already scanned, with no barrier (C
 *   stores to globals have none), and the stack copy is cleared. Only the
 *   termination's rescan of the globals can find the object; it must
 *   survive the cycle with its contents (clobberfree=1 overwrites freed
 *   objects). tests/mark_window.h holds the cycle at that point.
 * - Mark termination rescans the stacks: the same window, once the globals
 *   and another thread's stack are scanned; the pointer moves from this
 *   stack through a global into the other thread's stack, and the global
 *   and this stack are cleared (docs/concurrency.md's counter-example).
 *   Only the termination's rescan of the stacks can find the object.
 *
 * The collector runs with GOGC=off (only the tests start cycles). The tests
 * that drive the marker's functions directly do so between cycles, on
 * objects of their own, and clear the mark bits they set.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tricolor.h>

#include "in_runtime.h"
#include "check_main.h"
#include "gc.h"
#include "heap.h"
#include "mark.h"
#include "threads.h"
#include "mark_window.h"
#include "support.h"

/* ---- Helpers ------------------------------------------------------------- */

/* Clears the object's mark bit, set by a test that drove the marker itself
 * between cycles (no marker runs then). */
static NOINLINE void unmark(uintptr_t h)
{
    struct mspan *s;
    unsigned idx;
    ck_assert(find_object((uintptr_t)reveal(h), &s, &idx) != 0);
    s->gcmark_bits[idx / 64] &= ~((AO_t)1 << (idx % 64));
}

/* Everything w holds, in the order gcw_get hands it out; returns how many. */
static size_t drain_values(struct gcw *w, uintptr_t *out, size_t max)
{
    size_t n = 0;
    uintptr_t v;
    while ((v = rt_gcw_get(w)) != 0) {
        ck_assert_uint_lt(n, max);
        out[n++] = v;
    }
    return n;
}

static int cmp_uintptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- Work buffers -------------------------------------------------------- */

/* Fake grey "objects": gcw_put and gcw_get never look at them. */
#define FAKE(i) ((uintptr_t)0x1000 + (uintptr_t)(i)*8)

START_TEST(workbufs_every_object_once)
{
    /* Up to two buffers stay private; beyond that, full buffers go to the
     * global list, from which gcw_get takes them back. */
    static const size_t counts[] = {1,
                                    WORKBUF_ENTRIES,
                                    WORKBUF_ENTRIES + 1,
                                    2 * WORKBUF_ENTRIES,
                                    2 * WORKBUF_ENTRIES + 1,
                                    5 * WORKBUF_ENTRIES + 7};
    enum { MAX = 5 * WORKBUF_ENTRIES + 7 };
    static uintptr_t got[MAX];
    AO_t nfull0 = atomic_load(&mark_work.nfull);
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        struct gcw w = {0};
        for (size_t i = 0; i < counts[c]; i++)
            rt_gcw_put(&w, FAKE(i));
        if (counts[c] > 2 * WORKBUF_ENTRIES)
            ck_assert_msg(atomic_load(&mark_work.nfull) > nfull0,
                          "%zu grey objects, yet no buffer reached the global list", counts[c]);
        size_t n = drain_values(&w, got, MAX);
        ck_assert_msg(n == counts[c], "%zu grey objects put, %zu got back", counts[c], n);
        qsort(got, n, sizeof got[0], cmp_uintptr);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(got[i] == FAKE(i), "%zu grey objects: object %zu came back as %#lx",
                          counts[c], i, (unsigned long)got[i]);
        ck_assert_uint_eq(atomic_load(&mark_work.nfull), nfull0);
        rt_gcw_dispose(&w);
    }
}
END_TEST

START_TEST(workbufs_dispose_hands_over)
{
    /* What one marker disposes of, another finds: its grey objects through
     * the global list, its counters in the global totals. */
    AO_t nfull0 = atomic_load(&mark_work.nfull);
    AO_t marked0 = atomic_load(&mark_work.bytes_marked),
         scanned0 = atomic_load(&mark_work.heap_scan);
    struct gcw a = {0}, b = {0};
    enum { N = WORKBUF_ENTRIES + 10 }; /* both of a's buffers in use */
    for (size_t i = 0; i < N; i++)
        rt_gcw_put(&a, FAKE(i));
    a.bytes_marked = 4096;
    a.scan_work = 1234;
    rt_gcw_dispose(&a);
    ck_assert_ptr_null(a.wbuf1);
    ck_assert_ptr_null(a.wbuf2);
    ck_assert_uint_eq(a.bytes_marked, 0);
    ck_assert_uint_eq(a.scan_work, 0);
    ck_assert_uint_eq(atomic_load(&mark_work.nfull), nfull0 + 2);
    ck_assert_uint_eq(atomic_load(&mark_work.bytes_marked), marked0 + 4096);
    ck_assert_uint_eq(atomic_load(&mark_work.heap_scan), scanned0 + 1234);
    static uintptr_t got[N + 1];
    size_t n = drain_values(&b, got, N + 1);
    ck_assert_uint_eq(n, N);
    qsort(got, n, sizeof got[0], cmp_uintptr);
    for (size_t i = 0; i < n; i++)
        ck_assert(got[i] == FAKE(i));
    ck_assert_uint_eq(atomic_load(&mark_work.nfull), nfull0);
    rt_gcw_dispose(&b);
    /* The counters are the cycle's: put them back. */
    atomic_xadd(&mark_work.bytes_marked, (AO_t)-4096);
    atomic_xadd(&mark_work.heap_scan, (AO_t)-1234);
}
END_TEST

/* ---- Greying and scanning one object ------------------------------------- */

/* Greys whatever p + off points into. */
static NOINLINE void grey_at(uintptr_t h, size_t off, struct gcw *w)
{
    rt_grey_pointer((uintptr_t)reveal(h) + off, w);
}

/* Stores target + target_off into word `word` of holder (the collector is
 * idle: no barrier needed, but gc_write_ptr is what a program would use). */
static NOINLINE void link_word(uintptr_t holder, size_t word, uintptr_t target, size_t target_off)
{
    gc_write_ptr((void **)reveal(holder) + word, (char *)reveal(target) + target_off);
}

START_TEST(grey_interior_pointers)
{
    struct gcw w = {0};
    uintptr_t a = new_hidden(64, 0);
    uintptr_t n = new_hidden(64, 1);
    size_t lsize = 2 * OBLET_BYTES + OBLET_BYTES / 2;
    uintptr_t l = new_hidden(lsize, 0);
    const size_t a_offs[] = {0, 17, 63};
    for (size_t i = 0; i < 3; i++) {
        grey_at(a, a_offs[i], &w);
        ck_assert_msg(is_marked(a), "a pointer to byte %zu did not mark its object", a_offs[i]);
    }
    grey_at(n, 40, &w);
    ck_assert(is_marked(n));
    grey_at(l, lsize - 1, &w);
    grey_at(l, OBLET_BYTES + 8, &w);
    ck_assert(is_marked(l));
    /* A scan object queued once, by its base; the noscan one not at all. */
    uintptr_t got[8];
    size_t k = drain_values(&w, got, 8);
    ck_assert_uint_eq(k, 2);
    qsort(got, k, sizeof got[0], cmp_uintptr);
    uintptr_t want[2] = {(uintptr_t)reveal(a), (uintptr_t)reveal(l)};
    qsort(want, 2, sizeof want[0], cmp_uintptr);
    ck_assert_msg(got[0] == want[0] && got[1] == want[1],
                  "queued %#lx and %#lx, not the objects' bases", (unsigned long)got[0],
                  (unsigned long)got[1]);
    ck_assert_uint_eq(w.bytes_marked, 64 + 64 + gc_size(reveal(l)));
    unmark(a);
    unmark(n);
    unmark(l);
    w.bytes_marked = 0;
    rt_gcw_dispose(&w);
}
END_TEST

START_TEST(grey_free_slot_is_nothing)
{
    /* The slot after a fresh object of an unusual class is free: a pointer
     * into it greys nothing. */
    struct gcw w = {0};
    for (int tries = 0; tries < 4096; tries++) {
        char *p = gc_alloc(208);
        if (gc_size(p) != 208 || gc_base(p + 208) != NULL)
            continue;
        rt_grey_pointer((uintptr_t)(p + 208 + 8), &w);
        ck_assert_uint_eq(rt_gcw_get(&w), 0);
        ck_assert_uint_eq(w.bytes_marked, 0);
        return;
    }
    ck_abort_msg("no 208-byte object with a free slot after it");
}
END_TEST

START_TEST(scan_follows_pointers_by_oblets)
{
    /* A holds an interior pointer to t1; L, two and a half oblets long,
     * holds pointers to t2 in its last oblet and t3 in its first. */
    struct gcw w = {0};
    uintptr_t a = new_hidden(64, 0);
    size_t lsize = 2 * OBLET_BYTES + OBLET_BYTES / 2;
    uintptr_t l = new_hidden(lsize, 0);
    uintptr_t t1 = new_hidden(48, 1), t2 = new_hidden(48, 1), t3 = new_hidden(48, 1);
    link_word(a, 3, t1, 47);
    link_word(l, lsize / sizeof(void *) - 1, t2, 0);
    link_word(l, 0, t3, 8);
    grey_at(a, 0, &w);
    grey_at(l, 0, &w);
    rt_mark_drain(&w);
    ck_assert_msg(is_marked(t1), "an interior pointer in a scanned object was missed");
    ck_assert_msg(is_marked(t2), "a pointer in a large object's last oblet was missed");
    ck_assert(is_marked(t3));
    ck_assert_msg(w.scan_work == 64 + gc_size(reveal(l)),
                  "scan work %lu for objects of 64 and %zu bytes", (unsigned long)w.scan_work,
                  gc_size(reveal(l)));
    ck_assert_uint_eq(rt_gcw_get(&w), 0);
    uintptr_t all[] = {a, l, t1, t2, t3};
    for (size_t i = 0; i < 5; i++)
        unmark(all[i]);
    w.bytes_marked = w.scan_work = 0;
    rt_gcw_dispose(&w);
}
END_TEST

/* ---- Allocate-black -------------------------------------------------------- */

/* An object allocated while marking is black at once: marked, so that this
 * cycle keeps it whatever happens to its pointers (a marked object's
 * contents are not scanned again). Small, pointer-free and large objects
 * alike. */
START_TEST(allocated_black_while_marking)
{
    static const size_t sizes[] = {16, 48, 1024, 40000, 200000};
    enum { N = sizeof sizes / sizeof sizes[0] };
    int checked = 0, white[N][2] = {{0}};
    for (int tries = 0; tries < 50 && !checked; tries++) {
        if (!mark_window_open()) {
            gc_collect();
            continue;
        }
        /* No assertion inside the window: a failure would leave it open. */
        for (size_t i = 0; i < N; i++)
            for (int noscan = 0; noscan < 2; noscan++)
                white[i][noscan] = !is_marked(new_hidden(sizes[i], noscan));
        checked = 1;
        mark_window_close();
        gc_collect();
    }
    ck_assert_msg(checked, "no cycle was marking in 50 tries");
    for (size_t i = 0; i < N; i++)
        for (int noscan = 0; noscan < 2; noscan++)
            ck_assert_msg(!white[i][noscan],
                          "a %zu-byte %s object allocated while marking is white", sizes[i],
                          noscan ? "noscan" : "scannable");
}
END_TEST

/* Allocate-black by span (cache.h): a span the thread already holds when
 * the cycle starts is blackened by the first pause, so an object taken from
 * it while marking is black too; one taken from it just before is not
 * (hidden, it is garbage: only its own slot's mark would keep it). */
START_TEST(allocated_black_from_span_cached_before)
{
    static const size_t sizes[] = {16, 48, 1024};
    enum { N = sizeof sizes / sizeof sizes[0] };
    int checked = 0, white[N][2] = {{0}}, black_before[N][2] = {{0}};
    for (int tries = 0; tries < 50 && !checked; tries++) {
        uintptr_t before[N][2];
        for (size_t i = 0; i < N; i++)
            for (int noscan = 0; noscan < 2; noscan++)
                before[i][noscan] = new_hidden(sizes[i], noscan); /* caches a span */
        if (!mark_window_open()) {
            gc_collect();
            continue;
        }
        /* No assertion inside the window: a failure would leave it open. */
        for (size_t i = 0; i < N; i++)
            for (int noscan = 0; noscan < 2; noscan++) {
                white[i][noscan] = !is_marked(new_hidden(sizes[i], noscan));
                black_before[i][noscan] = is_marked(before[i][noscan]);
            }
        checked = 1;
        mark_window_close();
        gc_collect();
    }
    ck_assert_msg(checked, "no cycle was marking in 50 tries");
    for (size_t i = 0; i < N; i++)
        for (int noscan = 0; noscan < 2; noscan++) {
            ck_assert_msg(!white[i][noscan],
                          "a %zu-byte %s object allocated while marking, from a span cached "
                          "before, is white",
                          sizes[i], noscan ? "noscan" : "scannable");
            ck_assert_msg(!black_before[i][noscan],
                          "a %zu-byte %s garbage object allocated before the cycle was marked "
                          "with its span's free slots",
                          sizes[i], noscan ? "noscan" : "scannable");
        }
}
END_TEST

/* ---- Mark termination rescans the globals -------------------------------- */

/* The object whose survival is tested: a pattern that clobberfree=1 or a
 * reuse would overwrite. */
#define CANARY_BYTES 64

/* The global the pointer moves into (bss). Volatile: nothing in this
 * program reads it, and the compiler would drop the stores. */
static void *volatile moved_to_global;

/* A plain store, as C code stores into a global: no barrier. */
static NOINLINE void store_global(uintptr_t h)
{
    moved_to_global = reveal(h);
}

START_TEST(termination_rescans_globals)
{
    int held = 0, lost = 0;
    for (int tries = 0; tries < 50 && held < 3; tries++) {
        uintptr_t x = new_hidden(CANARY_BYTES, 0);
        /* X's only pointer: on this thread's stack. */
        void *volatile local = reveal(x);
        (void)local;
        if (!mark_window_open()) {
            local = NULL;
            gc_collect();
            continue;
        }
        mark_window_wait_globals();
        if (is_marked(x)) {
            mark_window_close();
            local = NULL;
            gc_collect();
            continue;
        }
        /* The globals are scanned, the stack is not: the pointer moves from
         * the stack to a global, and the stack forgets it. */
        store_global(x);
        local = NULL;
        clear_stack();
        clear_registers();
        int white = !is_marked(x);
        mark_window_close();
        gc_collect();
        if (!white) {
            moved_to_global = NULL;
            continue;
        }
        held++;
        lost += !is_live(x, CANARY_BYTES);
        moved_to_global = NULL;
    }
    ck_assert_msg(held > 0, "the cycle never stopped short of this thread's stack in 50 tries");
    ck_assert_msg(lost == 0,
                  "%d of %d objects whose only pointer moved into an already scanned global "
                  "during marking were freed",
                  lost, held);
}
END_TEST

/* ---- Mark termination rescans the stacks --------------------------------- */

/* The global through which the pointer passes to the holder thread. */
static void *volatile handoff;
/* The holder's state: 0 idle, 1 asked to take the handoff, 2 holding it,
 * 3 asked to let go, 4 asked to quit. */
static volatile int holder_state;
static struct mthread *volatile holder_thread;

static NOINLINE void store_handoff(uintptr_t h)
{
    handoff = reveal(h);
}

/* Moves the pointer from the global into this thread's stack, clears the
 * global (plain loads and stores: no barrier), and holds it until asked. */
static NOINLINE void hold_handoff(void)
{
    void *volatile mine = handoff;
    handoff = NULL;
    (void)mine;
    __atomic_store_n(&holder_state, 2, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&holder_state, __ATOMIC_SEQ_CST) != 3)
        sched_yield();
    mine = NULL;
}

static void *holder(void *arg)
{
    (void)arg;
    gc_thread_register();
    holder_thread = current_thread;
    for (;;) {
        int st = __atomic_load_n(&holder_state, __ATOMIC_SEQ_CST);
        if (st == 4)
            break;
        if (st == 1) {
            hold_handoff();
            clear_stack();
            clear_registers();
            __atomic_store_n(&holder_state, 0, __ATOMIC_SEQ_CST);
        } else {
            sched_yield();
        }
    }
    gc_thread_unregister();
    return NULL;
}

static void holder_wait(int state)
{
    double deadline = now_s() + 10;
    while (__atomic_load_n(&holder_state, __ATOMIC_SEQ_CST) != state)
        ck_assert_msg(now_s() < deadline, "the holder thread did not reach state %d", state);
}

/* Waits until the cycle has claimed the holder's stack, which it scans with
 * the holder stopped: once the holder runs again, its stack is scanned. */
static int holder_stack_scanned(void)
{
    double deadline = now_s() + 10;
    uint32_t cycle = (uint32_t)atomic_load(&mark_sched.cycle);
    while (__atomic_load_n(&holder_thread->stack_scanned_cycle, __ATOMIC_SEQ_CST) != cycle) {
        if (now_s() > deadline)
            return 0;
        sched_yield();
    }
    return 1;
}

START_TEST(termination_rescans_stacks)
{
    holder_state = 0;
    pthread_t th;
    pthread_create(&th, NULL, holder, NULL);
    while (holder_thread == NULL)
        sched_yield();
    int held = 0, lost = 0;
    for (int tries = 0; tries < 50 && held < 3; tries++) {
        uintptr_t x = new_hidden(CANARY_BYTES, 0);
        /* X's only pointer: on this thread's stack. */
        void *volatile local = reveal(x);
        (void)local;
        if (!mark_window_open()) {
            local = NULL;
            gc_collect();
            continue;
        }
        mark_window_wait_globals();
        if (!holder_stack_scanned() || is_marked(x)) {
            mark_window_close();
            local = NULL;
            gc_collect();
            continue;
        }
        /* The globals and the holder's stack are scanned, this stack is
         * not: the pointer moves through a global into the holder's stack,
         * the global is cleared, and this stack forgets it. */
        store_handoff(x);
        __atomic_store_n(&holder_state, 1, __ATOMIC_SEQ_CST);
        holder_wait(2);
        local = NULL;
        clear_stack();
        clear_registers();
        int white = !is_marked(x);
        mark_window_close();
        gc_collect();
        if (white) {
            held++;
            lost += !is_live(x, CANARY_BYTES);
        }
        __atomic_store_n(&holder_state, 3, __ATOMIC_SEQ_CST);
        holder_wait(0);
    }
    __atomic_store_n(&holder_state, 4, __ATOMIC_SEQ_CST);
    pthread_join(th, NULL);
    ck_assert_msg(held > 0, "the cycle never stopped short of this thread's stack in 50 tries");
    ck_assert_msg(lost == 0,
                  "%d of %d objects whose only pointer moved into an already scanned stack "
                  "during marking were freed",
                  lost, held);
}
END_TEST

static Suite *mark_suite(void)
{
    Suite *s = suite_create("mark");
    TCase *bufs = tcase_create("workbufs");
    tcase_add_test(bufs, workbufs_every_object_once);
    tcase_add_test(bufs, workbufs_dispose_hands_over);
    suite_add_tcase(s, bufs);

    TCase *grey = tcase_create("grey and scan");
    tcase_add_test(grey, grey_interior_pointers);
    tcase_add_test(grey, grey_free_slot_is_nothing);
    tcase_add_test(grey, scan_follows_pointers_by_oblets);
    suite_add_tcase(s, grey);

    TCase *black = tcase_create("allocate-black");
    tcase_set_timeout(black, 60);
    tcase_add_test(black, allocated_black_while_marking);
    tcase_add_test(black, allocated_black_from_span_cached_before);
    suite_add_tcase(s, black);

    TCase *term = tcase_create("termination");
    tcase_set_timeout(term, 60);
    tcase_add_test(term, termination_rescans_globals);
    tcase_add_test(term, termination_rescans_stacks);
    suite_add_tcase(s, term);
    return s;
}

int main(void)
{
    gc_options opts = {.gogc = "off", .godebug = "clobberfree=1"};
    if (gc_init(&opts) != 0)
        return EXIT_FAILURE;
    gc_collect(); /* from here on, every span is swept and every mark bit clear */
    return run_suite(mark_suite(), CK_FORK_GETENV);
}
