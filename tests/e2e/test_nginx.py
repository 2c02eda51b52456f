"""nginx -> healthcheck over FastCGI, the responder started by spawn-fcgi."""
import os
import subprocess

from tests.e2e.servers import ServerTestCase, fill, free_port, port_open, shipped


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
        prefix = self.path("nginx")
        os.makedirs(prefix)
        port = free_port()
        upstream = fill(shipped("nginx/healthcheck-upstream-unix.conf"),
                        {"/run/healthcheck/healthcheck.sock": socket_path})
        location = shipped("nginx/healthcheck-location.conf")
        location = location.replace("include fastcgi_params;",
                                    "include /etc/nginx/fastcgi_params;")
        with open(os.path.join(prefix, "nginx.conf"), "w") as out:
            out.write("""user www-data; daemon off; pid %(p)s/nginx.pid; error_log %(p)s/error.log;
events {}
http {
  access_log off;
  client_body_temp_path %(p)s/cb; fastcgi_temp_path %(p)s/fc; proxy_temp_path %(p)s/px;
  uwsgi_temp_path %(p)s/uw; scgi_temp_path %(p)s/sc;
  %(upstream)s
  server { listen 127.0.0.1:%(port)d; %(location)s }
}
""" % {"p": prefix, "upstream": upstream, "port": port, "location": location})
        self.nginx_error_log = os.path.join(prefix, "error.log")
        self.start(["nginx", "-c", os.path.join(prefix, "nginx.conf"), "-p", prefix],
                   "nginx.out", lambda: port_open(port))
        self.assertHealthyUrl(port)

    def test_shipped_tcp_upstream_snippet_parses(self):
        prefix = self.path("nginx")
        os.makedirs(prefix)
        with open(os.path.join(prefix, "nginx.conf"), "w") as out:
            out.write("events {}\nhttp {\n%s\nserver { listen 127.0.0.1:%d; %s }\n}\n" % (
                shipped("nginx/healthcheck-upstream-tcp.conf"), free_port(),
                shipped("nginx/healthcheck-location.conf").replace(
                    "include fastcgi_params;", "include /etc/nginx/fastcgi_params;")))
        result = subprocess.run(["nginx", "-t", "-c", os.path.join(prefix, "nginx.conf"),
                                 "-p", prefix, "-g", "pid %s/nginx.pid; error_log %s/e.log;"
                                 % (prefix, prefix)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        self.assertEqual(result.returncode, 0, result.stdout.decode())
