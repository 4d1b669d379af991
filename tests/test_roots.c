/*
 * Roots (runtime/roots.c, mark.c): what keeps an object alive, and what
 * does not.
 *
 * Each test allocates an object that is reachable from exactly one kind of
 * root, and a control object that is reachable from nothing, runs
 * gc_collect(), and checks that the first survived intact and the second was
 * freed (so the cycle really collected). The roots: a local on this thread's
 * stack, a value held in a register (this thread, and a thread stopped while
 * it spins), a local on another registered thread's stack while it blocks in
 * read() or on a condition variable, the executable's data and bss, a shared
 * library's data and bss, gc_add_roots ranges (and their removal), pointers
 * inside heap objects, interior pointers (small and large objects, on the
 * stack, in globals and in the heap), a large object's only pointer in the
 * last of its oblets, at either end of that oblet. What is not a root: a
 * pointer one past the end of an object, a pointer stored in a
 * gc_alloc_noscan object, a pointer just outside a gc_add_roots range, a
 * removed range, an unregistered (exited) thread's stack. Finally, freed
 * memory is reused by later allocations of the same class.
 *
 * How "freed" is seen without keeping the object alive: addresses are kept
 * hidden (bitwise complemented, which never looks like a heap address) and
 * only revealed inside small noinline helpers; after gc_collect() returns
 * the heap is swept, so gc_base(address) == NULL exactly when the object was
 * freed. Conservative scanning could keep a garbage object alive through a
 * stale stack slot or register, so allocations and pointer arithmetic happen
 * in noinline helpers, and every collection first clears 16 KiB of the stack
 * below the caller and the scratch (general and vector) registers. With
 * that, "freed" is exact, also at -O0, -O3 and under ASan/UBSan.
 *
 * The collector runs with GOGC=off (only gc_collect() starts cycles) and
 * GODEBUG=gccheckmark=1,clobberfree=1: every cycle is re-marked with the
 * world stopped, and freed objects are overwritten, which the pattern checks
 * of surviving objects would notice.
 *
 * Safe under CK_FORK=no: gc_init runs once in main, and every test leaves no
 * roots behind.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#include "check_main.h"
#include "gc.h"
#include "mark.h"
#include "rootlib.h"
#include "support.h"

/* The executable's segment bounds, from the linker and the C runtime. */
extern char __data_start[], _edata[], __bss_start[], _end[];

/* ---- Hidden addresses (support.h: hide, reveal, new_hidden, is_live) ---- */

/* A pointer to byte off of a hidden object. Test bodies take pointers only
 * from here and store them straight away: pointer arithmetic in a body can
 * leave the result in a callee-saved register (UBSan's overflow checks do),
 * which would keep the object alive for the rest of the test. */
static NOINLINE void *at(uintptr_t h, size_t off)
{
    return (char *)reveal(h) + off;
}

/* Stores a pointer to byte target_off of one object into byte slot_off of
 * another, through the write barrier. In a helper, because the compiler may
 * spill revealed pointers to the caller's frame, where they would stay. */
static NOINLINE void link_ptr(uintptr_t holder, size_t slot_off, uintptr_t target,
                              size_t target_off)
{
    gc_write_ptr((char *)reveal(holder) + slot_off, (char *)reveal(target) + target_off);
}

/* ---- Collections --------------------------------------------------------- */

/* ---- The stack and registers --------------------------------------------- */

START_TEST(stack_local)
{
    uintptr_t garbage = new_hidden(48, 0);
    uintptr_t h = new_hidden(48, 0);
    void *volatile local = at(h, 0);
    collect();
    ck_assert_msg(is_live(h, 48), "an object held by a stack local was freed");
    ck_assert_msg(is_freed(garbage), "an unreachable object survived");
    ck_assert(hide(local) == h);
    local = NULL;
    collect();
    ck_assert_msg(is_freed(h), "the object survived after its only local was cleared");
}
END_TEST

START_TEST(stack_interior_local)
{
    uintptr_t h = new_hidden(256, 0);
    char *volatile local = at(h, 200);
    collect();
    ck_assert_msg(is_live(h, 256), "an object held by an interior stack pointer was freed");
    ck_assert(hide(local) == h - 200);
    local = NULL;
    collect();
    ck_assert(is_freed(h));
}
END_TEST

START_TEST(register_this_thread)
{
    uintptr_t garbage = new_hidden(64, 0);
    uintptr_t h = new_hidden(64, 0);
    /* The pointer exists only as r, live across the call: the compiler keeps
     * it in a callee-saved register (or spills it to this frame). */
    uintptr_t r = ~h;
    __asm__ volatile("" : "+r"(r));
    collect();
    __asm__ volatile("" : : "r"(r));
    ck_assert_msg(is_live(h, 64), "an object held in a register was freed");
    ck_assert(is_freed(garbage));
}
END_TEST

/* A registered thread spinning with the only pointer in a register; the
 * suspend signal interrupts it mid-loop, so the pointer is only in the
 * register state the signal saved. */
static struct {
    volatile int ready, stop;
    uintptr_t h, returned;
} spin;

static NOINLINE uintptr_t spin_holding(uintptr_t h)
{
    uintptr_t r = ~h;
    __asm__ volatile("" : "+r"(r));
    __atomic_store_n(&spin.ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&spin.stop, __ATOMIC_ACQUIRE))
        __asm__ volatile("" : "+r"(r));
    return ~r;
}

static void *spinner_main(void *arg)
{
    (void)arg;
    gc_thread_register();
    spin.h = new_hidden(80, 0);
    spin.returned = spin_holding(spin.h);
    gc_thread_unregister();
    return NULL;
}

START_TEST(register_stopped_thread)
{
    memset(&spin, 0, sizeof spin);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, spinner_main, NULL), 0);
    while (!__atomic_load_n(&spin.ready, __ATOMIC_ACQUIRE))
        sched_yield();
    uintptr_t garbage = new_hidden(80, 0);
    collect();
    collect();
    int live = is_live(spin.h, 80);
    int freed = is_freed(garbage);
    __atomic_store_n(&spin.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    ck_assert_msg(live, "an object held in a stopped thread's register was freed");
    ck_assert(freed);
    ck_assert(spin.returned == spin.h);
    collect();
    ck_assert_msg(is_freed(spin.h), "the object survived its unregistered thread");
}
END_TEST

/* A registered thread that is slow to stop: it keeps the suspend signal
 * blocked for a few milliseconds at a time, as a thread inside a long page
 * fault would be. Mark termination gives up its stops and retries (at
 * least once in 50 cycles), and the object only this thread's stack holds
 * must survive all the same. */
static struct {
    int ready, stop;
    uintptr_t h;
} slow;

static void *slow_main(void *arg)
{
    (void)arg;
    gc_thread_register();
    uintptr_t h = new_hidden(96, 0);
    void *volatile local = at(h, 0);
    slow.h = h;
    __atomic_store_n(&slow.ready, 1, __ATOMIC_RELEASE);
    sigset_t sig;
    sigemptyset(&sig);
    sigaddset(&sig, SIGRTMIN + 6);
    /* The blocked spells vary from 1 to 4 ms, and the signal is unblocked
     * only for as long as a pending one takes to be answered. With a fixed
     * spell and a yield after it, every sweep termination's stop left the
     * thread at the start of its unblocked moment, the mark termination that
     * followed a short mark landed in that same moment, and CI once saw 50
     * cycles without a stop given up. */
    uint32_t seed = 12345;
    while (!__atomic_load_n(&slow.stop, __ATOMIC_ACQUIRE)) {
        pthread_sigmask(SIG_BLOCK, &sig, NULL);
        seed = seed * 1103515245u + 12345u;
        long spell = 1000000L + (long)((seed >> 8) % 3000000u);
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < spell);
        pthread_sigmask(SIG_UNBLOCK, &sig, NULL);
    }
    (void)local;
    gc_thread_unregister();
    return NULL;
}

START_TEST(slow_to_stop_thread)
{
    memset(&slow, 0, sizeof slow);
    uint32_t abandoned0 = cycle_stats.num_stops_abandoned;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, slow_main, NULL), 0);
    while (!__atomic_load_n(&slow.ready, __ATOMIC_ACQUIRE))
        sched_yield();
    uintptr_t garbage = new_hidden(80, 0);
    /* A stop may land in the moment the thread has the signal unblocked:
     * collect until one was given up (at most 50 cycles). */
    int cycles = 0;
    while (cycles < 50 && cycle_stats.num_stops_abandoned == abandoned0) {
        collect();
        cycles++;
    }
    int live = is_live(slow.h, 96);
    int freed = is_freed(garbage);
    __atomic_store_n(&slow.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    ck_assert_msg(live, "an object held by a thread that was slow to stop was freed");
    ck_assert(freed);
    ck_assert_msg(cycle_stats.num_stops_abandoned > abandoned0,
                  "no stop for mark termination was given up in %d cycles", cycles);
}
END_TEST

/* A registered thread that holds the only pointer in a local while it waits,
 * in read() on a pipe or on a condition variable. */
struct blocker {
    int use_pipe;
    int fds[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready, release;
    uintptr_t h;
    int ok_after; /* what the thread saw when it woke */
};

static void *blocker_main(void *arg)
{
    struct blocker *b = arg;
    gc_thread_register();
    uintptr_t h = new_hidden(112, 0);
    void *volatile local = at(h, 0);
    pthread_mutex_lock(&b->mu);
    b->h = h;
    b->ready = 1;
    pthread_cond_broadcast(&b->cv);
    if (b->use_pipe) {
        pthread_mutex_unlock(&b->mu);
        char c;
        ssize_t n;
        do
            n = read(b->fds[0], &c, 1);
        while (n < 0 && errno == EINTR);
    } else {
        while (!b->release)
            pthread_cond_wait(&b->cv, &b->mu);
        pthread_mutex_unlock(&b->mu);
    }
    b->ok_after = hide(local) == h && is_live(h, 112);
    local = NULL;
    gc_thread_unregister();
    return NULL;
}

static void other_thread_stack(int use_pipe)
{
    static struct blocker b;
    memset(&b, 0, sizeof b);
    b.use_pipe = use_pipe;
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    if (use_pipe)
        ck_assert_int_eq(pipe(b.fds), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, blocker_main, &b), 0);
    pthread_mutex_lock(&b.mu);
    while (!b.ready)
        pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    /* For the pipe, give the thread time to enter read(); either way it
     * holds the pointer only in its frame. */
    usleep(20000);

    uintptr_t garbage = new_hidden(112, 0);
    collect();
    collect();
    int live = is_live(b.h, 112);
    int freed = is_freed(garbage);

    if (use_pipe) {
        ck_assert_int_eq(write(b.fds[1], "x", 1), 1);
    } else {
        pthread_mutex_lock(&b.mu);
        b.release = 1;
        pthread_cond_broadcast(&b.cv);
        pthread_mutex_unlock(&b.mu);
    }
    pthread_join(th, NULL);
    if (use_pipe) {
        close(b.fds[0]);
        close(b.fds[1]);
    }
    ck_assert_msg(live, "an object held by a blocked thread's local was freed");
    ck_assert(freed);
    ck_assert_msg(b.ok_after, "the blocked thread found its object changed");
    /* The thread unregistered and exited: its stack is no root any more. */
    collect();
    ck_assert_msg(is_freed(b.h), "the object survived its unregistered thread");
    pthread_mutex_destroy(&b.mu);
    pthread_cond_destroy(&b.cv);
}

START_TEST(thread_blocked_in_read)
{
    other_thread_stack(1);
}
END_TEST

START_TEST(thread_blocked_on_condvar)
{
    other_thread_stack(0);
}
END_TEST

/* ---- Globals: the executable's data and bss, a library's ----------------- */

void *data_slot = (void *)1; /* initialised: .data */
void *bss_slot;              /* zero-initialised: .bss */
char *interior_slot;         /* interior and one-past-the-end pointers */

START_TEST(data_segment)
{
    ck_assert_msg((char *)&data_slot >= __data_start && (char *)&data_slot < _edata,
                  "data_slot is not in the data segment");
    uintptr_t garbage = new_hidden(64, 0);
    uintptr_t h = new_hidden(64, 0);
    data_slot = at(h, 0);
    collect();
    ck_assert_msg(is_live(h, 64), "an object held by an initialised global was freed");
    ck_assert(is_freed(garbage));
    data_slot = (void *)1;
    collect();
    ck_assert(is_freed(h));
}
END_TEST

START_TEST(bss_segment)
{
    ck_assert_msg((char *)&bss_slot >= __bss_start && (char *)&bss_slot < _end,
                  "bss_slot is not in the bss");
    uintptr_t garbage = new_hidden(64, 0);
    uintptr_t h = new_hidden(64, 0);
    bss_slot = at(h, 0);
    collect();
    ck_assert_msg(is_live(h, 64), "an object held by a zero-initialised global was freed");
    ck_assert(is_freed(garbage));
    bss_slot = NULL;
    collect();
    ck_assert(is_freed(h));
}
END_TEST

static int in_executable(const void *p)
{
    return (const char *)p >= __data_start && (const char *)p < _end;
}

START_TEST(shared_library_bss)
{
    ck_assert_msg(!in_executable(rootlib_bss_address()),
                  "rootlib_slot was copied into the executable");
    uintptr_t garbage = new_hidden(96, 0);
    uintptr_t h = new_hidden(96, 0);
    rootlib_set(at(h, 0));
    collect();
    ck_assert_msg(is_live(h, 96), "an object held by a shared library's bss was freed");
    ck_assert(is_freed(garbage));
    ck_assert(hide(rootlib_get()) == h);
    rootlib_set(NULL);
    collect();
    ck_assert(is_freed(h));
}
END_TEST

START_TEST(shared_library_data)
{
    ck_assert(!in_executable(rootlib_data_address()));
    uintptr_t garbage = new_hidden(96, 0);
    uintptr_t h = new_hidden(96, 0);
    rootlib_set_data(at(h, 0));
    collect();
    ck_assert_msg(is_live(h, 96), "an object held by a shared library's data was freed");
    ck_assert(is_freed(garbage));
    ck_assert(hide(rootlib_get_data()) == h);
    rootlib_set_data((void *)1);
    collect();
    ck_assert(is_freed(h));
}
END_TEST

/* ---- gc_add_roots ranges ------------------------------------------------- */

START_TEST(added_roots)
{
    /* malloc memory is never scanned unless registered. */
    void **a = calloc(8, sizeof *a);
    void **b = calloc(8, sizeof *b);
    ck_assert(a != NULL && b != NULL);
    uintptr_t in_a = new_hidden(128, 0);
    uintptr_t past_a = new_hidden(128, 0);
    uintptr_t in_b = new_hidden(128, 0);
    gc_add_roots(a, a + 4);
    gc_add_roots(b, b + 8);
    a[3] = at(in_a, 0);   /* the last word of the range */
    a[4] = at(past_a, 0); /* the first word after it */
    b[0] = at(in_b, 0);
    collect();
    ck_assert_msg(is_live(in_a, 128), "an object held by a gc_add_roots range was freed");
    ck_assert_msg(is_freed(past_a), "a word after a gc_add_roots range was scanned");
    ck_assert(is_live(in_b, 128));

    gc_remove_roots(a, a + 4);
    collect();
    ck_assert_msg(is_freed(in_a), "a removed range still kept its object");
    ck_assert_msg(is_live(in_b, 128), "removing one range removed another");

    gc_remove_roots(b, b + 8);
    collect();
    ck_assert(is_freed(in_b));
    free(a);
    free(b);
}
END_TEST

/* ---- Heap objects, interior pointers, ends ------------------------------- */

START_TEST(heap_chain)
{
    /* A chain A -> B -> C (C through an interior pointer), held by a global. */
    uintptr_t c = new_hidden(32, 0);
    uintptr_t b = new_hidden(64, 0);
    uintptr_t a = new_hidden(48, 0);
    uintptr_t garbage = new_hidden(48, 0);
    link_ptr(b, 0, c, 24);
    link_ptr(a, 0, b, 0);
    bss_slot = at(a, 0);
    collect();
    ck_assert(is_live_from(a, 48, 1));
    ck_assert(is_live_from(b, 64, 1));
    ck_assert_msg(is_live(c, 32), "an object held by an interior pointer in the heap was freed");
    ck_assert(is_freed(garbage));
    bss_slot = NULL;
    collect();
    ck_assert(is_freed(a) && is_freed(b) && is_freed(c));
}
END_TEST

START_TEST(interior_small)
{
    uintptr_t h = new_hidden(256, 0);
    interior_slot = at(h, 255); /* the last byte */
    collect();
    ck_assert_msg(is_live(h, 256), "a pointer to an object's last byte did not keep it");
    interior_slot = at(h, 17);
    collect();
    ck_assert_msg(is_live(h, 256), "a pointer into an object did not keep it");
    ck_assert(hide(gc_base(interior_slot)) == h);
    interior_slot = NULL;
    collect();
    ck_assert(is_freed(h));
}
END_TEST

START_TEST(interior_large)
{
    uintptr_t h = new_hidden(200000, 0);
    size_t size = gc_size(at(h, 0));
    ck_assert_uint_ge(size, 200000);
    interior_slot = at(h, size - 1);
    collect();
    ck_assert_msg(is_live(h, 200000), "a pointer to a large object's last byte did not keep it");
    interior_slot = at(h, 150001);
    collect();
    ck_assert(is_live(h, 200000));
    interior_slot = NULL;
    collect();
    ck_assert(is_freed(h));
}
END_TEST

/* A scannable object larger than an oblet (OBLET_BYTES, runtime/mark.h) is
 * scanned in oblets, each queued on its own. This one is nine and a half
 * oblets long, so its last oblet is a short one; its only pointer, placed in
 * that last oblet, must be found: at the oblet's first word (where the
 * oblets queued by the first one end) and at the object's last word (where
 * the scan of a short oblet must stop, not before). */
static void pointer_in_last_oblet(int at_end)
{
    size_t size = 9 * OBLET_BYTES + OBLET_BYTES / 2;
    uintptr_t big = new_hidden(size, 0);
    size_t total = gc_size(at(big, 0));
    ck_assert_uint_eq(total, size); /* whole pages: no tail beyond the request */
    size_t last_oblet = (total - 1) / OBLET_BYTES * OBLET_BYTES;
    ck_assert_uint_lt(total - last_oblet, OBLET_BYTES);
    size_t off = at_end ? total - sizeof(void *) : last_oblet;
    uintptr_t target = new_hidden(48, 0);
    link_ptr(big, off, target, 0);
    bss_slot = at(big, 0);
    collect();
    ck_assert_msg(is_live(target, 48),
                  "a pointer at byte %zu of a %zu-byte object, in its last oblet (from byte "
                  "%zu), was missed",
                  off, total, last_oblet);
    ck_assert(is_live_from(big, off, 0));
    bss_slot = NULL;
    collect();
    ck_assert(is_freed(big) && is_freed(target));
}

START_TEST(large_object_last_oblet_start)
{
    pointer_in_last_oblet(0);
}
END_TEST

START_TEST(large_object_last_oblet_end)
{
    pointer_in_last_oblet(1);
}
END_TEST

/* An object of exactly size bytes (its class's size) whose following slot
 * is not an allocated object; 0 if none was found. */
static NOINLINE uintptr_t alloc_with_free_successor(size_t size, int tries)
{
    for (int i = 0; i < tries; i++) {
        char *p = gc_alloc(size);
        if (gc_size(p) == size && gc_base(p + size) == NULL)
            return hide(p);
    }
    return 0;
}

START_TEST(one_past_end_small)
{
    uintptr_t h = alloc_with_free_successor(32, 4096);
    ck_assert(h != 0);
    interior_slot = at(h, 32);
    collect();
    ck_assert_msg(is_freed(h), "a pointer one past the end of an object kept it alive");
    ck_assert(gc_base(interior_slot) == NULL);
    interior_slot = NULL;
}
END_TEST

START_TEST(one_past_end_large)
{
    size_t size = 5 * 8192; /* whole pages: the object ends where its span ends */
    uintptr_t h = alloc_with_free_successor(size, 64);
    ck_assert(h != 0);
    char *volatile local = at(h, size);
    collect();
    ck_assert_msg(is_freed(h), "a pointer one past the end of a large object kept it alive");
    ck_assert(gc_base(local) == NULL);
    local = NULL;
}
END_TEST

/* ---- noscan objects ------------------------------------------------------ */

/* Stores the target's address into word i of a noscan object (no barrier:
 * it is not a GC pointer slot). */
static NOINLINE void store_raw(uintptr_t holder, size_t i, uintptr_t target)
{
    void *t = reveal(target);
    memcpy((void **)reveal(holder) + i, &t, sizeof t);
}

START_TEST(noscan_not_scanned)
{
    uintptr_t holder = new_hidden(64, 1);
    uintptr_t target = new_hidden(64, 0);
    store_raw(holder, 0, target);
    store_raw(holder, 3, target);
    bss_slot = at(holder, 0);
    collect();
    ck_assert_msg(is_live_from(holder, 64, 4), "a noscan object held by a global was freed");
    ck_assert_msg(is_freed(target), "a pointer inside a noscan object kept its target alive");
    bss_slot = NULL;
    collect();
    ck_assert(is_freed(holder));
}
END_TEST

START_TEST(scan_object_scanned)
{
    /* The control for noscan_not_scanned: the same layout, scannable. */
    uintptr_t holder = new_hidden(64, 0);
    uintptr_t target = new_hidden(64, 0);
    link_ptr(holder, 24, target, 0);
    bss_slot = at(holder, 0);
    collect();
    ck_assert(is_live_from(holder, 64, 4));
    ck_assert_msg(is_live(target, 64), "a pointer inside a scannable object was missed");
    bss_slot = NULL;
    collect();
    ck_assert(is_freed(holder) && is_freed(target));
}
END_TEST

/* ---- Reuse --------------------------------------------------------------- */

#define REUSE_N 200

static NOINLINE void alloc_batch(uintptr_t *hs, size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++)
        hs[i] = new_hidden(size, 0);
}

static int cmp_uintptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* How many of n fresh objects of size bytes got one of the freed
 * addresses (hidden, sorted). */
static NOINLINE size_t count_reused(const uintptr_t *freed, size_t nfreed, size_t n, size_t size)
{
    size_t reused = 0;
    for (size_t i = 0; i < n; i++) {
        uintptr_t h = hide(gc_alloc(size));
        if (bsearch(&h, freed, nfreed, sizeof h, cmp_uintptr))
            reused++;
    }
    return reused;
}

START_TEST(freed_memory_reused)
{
    /* 208-byte objects are used by no other test. One in every 16 stays
     * alive, so every span keeps some objects and its freed slots must be
     * handed out again. */
    uintptr_t *hs = malloc(REUSE_N * sizeof *hs);
    uintptr_t *dead = malloc(REUSE_N * sizeof *dead);
    ck_assert(hs != NULL && dead != NULL);
    void **keep = calloc(REUSE_N, sizeof *keep);
    ck_assert(keep != NULL);
    gc_add_roots(keep, keep + REUSE_N);
    alloc_batch(hs, REUSE_N, 208);
    size_t ndead = 0;
    for (size_t i = 0; i < REUSE_N; i++) {
        if (i % 16 == 0)
            keep[i] = at(hs[i], 0);
        else
            dead[ndead++] = hs[i];
    }
    collect();
    for (size_t i = 0; i < REUSE_N; i++) {
        if (i % 16 == 0)
            ck_assert(is_live(hs[i], 208));
        else
            ck_assert_msg(is_freed(hs[i]), "object %zu of the batch was not freed", i);
    }
    qsort(dead, ndead, sizeof *dead, cmp_uintptr);
    size_t reused = count_reused(dead, ndead, ndead, 208);
    ck_assert_msg(reused == ndead, "only %zu of %zu freed slots were reused", reused, ndead);

    /* Entirely dead spans go back to the page heap; their pages come back
     * for the next spans of the class. */
    gc_remove_roots(keep, keep + REUSE_N);
    free(keep);
    collect();
    alloc_batch(hs, REUSE_N, 208);
    for (size_t i = 0; i < REUSE_N; i++)
        dead[i] = hs[i];
    collect();
    for (size_t i = 0; i < REUSE_N; i++)
        ck_assert(is_freed(hs[i]));
    qsort(dead, REUSE_N, sizeof *dead, cmp_uintptr);
    reused = count_reused(dead, REUSE_N, REUSE_N, 208);
    ck_assert_msg(reused > 0, "no address of %d freed objects was reused", REUSE_N);
    free(hs);
    free(dead);
}
END_TEST

static Suite *roots_suite(void)
{
    Suite *s = suite_create("roots");
    TCase *stack = tcase_create("stacks and registers");
    tcase_set_timeout(stack, 30);
    tcase_add_test(stack, stack_local);
    tcase_add_test(stack, stack_interior_local);
    tcase_add_test(stack, register_this_thread);
    tcase_add_test(stack, register_stopped_thread);
    tcase_add_test(stack, slow_to_stop_thread);
    tcase_add_test(stack, thread_blocked_in_read);
    tcase_add_test(stack, thread_blocked_on_condvar);
    suite_add_tcase(s, stack);

    TCase *globals = tcase_create("globals");
    tcase_add_test(globals, data_segment);
    tcase_add_test(globals, bss_segment);
    tcase_add_test(globals, shared_library_bss);
    tcase_add_test(globals, shared_library_data);
    tcase_add_test(globals, added_roots);
    suite_add_tcase(s, globals);

    TCase *heap = tcase_create("heap");
    tcase_add_test(heap, heap_chain);
    tcase_add_test(heap, interior_small);
    tcase_add_test(heap, interior_large);
    tcase_add_test(heap, large_object_last_oblet_start);
    tcase_add_test(heap, large_object_last_oblet_end);
    tcase_add_test(heap, one_past_end_small);
    tcase_add_test(heap, one_past_end_large);
    tcase_add_test(heap, noscan_not_scanned);
    tcase_add_test(heap, scan_object_scanned);
    tcase_add_test(heap, freed_memory_reused);
    suite_add_tcase(s, heap);
    return s;
}

int main(void)
{
    gc_options opts = {.gogc = "off", .godebug = "gccheckmark=1,clobberfree=1"};
    if (gc_init(&opts) != 0)
        return EXIT_FAILURE;
    return run_suite(roots_suite(), CK_FORK_GETENV);
}
