"""make install / make uninstall with PREFIX and DESTDIR."""
import os
import subprocess

from tests.e2e.servers import REPO, ServerTestCase


class InstallTest(ServerTestCase):

    def make(self, *args):
        return subprocess.run(["make", "-s", "-C", REPO] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=300)

    def test_install_then_uninstall_into_a_staging_folder(self):
        stage = self.path("stage")
        result = self.make("install", "DESTDIR=" + stage, "PREFIX=/opt/hc")
        self.assertEqual(result.returncode, 0, result.stdout.decode())
        binary = os.path.join(stage, "opt/hc/bin/healthcheck")
        self.assertTrue(os.access(binary, os.X_OK))
        version = subprocess.run([binary, "--version"], stdout=subprocess.PIPE, timeout=10)
        self.assertRegex(version.stdout.decode(), r"^healthcheck \d")
        with open(os.path.join(stage, "opt/hc/share/man/man1/healthcheck.1")) as page:
            self.assertIn('"%s"' % version.stdout.decode().strip(), page.read())
        docs = os.path.join(stage, "opt/hc/share/doc/healthcheck")
        for shipped in ("README.md", "conf/sqlite.json", "conf/healthcheck.service",
                        "conf/spawn-fcgi.sh", "conf/shared-hosting/health/.htaccess",
                        "nginx/nginx.conf"):
            self.assertTrue(os.path.isfile(os.path.join(docs, shipped)), shipped)
        result = self.make("uninstall", "DESTDIR=" + stage, "PREFIX=/opt/hc")
        self.assertEqual(result.returncode, 0, result.stdout.decode())
        left = [os.path.join(root, name) for root, _, names in os.walk(stage) for name in names]
        self.assertEqual(left, [])
