#!/bin/sh
# Builds build/healthcheck_VERSION_ARCH.deb (issue 14 prototype, work in
# progress). dpkg-buildpackage cleans its tree (make clean) and writes into
# the tree's parent, so it runs on a copy under build/deb/: the working
# tree's build/ and its parent stay as they are. The version comes from
# src/version.h alone: debian/changelog's one entry is written from it here.
set -eu
cd "$(dirname "$0")/.."
STAGE=build/deb
rm -rf "$STAGE"
mkdir -p "$STAGE/healthcheck"
# Tracked files and new ones not ignored: what a commit of this tree would hold.
git ls-files -z --cached --others --exclude-standard |
  xargs -0 cp --parents -t "$STAGE/healthcheck" 2>/dev/null || true
VERSION=$(sed -n 's/.*kVersion = "\(.*\)";/\1/p' src/version.h)
[ -n "$VERSION" ] || { echo "build_deb.sh: no kVersion in src/version.h" >&2; exit 1; }
# The date of the last commit, so two builds of one commit are the same.
WHEN=$(date -R -d "@$(git log -1 --format=%ct)")
printf 'healthcheck (%s) unstable; urgency=medium\n\n  * Version %s.\n\n -- healthcheck developers <healthcheck@example.org>  %s\n' \
  "$VERSION" "$VERSION" "$WHEN" > "$STAGE/healthcheck/debian/changelog"
(cd "$STAGE/healthcheck" && dpkg-buildpackage -b -us -uc -j2)
mv "$STAGE"/healthcheck_*.deb build/
ls build/healthcheck_*.deb
