"""The binary as a FastCGI responder on a unix socket and on loopback TCP."""
import os
import signal
import socket
import subprocess
import threading
import time

from tests.integration import fastcgi_wire
from tests.integration.support import Server, TestCase, expected_bytes, free_port, make_database

SQL_CONFIG = """{"services": ["memory_backend", "cursor_backend"],
  "callable": {"sql": "SELECT count(*) = 0 FROM failed_jobs"},
  "cursor_backend": {"database": "app.db", "timeout_ms": 300}}"""


class FastCgiTest(TestCase):

    def test_empty_configuration_answers_success_with_no_stderr(self):
        server, address = self.start_server()
        reply = fastcgi_wire.fetch(address)
        self.assertAnswer(reply, healthy=True)
        self.assertEqual(reply.stderr, b"")
        self.assertEqual(reply.app_status, 0)

    def test_sqlite_and_sql_callable_healthy_then_failing(self):
        make_database(self.path("app.db"))
        server, address = self.start_server(self.write_config(SQL_CONFIG))
        self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)
        make_database(self.path("other.db"), failed_jobs=2)
        os.replace(self.path("other.db"), self.path("app.db"))
        reply = fastcgi_wire.fetch(address)
        self.assertAnswer(reply, healthy=False)
        self.assertIn(b"callable (sql) failed", reply.stderr)

    def test_missing_database_fails_logs_why_and_is_not_created(self):
        server, address = self.start_server(self.write_config(SQL_CONFIG))
        reply = fastcgi_wire.fetch(address)
        self.assertAnswer(reply, healthy=False)
        self.assertIn(b"cursor_backend failed", reply.stderr)
        self.assertIn(self.path("app.db").encode(), reply.stderr)
        self.assertNotIn(b"app.db", reply.body)
        self.assertFalse(os.path.exists(self.path("app.db")))

    def test_not_a_database_fails(self):
        with open(self.path("app.db"), "wb") as junk:
            junk.write(b"hello" * 1000)
        server, address = self.start_server(self.write_config(SQL_CONFIG))
        reply = fastcgi_wire.fetch(address)
        self.assertAnswer(reply, healthy=False)
        self.assertIn(b"file is not a database", reply.stderr)

    def test_command_callable_true_and_false(self):
        good = self.write_config('{"callable": {"command": ["/bin/true"]}}', "good.json")
        bad = self.write_config('{"callable": {"command": ["/bin/false"]}}', "bad.json")
        _, good_address = self.start_server(good, socket_name="good.sock")
        _, bad_address = self.start_server(bad, socket_name="bad.sock")
        self.assertAnswer(fastcgi_wire.fetch(good_address), healthy=True)
        reply = fastcgi_wire.fetch(bad_address)
        self.assertAnswer(reply, healthy=False)
        self.assertIn(b"exited with status 1", reply.stderr)

    def test_head_has_no_body_and_post_body_is_ignored(self):
        server, address = self.start_server()
        self.assertAnswer(fastcgi_wire.fetch(address, method="HEAD"), healthy=True, head=True)
        reply = fastcgi_wire.fetch(address, method="POST", body=b"x" * 200000)
        self.assertAnswer(reply, healthy=True)

    def test_head_on_failure_has_no_body(self):
        server, address = self.start_server(self.write_config(SQL_CONFIG))
        self.assertAnswer(fastcgi_wire.fetch(address, method="HEAD"), healthy=False, head=True)

    def test_kept_alive_connection_serves_many_requests(self):
        server, address = self.start_server()
        with fastcgi_wire.connect(address) as sock:
            for request_id in range(1, 21):
                sock.sendall(fastcgi_wire.request_bytes({"REQUEST_METHOD": "GET"},
                                                        request_id=request_id, keep_conn=True))
                self.assertAnswer(fastcgi_wire.read_reply(sock, request_id), healthy=True)

    def test_cgi_fcgi_client_from_libfcgi(self):
        server, address = self.start_server()
        env = {"REQUEST_METHOD": "GET", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        result = subprocess.run(["cgi-fcgi", "-bind", "-connect", address], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(result.stdout, expected_bytes(True))

    def test_concurrent_requests_all_answered(self):
        server, address = self.start_server(extra_args=["--threads", "4"])
        replies, errors = [], []

        def client():
            try:
                for _ in range(25):
                    replies.append(fastcgi_wire.fetch(address).stdout)
            except Exception as error:  # Collected and asserted below.
                errors.append(error)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        self.assertEqual(errors, [])
        self.assertEqual(replies, [expected_bytes(True)] * 200)

    def test_loopback_tcp(self):
        port = free_port()
        server = Server(["--listen", "127.0.0.1:%d" % port])
        self.addCleanup(server.stop)
        server.wait_ready(("127.0.0.1", port))
        self.assertAnswer(fastcgi_wire.fetch(("127.0.0.1", port)), healthy=True)

    def test_public_addresses_are_refused(self):
        for address in [":%d" % free_port(), "0.0.0.0:%d" % free_port()]:
            result = self.run_binary(["--listen", address])
            self.assertEqual(result.returncode, 64, address)
            self.assertIn(b"not a loopback address", result.stderr)

    def test_bad_configuration_refuses_to_start(self):
        config = self.write_config('{"services": ["redis"]}')
        result = self.run_binary(["--config", config, "--listen", "unix:" + self.path("s.sock")])
        self.assertEqual(result.returncode, 78)
        self.assertIn(config.encode() + b':1: "services": unknown service "redis"', result.stderr)
        self.assertFalse(os.path.exists(self.path("s.sock")))

    def test_socket_is_mode_0660(self):
        server, address = self.start_server()
        self.assertEqual(os.stat(address).st_mode & 0o777, 0o660)

    def test_sigterm_finishes_the_request_in_flight_and_exits_0(self):
        config = self.write_config('{"callable": {"command": ["/bin/sleep", "0.5"]}}')
        server, address = self.start_server(config)
        result = {}
        client = threading.Thread(target=lambda: result.update(reply=fastcgi_wire.fetch(address)))
        client.start()
        time.sleep(0.15)
        started = time.monotonic()
        self.assertEqual(server.stop(signal.SIGTERM), 0)
        client.join(timeout=5)
        self.assertLess(time.monotonic() - started, 3)
        self.assertAnswer(result["reply"], healthy=True)

    def test_sigterm_closes_idle_kept_alive_connections_at_once(self):
        server, address = self.start_server()
        idle = []
        for _ in range(3):
            sock = fastcgi_wire.connect(address)
            self.addCleanup(sock.close)
            sock.sendall(fastcgi_wire.request_bytes({"REQUEST_METHOD": "GET"}, keep_conn=True))
            self.assertAnswer(fastcgi_wire.read_reply(sock), healthy=True)
            idle.append(sock)
        started = time.monotonic()
        self.assertEqual(server.stop(signal.SIGTERM), 0)
        # libfcgi's own close would wait 2 s per connection for the peer.
        self.assertLess(time.monotonic() - started, 1.0)
        for sock in idle:
            self.assertEqual(sock.recv(16), b"")  # A clean end, no reset.

    def test_sighup_reloads_and_a_bad_file_is_refused(self):
        config = self.write_config('{"services": ["memory_backend"]}')
        server, address = self.start_server(config)
        self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)
        self.write_config('{"services": [')
        server.process.send_signal(signal.SIGHUP)
        time.sleep(0.4)
        self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)
        self.assertIn("reload refused", server.log_text())
        self.write_config('{"callable": {"command": ["/bin/false"]}}')
        server.process.send_signal(signal.SIGHUP)
        time.sleep(0.4)
        self.assertAnswer(fastcgi_wire.fetch(address), healthy=False)
        self.assertIn("configuration reloaded", server.log_text())

    def test_listening_socket_inherited_on_stdin(self):
        address = self.path("inherited.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen(16)
        server = Server([], stdin=listener.fileno())
        listener.close()
        self.addCleanup(server.stop)
        server.wait_ready(address)
        self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)


class EveryProberMethodTest(TestCase):
    """GET, HEAD, OPTIONS (HAProxy's default `option httpchk`), POST and any
    other method run the same check; only HEAD drops the body."""

    def test_each_method_gets_the_same_answer_healthy_and_not(self):
        make_database(self.path("app.db"))
        config = self.write_config('{"services": ["cursor_backend"],'
                                   ' "cursor_backend": {"database": "app.db"}}')
        server, address = self.start_server(config)
        for healthy in (True, False):
            if not healthy:
                os.unlink(self.path("app.db"))
            for method in ("GET", "OPTIONS", "POST", "PUT", "DELETE", "PATCH"):
                body = b"probe=1" if method in ("POST", "PUT", "PATCH") else b""
                reply = fastcgi_wire.fetch(address, method=method, body=body)
                self.assertEqual(reply.stdout, expected_bytes(healthy), method)
            reply = fastcgi_wire.fetch(address, method="HEAD")
            self.assertEqual(reply.stdout, expected_bytes(healthy, head=True))
