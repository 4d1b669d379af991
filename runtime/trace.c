/*
 * Trace lines: gctrace=1 and scavtrace=1 byte for byte as Go 1.19 prints
 * them (runtime/mgc.go gcMarkTermination and fmtNSAsMS; mgcscavenge.go
 * printScavTrace), and gcpacertrace=1's termination line.
 *
 * gctrace, one line per cycle:
 *
 *   gc N @T.TTTs P%: a+b+c ms clock, d+e/f/g+h ms cpu, H0->H1->H2 MB, G MB goal,
 *   S MB stacks, GL MB globals, NP P[ (forced)]
 *
 *   N      cycle number after the increment (unsigned decimal).
 *   @T     sweep-termination start minus runtime init, as an unsigned count of
 *          nanoseconds, divided down to whole milliseconds (truncated) and then
 *          printed as seconds with exactly 3 decimals: 3,999,999 ns is "0.003".
 *          A negative difference is reinterpreted as unsigned, as Go does.
 *   P%     int(gc_cpu_fraction*100), signed decimal, computed by the caller.
 *   a+b+c  wall time of STW sweep termination, concurrent mark and STW mark
 *          termination.
 *   d      a * stwprocs (stwprocs = min(GOMAXPROCS, ncpu)).
 *   e/f/g  mark assist / background workers (dedicated + fractional) / idle
 *          workers, all CPU time.
 *   h      c * stwprocs.
 *          Every time is printed by the fmtNSAsMS rule (format_ns_as_ms):
 *          10 ms or more: whole milliseconds, truncated ("123");
 *          under 1 us: "0";
 *          otherwise whole microseconds cut down (truncating) to 2 significant
 *          digits, shown as milliseconds with at most 3 decimals: 1 us is
 *          "0.001", 110 us "0.11", 1,234 us "1.2", 9,999 us "9.9".
 *          Negative inputs are reinterpreted as unsigned, as Go does.
 *   H0     heap live when the cycle started; H1 heap live at mark termination;
 *   H2     bytes marked; G the heap goal; S stack bytes; GL global bytes.
 *          All of these are bytes >> 20, printed "MB" (truncated MiB).
 *   NP     GOMAXPROCS for the cycle.
 *   " (forced)" when the cycle was started by an explicit collect call.
 *
 * scavtrace:
 *
 *   scav W KiB work, T KiB total, U% util[ (forced)]
 *
 *   W      bytes the background scavenger released since the last line, >> 10.
 *   T      bytes currently released (heap_released), >> 10; can fall.
 *   U      (inuse * 100) / (inuse + free) in unsigned 64-bit integer
 *          arithmetic (truncated); Go would divide by zero when both are 0,
 *          here that prints 0.
 *   " (forced)" for a forced release of all free memory. Go 1.19 can instead
 *   print " [controller reset]"; this scavenger has no such line.
 *
 * gcpacertrace, tricolor's own line about mark termination (Go 1.19's
 * gcpacertrace prints the pacer's inputs instead), one per cycle:
 *
 *   pacer: termination: R retries, W workbufs drained in the pause, P ms;
 *   stopping took S1 + S2 ms (A stops given up); started by WHO
 *
 *   R      times mark termination was tried again: the ragged flush found
 *          grey objects, a stop was given up, or the rescan left too much
 *          grey work for the pause. W the full work buffers the pause drained.
 *   P      the termination pause up to this line; S1, S2 the time it took to
 *          stop the world for sweep termination and for mark termination.
 *          Milliseconds as printf's %.3f (rounded, not Go's fmtNSAsMS).
 *   A      attempts to stop the world given up in this cycle, for either
 *          pause (a thread did not stop in time; gc.c, try_stop).
 *   WHO    "an allocating thread" or "the controller": who ran the first
 *          pause.
 *
 * Nothing here allocates: the functions run right after the world restarts, so
 * they write only into the caller's buffer and small stack arrays.
 */
#include "trace.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

/* An snprintf-like sink: stores what fits (leaving room for the NUL) and
 * counts everything. */
struct sink {
    char *buf;
    size_t cap;
    size_t len;
};

static void put_char(struct sink *s, char ch)
{
    if (s->cap > 0 && s->len < s->cap - 1)
        s->buf[s->len] = ch;
    s->len++;
}

static void put_str(struct sink *s, const char *str)
{
    while (*str != '\0')
        put_char(s, *str++);
}

/* Prints val with dec digits after a decimal point (none if dec is 0), always
 * at least one digit before it: val 3, dec 3 gives "0.003". */
static void put_fixed(struct sink *s, uint64_t val, int dec)
{
    char tmp[32]; /* 20 digits, '.', a leading '0' */
    int i = (int)sizeof(tmp);

    for (int d = 0; d < dec; d++) {
        tmp[--i] = (char)('0' + val % 10);
        val /= 10;
    }
    if (dec > 0)
        tmp[--i] = '.';
    do {
        tmp[--i] = (char)('0' + val % 10);
        val /= 10;
    } while (val != 0);
    while (i < (int)sizeof(tmp))
        put_char(s, tmp[i++]);
}

static void put_uint(struct sink *s, uint64_t val)
{
    put_fixed(s, val, 0);
}

static void put_int(struct sink *s, int64_t val)
{
    if (val < 0) {
        put_char(s, '-');
        put_uint(s, -(uint64_t)val);
    } else {
        put_uint(s, (uint64_t)val);
    }
}

/* fmtNSAsMS: see the top of the file. */
static void put_ns_as_ms(struct sink *s, uint64_t ns)
{
    if (ns >= 10000000) {
        put_uint(s, ns / 1000000);
        return;
    }
    uint64_t us = ns / 1000;
    if (us == 0) {
        put_char(s, '0');
        return;
    }
    int dec = 3;
    while (us >= 100) {
        us /= 10;
        dec--;
    }
    put_fixed(s, us, dec);
}

/* NUL-terminates what was stored and returns the full length. */
static int finish(struct sink *s)
{
    if (s->cap > 0)
        s->buf[s->len < s->cap - 1 ? s->len : s->cap - 1] = '\0';
    return (int)s->len;
}

int format_ns_as_ms(char *buf, size_t n, uint64_t ns)
{
    struct sink s = {buf, n, 0};
    put_ns_as_ms(&s, ns);
    return finish(&s);
}

int format_gctrace(char *buf, size_t n, const struct gctrace_cycle *c)
{
    struct sink s = {buf, n, 0};

    put_str(&s, "gc ");
    put_uint(&s, c->num);
    put_str(&s, " @");
    put_fixed(&s, (uint64_t)c->since_init_ns / 1000000, 3);
    put_str(&s, "s ");
    put_int(&s, c->cpu_percent);
    put_str(&s, "%: ");

    for (int i = 0; i < 3; i++) {
        if (i != 0)
            put_char(&s, '+');
        put_ns_as_ms(&s, (uint64_t)c->clock_ns[i]);
    }
    put_str(&s, " ms clock, ");

    const int64_t cpu[5] = {c->cpu_stw1_ns, c->cpu_assist_ns, c->cpu_background_ns, c->cpu_idle_ns,
                            c->cpu_stw2_ns};
    for (int i = 0; i < 5; i++) {
        if (i == 2 || i == 3)
            put_char(&s, '/'); /* the three mark components */
        else if (i != 0)
            put_char(&s, '+');
        put_ns_as_ms(&s, (uint64_t)cpu[i]);
    }
    put_str(&s, " ms cpu, ");

    put_uint(&s, c->heap_start >> 20);
    put_str(&s, "->");
    put_uint(&s, c->heap_end >> 20);
    put_str(&s, "->");
    put_uint(&s, c->heap_marked >> 20);
    put_str(&s, " MB, ");
    put_uint(&s, c->heap_goal >> 20);
    put_str(&s, " MB goal, ");
    put_uint(&s, c->stacks >> 20);
    put_str(&s, " MB stacks, ");
    put_uint(&s, c->globals >> 20);
    put_str(&s, " MB globals, ");
    put_int(&s, c->procs);
    put_str(&s, " P");
    if (c->forced)
        put_str(&s, " (forced)");
    put_char(&s, '\n');
    return finish(&s);
}

int format_scavtrace(char *buf, size_t n, const struct scavtrace_line *l)
{
    struct sink s = {buf, n, 0};
    uint64_t retained = l->heap_inuse + l->heap_free;
    uint64_t util = retained == 0 ? 0 : l->heap_inuse * 100 / retained;

    put_str(&s, "scav ");
    put_uint(&s, l->released_since_last >> 10);
    put_str(&s, " KiB work, ");
    put_uint(&s, l->released_total >> 10);
    put_str(&s, " KiB total, ");
    put_uint(&s, util);
    put_str(&s, "% util");
    if (l->forced)
        put_str(&s, " (forced)");
    put_char(&s, '\n');
    return finish(&s);
}

int format_pacertrace(char *buf, size_t n, const struct pacertrace_line *p)
{
    /* snprintf, for %.3f's rounding; at this precision it does not allocate. */
    return snprintf(buf, n,
                    "pacer: termination: %d retries, %llu workbufs drained in the pause, %.3f ms; "
                    "stopping took %.3f + %.3f ms (%d stops given up); started by %s\n",
                    p->retries, (unsigned long long)p->workbufs, p->pause_ns / 1e6,
                    p->stop1_ns / 1e6, p->stop2_ns / 1e6, p->stops_abandoned,
                    p->started_by_mutator ? "an allocating thread" : "the controller");
}

void trace_emit(const char *line, int len)
{
    if (len <= 0)
        return;
    ssize_t r;
    do {
        r = write(STDERR_FILENO, line, (size_t)len);
    } while (r < 0 && errno == EINTR);
}
