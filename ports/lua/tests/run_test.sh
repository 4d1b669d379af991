#!/bin/sh
# run_test.sh LUA TEST.lua EXPECTED: runs TEST.lua with LUA and fails unless
# it exits 0 and prints exactly EXPECTED.
# run_test.sh --missing WHAT LUA TEST.lua EXPECTED: the same for a test that
# needs WHAT, which the port does not have yet: output that differs is a
# skip (77) naming WHAT; a crash or a non-zero exit is still a failure.
# run_test.sh --runs N ...: runs it N times, each run checked (races that
# concurrent marking could lose need several tries to show).
# run_test.sh --skip REASON: exits 77 (meson's skip) saying why, where the
# Lua source could not be fetched.
set -u
missing=
runs=1
if [ "$1" = --runs ]; then
	runs=$2
	shift 2
fi
case $1 in
--skip)
	echo "skipped: $2" >&2
	exit 77
	;;
--missing)
	missing=$2
	shift 2
	;;
esac
lua=$1 script=$2 expected=$3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for run in $(seq "$runs"); do
	"$lua" "$script" >"$out"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "$lua $script: exit status $rc (run $run of $runs)" >&2
		exit 1
	fi
	if ! diff -u "$expected" "$out" >&2; then
		if [ -n "$missing" ]; then
			echo "skipped: the port does not have $missing yet (output differs as expected)" >&2
			exit 77
		fi
		echo "$lua $script: output differs from $expected (run $run of $runs)" >&2
		exit 1
	fi
done
