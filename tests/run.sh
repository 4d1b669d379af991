#!/bin/sh
# Builds tricolor and runs the whole test suite twice: a normal build, then
# one with AddressSanitizer and UndefinedBehaviorSanitizer.
set -eu
cd "$(dirname "$0")/.."
sh tests/setup.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build
meson test -C build --print-errorlogs
[ -d build-sanitize ] || meson setup build-sanitize -Db_sanitize=address,undefined \
    -Db_lundef=false >/dev/null
ninja -C build-sanitize
# Fake stacks would hide stack roots from the collector; leak checking
# does not know about collected memory.
ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-sanitize --print-errorlogs
