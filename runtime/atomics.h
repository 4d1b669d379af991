/*
 * Atomics, over libatomic_ops.
 *
 * The runtime speaks of atomics in Go's terms (Load, Store, Xadd, Cas, Or)
 * on one word type, AO_t (a uintptr_t-sized unsigned integer). Everything
 * that two threads touch without a lock goes through these, so a reader can
 * grep for the shared state. Ordering is stated in the name:
 *
 *   atomic_load / atomic_store   acquire / release
 *   atomic_load_relaxed, ...     no ordering, only indivisibility
 *   atomic_xadd, atomic_cas, atomic_or, atomic_and   full barriers
 *
 * Full barriers on the read-modify-write operations cost nothing extra on
 * x86 (they are LOCK-prefixed anyway) and keep the reasoning simple.
 */
#ifndef TRICOLOR_ATOMICS_H
#define TRICOLOR_ATOMICS_H

#include <atomic_ops.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

typedef AO_t atomic_word;

static inline AO_t atomic_load(const volatile AO_t *p)
{
    return AO_load_acquire(p);
}

static inline AO_t atomic_load_relaxed(const volatile AO_t *p)
{
    return AO_load(p);
}

static inline void atomic_store(volatile AO_t *p, AO_t v)
{
    AO_store_release(p, v);
}

static inline void atomic_store_relaxed(volatile AO_t *p, AO_t v)
{
    AO_store(p, v);
}

/* Adds delta and returns the new value (Go's Xadd). */
static inline AO_t atomic_xadd(volatile AO_t *p, AO_t delta)
{
    return AO_fetch_and_add_full(p, delta) + delta;
}

static inline int atomic_cas(volatile AO_t *p, AO_t old, AO_t new_)
{
    return AO_compare_and_swap_full(p, old, new_);
}

static inline void atomic_or(volatile AO_t *p, AO_t bits)
{
    AO_or_full(p, bits);
}

static inline void atomic_and(volatile AO_t *p, AO_t bits)
{
    AO_and_full(p, bits);
}

/* 32-bit variants, for futex words. */
static inline uint32_t atomic_load32(const volatile uint32_t *p)
{
    return AO_int_load_acquire((const volatile unsigned *)p);
}

static inline void atomic_store32(volatile uint32_t *p, uint32_t v)
{
    AO_int_store_release((volatile unsigned *)p, v);
}

static inline uint32_t atomic_xadd32(volatile uint32_t *p, uint32_t delta)
{
    return AO_int_fetch_and_add_full((volatile unsigned *)p, delta) + delta;
}

/* A full hardware fence. */
static inline void atomic_fence(void)
{
    AO_nop_full();
}

/* Orders the compiler only: between a thread and its own signal handler. */
static inline void compiler_fence(void)
{
    AO_compiler_barrier();
}

/* In a spin-wait loop: tells the CPU the thread is waiting. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#else
    compiler_fence();
#endif
}

#pragma GCC visibility pop

#endif
