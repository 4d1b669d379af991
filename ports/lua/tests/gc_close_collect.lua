-- __gc at lua_close while collections run: objects that nothing reaches
-- any more but that no collection found yet are finalized at close, each
-- __gc allocating enough to start collections; none may be freed before
-- its own __gc has run (each checks its object).
local n, bad = 0, 0
for i = 1, 200 do
  setmetatable({id = i, payload = string.rep("x", 10)}, {__gc = function(o)
    if o.id ~= i or o.payload ~= "xxxxxxxxxx" then bad = bad + 1 end
    n = n + 1
    local t = {}
    for j = 1, 2000 do t[j] = {j} end
    if n == 200 then io.write("finalized ", n, " bad ", bad, "\n") end
  end})
end
print("end of chunk")
