-- string builder, written for tricolor's Lua benchmarks: builds many text
-- documents out of short strings, with `..` in loops (every step a new
-- string, the previous one garbage), string.format, table.concat and
-- gsub, keeping the last KEEP documents alive. Most of what it allocates
-- is strings that die young: short ones (interned, so the string table is
-- swept) and long ones (a growing accumulator). Prints a checksum.
-- Argument: the number of documents (default 8000).
local N = tonumber(arg and arg[1]) or 8000
local KEEP = 1000
local LINES = 100

-- A checksum of a string that reads its length and three of its bytes.
local function mix(h, s)
  local n = #s
  return (h * 31 + n + s:byte(1) * 7 + s:byte(n) * 11 + s:byte((n >> 1) + 1)) & 0xffffffff
end

local function line(doc, j)
  local s = "doc " .. doc .. " line " .. j .. ":"
  for k = 1, 6 do
    s = s .. " " .. ((doc * 131 + j * 17 + k) % 1000)
  end
  return s
end

local function document(doc)
  local parts = {}
  for j = 1, LINES do
    parts[j] = line(doc, j)
  end
  local text = table.concat(parts, "\n")
  if doc % 8 == 0 then
    -- a long accumulator grown one line at a time: every step copies it
    local acc = ""
    for j = 1, LINES // 4 do
      acc = acc .. parts[j] .. "\n"
    end
    text = text .. acc
  end
  if doc % 4 == 0 then
    text = text:gsub("line", "LINE")
  end
  return text .. string.format("\nend %08x", mix(0, text))
end

local keep = {}
local checksum = 0
local bytes = 0
for doc = 1, N do
  local text = document(doc)
  keep[doc % KEEP + 1] = text
  checksum = mix(checksum, text)
  bytes = bytes + #text
end
local kept = 0
for i = 1, KEEP do
  if keep[i] then kept = mix(kept, keep[i]) end
end
print(("string builder: %d documents, %d bytes, checksum %08x, kept %08x")
  :format(N, bytes, checksum, kept))
