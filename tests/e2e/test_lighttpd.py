"""lighttpd -> healthcheck through mod_fastcgi, lighttpd spawning the binary."""
import os

from tests.e2e.servers import BINARY, ServerTestCase


class LighttpdTest(ServerTestCase):

    def test_bin_path_spawned_responder(self):
        config = self.app_config()
        error_log = self.path("lighttpd-error.log")
        port = self.run_lighttpd(BINARY, config, self.path("lighttpd-hc.sock"), error_log)
        self.assertHealthyUrl(port)
        os.unlink(self.path("app.db"))
        self.assertUnhealthyUrl(port)
        self.assertLogged(error_log)
