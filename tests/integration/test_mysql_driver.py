"""The mysql driver of cursor_backend (healthcheck-mysql, handed over to by
build/healthcheck) against a real MariaDB started by the test: the issue's
fault list, each answered 500 within the deadline with its reason in the
log and the password nowhere; kept connections in FastCGI mode; CGI; and
--test-config."""
import json
import os
import subprocess
import threading
import time

from tests.integration import fastcgi_wire
from tests.integration.driver_support import DriverCase
from tests.integration.db_servers import MariaDBServer, SilentListener, free_port
from tests.integration.support import FAILURE_BODY, SUCCESS_BODY, wait_until

# Generous: the sanitizer build runs these too.
SLACK_S = 1.5


class MysqlCase(DriverCase):
    """One MariaDB for the class; tests that stop or kill a server make their own."""

    DRIVER = "mysql"
    SERVER = MariaDBServer


class HealthyServer(MysqlCase):

    def test_tcp_and_socket_pass(self):
        for cursor in ({}, {"socket": self.db.socket}):
            code, stdout, stderr, _ = self.check(self.config(**cursor))
            self.assertEqual((code, stdout.strip()), (0, SUCCESS_BODY), stderr)

    def test_settings_from_db_environment_as_clearskies(self):
        config = self.write_config(json.dumps({"services": ["cursor_backend"],
                                               "cursor_backend": {"driver": "mysql"}}))
        env = dict(os.environ, db_host=self.db.host, db_port=str(self.db.port),
                   db_username=self.db.username, db_password=self.db.password,
                   db_database=self.db.database)
        code, _, stderr, _ = self.check(config, env=env)
        self.assertEqual(code, 0, stderr)
        code, _, stderr, _ = self.check(config, env=dict(env, db_password="wrong"))
        self.assertEqual(code, 1)
        self.assertIn("Access denied for user 'hc'", stderr)

    def test_env_file(self):
        with open(self.path(".env"), "w") as env_file:
            env_file.write("# as clearskies reads it\ndb_host=%s\ndb_port=%d\ndb_username=hc\n"
                           "db_password=%s\ndb_database=app\n" % (self.db.host, self.db.port,
                                                                 self.db.password))
        os.chmod(self.path(".env"), 0o600)
        config = self.write_config(json.dumps({"services": ["cursor_backend"],
                                               "cursor_backend": {"driver": "mysql",
                                                                  "env_file": ".env"}}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("db_")}
        code, _, stderr, _ = self.check(config, env=env)
        self.assertEqual(code, 0, stderr)

    def test_sql_callable_truthy_and_falsy(self):
        code, _, stderr, _ = self.check(self.config(callable_sql="SELECT ok FROM flags"))
        self.assertEqual(code, 0, stderr)
        for falsy in ("SELECT 0", "SELECT NULL", "SELECT ''", "SELECT 0.0"):
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
        self.assertIn(b"callable.sql: the query: Unknown column 'nope'", completed.stderr)

    def test_cgi_request_and_headers_cannot_choose_the_server(self):
        config = self.config()
        env = dict(os.environ, REQUEST_METHOD="GET", SCRIPT_NAME="/health",
                   HEALTHCHECK_CONFIG=config, HTTP_DB_HOST="203.0.113.9", HTTP_DB_PORT="1")
        completed = self.run_binary([], env=env)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertTrue(completed.stdout.endswith(SUCCESS_BODY), completed.stdout)
        self.logs.append(completed.stderr.decode(errors="replace"))

    def test_a_write_fails_and_writes_nothing(self):
        self.db.admin_sql("GRANT INSERT, UPDATE, DELETE ON app.t TO 'hc'@'127.0.0.1'")
        self.addCleanup(self.db.admin_sql,
                        "REVOKE INSERT, UPDATE, DELETE ON app.t FROM 'hc'@'127.0.0.1'")
        before = self.db.rows("t")
        for sql in ("INSERT INTO t VALUES (2)", "DELETE FROM t", "SELECT 1; INSERT INTO t VALUES (3)",
                    "UPDATE t SET id = 5"):
            code, _, stderr, _ = self.check(self.config(callable_sql=sql))
            self.assertEqual(code, 1, sql)
            self.assertIn("callable (sql) failed", stderr)
        self.assertEqual(self.db.rows("t"), before)

    def test_named_lock_does_not_outlive_the_check(self):
        server, address = self.start_server(self.config(callable_sql="SELECT GET_LOCK('hc_probe', 0)"))
        reply = fastcgi_wire.fetch(address)
        self.assertIn(SUCCESS_BODY, reply.stdout, reply.stderr)
        self.assertEqual(self.db.admin_sql("SELECT IS_FREE_LOCK('hc_probe')").strip(), "1")


class Faults(MysqlCase):

    def test_server_not_running(self):
        stderr = self.assertFails(self.config(port=free_port()), "Connection refused", SLACK_S)
        self.assertRegex(stderr, r"cursor_backend failed after [\d.]+ ms: cannot connect to mysql "
                                 r"at 127\.0\.0\.1:\d+: Connection refused")

    def test_silent_host_fails_at_the_deadline(self):
        with SilentListener() as silent:
            config = self.config(port=silent.port, timeout_ms=400)
            stderr = self.assertFails(config, "no answer within", 0.4 + SLACK_S)
            self.assertGreaterEqual(silent.accepted(), 1)
        self.assertRegex(stderr, r"failed after (3\d\d|4\d\d)\.\d ms")

    def test_wrong_password(self):
        self.assertFails(self.config(password="not-the-password"),
                         "Access denied for user 'hc'@'127.0.0.1' (using password: YES)", SLACK_S)

    def test_unknown_database(self):
        # A user without global privileges is told no more than that it
        # may not use it (MariaDB's own rule); root would read "Unknown database".
        self.assertFails(self.config(database="nodb"),
                         "Access denied for user 'hc'@'127.0.0.1' to database 'nodb'", SLACK_S)

    def test_user_without_access(self):
        self.assertFails(self.config(username="noaccess"),
                         "Access denied for user 'noaccess'", SLACK_S)

    def test_connection_limit_exhausted(self):
        self.db.set_connection_limit("hc", 0)
        self.addCleanup(self.db.set_connection_limit, "hc", None)
        self.assertFails(self.config(), "max_user_connections", SLACK_S)

    def test_locked_table_fails_at_the_deadline_and_the_query_is_stopped(self):
        timeout_ms = 300
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
            self.assertIn("the query did not finish in time; the server stopped it", reason)
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
        reply = fastcgi_wire.fetch(address)
        self.assertIn(SUCCESS_BODY, reply.stdout, server.log_text())
        self.logs.append(server.log_text())


class OwnServer(MysqlCase):
    """Faults that stop, kill or restart the server: a server of their own."""

    SERVER = None

    def setUp(self):
        super().setUp()
        os.chmod(self.dir, 0o755)  # The server runs as mysql.
        self.db = MariaDBServer(self.path("servers"))
        self.db.start()
        self.addCleanup(self.db.close)

    def test_restarted_server_recovers_on_the_next_check_with_a_kept_connection(self):
        server, address = self.start_server(self.config())
        self.assertIn(SUCCESS_BODY, fastcgi_wire.fetch(address).stdout)
        self.db.restart()
        # The kept connection is dead; the same check replaces it.
        reply = fastcgi_wire.fetch(address)
        self.assertIn(SUCCESS_BODY, reply.stdout, reply.stderr)

    def test_killed_mid_check(self):
        server, address = self.start_server(self.config(callable_sql="SELECT SLEEP(3) = 0",
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
        self.db.start()
        # Back: the next check connects anew, and runs the whole query.
        reply = fastcgi_wire.fetch(address, timeout=10)
        self.assertIn(SUCCESS_BODY, reply.stdout, reply.stderr)

    def test_server_wide_max_connections_exhausted(self):
        # MariaDB's smallest max_connections is 10; fill them with sessions
        # of another user that sleep.
        # Filled with no root session of ours open: one would take an
        # ordinary slot and crowd a sleeper out (root gets an extra slot only
        # once the ordinary ones are full).
        self.db.admin_sql("SET GLOBAL max_connections = 10")
        sleepers = [subprocess.Popen(
            ["mariadb", "--no-defaults", "--user=noaccess", "--password=" + self.db.password,
             "--host=127.0.0.1", "--port=%d" % self.db.port, "--skip-ssl",
             "--execute=SELECT SLEEP(20)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(10)]

        def stop_sleepers():
            for sleeper in sleepers:
                sleeper.kill()
                sleeper.wait()
        self.addCleanup(stop_sleepers)
        time.sleep(2)
        self.assertEqual(self.db.connections("noaccess"), 10)
        self.assertFails(self.config(), "Too many connections", SLACK_S)

    def test_kept_connections_stay_within_threads_and_leave_at_exit(self):
        server, address = self.start_server(self.config(callable_sql="SELECT ok FROM flags"),
                                            extra_args=["--threads", "2"])
        before = int(self.db.admin_sql("SHOW GLOBAL STATUS LIKE 'Connections'").split()[1])
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
        after = int(self.db.admin_sql("SHOW GLOBAL STATUS LIKE 'Connections'").split()[1])
        # One connection per thread; the admin's query counts itself too.
        self.assertLessEqual(after - before, 2 + 1)
        self.assertLessEqual(self.db.connections("hc"), 2)
        self.assertEqual(server.stop(), 0)
        self.assertTrue(wait_until(lambda: self.db.connections("hc") == 0, timeout=5))
        aborted = self.db.admin_sql("SHOW GLOBAL STATUS LIKE 'Aborted_clients'").split()[1]
        self.assertEqual(aborted, "0")  # Each said goodbye (COM_QUIT).


    def test_worker_processes_keep_at_most_threads_times_workers(self):
        server, address = self.start_server(self.config(callable_sql="SELECT ok FROM flags"),
                                            extra_args=["--workers", "2", "--threads", "2"])
        replies, most = self.flood(address, 6, 20, lambda: self.db.connections("hc"))
        self.assertEqual(len(replies), 120)
        self.assertTrue(all(SUCCESS_BODY in r for r in replies))
        self.assertLessEqual(most, 4)
        self.assertEqual(server.stop(), 0)
        self.assertTrue(wait_until(lambda: self.db.connections("hc") == 0, timeout=5))


class Tls(MysqlCase):

    SERVER_OPTIONS = {"tls": True}

    def test_tls_with_the_right_ca_passes(self):
        code, _, stderr, _ = self.check(self.config(ssl_ca=self.db.ca_file))
        self.assertEqual(code, 0, stderr)

    def test_a_ca_that_does_not_match_fails(self):
        self.assertFails(self.config(ssl_ca=self.db.wrong_ca_file), "TLS/SSL error", SLACK_S)

    def test_plain_tcp_is_refused_when_tls_is_required(self):
        self.assertFails(self.config(), "Access denied", SLACK_S)
