#!/bin/sh
# Start the healthcheck responder behind a unix socket with spawn-fcgi
# (Debian package spawn-fcgi). The socket belongs to the web server's user
# and group with mode 0660; the responder runs as an unprivileged user.
# Never give spawn-fcgi -p PORT without -a 127.0.0.1: its default address is
# 0.0.0.0, and the FastCGI socket must not face the network.
# Each setting can be overridden from the environment.
set -eu
SOCKET="${HEALTHCHECK_SOCKET:-/run/healthcheck/healthcheck.sock}"
BINARY="${HEALTHCHECK_BINARY:-/usr/local/bin/healthcheck}"
CONFIG="${HEALTHCHECK_CONFIG:-/etc/healthcheck/healthcheck.json}"
SOCKET_USER="${HEALTHCHECK_SOCKET_USER:-www-data}"
SOCKET_GROUP="${HEALTHCHECK_SOCKET_GROUP:-www-data}"
RUN_USER="${HEALTHCHECK_RUN_USER:-nobody}"
RUN_GROUP="${HEALTHCHECK_RUN_GROUP:-nogroup}"
WORKERS="${HEALTHCHECK_WORKERS:-2}"

# -n: stay in the foreground (for a supervisor, or a terminal); drop it to daemonize.
exec spawn-fcgi -n -s "$SOCKET" -M 0660 -U "$SOCKET_USER" -G "$SOCKET_GROUP" \
    -u "$RUN_USER" -g "$RUN_GROUP" -- \
    "$BINARY" --config "$CONFIG" --workers "$WORKERS"
