#!/bin/sh
# Applies each deliberate bug in tests/mutants/ in turn and shows that the
# tests its header names catch it (tests/mutants/README.md).
#
#   sh tests/mutants/run.sh [--no-baseline] [NAME...]
#
# NAME is a patch's name without .patch (all patches by default). The tree
# (tracked and untracked files, not the ignored build directories) is copied
# to $MUTANTS_DIR (default /tmp/tricolor-mutants-$USER), built once there
# (debugoptimized, with assertions), and then, for each mutant: the patch is
# applied, ninja rebuilds what it touched, `meson test` runs the tests named
# by its Killed-by: line (each under its own meson timeout), and the patch is
# reversed. First, unless --no-baseline, the same tests run on the unpatched
# copy: a kill means something only if they pass without the bug.
#
# One line per mutant: KILLED (a named test failed), SURVIVED (all passed),
# EQUIVALENT (an Equivalent: line says why no test can tell; only checked to
# apply), STALE (the patch no longer applies to the tree), BROKEN (the
# mutant does not build, or names no test). Exits 1 if any mutant is
# SURVIVED, STALE or BROKEN, or the baseline fails; 0 otherwise. The logs
# are in $MUTANTS_DIR/logs/NAME.txt. TESTS='a b' runs those tests instead of
# each header's (to find which tests catch a new mutant).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${MUTANTS_DIR:-/tmp/tricolor-mutants-${USER:-$(id -u)}}
src=$work/src
logs=$work/logs

baseline=1
if [ "${1:-}" = --no-baseline ]; then
    baseline=0
    shift
fi

if [ $# -gt 0 ]; then
    names="$*"
else
    names=$(cd "$here" && ls -- *.patch | sed 's/\.patch$//')
fi
for n in $names; do
    [ -f "$here/$n.patch" ] || { echo "run.sh: no such mutant: $here/$n.patch" >&2; exit 2; }
done

header() { # the value of header field $2 of mutant $1
    sed -n '/^diff --git/q; s/^# *'"$2"': *//p' "$here/$1.patch" | tr '\n' ' '
}

# The copy: a file is written only where it differs from the tree, so
# that ninja rebuilds only what changed since the last run here (a file a
# mutant left behind after an interrupted run included).
mkdir -p "$src" "$logs"
rm -rf "$work/stage"
mkdir "$work/stage"
(cd "$root" && git ls-files -z -co --exclude-standard |
    tar --null --ignore-failed-read -cf - -T - 2>/dev/null) | tar -xf - -C "$work/stage"
(cd "$work/stage" && find . -type f) | while IFS= read -r f; do
    if ! cmp -s "$work/stage/$f" "$src/$f"; then
        mkdir -p "$(dirname "$src/$f")"
        cp "$work/stage/$f" "$src/$f"
    fi
done
rm -rf "$work/stage"
[ -d "$src/build" ] || meson setup "$src/build" "$src" --buildtype=debugoptimized >"$logs/setup.txt"
if ! ninja -C "$src/build" >"$logs/build.txt" 2>&1; then
    echo "run.sh: the unpatched tree does not build: $logs/build.txt" >&2
    exit 1
fi

if [ $baseline = 1 ]; then
    all=""
    for n in $names; do
        [ -n "$(header "$n" Equivalent)" ] || all="$all ${TESTS:-$(header "$n" Killed-by)}"
    done
    all=$(printf '%s\n' $all | sort -u | tr '\n' ' ')
    if [ -n "$all" ]; then
        echo "baseline: $all"
        # shellcheck disable=SC2086
        if ! meson test -C "$src/build" --no-rebuild --print-errorlogs $all >"$logs/baseline.txt" 2>&1; then
            echo "run.sh: the named tests fail without any mutant: $logs/baseline.txt" >&2
            exit 1
        fi
    fi
fi

status=0
for n in $names; do
    p="$here/$n.patch"
    log="$logs/$n.txt"
    start=$(date +%s)
    if ! (cd "$src" && git apply --check "$p" >"$log" 2>&1); then
        echo "STALE      $n: the patch no longer applies to this tree; make the same bug" \
            "by hand and regenerate it (tests/mutants/README.md): $log"
        status=1
        continue
    fi
    eq=$(header "$n" Equivalent)
    if [ -n "$eq" ]; then
        echo "EQUIVALENT $n: $eq"
        continue
    fi
    tests=${TESTS:-$(header "$n" Killed-by)}
    if [ -z "$tests" ]; then
        echo "BROKEN     $n: the header names no Killed-by: tests"
        status=1
        continue
    fi
    (cd "$src" && git apply "$p")
    if ! ninja -C "$src/build" >>"$log" 2>&1; then
        (cd "$src" && git apply -R "$p")
        echo "BROKEN     $n: the mutant does not build: $log"
        status=1
        continue
    fi
    # shellcheck disable=SC2086
    if meson test -C "$src/build" --no-rebuild --print-errorlogs $tests >>"$log" 2>&1; then
        verdict=SURVIVED
        status=1
        failed=""
    else
        verdict=KILLED
        failed=$(sed -n 's/^ *[0-9]*\/[0-9]* *\([^ ]*\) *\(FAIL\|TIMEOUT\|ERROR\).*/\1/p' "$log" |
            sort -u | tr '\n' ' ')
    fi
    (cd "$src" && git apply -R "$p")
    printf '%-10s %s (%ss; tests: %s%s)\n' "$verdict" "$n" "$(($(date +%s) - start))" \
        "$(echo $tests)" "${failed:+; failed: $(echo $failed)}"
done
# Leave the build matching the unpatched tree for the next run.
ninja -C "$src/build" >>"$logs/build.txt" 2>&1 || true
exit $status
