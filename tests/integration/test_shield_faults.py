"""Issue 13's flood shield under faults the other shield tests leave out:
a leader killed with SIGKILL in its check (a FastCGI worker, a CGI
process), processes whose boot clock differs (time namespaces, `unshare -T
--boottime`), and shared records that are well formed but must not answer
(from the future, from another boot), plus a FIFO in the file's place.

Every wait is bounded; the timing asserts leave room for a loaded machine
and the sanitizer build (what is asserted is which answer, and how many
runs, not how fast)."""
import fcntl
import glob
import json
import os
import signal
import struct
import subprocess
import threading
import time
import unittest

from tests.integration import fastcgi_wire
from tests.integration.shield_support import kill_at_cleanup, lock_is_held
from tests.integration.support import BINARY, SUCCESS_BODY, TestCase, alive, children_of, wait_until

# The record's layout (src/shared_result.cpp, struct Record then LeadMark).
RECORD_BYTES = 1080
STARTED_AT = 56
BOOT_ID_AT = 16
BOOT_ID_BYTES = 36
REASON_LENGTH_AT = 68
REASON_AT = 72
CHECKSUM_AT = 1072
MARK_AT = RECORD_BYTES
MARK_TAKEN_AT = MARK_AT + 56
MARK_CHECKSUM_AT = MARK_AT + 64
DAY_NS = 86400 * 10**9


def fnv1a(data):
    value = 14695981039346656037
    for byte in data:
        value = ((value ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return value


def record_checksum(data):
    """The record's checksum: every byte before the reason, then the
    reason's own bytes."""
    (reason_length,) = struct.unpack_from("<I", data, REASON_LENGTH_AT)
    return fnv1a(bytes(data[:REASON_AT]) + bytes(data[REASON_AT:REASON_AT + reason_length]))


def boot_now_ns():
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def uptime_s():
    with open("/proc/uptime") as uptime:
        return float(uptime.read().split()[0])


def time_namespace_problem():
    """Why this machine cannot run a process with its own boot clock, or None."""
    try:
        done = subprocess.run(["unshare", "-T", "--boottime", "1000", "cat", "/proc/uptime"],
                              capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        return "unshare -T cannot run: %s" % error
    if done.returncode != 0:
        return "unshare -T --boottime 1000 failed: " + done.stderr.decode().strip()
    shifted = float(done.stdout.split()[0])
    if shifted - uptime_s() < 900:
        return "unshare -T --boottime 1000 did not move the boot clock (%.0f s)" % shifted
    return None


TIME_NAMESPACE_PROBLEM = time_namespace_problem()


def program_text(body):
    return "#!/bin/sh\n" + body + "\n"


class ShieldFaultsBase(TestCase):

    def site(self, timeout_ms, success_ms, failure_ms, body=None):
        """A check whose program appends "PPID PID" to check.sh.runs per run,
        sleeps `slow` seconds while check.sh.slow holds a number, and is
        healthy while check.sh.healthy exists."""
        self.program = self.path("check.sh")
        with open(self.program, "w") as out:
            out.write(program_text(body or
                                   'echo "$PPID $$" >> "$0.runs"\n'
                                   'if [ -e "$0.slow" ]; then sleep "$(cat "$0.slow")"; fi\n'
                                   '[ -e "$0.healthy" ]'))
        os.chmod(self.program, 0o755)
        open(self.program + ".healthy", "w").close()
        self.shared = self.path("shared")
        os.makedirs(self.shared, mode=0o700)
        self.config = self.write_config(json.dumps({
            "callable": {"command": [self.program]}, "timeout_ms": timeout_ms,
            "cache": {"success_ms": success_ms, "failure_ms": failure_ms},
            "cache_folder": self.shared}))
        self.addCleanup(self.kill_left_checks)
        return self.config

    def runs(self):
        """(parent pid, pid) of each run of the check so far."""
        try:
            with open(self.program + ".runs") as runs:
                return [tuple(int(word) for word in line.split()) for line in runs if line.strip()]
        except FileNotFoundError:
            return []

    def kill_left_checks(self):
        """A killed leader's check program lives on (a process group of its
        own): end those this test started, by their group."""
        for _, pid in self.runs():
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def set_healthy(self, healthy):
        if healthy:
            open(self.program + ".healthy", "w").close()
        elif os.path.exists(self.program + ".healthy"):
            os.unlink(self.program + ".healthy")

    def set_slow(self, seconds):
        if seconds:
            with open(self.program + ".slow", "w") as out:
                out.write(str(seconds))
        elif os.path.exists(self.program + ".slow"):
            os.unlink(self.program + ".slow")

    def cgi_env(self):
        return dict(os.environ, REQUEST_METHOD="GET", SCRIPT_NAME="/health", REQUEST_URI="/health",
                    HEALTHCHECK_CONFIG=self.config)

    def cgi(self, prefix=(), timeout=20):
        """One CGI request (through `prefix`, e.g. unshare); (healthy, log)."""
        done = subprocess.run(list(prefix) + [BINARY], env=self.cgi_env(), capture_output=True,
                              timeout=timeout)
        return done.stdout.endswith(SUCCESS_BODY), done.stderr.decode(errors="replace")

    def shared_file(self):
        made = glob.glob(os.path.join(self.shared, "health-*.result"))
        self.assertEqual(len(made), 1, made)
        return made[0]


class KilledLeader(ShieldFaultsBase):

    def test_a_fastcgi_worker_killed_while_leading_leaves_nothing_stuck(self):
        """--workers 2 --threads 4; a slow check (30 s) led by one worker,
        requests waiting in both; SIGKILL to the leading worker (the parent
        of the running check program). The requests it was serving lose
        their connection (nothing can answer them), every other request
        answers 200 well within its own deadline, the next check starts at
        once (the dead worker's flock went with it: long before the 20 s
        check timeout after which a lead counts as stopped), the supervisor
        replaces the worker, and afterwards answers follow the check both
        ways."""
        timeout_ms = 20000
        self.site(timeout_ms, success_ms=1000, failure_ms=1000)
        server, address = self.start_server(self.config, extra_args=["--workers", "2", "--threads", "4"])
        self.assertTrue(wait_until(lambda: len(children_of(server.process.pid)) == 2, timeout=10),
                        children_of(server.process.pid))
        workers_before = children_of(server.process.pid)
        self.set_slow(30)
        outcomes = []  # (healthy or the error, seconds)

        def client():
            started = time.monotonic()
            try:
                reply = fastcgi_wire.fetch(address, timeout=timeout_ms / 1000 + 10)
                outcomes.append((SUCCESS_BODY in reply.stdout, time.monotonic() - started))
            except (OSError, ConnectionError) as error:
                outcomes.append((repr(error), time.monotonic() - started))
        clients = [threading.Thread(target=client) for _ in range(8)]
        for thread in clients:
            thread.start()
            time.sleep(0.02)
        self.assertTrue(wait_until(lambda: len(self.runs()) >= 1, timeout=10), "no check started")
        time.sleep(0.3)  # The other requests are waiting for it by now.
        self.assertEqual(len(self.runs()), 1, "single flight: one run while it is slow")
        leader = self.runs()[0][0]
        self.assertIn(leader, workers_before, "the check's parent is not a worker")
        self.assertTrue(lock_is_held(self.shared_file()))
        self.set_slow(0)
        killed_at = time.monotonic()
        os.kill(leader, signal.SIGKILL)
        # The next check starts at once: its lock went with the dead worker.
        self.assertTrue(wait_until(lambda: len(self.runs()) >= 2, timeout=5),
                        "no check ran after the leader was killed (the lock stayed held?)")
        self.assertLess(time.monotonic() - killed_at, 5)
        self.assertNotEqual(self.runs()[1][0], leader)
        for thread in clients:
            thread.join(timeout=timeout_ms / 1000 + 15)
        self.assertFalse(any(thread.is_alive() for thread in clients), "a request hung")
        self.assertEqual(len(outcomes), 8)
        answered = [outcome for outcome in outcomes if isinstance(outcome[0], bool)]
        lost = [outcome for outcome in outcomes if not isinstance(outcome[0], bool)]
        # Only a request the killed worker itself held may go unanswered; the
        # leader holds at least one, four threads at most.
        self.assertLessEqual(len(lost), 4, outcomes)
        self.assertTrue(all(healthy for healthy, _ in answered), outcomes)
        # No one waited out its deadline, nor for the dead run's 30 s: each
        # ended soon after the kill (at about 0.5 s).
        self.assertTrue(all(seconds < 15 for _, seconds in outcomes), outcomes)
        # The supervisor replaces the worker; answers are right both ways.
        self.assertTrue(wait_until(lambda: len(children_of(server.process.pid)) == 2
                                   and leader not in children_of(server.process.pid), timeout=15),
                        "the killed worker was not replaced: %s" % children_of(server.process.pid))
        self.assertFalse(alive(leader))
        for _ in range(10):
            self.assertIn(SUCCESS_BODY, fastcgi_wire.fetch(address, timeout=10).stdout)
        self.set_healthy(False)
        self.assertTrue(wait_until(lambda: SUCCESS_BODY not in fastcgi_wire.fetch(address, timeout=10).stdout,
                                   timeout=10), "a failure never showed after the kill")
        self.set_healthy(True)
        self.assertTrue(wait_until(lambda: SUCCESS_BODY in fastcgi_wire.fetch(address, timeout=10).stdout,
                                   timeout=10), "a recovery never showed after the kill")
        self.assertFalse(lock_is_held(self.shared_file()))

    def test_a_cgi_process_killed_while_leading_leaves_nothing_stuck(self):
        """A CGI process leads a slow check and is SIGKILLed; a CGI request
        already waiting for that run then runs the check itself and answers
        200 (well before its 20 s deadline), and so does a later one."""
        self.site(20000, success_ms=60000, failure_ms=60000)
        self.set_slow(30)
        leader = subprocess.Popen([BINARY], env=self.cgi_env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (leader.poll() is None and leader.kill(), leader.wait(5)))
        self.assertTrue(wait_until(lambda: len(self.runs()) == 1, timeout=10), "the leader never ran")
        self.assertEqual(self.runs()[0][0], leader.pid)
        waiter = subprocess.Popen([BINARY], env=self.cgi_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.addCleanup(lambda: (waiter.poll() is None and waiter.kill(), waiter.wait(5)))
        time.sleep(0.5)
        self.assertIsNone(waiter.poll(), "the waiter did not wait for the leader's run")
        self.set_slow(0)
        leader.kill()
        leader.wait(5)
        out, err = waiter.communicate(timeout=15)
        self.assertTrue(out.endswith(SUCCESS_BODY), "waiter answered %r; log: %s" % (out[:40], err))
        self.assertEqual(len(self.runs()), 2)
        self.assertEqual(self.runs()[1][0], waiter.pid)
        self.assertTrue(self.cgi()[0])
        self.assertEqual(len(self.runs()), 2, "the waiter's run was not shared")


class ForgedRecords(ShieldFaultsBase):
    """Records written the way the program writes them (the layout and
    checksum of src/shared_result.cpp), with times or a boot that must not
    answer. The layout is checked against a record the program made."""

    def made_record(self):
        self.assertTrue(self.cgi()[0])
        with open(self.shared_file(), "rb") as shared:
            data = bytearray(shared.read())
        self.assertGreaterEqual(len(data), RECORD_BYTES)
        self.assertEqual(struct.unpack_from("<Q", data, CHECKSUM_AT)[0], record_checksum(data),
                         "the record layout here no longer matches src/shared_result.cpp")
        return data

    def write_record(self, data, started_ns=None, boot_id=None):
        if started_ns is not None:
            struct.pack_into("<q", data, STARTED_AT, started_ns)
        if boot_id is not None:
            data[BOOT_ID_AT:BOOT_ID_AT + BOOT_ID_BYTES] = boot_id
        struct.pack_into("<Q", data, CHECKSUM_AT, record_checksum(data))
        with open(self.shared_file(), "r+b") as shared:
            shared.write(data[:RECORD_BYTES])

    def test_a_healthy_record_from_the_future_or_the_far_past_does_not_answer(self):
        """A failing check must answer 500 whatever healthy record the file
        holds, when its start is after now (another boot clock) or long
        before the window, and not serve it forever either."""
        self.site(5000, success_ms=60000, failure_ms=60000)
        data = self.made_record()
        self.set_healthy(False)
        for started in (boot_now_ns() + DAY_NS, boot_now_ns() + 10**9, boot_now_ns() - 120 * 10**9):
            self.write_record(data, started_ns=started)
            before = len(self.runs())
            healthy, log = self.cgi()
            self.assertFalse(healthy, "a healthy record started at %+.0f s answered" %
                             ((started - boot_now_ns()) / 1e9))
            self.assertEqual(len(self.runs()), before + 1)
        # A record started just now still answers (the forging is sound).
        self.write_record(data, started_ns=boot_now_ns())
        before = len(self.runs())
        self.assertTrue(self.cgi()[0])
        self.assertEqual(len(self.runs()), before)

    def test_a_record_from_another_boot_does_not_answer(self):
        """The file outlives a reboot (a cache_folder on disk): a record whose
        time reads young on this boot's clock but whose boot id is another
        boot's must not answer."""
        self.site(5000, success_ms=60000, failure_ms=60000)
        data = self.made_record()
        self.set_healthy(False)
        self.write_record(data, started_ns=boot_now_ns(), boot_id=b"00000000-0000-4000-8000-000000000000")
        healthy, _ = self.cgi()
        self.assertFalse(healthy, "a record of another boot answered")
        self.assertEqual(len(self.runs()), 2)

    def hold_lock_with_mark(self, taken_ns):
        """A stand-in for a stopped leader: holds the file's flock (until the
        test ends) under a lead mark taken at `taken_ns`."""
        with open(self.shared_file(), "rb") as shared:
            data = bytearray(shared.read())
        self.assertGreaterEqual(len(data), MARK_AT + 72, "no lead mark in the file")
        self.assertEqual(struct.unpack_from("<Q", data, MARK_CHECKSUM_AT)[0],
                         fnv1a(data[MARK_AT:MARK_CHECKSUM_AT]),
                         "the lead mark layout here no longer matches src/shared_result.cpp")
        struct.pack_into("<q", data, MARK_TAKEN_AT, taken_ns)
        struct.pack_into("<Q", data, MARK_CHECKSUM_AT, fnv1a(data[MARK_AT:MARK_CHECKSUM_AT]))
        fd = os.open(self.shared_file(), os.O_RDWR)
        self.addCleanup(os.close, fd)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.pwrite(fd, bytes(data[MARK_AT:MARK_AT + 72]), MARK_AT)

    def test_a_lead_taken_long_ago_by_a_stopped_leader_is_bypassed(self):
        """The control for the next test: a lead marked 10 s ago, past the
        check's 700 ms timeout, is a stopped leader's; the request checks
        alone and answers 200."""
        self.site(700, success_ms=1000, failure_ms=1000)
        self.assertTrue(self.cgi()[0])
        time.sleep(1.1)  # The record is stale.
        self.hold_lock_with_mark(boot_now_ns() - 10 * 10**9)
        healthy, log = self.cgi()
        self.assertTrue(healthy, log)
        self.assertEqual(len(self.runs()), 2)

    def test_a_lead_marked_in_the_future_by_a_stopped_leader_is_bypassed(self):
        """Found by the fault review, now fixed (ShieldedCheck): the
        same stopped leader, but its mark's time is after now (its boot
        clock is ahead: a time namespace; OtherBootClocks reproduces it with
        a real process). `now - taken` is negative, so the lead never looks
        overdue: the request waited out its own deadline and answered 500
        although the check is healthy, and so does every request until the
        leader goes. A mark from the future should not hold requests, as a
        record from the future does not answer them."""
        self.site(700, success_ms=1000, failure_ms=1000)
        self.assertTrue(self.cgi()[0])
        time.sleep(1.1)
        self.hold_lock_with_mark(boot_now_ns() + DAY_NS)
        healthy, log = self.cgi()
        self.assertTrue(healthy, "a healthy check failed behind a lead marked a day ahead; log: " + log)

    def test_a_fifo_in_the_files_place_neither_hangs_nor_answers(self):
        """Someone (of the same user) puts a FIFO where the shared file goes:
        opening it must not block, and each request checks alone."""
        self.site(5000, success_ms=60000, failure_ms=60000)
        self.assertTrue(self.cgi()[0])
        name = self.shared_file()
        os.unlink(name)
        os.mkfifo(name, 0o600)
        logs = []
        for run in range(3):
            started = time.monotonic()
            healthy, log = self.cgi(timeout=20)
            self.assertTrue(healthy, log)
            self.assertLess(time.monotonic() - started, 10)
            self.assertEqual(len(self.runs()), 2 + run)
            logs.append(log)
        # Said by the first, and not again within the minute (FILE.said).
        self.assertIn("not a regular file", logs[0])
        self.assertEqual(sum("not a regular file" in log for log in logs), 1, logs)


@unittest.skipIf(TIME_NAMESPACE_PROBLEM, TIME_NAMESPACE_PROBLEM)
class OtherBootClocks(ShieldFaultsBase):
    """Processes sharing one cache_folder whose CLOCK_BOOTTIME differs (a
    time namespace moves CLOCK_BOOTTIME and CLOCK_MONOTONIC only; here only
    the boot clock is moved). The wall clock is not what the shield reads:
    see test_a_wall_clock_step_is_irrelevant."""

    def ahead(self, seconds):
        return ["unshare", "-T", "--boottime", str(int(seconds))]

    def test_records_of_a_process_whose_boot_clock_is_far_ahead(self):
        """Its records are from the future for the others: never served by
        them (else one healthy run there would answer here for a day); and
        theirs are far in its past: never served by it. Worst case, the check
        runs again."""
        self.site(5000, success_ms=60000, failure_ms=60000)
        future = self.ahead(86400)
        self.assertTrue(self.cgi(future)[0])
        self.assertEqual(len(self.runs()), 1)
        self.set_healthy(False)
        healthy, log = self.cgi()
        self.assertFalse(healthy, "a healthy record from a boot clock a day ahead answered")
        self.assertEqual(len(self.runs()), 2)
        self.assertFalse(self.cgi()[0])  # Its own failure, shared: no run.
        self.assertEqual(len(self.runs()), 2)
        self.set_healthy(True)
        healthy, log = self.cgi(future)
        self.assertTrue(healthy, "a failure a day old on its clock answered: " + log)
        self.assertEqual(len(self.runs()), 3)

    def test_records_of_a_process_whose_boot_clock_is_far_behind(self):
        """A boot clock behind by most of the uptime (it cannot go below 0)."""
        behind_s = int(uptime_s()) - 30
        if behind_s < 300:
            self.skipTest("the machine has been up %.0f s: too little to set a clock far behind"
                          % uptime_s())
        self.site(5000, success_ms=60000, failure_ms=60000)
        past = self.ahead(-behind_s)
        self.assertTrue(self.cgi(past)[0])
        self.set_healthy(False)
        healthy, _ = self.cgi()
        self.assertFalse(healthy, "a healthy record %d s old on this clock answered" % behind_s)
        self.assertEqual(len(self.runs()), 2)
        healthy, _ = self.cgi(past)  # This failure is in its future: runs again.
        self.assertFalse(healthy)
        self.assertEqual(len(self.runs()), 3)

    def test_a_shared_record_answers_a_process_whose_boot_clock_is_the_same(self):
        """The control for the two above: an offset of 0 (a namespace, same
        clock) shares the result; so the runs above come from the clock."""
        self.site(5000, success_ms=60000, failure_ms=60000)
        self.assertTrue(self.cgi(self.ahead(0))[0])
        self.assertTrue(self.cgi()[0])
        self.assertEqual(len(self.runs()), 1)

    def test_a_stopped_leader_whose_boot_clock_is_ahead_does_not_fail_every_request(self):
        """Found by the fault review, now fixed (ShieldedCheck): a
        leader in a time namespace whose boot clock is ahead marks its lead
        with a time in the others' future; when it is stopped (SIGSTOP),
        `now - taken` is negative for the others, so its lead never looks
        older than the check's timeout: every other request waits out its
        own deadline and answered 500 for as long as the leader was stopped,
        though the check is healthy (test_shield_hostile's frozen leader,
        back through a clock). A mark from the future should count as
        unknown/overdue, as a record from the future does."""
        self.site(700, success_ms=1000, failure_ms=1000)
        self.set_slow(0.3)
        leader = subprocess.Popen(self.ahead(86400) + [BINARY], env=self.cgi_env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        kill_at_cleanup(self, leader)
        self.assertTrue(wait_until(lambda: glob.glob(os.path.join(self.shared, "health-*.result"))
                                   and lock_is_held(self.shared_file()), timeout=5),
                        "the leader never took the lock")
        leader.send_signal(signal.SIGSTOP)
        time.sleep(1.0)  # Past the check's 700 ms timeout.
        healthy, log = self.cgi()
        self.assertTrue(healthy, "a healthy check failed behind a stopped leader whose clock is "
                        "ahead; log: " + log)


class WallClock(ShieldFaultsBase):

    @unittest.skipUnless(os.environ.get("HEALTHCHECK_TEST_STEP_CLOCK") == "1",
                         "steps the machine's wall clock (every process's): set "
                         "HEALTHCHECK_TEST_STEP_CLOCK=1 on a machine of your own; a private wall "
                         "clock is impossible here (time namespaces leave CLOCK_REALTIME alone, and "
                         "the binary is static, out of LD_PRELOAD's reach)")
    def test_a_wall_clock_step_is_irrelevant(self):
        """A result made before the wall clock is stepped a day back (or
        forward) still answers within its window, and not after it."""
        self.site(5000, success_ms=3000, failure_ms=3000)
        server, address = self.start_server(self.config)
        self.assertIn(SUCCESS_BODY, fastcgi_wire.fetch(address, timeout=10).stdout)
        for step in (-86400, 86400):
            subprocess.run(["date", "-s", "@%d" % (time.time() + step)], check=True,
                           stdout=subprocess.DEVNULL)
            try:
                self.assertIn(SUCCESS_BODY, fastcgi_wire.fetch(address, timeout=10).stdout)
                self.assertTrue(self.cgi()[0])
                self.assertEqual(len(self.runs()), 1, "a wall clock step of %+d s ran the check" % step)
            finally:
                subprocess.run(["date", "-s", "@%d" % (time.time() - step)], check=True,
                               stdout=subprocess.DEVNULL)
        time.sleep(3.2)
        self.assertTrue(self.cgi()[0])
        self.assertEqual(len(self.runs()), 2)
