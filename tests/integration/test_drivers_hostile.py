"""A second hostile review, of the postgresql driver, the db_* settings and
the hand-over to the driver programs, against a real PostgreSQL started by
the tests. Each test pins down one defect found by the review; its
docstring says what happened, what was expected and where it comes from.

What held up is listed in the review's report, not here."""
import json
import os
import shutil
import subprocess
import time
import unittest

from tests.integration.db_servers import PASSWORD, PostgresServer
from tests.integration.driver_support import DriverCase
from tests.integration.support import BINARY, SUCCESS_BODY, TestCase

CHECK_TIMEOUT_S = 15



class PostgresqlHostile(DriverCase):
    """One PostgreSQL for the class."""

    DRIVER = "postgresql"
    SERVER = PostgresServer

    def large_objects(self):
        return int(self.db.admin_sql("SELECT count(*) FROM pg_largeobject_metadata").strip())

    def test_a_passing_query_commits_no_large_object(self):
        """DEFECT. A read-only transaction does not refuse every write:
        PostgreSQL 15 lets lo_create/lo_from_bytea write a large object in
        BEGIN READ ONLY. The driver ends a query that succeeded with COMMIT
        (postgresql_cursor.cpp, PostgresqlCursor::FirstValueIsTruthy), so
        the object stays: measured, each check adds one row to
        pg_largeobject_metadata (owned by hc, who has only SELECT on two
        tables), and the check answers healthy. Expected (issue 11: "a sql
        callable that tries to write (fails, nothing written)"): nothing
        written. The transaction has nothing to keep by design, so ROLLBACK
        instead of COMMIT undoes whatever slipped through read-only (large
        objects, pg_notify, set_config(..., false)) at no cost."""
        before = self.large_objects()
        self.addCleanup(self.db.admin_sql,
                        "SELECT lo_unlink(oid) FROM pg_largeobject_metadata")
        code, _, stderr, _ = self.check(self.config(
            callable_sql="SELECT lo_from_bytea(0, 'written by a health check') > 0"))
        self.assertEqual(self.large_objects(), before,
                         "a large object was written (check exit %d, %s)" % (code, stderr))

    def test_a_passing_query_sends_no_notification(self):
        """DEFECT. Same cause as above: pg_notify works in a read-only
        transaction and is delivered at COMMIT, so a check whose query calls
        it wakes the application's listeners (measured: psql LISTENing on
        the channel prints 'Asynchronous notification "jobs" with payload
        "from the health check"'). Expected: a check has no effect on other
        sessions; ROLLBACK drops pending notifications."""
        listener = subprocess.Popen(
            self.db._session_args() + ["-v", "ON_ERROR_STOP=0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=self.db._env())
        self.addCleanup(lambda: listener.poll() is None and (listener.kill(), listener.wait()))
        listener.stdin.write(b"LISTEN jobs;\nSELECT pg_sleep(1.5);\nSELECT 'done';\n")
        listener.stdin.flush()
        time.sleep(0.5)  # LISTEN is in effect before the check runs.
        code, stdout, stderr, _ = self.check(self.config(
            callable_sql="SELECT 1 FROM pg_notify('jobs', 'from the health check')"))
        output, _ = listener.communicate(timeout=10)
        self.assertIn(b"done", output)
        self.assertNotIn(b"from the health check", output,
                         "the check's notification reached a listener (exit %d)" % code)

    def test_a_login_warning_from_the_server_stays_out_of_stderr(self):
        """DEFECT. libpq's default notice processor prints a NOTICE or
        WARNING that arrives during the login to the process's stderr:
        IgnoreNotice is installed only once PQconnectPoll has finished
        (Connect in postgresql_cursor.cpp, after the loop), though the
        driver's own comment says notices are "not ours to log". Measured:
        a role setting the server cannot apply at login (as any ALTER ROLE
        ... SET of a text search configuration later dropped) writes
        "WARNING:  invalid value for parameter ..." to stderr on every new
        connection: every CGI request puts an unprefixed line into the web
        server's error log. A server (or anything on its port) can send
        notices without limit during the startup: measured with a fake
        server, 80 MB of "NOTICE:" lines in the 1 s the check waited.
        Expected: nothing from the server's notices on stderr; set the
        notice processor right after PQconnectStartParams."""
        self.db.admin_sql("ALTER ROLE hc IN DATABASE app SET default_text_search_config = "
                          "'pg_catalog.nonexistent'")
        self.addCleanup(self.db.admin_sql,
                        "ALTER ROLE hc IN DATABASE app RESET default_text_search_config")
        code, stdout, stderr, _ = self.check(self.config())
        self.assertEqual((code, stdout.strip()), (0, SUCCESS_BODY), stderr)
        self.assertNotIn("WARNING", stderr)

    def test_an_empty_password_file_is_not_replaced_by_the_environment(self):
        """DEFECT (minor). password_file names a file that is empty (a
        truncated deploy, a secret not yet written): the driver leaves
        libpq's "password" unset (ConnectParameters::Add skips empty
        values), so libpq takes PGPASSWORD or ~/.pgpass instead and the
        check passes with a password the configuration does not hold.
        PostgreSQL never accepts an empty password, so an empty
        password_file is always a mistake. Expected: a configuration error
        naming the empty file (or a failing check), whatever PGPASSWORD
        says; the environment only when no password is configured at all,
        as the driver's own comment says."""
        config = self.config(password="")
        code, stdout, stderr, _ = self.check(config, env=dict(os.environ, PGPASSWORD=PASSWORD))
        self.assertNotEqual((code, stdout.strip()), (0, SUCCESS_BODY),
                            "an empty password_file passed with PGPASSWORD's password")

    def test_an_env_file_saved_with_a_byte_order_mark_is_read(self):
        """DEFECT (minor). An env_file saved by an editor that writes a UTF-8
        byte order mark (Windows Notepad) has "\\ufeffdb_host" as its first
        key (ParseEnvFile, server_settings.cpp), so the first setting is
        silently lost: the check fails with "no server to check: set
        db_host in the environment or the env_file", though the file sets
        it. Expected: the mark skipped (as python-dotenv, which reads with
        utf-8-sig semantics, and clearskies' users' files), or an error
        that names the mark."""
        env_file = self.path("app.env")
        with open(env_file, "wb") as out:
            out.write(b"\xef\xbb\xbfdb_host=%s\ndb_port=%d\ndb_username=hc\n"
                      b"db_password=%s\ndb_database=app\n"
                      % (self.db.host.encode(), self.db.port, PASSWORD.encode()))
        os.chmod(env_file, 0o600)
        config = self.write_config(json.dumps({
            "services": ["cursor_backend"],
            "cursor_backend": {"driver": "postgresql", "env_file": "app.env"}}))
        code, stdout, stderr, _ = self.check(config)
        if code != 0:
            self.assertIn("byte order mark", stderr, "the BOM was neither skipped nor named")


def can_hide_proc():
    """Whether this process may run a command with /proc hidden (root, and a
    kernel that lets it make a mount namespace)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs none /proc"],
                           capture_output=True, timeout=10)
    return probe.returncode == 0


class HandOverWithoutProc(TestCase):

    @unittest.skipUnless(can_hide_proc(), "needs root and mount namespaces")
    def test_without_proc_the_hand_over_runs_no_program_from_the_current_folder(self):
        """DEFECT. ProgramFolder (driver_handover.cpp) falls back to argv[0]
        when /proc/self/exe cannot be read (a chroot or container without
        /proc), and a program started through PATH has a bare name there
        ("healthcheck"), so the folder is "." and the hand-over execs
        ./healthcheck-postgresql from the current directory: under CGI the
        script's folder, often writable by the application. Measured: a
        shell script named healthcheck-postgresql in the current folder ran
        in place of the driver program, and --check exited 0 (healthy)
        without a database. Expected: the driver program beside the
        program actually started (search PATH for a bare argv[0] as the
        shell did, or refuse with a message), never a file found relative
        to the working directory."""
        workdir = self.path("cwd")
        os.makedirs(workdir)
        marker = self.path("rogue-ran")
        rogue = os.path.join(workdir, "healthcheck-postgresql")
        with open(rogue, "w") as out:
            out.write("#!/bin/sh\ntouch %s\nexit 0\n" % marker)
        os.chmod(rogue, 0o755)
        config = self.write_config(json.dumps({
            "services": ["cursor_backend"],
            "cursor_backend": {"driver": "postgresql", "host": "127.0.0.1", "port": 9,
                               "username": "hc", "database": "app"}}))
        script = ("mount -t tmpfs none /proc && cd %s && PATH=%s:$PATH "
                  "exec healthcheck --config %s --check" % (workdir, os.path.dirname(BINARY),
                                                            config))
        completed = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                                   timeout=CHECK_TIMEOUT_S)
        self.assertFalse(os.path.exists(marker),
                         "the hand-over ran ./healthcheck-postgresql from the working folder "
                         "(exit %d)" % completed.returncode)
        self.assertNotEqual(completed.returncode, 0)


if __name__ == "__main__":
    unittest.main()
