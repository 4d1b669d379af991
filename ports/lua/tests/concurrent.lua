-- Concurrent marking: each loop below makes one kind of store that Lua
-- does without a barrier, or with a barrier that tricolor must translate,
-- while the port's collector marks (run with LUA_GOGC=5, a cycle every few
-- hundred KiB, and under GODEBUG=gccheckmark=1, which checks after every
-- cycle that nothing reachable was left unmarked). The value stored is
-- always the only reference to what it points to, so a lost store is a
-- lost object: a checkmark report, a clobbered value, or a wrong sum.
local sum = 0
local function add(n) sum = (sum + n) % 1000000007 end

local keep = {} -- grows across rounds: its old entries move at each rehash
local nkeep = 0
for round = 1, 10 do
  -- Rehashes of a table made in earlier cycles: its entries, as old as the
  -- table, move into new parts with plain stores (luaH_resize).
  for i = 1, 2000 do
    nkeep = nkeep + 1
    keep["k" .. nkeep] = {nkeep}
    keep[nkeep * 1.5] = {nkeep}
  end
  for k, v in pairs(keep) do add(v[1]) end

  -- Objects made before the mark, taken out of the heap into a stack
  -- slot, kept only there while cycles run (the stack is rescanned).
  local pool = {}
  for i = 1, 3000 do pool[i] = {i, tostring(i)} end
  local function hold(i)
    local mine = pool[i]
    pool[i] = nil
    local junk = {}
    for j = 1, 40 do junk[j] = {j} end
    return mine[1] + #mine[2] + #junk
  end
  for i = 1, #pool do add(hold(i)) end

  -- Values only in stack slots across allocations.
  local function deep(d)
    local mine = {d, tostring(d)}
    if d > 0 then
      local below = deep(d - 1)
      add(below + mine[1] + #mine[2])
    end
    return mine[1]
  end
  for _ = 1, 40 do deep(150) end

  -- Upvalues closed at the end of each iteration: the value moves from
  -- the stack into the upvalue (luaF_closeupval).
  local fs = {}
  for i = 1, 4000 do
    local x = {i, {i * 2}}
    fs[i] = function() return x[1] + x[2][1] end
  end
  for i = 1, #fs do add(fs[i]()) end

  -- C closures whose upvalues come from the stack (lua_pushcclosure):
  -- coroutine.wrap's only reference to its coroutine, gmatch's to its
  -- string and state.
  local gens = {}
  for i = 1, 1500 do
    local s = string.rep("ab" .. i .. ",", 3)
    gens[i] = {coroutine.wrap(function(a) while true do a = coroutine.yield(a + i) end end),
               s:gmatch("([^,]+)")}
  end
  for i = 1, #gens do
    add(gens[i][1](i))
    add(#gens[i][2]())
  end

  -- Tables rehashed while marking (luaH_resize reinserts with plain
  -- stores) and nodes moved within a hash part on collisions
  -- (luaH_newkey): fresh tables as keys and values.
  local big = {}
  local keys = {}
  for i = 1, 20000 do
    local k = {i}
    keys[i % 997 + 1] = k
    big[k] = {i, {i}}
    if i % 3 == 0 then big[i * 7919 % 65536] = {i} end
  end
  for k, v in pairs(big) do
    if type(k) == "table" then add(k[1] + v[2][1]) else add(k + v[1]) end
  end
  for i = 1, #keys do add(big[keys[i]][1]) end

  -- Arrays grown element by element, then shrunk into the hash part.
  local arr = {}
  for i = 1, 30000 do arr[i] = {i} end
  for i = 30000, 10, -1 do arr[i] = nil end
  arr.x = {1}
  for i = 1, 9 do add(arr[i][1]) end

  -- Coroutine stacks growing and shrinking while other threads mark.
  local co = coroutine.create(function(n)
    local function r(k) if k == 0 then return {n} end local t = r(k - 1) return {t[1] + 1} end
    while true do n = coroutine.yield(r(n % 300)[1]) end
  end)
  for i = 1, 300 do
    local ok, v = coroutine.resume(co, i)
    add(v)
  end

  print("round " .. round .. " " .. sum)
end
