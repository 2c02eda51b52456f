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
# What every test's Apache loads, after its MPM and before its own modules.
APACHE_BASE_MODULES = ["authz_core", "authz_host", "alias", "mime"]
# conf/haproxy.cfg's check interval, and the tests' faster one.
HAPROXY_CHECK_INTERVAL = "inter 2s fall 2 rise 2"
HAPROXY_FAST_INTERVAL = "inter 150ms fall 2 rise 2"
HAPROXY_STATE_BOUND_S = 3.0  # fall/rise 2 x 150 ms, with room for a slow machine.

# The defaults written in the shipped files, which the tests replace.
DEFAULT_SOCKET = "/run/healthcheck/healthcheck.sock"
DEFAULT_BINARY = "/usr/local/bin/healthcheck"
DEFAULT_CONFIG = "/etc/healthcheck/healthcheck.json"
DEFAULT_LIGHTTPD_SOCKET = "/run/lighttpd/healthcheck.sock"

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


def apache_config(root, port, modules, body, document_root, mpm="event"):
    """An httpd.conf for Apache on 127.0.0.1:`port` as www-data, its pid,
    error log, mutexes (and mod_cgid's socket) in `root`, loading mpm_`mpm`,
    APACHE_BASE_MODULES and `modules`, denying every folder, then `body`."""
    loads = "\n".join("LoadModule %s_module %s/mod_%s.so" % (name, APACHE_MODULES, name)
                      for name in ["mpm_" + mpm] + APACHE_BASE_MODULES + modules)
    if "cgid" in modules:
        body = "ScriptSock %s/cgid.sock\n%s" % (root, body)
    return """ServerRoot %(root)s
ServerName localhost
%(loads)s
Listen 127.0.0.1:%(port)d
PidFile %(root)s/httpd.pid
ErrorLog %(root)s/error.log
LogLevel warn
Mutex file:%(root)s
User www-data
Group www-data
TypesConfig /etc/mime.types
DocumentRoot %(docroot)s
<Directory />
    AllowOverride None
    Require all denied
</Directory>
%(body)s
""" % {"root": root, "loads": loads, "port": port, "body": body, "docroot": document_root}


# An nginx.conf around the shipped snippets: an upstream and a location.
MINIMAL_NGINX = """user www-data; daemon off; pid %(p)s/nginx.pid; error_log %(p)s/error.log;
events {}
http {
  access_log off;
  client_body_temp_path %(p)s/cb; fastcgi_temp_path %(p)s/fc; proxy_temp_path %(p)s/px;
  uwsgi_temp_path %(p)s/uw; scgi_temp_path %(p)s/sc;
  %(upstream)s
  server { listen 127.0.0.1:%(port)d; %(location)s }
}
"""


def nginx_location():
    """The shipped location snippet, its fastcgi_params the system's."""
    return shipped("nginx/healthcheck-location.conf").replace(
        "include fastcgi_params;", "include /etc/nginx/fastcgi_params;")


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

    def install_binary(self, folder, name):
        """build/healthcheck copied to `folder`/`name` in the temp folder,
        where the web server's user may run it; returns its path."""
        target_folder = self.path(folder)
        os.makedirs(target_folder, exist_ok=True)
        os.chmod(target_folder, 0o755)
        target = os.path.join(target_folder, name)
        shutil.copy(BINARY, target)
        os.chmod(target, 0o755)
        return target

    def run_nginx(self, config, port, stop_signal=signal.SIGTERM):
        """nginx with the text `config` as nginx/nginx.conf, nginx/ its
        prefix; returns the process once `port` answers."""
        prefix = self.path("nginx")
        os.makedirs(prefix, exist_ok=True)
        with open(os.path.join(prefix, "nginx.conf"), "w") as out:
            out.write(config)
        self.nginx_error_log = os.path.join(prefix, "error.log")
        return self.start(["nginx", "-c", os.path.join(prefix, "nginx.conf"), "-p", prefix],
                          "nginx.out", lambda: port_open(port), stop_signal=stop_signal)

    def start_nginx(self, upstream, port):
        """nginx with the shipped nginx/nginx.conf."""
        config = fill(shipped("nginx/nginx.conf"), {
            "@PREFIX@": self.path("nginx"), "@USER@": WEB_USER, "@PORT@": str(port),
            "@UPSTREAM@": upstream, "@NGINX_CONF_DIR@": "/etc/nginx"})
        return self.run_nginx(config, port, stop_signal=signal.SIGQUIT)

    def start_nginx_snippets(self, upstream, port, location=None):
        """nginx with MINIMAL_NGINX around `upstream` and `location` (the
        shipped location snippet when None)."""
        config = MINIMAL_NGINX % {"p": self.path("nginx"), "upstream": upstream, "port": port,
                                  "location": nginx_location() if location is None else location}
        return self.run_nginx(config, port)

    def run_apache(self, root, port, modules, body, document_root, mpm="event"):
        """Apache in the foreground with apache_config(...) as `root`/httpd.conf,
        its output in <root's name>.out; returns the process once `port` answers."""
        config = os.path.join(root, "httpd.conf")
        with open(config, "w") as out:
            out.write(apache_config(root, port, modules, body, document_root, mpm))
        return self.start(["apache2", "-f", config, "-DFOREGROUND"],
                          os.path.basename(root) + ".out", lambda: port_open(port))

    def fcgid_snippet(self, binary, config):
        """The shipped conf/apache-fcgid.conf for `binary` and `config`, with
        mod_fcgid's sockets and process table in fcgid/, owned by the web user."""
        fcgid = self.path("fcgid")
        os.makedirs(fcgid)
        os.chown(fcgid, self.web_uid, self.web_gid)
        snippet = fill(shipped("conf/apache-fcgid.conf"),
                       {DEFAULT_BINARY: binary, DEFAULT_CONFIG: config})
        return snippet + "\nFcgidIPCDir %s\nFcgidProcessTableFile %s/table\n" % (fcgid, fcgid)

    def run_lighttpd(self, binary, config, socket_path, error_log, user=None):
        """lighttpd with the shipped conf/lighttpd-healthcheck.conf, spawning
        `binary` with `config` on `socket_path`, its web root an empty www/,
        as `user` (user and group) when given; returns its port once it answers."""
        port = free_port()
        snippet = fill(shipped("conf/lighttpd-healthcheck.conf"), {
            DEFAULT_BINARY: binary, DEFAULT_CONFIG: config, DEFAULT_LIGHTTPD_SOCKET: socket_path})
        os.makedirs(self.path("www"))
        run_as = 'server.username = "%s"\nserver.groupname = "%s"\n' % (user, user) if user else ""
        with open(self.path("lighttpd.conf"), "w") as out:
            out.write('server.document-root = "%s"\nserver.bind = "127.0.0.1"\n'
                      'server.port = %d\nserver.errorlog = "%s"\n'
                      'server.pid-file = "%s"\n%s%s\n'
                      % (self.path("www"), port, error_log, self.path("lighttpd.pid"), run_as,
                         snippet))
        self.start(["lighttpd", "-D", "-f", self.path("lighttpd.conf")], "lighttpd.out",
                   lambda: port_open(port))
        return port

    def start_haproxy(self, backend_port):
        """HAProxy with the shipped conf/haproxy.cfg, checking web1 at
        127.0.0.1:`backend_port` every 150 ms, with an admin stats socket
        (self.stats_socket); returns (its front port, the configuration)."""
        front_port = free_port()
        self.stats_socket = self.path("haproxy.sock")
        config = fill(shipped("conf/haproxy.cfg"), {
            "127.0.0.1:8080": "127.0.0.1:%d" % backend_port,
            "127.0.0.1:8000": "127.0.0.1:%d" % front_port,
            HAPROXY_CHECK_INTERVAL: HAPROXY_FAST_INTERVAL})
        self.assertIn(HAPROXY_FAST_INTERVAL, config)
        config = config.replace(
            "global\n", "global\n    stats socket %s level admin\n" % self.stats_socket, 1)
        with open(self.path("haproxy.cfg"), "w") as out:
            out.write(config)
        self.start(["haproxy", "-db", "-f", self.path("haproxy.cfg")], "haproxy.out",
                   lambda: port_open(front_port) and os.path.exists(self.stats_socket))
        return front_port, config

    def haproxy_stats(self, command):
        """The answer of HAProxy's stats socket to `command`, as text."""
        with socket.socket(socket.AF_UNIX) as stats:
            stats.settimeout(2)
            stats.connect(self.stats_socket)
            stats.sendall(command.encode() + b"\n")
            data = b""
            while True:
                chunk = stats.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.decode()

    def haproxy_web1(self):
        """web1's row of `show stat`, as a dict by column name; None without one."""
        lines = self.haproxy_stats("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == "app_servers" and row.get("svname") == "web1":
                return row
        return None

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
