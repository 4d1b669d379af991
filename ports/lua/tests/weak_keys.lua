-- Weak keys (__mode "k") are ephemerons: a value is kept only while its key
-- is, a value that refers to its own key does not keep it, and chains
-- (k1 -> v1 = k2 -> v2) are followed. Phase 2 of the port.
local function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end

local eph = setmetatable({}, {__mode = "k"})
local live = {}
eph[live] = "live key"
do
  local k = {}
  eph[k] = {back = k}            -- the value refers to its key
end
collectgarbage(); collectgarbage()
print("self-referencing value freed", count(eph), eph[live])

-- A chain: only k1 is held; k2 is reachable only through eph[k1].
local chain = setmetatable({}, {__mode = "k"})
local k1 = {}
do
  local k2, k3 = {}, {}
  chain[k3] = "end"
  chain[k2] = k3
  chain[k1] = k2
end
collectgarbage(); collectgarbage()
local n, k = 0, k1
while chain[k] ~= nil and type(chain[k]) == "table" do n = n + 1; k = chain[k] end
print("chain kept", n, chain[k], count(chain))
k1 = nil
collectgarbage(); collectgarbage()
print("chain freed", count(chain))

-- A key resurrected by its __gc: weak keys are cleared only after
-- finalizers run, so the entry of a key that its finalizer made strongly
-- reachable again stays.
local saved
local withgc = setmetatable({}, {__mode = "k"})
do
  local key = setmetatable({}, {__gc = function(o) saved = o end})
  withgc[key] = "value"
end
collectgarbage(); collectgarbage()
print("resurrected key kept", count(withgc), saved ~= nil)
