#!/bin/sh
# bench/heapprof_cost.sh: what the heap profiler costs binary-trees.
#
# Runs binary_trees_tricolor at depth $DEPTH with the heap profiler at its
# default rate (512 KiB, as Go's MemProfileRate) and with it off
# (GODEBUG=memprofilerate=0), $RUNS times each, interleaved and alternating
# which goes first, so that the machine's noise hits both alike. With
# BASE=path/to/another/binary_trees_tricolor (built from another commit), that
# binary runs too, with the profiler off where it has one: the rate-0 fast path
# against the code before the profiler.
#
# Prints every run's wall time (ms), CPU time (user + system, s, all the
# process's threads) and user time alone (s), the medians, and on/off (and
# off/base). Only the ratios
# mean anything. On a shared machine the wall times are noisy: look at the
# spread of the runs before believing a difference of a percent; the CPU
# times suffer less from other processes (they still pay for shared caches
# and for hyperthreads). bench/heapprof_instructions.sh counts instructions
# instead, which the other processes do not move at all.
#
# Usage: bench/heapprof_cost.sh         from anywhere; builds in build-bench/
# Environment: DEPTH=21, RUNS=5, BUILDDIR=..., BASE=...
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
builddir="${BUILDDIR:-$root/build-bench}"
depth="${DEPTH:-21}"
runs="${RUNS:-5}"
base="${BASE:-}"

if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" "$root" -Dbench=true --buildtype=release >&2
fi
ninja -C "$builddir" bench/binary_trees_tricolor >&2
prog="$builddir/bench/binary_trees_tricolor"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run LABEL BINARY GODEBUG: appends the run's wall_ms to $tmp/LABEL, its
# CPU seconds to $tmp/LABEL.cpu and its user seconds to $tmp/LABEL.user.
run() {
    GODEBUG="$3" /usr/bin/time -f '%U %S' -o "$tmp/time" "$2" "$depth" >/dev/null 2>"$tmp/err" || {
        cat "$tmp/err" >&2
        exit 1
    }
    ms=$(sed -n 's/.*wall_ms=\([0-9.]*\).*/\1/p' "$tmp/err")
    cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$tmp/time")
    echo "$ms" >>"$tmp/$1"
    echo "$cpu" >>"$tmp/$1.cpu"
    awk '{ print $1 }' "$tmp/time" >>"$tmp/$1.user"
    echo "$1: $ms ms, $cpu s CPU, $(awk '{ print $1 }' "$tmp/time") s user" >&2
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
i=0
while [ "$i" -lt "$runs" ]; do
    if [ $((i % 2)) = 0 ]; then
        run on "$prog" ""
        run off "$prog" memprofilerate=0
    else
        run off "$prog" memprofilerate=0
        run on "$prog" ""
    fi
    [ -n "$base" ] && run base "$base" memprofilerate=0
    i=$((i + 1))
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

median() {
    sort -n "$tmp/$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
}
echo "binary-trees $depth, $runs runs each (load average at end $(cut -d' ' -f1 /proc/loadavg))"
for unit in "" .cpu .user; do
    what="wall ms"
    [ "$unit" = .cpu ] && what="CPU s"
    [ "$unit" = .user ] && what="user s"
    on=$(median "on$unit")
    off=$(median "off$unit")
    echo "$what: on (rate 512 KiB): $(tr '\n' ' ' <"$tmp/on$unit")| off (rate 0): $(tr '\n' ' ' <"$tmp/off$unit")"
    echo "$what: median on $on, off $off, on/off $(ratio "$on" "$off")"
    if [ -n "$base" ]; then
        b=$(median "base$unit")
        echo "$what: base: $(tr '\n' ' ' <"$tmp/base$unit")| median $b, off/base $(ratio "$off" "$b")"
    fi
done
