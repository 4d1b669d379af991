/*
 * ltricolor.c: Lua 5.4's memory and collector interface (lgc.h) on tricolor,
 * phase 1.
 *
 * The port compiles every Lua file but lgc.c; this file implements lgc.h's
 * functions instead, so Lua's own collector does not exist in the binary.
 * What each piece does:
 *
 *   - Memory. Every Lua object and every vector Lua allocates (table parts,
 *     stacks, prototypes' arrays, the string table) comes from gc_alloc
 *     through ltricolor_alloc, a lua_Alloc, and is scanned conservatively;
 *     long strings, which hold no pointer, come from gc_alloc_noscan. Lua's
 *     frees are ignored: the block dies when nothing points to it, and Lua
 *     never touches a block after freeing it. Reallocation is gc_realloc.
 *     The one exception is the block holding the main lua_State and the
 *     global_State: malloc'd and registered with gc_add_roots, so the
 *     registry, the metatables, the string table and the main thread are
 *     roots without relying on the host keeping its lua_State pointer in
 *     scanned memory. It is freed, and unregistered, by lua_close.
 *
 *   - No object list. Lua links every object on g->allgc (through
 *     GCObject.next) so that its sweep can find them; that list would keep
 *     every object alive here, so luaC_newobj links nothing (lstate.c's
 *     lua_newthread is patched alike). What stays on lists are objects that
 *     must stay anyway: luaC_fix's (reserved words, metamethod names) on
 *     g->fixedgc, and objects given a __gc metamethod on g->finobj.
 *
 *   - Finalizers, phase 1: an object given a __gc metamethod is put on
 *     g->finobj, which keeps it (and what it reaches) alive until lua_close;
 *     lua_close calls the __gc of each, newest first, as Lua does at close.
 *     No __gc runs before lua_close. Phase 2 (README.md) finds finalizable
 *     objects that died with a weak callback instead.
 *
 *   - Weak tables and the string table are strong in phase 1: tricolor scans
 *     them as any memory, so weak entries are never cleared and interned
 *     strings never freed. Phase 2 clears them in weak callbacks.
 *
 *   - Barriers. Lua calls luaC_barrier after storing a value into an object
 *     and luaC_barrierback after storing into a table; lgc.h's macros now
 *     call them whenever a tricolor cycle is marking (ltricolor_marking),
 *     and they become gc_shade(value) and gc_rescan of the table and of its
 *     two parts (its hash part and its array are separate blocks here).
 *     In phase 1 tricolor runs with gcstoptheworld=1, so no mutator runs
 *     while marking and the barriers never fire: Lua's unbarriered stores
 *     (VM stacks, and the initialising stores into new objects, which Lua
 *     allocates white but tricolor allocates black) are then harmless.
 *     docs/lua.md, "Why the mark stops the world in phase 1", has the
 *     counter-example that rules out concurrent marking before phase 2.
 *
 *   - Collection. luaC_step never collects: it only pushes Lua's debt back
 *     so that it is called about once per LTC_STEP_BYTES allocated (phase
 *     2 runs queued finalizers there, an allocation-safe point); tricolor's
 *     pacer (GOGC) starts cycles on its own. luaC_fullgc, collectgarbage
 *     "collect", is gc_collect().
 */
#include "ltricolor.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "ldo.h"
#include "lgc.h"
#include "lobject.h"
#include "lstate.h"
#include "lstring.h"
#include "ltable.h"
#include "ltm.h"

/* Lua's debt is reset to minus this at every luaC_step. */
#define LTC_STEP_BYTES ((l_mem)1 << 20)

/* A state's allocator data: where its main block is, so that lua_close's
 * free of it can be told from the frees that are ignored. Owned by the
 * state; freed with its main block. */
struct ltc_state {
    void *main_block; /* the LG block (lua_State + global_State), malloc'd */
    size_t main_size;
    int creating; /* lua_newstate is running: its LUA_TTHREAD block is main */
};

/* ---- Initialisation ------------------------------------------------------ */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_tricolor(void)
{
    gc_options opts = {
        .env_prefix = "LUA_",
        /* Phase 1: the mark runs with the world stopped (see the top). */
        .godebug = "gcstoptheworld=1",
    };
    if (gc_init(&opts) != 0) {
        fprintf(stderr, "ltricolor_init: gc_init failed\n");
        abort();
    }
}

void ltricolor_init(void)
{
    pthread_once(&init_once, init_tricolor);
}

lua_State *ltricolor_newstate(void)
{
    ltricolor_init();
    struct ltc_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->creating = 1;
    lua_State *L = lua_newstate(ltricolor_alloc, s);
    if (L == NULL)
        free(s);
    return L;
}

/* ---- Memory -------------------------------------------------------------- */

/* The largest short string's block: a TString of tag LUA_TSTRING and a
 * larger size is a long string, whose only non-byte fields are its length
 * and a next link that stays NULL (no list holds strings), so it is noscan. */
#define SHORT_STRING_MAX_BLOCK (offsetof(TString, contents) + LUAI_MAXSHORTLEN + 1)

void *ltricolor_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct ltc_state *s = ud;
    if (nsize == 0) {
        if (ptr != NULL && ptr == s->main_block) { /* lua_close */
            gc_remove_roots(ptr, (char *)ptr + s->main_size);
            free(ptr);
            free(s);
        }
        return NULL; /* any other block: the collector frees it when unreachable */
    }
    if (ptr != NULL)
        return gc_realloc(ptr, nsize);
    /* A new block: osize is the object's tag (LUA_T*), or 0 for a vector. */
    if (s->creating && osize == LUA_TTHREAD) {
        s->creating = 0;
        void *block = calloc(1, nsize);
        if (block == NULL)
            return NULL; /* lua_newstate returns NULL */
        s->main_block = block;
        s->main_size = nsize;
        gc_add_roots(block, (char *)block + nsize);
        return block;
    }
    if (osize == LUA_TSTRING && nsize > SHORT_STRING_MAX_BLOCK)
        return gc_alloc_noscan(nsize);
    return gc_alloc(nsize);
}

size_t ltricolor_heapbytes(void)
{
    gc_memstats ms;
    gc_read_memstats(&ms);
    return (size_t)ms.heap_alloc;
}

/* ---- lgc.h ----------------------------------------------------------------- */

GCObject *luaC_newobj(lua_State *L, int tt, size_t sz)
{
    GCObject *o = cast(GCObject *, luaM_newobject(L, novariant(tt), sz));
    o->marked = luaC_white(G(L)); /* never changes: Lua's colours are unused */
    o->tt = cast_byte(tt);
    o->next = NULL; /* on no list (see the top) */
    return o;
}

/* Pushes o onto the list at *head through o->next. The old head was
 * reachable from the global state (a root) and is now reachable only from
 * o: shaded while marking, like any pointer store Lua does not barrier. */
static void push_list(GCObject **head, GCObject *o)
{
    o->next = *head;
    if (o->next != NULL && ltricolor_marking())
        gc_shade(o->next);
    *head = o;
}

void luaC_fix(lua_State *L, GCObject *o)
{
    push_list(&G(L)->fixedgc, o);
}

void luaC_barrier_(lua_State *L, GCObject *o, GCObject *v)
{
    (void)L;
    (void)o;
    gc_shade(v);
}

void luaC_barrierback_(lua_State *L, GCObject *o)
{
    (void)L;
    gc_rescan(o);
    if (o->tt == LUA_VTABLE) { /* a table's parts are blocks of their own */
        Table *t = gco2t(o);
        if (!isdummy(t))
            gc_rescan(t->node);
        if (t->array != NULL)
            gc_rescan(t->array);
    }
}

void luaC_checkfinalizer(lua_State *L, GCObject *o, Table *mt)
{
    global_State *g = G(L);
    if (tofinalize(o) || gfasttm(g, mt, TM_GC) == NULL || (g->gcstp & GCSTPCLS))
        return;
    l_setbit(o->marked, FINALIZEDBIT);
    push_list(&g->finobj, o);
}

void luaC_step(lua_State *L)
{
    luaE_setdebt(G(L), -LTC_STEP_BYTES);
}

void luaC_runtilstate(lua_State *L, int statesmask)
{
    (void)L;
    (void)statesmask;
}

void luaC_fullgc(lua_State *L, int isemergency)
{
    (void)L;
    /* An emergency collection follows a failed allocation, which tricolor
     * never reports (it aborts, or calls gc_options.out_of_memory). */
    if (!isemergency)
        gc_collect();
}

void luaC_changemode(lua_State *L, int newmode)
{
    /* Remembered so that collectgarbage("incremental"/"generational")
     * answers with the previous mode; tricolor has one mode. */
    G(L)->gckind = cast_byte(newmode);
}

/* ---- Finalizers at lua_close ------------------------------------------------ */

static void call_gc_metamethod(lua_State *L, void *ud)
{
    (void)ud;
    luaD_callnoyield(L, L->top - 2, 0);
}

/* Calls o's __gc, if it still has one, in protected mode with hooks off;
 * an error becomes a warning, as in Lua. */
static void finalize(lua_State *L, GCObject *o)
{
    global_State *g = G(L);
    TValue v;
    setgcovalue(L, &v, o);
    const TValue *tm = luaT_gettmbyobj(L, &v, TM_GC);
    if (notm(tm))
        return;
    lu_byte allowhook = L->allowhook;
    lu_byte gcstp = g->gcstp;
    g->gcstp |= GCSTPGC;
    L->allowhook = 0;
    setobj2s(L, L->top, tm);
    L->top++;
    setobj2s(L, L->top, &v);
    L->top++;
    L->ci->callstatus |= CIST_FIN;
    int status = luaD_pcall(L, call_gc_metamethod, NULL, savestack(L, L->top - 2), 0);
    L->ci->callstatus &= ~CIST_FIN;
    L->allowhook = allowhook;
    g->gcstp = gcstp;
    if (status != LUA_OK) {
        luaE_warnerror(L, "__gc");
        L->top--;
    }
}

/* lua_close: every object marked for finalization is finalized, newest
 * first (g->finobj is in reverse order of marking). Nothing is freed here:
 * once the main block is freed, the rest is unreachable. */
void luaC_freeallobjects(lua_State *L)
{
    global_State *g = G(L);
    g->gcstp = GCSTPCLS; /* no object is marked for finalization after this */
    while (g->finobj != NULL) {
        GCObject *o = g->finobj;
        g->finobj = o->next;
        o->next = NULL;
        resetbit(o->marked, FINALIZEDBIT);
        finalize(L, o);
    }
}
