-- binary-trees (the Computer Language Benchmarks Game's rules), written for
-- tricolor's Lua benchmarks: allocate and check many short-lived trees
-- while one long-lived tree stays. Argument: the maximum depth (default 16).
local function make(d)
  if d == 0 then return {} end
  d = d - 1
  return {make(d), make(d)}
end

local function check(t)
  local l = t[1]
  if l == nil then return 1 end
  return 1 + check(l) + check(t[2])
end

local N = tonumber(arg and arg[1]) or 16
local mindepth = 4
local maxdepth = math.max(mindepth + 2, N)

print(("stretch tree of depth %d\t check: %d"):format(maxdepth + 1, check(make(maxdepth + 1))))
local long = make(maxdepth)
for d = mindepth, maxdepth, 2 do
  local iterations = 1 << (maxdepth - d + mindepth)
  local sum = 0
  for _ = 1, iterations do sum = sum + check(make(d)) end
  print(("%d\t trees of depth %d\t check: %d"):format(iterations, d, sum))
end
print(("long lived tree of depth %d\t check: %d"):format(maxdepth, check(long)))
