#!/bin/sh
# Reads tests/heapprof.c's heap profiles with the real tool, `go tool pprof`,
# and checks that it names the three allocation sites with their shares of
# alloc_space and inuse_space within 15% of the truth, that the site whose
# objects were all dropped has (almost) nothing in use, and that pprof reads
# the profile without a word on stderr. Three profiles: one written with
# gc_write_heap_profile, one at exit by GCHEAPPROFILE, one on a signal
# (GODEBUG=heapprofilesignal).
#
# Usage: heapprof.sh PROGRAM. Fails where Go is not installed: tests/setup.sh
# installs it.
set -eu
prog=$1
if ! command -v go >/dev/null 2>&1; then
    echo "go not found: run tests/setup.sh, which installs golang-go" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# go tool wants a home for its caches, which a test environment may lack.
export HOME="${HOME:-$tmp}" GOCACHE="$tmp/gocache" GOFLAGS=

"$prog" "$tmp/api.pb.gz"
GCHEAPPROFILE="$tmp/exit.pb.gz" "$prog" -
GCHEAPPROFILE="$tmp/signal.pb.gz" GODEBUG=heapprofilesignal="$("$prog" sigusr2)" "$prog" signal

fail=0
# share PROFILE INDEX FUNCTION: the function's flat% in pprof's -top, 0 if
# it is not listed.
share() {
    go tool pprof -top -nodecount=100 -sample_index="$2" "$prog" "$1" >"$tmp/top" 2>"$tmp/err"
    if [ -s "$tmp/err" ]; then
        echo "FAIL: go tool pprof wrote on stderr for $1 ($2):"
        cat "$tmp/err"
        fail=1
    fi
    awk -v fn="$3" '$NF == fn { sub("%", "", $2); print $2; found = 1 }
                    END { if (!found) print 0 }' "$tmp/top"
}

# check PROFILE INDEX FUNCTION TRUTH: within 15% of the truth (percent).
check() {
    got=$(share "$1" "$2" "$3")
    if awk -v g="$got" -v t="$4" 'BEGIN { d = g - t; if (d < 0) d = -d; exit !(d <= 0.15 * t) }'
    then
        echo "ok: $(basename "$1") $2 $3: $got% (truth $4%)"
    else
        echo "FAIL: $(basename "$1") $2 $3: $got%, truth $4% (15% tolerance)"
        cat "$tmp/top"
        fail=1
    fi
}

# at_most PROFILE INDEX FUNCTION LIMIT: freed, so at most LIMIT percent
# (a stale pointer on a stack may keep an object or two).
at_most() {
    got=$(share "$1" "$2" "$3")
    if awk -v g="$got" -v l="$4" 'BEGIN { exit !(g <= l) }'; then
        echo "ok: $(basename "$1") $2 $3: $got% (freed)"
    else
        echo "FAIL: $(basename "$1") $2 $3: $got% in use, but all of it was dropped"
        cat "$tmp/top"
        fail=1
    fi
}

for p in "$tmp/api.pb.gz" "$tmp/exit.pb.gz" "$tmp/signal.pb.gz"; do
    check "$p" alloc_space churn_small_objects 50
    check "$p" alloc_space keep_large_blocks 33.33
    check "$p" alloc_space keep_medium_blocks 16.67
    check "$p" inuse_space keep_large_blocks 66.67
    check "$p" inuse_space keep_medium_blocks 33.33
    at_most "$p" inuse_space churn_small_objects 2
done
exit $fail
