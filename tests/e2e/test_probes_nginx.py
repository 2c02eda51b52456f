"""conf/probes.json behind nginx (the shipped location file's /health/
prefix, and the shipped nginx.conf), the responder started by spawn-fcgi:
live, ready and startup follow the database as each should, the drain file
flips ready, and only an authorised caller who asks sees the report."""
import os

from tests.e2e.servers import (HEALTH_JSON, ProbeTestCase, fill, free_port, nginx_location,
                               read_text, shipped)

RESPONDER_USER = "nobody"  # conf/spawn-fcgi.sh's default.


class NginxProbesTest(ProbeTestCase):

    def start_behind_snippets(self, config, ipv6_port=None):
        """The responder on a unix socket, nginx with the shipped upstream and
        location files (also on [::1]:`ipv6_port` when given); returns
        nginx's port."""
        socket_path = self.path("healthcheck.sock")
        self.spawn_responder(config, socket_path=socket_path)
        upstream = fill(shipped("nginx/healthcheck-upstream-unix.conf"),
                        {"/run/healthcheck/healthcheck.sock": socket_path})
        location = nginx_location()
        self.assertIn("location ^~ /health/ {", location)
        if ipv6_port:
            location = "listen [::1]:%d;\n%s" % (ipv6_port, location)
        port = free_port()
        self.start_nginx_snippets(upstream, port, location)
        return port

    def start_behind_nginx_conf(self, config):
        """The same with the shipped whole nginx.conf."""
        socket_path = self.path("healthcheck.sock")
        self.spawn_responder(config, socket_path=socket_path)
        port = free_port()
        self.start_nginx("unix:" + socket_path, port)
        return port

    def test_probes_follow_the_database_and_the_drain_file(self):
        port = self.start_behind_snippets(self.probes_config(RESPONDER_USER, ["10.0.0.0/8"]))
        self.assertProbesFollowTheDatabase(port, "/health/", "/health", self.nginx_error_log)
        self.assertDrainFlipsReady(port, "/health/", "/health", self.nginx_error_log)
        self.assertDrainOverLogged(port, "/health/", self.nginx_error_log)
        # Once per change in each of spawn-fcgi.sh's 2 worker processes, not
        # once per drained request (there were 3).
        drains = read_text(self.nginx_error_log).count("healthcheck: draining: ")
        self.assertIn(drains, (1, 2))
        # A name the configuration does not define runs the top-level check.
        os.unlink(self.path("app.db"))
        for path in ("/health/nope", "/health/", "/health/live/"):
            with self.subTest(path=path):
                self.assertEnvelope(port, path, self.failure_status)
        self.assertEnvelope(port, "/health/live?x=/ready", 200)  # The query never chooses.

    def test_report_for_the_token_holder_envelope_for_everyone_else(self):
        port = self.start_behind_nginx_conf(self.probes_config(RESPONDER_USER, ["10.0.0.0/8"]))
        self.assertReportOnlyForTheAuthorised(port, "/health/")

    def test_trusted_address_is_the_callers_own_not_a_forwarded_for(self):
        ipv6_port = free_port()
        config = self.probes_config(RESPONDER_USER, ["127.0.0.1/32", "::1"])
        port = self.start_behind_snippets(config, ipv6_port)
        self.assertTrustedAddressIsTheCallersOwn(port, "/health/")
        # REMOTE_ADDR ::1, trusted as written.
        with self.database_gone():
            self.assertFailingReport(*self.detailed_report(
                ipv6_port, "/health/ready", {"Accept": HEALTH_JSON}, host="::1"))
