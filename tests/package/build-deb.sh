#!/bin/sh
# tests/package/build-deb.sh OUTDIR [dpkg-buildpackage options]: builds the
# Debian package from this tree's files (tracked and new, not ignored) in a
# copy under OUTDIR/src, so that the tree itself stays unconfigured; the
# .deb lands in OUTDIR. Then runs lintian on it: errors fail, and every
# other tag is printed.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
shift
if ! command -v git >/dev/null; then
	echo "build-deb.sh: git is needed to list the tree's files (Debian package git)" >&2
	exit 1
fi
rm -rf "$out"
mkdir -p "$out/src"
out=$(cd "$out" && pwd)
(cd "$top" && git ls-files -co --exclude-standard | tar -cf - -T -) |
    tar -xf - -C "$out/src"
(cd "$out/src" && dpkg-buildpackage -us -uc -b "$@")
ls "$out"/quotapool_*.deb
if command -v lintian >/dev/null; then
	lintian --fail-on error --display-info "$out"/quotapool_*.changes
else
	echo "lintian is not installed (Debian package lintian)" >&2
	exit 1
fi
