/*
 * The heap profiler. See mprof.h for the design, the cycles and the locks.
 */
#include "mprof.h"

#include "knobs.h"
#include "heap.h"
#include "metadata.h"
#include "platform.h"
#include "pprof.h"
#include "threads.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tricolor.h>
#include <unistd.h>

/* Buckets' hash table: 16384 chains (128 KiB), taken at the first sample. */
#define BUCKHASH_SIZE 16384
/* Frames between mprof_sample and gc_alloc's caller, when the return
 * address into gc_alloc is not found in the stack (it always should be). */
#define SKIP_FRAMES 3

RUNTIME_STATE volatile AO_t mprof_rate = MPROF_DEFAULT_RATE;
static volatile AO_t rate_set_by_api;

/* One heap-profile cycle's events, or the published sum of them. */
struct mprof_counts {
    uint64_t allocs, frees, alloc_bytes, free_bytes;
};

/* A call stack and an object size (Go's bucket with its memRecord). Never
 * freed; stk and size never change. */
struct bucket {
    struct bucket *next;    /* the hash chain */
    struct bucket *allnext; /* every bucket, newest first */
    uint64_t hash;
    size_t size;
    unsigned nstk;
    struct mprof_counts active;    /* published: cycles folded so far */
    struct mprof_counts future[3]; /* by cycle modulo 3 (mprof.h) */
    struct mprof_counts snap;      /* the writer's copy of active, under write_lock */
    uintptr_t stk[];
};

/* A sampled object, on its span's list until the sweeper finds it dead. */
struct mprof_special {
    struct mprof_special *next;                /* the span's list */
    struct mprof_special *all_next, *all_prev; /* every special */
    struct mspan *span;
    struct bucket *b;
    unsigned idx; /* the object's index in its span */
};

/* Everything under prof_lock (mprof.h). No heap address is kept here: a
 * special names its object by span and index. */
static RUNTIME_STATE struct {
    struct bucket **hash;           /* BUCKHASH_SIZE chains; NULL until the first sample */
    struct bucket *volatile all;    /* newest first; published with a release store */
    struct mprof_special *specials; /* every special */
    struct fixalloc special_alloc;
    uint64_t folded; /* the last cycle C whose slot C%3 is folded into active */
} prof;

static struct rlock prof_lock = RLOCK_INIT("the heap profiler's lock", RANK_PROF);
/* Serialises gc_write_heap_profile (bucket.snap); taken outside the runtime
 * and waited for only by other writers, so not a runtime lock (lock.h). */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

void mprof_fork_lock(void)
{
    rlock_fork_acquire(&prof_lock);
}

void mprof_fork_unlock(void)
{
    rlock_fork_release(&prof_lock);
}

/* ---- Sampling ----------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

void mprof_cache_init(struct mprof_cache *pc)
{
    uint64_t seed = splitmix64((uint64_t)nanotime() ^ (uint64_t)(uintptr_t)pc);
    pc->rng = seed ? seed : 1;
}

/* ln(q) for an integer q >= 1, without libm: q = m 2^e with m in [1, 2),
 * and ln(m) = 2 atanh(t), t = (m-1)/(m+1) <= 1/3, by its series to t^13
 * (error below 1e-7, far below the sampling's own noise). */
static double log_int(uint64_t q)
{
    static const double ln2 = 0.6931471805599453;
    int e = 63 - __builtin_clzll(q);
    double m = (double)q / (double)((uint64_t)1 << e);
    double t = (m - 1) / (m + 1), t2 = t * t;
    double series =
        t * (1 + t2 * (1.0 / 3 +
                       t2 * (1.0 / 5 +
                             t2 * (1.0 / 7 + t2 * (1.0 / 9 + t2 * (1.0 / 11 + t2 * (1.0 / 13)))))));
    return e * ln2 + 2 * series;
}

/* A draw from the exponential distribution of mean rate, in bytes, plus
 * one (as Go's fastexprand): -ln(U) x rate with U = q / 2^26 uniform in
 * (0, 1]. The mean is capped as Go caps it, so a draw fits 32 bits. */
uint64_t mprof_exprand(uint64_t *rng, uint64_t rate)
{
    static const int bits = 26;
    if (rate > 0x7000000)
        rate = 0x7000000;
    uint64_t q = (next_random(rng) >> (64 - bits)) + 1;
    double minus_ln_u = bits * 0.6931471805599453 - log_int(q);
    if (minus_ln_u < 0)
        minus_ln_u = 0;
    return (uint64_t)(minus_ln_u * (double)rate) + 1;
}

/* Allocations of elemsize bytes up to and including the sampled one: the
 * first whose bytes reach an exponential draw of mean rate. */
static uint32_t draw_allocs(struct mprof_cache *pc, uint64_t rate, size_t elemsize)
{
    if (rate == 1)
        return 1;
    uint64_t k = (mprof_exprand(&pc->rng, rate) + elemsize - 1) / elemsize;
    return k > UINT32_MAX ? UINT32_MAX : (uint32_t)k;
}

/* Leaves in s's window only the next k->left - 1 free slots. Usually the
 * sampled allocation is beyond the window: nothing is held back. */
static void arm(struct mprof_class *k, struct mspan *s)
{
    uint64_t cache = s->alloc_cache, rest = 0;
    /* (left > 64 first: popcount is a libgcc call without -mpopcnt.) */
    if (k->left <= 64 && (unsigned)__builtin_popcountll(cache) >= k->left) {
        rest = cache;
        for (uint32_t i = 1; i < k->left; i++)
            rest &= rest - 1; /* drop the lowest free slot: it stays */
    }
    k->held = rest;
    s->alloc_cache = cache & ~rest;
    k->armed_count = s->alloc_count;
    k->armed_freeindex = s->freeindex;
    k->armed = 1;
}

void mprof_unarm(struct mprof_cache *pc, unsigned spc, struct mspan *s)
{
    struct mprof_class *k = &pc->cls[spc];
    if (!k->armed)
        return;
    k->left -= (uint16_t)(s->alloc_count - k->armed_count);
    if (k->held != 0) {
        /* The fast path shifted the window by the slots it took, all below
         * the held ones. */
        unsigned shift = (unsigned)(s->freeindex - k->armed_freeindex);
        if (shift >= 64)
            fatal("heap profiler: span %p window moved %u slots while armed", (void *)s->base,
                  shift);
        s->alloc_cache |= k->held >> shift;
    }
    k->held = 0;
    k->armed = 0;
}

int mprof_count_slow(struct mprof_cache *pc, unsigned spc, struct mspan *s)
{
    uint64_t rate = atomic_load_relaxed(&mprof_rate);
    struct mprof_class *k = &pc->cls[spc];
    if (rate == 0) {
        k->left = 0;
        return 0;
    }
    if (k->left == 0)
        k->left = draw_allocs(pc, rate, s->elemsize);
    int sampled = --k->left == 0;
    if (sampled)
        k->left = draw_allocs(pc, rate, s->elemsize);
    arm(k, s);
    return sampled;
}

int mprof_count_large(struct mprof_cache *pc, size_t size)
{
    uint64_t rate = atomic_load_relaxed(&mprof_rate);
    if (rate == 0)
        return 0;
    if (rate == 1)
        return 1;
    if (pc->large_left == 0)
        pc->large_left = mprof_exprand(&pc->rng, rate);
    if (size < pc->large_left) {
        pc->large_left -= size;
        return 0;
    }
    pc->large_left = mprof_exprand(&pc->rng, rate);
    return 1;
}

/* ---- Buckets and cycles (under prof_lock) ------------------------------- */

/* The heap-profile cycle: mark terminations so far (sweepgen advances by 2
 * at each, with the world stopped). */
static uint64_t cycle_now(void)
{
    return atomic_load(&mheap_.sweepgen) / 2;
}

static void fold(unsigned slot)
{
    for (struct bucket *b = prof.all; b != NULL; b = b->allnext) {
        struct mprof_counts *f = &b->future[slot];
        b->active.allocs += f->allocs;
        b->active.frees += f->frees;
        b->active.alloc_bytes += f->alloc_bytes;
        b->active.free_bytes += f->free_bytes;
        memset(f, 0, sizeof *f);
    }
}

/* Folds every cycle completed since the last fold, up to c (mprof.h). */
static void catch_up(uint64_t c)
{
    if (prof.all == NULL) {
        prof.folded = c; /* nothing recorded yet */
        return;
    }
    uint64_t behind = c - prof.folded;
    for (uint64_t i = 1; i <= behind && i <= 3; i++)
        fold((unsigned)((prof.folded + i) % 3));
    prof.folded = c;
}

/* Go's stack hash, with the size hashed in. */
static uint64_t hash_stack(const uintptr_t *stk, unsigned n, size_t size)
{
    uint64_t h = 0;
    for (unsigned i = 0; i < n; i++) {
        h += stk[i];
        h += h << 10;
        h ^= h >> 6;
    }
    h += size;
    h += h << 10;
    h ^= h >> 6;
    h += h << 3;
    h ^= h >> 11;
    return h;
}

static struct bucket *bucket_for(const uintptr_t *stk, unsigned n, size_t size)
{
    if (prof.hash == NULL)
        prof.hash =
            persistent_alloc(BUCKHASH_SIZE * sizeof *prof.hash, 64, &metadata_stats.other_sys);
    uint64_t h = hash_stack(stk, n, size);
    struct bucket **chain = &prof.hash[h % BUCKHASH_SIZE];
    for (struct bucket *b = *chain; b != NULL; b = b->next)
        if (b->hash == h && b->size == size && b->nstk == n &&
            memcmp(b->stk, stk, n * sizeof *stk) == 0)
            return b;
    struct bucket *b = persistent_alloc(sizeof *b + n * sizeof *stk, 8, &metadata_stats.other_sys);
    memcpy(b->stk, stk, n * sizeof *stk);
    b->nstk = n;
    b->hash = h;
    b->size = size;
    b->next = *chain;
    *chain = b;
    b->allnext = prof.all;
    atomic_store((volatile AO_t *)&prof.all, (AO_t)b);
    return b;
}

/* ---- Recording and freeing ---------------------------------------------- */

/* backtrace(), as a stoppable call: it may wait for the dynamic loader's
 * lock, and reads (never writes) the frames above. */
struct unwind {
    void **frames;
    int n;
};

static void unwind_call(void *arg)
{
    struct unwind *u = arg;
    u->n = backtrace(u->frames, u->n);
}

void mprof_sample(struct mthread *t, struct mspan *s, uintptr_t p, uintptr_t ret)
{
    void *frames[MPROF_MAX_STACK + 8];
    /* Stoppable while unwinding (mprof.h): no lock is held, the cache is
     * consistent, and p is in a register or a slot of this frame. */
    struct unwind u = {frames, (int)(sizeof frames / sizeof frames[0])};
    runtime_block_begin(t);
    thread_stoppable_call(t, unwind_call, &u);
    runtime_block_end(t);
    int n = u.n;
    int skip = SKIP_FRAMES;
    for (int i = 0; i < n && i < 8; i++) {
        if ((uintptr_t)frames[i] == ret) {
            skip = i + 1;
            break;
        }
    }
    if (skip > n)
        skip = n;
    unsigned nstk = (unsigned)(n - skip);
    if (nstk > MPROF_MAX_STACK)
        nstk = MPROF_MAX_STACK;
    const uintptr_t *stk = (const uintptr_t *)(frames + skip);

    rlock_acquire(&prof_lock);
    uint64_t c = cycle_now();
    catch_up(c);
    struct bucket *b = bucket_for(stk, nstk, s->elemsize);
    struct mprof_counts *f = &b->future[(c + 2) % 3];
    f->allocs++;
    f->alloc_bytes += s->elemsize;
    struct mprof_special *sp = fixalloc_alloc(&prof.special_alloc);
    sp->span = s;
    sp->b = b;
    sp->idx = span_object_index(s, p);
    sp->next = s->specials;
    atomic_store((volatile AO_t *)&s->specials, (AO_t)sp);
    sp->all_next = prof.specials;
    if (prof.specials)
        prof.specials->all_prev = sp;
    prof.specials = sp;
    rlock_release(&prof_lock);
}

void mprof_sweep_span(struct mspan *s)
{
    rlock_acquire(&prof_lock);
    uint64_t c = cycle_now();
    catch_up(c);
    struct mprof_counts *f_slot = NULL;
    struct mprof_special *keep = NULL, *next;
    for (struct mprof_special *sp = s->specials; sp != NULL; sp = next) {
        next = sp->next;
        if (bit_is_set(s->gcmark_bits, sp->idx)) {
            sp->next = keep;
            keep = sp;
            continue;
        }
        f_slot = &sp->b->future[(c + 1) % 3];
        f_slot->frees++;
        f_slot->free_bytes += sp->b->size;
        if (sp->all_prev)
            sp->all_prev->all_next = sp->all_next;
        else
            prof.specials = sp->all_next;
        if (sp->all_next)
            sp->all_next->all_prev = sp->all_prev;
        fixalloc_free(&prof.special_alloc, sp);
    }
    atomic_store((volatile AO_t *)&s->specials, (AO_t)keep);
    rlock_release(&prof_lock);
}

/* ---- Writing ------------------------------------------------------------ */

/* Has every span holding a special been swept in the cycle of heap
 * sweepgen sg? Then every free of that cycle is counted. */
static int all_specials_swept(AO_t sg)
{
    for (struct mprof_special *sp = prof.specials; sp != NULL; sp = sp->all_next)
        if (atomic_load(&sp->span->sweepgen) != sg)
            return 0;
    return 1;
}

/* Copies the published counts into each bucket's snap (prof_lock held);
 * returns how many buckets there are. */
static size_t snapshot(void)
{
    AO_t sg = atomic_load(&mheap_.sweepgen);
    uint64_t c = sg / 2;
    catch_up(c);
    if (all_specials_swept(sg))
        fold((unsigned)((c + 1) % 3)); /* Go's mProf_PostSweep */
    int published = 0;
    for (struct bucket *b = prof.all; b != NULL && !published; b = b->allnext)
        published = b->active.allocs != 0 || b->active.frees != 0;
    if (!published) {
        /* No cycle has completed: show what there is (as Go does). */
        for (unsigned slot = 0; slot < 3; slot++)
            fold(slot);
    }
    size_t n = 0;
    for (struct bucket *b = prof.all; b != NULL; b = b->allnext, n++)
        b->snap = b->active;
    return n;
}

int gc_write_heap_profile(int fd)
{
    pthread_mutex_lock(&write_lock);
    struct mthread *t = current_thread;
    if (t != NULL)
        enter_runtime("gc_write_heap_profile");
    rlock_acquire(&prof_lock);
    size_t n = snapshot();
    struct bucket *head = prof.all;
    rlock_release(&prof_lock);
    if (t != NULL)
        exit_runtime(t);

    int rc = -1;
    struct pprof_heap_record *r = malloc((n ? n : 1) * sizeof *r);
    if (r == NULL) {
        errno = ENOMEM;
    } else {
        /* Buckets added since are in front of head: n from head are ours. */
        struct bucket *b = head;
        for (size_t i = 0; i < n; i++, b = b->allnext) {
            r[i] = (struct pprof_heap_record){
                .stack = b->stk,
                .nstack = b->nstk,
                .alloc_objects = b->snap.allocs,
                .alloc_bytes = b->snap.alloc_bytes,
                .free_objects = b->snap.frees,
                .free_bytes = b->snap.free_bytes,
            };
        }
        rc = pprof_write_heap(fd, r, n, (int64_t)atomic_load_relaxed(&mprof_rate));
    }
    int saved = errno;
    free(r);
    pthread_mutex_unlock(&write_lock);
    errno = saved;
    return rc;
}

void gc_set_memprofile_rate(int rate)
{
    atomic_store(&mprof_rate, rate > 0 ? (AO_t)rate : 0);
    atomic_store(&rate_set_by_api, 1);
}

/* ---- The knobs ---------------------------------------------------------- */

/* GCHEAPPROFILE: where the profile goes at exit, and the process that
 * asked (a fork child inherits atexit handlers, and must not overwrite its
 * parent's profile). GODEBUG=heapprofilesignal=N: the signal that writes it
 * there too, while the program runs. */
static char profile_path[sizeof knobs.heapprofile];
static pid_t profile_pid;
static int profile_signal;

/* Writes the profile to path, through path.tmp renamed over it when
 * atomically (so that a reader never sees half a profile); 0 or -1 with a
 * message. */
static int write_profile_file(const char *path, int atomically)
{
    char tmp[sizeof profile_path + 8];
    const char *dst = path;
    if (atomically) {
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        dst = tmp;
    }
    int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    int rc = fd < 0 || gc_write_heap_profile(fd) != 0 ? -1 : 0;
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && atomically && rename(tmp, path) != 0) {
        rc = -1;
        saved = errno;
    }
    if (rc != 0)
        runtime_warn("GCHEAPPROFILE: cannot write the heap profile to %s: %s", dst,
                     strerror(saved));
    return rc;
}

static void write_at_exit(void)
{
    if (getpid() == profile_pid)
        write_profile_file(profile_path, 0);
}

/* The signal handler only counts and wakes the writer thread: it may run
 * anywhere, inside the runtime too, where nothing may be locked. */
static volatile uint32_t signals_seen;

static void on_profile_signal(int sig)
{
    (void)sig;
    int saved = errno;
    atomic_xadd32(&signals_seen, 1);
    futex_wake(&signals_seen, 1);
    errno = saved;
}

/* The writer thread: not registered, never stopped, all signals blocked. */
static void *signal_writer_main(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    uint32_t done = atomic_load32(&signals_seen);
    for (;;) {
        uint32_t now;
        while ((now = atomic_load32(&signals_seen)) == done)
            futex_wait(&signals_seen, done);
        done = now;
        write_profile_file(profile_path, 1);
    }
    return NULL;
}

static void start_signal_writer(void)
{
    pthread_t th;
    if (pthread_create(&th, NULL, signal_writer_main, NULL) != 0) {
        runtime_warn("GODEBUG=heapprofilesignal: cannot start the profile writer thread");
        return;
    }
    pthread_detach(th);
}

static void setup_signal(int sig)
{
    struct sigaction old, sa;
    if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP ||
        sigaction(sig, NULL, &old) != 0) {
        runtime_warn("GODEBUG=heapprofilesignal=%d is not a signal that can be caught; ignoring "
                     "it",
                     sig);
        return;
    }
    if ((old.sa_flags & SA_SIGINFO) || (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)) {
        runtime_warn("GODEBUG=heapprofilesignal=%d: signal %d has a handler already (the "
                     "collector's suspend signal, or the program's); ignoring it",
                     sig, sig);
        return;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_profile_signal;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) {
        runtime_warn("GODEBUG=heapprofilesignal=%d: cannot install the handler: %s", sig,
                     strerror(errno));
        return;
    }
    profile_signal = sig;
    start_signal_writer();
}

void mprof_fork_child(void)
{
    pthread_mutex_init(&write_lock, NULL);
    if (profile_signal != 0)
        start_signal_writer(); /* it did not survive the fork; the handler did */
}

void mprof_init(void)
{
    if (!atomic_load(&rate_set_by_api))
        atomic_store(&mprof_rate, knobs.memprofilerate > 0 ? (AO_t)knobs.memprofilerate : 0);
    fixalloc_init(&prof.special_alloc, sizeof(struct mprof_special), &metadata_stats.other_sys,
                  NULL);
    /* The first backtrace loads libgcc_s (dlopen, malloc): here, not in
     * an allocation. */
    void *frames[4];
    backtrace(frames, 4);
    if (knobs.heapprofile[0] != '\0') {
        memcpy(profile_path, knobs.heapprofile, sizeof profile_path);
        profile_pid = getpid();
        if (atexit(write_at_exit) != 0)
            runtime_warn("GCHEAPPROFILE: cannot register the exit handler");
        if (knobs.heapprofilesignal != 0)
            setup_signal(knobs.heapprofilesignal);
    } else if (knobs.heapprofilesignal != 0) {
        runtime_warn("GODEBUG=heapprofilesignal=%d without GCHEAPPROFILE=FILE: no file to write "
                     "the heap profile to; ignoring it",
                     knobs.heapprofilesignal);
    }
}
