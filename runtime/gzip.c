/*
 * gzip with stored blocks. See gzip.h.
 */
#include "gzip.h"

#include <errno.h>
#include <unistd.h>

/* The most a stored block holds: LEN is 16 bits. */
#define STORED_MAX 65535u

static void crc32_table(uint32_t table[256])
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
}

uint32_t crc32_update(uint32_t crc, const void *data, size_t n)
{
    uint32_t table[256];
    crc32_table(table);
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

size_t gzip_stored_size(size_t n)
{
    size_t blocks = n == 0 ? 1 : (n + STORED_MAX - 1) / STORED_MAX;
    return 10 + blocks * 5 + n + 8;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

int gzip_write(int fd, const void *data, size_t n)
{
    /* ID1 ID2, CM 8 (deflate), no flags, no mtime, XFL 0, OS 255
     * (unknown), as Go's compress/gzip writes them. */
    static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
    if (write_all(fd, header, sizeof header) != 0)
        return -1;
    const unsigned char *p = data;
    size_t left = n;
    do {
        size_t len = left < STORED_MAX ? left : STORED_MAX;
        unsigned char block[5];
        block[0] = left == len; /* BFINAL on the last; BTYPE 00; pad to the byte */
        block[1] = (unsigned char)len;
        block[2] = (unsigned char)(len >> 8);
        block[3] = (unsigned char)~len;
        block[4] = (unsigned char)(~len >> 8);
        if (write_all(fd, block, sizeof block) != 0 || write_all(fd, p, len) != 0)
            return -1;
        p += len;
        left -= len;
    } while (left > 0);
    unsigned char trailer[8];
    put_le32(trailer, crc32_update(0, data, n));
    put_le32(trailer + 4, (uint32_t)n); /* ISIZE: the size modulo 2^32 */
    return write_all(fd, trailer, sizeof trailer);
}
