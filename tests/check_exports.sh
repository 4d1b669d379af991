#!/bin/sh
# Checks what the built libraries define for the programs that link them:
# the public static archive and the shared library must define, as global
# symbols, only names that start with gc_, and each must define every name
# that include/tricolor.h, or a header it includes by a relative path
# (tricolor/write_barrier.h), marks GC_API.
#
# Usage: check_exports.sh NM HEADER STATIC_ARCHIVE SHARED_LIBRARY
#
# Allowed besides: in the shared library, __start_tricolor_state and
# __stop_tricolor_state, the bounds of the runtime's own state (platform.h,
# RUNTIME_STATE), which the linker itself puts in the dynamic symbol table;
# and, in a build with -Db_sanitize=address, AddressSanitizer's ODR indicator
# __odr_asan.gc_NAME beside each exported variable gc_NAME.
set -eu
nm=$1 header=$2 archive=$3 shared=$4

# The header and the headers it includes as "path", relative to its own
# directory, one a line.
headers=$(printf '%s\n' "$header"
          sed -n 's/^#include "\(.*\)".*$/\1/p' "$header" | sed "s|^|$(dirname "$header")/|")
for h in $headers; do
    [ -r "$h" ] || { echo "$header includes $h, which cannot be read"; exit 1; }
done

# The names marked GC_API, functions and variables, one a line.
api=$(cat $headers | grep 'GC_API' | grep -v '#define' | grep -o 'gc_[A-Za-z0-9_]*[(;]' |
      tr -d '(;' || true)
[ -n "$api" ] || { echo "no GC_API names found in $headers"; exit 1; }

fail=0
# check LABEL DEFINED ALLOWED: DEFINED and ALLOWED (names allowed besides
# gc_*) are names one a line.
check() {
    label=$1 defined=$2 allowed=$3
    bad=$(printf '%s\n' "$defined" | grep -v -e '^gc_' -e '^__odr_asan\.gc_' |
          grep -vxF "$allowed" || true)
    if [ -n "$bad" ]; then
        echo "$label defines global symbols outside gc_*:"
        printf '  %s\n' $bad
        fail=1
    fi
    for name in $api; do
        if ! printf '%s\n' "$defined" | grep -qx "$name"; then
            echo "$label does not define $name (GC_API in $(basename "$header") or a header it includes)"
            fail=1
        fi
    done
    echo "$label: $(printf '%s\n' "$defined" | grep -c .) global definitions"
}

# nm prints "value type name" for each symbol, plus member headers and blank
# lines for an archive; the name is the last field of three.
out=$("$nm" -g --defined-only "$archive")
check "$archive" "$(printf '%s\n' "$out" | awk 'NF == 3 { print $3 }')" ''

out=$("$nm" -D --defined-only "$shared")
check "$shared" "$(printf '%s\n' "$out" | awk 'NF == 3 { print $3 }')" \
    "$(printf '%s\n' __start_tricolor_state __stop_tricolor_state)"

exit $fail
