"""What the flood shield's tests share: check programs that count their
runs, a look at the shared file's lock, CGI requests to a site of their
own, and a sample read from the metrics page."""
import fcntl
import json
import os
import re
import signal
import subprocess

from tests.integration.support import BINARY, TestCase


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
