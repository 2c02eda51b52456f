"""CGI mode under odd environments and broken pipes."""
import os
import subprocess
import time

from tests.integration.support import BINARY, TestCase, expected_bytes


class HostileCgiTest(TestCase):

    def run_cgi(self, env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, timeout=10):
        return subprocess.run([BINARY], env=env, stdin=stdin, stdout=stdout,
                              stderr=subprocess.PIPE, timeout=timeout)

    def test_odd_variables_still_answer(self):
        for env in ({"REQUEST_METHOD": ""}, {"REQUEST_METHOD": "BREW"},
                    {"REQUEST_METHOD": "GET", "CONTENT_LENGTH": "-5"},
                    {"REQUEST_METHOD": "GET", "CONTENT_LENGTH": "abc"},
                    {"REQUEST_METHOD": "GET", "CONTENT_LENGTH": "99999999999999999999999"},
                    {"REQUEST_METHOD": "GET\nX: y"},
                    {"REQUEST_METHOD": "GET", "SCRIPT_FILENAME": "relative/path"}):
            result = self.run_cgi(env)
            self.assertEqual(result.returncode, 0, env)
            self.assertEqual(result.stdout, expected_bytes(True), env)

    def test_oversized_content_length_with_a_short_body_answers_on_time(self):
        started = time.monotonic()
        result = subprocess.run([BINARY], env={"REQUEST_METHOD": "POST",
                                               "CONTENT_LENGTH": str(10 ** 12)},
                                input=b"short", stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(result.stdout, expected_bytes(True))
        self.assertLess(time.monotonic() - started, 3)

    def test_stdin_held_open_and_silent_answers_within_the_bound(self):
        reader, writer = os.pipe()
        self.addCleanup(os.close, writer)
        started = time.monotonic()
        result = self.run_cgi({"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "100"}, stdin=reader)
        os.close(reader)
        self.assertEqual(result.stdout, expected_bytes(True))
        self.assertLess(time.monotonic() - started, 4)

    def test_closed_stdin(self):
        result = subprocess.run(
            ["/bin/sh", "-c", 'exec "$0" <&-', BINARY],
            env={"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "10"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(result.stdout, expected_bytes(True))

    def test_closed_stdout_fails_cleanly_without_a_signal(self):
        result = subprocess.run(["/bin/sh", "-c", 'exec "$0" >&-', BINARY],
                                env={"REQUEST_METHOD": "GET"}, stderr=subprocess.PIPE,
                                timeout=10)
        self.assertEqual(result.returncode, 70)
        self.assertIn(b"cannot write the CGI response", result.stderr)

    def test_stdout_reader_gone(self):
        reader, writer = os.pipe()
        os.close(reader)
        try:
            result = self.run_cgi({"REQUEST_METHOD": "GET"}, stdout=writer)
        finally:
            os.close(writer)
        self.assertEqual(result.returncode, 70)  # EPIPE, not killed by SIGPIPE.

    def test_a_trickled_body_cannot_hold_the_process(self):
        process = subprocess.Popen([BINARY], env={"REQUEST_METHOD": "POST",
                                                  "CONTENT_LENGTH": "1000"},
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        self.addCleanup(lambda: process.poll() is None and process.kill())
        started = time.monotonic()
        try:
            while process.poll() is None and time.monotonic() - started < 6:
                process.stdin.write(b"x")
                process.stdin.flush()
                time.sleep(0.3)
        except BrokenPipeError:
            pass  # It stopped reading: good.
        stdout, _ = process.communicate(timeout=5)
        self.assertEqual(stdout, expected_bytes(True))
        self.assertLess(time.monotonic() - started, 4)
