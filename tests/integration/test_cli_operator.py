"""What an operator meets first: a configuration that is not found, a
--test-config that tries what the check will need, --check --quiet for
cron, the start line, systemd socket activation, and the socket's owner,
group and mode."""
import grp
import os
import pwd
import shutil
import socket
import stat
import subprocess

from tests.integration import fastcgi_wire
from tests.integration.support import (BINARY, FAILURE_BODY, SUCCESS_BODY, Server, TestCase,
                                       expected_bytes, make_database, wait_until)

NOT_FOUND = b"healthcheck: no configuration found (no --config, $HEALTHCHECK_CONFIG not set, no "
CGI_ENV = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET", "SCRIPT_NAME": "/health",
           "SERVER_PROTOCOL": "HTTP/1.1", "PATH": "/usr/bin:/bin"}


def as_nobody():
    os.setgroups([])
    os.setgid(pwd.getpwnam("nobody").pw_gid)
    os.setuid(pwd.getpwnam("nobody").pw_uid)


class NoConfigurationFoundTest(TestCase):
    """clearskies' "no configuration passes" stays, but never silently."""

    def binary_in_own_folder(self):
        folder = self.path("cgi-bin")
        os.mkdir(folder)
        binary = os.path.join(folder, "health.cgi")
        shutil.copy(BINARY, binary)
        return folder, binary

    def test_cgi_with_a_misnamed_configuration_answers_200_and_says_where_it_looked(self):
        folder, binary = self.binary_in_own_folder()
        with open(os.path.join(folder, "healthcheck.JSON"), "w") as misnamed:
            misnamed.write('{"services": ["cursor_backend"]}')
        env = dict(CGI_ENV, SCRIPT_FILENAME=binary)
        for _ in range(2):  # On every answer, not once.
            result = subprocess.run([binary], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, timeout=10)
            self.assertEqual(result.stdout, expected_bytes(True))
            self.assertEqual(result.stderr, NOT_FOUND + folder.encode() +
                             b"/healthcheck.json): only the program itself is checked\n")

    def test_check_says_it_found_no_configuration(self):
        folder, binary = self.binary_in_own_folder()
        result = subprocess.run([binary, "--check"], env={}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stdout, SUCCESS_BODY + b"\n")
        self.assertIn(NOT_FOUND + folder.encode(), result.stderr)

    def test_fastcgi_says_so_at_start_and_with_every_answer(self):
        folder, binary = self.binary_in_own_folder()
        address = self.path("hc.sock")
        log_path = self.path("server.log")
        with open(log_path, "wb") as log:
            server = subprocess.Popen([binary, "--listen", "unix:" + address], env={},
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.addCleanup(lambda: (server.kill(), server.wait(timeout=10)))
        wait_until(lambda: os.path.exists(address))
        for _ in range(2):
            reply = fastcgi_wire.fetch(address)
            self.assertAnswer(reply, healthy=True)
            self.assertIn(NOT_FOUND + folder.encode(), reply.stderr)
        with open(log_path, "rb") as log:
            self.assertIn(b"configuration none found; checks: none", log.read())

    def test_a_found_empty_configuration_logs_nothing(self):
        config = self.write_config("{}")
        result = self.run_binary([], env=dict(CGI_ENV, HEALTHCHECK_CONFIG=config))
        self.assertEqual(result.stdout, expected_bytes(True))
        self.assertEqual(result.stderr, b"")


class TestConfigTriesWhatTheCheckNeedsTest(TestCase):
    """--test-config opens the database read-only, prepares the query and
    looks at the command, as the user it runs as, and changes nothing."""

    def run_test_config(self, text, preexec=None):
        config = self.write_config(text)
        os.chmod(config, 0o644)
        result = subprocess.run([BINARY, "--config", config, "--test-config"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10,
                                preexec_fn=preexec)
        return result.returncode, result.stdout.decode(), result.stderr.decode()

    def assertRefused(self, text, *fragments, preexec=None, user="user root (uid 0)"):
        code, out, err = self.run_test_config(text, preexec)
        self.assertEqual(code, 78, err)
        self.assertEqual(out, "")
        for fragment in fragments:
            self.assertIn(fragment, err)
        self.assertIn("; as " + user, err)
        self.assertTrue(err.startswith(self.path("healthcheck.json") + ": "), err)

    def test_a_missing_database_is_refused_and_not_created(self):
        self.assertRefused('{"services": ["cursor_backend"],'
                           ' "cursor_backend": {"database": "app.db"}}',
                           'cursor_backend.database: cannot open "%s"' % self.path("app.db"),
                           "No such file or directory")
        self.assertFalse(os.path.exists(self.path("app.db")))

    def test_a_file_that_is_not_a_database_is_refused(self):
        with open(self.path("app.db"), "w") as text:
            text.write("these are not the pages you are looking for" * 100)
        self.assertRefused('{"services": ["cursor_backend"], "cursor_backend": {"database": "app.db"}}',
                           "cursor_backend.database:", "not a database")
        open(self.path("empty.db"), "w").close()
        self.assertRefused('{"services": ["cursor_backend"], "cursor_backend": {"database": "empty.db"}}',
                           "the file is empty, not an SQLite database")

    def test_a_database_the_user_cannot_read_is_refused_naming_the_user(self):
        make_database(self.path("app.db"))
        os.chmod(self.path("app.db"), 0o600)
        os.chmod(self.dir, 0o755)
        self.assertRefused('{"services": ["cursor_backend"], "cursor_backend": {"database": "app.db"}}',
                           "Permission denied", preexec=as_nobody,
                           user="user nobody (uid %d)" % pwd.getpwnam("nobody").pw_uid)
        # Root can: the same file passes as root.
        code, out, err = self.run_test_config('{"services": ["cursor_backend"], "cursor_backend": {"database": "app.db"}}')
        self.assertEqual((code, err), (0, ""))

    def test_queries_that_a_check_would_refuse_are_refused_now(self):
        make_database(self.path("app.db"))
        before = os.stat(self.path("app.db"))
        for sql, reason in [
                ("SELECT count(*) FROM missing_table", "no such table: missing_table"),
                ("DELETE FROM failed_jobs", "must be a read-only query that returns a row"),
                ("SELECT 1; SELECT 2", "must be a single statement"),
                ("BEGIN", "must be a read-only query that returns a row"),
                ("SELEC 1", "syntax error")]:
            self.assertRefused('{"cursor_backend": {"database": "app.db"},'
                               ' "callable": {"sql": "%s"}}' % sql, "callable.sql: ", reason)
        after = os.stat(self.path("app.db"))
        self.assertEqual((before.st_mtime_ns, before.st_size), (after.st_mtime_ns, after.st_size))
        self.assertEqual(sorted(os.listdir(self.dir)), ["app.db", "healthcheck.json"])

    def test_a_command_that_cannot_run_is_refused(self):
        self.assertRefused('{"callable": {"command": ["/nonexistent/check"]}}',
                           'callable.command: cannot run "/nonexistent/check": '
                           "No such file or directory")
        with open(self.path("check.sh"), "w") as script:
            script.write("#!/bin/sh\nexit 0\n")
        os.chmod(self.path("check.sh"), 0o644)
        self.assertRefused('{"callable": {"command": ["check.sh"]}}', "not executable")
        self.assertRefused('{"callable": {"command": ["/tmp"]}}', "not a regular file")

    def test_what_a_check_can_use_passes_and_nothing_runs(self):
        make_database(self.path("app.db"))
        code, out, err = self.run_test_config(
            '{"services": ["memory_backend", "cursor_backend"],'
            ' "cursor_backend": {"database": "app.db"},'
            ' "callable": {"sql": "SELECT count(*) = 0 FROM failed_jobs"}}')
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, self.path("healthcheck.json") +
                         ": configuration ok, tried as user root (uid 0)\n")
        marker = self.path("ran")
        with open(self.path("check.sh"), "w") as script:
            script.write("#!/bin/sh\ntouch %s\n" % marker)
        os.chmod(self.path("check.sh"), 0o755)
        code, out, err = self.run_test_config('{"callable": {"command": ["check.sh"]}}')
        self.assertEqual((code, err), (0, ""))
        self.assertFalse(os.path.exists(marker))

    def test_json_mistakes_are_named_on_their_line(self):
        code, out, err = self.run_test_config('{\n  "services": ["memory_backend"],\n}\n')
        self.assertEqual(code, 78)
        self.assertEqual(err, self.path("healthcheck.json") +
                         ":2: invalid JSON: a comma before '}'; JSON allows no trailing comma\n")


class CheckQuietTest(TestCase):

    def test_quiet_prints_nothing_when_healthy(self):
        config = self.write_config("{}")
        result = self.run_binary(["--config", config, "--check", "--quiet"])
        self.assertEqual((result.returncode, result.stdout, result.stderr), (0, b"", b""))

    def test_quiet_still_reports_a_failure(self):
        config = self.write_config('{"services": ["cursor_backend"],'
                                   ' "cursor_backend": {"database": "missing.db"}}')
        result = self.run_binary(["--config", config, "--check", "--quiet"])
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, FAILURE_BODY + b"\n")
        self.assertIn(b"healthcheck: unhealthy: cursor_backend failed", result.stderr)

    def test_quiet_needs_check(self):
        result = self.run_binary(["--quiet"])
        self.assertEqual(result.returncode, 64)
        self.assertIn(b"--quiet: only with --check", result.stderr)


class StartLineTest(TestCase):

    def test_one_line_says_what_where_which_configuration_and_checks(self):
        make_database(self.path("app.db"))
        config = self.write_config('{"services": ["memory_backend", "cursor_backend"],'
                                   ' "cursor_backend": {"database": "app.db"},'
                                   ' "callable": {"sql": "SELECT 1"}}')
        server, address = self.start_server(config, extra_args=["--threads", "2"])
        lines = server.log_text().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"^healthcheck \S+: starting FastCGI on unix:%s \(2 threads\); "
                         r"configuration %s; checks: memory_backend, cursor_backend \(database "
                         r"%s\), callable \(sql\)$" % (address, config, self.path("app.db")))


class SocketActivationTest(TestCase):
    """systemd's sd_listen_fds protocol (LISTEN_PID, LISTEN_FDS, fd 3), as
    systemd-socket-activate hands it over."""

    def activate(self, *extra):
        address = self.path("activated.sock")
        config = self.write_config('{"services": ["memory_backend"]}')
        log = open(self.path("activate.log"), "wb")
        self.addCleanup(log.close)
        process = subprocess.Popen(["systemd-socket-activate", "-l", address] + list(extra) +
                                   [BINARY, "--config", config], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=log)

        def stop():
            process.kill()
            process.wait(timeout=10)
        self.addCleanup(stop)
        wait_until(lambda: os.path.exists(address))
        return address, process

    def log_text(self):
        with open(self.path("activate.log"), "rb") as log:
            return log.read().decode(errors="replace")

    def test_the_socket_on_fd_3_is_served(self):
        address, _ = self.activate()
        for _ in range(3):
            self.assertAnswer(fastcgi_wire.fetch(address, timeout=10), healthy=True)
        wait_until(lambda: "starting FastCGI on fd 3 (systemd socket activation)" in
                   self.log_text())

    def test_two_sockets_are_refused_clearly(self):
        config = self.write_config("{}")
        process = subprocess.Popen(["systemd-socket-activate", "-l", self.path("a.sock"), "-l",
                                    self.path("b.sock"), BINARY, "--config", config],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        self.addCleanup(process.kill)
        wait_until(lambda: os.path.exists(self.path("a.sock")))
        # It starts the program on the first connection.
        with socket.socket(socket.AF_UNIX) as first:
            first.connect(self.path("a.sock"))
            _, stderr = process.communicate(timeout=20)
        self.assertEqual(process.returncode, 71, stderr)
        self.assertIn(b"LISTEN_FDS=2: expected exactly one socket", stderr)

    def test_variables_meant_for_another_process_are_ignored(self):
        config = self.write_config("{}")
        env = dict(CGI_ENV, HEALTHCHECK_CONFIG=config, LISTEN_PID="1", LISTEN_FDS="1")
        result = self.run_binary([], env=env)  # A CGI request, as it was.
        self.assertEqual(result.stdout, expected_bytes(True))


class SocketOwnerGroupModeTest(TestCase):

    def test_owner_group_and_mode_are_set_before_anyone_can_connect(self):
        config = self.write_config("{}")
        server, address = self.start_server(config, extra_args=[
            "--socket-owner", "nobody", "--socket-group", "www-data", "--socket-mode", "0660"])
        info = os.stat(address)
        self.assertEqual(info.st_uid, pwd.getpwnam("nobody").pw_uid)
        self.assertEqual(info.st_gid, grp.getgrnam("www-data").gr_gid)
        self.assertEqual(stat.S_IMODE(info.st_mode), 0o660)
        # www-data (the group) can talk to it; nobody else but the owner.
        os.chmod(self.dir, 0o755)
        probe = subprocess.run(
            ["setpriv", "--reuid=www-data", "--regid=www-data", "--clear-groups", "python3",
             "-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])",
             address], stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(probe.returncode, 0, probe.stderr)
        self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)

    def test_numbers_work_and_mode_0600_keeps_the_group_out(self):
        config = self.write_config("{}")
        server, address = self.start_server(config, extra_args=[
            "--socket-group", "33", "--socket-mode", "600"])
        info = os.stat(address)
        self.assertEqual((info.st_gid, stat.S_IMODE(info.st_mode)), (33, 0o600))

    def test_bad_values_are_usage_errors(self):
        for flags, message in [
                (["--socket-owner", "no-such-user-here"],
                 b"--socket-owner no-such-user-here: no such user on this machine"),
                (["--socket-group", "no-such-group-here"],
                 b"--socket-group no-such-group-here: no such group on this machine"),
                (["--socket-mode", "0066"], b"--socket-mode 0066: expected an octal mode"),
                (["--socket-mode", "rw-rw----"], b"--socket-mode rw-rw----: expected"),
                (["--socket-mode", "01777"], b"expected an octal mode")]:
            result = self.run_binary(["--listen", "unix:" + self.path("x.sock")] + flags)
            self.assertEqual(result.returncode, 64, flags)
            self.assertIn(message, result.stderr)
            self.assertFalse(os.path.exists(self.path("x.sock")))
        result = self.run_binary(["--listen", "127.0.0.1:0", "--socket-mode", "0660"])
        self.assertEqual(result.returncode, 64)
        self.assertIn(b"only with --listen unix:PATH", result.stderr)

    def test_a_user_who_may_not_give_the_socket_away_gets_a_clear_error(self):
        os.chmod(self.dir, 0o777)
        config = self.write_config("{}")
        os.chmod(config, 0o644)
        address = self.path("given.sock")
        result = subprocess.run([BINARY, "--config", config, "--listen", "unix:" + address,
                                 "--socket-owner", "www-data"], preexec_fn=as_nobody,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(result.returncode, 71)
        self.assertIn(("unix:%s: cannot give the socket to its owner and group (owner www-data, "
                       "the running group, mode 0660): Operation not permitted" % address).encode(),
                      result.stderr)
        self.assertFalse(os.path.exists(address))


class QueryWordsAreNotFlagsTest(TestCase):
    """RFC 3875 4.4: a web server may pass a query with no '=' as the CGI
    program's command line. Those words are the client's."""

    def test_search_words_are_ignored_and_the_request_answered(self):
        config = self.write_config("{}")
        socket_path = self.path("client-chose.sock")
        for words in (["--listen", "unix:" + socket_path], ["--version"], ["--test-config"]):
            query = "+".join(w.replace("/", "%2F") for w in words)
            result = self.run_binary(words, env=dict(CGI_ENV, HEALTHCHECK_CONFIG=config,
                                                     QUERY_STRING=query))
            self.assertEqual(result.returncode, 0)
            self.assertEqual(result.stdout, expected_bytes(True))
            self.assertFalse(os.path.exists(socket_path))

    def test_a_wrappers_own_flags_still_count(self):
        config = self.write_config('{"services": ["cursor_backend"],'
                                   ' "cursor_backend": {"database": "missing.db"}}')
        result = self.run_binary(["--config", config],
                                 env=dict(CGI_ENV, QUERY_STRING="verbose"))
        self.assertEqual(result.stdout, expected_bytes(False))


class ReviewOfTheOperatorFeaturesTest(TestCase):
    """Defects a hostile review found in the features above, each with the
    case that showed it."""

    def test_a_fifo_as_the_database_fails_at_once_in_every_mode(self):
        os.mkfifo(self.path("app.db"))
        config = self.write_config('{"services": ["cursor_backend"],'
                                   ' "cursor_backend": {"database": "app.db"}}')
        result = self.run_binary(["--config", config, "--check"], timeout=10)
        self.assertEqual(result.returncode, 1)
        self.assertIn(b'"%s": not a regular file' % self.path("app.db").encode(), result.stderr)
        result = self.run_binary(["--config", config, "--test-config"], timeout=10)
        self.assertEqual(result.returncode, 78)
        server, address = self.start_server(config, extra_args=["--threads", "1"])
        reply = fastcgi_wire.fetch(address, timeout=10)
        self.assertAnswer(reply, healthy=False)
        self.assertEqual(server.stop(), 0)

    def test_test_config_stops_on_sigterm_while_waiting_for_a_lock(self):
        make_database(self.path("app.db"))
        holder = subprocess.Popen(
            ["python3", "-c", "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], "
             "isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); "
             "time.sleep(30)", self.path("app.db")], stdout=subprocess.PIPE)
        self.addCleanup(lambda: (holder.kill(), holder.wait()))
        self.assertEqual(holder.stdout.readline(), b"locked\n")
        config = self.write_config('{"timeout_ms": 20000, "services": ["cursor_backend"],'
                                   ' "cursor_backend": {"database": "app.db", "timeout_ms": 20000}}')
        tester = subprocess.Popen([BINARY, "--config", config, "--test-config"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(tester.kill)
        wait_until(lambda: tester.poll() is None and os.path.exists("/proc/%d" % tester.pid))
        import time
        time.sleep(0.3)
        tester.terminate()
        tester.wait(timeout=5)  # Before: it ran out its 20 s busy timeout.
        self.assertEqual(tester.returncode, -15)

    def test_an_unused_database_is_no_problem_for_test_config(self):
        config = self.write_config('{"services": ["memory_backend"],'
                                   ' "cursor_backend": {"database": "missing.db"}}')
        self.assertEqual(self.run_binary(["--config", config, "--check"]).returncode, 0)
        self.assertEqual(self.run_binary(["--config", config, "--test-config"]).returncode, 0)

    def test_scripts_the_kernel_cannot_start_are_refused(self):
        for name, text, reason in [
                ("bad-interpreter.sh", "#!/nonexistent/interp\nexit 0\n",
                 b"its interpreter /nonexistent/interp: No such file or directory"),
                ("no-shebang.sh", "exit 0\n", b"neither a program nor a script with a #! line"),
                ("empty-shebang.sh", "#!\nexit 0\n", b"its #! line names no interpreter")]:
            with open(self.path(name), "w") as script:
                script.write(text)
            os.chmod(self.path(name), 0o755)
            config = self.write_config('{"callable": {"command": ["%s"]}}' % name)
            result = self.run_binary(["--config", config, "--test-config"])
            self.assertEqual(result.returncode, 78, name)
            self.assertIn(reason, result.stderr)
            # And the check itself fails too: they agree.
            self.assertEqual(self.run_binary(["--config", config, "--check"]).returncode, 1)

    def test_a_dangling_link_beside_the_program_is_not_no_configuration(self):
        folder = self.path("cgi-bin")
        os.mkdir(folder)
        shutil.copy(BINARY, os.path.join(folder, "health.cgi"))
        os.symlink("/nonexistent/healthcheck.json", os.path.join(folder, "healthcheck.json"))
        result = subprocess.run([os.path.join(folder, "health.cgi"), "--test-config"], env={},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(result.returncode, 78)
        self.assertIn(b"healthcheck.json: cannot read the configuration: No such file or directory",
                      result.stderr)

    def test_notice_says_an_empty_variable_is_empty(self):
        folder = self.path("cgi-bin")
        os.mkdir(folder)
        shutil.copy(BINARY, os.path.join(folder, "health.cgi"))
        result = subprocess.run([os.path.join(folder, "health.cgi"), "--check"],
                                env={"HEALTHCHECK_CONFIG": ""}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=10)
        self.assertIn(b"$HEALTHCHECK_CONFIG empty, no " + folder.encode() + b"/healthcheck.json)",
                      result.stderr)
        result = self.run_binary([], env=dict(CGI_ENV, SCRIPT_FILENAME="/"))
        self.assertIn(b", no /healthcheck.json)", result.stderr)

    def test_start_line_counts_in_words_and_reload_names_the_new_checks(self):
        config = self.write_config('{"services": ["memory_backend"]}')
        server, address = self.start_server(config, extra_args=["--threads", "1"])
        wait_until(lambda: "(1 thread); configuration" in server.log_text())
        with open(config, "w") as new:
            new.write('{"callable": {"command": ["/bin/true"]}}')
        server.process.send_signal(__import__("signal").SIGHUP)
        wait_until(lambda: "configuration reloaded" in server.log_text())
        self.assertIn("healthcheck: reloading %s; checks: callable (command /bin/true)" % config,
                      server.log_text())

    def test_a_wal_database_whose_shm_cannot_be_made_says_so(self):
        import sqlite3
        writer = sqlite3.connect(self.path("live.db"))
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE t (a)")
        writer.commit()
        folder = self.path("readonly")
        os.mkdir(folder)
        # A crashed writer's files, without the -shm, in a folder nobody may write.
        shutil.copy(self.path("live.db"), os.path.join(folder, "app.db"))
        shutil.copy(self.path("live.db-wal"), os.path.join(folder, "app.db-wal"))
        writer.close()
        for name in ("app.db", "app.db-wal"):
            os.chmod(os.path.join(folder, name), 0o644)
        os.chmod(folder, 0o555)
        os.chmod(self.dir, 0o755)
        config = self.write_config('{"services": ["cursor_backend"],'
                                   ' "cursor_backend": {"database": "readonly/app.db"}}')
        os.chmod(config, 0o644)
        result = subprocess.run([BINARY, "--config", config, "--check"], preexec_fn=as_nobody,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"the file is there: its -wal or -shm file could not be opened or made",
                      result.stderr)


class FailureStatusTest(TestCase):
    """"failure_status": 503 (what load balancer guides use): the status
    line changes, the envelope stays byte for byte."""

    def test_fastcgi_cgi_and_check_answer_503_with_the_failure_envelope(self):
        config = self.write_config('{"failure_status": 503, "services": ["cursor_backend"],'
                                   ' "cursor_backend": {"database": "missing.db"}}')
        server, address = self.start_server(config)
        reply = fastcgi_wire.fetch(address)
        self.assertTrue(reply.stdout.startswith(b"Status: 503 Service Unavailable\r\n"))
        self.assertTrue(reply.stdout.endswith(b"\r\n\r\n" + FAILURE_BODY))
        result = self.run_binary([], env=dict(CGI_ENV, HEALTHCHECK_CONFIG=config))
        self.assertEqual(result.stdout, expected_bytes(False).replace(
            b"500 Internal Server Error", b"503 Service Unavailable"))
        result = self.run_binary(["--config", config, "--check"])
        self.assertEqual((result.returncode, result.stdout), (1, FAILURE_BODY + b"\n"))
        make_database(self.path("missing.db"))
        self.assertAnswer(fastcgi_wire.fetch(address), healthy=True)

