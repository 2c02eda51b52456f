"""The database under the responder's feet: locked, slow, deleted, replaced,
corrupted. Every answer comes on time, and the file is never created or
changed by a check."""
import hashlib
import os
import sqlite3
import time
import unittest

from tests.integration import fastcgi_wire
from tests.integration.support import (TestCase, alive, hold_exclusive_lock, make_database,
                                       footprint)

CONFIG = """{"services": ["memory_backend", "cursor_backend"],
  "callable": {"sql": "SELECT count(*) = 0 FROM failed_jobs"},
  "cursor_backend": {"database": "app.db", "timeout_ms": 2000},
  "timeout_ms": 400}"""
BOUND_S = 1.5  # The 400 ms deadline and plenty of margin.


def fingerprint(path):
    with open(path, "rb") as data:
        return hashlib.sha256(data.read()).hexdigest(), os.stat(path).st_mtime_ns


class DatabaseFaultTest(TestCase):

    def setUp(self):
        super().setUp()
        self.db = self.path("app.db")
        self.server, self.address = self.start_server(self.write_config(CONFIG),
                                                      ["--threads", "2"])

    def fetch_timed(self):
        started = time.monotonic()
        reply = fastcgi_wire.fetch(self.address, timeout=5)
        return reply, time.monotonic() - started

    def test_locked_by_an_exclusive_transaction_fails_within_the_deadline(self):
        make_database(self.db)
        before = fingerprint(self.db)
        holder = hold_exclusive_lock(self, self.db)
        reply, took = self.fetch_timed()
        self.assertAnswer(reply, healthy=False)
        self.assertIn(b"database is locked", reply.stderr)
        self.assertLess(took, BOUND_S)
        holder.kill()
        holder.wait(5)
        self.assertAnswer(fastcgi_wire.fetch(self.address), healthy=True)
        self.assertEqual(fingerprint(self.db), before)

    def test_slow_query_is_stopped_at_the_deadline(self):
        make_database(self.db)
        config = self.write_config(CONFIG.replace(
            "SELECT count(*) = 0 FROM failed_jobs",
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
            "SELECT count(*) FROM n"), "slow.json")
        _, address = self.start_server(config, socket_name="slow.sock")
        started = time.monotonic()
        reply = fastcgi_wire.fetch(address, timeout=5)
        self.assertAnswer(reply, healthy=False)
        self.assertIn(b"stopped at the request deadline", reply.stderr)
        self.assertLess(time.monotonic() - started, BOUND_S)

    def test_hanging_command_is_killed_with_its_children(self):
        marker = self.path("grandchild.pid")
        config = self.write_config(
            '{"callable": {"command": ["/bin/sh", "-c", "sleep 60 & echo $! > %s; sleep 60"]},'
            ' "timeout_ms": 400}' % marker, "hang.json")
        _, address = self.start_server(config, socket_name="hang.sock")
        started = time.monotonic()
        reply = fastcgi_wire.fetch(address, timeout=5)
        self.assertAnswer(reply, healthy=False)
        self.assertLess(time.monotonic() - started, BOUND_S)
        with open(marker) as pid_file:
            grandchild = int(pid_file.read())
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and alive(grandchild):
            time.sleep(0.02)
        self.assertFalse(alive(grandchild))

    def test_deleted_while_served_then_restored(self):
        make_database(self.db)
        self.assertAnswer(fastcgi_wire.fetch(self.address), healthy=True)
        os.unlink(self.db)
        self.assertAnswer(fastcgi_wire.fetch(self.address), healthy=False)
        self.assertFalse(os.path.exists(self.db))
        make_database(self.db)
        self.assertAnswer(fastcgi_wire.fetch(self.address), healthy=True)

    def test_replaced_while_served(self):
        make_database(self.db)
        self.assertAnswer(fastcgi_wire.fetch(self.address), healthy=True)
        make_database(self.path("new.db"), failed_jobs=3)
        os.replace(self.path("new.db"), self.db)
        self.assertAnswer(fastcgi_wire.fetch(self.address), healthy=False)
        with open(self.db, "r+b") as data:
            data.write(b"garbage garbage garbage")
        reply = fastcgi_wire.fetch(self.address)
        self.assertAnswer(reply, healthy=False)
        self.assertIn(b"not a database", reply.stderr)

    def test_settled_database_damaged_in_place_fails_on_every_thread(self):
        # Settled (2 s old), the database is served from connections the
        # threads keep; a change in place must still reach every one of them.
        make_database(self.db)
        time.sleep(2.2)
        for _ in range(10):
            self.assertAnswer(fastcgi_wire.fetch(self.address), healthy=True)
        with open(self.db, "r+b") as data:
            data.seek(4096)  # failed_jobs' root page; the header stays as it was.
            data.write(b"\xff\xff\xff\xff")
        for _ in range(6):
            reply = fastcgi_wire.fetch(self.address)
            self.assertAnswer(reply, healthy=False)
            self.assertIn(b"malformed", reply.stderr)

    @unittest.skipIf(os.environ.get("HEALTHCHECK_SANITIZED"), "ASan's own memory swamps RSS")
    def test_a_scanning_query_leaves_the_worker_small(self):
        # Each thread keeps its connection, and its page cache while the
        # file is unchanged: that cache is bounded at 128 KiB, not SQLite's
        # 2 MiB (without the bound, this worker held 17 MiB resident).
        connection = sqlite3.connect(self.db)
        connection.execute("CREATE TABLE failed_jobs (id INTEGER PRIMARY KEY, note TEXT)")
        connection.executemany("INSERT INTO failed_jobs (note) VALUES (?)",
                               [("x" * 200,)] * 40000)
        connection.commit()
        connection.close()
        config = self.write_config(CONFIG.replace(
            "SELECT count(*) = 0 FROM failed_jobs",
            "SELECT count(*) > 0 FROM failed_jobs WHERE note != ''"), "scan.json")
        server, address = self.start_server(config, ["--threads", "4"], socket_name="scan.sock")
        for _ in range(24):
            self.assertAnswer(fastcgi_wire.fetch(address, timeout=5), healthy=True)
        resident_kib, _ = footprint(server.process.pid)
        self.assertLess(resident_kib, 6 * 1024)

    def test_many_checks_never_change_the_file(self):
        make_database(self.db, failed_jobs=0)
        before = fingerprint(self.db)
        for _ in range(50):
            self.assertAnswer(fastcgi_wire.fetch(self.address), healthy=True)
        self.assertEqual(fingerprint(self.db), before)
        self.assertEqual(sorted(os.listdir(self.dir)),
                         ["app.db", "hc.sock", "healthcheck.json"])
