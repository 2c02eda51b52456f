"""The README's run command (make run -> tools/serve_demo.py) serves a real
URL through nginx on the port asked for, refuses a busy one before starting
anything, and stops everything it started. make run installs only what the
demo needs; make test still installs everything."""
import os
import re
import signal
import socket
import subprocess
import sys

from tests.e2e.servers import (BINARY, REPO, ServerTestCase, free_port, http_request, port_open,
                               unix_socket_open, wait_for)

DEMO = os.path.join(REPO, "tools", "serve_demo.py")
DEMO_TIMEOUT_S = 60
# The packages only the tests need: a new operator's make run must not pull them.
TEST_ONLY_PACKAGES = {"apache2", "libapache2-mod-fcgid", "lighttpd", "haproxy", "clang",
                      "libclang-rt-14-dev", "doctest-dev"}


def make_dry_run(*args):
    """The commands `make -n ARGS` would run, with PORT unset in the
    environment so only the command line sets it."""
    env = {name: value for name, value in os.environ.items() if name != "PORT"}
    result = subprocess.run(["make", "-n", "--no-print-directory", "-C", REPO] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            timeout=DEMO_TIMEOUT_S)
    # A recipe line continued with a backslash is printed as written: one command.
    return result.returncode, result.stdout.decode().replace("\\\n", " ")


def installed_packages(commands):
    """The package lists of every tools/install_deps.sh line."""
    return [line.split("install_deps.sh", 1)[1].split() for line in commands.splitlines()
            if "tools/install_deps.sh" in line]


class DemoTest(ServerTestCase):

    def demo(self, port):
        return subprocess.run(
            [sys.executable, DEMO, "--smoke", "--port", str(port), "--binary", BINARY,
             "--folder", self.path("demo")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=DEMO_TIMEOUT_S)

    def test_smoke_serves_health_through_nginx_on_the_port_asked_and_cleans_up(self):
        port = free_port()
        result = self.demo(port)
        output = result.stdout.decode()
        self.assertEqual(result.returncode, 0, output)
        self.assertIn("healthcheck demo: nginx on 127.0.0.1:%d -> healthcheck" % port, output)
        self.assertIn('GET /health -> 200 {"status":"success"', output)
        self.assertTrue(os.path.exists(self.path("demo/app.db")))
        self.assertFalse(port_open(port))  # nginx was stopped.

    def test_busy_port_is_refused_before_anything_starts_naming_a_free_one(self):
        holder = socket.socket()
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        busy = holder.getsockname()[1]
        result = self.demo(busy)
        output = result.stdout.decode()
        self.assertEqual(result.returncode, 1, output)
        found = re.fullmatch(r"demo: 127\.0\.0\.1:%d is already in use by another program; "
                             r"nothing was started\. Pick a free port: make run PORT=(\d+) "
                             r"\(or --port \1\)\n" % busy, output)
        self.assertIsNotNone(found, output)
        suggested = int(found.group(1))
        self.assertGreater(suggested, busy)
        with socket.socket() as probe:  # The suggestion is one nginx could take.
            probe.bind(("127.0.0.1", suggested))
        self.assertFalse(os.path.exists(self.path("demo")))

    def test_a_second_demo_on_the_same_folder_is_refused_and_the_first_keeps_serving(self):
        first_port = free_port()
        first = subprocess.Popen(
            [sys.executable, DEMO, "--port", str(first_port), "--binary", BINARY,
             "--folder", self.path("demo")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)

        def stop_first():
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGINT)
                first.wait(timeout=DEMO_TIMEOUT_S)
            first.stdout.close()
        self.addCleanup(stop_first)
        wait_for(lambda: port_open(first_port), what="the first demo")
        result = self.demo(free_port())
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout.decode(), "demo: another demo is running from %s; stop it "
                         "(Ctrl-C) first, or give this one its own --folder\n" % self.path("demo"))
        self.assertEqual(http_request(first_port)[0], 200)
        # Two Ctrl-C in a row still stop everything it started.
        os.killpg(first.pid, signal.SIGINT)
        os.killpg(first.pid, signal.SIGINT)
        first.wait(timeout=DEMO_TIMEOUT_S)
        self.assertFalse(port_open(first_port))
        self.assertFalse(os.path.exists(self.path("demo/healthcheck.sock")) and
                         unix_socket_open(self.path("demo/healthcheck.sock")))

    def test_make_run_takes_only_digits_for_port_and_says_so_before_installing(self):
        code, output = make_dry_run("run", "PORT=8080; touch %s" % self.path("pwned"))
        self.assertNotEqual(code, 0)
        self.assertIn("PORT=8080; touch %s: expected a port number" % self.path("pwned"), output)
        self.assertNotIn("install_deps.sh", output)
        self.assertFalse(os.path.exists(self.path("pwned")))

    def test_make_run_passes_its_port_to_the_demo(self):
        for args, port in ((["run"], 8080), (["run", "PORT=8081"], 8081)):
            code, commands = make_dry_run(*args)
            self.assertEqual(code, 0, commands)
            demo_lines = [line for line in commands.splitlines() if "serve_demo.py" in line]
            self.assertEqual(len(demo_lines), 1, commands)
            self.assertTrue(demo_lines[0].rstrip().endswith("--port %d" % port), demo_lines[0])

    def test_make_run_installs_only_what_the_demo_needs(self):
        code, commands = make_dry_run("run")
        self.assertEqual(code, 0, commands)
        lists = installed_packages(commands)
        self.assertEqual(len(lists), 1, commands)
        self.assertEqual(TEST_ONLY_PACKAGES & set(lists[0]), set())
        for needed in ("g++", "libfcgi-dev", "rapidjson-dev", "libsqlite3-dev", "nginx-light",
                       "spawn-fcgi", "python3"):
            self.assertIn(needed, lists[0])

    def test_make_test_still_installs_every_test_package(self):
        code, commands = make_dry_run("test")
        self.assertEqual(code, 0, commands)
        lists = installed_packages(commands)
        self.assertEqual(len(lists), 1, commands)
        self.assertLessEqual(TEST_ONLY_PACKAGES | {"nginx-light", "spawn-fcgi"}, set(lists[0]))
