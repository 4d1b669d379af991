/*
 * Knobs: GOGC, GOMEMLIMIT, GODEBUG and GOMAXPROCS (alias GCPROCS), read from
 * the environment and from gc_options with Go's syntax. See knobs.c for the
 * precedence rules and docs/ for what each knob does.
 *
 * Invariants: the runtime's knobs are written once, by knobs_load in
 * gc_init before any collector thread starts, and only read after (tests
 * may set one between cycles). Their defaults are written in one place,
 * knobs.c's KNOBS_DEFAULTS.
 */
#ifndef TRICOLOR_KNOBS_H
#define TRICOLOR_KNOBS_H

#include <stdint.h>

#include "tricolor.h"

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* The defaults are knobs.c's KNOBS_DEFAULTS (and its top comment). */
struct knobs {
    int gogc;             /* percent; -1 = off */
    int64_t memory_limit; /* bytes; INT64_MAX = no limit */
    int gctrace, scavtrace, gcpacertrace, gccheckmark, gcstoptheworld, clobberfree;
    int madvdontneed;      /* 0: released pages are given back with MADV_FREE */
    int disablethp;        /* 1: the heap does not ask for transparent huge pages */
    int thpgrowth;         /* 3 (default): huge pages made ahead; 1: fresh huge pages; 0, 2: promote.h */
    int prefault;          /* 1: the prefaulter runs (prefault.h) */
    int stoptimeout;       /* us a stop waits for late threads before it gives up (gc.c); 0: no limit */
    int procs;             /* worker budget GOMAXPROCS (alias GCPROCS) */
    int memprofilerate;    /* heap profile sampling, bytes (mprof.h); 0: off */
    int heapprofilesignal; /* GODEBUG: this signal writes the heap profile; 0: none */
    /* GCHEAPPROFILE: the file the heap profile is written to at exit; "": none. */
    char heapprofile[1024];
};

/* GODEBUG=stoptimeout's default, in microseconds (gc.c, try_stop). */
#define KNOBS_DEFAULT_STOPTIMEOUT 250

/* GODEBUG=memprofilerate's default: Go's runtime.MemProfileRate. */
#define KNOBS_DEFAULT_MEMPROFILERATE (512 * 1024)

/* The process's knobs, filled by knobs_load at gc_init. Before that they hold
 * the defaults, with procs = 1. */
extern struct knobs knobs;

/* The most workers GOMAXPROCS may ask for; larger values are lowered to it. */
#define KNOBS_MAX_PROCS 1024

/*
 * Parsers: return 0 and set *out on success, -1 on malformed input (*out is
 * then untouched). None of them prints anything, except parse_godebug.
 */

/* An integer percent (optional leading '-', no '+', no spaces, fits an int),
 * or "off". "off" and any negative number give -1 (off); "" gives 100. */
int parse_gogc(const char *s, int *out);

/* ^[0-9]+(([KMGT]i)?B)?$ (units are powers of 1024), or "off"; "off" and ""
 * give INT64_MAX (no limit). Signs, fractions, decimal units (KB, MB, ...),
 * spaces and values above INT64_MAX are malformed. */
int parse_memory_limit(const char *s, int64_t *out);

/* A positive decimal integer that fits an int; values above KNOBS_MAX_PROCS
 * are lowered to it. 0, negative numbers and anything else are malformed. */
int parse_procs(const char *s, int *out);

/*
 * GODEBUG: comma-separated name=int. Recognised names (gctrace, scavtrace,
 * gcpacertrace, gccheckmark, gcstoptheworld, clobberfree, madvdontneed, disablethp,
 * thpgrowth, prefault, stoptimeout, memprofilerate, heapprofilesignal) are
 * applied to k in order, so a later setting wins; unknown names and empty
 * fields are ignored. A recognised name whose value is missing or not an
 * integer is reported on stderr under varname (NULL: "GODEBUG") and skipped.
 * Returns the number of such malformed entries.
 */
int parse_godebug(const char *s, struct knobs *k, const char *varname);

/*
 * Fills k: defaults; then the unprefixed environment (GOGC, GOMEMLIMIT,
 * GODEBUG, GOMAXPROCS, GCPROCS; GCPROCS wins over GOMAXPROCS); then the same
 * names with opts->env_prefix, which override; then opts' knob strings, which
 * override everything. opts may be NULL. ncpu is the default for procs.
 * Every malformed value is reported once on stderr and the value it would
 * have replaced is kept.
 */
void knobs_load(struct knobs *k, const struct gc_options *opts, int ncpu);

#pragma GCC visibility pop

#endif
