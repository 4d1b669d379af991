/*
 * gc_write_ptr's inline fast path. <tricolor.h> includes this file, after
 * declaring gc_write_ptr and stating its contract; include that instead.
 * Nothing here is API beyond what tricolor.h says: the two symbols the
 * inline code reaches and the bytes it is made of.
 *
 * On x86-64 the fast path is one sequence with an exact byte layout:
 *
 *   +0  83 38 00              cmpl $0,(%rax)       load the flag
 *   +3  0f 85 rel32           jne  slow
 *   +9  48 89 37              movq %rsi,(%rdi)     the store
 *   +12 0f 1f 80 "GCWB"       nopl MARKER(%rax)    the signature
 *
 * Fixed registers ("a", "D", "S") and bytes written out with .byte leave
 * the compiler and the assembler no choice of encoding. The runtime's
 * suspend handler recognises a thread stopped at +3 or +9 by these bytes
 * and restarts it at +0 (runtime/barrier.h explains why). So the bytes are
 * defined once, below, and both the sequence and the runtime's decoder
 * (write_barrier_restart_pc in runtime/barrier.c) are built from these
 * definitions: an encoding changed here changes both.
 *
 * Elsewhere, or with GC_WRITE_BARRIER_PORTABLE defined, every store takes
 * the out-of-line path, gc_write_ptr_slow, which runs inside the runtime
 * and cannot be split by a stop.
 */
#ifndef TRICOLOR_WRITE_BARRIER_H
#define TRICOLOR_WRITE_BARRIER_H

#ifndef TRICOLOR_H
#error "include <tricolor.h>, not <tricolor/write_barrier.h>"
#endif

/* The barrier's flag, nonzero while a cycle is marking; written by the
 * runtime only with the world stopped. */
extern GC_API uint32_t gc_write_barrier_enabled;
/* The whole barrier, out of line: shades and stores. */
GC_API void gc_write_ptr_slow(void *slot, void *value);

/* The x86-64 sequence's bytes, in order; the rel32 of the jne comes between
 * GC_WB_JNE_BYTES and GC_WB_STORE_BYTES. */
#define GC_WB_CMP_BYTES   0x83, 0x38, 0x00 /* cmpl $0,(%rax) */
#define GC_WB_JNE_BYTES   0x0f, 0x85       /* jne rel32 */
#define GC_WB_STORE_BYTES 0x48, 0x89, 0x37 /* movq %rsi,(%rdi) */
#define GC_WB_NOP_BYTES   0x0f, 0x1f, 0x80 /* nopl disp32(%rax) */
/* The marker no-op's 32-bit displacement, stored little-endian: "GCWB". */
#define GC_WB_MARKER 0x42574347

/* A macro's expansion as a string, commas included, for the asm text. */
#define GC_WB_STRING_(...) #__VA_ARGS__
#define GC_WB_STRING(...)  GC_WB_STRING_(__VA_ARGS__)

static inline void gc_write_ptr(void *slot, void *value)
{
#if defined(__x86_64__) && !defined(GC_WRITE_BARRIER_PORTABLE)
    /* clang-format off */
    __asm__ goto(".byte " GC_WB_STRING(GC_WB_CMP_BYTES) "\n\t"   /* cmpl $0,(%rax) */
                 ".byte " GC_WB_STRING(GC_WB_JNE_BYTES) "\n\t"   /* jne slow */
                 ".long %l[slow] - . - 4\n\t"
                 ".byte " GC_WB_STRING(GC_WB_STORE_BYTES) "\n\t" /* movq %rsi,(%rdi) */
                 ".byte " GC_WB_STRING(GC_WB_NOP_BYTES) "\n\t"   /* nopl MARKER(%rax) */
                 ".long " GC_WB_STRING(GC_WB_MARKER)
                 :
                 : "a"(&gc_write_barrier_enabled), "D"(slot), "S"(value)
                 : "memory", "cc"
                 : slow);
    /* clang-format on */
    return;
slow:
    gc_write_ptr_slow(slot, value);
#else
    gc_write_ptr_slow(slot, value);
#endif
}

#endif /* TRICOLOR_WRITE_BARRIER_H */
