"""nginx -> healthcheck over FastCGI, the responder started by spawn-fcgi."""
import os
import shutil

from tests.e2e.servers import REPO, ServerTestCase, fill, free_port, shipped


class NginxTest(ServerTestCase):

    def test_unix_socket_healthy_then_missing_database(self):
        config = self.app_config()
        socket_path = self.path("healthcheck.sock")
        self.spawn_responder(config, socket_path=socket_path)
        self.assertEqual(os.stat(socket_path).st_mode & 0o777, 0o660)
        port = free_port()
        self.start_nginx("unix:" + socket_path, port)
        self.assertHealthyUrl(port)
        os.unlink(self.path("app.db"))
        self.assertUnhealthyUrl(port)
        self.assertLogged(self.nginx_error_log, "FastCGI sent in stderr")
        self.assertLogged(self.nginx_error_log, "cursor_backend failed")
        self.assertFalse(os.path.exists(self.path("app.db")))

    def test_loopback_tcp(self):
        config = self.app_config()
        fastcgi_port = free_port()
        self.spawn_responder(config, tcp_port=fastcgi_port)
        port = free_port()
        self.start_nginx("127.0.0.1:%d" % fastcgi_port, port)
        self.assertHealthyUrl(port)
        for _ in range(50):  # Kept-alive upstream connections, reused.
            self.assertHealthyUrl(port)
        os.unlink(self.path("app.db"))
        self.assertUnhealthyUrl(port)
        self.assertLogged(self.nginx_error_log)

    def test_shipped_snippets_in_a_server_block(self):
        config = self.app_config()
        socket_path = self.path("healthcheck.sock")
        self.spawn_responder(config, socket_path=socket_path)
        port = free_port()
        upstream = fill(shipped("nginx/healthcheck-upstream-unix.conf"),
                        {"/run/healthcheck/healthcheck.sock": socket_path})
        self.start_nginx_snippets(upstream, port)
        self.assertHealthyUrl(port)

    def test_shipped_tcp_upstream_snippet_with_the_memory_only_example(self):
        config = self.path("memory.json")
        shutil.copy(os.path.join(REPO, "conf", "memory.json"), config)
        os.chmod(config, 0o644)
        fastcgi_port = free_port()
        self.spawn_responder(config, tcp_port=fastcgi_port)
        port = free_port()
        upstream = fill(shipped("nginx/healthcheck-upstream-tcp.conf"),
                        {"127.0.0.1:9000": "127.0.0.1:%d" % fastcgi_port})
        self.start_nginx_snippets(upstream, port)
        self.assertHealthyUrl(port)

