"""The request deadline (timeout_ms) bounds the whole check, whatever is
slow: a hung command (killed with its children), a locked database, a long
query. And the database is never created, written or given new files.

test_database_faults.py covers one process at a 400 ms deadline; this adds
the default deadline, lower bounds (the answer really waited for the
deadline), worker processes, concurrency, CPU after the answer, WAL
databases and an unprivileged responder."""
import hashlib
import os
import pwd
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from tests.integration import hostile_support as hs
from tests.integration.support import (BINARY, Server, TestCase, hold_exclusive_lock,
                                       make_database)

DEFAULT_DEADLINE_S = 2.0
EARLY_S = 0.1  # An answer this much before the deadline did not wait for it.
LATE_S = 0.8  # Killing, reaping and writing the answer after the deadline.
SQL_CHECK = '"callable": {"sql": "SELECT count(*) = 0 FROM failed_jobs"}'


def fingerprint(path):
    """Bytes and modification time: a check must change neither."""
    with open(path, "rb") as data:
        return hashlib.sha256(data.read()).hexdigest(), os.stat(path).st_mtime_ns


def hanging_command(tag):
    """The issue's hung command, with a tag to find its processes by."""
    return '["/bin/sh", "-c", "sleep %s & sleep %s"]' % (tag, tag)


class DeadlineTest(TestCase):

    def setUp(self):
        super().setUp()
        self.tag = "60.%d" % (uuid.uuid4().int % 10 ** 9)  # A unique `sleep` argument.
        self.addCleanup(self.kill_leftovers)

    def kill_leftovers(self):
        for pid in hs.processes_with_argument(self.tag):
            try:
                os.kill(pid, 9)
            except OSError:
                pass

    def assertAnsweredAtTheDeadline(self, reply, took, deadline_s):
        self.assertNotIsInstance(reply, OSError)
        self.assertAnswer(reply, healthy=False)
        self.assertGreater(took, deadline_s - EARLY_S)
        self.assertLess(took, deadline_s + LATE_S)

    def assertNothingLeftBehind(self):
        left = hs.wait_until(lambda: not hs.processes_with_argument(self.tag), timeout=2)
        self.assertTrue(left, "still running: %s" % hs.processes_with_argument(self.tag))

    def test_hung_command_under_the_default_deadline_fails_at_2_s_and_leaves_nothing(self):
        config = self.write_config('{"callable": {"command": %s}}' % hanging_command(self.tag))
        _, address = self.start_server(config)
        seen = []
        watcher = threading.Timer(1.0, lambda: seen.extend(hs.processes_with_argument(self.tag)))
        watcher.start()
        self.addCleanup(watcher.cancel)
        reply, took = hs.timed_fetch(address, timeout=8)
        self.assertAnsweredAtTheDeadline(reply, took, DEFAULT_DEADLINE_S)
        self.assertGreaterEqual(len(seen), 2, "the test never saw the two sleeps")
        self.assertNothingLeftBehind()

    def test_hung_command_in_a_worker_process_fails_at_the_deadline(self):
        config = self.write_config('{"callable": {"command": %s}, "timeout_ms": 500}'
                                   % hanging_command(self.tag))
        _, address = self.start_server(config, ["--workers", "2", "--threads", "2"])
        for _ in range(2):
            reply, took = hs.timed_fetch(address, timeout=5)
            self.assertAnsweredAtTheDeadline(reply, took, 0.5)
        self.assertNothingLeftBehind()

    def test_concurrent_hung_checks_each_end_at_the_deadline(self):
        config = self.write_config('{"callable": {"command": %s}, "timeout_ms": 600}'
                                   % hanging_command(self.tag))
        _, address = self.start_server(config, ["--threads", "4"])
        results = []
        clients = [threading.Thread(target=lambda: results.append(hs.timed_fetch(address, 6)))
                   for _ in range(4)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(10)
        self.assertEqual(len(results), 4)
        for reply, took in results:
            self.assertAnsweredAtTheDeadline(reply, took, 0.6)
        self.assertNothingLeftBehind()

    def test_locked_database_waits_for_the_deadline_not_the_busy_timeout(self):
        db = self.path("app.db")
        make_database(db)
        before = fingerprint(db)
        config = self.write_config(
            '{"services": ["cursor_backend"], %s, "timeout_ms": 500,'
            ' "cursor_backend": {"database": "app.db", "timeout_ms": 10000}}' % SQL_CHECK)
        _, address = self.start_server(config, ["--workers", "2"])
        holder = hold_exclusive_lock(self, db)
        reply, took = hs.timed_fetch(address)
        self.assertAnsweredAtTheDeadline(reply, took, 0.5)
        self.assertIn(b"locked", reply.stderr)
        holder.kill()
        holder.wait(5)
        reply, _ = hs.timed_fetch(address)
        self.assertAnswer(reply, healthy=True)
        self.assertEqual(fingerprint(db), before)

    def test_slow_query_stops_at_the_deadline_and_stops_burning_cpu(self):
        make_database(self.path("app.db"))
        config = self.write_config(
            '{"callable": {"sql": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL'
            ' SELECT i + 1 FROM n) SELECT count(*) FROM n"},'
            ' "cursor_backend": {"database": "app.db"}, "timeout_ms": 400}')
        server, address = self.start_server(config, ["--threads", "2"])
        reply, took = hs.timed_fetch(address)
        self.assertAnsweredAtTheDeadline(reply, took, 0.4)
        used = hs.cpu_seconds(server.process.pid)
        time.sleep(0.6)
        self.assertLess(hs.cpu_seconds(server.process.pid) - used, 0.15,
                        "the query kept running after the answer")


class DatabaseFileTest(TestCase):
    """The check opens the database read-only and leaves no trace."""

    def listing(self):
        return sorted(os.listdir(self.dir))

    def serve(self, extra=()):
        config = self.write_config('{"services": ["cursor_backend"], %s,'
                                   ' "cursor_backend": {"database": "app.db"}}' % SQL_CHECK)
        return self.start_server(config, list(extra))

    def test_missing_database_is_never_created_by_workers(self):
        _, address = self.serve(["--workers", "2"])
        before = self.listing()
        for _ in range(6):
            reply, took = hs.timed_fetch(address)
            self.assertAnswer(reply, healthy=False)
            self.assertLess(took, DEFAULT_DEADLINE_S)
        self.assertEqual(self.listing(), before)
        self.assertNotIn("app.db", before)

    def test_wal_database_gets_no_new_files_and_no_changes(self):
        db = self.path("app.db")
        connection = sqlite3.connect(db)
        self.assertEqual(connection.execute("PRAGMA journal_mode=WAL").fetchone()[0], "wal")
        connection.execute("CREATE TABLE failed_jobs (id INTEGER PRIMARY KEY)")
        connection.commit()
        connection.close()  # The last connection folds the WAL back in and removes it.
        self.assertFalse(os.path.exists(db + "-wal"))
        _, address = self.serve()
        before, files = fingerprint(db), self.listing()
        for _ in range(3):
            reply, _ = hs.timed_fetch(address)
            self.assertAnswer(reply, healthy=True)
        self.assertEqual(self.listing(), files)
        self.assertEqual(fingerprint(db), before)

    def test_truncated_database_fails_within_the_deadline_and_is_left_alone(self):
        db = self.path("app.db")
        make_database(db, failed_jobs=2000)
        with open(db, "r+b") as data:
            data.truncate(os.path.getsize(db) // 2)
        before = fingerprint(db)
        _, address = self.serve()
        files = self.listing()
        reply, took = hs.timed_fetch(address)
        self.assertAnswer(reply, healthy=False)
        self.assertLess(took, DEFAULT_DEADLINE_S)
        self.assertEqual(fingerprint(db), before)
        self.assertEqual(self.listing(), files)

    def test_a_folder_in_place_of_the_database_fails(self):
        os.mkdir(self.path("app.db"))
        _, address = self.serve()
        reply, _ = hs.timed_fetch(address)
        self.assertAnswer(reply, healthy=False)
        self.assertEqual(os.listdir(self.path("app.db")), [])


class UnprivilegedServer(Server):
    """Server, run as another user (support.Server takes no user)."""

    def __init__(self, args, user):
        self.log_path = tempfile.mktemp(prefix="healthcheck-server-", suffix=".log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([BINARY] + args, stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=self.log, user=user.pw_uid,
                                        group=user.pw_gid, extra_groups=[])


@unittest.skipUnless(os.geteuid() == 0, "needs root to run the responder as nobody")
class UnprivilegedResponderTest(TestCase):
    """As deployed: an unprivileged user that may read the database and
    nothing more (no write permission on its folder)."""

    def setUp(self):
        super().setUp()
        self.nobody = pwd.getpwnam("nobody")
        os.chmod(self.dir, 0o755)
        self.run_dir = self.path("run")
        os.mkdir(self.run_dir)
        os.chown(self.run_dir, self.nobody.pw_uid, self.nobody.pw_gid)
        self.db = self.path("app.db")

    def serve_as_nobody(self):
        config = self.write_config('{"services": ["cursor_backend"], %s,'
                                   ' "cursor_backend": {"database": "app.db"}}' % SQL_CHECK)
        os.chmod(config, 0o644)
        address = os.path.join(self.run_dir, "hc.sock")
        server = UnprivilegedServer(["--config", config, "--listen", "unix:" + address],
                                    self.nobody)
        self.addCleanup(server.stop)
        server.wait_ready(address)
        return server, address

    def test_unreadable_database_fails_and_is_untouched(self):
        make_database(self.db)
        os.chmod(self.db, 0o600)
        before = fingerprint(self.db)
        _, address = self.serve_as_nobody()
        reply, _ = hs.timed_fetch(address)
        self.assertAnswer(reply, healthy=False)
        self.assertEqual(fingerprint(self.db), before)

    def test_readable_wal_database_in_a_read_only_folder_is_healthy(self):
        connection = sqlite3.connect(self.db)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE failed_jobs (id INTEGER PRIMARY KEY)")
        connection.commit()
        connection.close()
        os.chmod(self.db, 0o644)
        _, address = self.serve_as_nobody()
        reply, _ = hs.timed_fetch(address)
        self.assertNotIsInstance(reply, OSError)
        self.assertEqual(reply.stderr, b"")
        self.assertAnswer(reply, healthy=True)

    def test_readable_rollback_database_is_healthy(self):
        make_database(self.db)
        os.chmod(self.db, 0o644)
        _, address = self.serve_as_nobody()
        reply, _ = hs.timed_fetch(address)
        self.assertNotIsInstance(reply, OSError)
        self.assertEqual(reply.stderr, b"")
        self.assertAnswer(reply, healthy=True)
