/*
 * Root discovery and scanning. See roots.h.
 */
#include "roots.h"

#include "metadata.h"
#include "platform.h"
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

static void range_set_add(struct range_set *s, uintptr_t lo, uintptr_t hi)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct root_range *r = persistent_alloc(cap * sizeof *r, 8, &metadata_stats.gc_sys);
        if (s->n)
            memcpy(r, s->r, s->n * sizeof *r);
        /* The old array is abandoned: it is small and this is rare. */
        s->r = r;
        s->cap = cap;
    }
    s->r[s->n].lo = lo;
    s->r[s->n].hi = hi;
    s->n++;
}

/* Segments of loaded objects: rebuilt before each cycle, under the
 * collector's own serialisation (one cycle at a time). */
static RUNTIME_STATE struct range_set globals;
static uint64_t globals_bytes;

/* gc_add_roots ranges; roots_lock protects them. Mutators take it inside
 * the runtime, so a stopped thread never holds it. */
static pthread_mutex_t roots_lock = PTHREAD_MUTEX_INITIALIZER;
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
    globals.n = 0;
    globals_bytes = 0;
    dl_iterate_phdr(collect_segments, NULL);
}

uint64_t roots_globals_bytes(void)
{
    return globals_bytes;
}

void mark_globals(struct gc_work *w)
{
    for (size_t i = 0; i < globals.n; i++)
        scan_block(globals.r[i].lo, globals.r[i].hi, w);
    atomic_xadd(&work.globals_scan, globals_bytes);
    pthread_mutex_lock(&roots_lock);
    for (size_t i = 0; i < user_roots.n; i++) {
        scan_block(user_roots.r[i].lo, user_roots.r[i].hi, w);
        atomic_xadd(&work.globals_scan, user_roots.r[i].hi - user_roots.r[i].lo);
    }
    pthread_mutex_unlock(&roots_lock);
}

void mark_thread_stack(struct mthread *t, struct gc_work *w)
{
    uintptr_t sp = t->stopped_sp;
    if (sp == 0 || sp >= t->stack_hi)
        fatal("thread %p has no recorded stack pointer to scan from", (void *)t);
    scan_block(sp, t->stack_hi, w);
    atomic_xadd(&work.stack_scan, t->stack_hi - sp);
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
    pthread_mutex_lock(&roots_lock);
    range_set_add(&user_roots, (uintptr_t)lo, (uintptr_t)hi);
    pthread_mutex_unlock(&roots_lock);
    if (t)
        exit_runtime(t);
}

void gc_remove_roots(void *lo, void *hi)
{
    struct mthread *t = current_thread;
    if (t)
        enter_runtime("gc_remove_roots");
    pthread_mutex_lock(&roots_lock);
    size_t j = 0;
    for (size_t i = 0; i < user_roots.n; i++)
        if (!(user_roots.r[i].lo >= (uintptr_t)lo && user_roots.r[i].hi <= (uintptr_t)hi))
            user_roots.r[j++] = user_roots.r[i];
    user_roots.n = j;
    pthread_mutex_unlock(&roots_lock);
    if (t)
        exit_runtime(t);
}

void roots_fork_lock(void)
{
    pthread_mutex_lock(&roots_lock);
}

void roots_fork_unlock(void)
{
    pthread_mutex_unlock(&roots_lock);
}
