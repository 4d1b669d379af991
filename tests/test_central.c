/*
 * Central span lists (runtime/central.c): a span that comes back from a
 * thread's cache, or from the sweeper with live objects in it, hands out
 * exactly its free slots, and is on the list its state says.
 *
 * One span of a class no other test uses is filled with objects of its own;
 * every third is kept (rooted, filled with a pattern), the rest dropped, and
 * a collection sweeps the span: it is now partly free. Allocation must take
 * it from the central list's swept, partial spans before any fresh span, and
 * hand out its free slots, each once, and never a live one: first 70 of
 * them (past a 64-slot word of the allocation bitmap), then the span is
 * given back to its central list mid-way (it must be on the partial list),
 * cached again and the rest handed out, until it is full and goes to the
 * full list. The kept objects keep their contents throughout.
 *
 * The collector runs with GOGC=off: only the test's collection runs.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tricolor.h>

#include "central.h"
#include "check_main.h"
#include "heap.h"
#include "support.h"
#include "threads.h"

/* 48-byte pointer-free objects: 170 to a one-page span. */
#define OBJ 48

static unsigned obj_spanclass(void)
{
    return make_span_class(size_to_class(OBJ), 1);
}

/* Whether s is on list l. */
static int on_list(const struct span_list *l, const struct mspan *s)
{
    for (const struct mspan *x = l->first; x; x = x->next)
        if (x == s)
            return 1;
    return 0;
}

static unsigned swept(void)
{
    return (unsigned)(atomic_load(&mheap_.sweepgen) / 2 % 2);
}

/* Gives every span this thread has cached back to its central list. */
static void uncache_all(void)
{
    struct mthread *t = enter_runtime("test_central");
    mcache_release_all(&t->mcache);
    exit_runtime(t);
}

static unsigned char pattern(uintptr_t p, size_t i)
{
    return (unsigned char)(((p >> 4) + i) | 1);
}

/* Fills a span's worth of new objects and more, and returns (hidden) the
 * span whose every slot is one of them; *kept gets every third of its
 * objects, filled with a pattern. The others are dropped. */
static NOINLINE uintptr_t make_partial_span(void **kept, size_t *nkept)
{
    unsigned nelems = class_nelems(size_to_class(OBJ));
    size_t n = 3 * (size_t)nelems;
    uintptr_t *all = malloc(n * sizeof *all);
    ck_assert_ptr_nonnull(all);
    for (size_t i = 0; i < n; i++)
        all[i] = hide(gc_alloc_noscan(OBJ));
    /* The span of the middle object is entirely this batch's. */
    struct mspan *s = span_of_heap((uintptr_t)reveal(all[n / 2]));
    ck_assert_ptr_nonnull(s);
    size_t mine = 0;
    for (size_t i = 0; i < n; i++)
        mine += span_of_heap((uintptr_t)reveal(all[i])) == s;
    ck_assert_uint_eq(mine, nelems);
    *nkept = 0;
    for (unsigned j = 0; j < nelems; j += 3) {
        unsigned char *p = (unsigned char *)(s->base + (uintptr_t)j * OBJ);
        for (size_t b = 0; b < OBJ; b++)
            p[b] = pattern((uintptr_t)p, b);
        kept[(*nkept)++] = p;
    }
    free(all);
    return hide(s);
}

START_TEST(partial_span_hands_out_its_free_slots)
{
    unsigned spc = obj_spanclass();
    unsigned nelems = class_nelems(size_to_class(OBJ));
    ck_assert_uint_eq(class_to_size[size_to_class(OBJ)], OBJ);
    ck_assert_uint_gt(nelems, 140);
    void **kept = calloc(nelems, sizeof *kept);
    ck_assert_ptr_nonnull(kept);
    gc_add_roots(kept, kept + nelems);
    size_t nkept;
    uintptr_t hs = make_partial_span(kept, &nkept);
    collect();
    struct mspan *s = reveal(hs);
    ck_assert_msg(span_of_heap(s->base) == s, "the span went back to the heap");
    ck_assert_msg(on_list(&mcentral_[spc].partial[swept()], s),
                  "a swept span with free slots is not on its class's swept partial list");

    /* Its free slots, as gc_base sees them (a stale word may have kept a
     * dropped object alive: that slot is simply not free). */
    unsigned char *is_free = calloc(nelems, 1);
    unsigned char *given = calloc(nelems, 1);
    ck_assert(is_free && given);
    unsigned nfree = 0;
    for (unsigned j = 0; j < nelems; j++) {
        is_free[j] = gc_base((void *)(s->base + (uintptr_t)j * OBJ)) == NULL;
        nfree += is_free[j];
    }
    for (size_t k = 0; k < nkept; k++)
        ck_assert(!is_free[((uintptr_t)kept[k] - s->base) / OBJ]);
    ck_assert_uint_ge(nfree, nelems - nkept - 8);

    unsigned handed = 0;
    for (int round = 0; round < 2; round++) {
        unsigned upto = round == 0 ? 70 : nfree;
        for (; handed < upto; handed++) {
            uintptr_t p = (uintptr_t)gc_alloc_noscan(OBJ);
            ck_assert_msg(span_of_heap(p) == s,
                          "allocation %u came from another span while this one had %u free "
                          "slots",
                          handed, nfree - handed);
            unsigned j = (unsigned)((p - s->base) / OBJ);
            ck_assert_msg(is_free[j], "allocation %u handed out slot %u, which is live", handed, j);
            ck_assert_msg(!given[j], "allocation %u handed out slot %u again", handed, j);
            given[j] = 1;
        }
        if (round == 0) {
            /* Given back mid-way, past a bitmap word: a partial span. */
            uncache_all();
            ck_assert(on_list(&mcentral_[spc].partial[swept()], s));
        }
    }
    /* Full now: the next object comes from elsewhere, and given back, the
     * span goes to the full list. */
    ck_assert_ptr_ne(span_of_heap((uintptr_t)gc_alloc_noscan(OBJ)), s);
    uncache_all();
    ck_assert_msg(on_list(&mcentral_[spc].full[swept()], s),
                  "a full span given back is not on its class's swept full list");
    for (size_t k = 0; k < nkept; k++)
        for (size_t b = 0; b < OBJ; b++)
            ck_assert_msg(((unsigned char *)kept[k])[b] == pattern((uintptr_t)kept[k], b),
                          "kept object %p changed at byte %zu", kept[k], b);
    gc_remove_roots(kept, kept + nelems);
    free(kept);
    free(is_free);
    free(given);
}
END_TEST

static Suite *central_suite(void)
{
    Suite *s = suite_create("central");
    TCase *tc = tcase_create("lists");
    tcase_add_test(tc, partial_span_hands_out_its_free_slots);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gc_options opts = {.gogc = "off"};
    if (gc_init(&opts) != 0)
        return EXIT_FAILURE;
    return run_suite(central_suite(), CK_FORK_GETENV);
}
