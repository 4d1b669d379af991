-- Strings: short ones (interned) and long ones, built by concatenation,
-- string.rep, gsub, format and table.concat, compared after collections.
local parts = {}
for i = 1, 10000 do parts[i] = ("item%05d"):format(i) end
collectgarbage()
local joined = table.concat(parts, ",")
print("concat", #joined, joined:sub(1, 19), joined:sub(-9))

-- Interning: equal short strings built two ways are the same string.
local a = "hello" .. " " .. "world"
local b = string.format("%s %s", "hello", "world")
collectgarbage()
print("interned equal", a == b, #a)

-- Long strings built piece by piece.
local s = ""
for i = 1, 2000 do s = s .. tostring(i % 10) end
collectgarbage()
print("long by pieces", #s, s:sub(1, 12))
local big = string.rep("abc", 100000)
print("rep", #big, big:sub(-6))
local replaced, n = big:gsub("b", "BB")
print("gsub", #replaced, n)

-- Many distinct short strings as table keys.
local set = {}
for i = 1, 100000 do set["s" .. (i % 5000)] = i end
collectgarbage()
local c = 0
for _ in pairs(set) do c = c + 1 end
print("distinct keys", c, set.s0, set.s4999)

-- Byte-level functions on strings that survive collections.
local keepers = {}
for i = 1, 1000 do keepers[i] = string.char(65 + i % 26):rep(i % 50 + 1) end
collectgarbage()
local total = 0
for i = 1, 1000 do total = total + keepers[i]:byte(1) + #keepers[i] end
print("chars", total)
print("upper, reverse", ("tricolor"):upper(), ("tricolor"):reverse())
print("utf8", utf8.len("ação"), utf8.char(72, 228, 8364))
