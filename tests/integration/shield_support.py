"""What the flood shield's tests share: check programs that count their
runs, a look at the shared file's lock, CGI requests to a site of their
own, and a sample read from the metrics page."""
import fcntl
import glob
import json
import os
import re
import signal
import subprocess
import time

from tests.integration.support import BINARY, SUCCESS_BODY, TestCase, wait_until


def write_program(path, body):
    with open(path, "w") as out:
        out.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)


def runs_of(program):
    """How many times the counting `program` ran (it appends a line to
    PROGRAM.runs per run)."""
    try:
        with open(program + ".runs") as runs:
            return len(runs.readlines())
    except FileNotFoundError:
        return 0


def lock_is_held(path):
    """Whether some process holds the flock of the shared file `path` (a
    leader running its check)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def kill_at_cleanup(test, process):
    """Makes sure `process` (perhaps stopped with SIGSTOP) is gone when
    `test` ends."""
    def stop():
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
        process.wait(5)
    test.addCleanup(stop)


def sample(page, series):
    """The value of `series` (name and labels, exactly as written) on the
    metrics `page`."""
    match = re.search(r"^" + re.escape(series) + r" (\S+)$", page, re.MULTILINE)
    if match is None:
        raise AssertionError("%s is not on the page:\n%s" % (series, page))
    return float(match.group(1))


class CgiShieldCase(TestCase):
    """Sites whose configuration lives in a folder of the test's, asked
    through CGI processes."""

    def cgi_env(self, config, path="/health", **extra):
        env = dict(os.environ, REQUEST_METHOD="GET", SCRIPT_NAME=path, REQUEST_URI=path,
                   HEALTHCHECK_CONFIG=config)
        env.update(extra)
        return env

    def config_in(self, folder, document):
        os.makedirs(self.path(folder), exist_ok=True)
        path = os.path.join(self.path(folder), "healthcheck.json")
        with open(path, "w") as out:
            out.write(json.dumps(document))
        os.chmod(path, 0o600)
        return path

    def popen_cgi(self, config, **extra):
        process = subprocess.Popen([BINARY], env=self.cgi_env(config, **extra), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        kill_at_cleanup(self, process)
        return process

    def shared_file_of(self, config, folder):
        """The shared file `config`'s top-level check uses in `folder` (its
        name holds the configuration's fingerprint): one CGI request makes it."""
        before = set(glob.glob(os.path.join(folder, "health-*.result")))
        subprocess.run([BINARY], env=self.cgi_env(config), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=10)
        made = set(glob.glob(os.path.join(folder, "health-*.result"))) - before
        self.assertEqual(len(made), 1, made)
        return made.pop()

    def healthy_site_whose_result_file_is_gone(self):
        """A healthy cached site (/bin/true, cache_folder "shared") whose
        shared result file one request made and the test then deleted, for
        it to put something unusable in its place: (config, the file's path)."""
        shared = self.path("shared")
        os.makedirs(shared, mode=0o700)
        config = self.config_in("site", {"callable": {"command": ["/bin/true"]},
                                         "cache": {"success_ms": 1000, "failure_ms": 1000},
                                         "cache_folder": shared})
        name = self.shared_file_of(config, shared)
        os.unlink(name)
        return config, name

    def shared_result_log_lines(self, config, requests):
        """Asks `requests` healthy CGI requests of `config`; how many log
        lines they wrote about the shared result."""
        lines = 0
        for _ in range(requests):
            reply = subprocess.run([BINARY], env=self.cgi_env(config), capture_output=True, timeout=10)
            self.assertTrue(reply.stdout.endswith(SUCCESS_BODY))
            lines += len([line for line in reply.stderr.decode().splitlines() if "shared result" in line])
        return lines

    def wait_for_lock(self, folder, pattern="health-*.result"):
        self.assertTrue(wait_until(lambda: any(lock_is_held(name) for name in
                                               glob.glob(os.path.join(folder, pattern))), timeout=5),
                        "the leader never took the lock")


    def start_in_namespace(self, script, config, threads=6):
        """The FastCGI server started inside a private mount namespace after
        `script` (sh) ran there; returns (process, address, log path)."""
        address = self.path("hc.sock")
        log_path = self.path("server.log")
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                ["unshare", "-m", "sh", "-c",
                 script + ' && exec "$1" --config "$2" --listen "unix:$3" --threads ' + str(threads),
                 "sh", BINARY, config, address],
                stdout=log, stderr=log)

        def stop():
            if server.poll() is None:
                server.terminate()
                try:
                    server.wait(5)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(5)
        self.addCleanup(stop)
        self.assertTrue(wait_until(lambda: os.path.exists(address), timeout=5),
                        "server did not start: " + open(log_path).read())
        time.sleep(0.1)
        return server, address, log_path
