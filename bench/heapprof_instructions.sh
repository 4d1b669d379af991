#!/bin/sh
# bench/heapprof_instructions.sh: what the heap profiler costs binary-trees, in
# instructions, a measure the other processes on a shared machine cannot move.
#
# bench/heapprof_cost.sh times the profiler; on a small shared machine the
# runs of one build spread by more than the 2% to be shown. This script counts
# the instructions the program executes instead (valgrind's cachegrind, no
# cache simulation), which depend only on the program and on how valgrind
# interleaves its threads:
#
# 1. binary_trees_tricolor at depth $DEPTH with the profiler off
#    (GODEBUG=memprofilerate=0) and at its default rate (512 KiB, as Go's
#    MemProfileRate), each $RUNS times, in two modes: with the whole cycle in
#    the pause (gcstoptheworld=1), where the number of collections is the
#    same in every run, so the totals compare directly; and concurrent (the
#    default), where it moves with valgrind's scheduling of the mark worker
#    against the mutator and the totals move with it.
# 2. A sanity check that the measure sees the profiler: depth $SANITY_DEPTH,
#    gcstoptheworld=1, with the rate 0 and 1 (every allocation sampled).
# 3. Unless CALLGRIND=0: one callgrind run at depth $DEPTH, default rate,
#    gcstoptheworld=1, and the inclusive instructions of the profiler's entry
#    points (where the cost goes).
# 4. With BASE="path/to/binary_trees_tricolor ..." (built from other commits
#    or with the profiler's hooks taken out, e.g. the commit before the
#    profiler), each binary counted $RUNS times in both modes, run with no
#    memprofilerate knob (labelled base1, base2, ... in the order given): the
#    rate-0 program against each.
#
# Each run prints its total instructions ("Ir"), the collections (gcs), the
# self instructions of gc_alloc (the inlined fast path; per allocation) and
# of next_free (the slow path, entered about once per 64 allocations), and
# those of the profiler's code and the unwinder its backtrace() calls
# ("prof": mprof_*, _Unwind_*, backtrace*, _dl_find_object, and ??? for
# libgcc_s's functions without symbols; a run with the profiler off shows
# what the rest of the program spends in those, about 2 M).
# The summary gives the medians and ranges and default/off per mode.
#
# Usage: bench/heapprof_instructions.sh     from anywhere; builds in build-bench/
# The cachegrind and callgrind files are kept in
# $BUILDDIR/bench/results/heapprof_instructions/.
#
# Environment: DEPTH=18, RUNS=3, SANITY_DEPTH=10, CALLGRIND=1, BUILDDIR=..., BASE=...
# Needs valgrind (apt-get install valgrind; bench/run.sh installs it).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
builddir="${BUILDDIR:-$root/build-bench}"
depth="${DEPTH:-18}"
runs="${RUNS:-3}"
sanity_depth="${SANITY_DEPTH:-10}"
callgrind="${CALLGRIND:-1}"
base="${BASE:-}"

command -v valgrind >/dev/null 2>&1 ||
    { echo "heapprof_instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" "$root" -Dbench=true --buildtype=release >&2
fi
ninja -C "$builddir" bench/binary_trees_tricolor >&2
prog="$builddir/bench/binary_trees_tricolor"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
results="$builddir/bench/results/heapprof_instructions"
rm -rf "$results"
mkdir -p "$results"

. "$here/bt_allocations.sh"

# count LABEL BINARY DEPTH GODEBUG: one cachegrind run; appends
# "Ir gcs gc_alloc next_free prof" to $tmp/LABEL, prints the run and keeps its
# cachegrind file in $results (LABEL.N.cg, for cg_annotate and cg_diff).
count() {
    touch "$tmp/$1"
    out="$results/$1.$(($(wc -l <"$tmp/$1") + 1)).cg"
    GODEBUG="$4" valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$out" \
        "$2" "$3" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    gcs=$(sed -n 's/.*result:.* gcs=\([0-9]*\).*/\1/p' "$tmp/err")
    awk -v gcs="$gcs" '
        /^fn=/ { fn = substr($0, 4); next }
        /^[0-9]/ {
            self[fn] += $2
            if (fn ~ /^(mprof_|_Unwind_|backtrace|__backtrace|_dl_find_object)/ || fn == "???")
                prof += $2
        }
        /^summary:/ { total = $2 }
        END { printf "%.0f %d %.0f %.0f %.0f\n", total, gcs, self["gc_alloc"], self["next_free"], prof }' \
        "$out" >>"$tmp/$1"
    tail -n 1 "$tmp/$1" | awk -v l="$1" -v a="$(bt_allocations "$3")" '{
        printf "%-10s Ir %.4f G, gcs %d, gc_alloc %.2f/alloc, next_free %.3f/alloc, prof %.1f M (%.3f%%)\n",
            l, $1 / 1e9, $2, $3 / a, $4 / a, $5 / 1e6, 100 * $5 / $1 }' >&2
}

echo "binary-trees $depth, $(bt_allocations "$depth") allocations; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
i=0
while [ "$i" -lt "$runs" ]; do
    for mode in stw conc; do
        knob=""
        [ "$mode" = stw ] && knob="gcstoptheworld=1,"
        if [ $((i % 2)) = 0 ]; then
            count "off.$mode" "$prog" "$depth" "${knob}memprofilerate=0"
            count "on.$mode" "$prog" "$depth" "${knob%,}"
        else
            count "on.$mode" "$prog" "$depth" "${knob%,}"
            count "off.$mode" "$prog" "$depth" "${knob}memprofilerate=0"
        fi
        j=1
        for b in $base; do
            count "base$j.$mode" "$b" "$depth" "${knob%,}"
            j=$((j + 1))
        done
    done
    i=$((i + 1))
done
count sanity.0 "$prog" "$sanity_depth" gcstoptheworld=1,memprofilerate=0
count sanity.1 "$prog" "$sanity_depth" gcstoptheworld=1,memprofilerate=1

if [ "$callgrind" != 0 ]; then
    GODEBUG=gcstoptheworld=1 valgrind --tool=callgrind --callgrind-out-file="$results/on.stw.callgrind" \
        "$prog" "$depth" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    callgrind_annotate --inclusive=yes --threshold=100 "$results/on.stw.callgrind" >"$tmp/incl" 2>/dev/null
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# column LABEL N: the Nth figure of every run of LABEL, one a line.
column() {
    awk -v n="$2" '{ print $n }' "$tmp/$1"
}
median() {
    sort -n | awk '{ v[NR] = $1 } END { printf "%.1f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
summary() {
    column "$1" 1 | awk '{ printf "%.4f ", $1 / 1e9 }'
    printf '| gcs '
    column "$1" 2 | tr '\n' ' '
    printf '| median %.4f G' "$(column "$1" 1 | median | awk '{ print $1 / 1e9 }')"
}
ratio() {
    awk -v a="$(column "$1" 1 | median)" -v b="$(column "$2" 1 | median)" 'BEGIN { printf "%.4f", a / b }'
}
spread() {
    column "$1" 1 | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f%%", 100 * (v[NR] - v[1]) / v[1] }'
}

echo "binary-trees $depth, $runs cachegrind runs each, instructions (G) of each run"
for mode in stw conc; do
    echo "$mode: off (rate 0):       $(summary "off.$mode") (spread $(spread "off.$mode"))"
    echo "$mode: on (rate 512 KiB):  $(summary "on.$mode") (spread $(spread "on.$mode"))"
    echo "$mode: on/off $(ratio "on.$mode" "off.$mode")"
    j=1
    for b in $base; do
        echo "$mode: base$j ($b): $(summary "base$j.$mode") (spread $(spread "base$j.$mode"))"
        echo "$mode: off/base$j $(ratio "off.$mode" "base$j.$mode")"
        j=$((j + 1))
    done
done
a=$(bt_allocations "$depth")
labels="off.stw on.stw"
j=1
for b in $base; do
    labels="$labels base$j.stw"
    j=$((j + 1))
done
for l in $labels; do
    awk -v l="$l" -v a="$a" '{ g = g sprintf(" %.2f", $3 / a); n = n sprintf(" %.3f", $4 / a) }
        END { printf "%s: gc_alloc self per allocation:%s; next_free:%s\n", l, g, n }' "$tmp/$l"
done
for mode in stw conc; do
    for l in "off.$mode" "on.$mode"; do
        awk -v l="$l" '{ p = p sprintf(" %.1f M (%.3f%%)", $5 / 1e6, 100 * $5 / $1) }
            END { printf "%s: profiler and unwinder self:%s\n", l, p }' "$tmp/$l"
    done
done
echo "sanity, depth $sanity_depth, gcstoptheworld: rate 0 $(summary sanity.0); rate 1 $(summary sanity.1); 1/0 $(ratio sanity.1 sanity.0)"
if [ "$callgrind" != 0 ]; then
    echo "callgrind, depth $depth, default rate, gcstoptheworld, inclusive instructions:"
    grep -E 'PROGRAM TOTALS|[:( ](mprof_[a-z_]*|backtrace|gc_alloc|next_free)( |$)' "$tmp/incl" |
        grep -v '^-' | sed 's/^ *//'
fi
