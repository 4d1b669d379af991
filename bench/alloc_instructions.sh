#!/bin/sh
# bench/alloc_instructions.sh: what allocation costs binary-trees and GCBench,
# in instructions (valgrind's cachegrind, no cache simulation), a measure the
# other processes on a shared machine cannot move; for before/after figures of
# changes to the allocation path (docs/benchmarks.md, "Allocate-black by
# span").
#
# Each program of each build directory given runs $RUNS times, interleaved,
# in the default concurrent mode (the mark worker and the mutator share
# valgrind's one CPU, so the collections, and what is allocated while
# marking, move a little from run to run: read the medians) and once with
# gcstoptheworld=1 (nothing is allocated while marking). Each run prints its
# total instructions (Ir), collections (gcs) and the self instructions of the
# allocation functions (gc_alloc, with mallocgc inlined; next_free, its slow
# path; allocate_black and mark_new_object, allocate-black per object; and
# mark_span_alloc_black*, allocate-black per span, with assist_debt) per
# allocation made.
#
# Usage: bench/alloc_instructions.sh DIR...   (each DIR holds
#        binary_trees_tricolor and gcbench_tricolor, e.g. build-bench/bench)
# Environment: DEPTH=18 (binary-trees), RUNS=3.
set -eu
depth="${DEPTH:-18}"
runs="${RUNS:-3}"
command -v valgrind >/dev/null 2>&1 ||
    { echo "alloc_instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$(dirname "$0")/bt_allocations.sh"

# count LABEL ALLOCATIONS GODEBUG PROGRAM ARGS...
count() {
    label=$1 allocs=$2 knob=$3
    shift 3
    GODEBUG="$knob" valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$tmp/cg" \
        "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    gcs=$(sed -n 's/.*result:.* gcs=\([0-9]*\).*/\1/p' "$tmp/err")
    awk -v gcs="$gcs" -v a="$allocs" -v l="$label" '
        /^fn=/ { fn = substr($0, 4); next }
        /^[0-9]/ { self[fn] += $2; if (fn ~ /^mark_span_alloc_black/ || fn == "assist_debt") sb += $2 }
        /^summary:/ { total = $2 }
        END { printf "%-28s Ir %.4f G  gcs %3d  gc_alloc %.2f  next_free %.3f  allocate_black %.3f  mark_new_object %.3f  span_black %.3f  (per allocation)\n",
                  l, total / 1e9, gcs, self["gc_alloc"] / a, self["next_free"] / a,
                  self["allocate_black"] / a, self["mark_new_object"] / a, sb / a }' "$tmp/cg" |
        tee -a "$tmp/all"
}

# Allocations gcbench.c makes: the stretch tree (depth 18), the long-lived
# tree (16), the array, and for d = 4, 6, ..., 16, num_iters(d) trees built
# top down and as many bottom up.
gcbench_allocations() {
    awk 'function size(d) { return 2 ^ (d + 1) - 1 }
        BEGIN {
            n = size(18) + size(16) + 1
            for (d = 4; d <= 16; d += 2) n += 2 * int(2 * size(18) / size(d)) * size(d)
            printf "%.0f", n }'
}

bt=$(bt_allocations "$depth")
gcb=$(gcbench_allocations)
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
while [ "$i" -lt "$runs" ]; do
    for d in "$@"; do
        count "$d bt$depth conc" "$bt" "" "$d/binary_trees_tricolor" "$depth"
        count "$d gcbench conc" "$gcb" "" "$d/gcbench_tricolor"
    done
    i=$((i + 1))
done
for d in "$@"; do
    count "$d bt$depth stw" "$bt" gcstoptheworld=1 "$d/binary_trees_tricolor" "$depth"
    count "$d gcbench stw" "$gcb" gcstoptheworld=1 "$d/gcbench_tricolor"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "medians of total Ir (G), concurrent:"
for d in "$@"; do
    for p in "bt$depth" gcbench; do
        grep -F "$d $p conc" "$tmp/all" | sed 's/.* Ir \([0-9.]*\) G.*/\1/' | sort -n |
            awk -v l="$d $p" '{ v[NR] = $1 } END { printf "  %-40s %.4f\n", l, v[int((NR + 1) / 2)] }'
    done
done
