#!/bin/sh
# lua_trees.sh [BUILD_DIR] [DEPTH] [ROUNDS]: binary-trees in Lua alone, on
# stock Lua and on the port, in alternating rounds: bench/lua_bench.sh with
# the one program binary_trees=DEPTH (its output: a line per run, then the
# medians as a table). Defaults: build, depth 16, 5 rounds.
set -eu
exec "$(dirname "$0")/lua_bench.sh" "${1:-build}" "${3:-5}" "binary_trees=${2:-16}"
