#!/bin/sh
# check.sh STOCK PORT STALLCLOCK_SO STALL_LUA PROGRAM ARG: the suite's check
# of one Lua benchmark (bench/lua/meson.build): PROGRAM ARG must exit 0 and
# print the same on stock Lua (STOCK) and on the port (PORT), run directly
# and through STALL_LUA (the stall wrapper, loading STALLCLOCK_SO), which
# must also write its "stall:" line. The suite runs it with
# GODEBUG=gccheckmark=1,clobberfree=1 (and LUA_GOGC=5 for one) in the
# environment, which only the port reads.
# check.sh --skip REASON: exits 77 (meson's skip), where Lua is not built.
set -u
if [ "$1" = --skip ]; then
	echo "skipped: $2" >&2
	exit 77
fi
stock=$1 port=$2 so=$3 stall=$4 program=$5 arg=$6
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
LUA_CPATH="$(dirname "$so")/?.so"
export LUA_CPATH
status=0
for which in stock port; do
	if [ "$which" = stock ]; then bin=$stock; else bin=$port; fi
	if ! "$bin" "$program" "$arg" >"$out/$which"; then
		echo "$which: $bin $program $arg failed" >&2
		status=1
	fi
	if ! "$bin" "$stall" "$program" "$arg" >"$out/$which.stall" 2>"$out/$which.err"; then
		echo "$which: $bin $stall $program $arg failed:" >&2
		cat "$out/$which.err" >&2
		status=1
	fi
	if ! grep -q '^stall: worst [0-9.]* ms' "$out/$which.err"; then
		echo "$which: no stall line from $stall" >&2
		status=1
	fi
	grep '^stall:' "$out/$which.err" | sed "s/^/$which /"
done
[ -s "$out/stock" ] || { echo "stock printed nothing" >&2; status=1; }
for f in port stock.stall port.stall; do
	if ! diff -u "$out/stock" "$out/$f" >&2; then
		echo "$f: output differs from stock Lua's" >&2
		status=1
	fi
done
cat "$out/stock"
exit $status
