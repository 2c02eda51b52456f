"""The binary the tests run, and the shipped scripts they run as other
users, can be run by the unprivileged users some tests run them as (nobody,
the web server's www-data). In a checkout in a private folder (a clone under
/root, mode 0700 on Debian) they cannot: tests/run_tests.py stages copies in
a temporary folder anyone can enter, and these tests fail when the suites
run files others cannot reach."""
import os
import pwd
import stat
import subprocess
import unittest

from tests.integration.support import BINARY, run_by_others

UNPRIVILEGED_USERS = ["nobody", "www-data"]
RUN_TIMEOUT_S = 10


def folders_others_cannot_enter(path):
    """The folders from `path`'s own up to / that others may not enter."""
    closed = []
    folder = os.path.dirname(os.path.abspath(path))
    while True:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            closed.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            return closed
        folder = parent


class ReachableBinaryTest(unittest.TestCase):

    def test_every_folder_above_the_files_run_by_others_may_be_entered(self):
        for path in (BINARY, run_by_others("conf/spawn-fcgi.sh")):
            with self.subTest(path=path):
                self.assertEqual(folders_others_cannot_enter(path), [],
                                 "other users cannot reach %s: run the suites through "
                                 "tests/run_tests.py, which stages a copy they can" % path)
                self.assertTrue(os.stat(path).st_mode & stat.S_IXOTH, path + " is not 0755")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run the binary as another user")
    def test_unprivileged_users_run_the_binary(self):
        for name in UNPRIVILEGED_USERS:
            user = pwd.getpwnam(name)
            with self.subTest(user=name):
                try:
                    result = subprocess.run([BINARY, "--version"], stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, user=user.pw_uid,
                                            group=user.pw_gid, extra_groups=[],
                                            timeout=RUN_TIMEOUT_S)
                except PermissionError as error:
                    self.fail("%s cannot run %s: %s" % (name, BINARY, error))
                self.assertEqual(result.returncode, 0, result.stdout.decode(errors="replace"))


class StagingLeavesNothingTest(unittest.TestCase):
    """tests/run_tests.py removes its staging folder however it ends."""

    def stages(self):
        import glob
        import tempfile
        return set(glob.glob(os.path.join(tempfile.gettempdir(), "healthcheck-stage-*")))

    def test_a_missing_binary_leaves_no_staging_folder(self):
        before = self.stages()
        runner = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "run_tests.py")
        result = subprocess.run(["python3", runner, "--unit", "/bin/true", "--binary",
                                 "/nonexistent/healthcheck"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=RUN_TIMEOUT_S)
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(self.stages() - before, set())

    def test_sigterm_removes_the_staging_folder(self):
        before = self.stages()
        runner = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "run_tests.py")
        # The "unit tests" sleep, so the runner is mid-suite when SIGTERM comes.
        import tempfile
        scratch = tempfile.TemporaryDirectory()
        self.addCleanup(scratch.cleanup)
        sleeper = os.path.join(scratch.name, "sleeping_unit_tests")
        with open(sleeper, "w") as script:
            script.write("#!/bin/sh\nexec sleep 30\n")
        os.chmod(sleeper, 0o755)
        process = subprocess.Popen(["python3", runner, "--unit", sleeper, "--binary", BINARY,
                                    "--suite", "tests/none"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        import time
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not (self.stages() - before) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(self.stages() - before)
        process.terminate()
        process.communicate(timeout=RUN_TIMEOUT_S)
        self.assertEqual(self.stages() - before, set())
