/*
 * Helpers shared by the collector's test suites: addresses kept hidden from
 * the collector, collecting without stale copies of pointers in the stack or
 * the registers keeping garbage alive, and a clock.
 *
 * A conservative collector keeps any object that a word on a stack or in a
 * register points to. A test that wants to see an object freed must first
 * wipe the copies the compiler and the C library leave behind, and keep the
 * addresses it needs later where they do not look like pointers: hidden
 * (bitwise complemented, which never looks like a heap address) and only
 * revealed inside small noinline helpers.
 */
#ifndef TRICOLOR_TESTS_SUPPORT_H
#define TRICOLOR_TESTS_SUPPORT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <tricolor.h>

/* noipa as well as noinline: GCC must not find a helper pure and merge two
 * calls, which could leave a revealed pointer live in a callee-saved
 * register. */
#ifndef NOINLINE
#define NOINLINE __attribute__((noinline, noipa))
#endif

#define UNUSED __attribute__((unused))

/* ---- Hidden addresses ---------------------------------------------------- */

/* An address kept where the collector cannot see it as a pointer. */
static UNUSED uintptr_t hide(const void *p)
{
    return ~(uintptr_t)p;
}

/* Out of line, so that the compiler cannot reuse a pointer it revealed
 * earlier: a copy kept live in a callee-saved register would be a root.
 * Test bodies only ever compare hidden values. */
static UNUSED NOINLINE void *reveal(uintptr_t h)
{
    return (void *)~h;
}

/* Was the hidden object freed? After gc_collect() returns the heap is
 * swept, so this is exact once stale copies are out of the way. */
static UNUSED NOINLINE int is_freed(uintptr_t h)
{
    return gc_base(reveal(h)) == NULL;
}

/* A new object of size bytes, every word filled with a non-pointer pattern
 * derived from its address (which a freed object, clobbered or reused,
 * loses); returns the hidden address. */
static UNUSED NOINLINE uintptr_t new_hidden(size_t size, int noscan)
{
    uintptr_t *p = noscan ? gc_alloc_noscan(size) : gc_alloc(size);
    uintptr_t h = hide(p);
    for (size_t i = 0; i < size / sizeof *p; i++)
        p[i] = h + i;
    return h;
}

/* Is the object allocated, at least size bytes, with its pattern intact
 * from word `from` on? */
static UNUSED NOINLINE int is_live_from(uintptr_t h, size_t size, size_t from)
{
    uintptr_t *p = reveal(h);
    if (gc_base(p) != p || gc_size(p) < size)
        return 0;
    for (size_t i = from; i < size / sizeof *p; i++)
        if (p[i] != h + i)
            return 0;
    return 1;
}

static UNUSED int is_live(uintptr_t h, size_t size)
{
    return is_live_from(h, size, 0);
}

/* ---- Collecting without stale copies ------------------------------------- */

/* Zeroes 64 KiB of the stack below this frame, where the callees of the
 * caller's next call will run. Not a local array: its redzones under
 * AddressSanitizer, and the gap above it, would keep stale words. */
static UNUSED NOINLINE __attribute__((no_sanitize_address)) void clear_stack(void)
{
    volatile uintptr_t *fp = __builtin_frame_address(0);
    for (size_t i = 4; i < 4 + 65536 / sizeof *fp; i++)
        fp[-(ptrdiff_t)i] = 0;
}

/* The vector registers every branch of clear_registers zeroes (the SSE
 * names cover their ymm and zmm extensions). */
#define VECTOR_CLOBBERS                                                                            \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",       \
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

/* Zeroes the caller-saved registers, the vector registers included. The
 * suspend signal saves every register on the stack, where the collector
 * scans them, so a stale copy of a pointer would keep its object alive
 * (vectorised loops broadcast pointers into vector registers; libc's memcpy
 * moves them through ymm/zmm registers). Being an out-of-line call, it also
 * tells the compiler all these registers are dead afterwards. */
static UNUSED NOINLINE void clear_registers(void)
{
#ifdef __x86_64__
    __asm__ volatile("xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\t"
                     "xor %%esi, %%esi\n\txor %%edi, %%edi\n\txor %%r8d, %%r8d\n\t"
                     "xor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\txor %%r11d, %%r11d"
                     :
                     :
                     : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
    if (__builtin_cpu_supports("avx512f")) {
        __asm__ volatile("vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
                         "vmovdqa64 %%zmm0, %%zmm1\n\tvmovdqa64 %%zmm0, %%zmm2\n\t"
                         "vmovdqa64 %%zmm0, %%zmm3\n\tvmovdqa64 %%zmm0, %%zmm4\n\t"
                         "vmovdqa64 %%zmm0, %%zmm5\n\tvmovdqa64 %%zmm0, %%zmm6\n\t"
                         "vmovdqa64 %%zmm0, %%zmm7\n\tvmovdqa64 %%zmm0, %%zmm8\n\t"
                         "vmovdqa64 %%zmm0, %%zmm9\n\tvmovdqa64 %%zmm0, %%zmm10\n\t"
                         "vmovdqa64 %%zmm0, %%zmm11\n\tvmovdqa64 %%zmm0, %%zmm12\n\t"
                         "vmovdqa64 %%zmm0, %%zmm13\n\tvmovdqa64 %%zmm0, %%zmm14\n\t"
                         "vmovdqa64 %%zmm0, %%zmm15\n\tvmovdqa64 %%zmm0, %%zmm16\n\t"
                         "vmovdqa64 %%zmm0, %%zmm17\n\tvmovdqa64 %%zmm0, %%zmm18\n\t"
                         "vmovdqa64 %%zmm0, %%zmm19\n\tvmovdqa64 %%zmm0, %%zmm20\n\t"
                         "vmovdqa64 %%zmm0, %%zmm21\n\tvmovdqa64 %%zmm0, %%zmm22\n\t"
                         "vmovdqa64 %%zmm0, %%zmm23\n\tvmovdqa64 %%zmm0, %%zmm24\n\t"
                         "vmovdqa64 %%zmm0, %%zmm25\n\tvmovdqa64 %%zmm0, %%zmm26\n\t"
                         "vmovdqa64 %%zmm0, %%zmm27\n\tvmovdqa64 %%zmm0, %%zmm28\n\t"
                         "vmovdqa64 %%zmm0, %%zmm29\n\tvmovdqa64 %%zmm0, %%zmm30\n\t"
                         "vmovdqa64 %%zmm0, %%zmm31\n\tvzeroupper" ::
                             : VECTOR_CLOBBERS);
    } else if (__builtin_cpu_supports("avx")) {
        __asm__ volatile("vzeroall" ::: VECTOR_CLOBBERS);
    } else {
        __asm__ volatile("xorps %%xmm0, %%xmm0\n\txorps %%xmm1, %%xmm1\n\t"
                         "xorps %%xmm2, %%xmm2\n\txorps %%xmm3, %%xmm3\n\t"
                         "xorps %%xmm4, %%xmm4\n\txorps %%xmm5, %%xmm5\n\t"
                         "xorps %%xmm6, %%xmm6\n\txorps %%xmm7, %%xmm7\n\t"
                         "xorps %%xmm8, %%xmm8\n\txorps %%xmm9, %%xmm9\n\t"
                         "xorps %%xmm10, %%xmm10\n\txorps %%xmm11, %%xmm11\n\t"
                         "xorps %%xmm12, %%xmm12\n\txorps %%xmm13, %%xmm13\n\t"
                         "xorps %%xmm14, %%xmm14\n\txorps %%xmm15, %%xmm15" ::
                             : VECTOR_CLOBBERS);
    }
#endif
}

/* A full cycle, with the stack below the caller and the scratch registers
 * cleared first, so that stale copies cannot keep garbage alive. */
static UNUSED NOINLINE void collect(void)
{
    clear_stack();
    clear_registers();
    gc_collect();
}

/* ---- Time ---------------------------------------------------------------- */

/* Seconds on the monotonic clock. */
static UNUSED double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Checked fixtures for suites that look at the page heap. */
static UNUSED int collector_saved_percent;
static UNUSED int collector_percent_saved;

/* Nothing changes the heap but the test itself: the collector off, the
 * heap swept, and the scavenger idle. It releases free pages (marking each
 * stretch taken in the page bitmap meanwhile) while the heap exceeds a goal
 * set at each cycle; with GOGC off the goal is infinite, and gc_free_os_memory
 * waits for any release in progress. */
static UNUSED void collector_off(void)
{
    collector_saved_percent = gc_set_percent(-1);
    collector_percent_saved = 1;
    gc_free_os_memory();
}

static UNUSED void collector_restore(void)
{
    if (collector_percent_saved) {
        gc_set_percent(collector_saved_percent);
        collector_percent_saved = 0;
    }
    gc_collect();
}

/* ---- Work on a thread that exits ----------------------------------------- */

static UNUSED void *on_new_thread_body(void *p)
{
    void **job = p;
    gc_thread_register();
    ((void (*)(void *))job[0])(job[1]);
    gc_thread_unregister();
    return NULL;
}

/* Runs fn(arg) on a new registered thread and waits for it to exit, so that
 * nothing fn left in registers or on its stack keeps an object alive. */
static UNUSED void on_new_thread(void (*fn)(void *), void *arg)
{
    pthread_t th;
    void *job[2] = {(void *)fn, arg};
    if (pthread_create(&th, NULL, on_new_thread_body, job) != 0)
        abort();
    pthread_join(th, NULL);
}

/* ---- Lists with known contents ------------------------------------------- */

struct list_node {
    struct list_node *next;
    uint64_t value;
};

/* A list of n nodes whose values are seed, seed+1, ... */
static UNUSED NOINLINE struct list_node *make_list(int n, uint64_t seed)
{
    struct list_node *head = NULL;
    for (int i = n - 1; i >= 0; i--) {
        struct list_node *x = gc_alloc(sizeof *x);
        x->value = seed + (uint64_t)i;
        gc_write_ptr(&x->next, head);
        head = x;
    }
    return head;
}

/* Does the list hold exactly those n values, in order? */
static UNUSED NOINLINE int list_intact(const struct list_node *head, int n, uint64_t seed)
{
    int i = 0;
    for (const struct list_node *x = head; x; x = x->next, i++)
        if (x->value != seed + (uint64_t)i)
            return 0;
    return i == n;
}

/* ---- A registered root range ---------------------------------------------- */

/* n slots of malloc'd memory registered with gc_add_roots: what a test holds
 * strongly, and can drop by clearing a slot. */
static UNUSED void **root_range_make(size_t n)
{
    void **r = calloc(n, sizeof *r);
    if (r == NULL)
        abort();
    gc_add_roots(r, r + n);
    return r;
}

static UNUSED void root_range_free(void **r, size_t n)
{
    gc_remove_roots(r, r + n);
    free(r);
}

#endif
