#!/bin/sh
# Installs what building and testing tricolor needs, if it is missing.
# Debian or Ubuntu, as root (or with sudo available). Go is for the heap
# profile test (`go tool pprof`) and bench/go; gdb for the watchdog's
# backtraces; patch for ports/lua (Lua's source is patched at build time).
# BENCH=1 adds what the benchmarks compare against: Boehm GC
# and mimalloc.
set -eu
need="meson ninja-build pkg-config libatomic-ops-dev check libhwloc-dev gcc gdb golang-go patch"
[ "${BENCH:-0}" = 1 ] && need="$need libgc-dev libmimalloc-dev"
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
echo "tricolor: installing$missing" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
