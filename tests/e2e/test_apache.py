"""Apache 2.4 -> healthcheck: mod_proxy_fcgi to a spawn-fcgi responder,
mod_fcgid spawning it, and plain CGI (mod_cgid) from a cgi-bin folder and
from a shared-hosting web root with the shipped .htaccess."""
import os
import shutil

from tests.e2e.servers import (APACHE_MODULES, BINARY, DEFAULT_BINARY, DEFAULT_CONFIG,
                               DEFAULT_SOCKET, ServerTestCase, fill, free_port, make_database,
                               port_open, shipped)

BASE_MODULES = ["mpm_event", "authz_core", "authz_host", "alias",
                "mime", "dir", "rewrite"]


class ApacheTest(ServerTestCase):

    def start_apache(self, body, modules):
        root = self.path("apache")
        os.makedirs(root, exist_ok=True)
        self.port = free_port()
        self.error_log = os.path.join(root, "error.log")
        loads = "\n".join("LoadModule %s_module %s/mod_%s.so" % (name, APACHE_MODULES, name)
                          for name in BASE_MODULES + modules)
        config = """ServerRoot %(root)s
ServerName localhost
%(loads)s
Listen 127.0.0.1:%(port)d
PidFile %(root)s/httpd.pid
ErrorLog %(root)s/error.log
LogLevel warn
Mutex file:%(root)s
User www-data
Group www-data
TypesConfig /etc/mime.types
DocumentRoot %(docroot)s
<Directory />
    AllowOverride None
    Require all denied
</Directory>
%(body)s
""" % {"root": root, "loads": loads, "port": self.port, "body": body,
       "docroot": self.path("www")}
        os.makedirs(self.path("www"), exist_ok=True)
        with open(os.path.join(root, "httpd.conf"), "w") as out:
            out.write(config)
        return self.start(["apache2", "-f", os.path.join(root, "httpd.conf"), "-DFOREGROUND"],
                          "apache.out", lambda: port_open(self.port))

    def test_mod_proxy_fcgi_to_a_unix_socket(self):
        config = self.app_config()
        socket_path = self.path("healthcheck.sock")
        self.spawn_responder(config, socket_path=socket_path)
        snippet = fill(shipped("conf/apache-proxy-fcgi.conf"), {DEFAULT_SOCKET: socket_path})
        self.start_apache(snippet, ["proxy", "proxy_fcgi"])
        self.assertHealthyUrl(self.port)
        os.unlink(self.path("app.db"))
        self.assertUnhealthyUrl(self.port)
        self.assertLogged(self.error_log)

    def test_mod_fcgid_spawns_the_responder(self):
        config = self.app_config()
        binary = self.install_binary("bin", "healthcheck")
        snippet = fill(shipped("conf/apache-fcgid.conf"),
                       {DEFAULT_BINARY: binary, DEFAULT_CONFIG: config})
        fcgid = self.path("fcgid")
        os.makedirs(fcgid)
        os.chown(fcgid, self.web_uid, self.web_gid)
        snippet += "\nFcgidIPCDir %s\nFcgidProcessTableFile %s/table\n" % (fcgid, fcgid)
        self.start_apache(snippet, ["fcgid"])
        self.assertHealthyUrl(self.port)
        os.unlink(self.path("app.db"))
        self.assertUnhealthyUrl(self.port)
        self.assertLogged(self.error_log)

    def test_plain_cgi_from_cgi_bin_with_the_config_beside_the_binary(self):
        cgi_bin = self.path("cgi-bin")
        binary = self.install_binary("cgi-bin", "healthcheck")
        shutil.copy(self.app_config(database=False), os.path.join(cgi_bin, "healthcheck.json"))
        make_database(os.path.join(cgi_bin, "app.db"))
        os.chmod(os.path.join(cgi_bin, "app.db"), 0o644)
        body = """ScriptSock %s/cgid.sock
ScriptAlias /cgi-bin/ %s/
<Directory %s>
    Options +ExecCGI
    Require all granted
</Directory>
""" % (self.path("apache"), cgi_bin, cgi_bin)
        self.start_apache(body, ["cgid"])
        self.assertHealthyUrl(self.port, "/cgi-bin/healthcheck")
        os.unlink(os.path.join(cgi_bin, "app.db"))
        self.assertUnhealthyUrl(self.port, "/cgi-bin/healthcheck")
        self.assertLogged(self.error_log)
        self.assertTrue(os.path.exists(binary))

    def test_shared_hosting_htaccess(self):
        www = self.path("www")
        os.makedirs(www)
        self.install_binary("www", "health.cgi")
        shutil.copy(self.app_config(database=False), os.path.join(www, "healthcheck.json"))
        make_database(os.path.join(www, "app.db"))
        os.chmod(os.path.join(www, "app.db"), 0o644)
        shutil.copy(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "conf", "shared-hosting.htaccess"),
            os.path.join(www, ".htaccess"))
        body = """ScriptSock %s/cgid.sock
<Directory %s>
    AllowOverride All
    Require all granted
</Directory>
""" % (self.path("apache"), www)
        self.start_apache(body, ["cgid"])
        self.assertHealthyUrl(self.port, "/health")
        # The configuration and the database are not served.
        from tests.e2e.servers import http_request
        self.assertEqual(http_request(self.port, "/healthcheck.json")[0], 403)
        self.assertEqual(http_request(self.port, "/app.db")[0], 403)
        os.unlink(os.path.join(www, "app.db"))
        self.assertUnhealthyUrl(self.port, "/health")
        self.assertLogged(self.error_log)

    def install_binary(self, folder, name):
        target_folder = self.path(folder)
        os.makedirs(target_folder, exist_ok=True)
        target = os.path.join(target_folder, name)
        shutil.copy(BINARY, target)
        os.chmod(target, 0o755)
        return target
