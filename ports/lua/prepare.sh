#!/bin/sh
# prepare.sh SRCDIR OUTDIR [PATCH...]: copies Lua's sources (SRCDIR, as
# fetch.sh unpacked them) into OUTDIR and applies the patches in order, so
# that the stock build (no patch) and the port (ports/lua/patches/*) are
# compiled from the same files. Run by meson at build time (a custom target
# whose outputs are the copied files).
set -eu
src=$1
out=$2
shift 2
mkdir -p "$out"
for f in "$src"/*.c "$src"/*.h; do
	cp "$f" "$out/"
done
for p in "$@"; do
	if ! patch -s -p1 -d "$out" <"$p"; then
		echo "ports/lua/prepare.sh: $p does not apply to $src" >&2
		exit 1
	fi
done
