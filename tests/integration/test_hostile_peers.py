"""Hostile and broken FastCGI peers: after each, a normal request is still
answered correctly and on time."""
import os
import socket
import struct
import time

from tests.integration import fastcgi_wire as wire
from tests.integration.support import TestCase, free_port, Server

ANSWER_BOUND_S = 2.0  # The default request deadline.
# libfcgi's failed malloc aborts (signal 6); AddressSanitizer reports it and exits 1.
ABORT_LOG = ("exited with status 1" if os.environ.get("HEALTHCHECK_SANITIZED")
             else "killed by signal 6")
IDLE_TIMEOUT_MS = 300


class HostilePeerTest(TestCase):

    def setUp(self):
        super().setUp()
        self.server, self.address = self.start_server(
            extra_args=["--workers", "2", "--threads", "2", "--idle-timeout-ms",
                        str(IDLE_TIMEOUT_MS)])

    def assertStillServes(self, address=None):
        started = time.monotonic()
        reply = wire.fetch(address or self.address, timeout=ANSWER_BOUND_S + 3)
        self.assertAnswer(reply, healthy=True)
        self.assertLess(time.monotonic() - started, ANSWER_BOUND_S)

    def send_and_close(self, data, read=False):
        with wire.connect(self.address) as sock:
            try:
                sock.sendall(data)
                if read:
                    sock.settimeout(2)
                    while sock.recv(65536):
                        pass
            except OSError:
                pass  # The responder may hang up on garbage; that is fine.

    def test_truncated_header(self):
        self.send_and_close(b"\x01\x01\x00")
        self.assertStillServes()

    def test_truncated_body_of_a_record(self):
        self.send_and_close(wire.begin_request() + wire.record(wire.PARAMS, 1, b"\x04" * 100)[:50])
        self.assertStillServes()

    def test_declared_length_larger_than_sent(self):
        header = struct.pack(">BBHHBx", 1, wire.PARAMS, 1, 65535, 255)
        self.send_and_close(wire.begin_request() + header + b"x" * 10)
        self.assertStillServes()

    def test_wrong_version(self):
        self.send_and_close(wire.record(wire.BEGIN_REQUEST, 1, struct.pack(">HB5x", 1, 0),
                                        version=7), read=True)
        self.assertStillServes()

    def test_unknown_record_types(self):
        junk = b"".join(wire.record(record_type, 0, b"abc") for record_type in (0, 12, 99, 255))
        self.send_and_close(junk + wire.record(wire.GET_VALUES, 0, b""))
        self.assertStillServes()

    def test_unknown_role(self):
        begin = wire.record(wire.BEGIN_REQUEST, 1, struct.pack(">HB5x", 3, 0))  # FILTER
        self.send_and_close(begin + wire.stream_records(wire.PARAMS, 1, b""), read=True)
        self.assertStillServes()

    def test_multiplexed_begin_requests(self):
        data = (wire.begin_request(1, keep_conn=True) + wire.begin_request(2, keep_conn=True) +
                wire.stream_records(wire.PARAMS, 1, wire.encode_params({"REQUEST_METHOD": "GET"})) +
                wire.stream_records(wire.PARAMS, 2, wire.encode_params({"REQUEST_METHOD": "GET"})) +
                wire.stream_records(wire.STDIN, 1, b"") + wire.stream_records(wire.STDIN, 2, b""))
        self.send_and_close(data, read=True)
        self.assertStillServes()

    def test_abort_request_midway(self):
        self.send_and_close(wire.begin_request() + wire.record(wire.ABORT_REQUEST, 1))
        self.assertStillServes()

    def test_giant_name_value_lengths_abort_a_worker_which_is_replaced(self):
        lengths = struct.pack(">II", 0x7ffffffe | 0x80000000, 0x7ffffffe | 0x80000000)
        self.send_and_close(wire.begin_request() + wire.record(wire.PARAMS, 1, lengths + b"x" * 64))
        # The abort takes down what was in flight on that one worker (a known
        # limit: libfcgi aborts the process); from then on the other worker and
        # the replacement answer everything.
        deadline = time.monotonic() + 3
        while ABORT_LOG not in self.server.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn(ABORT_LOG, self.server.log_text())
        self.assertIn("replacing it", self.server.log_text())
        for _ in range(20):
            self.assertStillServes()

    def test_silent_peers_cannot_pin_every_thread(self):
        # More silent connections than the 2 x 2 threads.
        silent = [wire.connect(self.address) for _ in range(8)]
        self.addCleanup(lambda: [sock.close() for sock in silent])
        half = [wire.connect(self.address) for _ in range(4)]
        self.addCleanup(lambda: [sock.close() for sock in half])
        for sock in half:
            sock.sendall(b"\x01\x01")
        self.assertStillServes()

    def test_peers_that_vanish_mid_response(self):
        for _ in range(50):
            with wire.connect(self.address) as sock:
                sock.sendall(wire.request_bytes({"REQUEST_METHOD": "GET"}))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.assertStillServes()

    def test_very_large_parameter_sets(self):
        # 2 MB of parameters takes libfcgi most of a second to parse, longer
        # than this class's short idle timeout: a server with the default one.
        _, address = self.start_server(socket_name="large.sock")
        params = {"HTTP_X_%d" % i: "v" * 1000 for i in range(2000)}
        params["REQUEST_METHOD"] = "GET"
        with wire.connect(address, timeout=10) as sock:
            sock.sendall(wire.request_bytes(params))
            self.assertAnswer(wire.read_reply(sock), healthy=True)
        self.assertStillServes(address)

    def test_very_large_body(self):
        try:
            with wire.connect(self.address, timeout=5) as sock:
                sock.sendall(wire.request_bytes({"REQUEST_METHOD": "POST"}, b"x" * (8 << 20)))
                wire.read_reply(sock)
        except OSError:
            pass  # Past the 1 MiB cap the responder answers and hangs up early.
        self.assertStillServes()

    def test_hostile_traffic_on_loopback_tcp(self):
        port = free_port()
        server = Server(["--listen", "127.0.0.1:%d" % port, "--threads", "2",
                         "--idle-timeout-ms", str(IDLE_TIMEOUT_MS)])
        self.addCleanup(server.stop)
        server.wait_ready(("127.0.0.1", port))
        silent = [wire.connect(("127.0.0.1", port)) for _ in range(4)]
        self.addCleanup(lambda: [sock.close() for sock in silent])
        self.assertStillServes(("127.0.0.1", port))
