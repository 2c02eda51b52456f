#!/usr/bin/env python3
"""Soak: mixed good and hostile FastCGI traffic against a supervised
responder for a bounded time. Every good request must be answered correctly,
and the workers' resident memory and open descriptors must end flat.

    python3 tests/soak/soak.py --seconds 60 [--binary build/healthcheck]
"""
import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tests.integration import fastcgi_wire as wire  # noqa: E402
from tests.integration.support import children_of, footprint  # noqa: E402

GOOD_CLIENTS = 3
HOSTILE_CLIENTS = 2
# A hostile connection every 10 ms per client: a nasty neighbour, not a
# flood (a connection flood fills any listen backlog; that is a firewall's job).
HOSTILE_PAUSE_S = 0.01
WARM_UP_FRACTION = 0.25
RSS_SLACK_KIB = 1024
# Under AddressSanitizer (make asan) memory is the sanitizer's: its quarantine
# grows by design, so only answers and descriptors are judged.
SANITIZED = bool(os.environ.get("HEALTHCHECK_SANITIZED"))
SUCCESS = (b"Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
           b"Vary: Accept, Authorization\r\nContent-Length: 75\r\n\r\n"
           b'{"status":"success","error":"","data":{},"pagination":{},"input_errors":{}}')


def hostile_actions():
    """Each sends something broken; none aborts a worker (tested apart).
    The unknown-type record leaks ~62 bytes in Debian's libfcgi: at this pace
    that stays inside the slack, and --max-worker-rss-mib bounds it for good."""
    return [
        lambda: b"\x01\x01\x00",
        lambda: wire.begin_request() + wire.record(wire.PARAMS, 1, b"\x05" * 40)[:30],
        lambda: wire.record(wire.BEGIN_REQUEST, 1, b"\0" * 8, version=9),
        lambda: wire.record(99, 0, b"junk") + wire.record(wire.GET_VALUES, 0, b""),
        lambda: wire.request_bytes({"REQUEST_METHOD": "GET"}),  # Then vanish unread.
        lambda: wire.begin_request() + wire.record(wire.ABORT_REQUEST, 1),
        lambda: os.urandom(random.randint(1, 300)),
    ]


def run(binary, seconds, report=print):
    """Runs the soak; returns a list of problems (empty when it passed)."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="healthcheck-soak-") as folder:
        database = os.path.join(folder, "app.db")
        connection = sqlite3.connect(database)
        connection.execute("CREATE TABLE failed_jobs (id INTEGER)")
        connection.commit()
        connection.close()
        config = os.path.join(folder, "healthcheck.json")
        with open(config, "w") as out:
            out.write('{"services": ["memory_backend", "cursor_backend"],'
                      ' "callable": {"sql": "SELECT count(*) = 0 FROM failed_jobs"},'
                      ' "cursor_backend": {"database": "app.db"}}')
        address = os.path.join(folder, "hc.sock")
        log = open(os.path.join(folder, "server.log"), "wb")
        server = subprocess.Popen([binary, "--config", config, "--listen", "unix:" + address,
                                   "--workers", "2", "--threads", "4", "--idle-timeout-ms", "500",
                                   "--max-worker-rss-mib", "65536" if SANITIZED else "64"],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            for _ in range(250):
                try:
                    wire.connect(address, timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.02)
            stop_at = time.monotonic() + seconds
            counts = {"good": 0, "bad": 0, "hostile": 0}
            lock = threading.Lock()

            def good_client():
                while time.monotonic() < stop_at:
                    try:
                        ok = wire.fetch(address, timeout=5).stdout == SUCCESS
                    except OSError as error:
                        ok = False
                        report("good request failed: %r" % error)
                    with lock:
                        counts["good" if ok else "bad"] += 1

            def hostile_client():
                actions = hostile_actions()
                while time.monotonic() < stop_at:
                    try:
                        with wire.connect(address, timeout=2) as sock:
                            sock.sendall(random.choice(actions)())
                    except OSError:
                        pass
                    with lock:
                        counts["hostile"] += 1
                    time.sleep(HOSTILE_PAUSE_S)

            threads = ([threading.Thread(target=good_client) for _ in range(GOOD_CLIENTS)] +
                       [threading.Thread(target=hostile_client) for _ in range(HOSTILE_CLIENTS)])
            for thread in threads:
                thread.start()
            time.sleep(seconds * WARM_UP_FRACTION)
            workers = children_of(server.pid)
            before = {pid: footprint(pid) for pid in workers}
            for thread in threads:
                thread.join(timeout=seconds + 30)
            time.sleep(1.0)  # Quiescence: idle connections time out and close.
            after = {pid: footprint(pid) for pid in children_of(server.pid)}
            report("requests: %(good)d good answered, %(bad)d bad, %(hostile)d hostile" % counts)
            if counts["bad"]:
                problems.append("%d good requests were not answered correctly" % counts["bad"])
            if counts["good"] == 0:
                problems.append("no good request was made")
            for pid, (rss, fds) in sorted(before.items()):
                if pid not in after:
                    problems.append("worker %d was replaced during the soak" % pid)
                    continue
                rss_after, fds_after = after[pid]
                report("worker %d: RSS %d -> %d KiB, fds %d -> %d" %
                       (pid, rss, rss_after, fds, fds_after))
                if rss_after > rss + RSS_SLACK_KIB and not SANITIZED:
                    problems.append("worker %d grew from %d to %d KiB" % (pid, rss, rss_after))
                if fds_after > fds:
                    problems.append("worker %d holds %d descriptors, %d before" %
                                    (pid, fds_after, fds))
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--binary", default=os.environ.get(
        "HEALTHCHECK_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build",
                                        "healthcheck")))
    args = parser.parse_args()
    problems = run(os.path.abspath(args.binary), args.seconds)
    for problem in problems:
        print("PROBLEM:", problem)
    print("soak: %s" % ("passed" if not problems else "FAILED"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
