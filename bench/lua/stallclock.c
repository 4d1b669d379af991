/*
 * stallclock.c: a Lua C module that measures the longest time Lua code was
 * kept from running, for the Lua benchmarks (bench/lua_bench.sh, issue 15).
 *
 * What a "stall" is here. A count hook fires every COUNT VM instructions of
 * a Lua thread; each call reads CLOCK_MONOTONIC and records the gap since
 * the previous call. A program that runs Lua code without interruption
 * sees gaps of a few microseconds (COUNT instructions); anything that keeps
 * the interpreter from executing instructions makes the gap longer: stock
 * Lua's incremental collector steps (they run inside allocations, between
 * two instructions), a stop-the-world pause of the port (the thread waits
 * at its gc_safepoint poll or inside an allocation), a long C function
 * (table.concat of a big table), and the operating system taking the CPU
 * away. The worst gap is therefore an upper bound on the worst collector
 * pause the program saw, not the pause itself; on a shared machine the
 * scheduler's time slices set its floor.
 *
 * Preemption. To tell the scheduler's part apart, each hook call also
 * reads the thread's count of involuntary context switches
 * (getrusage(RUSAGE_THREAD).ru_nivcsw); a gap during which it grew had the
 * CPU taken away at least once. The module reports the worst gap of all
 * and the worst gap with no involuntary switch. The second leaves out the
 * scheduler's preemptions, and only them: stock Lua's collector steps run
 * on the thread itself, and a port thread held at a stop sleeps (a
 * voluntary switch) or spins, so both still count, as does the time the
 * port's thread waits for a CPU after the stop ends. It can also leave out
 * a collector pause that happened to be preempted: read both.
 *
 * Why a C module. Stock Lua has no wall clock finer than a second
 * (os.clock is the process's CPU time, which counts the port's background
 * mark workers and does not count time spent waiting), and the comparison
 * must not change either interpreter. Both binaries are built with -Wl,-E
 * and dlopen (LUA_USE_LINUX), so the same shared module, compiled against
 * Lua 5.4.4's public headers only (lua.h, lauxlib.h: the port's patches
 * leave them alone), loads into both with require through LUA_CPATH. The
 * hook is a C lua_Hook rather than a Lua function given to debug.sethook:
 * it allocates nothing and costs one clock read per call, the same in both.
 *
 * Which threads are timed. lua_sethook sets the hook of the calling thread;
 * Lua copies a thread's hook into every coroutine it creates
 * (lua_newthread), so coroutines created after stallclock.start are timed
 * too. Instruction counts are per thread: in a program that switches
 * between coroutines, a coroutine's hook fires after COUNT of its own
 * instructions, so the gaps between calls are less regular than in a
 * single thread (bench/lua/coroutine_ring.lua keeps its scheduler loop in
 * the main thread, whose hook fires every COUNT scheduler instructions).
 *
 * Invariants. The statistics are process-wide statics: one Lua state per
 * process, and only the thread running Lua calls the hook (Lua runs one
 * coroutine at a time). `timing` is true between start and stop; the hook
 * of a coroutine that outlives stop returns without recording.
 *
 * Lua interface:
 *   stallclock.start([count])  install the hook on the calling thread
 *                              (count: instructions between calls, default
 *                              1000) and reset the statistics
 *   worst, unpreempted, over1ms, calls = stallclock.stop()
 *                              remove the hook; the worst gap and the worst
 *                              gap without an involuntary context switch,
 *                              in seconds; the number of gaps of 1 ms or
 *                              more; the number of hook calls
 *   stallclock.now()           CLOCK_MONOTONIC in seconds
 */
/* RUSAGE_THREAD needs _GNU_SOURCE, which the project defines for every file. */
#include <stdbool.h>
#include <sys/resource.h>
#include <time.h>

#include "lauxlib.h"
#include "lua.h"

#define DEFAULT_COUNT 1000
#define LONG_GAP      1e-3 /* seconds: the 1 ms goal */

static bool timing;
static double previous_call;      /* seconds, at the previous hook call or start */
static long previous_preemptions; /* ru_nivcsw at the previous call or start */
static double worst_gap;
static double worst_unpreempted_gap;
static lua_Integer long_gaps;
static lua_Integer hook_calls;

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long preemptions(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        return 0;
    return ru.ru_nivcsw;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)L;
    (void)ar;
    if (!timing)
        return;
    double now = monotonic_seconds();
    long preempted = preemptions();
    double gap = now - previous_call;
    bool was_preempted = preempted != previous_preemptions;
    previous_call = now;
    previous_preemptions = preempted;
    hook_calls++;
    if (gap > worst_gap)
        worst_gap = gap;
    if (!was_preempted && gap > worst_unpreempted_gap)
        worst_unpreempted_gap = gap;
    if (gap >= LONG_GAP)
        long_gaps++;
}

static int stallclock_start(lua_State *L)
{
    lua_Integer count = luaL_optinteger(L, 1, DEFAULT_COUNT);
    luaL_argcheck(L, count > 0 && count <= 1000000000, 1,
                  "stallclock.start: count must be between 1 and 1e9");
    worst_gap = 0;
    worst_unpreempted_gap = 0;
    long_gaps = 0;
    hook_calls = 0;
    timing = true;
    previous_preemptions = preemptions();
    previous_call = monotonic_seconds();
    lua_sethook(L, count_hook, LUA_MASKCOUNT, (int)count);
    return 0;
}

static int stallclock_stop(lua_State *L)
{
    if (!timing)
        return luaL_error(L, "stallclock.stop: not started");
    timing = false;
    lua_sethook(L, NULL, 0, 0);
    lua_pushnumber(L, worst_gap);
    lua_pushnumber(L, worst_unpreempted_gap);
    lua_pushinteger(L, long_gaps);
    lua_pushinteger(L, hook_calls);
    return 4;
}

static int stallclock_now(lua_State *L)
{
    lua_pushnumber(L, monotonic_seconds());
    return 1;
}

static const luaL_Reg stallclock_functions[] = {
    {"start", stallclock_start},
    {"stop", stallclock_stop},
    {"now", stallclock_now},
    {NULL, NULL},
};

/* The module's one exported symbol, found by require's dlsym. */
__attribute__((visibility("default"))) int luaopen_stallclock(lua_State *L);

int luaopen_stallclock(lua_State *L)
{
    luaL_newlib(L, stallclock_functions);
    return 1;
}
