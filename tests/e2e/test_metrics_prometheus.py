"""Issue 13's metrics behind nginx, read by the real Prometheus: the
responder (spawn-fcgi.sh, 2 worker processes, as nobody) and plain CGI
processes count into one file in cache_folder; after a known number of
requests /health/metrics holds exactly those counts, passes `promtool check
metrics`, and Prometheus scraping it with a bearer token reads the same
values (and an anonymous scraper gets 403). prometheus and promtool come
from the Debian package `prometheus` (DEPS_PACKAGES): missing, the test
fails as it does for a missing web server."""
import grp
import json
import os
import pwd
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request

from tests.e2e.servers import (BINARY, OTHER_LOOPBACK, ServerTestCase, fill, free_port,
                               http_fetch, make_database, nginx_location, read_text,
                               shipped, spoofed_forwarding, wait_for)
from tests.integration.support import children_of

RESPONDER_USER, RESPONDER_GROUP = "nobody", "nogroup"  # conf/spawn-fcgi.sh's defaults.
TOKEN = "e2e-metrics-token-7c31d9a05e"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROMETHEUS, PROMTOOL = "/usr/bin/prometheus", "/usr/bin/promtool"
# Prometheus 2.42 applies new targets at most every 5 s, so the first sample
# comes about 5.5 s after the start (src/shield_research.md); room for a
# loaded machine and the ASan build.
FIRST_SAMPLE_TIMEOUT_S = 30.0
PROMTOOL_TIMEOUT_S = 30.0
SCRAPES_BEFORE_COMPARING = 3  # /metrics itself must not move the counts.
CACHE_SUCCESS_MS = 60000  # ready's result answers every later request of the test.

# The requests the test sends, by probe ("" is the top-level check), and
# what each must count.
TOP_REQUESTS, READY_REQUESTS, READY_CGI_REQUESTS = 7, 5, 2
JOBS_REQUESTS, MAINTENANCE_REQUESTS = 3, 2
FAILED_JOBS = 2  # jobs' callable wants none.
WORKERS = 2  # conf/spawn-fcgi.sh's --workers.
REPLACEMENT_TIMEOUT_S = 15.0

# The configuration: the top-level check on the database, ready cached,
# jobs failing in its callable, maintenance drained (its drain file exists
# for the whole test).
CONFIG = {
    "services": ["memory_backend", "cursor_backend"],
    "cursor_backend": {"database": "app.db", "timeout_ms": 1000},
    "timeout_ms": 2000,
    "probes": {
        "ready": {"services": ["memory_backend", "cursor_backend"],
                  "cache": {"success_ms": CACHE_SUCCESS_MS, "failure_ms": 250}},
        "jobs": {"services": ["cursor_backend"],
                 "callable": {"sql": "SELECT count(*) = 0 FROM failed_jobs"}},
        "maintenance": {"services": ["memory_backend"], "drains": True},
    },
    "drain_file": "drain",
    "cache_folder": "cache",
}

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def parse_labels(text):
    labels, position = {}, 0
    while position < len(text):
        found = LABEL.match(text, position)
        if not found:
            raise AssertionError("bad labels: %r" % text)
        value = re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)),
                       found.group(2))
        labels[found.group(1)] = value
        position = found.end()
    return labels


def parse_exposition(text):
    """{family: type} and {(name, frozenset(labels.items())): value} of a text
    exposition, checking what promtool does not (src/shield_research.md):
    one TYPE per family with all its samples together, no series twice,
    histogram buckets cumulative with +Inf equal to _count."""
    types, samples, finished, current = {}, {}, set(), None
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            assert family not in types, "a second TYPE for " + family
            types[family], current = kind, family
            continue
        if not line or line.startswith("#"):
            continue
        found = SAMPLE.match(line)
        assert found, "not a sample line: %r" % line
        name, labels = found.group(1), parse_labels(found.group(2) or "")
        family = next((name[:-len(s)] for s in HISTOGRAM_SUFFIXES
                       if name.endswith(s) and types.get(name[:-len(s)]) == "histogram"), name)
        assert family in types, "a sample before its TYPE: %r" % line
        if family != current:
            assert family not in finished, "the samples of %s split apart" % family
            finished.add(current)
            current = family
        key = (name, frozenset(labels.items()))
        assert key not in samples, "the same series twice: %r" % line
        samples[key] = float(found.group(3))
    for family, kind in types.items():
        if kind == "histogram":
            check_histogram(family, samples)
    return types, samples


def check_histogram(family, samples):
    series = {}
    for (name, labels), value in samples.items():
        if name == family + "_bucket":
            rest = frozenset((k, v) for k, v in labels if k != "le")
            series.setdefault(rest, []).append((float(dict(labels)["le"]), value))
    for labels, buckets in series.items():
        buckets.sort()
        counts = [count for _, count in buckets]
        assert counts == sorted(counts), "%s%s buckets not cumulative" % (family, dict(labels))
        assert buckets[-1][0] == float("inf"), "%s%s has no +Inf bucket" % (family, dict(labels))
        assert samples.get((family + "_count", labels)) == counts[-1], \
            "%s%s: +Inf is not _count" % (family, dict(labels))
        assert (family + "_sum", labels) in samples, "%s%s has no _sum" % (family, dict(labels))


def value(samples, name, **labels):
    """The sample's value; 0 for a series not written (a counter never counted)."""
    return samples.get((name, frozenset(labels.items())), 0)


def series_of(samples, name):
    return {labels: v for (n, labels), v in samples.items() if n == name}


def require_installed(test, *programs):
    """Like every server the e2e tests use, prometheus is in DEPS_PACKAGES
    (make test installs it): a missing one is a failure, not a skip."""
    for program in programs:
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            test.fail("%s is missing: install the Debian package prometheus (make deps)"
                      % program)


class MetricsPrometheusTest(ServerTestCase):

    def write_config(self, details):
        """CONFIG in the temp folder with `details`, its database (with
        FAILED_JOBS), its cache folder (nobody's, 0700) and its drain file."""
        settings = dict(CONFIG, details=details)
        config = self.path("healthcheck.json")
        with open(config, "w") as out:
            json.dump(settings, out, indent=2)
        os.chmod(config, 0o644)
        make_database(self.path("app.db"), failed_jobs=FAILED_JOBS)
        os.chmod(self.path("app.db"), 0o644)
        os.mkdir(self.path("cache"), 0o700)
        user = pwd.getpwnam(RESPONDER_USER)
        os.chown(self.path("cache"), user.pw_uid, user.pw_gid)
        open(self.path("drain"), "w").close()
        return config

    def write_token(self, name, owner, group, mode):
        with open(self.path(name), "w") as out:
            out.write(TOKEN + "\n")
        os.chown(self.path(name), pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
        os.chmod(self.path(name), mode)
        return self.path(name)

    def start_behind_nginx(self, config):
        """The responder (spawn-fcgi.sh: --workers 2, as nobody) on a unix
        socket, nginx with the shipped upstream and location snippets;
        returns nginx's port."""
        socket_path = self.path("healthcheck.sock")
        self.responder = self.spawn_responder(config, socket_path=socket_path)
        upstream = fill(shipped("nginx/healthcheck-upstream-unix.conf"),
                        {"/run/healthcheck/healthcheck.sock": socket_path})
        port = free_port()
        self.start_nginx_snippets(upstream, port, nginx_location())
        return port

    def cgi_request(self, config, path_info):
        """One plain CGI process as nobody (as mod_fcgid's or Apache's user
        would run it): it counts into the same file as the workers."""
        env = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET",
               "SERVER_PROTOCOL": "HTTP/1.1", "SCRIPT_NAME": "/cgi-bin/healthcheck",
               "PATH_INFO": path_info, "REMOTE_ADDR": "127.0.0.1", "PATH": "/usr/bin:/bin",
               "HEALTHCHECK_CONFIG": config}
        return subprocess.run(["setpriv", "--reuid=" + RESPONDER_USER,
                               "--regid=" + RESPONDER_GROUP, "--clear-groups", BINARY],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=30)

    def send_known_requests(self, port, config):
        expected = [("/health", TOP_REQUESTS, 200), ("/health/ready", READY_REQUESTS, 200),
                    ("/health/jobs", JOBS_REQUESTS, 500),
                    ("/health/maintenance", MAINTENANCE_REQUESTS, 500)]
        for path, count, status in expected:
            for _ in range(count):
                got = http_fetch(port, path)[0]
                self.assertEqual(got, status, path)
        for _ in range(READY_CGI_REQUESTS):
            answer = self.cgi_request(config, "/ready")
            self.assertTrue(answer.stdout.startswith(b"Status: 200 OK\r\n"),
                            answer.stdout + answer.stderr)

    def metrics(self, port, headers):
        """The authorised caller's /health/metrics: 200, the exposition's
        content type; returns the body as text."""
        status, got_headers, body = http_fetch(port, "/health/metrics", headers)
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(got_headers.get("content-type"), METRICS_TYPE)
        return body.decode("utf-8")

    def kill_every_worker(self, port, bearer):
        """SIGKILL to both workers (spawn-fcgi -n execs the master, whose
        children they are); returns the metrics once the master has
        replaced them and says so."""
        master = self.responder.process.pid
        workers = children_of(master)
        self.assertEqual(len(workers), WORKERS, read_text(self.nginx_error_log))
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        replaced = {}

        def restarts_counted():
            status, _, body = http_fetch(port, "/health/metrics", bearer)
            if status != 200:  # nginx's kept connection to a killed worker.
                return False
            replaced["samples"] = parse_exposition(body.decode("utf-8"))[1]
            return value(replaced["samples"], "healthcheck_worker_restarts_total") == WORKERS
        wait_for(restarts_counted, timeout=REPLACEMENT_TIMEOUT_S,
                 what="healthcheck_worker_restarts_total %d" % WORKERS)
        self.assertTrue(set(children_of(master)).isdisjoint(workers))
        return replaced["samples"]

    def assertPromtoolAccepts(self, text):
        checked = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=PROMTOOL_TIMEOUT_S)
        self.assertEqual((checked.returncode, checked.stdout.decode()), (0, ""), text)

    def assertNoMetrics(self, port, headers, source=None):
        status, _, body = http_fetch(port, "/health/metrics", headers, source=source)
        self.assertEqual(status, 403, body[:300])
        self.assertNotIn(b"healthcheck_", body)

    def assertCounts(self, types, samples, started, restarts=0):
        """Exactly the requests sent: the series the spec names, with their types."""
        for family, kind in {"healthcheck_build_info": "gauge",
                             "healthcheck_requests_total": "counter",
                             "healthcheck_checks_total": "counter",
                             "healthcheck_cache_hits_total": "counter",
                             "healthcheck_shared_waits_total": "counter",
                             "healthcheck_step_duration_seconds": "histogram",
                             "healthcheck_last_success_timestamp_seconds": "gauge",
                             "healthcheck_worker_restarts_total": "counter"}.items():
            self.assertEqual(types.get(family), kind, family)
        version = subprocess.run([BINARY, "--version"], stdout=subprocess.PIPE,
                                 timeout=10).stdout.decode().split()[-1]
        self.assertEqual(series_of(samples, "healthcheck_build_info"),
                         {frozenset({("version", version)}): 1})
        requests = "healthcheck_requests_total"
        expected_requests = {("", "healthy"): TOP_REQUESTS,
                             ("ready", "healthy"): READY_REQUESTS + READY_CGI_REQUESTS,
                             ("jobs", "unhealthy"): JOBS_REQUESTS,
                             ("maintenance", "drained"): MAINTENANCE_REQUESTS}
        for probe in ("", "ready", "jobs", "maintenance"):
            for outcome in ("healthy", "unhealthy", "drained"):
                self.assertEqual(value(samples, requests, probe=probe, outcome=outcome),
                                 expected_requests.get((probe, outcome), 0), (probe, outcome))
        checks = "healthcheck_checks_total"
        expected_checks = {("", "healthy"): TOP_REQUESTS, ("ready", "healthy"): 1,
                           ("jobs", "unhealthy"): JOBS_REQUESTS}
        for probe in ("", "ready", "jobs", "maintenance"):
            for outcome in ("healthy", "unhealthy"):
                self.assertEqual(value(samples, checks, probe=probe, outcome=outcome),
                                 expected_checks.get((probe, outcome), 0), (probe, outcome))
        # ready: the first request ran the check, every later one (the CGI
        # processes' too) was answered from the shared result.
        hits = "healthcheck_cache_hits_total"
        self.assertEqual(value(samples, hits, probe="ready"),
                         READY_REQUESTS + READY_CGI_REQUESTS - 1)
        for probe in ("", "jobs", "maintenance"):
            self.assertEqual(value(samples, hits, probe=probe), 0, probe)
        for probe in ("", "ready", "jobs", "maintenance"):  # One request at a time.
            self.assertEqual(value(samples, "healthcheck_shared_waits_total", probe=probe), 0)
        # One duration per step of every check run, and none for a drained answer.
        steps = {("", "memory_backend"): TOP_REQUESTS, ("", "cursor_backend"): TOP_REQUESTS,
                 ("ready", "memory_backend"): 1, ("ready", "cursor_backend"): 1,
                 ("jobs", "cursor_backend"): JOBS_REQUESTS,
                 ("jobs", "callable (sql)"): JOBS_REQUESTS}
        counted = {(dict(labels)["probe"], dict(labels)["step"]): v for labels, v in
                   series_of(samples, "healthcheck_step_duration_seconds_count").items() if v}
        self.assertEqual(counted, steps)
        last = series_of(samples, "healthcheck_last_success_timestamp_seconds")
        self.assertEqual(sorted(dict(labels)["probe"] for labels in last), ["", "ready"])
        for labels, stamp in last.items():
            self.assertTrue(started - 1 <= stamp <= time.time() + 1, (dict(labels), stamp))
        self.assertEqual(series_of(samples, "healthcheck_worker_restarts_total"),
                         {frozenset(): restarts})
        # README: 0 would mean the process answering counts alone.
        self.assertEqual(types.get("healthcheck_metrics_shared"), "gauge")
        self.assertEqual(series_of(samples, "healthcheck_metrics_shared"), {frozenset(): 1})
        for name, labels in samples:
            self.assertNotEqual(dict(labels).get("probe"), "metrics", name)

    # --- Prometheus ------------------------------------------------------

    def start_prometheus(self, nginx_port):
        """Prometheus as nobody on a free loopback port, its data in the temp
        folder, scraping /health/metrics every second twice: job
        healthcheck with the bearer token, job anonymous without; returns
        its port."""
        nobody = pwd.getpwnam("nobody")
        data = self.path("prometheus-data")
        os.mkdir(data, 0o700)
        os.chown(data, nobody.pw_uid, nobody.pw_gid)
        token = self.write_token("prometheus-token", "nobody", "nogroup", 0o600)
        target = {"static_configs": [{"targets": ["127.0.0.1:%d" % nginx_port]}],
                  "metrics_path": "/health/metrics"}
        settings = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "scrape_configs": [
                dict(target, job_name="healthcheck",
                     authorization={"type": "Bearer", "credentials_file": token}),
                dict(target, job_name="anonymous")]}
        config = self.path("prometheus.yml")
        with open(config, "w") as out:
            json.dump(settings, out)  # YAML reads JSON.
        os.chmod(config, 0o644)
        port = free_port()
        self.prometheus_port = port
        self.start(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                    PROMETHEUS, "--config.file=" + config, "--storage.tsdb.path=" + data,
                    "--web.listen-address=127.0.0.1:%d" % port,
                    "--storage.tsdb.retention.time=1h", "--log.level=warn"],
                   "prometheus.log", self.prometheus_ready)
        return port

    def prometheus_ready(self):
        """/-/ready answers 200: the port opens while the storage still
        loads, when every query answers 503."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.prometheus_port,
                                        timeout=2) as answer:
                return answer.status == 200
        except OSError:  # Refused, or urllib.error.HTTPError 503.
            return False

    def prometheus_api(self, path, **query):
        url = "http://127.0.0.1:%d%s?%s" % (self.prometheus_port, path,
                                              urllib.parse.urlencode(query))
        with urllib.request.urlopen(url, timeout=10) as answer:
            document = json.load(answer)
        self.assertEqual(document["status"], "success", document)
        return document["data"]

    def query(self, promql):
        """{frozenset(labels but the name, job and instance): float value}."""
        result = {}
        for series in self.prometheus_api("/api/v1/query", query=promql)["result"]:
            labels = {k: v for k, v in series["metric"].items()
                      if k not in ("__name__", "job", "instance")}
            result[frozenset(labels.items())] = float(series["value"][1])
        return result

    def wait_for_scrapes(self):
        """Until Prometheus has scraped the authorised job SCRAPES_BEFORE_COMPARING times."""
        def scraped():
            got = self.query('count_over_time(up{job="healthcheck"}[5m])')
            return got and list(got.values())[0] >= SCRAPES_BEFORE_COMPARING
        try:
            wait_for(scraped, timeout=FIRST_SAMPLE_TIMEOUT_S, what="Prometheus's scrapes")
        except AssertionError:
            raise AssertionError("no scrapes: targets %s\nlog: %s" % (
                json.dumps(self.prometheus_api("/api/v1/targets")),
                read_text(self.path("prometheus.log"))))

    def assertPrometheusReads(self, samples):
        """Prometheus holds the values the test read itself (an empty probe
        label is no label to it), the token scraper is up and the
        anonymous one is down with a 403."""
        self.assertEqual(self.query('up{job="healthcheck"}'), {frozenset(): 1.0})
        self.assertEqual(self.query('up{job="anonymous"}'), {frozenset(): 0.0})
        targets = self.prometheus_api("/api/v1/targets")["activeTargets"]
        health = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}
        self.assertEqual(health["healthcheck"], ("up", ""))
        self.assertEqual(health["anonymous"][0], "down")
        self.assertIn("403", health["anonymous"][1])
        for name in ("healthcheck_requests_total", "healthcheck_checks_total",
                     "healthcheck_cache_hits_total", "healthcheck_step_duration_seconds_count",
                     "healthcheck_build_info", "healthcheck_worker_restarts_total"):
            expected = {frozenset((k, v) for k, v in labels if v != ""): v
                        for labels, v in series_of(samples, name).items()}
            self.assertEqual(self.query('%s{job="healthcheck"}' % name), expected, name)
        self.assertEqual(self.query('healthcheck_requests_total{probe="",outcome="healthy"}'),
                         {frozenset({("outcome", "healthy")}): TOP_REQUESTS})
        self.assertEqual(self.query('healthcheck_requests_total{probe="ready",outcome="healthy"}'),
                         {frozenset({("probe", "ready"), ("outcome", "healthy")}):
                          READY_REQUESTS + READY_CGI_REQUESTS})
        # A series written twice, which promtool lets pass, Prometheus counts
        # in its own metrics (not scraped: read from its /metrics).
        own = "http://127.0.0.1:%d/metrics" % self.prometheus_port
        with urllib.request.urlopen(own, timeout=10) as answer:
            own_metrics = answer.read().decode()
        duplicates = re.search(r"^prometheus_target_scrapes_sample_duplicate_timestamp_total"
                               r" (\S+)$", own_metrics, re.M)
        self.assertIsNotNone(duplicates, own_metrics[:500])
        self.assertEqual(float(duplicates.group(1)), 0)

    # --- tests ------------------------------------------------------------

    def test_known_requests_counted_exactly_checked_by_promtool_and_scraped(self):
        require_installed(self, PROMETHEUS, PROMTOOL)
        started = time.time()
        self.write_token("token", "root", RESPONDER_GROUP, 0o640)
        # A token alone: nginx's REMOTE_ADDR is 127.0.0.1, so trusting it
        # would leave no anonymous caller.
        config = self.write_config({"token_file": self.path("token")})
        port = self.start_behind_nginx(config)
        self.send_known_requests(port, config)
        bearer = {"Authorization": "Bearer " + TOKEN}
        text = self.metrics(port, bearer)
        self.assertPromtoolAccepts(text)
        types, samples = parse_exposition(text)
        self.assertCounts(types, samples, started)
        self.assertNoMetrics(port, {})
        self.assertNoMetrics(port, {"Authorization": "Bearer " + TOKEN[:-1]})
        self.assertNoMetrics(port, {"Authorization": "Basic " + TOKEN})
        # Asking for the metrics again (and the refusals) counted nothing.
        self.assertEqual(parse_exposition(self.metrics(port, bearer))[1], samples)
        # The counts are the machine's, not a process's: they outlive every
        # worker that made them (whose requests the workers that answer
        # /metrics now never saw).
        after = self.kill_every_worker(port, bearer)
        self.assertCounts(types, after, started, restarts=WORKERS)
        samples = after

        self.start_prometheus(port)
        self.wait_for_scrapes()
        self.assertPrometheusReads(samples)
        # Prometheus's scrapes counted nothing either.
        self.assertEqual(parse_exposition(self.metrics(port, bearer))[1], samples)

    def test_trusted_address_is_the_callers_own(self):
        """REMOTE_ADDR 127.0.0.1 trusted: nginx's caller from 127.0.0.1 gets
        the metrics, one from 127.0.0.2 claiming 127.0.0.1 gets 403."""
        config = self.write_config({"trusted_addresses": ["127.0.0.1"]})
        port = self.start_behind_nginx(config)
        self.assertEqual(http_fetch(port, "/health")[0], 200)
        text = self.metrics(port, {})
        self.assertEqual(
            value(parse_exposition(text)[1], "healthcheck_requests_total", probe="",
                  outcome="healthy"), 1)
        self.assertNoMetrics(port, spoofed_forwarding("127.0.0.1"), source=OTHER_LOOPBACK)

    def test_a_probe_named_metrics_is_a_configuration_error(self):
        config = self.write_config({"trusted_addresses": ["127.0.0.1"]})
        checked = subprocess.run([BINARY, "--test-config", "--config", config],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        self.assertEqual(checked.returncode, 0, checked.stdout)
        with open(config) as source:
            settings = json.load(source)
        settings["probes"]["metrics"] = {"services": ["memory_backend"]}
        with open(config, "w") as out:
            json.dump(settings, out)
        checked = subprocess.run([BINARY, "--test-config", "--config", config],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        self.assertNotEqual(checked.returncode, 0, checked.stdout)
        self.assertIn(b'"metrics"', checked.stdout)
