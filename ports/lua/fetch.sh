#!/bin/sh
# fetch.sh DESTDIR: fetch Debian bookworm's lua5.4 source package (5.4.4) through a
# private apt configuration, check the upstream tarball against a pinned sha256, and
# unpack it as DESTDIR/lua-5.4.4.
#
# The system's apt configuration is never read for sources nor written: APT_CONFIG
# points at an apt.conf under DESTDIR whose source list, package lists and cache all
# live under DESTDIR. Only apt-get's own binaries and the Debian archive keyring are
# shared with the system.
#
# Exit 0: DESTDIR/lua-5.4.4 holds the source. Exit 77 (meson's "skipped"): apt-get,
# the network or the package is not available; the message says which. Exit 1: the
# tarball was fetched but its checksum is wrong (never build from it).
set -eu

dest=${1:?usage: fetch.sh DESTDIR}
version=5.4.4
tarball=lua5.4_${version}.orig.tar.gz
# sha256 of lua-5.4.4.tar.gz as published on lua.org, which Debian ships unchanged
# as its .orig tarball.
sha256=164c7849653b80ae67bec4b7473b884bf5cc8d2dca05653475ec2ed27b9ebf61
srcdir=$dest/lua-$version

skip() { echo "ports/lua/fetch.sh: skipped: $*" >&2; exit 77; }

if [ -f "$srcdir/src/lapi.c" ] && [ -f "$dest/.fetched-$sha256" ]; then
	exit 0
fi
command -v apt-get >/dev/null 2>&1 || skip "apt-get not found (the Lua source comes from Debian's lua5.4 source package)"
command -v sha256sum >/dev/null 2>&1 || skip "sha256sum not found"

mkdir -p "$dest/apt/lists/partial" "$dest/apt/cache/archives/partial" \
	"$dest/apt/etc/sources.list.d" "$dest/apt/etc/preferences.d" \
	"$dest/apt/etc/apt.conf.d" "$dest/download"
dest_abs=$(cd "$dest" && pwd)
apt=$dest_abs/apt
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if [ -f "$keyring" ]; then
	signed="[signed-by=$keyring]"
else
	signed="[trusted=yes]" # the pinned sha256 below is then the only check
fi
echo "deb-src $signed http://deb.debian.org/debian bookworm main" >"$apt/etc/sources.list"
cat >"$apt/apt.conf" <<CONF
Dir::Etc "$apt/etc";
Dir::Etc::sourcelist "$apt/etc/sources.list";
Dir::Etc::sourceparts "$apt/etc/sources.list.d";
Dir::Etc::preferencesparts "$apt/etc/preferences.d";
Dir::Etc::parts "$apt/etc/apt.conf.d";
Dir::Etc::trusted "$keyring";
Dir::Etc::trustedparts "/etc/apt/trusted.gpg.d";
Dir::State "$apt";
Dir::State::Lists "$apt/lists";
Dir::State::status "/dev/null";
Dir::Cache "$apt/cache";
Dir::Cache::archives "$apt/cache/archives";
Debug::NoLocking "true";
APT::Sandbox::User "";
Acquire::Retries "1";
Acquire::http::Timeout "20";
CONF
export APT_CONFIG="$apt/apt.conf"

if ! apt-get -q update >"$apt/update.log" 2>&1; then
	tail -5 "$apt/update.log" >&2
	skip "apt-get update failed (no network?), log in $apt/update.log"
fi
if ! ls "$apt/lists/"*Sources* >/dev/null 2>&1; then
	tail -3 "$apt/update.log" >&2
	skip "apt-get update fetched no source index (no network?), log in $apt/update.log"
fi
if ! (cd "$dest/download" && apt-get -q source --download-only lua5.4) >"$apt/source.log" 2>&1; then
	tail -5 "$apt/source.log" >&2
	skip "apt-get source lua5.4 failed, log in $apt/source.log"
fi
[ -f "$dest/download/$tarball" ] || skip "the source package has no $tarball (not 5.4.4?)"
got=$(sha256sum "$dest/download/$tarball" | cut -d' ' -f1)
if [ "$got" != "$sha256" ]; then
	echo "ports/lua/fetch.sh: $tarball has sha256 $got, expected $sha256: refusing to build it" >&2
	exit 1
fi
rm -rf "$srcdir"
tar -xzf "$dest/download/$tarball" -C "$dest"
[ -f "$srcdir/src/lapi.c" ] || { echo "ports/lua/fetch.sh: $tarball did not unpack to $srcdir" >&2; exit 1; }
touch "$dest/.fetched-$sha256"
echo "ports/lua/fetch.sh: Lua $version source in $srcdir (sha256 checked)"
