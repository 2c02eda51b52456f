"""HAProxy with the shipped conf/haproxy.cfg (`http-check disable-on-404`
against /health/ready) in front of nginx and conf/probes.json: the drain
file takes the server out of rotation without marking it failed, removing
it brings the server back, and a missing database marks it DOWN."""
import os
import shutil
import socket
import time

from tests.e2e.servers import (ProbeTestCase, fill, free_port, http_fetch, port_open, shipped,
                               wait_for)

RESPONDER_USER = "nobody"  # conf/spawn-fcgi.sh's default.
CHECK_INTERVAL = "inter 2s fall 2 rise 2"
FAST_INTERVAL = "inter 150ms fall 2 rise 2"
STATE_BOUND_S = 3.0  # fall/rise 2 x 150 ms, with room for a slow machine.


class HaproxyProbesTest(ProbeTestCase):

    def stats(self, command):
        """The answer of HAProxy's stats socket to `command`, as text."""
        with socket.socket(socket.AF_UNIX) as stats:
            stats.settimeout(2)
            stats.connect(self.stats_socket)
            stats.sendall(command.encode() + b"\n")
            data = b""
            while True:
                chunk = stats.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.decode()

    def server_row(self):
        """web1's row of `show stat`, as a dict by column name."""
        lines = self.stats("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == "app_servers" and row.get("svname") == "web1":
                return row
        raise AssertionError("no web1 in: %s" % "\n".join(lines))

    def server_state_row(self):
        """web1's row of `show servers state`, as a dict by column name."""
        lines = [line for line in self.stats("show servers state app_servers").splitlines()
                 if line.strip()]
        header = next(line for line in lines if line.startswith("#")).lstrip("# ").split()
        for line in lines:
            row = dict(zip(header, line.split()))
            if row.get("srv_name") == "web1":
                return row
        raise AssertionError("no web1 in: %s" % "\n".join(lines))

    def wait_status(self, wanted):
        started = time.monotonic()
        wait_for(lambda: self.server_row()["status"] == wanted, timeout=STATE_BOUND_S + 2,
                 what="haproxy to show web1 " + wanted)
        return time.monotonic() - started

    def start_haproxy(self, nginx_port):
        self.front_port = front_port = free_port()
        self.stats_socket = self.path("haproxy.sock")
        config = fill(shipped("conf/haproxy.cfg"), {
            "127.0.0.1:8080": "127.0.0.1:%d" % nginx_port,
            "127.0.0.1:8000": "127.0.0.1:%d" % front_port,
            CHECK_INTERVAL: FAST_INTERVAL})
        self.assertIn(FAST_INTERVAL, config)
        self.assertIn("http-check disable-on-404", config)
        self.assertIn("uri /health/ready", config)
        config = config.replace(
            "global\n", "global\n    stats socket %s level admin\n" % self.stats_socket, 1)
        with open(self.path("haproxy.cfg"), "w") as out:
            out.write(config)
        self.start(["haproxy", "-db", "-f", self.path("haproxy.cfg")], "haproxy.out",
                   lambda: port_open(front_port) and os.path.exists(self.stats_socket))

    def test_drain_file_takes_the_server_out_of_rotation_and_back(self):
        config = self.probes_config(RESPONDER_USER)
        socket_path = self.path("healthcheck.sock")
        self.spawn_responder(config, socket_path=socket_path)
        nginx_port = free_port()
        self.start_nginx("unix:" + socket_path, nginx_port)
        self.start_haproxy(nginx_port)

        self.wait_status("UP")
        self.assertEqual(http_fetch(self.front_port, "/")[0], 404)  # nginx's own answer.
        # Drained: NOLB, still running as far as checks go (no failure, no alert).
        open(self.path("drain"), "w").close()
        self.assertLess(self.wait_status("NOLB"), STATE_BOUND_S)
        row = self.server_row()
        self.assertEqual((row["check_status"], row["check_code"]), ("L7OKC", "404"))
        self.assertEqual(row["chkfail"], "0")
        # Operational state 3, SRV_ST_STOPPING (a soft stop); no admin state:
        # nobody put it in MAINT, the check did this and will undo it.
        state = self.server_state_row()
        self.assertEqual((state["srv_op_state"], state["srv_admin_state"]), ("3", "0"))
        # Out of rotation: the only server takes no new request.
        self.assertEqual(http_fetch(self.front_port, "/")[0], 503)
        os.unlink(self.path("drain"))
        self.assertLess(self.wait_status("UP"), STATE_BOUND_S)
        self.assertEqual(self.server_row()["check_code"], "200")
        state = self.server_state_row()
        self.assertEqual((state["srv_op_state"], state["srv_admin_state"]), ("2", "0"))
        # Back in rotation: the request reaches nginx (whose / answers 404).
        self.assertEqual(http_fetch(self.front_port, "/")[0], 404)
        self.assertLogged(self.nginx_error_log,
                          "healthcheck: draining: %s exists" % self.path("drain"))
        self.assertLogged(self.nginx_error_log, "healthcheck: drain over:")

        # Unhealthy (503, the example's failure_status) is a failure: DOWN.
        shutil.move(self.path("app.db"), self.path("app.db.saved"))
        self.assertLess(self.wait_status("DOWN"), STATE_BOUND_S)
        self.assertEqual(self.server_row()["check_code"], "503")
        shutil.move(self.path("app.db.saved"), self.path("app.db"))
        self.assertLess(self.wait_status("UP"), STATE_BOUND_S)
