-- to-be-closed variables (__close): order, with errors, in loops, and in
-- coroutines closed by coroutine.close, with collections in between.
local log = {}
local function closer(name)
  return setmetatable({}, {__close = function(_, err)
    log[#log + 1] = name .. (err and (":" .. tostring(err):gsub("^.-:%d+: ", "")) or "")
  end})
end

do
  local a <close> = closer("a")
  local b <close> = closer("b")
  collectgarbage()
end
print("scope exit", table.concat(log, " "))

log = {}
local ok = pcall(function()
  local x <close> = closer("x")
  local y <close> = closer("y")
  error("oops")
end)
print("error exit", ok, table.concat(log, " "))

log = {}
for i = 1, 3 do
  local c <close> = closer("loop" .. i)
  if i == 2 then collectgarbage() end
end
print("loop", table.concat(log, " "))

log = {}
local function early(n)
  local c <close> = closer("early" .. n)
  if n > 0 then return early(n - 1) .. n end
  return "done"
end
print("returns", early(3), table.concat(log, " "))

log = {}
local co = coroutine.create(function()
  local c <close> = closer("co")
  coroutine.yield(1)
  log[#log + 1] = "never"
end)
coroutine.resume(co)
collectgarbage()
print("coroutine.close", coroutine.close(co), table.concat(log, " "))

-- A generic for closes its closing value when the loop breaks.
log = {}
local function iter()
  return function(_, i) if i < 10 then return i + 1 end end, nil, 0, closer("for")
end
for i in iter() do if i == 3 then break end end
print("for break", table.concat(log, " "))

-- An error inside __close replaces the original one.
local ok2, err2 = pcall(function()
  local c <close> = setmetatable({}, {__close = function() error("in close", 0) end})
  error("original", 0)
end)
print("error in __close", ok2, err2)
