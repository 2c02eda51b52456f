"""lighttpd -> healthcheck through mod_fastcgi, lighttpd spawning the binary."""
import os

from tests.e2e.servers import (BINARY, DEFAULT_BINARY, DEFAULT_CONFIG, ServerTestCase, fill,
                               free_port, port_open, shipped)


class LighttpdTest(ServerTestCase):

    def test_bin_path_spawned_responder(self):
        config = self.app_config()
        port = free_port()
        error_log = self.path("lighttpd-error.log")
        snippet = fill(shipped("conf/lighttpd-healthcheck.conf"), {
            DEFAULT_BINARY: BINARY, DEFAULT_CONFIG: config,
            "/run/lighttpd/healthcheck.sock": self.path("lighttpd-hc.sock")})
        os.makedirs(self.path("www"))
        with open(self.path("lighttpd.conf"), "w") as out:
            out.write('server.document-root = "%s"\nserver.bind = "127.0.0.1"\n'
                      'server.port = %d\nserver.errorlog = "%s"\n'
                      'server.pid-file = "%s"\n%s\n'
                      % (self.path("www"), port, error_log, self.path("lighttpd.pid"), snippet))
        self.start(["lighttpd", "-D", "-f", self.path("lighttpd.conf")], "lighttpd.out",
                   lambda: port_open(port))
        self.assertHealthyUrl(port)
        os.unlink(self.path("app.db"))
        self.assertUnhealthyUrl(port)
        self.assertLogged(error_log)
