#!/bin/sh
# Mark-termination pause (gctrace's third clock figure) with N live weak
# pointers vs the same heap without them; median over CYCLES cycles each.
# Usage: sh bench/weak_pause.sh [BUILD_DIR] [N] [CYCLES]
set -e
B=${1:-build}
N=${2:-100000}
C=${3:-60}
EXE=$(mktemp /tmp/weak_pause.XXXXXX)
cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude bench/weak_pause.c -o "$EXE" \
    "$B/runtime/libtricolor.a" -lpthread -ldl -latomic_ops -lhwloc -lm
median() {
    # the third "+"-separated clock figure of each gctrace line, skipping the
    # first 5 cycles (the heap being built), in microseconds
    GODEBUG=gctrace=1 "$EXE" "$N" "$C" "$1" 2>&1 >/dev/null |
        sed -n 's/.* \([0-9.]*\)+\([0-9.]*\)+\([0-9.]*\) ms clock.*/\3/p' | tail -n +6 |
        sort -g | awk '{v[NR]=$1} END {printf "%.0f", v[int((NR+1)/2)]*1000}'
}
PLAIN=$(median plain)
WEAK=$(median weak)
rm -f "$EXE"
echo "mark termination pause, median of cycles 6..$C: $N objects without weak pointers ${PLAIN} us, with $N weak pointers ${WEAK} us, difference $((WEAK - PLAIN)) us"
