"""Shared pieces of the integration tests: the binary, temp folders,
databases, the expected bytes, and a FastCGI server that always stops."""
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

from tests.integration import fastcgi_wire

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("HEALTHCHECK_BIN", os.path.join(REPO, "build", "healthcheck"))
# Shipped files that tests run as another user (nobody), which may not enter
# the checkout: tests/run_tests.py copies them, under their repository paths,
# into a folder anyone can enter, as it does the binary.
STAGE = os.environ.get("HEALTHCHECK_STAGE", REPO)

SUCCESS_BODY = b'{"status":"success","error":"","data":{},"pagination":{},"input_errors":{}}'
FAILURE_BODY = b'{"status":"failure","error":"","data":[],"pagination":{},"input_errors":{}}'
START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 8.0


def run_by_others(relative):
    """The copy of the shipped file `relative` that other users can run."""
    return os.path.join(STAGE, relative)


def expected_bytes(healthy, head=False):
    body = SUCCESS_BODY if healthy else FAILURE_BODY
    status = b"200 OK" if healthy else b"500 Internal Server Error"
    head_bytes = (b"Status: " + status + b"\r\nContent-Type: application/json\r\n"
                  b"Cache-Control: no-store\r\nVary: Accept, Authorization\r\nContent-Length: " + str(len(body)).encode() +
                  b"\r\n\r\n")
    return head_bytes if head else head_bytes + body


def make_database(path, failed_jobs=0):
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE failed_jobs (id INTEGER PRIMARY KEY)")
    connection.executemany("INSERT INTO failed_jobs DEFAULT VALUES", [()] * failed_jobs)
    connection.commit()
    connection.close()


def hold_exclusive_lock(test, path):
    """Another process holds an EXCLUSIVE transaction on the SQLite file
    `path` until the test ends, the way a long migration would."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "c.execute('BEGIN EXCLUSIVE')\n"
         "print('locked', flush=True)\n"
         "time.sleep(30)\n", path], stdout=subprocess.PIPE)
    test.addCleanup(holder.stdout.close)
    test.addCleanup(holder.wait, 5)
    test.addCleanup(holder.kill)
    test.assertEqual(holder.stdout.readline(), b"locked\n")
    return holder


def proc_stat(pid):
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def alive(pid):
    """Running: neither gone nor a zombie (init here may never reap one)."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] != "Z"


def children_of(pid):
    """Live processes whose parent is `pid`, sorted."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat(int(entry))
            if fields and int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return sorted(found)


def footprint(pid):
    """(VmRSS in KiB, open descriptors) of a process."""
    with open("/proc/%d/status" % pid) as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return rss, len(os.listdir("/proc/%d/fd" % pid))


def wait_until(predicate, timeout=5.0, pause=0.02):
    """Polls `predicate` until it is truthy or the time is up; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(pause)
    return predicate()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """build/healthcheck serving FastCGI; stop() is bounded and always kills."""

    def __init__(self, args, stdin=None, env=None):
        self.log_path = tempfile.mktemp(prefix="healthcheck-server-", suffix=".log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([BINARY] + args, stdin=stdin or subprocess.DEVNULL,
                                        stdout=self.log, stderr=self.log, env=env)

    def wait_ready(self, address):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("server exited with %d: %s" % (self.process.returncode,
                                                                    self.log_text()))
            try:
                fastcgi_wire.connect(address, timeout=1.0).close()
                return
            except OSError:
                time.sleep(0.02)
        raise AssertionError("server did not listen within %.0f s" % START_TIMEOUT_S)

    def log_text(self):
        self.log.flush()
        with open(self.log_path, "rb") as log:
            return log.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        """Stops the server; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        self.log.close()
        if os.path.exists(self.log_path):
            os.unlink(self.log_path)
        return self.process.returncode


class TestCase(unittest.TestCase):
    """A temp folder per test, and servers that stop even when a test fails."""

    def setUp(self):
        folder = tempfile.TemporaryDirectory(prefix="healthcheck-it-")
        self.addCleanup(folder.cleanup)
        self.dir = folder.name

    def path(self, name):
        return os.path.join(self.dir, name)

    def write_config(self, text, name="healthcheck.json"):
        with open(self.path(name), "w") as config:
            config.write(text)
        return self.path(name)

    def start_server(self, config=None, extra_args=(), socket_name="hc.sock"):
        """A FastCGI server on a unix socket in the temp folder; returns (server, address)."""
        address = self.path(socket_name)
        # An empty configuration, not none: without a file every answer
        # logs "no configuration found", and these tests read the log.
        config = config or self.write_config("{}", "empty.json")
        args = ["--config", config, "--listen", "unix:" + address] + list(extra_args)
        server = Server(args)
        self.addCleanup(server.stop)
        server.wait_ready(address)
        return server, address

    def run_binary(self, args, env=None, stdin=b"", timeout=10):
        return subprocess.run([BINARY] + args, input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, timeout=timeout)

    def assertAnswer(self, reply, healthy, head=False):
        self.assertEqual(reply.stdout, expected_bytes(healthy, head))
