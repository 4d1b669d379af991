/*
 * Size classes: how small objects are grouped into spans.
 *
 * A small request (1 to MAX_SMALL_SIZE bytes) is rounded up to one of 67
 * fixed object sizes, its size class. Every object of a class lives in a
 * span: a run of whole pages (1 to 10 of them) cut into equal slots of the
 * class's size. Class 0 stands for large objects, which get a span of their
 * own sized in whole pages. The table is Go 1.19's, chosen so that
 *
 *   - rounding a request up to its class wastes a bounded fraction of it,
 *   - the bytes left over at the end of a span (tail waste: the span size
 *     modulo the object size) are at most 1/8 of the span, because each
 *     class's page count was picked as the smallest that keeps it there,
 *   - no span holds more than MAX_OBJS_PER_SPAN objects, so per-span mark
 *     and allocation bitmaps have a fixed upper size.
 *
 * A span class is a size class together with one bit saying whether the
 * objects in it may hold pointers: spc = sizeclass << 1 | noscan. Scannable
 * and pointer-free objects never share a span, so the sweeper and the
 * marker can tell from the span alone whether its objects need scanning.
 *
 * Finding an object from an interior pointer needs offset / size, and a
 * hardware divide is slow on that path. class_to_divmagic holds a 32-bit
 * reciprocal m = floor((2^32 - 1) / size) + 1 (that is, ceil(2^32 / size))
 * so that (off * m) >> 32 == off / size for every offset inside a span:
 * see sizeclasses.c for why the result is exact there.
 *
 * Alignment differs from Go's: tricolor promises 16-byte alignment for
 * objects of 16 bytes and more, so size_to_class never answers the 24-byte
 * class for a request above 16 bytes (see sizeclasses.c).
 */
#ifndef TRICOLOR_SIZECLASSES_H
#define TRICOLOR_SIZECLASSES_H

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

#define PAGE_SHIFT        13
#define PAGE_SIZE         ((size_t)1 << PAGE_SHIFT) /* 8 KiB */
#define NUM_SIZE_CLASSES  68                        /* class 0 = large objects */
#define MAX_SMALL_SIZE    32768
#define NUM_SPAN_CLASSES  (NUM_SIZE_CLASSES * 2)
#define MAX_OBJS_PER_SPAN 1024

/* The two lookup tables: requests up to SIZE_CLASS8_MAX bytes are looked up
 * in 8-byte steps, larger ones in 128-byte steps. */
#define SIZE_CLASS8_MAX      1024
#define SIZE_CLASS8_STEP     8
#define SIZE_CLASS128_STEP   128
#define SIZE_TO_CLASS8_LEN   (SIZE_CLASS8_MAX / SIZE_CLASS8_STEP + 1)
#define SIZE_TO_CLASS128_LEN ((MAX_SMALL_SIZE - SIZE_CLASS8_MAX) / SIZE_CLASS128_STEP + 1)

/* Bytes per object and pages per span of each class; [0] (large) is 0. */
extern const uint16_t class_to_size[NUM_SIZE_CLASSES];
extern const uint8_t class_to_npages[NUM_SIZE_CLASSES];
/* ceil(2^32 / size) per class, [0] = 0. Filled by sizeclasses_init. */
extern uint32_t class_to_divmagic[NUM_SIZE_CLASSES];
/* Sizes 0..1024, indexed by (size + 7) / 8. Filled by sizeclasses_init. */
extern uint8_t size_to_class8[SIZE_TO_CLASS8_LEN];
/* Sizes 1025..32768, indexed by (size - 1024 + 127) / 128. Filled by
 * sizeclasses_init. */
extern uint8_t size_to_class128[SIZE_TO_CLASS128_LEN];

/* Fills the lookup tables and class_to_divmagic. Idempotent and safe to
 * call from several threads; must run before size_to_class is used. */
void sizeclasses_init(void);

/* The size class (1..NUM_SIZE_CLASSES-1) for a request of 0 < size <=
 * MAX_SMALL_SIZE bytes; size 0 is treated as 1. */
static inline unsigned size_to_class(size_t size)
{
    if (size <= SIZE_CLASS8_MAX)
        return size_to_class8[(size + SIZE_CLASS8_STEP - 1) / SIZE_CLASS8_STEP];
    return size_to_class128[(size - SIZE_CLASS8_MAX + SIZE_CLASS128_STEP - 1) / SIZE_CLASS128_STEP];
}

/* Objects per span of a small class; a large span (class 0) holds one. */
static inline uint32_t class_nelems(unsigned sizeclass)
{
    if (sizeclass == 0)
        return 1;
    return (uint32_t)(class_to_npages[sizeclass] * PAGE_SIZE / class_to_size[sizeclass]);
}

static inline unsigned make_span_class(unsigned sizeclass, int noscan)
{
    return sizeclass << 1 | (noscan ? 1u : 0u);
}

/* The size class of a span class (not its size in bytes: use class_to_size
 * on the result for that). */
static inline unsigned span_class_size(unsigned spc)
{
    return spc >> 1;
}

static inline int span_class_noscan(unsigned spc)
{
    return (int)(spc & 1);
}

#pragma GCC visibility pop

#endif
