"""Regression tests for what the hostile review of the hardening found:

- a peer that sends requests and never reads the answers pinned a thread
  in write(2), with no timeout;
- a `sql` check "PRAGMA locking_mode=EXCLUSIVE" left the kept connection
  holding its lock between requests;
- a stream of valid PARAMS grew the process without bound (libfcgi keeps
  parameters uncapped) until it aborted;
- started with fds 0-2 closed, log lines went into a client's connection;
- a locked database was waited on twice the busy timeout (the kept
  connection, then a new one).
"""
import os
import signal
import sqlite3
import subprocess
import time

from tests.integration import fastcgi_wire as wire
from tests.integration import hostile_support as hs
from tests.integration.support import (BINARY, Server, footprint, hold_exclusive_lock,
                                       make_database, wait_until)
from tests.integration.test_review_defects import PARAMS, ReviewTestCase, request_on

SANITIZED = os.environ.get("HEALTHCHECK_SANITIZED") == "1"


def resident_mib(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return -1


class PeerThatNeverReadsTest(ReviewTestCase):

    def test_peer_pipelining_requests_without_reading_does_not_pin_the_only_thread(self):
        _, address = self.start_server(extra_args=["--threads", "1", "--idle-timeout-ms", "1000"])
        hog = wire.connect(address, timeout=5)
        self.addCleanup(hog.close)
        hog.setblocking(False)
        one = wire.request_bytes({"REQUEST_METHOD": "GET"}, keep_conn=True)
        until = time.monotonic() + 4.0
        while time.monotonic() < until:  # Requests until every buffer on the way is full.
            try:
                if hog.send(one) < len(one):
                    break  # Never a request cut in two: the rest would be garbage.
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                break  # The responder gave up writing to us: what the fix does.
        time.sleep(1.0)
        reply, took = hs.timed_fetch(address, timeout=8)
        self.assertHealthyAnswer(reply)
        self.assertLess(took, 5.0)


class LockingModePragmaTest(ReviewTestCase):

    def test_locking_mode_exclusive_as_sql_check_leaves_no_lock(self):
        make_database(self.path("app.db"))
        config = self.config({"services": ["cursor_backend"],
                              "cursor_backend": {"database": "app.db"},
                              "callable": {"sql": "PRAGMA locking_mode=EXCLUSIVE"}})
        _, address = self.start_server(config, ["--threads", "1"])
        kept = wire.connect(address, timeout=5)
        self.addCleanup(kept.close)
        for _ in range(3):
            request_on(kept, keep_conn=True)
        writer = sqlite3.connect(self.path("app.db"), timeout=1.0, isolation_level=None)
        self.addCleanup(writer.close)
        try:
            writer.execute("INSERT INTO failed_jobs DEFAULT VALUES")
        except sqlite3.OperationalError as error:
            self.fail("the application cannot write after the checks: %s" % error)


class ParamsFloodTest(ReviewTestCase):

    def test_a_stream_of_parameters_is_cut_at_the_memory_limit(self):
        server, address = self.start_server(extra_args=["--threads", "2"])
        flood = wire.connect(address, timeout=5)
        self.addCleanup(flood.close)
        flood.sendall(wire.begin_request(1))
        value = b"v" * 1000
        chunk = b"".join(wire.encode_length(6) + wire.encode_length(len(value)) +
                         b"N%05d" % i + value for i in range(30))
        record = wire.record(wire.PARAMS, 1, chunk)
        peak = 0
        until = time.monotonic() + 3.0
        while time.monotonic() < until:
            try:
                flood.sendall(record * 16)
            except OSError:
                break  # Cut: what the fix does.
            peak = max(peak, resident_mib(server.process.pid))
        self.assertIsNone(server.process.poll(), server.log_text())
        self.assertHealthyAnswer(hs.timed_fetch(address)[0])
        self.assertIn("past the limit of 64 MiB", server.log_text())
        if not SANITIZED:  # ASan's shadow and quarantine have their own size.
            self.assertLess(peak, 256)


class ClosedStandardDescriptorsTest(ReviewTestCase):

    def test_started_with_fds_0_to_2_closed_logs_never_reach_a_client(self):
        config = self.config({})
        address = self.path("hc.sock")
        process = subprocess.Popen(
            [BINARY, "--config", config, "--listen", "unix:" + address, "--threads", "2"],
            preexec_fn=lambda: [os.close(fd) for fd in (0, 1, 2)], close_fds=True)
        self.addCleanup(process.wait, 10)
        self.addCleanup(process.kill)
        wait_until(lambda: os.path.exists(address), 5)
        client = wire.connect(address, timeout=5)
        self.addCleanup(client.close)
        time.sleep(0.3)
        process.send_signal(signal.SIGHUP)  # Logs "configuration reloaded".
        time.sleep(0.5)
        self.assertAnswer(request_on(client, keep_conn=True), healthy=True)


class LockedDatabaseWaitTest(ReviewTestCase):

    def test_a_locked_database_is_waited_on_for_one_busy_timeout_not_two(self):
        make_database(self.path("app.db"))
        config = self.config({"services": ["cursor_backend"], "timeout_ms": 5000,
                              "cursor_backend": {"database": "app.db", "timeout_ms": 1000}})
        _, address = self.start_server(config, ["--threads", "1"])
        kept = wire.connect(address, timeout=10)
        self.addCleanup(kept.close)
        self.assertHealthyAnswer(request_on(kept, keep_conn=True))  # The connection is kept.
        hold_exclusive_lock(self, self.path("app.db"))
        started = time.monotonic()
        self.assertAnswer(request_on(kept, keep_conn=True), healthy=False)
        self.assertLess(time.monotonic() - started, 1.7)
