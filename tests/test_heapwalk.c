/*
 * gc_walk_heap (runtime/heapwalk.c) and gc_realloc (runtime/malloc.c).
 *
 * - The walk reports every live object once, with its size, and no object
 *   that a cycle freed: counted by a marker word in objects held from a
 *   registered root range, before and after half of them are dropped.
 * - Entering the runtime from the walk's callback aborts with a message
 *   naming it (in a child).
 * - gc_realloc keeps the object's kind (a scanned object's pointers keep
 *   their targets alive in the copy; a noscan object stays noscan),
 *   returns the object itself when it is big enough, and refuses an
 *   interior pointer with a message.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <tricolor.h>

#include "capture.h"
#include "check_main.h"
#include "child.h"
#include "heap.h"
#include "support.h"

#define N      300
#define MARKER 0x5a5a1234c0ffee00ull

struct tally {
    int count, bad_size;
};

static void count_marked(void *obj, size_t size, uint32_t type, void *data)
{
    struct tally *t = data;
    const uint64_t *w = obj;
    if (w[0] != MARKER)
        return;
    t->count++;
    if (size < (size_t)w[1] || type != 0)
        t->bad_size++;
}

START_TEST(walk_reports_live_objects_once)
{
    void **roots = calloc(N, sizeof *roots);
    gc_add_roots(roots, roots + N);
    for (int i = 0; i < N; i++) {
        size_t size = 16 + (size_t)(i % 7) * 200 + (i % 50 == 0 ? 100000 : 0);
        uint64_t *o = gc_alloc(size);
        o[0] = MARKER;
        o[1] = size;
        roots[i] = o;
    }
    struct tally t = {0};
    gc_walk_heap(count_marked, &t);
    ck_assert_int_eq(t.count, N);
    ck_assert_int_eq(t.bad_size, 0);

    /* Drop every other one: the next walk, after a cycle, sees half. */
    for (int i = 0; i < N; i += 2)
        roots[i] = NULL;
    collect();
    collect();
    t = (struct tally){0};
    gc_walk_heap(count_marked, &t);
    ck_assert_int_eq(t.count, N / 2);
    gc_remove_roots(roots, roots + N);
    free(roots);
}
END_TEST

static void allocating_callback(void *obj, size_t size, uint32_t type, void *data)
{
    (void)obj;
    (void)size;
    (void)type;
    (void)data;
    (void)gc_alloc(16);
}

START_TEST(entering_the_runtime_from_the_callback_aborts)
{
    FILE *err = tmpfile();
    int hung;
    const char *argv[] = {"test_heapwalk", "--alloc-in-walk", NULL};
    int status = run_self(argv, err, 20, &hung);
    const char *msg = read_all(err);
    fclose(err);
    ck_assert_msg(!hung, "the child hung");
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "the child was not aborted (status %#x): %s", status, msg);
    ck_assert_msg(strstr(msg, "gc_alloc") && strstr(msg, "gc_walk_heap"), "message: %s", msg);
}
END_TEST

START_TEST(realloc_keeps_the_kind)
{
    /* A scanned object whose only pointer to a target survives in the copy. */
    void **a = gc_alloc(4 * sizeof(void *));
    uint64_t *target = gc_alloc_noscan(64);
    target[0] = MARKER;
    gc_write_ptr(&a[3], target);
    uintptr_t target_h = hide(target);
    target = NULL;
    void **b = gc_realloc(a, 5000);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_ge(gc_size(b), 5000);
    a = NULL;
    collect();
    ck_assert_ptr_eq(b[3], reveal(target_h));
    ck_assert_uint_eq(((uint64_t *)b[3])[0], MARKER);
    ck_assert(!span_class_noscan(span_of_heap((uintptr_t)b)->spanclass));

    /* A noscan object stays noscan, with its bytes. */
    char *s = gc_alloc_noscan(10);
    memcpy(s, "tricolor!", 10);
    char *s2 = gc_realloc(s, 100000);
    ck_assert_str_eq(s2, "tricolor!");
    ck_assert(span_class_noscan(span_of_heap((uintptr_t)s2)->spanclass));

    /* Big enough already: the object itself. NULL: a new object. */
    ck_assert_ptr_eq(gc_realloc(s2, 10), s2);
    ck_assert_ptr_nonnull(gc_realloc(NULL, 32));

    /* Not the start of an object: refused with a message. */
    capture_begin();
    void *r = gc_realloc(s2 + 1, 50);
    const char *msg = capture_end();
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(msg, "gc_realloc") && strstr(msg, "not the start"), "message: %s", msg);
}
END_TEST

static Suite *heapwalk_suite(void)
{
    Suite *s = suite_create("heapwalk");
    TCase *tc = tcase_create("heapwalk");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, walk_reports_live_objects_once);
    tcase_add_test(tc, entering_the_runtime_from_the_callback_aborts);
    tcase_add_test(tc, realloc_keeps_the_kind);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    gc_init(NULL);
    if (argc > 1 && strcmp(argv[1], "--alloc-in-walk") == 0) {
        (void)gc_alloc(16);
        gc_walk_heap(allocating_callback, NULL);
        return 0;
    }
    return run_suite(heapwalk_suite(), CK_FORK_GETENV);
}
