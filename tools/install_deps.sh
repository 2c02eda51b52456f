#!/bin/sh
# Installs the Debian packages named on the command line that are missing,
# with apt-get (as root, or through sudo). Does nothing when all are there.
#
# The web servers among them (nginx, apache2, lighttpd, haproxy) would start
# as system services on install and fight over port 80, which makes dpkg
# fail on a fresh machine (and prometheus would listen on every address's
# port 9090); the project only ever starts them itself, on
# loopback ports of its own. So service starts are refused for the length of
# the install (policy-rc.d), unless the machine already has a policy.
set -eu

missing=""
for package in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $package"
  fi
done
if [ -z "$missing" ]; then
  echo "deps: all packages present"
  exit 0
fi
echo "deps: installing$missing"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
POLICY=/usr/sbin/policy-rc.d
added_policy=no
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# Added by healthcheck tools/install_deps.sh for the install only.\nexit 101\n' |
    $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 0755 "$POLICY"
  added_policy=yes
fi
remove_policy() {
  if [ "$added_policy" = yes ]; then $SUDO rm -f "$POLICY"; fi
}
trap remove_policy EXIT

$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
