"""--check, --test-config, --help, --version and usage errors."""
from tests.integration.support import SUCCESS_BODY, FAILURE_BODY, TestCase, make_database


class OneShotTest(TestCase):

    def test_check_healthy_prints_the_body_and_exits_0(self):
        result = self.run_binary(["--check"], env={})
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stdout, SUCCESS_BODY + b"\n")

    def test_check_unhealthy_exits_1_with_the_reason_on_stderr(self):
        config = self.write_config(
            '{"services": ["cursor_backend"], "cursor_backend": {"database": "missing.db"}}')
        result = self.run_binary(["--config", config, "--check"])
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, FAILURE_BODY + b"\n")
        self.assertIn(b"cursor_backend failed", result.stderr)

    def test_check_with_a_database(self):
        make_database(self.path("app.db"))
        config = self.write_config('{"services": ["memory_backend", "cursor_backend"],'
                                   ' "cursor_backend": {"database": "app.db"}}')
        self.assertEqual(self.run_binary(["--config", config, "--check"]).returncode, 0)

    def test_check_with_a_bad_configuration_exits_78(self):
        config = self.write_config('{"timeout_ms": "soon"}')
        result = self.run_binary(["--config", config, "--check"])
        self.assertEqual(result.returncode, 78)
        self.assertEqual(result.stdout, b"")
        self.assertEqual(result.stderr.decode().strip(), config +
                         ':1: "timeout_ms": expected an integer from 1 to 60000 (milliseconds)')

    def test_test_config(self):
        good = self.write_config('{"services": ["memory_backend"]}', "good.json")
        result = self.run_binary(["--config", good, "--test-config"])
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stdout.decode(),
                         good + ": configuration ok, tried as user root (uid 0)\n")
        bad = self.write_config('{\n  "services": ["memory_backend"],\n  "extra": 1\n}', "bad.json")
        result = self.run_binary(["--config", bad, "--test-config"])
        self.assertEqual(result.returncode, 78)
        self.assertEqual(result.stderr.decode().strip(), bad + ':3: "extra": unknown key '
                         '(expected one of "cache", "cache_folder", "callable", "cursor_backend", '
                         '"details", "drain_file", '
                         '"drain_status", "drains", "failure_status", "probes", "services", '
                         '"timeout_ms")')
        missing = self.path("missing.json")
        result = self.run_binary(["--config", missing, "--test-config"])
        self.assertEqual(result.returncode, 78)
        self.assertEqual(result.stderr.decode().strip(),
                         missing + ": cannot read the configuration: No such file or directory")

    def test_environment_variable_names_the_config(self):
        bad = self.write_config('{"services": 1}')
        result = self.run_binary(["--test-config"], env={"HEALTHCHECK_CONFIG": bad})
        self.assertEqual(result.returncode, 78)

    def test_help_and_version(self):
        result = self.run_binary(["--help"])
        self.assertEqual(result.returncode, 0)
        self.assertIn(b"--listen", result.stdout)
        result = self.run_binary(["--version"])
        self.assertEqual(result.returncode, 0)
        self.assertRegex(result.stdout.decode(), r"^healthcheck \d+\.\d+\.\d+\n$")

    def test_nothing_to_serve_prints_usage_and_exits_64(self):
        result = self.run_binary([], env={})
        self.assertEqual(result.returncode, 64)
        self.assertIn(b"nothing to serve", result.stderr)
        self.assertIn(b"Usage:", result.stderr)

    def test_unknown_flag_exits_64(self):
        result = self.run_binary(["--frobnicate"])
        self.assertEqual(result.returncode, 64)
        self.assertEqual(result.stderr, b"healthcheck: --frobnicate: unknown flag (see --help)\n")
