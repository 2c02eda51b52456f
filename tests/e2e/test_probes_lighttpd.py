"""conf/probes.json behind lighttpd, which starts the responder itself
(conf/lighttpd-healthcheck.conf, bin-path) as its own user: /health/NAME
reaches the responder as PATH_INFO /NAME, the probes follow the database,
the drain file flips ready, only the token holder who asks sees the report."""
import os

from tests.e2e.servers import WEB_USER, ProbeTestCase


class LighttpdProbesTest(ProbeTestCase):

    def start_lighttpd(self, config):
        """lighttpd as www-data with the shipped snippet; returns its port."""
        # lighttpd writes its log and makes the responder's socket here as www-data.
        run = self.path("lighttpd")
        os.makedirs(run)
        os.chown(run, self.web_uid, self.web_gid)
        binary = self.install_binary("bin", "healthcheck")
        self.error_log = os.path.join(run, "error.log")
        return self.run_lighttpd(binary, config, os.path.join(run, "healthcheck.sock"),
                                 self.error_log, user=WEB_USER)

    def test_probes_follow_the_database_and_the_drain_file(self):
        port = self.start_lighttpd(self.probes_config(WEB_USER, ["10.0.0.0/8"]))
        self.assertProbesFollowTheDatabase(port, "/health/", "/health", self.error_log)
        self.assertDrainFlipsReady(port, "/health/", "/health", self.error_log)
        self.assertDrainOverLogged(port, "/health/", self.error_log)

    def test_report_for_the_token_holder_envelope_for_everyone_else(self):
        port = self.start_lighttpd(self.probes_config(WEB_USER, ["10.0.0.0/8"]))
        self.assertReportOnlyForTheAuthorised(port, "/health/")

    def test_trusted_address_is_the_callers_own(self):
        port = self.start_lighttpd(self.probes_config(WEB_USER, ["127.0.0.1/32", "::1"]))
        self.assertTrustedAddressIsTheCallersOwn(port, "/health/")
