/*
 * Root discovery and scanning. See roots.h.
 */
#include "roots.h"

#include "heap.h"
#include "lock.h"
#include "metadata.h"
#include "platform.h"
#include "special.h"
#include "threads.h"

#include <link.h>
#include <string.h>
#include <tricolor.h>

struct root_range {
    uintptr_t lo, hi;
};

/* A growable array in metadata memory (never malloc: see metadata.h). */
struct range_set {
    struct root_range *r;
    size_t n, cap;
};

/* Makes room for at least cap ranges. Takes the persistent allocator's lock:
 * inside the runtime, or on a collector thread. */
static void range_set_reserve(struct range_set *s, size_t cap)
{
    if (cap <= s->cap)
        return;
    if (cap < 2 * s->cap)
        cap = 2 * s->cap;
    struct root_range *r = persistent_alloc(cap * sizeof *r, 8, &metadata_stats.gc_sys);
    if (s->n)
        memcpy(r, s->r, s->n * sizeof *r);
    /* The old array is abandoned: it is small and this is rare. */
    s->r = r;
    s->cap = cap;
}

static void range_set_add(struct range_set *s, uintptr_t lo, uintptr_t hi)
{
    if (s->n == s->cap)
        range_set_reserve(s, s->n < 32 ? 64 : 2 * s->n);
    s->r[s->n].lo = lo;
    s->r[s->n].hi = hi;
    s->n++;
}

/* Segments of loaded objects: rebuilt before each cycle, under the
 * collector's own serialisation (one cycle at a time). */
static RUNTIME_STATE struct range_set globals;
static uint64_t globals_bytes;
/* Segments the last walk found no room for. */
static size_t globals_missed;

/* gc_add_roots ranges; roots_lock protects them. Mutators take it inside
 * the runtime, so a stopped thread never holds it. */
static struct rlock roots_lock = RLOCK_INIT("roots_lock", RANK_ROOTS);
static RUNTIME_STATE struct range_set user_roots;

/* Is this loaded object libtricolor as a shared library? Its writable
 * segments hold only runtime state, never heap pointers. (When the runtime
 * is linked into the executable, its statics are part of the executable's
 * segments and are scanned with them, harmlessly.) */
static int is_runtime_library(struct dl_phdr_info *info)
{
    if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0')
        return 0; /* the executable */
    uintptr_t self = (uintptr_t)&globals;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && self >= lo && self < lo + ph->p_memsz)
            return 1;
    }
    return 0;
}

/* The bounds of the runtime's own state (platform.h, RUNTIME_STATE). */
extern char __start_tricolor_state[], __stop_tricolor_state[];

/* Records [lo, hi) minus the runtime's own state. */
static void add_segment(uintptr_t lo, uintptr_t hi)
{
    uintptr_t s = (uintptr_t)__start_tricolor_state, e = (uintptr_t)__stop_tricolor_state;
    if (s < hi && e > lo) {
        if (lo < s)
            add_segment(lo, s);
        if (e < hi)
            add_segment(e, hi);
        return;
    }
    if (globals.n == globals.cap) {
        globals_missed++;
        return;
    }
    range_set_add(&globals, lo, hi);
    globals_bytes += hi - lo;
}

static int collect_segments(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (is_runtime_library(info))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        add_segment(lo, lo + ph->p_memsz);
    }
    return 0;
}

void roots_snapshot_globals(void)
{
    /* dl_iterate_phdr holds the loader's lock, which a stopped thread may
     * hold too, so a registered caller walks outside the runtime, where it
     * can be stopped, and the walk takes no runtime lock (lock.h): it fills
     * the array as it is and counts what did not fit; the array grows
     * inside the runtime, and the walk is made again. */
    for (;;) {
        globals.n = 0;
        globals_bytes = 0;
        globals_missed = 0;
        dl_iterate_phdr(collect_segments, NULL);
        if (globals_missed == 0)
            return;
        struct mthread *t = enter_runtime_maybe();
        range_set_reserve(&globals, globals.n + globals_missed + 16);
        exit_runtime_maybe(t);
    }
}

uint64_t roots_globals_bytes(void)
{
    return globals_bytes;
}

void mark_globals(struct gcw *w)
{
    for (size_t i = 0; i < globals.n; i++)
        scan_block(globals.r[i].lo, globals.r[i].hi, w);
    atomic_xadd(&mark_work.globals_scan, globals_bytes);
    rlock_acquire(&roots_lock);
    for (size_t i = 0; i < user_roots.n; i++) {
        scan_block(user_roots.r[i].lo, user_roots.r[i].hi, w);
        atomic_xadd(&mark_work.globals_scan, user_roots.r[i].hi - user_roots.r[i].lo);
    }
    rlock_release(&roots_lock);
}

void mark_thread_stack(struct mthread *t, struct gcw *w)
{
    /* Claimed in a blocking region: stopped where it entered it. */
    uintptr_t sp = t->claimed ? t->blocked_sp : t->stopped_sp;
    if (sp == 0 || sp >= t->stack_hi)
        fatal("thread %p has no recorded stack pointer to scan from", (void *)t);
    scan_block(sp, t->stack_hi, w);
    atomic_xadd(&mark_work.stack_scan, t->stack_hi - sp);
    /* Stopped in a blocking region: its registers as of the enter. */
    if (t->claimed)
        scan_block((uintptr_t)t->blocked_regs, (uintptr_t)(t->blocked_regs + BLOCKED_REGS_WORDS),
                   w);
}

void mark_roots(struct gcw *w)
{
    for (struct mthread *t = threads_first(); t; t = t->next)
        mark_thread_stack(t, w);
    mark_globals(w);
    specials_mark_roots(w);
    mark_root_callbacks(w);
}

/* ---- Root callbacks (gc_add_root_callback) ------------------------------- */

/* Slots of the table; a removed one has fn NULL and is reused. Protected by
 * roots_lock, which the collector holds while it calls them, so that once
 * gc_remove_root_callback returns its fn is never called again. */
#define MAX_ROOT_CALLBACKS 256
static RUNTIME_STATE struct {
    gc_roots_fn fn;
    void *data;
} root_callbacks[MAX_ROOT_CALLBACKS];
static RUNTIME_STATE int nroot_callbacks; /* slots ever used */

struct root_visit_ctx {
    uintptr_t heap_lo, heap_span;
    struct gcw *w;
};

static void root_visit(void **slot, void *ctx)
{
    struct root_visit_ctx *c = ctx;
    uintptr_t p = (uintptr_t)*slot;
    if (p - c->heap_lo < c->heap_span)
        grey_pointer(p, c->w);
}

void mark_root_callbacks(struct gcw *w)
{
    struct root_visit_ctx c = {.heap_lo = atomic_load_relaxed(&mheap_.arena_lo), .w = w};
    c.heap_span = atomic_load_relaxed(&mheap_.arena_hi) - c.heap_lo;
    rlock_acquire(&roots_lock);
    for (int i = 0; i < nroot_callbacks; i++)
        if (root_callbacks[i].fn)
            root_callbacks[i].fn(root_visit, &c, root_callbacks[i].data);
    rlock_release(&roots_lock);
}

int gc_add_root_callback(gc_roots_fn fn, void *data)
{
    if (fn == NULL) {
        runtime_warn("gc_add_root_callback: the callback is NULL; returning -1");
        return -1;
    }
    struct mthread *t = current_thread;
    if (t)
        enter_runtime("gc_add_root_callback");
    rlock_acquire(&roots_lock);
    int h = -1;
    for (int i = 0; i < MAX_ROOT_CALLBACKS; i++) {
        if (root_callbacks[i].fn == NULL) {
            h = i;
            break;
        }
    }
    if (h >= 0) {
        root_callbacks[h].fn = fn;
        root_callbacks[h].data = data;
        if (h >= nroot_callbacks)
            nroot_callbacks = h + 1;
    }
    rlock_release(&roots_lock);
    if (t)
        exit_runtime(t);
    if (h < 0)
        runtime_warn("gc_add_root_callback: %d callbacks are registered already; returning -1",
                     MAX_ROOT_CALLBACKS);
    return h;
}

void gc_remove_root_callback(int handle)
{
    struct mthread *t = current_thread;
    if (t)
        enter_runtime("gc_remove_root_callback");
    rlock_acquire(&roots_lock);
    int ok = handle >= 0 && handle < MAX_ROOT_CALLBACKS && root_callbacks[handle].fn != NULL;
    if (ok) {
        root_callbacks[handle].fn = NULL;
        root_callbacks[handle].data = NULL;
    }
    rlock_release(&roots_lock);
    if (t)
        exit_runtime(t);
    if (!ok)
        runtime_warn("gc_remove_root_callback(%d): no such callback is registered; ignored",
                     handle);
}

void gc_add_roots(void *lo, void *hi)
{
    if ((uintptr_t)hi < (uintptr_t)lo) {
        runtime_warn("gc_add_roots(%p, %p): the range is reversed; ignored", lo, hi);
        return;
    }
    struct mthread *t = current_thread;
    if (t)
        enter_runtime("gc_add_roots");
    rlock_acquire(&roots_lock);
    range_set_add(&user_roots, (uintptr_t)lo, (uintptr_t)hi);
    rlock_release(&roots_lock);
    if (t)
        exit_runtime(t);
}

void gc_remove_roots(void *lo, void *hi)
{
    struct mthread *t = current_thread;
    if (t)
        enter_runtime("gc_remove_roots");
    rlock_acquire(&roots_lock);
    size_t j = 0;
    for (size_t i = 0; i < user_roots.n; i++)
        if (!(user_roots.r[i].lo >= (uintptr_t)lo && user_roots.r[i].hi <= (uintptr_t)hi))
            user_roots.r[j++] = user_roots.r[i];
    user_roots.n = j;
    rlock_release(&roots_lock);
    if (t)
        exit_runtime(t);
}

void roots_fork_lock(void)
{
    rlock_fork_acquire(&roots_lock);
}

void roots_fork_unlock(void)
{
    rlock_fork_release(&roots_lock);
}
