"""What the driver integration tests share: a check of a mysql or
postgresql server through the real binary, the password kept out of every
log line, and a proxy that can go silent the way a firewall that forgot a
connection does."""
import json
import os
import select
import socket
import subprocess
import threading
import time

from tests.integration.db_servers import PASSWORD
from tests.integration.support import BINARY, FAILURE_BODY, TestCase


class DriverCase(TestCase):
    """Checks of `self.db` (a db_servers server) with cursor_backend's
    DRIVER. Every log line a test collects in self.logs is searched for the
    password at the end."""

    DRIVER = None  # "mysql" or "postgresql"
    # The class's server (a db_servers class, made with SERVER_OPTIONS),
    # started once for the class; None: the tests make their own.
    SERVER = None
    SERVER_OPTIONS = {}
    db = None

    @classmethod
    def setUpClass(cls):
        if cls.SERVER is not None:
            cls.db = cls.SERVER(**cls.SERVER_OPTIONS)
            cls.db.start()

    @classmethod
    def tearDownClass(cls):
        if cls.SERVER is not None:
            cls.db.close()

    def setUp(self):
        super().setUp()
        self.logs = []

    def tearDown(self):
        for log in self.logs:
            self.assertNotIn(PASSWORD, log)

    def config(self, db=None, callable_sql=None, timeout_ms=2000, **cursor):
        """A config checking `db` as hc over TCP, with the password in a 0600
        file; `cursor` adds or replaces cursor_backend's keys (password=...
        writes another password to the file)."""
        db = db or self.db
        password_file = self.path("password")
        with open(password_file, "w") as out:
            out.write(cursor.pop("password", db.password) + "\n")
        os.chmod(password_file, 0o600)
        settings = {"driver": self.DRIVER, "host": db.host, "port": db.port,
                    "username": db.username, "database": db.database,
                    "password_file": "password"}
        settings.update(cursor)
        config = {"services": ["cursor_backend"], "cursor_backend": settings,
                  "timeout_ms": timeout_ms}
        if callable_sql:
            config["callable"] = {"sql": callable_sql}
        return self.write_config(json.dumps(config))

    def check(self, config, *extra, env=None, prefix=(), timeout=30):
        """--check (under `prefix`, a command line to run it in):
        (exit code, stdout, stderr, seconds)."""
        started = time.monotonic()
        completed = subprocess.run(list(prefix) + [BINARY, "--config", config, "--check"] +
                                   list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=env, timeout=timeout)
        elapsed = time.monotonic() - started
        stderr = completed.stderr.decode(errors="replace")
        self.logs.append(stderr)
        return completed.returncode, completed.stdout, stderr, elapsed

    def flood(self, address, clients, each, sample):
        """`clients` threads each ask `address` `each` times over FastCGI,
        while `sample()` (a count on the server) is read every 50 ms; returns
        (the replies' stdout, the highest sample)."""
        from tests.integration import fastcgi_wire
        most = [0]
        done = threading.Event()

        def watch():
            while not done.is_set():
                most[0] = max(most[0], sample())
                time.sleep(0.05)
        watcher = threading.Thread(target=watch)
        watcher.start()
        replies = []

        def probe():
            for _ in range(each):
                replies.append(fastcgi_wire.fetch(address, timeout=60).stdout)
        threads = [threading.Thread(target=probe) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        done.set()
        watcher.join()
        return replies, most[0]

    def assertFails(self, config, reason, within_s):
        code, stdout, stderr, elapsed = self.check(config)
        self.assertEqual(code, 1, stderr)
        self.assertEqual(stdout.strip(), FAILURE_BODY)
        self.assertIn(reason, stderr)
        self.assertLess(elapsed, within_s, stderr)
        return stderr


class FreezingProxy:
    """A loopback TCP proxy to (host, port). freeze(): the connections open
    now stay open but nothing passes on them any more, either way (a NAT or
    firewall that forgot them, a peer whose host vanished); connections made
    later pass as usual."""

    PAUSE_S = 0.02

    def __init__(self, host, port):
        self.target = (host, port)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = []
        self.frozen = set()
        self.closed = False
        self.accepted = 0
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                return
            pair = (client, upstream)
            with self.lock:
                self.pairs.append(pair)
                self.accepted += 1
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair):
        client, upstream = pair
        other = {client: upstream, upstream: client}
        try:
            while not self.closed:
                ready, _, _ = select.select([client, upstream], [], [], self.PAUSE_S)
                with self.lock:
                    if id(pair) in self.frozen:
                        continue
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    other[sock].sendall(data)
        except OSError:
            pass

    def freeze(self):
        with self.lock:
            self.frozen.update(id(pair) for pair in self.pairs)

    def close(self):
        self.closed = True
        self.listener.close()
        with self.lock:
            for client, upstream in self.pairs:
                client.close()
                upstream.close()
