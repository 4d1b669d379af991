/*
 * Ephemerons (runtime/ephemeron.c): the traps a wrong implementation falls
 * into, each as a test that fails on it.
 *
 * - Key dead: both accessors return NULL and key and value are freed.
 * - The value is kept exactly while the key lives, over many cycles, for
 *   many ephemerons whose keys die at different cycles (canaries checked
 *   every cycle; clobberfree makes a freed value's canary wrong).
 * - A chain e1: k1 -> k2, e2: k2 -> k3, ... keeps its end while k1 lives.
 *   The links are made last first, so that one pass over the registry in
 *   the pause does not reach the fixpoint (gcstoptheworld runs everything
 *   in the pause; the meson test ephemeron_stw runs this suite so).
 * - A value that points to its own key does not keep the key alive.
 * - A dead ephemeron keeps nothing, and leaves the registry.
 * - A value read while a cycle marks is shaded at once.
 * - Misuse: a key that is not a heap object, an accessor given NULL or an
 *   object that is not an ephemeron.
 *
 * Objects that must die are made on a thread that exits, and held only in
 * a registered root range that is then cleared (support.h says why).
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tricolor.h>

#include "capture.h"
#include "check_main.h"
#include "ephemeron.h"
#include "knobs.h"
#include "mark_window.h"
#include "support.h"

#define VSIZE 64

/* The root range: what the tests hold strongly. */
#define NROOTS 4096
static void **roots;

/* Runs fn(arg) on a registered thread that then exits, so that nothing
 * fn left in registers or on its stack can keep an object alive. */
static void *thread_body(void *p)
{
    void **job = p;
    gc_thread_register();
    ((void (*)(void *))job[0])(job[1]);
    gc_thread_unregister();
    return NULL;
}

static void on_thread(void (*fn)(void *), void *arg)
{
    pthread_t th;
    void *job[2] = {(void *)fn, arg};
    ck_assert_int_eq(pthread_create(&th, NULL, thread_body, job), 0);
    pthread_join(th, NULL);
}

static void setup(void)
{
    roots = calloc(NROOTS, sizeof *roots);
    gc_add_roots(roots, roots + NROOTS);
}

static void teardown(void)
{
    gc_remove_roots(roots, roots + NROOTS);
    free(roots);
    roots = NULL;
}

/* Hidden addresses of what a test made, for checks after collections. */
struct made {
    uintptr_t e, k, v;
};

/* Checks out of line, comparing with hidden addresses only, so that the
 * pointers an accessor returns stay out of the test body's frame (where
 * they would be roots). */
static NOINLINE int key_is(const void *e, uintptr_t hk)
{
    return gc_ephemeron_key(e) == (hk ? reveal(hk) : NULL);
}

static NOINLINE int value_is(const void *e, uintptr_t hv)
{
    return gc_ephemeron_value(e) == (hv ? reveal(hv) : NULL);
}

static NOINLINE int pair_is(const void *e, uintptr_t hk, uintptr_t hv)
{
    return key_is(e, hk) && value_is(e, hv);
}

static NOINLINE int cleared(const void *e)
{
    return pair_is(e, 0, 0);
}

/* ---- Key dead: both NULL ------------------------------------------------- */

static void make_pair(void *p)
{
    struct made *m = p;
    m->k = new_hidden(VSIZE, 1);
    m->v = new_hidden(VSIZE, 1);
    gc_ephemeron *e = gc_ephemeron_make(reveal(m->k), reveal(m->v));
    roots[0] = e;
    roots[1] = reveal(m->k);
    m->e = hide(e);
}

START_TEST(key_dead_clears_both)
{
    struct made m;
    on_thread(make_pair, &m);
    collect();
    ck_assert(pair_is(reveal(m.e), m.k, m.v));
    ck_assert(is_live(m.v, VSIZE));
    roots[1] = NULL;
    collect();
    ck_assert(cleared(reveal(m.e)));
    collect();
    ck_assert(is_freed(m.k));
    ck_assert(is_freed(m.v));
}
END_TEST

/* ---- The value lives exactly as long as the key ------------------------- */

#define NPAIRS  500
#define NCYCLES 60

static uintptr_t pk[NPAIRS], pv[NPAIRS];

/* roots[i]: ephemeron i; roots[NPAIRS + i]: key i, dropped at cycle
 * i % NCYCLES. */
static void make_pairs(void *p)
{
    (void)p;
    for (int i = 0; i < NPAIRS; i++) {
        pk[i] = new_hidden(32, 1);
        pv[i] = new_hidden(VSIZE + (size_t)(i % 5) * 48, i % 2);
        roots[i] = gc_ephemeron_make(reveal(pk[i]), reveal(pv[i]));
        roots[NPAIRS + i] = reveal(pk[i]);
    }
}

START_TEST(value_kept_exactly_while_key_lives)
{
    on_thread(make_pairs, NULL);
    for (int c = 0; c < NCYCLES; c++) {
        for (int i = 0; i < NPAIRS; i++)
            if (i % NCYCLES == c)
                roots[NPAIRS + i] = NULL;
        collect();
        for (int i = 0; i < NPAIRS; i++) {
            gc_ephemeron *e = roots[i];
            if (i % NCYCLES <= c) {
                ck_assert_msg(cleared(e), "pair %d: key dropped at cycle %d, still there at %d", i,
                              i % NCYCLES, c);
            } else {
                ck_assert_msg(pair_is(e, pk[i], pv[i]), "pair %d: wrong at cycle %d", i, c);
                ck_assert_msg(is_live(pv[i], VSIZE), "pair %d: value lost at cycle %d", i, c);
            }
        }
    }
    collect();
    for (int i = 0; i < NPAIRS; i++)
        ck_assert_msg(is_freed(pv[i]) && is_freed(pk[i]), "pair %d: not freed", i);
}
END_TEST

/* ---- Chains --------------------------------------------------------------- */

/* e_i: k_i -> k_(i+1), i < NLINKS; only k_0 is held. Made last link
 * first, so that the registry lists them so: one pass over it in the
 * pause marks one more link (two passes, one per phase, are not enough
 * either). */
#define NLINKS 4
static uintptr_t chain_k[NLINKS + 1];

static void make_chain(void *p)
{
    (void)p;
    for (int i = 0; i <= NLINKS; i++)
        chain_k[i] = new_hidden(VSIZE, 1);
    for (int i = NLINKS - 1; i >= 0; i--)
        roots[i] = gc_ephemeron_make(reveal(chain_k[i]), reveal(chain_k[i + 1]));
    roots[NLINKS] = reveal(chain_k[0]);
}

START_TEST(chain_keeps_its_end)
{
    on_thread(make_chain, NULL);
    for (int c = 0; c < 10; c++) {
        collect();
        for (int i = 0; i < NLINKS; i++) {
            ck_assert_msg(is_live(chain_k[i + 1], VSIZE), "link %d lost at cycle %d", i + 1, c);
            ck_assert(pair_is(roots[i], chain_k[i], chain_k[i + 1]));
        }
    }
    roots[NLINKS] = NULL;
    collect();
    /* Every key died with k_0: every link is cleared in the same cycle. */
    for (int i = 0; i < NLINKS; i++)
        ck_assert_msg(cleared(roots[i]), "link %d not cleared", i);
    collect();
    for (int i = 0; i <= NLINKS; i++)
        ck_assert_msg(is_freed(chain_k[i]), "k%d not freed", i);
}
END_TEST

/* ---- A value pointing to its key ------------------------------------------ */

static void make_self_ref(void *p)
{
    struct made *m = p;
    void *k = gc_alloc_noscan(32);
    void **v = gc_alloc(VSIZE);
    gc_write_ptr(&v[0], k);
    gc_write_ptr(&v[1], (char *)k + 8); /* an interior pointer too */
    roots[0] = gc_ephemeron_make(k, v);
    m->k = hide(k);
    m->v = hide(v);
}

START_TEST(self_referencing_value_does_not_keep_key)
{
    struct made m;
    on_thread(make_self_ref, &m);
    collect();
    ck_assert(cleared(roots[0]));
    collect();
    ck_assert(is_freed(m.k));
    ck_assert(is_freed(m.v));
}
END_TEST

/* ---- A dead ephemeron ----------------------------------------------------- */

static void make_dead_ephemeron(void *p)
{
    struct made *m = p;
    m->k = new_hidden(32, 1);
    m->v = new_hidden(VSIZE, 1);
    m->e = hide(gc_ephemeron_make(reveal(m->k), reveal(m->v)));
    roots[0] = reveal(m->k); /* the key lives, the ephemeron does not */
}

START_TEST(dead_ephemeron_keeps_nothing)
{
    collect();
    size_t before = ephemerons_count();
    struct made m;
    on_thread(make_dead_ephemeron, &m);
    ck_assert_uint_eq(ephemerons_count(), before + 1);
    collect();
    ck_assert(is_freed(m.e));
    ck_assert(is_freed(m.v));
    ck_assert(is_live(m.k, 32));
    ck_assert_uint_eq(ephemerons_count(), before);
}
END_TEST

/* ---- Reading while marking shades ------------------------------------------- */

/* In a mark window (mark_window.h: the cycle marks, and cannot reach its
 * end, so no pass of the ephemerons' rule has run), a value read from an
 * ephemeron is marked at once: the reader holds a strong reference. */
START_TEST(read_while_marking_shades)
{
    if (knobs.gcstoptheworld)
        return; /* no concurrent marking: nothing to read during */
    int old = gc_set_percent(-1);
    int held = 0, shaded = 0;
    for (int tries = 0; tries < 50 && held < 3; tries++) {
        struct made m;
        on_thread(make_pair, &m);
        if (!mark_window_open()) {
            gc_collect();
            continue;
        }
        if (is_marked(m.v)) {
            mark_window_close();
            gc_collect();
            continue;
        }
        int read = value_is(reveal(m.e), m.v);
        shaded += read && is_marked(m.v);
        held++;
        mark_window_close();
        gc_collect();
        roots[0] = roots[1] = NULL;
    }
    gc_set_percent(old);
    gc_collect();
    ck_assert_msg(held > 0, "no mark window in 50 tries");
    ck_assert_msg(shaded == held, "%d of %d values read while marking were not shaded",
                  held - shaded, held);
}
END_TEST

/* ---- Misuse --------------------------------------------------------------- */

START_TEST(misuse_is_reported)
{
    static int not_heap;
    capture_begin();
    gc_ephemeron *e = gc_ephemeron_make(&not_heap, NULL);
    const char *msg = capture_end();
    ck_assert_ptr_null(e);
    ck_assert_msg(strstr(msg, "gc_ephemeron_make") && strstr(msg, "not in a heap object"),
                  "message: %s", msg);

    capture_begin();
    void *k = gc_ephemeron_key(NULL);
    msg = capture_end();
    ck_assert_ptr_null(k);
    ck_assert_msg(strstr(msg, "gc_ephemeron_key") && strstr(msg, "not an ephemeron"), "message: %s",
                  msg);

    void *plain = gc_alloc(32);
    capture_begin();
    void *v = gc_ephemeron_value((gc_ephemeron *)plain);
    msg = capture_end();
    ck_assert_ptr_null(v);
    ck_assert_msg(strstr(msg, "gc_ephemeron_value") && strstr(msg, "not an ephemeron"),
                  "message: %s", msg);

    /* A NULL value is allowed. */
    void *key = gc_alloc(16);
    e = gc_ephemeron_make(key, NULL);
    ck_assert_ptr_eq(gc_ephemeron_key(e), key);
    ck_assert_ptr_null(gc_ephemeron_value(e));
}
END_TEST

static Suite *ephemeron_suite(void)
{
    Suite *s = suite_create("ephemeron");
    TCase *tc = tcase_create("ephemeron");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, key_dead_clears_both);
    tcase_add_test(tc, value_kept_exactly_while_key_lives);
    tcase_add_test(tc, chain_keeps_its_end);
    tcase_add_test(tc, self_referencing_value_does_not_keep_key);
    tcase_add_test(tc, dead_ephemeron_keeps_nothing);
    tcase_add_test(tc, read_while_marking_shades);
    tcase_add_test(tc, misuse_is_reported);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gc_init(NULL);
    return run_suite(ephemeron_suite(), CK_NOFORK);
}
