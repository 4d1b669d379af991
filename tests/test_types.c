/*
 * Typed objects and precise roots (gc_register_type, gc_alloc_typed,
 * gc_type_of, GC_TYPE_RESCAN, gc_add_root_callback).
 *
 * The traps a wrong implementation falls into, one test each:
 * - a typed object is scanned only where its map says: a pointer in an
 *   unmapped word does not keep its target alive, one in a mapped word does
 *   (for 1000 cycles); the same through a trace function, for arrays (the
 *   map repeats), for a map longer than 64 words, and for an array large
 *   enough to be scanned in oblets;
 * - an object of a GC_TYPE_RESCAN type, written with plain stores while
 *   marking, loses nothing: it is scanned again at mark termination;
 * - a root callback's slot swapped by the mutator between the first pause
 *   and mark termination: the new target is marked in the second pause;
 * - a span that turns MIXED scans each object by its own type's map, not
 *   by the per-span mask of its first type;
 * - a type sharing another's entry of the per-thread allocation memo, at
 *   alternating sizes, keeps its own type, size and map; a RESCAN type is
 *   recorded at every allocation (never served from the memo);
 * - misuse (an unknown type id, type 0 of size 0, a size that is not a multiple of the map's
 *   period, a trace function visiting outside its object) aborts with a
 *   message naming the call or the type, in a child process.
 *
 * Objects that must die are held only hidden (support.h), in memory the
 * collector does not scan (malloc), or in words the map leaves out. Runs
 * with GODEBUG=gccheckmark=1,clobberfree=1 and GOGC off: only the tests
 * start cycles.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tricolor.h>

#include "capture.h"
#include "check_main.h"
#include "heap.h"
#include "child.h"
#include "mark_window.h"
#include "support.h"
#include "types.h"

#define OBJ_BYTES 64

/* ---- Types -------------------------------------------------------------- */

/* Four words: word 1 is a pointer, words 0, 2 and 3 are not. */
static const uint64_t quad_map[] = {0x2};
static const gc_type quad_type = {.name = "quad", .ptrmap = quad_map, .ptrmap_words = 4};

/* Two words, the first a pointer: an array element. */
static const uint64_t pair_map[] = {0x1};
static const gc_type pair_type = {.name = "pair", .ptrmap = pair_map, .ptrmap_words = 2};

/* 100 words, word 70 a pointer: a map longer than one 64-bit mask. */
static const uint64_t wide_map[] = {0, (uint64_t)1 << (70 - 64)};
static const gc_type wide_type = {.name = "wide", .ptrmap = wide_map, .ptrmap_words = 100};

/* Traced: words 0 and 3 are pointers. */
static void quad_trace(void *obj, size_t size, gc_visit_fn visit, void *ctx)
{
    (void)size;
    void **w = obj;
    visit(&w[0], ctx);
    visit(&w[3], ctx);
}
static const gc_type traced_type = {.name = "traced", .trace = quad_trace};

/* A VM stack: every word a pointer, written without barriers. */
static const uint64_t all_map[] = {0x1};
static const gc_type vmstack_type = {
    .name = "vmstack", .ptrmap = all_map, .ptrmap_words = 1, .flags = GC_TYPE_RESCAN};

static uint32_t quad_id, pair_id, wide_id, traced_id, vmstack_id;

static void register_types(void)
{
    if (quad_id)
        return;
    quad_id = gc_register_type(&quad_type);
    pair_id = gc_register_type(&pair_type);
    wide_id = gc_register_type(&wide_type);
    traced_id = gc_register_type(&traced_type);
    vmstack_id = gc_register_type(&vmstack_type);
    ck_assert_uint_gt(quad_id, 0);
    ck_assert_uint_gt(pair_id, 0);
    ck_assert_uint_gt(wide_id, 0);
    ck_assert_uint_gt(traced_id, 0);
    ck_assert_uint_gt(vmstack_id, 0);
}

static void setup(void)
{
    ck_assert_int_eq(gc_init(NULL), 0);
    register_types();
    collector_off();
}

static void teardown(void)
{
    collector_restore();
}

/* The holder of a test's typed object: a global, scanned conservatively,
 * so the typed object itself is live. */
static void *holder;

/* A typed object of type id and size in holder, and a new target in each
 * of its words `words` (at most 8); hidden[i] gets target i. */
static NOINLINE void fill_typed(uint32_t id, size_t size, const size_t *words, size_t n,
                                uintptr_t *hidden)
{
    void **obj = gc_alloc_typed(id, size);
    holder = obj;
    for (size_t i = 0; i < n; i++) {
        hidden[i] = new_hidden(OBJ_BYTES, 1);
        gc_write_ptr(&obj[words[i]], reveal(hidden[i]));
    }
}

/* Collects `cycles` times; then hidden[i] must be live iff live[i]. */
static NOINLINE void check_after(const uintptr_t *hidden, const int *live, size_t n, int cycles)
{
    for (int c = 0; c < cycles; c++) {
        collect();
        for (size_t i = 0; i < n; i++)
            if (live[i])
                ck_assert_msg(is_live(hidden[i], OBJ_BYTES),
                              "target %zu, in a mapped word, was lost after %d cycles", i, c + 1);
    }
    for (size_t i = 0; i < n; i++)
        if (!live[i])
            ck_assert_msg(is_freed(hidden[i]),
                          "target %zu, only in an unmapped word, is still alive", i);
}

START_TEST(map_says_where)
{
    /* Word 1 mapped: lives 1000 cycles; word 2 unmapped: dies. */
    size_t words[] = {1, 2, 0, 3};
    uintptr_t h[4];
    fill_typed(quad_id, 32, words, 4, h);
    ck_assert_uint_eq(gc_type_of(holder), quad_id);
    int live[] = {1, 0, 0, 0};
    check_after(h, live, 4, 1000);
    holder = NULL;
}
END_TEST

START_TEST(trace_says_where)
{
    size_t words[] = {0, 1, 2, 3};
    uintptr_t h[4];
    fill_typed(traced_id, 32, words, 4, h);
    int live[] = {1, 0, 0, 1};
    check_after(h, live, 4, 20);
    holder = NULL;
}
END_TEST

START_TEST(arrays_repeat_the_map)
{
    /* 40 pairs (640 bytes): element 0's, 17's and 39's pointer word, and
     * element 39's second word. */
    size_t words[] = {0, 34, 78, 79, 35};
    uintptr_t h[5];
    fill_typed(pair_id, 40 * 16, words, 5, h);
    int live[] = {1, 1, 1, 0, 0};
    check_after(h, live, 5, 20);
    holder = NULL;
}
END_TEST

START_TEST(large_arrays_in_oblets)
{
    /* 10000 pairs, 160000 bytes: scanned in oblets. */
    size_t words[] = {0, 9000, 19998, 19999, 9001, 4097 * 2};
    uintptr_t h[6];
    fill_typed(pair_id, 10000 * 16, words, 6, h);
    ck_assert_uint_eq(gc_type_of((char *)holder + 100000), pair_id);
    int live[] = {1, 1, 1, 0, 0, 1};
    check_after(h, live, 6, 20);
    holder = NULL;
}
END_TEST

START_TEST(long_maps)
{
    /* Three 100-word elements: word 70 of each is the pointer. */
    size_t words[] = {70, 170, 270, 69, 71, 0};
    uintptr_t h[6];
    fill_typed(wide_id, 300 * 8, words, 6, h);
    int live[] = {1, 1, 1, 0, 0, 0};
    check_after(h, live, 6, 20);
    holder = NULL;
}
END_TEST

static void walk_count(void *obj, size_t size, uint32_t type, void *data)
{
    (void)size;
    if (obj == holder && type == quad_id)
        ++*(int *)data;
}

START_TEST(type_of_realloc_walk)
{
    void **q = gc_alloc_typed(quad_id, 64);
    ck_assert_uint_eq(gc_type_of(q), quad_id);
    ck_assert_uint_eq(gc_type_of(&q[5]), quad_id);
    ck_assert_uint_eq(gc_type_of(gc_alloc(32)), 0);
    ck_assert_uint_eq(gc_type_of(gc_alloc_noscan(32)), 0);
    int local;
    ck_assert_uint_eq(gc_type_of(&local), 0);
    ck_assert_uint_eq(gc_type_of(NULL), 0);
    /* A type without a pointer bit is noscan memory, still typed. */
    static const uint64_t none[] = {0};
    gc_type plain = {.name = "plain", .ptrmap = none, .ptrmap_words = 2};
    uint32_t plain_id = gc_register_type(&plain);
    ck_assert_uint_gt(plain_id, 0);
    ck_assert_uint_eq(gc_type_of(gc_alloc_typed(plain_id, 48)), plain_id);
    /* Mixed in one size class: each keeps its type. */
    void *objs[64];
    for (int i = 0; i < 64; i++)
        objs[i] = i % 3 == 0 ? gc_alloc(32) : gc_alloc_typed(i % 3 == 1 ? quad_id : pair_id, 32);
    for (int i = 0; i < 64; i++)
        ck_assert_uint_eq(gc_type_of(objs[i]), i % 3 == 0 ? 0 : i % 3 == 1 ? quad_id : pair_id);
    collect();
    for (int i = 0; i < 64; i++)
        ck_assert_uint_eq(gc_type_of(objs[i]), i % 3 == 0 ? 0 : i % 3 == 1 ? quad_id : pair_id);
    q[1] = objs[1];
    void **r = gc_realloc(q, 4096);
    ck_assert_ptr_ne(r, q);
    ck_assert_uint_eq(gc_type_of(r), quad_id);
    ck_assert_ptr_eq(r[1], objs[1]);
    holder = r;
    int seen = 0;
    gc_walk_heap(walk_count, &seen);
    ck_assert_int_eq(seen, 1);
    holder = NULL;
}
END_TEST

START_TEST(small_arrays_in_one_mask)
{
    /* 8 pairs (128 bytes): a span's typed_scan_mask repeats the map 8
     * times; elements 0's and 7's pointer words, and their other words. */
    size_t words[] = {0, 14, 1, 15};
    uintptr_t h[4];
    fill_typed(pair_id, 8 * 16, words, 4, h);
    int live[] = {1, 1, 0, 0};
    check_after(h, live, 4, 20);
    holder = NULL;
}
END_TEST

/* A pair object in a span that also holds quads (MIXED), with a target in
 * each of its words 0 (mapped) and 1 (not); hidden[0], hidden[1]. */
static NOINLINE void fill_mixed(uintptr_t *hidden)
{
    void **pair = NULL;
    for (int i = 0; i < 8; i++) {
        gc_alloc_typed(quad_id, 32);
        void **p = gc_alloc_typed(pair_id, 32);
        if (span_of_heap((uintptr_t)p)->type_id == SPAN_TYPE_MIXED)
            pair = p;
    }
    ck_assert_msg(pair != NULL, "no pair object landed in a MIXED span");
    holder = pair;
    for (int i = 0; i < 2; i++) {
        hidden[i] = new_hidden(OBJ_BYTES, 1);
        gc_write_ptr(&pair[i], reveal(hidden[i]));
    }
}

START_TEST(mixed_span_per_object_map)
{
    /* A span that turns MIXED must not keep scanning with its first
     * type's mask (quad's word 1): each object goes by its own type. */
    uintptr_t h[2];
    fill_mixed(h);
    int live[] = {1, 0};
    check_after(h, live, 2, 20);
    holder = NULL;
}
END_TEST

/* Two-word type, word 1 a pointer: quad's twin in the allocation memo. */
static const uint64_t second_map[] = {0x2};
static const gc_type second_type = {.name = "second", .ptrmap = second_map, .ptrmap_words = 2};

START_TEST(memo_entry_shared)
{
    /* gc_alloc_typed remembers (type, size) per thread in 16 entries by
     * type id: a type whose id shares quad's entry, alternating with it at
     * several sizes, must get its own type, size and map each time. */
    uint32_t twin = 0;
    for (int i = 0; i < 16 && (twin == 0 || twin % 16 != quad_id % 16); i++)
        twin = gc_register_type(&second_type);
    ck_assert_uint_eq(twin % 16, quad_id % 16);
    static const size_t sizes[] = {32, 64, 32, 96, 32};
    for (int i = 0; i < 5; i++) {
        void *a = gc_alloc_typed(quad_id, sizes[i]);
        void *b = gc_alloc_typed(twin, sizes[4 - i] / 2);
        ck_assert_uint_eq(gc_type_of(a), quad_id);
        ck_assert_uint_eq(gc_type_of(b), twin);
        ck_assert_uint_ge(gc_size(a), sizes[i]);
        ck_assert_uint_ge(gc_size(b), sizes[4 - i] / 2);
    }
    size_t words[] = {1, 0};
    uintptr_t h[2];
    fill_typed(twin, 16, words, 2, h);
    int live[] = {1, 0};
    check_after(h, live, 2, 20);
    holder = NULL;
    /* A RESCAN type is never remembered: each object enters the set. */
    size_t before = types_rescan_count();
    holder = gc_alloc_typed(vmstack_id, 64);
    holder = gc_alloc_typed(vmstack_id, 64);
    ck_assert_uint_eq(types_rescan_count(), before + 2);
    holder = NULL;
}
END_TEST

START_TEST(register_misuse)
{
    capture_begin();
    gc_type t = {.name = NULL, .ptrmap = quad_map, .ptrmap_words = 4};
    ck_assert_uint_eq(gc_register_type(&t), 0);
    t.name = "both";
    t.trace = quad_trace;
    ck_assert_uint_eq(gc_register_type(&t), 0);
    t.trace = NULL;
    t.ptrmap_words = 0;
    ck_assert_uint_eq(gc_register_type(&t), 0);
    t.ptrmap = NULL;
    ck_assert_uint_eq(gc_register_type(&t), 0);
    ck_assert_uint_eq(gc_register_type(NULL), 0);
    ck_assert_int_eq(gc_add_root_callback(NULL, NULL), -1);
    gc_remove_root_callback(12345);
    const char *err = capture_end();
    ck_assert_msg(strstr(err, "gc_register_type") && strstr(err, "name is NULL") &&
                      strstr(err, "exactly one of ptrmap and trace") &&
                      strstr(err, "ptrmap_words") && strstr(err, "gc_add_root_callback") &&
                      strstr(err, "gc_remove_root_callback(12345)"),
                  "messages: %s", err);
}
END_TEST

/* ---- GC_TYPE_RESCAN ------------------------------------------------------- */

/* Y, a vm stack whose word 0 holds the only pointer to a new target (*hx). */
static NOINLINE void **rescan_prepare(uintptr_t *hx)
{
    void **y = gc_alloc_typed(vmstack_id, 64 * 8);
    *hx = new_hidden(OBJ_BYTES, 1);
    y[0] = reveal(*hx);
    return y;
}

/* The interpreter's moves, with plain stores: a new vm stack S (allocated
 * black while marking, so never scanned by the concurrent mark) in holder,
 * S[5] = Y[0]; Y[0] = NULL. */
static NOINLINE void rescan_move(void **y)
{
    void **s = gc_alloc_typed(vmstack_id, 64 * 8);
    holder = s;
    s[5] = y[0];
    y[0] = NULL;
}

START_TEST(rescan_without_barriers)
{
    uintptr_t hx = 0;
    void **volatile y = NULL;
    int opened = 0, marked_before = 0;
    size_t before = 0, after = 0;
    for (int attempt = 0; attempt < 20 && !opened; attempt++) {
        y = rescan_prepare(&hx);
        clear_stack();
        clear_registers();
        if (!mark_window_open()) {
            y = NULL;
            gc_collect();
            continue;
        }
        opened = 1;
        /* Y is on this stack, which stays unscanned until the window
         * closes; X is reachable only from Y. No assertion inside the
         * window: a failure would leave it open. */
        mark_window_wait_globals();
        marked_before = is_marked(hx);
        before = types_rescan_count();
        rescan_move(y);
        after = types_rescan_count();
        clear_stack();
        clear_registers();
        mark_window_close();
    }
    ck_assert_msg(opened, "the mark window never opened: the test proves nothing");
    ck_assert_msg(!marked_before, "X was marked before the move: the test proves nothing");
    ck_assert_uint_eq(after, before + 1);
    gc_collect(); /* waits for the cycle */
    for (int i = 0; i < 5; i++)
        collect();
    ck_assert_msg(is_live(hx, OBJ_BYTES), "X, moved into a RESCAN object while marking, was lost");
    holder = NULL;
    y = NULL;
    collect();
    ck_assert_msg(is_freed(hx), "X outlived its holder");
    /* The set forgets dead objects. */
    collect();
    ck_assert_uint_lt(types_rescan_count(), after);
}
END_TEST

/* ---- Root callbacks --------------------------------------------------------- */

/* The callback's slots, in memory the collector does not scan. */
static void **cb_slots;
static volatile int cb_calls;

static void roots_cb(gc_visit_fn visit, void *ctx, void *data)
{
    ck_assert_ptr_eq(data, &cb_slots);
    cb_calls++;
    for (int i = 0; i < 2; i++)
        visit(&cb_slots[i], ctx);
}

static NOINLINE void cb_store(int i, uintptr_t h)
{
    cb_slots[i] = h ? reveal(h) : NULL;
}

START_TEST(root_callback_swap)
{
    cb_slots = calloc(2, sizeof *cb_slots);
    int handle = gc_add_root_callback(roots_cb, &cb_slots);
    ck_assert_int_ge(handle, 0);
    uintptr_t ha = new_hidden(OBJ_BYTES, 1), hb = new_hidden(OBJ_BYTES, 1);
    cb_store(0, ha);
    collect();
    ck_assert(is_live(ha, OBJ_BYTES));
    ck_assert_msg(is_freed(hb), "hb, held by nothing, survived a cycle");
    int opened = 0, a_marked = 0, b_marked = 0, calls = 0;
    for (int attempt = 0; attempt < 20 && !opened; attempt++) {
        /* A new hb, held hidden only. */
        hb = new_hidden(OBJ_BYTES, 1);
        clear_stack();
        clear_registers();
        if (!mark_window_open()) {
            gc_collect();
            continue;
        }
        opened = 1;
        /* No assertion inside the window: a failure would leave it open. */
        calls = cb_calls;
        a_marked = is_marked(ha);
        b_marked = is_marked(hb);
        /* The mutator swaps the slot between the scans. */
        cb_store(0, hb);
        clear_stack();
        clear_registers();
        mark_window_close();
    }
    ck_assert_msg(opened, "the mark window never opened: the test proves nothing");
    ck_assert_msg(a_marked, "the first pause did not visit the callback's slot");
    ck_assert_msg(!b_marked, "hb was marked before the swap: the test proves nothing");
    gc_collect();
    ck_assert_int_gt(cb_calls, calls);
    for (int i = 0; i < 5; i++)
        collect();
    ck_assert_msg(is_live(hb, OBJ_BYTES), "the swapped-in target was lost");
    ck_assert_msg(is_freed(ha), "the swapped-out target is still alive");
    gc_remove_root_callback(handle);
    calls = cb_calls;
    collect();
    ck_assert_int_eq(cb_calls, calls);
    ck_assert_msg(is_freed(hb), "a removed callback's slot still keeps its target");
    free(cb_slots);
}
END_TEST

/* ---- Misuse, in child processes --------------------------------------------- */

static int child_unknown_type(void)
{
    gc_init(NULL);
    gc_alloc_typed(3999, 16);
    return 0;
}

/* Type 0 of size 0: an empty memo entry must not look like it. */
static int child_type_zero(void)
{
    gc_init(NULL);
    gc_alloc_typed(0, 0);
    return 0;
}

static int child_bad_size(void)
{
    gc_init(NULL);
    gc_alloc_typed(gc_register_type(&quad_type), 40);
    return 0;
}

static void outside_trace(void *obj, size_t size, gc_visit_fn visit, void *ctx)
{
    visit((void **)((char *)obj + size), ctx);
}

static int child_visit_outside(void)
{
    gc_init(NULL);
    gc_type t = {.name = "escaper", .trace = outside_trace};
    holder = gc_alloc_typed(gc_register_type(&t), 32);
    gc_collect();
    return 0;
}

static const struct child children[] = {
    {"unknown_type", child_unknown_type},
    {"type_zero", child_type_zero},
    {"bad_size", child_bad_size},
    {"visit_outside", child_visit_outside},
};

static void expect_abort(const char *name, const char *must1, const char *must2)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    const char *const argv[] = {"test_types", "--child", name, NULL};
    int hung;
    int status = run_self(argv, f, 20, &hung);
    const char *err = read_all(f);
    fclose(f);
    ck_assert_msg(!hung, "child %s hung; stderr: %s", name, err);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "%s: not killed by SIGABRT (status %#x); stderr: %s", name, status, err);
    ck_assert_msg(strstr(err, must1) && strstr(err, must2), "%s: message lacks \"%s\"/\"%s\": %s",
                  name, must1, must2, err);
}

START_TEST(misuse_unknown_type)
{
    expect_abort("unknown_type", "gc_alloc_typed(3999, 16)", "not a registered type");
}
END_TEST

START_TEST(misuse_type_zero)
{
    expect_abort("type_zero", "gc_alloc_typed(0, 0)", "not a registered type");
}
END_TEST

START_TEST(misuse_bad_size)
{
    expect_abort("bad_size", "gc_alloc_typed", "not a multiple of type quad's 32 bytes");
}
END_TEST

START_TEST(misuse_visit_outside)
{
    expect_abort("visit_outside", "gc_type escaper", "not an aligned word inside the object");
}
END_TEST

static Suite *types_suite(void)
{
    Suite *s = suite_create("types");
    TCase *tc = tcase_create("types");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, map_says_where);
    tcase_add_test(tc, trace_says_where);
    tcase_add_test(tc, arrays_repeat_the_map);
    tcase_add_test(tc, large_arrays_in_oblets);
    tcase_add_test(tc, long_maps);
    tcase_add_test(tc, small_arrays_in_one_mask);
    tcase_add_test(tc, memo_entry_shared);
    tcase_add_test(tc, mixed_span_per_object_map);
    tcase_add_test(tc, type_of_realloc_walk);
    tcase_add_test(tc, register_misuse);
    tcase_add_test(tc, rescan_without_barriers);
    tcase_add_test(tc, root_callback_swap);
    tcase_add_test(tc, misuse_unknown_type);
    tcase_add_test(tc, misuse_type_zero);
    tcase_add_test(tc, misuse_bad_size);
    tcase_add_test(tc, misuse_visit_outside);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    int status;
    if (child_dispatch(argc, argv, children, sizeof children / sizeof children[0], &status))
        return status;
    return run_suite(types_suite(), CK_FORK_GETENV);
}
