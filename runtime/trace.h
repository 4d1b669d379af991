/*
 * GODEBUG-style trace lines: gctrace=1 and scavtrace=1 in Go 1.19's format,
 * and tricolor's own gcpacertrace=1 line.
 *
 * Pure formatting: the caller gathers the numbers, these functions turn them
 * into the exact bytes Go 1.19 prints (for gcpacertrace, tricolor's own
 * line), and trace_emit puts a line on stderr. Every file that prints a
 * trace line hands its numbers to one of these. None of them allocates; they
 * use the caller's buffer and the stack only, so they may run in a pause or
 * right after the world restarts (a stopped thread may hold the C library's
 * allocator lock).
 *
 * gctrace (one line per cycle, printed at the end of mark termination):
 *   gc N @T.TTTs P%: a+b+c ms clock, d+e/f/g+h ms cpu, H0->H1->H2 MB, G MB goal,
 *   S MB stacks, GL MB globals, NP P[ (forced)]
 * scavtrace (printed when sweeping finishes, and with " (forced)" by a forced
 * release of all free memory):
 *   scav W KiB work, T KiB total, U% util[ (forced)]
 * gcpacertrace (printed in the mark-termination pause; Go's gcpacertrace
 * prints other things):
 *   pacer: termination: R retries, W workbufs drained in the pause, P ms;
 *   stopping took S1 + S2 ms (A stops given up); started by WHO
 * See trace.c for where each field comes from and how it is rounded.
 */
#ifndef TRICOLOR_TRACE_H
#define TRICOLOR_TRACE_H

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

struct gctrace_cycle {
    uint32_t num;          /* cycle number N (after increment) */
    int64_t since_init_ns; /* sweep-termination start minus runtime init time */
    int cpu_percent;       /* int(gc_cpu_fraction*100), computed by caller */
    int64_t clock_ns[3];   /* STW sweep termination, concurrent mark, STW mark termination (wall) */
    int64_t cpu_stw1_ns;   /* clock_ns[0] * stwprocs, computed by caller */
    int64_t cpu_assist_ns, cpu_background_ns, cpu_idle_ns;
    int64_t cpu_stw2_ns;
    uint64_t heap_start, heap_end, heap_marked, heap_goal; /* bytes: H0, H1, H2, goal */
    uint64_t stacks, globals;                              /* bytes */
    int procs;                                             /* NP */
    int forced;                                            /* append " (forced)" */
};

/* Writes the line including the trailing '\n' into buf (NUL-terminated, truncated to n); returns
 * the length it needed (like snprintf). */
int format_gctrace(char *buf, size_t n, const struct gctrace_cycle *c);

struct scavtrace_line {
    uint64_t released_since_last;   /* W: bytes released by the background scavenger since the
                                       last line */
    uint64_t released_total;        /* T: current heap_released in bytes */
    uint64_t heap_inuse, heap_free; /* for U% = inuse*100/(inuse+free); if both 0 print 0 */
    int forced;
};

/* Same contract as format_gctrace. */
int format_scavtrace(char *buf, size_t n, const struct scavtrace_line *s);

struct pacertrace_line {
    int retries;            /* times termination was tried again (see trace.c) */
    uint64_t workbufs;      /* full work buffers left for the pause to drain */
    int64_t pause_ns;       /* the termination pause, up to the line */
    int64_t stop1_ns;       /* time to stop the world for sweep termination */
    int64_t stop2_ns;       /* the same, for mark termination */
    int stops_abandoned;    /* mark-termination stops given up */
    int started_by_mutator; /* an allocating thread ran the first pause */
};

/* Same contract as format_gctrace. */
int format_pacertrace(char *buf, size_t n, const struct pacertrace_line *p);

/* Writes the formatted line to stderr in a single write(2) call. */
void trace_emit(const char *line, int len);

/* Exposed for tests: Go's fmtNSAsMS rule (>=10ms: whole ms; else 2 significant digits with at
 * most 3 decimals; under 1us: "0"). Writes into buf (NUL-terminated, truncated to n), returns the
 * length it needed. */
int format_ns_as_ms(char *buf, size_t n, uint64_t ns);

#pragma GCC visibility pop

#endif
