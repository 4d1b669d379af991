#!/usr/bin/env bash
# bench/profile.sh: where a benchmark's time goes, by the collector's parts.
#
# Records PROGRAM ARGS... with `perf record` (CPU samples of every thread,
# user and kernel), then adds the samples up by function into the parts the
# collector is made of and prints one markdown table: part, share of all
# samples, and the functions that made up most of it. The parts:
#
#   allocation fast path   gc_alloc and what it inlines, the cache's next free slot
#   allocate-black         marking new objects while a cycle marks (mark_new_object, allocate_black)
#   refill                 a cache asking the central lists and the page heap for a span
#   sweeping               sweep_* (background sweeper and sweeping at allocation)
#   marking                scanning and greying (workers and assists)
#   barrier                the write barrier's slow path and its buffer
#   page faults            the kernel zeroing and mapping fresh pages, and the prefaulter
#   stops                  stopping and resuming threads (signals, futexes, yields)
#   program                the benchmark's own code
#   kernel, other          the kernel's other work (timer interrupts, scheduling, system calls)
#   other                  everything else (libc, the dynamic loader)
#
# The table names functions, not lines: an inlined helper counts in its
# caller. The shares are of samples, so a part that waits (a thread asleep
# in a stop) shows only the CPU it burns.
#
# Usage: bench/profile.sh PROGRAM [ARGS...]
#   e.g. bench/profile.sh build-bench/bench/gcbench_tricolor
#        bench/profile.sh build-bench/bench/binary_trees_tricolor 21
# Environment: PERF_FREQ (default 4000 samples per second per CPU).
# Needs perf (linux-perf) and kernel.perf_event_paranoid <= 2.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: bench/profile.sh PROGRAM [ARGS...]" >&2; exit 2; }
command -v perf >/dev/null 2>&1 || { echo "profile.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 2; }

data=$(mktemp /tmp/tricolor-profile.XXXXXX)
trap 'rm -f "$data" "$data.old"' EXIT
perf record -q -F "${PERF_FREQ:-4000}" -o "$data" -- "$@" >/dev/null
perf report -i "$data" --no-children --sort symbol -g none --percent-limit 0 --stdio 2>/dev/null |
    awk '
    /^#/ || !/%/ { next }
    {
        pct = $1; sub(/%/, "", pct)
        sym = $NF
        for (i = 2; i <= NF; i++) if ($i == "[.]" || $i == "[k]") { sym = $(i + 1); kern = ($i == "[k]"); break }
        part = classify(sym, kern)
        share[part] += pct
        if (top[part] == "" || n[part] < 4) { top[part] = top[part] (top[part] == "" ? "" : ", ") sym; n[part]++ }
    }
    function classify(s, k) {
        if (k) {
            if (s ~ /clear_page|zero_user|fault|set_pte|set_pmd|alloc_pages|rmqueue|huge_pmd|folio_add|lru_add|memcg/) return "page faults"
            if (s ~ /futex|signal|sig|send_|do_tkill|restore_sigcontext/) return "stops"
            return "kernel, other"
        }
        if (s ~ /^(gc_alloc|gc_alloc_noscan|gc_alloc_typed|next_free|span_next_free_index)$/) return "allocation fast path"
        if (s ~ /^(mark_new_object|allocate_black)$/) return "allocate-black"
        if (s ~ /^(mcache_|central_|mcentral|mheap_|pagealloc|chunk_|fixalloc|span_init|after_span_alloc|refill|span_count_bits)/) return "refill"
        if (s ~ /^sweep/) return "sweeping"
        if (s ~ /^(gc_write_ptr_slow|mark_shade_batch|wbbuf|gc_memmove|gc_memclr|gc_shade|gc_rescan|barrier)/) return "barrier"
        if (s ~ /^(scan_|greyobject|grey_pointer|find_object|mark_|gcw_|getempty|putfull|putempty|trygetfull|worker_|root_job|checkmark)/) return "marking"
        if (s ~ /^(populate|prefault)/) return "page faults"
        if (s ~ /^(thread_suspend|thread_resume|stop_the_world|start_the_world|suspend_handler|futex_|__sched_yield|sched_yield|syscall|thread_park)/) return "stops"
        if (s ~ /^(new_node|make_tree|populate_tree|bottom_up|top_down|main|build|check|item_check|bottom_up_tree|Populate|MakeTree|NewNode|time_construction|tree_size)/) return "program"
        return "other"
    }
    END {
        print "| part | share of samples | functions (largest first) |"
        print "|---|---|---|"
        split("allocation fast path;allocate-black;refill;sweeping;marking;barrier;page faults;stops;program;kernel, other;other", order, ";")
        for (i = 1; i <= 11; i++) {
            p = order[i]
            if (p in share) printf "| %s | %.1f%% | %s |\n", p, share[p], top[p]
        }
    }'
