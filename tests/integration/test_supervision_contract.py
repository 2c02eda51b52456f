"""The --workers contract, case by case, beside test_supervision.py: flag
validation, recycling that drops nothing, reloads that switch behaviour or
are refused, SIGTERM with a request in flight and with idle kept-alive
connections, a killed master, and all of it on an inherited socket."""
import os
import signal
import socket
import subprocess
import threading
import time

from tests.integration import fastcgi_wire
from tests.integration.hostile_support import alive, children_of, wait_until
from tests.integration.support import BINARY, Server, TestCase, expected_bytes


class SupervisionContractTest(TestCase):
    """The --workers contract, case by case: flags, reloads, shutdown,
    an inherited socket, and what happens when the master itself dies."""

    def start_master(self, config=None, extra=(), workers=2):
        server, address = self.start_server(
            config, ["--workers", str(workers), "--threads", "2"] + list(extra))
        pids = wait_until(lambda: len(children_of(server.process.pid)) == workers and
                          children_of(server.process.pid))
        self.assertEqual(len(pids or []), workers, server.log_text())
        return server, address, pids

    def test_bad_supervision_flags_are_usage_errors(self):
        for flags in (["--max-requests", "5"], ["--workers", "0", "--max-requests", "5"],
                      ["--workers", "65"], ["--workers", "-1"], ["--workers", "two"],
                      ["--workers", "1", "--max-requests", "-1"],
                      ["--idle-timeout-ms", "99"], ["--idle-timeout-ms", "600001"]):
            with self.subTest(flags=flags):
                # With a usable --listen: only the bad flag can stop it serving.
                process = subprocess.Popen(
                    [BINARY, "--listen", "unix:" + self.path("flags.sock")] + flags,
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                self.addCleanup(process.stderr.close)
                self.addCleanup(process.kill)
                try:
                    process.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    self.fail("%s: started serving instead of refusing" % flags)
                self.assertEqual(process.returncode, 64, flags)
                self.assertNotEqual(process.stderr.read(), b"")

    def test_max_requests_recycles_without_dropping_a_request(self):
        server, address, first = self.start_master(
            extra=["--max-requests", "2"], workers=1)
        seen = set(first)
        for _ in range(16):
            started = time.monotonic()
            self.assertAnswer(fastcgi_wire.fetch(address, timeout=5), healthy=True)
            self.assertLess(time.monotonic() - started, 2.0)
            seen.update(children_of(server.process.pid))
        # 16 requests at 2 per worker: 8 workers, give or take the last one's start.
        self.assertGreaterEqual(len(seen), 7, sorted(seen))
        self.assertGreaterEqual(server.log_text().count("retired after its requests"), 6)
        self.assertNotIn("killed by signal", server.log_text())

    def test_sighup_switches_to_a_missing_database_and_back(self):
        config = self.write_config('{"services": ["memory_backend"]}')
        server, address, old = self.start_master(config)
        self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)
        self.write_config('{"services": ["memory_backend", "cursor_backend"],'
                          ' "cursor_backend": {"database": "missing.db"}}')
        server.process.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "configuration reloaded" in server.log_text()))
        wait_until(lambda: not set(old) & set(children_of(server.process.pid)))
        reply = fastcgi_wire.fetch(address)
        self.assertAnswer(reply, healthy=False)
        self.assertIn(b"missing.db", reply.stderr)
        self.assertFalse(os.path.exists(self.path("missing.db")))
        self.write_config('{"services": ["memory_backend"]}')
        server.process.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(
            lambda: server.log_text().count("configuration reloaded") == 2))
        self.assertTrue(wait_until(
            lambda: fastcgi_wire.fetch(address).stdout == expected_bytes(True)))

    def test_sighup_refuses_broken_and_missing_files_and_keeps_serving(self):
        config = self.write_config('{"services": ["memory_backend"]}')
        server, address, workers = self.start_master(config)
        for refused, make_bad in enumerate(
                (lambda: self.write_config('{"services": ["memory_backend"'),
                 lambda: self.write_config('{"timeout_ms": 0}'),
                 lambda: self.write_config(""),
                 lambda: os.unlink(config)), start=1):
            make_bad()
            server.process.send_signal(signal.SIGHUP)
            self.assertTrue(wait_until(
                lambda: server.log_text().count("reload refused") == refused),
                server.log_text())
            self.assertEqual(children_of(server.process.pid), workers)
            self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)
        self.assertNotIn("configuration reloaded", server.log_text())

    def test_sigterm_finishes_a_1_s_request_refuses_new_ones_and_exits_0(self):
        config = self.write_config('{"callable": {"command": ["/bin/sleep", "1"]}}')
        server, address, workers = self.start_master(config)
        result = {}
        client = threading.Thread(
            target=lambda: result.update(reply=fastcgi_wire.fetch(address, timeout=8)))
        client.start()
        self.addCleanup(client.join, 10)
        # In flight: a worker is running the command.
        self.assertTrue(wait_until(lambda: any(children_of(pid) for pid in workers)))
        stopping_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        late = {}
        latecomer = threading.Thread(target=lambda: late.update(
            outcome=self.fetch_or_error(address)))
        latecomer.start()
        self.addCleanup(latecomer.join, 10)
        self.assertEqual(server.process.wait(timeout=6), 0, server.log_text())
        self.assertLess(time.monotonic() - stopping_at, 2.0 + 3.0)  # Deadline + margin.
        client.join(5)
        self.assertAnswer(result["reply"], healthy=True)
        latecomer.join(5)
        self.assertFalse(latecomer.is_alive(), "a request after SIGTERM hangs")
        self.assertIsInstance(late["outcome"], OSError, "answered after SIGTERM")
        for pid in workers:
            self.assertFalse(alive(pid))

    @staticmethod
    def fetch_or_error(address):
        try:
            return fastcgi_wire.fetch(address, timeout=8)
        except OSError as error:
            return error

    def test_sigterm_does_not_wait_for_idle_kept_alive_connections(self):
        server, address, workers = self.start_master()  # Idle timeout: the 10 s default.
        kept = []
        for _ in range(3):
            sock = fastcgi_wire.connect(address)
            self.addCleanup(sock.close)
            sock.sendall(fastcgi_wire.request_bytes({"REQUEST_METHOD": "GET"}, keep_conn=True))
            self.assertAnswer(fastcgi_wire.read_reply(sock), healthy=True)
            kept.append(sock)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        self.assertEqual(server.process.wait(timeout=8), 0)
        self.assertLess(time.monotonic() - started, 3.0)

    def test_workers_do_not_outlive_a_killed_master(self):
        server, address, workers = self.start_master()
        server.process.kill()
        server.process.wait(5)
        self.assertTrue(wait_until(lambda: not any(alive(pid) for pid in workers), 3),
                        [pid for pid in workers if alive(pid)])

    def test_inherited_socket_recycles_reloads_and_stops(self):
        address = self.path("inherited.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen(16)
        config = self.write_config('{"services": ["memory_backend"]}')
        server = Server(["--config", config, "--workers", "2", "--max-requests", "3"],
                        stdin=listener.fileno())
        listener.close()
        self.addCleanup(server.stop)
        server.wait_ready(address)
        for _ in range(12):
            self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)
        self.assertTrue(wait_until(lambda: "retired after its requests" in server.log_text()))
        self.write_config('{"callable": {"command": ["/bin/false"]}}')
        server.process.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "configuration reloaded" in server.log_text()))
        self.assertTrue(wait_until(
            lambda: fastcgi_wire.fetch(address).stdout == expected_bytes(False)))
        self.assertEqual(server.stop(), 0)
