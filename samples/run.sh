#!/bin/sh
# Builds tricolor and runs the trees sample with gctrace on.
set -eu
cd "$(dirname "$0")/.."
sh tests/setup.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
GODEBUG=gctrace=1 ./build/samples/trees "${1:-3}"
