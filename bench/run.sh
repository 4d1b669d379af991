#!/usr/bin/env bash
# bench/run.sh: builds and runs every benchmark in bench/, tricolor side by side with Boehm GC,
# Go 1.19, glibc malloc and mimalloc, in this one run, and prints markdown tables.
#
# What it measures:
#   alloc          ns per allocation, tricolor (GOGC=off) vs malloc, mimalloc and the zeroing
#                  calloc and mi_zalloc (see alloc.c)
#   binary-trees   Benchmarks Game binary-trees at depth $DEPTH, with one thread and with two:
#                  tricolor, Boehm, Go, and mimalloc with malloc and free by hand
#   GCBench        Ellis/Kovac/Boehm GCBench: tricolor, Boehm, Go
#   latency        per-push latency with 200 MB of live 1 KiB messages: tricolor, Boehm, Go, and
#                  no-GC baselines (alone, and beside a spinning thread) that show the machine's
#                  own noise (see latency.c)
#   pacing         cycles and peak heap with 64 MiB live under GOGC=100, GOGC=50 and
#                  GOGC=off GOMEMLIMIT=100MiB: tricolor, Go (see pacing.c)
#   spike          RSS after 1 GiB live is dropped, scavenger CPU, RSS after the "free OS
#                  memory" call: tricolor, Boehm, Go (see spike.c)
#
# How to read the output: each GC benchmark gets a table
#   contender | wall ms | peak RSS MiB | GCs | wall vs Boehm | wall vs Go
# where wall ms is the median of $RUNS runs (contenders interleaved, so machine noise hits all
# of them alike), peak RSS is getrusage's ru_maxrss of that run, GCs is the collector's own
# count of collections, and "wall vs X" is this contender's wall time divided by X's (below 1:
# faster than X). Only the ratios mean anything: absolute times depend on the machine and on
# what else ran. Every contender runs with its defaults (GOGC=100 for tricolor and Go, Boehm's
# default free-space divisor); GOGC, GODEBUG etc. in the environment reach tricolor and Go.
# The binary-trees outputs must be identical for every contender (the script checks it);
# GCBench's outputs must match apart from their timing lines.
# latency runs $RUNS times per contender too, and each of its figures is the median over the runs
# (the worst push also as the maximum over all runs); spike also runs $RUNS times and shows every
# run (when its first collection comes varies from run to run); pacing runs once per contender
# and setting (its figures are counts and sizes, not timings).
# The load average is printed at the start and the end: on a busy machine the latency figures
# mostly measure the other processes.
#
# Usage: bench/run.sh            from anywhere; the build goes to build-bench/ at the top
# Environment:
#   DEPTH=21          binary-trees max depth (smaller for a quick run, e.g. DEPTH=16)
#   RUNS=3            runs per contender of each GC benchmark (the median is reported)
#   ALLOC_BATCH_MIB, ALLOC_ROUNDS   passed to alloc (see alloc.c)
#   BENCH_TIMEOUT=900 seconds before one benchmark process is killed
#   BUILDDIR=...      build directory (default: build-bench at the top of the checkout)
#   SKIP_ALLOC=1      leave out the alloc microbenchmark
#   SKIP_TREES=1, SKIP_GCBENCH=1, SKIP_LATENCY=1, SKIP_PACING=1, SKIP_SPIKE=1
#                     leave out binary-trees, GCBench, latency, pacing, spike
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
    # Not used by this script: bench/heapprof_cost.sh times with GNU time,
    # bench/heapprof_instructions.sh counts instructions with valgrind.
    [ -x /usr/bin/time ] || pkgs+=(time)
    command -v valgrind >/dev/null 2>&1 || pkgs+=(valgrind)
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
            "check libhwloc-dev libgc-dev libmimalloc-dev golang-go time valgrind" >&2
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
    bench/binary_trees_mimalloc \
    bench/gcbench_tricolor bench/gcbench_boehm bench/latency_tricolor bench/latency_boehm \
    bench/pacing_tricolor bench/spike_tricolor bench/spike_boehm >&2

# Go: standard library only, no network. A private cache keeps it working without a $HOME.
export GOCACHE="${GOCACHE:-$builddir/go-cache}"
export GOPATH="${GOPATH:-$builddir/go-path}"
export GOPROXY=off GOTOOLCHAIN=local GOFLAGS=
mkdir -p "$bindir/go"
for prog in binary_trees gcbench latency pacing spike; do
    (cd "$here/go" && go build -o "$bindir/go/${prog}_go" "$prog.go")
done

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
say "- load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) (on $(nproc) CPUs)"
say ""

# --- alloc -----------------------------------------------------------------------------------

if [ "${SKIP_ALLOC:-0}" != 1 ]; then
    echo "run.sh: running alloc" >&2
    rc=0
    timeout "$bench_timeout" "$bindir/alloc" >"$results/alloc.out" 2>"$results/alloc.err" || rc=$?
    tee -a "$report" <"$results/alloc.out"
    if [ "$rc" != 0 ]; then
        say ""
        say "alloc failed (exit status $rc); its messages:"
        say '```'
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
    local boehm_ms="" go_ms="" mi_ms="" with_mi=0
    [ -n "${med[boehm]:-}" ] && boehm_ms="${med[boehm]%% *}"
    [ -n "${med[go]:-}" ] && go_ms="${med[go]%% *}"
    [ -n "${med[mimalloc]:-}" ] && mi_ms="${med[mimalloc]%% *}"
    [[ " ${contenders[*]} " == *" mimalloc "* ]] && with_mi=1

    say "## $title"
    say ""
    if [ "$with_mi" = 1 ]; then
        say "| contender | wall ms | peak RSS MiB | GCs | wall vs Boehm | wall vs Go | wall vs mimalloc |"
        say "|---|---:|---:|---:|---:|---:|---:|"
    else
        say "| contender | wall ms | peak RSS MiB | GCs | wall vs Boehm | wall vs Go |"
        say "|---|---:|---:|---:|---:|---:|"
    fi
    for c in "${contenders[@]}"; do
        if [ -z "${med[$c]:-}" ]; then
            say "| $c | failed | | | | |$([ "$with_mi" = 1 ] && echo ' |')"
            continue
        fi
        say "$(echo "${med[$c]}" | awk -v c="$c" -v b="$boehm_ms" -v g="$go_ms" -v m="$mi_ms" \
            -v with_mi="$with_mi" '{
            vb = (b != "" && b > 0) ? sprintf("%.2f", $1 / b) : "n/a"
            vg = (g != "" && g > 0) ? sprintf("%.2f", $1 / g) : "n/a"
            vm = (m != "" && m > 0) ? sprintf("%.2f", $1 / m) : "n/a"
            printf "| %s | %d | %.1f | %d | %s | %s |", c, $1, $2 / 1024, $3, vb, vg
            if (with_mi == 1)
                printf " %s |", vm
            printf "\n"
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

if [ "${SKIP_TREES:-0}" != 1 ]; then
    # mimalloc: the same program with malloc and free by hand (binary_trees.c).
    contenders=(tricolor boehm go mimalloc)
    run_gc_bench "binary-trees (depth $depth)" binary_trees cat "$depth"
    run_gc_bench "binary-trees (depth $depth, 2 threads)" binary_trees cat "$depth" 2
    contenders=(tricolor boehm go)
fi
if [ "${SKIP_GCBENCH:-0}" != 1 ]; then
    run_gc_bench "GCBench" gcbench no_timings
fi
if [ "${SKIP_TREES:-0}" != 1 ] || [ "${SKIP_GCBENCH:-0}" != 1 ]; then
    say "Wall ms: median of $runs runs. Ratios: this contender's wall time / Boehm's, Go's or" \
        "mimalloc's (binary-trees with malloc and free by hand)."
    say ""
fi

# --- helpers for latency, pacing, spike ------------------------------------------------------

# Runs one program; on success sets $line to its result line and returns 0.
line=""
run_one() { # label out-file err-file command...
    local label="$1" out="$2" err="$3" rc=0
    shift 3
    line=""
    timeout "$bench_timeout" "$@" >"$out" 2>"$err" || rc=$?
    line="$(grep '^result:' "$err" | tail -1 || true)"
    if [ "$rc" != 0 ] || [ -z "$line" ]; then
        echo "run.sh: $label failed (exit status $rc); see $err" >&2
        tail -5 "$err" >&2 || true
        status=1
        line=""
        return 1
    fi
    return 0
}

# Median of the numbers on stdin, one per line ("n/a" if there are none).
median() { # (grep finding no number must not end the script under set -e and pipefail)
    { grep -E '^[0-9.]+$' || true; } | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "n/a"; else print v[int((NR + 1) / 2)] }'
}

# Largest of the numbers on stdin ("n/a" if there are none).
maximum() {
    { grep -E '^[0-9.]+$' || true; } | sort -g | tail -1 | grep . || echo n/a
}

# a / b with two decimals, or n/a.
ratio() { # a b
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else printf "n/a" }'
}

# --- latency ---------------------------------------------------------------------------------

lat_fields=(wall_ms worst_push_us p9999_us p999_us p99_us over_1ms gcs worst_pause_us
    longest_stop_us total_pause_ms peak_rss_kb)

run_latency() {
    # tricolor: the default, fresh memory made huge pages by the prefaulter ahead of allocation
    # (GODEBUG=thpgrowth=3, runtime/prefault.h). tricolor-thp1: fresh memory in huge pages
    # faulted in by the allocating thread (GODEBUG=thpgrowth=1, the default before), because on a
    # virtual machine the first touch of a fresh 2 MiB huge page can stall one push for
    # milliseconds while the heap grows. tricolor-4k: its heap on 4 KiB pages
    # (GODEBUG=disablethp=1). tricolor-promote: fresh memory in 4 KiB pages and reused 2 MiB
    # ranges promoted to huge pages in the background (GODEBUG=thpgrowth=0, runtime/promote.h).
    # baseline-busy: the baseline with a second thread spinning beside it, the floor for any
    # program (a concurrent collector's) that keeps two CPUs busy.
    local names=(tricolor tricolor-thp1 tricolor-promote tricolor-4k boehm go baseline baseline-busy) run i c f
    declare -A vals=() # "contender field" -> one value per line
    echo "run.sh: running latency" >&2
    for ((run = 1; run <= runs; run++)); do
        for ((i = 0; i < ${#names[@]}; i++)); do
            c="${names[$(((i + run - 1) % ${#names[@]}))]}"
            local cmd=()
            case "$c" in
            go) cmd=("$bindir/go/latency_go") ;;
            tricolor-4k) cmd=(env GODEBUG=disablethp=1 "$bindir/latency_tricolor") ;;
            tricolor-promote) cmd=(env GODEBUG=thpgrowth=0 "$bindir/latency_tricolor") ;;
            tricolor-thp1) cmd=(env GODEBUG=thpgrowth=1 "$bindir/latency_tricolor") ;;
            baseline) cmd=("$bindir/latency_tricolor" baseline) ;;
            baseline-busy) cmd=("$bindir/latency_tricolor" baseline-busy) ;;
            *) cmd=("$bindir/latency_$c") ;;
            esac
            run_one "latency for $c" "$results/latency.$c.$run.out" \
                "$results/latency.$c.$run.err" "${cmd[@]}" || continue
            for f in "${lat_fields[@]}"; do
                vals["$c $f"]+="$(field "$line" "$f")"$'\n'
            done
        done
    done

    # Outputs (the ring's checksum) must agree among the collectors.
    local ref="" diffs=""
    for c in tricolor tricolor-thp1 tricolor-promote tricolor-4k boehm go; do
        [ -n "${vals["$c wall_ms"]:-}" ] || continue
        if [ -z "$ref" ]; then
            ref="$results/latency.$c.1.out"
        elif ! diff "$ref" "$results/latency.$c.1.out" >/dev/null; then
            diffs+=" $c"
        fi
    done

    declare -A med=()
    local worst_max=()
    for c in "${names[@]}"; do
        for f in "${lat_fields[@]}"; do
            med["$c $f"]="$(printf '%s' "${vals["$c $f"]:-}" | median)"
        done
        worst_max+=("$(printf '%s' "${vals["$c worst_push_us"]:-}" | maximum)")
    done

    say "## latency (200,000 live messages of 1 KiB, 1,000,000 pushes)"
    say ""
    say "| contender | wall ms | worst push µs | worst push µs, max of runs | pushes over 1 ms |" \
        "p99.99 µs | p99.9 µs | p99 µs | GCs | worst cycle's pauses µs | longest stop µs |" \
        "total pauses ms | peak RSS MiB |" \
        "wall vs Boehm | wall vs Go | worst push vs Boehm |"
    say "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for ((i = 0; i < ${#names[@]}; i++)); do
        c="${names[$i]}"
        if [ "${med["$c wall_ms"]}" = n/a ]; then
            say "| $c | failed | | | | | | | | | | | | | | |"
            continue
        fi
        local label="$c" vb="n/a" vg="n/a" wb="n/a"
        if [ "$c" = baseline ]; then
            label="baseline (no GC, no allocation)"
        elif [ "$c" = baseline-busy ]; then
            label="baseline, a second thread spinning"
        else
            [ "$c" = tricolor-4k ] && label="tricolor, GODEBUG=disablethp=1"
            [ "$c" = tricolor-promote ] && label="tricolor, GODEBUG=thpgrowth=0"
            [ "$c" = tricolor-thp1 ] && label="tricolor, GODEBUG=thpgrowth=1"
            vb="$(ratio "${med["$c wall_ms"]}" "${med["boehm wall_ms"]}")"
            vg="$(ratio "${med["$c wall_ms"]}" "${med["go wall_ms"]}")"
            wb="$(ratio "${med["$c worst_push_us"]}" "${med["boehm worst_push_us"]}")"
        fi
        local rss
        rss="$(awk -v k="${med["$c peak_rss_kb"]}" 'BEGIN {
            if (k ~ /^[0-9.]+$/) printf "%.1f", k / 1024; else printf "n/a" }')"
        say "| $label | ${med["$c wall_ms"]} | ${med["$c worst_push_us"]} | ${worst_max[$i]} |" \
            "${med["$c over_1ms"]} | ${med["$c p9999_us"]} | ${med["$c p999_us"]} |" \
            "${med["$c p99_us"]} | ${med["$c gcs"]} |" \
            "${med["$c worst_pause_us"]} | ${med["$c longest_stop_us"]} |" \
            "${med["$c total_pause_ms"]} | $rss | $vb | $vg | $wb |"
    done
    say ""
    say "Each figure is the median of $runs runs (the worst push also as the maximum over all" \
        "runs). Pauses are the collectors' own records: tricolor and Go, the stop-the-world time" \
        "of one cycle (both pauses added); Boehm, one whole collection (it stops the allocating" \
        "thread for all of it). The baseline runs the same timed loop for 2 s without any" \
        "collector or allocation: its worst push is the machine's noise floor. The second" \
        "baseline runs it with another thread of the process spinning all along, as a" \
        "concurrent collector's workers keep a second CPU busy: its worst push is the floor" \
        "for any program that uses two CPUs at once."
    if [ -z "$ref" ]; then
        say "No collector completed latency."
        status=1
    elif [ -n "$diffs" ]; then
        say "**Outputs differ** for:$diffs (logs in $results)."
        status=1
    else
        say "Checksums of the live messages identical for every collector that completed."
    fi
    say ""
}

# --- pacing ----------------------------------------------------------------------------------

run_pacing() {
    local modes=("GOGC=100" "GOGC=50" "GOGC=off GOMEMLIMIT=100MiB") m c bin tag
    echo "run.sh: running pacing" >&2
    say "## pacing (64 MiB live, 1 GiB allocated)"
    say ""
    say "| setting | contender | cycles | predicted | cycles / predicted | peak heap MiB |" \
        "peak heap / live | ideal goal MiB | peak RSS MiB | peak Sys-HeapReleased MiB |" \
        "churn ms |"
    say "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for m in "${modes[@]}"; do
        for c in tricolor go; do
            bin="$bindir/pacing_tricolor"
            [ "$c" != go ] || bin="$bindir/go/pacing_go"
            tag="$(printf '%s' "$m" | tr ' =' '_-')"
            # shellcheck disable=SC2086 # $m is one or two VAR=value words
            if ! run_one "pacing ($m) for $c" "$results/pacing.$c.$tag.out" \
                "$results/pacing.$c.$tag.err" env -u GOGC -u GOMEMLIMIT $m "$bin"; then
                say "| $m | $c | failed | | | | | | | | |"
                continue
            fi
            local cy pr heap live
            cy="$(field "$line" cycles)"
            pr="$(field "$line" predicted)"
            heap="$(field "$line" peak_heap_mib)"
            live="$(field "$line" live_mib)"
            say "| $m | $c | $cy | $pr | $(ratio "$cy" "$pr") | $heap |" \
                "$(ratio "$heap" "$live") | $(field "$line" goal_mib) |" \
                "$(field "$line" peak_rss_mib) | $(field "$line" peak_retained_mib) |" \
                "$(field "$line" wall_ms) |"
        done
    done
    say ""
    say "One run per contender and setting. predicted = allocation / (ideal goal - live), ideal" \
        "goal = live x (1 + GOGC/100), lowered to GOMEMLIMIT; live is the live set's own size" \
        "(64.5 MiB for tricolor, 65.5 MiB for Go, whose slice headers are 24 bytes). Peak heap" \
        "is heap_alloc / HeapAlloc sampled every 16 MiB allocated; peak RSS is ru_maxrss."
    say ""
}

# --- spike -----------------------------------------------------------------------------------

run_spike() {
    local names=(tricolor boehm go) c bin run i
    declare -A rows=() # "contender run" -> result line
    echo "run.sh: running spike" >&2
    for ((run = 1; run <= runs; run++)); do
        for ((i = 0; i < ${#names[@]}; i++)); do
            c="${names[$(((i + run - 1) % ${#names[@]}))]}"
            bin="$bindir/spike_$c"
            [ "$c" != go ] || bin="$bindir/go/spike_go"
            run_one "spike for $c" "$results/spike.$c.$run.out" "$results/spike.$c.$run.err" \
                "$bin" || continue
            rows["$c $run"]="$line"
        done
    done
    say "## spike (1 GiB live dropped, then a 16 MiB workload for 6 s)"
    say ""
    say "| contender | run | ms from the drop to RSS < 96 MiB | ms from the drop to the first" \
        "GC | ms from that GC to RSS < 96 MiB | scavenger CPU ms | scavenger, % of one CPU |" \
        "process CPU ms | RSS at 6 s MiB | RSS after free-OS-memory MiB | peak RSS MiB |" \
        "GCs in the 6 s |"
    say "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for c in "${names[@]}"; do
        for ((run = 1; run <= runs; run++)); do
            line="${rows["$c $run"]:-}"
            if [ -z "$line" ]; then
                say "| $c | $run | failed | | | | | | | | | |"
                continue
            fi
            say "| $c | $run | $(field "$line" time_to_96mib_ms) | $(field "$line" first_gc_ms) |" \
                "$(field "$line" gc_to_96mib_ms) | $(field "$line" scavenger_cpu_ms) |" \
                "$(field "$line" scavenger_cpu_pct) | $(field "$line" process_cpu_ms) |" \
                "$(field "$line" rss_before_free_mib) | $(field "$line" rss_after_free_mib) |" \
                "$(field "$line" peak_rss_mib) | $(field "$line" gcs) |"
        done
    done
    say ""
    say "RSS (MiB) after the drop in run 1, every 250 ms:"
    say ""
    say "| ms after the drop | tricolor | boehm | go |"
    say "|---:|---:|---:|---:|"
    # One row per time: the value of each contender's "rss: t_ms=T rss_mib=V" line at T.
    local t row v
    for ((t = 250; t <= 6000; t += 250)); do
        row="| $t |"
        for c in "${names[@]}"; do
            v="$(sed -n "s/^rss: t_ms=$t rss_mib=//p" "$results/spike.$c.1.out" 2>/dev/null |
                head -1)"
            row+=" ${v:-n/a} |"
        done
        say "$row"
    done
    say ""
    say "The \"free OS memory\" call: gc_free_os_memory (tricolor), GC_gcollect_and_unmap" \
        "(Boehm), debug.FreeOSMemory (Go); the 16 MiB ring is still live then. tricolor's" \
        "scavenger CPU is the runtime's own count (scavenge_cpu_ns); Boehm has no background" \
        "scavenger and Go does not expose its own. When the first collection after the drop" \
        "comes depends on the heap goal the fill left behind (up to 2 GiB) and on how fast" \
        "fresh pages are faulted in; the time after it is the collector's release of memory." \
        "The scavenger's CPU share is over the whole 6 s."
    local ok=1
    for c in "${names[@]}"; do
        for ((run = 1; run <= runs; run++)); do
            [ -n "${rows["$c $run"]:-}" ] || continue
            grep -q '^ring of .* intact' "$results/spike.$c.$run.out" || ok=0
        done
    done
    if [ "$ok" = 1 ]; then
        say "Every contender that completed kept its live ring intact."
    else
        say "**A live ring was damaged** (logs in $results)."
        status=1
    fi
    say ""
}

if [ "${SKIP_LATENCY:-0}" != 1 ]; then
    run_latency
fi
if [ "${SKIP_PACING:-0}" != 1 ]; then
    run_pacing
fi
if [ "${SKIP_SPIKE:-0}" != 1 ]; then
    run_spike
fi

say "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
say ""
say "Report saved to $report"
exit "$status"
