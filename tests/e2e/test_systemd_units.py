"""The shipped systemd units, run the way systemd runs them: the socket
unit's listening socket handed to the service's ExecStart on fd 0
(StandardInput=socket). No systemd runs here, so the test plays its part,
from nothing: the socket's folder made as the socket unit says, the service
as an unprivileged user nobody had to create."""
import configparser
import grp
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess

from tests.e2e.servers import (BINARY, DEFAULT_BINARY, DEFAULT_CONFIG, REPO, ServerTestCase,
                               free_port, wait_for)
from tests.integration import fastcgi_wire
from tests.integration.support import expected_bytes

# Stands in for the service's DynamicUser: a user with no rights, no home,
# nothing made for it.
UNPRIVILEGED_USER, UNPRIVILEGED_GROUP = "nobody", "nogroup"
# What systemd gives a service: no variables of ours.
SERVICE_ENVIRONMENT = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def read_unit(name):
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(os.path.join(REPO, "conf", name))
    return unit


def stop(process):
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def stop_group(process):
    """The service and every process it started, as systemd's cgroup kill does."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)



def listen_as_the_socket_unit(address, socket_unit, give_away):
    """The listening socket systemd makes for the unit: its mode, and with
    give_away its SocketUser and SocketGroup."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    if give_away:
        os.chown(address, pwd.getpwnam(socket_unit["SocketUser"]).pw_uid,
                 grp.getgrnam(socket_unit["SocketGroup"]).gr_gid)
    os.chmod(address, int(socket_unit["SocketMode"], 8))
    listener.listen(64)
    return listener


def exec_start(service, config):
    """The service's ExecStart, with the test's binary and configuration."""
    return [word.replace(DEFAULT_BINARY, BINARY).replace(DEFAULT_CONFIG, config)
            for word in shlex.split(service["ExecStart"])]

class SystemdUnitsTest(ServerTestCase):

    def test_units_say_what_a_safe_deployment_needs(self):
        service = read_unit("healthcheck.service")["Service"]
        self.assertEqual(service["StandardInput"], "socket")
        self.assertEqual(service["StandardOutput"], "journal")
        self.assertEqual(service["StandardError"], "journal")
        self.assertEqual(service["Restart"], "on-failure")
        self.assertNotIn(service["User"], ("root", "0"))
        socket_unit = read_unit("healthcheck.socket")["Socket"]
        self.assertTrue(socket_unit["ListenStream"].startswith("/"))  # A unix socket, no port.
        self.assertEqual(socket_unit["SocketMode"], "0660")

    def test_units_need_nothing_made_beforehand(self):
        service = read_unit("healthcheck.service")["Service"]
        # No user to create: a dynamic one (a static one of that name is used if it exists).
        self.assertEqual(service["DynamicUser"], "yes")
        # systemd removes a RuntimeDirectory= when the service stops: the socket unit's
        # /run/healthcheck must not be one, or its socket would go with it. The shared
        # results' and counts' folder is one, the service user's alone.
        self.assertEqual(service["RuntimeDirectory"], "healthcheck-shared")
        self.assertEqual(service["RuntimeDirectoryMode"], "0700")
        socket_unit = read_unit("healthcheck.socket")["Socket"]
        self.assertTrue(socket_unit["ListenStream"].startswith("/run/"))  # A tmpfs: empty at boot.
        self.assertEqual(socket_unit["DirectoryMode"], "0755")  # Made by systemd, reachable.
        grp.getgrnam(socket_unit["SocketGroup"])  # Exists on a fresh Debian (base-passwd).

    def test_from_nothing_nginx_reaches_the_service_running_unprivileged(self):
        service = read_unit("healthcheck.service")["Service"]
        socket_unit = read_unit("healthcheck.socket")["Socket"]
        config = self.app_config()
        address = self.path("run/healthcheck/healthcheck.sock")
        self.make_socket_folders(address, int(socket_unit["DirectoryMode"], 8))
        listener = listen_as_the_socket_unit(address, socket_unit, give_away=True)
        command = exec_start(service, config)
        log = open(self.path("service.log"), "wb")
        self.addCleanup(log.close)
        process = subprocess.Popen(command, stdin=listener.fileno(), stdout=log, stderr=log,
                                   env=SERVICE_ENVIRONMENT, user=UNPRIVILEGED_USER,
                                   group=UNPRIVILEGED_GROUP, extra_groups=[],
                                   start_new_session=True)
        listener.close()
        self.addCleanup(stop_group, process)
        port = free_port()
        self.start_nginx("unix:" + address, port)  # Its workers run as www-data.
        self.assertHealthyUrl(port)
        os.unlink(self.path("app.db"))
        self.assertUnhealthyUrl(port)

    def make_socket_folders(self, address, mode):
        """As systemd does for a socket unit: every missing folder on the way,
        with DirectoryMode."""
        missing = []
        folder = os.path.dirname(address)
        while not os.path.isdir(folder):
            missing.append(folder)
            folder = os.path.dirname(folder)
        self.assertTrue(missing)  # The test starts from nothing.
        for folder in reversed(missing):
            os.mkdir(folder)
            os.chmod(folder, mode)

    def test_service_serves_on_the_socket_units_socket_and_reloads(self):
        service = read_unit("healthcheck.service")["Service"]
        socket_unit = read_unit("healthcheck.socket")["Socket"]
        config = self.app_config()
        address = self.path("healthcheck.sock")
        listener = listen_as_the_socket_unit(address, socket_unit, give_away=False)
        command = exec_start(service, config)
        log = open(self.path("service.log"), "wb")
        self.addCleanup(log.close)
        process = subprocess.Popen(command, stdin=listener.fileno(), stdout=log, stderr=log)
        listener.close()
        self.addCleanup(stop, process)
        self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)
        os.unlink(self.path("app.db"))
        self.assertAnswer(fastcgi_wire.fetch(address), healthy=False)
        # ExecReload: kill -HUP $MAINPID.
        with open(config, "w") as out:
            out.write('{"services": ["memory_backend"]}')
        reload_command = service["ExecReload"].replace("$MAINPID", str(process.pid))
        subprocess.run(shlex.split(reload_command), check=True, timeout=10)
        wait_for(lambda: fastcgi_wire.fetch(address).stdout == expected_bytes(True), timeout=5,
                 what="the reloaded configuration to serve")
        process.send_signal(signal.SIGTERM)  # KillSignal
        self.assertEqual(process.wait(timeout=10), 0)

    def test_systemd_analyze_accepts_the_units(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed")
        units = [os.path.join(REPO, "conf", name)
                 for name in ("healthcheck.socket", "healthcheck.service")]
        result = subprocess.run(["systemd-analyze", "verify"] + units, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=30)
        output = result.stdout.decode()
        # Missing /usr/local/bin/healthcheck on this machine is expected; syntax errors are not.
        for line in output.splitlines():
            self.assertNotIn("Unknown key", line)
            self.assertNotIn("Invalid", line)
