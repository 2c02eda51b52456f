"""A hostile review of issue 13's flood shield (shared_result.cpp,
AnswerShielded): each test is a reproduced way the shield lies, hangs or
misleads. They run the real binary, as CGI processes or a FastCGI server on
a unix socket, and are bounded (a few seconds each).

Every test here FAILED on the branch issue-13-wip when it was written; the
docstring of each says what goes wrong and why."""
import glob
import os
import signal
import subprocess
import threading
import time

from tests.integration import fastcgi_wire
from tests.integration.shield_support import CgiShieldCase, kill_at_cleanup, lock_is_held, runs_of, write_program
from tests.integration.support import BINARY, SUCCESS_BODY, wait_until


class ShieldHostile(CgiShieldCase):

    def start_leader(self, config, folder):
        """A CGI process that takes the lead (of a shared file in `folder`)
        and is inside its (slow) check."""
        leader = subprocess.Popen([BINARY], env=self.cgi_env(config), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)

        kill_at_cleanup(self, leader)
        self.assertTrue(wait_until(lambda: any(lock_is_held(shared_file) for shared_file in
                                               glob.glob(os.path.join(folder, "health-*.result"))),
                                   timeout=5),
                        "the leader never took the lock")
        return leader

    # ------------------------------------------------------------------
    def test_another_configuration_holding_the_same_file_makes_a_healthy_check_fail(self):
        """Two configurations (two sites, or one before and after a reload
        while an old worker still runs) with the same cache_folder use the
        same file name for their top-level check: "health.result"
        (MakeCheck names it by probe only). The fingerprint keeps their
        records apart, but NOT their lock: while A's slow check holds the
        flock, B cannot lead, waits for a record with B's fingerprint that
        never comes (StartedSince ignores A's), and answers 500 "the check
        another request is running did not end before this one's deadline"
        although B's own check (/bin/true) is healthy. A lie caused only by
        sharing a folder, which the README does not forbid (it says a record
        made by another configuration is ignored)."""
        shared = self.path("shared")
        os.makedirs(shared, mode=0o700)
        slow = self.path("slow.sh")
        write_program(slow, "sleep 4\nexit 0")
        config_a = self.config_in("a", {"callable": {"command": [slow]}, "timeout_ms": 6000,
                                        "cache": {"success_ms": 1000, "failure_ms": 1000},
                                        "cache_folder": shared})
        config_b = self.config_in("b", {"callable": {"command": ["/bin/true"]}, "timeout_ms": 800,
                                        "cache": {"success_ms": 1000, "failure_ms": 1000},
                                        "cache_folder": shared})
        self.start_leader(config_a, shared)
        started = time.monotonic()
        reply = subprocess.run([BINARY], env=self.cgi_env(config_b), capture_output=True, timeout=10)
        self.assertTrue(reply.stdout.endswith(SUCCESS_BODY),
                        "configuration B (healthy) answered %r after %.2f s; log: %s"
                        % (reply.stdout[:40], time.monotonic() - started, reply.stderr.decode()))

    # ------------------------------------------------------------------
    def test_a_frozen_leader_makes_every_request_on_the_machine_fail(self):
        """The lead is only given up when the leader's process exits. A
        leader that is stopped (SIGSTOP, a cgroup freezer, a debugger, a
        process swapped out on a thrashing machine) keeps the flock past its
        own timeout_ms, which bounds its check; nothing records when the lead
        was taken, so no waiter can tell the run is overdue and take over.
        Every other request then waits out its own deadline and answers 500,
        for as long as the leader is frozen, although the check is healthy
        (a run that cannot have lasted longer than timeout_ms is past
        waiting for)."""
        shared = self.path("shared")
        os.makedirs(shared, mode=0o700)
        program = self.path("check.sh")
        write_program(program, "sleep 0.3\nexit 0")
        config = self.config_in("site", {"callable": {"command": [program]}, "timeout_ms": 1500,
                                         "cache": {"success_ms": 1000, "failure_ms": 1000},
                                         "cache_folder": shared})
        leader = self.start_leader(config, shared)
        leader.send_signal(signal.SIGSTOP)
        time.sleep(1.8)  # The leader's run is now past its own timeout_ms (1500).
        reply = subprocess.run([BINARY], env=self.cgi_env(config), capture_output=True, timeout=10)
        self.assertTrue(reply.stdout.endswith(SUCCESS_BODY),
                        "a healthy check answered %r with the leader frozen; log: %s"
                        % (reply.stdout[:40], reply.stderr.decode()))

    # ------------------------------------------------------------------
    def test_a_waiters_own_timeout_is_not_logged_as_a_shared_result(self):
        """When a waiter gives up at its own deadline, ShieldedCheck returns
        a made-up outcome stamped "now", and AnswerShielded (ran == false)
        logs it as "unhealthy (the shared result of a check 0 ms ago): the
        check another request is running did not end ...": the log claims a
        check ran and failed 0 ms ago, which none did. The operator reading
        it looks for a failing dependency that may be healthy."""
        shared = self.path("shared")
        os.makedirs(shared, mode=0o700)
        program = self.path("check.sh")
        write_program(program, "sleep 0.3\nexit 0")
        config = self.config_in("site", {"callable": {"command": [program]}, "timeout_ms": 500,
                                         "cache": {"success_ms": 1000, "failure_ms": 1000},
                                         "cache_folder": shared})
        leader = self.start_leader(config, shared)
        leader.send_signal(signal.SIGSTOP)
        reply = subprocess.run([BINARY], env=self.cgi_env(config), capture_output=True, timeout=10)
        log = reply.stderr.decode()
        self.assertIn("did not end before this one's deadline", log)  # It did time out waiting.
        self.assertNotIn("the shared result of a check", log,
                         "a waiter's own timeout is logged as a shared result: " + log)

    # ------------------------------------------------------------------
    def test_an_unusable_shared_file_does_not_log_on_every_request(self):
        """When the shared file cannot be used (cache_folder removed, or the
        file pre-created by another user in a shared folder, or a symlink),
        AnswerShielded logs "cannot open/use the shared result ...; checking
        alone" on EVERY request, healthy ones included. Under the flood the
        shield exists for (thousands of requests a second), that is
        thousands of error lines a second in the web server's log, on top of
        the database work the shield no longer saves. It should be said
        once (or rate-limited), not per request."""
        config, name = self.healthy_site_whose_result_file_is_gone()
        os.symlink("/nonexistent-target", name)
        server, address = self.start_server(config, extra_args=["--threads", "2"])
        lines = []
        for _ in range(30):
            reply = fastcgi_wire.fetch(address, timeout=5)
            self.assertIn(SUCCESS_BODY, reply.stdout)
            # A FastCGI responder's log lines go to the request's stderr
            # (the web server's error log); the process's own log too.
            lines += [line for line in reply.stderr.decode().splitlines() if "shared result" in line]
        lines += [line for line in server.log_text().splitlines() if "shared result" in line]
        self.assertLessEqual(len(lines), 3, "%d log lines for 30 healthy answers, e.g. %r"
                             % (len(lines), lines[:1]))

    # ------------------------------------------------------------------
    def test_test_config_flags_a_cache_folder_others_may_write(self):
        """In a cache_folder others may write (/tmp, a 0777 folder), any
        local user can pre-create "health.result" (or a symlink, or a FIFO)
        before the responder does: Open refuses it (O_NOFOLLOW, owner check:
        that part holds, no answer is poisoned), but then every request
        checks alone, so any local user can silently switch the flood
        shield off and put the probe flood back on the database. The
        configuration file itself and the token file are refused when
        others may write them; --test-config only checks that the folder is
        writable by us (CheckCacheFolder), and says nothing here."""
        shared = self.path("shared")
        os.makedirs(shared)
        os.chmod(shared, 0o1777)
        config = self.config_in("site", {"callable": {"command": ["/bin/true"]},
                                         "cache": {"success_ms": 1000, "failure_ms": 1000},
                                         "cache_folder": shared})
        # What the other user does (here: nobody, uid 65534).
        squatted = self.shared_file_of(config, shared)
        os.unlink(squatted)
        open(squatted, "w").close()
        os.chown(squatted, 65534, 65534)
        result = self.run_binary(["--test-config", "--config", config])
        self.assertNotEqual(result.returncode, 0,
                            "--test-config accepts a cache_folder anyone may write in (mode 1777), "
                            "where another user has already squatted the shared file; stderr: "
                            + result.stderr.decode())
        self.assertIn(b"cache_folder", result.stderr)

    # ------------------------------------------------------------------
    def test_an_unreadable_boot_id_turns_single_flight_into_failures(self):
        """Since records carry the boot id, Read() refuses every record when
        /proc/sys/kernel/random/boot_id cannot be read (a chroot without
        /proc, as CGI on some shared hosts runs, or a hardened /proc):
        BootId() is empty. The shield then never finds a result, and
        waiters never find the run they wait for (StartedSince is always
        empty), so concurrent requests queue on the lock and run their
        checks one after another; those whose deadline passes while queued
        answer 500 "did not end before this one's deadline" although every
        check passes. Without "cache" the same requests would all answer
        200. Reproduced with a mount namespace that hides the boot id."""
        shared = self.path("shared")
        os.makedirs(shared, mode=0o700)
        program = self.path("check.sh")
        write_program(program, 'echo run >> "$0.runs"\nsleep 0.25\nexit 0')
        config = self.config_in("site", {"callable": {"command": [program]}, "timeout_ms": 900,
                                         "cache": {"success_ms": 5000, "failure_ms": 1000},
                                         "cache_folder": shared})
        empty = self.path("empty")
        open(empty, "w").close()
        server, address, log_path = self.start_in_namespace(
            'mount --bind "%s" /proc/sys/kernel/random/boot_id' % empty, config)
        replies = []

        def client():
            replies.append(fastcgi_wire.fetch(address, timeout=10).stdout)
        clients = [threading.Thread(target=client) for _ in range(6)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=15)
        failed = [reply for reply in replies if SUCCESS_BODY not in reply]
        self.assertEqual(len(replies), 6)
        self.assertEqual(failed, [], "%d of 6 answers to a healthy check failed (%d runs); log: %s"
                         % (len(failed), runs_of(program), open(log_path).read()[-600:]))
