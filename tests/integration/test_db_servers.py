"""The database fixtures (db_servers.py) do what the driver tests rely on:
real servers with the accounts, grants, locks, counters and TLS they
promise, that recover from a crash and leave nothing behind. Each server is
driven here with its own command-line client, as hc or noaccess."""
import os
import socket
import subprocess
import time
import unittest

from tests.integration.db_servers import (PASSWORD, MariaDBServer, PostgresServer,
                                          SilentListener)
from tests.integration.support import alive, children_of, wait_until

CLIENT_TIMEOUT_S = 15
SLEEP_S = 2
SLEEP_BOUND_S = 10


class ServerChecks:
    """Checks shared by both servers; a subclass names the server class and
    says how its client logs in and what its errors read."""

    SERVER = None
    TLS = False

    @classmethod
    def setUpClass(cls):
        cls.db = cls.SERVER(tls=cls.TLS)
        cls.addClassCleanup(cls.db.close)
        cls.db.start()

    def run_client(self, args, env=None):
        return subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, timeout=CLIENT_TIMEOUT_S,
                              universal_newlines=True)

    def assertAnswers(self, done, stdout):
        self.assertEqual((done.returncode, done.stderr, done.stdout), (0, "", stdout))

    def assertRefused(self, done, message):
        self.assertNotEqual(done.returncode, 0, done.stdout)
        self.assertIn(message, done.stderr)


class PlainServerChecks(ServerChecks):

    def test_admin_sql_returns_tab_separated_rows_and_raises_with_the_error(self):
        self.assertEqual(self.db.admin_sql("SELECT 1, 2"), "1\t2\n")
        self.assertEqual((self.db.rows("t"), self.db.rows("flags")), (1, 1))
        with self.assertRaisesRegex(RuntimeError, "no_such_table"):
            self.db.admin_sql("SELECT * FROM no_such_table")

    def test_hc_logs_in_with_the_password_over_tcp_and_the_socket(self):
        for via in ("tcp", "socket"):
            with self.subTest(via=via):
                self.assertAnswers(self.login("hc", "SELECT id FROM t", via), "1\n")
                self.assertRefused(self.login("hc", "SELECT 1", via, password="wrong"),
                                   self.WRONG_PASSWORD_ERROR)

    def test_hc_may_read_but_not_write(self):
        self.assertAnswers(self.login("hc", "SELECT ok FROM flags", "tcp"), "1\n")
        self.assertRefused(self.login("hc", "INSERT INTO t VALUES (2)", "tcp"), "denied")
        self.assertEqual(self.db.rows("t"), 1)

    def test_noaccess_logs_in_but_is_refused_app(self):
        self.assertAnswers(self.login("noaccess", "SELECT 7", "tcp", database=self.OTHER_DATABASE),
                           "7\n")
        self.assertRefused(self.login("noaccess", "SELECT 1", "tcp"), self.NO_ACCESS_ERROR)

    def test_a_locked_table_stops_a_second_session_until_released(self):
        with self.db.lock_table("t"):
            self.assertRefused(self.login("hc", self.LOCK_WAIT_SQL, "tcp"), self.LOCK_WAIT_ERROR)
        self.assertAnswers(self.login("hc", self.LOCK_WAIT_SQL, "tcp"), "1\n")

    def test_a_running_statement_of_hc_is_counted_until_it_ends(self):
        self.assertEqual((self.db.running_queries(), self.db.connections()), (0, 0))
        sleeper = subprocess.Popen(self.login_args("hc", self.SLEEP_SQL, "tcp"),
                                   env=self.login_env(), stdout=subprocess.DEVNULL)
        self.addCleanup(sleeper.wait, SLEEP_BOUND_S)
        self.addCleanup(sleeper.kill)
        self.assertEqual(wait_until(lambda: self.db.running_queries() == 1), True)
        self.assertEqual(self.db.connections(), 1)
        self.assertEqual(self.db.running_queries("noaccess"), 0)
        self.assertEqual(sleeper.wait(SLEEP_BOUND_S), 0)
        self.assertEqual(wait_until(lambda: self.db.connections() == 0), True)
        self.assertEqual(self.db.running_queries(), 0)

    def test_connection_limit_zero_refuses_hc_and_none_lifts_it(self):
        self.addCleanup(self.db.set_connection_limit, "hc", None)
        self.db.set_connection_limit("hc", 0)
        self.assertRefused(self.login("hc", "SELECT 1", "tcp"), self.LIMIT_ERROR)
        self.db.set_connection_limit("hc", 1)
        self.assertAnswers(self.login("hc", "SELECT 1", "tcp"), "1\n")
        self.db.set_connection_limit("hc", None)
        self.assertAnswers(self.login("hc", "SELECT 1", "tcp"), "1\n")

    def test_killed_server_is_gone_and_restart_recovers_its_data(self):
        pids = [self.db.process.pid] + children_of(self.db.process.pid)
        port, socket_path = self.db.port, self.db.socket
        self.db.kill()
        self.assertEqual([pid for pid in pids if alive(pid)], [])
        self.assertRefused(self.login("hc", "SELECT 1", "tcp"), self.REFUSED_ERROR)
        self.db.restart()
        self.assertEqual((self.db.port, self.db.socket), (port, socket_path))
        self.assertAnswers(self.login("hc", "SELECT id FROM t", "socket"), "1\n")

    def test_a_start_on_a_taken_port_fails_with_the_log_and_works_once_it_is_free(self):
        self.db.stop()
        with socket.socket() as taken:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            taken.bind((self.db.host, self.db.port))
            taken.listen(1)
            with self.assertRaisesRegex(RuntimeError, "(?s)exited with.*Address already in use"):
                self.db.start()
        self.db.start()
        self.assertAnswers(self.login("hc", "SELECT id FROM t", "tcp"), "1\n")


class TlsServerChecks(ServerChecks):
    TLS = True

    def test_plain_tcp_is_refused(self):
        self.assertRefused(self.login("hc", "SELECT 1", "tcp", tls="plain"), self.PLAIN_TCP_ERROR)

    def test_tcp_verified_against_ca_file_works(self):
        self.assertAnswers(self.login("hc", "SELECT id FROM t", "tcp", tls=self.db.ca_file), "1\n")

    def test_tcp_verified_against_the_wrong_ca_fails(self):
        self.assertRefused(self.login("hc", "SELECT 1", "tcp", tls=self.db.wrong_ca_file),
                           self.WRONG_CA_ERROR)

    def test_the_unix_socket_needs_no_tls(self):
        self.assertAnswers(self.login("hc", "SELECT id FROM t", "socket"), "1\n")


class MariaDBClient:
    SERVER = MariaDBServer
    OTHER_DATABASE = "information_schema"
    WRONG_PASSWORD_ERROR = "Access denied for user 'hc'"
    NO_ACCESS_ERROR = "Access denied for user 'noaccess'@'127.0.0.1' to database 'app'"
    LOCK_WAIT_SQL = "SET STATEMENT max_statement_time=0.3 FOR SELECT id FROM t"
    LOCK_WAIT_ERROR = "max_statement_time exceeded"
    SLEEP_SQL = "SELECT SLEEP(%d)" % SLEEP_S
    LIMIT_ERROR = "has exceeded the 'max_user_connections' resource"
    REFUSED_ERROR = "Can't connect to server on '127.0.0.1'"
    # Plaintext TCP under require_secure_transport reads as a bad password.
    PLAIN_TCP_ERROR = "Access denied for user 'hc'@'127.0.0.1'"
    WRONG_CA_ERROR = "self-signed certificate in certificate chain"

    def login_args(self, user, sql, via, password=PASSWORD, database="app", tls=None):
        """`tls`: None (the client's default), "plain", or a CA file to verify against."""
        args = ["mariadb", "--no-defaults", "--user=" + user, "--password=" + password,
                "--database=" + database, "--batch", "--skip-column-names", "--execute=" + sql]
        if via == "socket":
            return args + ["--protocol=SOCKET", "--socket=" + self.db.socket]
        args += ["--protocol=TCP", "--host=" + self.db.host, "--port=%d" % self.db.port]
        if tls == "plain":
            args.append("--skip-ssl")
        elif tls:
            args += ["--ssl-ca=" + tls, "--ssl-verify-server-cert"]
        return args

    def login_env(self):
        return self.db._env()

    def login(self, *args, **kwargs):
        return self.run_client(self.login_args(*args, **kwargs), env=self.login_env())


class PostgresClient:
    SERVER = PostgresServer
    OTHER_DATABASE = "postgres"
    WRONG_PASSWORD_ERROR = 'password authentication failed for user "hc"'
    NO_ACCESS_ERROR = 'permission denied for database "app"'
    LOCK_WAIT_SQL = "SET lock_timeout = '300ms'; SELECT id FROM t"
    LOCK_WAIT_ERROR = "canceling statement due to lock timeout"
    SLEEP_SQL = "SELECT pg_sleep(%d)" % SLEEP_S
    LIMIT_ERROR = 'too many connections for role "hc"'
    REFUSED_ERROR = "Connection refused"
    PLAIN_TCP_ERROR = "no encryption"
    WRONG_CA_ERROR = "certificate verify failed"

    def login_args(self, user, sql, via, password=PASSWORD, database="app", tls=None):
        host = self.db.socket_dir if via == "socket" else self.db.host
        return ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", host,
                "-p", str(self.db.port), "-U", user, "-d", database, "-c", sql]

    def login_env(self, password=PASSWORD, tls=None):
        """`tls`: None (libpq's default, prefer), "plain", or a CA file to verify against."""
        env = dict(self.db._env(), PGPASSWORD=password, PGCONNECT_TIMEOUT="5")
        if tls == "plain":
            env["PGSSLMODE"] = "disable"
        elif tls:
            env.update(PGSSLMODE="verify-full", PGSSLROOTCERT=tls)
        return env

    def login(self, user, sql, via, password=PASSWORD, database="app", tls=None):
        return self.run_client(self.login_args(user, sql, via, database=database),
                               env=self.login_env(password, tls))


class MariaDBFixtureTest(MariaDBClient, PlainServerChecks, unittest.TestCase):
    pass


class MariaDBTlsFixtureTest(MariaDBClient, TlsServerChecks, unittest.TestCase):
    pass


class PostgresFixtureTest(PostgresClient, PlainServerChecks, unittest.TestCase):
    pass


class PostgresTlsFixtureTest(PostgresClient, TlsServerChecks, unittest.TestCase):
    pass


class FixtureLifeTest(unittest.TestCase):

    def test_leaving_the_block_stops_the_server_and_removes_its_folder(self):
        with PostgresServer() as db:
            pids = [db.process.pid] + children_of(db.process.pid)
            folder = db.folder
            self.assertTrue(os.path.exists(db.socket))
        self.assertEqual([pid for pid in pids if alive(pid)], [])
        self.assertFalse(os.path.exists(os.path.dirname(folder)))

    def test_silent_listener_accepts_and_never_answers(self):
        with SilentListener() as listener:
            with socket.create_connection(("127.0.0.1", listener.port), timeout=2) as peer:
                self.assertEqual(wait_until(lambda: listener.accepted() == 1), True)
                peer.settimeout(0.3)
                started = time.monotonic()
                with self.assertRaises(socket.timeout):
                    peer.recv(1)
                self.assertGreaterEqual(time.monotonic() - started, 0.3)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", listener.port), timeout=2).close()


if __name__ == "__main__":
    unittest.main()
