/*
 * Central span lists. See central.h for the ownership invariant.
 */
#include "central.h"

#include "heap.h"
#include "platform.h"
#include "sweep.h"

RUNTIME_STATE struct mcentral mcentral_[NUM_SPAN_CLASSES];

/* How many unswept spans cache_span sweeps looking for a free slot before
 * it takes a fresh span from the heap (Go's spanBudget): this bounds the
 * time one allocation can spend sweeping, at a space cost of about 1%. */
#define SPAN_SWEEP_BUDGET 100

void mcentral_init(void)
{
    for (unsigned i = 0; i < NUM_SPAN_CLASSES; i++) {
        rlock_init(&mcentral_[i].lock, "a central list's lock", RANK_CENTRAL);
        mcentral_[i].spanclass = i;
    }
}

static inline unsigned swept_index(void)
{
    return (unsigned)(atomic_load(&mheap_.sweepgen) / 2 % 2);
}

static void list_push(struct span_list *l, struct mspan *s)
{
    s->prev = NULL;
    s->next = l->first;
    if (l->first)
        l->first->prev = s;
    l->first = s;
    l->count++;
}

static struct mspan *list_pop(struct span_list *l)
{
    struct mspan *s = l->first;
    if (s == NULL)
        return NULL;
    l->first = s->next;
    if (l->first)
        l->first->prev = NULL;
    s->next = s->prev = NULL;
    l->count--;
    return s;
}

void mcentral_push_swept(struct mcentral *c, struct mspan *s)
{
    unsigned sw = swept_index();
    rlock_acquire(&c->lock);
    if (s->alloc_count == s->nelems)
        list_push(&c->full[sw], s);
    else
        list_push(&c->partial[sw], s);
    rlock_release(&c->lock);
}

struct mspan *mcentral_pop_unswept(struct mcentral *c)
{
    unsigned un = 1 - swept_index();
    if (c->partial[un].first == NULL && c->full[un].first == NULL)
        return NULL; /* racy peek; the lock below decides */
    rlock_acquire(&c->lock);
    struct mspan *s = list_pop(&c->partial[un]);
    if (s == NULL)
        s = list_pop(&c->full[un]);
    rlock_release(&c->lock);
    return s;
}

size_t mcentral_unswept_count(struct mcentral *c)
{
    unsigned un = 1 - swept_index();
    return c->partial[un].count + c->full[un].count;
}

/* Prepares s, which has a free slot, for allocation from freeindex. */
static struct mspan *have_span(struct mspan *s)
{
    if (s->alloc_count >= s->nelems || s->freeindex >= s->nelems)
        fatal("span %p of class %u has no free objects", (void *)s->base, s->spanclass);
    span_refill_alloc_cache(s, s->freeindex / 64);
    s->alloc_cache >>= s->freeindex % 64;
    s->alloc_count_at_cache = s->alloc_count;
    return s;
}

struct mspan *mcentral_cache_span(struct mcentral *c, struct heap_alloc *ha)
{
    unsigned sw = swept_index();
    unsigned un = 1 - sw;
    struct mspan *s;
    int budget = SPAN_SWEEP_BUDGET;

    rlock_acquire(&c->lock);
    if ((s = list_pop(&c->partial[sw])) != NULL) {
        rlock_release(&c->lock);
        return have_span(s);
    }
    /* Sweep as we go: first spans known to have free slots... */
    while (budget-- > 0 && (s = list_pop(&c->partial[un])) != NULL) {
        rlock_release(&c->lock);
        if (sweep_span_owned(s, SWEEP_FOR_ALLOCATION))
            return have_span(s);
        rlock_acquire(&c->lock);
    }
    /* ...then full ones, which may have freed some. */
    while (budget-- > 0 && (s = list_pop(&c->full[un])) != NULL) {
        rlock_release(&c->lock);
        if (sweep_span_owned(s, SWEEP_FOR_ALLOCATION))
            return have_span(s);
        rlock_acquire(&c->lock);
    }
    rlock_release(&c->lock);

    s = mheap_alloc(class_to_npages[span_class_size(c->spanclass)], c->spanclass, ha);
    if (s == NULL)
        return NULL;
    return have_span(s);
}

void mcentral_uncache_span(struct mcentral *c, struct mspan *s)
{
    mcentral_push_swept(c, s);
}

void mcentral_lock_all(void)
{
    for (unsigned i = 0; i < NUM_SPAN_CLASSES; i++)
        rlock_fork_acquire(&mcentral_[i].lock);
}

void mcentral_unlock_all(void)
{
    for (unsigned i = NUM_SPAN_CLASSES; i-- > 0;)
        rlock_fork_release(&mcentral_[i].lock);
}
