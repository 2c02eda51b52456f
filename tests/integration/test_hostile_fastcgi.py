"""Raw FastCGI peers that are broken or hostile. After each one a normal
request must get the exact success bytes within the request deadline.

test_hostile_peers.py runs the classic cases against --workers 2, where a
worker that crashed would be replaced and go unnoticed. Here the non-aborting
cases run against one process (--workers 0), so a crash fails the test, and
the aborting ones (libfcgi's 0x7ffffffe lengths) against supervised workers.
"""
import os
import random
import socket
import struct
import threading
import time

from tests.integration import fastcgi_wire as wire
from tests.integration import hostile_support as hs
from tests.integration.support import TestCase, expected_bytes

DEADLINE_S = 2.0  # The default timeout_ms: a normal answer must come sooner.
IDLE_TIMEOUT_MS = 300
TICK_MARGIN_S = 0.6  # The responder looks at idle peers every 100 ms; scheduling noise.
# libfcgi's failed malloc aborts (signal 6); under AddressSanitizer it exits 1.
ABORT_LOG = ("exited with status 1" if os.environ.get("HEALTHCHECK_SANITIZED")
             else "killed by signal 6")


def _begin(role=1, flags=0, request_id=1, version=wire.VERSION):
    return wire.record(wire.BEGIN_REQUEST, request_id, struct.pack(">HB5x", role, flags),
                       version=version)


def _get(request_id=1, **params):
    params.setdefault("REQUEST_METHOD", "GET")
    return wire.stream_records(wire.PARAMS, request_id, wire.encode_params(params))


def _end_stdin(request_id=1):
    return wire.record(wire.STDIN, request_id)


def _huge_lengths(name_length, value_length):
    return (wire.begin_request() +
            wire.record(wire.PARAMS, 1, hs.pair_with_lengths(name_length, value_length)) +
            wire.record(wire.PARAMS, 1) + _end_stdin())


# Hostile inputs that must not take a single-process responder down.
SURVIVABLE_CASES = {
    "truncated header": lambda: b"\x01\x01\x00",
    "header declaring 65535 bytes, 10 sent": lambda: (
        wire.begin_request() + hs.header(wire.PARAMS, 1, 65535, 255) + b"x" * 10),
    "truncated PARAMS content": lambda: (
        wire.begin_request() + wire.record(wire.PARAMS, 1, b"\x04" * 100)[:50]),
    "body shorter than CONTENT_LENGTH, never ended": lambda: (
        wire.begin_request() + _get(REQUEST_METHOD="POST", CONTENT_LENGTH="1000") +
        wire.record(wire.STDIN, 1, b"y" * 100)),
    "version 0": lambda: _begin(version=0) + _get() + _end_stdin(),
    "version 2": lambda: _begin(version=2) + _get() + _end_stdin(),
    "version 255": lambda: _begin(version=255) + _get() + _end_stdin(),
    "wrong version mid request": lambda: (
        wire.begin_request() + wire.record(wire.PARAMS, 1, b"", version=9) + _end_stdin()),
    "unknown application record types": lambda: b"".join(
        wire.record(t, 1, b"abc") for t in (0, 8, 12, 99, 255)),
    "unknown management record types": lambda: b"".join(
        wire.record(t, 0, b"abc") for t in (0, 12, 99, 255)) + wire.record(wire.GET_VALUES, 0),
    "role FILTER": lambda: _begin(role=3) + _get() + _end_stdin(),
    "role AUTHORIZER": lambda: _begin(role=2) + _get() + _end_stdin(),
    "role 0xffff": lambda: _begin(role=0xffff) + _get() + _end_stdin(),
    "BEGIN_REQUEST with 1 content byte": lambda: wire.record(wire.BEGIN_REQUEST, 1, b"\x00"),
    "BEGIN_REQUEST with no content": lambda: wire.record(wire.BEGIN_REQUEST, 1),
    "PARAMS and STDIN before BEGIN_REQUEST": lambda: _get() + _end_stdin(),
    "peer sends STDOUT and END_REQUEST": lambda: (
        wire.begin_request() + wire.record(wire.STDOUT, 1, b"hi") +
        wire.record(wire.END_REQUEST, 1, b"\0" * 8) + _get() + _end_stdin()),
    "multiplexed BEGIN_REQUESTs": lambda: (
        _begin(flags=wire.KEEP_CONN, request_id=1) + _begin(flags=wire.KEEP_CONN, request_id=2) +
        _get(1) + _get(2) + _end_stdin(1) + _end_stdin(2)),
    "the same request id begun twice": lambda: (
        wire.begin_request(1) + wire.begin_request(1) + _get() + _end_stdin()),
    "request id 0xffff": lambda: wire.request_bytes({"REQUEST_METHOD": "GET"}, request_id=0xffff),
    "ABORT_REQUEST midway": lambda: wire.begin_request() + wire.record(wire.ABORT_REQUEST, 1),
    "ABORT_REQUEST for an unknown id": lambda: wire.record(wire.ABORT_REQUEST, 7),
    "name/value lengths 0x7fffffff": lambda: _huge_lengths(0x7fffffff, 0x7fffffff),
    "name length 0x7ffffff0, value 5": lambda: _huge_lengths(0x7ffffff0, 5),
    "name length 0x40000000, value 0": lambda: _huge_lengths(0x40000000, 0),
    "lengths past the record's end": lambda: _huge_lengths(1000, 1000),
    "name/value pair cut in half": lambda: (
        wire.begin_request() + wire.record(wire.PARAMS, 1, b"\x05\x05ab") +
        wire.record(wire.PARAMS, 1) + _end_stdin()),
    "GET_VALUES": lambda: wire.record(wire.GET_VALUES, 0, wire.encode_params(
        {"FCGI_MAX_CONNS": "", "FCGI_MPXS_CONNS": "", "FCGI_MAX_REQS": ""})) + b"\x01",
    "lone GET_VALUES": lambda: wire.record(wire.GET_VALUES, 0),
    "255 bytes of padding": lambda: (
        wire.record(wire.BEGIN_REQUEST, 1, struct.pack(">HB5x", 1, 0), padding=255) +
        _get() + _end_stdin()),
    "NUL inside REQUEST_METHOD": lambda: (
        wire.begin_request() +
        wire.stream_records(wire.PARAMS, 1, b"\x0e\x04REQUEST_METHODG\0ET") + _end_stdin()),
    "empty parameter name": lambda: (
        wire.begin_request() + wire.stream_records(wire.PARAMS, 1, b"\x00\x03abc") +
        _end_stdin()),
    "REQUEST_METHOD 3000 times": lambda: (
        wire.begin_request() + wire.stream_records(
            wire.PARAMS, 1, wire.encode_params({"REQUEST_METHOD": "GET"}) * 3000) +
        _end_stdin()),
    "random bytes": lambda: random.Random(7).randbytes(4096),
    "zero bytes": lambda: b"\0" * 4096,
    "4 MB of parameters": lambda: wire.request_bytes(
        dict({"HTTP_X_%d" % i: "v" * 2000 for i in range(2000)}, REQUEST_METHOD="GET")),
    "8 MiB body": lambda: wire.request_bytes(
        {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(8 << 20)}, b"x" * (8 << 20)),
    "kept-alive request then garbage": lambda: (
        wire.request_bytes({"REQUEST_METHOD": "GET"}, keep_conn=True) + b"\xff" * 64),
}


class HostileTestCase(TestCase):

    def assertAnswersOnTime(self, address, message=None):
        """A normal GET gets the exact success bytes, nothing on stderr, in time."""
        reply, took = hs.timed_fetch(address, timeout=DEADLINE_S + 3)
        self.assertNotIsInstance(reply, OSError, message)
        self.assertAnswer(reply, healthy=True)
        self.assertEqual(reply.stderr, b"", message)
        self.assertEqual(reply.app_status, 0, message)
        self.assertLess(took, DEADLINE_S, message)


class SingleProcessHostileTest(HostileTestCase):
    """One process with two threads: whatever breaks it, breaks the URL."""

    def start(self):
        server, address = self.start_server(
            extra_args=["--threads", "2", "--idle-timeout-ms", str(IDLE_TIMEOUT_MS)],
            socket_name="single-%d.sock" % random.randrange(1 << 30))
        return server, address

    def test_each_survivable_hostile_input_leaves_the_server_answering(self):
        server, address = self.start()
        for name, make in SURVIVABLE_CASES.items():
            with self.subTest(case=name):
                hs.send_and_drain(address, make(), read_timeout_s=3.0)
                self.assertAnswersOnTime(address, name)
                time.sleep(0.05)  # A crash a moment later still counts.
                if server.process.poll() is not None:
                    log = server.log_text()
                    server, address = self.start()  # The next cases need a server.
                    self.fail("%s: the server died (exit %s): %s" %
                              (name, server.process.returncode, log[-500:]))

    def test_peers_that_vanish_before_or_during_the_response(self):
        server, address = self.start()
        request = wire.request_bytes({"REQUEST_METHOD": "GET"})
        for round_number in range(60):
            with wire.connect(address) as sock:
                cut = round_number % 3
                if cut == 0:  # Reset right after the request: the answer hits RST.
                    sock.sendall(request)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif cut == 1:  # Gone halfway through the request.
                    sock.sendall(request[:len(request) // 2])
                else:  # Reads one byte of the answer, then goes.
                    sock.sendall(request)
                    sock.recv(1)
        self.assertAnswersOnTime(address)
        self.assertIsNone(server.process.poll())

    def test_a_kept_alive_connection_keeps_working_after_hostile_neighbours(self):
        # A long idle timeout here, so that only the neighbours can hurt it.
        server, address = self.start_server(
            extra_args=["--threads", "4", "--idle-timeout-ms", "5000"], socket_name="kept.sock")
        with wire.connect(address, timeout=DEADLINE_S + 3) as kept:
            for name in ("truncated header", "multiplexed BEGIN_REQUESTs", "wrong version mid request",
                         "random bytes", "name/value lengths 0x7fffffff"):
                kept.sendall(wire.request_bytes({"REQUEST_METHOD": "GET"}, keep_conn=True))
                self.assertAnswer(wire.read_reply(kept), healthy=True)
                hs.send_and_drain(address, SURVIVABLE_CASES[name](), read_timeout_s=0.3)
            kept.sendall(wire.request_bytes({"REQUEST_METHOD": "GET"}, keep_conn=True))
            self.assertAnswer(wire.read_reply(kept), healthy=True)
        self.assertAnswersOnTime(address)
        self.assertIsNone(server.process.poll())


class AbortingPeerTest(HostileTestCase):
    """Debian's libfcgi aborts on some lengths: the master must absorb it."""

    ABORTING_INPUTS = {
        "PARAMS name and value 0x7ffffffe": hs.aborting_request,
        "PARAMS value 0x7ffffffe after an empty name": lambda: (
            wire.begin_request() +
            wire.record(wire.PARAMS, 1, hs.pair_with_lengths(0, hs.ABORTING_LENGTH))),
        # A management record: no BEGIN_REQUEST needed at all.
        "GET_VALUES name and value 0x7ffffffe": lambda: (
            wire.record(wire.GET_VALUES, 0, hs.pair_with_lengths(
                hs.ABORTING_LENGTH, hs.ABORTING_LENGTH)) + b"\x01"),
    }

    def start_workers(self, workers, threads):
        server, address = self.start_server(
            extra_args=["--workers", str(workers), "--threads", str(threads),
                        "--idle-timeout-ms", str(IDLE_TIMEOUT_MS)])
        pids = hs.wait_until(lambda: len(hs.children_of(server.process.pid)) == workers and
                             hs.children_of(server.process.pid))
        self.assertEqual(len(pids or []), workers, server.log_text())
        return server, address, pids

    def test_each_aborting_record_kills_one_worker_which_is_logged_and_replaced(self):
        server, address, workers = self.start_workers(2, 2)
        for name, make in self.ABORTING_INPUTS.items():
            with self.subTest(case=name):
                hs.send_and_drain(address, make())
                # The other worker answers at once, while the victim is replaced.
                self.assertAnswersOnTime(address, name)
                replaced = hs.wait_until(
                    lambda: (len(hs.children_of(server.process.pid)) == 2 and
                             set(hs.children_of(server.process.pid)) != set(workers)))
                self.assertTrue(replaced, "%s: no worker died: %s" % (name, server.log_text()))
                victims = set(workers) - set(hs.children_of(server.process.pid))
                self.assertEqual(len(victims), 1, name)
                victim = victims.pop()
                self.assertTrue(hs.wait_until(
                    lambda: "worker %d %s" % (victim, ABORT_LOG) in server.log_text()),
                    server.log_text())
                self.assertIn("worker %d %s" % (victim, ABORT_LOG), server.log_text())
                self.assertIn("replacing it", server.log_text())
                workers = hs.children_of(server.process.pid)
                self.assertAnswersOnTime(address, name)
        self.assertEqual(server.stop(), 0)

    def test_the_replacement_of_the_only_worker_answers_within_the_deadline(self):
        server, address, (first,) = self.start_workers(1, 2)
        hs.send_and_drain(address, hs.aborting_request())
        self.assertAnswersOnTime(address)
        self.assertTrue(hs.wait_until(lambda: ABORT_LOG in server.log_text()))
        self.assertIn("worker %d %s" % (first, ABORT_LOG), server.log_text())
        self.assertNotIn(first, hs.children_of(server.process.pid))

    def test_good_traffic_is_answered_through_an_abort(self):
        # One thread per worker: an abort kills no good request in flight.
        server, address, _ = self.start_workers(2, 1)
        stop = threading.Event()
        results = []

        def good_client():
            while not stop.is_set():
                results.append(hs.timed_fetch(address, timeout=DEADLINE_S + 3))

        client = threading.Thread(target=good_client)
        client.start()
        self.addCleanup(client.join, 10)
        self.addCleanup(stop.set)
        time.sleep(0.2)
        hs.send_and_drain(address, hs.aborting_request())
        time.sleep(0.5)
        stop.set()
        client.join(10)
        self.assertIn(ABORT_LOG, server.log_text())
        self.assertGreater(len(results), 5)
        for reply, took in results:
            self.assertNotIsInstance(reply, OSError)
            self.assertAnswer(reply, healthy=True)
            self.assertLess(took, DEADLINE_S)

    def test_a_stream_of_aborting_peers_does_not_take_the_url_down(self):
        # Four aborts a second for six seconds. Every worker then dies young;
        # the health URL must still answer each request within the deadline.
        server, address, _ = self.start_workers(2, 1)
        stop = threading.Event()

        def attacker():
            while not stop.is_set():
                hs.send_and_drain(address, hs.aborting_request(), read_timeout_s=1)
                stop.wait(0.25)

        attack = threading.Thread(target=attacker)
        attack.start()
        self.addCleanup(attack.join, 10)
        self.addCleanup(stop.set)
        slow = []
        attack_ends = time.monotonic() + 6.0
        while time.monotonic() < attack_ends:
            reply, took = hs.timed_fetch(address, timeout=DEADLINE_S + 4)
            if isinstance(reply, OSError) or reply.stdout != expected_bytes(True) or \
                    took >= DEADLINE_S:
                slow.append("%.2f s: %r" % (took, reply if isinstance(reply, OSError)
                                               else reply.status))
            time.sleep(0.05)
        stop.set()
        attack.join(10)
        self.assertIn(ABORT_LOG, server.log_text())
        self.assertEqual(slow, [], "requests not answered within %.1f s during the attack"
                         % DEADLINE_S)


class SilentAndSlowPeerTest(HostileTestCase):
    """--idle-timeout-ms: silent peers are hung up on, and cannot pin threads."""

    IDLE_MS = 400

    def setUp(self):
        super().setUp()
        # One thread: a peer that held it would stop the URL outright.
        self.server, self.address = self.start_server(
            extra_args=["--threads", "1", "--idle-timeout-ms", str(self.IDLE_MS)])

    def time_until_hung_up(self, sock):
        started = time.monotonic()
        sock.settimeout(self.IDLE_MS / 1000 + 5)
        try:
            while sock.recv(4096):
                pass
        except socket.timeout:
            return None
        except OSError:
            pass
        return time.monotonic() - started

    def assertHungUpWithinTheIdleTimeout(self, sock):
        took = self.time_until_hung_up(sock)
        self.assertIsNotNone(took, "the responder never hung up")
        self.assertLess(took, self.IDLE_MS / 1000 + TICK_MARGIN_S)

    def test_a_peer_that_sends_nothing_is_hung_up_on_and_the_next_is_served(self):
        with wire.connect(self.address) as silent:
            waiting = []
            client = threading.Thread(
                target=lambda: waiting.append(hs.timed_fetch(self.address, timeout=8)))
            client.start()
            self.assertHungUpWithinTheIdleTimeout(silent)
            client.join(10)
        reply, took = waiting[0]
        self.assertNotIsInstance(reply, OSError)
        self.assertAnswer(reply, healthy=True)
        self.assertLess(took, self.IDLE_MS / 1000 + DEADLINE_S)

    def test_a_peer_stalled_mid_record_is_hung_up_on(self):
        for partial in (b"\x01\x01", wire.begin_request() + wire.record(
                wire.PARAMS, 1, wire.encode_params({"REQUEST_METHOD": "GET"}))[:12],
                wire.begin_request() + _get()):  # No STDIN: the body never ends.
            with self.subTest(partial=partial[:16]), wire.connect(self.address) as sock:
                sock.sendall(partial)
                self.assertHungUpWithinTheIdleTimeout(sock)
        self.assertAnswersOnTime(self.address)

    def test_a_trickling_peer_cannot_hold_the_only_thread(self):
        stop = threading.Event()
        self.addCleanup(stop.set)

        def trickle():
            try:
                with wire.connect(self.address) as sock:
                    data = wire.begin_request() + hs.header(wire.PARAMS, 1, 65535)
                    sock.sendall(data)
                    while not stop.wait(0.05):
                        sock.sendall(b"a")
            except OSError:
                pass  # Hung up on: what we want.

        trickler = threading.Thread(target=trickle)
        trickler.start()
        self.addCleanup(trickler.join, 5)
        time.sleep(0.1)
        reply, took = hs.timed_fetch(self.address, timeout=8)
        stop.set()
        self.assertNotIsInstance(reply, OSError)
        self.assertAnswer(reply, healthy=True)
        self.assertLess(took, self.IDLE_MS / 1000 + DEADLINE_S)

    def test_a_pause_shorter_than_the_idle_timeout_is_not_cut(self):
        # The contract cuts a peer silent for the idle timeout, not one that
        # pauses for half of it, however long the thread had idled in accept
        # before the peer came. A normal request first puts the one thread
        # back into accept at a known moment; then the peer arrives after
        # 0, 80, 90, 150 and 250 % of the idle timeout, then at random moments, and
        # pauses for 50 %.
        pause_s = self.IDLE_MS / 2000
        request = wire.request_bytes({"REQUEST_METHOD": "GET"})
        cut = []
        # The random ones follow each other directly, as in the first report
        # (cut 4 of 8 and 7 of 12 times).
        for number, arrival in enumerate([0.0, 0.8, 0.9, 1.5, 2.5] +
                                         [random.random() for _ in range(8)]):
            if number < 5:
                self.assertAnswer(wire.fetch(self.address), healthy=True)
            time.sleep(arrival * self.IDLE_MS / 1000)
            try:
                with wire.connect(self.address, timeout=DEADLINE_S + 3) as sock:
                    sock.sendall(request[:8])
                    time.sleep(pause_s)
                    sock.sendall(request[8:])
                    self.assertAnswer(wire.read_reply(sock), healthy=True)
            except OSError as error:
                cut.append("arriving after %d%% of the idle timeout: %r" % (arrival * 100, error))
        self.assertEqual(cut, [], "a %d ms pause with --idle-timeout-ms %d was cut" %
                         (pause_s * 1000, self.IDLE_MS))
