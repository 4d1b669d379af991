/*
 * Finalizers and cleanups. See finalizer.h.
 */
#include "finalizer.h"

#include "heap.h"
#include "platform.h"
#include "special.h"
#include "threads.h"

#include <pthread.h>
#include <string.h>
#include <tricolor.h>

static void (*finalizer_notify)(void);

/* The runner thread: 0 not started, 1 started (finalizer_thread_ensure). */
static RUNTIME_STATE volatile AO_t runner_started;
/* The last cleanup id handed out, under specials_lock. */
static RUNTIME_STATE uint64_t cleanup_last_id;

void finalizer_init(void (*notify)(void))
{
    finalizer_notify = notify;
    specials_init();
}

/* ---- Mark termination ---------------------------------------------------- */

static int object_marked(const struct special *sp)
{
    return bit_is_set(sp->span->gcmark_bits, span_object_index(sp->span, sp->obj));
}

void finalizers_queue_ready(struct gcw *w)
{
    rlock_acquire(&specials_lock);
    /* Pass 1: what unreachable finalizable objects reach stays, not they. An
     * unmarked object queued as grey is scanned without being marked. */
    int any = 0;
    for (struct special *sp = specials_finalizers(); sp; sp = sp->all_next) {
        if (object_marked(sp))
            continue;
        any = 1;
        if (!span_class_noscan(sp->span->spanclass))
            gcw_put(w, sp->obj);
    }
    if (!any) {
        rlock_release(&specials_lock);
        return;
    }
    mark_drain(w);
    /* Pass 2: those still unmarked lose their weak handle, are queued and
     * resurrected. */
    int queued = 0;
    struct special *next;
    for (struct special *sp = specials_finalizers(); sp; sp = next) {
        next = sp->all_next;
        if (object_marked(sp))
            continue;
        struct special *weak = special_find(sp->span, sp->obj, SPECIAL_WEAK);
        if (weak) {
            atomic_store(&weak->u.weak.handle->target, 0);
            special_unlink(weak);
            special_free(weak);
        }
        special_unlink(sp);
        grey_pointer(sp->obj, w);
        grey_pointer((uintptr_t)sp->u.fin.data, w);
        specials_queue_push(sp);
        queued = 1;
    }
    rlock_release(&specials_lock);
    if (queued)
        specials_queue_wake();
}

/* ---- Running the queue --------------------------------------------------- */

/* Runs the first queued record; 0 if there was none. From a registered
 * thread, outside the runtime. Out of line, and rec wiped after the call:
 * a copy of the object left in the caller's frame would keep it alive
 * while the runner waits in its blocking region (its stack is scanned). */
static __attribute__((noinline)) int run_one(void)
{
    struct mthread *t = enter_runtime("running finalizers");
    rlock_acquire(&specials_lock);
    struct special *sp = specials_queue_pop();
    struct special rec;
    if (sp) {
        rec = *sp;
        special_free(sp);
    }
    rlock_release(&specials_lock);
    exit_runtime(t);
    if (sp == NULL)
        return 0;
    /* rec, on this stack, keeps the object and its data alive. */
    if (rec.kind == SPECIAL_FINALIZER)
        rec.u.fin.fn((void *)rec.obj, rec.u.fin.data);
    else
        rec.u.cleanup.fn(rec.u.cleanup.arg);
    memset(&rec, 0, sizeof rec);
    __asm__ volatile("" : : "m"(rec) : "memory");
    return 1;
}

static void *runner_main(void *arg)
{
    (void)arg;
    if (gc_thread_register() != 0)
        fatal("the finalizer thread cannot register");
    uint32_t notified = 0;
    for (;;) {
        /* Read before looking at the queue: a push after the look bumps it,
         * and the wait below returns at once. */
        uint32_t seen = atomic_load32(&specials_queued);
        if (finalizer_notify) {
            if (seen != notified) {
                notified = seen;
                finalizer_notify();
            }
        } else if (run_one()) {
            continue;
        }
        gc_enter_blocking();
        futex_wait(&specials_queued, seen);
        gc_leave_blocking();
    }
    return NULL;
}

static void runner_start(void)
{
    pthread_t th;
    if (pthread_create(&th, NULL, runner_main, NULL) != 0)
        fatal("cannot start the finalizer thread");
    pthread_detach(th);
}

/* Starts the runner thread the first time a finalizer or cleanup is set,
 * from the setting thread, outside the runtime. */
static void finalizer_thread_ensure(void)
{
    if (atomic_load(&runner_started))
        return;
    if (atomic_cas(&runner_started, 0, 1))
        runner_start();
}

void finalizer_fork_child(void)
{
    if (atomic_load(&runner_started))
        runner_start();
}

/* ---- Public entry points ------------------------------------------------- */

int gc_set_finalizer(void *obj, void (*fn)(void *obj, void *data), void *data)
{
    if (obj == NULL) {
        runtime_warn("gc_set_finalizer: obj is NULL");
        return -1;
    }
    if (fn)
        finalizer_thread_ensure();
    struct mthread *t = enter_runtime("gc_set_finalizer");
    struct mspan *s = NULL;
    unsigned idx = 0;
    uintptr_t base = find_object((uintptr_t)obj, &s, &idx);
    int ret = 0;
    if (base == (uintptr_t)obj) {
        rlock_acquire(&specials_lock);
        struct special *sp = special_find(s, base, SPECIAL_FINALIZER);
        if (fn == NULL) {
            if (sp) {
                special_unlink(sp);
                special_free(sp);
            }
        } else if (sp) {
            ret = -2;
        } else {
            sp = special_add(s, base, base, SPECIAL_FINALIZER);
            sp->u.fin.fn = fn;
            sp->u.fin.data = data;
        }
        rlock_release(&specials_lock);
    }
    exit_runtime(t);
    if (base == 0) {
        runtime_warn("gc_set_finalizer(%p): not a pointer to a heap object; ignored", obj);
        return -1;
    }
    if (base != (uintptr_t)obj) {
        runtime_warn("gc_set_finalizer(%p): an interior pointer (the object starts at %p); a "
                     "finalizer is set on an object's start; ignored",
                     obj, (void *)base);
        return -1;
    }
    if (ret == -2) {
        runtime_warn("gc_set_finalizer(%p): the object already has a finalizer (remove it first "
                     "with fn NULL); ignored",
                     obj);
        return -1;
    }
    /* The record keeps data alive; the root job may have run already. */
    if (fn)
        gc_shade(data);
    return 0;
}

gc_cleanup gc_add_cleanup(void *obj, void (*fn)(void *arg), void *arg)
{
    if (obj == NULL || fn == NULL) {
        runtime_warn("gc_add_cleanup: %s is NULL; refused", obj == NULL ? "obj" : "fn");
        return 0;
    }
    finalizer_thread_ensure();
    struct mthread *t = enter_runtime("gc_add_cleanup");
    struct mspan *s = NULL, *as = NULL;
    unsigned idx = 0, aidx = 0;
    uintptr_t base = find_object((uintptr_t)obj, &s, &idx);
    uintptr_t abase = arg ? find_object((uintptr_t)arg, &as, &aidx) : 0;
    uint64_t id = 0;
    if (base != 0 && abase != base) {
        rlock_acquire(&specials_lock);
        struct special *sp = special_add(s, base, (uintptr_t)obj, SPECIAL_CLEANUP);
        sp->u.cleanup.fn = fn;
        sp->u.cleanup.arg = arg;
        sp->u.cleanup.id = id = ++cleanup_last_id;
        special_index_cleanup(sp);
        rlock_release(&specials_lock);
    }
    exit_runtime(t);
    if (base == 0) {
        runtime_warn("gc_add_cleanup(%p): not a pointer into a heap object; refused", obj);
        return 0;
    }
    if (abase == base) {
        runtime_warn("gc_add_cleanup(%p): arg %p points into the object, which would then never "
                     "be collected; refused",
                     obj, arg);
        return 0;
    }
    gc_shade(arg);
    return id;
}

void gc_cleanup_stop(gc_cleanup c)
{
    if (c == 0)
        return;
    struct mthread *t = enter_runtime("gc_cleanup_stop");
    rlock_acquire(&specials_lock);
    struct special *sp = special_find_cleanup(c);
    if (sp) {
        special_unlink(sp);
        special_free(sp);
    }
    rlock_release(&specials_lock);
    exit_runtime(t);
}

size_t gc_run_finalizers(size_t max)
{
    if (finalizer_notify == NULL) {
        runtime_warn("gc_run_finalizers: gc_options.finalizer_notify is not set, so the "
                     "runtime's own thread runs finalizers; ignored");
        return 0;
    }
    size_t n = 0;
    while (n < max && run_one())
        n++;
    return n;
}
