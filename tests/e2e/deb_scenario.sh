#!/bin/sh
# Run by tests/e2e/test_deb.py inside a throwaway Debian root (mmdebstrap's
# customize hook, with /proc, /sys and /dev mounted): installs package N,
# looks at what it installed, upgrades to N+1 over an edited conffile, then
# removes and purges it. Each step prints "=== NAME" and then what it
# found; the test reads the sections and asserts on them.
#   deb_scenario.sh N.deb N1.deb
set -u
N=$1
N1=$2
CONFIG=/etc/healthcheck/healthcheck.json
step() { printf '=== %s\n' "$1"; }
code() { printf 'exit %s\n' "$1"; }
# Everything on the root's file system but caches, logs and package
# databases, which an install always changes; and what is in /etc.
files() {
  find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
    -o -path /var/cache -o -path /var/log -o -path /var/lib/apt -o -path /var/lib/dpkg \) -prune \
    -o -print | sort
  find /etc -type f -exec md5sum {} + | sort -k 2
}
export DEBIAN_FRONTEND=noninteractive

files > /tmp/before.list
cat /etc/passwd /etc/group > /tmp/accounts.before
step install
apt-get install -y -q "$N" >/tmp/install.log 2>&1; code $?
tail -3 /tmp/install.log
step version
healthcheck --version
step package-version
dpkg-query -W -f='${Version}\n' healthcheck
step conffiles
dpkg-query -W -f='${Conffiles}\n' healthcheck | awk 'NF {print $1}'
step test-config-as-root
healthcheck --test-config --config "$CONFIG" 2>&1; code $?
step test-config-as-service-user
setpriv --reuid=healthcheck --regid=healthcheck --clear-groups \
  healthcheck --test-config --config "$CONFIG" 2>&1; code $?
step check
healthcheck --check --config "$CONFIG"; code $?
step user
getent passwd healthcheck
step enabled
systemctl is-enabled healthcheck.socket healthcheck.service 2>&1
step verify
systemd-analyze verify /lib/systemd/system/healthcheck.socket /lib/systemd/system/healthcheck.service 2>&1
code $?
step man-warnings
man --warnings -E UTF-8 healthcheck 2>&1 >/dev/null
step man
MANWIDTH=80 man -P cat healthcheck 2>/dev/null | head -12
step man-driver
man -w healthcheck-mysql healthcheck-postgresql 2>&1

printf '{\n  "services": ["memory_backend"],\n  "timeout_ms": 1234\n}\n' > "$CONFIG"
step upgrade
apt-get install -y -q -o Dpkg::Options::=--force-confold "$N1" >/tmp/upgrade.log 2>&1; code $?
grep -i 'conffile\|Using current old file' /tmp/upgrade.log
step version-after-upgrade
healthcheck --version
step conffile-after-upgrade
cat "$CONFIG"
step shipped-conffile-after-upgrade
cat "$CONFIG.dpkg-dist"
step test-config-after-upgrade
healthcheck --test-config --config "$CONFIG" 2>&1; code $?

step remove
apt-get remove -y -q healthcheck >/dev/null 2>&1; code $?
dpkg-query -W -f='${db:Status-Abbrev}\n' healthcheck
ls /etc/healthcheck
step purge
apt-get purge -y -q healthcheck >/dev/null 2>&1; code $?
dpkg-query -W -f='${db:Status-Abbrev}\n' healthcheck 2>&1
step left-after-purge
files > /tmp/after.list
diff /tmp/before.list /tmp/after.list
step accounts-after-purge
cat /etc/passwd /etc/group | diff /tmp/accounts.before -
exit 0
