/*
 * The write barrier: its slow path and buffers, the bulk barriers, and the
 * decoder that restarts an interrupted fast path. See barrier.h.
 */
#include "barrier.h"

#include "atomics.h"
#include "checkmark.h"
#include "knobs.h"
#include "mark.h"
#include "platform.h"
#include "threads.h"

#include <string.h>
#include <sys/uio.h>
#include <tricolor.h>
#include <unistd.h>

uint32_t gc_write_barrier_enabled;

void write_barrier_set(int enabled)
{
    __atomic_store_n(&gc_write_barrier_enabled, enabled ? 1u : 0u, __ATOMIC_RELEASE);
}

/* Greys whatever the buffer holds, into w, and empties it. */
static void wbbuf_flush(struct wbbuf *b, struct gcw *w)
{
    if (b->n == 0)
        return;
    mark_shade_batch(b->ptrs, b->n, w);
    b->n = 0;
}

void wbbuf_flush_thread(struct mthread *t, struct gcw *w)
{
    wbbuf_flush(&t->wbbuf, w);
    gcw_dispose(&t->gcw);
}

void rescan_flush_thread(struct mthread *t, struct gcw *w)
{
    struct wbbuf *b = &t->wbbuf;
    for (size_t i = 0; b->rescan_n > 0 && i < RESCAN_SLOTS; i++) {
        if (b->rescan[i] != 0) {
            mark_rescan(b->rescan[i], w);
            b->rescan[i] = 0;
            b->rescan_n--;
        }
    }
    while (b->rescan_spill != NULL) {
        struct workbuf *spill = b->rescan_spill;
        for (size_t i = 0; i < spill->nobj; i++)
            mark_rescan(spill->obj[i], w);
        b->rescan_spill = spill->next;
        workbuf_put(spill);
    }
}

/* Defers the rescan of obj, which is marked, to mark termination. */
static void rescan_defer(struct wbbuf *b, uintptr_t obj)
{
    uintptr_t *slot = &b->rescan[(obj >> 4) % RESCAN_SLOTS];
    uintptr_t old = *slot;
    if (old == obj)
        return;
    *slot = obj;
    if (old == 0) {
        b->rescan_n++;
        return;
    }
    struct workbuf *spill = b->rescan_spill;
    if (spill == NULL || spill->nobj == WORKBUF_ENTRIES) {
        spill = workbuf_get();
        spill->next = b->rescan_spill;
        b->rescan_spill = spill;
    }
    spill->obj[spill->nobj++] = old;
}

int wbbuf_thread_pending(const struct mthread *t)
{
    return !(t->wbbuf.n == 0 && t->gcw.wbuf1 == NULL && t->gcw.wbuf2 == NULL);
}

static inline int barrier_on(void)
{
    return __atomic_load_n(&gc_write_barrier_enabled, __ATOMIC_RELAXED) != 0;
}

/* Records one pointer-sized word for shading. */
static inline void wbbuf_put(struct mthread *t, uintptr_t p)
{
    struct wbbuf *b = &t->wbbuf;
    if (b->n == WBBUF_ENTRIES)
        wbbuf_flush(b, &t->gcw);
    b->ptrs[b->n++] = p;
}

void gc_write_ptr_slow(void *slot, void *value)
{
    struct mthread *t = enter_runtime("gc_write_ptr");
    /* The flag may have been turned off since the caller read it. It cannot
     * change while this thread is in the runtime: it changes only with the
     * world stopped. */
    if (barrier_on()) {
        wbbuf_put(t, (uintptr_t) * (void **)slot);
        wbbuf_put(t, (uintptr_t)value);
        if (knobs.gccheckmark)
            checkmark_record((uintptr_t)slot, (uintptr_t)value);
    }
    *(void **)slot = value;
    exit_runtime(t);
}

/* The after-the-store barriers, for runtimes that call a barrier after
 * each store (barrier.h): the value is shaded, or the object scanned again,
 * while marking; one load and a branch otherwise. */
void gc_shade(void *value)
{
    if (!barrier_on())
        return;
    struct mthread *t = enter_runtime("gc_shade");
    if (barrier_on()) /* it changes only with the world stopped */
        wbbuf_put(t, (uintptr_t)value);
    exit_runtime(t);
}

void gc_rescan(void *obj)
{
    if (!barrier_on())
        return;
    struct mthread *t = enter_runtime("gc_rescan");
    int r = 0;
    if (barrier_on()) { /* it changes only with the world stopped */
        r = mark_shade_or_marked((uintptr_t)obj, &t->gcw);
        if (r == 1)
            rescan_defer(&t->wbbuf, (uintptr_t)obj);
    }
    exit_runtime(t);
    if (r < 0)
        runtime_warn("gc_rescan(%p): not the start of a heap object; ignored", obj);
}

/* Shades every aligned word of [p, p+n). */
static void shade_range(struct mthread *t, const void *p, size_t n)
{
    uintptr_t a = ((uintptr_t)p + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    for (; a + sizeof(uintptr_t) <= (uintptr_t)p + n; a += sizeof(uintptr_t))
        wbbuf_put(t, *(const uintptr_t *)a);
}

/* Go's bulkBarrierPreWrite: before a copy into memory that may hold GC
 * pointers, shade what is overwritten and what is written. */
void *gc_memmove(void *dst, const void *src, size_t n)
{
    struct mthread *t = enter_runtime("gc_memmove");
    int on = barrier_on();
    if (on) {
        shade_range(t, dst, n);
        shade_range(t, src, n);
    }
    memmove(dst, src, n);
    if (on && knobs.gccheckmark)
        checkmark_record_range(dst, n);
    exit_runtime(t);
    return dst;
}

void gc_memclr(void *dst, size_t n)
{
    struct mthread *t = enter_runtime("gc_memclr");
    if (barrier_on())
        shade_range(t, dst, n);
    memset(dst, 0, n);
    exit_runtime(t);
}

/* ---- Restarting an interrupted fast path --------------------------------- */

volatile AO_t write_barrier_restarts;

/* The x86-64 sequence (include/tricolor/write_barrier.h), from the same
 * definitions as the inline asm; the marker's bytes as stored. */
#define MARKER_BYTES(m) (m) & 0xff, ((m) >> 8) & 0xff, ((m) >> 16) & 0xff, ((m) >> 24) & 0xff

static const unsigned char wb_cmp[] = {GC_WB_CMP_BYTES};
static const unsigned char wb_jne[] = {GC_WB_JNE_BYTES};
static const unsigned char wb_store[] = {GC_WB_STORE_BYTES};
static const unsigned char wb_sig[] = {GC_WB_NOP_BYTES, MARKER_BYTES(GC_WB_MARKER)};

/* Offsets in the sequence: the jne (where a thread stops after the load),
 * its rel32, the store (where a thread stops before storing), the
 * signature, and the whole length. */
enum {
    WB_JNE = sizeof wb_cmp,
    WB_REL32 = WB_JNE + sizeof wb_jne,
    WB_STORE = WB_REL32 + 4,
    WB_SIG = WB_STORE + sizeof wb_store,
    WB_LEN = WB_SIG + sizeof wb_sig,
};

/* Reads code bytes without faulting when the range leaves the page of pc
 * (that page is mapped: the thread is executing it). */
static int read_code(uintptr_t pc, uintptr_t addr, void *buf, size_t n)
{
    if ((addr >> 12) == (pc >> 12) && ((addr + n - 1) >> 12) == (pc >> 12)) {
        memcpy(buf, (const void *)addr, n);
        return 0;
    }
    struct iovec local = {buf, n}, remote = {(void *)addr, n};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n ? 0 : -1;
}

/* Is the whole sequence at start? pc, inside it, is known to be mapped. */
static int sequence_at(uintptr_t pc, uintptr_t start)
{
    unsigned char code[WB_LEN];
    return read_code(pc, start, code, WB_LEN) == 0 && memcmp(code, wb_cmp, sizeof wb_cmp) == 0 &&
           memcmp(code + WB_JNE, wb_jne, sizeof wb_jne) == 0 &&
           memcmp(code + WB_STORE, wb_store, sizeof wb_store) == 0 &&
           memcmp(code + WB_SIG, wb_sig, sizeof wb_sig) == 0;
}

/* Called from the suspend handler: only async-signal-safe work. The
 * instruction at pc is looked at first, so that the whole sequence is read
 * (maybe by a system call) only where one may be. */
uintptr_t write_barrier_restart_pc(uintptr_t pc)
{
    unsigned char code[sizeof wb_store];
    if (read_code(pc, pc, code, sizeof wb_jne) == 0 && memcmp(code, wb_jne, sizeof wb_jne) == 0) {
        if (sequence_at(pc, pc - WB_JNE))
            return pc - WB_JNE;
    } else if (read_code(pc, pc, code, sizeof wb_store) == 0 &&
               memcmp(code, wb_store, sizeof wb_store) == 0) {
        if (sequence_at(pc, pc - WB_STORE))
            return pc - WB_STORE;
    }
    return 0;
}
