"""Real web servers for the end-to-end tests: each starts in the foreground
on 127.0.0.1 with its own configuration, pid and logs in the test's temp
folder, is waited for with a bound, and is always stopped.

The configurations are the files shipped in nginx/ and conf/, with their
default paths and ports replaced by the test's own."""
import http.client
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

# BINARY, REPO, free_port and make_database are used by the e2e tests through here.
from tests.integration.support import (BINARY, FAILURE_BODY, REPO, SUCCESS_BODY,  # noqa: F401
                                       TestCase, free_port, make_database, run_by_others)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
WEB_USER = "www-data"
APACHE_MODULES = "/usr/lib/apache2/modules"

# The defaults written in the shipped files, which the tests replace.
DEFAULT_SOCKET = "/run/healthcheck/healthcheck.sock"
DEFAULT_BINARY = "/usr/local/bin/healthcheck"
DEFAULT_CONFIG = "/etc/healthcheck/healthcheck.json"

SQLITE_CONFIG = os.path.join(REPO, "conf", "sqlite.json")
# Run as root, and by test_spawn_fcgi as nobody too.
SPAWN_FCGI_SCRIPT = run_by_others("conf/spawn-fcgi.sh")


def shipped(relative):
    with open(os.path.join(REPO, relative)) as source:
        return source.read()


def fill(text, replacements):
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


class Process:
    """A foreground server process with its output in a log file."""

    def __init__(self, args, log_path, env=None, stop_signal=signal.SIGTERM):
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, self.stop_signal)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT_S)
        # Whatever it started in its session (spawned responders) goes too.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()


def wait_for(predicate, timeout=START_TIMEOUT_S, what="a condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def unix_socket_open(path):
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.settimeout(0.5)
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def http_request(port, path="/health", method="GET", body=None, timeout=10):
    """(status, headers dict with lower-case names, body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        data = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, data
    finally:
        connection.close()


def read_text(path):
    try:
        with open(path, errors="replace") as log:
            return log.read()
    except OSError:
        return ""


class ServerTestCase(TestCase):
    """Temp folder readable by the web server's user, and server helpers."""

    def setUp(self):
        super().setUp()
        os.chmod(self.dir, 0o755)
        self.web_uid = pwd.getpwnam(WEB_USER).pw_uid
        self.web_gid = pwd.getpwnam(WEB_USER).pw_gid

    def start(self, args, log_name, ready, env=None, stop_signal=signal.SIGTERM):
        process = Process(args, self.path(log_name), env=env, stop_signal=stop_signal)
        self.addCleanup(process.stop)

        def is_ready():
            if not process.alive():
                raise AssertionError("%s exited: %s" % (args[0], read_text(self.path(log_name))))
            return ready()

        wait_for(is_ready, what="%s to be ready" % args[0])
        return process

    def app_config(self, database=True):
        """The shipped SQLite example and its database, in the temp folder."""
        config = self.path("healthcheck.json")
        shutil.copy(SQLITE_CONFIG, config)
        os.chmod(config, 0o644)
        if database:
            make_database(self.path("app.db"))
            os.chmod(self.path("app.db"), 0o644)
        return config

    def spawn_responder(self, config, socket_path=None, tcp_port=None):
        """The responder started by the shipped conf/spawn-fcgi.sh (unix socket),
        or by spawn-fcgi on 127.0.0.1 (TCP)."""
        if tcp_port:
            args = ["spawn-fcgi", "-n", "-a", "127.0.0.1", "-p", str(tcp_port), "-u", "nobody",
                    "-g", "nogroup", "--", BINARY, "--config", config, "--workers", "2"]
            return self.start(args, "responder.log", lambda: port_open(tcp_port))
        env = dict(os.environ, HEALTHCHECK_SOCKET=socket_path, HEALTHCHECK_BINARY=BINARY,
                   HEALTHCHECK_CONFIG=config)
        return self.start([SPAWN_FCGI_SCRIPT], "responder.log",
                          lambda: unix_socket_open(socket_path), env=env)

    def start_nginx(self, upstream, port):
        prefix = self.path("nginx")
        os.makedirs(prefix, exist_ok=True)
        config = fill(shipped("nginx/nginx.conf"), {
            "@PREFIX@": prefix, "@USER@": WEB_USER, "@PORT@": str(port),
            "@UPSTREAM@": upstream, "@NGINX_CONF_DIR@": "/etc/nginx"})
        with open(os.path.join(prefix, "nginx.conf"), "w") as out:
            out.write(config)
        self.nginx_error_log = os.path.join(prefix, "error.log")
        return self.start(["nginx", "-c", os.path.join(prefix, "nginx.conf"), "-p", prefix],
                          "nginx.out", lambda: port_open(port), stop_signal=signal.SIGQUIT)

    def assertHealthyUrl(self, port, path="/health"):
        status, headers, body = http_request(port, path)
        self.assertEqual((status, body), (200, SUCCESS_BODY))
        self.assertEqual(headers.get("content-type"), "application/json")
        self.assertEqual(headers.get("cache-control"), "no-store")
        status, headers, body = http_request(port, path, method="HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers.get("content-type"), "application/json")

    def assertUnhealthyUrl(self, port, path="/health"):
        status, headers, body = http_request(port, path)
        self.assertEqual((status, body), (500, FAILURE_BODY))
        self.assertEqual(headers.get("content-type"), "application/json")
        self.assertEqual(headers.get("cache-control"), "no-store")
        self.assertNotIn(b"unable to open", body)
        status, headers, body = http_request(port, path, method="HEAD")
        self.assertEqual((status, body), (500, b""))

    def assertLogged(self, log_path, text="cursor_backend failed"):
        wait_for(lambda: text in read_text(log_path), timeout=5,
                 what="%r in %s" % (text, log_path))
