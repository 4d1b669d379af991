/*
 * ltcverify.c: the port's own check of a cycle's mark, Lua object by Lua
 * object (LUA_TRICOLOR_VERIFY=1).
 *
 * tricolor's gccheckmark cannot check the port. Its second mark follows an
 * edge from a heap slot only if the slot still holds what a scan read there
 * or what gc_write_ptr stored, and Lua stores with plain stores and calls
 * gc_shade after (01-lgc-barriers): a value moved by a plain store into a
 * part allocated black is in no shadow, so a lost one goes unreported. This
 * check knows Lua's structures instead. At every mark termination, in the
 * weak callback's phase 1 (marking, resurrection included, is final; no
 * weak entry is cleared yet), it walks every object that Lua's strong
 * references reach from the roots and aborts, naming the object and what
 * pointed to it, if one of them, or a vector one of them uses (a table's
 * parts, a stack, a prototype's arrays), is not marked: that object would
 * be freed while reachable.
 *
 * What it follows is what Lua's own traversal would (lgc.c's traverse*),
 * less the weak tables: a registered weak table's entries are the weak
 * callback's to mark and clear, so only its metatable is followed. Roots:
 * the main thread, the registry, the basic types' metatables, the
 * metamethod names, the memory-error message, and the objects queued for
 * __gc (resurrected by the callback). A stack is followed below its top,
 * frame by frame (follow_thread says why a Lua function's registers are
 * only checked, not followed).
 *
 * Visited objects are flagged with Lua's BLACKBIT, which nothing in the
 * port uses (Lua's colours are never set: ltricolor.c), and the flags are
 * cleared before the callback returns; the world is stopped meanwhile. The
 * walk's stack and visited list are malloc'd: a registered thread stops
 * only at a gc_* call or a poll (cooperative stops), never inside malloc.
 * It costs a walk of the whole Lua heap per cycle: a test mode.
 */
#include "ltcverify.h"

#include <stdio.h>
#include <stdlib.h>

#include "lfunc.h"
#include "lgc.h"
#include "lobject.h"
#include "lstate.h"
#include "ltable.h"
#include "ltm.h"

#include "ltctypes.h"

#include <tricolor.h>

/* An object pointer as a GCObject, NULL kept (obj2gco reads through its
 * argument: undefined for NULL). Every object begins with the header. */
#define gco(p) ((GCObject *)(void *)(p))

struct walk {
    GCObject **todo; /* visited, not yet followed */
    size_t ntodo, captodo;
    GCObject **seen; /* every object flagged, to clear the flags */
    size_t nseen, capseen;
    size_t lost;
    unsigned cycle;
};

static void push(GCObject ***v, size_t *n, size_t *cap, GCObject *o)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 4096;
        GCObject **a = realloc(*v, c * sizeof *a);
        if (a == NULL) {
            fprintf(stderr, "ltricolor verify: out of memory\n");
            abort();
        }
        *v = a;
        *cap = c;
    }
    (*v)[(*n)++] = o;
}

static const char *kind(const GCObject *o)
{
    switch (o->tt) {
    case LUA_VSHRSTR:
        return "short string";
    case LUA_VLNGSTR:
        return "long string";
    case LUA_VTABLE:
        return "table";
    case LUA_VLCL:
        return "Lua closure";
    case LUA_VCCL:
        return "C closure";
    case LUA_VUSERDATA:
        return "userdata";
    case LUA_VTHREAD:
        return "thread";
    case LUA_VUPVAL:
        return "upvalue";
    case LUA_VPROTO:
        return "prototype";
    default:
        return "object";
    }
}

static void report(struct walk *w, const void *p, const char *what, const GCObject *from,
                   const char *field)
{
    if (w->lost++ < 10)
        fprintf(stderr,
                "ltricolor verify: cycle %u: %s %p, reached from %s %p (%s), is not marked\n",
                w->cycle, what, p, from ? kind(from) : "the roots", (const void *)from, field);
}

/* A vector (a block that is not a Lua object) o uses. */
static void block(struct walk *w, const void *p, const GCObject *from, const char *field)
{
    if (p != NULL && gc_base(p) != NULL && !gc_is_live(p))
        report(w, p, "block", from, field);
}

static void reach(struct walk *w, GCObject *o, const GCObject *from, const char *field)
{
    if (o == NULL || testbit(o->marked, BLACKBIT))
        return;
    if (gc_base(o) == NULL) {
        fprintf(stderr,
                "ltricolor verify: cycle %u: %p, reached from %s %p (%s), is not a heap "
                "object\n",
                w->cycle, (void *)o, from ? kind(from) : "the roots", (const void *)from, field);
        abort();
    }
    l_setbit(o->marked, BLACKBIT);
    push(&w->seen, &w->nseen, &w->capseen, o);
    if (!gc_is_live(o))
        report(w, o, kind(o), from, field);
    if (o->tt != LUA_VSHRSTR && o->tt != LUA_VLNGSTR)
        push(&w->todo, &w->ntodo, &w->captodo, o);
}

static void reach_value(struct walk *w, const TValue *v, const GCObject *from, const char *field)
{
    if (iscollectable(v))
        reach(w, gcvalue(v), from, field);
}

static void follow_table(struct walk *w, Table *t)
{
    GCObject *o = obj2gco(t);
    reach(w, gco(t->metatable), o, "metatable");
    if (!isdummy(t))
        block(w, t->node, o, "hash part");
    unsigned int asize = luaH_realasize(t);
    if (asize > 0)
        block(w, t->array, o, "array part");
    if (ltricolor_weaktable(t))
        return; /* the weak callback's */
    for (unsigned int i = 0; i < asize; i++)
        reach_value(w, &t->array[i], o, "array entry");
    if (isdummy(t))
        return;
    for (Node *n = gnode(t, 0), *end = gnode(t, sizenode(t)); n < end; n++) {
        if (isempty(gval(n)))
            continue;
        if (keyiscollectable(n))
            reach(w, gckey(n), o, "key");
        reach_value(w, gval(n), o, "value");
    }
}

static void follow_proto(struct walk *w, Proto *f)
{
    GCObject *o = obj2gco(f);
    reach(w, gco(f->source), o, "source");
    if (f->sizek > 0)
        block(w, f->k, o, "constants");
    if (f->sizecode > 0)
        block(w, f->code, o, "code");
    if (f->sizep > 0)
        block(w, f->p, o, "prototypes");
    if (f->sizeupvalues > 0)
        block(w, f->upvalues, o, "upvalue names");
    if (f->sizelocvars > 0)
        block(w, f->locvars, o, "local names");
    for (int i = 0; i < f->sizek; i++)
        reach_value(w, &f->k[i], o, "constant");
    for (int i = 0; i < f->sizeupvalues; i++)
        reach(w, gco(f->upvalues[i].name), o, "upvalue name");
    for (int i = 0; i < f->sizep; i++)
        reach(w, gco(f->p[i]), o, "prototype");
    for (int i = 0; i < f->sizelocvars; i++)
        reach(w, gco(f->locvars[i].varname), o, "local name");
}

/* Is o, the start of an allocated block, an object of the kind v's tag
 * says (so that following it reads that kind's fields)? The tag and the
 * header must agree and, for the typed kinds, so must the block's tricolor
 * type; a thread (untyped) must belong to g. */
static int right_kind(const TValue *v, GCObject *o, global_State *g)
{
    if (o->tt != ttypetag(v))
        return 0;
    uint32_t type = gc_type_of(o);
    switch (o->tt) {
    case LUA_VTABLE:
        return type == ltc_types.table;
    case LUA_VLCL:
    case LUA_VCCL:
        return type == ltc_types.function;
    case LUA_VUSERDATA:
        return type == ltc_types.userdata;
    case LUA_VTHREAD:
        return type == 0 && gco2th(o)->l_G == g;
    case LUA_VSHRSTR:
    case LUA_VLNGSTR:
        return 1; /* not followed */
    default:
        return 0; /* no other kind is a value */
    }
}

_Static_assert(LUA_EXTRASPACE % _Alignof(lua_State) == 0,
               "a thread begins LUA_EXTRASPACE bytes into its block");

/* A slot of a Lua function's register window, above its function: it may
 * never have been written since the frame began. Lua clears the stack
 * above the top at each cycle's atomic phase and so never has a stale
 * pointer there; the port does not, and the registers of a Lua frame up to
 * its ci->top (which Lua makes the top around most calls into the runtime)
 * may hold one, to an object freed cycles ago, or to a block allocated
 * since in its place (the VM writes a register before reading it; the
 * stack's trace skips what is not an object and marks what is). So a
 * register is checked when it holds the start of an allocated block (the
 * trace marked it), and followed only when that block is an object of the
 * kind its tag says. */
static void register_slot(struct walk *w, const TValue *v, const GCObject *th, global_State *g)
{
    if (!iscollectable(v))
        return;
    GCObject *o = gcvalue(v);
    /* Where the object would begin: a thread lies after Lua's extra space
     * in its block (lstate.c's LX). */
    char *start = (char *)o - (ttisthread(v) ? LUA_EXTRASPACE : 0);
    if (gc_base(o) != (void *)start)
        return; /* stale: freed, or inside a block allocated since */
    if (!gc_is_live(o))
        report(w, o, "object", th, "register");
    else if (right_kind(v, o, g))
        reach(w, o, th, "register");
}

static void follow_thread(struct walk *w, lua_State *L)
{
    GCObject *o = obj2gco(L);
    if (L->stack == NULL)
        return; /* being built */
    block(w, L->stack, o, "stack");
    /* Frame by frame: a frame's function and a C function's slots are
     * values; a Lua function's registers may be stale (register_slot). */
    for (CallInfo *ci = &L->base_ci; ci != NULL; ci = ci == L->ci ? NULL : ci->next) {
        StkId from = ci->func;
        StkId to = ci == L->ci || ci->next == NULL ? L->top : ci->next->func;
        if (from < L->stack)
            from = L->stack;
        if (to > L->top)
            to = L->top;
        int lua = ci != &L->base_ci && isLua(ci);
        for (StkId v = from; v < to; v++) {
            if (lua && v > ci->func)
                register_slot(w, s2v(v), o, L->l_G);
            else
                reach_value(w, s2v(v), o, "stack slot");
        }
    }
    for (UpVal *uv = L->openupval; uv != NULL; uv = uv->u.open.next)
        reach(w, gco(uv), o, "open upvalue");
}

static void follow(struct walk *w, GCObject *o)
{
    switch (o->tt) {
    case LUA_VTABLE:
        follow_table(w, gco2t(o));
        break;
    case LUA_VLCL: {
        LClosure *cl = gco2lcl(o);
        reach(w, gco(cl->p), o, "prototype");
        for (int i = 0; i < cl->nupvalues; i++)
            reach(w, gco(cl->upvals[i]), o, "upvalue");
        break;
    }
    case LUA_VCCL: {
        CClosure *cl = gco2ccl(o);
        for (int i = 0; i < cl->nupvalues; i++)
            reach_value(w, &cl->upvalue[i], o, "upvalue");
        break;
    }
    case LUA_VUSERDATA: {
        Udata *u = gco2u(o);
        reach(w, gco(u->metatable), o, "metatable");
        for (int i = 0; i < u->nuvalue; i++)
            reach_value(w, &u->uv[i].uv, o, "user value");
        break;
    }
    case LUA_VUPVAL: {
        UpVal *uv = gco2upv(o);
        if (!upisopen(uv)) /* an open one's value is in its thread's stack */
            reach_value(w, uv->v, o, "closed value");
        break;
    }
    case LUA_VPROTO:
        follow_proto(w, gco2p(o));
        break;
    case LUA_VTHREAD:
        follow_thread(w, gco2th(o));
        break;
    default:
        break;
    }
}

void ltc_verify(global_State *g, GCObject *const *queued, size_t nqueued, unsigned cycle)
{
    struct walk w = {.cycle = cycle};
    reach(&w, gco(g->mainthread), NULL, "main thread");
    reach_value(&w, &g->l_registry, NULL, "registry");
    for (int i = 0; i < LUA_NUMTAGS; i++)
        reach(&w, gco(g->mt[i]), NULL, "basic type's metatable");
    for (int i = 0; i < TM_N; i++)
        reach(&w, gco(g->tmname[i]), NULL, "metamethod name");
    reach(&w, gco(g->memerrmsg), NULL, "memory error message");
    for (size_t i = 0; i < nqueued; i++)
        reach(&w, queued[i], NULL, "queued for __gc");
    while (w.ntodo > 0)
        follow(&w, w.todo[--w.ntodo]);
    for (size_t i = 0; i < w.nseen; i++)
        resetbit(w.seen[i]->marked, BLACKBIT);
    free(w.todo);
    free(w.seen);
    if (w.lost > 0) {
        fprintf(stderr, "ltricolor verify: cycle %u: %zu reachable objects or blocks not marked\n",
                cycle, w.lost);
        abort();
    }
}
