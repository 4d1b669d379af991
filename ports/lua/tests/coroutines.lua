-- Coroutines: generators, coroutines that die with live references (by
-- error, by being dropped, by coroutine.close), yields across pcall, and
-- many coroutines alive at once through collections.
local function gen(n)
  return coroutine.wrap(function()
    for i = 1, n do coroutine.yield({i}) end
  end)
end
local s = 0
for t in gen(1000) do s = s + t[1]; if t[1] % 100 == 0 then collectgarbage() end end
print("generator", s)

-- A coroutine that dies by error, holding references: what it returned stays.
local kept
local co = coroutine.create(function()
  local big = {}
  for i = 1, 1000 do big[i] = tostring(i) end
  kept = big
  coroutine.yield(#big)
  error("boom")
end)
print("first resume", coroutine.resume(co))
local ok, err = coroutine.resume(co)
print("died", ok, (tostring(err):gsub("^.-:%d+: ", "")), coroutine.status(co))
collectgarbage()
print("reference survives its coroutine", kept[1000])

-- Many suspended coroutines, each holding its own table on its stack.
local cos = {}
for i = 1, 2000 do
  cos[i] = coroutine.create(function(x)
    local mine = {x, tostring(x)}
    while true do
      local d = coroutine.yield(mine[1])
      mine[1] = mine[1] + d
    end
  end)
  coroutine.resume(cos[i], i)
end
collectgarbage()
local total = 0
for i = 1, 2000 do local _, v = coroutine.resume(cos[i], 1); total = total + v end
print("suspended coroutines", total)
for i = 1, 2000, 2 do cos[i] = nil end
collectgarbage()
total = 0
for i = 2, 2000, 2 do local _, v = coroutine.resume(cos[i], 1); total = total + v end
print("half dropped", total)

-- Yield across pcall, and coroutine.close of a suspended one.
local c2 = coroutine.create(function()
  local ok2, v = pcall(function() return coroutine.yield("inside pcall") .. "!" end)
  coroutine.yield(ok2, v)
  return "end"
end)
print(coroutine.resume(c2))
print(coroutine.resume(c2, "resumed"))
print("close", coroutine.close(c2), coroutine.status(c2))

-- A ring of coroutines passing a token.
local ring, n = {}, 100
for i = 1, n do
  ring[i] = coroutine.wrap(function(token)
    while true do token = coroutine.yield(token + i) end
  end)
end
local token = 0
for _ = 1, 50 do
  for i = 1, n do token = ring[i](token) end
  collectgarbage("step")
end
print("ring", token)
print("isyieldable on main", coroutine.isyieldable())
