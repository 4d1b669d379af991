/*
 * ltcverify.h: the port's own check of each cycle's mark, Lua object by
 * Lua object (ltcverify.c). Internal to the port.
 */
#ifndef LTCVERIFY_H
#define LTCVERIFY_H

#include <stddef.h>

#include "lstate.h"

/* In the weak callback's phase 1 (the world stopped, marking final):
 * walks every object Lua's strong references reach from g's roots and from
 * the nqueued objects queued for __gc, and aborts with a message naming
 * each one (and each vector one of them uses) that is not marked. cycle
 * numbers the message. */
void ltc_verify(global_State *g, GCObject *const *queued, size_t nqueued, unsigned cycle);

#endif
