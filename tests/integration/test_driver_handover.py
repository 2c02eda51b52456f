"""The hand-over from the static healthcheck to the driver's program
(src/driver_handover.h), without a database: which program runs, what a
missing or wrong one says, that the process and its socket carry over, and
that a reload never switches to a driver the running program lacks."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

from tests.integration import fastcgi_wire
from tests.integration.support import BINARY, Server, TestCase, wait_until

MYSQL_CONFIG = {"services": ["cursor_backend"],
                "cursor_backend": {"driver": "mysql", "host": "127.0.0.1", "port": 9,
                                   "username": "hc", "database": "app"}}


class HandOver(TestCase):

    def programs(self, *names):
        """Copies of the binary and the named driver programs in a folder of their own."""
        folder = self.path("bin")
        os.makedirs(folder, exist_ok=True)
        for name in ("healthcheck",) + names:
            shutil.copy(BINARY if name == "healthcheck" else BINARY + name[len("healthcheck"):],
                        os.path.join(folder, name))
        return os.path.join(folder, "healthcheck")

    def test_a_missing_driver_program_is_a_configuration_error_naming_it(self):
        binary = self.programs()
        config = self.write_config(json.dumps(MYSQL_CONFIG))
        for flag in ("--check", "--test-config"):
            result = subprocess.run([binary, "--config", config, flag], capture_output=True,
                                    timeout=10)
            self.assertEqual(result.returncode, 78)
            self.assertIn(b'"cursor_backend.driver": mysql: cannot start ' +
                          os.path.dirname(binary).encode() + b"/healthcheck-mysql, which serves "
                          b"it: No such file or directory (install it beside this program: "
                          b"make install)", result.stderr)

    def test_a_driver_program_without_its_driver_does_not_loop(self):
        binary = self.programs()
        shutil.copy(BINARY, binary + "-mysql")  # The wrong file under the right name.
        config = self.write_config(json.dumps(MYSQL_CONFIG))
        result = subprocess.run([binary, "--config", config, "--check"], capture_output=True,
                                timeout=10)
        self.assertEqual(result.returncode, 78)
        self.assertIn(b"was started for it, but it has no mysql driver (a copy of another "
                      b"program?)", result.stderr)

    def test_the_driver_program_serves_in_the_same_process_on_the_same_socket(self):
        binary = self.programs("healthcheck-mysql")
        config = self.write_config(json.dumps(MYSQL_CONFIG))
        address = self.path("inherited.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen(16)
        process = subprocess.Popen([binary, "--config", config], stdin=listener.fileno(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        listener.close()
        self.addCleanup(lambda: process.poll() is None and (process.kill(), process.wait()))
        self.assertTrue(wait_until(lambda: os.readlink("/proc/%d/exe" % process.pid)
                                   .endswith("healthcheck-mysql"), timeout=5))
        reply = fastcgi_wire.fetch(address)
        self.assertIn(b"Status: 500", reply.stdout)  # Nothing listens on port 9.
        self.assertIn(b"cannot connect to mysql at 127.0.0.1:9", reply.stderr)
        process.send_signal(signal.SIGTERM)
        self.assertEqual(process.wait(timeout=10), 0)

    def test_a_reload_to_a_driver_this_program_lacks_is_refused(self):
        config = self.write_config('{"services": ["memory_backend"]}')
        server, address = self.start_server(config)
        self.assertIn(b"Status: 200", fastcgi_wire.fetch(address).stdout)
        self.write_config(json.dumps(MYSQL_CONFIG))
        server.process.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "reload refused" in server.log_text(), timeout=5))
        self.assertIn('"cursor_backend.driver": mysql is served by healthcheck-mysql, not by this '
                      'program: restart to change to it', server.log_text())
        self.assertIn(b"Status: 200", fastcgi_wire.fetch(address).stdout)  # The old checks.
        self.assertEqual(os.readlink("/proc/%d/exe" % server.process.pid), os.path.realpath(BINARY))
