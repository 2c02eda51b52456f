"""HAProxy, the health client a load balancer really is, checking /health
through nginx: UP while the database is healthy, DOWN within its check
interval once the SQLite file is removed or corrupted, UP once restored."""
import os
import shutil
import socket
import time

from tests.e2e.servers import (ServerTestCase, fill, free_port, port_open, read_text, shipped,
                               wait_for)

CHECK_INTERVAL = "inter 2s fall 2 rise 2"
FAST_INTERVAL = "inter 150ms fall 2 rise 2"
STATE_BOUND_S = 3.0  # fall/rise 2 x 150 ms, with room for a slow machine.


class HaproxyTest(ServerTestCase):

    def server_state(self):
        with socket.socket(socket.AF_UNIX) as stats:
            stats.settimeout(2)
            stats.connect(self.stats_socket)
            stats.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = stats.recv(65536)
                if not chunk:
                    break
                data += chunk
        lines = data.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == "app_servers" and row.get("svname") == "web1":
                return row["status"].split()[0]
        return None

    def wait_state(self, wanted):
        started = time.monotonic()
        wait_for(lambda: self.server_state() == wanted, timeout=STATE_BOUND_S + 2,
                 what="haproxy to mark web1 " + wanted)
        return time.monotonic() - started

    def test_backend_follows_the_database(self):
        config = self.app_config()
        socket_path = self.path("healthcheck.sock")
        self.spawn_responder(config, socket_path=socket_path)
        nginx_port = free_port()
        self.start_nginx("unix:" + socket_path, nginx_port)

        front_port = free_port()
        self.stats_socket = self.path("haproxy.sock")
        haproxy_config = fill(shipped("conf/haproxy.cfg"), {
            "127.0.0.1:8080": "127.0.0.1:%d" % nginx_port,
            "127.0.0.1:8000": "127.0.0.1:%d" % front_port,
            CHECK_INTERVAL: FAST_INTERVAL})
        self.assertIn(FAST_INTERVAL, haproxy_config)
        haproxy_config = haproxy_config.replace(
            "global\n", "global\n    stats socket %s level admin\n" % self.stats_socket, 1)
        with open(self.path("haproxy.cfg"), "w") as out:
            out.write(haproxy_config)
        self.start(["haproxy", "-db", "-f", self.path("haproxy.cfg")], "haproxy.out",
                   lambda: port_open(front_port) and os.path.exists(self.stats_socket))

        self.wait_state("UP")
        shutil.move(self.path("app.db"), self.path("app.db.saved"))
        self.assertLess(self.wait_state("DOWN"), STATE_BOUND_S)
        shutil.move(self.path("app.db.saved"), self.path("app.db"))
        self.assertLess(self.wait_state("UP"), STATE_BOUND_S)
        with open(self.path("app.db"), "r+b") as database:
            database.write(b"corrupted" * 20)
        self.assertLess(self.wait_state("DOWN"), STATE_BOUND_S)
        self.assertIn("file is not a database", read_text(self.nginx_error_log))
