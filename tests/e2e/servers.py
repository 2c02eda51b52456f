"""Real web servers for the end-to-end tests: each starts in the foreground
on 127.0.0.1 with its own configuration, pid and logs in the test's temp
folder, is waited for with a bound, and is always stopped.

The configurations are the files shipped in nginx/ and conf/, with their
default paths and ports replaced by the test's own."""
import contextlib
import http.client
import json
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


# --- Probes, drain and the detailed report (issue 12) --------------------
# The shipped conf/probes.json behind a real server: its token and drain
# file moved into the test's folder, its database (app.db) beside it.

PROBES_EXAMPLE = "conf/probes.json"
DEFAULT_TOKEN_FILE = "/etc/healthcheck/token"
DEFAULT_DRAIN_FILE = "/run/healthcheck/drain"
PROBE_TOKEN = "e2e-probe-token-4f9c2a7d1b"
HEALTH_JSON = "application/health+json"
VARY = "Accept, Authorization"
# A loopback caller that is not 127.0.0.1: "untrusted" when only 127.0.0.1/32 is.
OTHER_LOOPBACK = "127.0.0.2"


def vary_names(value):
    """The header names of a Vary value, as a list: Apache joins them with a
    bare comma ("Accept,Authorization"), which means the same (RFC 9110 5.6.1)."""
    return [name.strip().lower() for name in (value or "").split(",") if name.strip()]


def http_fetch(port, path, headers=None, method="GET", source=None, timeout=10,
               host="127.0.0.1"):
    """http_request with request headers, from the local address `source`
    when given, to `host` ("::1" for IPv6); (status, headers dict with
    lower-case names, body bytes)."""
    source_address = (source, 0) if source else None
    connection = http.client.HTTPConnection(host, port, timeout=timeout,
                                            source_address=source_address)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, data
    finally:
        connection.close()


class ProbeTestCase(ServerTestCase):
    """conf/probes.json through a web server: the probes follow the
    database, the drain file flips ready, and only an authorised caller who
    asks gets the report. The assert* methods take the server's port and the
    prefix the probe names follow ("/health/", "/cgi-bin/healthcheck/"), and
    leave the database and the drain file as they found them."""

    def probes_config(self, run_as, trusted_addresses=None):
        """The shipped example in the temp folder, its token file readable by
        `run_as` (the responder's user) and root alone, and a healthy
        database; `trusted_addresses` replaces the example's (none)."""
        text = fill(shipped(PROBES_EXAMPLE), {DEFAULT_TOKEN_FILE: self.path("token"),
                                              DEFAULT_DRAIN_FILE: self.path("drain")})
        settings = json.loads(text)
        self.failure_status = settings["failure_status"]
        self.drain_status = settings["drain_status"]
        if trusted_addresses is not None:
            settings["details"]["trusted_addresses"] = trusted_addresses
            text = json.dumps(settings, indent=2)
        config = self.path("healthcheck.json")
        with open(config, "w") as out:
            out.write(text)
        os.chmod(config, 0o644)
        with open(self.path("token"), "w") as out:
            out.write(PROBE_TOKEN + "\n")
        # As conf/README.md says: root's, 0640, the group of the responder's user.
        os.chown(self.path("token"), 0, pwd.getpwnam(run_as).pw_gid)
        os.chmod(self.path("token"), 0o640)
        make_database(self.path("app.db"))
        os.chmod(self.path("app.db"), 0o644)
        return config

    @contextlib.contextmanager
    def database_gone(self):
        """The database moved away for the block (as a failed mount would)."""
        os.rename(self.path("app.db"), self.path("app.db.saved"))
        try:
            yield
        finally:
            os.rename(self.path("app.db.saved"), self.path("app.db"))

    def assertVary(self, headers):
        """Every answer's Vary reached the client, whatever its spacing."""
        self.assertEqual(vary_names(headers.get("vary")), vary_names(VARY), headers)

    def assertEnvelope(self, port, path, status, headers=None, source=None):
        """The exact clearskies answer: `status`, the success or failure body
        byte for byte, and the headers every answer carries."""
        got_status, got_headers, body = http_fetch(port, path, headers, source=source)
        expected = SUCCESS_BODY if status == 200 else FAILURE_BODY
        self.assertEqual((got_status, body), (status, expected), "%s %r" % (path, headers))
        self.assertEqual(got_headers.get("content-type"), "application/json")
        self.assertEqual(got_headers.get("cache-control"), "no-store")
        self.assertVary(got_headers)

    def assertHeadAnswers(self, port, path, status):
        got_status, headers, body = http_fetch(port, path, method="HEAD")
        self.assertEqual((got_status, body), (status, b""))
        self.assertVary(headers)

    def assertProbesFollowTheDatabase(self, port, prefix, top, log_path):
        """live needs no database; ready, startup and the top-level check do."""
        for path in (prefix + "live", prefix + "ready", prefix + "startup", top):
            self.assertEnvelope(port, path, 200)
        with self.database_gone():
            self.assertEnvelope(port, prefix + "live", 200)
            self.assertEnvelope(port, prefix + "ready", self.failure_status)
            self.assertEnvelope(port, prefix + "startup", self.failure_status)
            self.assertEnvelope(port, top, self.failure_status)
            self.assertHeadAnswers(port, prefix + "ready", self.failure_status)
            self.assertLogged(log_path,
                              "healthcheck: probe ready: unhealthy: cursor_backend failed")
            self.assertLogged(log_path, 'cannot open "%s"' % self.path("app.db"))
            self.assertFalse(os.path.exists(self.path("app.db")))  # Never created.
        self.assertEnvelope(port, prefix + "ready", 200)

    def assertDrainFlipsReady(self, port, prefix, top, log_path):
        """While the drain file exists ready answers the drain status without
        running; live, startup and the top-level check do not drain."""
        drain = self.path("drain")
        self.assertEnvelope(port, prefix + "ready", 200)
        open(drain, "w").close()
        try:
            self.assertEnvelope(port, prefix + "ready", self.drain_status)
            self.assertHeadAnswers(port, prefix + "ready", self.drain_status)
            for path in (prefix + "live", prefix + "startup", top):
                self.assertEnvelope(port, path, 200)
            with self.database_gone():  # Drained means not run.
                self.assertEnvelope(port, prefix + "ready", self.drain_status)
            self.assertLogged(log_path, "healthcheck: draining: %s exists" % drain)
        finally:
            os.unlink(drain)
        self.assertEnvelope(port, prefix + "ready", 200)
        self.assertEnvelope(port, prefix + "live", 200)

    def assertDrainOverLogged(self, port, prefix, log_path):
        """A long-running responder says when the drain ends (a CGI process,
        which remembers nothing, cannot). A worker process notices at its
        next request, and which worker gets a request is the kernel's
        choice: ask ready until one that drained has said so."""
        said = "healthcheck: drain over: %s is gone" % self.path("drain")

        def said_after_one_more_request():
            self.assertEnvelope(port, prefix + "ready", 200)
            return said in read_text(log_path)
        wait_for(said_after_one_more_request, timeout=5, what="%r in %s" % (said, log_path))

    def detailed_report(self, port, path, headers, source=None, host="127.0.0.1"):
        """The health+json answer of an authorised caller, checked against
        the draft's schema; returns (status, document)."""
        from tests.integration.health_json import validate_health_json
        status, got_headers, body = http_fetch(port, path, headers, source=source, host=host)
        self.assertEqual(got_headers.get("content-type"), HEALTH_JSON, body[:200])
        self.assertEqual(got_headers.get("cache-control"), "no-store")
        self.assertVary(got_headers)
        return status, validate_health_json(body)

    def assertFailingReport(self, status, document):
        """The report of ready with the database gone: the status of the
        envelope, and the failing step with its reason."""
        self.assertEqual(status, self.failure_status)
        self.assertEqual(document["status"], "fail")
        reason = 'cannot open "%s"' % self.path("app.db")
        self.assertIn("cursor_backend failed", document["output"])
        self.assertIn(reason, document["output"])
        failed = document["checks"]["cursor_backend:responseTime"][0]
        self.assertEqual((failed["status"], failed["observedUnit"]), ("fail", "ms"))
        self.assertIn(reason, failed["output"])
        self.assertEqual(document["checks"]["memory_backend:responseTime"][0]["status"], "pass")

    def assertReportOnlyForTheAuthorised(self, port, prefix):
        """With the database gone (the report would hold a reason): the
        token holder who asks gets it; everyone else gets the envelope byte
        for byte. Expects trusted_addresses 10.0.0.0/8 (no loopback caller)."""
        asks = {"Accept": HEALTH_JSON}
        bearer = {"Authorization": "Bearer " + PROBE_TOKEN}
        status, document = self.detailed_report(port, prefix + "ready", dict(asks, **bearer))
        self.assertEqual((status, document["status"]), (200, "pass"))
        self.assertEqual(sorted(document["checks"]),
                         ["cursor_backend:responseTime", "memory_backend:responseTime"])
        short, long, basic = PROBE_TOKEN[:-1], PROBE_TOKEN + "x", "Basic " + PROBE_TOKEN
        others = {"anonymous": {},
                  "anonymous who asks": asks,
                  "authorised who does not ask": bearer,
                  "authorised who asks for plain JSON": dict(bearer, Accept="application/json"),
                  "authorised who refuses it": dict(bearer, Accept=HEALTH_JSON + ";q=0"),
                  "a token one character short": dict(asks, Authorization="Bearer " + short),
                  "a token one character long": dict(asks, Authorization="Bearer " + long),
                  "the token as Basic credentials": dict(asks, Authorization=basic),
                  "forwarded-for a trusted address": dict(asks, **spoofed_forwarding("10.1.2.3")),
                  "forwarded-for loopback": dict(asks, **spoofed_forwarding("127.0.0.1"))}
        with self.database_gone():
            self.assertFailingReport(*self.detailed_report(port, prefix + "ready",
                                                           dict(asks, **bearer)))
            # The scheme in any case (RFC 9110 11.1), and a list of media types.
            self.assertFailingReport(*self.detailed_report(
                port, prefix + "ready", {"Accept": "application/json, %s;q=0.9" % HEALTH_JSON,
                                         "Authorization": "bearer " + PROBE_TOKEN}))
            for what, headers in others.items():
                with self.subTest(caller=what):
                    self.assertEnvelope(port, prefix + "ready", self.failure_status, headers)

    def assertTrustedAddressIsTheCallersOwn(self, port, prefix):
        """With 127.0.0.1/32 trusted: a caller from 127.0.0.1 gets the report
        without a token; one from 127.0.0.2 saying X-Forwarded-For:
        127.0.0.1 gets the envelope byte for byte; the token works from both."""
        asks = {"Accept": HEALTH_JSON}
        spoofed = dict(asks, **spoofed_forwarding("127.0.0.1"))
        with self.database_gone():
            self.assertFailingReport(*self.detailed_report(port, prefix + "ready", asks))
            self.assertEnvelope(port, prefix + "ready", self.failure_status, spoofed,
                                source=OTHER_LOOPBACK)
            self.assertFailingReport(*self.detailed_report(
                port, prefix + "ready", dict(spoofed, Authorization="Bearer " + PROBE_TOKEN),
                source=OTHER_LOOPBACK))


def spoofed_forwarding(address):
    """Every header a client may write to claim it calls from `address`."""
    return {"X-Forwarded-For": address, "X-Real-IP": address, "Forwarded": "for=" + address,
            "Client-IP": address, "X-Client-IP": address}
