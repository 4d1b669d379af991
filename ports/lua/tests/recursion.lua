-- Deep recursion: the VM stack grows (is reallocated) many times, with
-- collections running at the deepest points; then stack overflow is caught.
local function depth(n, acc)
  if n == 0 then
    collectgarbage()
    return #acc
  end
  local t = {n}
  local r = depth(n - 1, acc .. "")
  return r + t[1] - n
end
print("depth 20000", depth(20000, "abc"))

local function build(n)
  if n == 0 then return {} end
  local inner = build(n - 1)
  if n % 10000 == 0 then collectgarbage() end
  return {inner, n}
end
local list = build(30000)
local count = 0
while list[1] do count = count + list[2]; list = list[1] end
print("nested tables built recursively", count)

-- Tail calls do not grow the stack.
local function loop(n, acc) if n == 0 then return acc end return loop(n - 1, acc + 1) end
print("tail calls", loop(300000, 0))

-- Unbounded recursion is an error, caught; the state stays usable.
local function forever(n) return 1 + forever(n + 1) end
local ok, err = pcall(forever, 1)
print("overflow caught", ok, (tostring(err):find("stack overflow", 1, true)) ~= nil)
collectgarbage()
print("after overflow", depth(1000, "x"))

-- Recursion through pcall and metamethods.
local mt = {}
mt.__index = function(t, k) if k <= 0 then return 0 end return t[k - 1] + 1 end
local lazy = setmetatable({}, mt)
print("recursive __index", lazy[150])
