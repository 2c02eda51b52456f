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
