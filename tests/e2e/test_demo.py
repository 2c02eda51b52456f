"""The README's run command (make run -> tools/serve_demo.py) serves a real
URL through nginx, then stops everything it started."""
import os
import subprocess
import sys

from tests.e2e.servers import BINARY, REPO, ServerTestCase, free_port, port_open


class DemoTest(ServerTestCase):

    def test_smoke_serves_health_through_nginx_and_cleans_up(self):
        port = free_port()
        result = subprocess.run(
            [sys.executable, os.path.join(REPO, "tools", "serve_demo.py"), "--smoke",
             "--port", str(port), "--binary", BINARY, "--folder", self.path("demo")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        output = result.stdout.decode()
        self.assertEqual(result.returncode, 0, output)
        self.assertIn('GET /health -> 200 {"status":"success"', output)
        self.assertTrue(os.path.exists(self.path("demo/app.db")))
        self.assertFalse(port_open(port))  # nginx was stopped.
