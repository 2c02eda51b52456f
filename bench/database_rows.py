"""Issue 11's rows of make bench: cursor_backend on a real MariaDB (driver
mysql) and a real PostgreSQL (driver postgresql), each against what people
run today on the same server, measured in the same run and reported as ratios.

  FastCGI through one nginx (as run_bench.py's rows: 1 worker, upstream
    keepalive 2, fastcgi_keep_conn on, wrk on loopback): healthcheck with
    {"services": ["cursor_backend"], "cursor_backend": {"driver": ...}}, and
    php-fpm (2 static children) serving a PHP script that opens PDO and runs
    SELECT 1, once with plain and once with persistent connections.
  Server connections per 1,000 checks: the server's own count of new
    connections over each FastCGI row's whole life (start, warm-up, run).
    MariaDB: SHOW GLOBAL STATUS LIKE 'Connections'. PostgreSQL: log_connections
    turned on, and the "connection authorized: user=hc" lines counted.
  CGI: one process per request, healthcheck (the static program, which hands
    over with execv to healthcheck-DRIVER) against a minimal C program that
    connects with the same client library (linked dynamically, as the driver
    programs are) and runs SELECT 1; median of many runs, taking turns.
  Issue 13: healthcheck with the flood shield's cache on each server,
    against the minimal libfcgi responder run behind this nginx too.

Every client reaches the servers on their unix sockets. A driver whose
program is missing or answers "not written yet" is reported as skipped; any
other wrong answer stops the bench, as in run_bench.py."""
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "bench")
if REPO not in sys.path:
    sys.path.insert(0, REPO)
from tests.integration.db_servers import MariaDBServer, PostgresServer  # noqa: E402

CACHE = {"success_ms": 1000, "failure_ms": 250}   # As run_bench.py's cached rows.

DRIVERS = ["mysql", "postgresql"]       # Also their keys for --rows.
ROW_DURATION_CAP_S = 4       # 8 rows x 3 rounds: keeps the section near 2.5 minutes,
WARMUP_CAP_S = 1             # with a warm-up that opens every kept connection,
CGI_RUNS_CAP = 200           # and CGI runs of which PostgreSQL's take ~20 ms.
CHECK_TIMEOUT_S = 30
LOG_SETTLE_TIMEOUT_S = 5
IDLE_SETTLE_S = 0.5
NOT_WRITTEN = "not written yet"

# Targets of issue 11.
RPS_TARGET = 2.0             # healthcheck req/s >= 2 x the persistent-PDO script's.
P99_TARGET = 1.0             # healthcheck p99 no worse than the persistent-PDO script's.
CONNECTIONS_PER_1000_TARGET = 1.0
CGI_TARGET = 1.3             # A CGI check <= 1.3 x the minimal C program with the same library.
# Issue 13: with the flood shield's cache, healthcheck on each server
# >= 1.0 x the minimal libfcgi responder's req/s (measured in this section,
# behind this nginx), p99 no worse.
CACHE_RPS_TARGET = 1.0
CACHE_P99_TARGET = 1.0
SHIELD_FOLDER = "shield"     # The cached rows' cache_folder, under this section's folder.

NGINX_CONF = """user root;
worker_processes 1;
daemon off;
pid %(dir)s/nginx.pid;
error_log %(dir)s/nginx-error.log error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %(dir)s/cb; fastcgi_temp_path %(dir)s/fc; proxy_temp_path %(dir)s/px;
  uwsgi_temp_path %(dir)s/uw; scgi_temp_path %(dir)s/sc;
  upstream php { server unix:%(dir)s/php.sock; keepalive 2; }
  upstream healthcheck { server unix:%(dir)s/healthcheck.sock; keepalive 2; }
  upstream minimal { server unix:%(dir)s/minimal.sock; keepalive 2; }
  server {
    listen 127.0.0.1:%(port)d;
    # Issue 13's baseline for the cached rows, as run_bench.py mounts it.
    location = /minimal {
      include /etc/nginx/fastcgi_params; fastcgi_pass minimal; fastcgi_keep_conn on; }
    # As nginx/healthcheck-location.conf mounts it: kept connections.
    location = /health {
      include /etc/nginx/fastcgi_params; fastcgi_pass healthcheck; fastcgi_keep_conn on; }
    # The same with a new FastCGI connection per request, as PHP below.
    location = /health-new-connections {
      include /etc/nginx/fastcgi_params; fastcgi_param SCRIPT_NAME /health;
      fastcgi_pass healthcheck; }
    # PHP as Debian's snippets/fastcgi-php.conf mounts it: a new FastCGI
    # connection per request, php-fpm's children take turns accepting. (With
    # fastcgi_keep_conn each child is pinned to one of nginx's 2 kept
    # connections and the others wait: p99 ~1.2 s, req/s no better.)
    location ~ ^/(pdo-[a-z-]+)$ {
      include /etc/nginx/fastcgi_params; fastcgi_param SCRIPT_NAME /$1.php;
      fastcgi_param SCRIPT_FILENAME %(dir)s/$1.php; fastcgi_pass php; }
  }
}
"""

# What a PHP application's health URL does today, answering healthcheck's
# exact envelope so that the same check of the answer applies.
PHP_SCRIPT = """<?php
// Opens PDO (%(persistence)s) and runs SELECT 1, as a PHP health script does.
try {
    $db = new PDO('%(dsn)s', '%(username)s', '%(password)s', [
        PDO::ATTR_PERSISTENT => %(persistent)s,
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_TIMEOUT => 2,
    ]);
    $passed = $db->query('SELECT 1')->fetchColumn() == 1;
} catch (Throwable $error) {
    error_log($error->getMessage());
    $passed = false;
}
header('Content-Type: application/json');
header('Cache-Control: no-store');
if ($passed) {
    echo '%(success)s';
} else {
    http_response_code(500);
    echo '{"status":"failure","error":"","data":{},"pagination":{},"input_errors":{}}';
}
"""


class Driver:
    """One database: its server, its driver program, its PDO DSN, how to
    count the server's new connections, and its minimal C program."""

    def __init__(self, name, server, binary, folder):
        self.name = name
        self.server = server
        self.program = os.path.join(os.path.dirname(binary), "healthcheck-" + name)
        self.pdo = {"mysql": "pdo-mysql", "postgresql": "pdo-pgsql"}[name]
        self.skipped = None          # The reason, when this driver cannot be measured.
        self.folder = folder
        self.config = os.path.join(folder, "%s.json" % name)
        self.cache_config = os.path.join(folder, "%s-cache.json" % name)

    def write_config(self):
        """healthcheck's configuration: the server's socket, the password in a
        0600 file (an inline password is refused)."""
        password_file = os.path.join(self.folder, "%s-password" % self.name)
        descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(self.server.password + "\n")
        settings = {"driver": self.name, "username": self.server.username,
                    "database": self.server.database, "password_file": password_file}
        if self.name == "mysql":
            settings["socket"] = self.server.socket
        else:
            settings.update(socket=self.server.socket_dir, port=self.server.port)
        with open(self.config, "w") as out:
            out.write('{"services": ["cursor_backend"], "cursor_backend": %s}' %
                      json.dumps(settings))
        # Issue 13: the same check behind the flood shield.
        with open(self.cache_config, "w") as out:
            out.write('{"services": ["cursor_backend"], "cursor_backend": %s, "cache": %s,'
                      ' "cache_folder": %s}' % (json.dumps(settings), json.dumps(CACHE),
                                                json.dumps(SHIELD_FOLDER)))

    def pdo_dsn(self):
        if self.name == "mysql":
            return "mysql:unix_socket=%s;dbname=%s" % (self.server.socket, self.server.database)
        return "pgsql:host=%s;port=%d;dbname=%s" % (self.server.socket_dir, self.server.port,
                                                    self.server.database)

    def write_php_scripts(self, success_body):
        for persistent in (False, True):
            path = os.path.join(self.folder, self.pdo + ("-persistent" if persistent else "") +
                                ".php")
            with open(path, "w") as out:
                out.write(PHP_SCRIPT % {
                    "persistence": "persistent" if persistent else "a new connection each time",
                    "dsn": php_quoted(self.pdo_dsn()),
                    "username": php_quoted(self.server.username),
                    "password": php_quoted(self.server.password),
                    "persistent": "true" if persistent else "false",
                    "success": php_quoted(success_body)})
            os.chmod(path, 0o644)

    def prepare_connection_count(self):
        """PostgreSQL keeps no counter of sessions that is exact at once
        (pg_stat_database.sessions is flushed lazily): log every connection
        and count the lines. MariaDB's Connections counter is exact."""
        if self.name != "postgresql":
            return
        self.server.admin_sql("ALTER SYSTEM SET log_connections = on")
        self.server.admin_sql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + LOG_SETTLE_TIMEOUT_S
        while "connection authorized: user=postgres" not in self.server.log_text():
            if time.monotonic() > deadline:
                raise SystemExit("bench: postgresql did not start logging connections")
            self.server.admin_sql("SELECT 1")
            time.sleep(0.1)

    def connections(self):
        """The server's count of connections made so far by healthcheck's and
        PHP's user (MariaDB: by anyone, less the readings themselves)."""
        if self.name == "mysql":
            text = self.server.admin_sql("SHOW GLOBAL STATUS LIKE 'Connections'")
            return int(text.split()[1])
        with open(self.server.log_path, "rb") as log:
            return log.read().count(b"connection authorized: user=%s " %
                                    self.server.username.encode())

    def new_connections(self, before, after):
        # MariaDB counts the reading's own connection: `after` includes one.
        return after - before - (1 if self.name == "mysql" else 0)

    def build_minimal(self):
        source = os.path.join(BENCH, "minimal_%s.c" % {"mysql": "mysql",
                                                        "postgresql": "pgsql"}[self.name])
        output = os.path.join(self.folder, "minimal_%s" % self.name)
        if self.name == "mysql":
            flags = subprocess.run(["mariadb_config", "--cflags", "--libs"], check=True,
                                   stdout=subprocess.PIPE, timeout=30).stdout.decode().split()
        else:
            include = subprocess.run(["pg_config", "--includedir"], check=True,
                                     stdout=subprocess.PIPE, timeout=30).stdout.decode().strip()
            flags = ["-I" + include, "-lpq"]
        subprocess.run(["cc", "-O2", source] + flags + ["-o", output], check=True, timeout=120)
        return output

    def minimal_env(self):
        return {"db_socket": self.server.socket if self.name == "mysql" else
                self.server.socket_dir, "db_port": str(self.server.port),
                "db_username": self.server.username, "db_password": self.server.password,
                "db_database": self.server.database}


def php_quoted(text):
    """Inside a single-quoted PHP string."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def probe_driver(driver, binary):
    """Sets driver.skipped when the driver program is missing or not written
    yet; any other failed check stops the bench."""
    if not os.access(driver.program, os.X_OK):
        driver.skipped = "driver not built (%s missing)" % driver.program
        return
    done = subprocess.run([binary, "--config", driver.config, "--check"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=CHECK_TIMEOUT_S)
    stderr = done.stderr.decode(errors="replace").strip()
    if done.returncode == 0:
        return
    if NOT_WRITTEN in stderr:
        driver.skipped = "driver not built (%s)" % stderr.splitlines()[-1][:120]
        return
    raise SystemExit("bench: healthcheck --check with the %s driver failed (%d): %s" % (
        driver.name, done.returncode, stderr[-500:]))


def fastcgi_rows(args, harness, folder, drivers, processes, log):
    """The three rows of each driver, every row once per round, taking turns.
    Returns {driver: {row: medians and connections}}."""
    port = harness.free_port()
    with open(os.path.join(folder, "nginx.conf"), "w") as out:
        out.write(NGINX_CONF % {"dir": folder, "port": port})
    with open(os.path.join(folder, "php-fpm.conf"), "w") as out:
        out.write(harness.PHP_CONF % {"dir": folder, "children": harness.PHP_CHILDREN})
    php_fpm = shutil.which("php-fpm8.2") or shutil.which("php-fpm")
    if not php_fpm:
        raise SystemExit("bench: php-fpm is not installed (make bench installs it)")
    nginx = processes.start(["nginx", "-c", os.path.join(folder, "nginx.conf"), "-p", folder,
                             "-e", os.path.join(folder, "nginx-error.log")], log,
                            lambda: harness.port_open(port))
    duration = min(args.duration, ROW_DURATION_CAP_S)
    warmup = min(args.warmup, WARMUP_CAP_S)
    healthcheck_socket = os.path.join(folder, "healthcheck.sock")
    php_socket = os.path.join(folder, "php.sock")
    minimal_socket = os.path.join(folder, "minimal.sock")
    # driver (None for the minimal responder), row key, label, command, socket, path
    plan = [(None, "minimal", "minimal libfcgi responder",
             [harness.build_minimal_fcgi(folder), minimal_socket, str(harness.THREADS)],
             minimal_socket, "/minimal")]
    for driver in drivers:
        plan += [
            (driver, "healthcheck", "healthcheck %s" % driver.name,
             [args.binary, "--config", driver.config, "--listen", "unix:" + healthcheck_socket,
              "--threads", str(harness.THREADS)], healthcheck_socket, "/health"),
            (driver, "healthcheck-new", "  same, a new connection per request",
             [args.binary, "--config", driver.config, "--listen", "unix:" + healthcheck_socket,
              "--threads", str(harness.THREADS)], healthcheck_socket, "/health-new-connections"),
            (driver, "pdo", "php-fpm PDO %s, plain" % driver.pdo[4:],
             [php_fpm, "--nodaemonize", "-y", os.path.join(folder, "php-fpm.conf")], php_socket,
             "/" + driver.pdo),
            (driver, "pdo-persistent", "php-fpm PDO %s, persistent" % driver.pdo[4:],
             [php_fpm, "--nodaemonize", "-y", os.path.join(folder, "php-fpm.conf")], php_socket,
             "/%s-persistent" % driver.pdo),
            (driver, "healthcheck-cache", "healthcheck %s, cache" % driver.name,
             [args.binary, "--config", driver.cache_config, "--listen",
              "unix:" + healthcheck_socket, "--threads", str(harness.THREADS)], healthcheck_socket,
             "/health")]
    runs = {}
    base = "http://127.0.0.1:%d" % port
    for round_number in range(args.rounds):
        for driver, key, label, command, socket_path, path in plan:
            before = driver.connections() if driver else 0
            backend = processes.start(command, log, lambda: harness.connects(socket_path))
            if key.startswith("healthcheck"):
                time.sleep(IDLE_SETTLE_S)  # The hand-over's execv is done, the threads wait.
            resident = harness.resident_kib(backend.pid)
            harness.verify(label, port, path, {}, harness.expect_envelope)
            warm = harness.wrk(base + path, warmup, args.connections)
            run = harness.wrk(base + path, duration, args.connections)
            processes.stop(backend)
            # Counted after the stop: a connection made and dropped late is in.
            # (The cached rows' "checks" are requests: most never check.)
            run["connections"] = driver.new_connections(before, driver.connections()) \
                if driver else 0
            run["checks"] = 1 + warm["requests"] + run["requests"]
            run["idle_kib"] = resident
            runs.setdefault((driver.name if driver else "minimal", key), []).append(run)
            print("  round %d  %-36s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms%s%s" % (
                      round_number + 1, label, run["rps"], run["p50_ms"], run["p99_ms"],
                      "  %5d connections / %d %s" % (
                          run["connections"], run["checks"],
                          "requests" if key == "healthcheck-cache" else "checks")
                      if driver else "",
                      "  (%d non-2xx!)" % run["non_2xx"] if run["non_2xx"] else ""))
    processes.stop(nginx)
    print("\n  median of %d rounds (%d s each after %d s of warm-up):" % (
        args.rounds, duration, warmup))
    results = {}
    for driver, key, label, _, _, _ in plan:
        name = driver.name if driver else "minimal"
        found = runs[(name, key)]
        row = {field: statistics.median(run[field] for run in found)
               for field in ("rps", "p50_ms", "p99_ms")}
        row["rps_each_round"] = [run["rps"] for run in found]
        row["non_2xx"] = sum(run["non_2xx"] for run in found)
        row["connections"] = sum(run["connections"] for run in found)
        row["checks"] = sum(run["checks"] for run in found)
        row["connections_per_1000"] = 1000.0 * row["connections"] / row["checks"]
        row["idle_kib"] = max(run["idle_kib"] for run in found)
        row["label"] = label.strip()
        results.setdefault(name, {})[key] = row
        print("  %-36s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  %s(req/s %s)%s" % (
                  label, row["rps"], row["p50_ms"], row["p99_ms"],
                  "%8.2f connections per 1,000 %s  " % (
                      row["connections_per_1000"],
                      "requests" if key == "healthcheck-cache" else "checks") if driver else "",
                  " / ".join("%.0f" % rps for rps in row["rps_each_round"]),
                  "  (%d non-2xx!)" % row["non_2xx"] if row["non_2xx"] else ""))
    for driver in drivers:
        row = results[driver.name]["healthcheck"]
        print("  healthcheck-%s FastCGI process, %d threads: %d KiB resident just started" % (
            driver.name, harness.THREADS, row["idle_kib"]))
    return results


def cgi_answer(argv, env):
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=CHECK_TIMEOUT_S)
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(
        errors="replace")


def cgi_rows(args, harness, drivers):
    """Per driver: the minimal C program, healthcheck (static, then execv to
    the driver's program) and the driver's program started directly (what
    the hand-over costs), one run each per turn; medians in ms."""
    env = {"REQUEST_METHOD": "GET", "GATEWAY_INTERFACE": "CGI/1.1", "PATH": "/usr/bin:/bin"}
    plan = []
    for driver in drivers:
        minimal = driver.build_minimal()
        plan += [(driver.name, "minimal", "minimal C + %s" % {"mysql": "libmariadb",
                                                              "postgresql": "libpq"}[driver.name],
                  [minimal], dict(env, **driver.minimal_env())),
                 (driver.name, "healthcheck", "healthcheck %s (hand-over)" % driver.name,
                  [args.binary], dict(env, HEALTHCHECK_CONFIG=driver.config)),
                 (driver.name, "direct", "healthcheck-%s directly" % driver.name,
                  [driver.program], dict(env, HEALTHCHECK_CONFIG=driver.config))]
    for name, key, label, argv, run_env in plan:
        code, stdout, stderr = cgi_answer(argv, run_env)
        if code != 0 or not stdout.endswith(harness.SUCCESS_BODY):
            raise SystemExit("bench: CGI %s answered %d %r: %s" % (label, code, stdout[:300],
                                                                  stderr[-300:]))
    times = {(name, key): [] for name, key, _, _, _ in plan}
    runs = min(args.cgi_runs, CGI_RUNS_CAP)
    warm_up = max(10, runs // 10)
    for turn in range(warm_up + runs):
        for name, key, _, argv, run_env in plan:
            elapsed = harness.run_ms(argv, run_env)
            if turn >= warm_up:
                times[(name, key)].append(elapsed)
    results = {}
    for name, key, label, _, _ in plan:
        results.setdefault(name, {})[key] = statistics.median(times[(name, key)])
    for name, key, label, _, _ in plan:
        value = results[name][key]
        print("  %-34s %7.3f ms  %5.2f x minimal C + its library" % (
            label, value, value / results[name]["minimal"]))
    return results


def run(args, harness, folder, processes, log, with_cgi):
    """Starts the servers, measures, stops them. Returns the results for
    print_targets (and --json)."""
    wanted = [name for name in DRIVERS if name in args.rows]
    results = {"fastcgi": {}, "cgi_ms": {}, "skipped": {}}
    if not wanted:
        return results
    folder = os.path.join(folder, "databases")
    os.makedirs(folder)
    os.chmod(folder, 0o755)  # php-fpm's children (nobody) read the scripts here.
    # The cached rows' shared results: a folder others may not write.
    os.mkdir(os.path.join(folder, SHIELD_FOLDER), 0o700)
    with contextlib.ExitStack() as stack:
        drivers = []
        for name in wanted:
            server = stack.enter_context(
                {"mysql": MariaDBServer, "postgresql": PostgresServer}[name]())
            driver = Driver(name, server, args.binary, folder)
            driver.write_config()
            probe_driver(driver, args.binary)
            if driver.skipped:
                print("  %s rows: skipped: %s" % (name, driver.skipped))
                results["skipped"][name] = driver.skipped
                continue
            driver.write_php_scripts(harness.SUCCESS_BODY)
            driver.prepare_connection_count()
            drivers.append(driver)
        if not drivers:
            return results
        results["fastcgi"] = fastcgi_rows(args, harness, folder, drivers, processes, log)
        if with_cgi:
            print("\nCGI with a database, one process per request (median of %d runs):" %
                  min(args.cgi_runs, CGI_RUNS_CAP))
            results["cgi_ms"] = cgi_rows(args, harness, drivers)
    return results


def print_targets(results):
    """Issue 11's targets, PASS or MISS (SKIPPED for a driver not built).
    Returns False when a target's row had non-2xx answers under load."""
    valid = True
    for name in DRIVERS:
        if name in results["skipped"]:
            print("  %-56s %5s  SKIPPED (%s)" % ("%s rows" % name, "", results["skipped"][name]))
            continue
        rows = results["fastcgi"].get(name)
        if not rows:
            continue
        ours, plain, persistent = rows["healthcheck"], rows["pdo"], rows["pdo-persistent"]
        fresh = rows["healthcheck-new"]
        broken = ours["non_2xx"] or persistent["non_2xx"]
        checks = [
            ("%s req/s >= %.0f x PDO persistent" % (name, RPS_TARGET),
             ours["rps"] / persistent["rps"], lambda ratio: ratio >= RPS_TARGET, broken),
            ("%s p99 <= PDO persistent's" % name, ours["p99_ms"] / persistent["p99_ms"],
             lambda ratio: ratio <= P99_TARGET, broken),
            ("%s new server connections per 1,000 checks <= 1" % name,
             ours["connections_per_1000"],
             lambda value: value <= CONNECTIONS_PER_1000_TARGET, ours["non_2xx"])]
        cgi = results["cgi_ms"].get(name)
        if cgi:
            checks.append(("%s CGI check <= %.1f x minimal C + its library" % (name, CGI_TARGET),
                           cgi["healthcheck"] / cgi["minimal"],
                           lambda ratio: ratio <= CGI_TARGET, False))
        # Issue 13: behind the flood shield, against the minimal responder
        # measured behind the same nginx.
        cached, minimal = rows.get("healthcheck-cache"), results["fastcgi"].get("minimal", {}).get(
            "minimal")
        if cached and minimal:
            broken_cache = cached["non_2xx"] or minimal["non_2xx"]
            checks += [
                ("%s, cache: req/s >= %.1f x minimal libfcgi" % (name, CACHE_RPS_TARGET),
                 cached["rps"] / minimal["rps"], lambda ratio: ratio >= CACHE_RPS_TARGET,
                 broken_cache),
                ("%s, cache: p99 <= %.1f x minimal libfcgi" % (name, CACHE_P99_TARGET),
                 cached["p99_ms"] / minimal["p99_ms"], lambda ratio: ratio <= CACHE_P99_TARGET,
                 broken_cache)]
        for text, value, met, invalid in checks:
            verdict = "PASS" if met(value) else "MISS"
            if invalid:
                verdict, valid = "INVALID (non-2xx answers)", False
            print("  %-56s %5.2f  %s" % (text, value, verdict))
        print("  (%s: req/s %.2f x PDO plain; with a new FastCGI connection per request,"
              " as PHP is mounted: req/s %.2f x PDO persistent, p99 %.2f x)%s" % (
                  name, ours["rps"] / plain["rps"], fresh["rps"] / persistent["rps"],
                  fresh["p99_ms"] / persistent["p99_ms"],
                  "  INVALID (non-2xx answers)" if fresh["non_2xx"] else ""))
    return valid
