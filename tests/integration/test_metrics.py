"""Issue 13's metrics through the real binary: counts for the whole machine
(--workers processes, CGI processes), worker restarts, the 403 for anonymous
callers, promtool's check of the page, and a counters file truncated or
deleted while the server counts."""
import glob
import json
import os
import signal
import subprocess
import time

from tests.integration import fastcgi_wire
from tests.integration.shield_support import sample
from tests.integration.support import BINARY, SUCCESS_BODY, TestCase, children_of, wait_until

TOKEN = "metrics-token-0123456789"



class Metrics(TestCase):

    def config(self, **extra):
        os.makedirs(self.path("state"), mode=0o700, exist_ok=True)
        with open(self.path("token"), "w") as out:
            out.write(TOKEN + "\n")
        os.chmod(self.path("token"), 0o600)
        settings = {"services": ["memory_backend"],
                    "probes": {"ready": {"services": ["memory_backend"],
                                         "cache": {"success_ms": 60000, "failure_ms": 0}}},
                    "details": {"token_file": "token"},
                    "cache_folder": "state"}
        settings.update(extra)
        return self.write_config(json.dumps(settings))

    def ask(self, address, path, token=None):
        params = {"SCRIPT_NAME": path, "REQUEST_URI": path}
        if token:
            params["HTTP_AUTHORIZATION"] = "Bearer " + token
        return fastcgi_wire.fetch(address, extra_params=params, timeout=10)

    def page(self, address):
        reply = self.ask(address, "/health/metrics", TOKEN)
        self.assertEqual(reply.status, 200, reply.stdout)
        self.assertEqual(reply.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        return reply.body.decode()

    def test_the_counts_are_every_workers_and_promtool_accepts_the_page(self):
        server, address = self.start_server(self.config(),
                                             extra_args=["--workers", "2", "--threads", "2"])
        for _ in range(30):
            self.assertEqual(self.ask(address, "/health").body, SUCCESS_BODY)
        for _ in range(20):
            self.assertEqual(self.ask(address, "/health/ready").body, SUCCESS_BODY)
        page = self.page(address)
        self.assertEqual(sample(page, 'healthcheck_requests_total{probe="",outcome="healthy"}'), 30)
        self.assertEqual(sample(page, 'healthcheck_checks_total{probe="",outcome="healthy"}'), 30)
        self.assertEqual(sample(page, 'healthcheck_requests_total{probe="ready",outcome="healthy"}'), 20)
        # The cache: one check, shared by two workers' requests.
        self.assertEqual(sample(page, 'healthcheck_checks_total{probe="ready",outcome="healthy"}'), 1)
        self.assertEqual(sample(page, 'healthcheck_cache_hits_total{probe="ready"}'), 19)
        self.assertEqual(sample(page, 'healthcheck_step_duration_seconds_count'
                                      '{probe="",step="memory_backend"}'), 30)
        self.assertEqual(sample(page, "healthcheck_metrics_shared"), 1)
        self.assertAlmostEqual(sample(page, 'healthcheck_last_success_timestamp_seconds{probe=""}'),
                               time.time(), delta=60)
        checked = subprocess.run(["promtool", "check", "metrics"], input=page.encode(),
                                 capture_output=True, timeout=30)
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        self.assertEqual(checked.stdout + checked.stderr, b"")

    def test_anonymous_callers_and_wrong_tokens_get_no_metrics(self):
        server, address = self.start_server(self.config())
        for token in (None, "not-the-token-0123456789"):
            reply = self.ask(address, "/health/metrics", token)
            self.assertEqual(reply.status, 403)
            self.assertNotIn(b"healthcheck_", reply.stdout)
        # The metrics page is no probe: it is not counted as a request.
        self.assertEqual(sample(self.page(address),
                                'healthcheck_requests_total{probe="",outcome="unhealthy"}'), 0)

    def test_without_details_the_path_is_an_ordinary_check(self):
        os.makedirs(self.path("state"), mode=0o700)
        config = self.write_config(json.dumps({"cache": {"success_ms": 100}, "cache_folder": "state"}))
        server, address = self.start_server(config)
        reply = self.ask(address, "/health/metrics", TOKEN)
        self.assertEqual(reply.body, SUCCESS_BODY)
        self.assertEqual(glob.glob(self.path("state/metrics-*")), [])

    def test_a_killed_worker_counts_as_a_restart(self):
        server, address = self.start_server(self.config(), extra_args=["--workers", "2"])
        # The supervisor starts its workers after it listens.
        self.assertTrue(wait_until(lambda: len(children_of(server.process.pid)) == 2, timeout=10))
        workers = children_of(server.process.pid)
        os.kill(workers[0], signal.SIGKILL)
        self.assertTrue(wait_until(
            lambda: sample(self.page(address), "healthcheck_worker_restarts_total") == 1, timeout=10))

    def test_cgi_processes_count_on_one_page(self):
        config = self.config()
        env = dict(os.environ, REQUEST_METHOD="GET", SCRIPT_NAME="/health", HEALTHCHECK_CONFIG=config)
        for _ in range(5):
            completed = subprocess.run([BINARY], env=env, capture_output=True, timeout=10)
            self.assertTrue(completed.stdout.endswith(SUCCESS_BODY))
        env.update(SCRIPT_NAME="/health/metrics", HTTP_AUTHORIZATION="Bearer " + TOKEN)
        completed = subprocess.run([BINARY], env=env, capture_output=True, timeout=10)
        page = completed.stdout.partition(b"\r\n\r\n")[2].decode()
        self.assertEqual(sample(page, 'healthcheck_requests_total{probe="",outcome="healthy"}'), 5)

    def test_a_counters_file_truncated_or_deleted_while_serving(self):
        server, address = self.start_server(self.config(), extra_args=["--threads", "2"])
        self.assertEqual(self.ask(address, "/health").body, SUCCESS_BODY)
        [counters] = glob.glob(self.path("state/metrics-*.counters"))
        os.truncate(counters, 0)
        for _ in range(5):  # Each would be SIGBUS without the guard.
            self.assertEqual(self.ask(address, "/health").body, SUCCESS_BODY)
        time.sleep(1.2)  # Past the once-a-second look at the file.
        self.assertEqual(self.ask(address, "/health").body, SUCCESS_BODY)
        page = self.page(address)
        self.assertEqual(sample(page, "healthcheck_metrics_shared"), 1)
        self.assertGreaterEqual(sample(page, 'healthcheck_requests_total{probe="",outcome="healthy"}'), 1)
        os.unlink(counters)
        time.sleep(1.2)
        self.assertEqual(self.ask(address, "/health").body, SUCCESS_BODY)
        self.assertTrue(os.path.exists(counters))
        self.assertIsNone(server.process.poll())
        self.assertNotIn("signal", server.log_text())

    def test_a_folder_that_cannot_hold_the_file_counts_alone_and_says_so_once(self):
        config = self.config()
        os.rmdir(self.path("state"))
        with open(self.path("state"), "w"):
            pass  # A file where the folder should be: every open fails.
        server, address = self.start_server(config)
        errors = b""
        for _ in range(5):
            reply = self.ask(address, "/health")
            self.assertEqual(reply.body, SUCCESS_BODY)
            errors += reply.stderr
        self.assertEqual(sample(self.page(address), "healthcheck_metrics_shared"), 0)
        # Each request's log lines go to the web server (FastCGI's stderr stream).
        said = [line for line in errors.decode().splitlines() if "healthcheck: metrics:" in line]
        self.assertEqual(len(said), 1, said)
        self.assertIn("this process counts alone", said[0])
