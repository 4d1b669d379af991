/*
 * Size classes: the table and the lookups built from it. See sizeclasses.h.
 *
 * The sizes and page counts are Go 1.19's (runtime/sizeclasses.go). Go
 * generated them by walking up object sizes in steps that grow with the
 * size (8 bytes, then 16, then about 1/8 of the size), giving each size the
 * fewest pages whose tail waste is at most 1/8 of the span, and merging
 * neighbouring sizes that would pack the same number of objects into the
 * same span. The result: per-object rounding waste stays near 12.5% and tail
 * waste is at most 12.5% of a span. The tests check those bounds.
 *
 * Requests are mapped to classes through two byte tables rather than a
 * search: one in 8-byte steps up to 1024 bytes (where the classes are
 * dense) and one in 128-byte steps above (every class above 1024 bytes is a
 * multiple of 128, so no step straddles two classes wrongly).
 *
 * Why the division magic is exact. For an object size d, let
 * m = floor((2^32 - 1) / d) + 1. If d is a power of two, m = 2^32 / d and
 * (n * m) >> 32 is a plain shift. Otherwise m = (2^32 + e) / d for some
 * 0 < e < d, so
 *
 *     n * m / 2^32 = n / d + n * e / (d * 2^32).
 *
 * Write n = q * d + r with r <= d - 1. The floor of the sum is still q as
 * long as r / d + n * e / (d * 2^32) < 1, which holds whenever n * e < 2^32.
 * Offsets inside a span are at most 10 pages = 81920 < 2^17 and e < d <=
 * 32768 = 2^15, so n * e < 2^32 and the quotient is exact for every offset
 * in every span. The tests check it exhaustively as well.
 */
#include "sizeclasses.h"

#include <pthread.h>

/* clang-format off */
const uint16_t class_to_size[NUM_SIZE_CLASSES] = {
    /*  0 */ 0,
    /*  1 */ 8,     16,    24,    32,    48,    64,    80,    96,
    /*  9 */ 112,   128,   144,   160,   176,   192,   208,   224,
    /* 17 */ 240,   256,   288,   320,   352,   384,   416,   448,
    /* 25 */ 480,   512,   576,   640,   704,   768,   896,   1024,
    /* 33 */ 1152,  1280,  1408,  1536,  1792,  2048,  2304,  2688,
    /* 41 */ 3072,  3200,  3456,  4096,  4864,  5376,  6144,  6528,
    /* 49 */ 6784,  6912,  8192,  9472,  9728,  10240, 10880, 12288,
    /* 57 */ 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576,
    /* 65 */ 27264, 28672, 32768,
};

const uint8_t class_to_npages[NUM_SIZE_CLASSES] = {
    /*  0 */ 0,
    /*  1 */ 1, 1, 1, 1, 1, 1, 1, 1,
    /*  9 */ 1, 1, 1, 1, 1, 1, 1, 1,
    /* 17 */ 1, 1, 1, 1, 1, 1, 1, 1,
    /* 25 */ 1, 1, 1, 1, 1, 1, 1, 1,
    /* 33 */ 1, 1, 2, 1, 2, 1, 2, 1,
    /* 41 */ 3, 2, 3, 1, 3, 2, 3, 4,
    /* 49 */ 5, 6, 1, 7, 6, 5, 4, 3,
    /* 57 */ 5, 7, 2, 9, 7, 5, 8, 3,
    /* 65 */ 10, 7, 4,
};
/* clang-format on */

uint32_t class_to_divmagic[NUM_SIZE_CLASSES];
uint8_t size_to_class8[SIZE_TO_CLASS8_LEN];
uint8_t size_to_class128[SIZE_TO_CLASS128_LEN];

/*
 * Whether a class may serve a request of `request` bytes. Go's table has a
 * 24-byte class (3), which is only 8-byte aligned, but tricolor promises
 * 16-byte alignment (C's max_align_t) to every object of 16 bytes or more.
 * So a request above 16 bytes may only use a class whose size is a multiple
 * of 16; requests of 17..24 bytes go to the 32-byte class instead. Class 3
 * stays in the table so that class numbers, span classes and statistics
 * line up with Go's, but nothing is ever allocated from it. Every other
 * class above 16 bytes is a multiple of 16 already.
 */
static int class_fits(unsigned sizeclass, size_t request)
{
    size_t size = class_to_size[sizeclass];
    if (size < request)
        return 0;
    return request <= 16 || size % 16 == 0;
}

/* The smallest class that may serve `request` bytes (1..MAX_SMALL_SIZE). */
static uint8_t smallest_class_for(size_t request)
{
    for (unsigned c = 1; c < NUM_SIZE_CLASSES; c++) {
        if (class_fits(c, request))
            return (uint8_t)c;
    }
    return 0; /* unreachable: the last class is MAX_SMALL_SIZE */
}

static void fill_tables(void)
{
    /* Entry i of the 8-byte table stands for the requests (8i-7 .. 8i];
     * its largest request decides, so every request in the step fits. Entry
     * 0 is for size 0, served like size 1. */
    size_to_class8[0] = smallest_class_for(1);
    for (size_t i = 1; i < SIZE_TO_CLASS8_LEN; i++)
        size_to_class8[i] = smallest_class_for(i * SIZE_CLASS8_STEP);

    /* Entry i of the 128-byte table stands for the requests
     * (1024 + 128(i-1) .. 1024 + 128i]. Entry 0 is for exactly 1024, which
     * size_to_class looks up in the 8-byte table, but is filled anyway. */
    for (size_t i = 0; i < SIZE_TO_CLASS128_LEN; i++)
        size_to_class128[i] = smallest_class_for(SIZE_CLASS8_MAX + i * SIZE_CLASS128_STEP);

    class_to_divmagic[0] = 0;
    for (unsigned c = 1; c < NUM_SIZE_CLASSES; c++)
        class_to_divmagic[c] = UINT32_MAX / class_to_size[c] + 1;
}

static pthread_once_t sizeclasses_once = PTHREAD_ONCE_INIT;

void sizeclasses_init(void)
{
    pthread_once(&sizeclasses_once, fill_tables);
}
