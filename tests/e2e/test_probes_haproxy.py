"""HAProxy with the shipped conf/haproxy.cfg (`http-check disable-on-404`
against /health/ready) in front of nginx and conf/probes.json: the drain
file takes the server out of rotation without marking it failed, removing
it brings the server back, and a missing database marks it DOWN."""
import os
import shutil
import time

from tests.e2e.servers import HAPROXY_STATE_BOUND_S as STATE_BOUND_S
from tests.e2e.servers import ProbeTestCase, free_port, http_fetch, wait_for

RESPONDER_USER = "nobody"  # conf/spawn-fcgi.sh's default.


class HaproxyProbesTest(ProbeTestCase):

    def server_row(self):
        """web1's row of `show stat`, as a dict by column name."""
        row = self.haproxy_web1()
        if row is None:
            raise AssertionError("no web1 in: %s" % self.haproxy_stats("show stat"))
        return row

    def server_state_row(self):
        """web1's row of `show servers state`, as a dict by column name."""
        lines = [line for line in self.haproxy_stats("show servers state app_servers").splitlines()
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

    def test_drain_file_takes_the_server_out_of_rotation_and_back(self):
        config = self.probes_config(RESPONDER_USER)
        socket_path = self.path("healthcheck.sock")
        self.spawn_responder(config, socket_path=socket_path)
        nginx_port = free_port()
        self.start_nginx("unix:" + socket_path, nginx_port)
        self.front_port, haproxy_config = self.start_haproxy(nginx_port)
        self.assertIn("http-check disable-on-404", haproxy_config)
        self.assertIn("uri /health/ready", haproxy_config)

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
