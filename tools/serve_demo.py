#!/usr/bin/env python3
"""make run: serve http://127.0.0.1:8080/health through a real nginx in front
of healthcheck, on an SQLite database made for the demo under build/demo.

    python3 tools/serve_demo.py [--port 8080] [--smoke]

--smoke makes one request, prints it and stops (for tests and CI); otherwise
it serves until Ctrl-C and then stops everything it started. A port another
program holds is refused before anything starts, naming a free one to pass
instead (make run PORT=N): the URL stays the one asked for, never a surprise."""
import argparse
import errno
import fcntl
import http.client
import os
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT_S = 10
# How far past a busy port to look for a free one to suggest.
PORTS_TO_SUGGEST_FROM = 100
MAX_PORT = 65535


def make_demo_folder(folder):
    """build/demo: an app database with an empty failed_jobs table, and the
    shipped sql-callable example as the configuration."""
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(os.path.join(folder, "nginx"))
    database = os.path.join(folder, "app.db")
    connection = sqlite3.connect(database)
    connection.execute("CREATE TABLE failed_jobs (id INTEGER PRIMARY KEY, job TEXT)")
    connection.commit()
    connection.close()
    config = os.path.join(folder, "healthcheck.json")
    shutil.copy(os.path.join(REPO, "conf", "sql-callable.json"), config)
    for path in (folder, os.path.join(folder, "nginx")):
        os.chmod(path, 0o755)
    for path in (database, config):
        os.chmod(path, 0o644)
    return config


def hold_folder_lock(folder):
    """Locks FOLDER.lock beside the folder, or stops: another demo uses it."""
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    lock = open(folder + ".lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise SystemExit("demo: another demo is running from %s; stop it (Ctrl-C) first, "
                         "or give this one its own --folder" % folder)
    return lock


def listen_problem(port):
    """Why nginx could not listen on 127.0.0.1:port, or None. Bound the way
    nginx binds (SO_REUSEADDR), so a closed connection of an earlier demo
    still in TIME_WAIT does not count as busy."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen(1)
            return None
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return "already in use by another program"
            return "not usable here (%s)" % error.strerror


def tcp_port(text):
    """argparse type: a port number nginx can be told to listen on."""
    port = int(text)
    if not 1 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError("%s is not a port (1 to %d)" % (text, MAX_PORT))
    return port


def refuse_port(port, problem):
    """Stops with a message naming a free port to use instead."""
    candidates = range(port + 1, min(port + 1 + PORTS_TO_SUGGEST_FROM, MAX_PORT + 1))
    free = next((str(candidate) for candidate in candidates
                 if listen_problem(candidate) is None), "N")
    raise SystemExit("demo: 127.0.0.1:%d is %s; nothing was started. Pick a free port: "
                     "make run PORT=%s (or --port %s)" % (port, problem, free, free))


def wait_until(check, what):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise SystemExit("demo: %s did not start within %d s" % (what, START_TIMEOUT_S))


def connects(address):
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(address)
            return True
        except OSError:
            return False


def start_responder(binary, config, socket_path, log):
    """As root: the shipped spawn-fcgi script (socket for www-data, the
    responder as nobody). Otherwise: the binary itself, as you."""
    if os.geteuid() == 0:
        env = dict(os.environ, HEALTHCHECK_SOCKET=socket_path, HEALTHCHECK_BINARY=binary,
                   HEALTHCHECK_CONFIG=config)
        args = [os.path.join(REPO, "conf", "spawn-fcgi.sh")]
    else:
        env = None
        args = [binary, "--config", config, "--listen", "unix:" + socket_path, "--workers", "2"]
    return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)


def start_nginx(folder, socket_path, port, log):
    prefix = os.path.join(folder, "nginx")
    user = "www-data" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    with open(os.path.join(REPO, "nginx", "nginx.conf")) as template:
        text = template.read()
    for word, value in {"@PREFIX@": prefix, "@USER@": user, "@PORT@": str(port),
                        "@UPSTREAM@": "unix:" + socket_path,
                        "@NGINX_CONF_DIR@": "/etc/nginx"}.items():
        text = text.replace(word, value)
    config = os.path.join(prefix, "nginx.conf")
    with open(config, "w") as out:
        out.write(text)
    return subprocess.Popen(["nginx", "-c", config, "-p", prefix, "-e",
                             os.path.join(prefix, "error.log")],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)


def stop(process, sig):
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def fetch(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(REPO, "build", "healthcheck"))
    parser.add_argument("--folder", default=os.path.join(REPO, "build", "demo"))
    parser.add_argument("--port", type=tcp_port, default=8080)
    parser.add_argument("--smoke", action="store_true", help="one request, then stop")
    args = parser.parse_args()
    folder = os.path.abspath(args.folder)
    # One demo per folder: a second one would empty the first one's folder
    # under it (database, socket, logs). Held until this process ends.
    lock = hold_folder_lock(folder)
    problem = listen_problem(args.port)
    if problem:
        refuse_port(args.port, problem)

    # Ctrl-C and SIGTERM both stop the demo and everything it started, even
    # when a shell started us with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    config = make_demo_folder(folder)
    socket_path = os.path.join(folder, "healthcheck.sock")
    log = open(os.path.join(folder, "demo.log"), "ab")
    responder = start_responder(os.path.abspath(args.binary), config, socket_path, log)
    nginx = None
    try:
        wait_until(lambda: connects(socket_path), "the healthcheck responder")
        nginx = start_nginx(folder, socket_path, args.port, log)
        wait_until(lambda: connects(("127.0.0.1", args.port)), "nginx")
        status, headers, body = fetch(args.port)
        print("healthcheck demo: nginx on 127.0.0.1:%d -> healthcheck -> %s" %
              (args.port, os.path.join(folder, "app.db")))
        print("GET /health -> %d %s" % (status, body.decode()))
        if args.smoke:
            return 0 if status == 200 else 1
        print("\nTry it:\n    curl -i http://127.0.0.1:%d/health\n" % args.port)
        print("Make it fail:\n    sqlite3 %s \"INSERT INTO failed_jobs (job) VALUES ('x')\"\n"
              "(or: python3 -c \"import sqlite3; c = sqlite3.connect('%s'); "
              "c.execute('INSERT INTO failed_jobs (job) VALUES (1)'); c.commit()\")\n" %
              (os.path.join(folder, "app.db"), os.path.join(folder, "app.db")))
        print("Why it failed: %s\nCtrl-C stops." % os.path.join(folder, "nginx", "error.log"))
        while responder.poll() is None and nginx.poll() is None:
            time.sleep(0.5)
        print("demo: a server stopped on its own; see %s" % os.path.join(folder, "demo.log"))
        return 1
    except KeyboardInterrupt:
        print("\nstopping")
        return 0
    finally:
        # A second Ctrl-C must not cut the stopping short and leave servers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if nginx is not None:
            stop(nginx, signal.SIGQUIT)
        stop(responder, signal.SIGTERM)
        log.close()
        lock.close()


if __name__ == "__main__":
    sys.exit(main())
