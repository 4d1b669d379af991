-- __gc metamethods of objects still alive when the state is closed run at
-- lua_close, newest first (Lua 5.4 manual, 2.5.3), and an error in one is
-- only a warning. Phase 1 of the port does this too; it is what flushes
-- files left open.
local path = os.tmpname()
local keep = {}
-- The oldest: its __gc runs last, after the file's own __gc (newer) has
-- flushed and closed it, and reports what reached the file.
keep[1] = setmetatable({}, {__gc = function()
  local f = io.open(path, "r")
  print("file at close", #f:read("a"))
  f:close()
  os.remove(path)
end})
local f = io.open(path, "w")
f:setvbuf("full")
f:write(string.rep("x", 1000), "\n")
keep.f = f
for i = 2, 5 do
  keep[i] = setmetatable({name = "obj" .. i}, {__gc = function(o) print("gc", o.name) end})
end
keep[6] = setmetatable({}, {__gc = function() error("ignored") end})
keep[7] = setmetatable({name = "last"}, {__gc = function(o) print("gc", o.name) end})
collectgarbage()
print("end of chunk")
