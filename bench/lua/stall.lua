-- stall.lua PROGRAM [ARGS...]: runs the Lua benchmark PROGRAM with ARGS
-- (as `lua PROGRAM ARGS...` would: same arg table, same output) while the
-- stallclock C module (stallclock.c) times every 1000 VM instructions, then
-- writes one line to stderr:
--   stall: worst W ms, unpreempted U ms, N gaps over 1 ms, C hook calls
-- W is the longest wall-clock gap between two hook calls: the longest time
-- Lua code was kept from running (a collector pause, a long C call, or the
-- operating system's scheduler); U the longest of the gaps during which
-- the thread was not preempted (stallclock.c says what that leaves out). stallclock.so is found through LUA_CPATH
-- (bench/lua_bench.sh sets it to the build's bench/lua directory).
local stallclock = require("stallclock")

local program = assert(arg and arg[1], "usage: stall.lua PROGRAM [ARGS...]")
local args = { [0] = program }
for i = 2, #arg do args[i - 1] = arg[i] end
arg = args
local chunk = assert(loadfile(program))

stallclock.start(1000)
chunk(table.unpack(args))
local worst, unpreempted, long_gaps, calls = stallclock.stop()
io.stderr:write(("stall: worst %.3f ms, unpreempted %.3f ms, %d gaps over 1 ms, %d hook calls\n")
  :format(worst * 1e3, unpreempted * 1e3, long_gaps, calls))
