/*
 * The heap profiler (runtime/mprof.c) and its file (runtime/pprof.c,
 * runtime/gzip.c).
 *
 * The encoder: CRC-32 against the standard check value; gzip members of
 * sizes around the 64 KiB stored-block limit unwrapped by hand (header,
 * block headers, CRC, size) and by the system's gzip; a profile decoded by
 * a small protocol-buffer reader written here: string table, sample types,
 * period, mappings (the executable's first, with its build id), locations
 * and samples; Go's scaleHeapSample against values worked out by hand.
 *
 * The sampling: the exponential draw's mean and its tail; rate 1 samples
 * every allocation, small and large, rate 0 none; at a low rate the scaled
 * estimate of the bytes allocated at a site is within 5 standard
 * deviations of the truth; the stack recorded starts at the function that
 * called gc_alloc. Deaths: objects dropped and collected leave inuse while
 * alloc keeps them, for small and large objects; allocations after the last
 * cycle show only once a cycle has completed (Go's "as of the last
 * completed cycle"). Every check reads the profile through
 * gc_write_heap_profile, as a user would.
 *
 * GOGC=off: only gc_collect() starts cycles. Safe under CK_FORK=no.
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tricolor.h>

#include "gzip.h"
#include "mprof.h"
#include "pprof.h"
#include "support.h"

/* ---- A protocol-buffer reader for the profile --------------------------- */

struct reader {
    const uint8_t *p, *end;
    int bad;
};

static uint64_t rd_varint(struct reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = 1;
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

/* The next field: its number and wire type; for wire type 2 its bytes in
 * *sub, for 0 its value in *v. 0 at the end. */
static int rd_field(struct reader *r, int *field, uint64_t *v, struct reader *sub)
{
    if (r->p >= r->end || r->bad)
        return 0;
    uint64_t key = rd_varint(r);
    *field = (int)(key >> 3);
    switch (key & 7) {
    case 0:
        *v = rd_varint(r);
        break;
    case 2: {
        uint64_t len = rd_varint(r);
        if (len > (uint64_t)(r->end - r->p)) {
            r->bad = 1;
            return 0;
        }
        *sub = (struct reader){r->p, r->p + len, 0};
        r->p += len;
        break;
    }
    default:
        r->bad = 1;
        return 0;
    }
    return !r->bad;
}

#define MAX_ITEMS 4096

struct sample {
    uint64_t loc[64];
    int nloc;
    int64_t value[4];
    int64_t bytes_label;
};
struct location {
    uint64_t id, mapping, address;
};
struct mapping {
    uint64_t id, start, limit, offset, file, build_id;
};
struct profile {
    char *strings[MAX_ITEMS];
    int nstrings;
    uint64_t sample_type[4][2];
    int nsample_types;
    uint64_t period_type[2];
    int64_t period, time_nanos;
    struct sample *samples;
    int nsamples;
    struct location loc[MAX_ITEMS];
    int nloc;
    struct mapping map[256];
    int nmap;
};

static void decode_value_type(struct reader *m, uint64_t out[2])
{
    int f;
    uint64_t v = 0;
    struct reader sub;
    out[0] = out[1] = 0;
    while (rd_field(m, &f, &v, &sub))
        if (f == 1 || f == 2)
            out[f - 1] = v;
}

static void decode_packed(struct reader *m, uint64_t *out, int *n, int max)
{
    while (m->p < m->end && !m->bad && *n < max)
        out[(*n)++] = rd_varint(m);
}

static struct profile *decode(const uint8_t *data, size_t n)
{
    struct profile *pr = calloc(1, sizeof *pr);
    pr->samples = calloc(MAX_ITEMS, sizeof *pr->samples);
    struct reader r = {data, data + n, 0};
    int f;
    uint64_t v = 0;
    struct reader m, sub;
    while (rd_field(&r, &f, &v, &m)) {
        switch (f) {
        case 1:
            ck_assert_int_lt(pr->nsample_types, 4);
            decode_value_type(&m, pr->sample_type[pr->nsample_types++]);
            break;
        case 2: {
            ck_assert_int_lt(pr->nsamples, MAX_ITEMS);
            struct sample *s = &pr->samples[pr->nsamples++];
            while (rd_field(&m, &f, &v, &sub)) {
                if (f == 1) {
                    decode_packed(&sub, s->loc, &s->nloc, 64);
                } else if (f == 2) {
                    uint64_t vals[4];
                    int nv = 0;
                    decode_packed(&sub, vals, &nv, 4);
                    ck_assert_int_eq(nv, 4);
                    for (int i = 0; i < 4; i++)
                        s->value[i] = (int64_t)vals[i];
                } else if (f == 3) {
                    struct reader lab;
                    uint64_t key = 0, num = 0;
                    while (rd_field(&sub, &f, &v, &lab)) {
                        if (f == 1)
                            key = v;
                        if (f == 3)
                            num = v;
                    }
                    ck_assert_uint_ne(key, 0);
                    s->bytes_label = (int64_t)num;
                }
            }
            break;
        }
        case 3: {
            ck_assert_int_lt(pr->nmap, 256);
            struct mapping *mp = &pr->map[pr->nmap++];
            while (rd_field(&m, &f, &v, &sub)) {
                uint64_t *fields[] = {NULL,        &mp->id,   &mp->start,   &mp->limit,
                                      &mp->offset, &mp->file, &mp->build_id};
                if (f >= 1 && f <= 6)
                    *fields[f] = v;
            }
            break;
        }
        case 4: {
            ck_assert_int_lt(pr->nloc, MAX_ITEMS);
            struct location *l = &pr->loc[pr->nloc++];
            while (rd_field(&m, &f, &v, &sub)) {
                ck_assert_int_le(f, 3); /* no lines: pprof symbolizes */
                if (f == 1)
                    l->id = v;
                if (f == 2)
                    l->mapping = v;
                if (f == 3)
                    l->address = v;
            }
            break;
        }
        case 6:
            ck_assert_int_lt(pr->nstrings, MAX_ITEMS);
            pr->strings[pr->nstrings] = strndup((const char *)m.p, (size_t)(m.end - m.p));
            pr->nstrings++;
            break;
        case 9:
            pr->time_nanos = (int64_t)v;
            break;
        case 11:
            decode_value_type(&m, pr->period_type);
            break;
        case 12:
            pr->period = (int64_t)v;
            break;
        default:
            ck_abort_msg("unexpected profile field %d", f);
        }
    }
    ck_assert_msg(!r.bad && r.p == r.end, "malformed protocol buffer");
    return pr;
}

static void free_profile(struct profile *pr)
{
    for (int i = 0; i < pr->nstrings; i++)
        free(pr->strings[i]);
    free(pr->samples);
    free(pr);
}

static const char *str(const struct profile *pr, uint64_t i)
{
    ck_assert_uint_lt(i, (uint64_t)pr->nstrings);
    return pr->strings[i];
}

static const struct location *loc_by_id(const struct profile *pr, uint64_t id)
{
    for (int i = 0; i < pr->nloc; i++)
        if (pr->loc[i].id == id)
            return &pr->loc[i];
    ck_abort_msg("no location %llu", (unsigned long long)id);
    return NULL;
}

/* ---- gzip --------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Everything written to a temporary file by write(fd), read back. */
static uint8_t *slurp_written(int (*write_fn)(int, void *), void *arg, size_t *n)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(write_fn(fileno(f), arg), 0);
    long len = lseek(fileno(f), 0, SEEK_END);
    ck_assert_int_ge(len, 0);
    uint8_t *buf = malloc((size_t)len + 1);
    ck_assert_int_eq(pread(fileno(f), buf, (size_t)len, 0), len);
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* Unwraps a gzip member of stored blocks, checking every field. */
static uint8_t *gunzip_stored(const uint8_t *gz, size_t n, size_t *out_len)
{
    ck_assert_uint_ge(n, 18);
    ck_assert_uint_eq(gz[0], 0x1f);
    ck_assert_uint_eq(gz[1], 0x8b);
    ck_assert_uint_eq(gz[2], 8);
    ck_assert_uint_eq(gz[3], 0);
    uint8_t *out = malloc(n);
    size_t o = 0, i = 10;
    for (;;) {
        ck_assert_uint_le(i + 5, n - 8);
        int final = gz[i] & 1;
        ck_assert_uint_eq(gz[i] & ~1u, 0); /* BTYPE 00 */
        unsigned len = gz[i + 1] | gz[i + 2] << 8;
        unsigned nlen = gz[i + 3] | gz[i + 4] << 8;
        ck_assert_uint_eq(len ^ 0xffff, nlen);
        i += 5;
        ck_assert_uint_le(i + len, n - 8);
        memcpy(out + o, gz + i, len);
        o += len;
        i += len;
        if (final)
            break;
    }
    ck_assert_uint_eq(i, n - 8);
    ck_assert_uint_eq(le32(gz + i), crc32_update(0, out, o));
    ck_assert_uint_eq(le32(gz + i + 4), (uint32_t)o);
    *out_len = o;
    return out;
}

START_TEST(crc32_check_value)
{
    ck_assert_uint_eq(crc32_update(0, "123456789", 9), 0xcbf43926u);
    ck_assert_uint_eq(crc32_update(0, "", 0), 0);
    /* Continuing a CRC over pieces gives the CRC of the whole. */
    uint32_t c = crc32_update(0, "1234", 4);
    ck_assert_uint_eq(crc32_update(c, "56789", 5), 0xcbf43926u);
}
END_TEST

struct blob {
    const uint8_t *p;
    size_t n;
};

static int write_gzip(int fd, void *arg)
{
    struct blob *b = arg;
    return gzip_write(fd, b->p, b->n);
}

static const size_t gzip_sizes[] = {0, 1, 65534, 65535, 65536, 200000};

START_TEST(gzip_stored_blocks)
{
    size_t size = gzip_sizes[_i];
    uint8_t *data = malloc(size + 1);
    for (size_t k = 0; k < size; k++)
        data[k] = (uint8_t)(k * 2654435761u >> 13);
    struct blob b = {data, size};
    size_t n, m;
    uint8_t *gz = slurp_written(write_gzip, &b, &n);
    ck_assert_uint_eq(n, gzip_stored_size(size));
    uint8_t *back = gunzip_stored(gz, n, &m);
    ck_assert_uint_eq(m, size);
    ck_assert(size == 0 || memcmp(back, data, size) == 0);

    /* The system's gzip agrees. */
    char path[] = "/tmp/tricolor-gzip-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, gz, n), (ssize_t)n);
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "gzip -dc < %s | cksum", path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[128] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, p));
    int status = pclose(p);
    unlink(path);
    ck_assert_int_eq(status, 0);
    unsigned long got_size = 0;
    ck_assert_int_eq(sscanf(line, "%*u %lu", &got_size), 1);
    ck_assert_uint_eq(got_size, size);
    free(back);
    free(gz);
    free(data);
}
END_TEST

/* ---- The encoder -------------------------------------------------------- */

START_TEST(scale_heap_sample)
{
    int64_t c, s;
    /* One object of exactly the rate: probability 1 - 1/e of a sample. */
    pprof_scale_heap_sample(1, 524288, 524288, &c, &s);
    ck_assert_int_eq(c, 1); /* 1.58 truncated, as Go's int64() */
    ck_assert_int_eq(s, 829411);
    /* 100 samples of 16-byte objects at 512 KiB: scale 32768.5. */
    pprof_scale_heap_sample(100, 1600, 524288, &c, &s);
    ck_assert_int_eq(c, 3276850);
    ck_assert_int_eq(s, 52429600);
    /* rate 1 and below: as they are. */
    pprof_scale_heap_sample(7, 700, 1, &c, &s);
    ck_assert_int_eq(c, 7);
    ck_assert_int_eq(s, 700);
    pprof_scale_heap_sample(7, 700, 0, &c, &s);
    ck_assert_int_eq(c, 7);
    pprof_scale_heap_sample(0, 700, 4096, &c, &s);
    ck_assert_int_eq(c, 0);
    ck_assert_int_eq(s, 0);
    /* Objects far above the rate are all sampled: no scaling to speak of. */
    pprof_scale_heap_sample(3, (int64_t)3 << 30, 524288, &c, &s);
    ck_assert_int_eq(c, 3);
    ck_assert_int_eq(s, (int64_t)3 << 30);
}
END_TEST

static const uintptr_t stack_a[] = {0x1001, 0x2002, 0x3003};
static const uintptr_t stack_b[] = {0x1001, 0x4004};

START_TEST(encode_heap)
{
    struct pprof_heap_record r[] = {
        {stack_a, 3, 10, 1000, 4, 400},
        {stack_b, 2, 5, 5 << 20, 5, 5 << 20},
    };
    uint8_t *data;
    size_t n;
    ck_assert_int_eq(pprof_encode_heap(r, 2, 1, 123456789, &data, &n), 0);
    struct profile *pr = decode(data, n);
    ck_assert_str_eq(str(pr, 0), "");
    static const char *const types[4][2] = {{"alloc_objects", "count"},
                                            {"alloc_space", "bytes"},
                                            {"inuse_objects", "count"},
                                            {"inuse_space", "bytes"}};
    ck_assert_int_eq(pr->nsample_types, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(str(pr, pr->sample_type[i][0]), types[i][0]);
        ck_assert_str_eq(str(pr, pr->sample_type[i][1]), types[i][1]);
    }
    ck_assert_str_eq(str(pr, pr->period_type[0]), "space");
    ck_assert_str_eq(str(pr, pr->period_type[1]), "bytes");
    ck_assert_int_eq(pr->period, 1);
    ck_assert_int_eq(pr->time_nanos, 123456789);

    /* Rate 1: the values as recorded; in use is allocated minus freed. */
    ck_assert_int_eq(pr->nsamples, 2);
    ck_assert_int_eq(pr->samples[0].value[0], 10);
    ck_assert_int_eq(pr->samples[0].value[1], 1000);
    ck_assert_int_eq(pr->samples[0].value[2], 6);
    ck_assert_int_eq(pr->samples[0].value[3], 600);
    ck_assert_int_eq(pr->samples[0].bytes_label, 100);
    ck_assert_int_eq(pr->samples[1].value[2], 0);
    ck_assert_int_eq(pr->samples[1].value[3], 0);
    ck_assert_int_eq(pr->samples[1].bytes_label, 1 << 20);

    /* One location per distinct address, each the return address minus one;
     * the shared frame is shared. */
    ck_assert_int_eq(pr->nloc, 4);
    ck_assert_int_eq(pr->samples[0].nloc, 3);
    ck_assert_int_eq(pr->samples[1].nloc, 2);
    ck_assert_uint_eq(pr->samples[0].loc[0], pr->samples[1].loc[0]);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(loc_by_id(pr, pr->samples[0].loc[i])->address, stack_a[i] - 1);
    ck_assert_uint_eq(loc_by_id(pr, pr->samples[1].loc[1])->address, stack_b[1] - 1);

    /* Mappings: the executable first, named as /proc/self/exe, with a
     * build id; then the shared libraries; a location in the executable's
     * text refers to its mapping. */
    ck_assert_int_ge(pr->nmap, 2);
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert_int_gt(len, 0);
    exe[len] = '\0';
    ck_assert_str_eq(str(pr, pr->map[0].file), exe);
    const char *id = str(pr, pr->map[0].build_id);
    ck_assert_msg(strlen(id) >= 16 && strspn(id, "0123456789abcdef") == strlen(id),
                  "build id \"%s\"", id);
    int libc = 0;
    for (int i = 0; i < pr->nmap; i++) {
        ck_assert_uint_eq(pr->map[i].id, (uint64_t)i + 1);
        ck_assert_uint_lt(pr->map[i].start, pr->map[i].limit);
        if (strstr(str(pr, pr->map[i].file), "libc.so")) {
            libc = 1;
            ck_assert_uint_gt(strlen(str(pr, pr->map[i].build_id)), 0);
        }
    }
    ck_assert(libc);
    free(data);
    free_profile(pr);

    /* A profile with nothing in it is still a profile. */
    ck_assert_int_eq(pprof_encode_heap(NULL, 0, 524288, 1, &data, &n), 0);
    pr = decode(data, n);
    ck_assert_int_eq(pr->nsamples, 0);
    ck_assert_int_eq(pr->period, 524288);
    free(data);
    free_profile(pr);
}
END_TEST

/* ---- Sampling ----------------------------------------------------------- */

START_TEST(exprand_mean_and_tail)
{
    static const uint64_t rates[] = {1000, 524288, 64 << 20};
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        uint64_t rate = rates[k], rng = 0x1234567 + k, above = 0;
        const int n = 1000000;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            uint64_t x = mprof_exprand(&rng, rate);
            ck_assert_uint_ge(x, 1);
            sum += (double)x;
            above += x > rate;
        }
        /* Exponential: mean = rate (standard error rate/1000), and
         * P(x > mean) = 1/e (standard error 0.0005). */
        double mean = sum / n;
        ck_assert_msg(mean > 0.99 * (double)rate && mean < 1.01 * (double)rate,
                      "rate %llu: mean %.0f", (unsigned long long)rate, mean);
        double tail = (double)above / n;
        ck_assert_msg(tail > 0.3654 && tail < 0.3704, "rate %llu: P(x > mean) = %.4f",
                      (unsigned long long)rate, tail);
    }
}
END_TEST

static int write_profile(int fd, void *arg)
{
    (void)arg;
    return gc_write_heap_profile(fd);
}

/* The current profile, decoded. */
static struct profile *read_profile(void)
{
    size_t n, m;
    uint8_t *gz = slurp_written(write_profile, NULL, &n);
    uint8_t *raw = gunzip_stored(gz, n, &m);
    struct profile *pr = decode(raw, m);
    free(raw);
    free(gz);
    return pr;
}

/* The samples whose innermost frame is in the function named fn, added up
 * (pprof's flat values); NULL if there are none, or if none has anything
 * published (a bucket is written even with nothing in it, as Go writes it).
 * The test binary exports its functions (export_dynamic) for dladdr. */
static struct sample site_sum;
static const struct sample *site(const struct profile *pr, const char *fn)
{
    memset(&site_sum, 0, sizeof site_sum);
    int found = 0;
    for (int i = 0; i < pr->nsamples; i++) {
        const struct sample *s = &pr->samples[i];
        if (s->nloc == 0)
            continue;
        Dl_info info;
        uintptr_t addr = loc_by_id(pr, s->loc[0])->address;
        if (!dladdr((void *)addr, &info) || info.dli_sname == NULL ||
            strcmp(info.dli_sname, fn) != 0)
            continue;
        for (int k = 0; k < 4; k++)
            site_sum.value[k] += s->value[k];
        site_sum.bytes_label = s->bytes_label;
        found |= s->value[0] != 0;
    }
    return found ? &site_sum : NULL;
}

#define N_SMALL 1000
#define N_LARGE 10
/* Roots: exported, so that the stores are kept. */
void *kept_small[N_SMALL];
void *kept_large[N_LARGE];

/* Allocation sites: exported, never inlined, one each. */
NOINLINE void site_rate1_small(void)
{
    for (int i = 0; i < N_SMALL; i++)
        kept_small[i] = gc_alloc(48);
}

NOINLINE void site_rate1_large(void)
{
    for (int i = 0; i < N_LARGE; i++)
        kept_large[i] = gc_alloc_noscan(100000);
}

NOINLINE void site_rate0(void)
{
    for (int i = 0; i < N_SMALL; i++)
        kept_small[i] = gc_alloc(48);
}

NOINLINE void site_low_rate(size_t bytes)
{
    for (size_t i = 0; i < bytes / 64; i++)
        kept_small[i % N_SMALL] = gc_alloc_noscan(64);
}

NOINLINE void site_after_cycle(void)
{
    for (int i = 0; i < N_SMALL; i++)
        kept_small[i] = gc_alloc(80);
}

static void drop_kept(void)
{
    memset(kept_small, 0, sizeof kept_small);
    memset(kept_large, 0, sizeof kept_large);
}

START_TEST(rate1_samples_every_allocation)
{
    gc_set_memprofile_rate(1);
    site_rate1_small();
    site_rate1_large();
    collect(); /* publishes them */
    struct profile *pr = read_profile();
    ck_assert_int_eq(pr->period, 1);
    const struct sample *s = site(pr, "site_rate1_small");
    ck_assert_msg(s != NULL, "no sample whose innermost frame is site_rate1_small");
    ck_assert_int_eq(s->value[0], N_SMALL);
    ck_assert_int_eq(s->value[1], N_SMALL * 48);
    ck_assert_int_eq(s->value[2], N_SMALL);
    ck_assert_int_eq(s->bytes_label, 48);
    const struct sample *l = site(pr, "site_rate1_large");
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(l->value[0], N_LARGE);
    ck_assert_int_eq(l->value[2], N_LARGE);
    ck_assert_int_eq(l->bytes_label, (int64_t)gc_size(kept_large[0])); /* in whole pages */
    free_profile(pr);
    drop_kept();
}
END_TEST

START_TEST(rate0_samples_none)
{
    gc_set_memprofile_rate(0);
    site_rate0();
    collect();
    struct profile *pr = read_profile();
    ck_assert_ptr_null(site(pr, "site_rate0"));
    ck_assert_int_eq(pr->period, 0);
    free_profile(pr);
    drop_kept();
}
END_TEST

START_TEST(low_rate_estimate_unbiased)
{
    /* 16 MiB of 64-byte objects at rate 4096: about 4096 samples, so the
     * estimate's standard deviation is sqrt(16 MiB x 4096) = 1.6%. */
    const size_t bytes = 16 << 20;
    gc_set_memprofile_rate(4096);
    site_low_rate(bytes);
    collect();
    struct profile *pr = read_profile();
    const struct sample *s = site(pr, "site_low_rate");
    ck_assert_ptr_nonnull(s);
    double ratio = (double)s->value[1] / (double)bytes;
    ck_assert_msg(ratio > 0.92 && ratio < 1.08, "estimated %lld bytes of %zu (%.3f)",
                  (long long)s->value[1], bytes, ratio);
    /* Count and bytes are scaled and truncated each on its own. */
    ck_assert_int_lt(llabs(s->value[1] - s->value[0] * 64), 64);
    /* All but the last N_SMALL were dropped before the cycle: in use is
     * about N_SMALL objects (a sample of 64-byte objects stands for 64 of
     * them: allow 16 samples, against about 16 expected). */
    ck_assert_int_le(s->value[2], 32 * 64);
    free_profile(pr);
    drop_kept();
}
END_TEST

START_TEST(frees_leave_inuse)
{
    gc_set_memprofile_rate(1);
    collect(); /* the earlier tests' objects at these sites are freed */
    site_rate1_small();
    site_rate1_large();
    /* Keep every other small object, and half of the large ones. */
    for (int i = 0; i < N_SMALL; i += 2)
        kept_small[i] = NULL;
    for (int i = 0; i < N_LARGE; i += 2)
        kept_large[i] = NULL;
    collect();
    struct profile *pr = read_profile();
    const struct sample *s = site(pr, "site_rate1_small");
    ck_assert_ptr_nonnull(s);
    /* Allocations accumulate over the tests at this site; in use is this
     * test's kept half (a stale word on a stack may keep one or two more). */
    ck_assert_int_eq(s->value[0], 2 * N_SMALL);
    ck_assert_int_ge(s->value[2], N_SMALL / 2);
    ck_assert_int_le(s->value[2], N_SMALL / 2 + 4);
    ck_assert_int_eq(s->value[3], s->value[2] * 48);
    const struct sample *l = site(pr, "site_rate1_large");
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(l->value[0], 2 * N_LARGE);
    ck_assert_int_ge(l->value[2], N_LARGE / 2);
    ck_assert_int_le(l->value[2], N_LARGE / 2 + 1);
    ck_assert_int_eq(l->value[3], l->value[2] * l->bytes_label);
    free_profile(pr);
    drop_kept();
}
END_TEST

START_TEST(inuse_as_of_last_cycle)
{
    gc_set_memprofile_rate(1);
    collect(); /* earlier tests' allocations are published */
    site_after_cycle();
    struct profile *pr = read_profile();
    ck_assert_msg(site(pr, "site_after_cycle") == NULL,
                  "allocations since the last cycle are in the profile already");
    free_profile(pr);
    collect();
    pr = read_profile();
    const struct sample *s = site(pr, "site_after_cycle");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->value[0], N_SMALL);
    ck_assert_int_eq(s->value[2], N_SMALL);
    free_profile(pr);
    /* Dropped: still in use until a cycle has seen them die. */
    drop_kept();
    pr = read_profile();
    ck_assert_int_eq(site(pr, "site_after_cycle")->value[2], N_SMALL);
    free_profile(pr);
    collect();
    pr = read_profile();
    ck_assert_int_le(site(pr, "site_after_cycle")->value[2], 4);
    free_profile(pr);
}
END_TEST

START_TEST(write_error_is_reported)
{
    errno = 0;
    ck_assert_int_eq(gc_write_heap_profile(-1), -1);
    ck_assert_int_eq(errno, EBADF);
}
END_TEST

static Suite *mprof_suite(void)
{
    Suite *s = suite_create("mprof");
    TCase *enc = tcase_create("encoder");
    tcase_add_test(enc, crc32_check_value);
    tcase_add_loop_test(enc, gzip_stored_blocks, 0,
                        (int)(sizeof gzip_sizes / sizeof gzip_sizes[0]));
    tcase_add_test(enc, scale_heap_sample);
    tcase_add_test(enc, encode_heap);
    suite_add_tcase(s, enc);

    TCase *smp = tcase_create("sampling");
    tcase_set_timeout(smp, 30);
    tcase_add_test(smp, exprand_mean_and_tail);
    tcase_add_test(smp, rate1_samples_every_allocation);
    tcase_add_test(smp, rate0_samples_none);
    tcase_add_test(smp, low_rate_estimate_unbiased);
    tcase_add_test(smp, frees_leave_inuse);
    tcase_add_test(smp, inuse_as_of_last_cycle);
    tcase_add_test(smp, write_error_is_reported);
    suite_add_tcase(s, smp);
    return s;
}

int main(void)
{
    gc_options opts = {.gogc = "off"};
    if (gc_init(&opts) != 0)
        return EXIT_FAILURE;
    SRunner *sr = srunner_create(mprof_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
