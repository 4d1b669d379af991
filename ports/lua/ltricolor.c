/*
 * ltricolor.c: Lua 5.4's memory and collector interface (lgc.h) on tricolor:
 * concurrent marking, weak tables, __gc during collections and the string
 * table.
 *
 * The port compiles every Lua file but lgc.c; this file implements lgc.h's
 * functions instead, so Lua's own collector does not exist in the binary.
 * What each piece does:
 *
 *   - Memory. Every Lua object and every vector Lua allocates comes from
 *     tricolor through ltricolor_alloc, a lua_Alloc. Objects are typed by
 *     their kind (ltctypes.c: tables, closures, upvalues, prototypes,
 *     userdata, stacks), so that only their pointer words are read; threads
 *     and vectors (table parts, prototypes' arrays) are scanned
 *     conservatively. Strings (short and long) are noscan: their one
 *     pointer, a short string's hnext, is the string table's link, which
 *     must not keep the next string alive. Lua's frees are ignored: the block dies when
 *     nothing points to it, and Lua never touches a block after freeing it.
 *     Reallocation is gc_realloc (same kind). The one exception is the block
 *     holding the main lua_State and the global_State: registered with
 *     gc_add_roots, so the registry, the metatables and the main thread are
 *     roots without relying on the host keeping its lua_State pointer in
 *     scanned memory, and kept by the state's root callback. lua_close
 *     unregisters both; the block is then freed once nothing points into
 *     it (a mark worker may still be tracing the main thread's stack, which
 *     reads its owner: ltctypes.c).
 *
 *   - No object list. Lua links every object on g->allgc (through
 *     GCObject.next) so that its sweep can find them; that list would keep
 *     every object alive here, so luaC_newobj links nothing (lstate.c's
 *     lua_newthread is patched alike). Only luaC_fix's objects (reserved
 *     words, metamethod names: strings) stay on g->fixedgc; since strings
 *     are noscan, the weak callback marks that list's members each cycle.
 *
 *   - Weakness without tracing. What must be weak is kept out of scanned
 *     memory, and a weak callback (gc_add_weak_callback, one per state,
 *     called at mark termination with the world stopped) decides it:
 *       * the string table's bucket array is noscan (converted once after
 *         lua_newstate; gc_realloc keeps the kind), so the table holds no
 *         string; phase 1 unlinks every short string not marked;
 *       * a table whose metatable has __mode when setmetatable gives it one
 *         (luaC_checkfinalizer) is registered in the state's weak list (a
 *         malloc'd array, not scanned) and its node and array parts become
 *         noscan blocks (again after each resize: 05-ltable-resize);
 *         the callback marks their strong halves with gc_mark_live and
 *         clears the dead weak entries, reading the mode anew each cycle;
 *       * objects marked for finalization are kept in a malloc'd array
 *         (oldest first), not on g->finobj, so they are not reachable
 *         through it.
 *     The callback's phase 0 (before the kit's finalizers), in order: marks
 *     the fixed strings and the objects waiting for their __gc (a strong
 *     list), marks the strong halves of every live weak table and the
 *     values of live keys of ephemeron tables, in rounds until a round
 *     marks nothing (gc_mark_live marks transitively, so chains of keys
 *     take one round each); clears weak values that are not live (before
 *     resurrection, as Lua); moves every object of the finalization list
 *     that is not live to the to-be-finalized queue (all of them before any
 *     is marked: unordered, so a chain or a cycle of finalizable objects is
 *     finalized in one cycle; newest first, Lua's order), then resurrects
 *     them with gc_mark_live and runs the rounds again. Phase 1 (after
 *     resurrection): clears weak keys that are not live, weak values that
 *     are not live (those reached only through resurrected objects), gives
 *     dead keys of emptied entries the dead-key tag (so that a lookup never
 *     reads a freed key), forgets dead weak tables, and unlinks dead short
 *     strings. Strings are values here (Lua's manual, 2.5.4): they are
 *     marked in weak tables, never cleared from them.
 *
 *   - Where Lua's structures are read and cleared. The port runs tricolor
 *     with cooperative stops: a registered thread stops only inside a gc_*
 *     call (an allocation: where Lua's own emergency collection may clear
 *     weak tables and the string table too, so every structure is
 *     consistent there) or at the gc_safepoint poll that 06-lvm-safepoint
 *     adds to every instruction fetch (between instructions, where a hook
 *     may run a full collection). The port's own lists are changed by the
 *     owning thread only between gc_* calls, so the callback never sees
 *     them half-updated. One state per thread, as Lua requires.
 *
 *   - Running __gc. Never in the callback, never inside an allocation: the
 *     callback only queues and makes Lua's debt positive, so the owning
 *     thread's next luaC_checkGC calls luaC_step, which runs a few (as
 *     Lua's GCTM does during a step); luaC_fullgc (collectgarbage
 *     "collect") runs them all before returning, as Lua's does, and
 *     lua_close runs the queue and then every object still marked. Each
 *     runs once: an object left the finalization list when it was queued,
 *     and goes back only if setmetatable is called on it again after its
 *     __gc ran (FINALIZEDBIT is reset then, as Lua does). Errors become
 *     warnings.
 *
 *   - Concurrent marking. tricolor marks while Lua runs, and allocates
 *     black while it marks. A Dijkstra barrier (shade what is stored) keeps
 *     every reachable object if every store into a scanned object is
 *     followed by it, and what is stored without one lies where the pause
 *     scans again. Lua's stores, one kind at a time:
 *       * Stores Lua barriers: lgc.h's macros (01-lgc-barriers) call the
 *         barrier whenever a cycle is marking (ltricolor_marking, one
 *         relaxed load: Lua's colours are never set), and both
 *         luaC_barrier and luaC_barrierback shade the value stored
 *         (gc_shade). Lua's "grey the table again" becomes the forward
 *         barrier so that no table waits for the pause to be scanned.
 *       * Stacks: written by the VM with plain stores. Every stack is a
 *         GC_TYPE_RESCAN object (ltricolor_newstack, 08-stacks-rescan),
 *         scanned again with the world stopped at mark termination; its
 *         trace visits the value word of each live StackValue (ltctypes.c).
 *       * Initialising stores into a new object, which Lua allocates white
 *         and so does not barrier. Harmless when the value stays reachable
 *         from where it came from (a closure's prototype, a thread's
 *         CallInfo); two sites drop the source right after the store and
 *         gained the barrier: lua_pushcclosure's upvalues popped from the
 *         stack (09-lapi-cclosure-barrier), and luaF_closeupval's value
 *         moved from the stack into the upvalue, whose barrier tested Lua's
 *         colours (10-lfunc-upvalues).
 *       * Copies inside a table: luaH_resize reinserts every entry into
 *         the new parts with plain stores and drops the old ones, which a
 *         worker may not have scanned; ltricolor_tableresized shades the
 *         old parts, which hold every entry copied (in two calls: a stop
 *         for mark termination must not fall between the shades of one
 *         resize's entries). luaH_newkey moves a colliding
 *         node within the hash part, which a worker may be scanning (it
 *         could read the free slot before the copy and the old one after
 *         it): ltricolor_nodemoved shades it (11-ltable-nodemoved).
 *       * Relinking a list: luaE_shrinkCI and luaF_unlinkupval store, into
 *         the predecessor, the successor of the element they remove. The
 *         successor was reachable through the removed element: if the
 *         predecessor is black, the removed element is not white, so it is
 *         scanned (or was) and the successor is shaded. No barrier needed.
 *       * Vectors reallocated: gc_realloc copies through the bulk barrier.
 *       * A block allocated by a call during which a cycle began is white,
 *         and Lua stores it into its owner with a plain store (a vector is
 *         not an object to Lua): born() keeps it as a root until that cycle
 *         ends.
 *     Weak tables' parts are noscan and read by the weak callback in the
 *     pause, so what is stored into them needs no barrier, and their strong
 *     halves are marked there (gc_mark_live): the pause grows with what
 *     only weak tables' strong halves reach.

 *   - Collection. luaC_step never collects: it runs queued finalizers,
 *     shrinks the string table, and pushes Lua's debt back; tricolor's
 *     pacer (GOGC) starts cycles on its own. luaC_fullgc, collectgarbage
 *     "collect", clears the thread's stack above its top (as Lua's atomic
 *     phase does, so stale slots keep nothing), runs gc_collect(), shrinks
 *     the string table and runs every queued __gc.
 */
#include "ltricolor.h"
#include "ltctypes.h"
#include "ltcverify.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldo.h"
#include "lgc.h"
#include "lobject.h"
#include "lstate.h"
#include "lstring.h"
#include "ltable.h"
#include "ltm.h"

/* Lua's debt is reset to minus this at every luaC_step. */
#define LTC_STEP_BYTES ((l_mem)1 << 20)
/* __gc calls per luaC_step, as Lua's GCFINMAX. */
#define LTC_FIN_PER_STEP 10

/* A growable malloc'd array of objects: never scanned by tricolor. */
struct objvec {
    GCObject **v;
    size_t n, cap;
};

/* A state's allocator data and the port's per-state lists. Owned by the
 * state (g->ud); freed with its main block. The lists are changed by the
 * state's thread between gc_* calls and by the weak callback while that
 * thread is stopped (inside a gc_* call or at a gc_safepoint poll, with
 * cooperative stops), never both at once. */
struct ltc_state {
    void *main_block; /* the LG block (lua_State + global_State): see state_roots */
    size_t main_size;
    int creating;       /* lua_newstate is running: its LUA_TTHREAD block is main */
    global_State *g;    /* set once lua_newstate returned: the callback works */
    int weakcb;         /* gc_add_weak_callback's handle */
    struct objvec weak; /* tables registered as weak (LTRICOLOR_WEAKTABLE) */
    struct objvec fin;  /* marked for finalization, oldest first */
    /* Found dead, waiting for __gc: v[head..n), in the order to run them.
     * Capacity is kept >= n + fin.n, so the callback never allocates. */
    struct objvec tobefnz;
    size_t tbf_head;
    /* Blocks allocated by a call during which a cycle began (born), kept
     * as roots (state_roots) until the next mark termination. */
    void *born[8];
    size_t nborn;
    /* The last blocks allocated (remember), marked by state_roots. */
    void *recent[8];
    unsigned nrecent;
    unsigned pauses;    /* stops of the world seen by state_roots */
    int verify;         /* LUA_TRICOLOR_VERIFY: ltc_verify at each cycle */
    int verify_pending; /* phase 0 ran, phase 1 has not checked yet */
    unsigned verified;  /* cycles checked */
    int rootcb;         /* gc_add_root_callback's handle */
};

static struct ltc_state *state_of(lua_State *L)
{
    return G(L)->ud;
}

static int objvec_reserve(struct objvec *a, size_t need)
{
    if (need <= a->cap)
        return 0;
    size_t cap = a->cap ? a->cap : 16;
    while (cap < need)
        cap *= 2;
    /* A new array published whole: no gc_* call in between (see above). */
    GCObject **v = malloc(cap * sizeof *v);
    if (v == NULL)
        return -1;
    if (a->n)
        memcpy(v, a->v, a->n * sizeof *v);
    free(a->v);
    a->v = v;
    a->cap = cap;
    return 0;
}

static void objvec_push(lua_State *L, struct objvec *a, GCObject *o)
{
    if (objvec_reserve(a, a->n + 1) != 0)
        luaD_throw(L, LUA_ERRMEM);
    a->v[a->n++] = o;
}

/* ---- Initialisation ------------------------------------------------------ */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_tricolor(void)
{
    gc_options opts = {
        .env_prefix = "LUA_",
        /* Threads stop only at gc_* calls and gc_safepoint polls. */
        .cooperative = 1,
    };
    if (gc_init(&opts) != 0) {
        fprintf(stderr, "ltricolor_init: gc_init failed\n");
        abort();
    }
    ltc_register_types();
}

void ltricolor_init(void)
{
    pthread_once(&init_once, init_tricolor);
}

static void weak_callback(int phase, void *data);
static void *born(struct ltc_state *s, unsigned pauses_before, void *p);
static void state_roots(gc_visit_fn visit, void *ctx, void *data);

lua_State *ltricolor_newstate(void)
{
    ltricolor_init();
    struct ltc_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->creating = 1;
    s->weakcb = -1;
    const char *verify = getenv("LUA_TRICOLOR_VERIFY");
    s->verify = verify != NULL && atoi(verify) > 0;
    s->rootcb = gc_add_root_callback(state_roots, s);
    if (s->rootcb < 0) {
        free(s);
        return NULL;
    }
    lua_State *L = lua_newstate(ltricolor_alloc, s);
    if (L == NULL) {
        gc_remove_root_callback(s->rootcb);
        free(s);
        return NULL;
    }
    s->weakcb = gc_add_weak_callback(weak_callback, s);
    if (s->weakcb < 0) {
        lua_close(L);
        return NULL;
    }
    /* From here the callback marks the fixed strings and sweeps the string
     * table; until the bucket array below is noscan it finds every string
     * marked through it, so nothing is unlinked early. */
    s->g = G(L);
    stringtable *tb = &s->g->strt;
    size_t bytes = (size_t)tb->size * sizeof(TString *);
    unsigned m = s->pauses;
    TString **hash = born(s, m, gc_alloc_noscan(bytes));
    memcpy(hash, tb->hash, bytes);
    tb->hash = hash;
    return L;
}

/* ---- Memory -------------------------------------------------------------- */

/* Returns p, a block just allocated by a call that began when the state
 * had seen pauses_before pauses (state_roots counts them). A cycle can
 * begin inside the call (its first pause is at an allocation), the one
 * marking at the call's start having perhaps ended there too: the block
 * may then be white, allocated before the new cycle's marking, and Lua
 * stores it into its owner with a plain store (f->code, t->node, a
 * CallInfo's next: for Lua these are not objects, so they carry no
 * barrier), into an owner a worker may already have scanned. Such a block
 * is kept as a root until the next mark termination (state_roots marks it
 * there, the weak callback's phase 1 forgets it). Not gc_shade: a
 * stop there, after a reallocation copied the string table or a weak
 * table's part but before Lua switched to the copy, would let the weak
 * callback clear the old one and leave the copy holding dead strings and
 * values. Allocated while marking, a block is black and needs nothing;
 * allocated after a cycle that began and ended inside the call, it is held
 * by this thread's stack until stored. The array rarely holds more than
 * one block: one per cycle begun inside an allocation. */
static void *born(struct ltc_state *s, unsigned pauses_before, void *p)
{
    if (s->pauses != pauses_before && p != NULL && ltricolor_marking()) {
        if (s->nborn < sizeof s->born / sizeof s->born[0])
            s->born[s->nborn++] = p;
        else
            gc_shade(p); /* never seen: a cycle per allocation, eight times */
    }
    return p;
}

/* Returns p, a block just allocated, after noting it among the state's
 * last allocations. born() covers a cycle that begins inside the
 * allocating call; this covers one that begins after the call returned and
 * before Lua stored the block into its owner. luaH_resize is the case
 * found: it allocates the new hash part, then the array part (a cycle
 * begins there), and only then stores the hash part into the table, with
 * a plain store, into a table a worker may have scanned already; the
 * thread's stack held the block meanwhile but may be scanned only after
 * the store, and the hash part would be freed while in use. Lua stores
 * every block into its owner within a few allocations, so the last eight,
 * marked at every pause, cover it; at worst they live one cycle longer.
 * luaC_fullgc forgets them, so that collectgarbage() sees exact deaths.
 * (Found by reading, while chasing concurrent.lua's wrong sums, which
 * had another cause: ltricolor_tableresized.) */
static void *remember(struct ltc_state *s, void *p)
{
    s->recent[s->nrecent++ % (sizeof s->recent / sizeof s->recent[0])] = p;
    return p;
}

/* The state's root callback: the main block, which is also a root range
 * (its contents are roots) but must itself stay allocated while the state
 * is open, the blocks born() keeps, and the last blocks allocated
 * (remember). */
static void state_roots(gc_visit_fn visit, void *ctx, void *data)
{
    struct ltc_state *s = data;
    s->pauses++; /* this thread is stopped (at a gc_* call or a poll) */
    visit(&s->main_block, ctx);
    for (size_t i = 0; i < s->nborn; i++)
        visit(&s->born[i], ctx);
    for (size_t i = 0; i < sizeof s->recent / sizeof s->recent[0]; i++)
        visit(&s->recent[i], ctx);
}

void *ltricolor_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct ltc_state *s = ud;
    if (nsize == 0) {
        if (ptr != NULL && ptr == s->main_block) { /* lua_close */
            if (s->weakcb >= 0)
                gc_remove_weak_callback(s->weakcb);
            gc_remove_root_callback(s->rootcb);
            /* The block is a heap object: it is freed once nothing points
             * into it (its thread's stack names its owner, see ltctypes.c). */
            gc_remove_roots(ptr, (char *)ptr + s->main_size);
            free(s->weak.v);
            free(s->fin.v);
            free(s->tobefnz.v);
            free(s);
        }
        return NULL; /* any other block: the collector frees it when unreachable */
    }
    if (ptr != NULL) {
        /* The string table shrinking (luaS_resize): a smaller noscan block,
         * so that the memory comes back (gc_realloc keeps a block that is
         * big enough). The buckets past nsize are empty by now. */
        unsigned m = s->pauses;
        if (s->g != NULL && ptr == s->g->strt.hash && nsize < osize / 2) {
            void *q = born(s, m, gc_alloc_noscan(nsize));
            memcpy(q, ptr, nsize);
            return remember(s, q);
        }
        return remember(s, born(s, m, gc_realloc(ptr, nsize)));
    }
    /* A new block: osize is the object's tag (LUA_T*), or 0 for a vector. */
    if (s->creating && osize == LUA_TTHREAD) {
        s->creating = 0;
        void *block = gc_alloc(nsize);
        if (block == NULL)
            return NULL; /* lua_newstate returns NULL */
        memset(block, 0, nsize);
        s->main_block = block;
        s->main_size = nsize;
        gc_add_roots(block, (char *)block + nsize);
        return block;
    }
    unsigned m = s->pauses;
    return remember(s, born(s, m, ltc_alloc_object((int)osize, nsize)));
}

void *ltricolor_newstack(lua_State *L, int n)
{
    unsigned m = state_of(L)->pauses;
    void *stack = remember(state_of(L), born(state_of(L), m, ltc_stack_new(L, (size_t)n)));
    if (stack != NULL)
        G(L)->GCdebt += (l_mem)((size_t)n * sizeof(StackValue)); /* as luaM_malloc_ counts */
    return stack;
}

size_t ltricolor_heapbytes(void)
{
    gc_memstats ms;
    gc_read_memstats(&ms);
    return (size_t)ms.heap_alloc;
}

/* ---- Weak tables: noscan parts ----------------------------------------------- */

/* Copies t's parts into noscan blocks. Each gc_alloc_noscan may run a
 * cycle; t is registered before, so the callback handles it whichever
 * parts (scanned or not) it finds. */
static void make_parts_noscan(struct ltc_state *s, Table *t)
{
    if (!isdummy(t)) {
        size_t bytes = (size_t)sizenode(t) * sizeof(Node);
        unsigned m = s->pauses;
        Node *node = remember(s, born(s, m, gc_alloc_noscan(bytes)));
        memcpy(node, t->node, bytes);
        t->lastfree = node + (t->lastfree - t->node);
        t->node = node;
    }
    unsigned int asize = luaH_realasize(t);
    if (asize > 0) {
        size_t bytes = (size_t)asize * sizeof(TValue);
        unsigned m = s->pauses;
        TValue *array = remember(s, born(s, m, gc_alloc_noscan(bytes)));
        memcpy(array, t->array, bytes);
        t->array = array;
    }
}

static void shade_value(const TValue *v)
{
    if (iscollectable(v))
        gc_shade(gcvalue(v));
}

static void shade_node(const Node *n)
{
    if (keyiscollectable(n))
        gc_shade(gckey(n));
    shade_value(gval(n));
}

/* luaH_resize's last act. A weak table's parts are noscan: the weak
 * callback reads them at mark termination, so nothing stored into them
 * needs a barrier. Any other table's new parts were filled by plain stores
 * (reinsert) from the old parts, which Lua has just dropped, and the new
 * hash part may be black (allocated while marking) or scanned before the
 * copy was done: what the copy stored must be marked in this cycle some
 * other way. The old parts hold all of it, and Lua never writes them again,
 * so while a cycle marks they are shaded: a worker scans them as the
 * resize left them, or already has (then every store into them since had
 * the barrier, or was a resize's copy into a new part, covered the same
 * way by that resize's shade of its own old parts).
 *
 * Two calls, whatever the table's size, and that is the point: every gc_*
 * call is a stop point (cooperative stops), and the earlier shade of each
 * entry copied, one gc_shade at a time, could have its thread stopped for
 * mark termination halfway; the cycle then ended with the rest of the
 * entries unmarked, held only by a black part, and freed (concurrent.lua's
 * wrong sums and crashes, about one run in a hundred). A stop at either
 * call here is harmless: the shade is recorded before the call can stop,
 * and until both are made luaH_resize's locals hold the old parts, on a C
 * stack that mark termination scans. Were a cycle to end inside the resize
 * (at a key's barrier in reinsert), those locals held both old parts at
 * its termination too. */
void ltricolor_tableresized(lua_State *L, Table *t, Node *oldnode, TValue *oldarray)
{
    if (t->marked & LTRICOLOR_WEAKTABLE) {
        make_parts_noscan(state_of(L), t);
        return;
    }
    if (!ltricolor_marking())
        return;
    if (oldnode != NULL)
        gc_shade(oldnode);
    if (oldarray != NULL)
        gc_shade(oldarray); /* maybe t->array still (a shrink in place): harmless */
}

void ltricolor_nodemoved(Table *t, Node *n)
{
    if (!(t->marked & LTRICOLOR_WEAKTABLE))
        shade_node(n);
}

/* ---- The weak callback (world stopped; no allocation, no lock) ------------ */

static int mark_gc(GCObject *o)
{
    return gc_mark_live(o);
}

static int mark_value(const TValue *v)
{
    return iscollectable(v) ? mark_gc(gcvalue(v)) : 0;
}

/* Is the object dead for weakness? Strings are values (never cleared). */
static int cleared_value(const TValue *v)
{
    return iscollectable(v) && !ttisstring(v) && !gc_is_live(gcvalue(v));
}

static int key_is_string(const Node *n)
{
    return novariant(keytt(n)) == LUA_TSTRING;
}

static int cleared_key(const Node *n)
{
    return keyiscollectable(n) && !key_is_string(n) && !gc_is_live(gckey(n));
}

static void table_mode(global_State *g, Table *t, int *wk, int *wv)
{
    const TValue *mode = t->metatable ? gfasttm(g, t->metatable, TM_MODE) : NULL;
    *wk = *wv = 0;
    if (mode != NULL && ttisstring(mode)) {
        *wk = strchr(getstr(tsvalue(mode)), 'k') != NULL;
        *wv = strchr(getstr(tsvalue(mode)), 'v') != NULL;
    }
}

/* Marks what a live weak table holds strongly: keys unless weak, values
 * unless weak, strings always, and (ephemeron) the values of live keys.
 * Returns how many objects were marked anew. */
static size_t mark_strong_parts(global_State *g, Table *t)
{
    int wk, wv;
    table_mode(g, t, &wk, &wv);
    size_t newly = 0;
    unsigned int asize = luaH_realasize(t);
    for (unsigned int i = 0; i < asize; i++) /* integer keys: never weak */
        if (!wv || ttisstring(&t->array[i]))
            newly += mark_value(&t->array[i]);
    if (isdummy(t))
        return newly;
    for (Node *n = gnode(t, 0), *end = gnode(t, sizenode(t)); n < end; n++) {
        if (isempty(gval(n)))
            continue;
        if (keyiscollectable(n) && (!wk || key_is_string(n)))
            newly += mark_gc(gckey(n));
        const TValue *v = gval(n);
        if (!iscollectable(v))
            continue;
        int strong_value = wv ? ttisstring(v) : (!wk || !cleared_key(n));
        if (strong_value)
            newly += mark_value(v);
    }
    return newly;
}

/* Rounds until nothing new is marked. */
static void converge(struct ltc_state *s)
{
    size_t newly;
    do {
        newly = 0;
        for (size_t i = 0; i < s->weak.n; i++) {
            Table *t = gco2t(s->weak.v[i]);
            if (gc_is_live(t))
                newly += mark_strong_parts(s->g, t);
        }
    } while (newly != 0);
}

static void clear_entry(Node *n)
{
    setempty(gval(n));
    if (keyiscollectable(n))
        setdeadkey(n);
}

/* Clears entries whose value (wv) or key (wk) is dead; with keys_too, also
 * gives every emptied entry with a dead key the dead-key tag. */
static void clear_table(global_State *g, Table *t, int values, int keys)
{
    int wk, wv;
    table_mode(g, t, &wk, &wv);
    if (values && wv) {
        unsigned int asize = luaH_realasize(t);
        for (unsigned int i = 0; i < asize; i++)
            if (cleared_value(&t->array[i]))
                setempty(&t->array[i]);
    }
    if (isdummy(t))
        return;
    for (Node *n = gnode(t, 0), *end = gnode(t, sizenode(t)); n < end; n++) {
        if (isempty(gval(n))) {
            if (keys && cleared_key(n))
                setdeadkey(n);
        } else if ((values && wv && cleared_value(gval(n))) || (keys && wk && cleared_key(n))) {
            clear_entry(n);
        }
    }
}

static void clear_weak_tables(struct ltc_state *s, int values, int keys)
{
    for (size_t i = 0; i < s->weak.n; i++) {
        Table *t = gco2t(s->weak.v[i]);
        if (gc_is_live(t))
            clear_table(s->g, t, values, keys);
    }
}

/* Moves the finalizable objects that are not live to the queue, newest
 * first, then resurrects them. Returns how many. */
static size_t separate(struct ltc_state *s)
{
    size_t first = s->tobefnz.n;
    for (size_t i = s->fin.n; i-- > 0;)
        if (!gc_is_live(s->fin.v[i]))
            s->tobefnz.v[s->tobefnz.n++] = s->fin.v[i]; /* capacity reserved */
    size_t moved = s->tobefnz.n - first;
    if (moved == 0)
        return 0;
    size_t kept = 0;
    for (size_t i = 0; i < s->fin.n; i++)
        if (gc_is_live(s->fin.v[i]))
            s->fin.v[kept++] = s->fin.v[i];
    s->fin.n = kept;
    for (size_t i = first; i < s->tobefnz.n; i++)
        mark_gc(s->tobefnz.v[i]);
    return moved;
}

static void sweep_string_table(global_State *g)
{
    stringtable *tb = &g->strt;
    for (int i = 0; i < tb->size; i++) {
        TString **p = &tb->hash[i];
        while (*p != NULL) {
            TString *ts = *p;
            if (gc_is_live(ts)) {
                p = &ts->u.hnext;
            } else {
                *p = ts->u.hnext;
                tb->nuse--;
            }
        }
    }
}

static void forget_dead(struct objvec *a)
{
    size_t kept = 0;
    for (size_t i = 0; i < a->n; i++)
        if (gc_is_live(a->v[i]))
            a->v[kept++] = a->v[i];
    a->n = kept;
}

static void weak_callback(int phase, void *data)
{
    struct ltc_state *s = data;
    global_State *g = s->g;
    if (phase == 1)
        s->nborn = 0; /* marked by state_roots in this termination */
    if (g == NULL)
        return;
    if (phase == 0) {
        s->verify_pending = s->verify;
        for (GCObject *o = g->fixedgc; o != NULL; o = o->next)
            mark_gc(o);
        for (size_t i = s->tbf_head; i < s->tobefnz.n; i++)
            mark_gc(s->tobefnz.v[i]);
        converge(s);
        clear_weak_tables(s, 1, 0); /* weak values: before resurrection */
        if (!(g->gcstp & GCSTPCLS) && separate(s) != 0) {
            converge(s); /* resurrected keys keep their values */
            if (g->GCdebt <= 0)
                g->GCdebt = 1; /* the owner's next luaC_checkGC runs them */
        }
    } else {
        if (s->verify_pending) { /* the first phase-1 call of the cycle */
            s->verify_pending = 0;
            ltc_verify(g, s->tobefnz.v + s->tbf_head, s->tobefnz.n - s->tbf_head, ++s->verified);
        }
        clear_weak_tables(s, 1, 1);
        forget_dead(&s->weak);
        sweep_string_table(g);
    }
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

void luaC_fix(lua_State *L, GCObject *o)
{
    /* The old head is reachable from the global state; o too, from now.
     * Strings are noscan: the callback marks the list's members. */
    global_State *g = G(L);
    o->next = g->fixedgc;
    if (o->next != NULL && ltricolor_marking())
        gc_shade(o->next);
    g->fixedgc = o;
}

/* Both of lgc.h's barriers (01-lgc-barriers); luaC_barrierback_, which it
 * declares, is not defined: nothing calls it. */
void luaC_barrier_(lua_State *L, GCObject *o, GCObject *v)
{
    (void)L;
    (void)o;
    gc_shade(v);
}

#define LTC_CLEAR_BYTES 4096
/* Zeroes LTC_CLEAR_BYTES of the C stack below the caller's frame. The
 * calls made there (malloc, the runtime) leave stale words, among them the
 * object being handled, which later frames placed over them (a
 * collectgarbage call's) do not all overwrite: scanned conservatively they
 * would keep a dead object for another cycle. Called after an object is
 * registered for finalization and before luaC_fullgc collects. */
static void __attribute__((noinline)) clear_c_stack(void)
{
    volatile char pad[LTC_CLEAR_BYTES];
    memset((char *)pad, 0, sizeof pad);
    __asm__ volatile("" : : "r"(pad) : "memory");
}

/* Called by lua_setmetatable for every object given a metatable: where the
 * port learns that a table is weak (its metatable has __mode now) and that
 * an object has a __gc. */
void luaC_checkfinalizer(lua_State *L, GCObject *o, Table *mt)
{
    global_State *g = G(L);
    struct ltc_state *s = state_of(L);
    if (o->tt == LUA_VTABLE && !(o->marked & LTRICOLOR_WEAKTABLE) && s->g != NULL &&
        gfasttm(g, mt, TM_MODE) != NULL) {
        objvec_push(L, &s->weak, o); /* registered before its parts change */
        o->marked |= LTRICOLOR_WEAKTABLE;
        make_parts_noscan(s, gco2t(o));
    }
    if (tofinalize(o) || gfasttm(g, mt, TM_GC) == NULL || (g->gcstp & GCSTPCLS))
        return;
    /* The queue can take every finalizable object without allocating. */
    if (objvec_reserve(&s->tobefnz, s->tobefnz.n + s->fin.n + 1) != 0)
        luaD_throw(L, LUA_ERRMEM);
    objvec_push(L, &s->fin, o);
    l_setbit(o->marked, FINALIZEDBIT);
    clear_c_stack();
}

/* ---- Running __gc ------------------------------------------------------------ */

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

/* Runs up to max queued __gc (all for SIZE_MAX), oldest in the queue
 * first; returns whether some are still queued. */
static int run_finalizers(lua_State *L, size_t max)
{
    struct ltc_state *s = state_of(L);
    while (s->tbf_head < s->tobefnz.n && max-- > 0) {
        GCObject *o = s->tobefnz.v[s->tbf_head];
        s->tobefnz.v[s->tbf_head++] = NULL;
        if (s->tbf_head == s->tobefnz.n)
            s->tbf_head = s->tobefnz.n = 0;
        resetbit(o->marked, FINALIZEDBIT); /* setmetatable may mark it again */
        finalize(L, o);
    }
    if (s->tbf_head > 0 && s->tbf_head >= s->tobefnz.n / 2) { /* slide down */
        memmove(s->tobefnz.v, s->tobefnz.v + s->tbf_head,
                (s->tobefnz.n - s->tbf_head) * sizeof *s->tobefnz.v);
        s->tobefnz.n -= s->tbf_head;
        s->tbf_head = 0;
    }
    return s->tbf_head < s->tobefnz.n;
}

/* Lua's checkSizes, all at once: the string table halves while a quarter
 * of it or less is used. */
static void shrink_string_table(lua_State *L)
{
    global_State *g = G(L);
    int size = g->strt.size;
    while (g->strt.nuse < size / 4 && size / 2 >= MINSTRTABSIZE)
        size /= 2;
    if (size < g->strt.size)
        luaS_resize(L, size);
}

void luaC_step(lua_State *L)
{
    global_State *g = G(L);
    l_mem debt = -LTC_STEP_BYTES;
    if (g->gcstp == 0) {
        shrink_string_table(L);
        if (run_finalizers(L, LTC_FIN_PER_STEP))
            debt = -(l_mem)4096; /* more soon */
    }
    luaE_setdebt(g, debt);
}

void luaC_runtilstate(lua_State *L, int statesmask)
{
    (void)L;
    (void)statesmask;
}

void luaC_fullgc(lua_State *L, int isemergency)
{
    /* An emergency collection follows a failed allocation, which tricolor
     * never reports (it aborts, or calls gc_options.out_of_memory). */
    if (isemergency)
        return;
    /* The stack above the top holds stale values: Lua's atomic phase
     * clears it, and so does the port before the collection it starts,
     * whole slots (a nil keeps its old payload, which a conservative scan
     * would see); zero bytes are nils. */
    memset(L->top, 0, (size_t)((L->stack_last + EXTRA_STACK) - L->top) * sizeof(StackValue));
    clear_c_stack(); /* as in luaC_checkfinalizer */
    struct ltc_state *s = state_of(L);
    memset(s->recent, 0, sizeof s->recent); /* nothing is being stored now */
    gc_collect();
    global_State *g = G(L);
    if (!(g->gcstp & GCSTPGC)) {
        shrink_string_table(L);
        run_finalizers(L, SIZE_MAX);
    }
}

void luaC_changemode(lua_State *L, int newmode)
{
    /* Remembered so that collectgarbage("incremental"/"generational")
     * answers with the previous mode; tricolor has one mode. */
    G(L)->gckind = cast_byte(newmode);
}

/* lua_close: every object still marked for finalization joins the end of
 * the queue, newest first (as Lua's separatetobefnz(g, 1)), before any
 * __gc runs: the queue is strong, so none of them can be freed by a
 * collection that a __gc starts. Then the whole queue runs. Nothing is
 * freed here: once the main block is freed, the rest is unreachable. */
void luaC_freeallobjects(lua_State *L)
{
    global_State *g = G(L);
    struct ltc_state *s = state_of(L);
    g->gcstp = GCSTPCLS; /* no object is marked for finalization after this */
    while (s->fin.n > 0) /* capacity reserved at registration */
        s->tobefnz.v[s->tobefnz.n++] = s->fin.v[--s->fin.n];
    run_finalizers(L, SIZE_MAX);
}
