/*
 * The allocator as a whole: what gc_alloc hands out, how objects are found
 * again, and the statistics that count it all. The page heap underneath has
 * its own suite, test_pagealloc.c.
 *
 * - Zeroing and alignment: for every size class that can be allocated, both
 *   scannable and pointer-free, and several request sizes inside each
 *   class, new objects are all zero and aligned (16 bytes for objects of 16
 *   bytes and more, 8 below). Objects are then dirtied and dropped, a
 *   collection frees them, and the memory handed out again (the same slots,
 *   which the test checks by their addresses, and pages freed from small
 *   spans and reused for large objects) is zero again, while the objects
 *   kept alive keep their contents.
 * - findObject (gc_base, gc_size): every interior byte of an object of
 *   every class resolves to its base and class size; large objects (one of
 *   them crossing a 64 MiB arena boundary) likewise; addresses outside the
 *   heap, free slots of a span, a span's tail waste and freed objects
 *   resolve to nothing.
 * - Statistics: four threads allocating at once with the collector off,
 *   read while they are still registered and after they have gone: mallocs,
 *   total_alloc, heap_alloc, heap_objects and by_size grow by exactly what
 *   was allocated; the MemStats identities hold in one snapshot.
 * - In fresh processes (this program run again), where a failure would
 *   hang or crash the suite: gc_read_memstats followed by gc_collect on the
 *   same registered thread finishes (stop_the_world used to leave the
 *   reader marked inside the runtime), and so does a collection before
 *   anything was allocated (span_of used to index the arena table with a
 *   wild address while the heap had no arena).
 *
 * Safe under CK_FORK=no, where the tests share one process: each test that
 * needs the collector idle turns GOGC off in its fixture and restores it
 * after, and drops or unregisters every root it adds.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tricolor.h>

#include "check_main.h"
#include "child.h"
#include "heap.h"
#include "sizeclasses.h"
#include "span.h"
#include "threads.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static void *alloc_kind(size_t size, int noscan)
{
    return noscan ? gc_alloc_noscan(size) : gc_alloc(size);
}

/* The size gc_size must report for a request. */
static size_t object_size(size_t request)
{
    if (request > MAX_SMALL_SIZE)
        return (request + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    return class_to_size[size_to_class(request)];
}

static uintptr_t want_align(size_t objsize)
{
    return objsize >= 16 ? 16 : 8;
}

/* Offset of the first non-zero byte of [p, p+n), or -1. */
static long first_nonzero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return (long)i;
    return -1;
}

/* Offset of the first byte of [p, p+n) that is not v, or -1. */
static long first_not(const void *p, size_t n, unsigned char v)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v)
            return (long)i;
    return -1;
}

/* Can anything be allocated from class c? (Not the 24-byte class.) */
static int class_reachable(unsigned c)
{
    return c > 0 && size_to_class(class_to_size[c]) == c;
}

/* Requests that land in class c: its largest, its smallest, one between,
 * and 0 for the first class. Returns how many. */
static size_t class_requests(unsigned c, size_t out[4])
{
    size_t hi = class_to_size[c];
    size_t lo = hi;
    while (lo > 1 && size_to_class(lo - 1) == c)
        lo--;
    size_t n = 0;
    out[n++] = hi;
    if (lo != hi)
        out[n++] = lo;
    if ((lo + hi) / 2 != lo && (lo + hi) / 2 != hi)
        out[n++] = (lo + hi) / 2;
    if (c == 1)
        out[n++] = 0;
    return n;
}

static int cmp_uintptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static int sorted_contains(const uintptr_t *v, size_t n, uintptr_t x)
{
    return bsearch(&x, v, n, sizeof *v, cmp_uintptr) != NULL;
}

/* ---- Fixtures ---------------------------------------------------------- */

/* ---- Zeroing and alignment --------------------------------------------- */

/* One span class's objects in zeroed_aligned_reused. */
struct batch {
    unsigned sizeclass; /* 0: large objects */
    int noscan;
    size_t first, n; /* its objects: dead[first .. first+n) */
};

static const size_t large_requests[] = {MAX_SMALL_SIZE + 1, 40 * KiB, 100 * KiB + 1, 1 * MiB};

static size_t batch_request(const struct batch *b, size_t i)
{
    if (b->sizeclass == 0)
        return large_requests[i % (sizeof large_requests / sizeof large_requests[0])];
    size_t req[4];
    size_t nreq = class_requests(b->sizeclass, req);
    return req[i % nreq];
}

/* Allocates one object for batch b and checks it is zero and aligned. */
static void *alloc_checked(const struct batch *b, size_t i, const char *phase)
{
    size_t req = batch_request(b, i);
    void *p = alloc_kind(req, b->noscan);
    size_t size = object_size(req);
    ck_assert_ptr_nonnull(p);
    ck_assert_msg(gc_size(p) == size, "%s: class %u request %zu: gc_size %zu, want %zu", phase,
                  b->sizeclass, req, gc_size(p), size);
    ck_assert_msg((uintptr_t)p % want_align(size) == 0,
                  "%s: class %u (%zu bytes) request %zu: %p not %lu-byte aligned", phase,
                  b->sizeclass, size, req, p, (unsigned long)want_align(size));
    long nz = first_nonzero(p, size);
    ck_assert_msg(nz < 0, "%s: class %u noscan %d request %zu: %p byte %ld is not zero", phase,
                  b->sizeclass, b->noscan, req, p, nz);
    return p;
}

START_TEST(zeroed_aligned_reused)
{
    /* Every span class, two spans' worth of objects (at least 8), and four
     * of each large request. */
    struct batch batches[NUM_SPAN_CLASSES + 2];
    size_t nbatches = 0, total = 0;
    for (unsigned c = 0; c < NUM_SIZE_CLASSES; c++) {
        if (c != 0 && !class_reachable(c))
            continue;
        for (int noscan = 0; noscan <= 1; noscan++) {
            struct batch *b = &batches[nbatches++];
            b->sizeclass = c;
            b->noscan = noscan;
            b->first = total;
            if (c == 0)
                b->n = 4 * sizeof large_requests / sizeof large_requests[0];
            else
                b->n = 2 * class_nelems(c) < 8 ? 8 : 2 * class_nelems(c);
            total += b->n;
        }
    }
    ck_assert_uint_eq(nbatches, 2 * (NUM_SIZE_CLASSES - 1)); /* all but the 24-byte class */

    /* dead: hidden addresses of the first round's dropped objects; all:
     * of every object of both rounds, for the last one; keep: every fourth
     * object of the first round, rooted. */
    uintptr_t *dead = calloc(total, sizeof *dead);
    uintptr_t *all = calloc(2 * total, sizeof *all);
    void **keep = calloc(total, sizeof *keep);
    size_t *keep_size = calloc(total, sizeof *keep_size);
    ck_assert(dead && all && keep && keep_size);
    gc_add_roots(keep, keep + total);
    size_t nkeep = 0, nall = 0, dead_bytes = 0;

    for (size_t bi = 0; bi < nbatches; bi++) {
        const struct batch *b = &batches[bi];
        for (size_t i = 0; i < b->n; i++) {
            void *p = alloc_checked(b, i, "first round");
            size_t size = gc_size(p);
            all[nall++] = hide(p);
            if (i % 4 == 0) {
                memset(p, 0x5a, size);
                keep[nkeep] = p;
                keep_size[nkeep++] = size;
                dead[b->first + i] = 0;
            } else {
                memset(p, 0xa5, size);
                dead[b->first + i] = hide(p);
                dead_bytes += size;
            }
        }
    }

    gc_collect();

    for (size_t k = 0; k < nkeep; k++) {
        ck_assert_ptr_eq(gc_base(keep[k]), keep[k]);
        long bad = first_not(keep[k], keep_size[k], 0x5a);
        ck_assert_msg(bad < 0, "kept object %p changed at byte %ld by a collection", keep[k], bad);
    }

    /* Second round: as many objects again, zero although the slots were
     * dirty, and many of them in the very slots freed. */
    size_t reused_total = 0;
    uintptr_t *sorted = calloc(total, sizeof *sorted);
    ck_assert_ptr_nonnull(sorted);
    for (size_t bi = 0; bi < nbatches; bi++) {
        const struct batch *b = &batches[bi];
        size_t nd = 0;
        for (size_t i = 0; i < b->n; i++)
            if (dead[b->first + i])
                sorted[nd++] = (uintptr_t)reveal(dead[b->first + i]);
        qsort(sorted, nd, sizeof *sorted, cmp_uintptr);
        size_t reused = 0;
        for (size_t i = 0; i < b->n; i++) {
            void *p = alloc_checked(b, i, "after a collection");
            reused += sorted_contains(sorted, nd, (uintptr_t)p);
            all[nall++] = hide(p);
            memset(p, 0xc3, gc_size(p));
        }
        /* A class with more than one object per span keeps partly free
         * spans after the collection, and allocation takes those first. */
        if (b->sizeclass != 0 && class_nelems(b->sizeclass) > 1)
            ck_assert_msg(reused > 0, "class %u noscan %d: no freed slot was reused (of %zu)",
                          b->sizeclass, b->noscan, nd);
        reused_total += reused;
    }
    ck_assert_uint_gt(reused_total, total / 4);
    free(sorted);

    for (size_t k = 0; k < nkeep; k++) {
        long bad = first_not(keep[k], keep_size[k], 0x5a);
        ck_assert_msg(bad < 0, "kept object %p overwritten at byte %ld by a new allocation",
                      keep[k], bad);
    }

    /* Last round: drop everything; the small spans go back to the page heap
     * dirty, and large objects carved from those pages must be zero. */
    memset(keep, 0, total * sizeof *keep);
    gc_collect();
    for (size_t i = 0; i < nall; i++)
        all[i] = (uintptr_t)reveal(all[i]);
    qsort(all, nall, sizeof *all, cmp_uintptr);
    size_t overlapping = 0;
    const struct batch large = {.sizeclass = 0, .noscan = 1};
    for (size_t got = 0; got < dead_bytes;) {
        void *p = alloc_checked(&large, 3, "on pages of freed small spans"); /* 1 MiB */
        size_t size = gc_size(p);
        got += size;
        /* Does any earlier object lie inside this one? */
        uintptr_t lo = (uintptr_t)p;
        size_t a = 0, z = nall;
        while (a < z) {
            size_t m = (a + z) / 2;
            if (all[m] < lo)
                a = m + 1;
            else
                z = m;
        }
        overlapping += a < nall && all[a] < lo + size;
        memset(p, 0x3c, size);
    }
    ck_assert_msg(overlapping > 0, "no large object reused the pages of the freed objects");

    gc_remove_roots(keep, keep + total);
    free(keep_size);
    free(keep);
    free(all);
    free(dead);
}
END_TEST

/* ---- findObject ------------------------------------------------------- */

static int a_global = 42;

/* gc_base and gc_size at every byte of p's object. */
static void check_every_offset(void *p, size_t size)
{
    ck_assert_ptr_eq(gc_base(p), p);
    ck_assert_uint_eq(gc_size(p), size);
    for (size_t k = 0; k < size; k++) {
        const char *q = (const char *)p + k;
        if (gc_base(q) != p || gc_size(q) != size)
            ck_abort_msg("object %p of %zu bytes: gc_base(p + %zu) = %p, gc_size = %zu", p, size, k,
                         gc_base(q), gc_size(q));
    }
}

START_TEST(find_object_every_class)
{
    for (unsigned c = 1; c < NUM_SIZE_CLASSES; c++) {
        if (!class_reachable(c))
            continue;
        size_t size = class_to_size[c];
        for (int noscan = 0; noscan <= 1; noscan++) {
            /* Three neighbours, so that the middle one's edges are tested
             * against allocated objects on both sides (when they share a
             * span). */
            void *p[3];
            for (int i = 0; i < 3; i++)
                p[i] = alloc_kind(size, noscan);
            for (int i = 0; i < 3; i++)
                check_every_offset(p[i], size);
            char *mid = p[1];
            void *below = gc_base(mid - 1), *above = gc_base(mid + size);
            ck_assert_ptr_ne(below, mid);
            ck_assert_ptr_ne(above, mid);
            if (p[0] == mid - size)
                ck_assert_ptr_eq(below, p[0]);
            if (p[2] == mid + size)
                ck_assert_ptr_eq(above, p[2]);
        }
    }
}
END_TEST

START_TEST(find_object_large)
{
    static const struct {
        size_t request;
        int noscan;
    } cases[] = {
        {MAX_SMALL_SIZE + 1, 0}, {40 * KiB, 0}, {40 * KiB + 1, 1}, {MiB, 0}, {65 * MiB, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t req = cases[i].request;
        char *p = alloc_kind(req, cases[i].noscan);
        size_t size = object_size(req);
        ck_assert_uint_eq((uintptr_t)p % PAGE_SIZE, 0);
        ck_assert_uint_eq(gc_size(p), size);
        const size_t offsets[] = {0,
                                  1,
                                  8,
                                  PAGE_SIZE - 1,
                                  PAGE_SIZE,
                                  size / 2,
                                  size / 2 + 1,
                                  size - PAGE_SIZE,
                                  size - 8,
                                  size - 1};
        for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
            ck_assert_msg(gc_base(p + offsets[k]) == p, "%zu-byte object: gc_base(p + %zu) = %p",
                          req, offsets[k], gc_base(p + offsets[k]));
            ck_assert_uint_eq(gc_size(p + offsets[k]), size);
        }
        for (size_t off = 0; off < size; off += PAGE_SIZE) {
            if (gc_base(p + off) != p || gc_base(p + off + PAGE_SIZE - 1) != p)
                ck_abort_msg("%zu-byte object %p: page at offset %zu does not resolve", req,
                             (void *)p, off);
        }
        ck_assert_ptr_ne(gc_base(p - 1), p);
        ck_assert_ptr_ne(gc_base(p + size), p);
        if (req == 65 * MiB) {
            /* It spans two arenas: the bytes either side of the boundary. */
            uintptr_t lo = (uintptr_t)p, hi = lo + size;
            uintptr_t boundary = (lo + ARENA_BYTES) & ~(ARENA_BYTES - 1);
            ck_assert_uint_lt(boundary, hi);
            ck_assert_ptr_eq(gc_base((void *)(boundary - 1)), p);
            ck_assert_ptr_eq(gc_base((void *)boundary), p);
            ck_assert_uint_eq(gc_size((void *)boundary), size);
        }
    }
}
END_TEST

START_TEST(find_object_not_in_heap)
{
    int local = 7;
    void *m = malloc(64);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_null(gc_base(&local));
    ck_assert_ptr_null(gc_base(&a_global));
    ck_assert_ptr_null(gc_base(m));
    ck_assert_ptr_null(gc_base(NULL));
    ck_assert_ptr_null(gc_base((void *)1));
    ck_assert_ptr_null(gc_base((void *)UINTPTR_MAX));
    ck_assert_ptr_null(gc_base((void *)(uintptr_t)gc_base)); /* code */
    ck_assert_uint_eq(gc_size(&local), 0);
    ck_assert_uint_eq(gc_size(&a_global), 0);
    ck_assert_uint_eq(gc_size(m), 0);
    ck_assert_uint_eq(gc_size(NULL), 0);
    ck_assert_uint_eq(gc_size((void *)1), 0);
    free(m);

    /* Just outside the heap's address range. */
    uintptr_t lo = atomic_load(&mheap_.arena_lo), hi = atomic_load(&mheap_.arena_hi);
    ck_assert_ptr_null(gc_base((void *)(lo - 1)));
    ck_assert_ptr_null(gc_base((void *)hi));
}
END_TEST

/* Allocates objects of span class (c, noscan) until one is the first slot
 * of a span none of whose slots had been allocated. Returns that span. */
static struct mspan *fresh_span(unsigned c, int noscan, void **first)
{
    size_t size = class_to_size[c];
    for (size_t tries = 0; tries < 64 * (size_t)class_nelems(c) + 64; tries++) {
        void *p = alloc_kind(size, noscan);
        struct mspan *s = span_of_heap((uintptr_t)p);
        ck_assert_ptr_nonnull(s);
        if ((uintptr_t)p == s->base && s->freeindex == 1 &&
            span_count_bits(s->alloc_bits, s->nelems) == 0) {
            *first = p;
            return s;
        }
    }
    ck_abort_msg("class %u: no fresh span", c);
    return NULL;
}

START_TEST(find_object_free_slots)
{
    /* 8 bytes (1024 per span), 48 (tail waste of 32 bytes), 1152 (two
     * pages), 3072 (three pages, 8 per span). */
    static const unsigned sizes[] = {8, 48, 1152, 3072};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned c = size_to_class(sizes[i]);
        ck_assert_uint_eq(class_to_size[c], sizes[i]);
        for (int noscan = 0; noscan <= 1; noscan++) {
            void *first;
            struct mspan *s = fresh_span(c, noscan, &first);
            size_t size = s->elemsize;
            ck_assert_uint_eq(size, sizes[i]);
            ck_assert_uint_eq(s->spanclass, make_span_class(c, noscan));
            /* Slot 0 is the object; slot 1 on, free. */
            ck_assert_ptr_eq(gc_base(first), first);
            for (unsigned j = 1; j < s->nelems; j++) {
                uintptr_t slot = s->base + (uintptr_t)j * size;
                const size_t offs[] = {0, 1, size / 2, size - 1};
                for (size_t k = 0; k < 4; k++)
                    if (gc_base((void *)(slot + offs[k])) != NULL)
                        ck_abort_msg("class %u: free slot %u + %zu resolves to %p", c, j, offs[k],
                                     gc_base((void *)(slot + offs[k])));
                ck_assert_uint_eq(gc_size((void *)slot), 0);
            }
            /* The tail after the last slot belongs to no object. */
            uintptr_t end = s->base + s->npages * PAGE_SIZE;
            if (s->limit < end) {
                ck_assert_ptr_null(gc_base((void *)s->limit));
                ck_assert_ptr_null(gc_base((void *)(end - 1)));
            }
            /* The slot right after the object becomes one when allocated. */
            uintptr_t next = s->base + size;
            ck_assert_ptr_null(gc_base((void *)next));
            void *q = alloc_kind(size, noscan);
            ck_assert_ptr_eq(q, (void *)next);
            ck_assert_ptr_eq(gc_base((char *)q + size - 1), q);
            ck_assert_ptr_eq(gc_base((char *)first + size - 1), first);
        }
    }
}
END_TEST

START_TEST(find_object_freed)
{
    /* One object kept, the others dropped: after a collection the dropped
     * ones resolve to nothing (all but a few, which stale words on the
     * stack may conservatively keep). */
    enum { N = 256 };
    static void *kept;
    static uintptr_t dropped[N];
    gc_add_roots(&kept, &kept + 1);
    kept = gc_alloc(64);
    for (int i = 0; i < N; i++)
        dropped[i] = hide(gc_alloc(64));
    gc_collect();
    int gone = 0;
    for (int i = 0; i < N; i++)
        gone += gc_base(reveal(dropped[i])) == NULL;
    ck_assert_ptr_eq(gc_base(kept), kept);
    ck_assert_msg(gone >= N - 8, "only %d of %d dropped objects were freed", gone, N);
    kept = NULL;
    gc_remove_roots(&kept, &kept + 1);
}
END_TEST

/* ---- Statistics -------------------------------------------------------- */

enum { WORKERS = 4, PER_SIZE = 60, PER_LARGE = 3 };
static const size_t worker_small[] = {0, 8, 16, 24, 33, 100, 256, 1000, 1500, 5000, 16384, 32768};
static const size_t worker_large[] = {MAX_SMALL_SIZE + 1, 64 * KiB, 300000};
#define N_SMALL    (sizeof worker_small / sizeof worker_small[0])
#define N_LARGE    (sizeof worker_large / sizeof worker_large[0])
#define PER_WORKER (N_SMALL * PER_SIZE + N_LARGE * PER_LARGE)

static pthread_barrier_t workers_done, workers_go;

static void *worker(void *arg)
{
    void **slots = arg;
    size_t n = 0;
    if (gc_thread_register() != 0)
        return (void *)1;
    /* Interleaved, so that the threads' caches refill as they go. */
    for (size_t r = 0; r < PER_SIZE; r++) {
        for (size_t i = 0; i < N_SMALL; i++)
            slots[n++] = alloc_kind(worker_small[i], (int)((r + i) % 2));
        if (r % (PER_SIZE / PER_LARGE) == 0)
            for (size_t i = 0; i < N_LARGE; i++)
                slots[n++] = alloc_kind(worker_large[i], (int)(i % 2));
    }
    /* Still registered, with objects in the caches: the main thread reads
     * the statistics now. */
    pthread_barrier_wait(&workers_done);
    pthread_barrier_wait(&workers_go);
    return (void *)(uintptr_t)(gc_thread_unregister() != 0);
}

/* The MemStats identities in one snapshot. swept: no sweeping can be in
 * progress, so heap_alloc (which still counts objects not yet swept) fits in
 * heap_inuse; while the background sweeper runs, a snapshot may see a span
 * already freed but its objects not yet counted as freed. */
static void check_identities(const gc_memstats *m, int swept)
{
    ck_assert_uint_eq(m->heap_idle + m->heap_inuse, m->heap_sys);
    ck_assert_uint_eq(m->heap_objects, m->mallocs - m->frees);
    ck_assert_uint_eq(m->alloc, m->heap_alloc);
    ck_assert_uint_ge(m->sys, m->heap_sys);
    ck_assert_uint_le(m->heap_released, m->heap_idle);
    if (swept)
        ck_assert_uint_le(m->heap_alloc, m->heap_inuse);
    ck_assert_uint_le(m->frees, m->mallocs);
    ck_assert_uint_le(m->heap_alloc, m->total_alloc);
    ck_assert_uint_eq(m->heap_sys % PAGE_SIZE, 0);
    uint64_t small = 0;
    for (unsigned c = 0; c < 61; c++) {
        ck_assert_uint_eq(m->by_size[c].size, class_to_size[c]);
        ck_assert_uint_le(m->by_size[c].frees, m->by_size[c].mallocs);
        small += m->by_size[c].mallocs;
    }
    ck_assert_uint_eq(m->by_size[0].mallocs, 0);
    ck_assert_uint_le(small, m->mallocs);
    ck_assert_uint_eq(m->lookups, 0);
    ck_assert_int_eq(m->enable_gc, 1);
}

/* What the workers' allocations add to the counters. */
struct expect {
    uint64_t mallocs, bytes, by_class[NUM_SIZE_CLASSES];
};

static struct expect workers_expect(void)
{
    struct expect e;
    memset(&e, 0, sizeof e);
    for (size_t i = 0; i < N_SMALL; i++) {
        unsigned c = size_to_class(worker_small[i]);
        e.by_class[c] += (uint64_t)WORKERS * PER_SIZE;
        e.mallocs += (uint64_t)WORKERS * PER_SIZE;
        e.bytes += (uint64_t)WORKERS * PER_SIZE * class_to_size[c];
    }
    for (size_t i = 0; i < N_LARGE; i++) {
        e.mallocs += (uint64_t)WORKERS * PER_LARGE;
        e.bytes += (uint64_t)WORKERS * PER_LARGE * object_size(worker_large[i]);
    }
    return e;
}

static void check_delta(const gc_memstats *a, const gc_memstats *b, const struct expect *e,
                        const char *when)
{
    ck_assert_msg(b->mallocs - a->mallocs == e->mallocs, "%s: mallocs +%llu, want +%llu", when,
                  (unsigned long long)(b->mallocs - a->mallocs), (unsigned long long)e->mallocs);
    ck_assert_msg(b->frees == a->frees, "%s: %llu frees with the collector off", when,
                  (unsigned long long)(b->frees - a->frees));
    ck_assert_msg(b->total_alloc - a->total_alloc == e->bytes, "%s: total_alloc +%llu, want +%llu",
                  when, (unsigned long long)(b->total_alloc - a->total_alloc),
                  (unsigned long long)e->bytes);
    ck_assert_msg(b->heap_alloc - a->heap_alloc == e->bytes, "%s: heap_alloc +%llu, want +%llu",
                  when, (unsigned long long)(b->heap_alloc - a->heap_alloc),
                  (unsigned long long)e->bytes);
    ck_assert_msg(
        b->heap_objects - a->heap_objects == e->mallocs, "%s: heap_objects +%llu, want +%llu", when,
        (unsigned long long)(b->heap_objects - a->heap_objects), (unsigned long long)e->mallocs);
    for (unsigned c = 1; c < 61; c++)
        ck_assert_msg(b->by_size[c].mallocs - a->by_size[c].mallocs == e->by_class[c],
                      "%s: by_size[%u] (%u bytes) mallocs +%llu, want +%llu", when, c,
                      class_to_size[c],
                      (unsigned long long)(b->by_size[c].mallocs - a->by_size[c].mallocs),
                      (unsigned long long)e->by_class[c]);
    ck_assert_uint_ge(b->heap_inuse - a->heap_inuse, e->bytes - e->bytes / 4);
    ck_assert_uint_eq(b->num_gc, a->num_gc);
}

START_TEST(memstats_threads_exact)
{
    void **slots = calloc(WORKERS * PER_WORKER, sizeof *slots);
    ck_assert_ptr_nonnull(slots);
    gc_add_roots(slots, slots + WORKERS * PER_WORKER);
    struct expect e = workers_expect();

    gc_memstats *m0 = malloc(3 * sizeof *m0);
    ck_assert_ptr_nonnull(m0);
    gc_memstats *m1 = m0 + 1, *m2 = m0 + 2;
    gc_read_memstats(m0);
    check_identities(m0, 1);

    pthread_barrier_init(&workers_done, NULL, WORKERS + 1);
    pthread_barrier_init(&workers_go, NULL, WORKERS + 1);
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker, slots + i * PER_WORKER), 0);
    pthread_barrier_wait(&workers_done);
    gc_read_memstats(m1); /* the workers' caches still hold spans */
    pthread_barrier_wait(&workers_go);
    int failures = 0;
    for (int i = 0; i < WORKERS; i++) {
        void *r;
        pthread_join(t[i], &r);
        failures += r != NULL;
    }
    pthread_barrier_destroy(&workers_done);
    pthread_barrier_destroy(&workers_go);
    gc_read_memstats(m2);
    ck_assert_int_eq(failures, 0);

    check_identities(m1, 1);
    check_identities(m2, 1);
    check_delta(m0, m1, &e, "threads registered");
    check_delta(m0, m2, &e, "threads gone");

    /* Every object is there, and of the right size. */
    for (size_t w = 0; w < WORKERS; w++) {
        void **s = slots + w * PER_WORKER;
        for (size_t i = 0; i < PER_WORKER; i++)
            ck_assert_ptr_eq(gc_base(s[i]), s[i]);
    }

    gc_remove_roots(slots, slots + WORKERS * PER_WORKER);
    free(slots);
    free(m0);
}
END_TEST

START_TEST(memstats_identities)
{
    /* After a mix of allocation and collection, with the collector on. */
    gc_memstats *m = malloc(sizeof *m);
    ck_assert_ptr_nonnull(m);
    static void *keep[64];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 2000; i++) {
            void *p = gc_alloc((size_t)(i * 37 % 3000));
            if (i % 64 == 0)
                keep[i / 64 % 64] = p;
        }
        for (int i = 0; i < 4; i++)
            keep[i] = gc_alloc_noscan(50 * KiB * (size_t)(i + 1));
        gc_read_memstats(m);
        check_identities(m, 0); /* a cycle may be sweeping */
        gc_collect();
        gc_read_memstats(m);
        check_identities(m, 1);
        ck_assert_uint_gt(m->frees, 0);
        ck_assert_uint_gt(m->num_gc, 0);
    }
    memset(keep, 0, sizeof keep);
    free(m);
}
END_TEST

/* ---- In fresh processes ------------------------------------------------- */

#define CHILD_MEMSTATS "--memstats-then-collect"
#define CHILD_EMPTY    "--collect-before-first-alloc"

/* In a fresh process: the main thread reads the statistics and then
 * collects. Exits 0 if the collection finishes. */
static int memstats_then_collect_child(void)
{
    gc_init(NULL);
    gc_alloc(1); /* the first arena (see collect_before_first_alloc) */
    gc_memstats *m = malloc(sizeof *m);
    gc_read_memstats(m);
    gc_collect();
    gc_read_memstats(m);
    gc_alloc(16);
    gc_collect();
    free(m);
    return 0;
}

/* In a fresh process: a collection before anything was allocated, when
 * the heap has no arena yet, then one after. Exits 0 if both finish. */
static int collect_before_first_alloc_child(void)
{
    gc_init(NULL);
    gc_collect();
    void *p = gc_alloc(16);
    gc_collect();
    return gc_base(p) == p ? 0 : 1;
}

/* Runs this program again with one argument, killing it if it has not
 * ended within 5 seconds. Returns its wait status; *hung says whether it
 * was killed. */
static int run_child(const char *arg, int *hung)
{
    const char *const argv[] = {"test_alloc", arg, NULL};
    return run_self(argv, NULL, 5, hung);
}

START_TEST(memstats_then_collect_finishes)
{
    int hung;
    int status = run_child(CHILD_MEMSTATS, &hung);
    ck_assert_msg(!hung, "gc_collect after gc_read_memstats on the same thread hung (killed "
                         "after 5 s)");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child ended with status %#x",
                  status);
}
END_TEST

START_TEST(collect_before_first_alloc)
{
    int hung;
    int status = run_child(CHILD_EMPTY, &hung);
    ck_assert_msg(!hung, "gc_collect before the first allocation hung (killed after 5 s)");
    ck_assert_msg(!WIFSIGNALED(status), "gc_collect before the first allocation: killed by %s",
                  WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child ended with status %#x",
                  status);
}
END_TEST

/* ---- The runner -------------------------------------------------------- */

static Suite *alloc_suite(void)
{
    Suite *s = suite_create("alloc");

    TCase *zero = tcase_create("zeroing");
    tcase_add_checked_fixture(zero, collector_off, collector_restore);
    tcase_add_test(zero, zeroed_aligned_reused);
    tcase_set_timeout(zero, 30);
    suite_add_tcase(s, zero);

    TCase *find = tcase_create("find_object");
    tcase_add_checked_fixture(find, collector_off, collector_restore);
    tcase_add_test(find, find_object_every_class);
    tcase_add_test(find, find_object_large);
    tcase_add_test(find, find_object_not_in_heap);
    tcase_add_test(find, find_object_free_slots);
    tcase_add_test(find, find_object_freed);
    suite_add_tcase(s, find);

    TCase *stats = tcase_create("memstats");
    tcase_add_checked_fixture(stats, collector_off, collector_restore);
    tcase_add_test(stats, memstats_threads_exact);
    suite_add_tcase(s, stats);

    TCase *ident = tcase_create("memstats_collector_on");
    tcase_add_test(ident, memstats_identities);
    suite_add_tcase(s, ident);

    /* Each in a fresh process: a failure here would take the suite down. */
    TCase *fresh = tcase_create("fresh_process");
    tcase_add_test(fresh, memstats_then_collect_finishes);
    tcase_add_test(fresh, collect_before_first_alloc);
    tcase_set_timeout(fresh, 30);
    suite_add_tcase(s, fresh);
    return s;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], CHILD_MEMSTATS) == 0)
        return memstats_then_collect_child();
    if (argc == 2 && strcmp(argv[1], CHILD_EMPTY) == 0)
        return collect_before_first_alloc_child();
    if (gc_init(NULL) != 0)
        return EXIT_FAILURE;
    return run_suite(alloc_suite(), CK_FORK_GETENV);
}
