#!/bin/sh
# run_test.sh LUA TEST.lua EXPECTED: runs TEST.lua with LUA and fails unless
# it exits 0 and prints exactly EXPECTED. run_test.sh --skip REASON: exits
# 77 (meson's skip) saying why, where the Lua source could not be fetched.
set -u
if [ "$1" = --skip ]; then
	echo "skipped: $2" >&2
	exit 77
fi
lua=$1 script=$2 expected=$3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$lua" "$script" >"$out"
rc=$?
if [ $rc -ne 0 ]; then
	echo "$lua $script: exit status $rc" >&2
	exit 1
fi
if ! diff -u "$expected" "$out" >&2; then
	echo "$lua $script: output differs from $expected" >&2
	exit 1
fi
