/*
 * ltctypes.h: the tricolor type of each kind of Lua object (ltctypes.c).
 * Internal to the port.
 */
#ifndef LTCTYPES_H
#define LTCTYPES_H

#include <stddef.h>
#include <stdint.h>
#include <tricolor.h>

/* The ids gc_register_type gave, set once by ltc_register_types. */
struct ltc_types {
    uint32_t stack, table, upval, proto, function, userdata;
};
extern struct ltc_types ltc_types;

/* Registers the types; after gc_init, before the first state. Aborts
 * with a message if tricolor refuses one. */
void ltc_register_types(void);

/* A new stack of n StackValues owned by the thread owner (its stack
 * pointer, inside the block), NULL when out of memory. The block keeps its
 * owner alive: the main thread's too, which lies in a heap block of its own
 * (ltricolor.c). */
struct lua_State;
void *ltc_stack_new(struct lua_State *owner, size_t n);

/* A new Lua object of basic type tag (lua_Alloc's osize for a new block:
 * LUA_T*, or 0 for a vector), of size bytes, typed as ltctypes.c says. */
void *ltc_alloc_object(int tag, size_t size);

#endif
