/*
 * ltricolor.h: the glue that puts Lua 5.4's heap on tricolor, marked
 * concurrently, with weak tables, __gc and the string table.
 *
 * Included by the port's patched lgc.h, so every Lua file that uses a
 * barrier sees it (ltable.c and lvm.c included), and by lauxlib.c
 * (luaL_newstate) and lapi.c (lua_gc).
 * ltricolor.c says what each function does and why it is sound;
 * docs/lua.md says what changed in Lua.
 */
#ifndef LTRICOLOR_H
#define LTRICOLOR_H

#include <stddef.h>
#include <tricolor.h>

#include "lua.h"

/* Initialises tricolor once for the process, with the port's options: the
 * environment prefix LUA_ (LUA_GOGC, LUA_GODEBUG, ...) and cooperative
 * stops (docs/lua.md says why). Call it on the main thread
 * before any other thread creates a state; luaL_newstate calls it too. */
void ltricolor_init(void);

/* A new state whose memory is tricolor's (luaL_newstate's replacement). */
lua_State *ltricolor_newstate(void);

/* The lua_Alloc the states use. */
void *ltricolor_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* luaH_resize's last act (05-ltable-resize.patch), given the parts it
 * replaced (oldnode NULL for the dummy node, oldarray NULL for none): a
 * registered weak table's new parts are copied into noscan blocks; for any
 * other table, while a cycle marks, the old parts are shaded, since they
 * hold everything the resize copied without a barrier. */
struct Table;
union Node;
struct TValue;
void ltricolor_tableresized(lua_State *L, struct Table *t, union Node *oldnode,
                            struct TValue *oldarray);

/* luaH_newkey moved a node within t's hash part (11-ltable-nodemoved.patch),
 * while a cycle marks: its key and value are shaded. */
void ltricolor_nodemoved(struct Table *t, union Node *n);

/* A new stack of n StackValues for thread L: a GC_TYPE_RESCAN object that
 * knows L, so that only its live part is scanned (08-stacks-rescan,
 * ltctypes.c); NULL when out of memory. */
void *ltricolor_newstack(lua_State *L, int n);

/* Bytes of the tricolor heap in use (collectgarbage "count"). */
size_t ltricolor_heapbytes(void);

/* Is a tricolor cycle marking? One relaxed load: what Lua's barrier macros
 * test instead of its colours, which are never updated. */
#define ltricolor_marking() (__atomic_load_n(&gc_write_barrier_enabled, __ATOMIC_RELAXED) != 0)

/* A table in its state's weak list (its parts are noscan, read by the weak
 * callback in the pause): one of Lua's age bits in marked, which only lgc.c
 * (not compiled) uses. Stores into such a table need no barrier, and must
 * not have one: luaH_resize moves its entries through a noscan part that
 * only a C local holds, and a stop inside the barrier would let the
 * callback miss them (ltricolor.c, "Concurrent marking"). */
#define LTRICOLOR_WEAKTABLE    1u
#define ltricolor_weaktable(p) (((p)->marked & LTRICOLOR_WEAKTABLE) != 0)

#endif
