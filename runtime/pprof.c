/*
 * The heap profile's protocol buffer. See pprof.h.
 *
 * Encoding: every field is a varint (wire type 0) or length-delimited
 * (wire type 2: a varint length, then the bytes). A message inside another
 * is encoded into a scratch buffer first and copied in with its length.
 * Repeated numbers are packed (one length-delimited field), as Go writes
 * them. Zero values are left out, as proto3 does.
 */
#include "pprof.h"

#include "gzip.h"
#include "platform.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* profile.proto field numbers. */
enum {
    PROFILE_SAMPLE_TYPE = 1,
    PROFILE_SAMPLE = 2,
    PROFILE_MAPPING = 3,
    PROFILE_LOCATION = 4,
    PROFILE_STRING_TABLE = 6,
    PROFILE_TIME_NANOS = 9,
    PROFILE_PERIOD_TYPE = 11,
    PROFILE_PERIOD = 12,
    VALUE_TYPE_TYPE = 1,
    VALUE_TYPE_UNIT = 2,
    SAMPLE_LOCATION_ID = 1,
    SAMPLE_VALUE = 2,
    SAMPLE_LABEL = 3,
    LABEL_KEY = 1,
    LABEL_NUM = 3,
    MAPPING_ID = 1,
    MAPPING_START = 2,
    MAPPING_LIMIT = 3,
    MAPPING_OFFSET = 4,
    MAPPING_FILENAME = 5,
    MAPPING_BUILD_ID = 6,
    LOCATION_ID = 1,
    LOCATION_MAPPING_ID = 2,
    LOCATION_ADDRESS = 3,
};

/* ---- Scaling ------------------------------------------------------------ */

/* exp(-x) for x >= 0, without libm: x = k ln2 + r with |r| <= ln2/2, and
 * exp(-r) by its Taylor series (18 terms: below 1e-17 relative). */
static double exp_neg(double x)
{
    static const double ln2 = 0.6931471805599453;
    if (x > 700)
        return 0;
    int k = (int)(x / ln2 + 0.5);
    double r = x - k * ln2, term = 1, sum = 1;
    for (int i = 1; i < 18; i++) {
        term *= -r / i;
        sum += term;
    }
    union {
        uint64_t u;
        double d;
    } two_to_minus_k = {.u = (uint64_t)(1023 - k) << 52};
    return sum * two_to_minus_k.d;
}

void pprof_scale_heap_sample(int64_t count, int64_t size, int64_t rate, int64_t *count_out,
                             int64_t *size_out)
{
    if (count == 0 || size == 0) {
        *count_out = *size_out = 0;
        return;
    }
    if (rate <= 1) {
        *count_out = count;
        *size_out = size;
        return;
    }
    double avg = (double)size / (double)count;
    double scale = 1 / (1 - exp_neg(avg / (double)rate));
    *count_out = (int64_t)((double)count * scale);
    *size_out = (int64_t)((double)size * scale);
}

/* ---- Protocol buffer primitives ---------------------------------------- */

struct pbuf {
    uint8_t *p;
    size_t n, cap;
    int failed; /* malloc failed: everything after is dropped */
};

static void pb_reserve(struct pbuf *b, size_t more)
{
    if (b->failed || b->n + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void pb_bytes(struct pbuf *b, const void *data, size_t n)
{
    if (n == 0)
        return;
    pb_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void pb_varint(struct pbuf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    pb_bytes(b, tmp, n);
}

static void pb_tag(struct pbuf *b, int field, int wire)
{
    pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

/* A varint field, left out when zero. */
static void pb_uint(struct pbuf *b, int field, uint64_t v)
{
    if (v == 0)
        return;
    pb_tag(b, field, 0);
    pb_varint(b, v);
}

static void pb_int(struct pbuf *b, int field, int64_t v)
{
    pb_uint(b, field, (uint64_t)v);
}

static void pb_len(struct pbuf *b, int field, const void *data, size_t n)
{
    pb_tag(b, field, 2);
    pb_varint(b, n);
    pb_bytes(b, data, n);
}

/* A finished sub-message, appended as field; the scratch buffer is reset. */
static void pb_message(struct pbuf *b, int field, struct pbuf *msg)
{
    if (msg->failed)
        b->failed = 1;
    pb_len(b, field, msg->p, msg->n);
    msg->n = 0;
}

/* ---- Strings ------------------------------------------------------------ */

struct strings {
    const char **s;
    size_t n, cap;
    int failed;
};

/* The index of str in the string table, added if new. Linear: a heap
 * profile has a few dozen strings (types, units, file names, build ids). */
static int64_t string_index(struct strings *t, const char *str)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->s[i], str) == 0)
            return (int64_t)i;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        const char **s = realloc(t->s, cap * sizeof *s);
        if (s == NULL) {
            t->failed = 1;
            return 0;
        }
        t->s = s;
        t->cap = cap;
    }
    t->s[t->n] = str;
    return (int64_t)t->n++;
}

static void value_type(struct pbuf *b, struct pbuf *msg, struct strings *t, int field,
                       const char *type, const char *unit)
{
    pb_int(msg, VALUE_TYPE_TYPE, string_index(t, type));
    pb_int(msg, VALUE_TYPE_UNIT, string_index(t, unit));
    pb_message(b, field, msg);
}

/* ---- Mappings ----------------------------------------------------------- */

struct mapping {
    uint64_t start, limit, offset;
    char *file;
    char build_id[2 * 64 + 1];
    int main; /* the executable's */
};

struct mappings {
    struct mapping *m;
    size_t n;
};

/* The whole of a /proc file in a malloc'd, NUL-terminated buffer. */
static char *read_proc_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 16384, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r < 0) {
                free(buf);
                buf = NULL;
            }
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    if (buf != NULL)
        buf[n] = '\0';
    return buf;
}

/* The executable mappings of /proc/self/maps with a name (Go's
 * parseProcSelfMaps keeps the same ones): a file, or [vdso] and the like. */
static int read_mappings(struct mappings *ms)
{
    ms->m = NULL;
    ms->n = 0;
    char *text = read_proc_file("/proc/self/maps");
    if (text == NULL)
        return -1;
    size_t cap = 0;
    for (char *line = text, *next; *line != '\0'; line = next) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : line + strlen(line);
        if (nl)
            *nl = '\0';
        unsigned long long lo, hi, off, inode;
        char perm[8];
        int name_at = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %*s %llu %n", &lo, &hi, perm, &off, &inode, &name_at) <
                5 ||
            name_at == 0)
            continue;
        if (strlen(perm) < 4 || perm[2] != 'x')
            continue;
        char *name = line + name_at;
        size_t len = strlen(name);
        static const char deleted[] = " (deleted)";
        if (len >= sizeof deleted - 1 && strcmp(name + len - (sizeof deleted - 1), deleted) == 0)
            name[len -= sizeof deleted - 1] = '\0';
        if (len == 0)
            continue; /* anonymous, e.g. the unpopulated head of a huge-page text mapping */
        if (ms->n == cap) {
            cap = cap ? cap * 2 : 16;
            struct mapping *m = realloc(ms->m, cap * sizeof *m);
            if (m == NULL)
                goto fail;
            ms->m = m;
        }
        struct mapping *m = &ms->m[ms->n];
        memset(m, 0, sizeof *m);
        m->start = lo;
        m->limit = hi;
        m->offset = off;
        m->file = strdup(name);
        if (m->file == NULL)
            goto fail;
        ms->n++;
    }
    free(text);
    return 0;
fail:
    free(text);
    for (size_t i = 0; i < ms->n; i++)
        free(ms->m[i].file);
    free(ms->m);
    ms->m = NULL;
    ms->n = 0;
    errno = ENOMEM;
    return -1;
}

static void hex(char *dst, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[p[i] >> 4];
        dst[2 * i + 1] = digits[p[i] & 15];
    }
    dst[2 * n] = '\0';
}

/* The GNU build id in a PT_NOTE segment's notes, as hex into dst; 0 if
 * there is none. Notes are padded to the segment's alignment (4, or 8 for
 * the 8-aligned GNU property notes). */
static int find_build_id(const unsigned char *p, size_t size, size_t align, char *dst,
                         size_t dst_size)
{
    align = align == 8 ? 8 : 4;
    size_t off = 0;
    while (off + sizeof(ElfW(Nhdr)) <= size) {
        const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(p + off);
        size_t name_off = off + sizeof *nh;
        size_t desc_off = name_off + ((nh->n_namesz + align - 1) & ~(align - 1));
        size_t end = desc_off + ((nh->n_descsz + align - 1) & ~(align - 1));
        if (desc_off > size || desc_off + nh->n_descsz > size)
            return 0;
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
            memcmp(p + name_off, "GNU", 4) == 0 && nh->n_descsz > 0 &&
            2 * (size_t)nh->n_descsz < dst_size) {
            hex(dst, p + desc_off, nh->n_descsz);
            return 1;
        }
        off = end;
    }
    return 0;
}

/* dl_iterate_phdr's callback: the object's build id goes to every mapping
 * that lies in one of its PT_LOAD segments; the first object is the
 * executable. */
static int object_build_id(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct mappings *ms = arg;
    char id[sizeof ms->m[0].build_id] = "";
    for (int i = 0; i < info->dlpi_phnum && id[0] == '\0'; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_NOTE)
            find_build_id((const unsigned char *)(info->dlpi_addr + ph->p_vaddr), ph->p_memsz,
                          ph->p_align, id, sizeof id);
    }
    static const uintptr_t page = 4096;
    int first = info->dlpi_name == NULL || info->dlpi_name[0] == '\0';
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
        uintptr_t hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        for (size_t j = 0; j < ms->n; j++) {
            struct mapping *m = &ms->m[j];
            if (m->start < lo || m->start >= hi || m->file[0] != '/')
                continue;
            memcpy(m->build_id, id, sizeof id);
            /* The main program comes first, with an empty name; so does
             * the vdso on some systems, but its mapping is not a file. */
            if (first)
                m->main = 1;
        }
    }
    return 0;
}

/* The executable's mappings first, for `go tool pprof PROG` (stable). */
static void main_first(struct mappings *ms)
{
    size_t k = 0;
    for (size_t i = 0; i < ms->n; i++) {
        if (!ms->m[i].main)
            continue;
        struct mapping m = ms->m[i];
        memmove(&ms->m[k + 1], &ms->m[k], (i - k) * sizeof m);
        ms->m[k++] = m;
    }
}

/* The id (1-based) of the mapping holding addr; 0 if none. */
static uint64_t mapping_of(const struct mappings *ms, uint64_t addr)
{
    for (size_t i = 0; i < ms->n; i++)
        if (addr >= ms->m[i].start && addr < ms->m[i].limit)
            return i + 1;
    return 0;
}

/* ---- Locations ---------------------------------------------------------- */

/* Open addressing from an address to its location id. */
struct locations {
    uint64_t *addr;
    uint64_t *id;
    size_t cap; /* a power of two, at least twice the addresses */
    uint64_t next_id;
};

static uint64_t hash_addr(uint64_t a)
{
    a ^= a >> 33;
    a *= 0xff51afd7ed558ccdull;
    a ^= a >> 33;
    return a;
}

/* The id of addr, and whether it is new (its Location is still to write). */
static uint64_t location_id(struct locations *l, uint64_t addr, int *is_new)
{
    size_t i = hash_addr(addr) & (l->cap - 1);
    while (l->id[i] != 0) {
        if (l->addr[i] == addr) {
            *is_new = 0;
            return l->id[i];
        }
        i = (i + 1) & (l->cap - 1);
    }
    l->addr[i] = addr;
    l->id[i] = ++l->next_id;
    *is_new = 1;
    return l->id[i];
}

/* ---- The profile -------------------------------------------------------- */

int pprof_encode_heap(const struct pprof_heap_record *r, size_t n, int64_t rate, int64_t time_nanos,
                      uint8_t **out, size_t *out_len)
{
    struct pbuf b = {0}, msg = {0}, packed = {0};
    struct strings t = {0};
    struct mappings ms = {0};
    struct locations locs = {0};
    uint64_t *ids = NULL;
    int rc = -1;

    string_index(&t, "");
    value_type(&b, &msg, &t, PROFILE_PERIOD_TYPE, "space", "bytes");
    pb_int(&b, PROFILE_PERIOD, rate);
    value_type(&b, &msg, &t, PROFILE_SAMPLE_TYPE, "alloc_objects", "count");
    value_type(&b, &msg, &t, PROFILE_SAMPLE_TYPE, "alloc_space", "bytes");
    value_type(&b, &msg, &t, PROFILE_SAMPLE_TYPE, "inuse_objects", "count");
    value_type(&b, &msg, &t, PROFILE_SAMPLE_TYPE, "inuse_space", "bytes");

    if (read_mappings(&ms) != 0 && errno == ENOMEM)
        goto out; /* without /proc, the profile has no mappings */
    dl_iterate_phdr(object_build_id, &ms);
    main_first(&ms);

    size_t naddr = 0;
    for (size_t i = 0; i < n; i++)
        naddr += r[i].nstack;
    locs.cap = 16;
    while (locs.cap < 2 * naddr)
        locs.cap *= 2;
    locs.addr = calloc(locs.cap, sizeof *locs.addr);
    locs.id = calloc(locs.cap, sizeof *locs.id);
    ids = malloc((naddr ? naddr : 1) * sizeof *ids);
    if (locs.addr == NULL || locs.id == NULL || ids == NULL) {
        errno = ENOMEM;
        goto out;
    }
    int64_t bytes_key = string_index(&t, "bytes");
    for (size_t i = 0; i < n; i++) {
        const struct pprof_heap_record *rec = &r[i];
        for (unsigned k = 0; k < rec->nstack; k++) {
            /* Return address minus one: the call instruction. */
            uint64_t addr = (uint64_t)rec->stack[k] - 1;
            int is_new;
            ids[k] = location_id(&locs, addr, &is_new);
            if (is_new) {
                pb_uint(&msg, LOCATION_ID, ids[k]);
                pb_uint(&msg, LOCATION_MAPPING_ID, mapping_of(&ms, addr));
                pb_uint(&msg, LOCATION_ADDRESS, addr);
                pb_message(&b, PROFILE_LOCATION, &msg);
            }
        }
        for (unsigned k = 0; k < rec->nstack; k++)
            pb_varint(&packed, ids[k]);
        pb_len(&msg, SAMPLE_LOCATION_ID, packed.p, packed.n);
        packed.n = 0;
        int64_t v[4];
        pprof_scale_heap_sample((int64_t)rec->alloc_objects, (int64_t)rec->alloc_bytes, rate, &v[0],
                                &v[1]);
        pprof_scale_heap_sample((int64_t)(rec->alloc_objects - rec->free_objects),
                                (int64_t)(rec->alloc_bytes - rec->free_bytes), rate, &v[2], &v[3]);
        for (int k = 0; k < 4; k++)
            pb_varint(&packed, (uint64_t)v[k]);
        pb_len(&msg, SAMPLE_VALUE, packed.p, packed.n);
        packed.n = 0;
        if (rec->alloc_objects > 0) {
            struct pbuf label = {0};
            pb_int(&label, LABEL_KEY, bytes_key);
            pb_int(&label, LABEL_NUM, (int64_t)(rec->alloc_bytes / rec->alloc_objects));
            pb_message(&msg, SAMPLE_LABEL, &label);
            free(label.p);
        }
        pb_message(&b, PROFILE_SAMPLE, &msg);
    }

    for (size_t i = 0; i < ms.n; i++) {
        const struct mapping *m = &ms.m[i];
        pb_uint(&msg, MAPPING_ID, i + 1);
        pb_uint(&msg, MAPPING_START, m->start);
        pb_uint(&msg, MAPPING_LIMIT, m->limit);
        pb_uint(&msg, MAPPING_OFFSET, m->offset);
        pb_int(&msg, MAPPING_FILENAME, string_index(&t, m->file));
        pb_int(&msg, MAPPING_BUILD_ID, string_index(&t, m->build_id));
        pb_message(&b, PROFILE_MAPPING, &msg);
    }
    pb_int(&b, PROFILE_TIME_NANOS, time_nanos);
    for (size_t i = 0; i < t.n; i++)
        pb_len(&b, PROFILE_STRING_TABLE, t.s[i], strlen(t.s[i]));

    if (b.failed || msg.failed || packed.failed || t.failed) {
        errno = ENOMEM;
        goto out;
    }
    *out = b.p;
    *out_len = b.n;
    b.p = NULL;
    rc = 0;
out:
    free(b.p);
    free(msg.p);
    free(packed.p);
    free(t.s);
    for (size_t i = 0; i < ms.n; i++)
        free(ms.m[i].file);
    free(ms.m);
    free(locs.addr);
    free(locs.id);
    free(ids);
    return rc;
}

int pprof_write_heap(int fd, const struct pprof_heap_record *r, size_t n, int64_t rate)
{
    uint8_t *data;
    size_t len;
    if (pprof_encode_heap(r, n, rate, unix_nanotime(), &data, &len) != 0)
        return -1;
    int rc = gzip_write(fd, data, len);
    int saved = errno;
    free(data);
    errno = saved;
    return rc;
}
