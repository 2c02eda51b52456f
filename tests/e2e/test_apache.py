"""Apache 2.4 -> healthcheck: mod_proxy_fcgi to a spawn-fcgi responder,
mod_fcgid spawning it, and plain CGI (mod_cgid, mod_cgi) from a cgi-bin
folder and from a shared-hosting health folder with the shipped .htaccess."""
import os
import shutil
import urllib.parse

from tests.e2e.servers import (BINARY, DEFAULT_SOCKET, REPO, ServerTestCase, fill, free_port,
                               http_request, make_database, port_open, shipped)

# Beside APACHE_BASE_MODULES.
BASE_MODULES = ["dir", "rewrite"]

# The shipped shared-hosting folder: uploaded as it is into the web root.
SHARED_HOSTING_HTACCESS = os.path.join(REPO, "conf", "shared-hosting", "health", ".htaccess")
# Files a shared-hosting web root collects beside the program and its
# configuration: editor and backup copies of the config, SQLite databases and
# their journals under every usual name, the folder's own .htaccess, and the
# binary itself under another name. None may ever be served.
LEAKABLE_NAMES = ["healthcheck.json", "healthcheck.json~", ".healthcheck.json.swp",
                  "#healthcheck.json#", "healthcheck.json.bak", "app.db", "app.db-wal",
                  "app.db-journal", "app.db-shm", "app.sqlite", "app.sqlite3", "app.db3",
                  "APP.DB", ".htaccess", "health.cgi.orig"]
# The site's own .htaccess in the web root, which the health folder must leave alone.
SITE_HTACCESS = "DirectoryIndex index.html\nRedirect 301 /old-page /index.html\n"
SITE_INDEX = b"<p>the site's own home page</p>\n"
# The least AllowOverride the shared-hosting .htaccess needs, as its comments say.
DOCUMENTED_OVERRIDES = "AuthConfig FileInfo Indexes Options=ExecCGI,Indexes"


class ApacheTest(ServerTestCase):

    def start_apache(self, body, modules, mpm="event"):
        root = self.path("apache")
        os.makedirs(root, exist_ok=True)
        self.port = free_port()
        self.error_log = os.path.join(root, "error.log")
        os.makedirs(self.path("www"), exist_ok=True)
        return self.run_apache(root, self.port, BASE_MODULES + modules, body, self.path("www"),
                               mpm)

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
        self.start_apache(self.fcgid_snippet(binary, config), ["fcgid"])
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
        body = """ScriptAlias /cgi-bin/ %s/
<Directory %s>
    Options +ExecCGI
    Require all granted
</Directory>
""" % (cgi_bin, cgi_bin)
        self.start_apache(body, ["cgid"])
        self.assertHealthyUrl(self.port, "/cgi-bin/healthcheck")
        # Apache passes a query without '=' as command-line words: they are
        # the client's, never flags (no server starts, no version answers).
        port = free_port()
        for query in ("--listen+127.0.0.1:%d" % port, "--version", "--help", "--check",
                      "--help%00", "--listen+127.0.0.1:%d%%00" % port):
            self.assertHealthyUrl(self.port, "/cgi-bin/healthcheck?" + query)
        self.assertFalse(port_open(port))
        os.unlink(os.path.join(cgi_bin, "app.db"))
        self.assertUnhealthyUrl(self.port, "/cgi-bin/healthcheck")
        self.assertLogged(self.error_log)
        self.assertTrue(os.path.exists(binary))

    def test_shared_hosting_folder_under_mod_cgid(self):
        self.upload_shared_hosting_folder()
        self.start_shared_hosting_apache("All", ["cgid"], "event")
        self.check_shared_hosting_folder()

    def test_shared_hosting_folder_under_mod_cgi(self):
        self.upload_shared_hosting_folder()
        self.start_shared_hosting_apache("All", ["cgi"], "prefork")
        self.check_shared_hosting_folder()

    def test_shared_hosting_folder_needs_only_the_documented_overrides(self):
        self.upload_shared_hosting_folder()
        self.start_shared_hosting_apache(DOCUMENTED_OVERRIDES, ["cgid"], "event")
        self.check_shared_hosting_folder()

    def test_shared_hosting_folder_fails_closed_when_an_override_is_missing(self):
        secrets = self.upload_shared_hosting_folder()
        self.start_shared_hosting_apache("FileInfo Indexes Options", ["cgid"], "event")
        for name in ["", "health.cgi", "healthcheck.json", "app.db-wal"]:
            with self.subTest(name=name):
                status, _, body = http_request(self.port, "/health/" + name)
                self.assertEqual(status, 500)
                for secret in [copy for copies in secrets.values() for copy in copies]:
                    self.assertNotIn(secret, body)

    def upload_shared_hosting_folder(self):
        """The documented upload (the shipped health/ folder, the binary as
        health.cgi, healthcheck.json beside it, the database outside the web
        root) in a site with its own .htaccess and index.html, and files that
        must not leak (see leakable_files)."""
        www = self.path("www")
        health = os.path.join(www, "health")
        database = self.path("private/app.db")
        os.makedirs(health)
        os.makedirs(os.path.dirname(database))
        shutil.copy(SHARED_HOSTING_HTACCESS, os.path.join(health, ".htaccess"))
        self.install_binary("www/health", "health.cgi")
        config = shipped("conf/sqlite.json")
        self.assertIn('"app.db"', config)
        self.write_file(os.path.join(health, "healthcheck.json"),
                        config.replace('"app.db"', '"../../private/app.db"').encode())
        make_database(database)
        os.chmod(database, 0o644)
        self.write_file(os.path.join(www, ".htaccess"), SITE_HTACCESS.encode())
        self.write_file(os.path.join(www, "index.html"), SITE_INDEX)
        self.shared_hosting_database = database
        self.secrets = self.leakable_files(health, www)
        return self.secrets

    def start_shared_hosting_apache(self, allow_override, modules, mpm):
        body = """<Directory %s>
    AllowOverride %s
    Require all granted
</Directory>
""" % (self.path("www"), allow_override)
        self.start_apache(body, modules, mpm=mpm)

    def check_shared_hosting_folder(self):
        """The health URL answers, nothing else in the folder is served, the
        site around it is untouched, and the database read is the one
        outside the web root."""
        self.assertHealthyUrl(self.port, "/health/")
        self.assertHealthyUrl(self.port, "/health/health.cgi")
        self.assertHealthyUrl(self.port, "/health/?t=1")
        # A query without "=" would become the program's command line.
        for query in ("x", "--version", "--listen+127.0.0.1:1"):
            with self.subTest(query=query):
                status, _, body = http_request(self.port, "/health/?" + query)
                self.assertEqual(status, 403)
                self.assertNotIn(b"healthcheck", body)
        for name in LEAKABLE_NAMES:
            quoted = urllib.parse.quote(name)
            for path in ("/health/" + quoted, "/health//" + quoted, "/health/./" + quoted):
                with self.subTest(path=path):
                    status, _, body = http_request(self.port, path)
                    self.assertNotEqual(status, 200)
                    for secret in self.secrets[name]:
                        self.assertNotIn(secret, body)
        # The site around it is untouched: its home page and its own .htaccess.
        self.assertEqual(http_request(self.port, "/")[::2], (200, SITE_INDEX))
        status, headers, _ = http_request(self.port, "/old-page")
        self.assertEqual((status, headers.get("location", "")[-len("/index.html"):]),
                         (301, "/index.html"))
        # The check reads the database outside the web root.
        os.unlink(self.shared_hosting_database)
        self.assertUnhealthyUrl(self.port, "/health/")
        self.assertLogged(self.error_log)

    def leakable_files(self, health, web_root):
        """Creates each of LEAKABLE_NAMES in both folders where it is missing
        (in the health folder, health.cgi.orig is the real binary); returns
        {name: [the first bytes of each copy]}, which no answer may hold."""
        secrets = {}
        for folder in (health, web_root):
            for name in LEAKABLE_NAMES:
                path = os.path.join(folder, name)
                if folder == health and name == "health.cgi.orig":
                    shutil.copy(BINARY, path)
                elif not os.path.exists(path):
                    self.write_file(path, ("secret in %s: %s\n" % (folder, name)).encode())
                os.chmod(path, 0o644)
                with open(path, "rb") as existing:
                    secrets.setdefault(name, []).append(existing.read(64))
        return secrets

    def write_file(self, path, data):
        with open(path, "wb") as out:
            out.write(data)
        os.chmod(path, 0o644)

