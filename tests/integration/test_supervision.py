"""--workers: a master that replaces dead, stuck and retired workers."""
import os
import signal
import socket
import threading
import time

from tests.integration import fastcgi_wire
from tests.integration.support import (Server, TestCase, alive, children_of, expected_bytes,
                                       wait_until)



def drain_until_closed(sock):
    try:
        while sock.recv(1 << 16):
            pass
    except OSError:
        pass


class SupervisionTest(TestCase):

    def start_master(self, config=None, extra=()):
        server, address = self.start_server(config, ["--workers", "2", "--threads", "2"] + list(extra))
        workers = wait_until(lambda: len(children_of(server.process.pid)) == 2 and
                             children_of(server.process.pid))
        self.assertEqual(len(workers), 2)
        return server, address, workers

    def test_a_killed_worker_is_replaced_and_logged(self):
        server, address, workers = self.start_master()
        for sig in (signal.SIGKILL, signal.SIGABRT):
            victim = workers[0]
            os.kill(victim, sig)
            workers = wait_until(lambda: victim not in children_of(server.process.pid) and
                                 len(children_of(server.process.pid)) == 2 and
                                 children_of(server.process.pid))
            self.assertEqual(len(workers), 2)
            self.assertIn("worker %d killed by signal %d" % (victim, sig), server.log_text())
            self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)

    def test_service_continues_while_workers_die(self):
        server, address, workers = self.start_master()
        os.kill(workers[0], signal.SIGKILL)
        for _ in range(50):
            self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)

    def test_max_requests_recycles_workers(self):
        server, address, first = self.start_master(extra=["--max-requests", "5"])
        seen = set(first)
        for _ in range(40):
            self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)
            seen.update(children_of(server.process.pid))
        self.assertGreater(len(seen), 2)
        self.assertIn("retired after its requests", server.log_text())

    def test_recycling_under_concurrent_load_loses_no_request(self):
        server, address, _ = self.start_master(extra=["--max-requests", "10"])
        replies, errors = [], []

        def client():
            try:
                for _ in range(60):
                    replies.append(fastcgi_wire.fetch(address).stdout)
            except OSError as error:
                errors.append(error)

        clients = [threading.Thread(target=client) for _ in range(4)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertEqual(replies, [expected_bytes(True)] * 240)
        self.assertGreaterEqual(server.log_text().count("retired after its requests"), 10)

    def test_sighup_replaces_workers_with_the_new_configuration(self):
        config = self.write_config('{"services": ["memory_backend"]}')
        server, address, old = self.start_master(config)
        self.write_config('{"callable": {"command": ["/bin/false"]}}')
        server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: not set(old) & set(children_of(server.process.pid)))
        self.assertAnswer(fastcgi_wire.fetch(address), healthy=False)
        self.assertIn("configuration reloaded", server.log_text())

    def test_sighup_with_a_bad_file_keeps_the_old_configuration(self):
        config = self.write_config('{"services": ["memory_backend"]}')
        server, address, old = self.start_master(config)
        self.write_config('{"services": ["nope"]}')
        server.process.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "reload refused" in server.log_text()))
        self.assertEqual(children_of(server.process.pid), old)
        self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)

    def test_stuck_worker_is_killed_and_replaced(self):
        config = self.write_config(
            '{"callable": {"command": ["/bin/sleep", "0.2"]}, "timeout_ms": 300}')
        server, address, workers = self.start_master(config)
        replies = []
        client = threading.Thread(target=lambda: replies.append(self.fetch_quietly(address)))
        client.start()
        # Freeze whichever worker took the request, mid-request.
        frozen = wait_until(lambda: [pid for pid in children_of(server.process.pid)
                                     if children_of(pid)])
        self.assertTrue(frozen)
        os.kill(frozen[0], signal.SIGSTOP)
        # The limit is twice the deadline plus a second: 1.6 s here.
        self.assertTrue(wait_until(lambda: "stuck on a request" in server.log_text(), 6))
        client.join(timeout=5)
        self.assertTrue(wait_until(lambda: len(children_of(server.process.pid)) == 2))
        self.assertAnswer(fastcgi_wire.fetch(address, timeout=5), healthy=True)

    def fetch_quietly(self, address):
        try:
            return fastcgi_wire.fetch(address, timeout=5)
        except OSError as error:
            return error

    def test_sigterm_lets_in_flight_requests_finish(self):
        config = self.write_config('{"callable": {"command": ["/bin/sleep", "0.5"]}}')
        server, address, workers = self.start_master(config)
        result = {}
        client = threading.Thread(target=lambda: result.update(reply=fastcgi_wire.fetch(address)))
        client.start()
        time.sleep(0.15)
        self.assertEqual(server.stop(signal.SIGTERM), 0)
        client.join(timeout=5)
        self.assertAnswer(result["reply"], healthy=True)
        for pid in workers:
            self.assertFalse(alive(pid))

    def test_supervision_on_an_inherited_socket(self):
        address = self.path("inherited.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen(16)
        server = Server(["--workers", "2"], stdin=listener.fileno())
        listener.close()
        self.addCleanup(server.stop)
        server.wait_ready(address)
        workers = wait_until(lambda: len(children_of(server.process.pid)) == 2 and
                             children_of(server.process.pid))
        os.kill(workers[0], signal.SIGKILL)
        self.assertTrue(wait_until(lambda: "killed by signal 9" in server.log_text()))
        for _ in range(10):
            self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)
        self.assertEqual(server.stop(), 0)


class MemoryBoundTest(SupervisionTest.__base__):

    def test_a_worker_bloated_by_libfcgis_leak_is_recycled(self):
        # Debian's libfcgi leaks ~62 bytes per unknown-type management record.
        server, address = self.start_server(
            None, ["--workers", "1", "--threads", "1", "--max-worker-rss-mib", "8"])
        first = wait_until(lambda: children_of(server.process.pid))
        sock = fastcgi_wire.connect(address, timeout=10)
        self.addCleanup(sock.close)
        # Each record is answered; drain the answers so the worker never blocks.
        drain = threading.Thread(target=lambda: drain_until_closed(sock), daemon=True)
        drain.start()
        try:
            for _ in range(6):
                sock.sendall(fastcgi_wire.record(99, 0) * 30000)
        except OSError:
            pass  # The recycled worker hung up.
        self.assertTrue(wait_until(lambda: "MiB; recycling it" in server.log_text(), 5),
                        server.log_text())
        self.assertTrue(wait_until(lambda: children_of(server.process.pid) and
                                   children_of(server.process.pid) != first))
        self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)
