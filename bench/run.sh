#!/usr/bin/env bash
# bench/run.sh: builds and runs every benchmark in bench/, tricolor side by side with Boehm GC,
# Go 1.19, glibc malloc and mimalloc, in this one run, and prints markdown tables.
#
# What it measures:
#   alloc          ns per allocation, tricolor (GOGC=off) vs malloc vs mimalloc (see alloc.c)
#   binary-trees   Benchmarks Game binary-trees at depth $DEPTH: tricolor, Boehm, Go
#   GCBench        Ellis/Kovac/Boehm GCBench: tricolor, Boehm, Go
#
# How to read the output: each GC benchmark gets a table
#   contender | wall ms | peak RSS MiB | GCs | wall vs Boehm | wall vs Go
# where wall ms is the median of $RUNS runs (contenders interleaved, so machine noise hits all
# of them alike), peak RSS is getrusage's ru_maxrss of that run, GCs is the collector's own
# count of collections, and "wall vs X" is this contender's wall time divided by X's (below 1:
# faster than X). Only the ratios mean anything: absolute times depend on the machine and on
# what else ran. Every contender runs with its defaults (GOGC=100 for tricolor and Go, Boehm's
# default free-space divisor); GOGC, GODEBUG etc. in the environment reach tricolor and Go.
# The binary-trees outputs must be identical for all three contenders (the script checks it);
# GCBench's outputs must match apart from their timing lines.
#
# Usage: bench/run.sh            from anywhere; the build goes to build-bench/ at the top
# Environment:
#   DEPTH=21          binary-trees max depth (smaller for a quick run, e.g. DEPTH=16)
#   RUNS=3            runs per contender of each GC benchmark (the median is reported)
#   ALLOC_BATCH_MIB, ALLOC_ROUNDS   passed to alloc (see alloc.c)
#   BENCH_TIMEOUT=900 seconds before one benchmark process is killed
#   BUILDDIR=...      build directory (default: build-bench at the top of the checkout)
#   SKIP_ALLOC=1      leave out the alloc microbenchmark
# Logs of every run (stdout, stderr) and the report (report.md) go to $BUILDDIR/bench/results/.
# Exit status: 0 when everything ran and the outputs agreed, 1 otherwise (tables still print).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
builddir="${BUILDDIR:-$root/build-bench}"
depth="${DEPTH:-21}"
runs="${RUNS:-3}"
bench_timeout="${BENCH_TIMEOUT:-900}"

case "$depth" in '' | *[!0-9]*) echo "run.sh: DEPTH must be a number" >&2; exit 2 ;; esac
case "$runs" in '' | *[!0-9]* | 0) echo "run.sh: RUNS must be a positive number" >&2; exit 2 ;; esac

# --- tools -----------------------------------------------------------------------------------

missing_packages() {
    local pkgs=()
    command -v meson >/dev/null 2>&1 || pkgs+=(meson)
    command -v ninja >/dev/null 2>&1 || pkgs+=(ninja-build)
    command -v go >/dev/null 2>&1 || pkgs+=(golang-go)
    command -v cc >/dev/null 2>&1 || pkgs+=(gcc)
    if command -v pkg-config >/dev/null 2>&1; then
        pkg-config --exists bdw-gc || pkgs+=(libgc-dev)
        pkg-config --exists atomic_ops || pkgs+=(libatomic-ops-dev)
        pkg-config --exists hwloc || pkgs+=(libhwloc-dev)
        pkg-config --exists check || pkgs+=(check)
    else
        pkgs+=(pkg-config libgc-dev libatomic-ops-dev libhwloc-dev check)
    fi
    if ! command -v cc >/dev/null 2>&1 ||
        ! echo '#include <mimalloc.h>' | cc -E -x c - >/dev/null 2>&1; then
        pkgs+=(libmimalloc-dev)
    fi
    echo "${pkgs[@]}"
}

missing="$(missing_packages)"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "run.sh: installing $missing" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update >&2
        # shellcheck disable=SC2086 # one word per package
        apt-get install -y $missing >&2
    else
        echo "run.sh: missing: $missing" >&2
        echo "run.sh: as root: apt-get install -y meson ninja-build pkg-config libatomic-ops-dev" \
            "check libhwloc-dev libgc-dev libmimalloc-dev golang-go" >&2
        exit 2
    fi
fi

# --- build -----------------------------------------------------------------------------------

if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" "$root" -Dbench=true --buildtype=release >&2
else
    meson configure "$builddir" -Dbench=true >&2
fi
bindir="$builddir/bench"
# Only the benchmarks (and what they link), so a broken unrelated target does not stop us.
ninja -C "$builddir" bench/alloc bench/binary_trees_tricolor bench/binary_trees_boehm \
    bench/gcbench_tricolor bench/gcbench_boehm >&2

# Go: standard library only, no network. A private cache keeps it working without a $HOME.
export GOCACHE="${GOCACHE:-$builddir/go-cache}"
export GOPATH="${GOPATH:-$builddir/go-path}"
export GOPROXY=off GOTOOLCHAIN=local GOFLAGS=
mkdir -p "$bindir/go"
(cd "$here/go" && go build -o "$bindir/go/binary_trees_go" binary_trees.go)
(cd "$here/go" && go build -o "$bindir/go/gcbench_go" gcbench.go)

results="$bindir/results"
rm -rf "$results"
mkdir -p "$results"
report="$results/report.md"
: >"$report"
status=0

# Prints to stdout and appends to the report.
say() {
    printf '%s\n' "$*" | tee -a "$report"
}

# --- header ----------------------------------------------------------------------------------

say "# tricolor benchmarks"
say ""
say "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(uname -m), $(nproc) CPUs" \
    "($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo unknown))"
say "- $(cc --version | head -1); $(go version); Boehm GC $(pkg-config --modversion bdw-gc)"
say "- binary-trees depth $depth; $runs runs per contender, median wall time reported"
say ""

# --- alloc -----------------------------------------------------------------------------------

if [ "${SKIP_ALLOC:-0}" != 1 ]; then
    echo "run.sh: running alloc" >&2
    if timeout "$bench_timeout" "$bindir/alloc" >"$results/alloc.out" 2>"$results/alloc.err"; then
        tee -a "$report" <"$results/alloc.out"
    else
        say "alloc failed (exit status $?); its output:"
        say '```'
        tee -a "$report" <"$results/alloc.out"
        tee -a "$report" <"$results/alloc.err"
        say '```'
        status=1
    fi
    say ""
fi

# --- GC benchmarks ---------------------------------------------------------------------------

contenders=(tricolor boehm go)

binary_of() { # benchmark contender
    if [ "$2" = go ]; then
        echo "$bindir/go/${1}_go"
    else
        echo "$bindir/${1}_$2"
    fi
}

# The value of key=... in a result line.
field() { # line key
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# Runs one benchmark RUNS times per contender, interleaved; checks outputs; prints the table.
run_gc_bench() { # title benchmark filter-for-comparison args...
    local title="$1" bench="$2" filter="$3"
    shift 3
    local run c i bin line rc
    declare -A rows=()
    echo "run.sh: running $title" >&2
    for ((run = 1; run <= runs; run++)); do
        for ((i = 0; i < ${#contenders[@]}; i++)); do
            # Rotate the order each run, so no contender always goes first.
            c="${contenders[$(((i + run - 1) % ${#contenders[@]}))]}"
            bin="$(binary_of "$bench" "$c")"
            local out="$results/$bench.$c.$run.out" err="$results/$bench.$c.$run.err"
            rc=0
            timeout "$bench_timeout" "$bin" "$@" >"$out" 2>"$err" || rc=$?
            line="$(grep '^result:' "$err" | tail -1 || true)"
            if [ "$rc" != 0 ] || [ -z "$line" ]; then
                echo "run.sh: $bench for $c failed (exit status $rc); see $err" >&2
                tail -5 "$err" >&2 || true
                status=1
                continue
            fi
            rows[$c]+="$(field "$line" wall_ms) $(field "$line" peak_rss_kb)"
            rows[$c]+=" $(field "$line" gcs)"$'\n'
        done
    done

    # Outputs must agree (first run of each contender that produced one).
    local ref="" refc="" diffs=""
    for c in "${contenders[@]}"; do
        if [ ! -f "$results/$bench.$c.1.out" ] || [ -z "${rows[$c]:-}" ]; then
            continue
        fi
        if [ -z "$ref" ]; then
            ref="$results/$bench.$c.1.out"
            refc="$c"
        elif ! diff <($filter <"$ref") <($filter <"$results/$bench.$c.1.out") >/dev/null; then
            diffs+=" $c"
        fi
    done

    # The median run of each contender: "wall rss_kb gcs".
    declare -A med=()
    for c in "${contenders[@]}"; do
        [ -n "${rows[$c]:-}" ] || continue
        med[$c]="$(printf '%s' "${rows[$c]}" | sort -n -k1,1 |
            awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')"
    done
    local boehm_ms="" go_ms=""
    [ -n "${med[boehm]:-}" ] && boehm_ms="${med[boehm]%% *}"
    [ -n "${med[go]:-}" ] && go_ms="${med[go]%% *}"

    say "## $title"
    say ""
    say "| contender | wall ms | peak RSS MiB | GCs | wall vs Boehm | wall vs Go |"
    say "|---|---:|---:|---:|---:|---:|"
    for c in "${contenders[@]}"; do
        if [ -z "${med[$c]:-}" ]; then
            say "| $c | failed | | | | |"
            continue
        fi
        say "$(echo "${med[$c]}" | awk -v c="$c" -v b="$boehm_ms" -v g="$go_ms" '{
            vb = (b != "" && b > 0) ? sprintf("%.2f", $1 / b) : "n/a"
            vg = (g != "" && g > 0) ? sprintf("%.2f", $1 / g) : "n/a"
            printf "| %s | %d | %.1f | %d | %s | %s |\n", c, $1, $2 / 1024, $3, vb, vg
        }')"
    done
    say ""
    if [ -z "$ref" ]; then
        say "No contender completed $title."
        status=1
    elif [ -n "$diffs" ]; then
        say "**Outputs differ** from $refc's for:$diffs (logs in $results)."
        status=1
    else
        say "Outputs (stdout$([ "$filter" = cat ] || echo ', timing lines aside')) identical" \
            "for every contender that completed."
    fi
    say ""
}

# shellcheck disable=SC2317 # called through run_gc_bench's filter argument
no_timings() { grep -v 'msec$' || true; }

run_gc_bench "binary-trees (depth $depth)" binary_trees cat "$depth"
run_gc_bench "GCBench" gcbench no_timings

say "Wall ms: median of $runs runs. Ratios: this contender's wall time / Boehm's or Go's."
say "Report saved to $report"
exit "$status"
