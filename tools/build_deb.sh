#!/bin/sh
# Builds healthcheck_VERSION_ARCH.deb with dpkg-buildpackage from debian/.
#
#   tools/build_deb.sh           copy the tree to $DEB_STAGE and build there
#   tools/build_deb.sh --again   build $DEB_STAGE again as it is now, without
#                                cleaning (a test bumps its version.h first)
#
# dpkg-buildpackage cleans its tree (make clean) and writes into the tree's
# parent folder, so it runs on a copy: the working tree's build/ and its
# parent stay as they are. The version is src/version.h's alone (what
# --version prints): debian/changelog's one entry is written from it here.
# DEB_STAGE (default build/deb) holds the copy, DEB_OUT (default build) gets
# the package.
set -eu
cd "$(dirname "$0")/.."
STAGE=${DEB_STAGE:-build/deb}
OUT=${DEB_OUT:-build}
TREE="$STAGE/healthcheck"
if [ "${1:-}" = --again ]; then
  CLEAN=-nc
else
  CLEAN=
  rm -rf "$STAGE"
  mkdir -p "$TREE"
  # The tracked files, as they are now (a new file counts once added, so
  # that nothing of the developer's own, a conf/local.json with a password,
  # lands in the package by the install target's globs; a tracked file
  # deleted and not yet committed is left out).
  git ls-files -z --cached |
    tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$TREE"
fi
# The copy's version (--again: perhaps a bumped one), as its Makefile reads it.
VERSION=$(make -s --no-print-directory -C "$TREE" version)
[ -n "$VERSION" ] || { echo "build_deb.sh: no kVersion in $TREE/src/version.h" >&2; exit 1; }
# The date of the last commit, so two builds of one commit are the same.
WHEN=$(date -R -d "@$(git log -1 --format=%ct)")
printf 'healthcheck (%s) unstable; urgency=medium\n\n  * Version %s.\n\n -- healthcheck developers <healthcheck@example.org>  %s\n' \
  "$VERSION" "$VERSION" "$WHEN" > "$TREE/debian/changelog"
(cd "$TREE" && dpkg-buildpackage -b -us -uc -j2 $CLEAN)
mkdir -p "$OUT"
# The package, and its debug symbols (dh_strip's healthcheck-dbgsym).
for package in "$STAGE"/healthcheck_"$VERSION"_*.deb "$STAGE"/healthcheck-dbgsym_"$VERSION"_*.deb; do
  mv "$package" "$OUT/"
  echo "$OUT/$(basename "$package")"
done
