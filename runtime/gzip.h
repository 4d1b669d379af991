/*
 * A gzip container (RFC 1952) around stored deflate blocks (RFC 1951,
 * BTYPE 00), and the CRC-32 it ends with.
 *
 * `go tool pprof` reads profiles gzipped, as Go writes them, and also
 * plain; gzip is kept for compatibility with every reader of Go's files.
 * The data is not compressed: a heap profile is kilobytes to a few
 * megabytes, written rarely, and compressing it would make zlib a
 * dependency of every program that links tricolor (its pkg-config file, the
 * static archive's link line) for a saving nobody needs. A stored block is
 * a byte of header (BFINAL, BTYPE 00, padding), LEN and its complement, and
 * up to 65535 bytes as they are; any gzip reader inflates it.
 *
 * No lock, no state: the CRC table is built on the caller's stack.
 */
#ifndef TRICOLOR_GZIP_H
#define TRICOLOR_GZIP_H

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* The CRC-32 of gzip, zlib and PNG (IEEE 802.3, reflected 0xEDB88320),
 * continued from crc (0 to start): crc32_update(0, "123456789", 9) is
 * 0xcbf43926. */
uint32_t crc32_update(uint32_t crc, const void *data, size_t n);

/* The whole gzip member for data[0, n): 10 bytes of header, the stored
 * blocks, CRC-32 and size. The size of the result for n bytes. */
size_t gzip_stored_size(size_t n);
/* Writes it to fd, retrying short writes and EINTR: 0, or -1 with errno. */
int gzip_write(int fd, const void *data, size_t n);

#pragma GCC visibility pop

#endif
