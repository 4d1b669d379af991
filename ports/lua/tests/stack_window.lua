-- Values taken out of a table while a cycle marks, and kept until the
-- cycle has ended only where Lua put them without a barrier of its own:
--   * in a stack slot: Lua writes its stacks without barriers, and
--     overwriting a table slot shades nothing (the value it held is not
--     shaded); the port rescans every stack in the final pause;
--   * in a closed upvalue: luaF_closeupval copies the value from the stack
--     into the upvalue, new and black while marking, and the stack slot
--     dies (patches/10 gives it the barrier);
--   * in a C closure's upvalue: lua_pushcclosure pops the values from the
--     stack into the closure, new and black (patches/09), here the
--     string that string.gmatch keeps.
-- This test makes the window in which such a value is lost wide. The pool
-- of values is held strongly only at the end of a long linked list, which
-- a marker must walk one node after the other, so that it reaches the pool
-- long after it scanned the stack; the program reaches the pool at once
-- through a weak table, which marks nothing. Meanwhile the loop below
-- moves the pool's values out and overwrites their slots. A value moved
-- after the stack was scanned and before the pool was is reachable only
-- from where it went. It must still be alive when it is used after the
-- cycle (a freed object is clobbered under GODEBUG=clobberfree=1, and
-- gccheckmark=1 reports it at the pause).
local cycles, armed = 0, true
local function sentinel()
  setmetatable({}, {__gc = function()
    cycles = cycles + 1
    if armed then sentinel() end
  end})
end
sentinel()

-- Allocates until k more cycles have ended.
local function wait_cycles(k)
  local c0 = cycles
  local junk
  while cycles < c0 + k do
    for _ = 1, 200 do junk = {junk} end
    junk = nil
  end
end

local chain = {}
local last = chain
for _ = 1, 200000 do
  local node = {}
  last.next = node
  last = node
end
last = nil
-- The chain's last node and the pool it holds are reached through weak
-- references only: a stack slot or an upvalue holding either would let the
-- marker reach the pool at once.
local weak = setmetatable({}, {__mode = "v"})
do
  local node = chain
  while node.next do node = node.next end
  weak.tail = node
end

local N = 120

-- Takes pool[n] out of the pool (reached through the weak table only, and
-- dropped from this frame before returning).
local function take(n)
  local pool = weak.tail.pool
  local e = pool[n]
  pool[n] = 0 -- an integer overwrites the slot's pointer; nil would not
  pool = nil
  return e
end

-- Returns a closure whose only reference to v is an upvalue, closed when
-- this call returns.
local function capture(v)
  return function() return v end
end

-- Takes the values n down to 1, one per frame, and holds each in its
-- frame in the three ways above; between two, allocates a little and
-- spins (a fraction of a ms), so that the moves are spread over about one
-- cycle and some fall between the stack's scan and the pool's. At the
-- bottom it waits for three more cycles: the first may have finished
-- before this call, the second may have begun before it, the third began
-- and ended while the values were held only there. Each call's argument
-- slot, stale once it returns, is overwritten by the next local.
local function hold(n)
  if n == 0 then
    wait_cycles(3)
    return 0
  end
  local mine = take(n)
  local closed = capture(take(N + n))
  local iter = take(2 * N + n):gmatch("%d+")
  local junk
  for _ = 1, 100 do junk = {junk} end
  junk = nil
  local x = 0
  for i = 1, 20000 do x = x + i end
  local below = hold(n - 1)
  return below + mine[1] + #mine[2] + closed()[1] + tonumber(iter())
end

local bad = 0
local rounds = tonumber(os.getenv("STACK_WINDOW_ROUNDS") or "3")
for round = 1, rounds do
  local pool = {}
  local expected = 0
  for i = 1, N do
    pool[i] = {i, tostring(i * round)}
    pool[N + i] = {i * 3}
    -- A long string (not interned), so that only the iterator keeps it.
    pool[2 * N + i] = string.rep("-", 40) .. (i * 7 + round)
    expected = expected + i + #pool[i][2] + i * 3 + i * 7 + round
  end
  weak.tail.pool = pool
  pool = nil
  -- Stored while a cycle marks, the entries were shaded by the store's
  -- barrier: let that cycle end, so that they are white in the next.
  wait_cycles(2)
  local got = hold(N)
  if got ~= expected then
    print("round " .. round .. ": " .. got .. " instead of " .. expected)
    bad = bad + 1
  end
end
armed = false
local n = 0
local node = chain
while node do n = n + 1 node = node.next end
print("nodes " .. n)
print(bad == 0 and "every value moved out of the pool survived" or bad .. " rounds lost values")
