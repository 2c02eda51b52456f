"""The shipped conf/spawn-fcgi.sh from nothing: a socket folder that does
not exist yet (as /run/healthcheck after a boot), and the clear refusals
when a piece is missing. Run as root, as the script is meant to be."""
import os
import pwd
import signal
import subprocess

from tests.e2e.servers import (BINARY, SPAWN_FCGI_SCRIPT, WEB_USER, ServerTestCase, free_port,
                               unix_socket_open)

SCRIPT = SPAWN_FCGI_SCRIPT
REFUSAL_TIMEOUT_S = 10


def uid_of(pid):
    """The real uid of a running process."""
    with open("/proc/%d/status" % pid) as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Uid:"))


class SpawnFcgiScriptTest(ServerTestCase):

    def environment(self, socket_path, **overrides):
        env = dict(os.environ, HEALTHCHECK_SOCKET=socket_path, HEALTHCHECK_BINARY=BINARY,
                   HEALTHCHECK_CONFIG=self.app_config())
        env.update(overrides)
        return env

    def refusal(self, env, user=None):
        """(exit code, stderr) of the script expected to refuse; its whole
        process group is killed whatever happens."""
        process = subprocess.Popen([SCRIPT], env=env, user=user, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
        self.addCleanup(self.kill_group, process)
        _, errors = process.communicate(timeout=REFUSAL_TIMEOUT_S)
        return process.returncode, errors.decode()

    def kill_group(self, process):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=REFUSAL_TIMEOUT_S)

    def test_makes_the_missing_socket_folder_and_serves_nginx_as_nobody(self):
        folder = self.path("run/healthcheck")
        socket_path = os.path.join(folder, "healthcheck.sock")
        self.assertFalse(os.path.exists(self.path("run")))
        responder = self.start([SCRIPT], "responder.log", lambda: unix_socket_open(socket_path),
                               env=self.environment(socket_path))
        for made in (self.path("run"), folder):
            info = os.stat(made)
            self.assertEqual((info.st_uid, info.st_mode & 0o7777), (0, 0o755), made)
        info = os.stat(socket_path)
        self.assertEqual((info.st_uid, info.st_gid, info.st_mode & 0o777),
                         (self.web_uid, self.web_gid, 0o660))
        self.assertEqual(uid_of(responder.process.pid), pwd.getpwnam("nobody").pw_uid)
        port = free_port()
        self.start_nginx("unix:" + socket_path, port)  # Its workers run as www-data.
        self.assertHealthyUrl(port)
        os.unlink(self.path("app.db"))
        self.assertUnhealthyUrl(port)

    def test_missing_spawn_fcgi_is_named(self):
        socket_path = self.path("run/healthcheck.sock")
        code, errors = self.refusal(self.environment(socket_path, PATH=self.path("empty")))
        self.assertEqual((code, errors), (69, "spawn-fcgi.sh: spawn-fcgi is not installed "
                                              "(Debian: apt-get install spawn-fcgi)\n"))
        self.assertFalse(os.path.exists(self.path("run")))

    def test_missing_binary_is_named_and_nothing_is_made(self):
        socket_path = self.path("run/healthcheck.sock")
        missing = self.path("bin/healthcheck")
        code, errors = self.refusal(self.environment(socket_path, HEALTHCHECK_BINARY=missing))
        self.assertEqual((code, errors), (69, "spawn-fcgi.sh: no healthcheck program at %s "
                                              "(make install, or set HEALTHCHECK_BINARY)\n"
                                              % missing))
        self.assertFalse(os.path.exists(self.path("run")))

    def test_missing_configuration_is_named_and_nothing_is_made(self):
        socket_path = self.path("run/healthcheck.sock")
        missing = self.path("etc/healthcheck.json")
        code, errors = self.refusal(self.environment(socket_path, HEALTHCHECK_CONFIG=missing))
        self.assertEqual((code, errors), (78, "spawn-fcgi.sh: no configuration file at %s "
                                              "(copy one from conf/, or set HEALTHCHECK_CONFIG)\n"
                                              % missing))
        self.assertFalse(os.path.exists(self.path("run")))

    def test_unknown_socket_group_is_named(self):
        socket_path = self.path("run/healthcheck.sock")
        env = self.environment(socket_path, HEALTHCHECK_SOCKET_GROUP="no-such-web-group")
        code, errors = self.refusal(env)
        self.assertEqual((code, errors), (67, 'spawn-fcgi.sh: no group entry "no-such-web-group"'
                                              " on this machine (set HEALTHCHECK_SOCKET_GROUP)\n"))
        self.assertFalse(os.path.exists(self.path("run")))

    def test_not_root_is_refused(self):
        socket_path = self.path("run/healthcheck.sock")
        code, errors = self.refusal(self.environment(socket_path), user="nobody")
        self.assertEqual((code, errors), (77, "spawn-fcgi.sh: run me as root: I hand the socket "
                                              "to %s and drop to nobody\n" % WEB_USER))
        self.assertFalse(os.path.exists(self.path("run")))

    def test_a_socket_folder_another_user_could_write_is_refused(self):
        # spawn-fcgi chowns the socket by path: whoever writes the folder could
        # swap it for a symlink and have root give away any file.
        env = self.environment(self.path("unused"))
        for name, prepare in [
                ("others-writable", lambda folder: os.chmod(folder, 0o1777)),
                ("nobodys", lambda folder: os.chown(folder, pwd.getpwnam("nobody").pw_uid, -1))]:
            folder = self.path(name)
            os.mkdir(folder)
            os.chmod(folder, 0o755)
            prepare(folder)
            code, errors = self.refusal(dict(env, HEALTHCHECK_SOCKET=folder + "/hc.sock"))
            self.assertEqual(code, 73, name)
            self.assertIn("must be root's and writable by root alone", errors)
            self.assertEqual(os.listdir(folder), [])
        os.symlink(self.path("nobodys"), self.path("link"))
        code, errors = self.refusal(dict(env, HEALTHCHECK_SOCKET=self.path("link/hc.sock")))
        self.assertEqual(code, 73)
        self.assertIn("is a symlink", errors)

    def test_root_as_the_responders_user_is_refused(self):
        env = self.environment(self.path("run/hc.sock"))
        for override in ({"HEALTHCHECK_RUN_USER": "root"}, {"HEALTHCHECK_RUN_GROUP": "root"}):
            code, errors = self.refusal(dict(env, **override))
            self.assertEqual(code, 67, override)
            self.assertIn("never runs as root", errors)
