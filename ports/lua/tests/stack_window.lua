-- Values taken out of a table into stack slots while a cycle marks, and
-- kept only there until the cycle has ended.
--
-- Lua writes its stacks without barriers, and overwriting a table slot
-- shades nothing (the value it held is not shaded): the port relies on
-- rescanning every stack in the final pause. This test makes the window
-- that needs the rescan wide. The pool of entries is held strongly only
-- at the end of a long linked list, which a marker must walk one node
-- after the other, so that it reaches the pool long after it scanned the
-- stack; the program reaches the pool at once through a weak table, which
-- marks nothing. Meanwhile the loop below moves the pool's entries onto
-- the stack and overwrites their slots. An entry moved after the stack was
-- scanned and before the pool was is reachable only from a stack slot that
-- marking has already passed. It must still be alive when it is used after
-- the cycle (a freed object is clobbered under GODEBUG=clobberfree=1, and
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

-- Takes the entries n down to 1, one per frame, and holds each in its
-- frame; between two, allocates a little and spins (a fraction of a ms),
-- so that the moves are spread over about one cycle and some fall between
-- the stack's scan and the pool's. At the bottom it waits for three more
-- cycles: the first may have finished before this call, the second may
-- have begun before it, the third began and ended while the entries were
-- only on the stack.
local function hold(n)
  if n == 0 then
    wait_cycles(3)
    return 0
  end
  local mine = take(n)
  local junk
  for _ = 1, 100 do junk = {junk} end
  junk = nil
  local x = 0
  for i = 1, 20000 do x = x + i end
  local below = hold(n - 1)
  return below + mine[1] + #mine[2]
end

-- A few rounds by default (each waits for five cycles, which stock Lua
-- runs only every few MiB); the port's test under LUA_GOGC=5 runs many.
local bad = 0
local rounds = tonumber(os.getenv("STACK_WINDOW_ROUNDS") or "3")
for round = 1, rounds do
  local pool = {}
  local expected = 0
  for i = 1, N do
    pool[i] = {i, tostring(i * round)}
    expected = expected + i + #pool[i][2]
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
print(bad == 0 and "every entry held on the stack survived" or bad .. " rounds lost entries")
