-- Interned strings come back: after many distinct strings are dropped and
-- a collection runs, the heap is about where it was. Phase 2 of the port
-- (the string table cleared by a weak callback).
collectgarbage(); collectgarbage()
local before = collectgarbage("count")
do
  local t = {}
  for i = 1, 200000 do t[i] = "distinct string number " .. i end
end
collectgarbage(); collectgarbage()
local after = collectgarbage("count")
print("strings came back", after - before < 2048)
