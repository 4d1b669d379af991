-- __gc during collections: each runs once, in reverse order of marking for
-- finalization, may resurrect its object, and an error inside one is a
-- warning that does not stop the others. Phase 2 of the port.
local order = {}
do
  for i = 1, 5 do
    setmetatable({}, {__gc = function() order[#order + 1] = i end})
  end
end
collectgarbage()
print("order", table.concat(order, " "))

-- A chain and a cycle of finalizable objects are finalized in one cycle.
order = {}
do
  local a = setmetatable({}, {__gc = function() order[#order + 1] = "a" end})
  local b = setmetatable({a}, {__gc = function() order[#order + 1] = "b" end})
  local c = setmetatable({b}, {__gc = function() order[#order + 1] = "c" end})
  a[1] = c
end
collectgarbage()
print("cycle finalized together", #order)

-- Resurrection: __gc stores the object; it stays usable, and its __gc is
-- not called again.
local calls, back = 0, nil
do
  setmetatable({payload = {1, 2, 3}}, {__gc = function(o) calls = calls + 1; back = o end})
end
collectgarbage(); collectgarbage()
print("resurrected", calls, back and #back.payload)
back = nil
collectgarbage(); collectgarbage()
print("called once", calls)

-- An error in __gc: the others still run.
local ran = 0
do
  setmetatable({}, {__gc = function() ran = ran + 1 end})
  setmetatable({}, {__gc = function() error("in __gc") end})
  setmetatable({}, {__gc = function() ran = ran + 1 end})
end
collectgarbage()
print("after an error in __gc", ran)
