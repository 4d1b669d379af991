-- table churn, written for tricolor's Lua benchmarks: tables are created,
-- filled (their array and hash parts grow, so Lua rehashes them several
-- times), partly emptied, filled again, and dropped, while a live set of
-- LIVE tables, each holding small subtables, stays reachable and is
-- replaced at random. Prints a checksum of every table dropped and of the
-- final live set. Argument: the number of tables made (default 25000).
local N = tonumber(arg and arg[1]) or 25000
local LIVE = 2000

local seed = 12345
local function random(n) -- a deterministic LCG: the same on every interpreter
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed % n + 1
end

local keys = {}
for i = 1, 256 do keys[i] = "key" .. i end

local function make(id)
  local t = { id = id }
  local n = random(128)
  for i = 1, n do t[i] = id + i end                    -- array part grows
  for i = 1, n do t[keys[i]] = { i, id } end          -- hash part grows, a subtable each
  for i = 1, n, 2 do t[keys[i]] = nil end             -- half removed
  for i = 1, n // 2 do t[i + 0.5] = i end             -- float keys: the hash part again
  for i = n, n // 2 + 1, -1 do t[i] = nil end         -- array part shrinks at next rehash
  return t
end

-- Sums every key and value of t that is a number or a subtable's numbers;
-- addition is commutative, so the traversal order does not matter.
local function sum(t)
  local s = 0
  for k, v in pairs(t) do
    if type(k) == "number" then s = s + math.floor(k * 2) end
    if type(v) == "number" then s = s + v
    elseif type(v) == "table" then s = s + v[1] * 3 + v[2] end
  end
  return s & 0xffffffff
end

local live = {}
local checksum = 0
for id = 1, N do
  local slot = random(LIVE)
  local old = live[slot]
  if old then checksum = (checksum * 31 + sum(old)) & 0xffffffff end
  live[slot] = make(id)
end
local final = 0
for i = 1, LIVE do
  if live[i] then final = (final * 31 + sum(live[i])) & 0xffffffff end
end
print(("table churn: %d tables, checksum %08x, live set %08x"):format(N, checksum, final))
