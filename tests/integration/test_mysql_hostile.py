"""A hostile review of the mysql driver against a real MariaDB (and of the
postgresql driver where no server is needed): faults that a
firewall, a resolver, a careless configuration or a big table bring, each
held to the README's and issue 11's promises. Every test here failed when it
was written (see the commit message); each passes once its defect is fixed.

The resolver tests run the binary in a private mount namespace (unshare -m,
as root) whose /etc/resolv.conf and /etc/hosts point at a small DNS server
of ours on a loopback address; they are skipped where that is not possible.
"""
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import threading
import time
import unittest

from tests.integration import fastcgi_wire
from tests.integration.db_servers import MariaDBServer
from tests.integration.driver_support import DriverCase, FreezingProxy
from tests.integration.support import FAILURE_BODY, SUCCESS_BODY, wait_until

SLACK_S = 1.5
RESOLVER_ADDRESS = "127.83.0.53"  # Loopback: all of 127/8 is ours.
TEST_HOST_NAME = "db.healthcheck-hostile.example"
MEMORY_LIMIT_KIB = 64 * 1024  # The project's own default worker limit (--max-worker-rss-mib).

_db = None


def setUpModule():
    global _db
    _db = MariaDBServer()
    _db.start()


def tearDownModule():
    if _db is not None:
        _db.close()


class TinyResolver:
    """A DNS server (UDP) on RESOLVER_ADDRESS:53 that knows one name: A ->
    `ipv4`, AAAA -> `ipv6` (or no record). With `lookups`, it answers that
    many look-ups (an A and an AAAA query each) and then goes silent, as a
    resolver that fails over or drops packets does."""

    def __init__(self, name, ipv4="127.0.0.1", ipv6=None, lookups=None):
        self.name, self.ipv4, self.ipv6 = name.lower(), ipv4, ipv6
        self.answers_left = None if lookups is None else 2 * lookups
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((RESOLVER_ADDRESS, 53))
        self.queries = 0
        self.closed = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.closed:
            if not select.select([self.sock], [], [], 0.05)[0]:
                continue
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            self.queries += 1
            if self.answers_left is not None:
                if self.answers_left <= 0:
                    continue
                self.answers_left -= 1
            try:
                self.sock.sendto(self._reply(data), peer)
            except (OSError, IndexError, struct.error):
                pass

    def _reply(self, data):
        query_id = struct.unpack("!H", data[:2])[0]
        position, labels = 12, []
        while data[position]:
            length = data[position]
            labels.append(data[position + 1:position + 1 + length].decode())
            position += length + 1
        query_type = struct.unpack("!H", data[position + 1:position + 3])[0]
        question = data[12:position + 5]
        known = ".".join(labels).lower() == self.name
        records = []
        if known and query_type == 1 and self.ipv4:
            records.append((1, socket.inet_pton(socket.AF_INET, self.ipv4)))
        if known and query_type == 28 and self.ipv6:
            records.append((28, socket.inet_pton(socket.AF_INET6, self.ipv6)))
        header = struct.pack("!HHHHHH", query_id, 0x8180 | (0 if known else 3), 1, len(records), 0, 0)
        return header + question + b"".join(
            struct.pack("!HHHIH", 0xC00C, kind, 1, 60, len(data)) + data for kind, data in records)

    def close(self):
        self.closed = True
        self.thread.join(timeout=5)
        self.sock.close()


def can_use_private_resolver():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind((RESOLVER_ADDRESS, 53))
        probe.close()
        result = subprocess.run(["unshare", "-m", "sh", "-c",
                                 "mount --bind /dev/null /etc/hosts && true"],
                                capture_output=True, timeout=5)
        return result.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


class HostileMysqlCase(DriverCase):

    DRIVER = "mysql"

    def setUp(self):
        super().setUp()
        self.db = _db

    def check(self, config, prefix=(), timeout=10):
        """--check (optionally under `prefix`): (exit code, stderr, seconds)."""
        code, _, stderr, elapsed = super().check(config, prefix=prefix, timeout=timeout)
        return code, stderr, elapsed

    def fetch(self, address, timeout=15):
        started = time.monotonic()
        reply = fastcgi_wire.fetch(address, timeout=timeout)
        self.logs.append(reply.stderr.decode(errors="replace"))
        return reply, time.monotonic() - started


class KeptConnections(HostileMysqlCase):

    def test_a_kept_connection_gone_silent_is_replaced_within_the_same_check(self):
        # A NAT/conntrack entry expires, or a firewall drops an idle flow: the
        # kept connection's packets vanish, while new connections work. The
        # README: "one that does not [answer] is replaced within the same
        # check", so the healthy server must still be reported healthy.
        proxy = FreezingProxy(self.db.host, self.db.port)
        self.addCleanup(proxy.close)
        server, address = self.start_server(self.config(port=proxy.port, timeout_ms=800),
                                            extra_args=["--threads", "1"])
        reply, _ = self.fetch(address)
        self.assertIn(SUCCESS_BODY, reply.stdout, reply.stderr)
        proxy.freeze()
        reply, elapsed = self.fetch(address)
        self.assertIn(SUCCESS_BODY, reply.stdout,
                      "a healthy server reported down because a kept connection went silent: %r"
                      % reply.stderr)
        self.assertLess(elapsed, 0.8 + SLACK_S)


class Truthiness(HostileMysqlCase):

    def test_a_zero_time_is_falsy_as_in_python(self):
        # pymysql (and the mariadb connector) give TIME as datetime.timedelta:
        # timedelta(0) is falsy in Python. The driver reads "00:00:00" as text.
        for sql in ("SELECT CAST(0 AS TIME)", "SELECT TIMEDIFF('2024-01-01', '2024-01-01')"):
            code, stderr, _ = self.check(self.config(callable_sql=sql))
            self.assertEqual(code, 1, "%s was taken as truthy: %s" % (sql, stderr))
            self.assertIn("returned false", stderr)


class ServerSideLimits(HostileMysqlCase):

    def kill_queries_of_hc(self):
        for line in self.db.admin_sql("SELECT id FROM information_schema.processlist "
                                      "WHERE user = 'hc'").split():
            try:
                self.db.admin_sql("KILL %s" % line)
            except RuntimeError:
                pass

    def test_no_query_outlives_its_check_even_when_it_overrides_the_time_limit(self):
        # The issue: "cancelled on the server when the deadline passes (MariaDB
        # KILL QUERY ...): no query may be left running after its check has
        # answered". max_statement_time alone is not a cancel: a statement can
        # set its own (SET STATEMENT ... FOR), and then nothing stops it.
        self.addCleanup(self.kill_queries_of_hc)
        sql = "SET STATEMENT max_statement_time=0 FOR SELECT SLEEP(5) = 0"
        server, address = self.start_server(self.config(callable_sql=sql, timeout_ms=300),
                                            extra_args=["--threads", "1"])
        for _ in range(3):
            reply, elapsed = self.fetch(address)
            self.assertIn(FAILURE_BODY, reply.stdout)
            self.assertLess(elapsed, 0.3 + SLACK_S)
        # Answered three times; on 1 thread at most one query may exist, and
        # once answered none should.
        running = wait_until(lambda: self.db.running_queries("hc") == 0, timeout=0.5)
        self.assertTrue(running, "%d queries of checks that already answered still run on the "
                                 "server" % self.db.running_queries("hc"))


class Memory(HostileMysqlCase):

    def test_a_large_result_does_not_balloon_the_worker(self):
        # A careless "SELECT payload FROM jobs" on a big table: only the first
        # value counts, but the whole result (here 30,000 rows of 4 kB, 120 MB,
        # which loopback delivers in about a second) is stored by
        # mysql_store_result before the first value is read.
        sql = "SELECT REPEAT('x', 4000) FROM seq_1_to_30000"
        server, address = self.start_server(self.config(callable_sql=sql, timeout_ms=5000),
                                            extra_args=["--threads", "1"])
        reply, _ = self.fetch(address)
        self.assertIn(SUCCESS_BODY, reply.stdout, reply.stderr)
        with open("/proc/%d/status" % server.process.pid) as status:
            peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        self.assertLess(peak_kib, MEMORY_LIMIT_KIB,
                        "one check of a large result peaked at %d MiB" % (peak_kib // 1024))


@unittest.skipUnless(can_use_private_resolver(), "needs root, unshare -m and 127.83.0.53:53")
class Resolver(HostileMysqlCase):

    def private_names(self, resolver, resolver_timeout_s=1):
        """A prefix running the binary with our resolver and no /etc/hosts entries."""
        resolv_conf = self.path("resolv.conf")
        with open(resolv_conf, "w") as out:
            out.write("nameserver %s\noptions timeout:%d attempts:1\n"
                      % (RESOLVER_ADDRESS, resolver_timeout_s))
        hosts = self.path("hosts")
        with open(hosts, "w") as out:
            out.write("127.0.0.1 localhost\n")
        return ["unshare", "-m", "sh", "-c",
                'mount --bind "$0" /etc/resolv.conf && mount --bind "$1" /etc/hosts && '
                'shift && exec "$@"', resolv_conf, hosts]

    def test_a_name_with_an_ipv6_and_an_ipv4_address_reaches_the_server_on_ipv4(self):
        # Most database names have both records while the server listens on
        # one family (MariaDB: bind-address 127.0.0.1 here, 0.0.0.0 often).
        # ResolveHost keeps only getaddrinfo's first address (::1 sorts first)
        # and connects to it alone; libmariadb would have tried each.
        resolver = TinyResolver(TEST_HOST_NAME, ipv4="127.0.0.1", ipv6="::1")
        self.addCleanup(resolver.close)
        config = self.config(host=TEST_HOST_NAME)
        code, stderr, _ = self.check(config, prefix=self.private_names(resolver))
        self.assertEqual(code, 0, stderr)

    # Known, not fixed (README: "With TLS and a host name"): libmariadb 3.3
    # checks the certificate against the name it connects to and has no way
    # to take an address and a name apart, so with ssl_ca it looks the name
    # up again itself, in getaddrinfo, with no bound. Only a resolver that
    # answers once and then stops, within the same check, reaches this.
    @unittest.expectedFailure
    def test_a_resolver_that_stops_answering_cannot_hold_a_tls_check_past_its_deadline(self):
        # With ssl_ca, the bounded look-up's answer is thrown away and
        # libmariadb looks the name up again, in getaddrinfo, with no bound.
        resolver = TinyResolver(TEST_HOST_NAME, lookups=1)
        self.addCleanup(resolver.close)
        config = self.config(host=TEST_HOST_NAME, ssl_ca="/etc/ssl/certs/ca-certificates.crt",
                             timeout_ms=500)
        try:
            code, stderr, elapsed = self.check(config, prefix=self.private_names(resolver),
                                               timeout=0.5 + 2 * SLACK_S)
        except subprocess.TimeoutExpired:
            self.fail("the check was still waiting for the resolver %.1f s after its 500 ms "
                      "deadline" % (2 * SLACK_S))
        self.assertEqual(code, 1, stderr)
        self.assertLess(elapsed, 0.5 + SLACK_S, stderr)

    def test_postgresql_a_silent_resolver_cannot_hold_the_check_past_its_deadline(self):
        # The postgresql driver (src/drivers/postgresql_cursor.cpp) hands the
        # host name to PQconnectStartParams, which resolves it synchronously
        # (getaddrinfo, no timeout) before the first poll: the deadline does
        # not bound the look-up. No server is needed to show it.
        resolver = TinyResolver(TEST_HOST_NAME, lookups=0)
        self.addCleanup(resolver.close)
        config = self.write_config(json.dumps({
            "services": ["cursor_backend"], "timeout_ms": 500,
            "cursor_backend": {"driver": "postgresql", "host": TEST_HOST_NAME,
                               "username": "hc", "database": "app"}}))
        try:
            code, stderr, elapsed = self.check(
                config, prefix=self.private_names(resolver, resolver_timeout_s=4),
                timeout=0.5 + 2 * SLACK_S)
        except subprocess.TimeoutExpired:
            self.fail("the check was still waiting for the resolver %.1f s after its 500 ms "
                      "deadline" % (2 * SLACK_S))
        self.assertEqual(code, 1, stderr)
        self.assertLess(elapsed, 0.5 + SLACK_S, stderr)


if __name__ == "__main__":
    unittest.main()
