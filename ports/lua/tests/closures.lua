-- Closures and upvalues: shared, closed when their scope ends, captured
-- fresh in each loop iteration, and kept by closures that outlive many
-- collections while their creators are gone.
local function counter()
  local n = 0
  return function() n = n + 1; return n end, function() return n end
end

local inc, get = counter()
for _ = 1, 10 do inc() end
collectgarbage()
print("shared upvalue", get())

local fs = {}
for i = 1, 100 do fs[i] = function() return i * i end end
collectgarbage()
local s = 0
for i = 1, 100 do s = s + fs[i]() end
print("fresh per iteration", s)

-- An upvalue still open (on the stack) while a collection runs, then closed.
local function outer()
  local x = {value = "open"}
  local f = function() return x.value end
  collectgarbage()
  local before = f()
  x = {value = "replaced"}
  return f, before
end
local f, before = outer()
collectgarbage()
print("open then closed", before, f())

-- Chains of closures: each level captures the one below; only the top is kept.
local function chain(n)
  local g = function() return 0 end
  for i = 1, n do
    local below, k = g, i
    g = function() return below() + k end
  end
  return g
end
local top = chain(2000)
for _ = 1, 3 do collectgarbage() end
print("closure chain", top())

-- Many short-lived closures while a few long-lived ones are kept.
local keep = {}
for i = 1, 200000 do
  local t = {i}
  local c = function() return t[1] end
  if i % 1000 == 0 then keep[#keep + 1] = c end
end
collectgarbage()
local k = 0
for _, c in ipairs(keep) do k = k + c() end
print("kept closures", #keep, k)

-- Upvalues shared between sibling closures and a coroutine.
local function pair()
  local v = 0
  local co = coroutine.wrap(function()
    while true do v = v + 1; coroutine.yield() end
  end)
  return co, function() return v end
end
local step, read = pair()
for _ = 1, 50 do step(); if _ % 10 == 0 then collectgarbage() end end
print("upvalue shared with a coroutine", read())
