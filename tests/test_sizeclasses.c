/*
 * Tests for the size-class table and its lookups (runtime/sizeclasses.h).
 *
 * Each check states a property the allocator relies on and walks every
 * class, every request size or every offset, so a wrong table entry, lookup
 * step or magic number shows up as a named failure.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "sizeclasses.h"

static void setup(void)
{
    sizeclasses_init();
}

/* The reference rule, written independently of the lookup tables: the
 * smallest class whose size covers the request and, for requests above 16
 * bytes, whose size is a multiple of 16. */
static unsigned reference_class(size_t request, int keep_alignment)
{
    for (unsigned c = 1; c < NUM_SIZE_CLASSES; c++) {
        size_t size = class_to_size[c];
        if (size < request)
            continue;
        if (keep_alignment && request > 16 && size % 16 != 0)
            continue;
        return c;
    }
    return 0;
}

START_TEST(test_class_zero_is_large)
{
    ck_assert_uint_eq(class_to_size[0], 0);
    ck_assert_uint_eq(class_to_npages[0], 0);
    ck_assert_uint_eq(class_to_divmagic[0], 0);
    ck_assert_uint_eq(class_nelems(0), 1);
}
END_TEST

START_TEST(test_sizes_increasing_and_aligned)
{
    ck_assert_uint_eq(class_to_size[1], 8);
    ck_assert_uint_eq(class_to_size[2], 16);
    ck_assert_uint_eq(class_to_size[3], 24);
    ck_assert_uint_eq(class_to_size[4], 32);
    ck_assert_uint_eq(class_to_size[NUM_SIZE_CLASSES - 1], MAX_SMALL_SIZE);
    for (unsigned c = 1; c < NUM_SIZE_CLASSES; c++) {
        unsigned size = class_to_size[c];
        if (c > 1)
            ck_assert_msg(size > class_to_size[c - 1], "class %u (%u bytes) not above class %u", c,
                          size, c - 1);
        ck_assert_msg(size % 8 == 0, "class %u: %u bytes is not a multiple of 8", c, size);
        if (size > 16 && c != 3)
            ck_assert_msg(size % 16 == 0, "class %u: %u bytes is not a multiple of 16", c, size);
    }
}
END_TEST

START_TEST(test_spans_pages_objects_waste)
{
    for (unsigned c = 1; c < NUM_SIZE_CLASSES; c++) {
        size_t size = class_to_size[c];
        size_t npages = class_to_npages[c];
        size_t span = npages * PAGE_SIZE;
        ck_assert_msg(npages >= 1 && npages <= 10, "class %u: %zu pages", c, npages);
        uint32_t nelems = class_nelems(c);
        ck_assert_uint_eq(nelems, span / size);
        ck_assert_msg(nelems >= 1 && nelems <= MAX_OBJS_PER_SPAN, "class %u: %u objects", c,
                      nelems);
        size_t tail = span % size;
        ck_assert_msg(tail * 8 <= span, "class %u: tail waste %zu of %zu bytes", c, tail, span);
    }
    /* The densest span is exactly at the limit. */
    ck_assert_uint_eq(class_nelems(1), MAX_OBJS_PER_SPAN);
}
END_TEST

START_TEST(test_size_to_class_every_request)
{
    ck_assert_uint_eq(size_to_class(0), 1);
    for (size_t request = 1; request <= MAX_SMALL_SIZE; request++) {
        unsigned c = size_to_class(request);
        ck_assert_msg(c >= 1 && c < NUM_SIZE_CLASSES, "request %zu: class %u", request, c);
        size_t size = class_to_size[c];
        ck_assert_msg(size >= request, "request %zu: class %u has only %zu bytes", request, c,
                      size);
        if (request > 16)
            ck_assert_msg(size % 16 == 0, "request %zu: class %u (%zu bytes) not 16-aligned",
                          request, c, size);
        unsigned want = reference_class(request, 1);
        ck_assert_msg(c == want, "request %zu: class %u, smallest fitting is %u", request, c, want);
        /* Only 17..24 depart from Go's choice. */
        if (request < 17 || request > 24)
            ck_assert_msg(c == reference_class(request, 0), "request %zu: class %u differs from Go",
                          request, c);
    }
}
END_TEST

START_TEST(test_size_to_class_boundaries)
{
    ck_assert_uint_eq(size_to_class(1), 1);
    ck_assert_uint_eq(size_to_class(8), 1);
    ck_assert_uint_eq(size_to_class(9), 2);
    ck_assert_uint_eq(size_to_class(16), 2);
    ck_assert_uint_eq(size_to_class(17), 4);
    ck_assert_uint_eq(size_to_class(24), 4);
    ck_assert_uint_eq(size_to_class(32), 4);
    ck_assert_uint_eq(size_to_class(33), 5);
    ck_assert_uint_eq(size_to_class(1016), 32);
    ck_assert_uint_eq(size_to_class(1024), 32);
    ck_assert_uint_eq(size_to_class(1025), 33);
    ck_assert_uint_eq(size_to_class(1152), 33);
    ck_assert_uint_eq(size_to_class(1153), 34);
    ck_assert_uint_eq(size_to_class(32767), 67);
    ck_assert_uint_eq(size_to_class(MAX_SMALL_SIZE), 67);
    /* No request ever lands in the 24-byte class. */
    for (size_t request = 0; request <= MAX_SMALL_SIZE; request++)
        ck_assert_uint_ne(size_to_class(request), 3);
}
END_TEST

START_TEST(test_divmagic_object_starts)
{
    for (unsigned c = 1; c < NUM_SIZE_CLASSES; c++) {
        uint64_t size = class_to_size[c];
        uint64_t magic = class_to_divmagic[c];
        ck_assert_uint_eq(magic, (uint64_t)(UINT32_MAX / size + 1));
        for (uint32_t i = 0; i < class_nelems(c); i++) {
            uint32_t index = (uint32_t)((i * size * magic) >> 32);
            ck_assert_msg(index == i, "class %u: object %u computes as %u", c, i, index);
        }
    }
}
END_TEST

START_TEST(test_divmagic_every_offset)
{
    for (unsigned c = 1; c < NUM_SIZE_CLASSES; c++) {
        uint32_t size = class_to_size[c];
        uint64_t magic = class_to_divmagic[c];
        /* Every byte of the span, tail included, and one past its end. */
        uint64_t span = class_to_npages[c] * PAGE_SIZE;
        for (uint64_t off = 0; off <= span; off++) {
            uint32_t index = (uint32_t)((off * magic) >> 32);
            if (index != off / size)
                ck_abort_msg("class %u: offset %llu computes as %u, not %llu", c,
                             (unsigned long long)off, index, (unsigned long long)(off / size));
        }
    }
}
END_TEST

START_TEST(test_span_classes)
{
    ck_assert_uint_eq(make_span_class(0, 0), 0);
    ck_assert_uint_eq(make_span_class(0, 1), 1);
    ck_assert_uint_eq(make_span_class(2, 1), 5); /* Go's tinySpanClass */
    ck_assert_uint_eq(make_span_class(NUM_SIZE_CLASSES - 1, 1), NUM_SPAN_CLASSES - 1);
    ck_assert_uint_eq(make_span_class(3, 7), make_span_class(3, 1)); /* any true noscan */
    for (unsigned c = 0; c < NUM_SIZE_CLASSES; c++) {
        for (int noscan = 0; noscan <= 1; noscan++) {
            unsigned spc = make_span_class(c, noscan);
            ck_assert_uint_lt(spc, NUM_SPAN_CLASSES);
            ck_assert_uint_eq(span_class_size(spc), c);
            ck_assert_int_eq(span_class_noscan(spc), noscan);
        }
    }
    for (unsigned spc = 0; spc < NUM_SPAN_CLASSES; spc++)
        ck_assert_uint_eq(make_span_class(span_class_size(spc), span_class_noscan(spc)), spc);
}
END_TEST

START_TEST(test_init_idempotent)
{
    uint8_t small[SIZE_TO_CLASS8_LEN], large[SIZE_TO_CLASS128_LEN];
    uint32_t magic[NUM_SIZE_CLASSES];
    memcpy(small, size_to_class8, sizeof small);
    memcpy(large, size_to_class128, sizeof large);
    memcpy(magic, class_to_divmagic, sizeof magic);
    sizeclasses_init();
    sizeclasses_init();
    ck_assert_mem_eq(small, size_to_class8, sizeof small);
    ck_assert_mem_eq(large, size_to_class128, sizeof large);
    ck_assert_mem_eq(magic, class_to_divmagic, sizeof magic);
}
END_TEST

static Suite *sizeclasses_suite(void)
{
    Suite *s = suite_create("sizeclasses");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_class_zero_is_large);
    tcase_add_test(tc, test_sizes_increasing_and_aligned);
    tcase_add_test(tc, test_spans_pages_objects_waste);
    tcase_add_test(tc, test_size_to_class_every_request);
    tcase_add_test(tc, test_size_to_class_boundaries);
    tcase_add_test(tc, test_divmagic_object_starts);
    tcase_add_test(tc, test_divmagic_every_offset);
    tcase_add_test(tc, test_span_classes);
    tcase_add_test(tc, test_init_idempotent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(sizeclasses_suite(), CK_FORK_GETENV);
}
