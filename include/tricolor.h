/*
 * tricolor: a concurrent tri-color mark-sweep garbage collector for C.
 *
 * This is the whole public interface. Link with -ltricolor (pkg-config
 * tricolor). Every name here starts with gc_; nothing else is exported.
 *
 * The model, in one paragraph: call gc_init once, from the thread that will
 * be the program's main mutator. Every other thread that touches GC memory
 * calls gc_thread_register first and gc_thread_unregister before it exits.
 * Allocate with gc_alloc (may hold pointers) or gc_alloc_noscan (never holds
 * GC pointers). Store a GC pointer into GC memory with gc_write_ptr; stores
 * into locals, globals and gc_add_roots ranges need no barrier. Objects are
 * kept alive by any pointer to their first byte or to any byte inside them,
 * found on registered threads' stacks and registers, in the data and bss of
 * the program and its shared libraries, in gc_add_roots ranges, and in other
 * live scannable objects. Thread-local storage is not scanned: register it
 * with gc_add_roots if it holds the only reference to an object.
 *
 * Tuning follows Go: GOGC, GOMEMLIMIT, GODEBUG (gctrace=1, scavtrace=1,
 * gccheckmark=1, gcstoptheworld=1, clobberfree=1, madvdontneed=0|1,
 * memprofilerate=N, heapprofilesignal=N) and GOMAXPROCS (alias GCPROCS);
 * GCHEAPPROFILE=FILE writes a heap profile at exit (and on the signal
 * heapprofilesignal names). docs/ explains each one.
 */
#ifndef TRICOLOR_H
#define TRICOLOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GC_API __attribute__((visibility("default")))

/*
 * Options for gc_init. A zeroed struct (or NULL) means: defaults, then the
 * environment. Each knob string, when not NULL, overrides the environment
 * and uses the environment variable's syntax, so an embedder can hand through
 * its own configuration unchanged.
 */
typedef struct gc_options {
    /* Prefix for environment variables: "MYVM_" reads MYVM_GOGC,
     * MYVM_GOMEMLIMIT, MYVM_GODEBUG and MYVM_GOMAXPROCS, each of which
     * overrides the unprefixed variable. NULL or "": no prefix. */
    const char *env_prefix;
    const char *gogc;       /* "100", "off" */
    const char *gomemlimit; /* "512MiB", "off" */
    const char *godebug;    /* "gctrace=1,gccheckmark=1" */
    const char *gomaxprocs; /* "4" */
    /* Called when the operating system refuses memory or a size overflows.
     * If it returns, tricolor aborts. NULL: print a message and abort. */
    void (*out_of_memory)(size_t request);
    /* The signal used to stop threads for stack scanning. 0: the default,
     * SIGRTMIN+6 (docs/embedding.md, "How threads are stopped", says why). */
    int suspend_signal;
    /* 1: cooperative stops. No thread is ever signalled; a stop waits for
     * each registered thread to reach a safepoint (gc_safepoint(), gc_alloc,
     * gc_write_ptr's slow path) or to be in a blocking region. Fixed by the
     * first gc_init; docs/embedding.md, "Cooperative stops". */
    int cooperative;
} gc_options;

/* Initialises the runtime and registers the calling thread. Idempotent.
 * Returns 0 on success, -1 with a message on stderr otherwise. */
GC_API int gc_init(const gc_options *opts);

/* Every thread other than the one that called gc_init registers before it
 * allocates or holds GC pointers, and unregisters before it exits. Both return
 * 0 on success, -1 with a message on stderr on misuse. */
GC_API int gc_thread_register(void);
GC_API int gc_thread_unregister(void);

/*
 * Blocking regions. A registered thread about to block for long (a read()
 * on a socket, a lock, a long computation on non-GC memory) says so with
 * gc_enter_blocking, and gc_leave_blocking when it is back. Inside, the
 * collector never signals it (no EINTR from the collector), scans its stack
 * and registers as they were at the enter without stopping it, and does not
 * count it as running for the CPU budget. Inside, the thread must not touch
 * GC memory or GC pointers: no gc_* allocation or barrier, no load or store
 * of a GC pointer, not even between its own locals. Leaving waits while
 * the collector is scanning the thread. Both from registered threads only;
 * a leave without an enter, or a second enter, is reported and ignored.
 */
GC_API void gc_enter_blocking(void);
GC_API void gc_leave_blocking(void);

/*
 * Cooperative stops, for runtimes that cannot take signals (JITs,
 * signal-heavy hosts). With gc_options.cooperative = 1 the collector never
 * signals a thread: to stop the world it sets gc_safepoint_requested and
 * waits until every registered thread has either reached a safepoint or is
 * inside a blocking region. The safepoints are gc_safepoint() (call it in
 * every loop that can run long without allocating: an interpreter's
 * dispatch loop, a JIT's loop back-edges), every gc_alloc and
 * gc_alloc_noscan, and the runtime entries such as gc_write_ptr's slow path.
 * A thread stopped at a safepoint is scanned from there (its registers and
 * stack) and resumes when the world restarts. Every wait of its own that
 * the runtime makes a thread do (gc_collect waiting for a cycle, an
 * allocation waiting for marking to progress) counts as a blocking region.
 * Waits of the embedder's own (a lock, a join, a read) must be wrapped in
 * gc_enter_blocking / gc_leave_blocking, or a stop waits for them.
 *
 * The poll costs a relaxed load and a predicted-not-taken branch. Never
 * write gc_safepoint_requested. In signal mode (the default) it stays 0.
 * gc_safepoint_slow may be called directly; outside a stop it returns at
 * once, and it does nothing on an unregistered thread or inside a blocking
 * region.
 */
extern GC_API uint32_t gc_safepoint_requested;
GC_API void gc_safepoint_slow(void);
static inline void gc_safepoint(void)
{
    if (__builtin_expect(__atomic_load_n(&gc_safepoint_requested, __ATOMIC_RELAXED), 0))
        gc_safepoint_slow();
}

/* Zeroed memory of at least size bytes. gc_alloc's objects are scanned for
 * pointers; gc_alloc_noscan's never are (strings, numbers, pixels). Objects of
 * 16 bytes and more are 16-byte aligned, smaller ones 8-byte aligned. Never
 * returns NULL: out of memory aborts (or calls the options' handler). */
GC_API void *gc_alloc(size_t size);
GC_API void *gc_alloc_noscan(size_t size);

/*
 * The write barrier: the store *(void **)slot = value, for every store of a
 * GC pointer into GC-allocated memory. While a cycle is marking it also
 * shades the old and the new value (Go's hybrid barrier); otherwise it is
 * one load of gc_write_barrier_enabled, one predictable branch and the store.
 *
 * The collector stops threads with a signal, which may land between the
 * load of the flag and the store. On x86-64 the sequence is written so that
 * the signal handler recognises it (by its exact bytes, ending in a marker
 * no-op) and restarts it at the load: no store can slip past a cycle's start
 * unbarriered. Elsewhere every store takes the out-of-line path, which runs
 * inside the runtime and cannot be split by a stop.
 *
 * It is inline; its definition is in <tricolor/write_barrier.h>, included
 * at the end of this file.
 */
static inline void gc_write_ptr(void *slot, void *value);

/* After-the-store barriers, for runtimes whose code already calls a barrier
 * after each pointer store (Lua's luaC_barrier and luaC_barrierback,
 * mruby's mrb_field_write_barrier and mrb_write_barrier): store with a
 * plain store, then gc_shade(value) the value stored, or gc_rescan(obj)
 * to have the whole object scanned again (obj is an object's start). Sound
 * because stacks, globals and registered roots are scanned again at mark
 * termination. One load and a branch while no cycle marks. */
GC_API void gc_shade(void *value);
GC_API void gc_rescan(void *obj);

/* Bulk variants: copying or clearing memory that may hold GC pointers. */
GC_API void *gc_memmove(void *dst, const void *src, size_t n);
GC_API void gc_memclr(void *dst, size_t n);

/* Extra root ranges [lo, hi), scanned conservatively, word-aligned. */
GC_API void gc_add_roots(void *lo, void *hi);
GC_API void gc_remove_roots(void *lo, void *hi);

/* A full cycle; returns when sweeping has finished (runtime.GC). */
GC_API void gc_collect(void);
/* A full cycle, then every free page returned to the OS (debug.FreeOSMemory). */
GC_API void gc_free_os_memory(void);
/* debug.SetGCPercent: returns the old value; a negative value turns the GC off. */
GC_API int gc_set_percent(int percent);
/* debug.SetMemoryLimit: returns the old limit; a negative value only reads. */
GC_API int64_t gc_set_memory_limit(int64_t bytes);

/* Object lookup: the base of the heap object containing p (interior pointers
 * included), or NULL when p is not inside a live heap object. The size of an
 * object is its size class's size, at least the size asked for. */
GC_API void *gc_base(const void *p);
GC_API size_t gc_size(const void *p);

/* Statistics with Go's MemStats meanings (runtime.MemStats, snake_case). */
typedef struct gc_memstats {
    uint64_t alloc;       /* bytes of allocated heap objects (== heap_alloc) */
    uint64_t total_alloc; /* cumulative bytes allocated */
    uint64_t sys;         /* bytes obtained from the OS, all kinds */
    uint64_t lookups;     /* always 0 */
    uint64_t mallocs;     /* cumulative objects allocated */
    uint64_t frees;       /* cumulative objects freed */

    uint64_t heap_alloc;    /* bytes of allocated heap objects, live or not yet swept */
    uint64_t heap_sys;      /* heap address space grown into: inuse + idle */
    uint64_t heap_idle;     /* bytes in free spans (including released) */
    uint64_t heap_inuse;    /* bytes in in-use spans */
    uint64_t heap_released; /* bytes of free spans returned to the OS */
    uint64_t heap_objects;  /* mallocs - frees */

    uint64_t stack_inuse; /* 0: threads' stacks belong to the host */
    uint64_t stack_sys;
    uint64_t mspan_inuse; /* span descriptors */
    uint64_t mspan_sys;
    uint64_t mcache_inuse; /* per-thread caches */
    uint64_t mcache_sys;
    uint64_t buck_hash_sys; /* 0: the heap profiler's buckets count in other_sys */
    uint64_t gc_sys;        /* collector metadata: bitmaps, work buffers, span map */
    uint64_t other_sys;     /* other runtime metadata */

    uint64_t next_gc;        /* heap goal of the next cycle (heap_alloc target) */
    uint64_t last_gc;        /* end of the last cycle, Unix ns */
    uint64_t pause_total_ns; /* cumulative stop-the-world time */
    uint64_t pause_ns[256];  /* each recent cycle's pauses added up; latest at [(num_gc+255)%256] */
    uint64_t pause_end[256]; /* Unix ns when each of those cycles' last pause ended */
    uint32_t num_gc;
    uint32_t num_forced_gc;
    double gc_cpu_fraction; /* share of the process's CPU budget used by the GC */
    int enable_gc;          /* always 1 */
    int debug_gc;           /* always 0 */

    struct {
        uint32_t size;
        uint64_t mallocs;
        uint64_t frees;
    } by_size[61]; /* size classes 0..60, as Go reports them */

    /* Not in Go's MemStats: the longest single pause of each recent cycle,
     * at the same index as pause_ns (which adds up all of a cycle's pauses). */
    uint64_t pause_longest_ns[256];
} gc_memstats;

GC_API void gc_read_memstats(gc_memstats *out);

/* Calls fn(obj, size, type, data) for every live heap object, with the
 * world stopped and sweeping finished: objects that survived the last
 * cycle or were allocated since. size is the object's size (its size
 * class's); type is 0 (untyped). fn runs on the calling thread while every
 * other registered thread is stopped: it may read objects and call gc_base
 * and gc_size, and must not allocate, store through gc_write_ptr's slow
 * path, or call anything that stops the world. */
GC_API void gc_walk_heap(void (*fn)(void *obj, size_t size, uint32_t type, void *data),
                         void *data);

/* realloc for GC memory: a new object of at least size bytes, of the same
 * kind as p's (scanned or noscan), holding p's contents up to the smaller
 * size (copied with the bulk barrier), or p itself when it is already big
 * enough. p NULL: a new scanned object. p not the start of a heap object:
 * reported on stderr, and NULL returned. The old object is freed by the
 * collector once unreachable. */
GC_API void *gc_realloc(void *p, size_t size);

/*
 * Ephemerons: a key and a value, where the value is kept alive by the pair
 * only while the key is alive (what weak-keyed tables need). An ephemeron
 * is a heap object: hold it like any other; one nobody holds dies, and no
 * longer keeps its value. The value is live iff some live ephemeron's key
 * is live (computed as a fixpoint at mark termination, so chains such as
 * e1: k1 -> k2, e2: k2 -> v2 work) or it is reachable otherwise; a value
 * that points to its own key does not keep the key alive. Once a cycle
 * finds the key dead, both accessors return NULL. While marking, what an
 * accessor returns is kept alive (it is shaded).
 *
 * gc_ephemeron_make: key must point into a heap object (else a message and
 * NULL); value may be anything (NULL, or a pointer the collector does not
 * manage). The accessors given something not made by gc_ephemeron_make
 * report it and return NULL.
 */
typedef struct gc_ephemeron gc_ephemeron;
GC_API gc_ephemeron *gc_ephemeron_make(void *key, void *value);
GC_API void *gc_ephemeron_key(const gc_ephemeron *e);   /* NULL once the key is dead */
GC_API void *gc_ephemeron_value(const gc_ephemeron *e); /* NULL once the key is dead */

/*
 * Weak callbacks, for weak tables and intern tables the embedder owns.
 * fn(phase, data) is called at every mark termination, on a collector
 * thread, with every registered thread stopped and marking finished:
 * phase 0 before finalizers are queued, phase 1 after. The callback asks
 * gc_is_live() of what its table holds and clears the dead entries itself;
 * it may gc_mark_live() what must stay. Every callback is called again
 * (with ephemerons' values marked in between) until a round in which no
 * callback marked anything new. An object a callback finds live is not
 * freed by that cycle.
 *
 * A callback runs while mutators are stopped anywhere, perhaps in the
 * middle of updating the table: it must not take a lock a mutator may
 * hold, nor allocate, nor call gc_* other than gc_is_live, gc_mark_live,
 * gc_base, gc_size and the ephemeron accessors (which, there, mark
 * nothing). data is not a root.
 *
 * gc_add_weak_callback: a handle >= 0, or -1 with a message (fn NULL).
 * gc_remove_weak_callback: 0, or -1 with a message for a handle that is
 * not registered; from a registered thread, once it returns the callback
 * is not running and is not called again. A handle may be reused by a
 * later add.
 *
 * gc_is_live(p): inside a callback, whether the object containing p is
 * marked (allocated black this cycle included). Elsewhere, whether it is a
 * live heap object now: outside a cycle, 1 for any live heap object; while
 * marking, 1 for any allocated object. 0 for NULL and for pointers outside
 * every heap object.
 *
 * gc_mark_live(p): only inside a weak callback: marks the object
 * containing p and everything it reaches; 1 if it was not marked yet, 0
 * otherwise. Elsewhere: a message, and 0.
 */
typedef void (*gc_weak_fn)(int phase, void *data);
GC_API int gc_add_weak_callback(gc_weak_fn fn, void *data);
GC_API int gc_remove_weak_callback(int handle);
GC_API int gc_is_live(const void *p);
GC_API int gc_mark_live(void *p);

/*
 * Heap profiles, with Go's semantics (runtime.MemProfileRate, pprof's heap
 * profile), for `go tool pprof`.
 *
 * An allocation is sampled on average once per rate bytes allocated, at
 * random (exponentially spaced, so that the estimates are unbiased), and
 * the sample records the call stack above gc_alloc (up to 32 frames) and
 * the object's size; the sweeper notices when a sampled object dies. The
 * default rate is 512 KiB, as Go's, or GODEBUG=memprofilerate=N; 1 samples
 * every allocation, 0 turns sampling off. gc_set_memprofile_rate changes it
 * at any time, also before gc_init (then the knob is ignored).
 */
GC_API void gc_set_memprofile_rate(int rate);

/* Writes the heap profile to fd in pprof's format (gzipped protocol buffer,
 * as Go's pprof.WriteHeapProfile): for each allocation site, objects and
 * bytes allocated since start-up (alloc_objects, alloc_space) and in use
 * (inuse_objects, inuse_space) as of the last completed cycle, scaled up
 * from the samples; and the program's and shared libraries' mappings with
 * their build ids, so that `go tool pprof PROGRAM FILE` names the C
 * functions. Call gc_collect() first for an up-to-date in-use view. Returns
 * 0, or -1 with errno set (the write's error, or ENOMEM). From any thread,
 * registered or not; it uses malloc. GCHEAPPROFILE=FILE writes one at exit,
 * and GODEBUG=heapprofilesignal=N on that signal too (docs/tuning.md,
 * "Finding a leak"). */
GC_API int gc_write_heap_profile(int fd);

/* gc_write_ptr's inline definition. */
#include "tricolor/write_barrier.h"

#ifdef __cplusplus
}
#endif

#endif /* TRICOLOR_H */
