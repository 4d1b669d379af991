/*
 * lua_threads.c: several Lua states on several threads, as hosts run them
 * (one lua_State per thread, never shared), on one tricolor heap, while the
 * main thread forces collections. Each thread registers with tricolor,
 * builds and checks trees, strings and closures in its own state, and
 * reports a checksum that must equal the one computed with no collection
 * running (the same program run once on the main thread first).
 *
 * Fails (exit 1) on a Lua error or a wrong checksum; a collector that freed
 * a live Lua object shows up as one of those or as a crash, and under
 * GODEBUG=clobberfree=1 as garbage read back.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <tricolor.h>

#include "lauxlib.h"
#include "ltricolor.h"
#include "lua.h"
#include "lualib.h"

#define NTHREADS 4
#define ROUNDS   2

/* Builds binary trees of tables, strings and closures, and folds them
 * into one number that depends on every node. */
static const char program[] =
    "local seed = ...\n"
    "local function tree(d, s)\n"
    "  if d == 0 then return {s, tostring(s) .. 'x'} end\n"
    "  local f = function() return s end\n"
    "  return {tree(d - 1, s * 2), tree(d - 1, s * 2 + 1), f, ('n%d'):format(s)}\n"
    "end\n"
    "local function sum(t)\n"
    "  if t[3] == nil then return t[1] + #t[2] end\n"
    "  return sum(t[1]) + sum(t[2]) + t[3]() + #t[4]\n"
    "end\n"
    "local total = 0\n"
    "for i = 1, 6 do\n"
    "  local keep = tree(9, seed + i)\n"
    "  for j = 1, 5 do local garbage = tree(7, j) end\n"
    "  total = (total + sum(keep)) % 1000000007\n"
    "end\n"
    "return total\n";

static int run(long seed, long long *out)
{
    lua_State *L = luaL_newstate();
    if (L == NULL)
        return -1;
    luaL_openlibs(L);
    int ok = luaL_loadstring(L, program) == LUA_OK;
    if (ok) {
        lua_pushinteger(L, seed);
        ok = lua_pcall(L, 1, 1, 0) == LUA_OK;
    }
    if (!ok)
        fprintf(stderr, "lua_threads: seed %ld: %s\n", seed, lua_tostring(L, -1));
    else
        *out = (long long)lua_tointeger(L, -1);
    lua_close(L);
    return ok ? 0 : -1;
}

static long long expected[NTHREADS];
static int failures;

static void *worker(void *arg)
{
    long id = (long)arg;
    if (gc_thread_register() != 0)
        abort();
    for (int r = 0; r < ROUNDS; r++) {
        long long got = -1;
        if (run(id, &got) != 0 || got != expected[id]) {
            fprintf(stderr, "lua_threads: thread %ld round %d: got %lld, want %lld\n", id, r, got,
                    expected[id]);
            __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
        }
    }
    gc_thread_unregister();
    return NULL;
}

int main(void)
{
    ltricolor_init();
    for (long i = 0; i < NTHREADS; i++)
        if (run(i, &expected[i]) != 0)
            return 1;
    pthread_t th[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)i) != 0)
            return 1;
    /* Collections forced from a thread that runs no Lua, while the states
     * run: every state's thread is stopped mid-interpretation. */
    int cycles = 0;
    for (long i = 0; i < NTHREADS; i++) {
        while (pthread_tryjoin_np(th[i], NULL) != 0) {
            gc_collect();
            cycles++;
        }
    }
    printf("lua_threads: %d threads x %d rounds, %d forced cycles, %d failures\n", NTHREADS, ROUNDS,
           cycles, failures);
    return failures == 0 && cycles > 0 ? 0 : 1;
}
