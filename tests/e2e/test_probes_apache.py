"""conf/probes.json behind Apache 2.4: mod_proxy_fcgi to a spawn-fcgi
responder (conf/apache-proxy-fcgi.conf, /health/NAME), plain CGI
(conf/apache-cgi.conf, /cgi-bin/healthcheck/NAME as PATH_INFO) and mod_fcgid
(conf/apache-fcgid.conf). The probes follow the database, the drain file
flips ready, only an authorised caller who asks sees the report, and the
bearer token reaches the program only with the examples' CGIPassAuth On."""
import os

from tests.e2e.servers import (DEFAULT_BINARY, DEFAULT_CONFIG, DEFAULT_SOCKET, HEALTH_JSON,
                               PROBE_TOKEN, ProbeTestCase, fill, free_port, shipped)

SPAWN_FCGI_USER = "nobody"  # conf/spawn-fcgi.sh's default.
APACHE_USER = "www-data"    # CGI and mod_fcgid programs run as Apache's user.
BASE_MODULES = ["env"]  # Beside APACHE_BASE_MODULES.
PASS_AUTH = "CGIPassAuth On"


class ApacheProbesTest(ProbeTestCase):

    def start_apache(self, body, modules, name="apache"):
        """Apache in the foreground with `body` in its configuration, from a
        folder of its own (`name`), so that two may run one after the other;
        returns its port."""
        root = self.path(name)
        os.makedirs(root)
        port = free_port()
        self.error_log = os.path.join(root, "error.log")
        self.run_apache(root, port, BASE_MODULES + modules, body, root)
        return port

    def proxy_fcgi(self, trusted_addresses, pass_auth=PASS_AUTH, name="apache"):
        """The responder behind the shipped mod_proxy_fcgi snippet (started
        once per test); returns Apache's port."""
        if not os.path.exists(self.path("healthcheck.sock")):
            config = self.probes_config(SPAWN_FCGI_USER, trusted_addresses)
            self.spawn_responder(config, socket_path=self.path("healthcheck.sock"))
        snippet = fill(shipped("conf/apache-proxy-fcgi.conf"),
                       {DEFAULT_SOCKET: self.path("healthcheck.sock"), PASS_AUTH: pass_auth})
        return self.start_apache(snippet, ["proxy", "proxy_fcgi"], name=name)

    def cgi(self, trusted_addresses, pass_auth=PASS_AUTH, name="apache"):
        """The shipped CGI snippet, the binary copied where Apache's user may
        run it, and Debian's own /cgi-bin/ alias after it; returns the port."""
        if not os.path.exists(self.path("bin/healthcheck")):
            config = self.probes_config(APACHE_USER, trusted_addresses)
            self.install_binary("bin", "healthcheck")
            os.makedirs(self.path("usr-lib-cgi-bin"))
        snippet = fill(shipped("conf/apache-cgi.conf"), {
            DEFAULT_BINARY: self.path("bin/healthcheck"),
            DEFAULT_CONFIG: self.path("healthcheck.json"), PASS_AUTH: pass_auth})
        # What Debian's serve-cgi-bin.conf adds, read after the snippet.
        debian = 'ScriptAlias /cgi-bin/ %s/\n' % self.path("usr-lib-cgi-bin")
        return self.start_apache(snippet + debian, ["cgid"], name=name)

    def assertTokenHiddenWithoutPassAuth(self, port, prefix):
        """Without CGIPassAuth the token never reaches the program: the
        token holder who asks gets the envelope, byte for byte."""
        with self.database_gone():
            self.assertEnvelope(port, prefix + "ready", self.failure_status,
                                {"Accept": HEALTH_JSON, "Authorization": "Bearer " + PROBE_TOKEN})

    # --- mod_proxy_fcgi

    def test_proxy_fcgi_probes_follow_the_database_and_the_drain_file(self):
        port = self.proxy_fcgi(["10.0.0.0/8"])
        self.assertProbesFollowTheDatabase(port, "/health/", "/health", self.error_log)
        self.assertDrainFlipsReady(port, "/health/", "/health", self.error_log)
        self.assertDrainOverLogged(port, "/health/", self.error_log)

    def test_proxy_fcgi_report_for_the_token_holder_envelope_for_everyone_else(self):
        port = self.proxy_fcgi(["10.0.0.0/8"])
        self.assertReportOnlyForTheAuthorised(port, "/health/")

    def test_proxy_fcgi_token_needs_cgipassauth(self):
        self.assertIn(PASS_AUTH, shipped("conf/apache-proxy-fcgi.conf"))
        port = self.proxy_fcgi(["10.0.0.0/8"], pass_auth="CGIPassAuth Off", name="apache-off")
        self.assertTokenHiddenWithoutPassAuth(port, "/health/")

    def test_proxy_fcgi_trusted_address_is_the_callers_own(self):
        port = self.proxy_fcgi(["127.0.0.1/32", "::1"])
        self.assertTrustedAddressIsTheCallersOwn(port, "/health/")

    # --- plain CGI: the probe's name is PATH_INFO

    def test_cgi_probes_follow_the_database_and_the_drain_file(self):
        port = self.cgi(["10.0.0.0/8"])
        prefix = "/cgi-bin/healthcheck/"
        self.assertProbesFollowTheDatabase(port, prefix, "/cgi-bin/healthcheck", self.error_log)
        self.assertDrainFlipsReady(port, prefix, "/cgi-bin/healthcheck", self.error_log)
        # A query without "=" is refused before the program runs.
        status = self.http_status(port, "/cgi-bin/healthcheck/live?--version")
        self.assertEqual(status, 403)
        self.assertEnvelope(port, "/cgi-bin/healthcheck/live?t=1", 200)

    def test_cgi_report_for_the_token_holder_and_cgipassauth_is_what_passes_it(self):
        port = self.cgi(["10.0.0.0/8"])
        self.assertReportOnlyForTheAuthorised(port, "/cgi-bin/healthcheck/")
        port = self.cgi(["10.0.0.0/8"], pass_auth="CGIPassAuth Off", name="apache-off")
        self.assertTokenHiddenWithoutPassAuth(port, "/cgi-bin/healthcheck/")

    def test_cgi_trusted_address_is_the_callers_own(self):
        port = self.cgi(["127.0.0.1/32", "::1"])
        self.assertTrustedAddressIsTheCallersOwn(port, "/cgi-bin/healthcheck/")

    # --- mod_fcgid: Apache starts the responder; the name is PATH_INFO

    def test_fcgid_probes_drain_and_report(self):
        config = self.probes_config(APACHE_USER, ["10.0.0.0/8"])
        binary = self.install_binary("bin", "healthcheck")
        port = self.start_apache(self.fcgid_snippet(binary, config), ["fcgid"])
        self.assertProbesFollowTheDatabase(port, "/health/", "/health", self.error_log)
        self.assertDrainFlipsReady(port, "/health/", "/health", self.error_log)
        self.assertReportOnlyForTheAuthorised(port, "/health/")

    def http_status(self, port, path):
        from tests.e2e.servers import http_fetch
        return http_fetch(port, path)[0]
