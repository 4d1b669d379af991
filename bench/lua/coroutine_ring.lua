-- coroutine ring, written for tricolor's Lua benchmarks: RING coroutines
-- pass a message around a ring, each hop making a new message table (the
-- old one garbage) that carries a small payload table; every lap, a few
-- coroutines of the ring are replaced by new ones, so coroutines (with
-- their stacks) die too. The scheduler loop runs in the main thread,
-- resuming each coroutine in turn. Prints a checksum of the last message.
-- Argument: the number of laps (default 20000).
local LAPS = tonumber(arg and arg[1]) or 20000
local RING = 200
local REPLACED = 4 -- coroutines replaced per lap

local seed = 4242
local function random(n) -- a deterministic LCG: the same on every interpreter
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed % n + 1
end

local function node(id)
  return coroutine.wrap(function(msg)
    local visits = 0
    while true do
      visits = visits + 1
      local payload = { id, visits, msg.payload[1] }
      msg = coroutine.yield({
        hops = msg.hops + 1,
        sum = (msg.sum * 31 + id * 7 + visits) & 0xffffffff,
        payload = payload,
      })
    end
  end)
end

local ring = {}
local next_id = 1
for i = 1, RING do
  ring[i] = node(next_id)
  next_id = next_id + 1
end

local msg = { hops = 0, sum = 0, payload = { 0 } }
for _ = 1, LAPS do
  for i = 1, RING do
    msg = ring[i](msg)
  end
  for _ = 1, REPLACED do
    ring[random(RING)] = node(next_id)
    next_id = next_id + 1
  end
end
print(("coroutine ring: %d laps of %d, %d hops, %d coroutines made, checksum %08x")
  :format(LAPS, RING, msg.hops, next_id - 1, msg.sum))
