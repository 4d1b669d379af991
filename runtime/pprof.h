/*
 * The pprof profile format: a heap profile as `go tool pprof` reads it.
 *
 * The format is profile.proto (github.com/google/pprof/proto), a protocol
 * buffer, gzipped (gzip.h). A heap profile, as Go 1.19 writes one
 * (runtime/pprof/protomem.go), has:
 *
 *   sample_type    alloc_objects/count, alloc_space/bytes,
 *                  inuse_objects/count, inuse_space/bytes
 *   period_type    space/bytes, and period: the sampling rate
 *   sample         per bucket: its locations (innermost first), the four
 *                  values, and a numeric label "bytes", the object size
 *   location       per distinct return address: id, mapping id, address
 *   mapping        per executable mapping of /proc/self/maps: start, limit,
 *                  file offset, file name and GNU build id
 *   string_table   every string, "" first
 *   time_nanos     when the profile was written
 *
 * The values are sampled counts scaled as Go's scaleHeapSample does: each
 * bucket's count and bytes are divided by the probability that an object
 * of its average size is sampled at all, 1 - exp(-size/rate), so that the
 * totals estimate the unsampled ones (rate 1 or less: no scaling). Go
 * writes scaled values and the period; pprof does not scale proto profiles
 * again.
 *
 * Locations carry addresses only, no functions or lines: pprof symbolizes
 * them from the binaries, found by the mappings' file names and build ids
 * (`go tool pprof PROG PROFILE` takes PROG for the first mapping, which is
 * therefore the executable's). Each address is the return address minus
 * one, inside the call instruction, so that symbolization names the line
 * of the call (Go does the same with its frames' PCs).
 *
 * The build id is read from memory: dl_iterate_phdr gives each loaded
 * object's program headers, and its PT_NOTE segments hold the
 * NT_GNU_BUILD_ID note, as `readelf -n` shows it; it is written in hex.
 *
 * Runs on the caller's thread, outside the runtime, with no runtime lock:
 * it uses malloc, reads /proc and calls dl_iterate_phdr (which takes the
 * dynamic loader's lock).
 */
#ifndef TRICOLOR_PPROF_H
#define TRICOLOR_PPROF_H

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* One bucket of the heap profile: raw sampled counts. */
struct pprof_heap_record {
    const uintptr_t *stack; /* return addresses, innermost first */
    unsigned nstack;
    uint64_t alloc_objects, alloc_bytes, free_objects, free_bytes;
};

/* Go's scaleHeapSample: the unsampled estimate of count objects of size
 * bytes in all, sampled at rate. */
void pprof_scale_heap_sample(int64_t count, int64_t size, int64_t rate, int64_t *count_out,
                             int64_t *size_out);

/* The profile, not gzipped, in a malloc'd buffer: 0, or -1 with errno. */
int pprof_encode_heap(const struct pprof_heap_record *r, size_t n, int64_t rate, int64_t time_nanos,
                      uint8_t **out, size_t *out_len);
/* The profile, gzipped, written to fd: 0, or -1 with errno. */
int pprof_write_heap(int fd, const struct pprof_heap_record *r, size_t n, int64_t rate);

#pragma GCC visibility pop

#endif
