/*
 * GODEBUG-style trace lines: gctrace=1 and scavtrace=1, in Go 1.19's format.
 *
 * Pure formatting: the caller gathers the numbers, these functions turn them
 * into the exact bytes Go 1.19 prints, and trace_emit puts a line on stderr.
 * None of them allocates; they use the caller's buffer and the stack only, so
 * they may run right after the world restarts.
 *
 * gctrace (one line per cycle, printed at the end of mark termination):
 *   gc N @T.TTTs P%: a+b+c ms clock, d+e/f/g+h ms cpu, H0->H1->H2 MB, G MB goal,
 *   S MB stacks, GL MB globals, NP P[ (forced)]
 * scavtrace (printed when sweeping finishes, and with " (forced)" by a forced
 * release of all free memory):
 *   scav W KiB work, T KiB total, U% util[ (forced)]
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

/* Writes the formatted line to stderr in a single write(2) call. */
void trace_emit(const char *line, int len);

/* Exposed for tests: Go's fmtNSAsMS rule (>=10ms: whole ms; else 2 significant digits with at
 * most 3 decimals; under 1us: "0"). Writes into buf (NUL-terminated, truncated to n), returns the
 * length it needed. */
int format_ns_as_ms(char *buf, size_t n, uint64_t ns);

#pragma GCC visibility pop

#endif
