#!/usr/bin/env python3
"""make bench: healthcheck against its baselines, measured in one run on this
machine, side by side, reported as ratios (absolute figures from a shared
2-core machine are noise; ratios from one run are not).

  FastCGI through one nginx on loopback with wrk:
    nginx `return 200` (the ceiling), a minimal libfcgi responder (the floor
    cost of FastCGI), php-fpm's ping.path (what users run today), and
    healthcheck with memory_backend, cursor_backend and a sql callable; and
    with issue 12's probes (/health/ready: routing, the drain stat(), the
    details settings), anonymous and as an authorised health+json caller.
  CGI: the per-request process cost of healthcheck (each check kind) against
    a minimal C CGI program and a python3 CGI script (median of many runs).
  Memory: VmRSS of an idle healthcheck FastCGI process, and after 100k requests.
  Databases (issue 11, bench/database_rows.py): cursor_backend on a real
    MariaDB and PostgreSQL against php-fpm + PDO (plain and persistent),
    the server's new connections per 1,000 checks, and CGI against a minimal
    C program with the same client library.
  Issue 13: the flood shield's cache on cursor_backend (SQLite here, the
    servers in database_rows.py) against the minimal libfcgi responder, the
    checks actually run per second under the flood, and the metrics' cost
    (details and cache_folder configured).

    python3 bench/run_bench.py [--duration 10] [--connections 32] [--quick] [--json FILE]
                               [--fastcgi-only] [--rows probes-json] [--databases-only]

Nothing here is a test: it prints what it measured, PASS or MISS against each
target, and exits 0 unless the harness itself broke or a row answered wrongly
(every row's answer is checked once before it is measured; a row with non-2xx
answers under load makes its targets INVALID): a wrong answer is not a
measurement."""
import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import database_rows

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "bench")
THREADS = 4           # Worker threads of every FastCGI backend but php-fpm.
PHP_CHILDREN = 2      # php-fpm's static pool, as the issue sets it.
WRK_THREADS = 2
MEMORY_REQUESTS = 100000
START_TIMEOUT_S = 10
SUCCESS_BODY = '{"status":"success","error":"","data":{},"pagination":{},"input_errors":{}}'
PROBE_PATH = "/health/ready"   # The probe the two rows of issue 12 ask for.
HEALTH_JSON = "application/health+json"

# Targets, as ratios measured in this run.
TARGETS = [
    ("memory_backend req/s >= 0.95 x minimal libfcgi", "memory", "minimal", "rps", 0.95, ">="),
    ("memory_backend req/s >= 1.3 x php-fpm ping", "memory", "php-fpm", "rps", 1.3, ">="),
    ("cursor_backend req/s >= 0.85 x minimal libfcgi", "cursor", "minimal", "rps", 0.85, ">="),
    ("memory_backend p99 <= 1.2 x minimal libfcgi", "memory", "minimal", "p99_ms", 1.2, "<="),
    ("cursor_backend p99 <= 1.2 x minimal libfcgi", "cursor", "minimal", "p99_ms", 1.2, "<="),
    # Issue 12: probes, drain and details configured must not cost the
    # common request its speed.
    ("probes (%s) req/s >= 0.95 x minimal libfcgi" % PROBE_PATH, "probes", "minimal", "rps",
     0.95, ">="),
    # Issue 12: a health+json report "costs no more than 1.1x an envelope
    # request". Cost is time per request, so in req/s (report / envelope,
    # same binary, configuration and probe) that is >= 1/1.1 = 0.91.
    ("health+json req/s >= 1/1.1 x envelope (cost <= 1.1x)", "probes-json", "probes", "rps",
     1 / 1.1, ">="),
    # Issue 13, the flood shield: with a cache, a check of a real database
    # answers as fast as FastCGI itself, tail included.
    ("cursor_backend, cache: req/s >= 1.0 x minimal libfcgi", "cursor-cache", "minimal", "rps",
     1.0, ">="),
    ("cursor_backend, cache: p99 <= 1.0 x minimal libfcgi", "cursor-cache", "minimal", "p99_ms",
     1.0, "<="),
    # Issue 13's metrics cost (details and cache_folder configured).
    ("metrics counted: req/s >= 0.95 x minimal libfcgi", "metrics", "minimal", "rps", 0.95, ">="),
]

# Issue 13: the flood shield's cache in the cached rows (here and in
# bench/database_rows.py), and its bound on the checks actually run under a
# flood: <= RUNS_TARGET x (1000 / success_ms) per probe.
CACHE = {"success_ms": 1000, "failure_ms": 250}
RUNS_TARGET = 1.1

# What each row's ratios and targets compare it to: --rows runs these too.
NEEDS = {"memory": ["minimal", "php-fpm"], "cursor": ["minimal"], "sql": ["minimal"],
         "probes": ["minimal"], "probes-json": ["probes"], "cursor-cache": ["minimal"],
         "runs": ["minimal"], "metrics": ["minimal"]}
ROW_KEYS = ["static", "minimal", "php-fpm", "memory", "cursor", "sql", "probes", "probes-json",
            "cursor-cache", "runs", "metrics"]
# Issue 11's rows, each key a driver: healthcheck and php-fpm + PDO, plain
# and persistent, on that driver's server (bench/database_rows.py).
ROW_KEYS += database_rows.DRIVERS

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
  upstream minimal { server unix:%(dir)s/minimal.sock; keepalive 2; }
  upstream php { server unix:%(dir)s/php.sock; keepalive 2; }
  upstream healthcheck { server unix:%(dir)s/healthcheck.sock; keepalive 2; }
  server {
    listen 127.0.0.1:%(port)d;
    location = /static { default_type application/json; return 200 '%(body)s'; }
    location = /minimal {
      include /etc/nginx/fastcgi_params; fastcgi_pass minimal; fastcgi_keep_conn on; }
    location = /php-ping {
      include /etc/nginx/fastcgi_params; fastcgi_param SCRIPT_NAME /ping;
      fastcgi_param SCRIPT_FILENAME /ping; fastcgi_pass php; fastcgi_keep_conn on; }
    location = /health {
      include /etc/nginx/fastcgi_params; fastcgi_pass healthcheck; fastcgi_keep_conn on; }
    # As nginx/healthcheck-location.conf mounts probes: SCRIPT_NAME /health/NAME.
    location ^~ /health/ {
      include /etc/nginx/fastcgi_params; fastcgi_pass healthcheck; fastcgi_keep_conn on; }
  }
}
"""

PHP_CONF = """[global]
pid = %(dir)s/php-fpm.pid
error_log = %(dir)s/php-fpm.log
daemonize = no
[bench]
user = nobody
group = nogroup
listen = %(dir)s/php.sock
listen.mode = 0666
pm = static
pm.max_children = %(children)d
ping.path = /ping
ping.response = pong
"""


class Processes:
    """Everything started here, stopped on the way out whatever happens."""

    def __init__(self):
        self.running = []

    def start(self, args, log, ready):
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.running.append(process)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench: %s did not start" % args[0])
            time.sleep(0.05)
        return process

    def stop(self, process, sig=signal.SIGTERM):
        if process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process in self.running:
            self.running.remove(process)

    def stop_all(self):
        for process in list(self.running):
            self.stop(process)


def connects(path):
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(path)
            return True
        except OSError:
            return False


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def milliseconds(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, seconds, connections, headers=()):
    extra = [argument for header in headers for argument in ("-H", header)]
    output = subprocess.run(
        ["wrk", "-t%d" % WRK_THREADS, "-c%d" % connections, "-d%ds" % seconds, "--latency"] +
        extra + [url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=seconds + 60).stdout.decode()
    found = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
             "requests": int(re.search(r"(\d+) requests in", output).group(1))}
    for percent, key in (("50", "p50_ms"), ("99", "p99_ms")):
        found[key] = milliseconds(re.search(r"\s%s%%\s+([\d.]+\w+)" % percent, output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    found["non_2xx"] = int(errors.group(1)) if errors else 0
    return found


def make_database(path):
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE failed_jobs (id INTEGER PRIMARY KEY)")
    connection.commit()
    connection.close()


def write_configs(folder):
    """The configuration files, and the token of the probes configuration."""
    make_database(os.path.join(folder, "app.db"))
    token = secrets.token_urlsafe(24)  # 32 visible characters.
    descriptor = os.open(os.path.join(folder, "token"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(token + "\n")
    # Issue 12's configuration: the drain file's folder does not exist, so
    # the ready probe stat()s it, finds nothing and runs its check. The
    # trusted network does not hold nginx's 127.0.0.1: a report is earned by
    # the token, after the address was looked at.
    probes = ('{"services": ["memory_backend"],'
              ' "probes": {"live": {"services": ["memory_backend"]},'
              ' "ready": {"services": ["memory_backend"], "drains": true},'
              ' "startup": {"services": ["memory_backend"]}},'
              ' "drain_file": "%s",'
              ' "details": {"token_file": "token", "trusted_addresses": ["10.0.0.0/8"]}}')
    configs = {
        "memory": '{"services": ["memory_backend"]}',
        "cursor": '{"services": ["memory_backend", "cursor_backend"],'
                  ' "cursor_backend": {"database": "app.db"}}',
        "sql": '{"services": ["cursor_backend"],'
               ' "callable": {"sql": "SELECT count(*) = 0 FROM failed_jobs"},'
               ' "cursor_backend": {"database": "app.db"}}',
        "none": '{}',
        "probes": probes % "/nonexistent-folder/drain",
        # The same with a drain file that exists: only used to show, once,
        # that /health/ready reaches the ready probe (it drains, /health
        # does not), so that the probes rows measure what they say.
        "probes-drained": probes % os.path.join(folder, "drain"),
        # Issue 13's flood shield: the cursor row's check, shared through
        # the cache.
        "cursor-cache": json.dumps({
            "services": ["memory_backend", "cursor_backend"],
            "cursor_backend": {"database": "app.db"},
            "cache": CACHE, "cache_folder": "shield"}),
        # Every check that really runs appends its start time to the runs
        # file (a command callable: `date` run by sh, once per check), so
        # the bench counts the checks the flood caused.
        "runs": json.dumps({
            "services": ["memory_backend"],
            "callable": {"command": ["/bin/sh", "-c", "exec date +%s.%N >> " + runs_file(folder)]},
            "cache": CACHE, "cache_folder": "shield"}),
        # Issue 13's metrics are counted when both details and cache_folder
        # are configured: every request of this row adds to the shared
        # counters file. nginx's 127.0.0.1 is trusted, but without Accept:
        # health+json it gets the envelope, as any probe would.
        "metrics": json.dumps({
            "services": ["memory_backend"],
            "details": {"trusted_addresses": ["127.0.0.1"]},
            "cache_folder": "shield"}),
    }
    # The shared results' folder: the responder refuses one others may write.
    os.mkdir(os.path.join(folder, "shield"), 0o700)
    open(os.path.join(folder, "drain"), "w").close()
    paths = {}
    for name, text in configs.items():
        paths[name] = os.path.join(folder, name + ".json")
        with open(paths[name], "w") as out:
            out.write(text)
    return paths, token


def runs_file(folder):
    """Where the runs row's command appends one line per check it runs."""
    return os.path.join(folder, "runs")


def read_runs(folder):
    """The start times (CLOCK_REALTIME, seconds) of the checks run so far."""
    try:
        with open(runs_file(folder)) as runs:
            return [float(line) for line in runs if line.strip()]
    except FileNotFoundError:
        return []


def runs_in(times, start, end):
    """Checks run between start and end, and their rate: (n - 1) over the
    time from the first to the last, which a window's edges do not bias
    (n over the window would count 4 in a 3 s window that met a run at
    each edge); n / window when fewer than 2 ran."""
    inside = sorted(t for t in times if start <= t <= end)
    if len(inside) >= 2 and inside[-1] > inside[0]:
        rate = (len(inside) - 1) / (inside[-1] - inside[0])
    else:
        rate = len(inside) / (end - start)
    return {"runs": len(inside), "flood_s": end - start, "runs_per_s": rate,
            "runs_per_s_window": len(inside) / (end - start)}


def build_minimal_fcgi(folder):
    minimal_fcgi = os.path.join(folder, "minimal_fcgi")
    subprocess.run(["cc", "-O2", os.path.join(BENCH, "minimal_fcgi.c"), "-o", minimal_fcgi,
                    "-lfcgi", "-pthread"], check=True, timeout=120)
    return minimal_fcgi


def build_baselines(folder):
    minimal_fcgi = build_minimal_fcgi(folder)
    minimal_cgi = os.path.join(folder, "minimal_cgi")
    subprocess.run(["cc", "-O2", os.path.join(BENCH, "minimal_cgi.c"), "-o", minimal_cgi],
                   check=True, timeout=120)
    return minimal_fcgi, minimal_cgi


def resident_kib(pid):
    with open("/proc/%d/status" % pid) as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def get(port, path, headers=None):
    """One GET through nginx, as wrk will send it: status, Content-Type, body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read().decode()
    finally:
        connection.close()


def expect_envelope(status, content_type, body):
    if status != 200 or content_type != "application/json" or body != SUCCESS_BODY:
        return "wanted 200 application/json and the success envelope"
    return None


def expect_pong(status, content_type, body):
    return None if status == 200 and body == "pong" else "wanted 200 and pong"


def expect_health_json(status, content_type, body):
    """A passing report of the ready probe's one step, not an envelope."""
    try:
        report = json.loads(body)
    except ValueError:
        report = None
    if (status != 200 or content_type != HEALTH_JSON or not isinstance(report, dict) or
            report.get("status") != "pass" or
            list(report.get("checks", {})) != ["memory_backend:responseTime"]):
        return "wanted 200 %s with a passing memory_backend report" % HEALTH_JSON
    return None


def verify(label, port, path, headers, expect):
    """A wrong answer fails the bench: it is not measured."""
    status, content_type, body = get(port, path, headers)
    wrong = expect(status, content_type, body)
    if wrong:
        raise SystemExit("bench: %s answered GET %s with %d %s %r: %s" % (
            label, path, status, content_type, body[:300], wrong))
    return len(body)


def verify_routing(args, folder, configs, port, processes, log):
    """With the drain file present, /health/ready must drain (the ready probe
    runs) while /health answers 200 (the top-level check, which does not
    drain): the probes rows then measure the probe, not a fallback."""
    socket_path = os.path.join(folder, "healthcheck.sock")
    server = processes.start([args.binary, "--config", configs["probes-drained"], "--listen",
                              "unix:" + socket_path, "--threads", "1"], log,
                             lambda: connects(socket_path))
    try:
        ready = get(port, PROBE_PATH)[0]
        top = get(port, "/health")[0]
    finally:
        processes.stop(server)
    if ready != 500 or top != 200:
        raise SystemExit("bench: routing check: drained %s answered %d (wanted 500), /health %d"
                         " (wanted 200): %s does not reach the ready probe" % (
                             PROBE_PATH, ready, top, PROBE_PATH))
    print("  routing checked: with the drain file present %s answers 500, /health 200" %
          PROBE_PATH)


def bench_fastcgi(args, folder, configs, token, minimal_fcgi, processes, log):
    port = free_port()
    with open(os.path.join(folder, "nginx.conf"), "w") as out:
        out.write(NGINX_CONF % {"dir": folder, "port": port, "body": SUCCESS_BODY})
    with open(os.path.join(folder, "php-fpm.conf"), "w") as out:
        out.write(PHP_CONF % {"dir": folder, "children": PHP_CHILDREN})
    nginx = processes.start(["nginx", "-c", os.path.join(folder, "nginx.conf"), "-p", folder,
                             "-e", os.path.join(folder, "nginx-error.log")], log,
                            lambda: port_open(port))
    base = "http://127.0.0.1:%d" % port
    rows = {}
    php_fpm = shutil.which("php-fpm8.2") or shutil.which("php-fpm")
    def healthcheck(kind):
        return [args.binary, "--config", configs[kind], "--listen", "unix:" + os.path.join(
            folder, "healthcheck.sock"), "--threads", str(THREADS)]

    authorised = ["Authorization: Bearer " + token, "Accept: " + HEALTH_JSON]
    # key, label, backend command, path, request headers, the answer it must give.
    plan = [("static", "nginx return 200 (ceiling)", None, "/static", [], expect_envelope),
            ("minimal", "minimal libfcgi responder", [minimal_fcgi, os.path.join(
                folder, "minimal.sock"), str(THREADS)], "/minimal", [], expect_envelope),
            ("php-fpm", "php-fpm ping.path", [php_fpm, "--nodaemonize", "-y", os.path.join(
                folder, "php-fpm.conf")] if php_fpm else None, "/php-ping", [], expect_pong)]
    for kind in ("memory", "cursor", "sql"):
        plan.append((kind, "healthcheck %s" % {"memory": "memory_backend", "cursor":
                                                "cursor_backend", "sql": "sql callable"}[kind],
                     healthcheck(kind), "/health", [], expect_envelope))
    plan.append(("probes", "healthcheck probes, " + PROBE_PATH, healthcheck("probes"), PROBE_PATH,
                 [], expect_envelope))
    plan.append(("probes-json", "  same, authorised health+json", healthcheck("probes"),
                 PROBE_PATH, authorised, expect_health_json))
    # Issue 13's rows, after the others: rows without a cache run as before.
    plan.append(("cursor-cache", "healthcheck cursor_backend, cache", healthcheck("cursor-cache"),
                 "/health", [], expect_envelope))
    plan.append(("runs", "healthcheck command, cache (runs)", healthcheck("runs"), "/health", [],
                 expect_envelope))
    plan.append(("metrics", "healthcheck metrics counted", healthcheck("metrics"), "/health", [],
                 expect_envelope))
    plan = [row for row in plan if row[0] in args.rows and (row[0] != "php-fpm" or php_fpm)]
    if "probes" in args.rows or "probes-json" in args.rows:
        verify_routing(args, folder, configs, port, processes, log)
    runs = {}
    body_bytes = {}
    for round_number in range(args.rounds):
        for key, label, command, path, headers, expect in plan:
            backend = None
            if command:
                socket_path = os.path.join(folder, {"minimal": "minimal.sock", "php-fpm":
                                                    "php.sock"}.get(key, "healthcheck.sock"))
                backend = processes.start(command, log, lambda: connects(socket_path))
            body_bytes[key] = verify(label.strip(), port, path, dict(
                header.split(": ", 1) for header in headers), expect)
            flood_start = time.time()  # The runs file's clock (date: CLOCK_REALTIME).
            wrk(base + path, args.warmup, args.connections, headers)
            run = wrk(base + path, args.duration, args.connections, headers)
            if key == "runs":
                # The checks run during the flood (warm-up and timed run).
                run.update(runs_in(read_runs(folder), flood_start, time.time()))
            runs.setdefault(key, []).append(run)
            print("  round %d  %-33s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms%s%s" % (
                round_number + 1, label, run["rps"], run["p50_ms"], run["p99_ms"],
                "  %d checks run in %.1f s: %.2f/s" % (run["runs"], run["flood_s"],
                                                      run["runs_per_s"]) if key == "runs" else "",
                "  (%d non-2xx!)" % run["non_2xx"] if run["non_2xx"] else ""))
            if backend:
                processes.stop(backend)
    if "php-fpm" in args.rows and "php-fpm" not in runs:
        print("  php-fpm not installed: row skipped")
    print("\n  median of %d rounds:" % args.rounds)
    rows = {}
    for key, label, _, _, _, _ in plan:
        if key not in runs:
            continue
        row = {field: statistics.median(run[field] for run in runs[key])
               for field in ("rps", "p50_ms", "p99_ms")}
        row["non_2xx"] = sum(run["non_2xx"] for run in runs[key])
        row["rps_each_round"] = [run["rps"] for run in runs[key]]
        row["label"] = label.strip()
        row["body_bytes"] = body_bytes[key]
        if key == "runs":
            found = runs[key]
            row["runs"] = sum(run["runs"] for run in found)
            row["flood_s"] = sum(run["flood_s"] for run in found)
            row["runs_per_s"] = statistics.median(run["runs_per_s"] for run in found)
            row["runs_per_s_each_round"] = [run["runs_per_s"] for run in found]
            row["runs_per_s_window"] = row["runs"] / row["flood_s"]
        rows[key] = row
        print("  %-33s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  (req/s %s)%s" % (
            label, row["rps"], row["p50_ms"], row["p99_ms"],
            " / ".join("%.0f" % rps for rps in row["rps_each_round"]),
            "  (%d non-2xx!)" % row["non_2xx"] if row["non_2xx"] else ""))
    return rows, nginx, port


def bench_memory(args, folder, configs, port, processes, log):
    """VmRSS of a healthcheck process idle, after its first requests, and
    after at least MEMORY_REQUESTS, for memory_backend and cursor_backend
    (whose threads keep a connection and recycled SQLite memory)."""
    results = {}
    for kind in ("memory", "cursor"):
        server = processes.start([args.binary, "--config", configs[kind], "--listen",
                                  "unix:" + os.path.join(folder, "healthcheck.sock"),
                                  "--threads", str(THREADS)], log,
                                 lambda: connects(os.path.join(folder, "healthcheck.sock")))
        time.sleep(0.5)
        idle = resident_kib(server.pid)
        served = wrk("http://127.0.0.1:%d/health" % port, 1, args.connections)["requests"]
        warm = resident_kib(server.pid)
        while served < MEMORY_REQUESTS:
            served += wrk("http://127.0.0.1:%d/health" % port, 3, args.connections)["requests"]
        after = resident_kib(server.pid)
        processes.stop(server)
        results[kind] = {"idle_kib": idle, "warm_kib": warm, "after_kib": after,
                         "requests": served}
        print("  %-8s idle %d KiB, after its first second %d KiB, after %d requests %d KiB" %
              (kind, idle, warm, served, after))
    return results


def run_ms(argv, env):
    started = time.perf_counter_ns()
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return (time.perf_counter_ns() - started) / 1e6


def bench_cgi(args, configs, minimal_cgi):
    """Each program once per turn, turn after turn: a busy moment of the
    machine falls on all of them alike. The median of each."""
    env = {"REQUEST_METHOD": "GET", "GATEWAY_INTERFACE": "CGI/1.1", "PATH": "/usr/bin:/bin"}
    plan = [("minimal C CGI", [minimal_cgi], {}),
            ("python3 CGI", [sys.executable, os.path.join(BENCH, "minimal_cgi.py")], {})]
    for kind in ("none", "memory", "cursor", "sql"):
        plan.append(("healthcheck %s" % kind, [args.binary],
                     {"HEALTHCHECK_CONFIG": configs[kind]}))
    times = {label: [] for label, _, _ in plan}
    warm_up = max(10, args.cgi_runs // 10)  # Page cache and branch predictors.
    for turn in range(warm_up + args.cgi_runs):
        for label, argv, extra in plan:
            elapsed = run_ms(argv, dict(env, **extra))
            if turn >= warm_up:
                times[label].append(elapsed)
    rows = {label: statistics.median(values) for label, values in times.items()}
    floor = rows["minimal C CGI"]
    for label, value in rows.items():
        print("  %-28s %7.3f ms  %5.2f x minimal C" % (label, value, value / floor))
    return rows


def print_ratios(rows):
    """Each healthcheck row against the baselines, then the FastCGI targets.
    Returns False when a target's row had non-2xx answers under load."""
    print("\nRatios (this run):")
    for key in ("memory", "cursor", "sql", "probes", "cursor-cache", "runs", "metrics"):
        if key not in rows or "minimal" not in rows:
            continue
        parts = ["%s: %.2f x minimal" % (rows[key]["label"],
                                         rows[key]["rps"] / rows["minimal"]["rps"])]
        if "php-fpm" in rows:
            parts.append("%.2f x php-fpm" % (rows[key]["rps"] / rows["php-fpm"]["rps"]))
        parts.append("p99 %.2f x minimal" % (rows[key]["p99_ms"] / rows["minimal"]["p99_ms"]))
        print("  " + ", ".join(parts))
    if "probes-json" in rows:
        report, envelope = rows["probes-json"], rows["probes"]
        print("  authorised health+json (%d bytes) vs the anonymous envelope (%d bytes), same"
              " probe: %.2f x its req/s (a report costs %.2f x an envelope request);"
              " p99 %.2f ms vs %.2f ms (%.2f x)" % (
                  report["body_bytes"], envelope["body_bytes"], report["rps"] / envelope["rps"],
                  envelope["rps"] / report["rps"], report["p99_ms"], envelope["p99_ms"],
                  report["p99_ms"] / envelope["p99_ms"]))
    print("\nTargets:")
    valid = True
    for text, row, base, field, limit, sense in TARGETS:
        if row not in rows or base not in rows:
            continue
        ratio = rows[row][field] / rows[base][field]
        met = ratio >= limit if sense == ">=" else ratio <= limit
        verdict = "PASS" if met else "MISS"
        if rows[row]["non_2xx"] or rows[base]["non_2xx"]:
            verdict, valid = "INVALID (non-2xx answers)", False
        print("  %-56s %5.2f  %s" % (text, ratio, verdict))
    if "runs" in rows:
        # Not a ratio: checks run per second against the cache's own bound.
        row = rows["runs"]
        limit = RUNS_TARGET * 1000.0 / CACHE["success_ms"]
        verdict = "PASS" if row["runs_per_s"] <= limit else "MISS"
        if row["non_2xx"]:
            verdict, valid = "INVALID (non-2xx answers)", False
        print("  %-56s %5.2f  %s" % ("checks run per second <= %.1f x 1000/success_ms (%.2f)"
                                     % (RUNS_TARGET, limit), row["runs_per_s"], verdict))
        print("  (%d checks in %.1f s of flood: %.2f/s counted over the whole flood, edges"
              " included; rounds %s)" % (row["runs"], row["flood_s"], row["runs_per_s_window"],
                                         " / ".join("%.2f" % r for r in
                                                    row["runs_per_s_each_round"])))
    return valid


def run_databases(args, folder, processes, log, with_cgi):
    """Issue 11's section, when its rows are wanted."""
    if not any(name in args.rows for name in database_rows.DRIVERS):
        return {"fastcgi": {}, "cgi_ms": {}, "skipped": {}}
    print("\nDatabases, FastCGI through nginx (wrk -t%d -c%d):" % (WRK_THREADS, args.connections))
    return database_rows.run(args, sys.modules[__name__], folder, processes, log, with_cgi)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(REPO, "build", "healthcheck"))
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="every FastCGI row runs this many times, in turn; medians reported")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per row")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--cgi-runs", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--json", help="save the results here")
    parser.add_argument("--fastcgi-only", action="store_true",
                        help="only the FastCGI rows and their ratios, to iterate on speed")
    parser.add_argument("--rows", help="with --fastcgi-only: just these FastCGI rows (comma"
                        " separated: %s) and the rows they are compared to" % ", ".join(ROW_KEYS))
    parser.add_argument("--databases-only", action="store_true",
                        help="only issue 11's database rows (FastCGI, connections, CGI)")
    args = parser.parse_args()
    args.binary = os.path.abspath(args.binary)
    if args.databases_only:
        if args.fastcgi_only or args.rows:
            parser.error("--databases-only runs no other rows")
        args.rows = set(database_rows.DRIVERS)
    elif args.rows:
        if not args.fastcgi_only:
            parser.error("--rows needs --fastcgi-only")
        wanted = [key.strip() for key in args.rows.split(",")]
        unknown = [key for key in wanted if key not in ROW_KEYS]
        if unknown:
            parser.error("unknown row %s (rows: %s)" % (", ".join(unknown), ", ".join(ROW_KEYS)))
        while True:
            more = [need for key in wanted for need in NEEDS.get(key, []) if need not in wanted]
            if not more:
                break
            wanted += more
        args.rows = set(wanted)
    else:
        args.rows = set(ROW_KEYS)
    if args.quick:
        args.duration, args.warmup, args.cgi_runs, args.rounds = 2, 1, 60, 1

    processes = Processes()
    folder = tempfile.mkdtemp(prefix="healthcheck-bench-")
    os.chmod(folder, 0o755)
    log = open(os.path.join(folder, "bench.log"), "wb")
    try:
        if args.databases_only:
            print("Databases, FastCGI through nginx (wrk -t%d -c%d):" % (WRK_THREADS,
                                                                       args.connections))
            databases = database_rows.run(args, sys.modules[__name__], folder, processes, log,
                                          with_cgi=True)
            print("\nTargets:")
            valid = database_rows.print_targets(databases)
            if args.json:
                with open(args.json, "w") as out:
                    json.dump({"databases": databases}, out, indent=2)
            return 0 if valid else 1
        minimal_fcgi, minimal_cgi = build_baselines(folder)
        configs, token = write_configs(folder)
        print("FastCGI through nginx (wrk -t%d -c%d, %d s each, %d rounds, %d threads per backend):"
              % (WRK_THREADS, args.connections, args.duration, args.rounds, THREADS))
        rows, nginx, port = bench_fastcgi(args, folder, configs, token, minimal_fcgi, processes,
                                          log)
        if args.fastcgi_only:
            processes.stop(nginx, signal.SIGQUIT)
            databases = run_databases(args, folder, processes, log, with_cgi=False)
            valid = print_ratios(rows)
            valid = database_rows.print_targets(databases) and valid
            if args.json:
                with open(args.json, "w") as out:
                    json.dump({"fastcgi": rows, "databases": databases}, out, indent=2)
            return 0 if valid else 1
        print("\nMemory (VmRSS of a healthcheck process, %d threads):" % THREADS)
        memory = bench_memory(args, folder, configs, port, processes, log)
        processes.stop(nginx, signal.SIGQUIT)
        print("\nCGI, one process per request (median of %d runs):" % args.cgi_runs)
        cgi = bench_cgi(args, configs, minimal_cgi)
        databases = run_databases(args, folder, processes, log, with_cgi=True)

        valid = print_ratios(rows)
        valid = database_rows.print_targets(databases) and valid
        worst_cgi = max(cgi["healthcheck %s" % k] for k in ("none", "memory", "cursor", "sql"))
        ratio = worst_cgi / cgi["minimal C CGI"]
        print("  %-56s %5.2f  %s" % ("CGI cost (worst kind) <= 1.5 x minimal C", ratio,
                                     "PASS" if ratio <= 1.5 else "MISS"))
        for kind, figures in memory.items():
            print("  %-56s %5d  %s" % ("%s: idle RSS < 4096 KiB" % kind, figures["idle_kib"],
                                       "PASS" if figures["idle_kib"] < 4096 else "MISS"))
            # Growth after the first second, when every thread has met its
            # first request: what grows from there on is a leak.
            growth = figures["after_kib"] - figures["warm_kib"]
            print("  %-56s %5d  %s" % ("%s: RSS growth over 100k requests (KiB)" % kind, growth,
                                       "PASS" if growth <= 256 else "MISS"))
        if args.json:
            with open(args.json, "w") as out:
                json.dump({"fastcgi": rows, "cgi_ms": cgi, "memory": memory,
                           "databases": databases}, out, indent=2)
        return 0 if valid else 1
    finally:
        processes.stop_all()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
