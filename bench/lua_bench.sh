#!/bin/sh
# lua_bench.sh [BUILD_DIR] [ROUNDS] [PROGRAM[=ARG]]...: the Lua benchmarks
# (bench/lua/*.lua, issue 15) on stock Lua and on the port (ports/lua), in
# alternating rounds, from the same Lua source built with the same flags
# (meson's ports/lua). Defaults: build, 5 rounds, every program at its
# default size: binary_trees string_builder table_churn coroutine_ring.
# PROGRAM=ARG passes ARG (binary_trees=16: depth 16).
#
# Each round runs every program on both interpreters, stock first in odd
# rounds and the port first in even ones, twice each:
# - timed: `LUA PROGRAM.lua ARG` under GNU time: wall time, CPU time
#   (user+sys, all threads: the port's background workers count) and peak
#   RSS;
# - hooked: `LUA stall.lua PROGRAM.lua ARG`: the same program with
#   stallclock's count hook (every 1000 VM instructions, reading
#   CLOCK_MONOTONIC), which reports the worst gap between two hook calls:
#   the longest time Lua code was kept from running (a collector pause, a
#   long C call, or the scheduler), and the worst of the gaps during which
#   the thread was not preempted (bench/lua/stallclock.c). The hook slows
#   the VM down, which is why the timed run has none.
# Every run's standard output must be the same as stock Lua's first one
# (each program prints a checksum): if not, the script stops with a diff
# and exit status 1.
#
# Prints a line per run, then a markdown table: per program, the median of
# each figure over the rounds for stock Lua and for the port, and their
# ratio port/stock; for the two stalls also the lowest over the rounds (on
# a shared machine the scheduler adds to every run's worst gap: the lowest
# is the least noisy).
# Needs GNU time (/usr/bin/time).
set -eu
build=${1:-build}
rounds=${2:-5}
case $rounds in '' | *[!0-9]* | 0) echo "lua_bench.sh: ROUNDS must be a positive integer, not '$rounds'" >&2; exit 1 ;; esac
if [ $# -gt 2 ]; then shift 2; else set --; fi
[ $# -gt 0 ] || set -- binary_trees string_builder table_churn coroutine_ring
here=$(cd "$(dirname "$0")" && pwd)
stock=$build/ports/lua/stock/lua
port=$build/ports/lua/tricolor/lua-tricolor
stallclock=$build/bench/lua/stallclock.so
for f in "$stock" "$port" "$stallclock"; do
	[ -e "$f" ] || { echo "lua_bench.sh: $f not built (meson -Dlua=enabled, ninja)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "lua_bench.sh: needs GNU time (apt-get install time)" >&2; exit 1; }
for p in "$@"; do
	[ -f "$here/lua/${p%%=*}.lua" ] || { echo "lua_bench.sh: no program $here/lua/${p%%=*}.lua" >&2; exit 1; }
done
LUA_CPATH="$(cd "$(dirname "$stallclock")" && pwd)/?.so"
export LUA_CPATH
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# same_output FILE WHAT: FILE must match the reference output of the program
# (with this argument: run names the files of a PROGRAM=ARG).
same_output() {
	if [ ! -f "$out/$run.reference" ]; then
		cp "$1" "$out/$run.reference"
	elif ! diff -u "$out/$run.reference" "$1" >&2; then
		echo "lua_bench.sh: $2: output of $name differs from its first run's" >&2
		exit 1
	fi
}

echo "lua_bench.sh: $rounds rounds, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
	if [ $((r % 2)) -eq 1 ]; then order="stock port"; else order="port stock"; fi
	for p in "$@"; do
		name=${p%%=*}
		case $p in *=*) arg=${p#*=} ;; *) arg= ;; esac
		run=$(printf '%s' "$p" | tr -c 'A-Za-z0-9_.=-' '_')
		program=$here/lua/$name.lua
		for which in $order; do
			if [ "$which" = stock ]; then bin=$stock; else bin=$port; fi
			if ! /usr/bin/time -f "%e %U %S %M" -o "$out/time" "$bin" "$program" ${arg:+"$arg"} >"$out/stdout"; then
				echo "lua_bench.sh: $which $name $arg failed" >&2
				exit 1
			fi
			same_output "$out/stdout" "$which round $r"
			if ! "$bin" "$here/lua/stall.lua" "$program" ${arg:+"$arg"} >"$out/stdout" 2>"$out/stderr"; then
				cat "$out/stderr" >&2
				echo "lua_bench.sh: $which stall.lua $name $arg failed" >&2
				exit 1
			fi
			same_output "$out/stdout" "$which round $r, hooked"
			stall=$(sed -n 's/^stall: worst \([0-9.]*\) ms, unpreempted \([0-9.]*\) ms.*/\1 \2/p' "$out/stderr")
			[ -n "$stall" ] || { echo "lua_bench.sh: no stall line from $which $name" >&2; exit 1; }
			read -r stall unpreempted <<-EOS
				$stall
			EOS
			read -r wall user sys rss <"$out/time"
			cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
			echo "$name${arg:+ $arg}, $which, round $r: wall $wall s, cpu $cpu s, peak RSS $rss KiB," \
				"worst stall $stall ms, unpreempted $unpreempted ms"
			echo "$wall $cpu $rss $stall $unpreempted" >>"$out/$run.$which"
		done
	done
done

# summary FILE: the medians of FILE's five columns (wall, CPU, RSS, worst
# stall, unpreempted stall), with the lowest of each stall after its median.
summary() {
	for i in 1 2 3 4 5; do
		cut -d' ' -f$i "$1" | sort -g | awk -v i=$i '{ a[NR] = $1 }
		END {
			m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
			printf "%s ", m
			if (i >= 4) printf "%s ", a[1]
		}'
	done
}
echo
echo "| program | | wall s | CPU s | peak RSS MiB | worst stall ms | lowest | unpreempted ms | lowest |"
echo "|---|---|---|---|---|---|---|---|---|"
for p in "$@"; do
	name=${p%%=*}
	case $p in *=*) arg=" ${p#*=}" ;; *) arg= ;; esac
	run=$(printf '%s' "$p" | tr -c 'A-Za-z0-9_.=-' '_')
	awk -v n="$name$arg" -v s="$(summary "$out/$run.stock")" -v p="$(summary "$out/$run.port")" '
	function row(label, v) {
		printf "%s %s | %.2f | %.2f | %.1f | %.2f | %.2f | %.2f | %.2f |\n", \
			(label == "stock" ? "| " n " |" : "| |"), label, v[1], v[2], v[3] / 1024, v[4], v[5], v[6], v[7]
	}
	BEGIN {
		split(s, a); split(p, b)
		row("stock", a); row("port", b)
		printf "| | port/stock |"
		for (i = 1; i <= 7; i++)
			printf " %s |", (a[i] > 0 ? sprintf("%.2fx", b[i] / a[i]) : "-")
		printf "\n"
	}'
done
