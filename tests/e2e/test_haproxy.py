"""HAProxy, the health client a load balancer really is, checking /health
through nginx: UP while the database is healthy, DOWN within its check
interval once the SQLite file is removed or corrupted, UP once restored."""
import shutil
import time

from tests.e2e.servers import HAPROXY_STATE_BOUND_S as STATE_BOUND_S
from tests.e2e.servers import ServerTestCase, free_port, read_text, wait_for


class HaproxyTest(ServerTestCase):

    def server_state(self):
        row = self.haproxy_web1()
        return row["status"].split()[0] if row else None

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
        self.start_haproxy(nginx_port)

        self.wait_state("UP")
        shutil.move(self.path("app.db"), self.path("app.db.saved"))
        self.assertLess(self.wait_state("DOWN"), STATE_BOUND_S)
        shutil.move(self.path("app.db.saved"), self.path("app.db"))
        self.assertLess(self.wait_state("UP"), STATE_BOUND_S)
        with open(self.path("app.db"), "r+b") as database:
            database.write(b"corrupted" * 20)
        self.assertLess(self.wait_state("DOWN"), STATE_BOUND_S)
        self.assertIn("file is not a database", read_text(self.nginx_error_log))
