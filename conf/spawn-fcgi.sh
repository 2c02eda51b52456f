#!/bin/sh
# Start the healthcheck responder behind a unix socket with spawn-fcgi
# (Debian package spawn-fcgi), as root: the socket belongs to the web
# server's user and group with mode 0660, and the responder drops to an
# unprivileged user. Never give spawn-fcgi -p PORT without -a 127.0.0.1: its
# default address is 0.0.0.0, and the FastCGI socket must not face the network.
# Each setting can be overridden from the environment.
#
# Works from nothing: /run is emptied at every boot, so the socket's folder
# is made when missing (root's, mode 0755: the socket's own mode 0660 decides
# who connects). The folder must be root's and writable by root alone, made
# here or not: spawn-fcgi chmods and chowns the new socket by path, so
# anyone who can write the folder could swap the socket for a symlink and
# have root give any file to the web server's user (/tmp is refused for
# that reason). Refuses before touching anything, with a message and the
# sysexits code: 69 a program is missing, 78 the configuration is missing,
# 77 not root, 67 an unknown user or group, or root as the user to run as,
# 73 the folder cannot be made or is unsafe.
set -eu
SOCKET="${HEALTHCHECK_SOCKET:-/run/healthcheck/healthcheck.sock}"
BINARY="${HEALTHCHECK_BINARY:-/usr/local/bin/healthcheck}"
CONFIG="${HEALTHCHECK_CONFIG:-/etc/healthcheck/healthcheck.json}"
SOCKET_USER="${HEALTHCHECK_SOCKET_USER:-www-data}"
SOCKET_GROUP="${HEALTHCHECK_SOCKET_GROUP:-www-data}"
RUN_USER="${HEALTHCHECK_RUN_USER:-nobody}"
RUN_GROUP="${HEALTHCHECK_RUN_GROUP:-nogroup}"
WORKERS="${HEALTHCHECK_WORKERS:-2}"

fail() {
  echo "spawn-fcgi.sh: $2" >&2
  exit "$1"
}

# Shell built-ins only up to here, so this message comes even with a bare PATH.
command -v spawn-fcgi >/dev/null ||
  fail 69 "spawn-fcgi is not installed (Debian: apt-get install spawn-fcgi)"
[ -f "$BINARY" ] && [ -x "$BINARY" ] ||
  fail 69 "no healthcheck program at $BINARY (make install, or set HEALTHCHECK_BINARY)"
[ -f "$CONFIG" ] ||
  fail 78 "no configuration file at $CONFIG (copy one from conf/, or set HEALTHCHECK_CONFIG)"
[ "$(id -u)" = 0 ] ||
  fail 77 "run me as root: I hand the socket to $SOCKET_USER and drop to $RUN_USER"

require_name() {  # database, name, the variable that sets it
  getent "$1" "$2" >/dev/null ||
    fail 67 "no $1 entry \"$2\" on this machine (set $3)"
}
require_name passwd "$SOCKET_USER" HEALTHCHECK_SOCKET_USER
require_name group "$SOCKET_GROUP" HEALTHCHECK_SOCKET_GROUP
require_name passwd "$RUN_USER" HEALTHCHECK_RUN_USER
require_name group "$RUN_GROUP" HEALTHCHECK_RUN_GROUP
[ "$(id -u "$RUN_USER")" != 0 ] && [ "$(getent group "$RUN_GROUP" | cut -d: -f3)" != 0 ] ||
  fail 67 "the responder never runs as root (HEALTHCHECK_RUN_USER, HEALTHCHECK_RUN_GROUP)"

FOLDER="$(dirname "$SOCKET")"
if [ ! -d "$FOLDER" ]; then
  [ ! -e "$FOLDER" ] || fail 73 "$FOLDER exists and is not a folder"
  # umask 022: parents made on the way are 0755 too, whatever our caller's umask.
  (umask 022 && mkdir -p "$FOLDER") || fail 73 "cannot make the socket's folder $FOLDER"
fi
[ ! -L "$FOLDER" ] || fail 73 "the socket's folder $FOLDER is a symlink; name the real folder"
[ "$(stat -c %u "$FOLDER")" = 0 ] && [ -z "$(find "$FOLDER" -maxdepth 0 -perm /022)" ] ||
  fail 73 "the socket's folder $FOLDER must be root's and writable by root alone (another user could swap the socket for a symlink); use a folder like /run/healthcheck"

# -n: stay in the foreground (for a supervisor, or a terminal); drop it to daemonize.
exec spawn-fcgi -n -s "$SOCKET" -M 0660 -U "$SOCKET_USER" -G "$SOCKET_GROUP" \
    -u "$RUN_USER" -g "$RUN_GROUP" -- \
    "$BINARY" --config "$CONFIG" --workers "$WORKERS"
