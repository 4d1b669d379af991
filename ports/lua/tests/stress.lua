-- A stress program: binary trees, string churn, table churn and coroutines
-- interleaved, with checksums at every step; run long enough that the
-- collector runs many cycles on its own (and a few are forced).
local function tree(d)
  if d == 0 then return {} end
  return {tree(d - 1), tree(d - 1)}
end
local function check(t)
  if t[1] == nil then return 1 end
  return 1 + check(t[1]) + check(t[2])
end

math.randomseed(42)
local long = tree(14)
local sum = 0
for round = 1, 20 do
  -- trees
  for _ = 1, 8 do sum = sum + check(tree(10)) end
  -- strings
  local parts = {}
  for i = 1, 2000 do parts[i] = tostring(math.random(1, 1000000)) end
  sum = sum + #table.concat(parts)
  -- table churn
  local t = {}
  for i = 1, 5000 do t[math.random(1, 3000)] = {i} end
  for k, v in pairs(t) do sum = sum + (v[1] % 7) end
  -- coroutines
  local co = coroutine.wrap(function()
    for i = 1, 200 do coroutine.yield({i}) end
  end)
  for _ = 1, 200 do sum = sum + co()[1] end
  if round % 5 == 0 then collectgarbage() end
end
print("checksum", sum)
print("long-lived tree", check(long))
