/*
 * Knob parsing: GOGC, GOMEMLIMIT, GODEBUG and GOMAXPROCS, with Go's names and
 * Go's syntax (Go's runtime reads them in mgcpacer.go readGOGC/readGOMEMLIMIT,
 * runtime1.go parsedebugvars and proc.go schedinit).
 *
 * The knobs:
 *   GOGC        heap growth percent between cycles: an integer, or "off" (-1).
 *               Negative numbers also mean off, as in Go. Default 100.
 *   GOMEMLIMIT  soft memory limit: ^[0-9]+(([KMGT]i)?B)?$, units powers of
 *               1024, or "off". Default off (INT64_MAX).
 *   GODEBUG     comma-separated name=int: gctrace, scavtrace, gcpacertrace,
 *               gccheckmark, gcstoptheworld, clobberfree, madvdontneed
 *               (default 1), disablethp, memprofilerate (runtime.MemProfileRate,
 *               default 512 KiB), and tricolor's own prefault (default 0),
 *               thpgrowth (default 3: the prefaulter makes fresh memory
 *               huge pages ahead of allocation, prefault.h; 1: fresh
 *               memory faulted in as huge pages by the allocating thread;
 *               0: fresh memory in small pages and reused ranges promoted
 *               to huge pages, promote.h; 2: the same beyond the heap's
 *               first 64 MiB arena, which is huge pages from the start),
 *               stoptimeout (microseconds a stop waits for a late thread
 *               before it lets the others run again and retries; default
 *               250, 0: no limit) and heapprofilesignal (a signal number;
 *               default 0, none).
 *               Go's other names, and unknown ones, are ignored.
 *   GOMAXPROCS  the worker budget, a positive integer lowered to at most
 *   (GCPROCS)   KNOBS_MAX_PROCS. Default: the CPUs this process may run on.
 *               GCPROCS is an alias that wins when both are set, for programs
 *               that are not Go but share an environment with some.
 *   GCHEAPPROFILE  tricolor's own: a file to write the heap profile to at
 *               exit, and at each GODEBUG=heapprofilesignal=N signal
 *               (mprof.c). A path, not an integer, so not in GODEBUG,
 *               whose entries are name=int and split at commas. Environment
 *               only (gc_options has no field for it). Default: none.
 *
 * Precedence, lowest first; each step overrides what came before:
 *   1. the defaults above;
 *   2. the environment: GOGC, GOMEMLIMIT, GODEBUG, GOMAXPROCS, then GCPROCS,
 *      GCHEAPPROFILE;
 *   3. the same six names with gc_options.env_prefix before them
 *      (MYVM_GOGC, ..., MYVM_GOMAXPROCS, then MYVM_GCPROCS, MYVM_GCHEAPPROFILE);
 *   4. the strings in gc_options: gogc, gomemlimit, godebug, gomaxprocs.
 * GODEBUG overrides name by name: GODEBUG=gctrace=1 and MYVM_GODEBUG=
 * gccheckmark=1 together turn both on, and a later source's gctrace=0 turns
 * gctrace off again. An empty variable or option string counts as not given,
 * so an embedder can pass its own configuration through unchanged.
 *
 * Go throws on a malformed GOMEMLIMIT and silently uses 100 for a malformed
 * GOGC. A library should do neither: every malformed value is reported once
 * on stderr, naming where it came from, the value and the syntax wanted, and
 * the value it would have replaced (default or from an earlier source) stays.
 */
#include "knobs.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"

/* The defaults, the one place they are written: what knobs holds before
 * gc_init, and what knobs_load starts from (with procs = ncpu). */
#define DEFAULT_GOGC 100
#define KNOBS_DEFAULTS                                                                             \
    {                                                                                              \
        .gogc = DEFAULT_GOGC, .memory_limit = INT64_MAX, .madvdontneed = 1,                        \
        .memprofilerate = KNOBS_DEFAULT_MEMPROFILERATE, .procs = 1,                                \
        .stoptimeout = KNOBS_DEFAULT_STOPTIMEOUT, .thpgrowth = 3,                                  \
    }

struct knobs knobs = KNOBS_DEFAULTS;

#define GOGC_SYNTAX  "want an integer percent or \"off\""
#define LIMIT_SYNTAX "want a byte count with an optional unit B, KiB, MiB, GiB or TiB, or \"off\""
#define PROCS_SYNTAX "want a positive integer"

/* Parses an optionally signed (when allow_neg) decimal integer of len bytes
 * that fits an int64. No spaces, no '+'. 0 on success. */
static int parse_int64(const char *s, size_t len, int allow_neg, int64_t *out)
{
    int neg = 0;
    if (len > 0 && s[0] == '-' && allow_neg) {
        neg = 1;
        s++;
        len--;
    }
    if (len == 0)
        return -1;
    uint64_t un = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (un > (UINT64_MAX - d) / 10)
            return -1;
        un = un * 10 + d;
    }
    if (!neg && un > (uint64_t)INT64_MAX)
        return -1;
    if (neg && un > (uint64_t)INT64_MAX + 1)
        return -1;
    /* -(INT64_MAX + 1) without signed overflow. */
    *out = neg ? (int64_t)(0 - un) : (int64_t)un;
    return 0;
}

/* The same, for values that must fit an int. */
static int parse_int(const char *s, size_t len, int allow_neg, int *out)
{
    int64_t n;
    if (parse_int64(s, len, allow_neg, &n) != 0 || n < INT_MIN || n > INT_MAX)
        return -1;
    *out = (int)n;
    return 0;
}

int parse_gogc(const char *s, int *out)
{
    if (s == NULL || s[0] == '\0') {
        *out = DEFAULT_GOGC;
        return 0;
    }
    if (strcmp(s, "off") == 0) {
        *out = -1;
        return 0;
    }
    int n;
    if (parse_int(s, strlen(s), 1, &n) != 0)
        return -1;
    *out = n < 0 ? -1 : n;
    return 0;
}

int parse_memory_limit(const char *s, int64_t *out)
{
    if (s == NULL || s[0] == '\0' || strcmp(s, "off") == 0) {
        *out = INT64_MAX;
        return 0;
    }
    size_t ndigits = strspn(s, "0123456789");
    if (ndigits == 0)
        return -1;
    static const struct {
        const char *suffix;
        int shift;
    } units[] = {
        {"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
    };
    const char *unit = s + ndigits;
    int shift = -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i].suffix) == 0) {
            shift = units[i].shift;
            break;
        }
    }
    if (shift < 0)
        return -1;
    int64_t n;
    if (parse_int64(s, ndigits, 0, &n) != 0 || n > (INT64_MAX >> shift))
        return -1;
    *out = (int64_t)((uint64_t)n << shift);
    return 0;
}

int parse_procs(const char *s, int *out)
{
    int n;
    if (s == NULL || parse_int(s, strlen(s), 0, &n) != 0 || n <= 0)
        return -1;
    *out = n > KNOBS_MAX_PROCS ? KNOBS_MAX_PROCS : n;
    return 0;
}

/*
 * Writes s[0, len) into dst as it goes between double quotes in a message:
 * quotes, backslashes and non-printing bytes escaped, and cut after
 * QUOTE_MAX bytes with "..." so that one bad value cannot flood stderr.
 */
#define QUOTE_MAX 64
#define QUOTE_BUF (QUOTE_MAX * 4 + 4)
static const char *quote(char dst[QUOTE_BUF], const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && i < QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(dst + o, QUOTE_BUF - o, "\\x%02x", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    if (len > QUOTE_MAX) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}

static const struct {
    const char *name;
    size_t offset;
} godebug_vars[] = {
    {"gctrace", offsetof(struct knobs, gctrace)},
    {"scavtrace", offsetof(struct knobs, scavtrace)},
    {"gcpacertrace", offsetof(struct knobs, gcpacertrace)},
    {"gccheckmark", offsetof(struct knobs, gccheckmark)},
    {"gcstoptheworld", offsetof(struct knobs, gcstoptheworld)},
    {"clobberfree", offsetof(struct knobs, clobberfree)},
    {"madvdontneed", offsetof(struct knobs, madvdontneed)},
    {"disablethp", offsetof(struct knobs, disablethp)},
    {"thpgrowth", offsetof(struct knobs, thpgrowth)},
    {"prefault", offsetof(struct knobs, prefault)},
    {"stoptimeout", offsetof(struct knobs, stoptimeout)},
    {"memprofilerate", offsetof(struct knobs, memprofilerate)},
    {"heapprofilesignal", offsetof(struct knobs, heapprofilesignal)},
};

static int *godebug_var(struct knobs *k, const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof godebug_vars / sizeof godebug_vars[0]; i++) {
        const char *v = godebug_vars[i].name;
        if (strlen(v) == len && memcmp(v, name, len) == 0)
            return (int *)((char *)k + godebug_vars[i].offset);
    }
    return NULL;
}

int parse_godebug(const char *s, struct knobs *k, const char *varname)
{
    if (s == NULL)
        return 0;
    if (varname == NULL)
        varname = "GODEBUG";
    int bad = 0;
    while (*s != '\0') {
        size_t flen = strcspn(s, ",");
        const char *eq = memchr(s, '=', flen);
        size_t nlen = eq ? (size_t)(eq - s) : flen;
        int *slot = godebug_var(k, s, nlen);
        if (slot != NULL) {
            int v;
            if (eq == NULL || parse_int(eq + 1, flen - nlen - 1, 1, &v) != 0) {
                char q[QUOTE_BUF];
                runtime_warn("%s entry \"%s\" is malformed; want name=integer, e.g. %.*s=1; "
                             "keeping %.*s=%d",
                             varname, quote(q, s, flen), (int)nlen, s, (int)nlen, s, *slot);
                bad++;
            } else {
                *slot = v;
            }
        }
        s += flen;
        if (*s == ',')
            s++;
    }
    return bad;
}

/*
 * Loading. For the messages, each single-valued knob remembers where its
 * current value came from (empty: the default).
 */
#define VARNAME_MAX 128

struct loader {
    struct knobs *k;
    char gogc_src[VARNAME_MAX];
    char limit_src[VARNAME_MAX];
    char procs_src[VARNAME_MAX];
};

static void set_source(char dst[VARNAME_MAX], const char *var)
{
    snprintf(dst, VARNAME_MAX, "%s", var);
}

/* "using the default (X)" or "keeping X from VAR". */
static void report(const char *var, const char *value, const char *syntax, const char *src,
                   const char *current)
{
    char q[QUOTE_BUF];
    quote(q, value, strlen(value));
    if (src[0] == '\0')
        runtime_warn("%s=\"%s\" is malformed; %s; using the default (%s)", var, q, syntax, current);
    else
        runtime_warn("%s=\"%s\" is malformed; %s; keeping %s from %s", var, q, syntax, current,
                     src);
}

static void format_gogc(char *buf, size_t n, int gogc)
{
    if (gogc < 0)
        snprintf(buf, n, "off");
    else
        snprintf(buf, n, "%d", gogc);
}

/* In GOMEMLIMIT's syntax, with the largest unit that divides it exactly. */
static void format_limit(char *buf, size_t n, int64_t limit)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (limit == INT64_MAX) {
        snprintf(buf, n, "off");
        return;
    }
    int u = 0;
    while (u < 4 && limit != 0 && limit % 1024 == 0) {
        limit /= 1024;
        u++;
    }
    snprintf(buf, n, "%lld%s", (long long)limit, units[u]);
}

static void apply_gogc(struct loader *l, const char *var, const char *value)
{
    int v;
    if (value == NULL || value[0] == '\0')
        return;
    if (parse_gogc(value, &v) == 0) {
        l->k->gogc = v;
        set_source(l->gogc_src, var);
        return;
    }
    char cur[32];
    format_gogc(cur, sizeof cur, l->k->gogc);
    report(var, value, GOGC_SYNTAX, l->gogc_src, cur);
}

static void apply_limit(struct loader *l, const char *var, const char *value)
{
    int64_t v;
    if (value == NULL || value[0] == '\0')
        return;
    if (parse_memory_limit(value, &v) == 0) {
        l->k->memory_limit = v;
        set_source(l->limit_src, var);
        return;
    }
    char cur[32];
    format_limit(cur, sizeof cur, l->k->memory_limit);
    report(var, value, LIMIT_SYNTAX, l->limit_src, cur);
}

static void apply_procs(struct loader *l, const char *var, const char *value)
{
    int v;
    if (value == NULL || value[0] == '\0')
        return;
    if (parse_procs(value, &v) == 0) {
        l->k->procs = v;
        set_source(l->procs_src, var);
        return;
    }
    char cur[32];
    snprintf(cur, sizeof cur, "%d", l->k->procs);
    report(var, value, PROCS_SYNTAX, l->procs_src, cur);
}

static void apply_heapprofile(struct loader *l, const char *var, const char *value)
{
    if (value == NULL || value[0] == '\0')
        return;
    size_t len = strlen(value);
    if (len >= sizeof l->k->heapprofile) {
        char q[QUOTE_BUF];
        runtime_warn("%s=\"%s\" is too long; want a path of at most %zu bytes; %s", var,
                     quote(q, value, len), sizeof l->k->heapprofile - 1,
                     l->k->heapprofile[0] ? "keeping the earlier one" : "writing no profile");
        return;
    }
    memcpy(l->k->heapprofile, value, len + 1);
}

/* Reads prefix + each knob's name from the environment. */
static void load_env(struct loader *l, const char *prefix)
{
    /* GCPROCS comes after GOMAXPROCS so the alias wins; GODEBUG (no apply) merges. */
    static const struct {
        const char *name;
        void (*apply)(struct loader *, const char *, const char *);
    } vars[] = {
        {"GOGC", apply_gogc},     {"GOMEMLIMIT", apply_limit},
        {"GODEBUG", NULL},        {"GOMAXPROCS", apply_procs},
        {"GCPROCS", apply_procs}, {"GCHEAPPROFILE", apply_heapprofile},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        char var[VARNAME_MAX];
        snprintf(var, sizeof var, "%s%s", prefix, vars[i].name);
        const char *value = getenv(var);
        if (value == NULL || value[0] == '\0')
            continue;
        if (vars[i].apply != NULL)
            vars[i].apply(l, var, value);
        else
            parse_godebug(value, l->k, var);
    }
}

void knobs_load(struct knobs *k, const struct gc_options *opts, int ncpu)
{
    if (ncpu < 1)
        ncpu = 1;
    if (ncpu > KNOBS_MAX_PROCS)
        ncpu = KNOBS_MAX_PROCS;
    *k = (struct knobs)KNOBS_DEFAULTS;
    k->procs = ncpu;
    struct loader l = {.k = k};

    load_env(&l, "");
    const char *prefix = opts != NULL ? opts->env_prefix : NULL;
    if (prefix != NULL && prefix[0] != '\0') {
        /* Room for the prefix and the longest name, "GCHEAPPROFILE". */
        if (strlen(prefix) + sizeof "GCHEAPPROFILE" > VARNAME_MAX) {
            char q[QUOTE_BUF];
            runtime_warn("gc_options.env_prefix=\"%s\" is too long; want at most %zu bytes; "
                         "ignoring it",
                         quote(q, prefix, strlen(prefix)), VARNAME_MAX - sizeof "GCHEAPPROFILE");
        } else {
            load_env(&l, prefix);
        }
    }
    if (opts == NULL)
        return;
    apply_gogc(&l, "gc_options.gogc", opts->gogc);
    apply_limit(&l, "gc_options.gomemlimit", opts->gomemlimit);
    if (opts->godebug != NULL)
        parse_godebug(opts->godebug, k, "gc_options.godebug");
    apply_procs(&l, "gc_options.gomaxprocs", opts->gomaxprocs);
}
