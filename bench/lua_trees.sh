#!/bin/sh
# lua_trees.sh [BUILD_DIR] [DEPTH] [ROUNDS]: binary-trees in Lua on stock Lua
# and on the port (ports/lua), in alternating rounds, from the same Lua
# source built with the same flags (meson's ports/lua). Prints, per run,
# wall time, CPU time (user+sys) and peak RSS, then the median of each.
# Needs GNU time (/usr/bin/time). Defaults: build, depth 16, 5 rounds.
set -eu
build=${1:-build}
depth=${2:-16}
rounds=${3:-5}
here=$(cd "$(dirname "$0")" && pwd)
stock=$build/ports/lua/stock/lua
port=$build/ports/lua/tricolor/lua-tricolor
for b in "$stock" "$port"; do
	[ -x "$b" ] || { echo "lua_trees.sh: $b not built (meson -Dlua=enabled, ninja)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "lua_trees.sh: needs GNU time (apt-get install time)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq "$rounds"); do
	for which in stock port; do
		eval bin=\$$which
		/usr/bin/time -f "%e %U %S %M" -o "$out/t" "$bin" "$here/lua/binary_trees.lua" "$depth" >"$out/stdout"
		set -- $(cat "$out/t")
		cpu=$(awk -v u="$2" -v s="$3" 'BEGIN { printf "%.2f", u + s }')
		echo "$which round $r: wall $1 s, cpu $cpu s, peak RSS $4 KiB"
		echo "$1 $cpu $4" >>"$out/$which"
	done
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for which in stock port; do
	w=$(cut -d' ' -f1 "$out/$which" | median)
	c=$(cut -d' ' -f2 "$out/$which" | median)
	m=$(cut -d' ' -f3 "$out/$which" | median)
	echo "$which median: wall $w s, cpu $c s, peak RSS $m KiB (depth $depth, $rounds rounds)"
done
