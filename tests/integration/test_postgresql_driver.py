"""The postgresql driver of cursor_backend (healthcheck-postgresql, handed over
to by build/healthcheck) against a real PostgreSQL started by the test: the
issue's fault list, each answered 500 within the deadline with its reason in
the log and the password nowhere; kept connections in FastCGI mode; CGI; and
--test-config."""
import contextlib
import json
import mmap
import os
import re
import signal
import threading
import time

from tests.integration import fastcgi_wire
from tests.integration.driver_support import DriverCase, FreezingProxy
from tests.integration.db_servers import PASSWORD, PostgresServer, SilentListener, free_port
from tests.integration.support import BINARY, FAILURE_BODY, SUCCESS_BODY, wait_until


# The worker's default memory limit (--max-worker-rss-mib).
MEMORY_LIMIT_KIB = 64 * 1024
# The program build/healthcheck hands a postgresql check over to.
DRIVER_PROGRAM = os.path.join(os.path.dirname(BINARY), "healthcheck-postgresql")


def sanitized():
    """Whether the driver program is an AddressSanitizer build, whose
    quarantine keeps freed memory resident."""
    with open(DRIVER_PROGRAM, "rb") as program, \
            mmap.mmap(program.fileno(), 0, access=mmap.ACCESS_READ) as text:
        return text.find(b"__asan_init") >= 0

# Generous: the sanitizer build runs these too.
SLACK_S = 1.5


class PostgresqlCase(DriverCase):
    """One PostgreSQL for the class; tests that stop or kill it use OwnServer's."""

    DRIVER = "postgresql"

    SERVER = PostgresServer


class HealthyServer(PostgresqlCase):

    def test_tcp_socket_file_and_socket_folder_pass(self):
        for cursor in ({}, {"socket": self.db.socket}, {"socket": self.db.socket_dir}):
            code, stdout, stderr, _ = self.check(self.config(**cursor))
            self.assertEqual((code, stdout.strip()), (0, SUCCESS_BODY), (cursor, stderr))

    def test_settings_from_db_environment_as_clearskies(self):
        config = self.write_config(json.dumps({"services": ["cursor_backend"],
                                               "cursor_backend": {"driver": "postgresql"}}))
        env = dict(os.environ, db_host=self.db.host, db_port=str(self.db.port),
                   db_username=self.db.username, db_password=self.db.password,
                   db_database=self.db.database)
        code, _, stderr, _ = self.check(config, env=env)
        self.assertEqual(code, 0, stderr)
        code, _, stderr, _ = self.check(config, env=dict(env, db_password="wrong"))
        self.assertEqual(code, 1)
        self.assertIn('password authentication failed for user "hc"', stderr)

    def test_pg_environment_cannot_move_the_check(self):
        # libpq's own variables do not override what the configuration gives.
        env = dict(os.environ, PGHOST="203.0.113.9", PGPORT="1", PGDATABASE="nodb",
                   PGUSER="noaccess", PGSSLMODE="require", PGTARGETSESSIONATTRS="standby")
        code, _, stderr, _ = self.check(self.config(), env=env)
        self.assertEqual(code, 0, stderr)

    def test_sql_callable_truthy_and_falsy(self):
        for truthy in ("SELECT ok FROM flags", "SELECT true", "SELECT 'x'", "SELECT 0.5",
                       "SELECT interval '0.5 seconds'", "SELECT '0'::bytea"):
            code, _, stderr, _ = self.check(self.config(callable_sql=truthy))
            self.assertEqual(code, 0, (truthy, stderr))
        for falsy in ("SELECT 0", "SELECT NULL", "SELECT ''", "SELECT 0.0", "SELECT false",
                      "SELECT 0::float8", "SELECT interval '0'", "SELECT ''::bytea"):
            code, _, stderr, _ = self.check(self.config(callable_sql=falsy))
            self.assertEqual(code, 1, falsy)
            self.assertIn("returned false", stderr)
        code, _, stderr, _ = self.check(self.config(callable_sql="SELECT id FROM t WHERE id = 42"))
        self.assertIn("the query returned no row", stderr)

    def test_test_config_prepares_the_query(self):
        completed = self.run_binary(["--config", self.config(callable_sql="SELECT ok FROM flags"),
                                     "--test-config"])
        self.assertEqual(completed.returncode, 0, completed.stderr)
        completed = self.run_binary(["--config", self.config(callable_sql="SELECT nope FROM flags"),
                                     "--test-config"])
        self.assertEqual(completed.returncode, 78)
        self.assertIn(b'callable.sql: the query: column "nope" does not exist', completed.stderr)
        self.assertNotIn(PASSWORD.encode(), completed.stderr)

    def test_cgi_request_and_headers_cannot_choose_the_server(self):
        config = self.config()
        env = dict(os.environ, REQUEST_METHOD="GET", SCRIPT_NAME="/health",
                   HEALTHCHECK_CONFIG=config, HTTP_DB_HOST="203.0.113.9", HTTP_DB_PORT="1")
        completed = self.run_binary([], env=env)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertTrue(completed.stdout.endswith(SUCCESS_BODY), completed.stdout)
        self.logs.append(completed.stderr.decode(errors="replace"))

    def test_a_write_fails_and_writes_nothing(self):
        self.db.admin_sql("GRANT INSERT, UPDATE, DELETE ON t TO hc")
        self.addCleanup(self.db.admin_sql, "REVOKE INSERT, UPDATE, DELETE ON t FROM hc")
        before = self.db.rows("t")
        for sql in ("INSERT INTO t VALUES (2) RETURNING id",
                    "SELECT 1; COMMIT; INSERT INTO t VALUES (3)",
                    "WITH gone AS (DELETE FROM t RETURNING id) SELECT count(*) FROM gone",
                    "UPDATE t SET id = 5 RETURNING id"):
            code, _, stderr, _ = self.check(self.config(callable_sql=sql))
            self.assertEqual(code, 1, sql)
            self.assertIn("callable (sql) failed", stderr)
        self.assertEqual(self.db.rows("t"), before)

    def test_a_large_result_does_not_balloon_the_worker(self):
        # Only the first value counts: 120 MB of rows are read one at a time.
        if sanitized():
            self.skipTest("AddressSanitizer's quarantine keeps every freed row resident")
        sql = "SELECT repeat('x', 4000) FROM generate_series(1, 30000)"
        server, address = self.start_server(self.config(callable_sql=sql, timeout_ms=5000),
                                            extra_args=["--threads", "1"])
        reply = fastcgi_wire.fetch(address, timeout=15)
        self.assertIn(SUCCESS_BODY, reply.stdout, reply.stderr)
        with open("/proc/%d/status" % server.process.pid) as status:
            peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        self.assertLess(peak_kib, MEMORY_LIMIT_KIB)

    def test_session_lock_does_not_outlive_the_check(self):
        server, address = self.start_server(
            self.config(callable_sql="SELECT pg_try_advisory_lock(4242)"),
            extra_args=["--threads", "1"])
        for _ in range(2):  # The second on the kept connection.
            reply = fastcgi_wire.fetch(address)
            self.assertIn(SUCCESS_BODY, reply.stdout, reply.stderr)
        self.assertEqual(self.db.connections("hc"), 1)  # Kept, and yet:
        self.assertEqual(self.db.admin_sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").strip(), "0")


class Faults(PostgresqlCase):

    @staticmethod
    def resume(pid):
        with contextlib.suppress(ProcessLookupError):  # Gone once it noticed us leave.
            os.kill(pid, signal.SIGCONT)

    def test_server_not_running(self):
        stderr = self.assertFails(self.config(port=free_port()), "Connection refused", SLACK_S)
        self.assertRegex(stderr, r"cursor_backend failed after [\d.]+ ms: cannot connect to "
                                 r"postgresql at 127\.0\.0\.1:\d+: Connection refused")

    def test_a_host_name_is_looked_up_and_connected_to(self):
        code, _, stderr, _ = self.check(self.config(host="localhost"))
        self.assertEqual(code, 0, stderr)

    def test_a_kept_connection_gone_silent_is_replaced_within_the_same_check(self):
        # A NAT or firewall forgot the kept connection: its packets vanish,
        # while new connections pass. The server is healthy, and says so.
        proxy = FreezingProxy(self.db.host, self.db.port)
        self.addCleanup(proxy.close)
        server, address = self.start_server(self.config(port=proxy.port, timeout_ms=800),
                                            extra_args=["--threads", "1"])
        self.assertIn(SUCCESS_BODY, fastcgi_wire.fetch(address).stdout)
        proxy.freeze()
        started = time.monotonic()
        reply = fastcgi_wire.fetch(address, timeout=10)
        self.assertIn(SUCCESS_BODY, reply.stdout, reply.stderr)
        self.assertLess(time.monotonic() - started, 0.8 + SLACK_S)

    def test_no_query_outlives_its_check_even_when_it_overrides_the_time_limit(self):
        # statement_timeout is armed when the statement starts: setting it
        # from within the query does not disarm it.
        sql = "SELECT set_config('statement_timeout', '0', true), pg_sleep(5)"
        server, address = self.start_server(self.config(callable_sql=sql, timeout_ms=300),
                                            extra_args=["--threads", "1"])
        for _ in range(3):
            started = time.monotonic()
            reply = fastcgi_wire.fetch(address, timeout=10)
            self.assertIn(FAILURE_BODY, reply.stdout)
            self.assertLess(time.monotonic() - started, 0.3 + SLACK_S)
            self.assertEqual(self.db.running_queries("hc"), 0)

    def test_silent_host_fails_at_the_deadline(self):
        with SilentListener() as silent:
            config = self.config(port=silent.port, timeout_ms=400)
            stderr = self.assertFails(config, "no answer within", 0.4 + SLACK_S)
            self.assertGreaterEqual(silent.accepted(), 1)
        self.assertRegex(stderr, r"failed after (3\d\d|4\d\d)\.\d ms")

    def test_wrong_password(self):
        self.assertFails(self.config(password="not-the-password"),
                         'FATAL: password authentication failed for user "hc"', SLACK_S)

    def test_unknown_database(self):
        self.assertFails(self.config(database="nodb"), 'database "nodb" does not exist', SLACK_S)

    def test_user_without_access(self):
        self.assertFails(self.config(username="noaccess"),
                         'permission denied for database "app"', SLACK_S)

    def test_connection_limit_exhausted(self):
        self.db.set_connection_limit("hc", 0)
        self.addCleanup(self.db.set_connection_limit, "hc", None)
        self.assertFails(self.config(), 'too many connections for role "hc"', SLACK_S)

    def test_stalled_backend_fails_at_the_deadline_and_its_query_does_not_survive(self):
        # A backend that stops answering mid-query (SIGSTOP) cannot stop the
        # query by statement_timeout: the check gives up at its deadline and
        # closes the connection, which the backend notices once it runs again.
        server, address = self.start_server(
            self.config(callable_sql="SELECT 1 FROM pg_sleep(0.3)", timeout_ms=600),
            extra_args=["--threads", "1"])
        self.assertIn(SUCCESS_BODY, fastcgi_wire.fetch(address).stdout)
        backend = int(self.db.admin_sql("SELECT pid FROM pg_stat_activity WHERE usename = 'hc'"))
        replies = []
        asker = threading.Thread(target=lambda: replies.append(fastcgi_wire.fetch(address,
                                                                                 timeout=10)))
        started = time.monotonic()
        asker.start()
        self.assertTrue(wait_until(lambda: self.db.running_queries("hc") == 1, timeout=5))
        os.kill(backend, signal.SIGSTOP)
        self.addCleanup(self.resume, backend)
        asker.join(timeout=10)
        self.assertLess(time.monotonic() - started, 0.6 + SLACK_S)
        self.assertIn(FAILURE_BODY, replies[0].stdout)
        reason = replies[0].stderr.decode(errors="replace")
        self.logs.append(reason)
        self.assertIn("no answer from postgresql at 127.0.0.1:%d running the query before the "
                      "deadline" % self.db.port, reason)
        self.resume(backend)
        self.assertTrue(wait_until(lambda: self.db.running_queries("hc") == 0, timeout=5))
        self.assertTrue(wait_until(lambda: self.db.connections("hc") == 0, timeout=5))

    def test_locked_table_fails_at_the_deadline_and_the_query_is_stopped(self):
        timeout_ms = 250
        server, address = self.start_server(
            self.config(callable_sql="SELECT count(*) FROM t", timeout_ms=timeout_ms),
            extra_args=["--threads", "2"])
        with self.db.lock_table("t"):
            started = time.monotonic()
            reply = fastcgi_wire.fetch(address, timeout=10)
            elapsed = time.monotonic() - started
            self.assertIn(FAILURE_BODY, reply.stdout)
            # The reason goes to the web server's error log (FastCGI stderr).
            reason = reply.stderr.decode(errors="replace")
            self.logs.append(reason)
            self.assertIn("the query did not finish in time; the server stopped it "
                          "(canceling statement due to statement timeout)", reason)
            self.assertLess(elapsed, timeout_ms / 1000 + SLACK_S)
            # Answered: the server has already stopped the query.
            self.assertEqual(self.db.running_queries("hc"), 0)
            # 100 probes during the lock: never more queries than threads.
            replies, most = self.flood(address, 10, 10, lambda: self.db.running_queries("hc"))
            self.assertEqual(len(replies), 100)
            self.assertTrue(all(FAILURE_BODY in r for r in replies))
            self.assertLessEqual(most, 2)
            self.assertGreaterEqual(most, 1)  # The watch did see the probes wait.
            self.assertEqual(self.db.running_queries("hc"), 0)
            self.assertLessEqual(self.db.connections("hc"), 2)
        reply = fastcgi_wire.fetch(address)
        self.assertIn(SUCCESS_BODY, reply.stdout, server.log_text())
        self.logs.append(server.log_text())


class OwnServer(PostgresqlCase):
    """Faults that stop, kill or restart the server: a server of their own,
    with every login logged so that tests can count connections."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db.admin_sql("ALTER SYSTEM SET log_connections = on")
        cls.db.admin_sql("SELECT pg_reload_conf()")
        # A new session (each admin_sql is one) reads the reloaded setting.
        if not wait_until(lambda: cls.db.admin_sql("SHOW log_connections").strip() == "on"):
            raise RuntimeError("log_connections did not turn on")

    def setUp(self):
        super().setUp()
        self.db.start()  # After a test that killed it.

    def logins(self):
        with open(self.db.log_path, errors="replace") as log:
            return len(re.findall(r"connection authorized: user=hc\b", log.read()))

    def test_restarted_server_recovers_on_the_next_check_with_a_kept_connection(self):
        server, address = self.start_server(self.config())
        self.assertIn(SUCCESS_BODY, fastcgi_wire.fetch(address).stdout)
        self.db.restart()
        # The kept connection is dead; the same check replaces it.
        reply = fastcgi_wire.fetch(address)
        self.assertIn(SUCCESS_BODY, reply.stdout, reply.stderr)

    def test_killed_mid_check(self):
        server, address = self.start_server(self.config(callable_sql="SELECT 1 FROM pg_sleep(3)",
                                                        timeout_ms=5000))
        replies = []
        asker = threading.Thread(target=lambda: replies.append(
            fastcgi_wire.fetch(address, timeout=20)))
        started = time.monotonic()
        asker.start()
        self.assertTrue(wait_until(lambda: self.db.running_queries("hc") == 1, timeout=5))
        self.db.kill()
        asker.join(timeout=20)
        self.assertLess(time.monotonic() - started, 3)  # Not the sleep's end, nor the deadline.
        self.assertIn(FAILURE_BODY, replies[0].stdout)
        reason = replies[0].stderr.decode(errors="replace")
        self.logs.append(reason)
        self.assertIn("lost postgresql at 127.0.0.1:%d running the query" % self.db.port, reason)
        self.db.start()
        # Back: the next check connects anew, and runs the whole query.
        reply = fastcgi_wire.fetch(address, timeout=10)
        self.assertIn(SUCCESS_BODY, reply.stdout, reply.stderr)

    def test_kept_connections_stay_within_threads_and_leave_at_exit(self):
        server, address = self.start_server(self.config(callable_sql="SELECT ok FROM flags"),
                                            extra_args=["--threads", "2"])
        before = self.logins()
        replies = []

        def probe():
            for _ in range(25):
                replies.append(fastcgi_wire.fetch(address).stdout)
        clients = [threading.Thread(target=probe) for _ in range(2)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(timeout=60)
        self.assertEqual(len(replies), 50)
        self.assertTrue(all(SUCCESS_BODY in r for r in replies))
        self.assertLessEqual(self.logins() - before, 2)  # One connection per thread.
        self.assertLessEqual(self.db.connections("hc"), 2)
        self.assertEqual(server.stop(), 0)
        self.assertTrue(wait_until(lambda: self.db.connections("hc") == 0, timeout=5))
        # Each said goodbye (Terminate) rather than vanish mid-session.
        self.assertNotIn("unexpected EOF on client connection", self.db.log_text())


class Tls(PostgresqlCase):

    SERVER_OPTIONS = {"tls": True}

    def test_tls_with_the_right_ca_passes(self):
        code, _, stderr, _ = self.check(self.config(ssl_ca=self.db.ca_file))
        self.assertEqual(code, 0, stderr)

    def test_the_certificate_is_checked_against_the_host_name(self):
        # Looked up by us and handed over as hostaddr, the name is still
        # what verify-full checks (the certificate names localhost).
        code, _, stderr, _ = self.check(self.config(host="localhost", ssl_ca=self.db.ca_file))
        self.assertEqual(code, 0, stderr)

    def test_a_ca_that_does_not_match_fails(self):
        self.assertFails(self.config(ssl_ca=self.db.wrong_ca_file), "certificate verify failed",
                         SLACK_S)

    def test_without_a_ca_tls_is_used_unchecked_as_libpq_prefers(self):
        # The server accepts TCP only with TLS (hostssl): "prefer" got it.
        code, _, stderr, _ = self.check(self.config())
        self.assertEqual(code, 0, stderr)
