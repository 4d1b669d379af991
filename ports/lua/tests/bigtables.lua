-- Big tables (100 000 entries and more), rehashed again and again (their parts reallocated) while
-- collections run: hash part, array part, mixed keys, and removals.
local function check(t, n)
  local s = 0
  for i = 1, n do s = s + t[i] end
  return s
end

local arr = {}
for i = 1, 100000 do
  arr[i] = i
  if i % 20000 == 0 then collectgarbage() end
end
print("array part", #arr, check(arr, #arr))

local hash = {}
for i = 1, 60000 do
  hash["k" .. i] = {i}
  if i % 15000 == 0 then collectgarbage() end
end
local hs = 0
for k, v in pairs(hash) do hs = hs + v[1] end
print("hash part", hs)

-- Removing most keys, then growing again: the table shrinks on rehash.
for i = 1, 60000 do if i % 10 ~= 0 then hash["k" .. i] = nil end end
collectgarbage()
for i = 1, 30000 do hash[i * 1.5] = "f" .. i end
collectgarbage()
local left, floats = 0, 0
for k, v in pairs(hash) do
  if type(k) == "string" then left = left + v[1] else floats = floats + #v end
end
print("after removal and regrowth", left, floats)

-- Tables as keys and values in one big table.
local objs = {}
for i = 1, 20000 do
  local key = {id = i}
  objs[key] = {key = key, sq = i * i}
end
collectgarbage()
local ok, sum = true, 0
for k, v in pairs(objs) do
  ok = ok and v.key == k
  sum = sum + v.sq - k.id * k.id
end
print("table keys", ok, sum)

-- A table filled by table.insert and table.move while collections run.
local t = {}
for i = 1, 20000 do
  if i % 100 == 0 then table.insert(t, 1 + (i % 7), i) else t[#t + 1] = i end
end
collectgarbage()
local moved = table.move(t, 1, #t, 1, {})
print("insert and move", #moved, check(moved, #moved))
