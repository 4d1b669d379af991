/*
 * Specials: records attached to heap objects. See special.h.
 */
#include "special.h"

#include "heap.h"
#include "metadata.h"
#include "platform.h"

RUNTIME_STATE struct rlock specials_lock;
RUNTIME_STATE volatile uint32_t specials_queued;

#define CLEANUP_BUCKETS 1024

static RUNTIME_STATE struct {
    struct fixalloc alloc;
    struct special *finalizers; /* SPECIAL_FINALIZER records */
    struct special *others;     /* SPECIAL_CLEANUP and SPECIAL_WEAK records */
    struct special *queue_head, *queue_tail;
    struct special *cleanups[CLEANUP_BUCKETS];
} specials;

void specials_init(void)
{
    rlock_init(&specials_lock, "specials_lock", RANK_SPECIAL);
    fixalloc_init(&specials.alloc, sizeof(struct special), &metadata_stats.other_sys, NULL);
}

static struct special **kind_list(enum special_kind kind)
{
    return kind == SPECIAL_FINALIZER ? &specials.finalizers : &specials.others;
}

static struct special **cleanup_bucket(uint64_t id)
{
    return &specials.cleanups[(id ^ (id >> 10)) % CLEANUP_BUCKETS];
}

struct special *special_add(struct mspan *s, uintptr_t obj, uintptr_t addr, enum special_kind kind)
{
    struct special *sp = fixalloc_alloc(&specials.alloc);
    sp->span = s;
    sp->obj = obj;
    sp->addr = addr;
    sp->kind = (uint8_t)kind;
    sp->next = s->object_specials;
    /* The sweeper peeks at the head without the lock. */
    atomic_store((volatile AO_t *)&s->object_specials, (AO_t)sp);
    struct special **list = kind_list(kind);
    sp->all_next = *list;
    if (*list)
        (*list)->all_prev = sp;
    *list = sp;
    return sp;
}

struct special *special_find(struct mspan *s, uintptr_t obj, enum special_kind kind)
{
    for (struct special *sp = s->object_specials; sp; sp = sp->next)
        if (sp->obj == obj && sp->kind == kind)
            return sp;
    return NULL;
}

void special_unlink(struct special *sp)
{
    struct special **pp = &sp->span->object_specials;
    while (*pp != sp)
        pp = &(*pp)->next;
    atomic_store((volatile AO_t *)pp, (AO_t)sp->next);
    sp->next = NULL;
    if (sp->all_prev)
        sp->all_prev->all_next = sp->all_next;
    else
        *kind_list(sp->kind) = sp->all_next;
    if (sp->all_next)
        sp->all_next->all_prev = sp->all_prev;
    sp->all_next = sp->all_prev = NULL;
    if (sp->kind == SPECIAL_CLEANUP) {
        struct special **bp = cleanup_bucket(sp->u.cleanup.id);
        while (*bp && *bp != sp)
            bp = &(*bp)->id_next;
        if (*bp)
            *bp = sp->id_next;
        sp->id_next = NULL;
    }
}

void special_free(struct special *sp)
{
    fixalloc_free(&specials.alloc, sp);
}

struct special *specials_finalizers(void)
{
    return specials.finalizers;
}

void special_index_cleanup(struct special *sp)
{
    struct special **bp = cleanup_bucket(sp->u.cleanup.id);
    sp->id_next = *bp;
    *bp = sp;
}

struct special *special_find_cleanup(uint64_t id)
{
    for (struct special *sp = *cleanup_bucket(id); sp; sp = sp->id_next)
        if (sp->u.cleanup.id == id)
            return sp;
    return NULL;
}

void specials_queue_push(struct special *sp)
{
    sp->next = NULL;
    if (specials.queue_tail)
        specials.queue_tail->next = sp;
    else
        specials.queue_head = sp;
    specials.queue_tail = sp;
}

struct special *specials_queue_pop(void)
{
    struct special *sp = specials.queue_head;
    if (sp) {
        specials.queue_head = sp->next;
        if (specials.queue_head == NULL)
            specials.queue_tail = NULL;
        sp->next = NULL;
    }
    return sp;
}

void specials_queue_wake(void)
{
    atomic_xadd32(&specials_queued, 1);
    futex_wake(&specials_queued, 1);
}

/* What a record keeps alive (see special.h); queued: its object too. */
static void grey_referents(const struct special *sp, int queued, struct gcw *w)
{
    switch (sp->kind) {
    case SPECIAL_FINALIZER:
        grey_pointer((uintptr_t)sp->u.fin.data, w);
        if (queued)
            grey_pointer(sp->obj, w);
        break;
    case SPECIAL_CLEANUP:
        grey_pointer((uintptr_t)sp->u.cleanup.arg, w);
        break;
    case SPECIAL_WEAK:
        grey_pointer((uintptr_t)sp->u.weak.handle, w);
        break;
    }
}

void specials_mark_roots(struct gcw *w)
{
    rlock_acquire(&specials_lock);
    for (struct special *sp = specials.finalizers; sp; sp = sp->all_next)
        grey_referents(sp, 0, w);
    for (struct special *sp = specials.others; sp; sp = sp->all_next)
        grey_referents(sp, 0, w);
    for (struct special *sp = specials.queue_head; sp; sp = sp->next)
        grey_referents(sp, 1, w);
    rlock_release(&specials_lock);
}

void specials_sweep_span(struct mspan *s)
{
    int queued = 0;
    rlock_acquire(&specials_lock);
    struct special *sp = s->object_specials, *next;
    for (; sp; sp = next) {
        next = sp->next;
        if (bit_is_set(s->gcmark_bits, span_object_index(s, sp->obj)))
            continue;
        special_unlink(sp);
        switch (sp->kind) {
        case SPECIAL_WEAK:
            /* Before the span's sweepgen says swept (weak.c). */
            atomic_store(&sp->u.weak.handle->target, 0);
            special_free(sp);
            break;
        case SPECIAL_CLEANUP:
            specials_queue_push(sp);
            queued = 1;
            break;
        default:
            /* A finalizer's unmarked object was queued at mark termination
             * and resurrected; none is left unmarked here. */
            special_free(sp);
            break;
        }
    }
    rlock_release(&specials_lock);
    if (queued)
        specials_queue_wake();
}

void specials_fork_lock(void)
{
    rlock_fork_acquire(&specials_lock);
}

void specials_fork_unlock(void)
{
    rlock_fork_release(&specials_lock);
}
