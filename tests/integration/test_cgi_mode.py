"""The binary as a plain CGI program, as a web server runs it."""
import os
import shutil

from tests.integration.support import BINARY, TestCase, expected_bytes, make_database


class CgiTest(TestCase):

    def cgi_env(self, method="GET", **extra):
        env = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": method, "SCRIPT_NAME": "/health",
               "SERVER_PROTOCOL": "HTTP/1.1", "PATH": "/usr/bin:/bin"}
        env.update(extra)
        return env

    def test_get_answers_success_and_exits_0(self):
        config = self.write_config("{}")
        result = self.run_binary([], env=self.cgi_env(HEALTHCHECK_CONFIG=config))
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stdout, expected_bytes(True))
        self.assertEqual(result.stderr, b"")

    def test_head_has_no_body(self):
        result = self.run_binary([], env=self.cgi_env("HEAD"))
        self.assertEqual(result.stdout, expected_bytes(True, head=True))

    def test_post_body_is_read_and_ignored(self):
        body = b"a=1&" * 5000
        result = self.run_binary([], env=self.cgi_env("POST", CONTENT_LENGTH=str(len(body))),
                                 stdin=body)
        self.assertEqual(result.stdout, expected_bytes(True))

    def test_unhealthy_answers_500_exits_0_and_logs_to_stderr(self):
        config = self.write_config(
            '{"services": ["cursor_backend"], "cursor_backend": {"database": "app.db"}}')
        result = self.run_binary([], env=self.cgi_env(HEALTHCHECK_CONFIG=config))
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stdout, expected_bytes(False))
        self.assertIn(b"healthcheck: unhealthy: cursor_backend failed", result.stderr)
        self.assertFalse(os.path.exists(self.path("app.db")))

    def test_config_beside_the_binary_is_found(self):
        # The shared-hosting case: cgi-bin/healthcheck with healthcheck.json beside it.
        cgi_bin = self.path("cgi-bin")
        os.mkdir(cgi_bin)
        shutil.copy(BINARY, os.path.join(cgi_bin, "healthcheck"))
        make_database(os.path.join(cgi_bin, "app.db"), failed_jobs=1)
        with open(os.path.join(cgi_bin, "healthcheck.json"), "w") as config:
            config.write('{"callable": {"sql": "SELECT count(*) = 0 FROM failed_jobs"},'
                         ' "cursor_backend": {"database": "app.db"}}')
        result = self.run_binary_at(os.path.join(cgi_bin, "healthcheck"), self.cgi_env())
        self.assertEqual(result.stdout, expected_bytes(False))
        os.unlink(os.path.join(cgi_bin, "app.db"))
        make_database(os.path.join(cgi_bin, "app.db"), failed_jobs=0)
        result = self.run_binary_at(os.path.join(cgi_bin, "healthcheck"), self.cgi_env())
        self.assertEqual(result.stdout, expected_bytes(True))

    def test_bad_configuration_answers_failure_and_says_why_on_stderr(self):
        config = self.write_config('{"services": "memory_backend"}')
        result = self.run_binary([], env=self.cgi_env(HEALTHCHECK_CONFIG=config))
        self.assertEqual(result.stdout, expected_bytes(False))
        self.assertEqual(result.stderr.decode().strip(),
                         config + ':1: "services": expected a list of names')

    def run_binary_at(self, path, env):
        import subprocess
        return subprocess.run([path], input=b"", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, timeout=10)
