"""Probes, the drain switch and the detailed report through the real binary:
FastCGI (threads and worker processes, reload) and plain CGI."""
import json
import os
import signal
import stat
import threading
import time

from tests.integration import fastcgi_wire
from tests.integration.support import (FAILURE_BODY, SUCCESS_BODY, TestCase, make_database,
                                       wait_until)

TOKEN = "integration-token-0123456789"
STATUS_LINES = {200: b"200 OK", 404: b"404 Not Found", 500: b"500 Internal Server Error",
                503: b"503 Service Unavailable"}

PROBES = """{
  "cursor_backend": {"database": "app.db", "timeout_ms": 300},
  "services": ["memory_backend", "cursor_backend"],
  "failure_status": 503,
  "probes": {
    "live": {"services": ["memory_backend"]},
    "ready": {"services": ["memory_backend", "cursor_backend"], "drains": true}
  },
  "drain_file": "drain",
  "drain_status": 404,
  "details": {"token_file": "token", "trusted_addresses": ["10.0.0.0/8"]}
}"""


def envelope(status):
    """The exact clearskies answer with `status`, as every anonymous caller gets it."""
    body = SUCCESS_BODY if status == 200 else FAILURE_BODY
    return (b"Status: " + STATUS_LINES[status] + b"\r\nContent-Type: application/json\r\n"
            b"Cache-Control: no-store\r\nVary: Accept, Authorization\r\nContent-Length: " +
            str(len(body)).encode() + b"\r\n\r\n" + body)


def report(stdout):
    """(status line, headers, parsed health+json body) of a detailed answer."""
    from tests.integration.health_json import validate_health_json
    head, body = stdout.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    headers = dict(line.split(b": ", 1) for line in lines[1:])
    return lines[0], headers, validate_health_json(body)


class ProbeCase(TestCase):

    def setUp(self):
        super().setUp()
        make_database(self.path("app.db"))
        with open(self.path("token"), "w") as token:
            token.write(TOKEN + "\n")
        os.chmod(self.path("token"), 0o600)
        self.config = self.write_config(PROBES)

    def fetch(self, address, path, **params):
        return fastcgi_wire.fetch(address, extra_params=dict({"SCRIPT_NAME": path}, **params))


class FastCgiProbeTest(ProbeCase):

    def test_path_info_then_script_name_then_document_uri_choose_the_probe(self):
        _, address = self.start_server(self.config)
        os.unlink(self.path("app.db"))  # live passes, ready and the top level fail.
        cases = [({"SCRIPT_NAME": "/health/live"}, 200),
                 ({"SCRIPT_NAME": "/health/ready"}, 503),
                 ({"SCRIPT_NAME": "/health"}, 503),
                 # PATH_INFO wins over SCRIPT_NAME (Apache CGI: /cgi-bin/healthcheck/live).
                 ({"SCRIPT_NAME": "/cgi-bin/healthcheck", "PATH_INFO": "/live"}, 200),
                 ({"SCRIPT_NAME": "/health/live", "PATH_INFO": "/ready"}, 503),
                 # An empty PATH_INFO (nginx's fastcgi_split_path_info) is unset.
                 ({"SCRIPT_NAME": "/health/live", "PATH_INFO": ""}, 200),
                 # No SCRIPT_NAME at all: DOCUMENT_URI.
                 ({"SCRIPT_NAME": "", "DOCUMENT_URI": "/health/live"}, 200),
                 ({"SCRIPT_NAME": "", "DOCUMENT_URI": "/health/ready"}, 503),
                 # The query string never chooses.
                 ({"SCRIPT_NAME": "/health", "QUERY_STRING": "x=/live",
                   "REQUEST_URI": "/health?x=/live"}, 503)]
        for params, status in cases:
            with self.subTest(params=params):
                self.assertEqual(fastcgi_wire.fetch(address, extra_params=params).stdout,
                                 envelope(status))

    def test_drain_flips_ready_to_404_across_worker_processes_and_back(self):
        _, address = self.start_server(self.config, ["--workers", "2", "--threads", "2"])
        log = []  # What the web server's error log would hold: each answer's stderr.

        def answer(path):
            reply = self.fetch(address, path)
            log.append(reply.stderr.decode())
            return reply.stdout

        for _ in range(6):
            self.assertEqual(answer("/health/ready"), envelope(200))
        open(self.path("drain"), "w").close()
        for _ in range(20):
            self.assertEqual(answer("/health/ready"), envelope(404))
            self.assertEqual(answer("/health/live"), envelope(200))
            # The top-level check is not marked drains.
            self.assertEqual(answer("/health"), envelope(200))
        os.unlink(self.path("drain"))
        # Each worker that saw the drain says it is over on its next request;
        # which worker takes a connection is the kernel's choice, so ask
        # until both have (bounded), not a fixed number of times.
        for asked in range(200):
            self.assertEqual(answer("/health/ready"), envelope(200))
            text = "".join(log)
            if asked >= 19 and text.count("healthcheck: drain over:") == text.count("healthcheck: draining:"):
                break
        text = "".join(log)
        # Once per change in each worker process that saw it, not per request.
        self.assertIn(text.count("healthcheck: draining: %s exists" % self.path("drain")), (1, 2), text)
        self.assertEqual(text.count("healthcheck: drain over:"), text.count("healthcheck: draining:"), text)

    def test_a_drain_that_spans_a_reload_still_logs_its_end(self):
        server, address = self.start_server(self.config)
        open(self.path("drain"), "w").close()
        self.assertIn(b"healthcheck: draining:", self.fetch(address, "/health/ready").stderr)
        server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in server.log_text())
        self.assertEqual(self.fetch(address, "/health/ready").stderr, b"")  # No second start.
        os.unlink(self.path("drain"))
        ended = self.fetch(address, "/health/ready")
        self.assertEqual(ended.stdout, envelope(200))
        self.assertIn(b"healthcheck: drain over:", ended.stderr)

    def test_detailed_report_only_for_the_authorised_who_ask(self):
        _, address = self.start_server(self.config)
        asks = {"HTTP_ACCEPT": "application/health+json"}
        bearer = {"HTTP_AUTHORIZATION": "Bearer " + TOKEN}
        status, headers, document = report(self.fetch(address, "/health/ready", **asks, **bearer).stdout)
        self.assertEqual(status, b"Status: 200 OK")
        self.assertEqual(headers[b"Content-Type"], b"application/health+json")
        self.assertEqual(headers[b"Vary"], b"Accept, Authorization")
        self.assertEqual(document["status"], "pass")
        self.assertEqual(sorted(document["checks"]),
                         ["cursor_backend:responseTime", "memory_backend:responseTime"])
        os.unlink(self.path("app.db"))
        status, _, document = report(self.fetch(address, "/health/ready", **asks, **bearer).stdout)
        self.assertEqual(status, b"Status: 503 Service Unavailable")
        self.assertEqual(document["status"], "fail")
        failed = document["checks"]["cursor_backend:responseTime"][0]
        self.assertEqual(failed["status"], "fail")
        self.assertIn("app.db", failed["output"])
        # A trusted REMOTE_ADDR, IPv4-mapped, needs no token.
        status, _, document = report(self.fetch(address, "/health/ready", REMOTE_ADDR="::ffff:10.2.3.4",
                                                **asks).stdout)
        self.assertEqual(document["status"], "fail")
        # Everyone else: the envelope, byte for byte, though the report holds a reason.
        others = [{},
                  bearer,  # Authorised, but did not ask.
                  dict(asks, HTTP_AUTHORIZATION="Bearer " + TOKEN[:-1]),
                  dict(asks, HTTP_AUTHORIZATION="Bearer " + TOKEN + "0"),
                  dict(asks, HTTP_AUTHORIZATION="Basic " + TOKEN),
                  dict(asks, REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR="10.0.0.1",
                       HTTP_X_REAL_IP="10.0.0.1", HTTP_FORWARDED="for=10.0.0.1"),
                  dict(asks, REMOTE_ADDR="unix:")]
        for params in others:
            with self.subTest(params=params):
                self.assertEqual(self.fetch(address, "/health/ready", **params).stdout, envelope(503))

    def test_concurrent_anonymous_and_authorised_callers_each_get_their_own_answer(self):
        _, address = self.start_server(self.config, ["--threads", "4"])
        failures = []

        def caller(detailed):
            params = {"HTTP_ACCEPT": "application/health+json",
                      "HTTP_AUTHORIZATION": "Bearer " + (TOKEN if detailed else "nope")}
            for _ in range(40):
                stdout = self.fetch(address, "/health/ready", **params).stdout
                good = (b"application/health+json" in stdout) if detailed else stdout == envelope(200)
                if not good:
                    failures.append(stdout)

        threads = [threading.Thread(target=caller, args=(i % 2 == 0,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        self.assertEqual(failures, [])

    def test_reload_adds_probes_and_refuses_a_token_others_can_read(self):
        config = self.write_config('{"services": ["memory_backend"]}', "reload.json")
        server, address = self.start_server(config)
        os.unlink(self.path("app.db"))
        self.assertEqual(self.fetch(address, "/health/ready").stdout, envelope(200))
        with open(config, "w") as file:
            file.write(PROBES)
        server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in server.log_text())
        self.assertEqual(self.fetch(address, "/health/ready").stdout, envelope(503))
        self.assertEqual(self.fetch(address, "/health/live").stdout, envelope(200))
        os.chmod(self.path("token"), 0o644)
        server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload refused" in server.log_text())
        self.assertIn("readable or writable by others (mode 0644)", server.log_text())
        self.assertEqual(self.fetch(address, "/health/ready").stdout, envelope(503))


class CgiProbeTest(ProbeCase):

    def cgi(self, **env):
        base = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1",
                "SCRIPT_NAME": "/cgi-bin/healthcheck", "PATH": "/usr/bin:/bin",
                "HEALTHCHECK_CONFIG": self.config}
        base.update(env)
        return self.run_binary([], env=base)

    def test_path_info_chooses_the_probe_and_drain_answers_404(self):
        os.unlink(self.path("app.db"))
        self.assertEqual(self.cgi(PATH_INFO="/live").stdout, envelope(200))
        ready = self.cgi(PATH_INFO="/ready")
        self.assertEqual(ready.stdout, envelope(503))
        self.assertIn(b"healthcheck: probe ready: unhealthy: cursor_backend failed", ready.stderr)
        open(self.path("drain"), "w").close()
        drained = self.cgi(PATH_INFO="/ready")
        self.assertEqual(drained.stdout, envelope(404))
        self.assertIn(b"healthcheck: draining: " + self.path("drain").encode(), drained.stderr)
        self.assertNotIn(b"cursor_backend", drained.stderr)  # Not run.

    def test_report_for_the_token_envelope_for_a_spoofed_forwarded_for(self):
        os.unlink(self.path("app.db"))
        detailed = self.cgi(PATH_INFO="/ready", HTTP_ACCEPT="application/health+json",
                            HTTP_AUTHORIZATION="Bearer " + TOKEN, REMOTE_ADDR="192.0.2.1")
        status, _, document = report(detailed.stdout)
        self.assertEqual(status, b"Status: 503 Service Unavailable")
        self.assertIn("app.db", document["output"])
        spoofed = self.cgi(PATH_INFO="/ready", HTTP_ACCEPT="application/health+json",
                           REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.0.0.1")
        self.assertEqual(spoofed.stdout, envelope(503))
        head = self.cgi(PATH_INFO="/ready", REQUEST_METHOD="HEAD", HTTP_ACCEPT="application/health+json",
                        HTTP_AUTHORIZATION="Bearer " + TOKEN)
        self.assertTrue(head.stdout.endswith(b"\r\n\r\n"), head.stdout)
        self.assertIn(b"Content-Type: application/health+json", head.stdout)


class ProbeConfigTest(ProbeCase):

    def test_test_config_names_token_and_drain_problems(self):
        os.chmod(self.path("token"), 0o604)
        result = self.run_binary(["--config", self.config, "--test-config"])
        self.assertEqual(result.returncode, 78)
        self.assertIn(b'"details.token_file": ' + self.path("token").encode() +
                      b": readable or writable by others (mode 0604)", result.stderr)
        os.chmod(self.path("token"), 0o600)
        os.symlink("loop", self.path("loop"))
        with open(self.config, "w") as file:
            file.write(PROBES.replace('"drain_file": "drain"', '"drain_file": "loop/drain"'))
        result = self.run_binary(["--config", self.config, "--test-config"])
        self.assertEqual(result.returncode, 78)
        self.assertIn(b"drain_file: cannot tell whether " + self.path("loop/drain").encode() +
                      b" exists (Too many levels of symbolic links)", result.stderr)

    def test_start_up_line_names_probes_drain_and_details(self):
        server, _ = self.start_server(self.config)
        self.assertIn("probe live: memory_backend; probe ready: memory_backend, cursor_backend "
                      "(database %s); drains; drain file %s (answers 404); details for token holders "
                      "and 1 trusted network" % (self.path("app.db"), self.path("drain")),
                      server.log_text())


class CheckProbeTest(ProbeCase):

    def test_check_runs_the_named_probe_and_refuses_an_unknown_one(self):
        os.unlink(self.path("app.db"))
        live = self.run_binary(["--check", "--probe", "live", "--config", self.config])
        self.assertEqual((live.returncode, live.stdout), (0, SUCCESS_BODY + b"\n"))
        ready = self.run_binary(["--check", "--probe", "ready", "--config", self.config])
        self.assertEqual((ready.returncode, ready.stdout), (1, FAILURE_BODY + b"\n"))
        self.assertIn(b"healthcheck: probe ready: unhealthy: cursor_backend failed", ready.stderr)
        top = self.run_binary(["--check", "--config", self.config])
        self.assertEqual(top.returncode, 1)
        unknown = self.run_binary(["--check", "--probe", "redy", "--config", self.config])
        self.assertEqual((unknown.returncode, unknown.stdout), (64, b""))
        self.assertEqual(unknown.stderr.decode().strip(),
                         "--probe redy: the configuration has no such probe (it has: live, ready)")
        alone = self.run_binary(["--probe", "live", "--config", self.config])
        self.assertEqual(alone.returncode, 64)
        self.assertIn(b"--probe: only with --check", alone.stderr)


class SlowProbeTest(TestCase):
    """A probe may be allowed longer than the top-level check; whoever waits
    on a request in flight (the stuck-worker watch, a graceful stop) must
    allow it that long too."""

    def setUp(self):
        super().setUp()
        with open(self.path("slow.sh"), "w") as script:
            script.write("#!/bin/sh\nsleep 4\nexit 0\n")
        os.chmod(self.path("slow.sh"), 0o755)
        self.config = self.write_config(
            '{"timeout_ms": 1000, "probes": {"slow": {"callable": {"command": ["slow.sh"]},'
            ' "timeout_ms": 10000}}}')

    def slow_request(self, address, replies):
        replies.append(fastcgi_wire.fetch(address, extra_params={"SCRIPT_NAME": "/health/slow"},
                                          timeout=15.0))

    def test_a_worker_is_not_killed_as_stuck_inside_its_probes_deadline(self):
        server, address = self.start_server(self.config, ["--workers", "1"])
        replies = []
        self.slow_request(address, replies)
        self.assertEqual(replies[0].stdout, envelope(200))
        self.assertNotIn("stuck", server.log_text())

    def test_a_graceful_stop_waits_for_a_slow_probe(self):
        for extra in (["--idle-timeout-ms", "100"], ["--workers", "1"]):
            with self.subTest(extra=extra):
                server, address = self.start_server(self.config, extra, socket_name="s%d.sock" % len(extra[0]))
                replies = []
                client = threading.Thread(target=self.slow_request, args=(address, replies))
                client.start()
                time.sleep(0.5)
                server.process.send_signal(signal.SIGTERM)
                client.join(timeout=20)
                self.assertEqual(server.process.wait(timeout=20), 0)
                self.assertEqual([reply.stdout for reply in replies], [envelope(200)])
