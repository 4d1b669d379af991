-- Weak values (__mode "v") and weak tables of both kinds ("kv"): entries
-- whose value (or key) is collected disappear; strings, numbers and
-- booleans are values, never removed. Phase 2 of the port (weak callbacks).
local function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end

local cache = setmetatable({}, {__mode = "v"})
local strong = {}
for i = 1, 100 do
  local v = {i}
  cache[i] = v
  if i % 10 == 0 then strong[#strong + 1] = v end
end
cache.str = "a string is not collectable here"
cache.num = 42
collectgarbage(); collectgarbage()
print("weak values left", count(cache), cache.str ~= nil, cache.num)

local both = setmetatable({}, {__mode = "kv"})
local k1, v1 = {}, {}
both[k1] = {}      -- value dies
both[{}] = v1      -- key dies
both.x = v1        -- both live
collectgarbage(); collectgarbage()
print("weak kv left", count(both), both.x == v1)

-- An entry whose value is reachable only from a dead weak table's key.
local gone = setmetatable({}, {__mode = "v"})
do local t = {} gone[1] = t gone[2] = {t} end
collectgarbage()
print("dead values", gone[1], gone[2])
