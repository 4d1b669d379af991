/*
 * ltctypes.c: the tricolor type of each kind of Lua object.
 *
 * ltricolor_alloc learns an object's kind from lua_Alloc's osize (the
 * basic type tag Lua passes when ptr is NULL) and allocates it typed, so
 * that tricolor reads only the words that hold pointers, as Lua's own
 * traversal functions do:
 *
 *   kind        type        what is scanned
 *   table       ptrmap      array, node, metatable
 *   upvalue     ptrmap      v (into a stack, or to its own value), and the
 *                           first word of u: the next open upvalue, or the
 *                           closed value
 *   prototype   ptrmap      k, code, p, upvalues, lineinfo, abslineinfo,
 *                           locvars, source (the vectors keep the blocks)
 *   function    trace       a Lua closure's proto and upvalues, a C
 *                           closure's upvalues (Lua and C closures share
 *                           the tag, so the trace reads tt)
 *   userdata    trace       metatable, user values, and the user memory
 *                           word by word (C code keeps GC blocks there:
 *                           lauxlib's buffer box)
 *   stack       trace,      its owner, and the value word of each live
 *               RESCAN      StackValue (below the owner's top)
 *
 * Never scanned: GCObject.next (the port links nothing but luaC_fix's
 * strings, which are noscan and marked by the weak callback) and gclist
 * (lgc.c's, not compiled); a table's lastfree (inside its node block).
 * Strings are noscan, threads and vectors (table parts, prototypes'
 * arrays, CallInfo) stay conservative: a vector's layout is not known
 * where it is allocated.
 *
 * A trace runs on mark workers while Lua runs. It can meet an object
 * between its allocation and the stores that set tt and the counts
 * (luaC_newobj sets tt; luaF_newCclosure sets nupvalues after): a zeroed
 * tt is scanned word by word, and a count is bounded by the object's size.
 * Allocated while a cycle marks, the object is black and never traced in
 * that cycle; allocated before, it is traced only once reached, and no
 * gc_* call (so no stop) lies between the allocation and those stores.
 */
#include "ltctypes.h"

#include <stdio.h>
#include <stdlib.h>

#include "lfunc.h"
#include "lgc.h"
#include "lobject.h"
#include "lstate.h"

struct ltc_types ltc_types;

/* The map bit of the word holding field f of struct s. */
#define LTC_WORD_BIT(s, f) ((uint64_t)1 << (offsetof(s, f) / sizeof(void *)))

static void visit_words(char *from, char *to, gc_visit_fn visit, void *ctx)
{
    for (char *w = from; w + sizeof(void *) <= to; w += sizeof(void *))
        visit((void **)w, ctx);
}

static void trace_function(void *obj, size_t size, gc_visit_fn visit, void *ctx)
{
    char *end = (char *)obj + size;
    GCObject *o = obj;
    if (o->tt == LUA_VLCL) {
        LClosure *cl = obj;
        visit((void **)&cl->p, ctx);
        for (int i = 0; i < cl->nupvalues && (char *)&cl->upvals[i + 1] <= end; i++)
            visit((void **)&cl->upvals[i], ctx);
    } else if (o->tt == LUA_VCCL) {
        CClosure *cl = obj;
        for (int i = 0; i < cl->nupvalues && (char *)&cl->upvalue[i + 1] <= end; i++)
            visit((void **)&cl->upvalue[i].value_, ctx);
    } else { /* tt not yet set */
        visit_words(obj, end, visit, ctx);
    }
}

static void trace_userdata(void *obj, size_t size, gc_visit_fn visit, void *ctx)
{
    char *end = (char *)obj + size;
    Udata *u = obj;
    visit((void **)&u->metatable, ctx);
    char *mem = (char *)obj + udatamemoffset(u->nuvalue);
    if (mem > end) /* a count read before it was set, or torn */
        mem = (char *)obj + offsetof(Udata0, bindata);
    for (int i = 0; i < u->nuvalue && (char *)&u->uv[i + 1] <= end; i++)
        visit((void **)&u->uv[i].uv.value_, ctx);
    visit_words(mem, end, visit, ctx);
}

/* A stack block: its first StackValue holds the owning lua_State (see
 * ltc_stack_new), the stack proper follows. Only the live part is visited,
 * as Lua's traversethread does: below the top, or below the running Lua
 * function's frame limit (ci->top) when that is higher (between two
 * instructions the VM's registers may lie above L->top). Above it lie
 * stale slots, which would keep what they last held. While Lua runs the
 * bounds read here may be stale: the stack is RESCAN, and in the pause,
 * with its thread stopped at an allocation or between instructions, they
 * are exact. A block that is not its owner's current stack (the old one
 * after a reallocation, or the new one before the switch) is visited no
 * further: the first is garbage, the second is rescanned in the pause. */
static void trace_stack(void *obj, size_t size, gc_visit_fn visit, void *ctx)
{
    StackValue *first = (StackValue *)obj + 1;
    StackValue *end = (StackValue *)obj + size / sizeof(StackValue);
    visit((void **)obj, ctx); /* the owner lives while its stack does */
    lua_State *L = *(lua_State *volatile *)obj;
    if (L == NULL || L->stack != first)
        return;
    StkId limit = L->top;
    CallInfo *ci = L->ci;
    if (ci != NULL && isLua(ci) && ci->top > limit)
        limit = ci->top;
    if (limit < first || limit > end)
        limit = end; /* torn while Lua runs: all of it */
    for (StackValue *v = first; v < limit; v++)
        visit((void **)&v->val.value_, ctx);
}

void *ltc_stack_new(lua_State *owner, size_t n)
{
    StackValue *block = gc_alloc_typed(ltc_types.stack, (n + 1) * sizeof(StackValue));
    if (block == NULL)
        return NULL;
    *(lua_State **)block = owner; /* zeroed otherwise: nils */
    return block + 1;
}

static uint32_t register_type(const gc_type *t)
{
    uint32_t id = gc_register_type(t);
    if (id == 0) {
        fprintf(stderr, "ltricolor: cannot register the tricolor type \"%s\"\n", t->name);
        abort();
    }
    return id;
}

static const uint64_t table_map[1] = {LTC_WORD_BIT(Table, array) | LTC_WORD_BIT(Table, node) |
                                      LTC_WORD_BIT(Table, metatable)};
static const uint64_t upval_map[1] = {LTC_WORD_BIT(UpVal, v) | LTC_WORD_BIT(UpVal, u)};
static const uint64_t proto_map[1] = {
    LTC_WORD_BIT(Proto, k) | LTC_WORD_BIT(Proto, code) | LTC_WORD_BIT(Proto, p) |
    LTC_WORD_BIT(Proto, upvalues) | LTC_WORD_BIT(Proto, lineinfo) |
    LTC_WORD_BIT(Proto, abslineinfo) | LTC_WORD_BIT(Proto, locvars) | LTC_WORD_BIT(Proto, source)};

_Static_assert(sizeof(StackValue) == 2 * sizeof(void *), "a StackValue is two words");
_Static_assert(sizeof(Table) % sizeof(void *) == 0 && sizeof(Table) <= 64 * sizeof(void *),
               "Table is whole words, one map");
_Static_assert(sizeof(UpVal) % sizeof(void *) == 0, "UpVal is whole words");
_Static_assert(sizeof(Proto) % sizeof(void *) == 0 && sizeof(Proto) <= 64 * sizeof(void *),
               "Proto is whole words, one map");

void ltc_register_types(void)
{
    ltc_types.stack = register_type(&(gc_type){
        .name = "lua stack",
        .trace = trace_stack,
        .flags = GC_TYPE_RESCAN, /* the VM writes it without barriers */
    });
    ltc_types.table = register_type(&(gc_type){
        .name = "lua table",
        .ptrmap = table_map,
        .ptrmap_words = sizeof(Table) / sizeof(void *),
    });
    ltc_types.upval = register_type(&(gc_type){
        .name = "lua upvalue",
        .ptrmap = upval_map,
        .ptrmap_words = sizeof(UpVal) / sizeof(void *),
    });
    ltc_types.proto = register_type(&(gc_type){
        .name = "lua prototype",
        .ptrmap = proto_map,
        .ptrmap_words = sizeof(Proto) / sizeof(void *),
    });
    ltc_types.function = register_type(&(gc_type){
        .name = "lua function",
        .trace = trace_function,
    });
    ltc_types.userdata = register_type(&(gc_type){
        .name = "lua userdata",
        .trace = trace_userdata,
    });
}

void *ltc_alloc_object(int tag, size_t size)
{
    switch (tag) {
    case LUA_TSTRING: /* short or long: no pointer to follow */
        return gc_alloc_noscan(size);
    case LUA_TTABLE:
        return gc_alloc_typed(ltc_types.table, size);
    case LUA_TUPVAL:
        return gc_alloc_typed(ltc_types.upval, size);
    case LUA_TPROTO:
        return gc_alloc_typed(ltc_types.proto, size);
    case LUA_TFUNCTION:
        return gc_alloc_typed(ltc_types.function, size);
    case LUA_TUSERDATA:
        return gc_alloc_typed(ltc_types.userdata, size);
    default: /* threads, and vectors (tag 0) */
        return gc_alloc(size);
    }
}
