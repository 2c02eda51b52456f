#!/bin/sh
# Run by tests/e2e/test_deb.py inside a throwaway Debian root (mmdebstrap's
# customize hook, with /proc, /sys and /dev mounted). Each step prints
# "=== NAME" and then what it found; the test reads the sections and
# asserts on them.
#   deb_scenario.sh N.deb N1.deb READMEDIR
# READMEDIR holds the README's "Install as a package" blocks:
# package-install.sh, package-enable.sh, package-apache.sh, package-nginx.conf.
#
# First round, on a clean root: install N (as the README says), look at
# what it installed, edit the conffile, upgrade to N+1, remove, purge, and
# compare the root with what it was. Second round, install again (the user
# is there already), follow the README's steps for the socket and the web
# servers, then remove: no web server is left pointing at what is gone.
# Third round: the administrator's own links of the snippets' names outlive
# a remove.
set -u
N=$1
N1=$2
README=$3
CONFIG=/etc/healthcheck/healthcheck.json
step() { printf '=== %s\n' "$1"; }
# What the maintainer scripts asked systemd to do since the last look.
asked_of_systemd() { cat /tmp/systemctl.log 2>/dev/null; : > /tmp/systemctl.log; }
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
# No policy-rc.d while the scenario runs: mmdebstrap's would keep the
# maintainer scripts from asking systemd anything, and a real machine has
# none. It is put back at the end, for mmdebstrap to remove.
mv /usr/sbin/policy-rc.d /tmp/policy-rc.d
# The README's `apt install` has no -y: nothing here can answer a question.
echo 'APT::Get::Assume-Yes "true";' > /etc/apt/apt.conf.d/90scenario
# No systemd runs in a chroot. A stand-in in systemctl's place (for sudo,
# root and the maintainer scripts alike) does with the real one what only
# changes files, and writes down in /tmp/systemctl.log what it would start,
# stop or reload. /run/systemd/system makes the maintainer scripts believe
# systemd runs, as on a real machine.
mv /usr/bin/systemctl /usr/bin/systemctl.real
cat > /usr/bin/systemctl <<'EOF'
#!/bin/sh
# The real one reads the unit files, never asks PID 1 (there is none here).
export SYSTEMD_OFFLINE=1
action=""
units=""
for word in "$@"; do
  case "$word" in
    -*) ;;
    *) if [ -z "$action" ]; then action=$word; else units="$units $word"; fi ;;
  esac
done
case "$action" in
  start|stop|restart|try-restart|reload|reload-or-restart|daemon-reload)
    echo "systemctl: would $action$units" | tee -a /tmp/systemctl.log ;;
  enable)
    /usr/bin/systemctl.real enable $units || exit
    case " $* " in
      *" --now "*)
        echo "systemctl: would start$units" | tee -a /tmp/systemctl.log
        printf '%s\n' $units >> /tmp/active-units ;;
    esac ;;
  is-active)  # Only what "enable --now" would have started runs.
    for unit in $units; do
      grep -qx "$unit" /tmp/active-units 2>/dev/null || { echo inactive; exit 3; }
    done
    echo active ;;
  *) exec /usr/bin/systemctl.real "$@" ;;
esac
EOF
chmod 0755 /usr/bin/systemctl
mkdir -p /run/systemd/system
# sudo looks the host name up.
echo "127.0.1.1 $(hostname)" >> /etc/hosts
# Where the README's "./build/healthcheck_*.deb" is.
mkdir -p /tmp/checkout/build
cp "$N" /tmp/checkout/build/

files > /tmp/before.list
cat /etc/passwd /etc/group > /tmp/accounts.before
step install
(cd /tmp/checkout && sh -e "$README/package-install.sh") >/tmp/install.log 2>&1; code $?
tail -3 /tmp/install.log
step systemd-on-install
asked_of_systemd
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
MANWIDTH=80 man -P cat healthcheck 2>/dev/null > /tmp/page
head -12 /tmp/page
step man-footer
tail -1 /tmp/page
step man-driver
man -w healthcheck-mysql healthcheck-postgresql 2>&1

printf '{\n  "services": ["memory_backend"],\n  "timeout_ms": 1234\n}\n' > "$CONFIG"
step upgrade
apt-get install -y -q -o Dpkg::Options::=--force-confold "$N1" >/tmp/upgrade.log 2>&1; code $?
grep -i 'Using current old file' /tmp/upgrade.log
step systemd-on-upgrade
asked_of_systemd
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
step systemd-on-remove
asked_of_systemd
step purge
apt-get purge -y -q healthcheck >/dev/null 2>&1; code $?
dpkg-query -W -f='${db:Status-Abbrev}\n' healthcheck 2>&1
step left-after-purge
files > /tmp/after.list
diff /tmp/before.list /tmp/after.list
step accounts-after-purge
cat /etc/passwd /etc/group | diff /tmp/accounts.before -

# Second round: the README's steps after the install.
step reinstall
(cd /tmp/checkout && sh -e "$README/package-install.sh") >/tmp/reinstall.log 2>&1; code $?
step readme-enable
sh -e "$README/package-enable.sh" 2>&1; code $?
systemctl is-enabled healthcheck.socket healthcheck.service 2>&1
step upgrade-while-enabled
asked_of_systemd >/dev/null
apt-get install -y -q -o Dpkg::Options::=--force-confold "$N1" >/dev/null 2>&1; code $?
asked_of_systemd
step apache-conf-without-proxy-fcgi
a2enconf -q healthcheck 2>&1 && apache2ctl configtest 2>&1; code $?
a2disconf -q healthcheck 2>&1
step readme-apache
sh -e "$README/package-apache.sh" 2>&1; code $?
step readme-nginx
site=/etc/nginx/sites-available/default
# The block's first line goes at the top of the site, the rest inside server {}.
tail -n +2 "$README/package-nginx.conf" > /tmp/inside-server
{ head -n 1 "$README/package-nginx.conf"; cat "$site"; } > /tmp/site
sed -e "/server_name _;/r /tmp/inside-server" /tmp/site > "$site"
# A second site serving /health too: the locations again, the upstream not.
{ echo 'server {'; echo '    listen 8080;'; echo '    server_name second;'
  cat /tmp/inside-server; echo '}'; } > /etc/nginx/sites-enabled/second
nginx -t 2>&1; code $?
step lighttpd-enable
lighty-enable-mod healthcheck >/dev/null 2>&1; code $?
lighttpd -tt -f /etc/lighttpd/lighttpd.conf 2>&1; code $?
# Each web server, in a network namespace of its own (its port 80 is not
# the machine's), asked for /health through the package's snippets. The
# socket unit cannot run without systemd: the responder is started on its
# socket as the service would be, as the service's user.
www_data=$(getent group www-data | cut -d: -f3)
install -d -o healthcheck -g healthcheck /run/healthcheck
setpriv --reuid=healthcheck --regid=healthcheck --groups "$www_data" \
  healthcheck --listen unix:/run/healthcheck/healthcheck.sock --socket-group www-data \
  --config "$CONFIG" 2>/tmp/responder.log &
responder=$!
install -d -o www-data -g www-data /run/lighttpd
unshare -n sh -s <<'EOS'
ip link set lo up
# A server that is still starting is asked again, for up to 10 s (the
# refusals before are not said: the status is what counts); one that was
# stopped is waited for until its port is free.
ask() {
  curl -s -m 5 --retry 10 --retry-connrefused --retry-delay 1 -o /tmp/body \
    -w '%{http_code} %{content_type}\n' http://127.0.0.1/health && cat /tmp/body && echo
}
gone() {
  tries=0
  while curl -s -m 1 -o /dev/null http://127.0.0.1/ && [ $tries -lt 100 ]; do
    sleep 0.1; tries=$((tries + 1))
  done
}
echo "=== serve-through-nginx"
nginx </dev/null && ask
nginx -s stop 2>/dev/null; gone
echo "=== serve-through-apache"
apache2ctl start </dev/null >/dev/null 2>&1 && ask
apache2ctl stop >/dev/null 2>&1; gone
echo "=== serve-through-lighttpd"
lighttpd -f /etc/lighttpd/lighttpd.conf </dev/null && ask
kill "$(cat /run/lighttpd.pid)"; gone
EOS
kill "$responder"
wait "$responder"
step responder-log
cat /tmp/responder.log
step remove-with-web-servers
apt-get remove -y -q healthcheck >/tmp/remove.log 2>&1; code $?
grep '^healthcheck:' /tmp/remove.log
ls /etc/apache2/conf-enabled/ /etc/lighttpd/conf-enabled/ | grep healthcheck
apache2ctl configtest 2>&1; code $?
lighttpd -tt -f /etc/lighttpd/lighttpd.conf 2>&1; code $?
# lighttpd -tt passes a bin-path that is gone; only starting shows it.
step lighttpd-starts-after-remove
unshare -n sh -s <<'EOS'
ip link set lo up
# Not on this script's standard input, which the shell reads it from.
lighttpd -D -f /etc/lighttpd/lighttpd.conf </dev/null 2>/tmp/lighttpd.err &
server=$!
curl -s -m 5 --retry 10 --retry-connrefused --retry-delay 1 -o /dev/null -w '%{http_code}\n' \
  http://127.0.0.1/health
if kill "$server" 2>/dev/null; then echo running; else echo "not running"; fi
wait "$server"
cat /tmp/lighttpd.err
EOS
step purge-with-web-servers
apt-get purge -y -q healthcheck >/dev/null 2>&1; code $?
ls /etc/apache2/conf-enabled/ /etc/lighttpd/conf-enabled/ | grep healthcheck
apache2ctl configtest 2>&1; code $?
lighttpd -tt -f /etc/lighttpd/lighttpd.conf 2>&1; code $?

# Third round: links of the snippets' names that the administrator made to
# files of their own (say, from make install's examples) outlive a remove.
step remove-keeps-the-administrators-links
echo '# the administrator'"'"'s own' > /etc/apache2/my-healthcheck.conf
echo '# the administrator'"'"'s own' > /etc/lighttpd/my-healthcheck.conf
ln -s ../my-healthcheck.conf /etc/apache2/conf-enabled/healthcheck.conf
ln -s ../my-healthcheck.conf /etc/lighttpd/conf-enabled/50-healthcheck.conf
(cd /tmp/checkout && sh -e "$README/package-install.sh") >/dev/null 2>&1; code $?
apt-get remove -y -q healthcheck >/dev/null 2>&1; code $?
readlink /etc/apache2/conf-enabled/healthcheck.conf /etc/lighttpd/conf-enabled/50-healthcheck.conf

mv /tmp/policy-rc.d /usr/sbin/policy-rc.d
exit 0
