"""CGI mode, beside test_hostile_cgi.py: missing and strange variables, bodies
that are huge, silent or trickled, and closed or broken standard streams.
Every answer is exact and comes within a bound."""
import os
import subprocess
import threading
import time

from tests.integration.support import BINARY, TestCase, expected_bytes

# DrainBody waits at most 2 s on a silent stdin, then the check (default
# deadline 2 s) runs; the rest is process start and scheduling.
BODY_WAIT_S = 2.0
DEADLINE_S = 2.0
BOUND_S = BODY_WAIT_S + DEADLINE_S + 1.0
CGI_BASE = {"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
            "SCRIPT_NAME": "/health", "REQUEST_URI": "/health"}


class CgiFaultTest(TestCase):

    def cgi_env(self, **variables):
        env = dict(CGI_BASE)
        env.update(variables)
        return env

    def run_cgi(self, env, stdin=subprocess.DEVNULL, timeout=BOUND_S + 5):
        started = time.monotonic()
        result = subprocess.run([BINARY], env=env, stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=timeout)
        return result, time.monotonic() - started

    def test_no_request_method_prints_usage_and_answers_nothing(self):
        for env in ({}, dict(CGI_BASE), {"CONTENT_LENGTH": "10", "QUERY_STRING": "a=b"}):
            with self.subTest(env=env):
                result, _ = self.run_cgi(env)
                self.assertEqual(result.returncode, 64)
                self.assertEqual(result.stdout, b"")
                self.assertIn(b"Usage", result.stderr)

    def test_strange_variables_still_get_the_exact_answer(self):
        cases = [
            self.cgi_env(REQUEST_METHOD="get"),
            self.cgi_env(REQUEST_METHOD="G" * 100000),
            self.cgi_env(REQUEST_METHOD="GET", CONTENT_LENGTH=""),
            self.cgi_env(REQUEST_METHOD="GET", CONTENT_LENGTH=" 5"),
            self.cgi_env(REQUEST_METHOD="GET", CONTENT_LENGTH="0x10"),
            self.cgi_env(REQUEST_METHOD="GET", CONTENT_LENGTH="-9223372036854775808"),
            self.cgi_env(REQUEST_METHOD="GET", CONTENT_LENGTH="18446744073709551616"),
            self.cgi_env(REQUEST_METHOD="GET", GATEWAY_INTERFACE="CGI/9.9",
                         SERVER_PROTOCOL="SPDY/7"),
            dict(self.cgi_env(REQUEST_METHOD="GET"),
                 **{"HTTP_X_%d" % i: "v" * 1000 for i in range(1000)}),
        ]
        for env in cases:
            with self.subTest(method=env["REQUEST_METHOD"][:10],
                              length=env.get("CONTENT_LENGTH")):
                result, took = self.run_cgi(env)
                self.assertEqual(result.returncode, 0)
                self.assertEqual(result.stdout, expected_bytes(True))
                self.assertLess(took, BOUND_S)

    def test_non_utf8_method_bytes_answer_like_get(self):
        env = {k.encode(): v.encode() for k, v in CGI_BASE.items()}
        env[b"REQUEST_METHOD"] = b"\xff\xfe\x80GET"
        result, _ = self.run_cgi(env)
        self.assertEqual(result.stdout, expected_bytes(True))

    def test_head_with_a_body_and_odd_length_has_no_body(self):
        result = subprocess.run([BINARY], env=self.cgi_env(REQUEST_METHOD="HEAD",
                                                          CONTENT_LENGTH="999999999"),
                                input=b"z" * 5000, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=BOUND_S + 5)
        self.assertEqual(result.stdout, expected_bytes(True, head=True))

    def test_body_larger_than_the_cap_answers_without_reading_it_all(self):
        # 8 MiB announced and sent; the responder reads 1 MiB and answers.
        process = subprocess.Popen([BINARY], env=self.cgi_env(
            REQUEST_METHOD="POST", CONTENT_LENGTH=str(8 << 20)), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(process.kill)
        started = time.monotonic()

        def feed():
            try:
                process.stdin.write(b"b" * (8 << 20))
            except OSError:
                pass  # It stopped reading at the cap, as it should.
            finally:
                try:
                    process.stdin.close()
                except OSError:
                    pass

        feeder = threading.Thread(target=feed)
        feeder.start()
        stdout = process.stdout.read()  # Ends when it exits.
        process.wait(BOUND_S + 5)
        feeder.join(BOUND_S + 5)
        process.stderr.close()
        process.stdout.close()
        self.assertEqual(stdout, expected_bytes(True))
        self.assertEqual(process.returncode, 0)
        self.assertLess(time.monotonic() - started, BOUND_S)

    def test_trickled_body_cannot_hold_the_process(self):
        # A slow client behind a web server that streams the body (Apache
        # mod_cgi does): a byte every 0.3 s of an announced 100.
        process = subprocess.Popen([BINARY], env=self.cgi_env(
            REQUEST_METHOD="POST", CONTENT_LENGTH="100"), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(process.kill)
        stop = threading.Event()
        self.addCleanup(stop.set)

        def trickle():
            try:
                while not stop.wait(0.3):
                    process.stdin.write(b"t")
                    process.stdin.flush()
            except OSError:
                pass

        trickler = threading.Thread(target=trickle)
        trickler.start()
        self.addCleanup(trickler.join, 5)
        started = time.monotonic()
        try:
            process.wait(timeout=BOUND_S + 1)
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - started
        stop.set()
        trickler.join(5)
        process.kill()
        stdout = process.stdout.read()
        for stream in (process.stdin, process.stdout, process.stderr):
            try:
                stream.close()
            except OSError:
                pass
        self.assertLess(took, BOUND_S, "a trickled body held the CGI process")
        self.assertEqual(stdout, expected_bytes(True))

    def test_closed_stderr_still_answers_an_unhealthy_check(self):
        config = self.write_config('{"callable": {"command": ["/bin/false"]}}')
        result = subprocess.run(["/bin/sh", "-c", 'exec "$0" 2>&-', BINARY],
                                env=self.cgi_env(REQUEST_METHOD="GET", HEALTHCHECK_CONFIG=config),
                                stdout=subprocess.PIPE, timeout=BOUND_S + 5)
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stdout, expected_bytes(False))

    def test_stderr_reader_gone_still_answers(self):
        config = self.write_config('{"callable": {"command": ["/bin/false"]}}')
        reader, writer = os.pipe()
        os.close(reader)
        try:
            result = subprocess.run([BINARY], env=self.cgi_env(
                REQUEST_METHOD="GET", HEALTHCHECK_CONFIG=config), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=writer, timeout=BOUND_S + 5)
        finally:
            os.close(writer)
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stdout, expected_bytes(False))

    def test_closed_stdout_on_an_unhealthy_check_exits_70_and_logs_both(self):
        config = self.write_config('{"callable": {"command": ["/bin/false"]}}')
        result = subprocess.run(["/bin/sh", "-c", 'exec "$0" >&-', BINARY],
                                env=self.cgi_env(REQUEST_METHOD="GET", HEALTHCHECK_CONFIG=config),
                                stderr=subprocess.PIPE, timeout=BOUND_S + 5)
        self.assertEqual(result.returncode, 70)
        self.assertIn(b"unhealthy", result.stderr)
        self.assertIn(b"cannot write the CGI response", result.stderr)

    def test_all_three_streams_closed_does_not_hang_or_crash(self):
        result = subprocess.run(["/bin/sh", "-c", 'exec "$0" <&- >&- 2>&-', BINARY],
                                env=self.cgi_env(REQUEST_METHOD="POST", CONTENT_LENGTH="10"),
                                timeout=BOUND_S + 5)
        self.assertEqual(result.returncode, 70)

    def test_missing_configuration_named_by_the_environment_fails_closed(self):
        result, _ = self.run_cgi(self.cgi_env(REQUEST_METHOD="GET",
                                              HEALTHCHECK_CONFIG=self.path("nope.json")))
        self.assertEqual(result.stdout, expected_bytes(False))
        self.assertIn(b"nope.json", result.stderr)
