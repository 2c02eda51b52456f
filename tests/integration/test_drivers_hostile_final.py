"""A third hostile review, of the latest mysql driver fixes (KILL QUERY from
a second connection, SET STATEMENT ... FOR, the row-by-row result) and of
reloads under load, against a real MariaDB started by the tests. Each test
pins down one defect; its docstring says what happened, what was expected
and where it comes from. What held up is in the review's report."""
import signal
import threading
import time

from tests.integration import fastcgi_wire
from tests.integration.db_servers import MariaDBServer
from tests.integration.driver_support import DriverCase, FreezingProxy
from tests.integration.support import SUCCESS_BODY, wait_until

THREADS = 4
WORKERS = 2


class FinalMysqlReview(DriverCase):
    DRIVER = "mysql"
    SERVER = MariaDBServer

    def kill_connections_of_hc(self):
        ids = self.db.admin_sql("SELECT id FROM information_schema.processlist "
                                "WHERE user = 'hc'").split()
        for query_id in ids:
            try:
                self.db.admin_sql("KILL %s" % query_id)
            except RuntimeError:
                pass

    def test_kill_query_leaves_a_query_writing_to_a_connection_gone_silent(self):
        """DEFECT. A big result streaming through a connection that goes
        silent (FreezingProxy.freeze: a NAT or firewall that forgot it) mid-
        result: the check fails on time and logs "the query did not finish
        in time; stopped with KILL QUERY", but the query is not stopped.
        Measured: the server thread stays in processlist as
        command=Killed, state "Writing to net", for net_write_timeout (60
        s), holding its connection (and its read view). KILL QUERY only sets
        the killed flag; a thread blocked writing to the client never looks
        at it. StopIfStalled (mysql_cursor.cpp) sends "KILL QUERY <id>"
        although the stalled connection is abandoned anyway (set_stalled,
        closed after the request): "KILL <id>" (KILL CONNECTION) shuts its
        socket down on the server and ends the thread at once. Expected
        (issue 11): "no query may be left running after its check has
        answered", and the log not claiming a stop that did not happen."""
        self.addCleanup(self.kill_connections_of_hc)
        proxy = FreezingProxy(self.db.host, self.db.port)
        self.addCleanup(proxy.close)
        config = self.config(callable_sql="SELECT seq FROM seq_1_to_1000000000",
                             port=proxy.port, timeout_ms=2000)
        freezer = threading.Timer(0.5, proxy.freeze)
        freezer.start()
        self.addCleanup(freezer.cancel)
        code, _, stderr, elapsed = self.check(config)
        self.assertEqual(code, 1, stderr)
        self.assertLess(elapsed, 2.5, stderr)
        gone = wait_until(lambda: self.db.running_queries("hc") == 0 and
                          self.db._count("SELECT COUNT(*) FROM information_schema.processlist "
                                         "WHERE user = 'hc' AND command = 'Killed'") == 0,
                          timeout=1.0)
        self.assertTrue(gone, "after the check answered (%s) its query still runs on the "
                        "server: %s" % (stderr.strip(), self.db.admin_sql(
                            "SELECT command, state, time_ms, info FROM "
                            "information_schema.processlist WHERE user = 'hc'").strip()))

    def test_a_reload_under_load_fails_no_check_and_at_most_doubles_the_connections(self):
        """Found as a defect (weaker: seen in processlist; no check failed):
        with --workers 2 --threads 4 under 8 concurrent clients, each SIGHUP
        replaces the worker processes, and the new workers connect while the
        old ones' kept connections are still going: 16 sessions of hc in
        information_schema.processlist during a reload loop every 50 ms.
        Resolved by the README saying so (a reload starts the new workers
        before the old ones leave); what must hold: no check of a healthy
        server fails, even with MAX_USER_CONNECTIONS at threads x workers,
        the overlap is at most one generation, and once the reloads stop the
        bound is back."""
        limit = THREADS * WORKERS
        self.db.set_connection_limit("hc", limit)
        self.addCleanup(self.db.set_connection_limit, "hc", None)
        server, address = self.start_server(
            self.config(callable_sql="SELECT 1"),
            extra_args=["--workers", str(WORKERS), "--threads", str(THREADS)])
        failures = []
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    reply = fastcgi_wire.fetch(address, timeout=5)
                except OSError as error:
                    failures.append(repr(error))
                    continue
                if SUCCESS_BODY not in reply.stdout:
                    failures.append(reply.stderr.decode(errors="replace")[-300:])

        clients = [threading.Thread(target=load) for _ in range(limit)]
        for client in clients:
            client.start()
        peak = 0
        try:
            started = time.monotonic()
            while time.monotonic() - started < 3:
                server.process.send_signal(signal.SIGHUP)
                time.sleep(0.05)
                peak = max(peak, self.db.connections("hc"))
        finally:
            stop.set()
            for client in clients:
                client.join(10)
        log = server.log_text()
        reasons = [line for line in log.splitlines() if "unhealthy" in line][:3]
        self.assertEqual(failures, [], "%d checks of a healthy server failed during reloads: %s"
                         % (len(failures), reasons))
        self.assertLessEqual(peak, 2 * limit)
        self.assertTrue(wait_until(lambda: self.db.connections("hc") <= limit, timeout=5))
