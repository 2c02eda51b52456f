"""Every code block of README.md, run for real (issue 10).

(a) Every code block is fenced (never indented), and the line before it is
    a marker:
      <!-- same as PATH -->                 the block is that shipped file, which
                                            its own e2e test runs;
      <!-- tested by test_readme: NAME -->  a test here runs the block
                                            (BLOCK_TESTS says which).
(b) Every JSON configuration in it loads with `healthcheck --test-config`,
    with the database (and the program) it names made for it.

A recipe runs as an operator pastes it into bash on a Debian 12 machine,
from the checkout, on a stand-in for that machine in the test's temp folder:
- Every absolute path under /etc, /run, /var, /srv, /home and /usr/local,
  in the blocks and in the shipped files they copy, is moved into the temp
  folder (/etc/healthcheck -> TMP/etc/healthcheck). Debian's own /etc/nginx,
  /etc/apache2 and /etc/lighttpd are copied there as the packages installed
  them, with their paths moved, and listening on a free 127.0.0.1 port
  instead of 80; URLs to localhost and example.com go to that port.
- `sudo` runs the command as root (the tests run as root), `sudo -u USER`
  through setpriv. `apt-get install` checks that the packages are installed
  (make deps installs them) instead of installing. a2enmod and a2enconf run
  on the copy (APACHE_CONFDIR), lighty-enable-mod too (its folder moved).
  `git pull` and `make` stand for a build: the binary under test is theirs.
- systemd does not run here: `systemctl` calls are recorded, then played
  after the block. A web server starts (or restarts) on its copied
  configuration. healthcheck.socket is played as test_systemd_units plays it
  (the socket made as the unit says, the service's ExecStart run on it with
  no variables of ours, as nobody standing for its dynamic user); reload and
  restart use the unit's ExecReload and KillSignal.
Docker and Kubernetes are not installed either: the HEALTHCHECK's COPY lines
are played as copies and its command is run; the probe's path and port are
checked against the nginx location and the port Debian's site listens on,
and a real nginx answers a GET there.
Every process a test starts is stopped by its cleanups, and any left that
runs a program from its temp folder is killed by pid.
"""
import configparser
import grp
import importlib
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys

from tests.e2e.servers import (BINARY, FAILURE_BODY, REPO, SUCCESS_BODY, ProbeTestCase,
                               free_port, http_request, make_database, port_open, read_text,
                               unix_socket_open, wait_for)
from tests.e2e.test_demo import make_dry_run
from tests.integration import fastcgi_wire
from tests.integration.support import expected_bytes

README = os.path.join(REPO, "README.md")
SCRIPT_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10
# Who stands for systemd's dynamic user and for the nagios user: no rights of
# their own either.
UNPRIVILEGED_USER, UNPRIVILEGED_GROUP = "nobody", "nogroup"
# What systemd gives a service: no variables of ours.
SERVICE_ENVIRONMENT = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
# The database the recipes name, made by the tests as the application's.
APP_DATABASE = "/var/lib/myapp/app.db"
APP_CONFIG = "/etc/healthcheck/healthcheck.json"
DEFAULT_TIMEOUT_MS = 2000
# The folders every Debian 12 has (base-files), under the moved prefixes.
DEBIAN_BASE_FOLDERS = ["/etc/systemd/system", "/etc/cron.d", "/run/lock", "/var/lib", "/var/log",
                       "/var/cache", "/home", "/srv", "/usr/local/bin", "/usr/local/sbin"]

# An application writing to its WAL database, then holding it open.
WAL_WRITER = """import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA journal_mode=WAL")
connection.execute("INSERT INTO failed_jobs DEFAULT VALUES")
connection.execute("DELETE FROM failed_jobs")
print("written", flush=True)
time.sleep(30)
"""

# Each marker name, and the tests that run its block.
BLOCK_TESTS = {
    "log-line": ["test_log_line_is_what_a_missing_database_logs"],
    "make-run": ["test_make_run_is_the_demo_test_demo_runs"],
    "make-test": ["test_make_test_is_what_ci_runs"],
    "install": ["test_nginx_with_systemd", "test_nginx_with_spawn_fcgi",
                "test_apache_mod_proxy_fcgi", "test_apache_mod_fcgid", "test_lighttpd"],
    "systemd": ["test_nginx_with_systemd", "test_apache_mod_proxy_fcgi"],
    "nginx": ["test_nginx_with_systemd", "test_nginx_with_spawn_fcgi"],
    "nginx-server": ["test_nginx_with_systemd", "test_nginx_with_spawn_fcgi"],
    "nginx-reload": ["test_nginx_with_systemd", "test_nginx_with_spawn_fcgi"],
    "try": ["test_nginx_with_systemd", "test_nginx_with_spawn_fcgi",
            "test_apache_mod_proxy_fcgi", "test_apache_mod_fcgid", "test_lighttpd"],
    "spawn-fcgi": ["test_nginx_with_spawn_fcgi"],
    "start-line": ["test_nginx_with_spawn_fcgi"],
    "apache-proxy-fcgi": ["test_apache_mod_proxy_fcgi"],
    "apache-fcgid": ["test_apache_mod_fcgid"],
    "lighttpd": ["test_lighttpd"],
    "shared-hosting": ["test_shared_hosting"],
    "try-shared-hosting": ["test_shared_hosting"],
    "docker": ["test_docker_healthcheck"],
    "kubernetes": ["test_kubernetes_probe"],
    "cron": ["test_cron"],
    "nagios": ["test_nagios"],
    "config-command": ["test_json_examples_pass_test_config"],
    "config-cache": ["test_json_examples_pass_test_config"],
    "config-metrics": ["test_json_examples_pass_test_config"],
    "db-env-file": ["test_database_examples_pass_on_real_servers"],
    "db-log-line": ["test_database_examples_pass_on_real_servers"],
    "config-mistake": ["test_config_mistake_is_named_on_its_line"],
    "health-json": ["test_health_json_example_is_what_the_binary_writes"],
    "test-config-denied": ["test_test_config_says_as_whom"],
    "reload": ["test_reload_and_upgrade_under_systemd"],
    "upgrade": ["test_reload_and_upgrade_under_systemd"],
    # Run in a throwaway Debian root with the package installed.
    "package-build": ["tests.e2e.test_deb.DebianPackageTest.test_file_name_and_version_come_from_version_h"],
    "package-install": ["tests.e2e.test_deb.DebianPackageTest.test_installs_and_creates_its_user"],
    "package-enable": ["tests.e2e.test_deb.DebianPackageTest.test_readme_enables_the_socket"],
    "package-nginx": ["tests.e2e.test_deb.DebianPackageTest.test_readme_web_server_steps"],
    "package-apache": ["tests.e2e.test_deb.DebianPackageTest.test_readme_web_server_steps"],
}

# --- Reading the README -----------------------------------------------------

MARKER = re.compile(r"<!-- (?:same as (?P<file>\S+)|tested by test_readme: (?P<name>[\w-]+)) -->")
FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([\w-]*)\s*$")


class Block:
    def __init__(self, line, info, text, marker):
        self.line, self.info, self.text = line, info, text
        found = MARKER.fullmatch(marker.strip())
        self.file = found.group("file") if found else None
        self.name = found.group("name") if found else None


def parse_markdown(text):
    """(fenced blocks, problems): an indented code block or an unclosed
    fence is a problem."""
    lines = text.split("\n")
    blocks, problems = [], []
    previous, previous_blank = "", True
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = FENCE.match(line)
        if fence:
            indent, mark, info = len(fence.group(1)), fence.group(2), fence.group(3)
            start, body = index + 1, []
            index += 1
            while index < len(lines) and not re.fullmatch(
                    r" {0,3}%s%s*\s*" % (re.escape(mark), re.escape(mark[0])), lines[index]):
                row = lines[index]
                body.append(row[indent:] if row[:indent].strip() == "" else row)
                index += 1
            if index == len(lines):
                problems.append("line %d: a fence that is never closed" % start)
            blocks.append(Block(start, info, "\n".join(body) + "\n", previous))
            previous, previous_blank = "", False
        elif line.strip() == "":
            previous_blank = True
        else:
            if previous_blank and (line.startswith("    ") or line.startswith("\t")):
                problems.append("line %d: an indented code block (fence it, with a marker): %r"
                                % (index + 1, line.strip()))
            previous, previous_blank = line, False
        index += 1
    return blocks, problems


def readme_blocks():
    with open(README) as readme:
        return parse_markdown(readme.read())[0]


def block(name):
    """The text of the blocks marked NAME (several must be identical)."""
    texts = {found.text for found in readme_blocks() if found.name == name}
    if len(texts) != 1:
        raise AssertionError("README: %d different blocks named %r" % (len(texts), name))
    return texts.pop()


def find_test(case, name):
    """A test of `case` by its name, or of another module by its dotted one."""
    if "." not in name:
        return getattr(case, name, None)
    module, cls, method = name.rsplit(".", 2)
    return getattr(getattr(importlib.import_module(module), cls, None), method, None)


def heredocs(script):
    """{target: text} of every `... TARGET <<'EOF'` here-document."""
    found = {}
    for match in re.finditer(r"(\S+)\s*(?:>/dev/null\s*)?<<'EOF'\n(.*?)^EOF$", script,
                             re.MULTILINE | re.DOTALL):
        found[match.group(1)] = match.group(2)
    return found


def json_configs():
    """Every JSON configuration the README shows: json blocks, and the JSON
    files its shell blocks write."""
    configs = []
    for found in readme_blocks():
        if found.info == "json":
            configs.append((found.name or found.file, found.text))
        elif found.info == "sh":
            configs += [(found.name, text) for target, text in heredocs(found.text).items()
                        if target.endswith(".json")]
    return configs


# --- The stand-in machine ---------------------------------------------------

MOVED_PATH = re.compile(r"(?<![\w.@/~])(?:/(?:etc|run|var|srv|home)|/usr/local)(?=/)")

PRELUDE = r"""umask 022
ROOT=%(root)s
PATH="$ROOT/usr/local/sbin:$ROOT/usr/local/bin:/usr/local/sbin:/usr/local/bin"
export PATH="$PATH:/usr/sbin:/usr/bin:/sbin:/bin"
export APACHE_CONFDIR="$ROOT/etc/apache2" APACHE_STATE_DIRECTORY="$ROOT/var/lib/apache2"
sudo() {
  if [ "$1" = -u ]; then
    local user=$2 program
    shift 2
    program=$(command -v "$1")
    shift
    setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --init-groups "$program" "$@"
  else
    "$@"
  fi
}
apt-get() {
  [ "$1" = install ] || { echo "stand-in apt-get: only install" >&2; return 1; }
  shift
  local package
  for package in "$@"; do
    dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q 'install ok installed' ||
      { echo "stand-in apt-get: $package is not installed on this machine" >&2; return 1; }
  done
}
systemctl() { echo "$*" >> "$ROOT/.stand-in/systemctl"; }
nginx() { command nginx -c "$ROOT/etc/nginx/nginx.conf" -e "$ROOT/var/log/nginx/error.log" "$@"; }
lighty-enable-mod() { perl "$ROOT/.stand-in/lighty-enable-mod" "$@"; }
git() { [ "$*" = pull ] && echo "stand-in git: $*"; }
make() { [ "$*" = clean ] || [ "$*" = "" ] && echo "stand-in make: $*"; }
set -e
"""


def without_duration(log):
    return re.sub(r"after [0-9.]+ ms", "after N ms", log)


def machine_environment():
    """The test's environment without the test runner's HEALTHCHECK_* variables."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith("HEALTHCHECK_")}


def read_unit(path):
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(path)
    return unit


def kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait(timeout=STOP_TIMEOUT_S)


class ReadmeTest(ProbeTestCase):

    def setUp(self):
        super().setUp()
        self.root = self.dir
        self.port = free_port()
        self.web_servers = {}
        self.service = None
        os.makedirs(self.path(".stand-in"))
        self.addCleanup(self.kill_programs_of_the_stand_in)
        for folder in DEBIAN_BASE_FOLDERS:
            self.make_folder(folder)
        os.symlink("../run", self.moved("/var/run"))  # As on Debian.
        os.symlink("../run/lock", self.moved("/var/lock"))
        shutil.copy("/etc/mime.types", self.moved("/etc/mime.types"))  # Read by Apache.

    # -- paths and files

    def moved(self, absolute):
        return self.root + absolute

    def move(self, text):
        return MOVED_PATH.sub(lambda found: self.root + found.group(0), text)

    def unmove(self, text):
        return text.replace(self.root, "")

    def move_file(self, path):
        with open(path, "rb") as source:
            data = source.read()
        if b"\0" in data:
            return
        with open(path, "wb") as out:
            out.write(self.move(data.decode("utf-8", "surrogateescape"))
                      .encode("utf-8", "surrogateescape"))

    def make_folder(self, absolute, mode=0o755, user="root", group="root"):
        """A folder of the machine, and its missing parents (0755, root's)."""
        path = self.moved(absolute)
        parts = absolute.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            folder = self.moved("/" + "/".join(parts[:depth]))
            if not os.path.isdir(folder):
                os.mkdir(folder)
                os.chmod(folder, 0o755)
        os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
        os.chmod(path, mode)
        return path

    def make_app_database(self):
        self.make_folder(os.path.dirname(APP_DATABASE))
        path = self.moved(APP_DATABASE)
        make_database(path)
        os.chmod(path, 0o644)
        return path

    def stage_checkout(self):
        """The checkout the commands run in: the shipped files (with their
        paths moved) and build/healthcheck (the binary under test)."""
        checkout = self.path("checkout")
        for folder in ("conf", "nginx"):
            shutil.copytree(os.path.join(REPO, folder), os.path.join(checkout, folder))
        for folder, _, names in os.walk(checkout):
            for name in names:
                self.move_file(os.path.join(folder, name))
        os.makedirs(os.path.join(checkout, "build"))
        shutil.copy(BINARY, os.path.join(checkout, "build", "healthcheck"))
        os.chmod(os.path.join(checkout, "build", "healthcheck"), 0o755)
        return checkout

    def copy_debian_config(self, name):
        """/etc/NAME as the package installed it, its paths moved."""
        source, target = "/etc/" + name, self.moved("/etc/" + name)
        self.assertTrue(os.path.isdir(source), source + " is missing: is the package installed?")
        shutil.copytree(source, target, symlinks=True)
        for folder, _, names in os.walk(target):
            for name_in_folder in names:
                path = os.path.join(folder, name_in_folder)
                if os.path.islink(path):
                    link = os.readlink(path)
                    if MOVED_PATH.match(link):
                        os.unlink(path)
                        os.symlink(self.move(link), path)
                elif os.path.isfile(path):
                    self.move_file(path)
        return target

    def edit(self, path, old, new, count=1):
        with open(path) as source:
            text = source.read()
        self.assertEqual(text.count(old), count, "%r in %s" % (old, path))
        with open(path, "w") as out:
            out.write(text.replace(old, new))

    def machine_with_nginx(self):
        nginx = self.copy_debian_config("nginx")
        site = os.path.join(nginx, "sites-available", "default")
        self.edit(site, "listen 80 default_server;",
                  "listen 127.0.0.1:%d default_server;" % self.port)
        self.edit(site, "listen [::]:80 default_server;", "")
        self.make_folder("/var/log/nginx")
        self.make_folder("/var/www/html")

    def machine_with_apache(self):
        apache = self.copy_debian_config("apache2")
        self.edit(os.path.join(apache, "ports.conf"), "\nListen 80\n",
                  "\nListen 127.0.0.1:%d\n" % self.port)
        self.edit(os.path.join(apache, "sites-available", "000-default.conf"),
                  "<VirtualHost *:80>", "<VirtualHost *:%d>" % self.port)
        for folder in ("/var/log/apache2", "/var/www/html", "/var/lib/apache2"):
            self.make_folder(folder)
        # mod_fcgid's compiled-in folder (/var/lib/apache2/fcgid) is the
        # machine's: this one is the stand-in's.
        fcgid = self.make_folder("/var/lib/apache2/fcgid", user="www-data", group="www-data")
        with open(os.path.join(apache, "conf-enabled", "zz-stand-in.conf"), "w") as out:
            out.write("<IfModule fcgid_module>\nFcgidIPCDir %s/sock\n"
                      "FcgidProcessTableFile %s/shm\n</IfModule>\n" % (fcgid, fcgid))

    def machine_with_lighttpd(self):
        lighttpd = self.copy_debian_config("lighttpd")
        config = os.path.join(lighttpd, "lighttpd.conf")
        with open(config) as source:
            text = source.read()
        text, ports = re.subn(r"(?m)^server\.port\s*=\s*80$",
                              'server.port = %d\nserver.bind = "127.0.0.1"' % self.port, text)
        self.assertEqual(ports, 1, config)
        # Not [::]:80 as well: only the test's port.
        text = re.sub(r"(?m)^include_shell \"/usr/share/lighttpd/use-ipv6.pl.*$", "", text)
        with open(config, "w") as out:
            out.write(text)
        # The folders Debian's tmpfiles.d makes for lighttpd at every boot.
        with open("/usr/lib/tmpfiles.d/lighttpd.tmpfile.conf") as tmpfiles:
            for line in tmpfiles:
                words = line.split()
                if len(words) >= 5 and words[0] == "d":
                    self.make_folder(words[1], int(words[2], 8), words[3], words[4])
        self.make_folder("/var/www/html")
        with open("/usr/sbin/lighty-enable-mod") as script:
            text = script.read()
        old = 'my $confdir = "/etc/lighttpd/";'
        self.assertIn(old, text)
        with open(self.path(".stand-in/lighty-enable-mod"), "w") as out:
            out.write(text.replace(old, 'my $confdir = "%s/";' % lighttpd))

    # -- running blocks

    def run_block(self, name, succeeds=True):
        """Runs README block NAME in bash, in the checkout, on the stand-in; plays
        the systemctl calls it made; returns its output. A command it left in
        the background keeps running until the test ends."""
        script = self.move(block(name))
        script = re.sub(r"https?://(localhost|example\.com)/",
                        "http://127.0.0.1:%d/" % self.port, script)
        path = self.path(".stand-in/%s.sh" % name)
        with open(path, "w") as out:
            out.write(PRELUDE % {"root": shlex.quote(self.root)} + script)
        output_path = self.path(".stand-in/%s.out" % name)
        output = open(output_path, "wb")
        self.addCleanup(output.close)
        process = subprocess.Popen(["bash", path], cwd=self.checkout,
                                   stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, env=machine_environment(),
                                   start_new_session=True)
        self.addCleanup(kill_group, process)
        code = process.wait(timeout=SCRIPT_TIMEOUT_S)
        text_out = read_text(output_path)
        self.assertEqual(code == 0, succeeds, "README block %r exited %d:\n%s"
                         % (name, code, text_out))
        self.play_systemctl()
        return text_out

    def install(self):
        """The Install recipe, on a machine with the application's database."""
        self.make_app_database()
        self.checkout = self.stage_checkout()
        output = self.run_block("install")
        nobody = pwd.getpwnam(UNPRIVILEGED_USER).pw_uid
        self.assertIn("%s: configuration ok, tried as user nobody (uid %d)\n"
                      % (self.moved(APP_CONFIG), nobody), output)

    def kill_programs_of_the_stand_in(self):
        """Any process still running a program from the temp folder (one a web
        server spawned, say) is ours: killed by pid."""
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                program = os.readlink("/proc/%s/exe" % entry)
            except OSError:
                continue
            if program.startswith(self.root + "/"):
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # -- systemd, played

    def play_systemctl(self):
        calls_path = self.path(".stand-in/systemctl")
        if not os.path.exists(calls_path):
            return
        with open(calls_path) as calls:
            lines = calls.read().splitlines()
        os.unlink(calls_path)
        for line in lines:
            words = line.split()
            if words == ["daemon-reload"]:
                continue
            if words == ["enable", "--now", "healthcheck.socket"]:
                self.start_socket_unit()
                continue
            self.assertEqual(len(words), 2, "systemctl " + line)
            verb, unit = words[0], words[1].replace(".service", "")
            if unit in ("nginx", "apache2", "lighttpd") and verb in ("reload", "restart"):
                self.start_web_server(unit)
            elif unit == "healthcheck" and verb == "reload":
                self.reload_service()
            elif unit == "healthcheck" and verb == "restart":
                self.stop_service()
                self.start_service()
            else:
                self.fail("systemctl %s: not played by this test" % line)

    def unit(self, name):
        path = self.moved("/etc/systemd/system/" + name)
        self.assertTrue(os.path.isfile(path), path)
        return read_unit(path)

    def start_socket_unit(self):
        settings = self.unit("healthcheck.socket")["Socket"]
        address = settings["ListenStream"]
        self.assertTrue(address.startswith(self.root + "/run/"), address)
        mode = int(settings["DirectoryMode"], 8)
        missing, folder = [], os.path.dirname(address)
        while not os.path.isdir(folder):
            missing.append(folder)
            folder = os.path.dirname(folder)
        for folder in reversed(missing):
            os.mkdir(folder)
            os.chmod(folder, mode)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(address)
        os.chown(address, pwd.getpwnam(settings["SocketUser"]).pw_uid,
                 grp.getgrnam(settings["SocketGroup"]).gr_gid)
        os.chmod(address, int(settings["SocketMode"], 8))
        listener.listen(64)
        self.listener, self.socket_address = listener, address
        self.start_service()

    def start_service(self):
        settings = self.unit("healthcheck.service")["Service"]
        self.assertEqual(settings["StandardInput"], "socket")
        journal = open(self.path(".stand-in/journal"), "ab")
        self.addCleanup(journal.close)
        self.service = subprocess.Popen(
            shlex.split(settings["ExecStart"]), stdin=self.listener.fileno(), stdout=journal,
            stderr=journal, env=SERVICE_ENVIRONMENT, user=UNPRIVILEGED_USER,
            group=UNPRIVILEGED_GROUP, extra_groups=[], start_new_session=True)
        self.addCleanup(kill_group, self.service)

    def reload_service(self):
        settings = self.unit("healthcheck.service")["Service"]
        command = settings["ExecReload"].replace("$MAINPID", str(self.service.pid))
        subprocess.run(shlex.split(command), check=True, timeout=STOP_TIMEOUT_S)

    def stop_service(self):
        settings = self.unit("healthcheck.service")["Service"]
        self.service.send_signal(getattr(signal, settings["KillSignal"]))
        self.assertEqual(self.service.wait(timeout=STOP_TIMEOUT_S), 0)
        kill_group(self.service)  # As the cgroup goes: its workers too.

    def start_web_server(self, name):
        """Starts (or restarts) a web server on the stand-in's configuration,
        as its package's systemd unit would."""
        if name in self.web_servers:
            self.web_servers.pop(name).stop()
        env, stop = machine_environment(), signal.SIGTERM
        if name == "nginx":
            args = ["nginx", "-c", self.moved("/etc/nginx/nginx.conf"),
                    "-e", self.moved("/var/log/nginx/error.log"), "-g", "daemon off;"]
            stop = signal.SIGQUIT
        elif name == "apache2":
            args = ["apache2ctl", "-DFOREGROUND"]
            env["APACHE_CONFDIR"] = self.moved("/etc/apache2")
        else:
            args = ["lighttpd", "-D", "-f", self.moved("/etc/lighttpd/lighttpd.conf")]
        try:
            self.web_servers[name] = self.start(args, name + ".out",
                                                lambda: port_open(self.port), env=env,
                                                stop_signal=stop)
        except AssertionError as failure:
            log = self.moved("/var/log/%s/error.log" % name)
            raise AssertionError("%s\n%s: %s" % (failure, log, read_text(log))) from None

    # -- checks

    def assertTryAnswersHealthy(self):
        output = self.run_block("try")
        self.assertIn("HTTP/1.1 200 OK", output)
        self.assertIn(SUCCESS_BODY.decode(), output)

    def assertReasonLogged(self, log, path="/health"):
        """With the database gone, the URL answers 500 and the reason is in `log`."""
        os.unlink(self.moved(APP_DATABASE))
        status, _, body = http_request(self.port, path)
        self.assertEqual((status, body), (500, FAILURE_BODY))
        reason = 'cursor_backend failed after '
        wait_for(lambda: reason in read_text(self.moved(log)), timeout=5,
                 what="the reason in " + log)
        self.assertIn('cannot open "%s"' % self.moved(APP_DATABASE), read_text(self.moved(log)))

    def assertProgramRunsAs(self, user):
        """Every running copy of the installed program runs as `user`."""
        program = self.moved("/usr/local/bin/healthcheck")
        users = set()
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.readlink("/proc/%s/exe" % entry) == program:
                    with open("/proc/%s/status" % entry) as status:
                        uid = next(int(line.split()[1]) for line in status
                                   if line.startswith("Uid:"))
                    users.add(pwd.getpwuid(uid).pw_name)
            except (OSError, StopIteration):
                continue
        self.assertEqual(users, {user})

    def insert_nginx_location(self):
        """What the operator adds by hand to the server {} of Debian's site."""
        site = self.moved("/etc/nginx/sites-available/default")
        self.edit(site, "\tserver_name _;\n", "\tserver_name _;\n\t" + block("nginx-server"))

    # --- (a) the README's blocks ---------------------------------------------

    def test_every_block_is_fenced_and_marked_and_every_name_has_a_test(self):
        with open(README) as readme:
            blocks, problems = parse_markdown(readme.read())
        self.assertEqual(problems, [])
        names = set()
        for found in blocks:
            where = "README.md:%d" % found.line
            self.assertTrue(found.file or found.name,
                            where + ": a code block with no marker line before it")
            if found.file:
                with open(os.path.join(REPO, found.file)) as shipped:
                    self.assertEqual(found.text, shipped.read(), where)
                self.assertRegex(found.file, r"^(conf|nginx)/", where)  # Run by their e2e tests.
            else:
                names.add(found.name)
        self.assertEqual(names, set(BLOCK_TESTS))
        for name, tests in BLOCK_TESTS.items():
            block(name)  # Blocks sharing a name are identical.
            for test in tests:
                self.assertTrue(callable(find_test(self, test)), "%s: no %s" % (name, test))

    def test_links_and_named_files_exist(self):
        with open(README) as readme:
            text = readme.read()
        headings = {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
                    for line in text.splitlines() if line.startswith("#")}
        for anchor in re.findall(r"\]\(#([^)]+)\)", text):
            self.assertIn(anchor, headings)
        named = set(re.findall(r"`((?:conf|nginx|src|bench|tests|tools)/[\w./-]+)`", text))
        self.assertGreater(len(named), 5)
        for path in named:
            self.assertTrue(os.path.exists(os.path.join(REPO, path)), path)

    def test_markdown_reader_finds_indented_and_unmarked_blocks(self):
        blocks, problems = parse_markdown(
            "text\n\n    make run\n\n<!-- tested by test_readme: x -->\n```sh\nls\n```\n\n"
            "```\nno marker\n```\n")
        self.assertEqual(len(problems), 1)
        self.assertEqual([(found.name, found.text) for found in blocks],
                         [("x", "ls\n"), (None, "no marker\n")])

    def test_json_examples_pass_test_config(self):
        configs = json_configs()
        self.assertGreaterEqual(len(configs), 4)
        for index, (name, text) in enumerate(configs):
            with self.subTest(name=name):
                parsed = json.loads(text)
                # Deep enough for "../../private/app.db" to stay in the temp folder.
                folder = self.path("json%d/site/public_html/health" % index)
                os.makedirs(folder)
                config = os.path.join(folder, "healthcheck.json")
                with open(config, "w") as out:
                    out.write(self.move(text))
                database = parsed.get("cursor_backend", {}).get("database")
                if database:
                    path = self.move(database) if database.startswith("/") else os.path.join(
                        folder, database)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    make_database(path)
                token_file = parsed.get("details", {}).get("token_file")
                if token_file:
                    path = self.move(token_file) if token_file.startswith("/") else os.path.join(
                        folder, token_file)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "w") as out:
                        out.write("readme-example-token-0123456789\n")
                    os.chmod(path, 0o600)
                cache_folder = parsed.get("cache_folder")
                if cache_folder:
                    os.makedirs(self.move(cache_folder), exist_ok=True)
                drain_file = parsed.get("drain_file")
                if drain_file and drain_file.startswith("/"):
                    os.makedirs(os.path.dirname(self.move(drain_file)), exist_ok=True)
                program = parsed.get("callable", {}).get("command", [None])[0]
                if program:
                    path = self.move(program)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "w") as out:
                        out.write("#!/bin/sh\nexit 0\n")
                    os.chmod(path, 0o755)
                if parsed.get("cursor_backend", {}).get("driver", "sqlite") != "sqlite":
                    continue  # test_database_examples_pass_on_real_servers
                result = self.run_binary(["--test-config", "--config", config])
                self.assertEqual(result.returncode, 0, result.stderr.decode())
                self.assertTrue(result.stdout.decode().startswith(config + ": configuration ok"),
                                result.stdout.decode())

    def test_database_examples_pass_on_real_servers(self):
        """conf/mysql.json with the README's .env, and conf/postgresql.json,
        on a MariaDB and a PostgreSQL of their own holding the database,
        user and table they name: --test-config and --check pass; with the
        server gone, the log line is the README's, and holds no password."""
        from tests.integration.db_servers import MariaDBServer, PostgresServer
        password = "readme-db-pw-93f1"
        os.chmod(self.dir, 0o755)  # The servers run as mysql and postgres.
        with MariaDBServer(self.path("servers")) as db:
            for host in ("localhost", "127.0.0.1"):
                db.admin_sql("CREATE USER 'myapp_health'@'%s' IDENTIFIED BY '%s'" % (host, password))
                db.admin_sql("GRANT SELECT ON myapp.* TO 'myapp_health'@'%s'" % host)
            db.admin_sql("CREATE DATABASE myapp")
            db.admin_sql("CREATE TABLE myapp.failed_jobs (id INT)")
            env_file = self.moved("/srv/myapp/.env")
            os.makedirs(os.path.dirname(env_file))
            with open(env_file, "w") as out:
                out.write(block("db-env-file").replace("db_password=...", "db_password=" + password) +
                          "db_port=%d\n" % db.port)
            os.chmod(env_file, 0o600)
            self.assert_database_example("conf/mysql.json", db, password)
        with PostgresServer(self.path("servers")) as db:
            db.admin_sql("CREATE ROLE myapp_health LOGIN PASSWORD '%s'" % password)
            db.admin_sql("CREATE DATABASE myapp OWNER postgres")
            os.makedirs(self.moved("/run"), exist_ok=True)
            os.symlink(db.socket_dir, self.moved("/run/postgresql"))
            secret = self.moved("/etc/healthcheck/db-password")
            os.makedirs(os.path.dirname(secret), exist_ok=True)
            with open(secret, "w") as out:
                out.write(password + "\n")
            os.chmod(secret, 0o600)
            self.assert_database_example("conf/postgresql.json", db, password,
                                         env=dict(os.environ, db_port=str(db.port)))

    def assert_database_example(self, shipped_file, db, password, env=None):
        config = self.moved("/etc/healthcheck/%s" % os.path.basename(shipped_file))
        os.makedirs(os.path.dirname(config), exist_ok=True)
        with open(os.path.join(REPO, shipped_file)) as source, open(config, "w") as out:
            out.write(self.move(source.read()))
        os.chmod(config, 0o644)
        for flag in ("--test-config", "--check"):
            result = self.run_binary([flag, "--config", config], env=env)
            self.assertEqual(result.returncode, 0, result.stderr.decode())
        db.stop()
        result = self.run_binary(["--check", "--config", config], env=env)
        self.assertEqual(result.returncode, 1)
        log = result.stderr.decode()
        self.assertNotIn(password, log)
        if "mysql" in shipped_file:
            shape = re.escape(block("db-log-line").strip())
            shape = shape.replace(r"0\.4", r"[\d.]+").replace(r"3306", r"\d+")
            self.assertRegex(log.strip(), "^" + shape + "$")

    # --- The two commands ----------------------------------------------------

    def test_make_run_is_the_demo_test_demo_runs(self):
        # test_demo.py serves the demo for real (tools/serve_demo.py --smoke).
        self.assertEqual(block("make-run"), "make run\n")
        code, commands = make_dry_run("run")
        self.assertEqual(code, 0, commands)
        demo = [line for line in commands.splitlines() if "tools/serve_demo.py" in line]
        self.assertEqual(len(demo), 1, commands)
        self.assertTrue(demo[0].rstrip().endswith("--port 8080"), demo[0])

    def test_make_test_is_what_ci_runs(self):
        self.assertEqual(block("make-test"), "make test\n")
        with open(os.path.join(REPO, ".ci", "run")) as ci:
            commands = [line.strip() for line in ci if line.strip() and not line.startswith("#")]
        self.assertEqual(commands[-1], "make test")
        code, plan = make_dry_run("test")
        self.assertEqual(code, 0, plan)
        self.assertIn("tools/install_deps.sh", plan)
        self.assertEqual(plan.count("tests/run_tests.py"), 2, plan)  # The suites, then under ASan.

    # --- Messages --------------------------------------------------------------

    def app_config_file(self, text=None):
        self.make_folder(os.path.dirname(APP_CONFIG))
        path = self.moved(APP_CONFIG)
        with open(path, "w") as out:
            out.write(self.move(text if text is not None
                                else heredocs(block("install"))[APP_CONFIG]))
        os.chmod(path, 0o644)
        return path

    def test_log_line_is_what_a_missing_database_logs(self):
        config = self.app_config_file()
        self.make_folder(os.path.dirname(APP_DATABASE))
        result = self.run_binary(["--check", "--config", config])
        self.assertEqual(result.returncode, 1)
        self.assertEqual(without_duration(self.unmove(result.stderr.decode())),
                         without_duration(block("log-line")))

    def test_config_mistake_is_named_on_its_line(self):
        config = self.app_config_file('{\n  "services": ["memory_backend", "redis"]\n}\n')
        result = self.run_binary(["--test-config", "--config", config])
        self.assertEqual(result.returncode, 78)
        self.assertEqual(self.unmove(result.stderr.decode()), block("config-mistake"))

    def test_health_json_example_is_what_the_binary_writes(self):
        from tests.integration.health_json import validate_health_json
        command, example = block("health-json").strip().split("\n")
        self.assertIn("-H \"Authorization: Bearer $(cat /etc/healthcheck/token)\"", command)
        self.assertIn("-H 'Accept: application/health+json'", command)
        self.assertTrue(command.endswith("/health/ready"), command)
        token = "readme-token-0123456789abcdef"
        self.make_folder("/etc/healthcheck")
        with open(self.moved("/etc/healthcheck/token"), "w") as out:
            out.write(token + "\n")
        os.chmod(self.moved("/etc/healthcheck/token"), 0o600)
        config = self.app_config_file(json.dumps({
            "cursor_backend": {"database": APP_DATABASE},
            "probes": {"ready": {"services": ["memory_backend", "cursor_backend"]}},
            "details": {"token_file": "/etc/healthcheck/token"}}))
        self.make_folder(os.path.dirname(APP_DATABASE))  # The database itself is missing.
        result = self.run_binary([], env={
            "REQUEST_METHOD": "GET", "SCRIPT_NAME": "/health/ready", "HEALTHCHECK_CONFIG": config,
            "HTTP_AUTHORIZATION": "Bearer " + token, "HTTP_ACCEPT": "application/health+json"})
        head, body = result.stdout.split(b"\r\n\r\n", 1)
        self.assertIn(b"Content-Type: application/health+json", head)

        def comparable(document):
            """Durations and times differ from run to run; the rest may not."""
            text = without_duration(json.dumps(document, sort_keys=True))
            text = re.sub(r'"observedValue": [0-9.e-]+', '"observedValue": 0', text)
            return re.sub(r'"time": "[^"]+"', '"time": "T"', text)
        self.assertEqual(comparable(json.loads(self.unmove(body.decode()))),
                         comparable(validate_health_json(example.encode())))

    def test_test_config_says_as_whom(self):
        config = self.app_config_file()
        os.chmod(self.make_app_database(), 0o600)
        result = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                 BINARY, "--test-config", "--config", config],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(result.returncode, 78)
        self.assertEqual(self.unmove(result.stderr.decode()), block("test-config-denied"))

    def test_wal_database_needs_what_operations_says(self):
        """A -wal file present: -wal and -shm readable; -shm missing: the
        folder writable, as for any reader."""
        config = self.app_config_file()
        database = self.make_app_database()
        writer = subprocess.Popen([sys.executable, "-c", WAL_WRITER, database],
                                  stdout=subprocess.PIPE)
        self.addCleanup(writer.stdout.close)
        self.addCleanup(writer.wait, STOP_TIMEOUT_S)
        self.addCleanup(writer.kill)
        self.assertEqual(writer.stdout.readline(), b"written\n")
        for suffix in ("-wal", "-shm"):
            os.chmod(database + suffix, 0o644)

        def check():
            return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                                   "--clear-groups", BINARY, "--check", "--config", config],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(check().returncode, 0)
        os.chmod(database + "-shm", 0o600)
        denied = check()
        self.assertEqual(denied.returncode, 1)
        self.assertIn(b"Permission denied", denied.stderr)
        writer.kill()  # A crash: the -wal stays behind.
        writer.wait(timeout=STOP_TIMEOUT_S)
        os.unlink(database + "-shm")
        self.assertTrue(os.path.exists(database + "-wal"))
        self.assertEqual(check().returncode, 1)  # It may not make the -shm...
        os.chown(os.path.dirname(database), pwd.getpwnam("nobody").pw_uid, -1)
        self.assertEqual(check().returncode, 0)  # ...until the folder lets it.

    # --- Recipes ---------------------------------------------------------------

    def test_nginx_with_systemd(self):
        self.machine_with_nginx()
        self.install()
        self.run_block("systemd")
        self.run_block("nginx")
        self.insert_nginx_location()
        self.run_block("nginx-reload")
        self.assertTryAnswersHealthy()
        self.assertReasonLogged("/var/log/nginx/error.log")
        self.assertIn("FastCGI sent in stderr", read_text(self.moved("/var/log/nginx/error.log")))
        self.assertIn("starting FastCGI on", read_text(self.path(".stand-in/journal")))

    def test_nginx_with_spawn_fcgi(self):
        self.machine_with_nginx()
        self.install()
        output_path = self.path(".stand-in/spawn-fcgi.out")
        self.run_block("spawn-fcgi")
        socket_path = self.moved("/run/healthcheck/healthcheck.sock")
        wait_for(lambda: unix_socket_open(socket_path),
                 what="spawn-fcgi's socket: " + read_text(output_path))
        self.run_block("nginx")
        self.insert_nginx_location()
        self.run_block("nginx-reload")
        self.assertTryAnswersHealthy()
        self.assertProgramRunsAs("nobody")
        self.assertReasonLogged("/var/log/nginx/error.log")
        start_lines = [line for line in read_text(output_path).splitlines()
                       if "starting FastCGI" in line]
        self.assertEqual([self.unmove(line) + "\n" for line in start_lines], [block("start-line")])

    def test_apache_mod_proxy_fcgi(self):
        self.machine_with_apache()
        self.install()
        self.run_block("systemd")
        self.run_block("apache-proxy-fcgi")
        self.assertTryAnswersHealthy()
        self.assertReasonLogged("/var/log/apache2/error.log")

    def test_apache_mod_fcgid(self):
        self.machine_with_apache()
        self.install()
        self.run_block("apache-fcgid")
        self.assertTryAnswersHealthy()
        self.assertProgramRunsAs("www-data")
        self.assertReasonLogged("/var/log/apache2/error.log")
        self.assertIn("starting FastCGI on", read_text(self.moved("/var/log/apache2/error.log")))

    def test_lighttpd(self):
        self.machine_with_lighttpd()
        self.install()
        self.run_block("lighttpd")
        self.assertTryAnswersHealthy()
        self.assertProgramRunsAs("www-data")
        self.assertReasonLogged("/var/log/lighttpd/error.log")

    def test_shared_hosting(self):
        self.checkout = self.stage_checkout()
        self.run_block("shared-hosting")
        # The upload, modes kept; the database outside the web root.
        home = self.make_folder("/home/site")
        shutil.copytree(os.path.join(self.checkout, "upload", "health"),
                        os.path.join(home, "public_html", "health"))
        os.chmod(os.path.join(home, "public_html"), 0o755)
        os.makedirs(os.path.join(home, "private"))
        os.chmod(os.path.join(home, "private"), 0o755)
        database = os.path.join(home, "private", "app.db")
        make_database(database)
        os.chmod(database, 0o644)
        self.start_shared_host(os.path.join(home, "public_html"))
        output = self.run_block("try-shared-hosting")
        self.assertIn("HTTP/1.1 200 OK", output)
        self.assertIn(SUCCESS_BODY.decode(), output)
        self.assertIn("HTTP/1.1 403 Forbidden", output)
        os.unlink(database)
        status, _, body = http_request(self.port, "/health/")
        self.assertEqual((status, body), (500, FAILURE_BODY))
        wait_for(lambda: "cursor_backend failed" in read_text(self.path("host/error.log")),
                 timeout=5, what="the reason in the site's error log")

    def start_shared_host(self, web_root):
        """A host's Apache running CGI programs (mod_cgid), AllowOverride All."""
        host = self.path("host")
        os.makedirs(host)
        os.chmod(host, 0o755)  # cgid's socket is here, for www-data's children.
        body = "<Directory %s>\n    AllowOverride All\n    Require all granted\n</Directory>"
        self.run_apache(host, self.port, ["dir", "cgid"], body % web_root, web_root)

    def test_reload_and_upgrade_under_systemd(self):
        self.make_folder("/run")
        self.install()
        self.run_block("systemd")
        self.assertAnswer(fastcgi_wire.fetch(self.socket_address), healthy=True)
        # A configuration whose database is gone, checked, then reloaded.
        os.unlink(self.moved(APP_DATABASE))
        self.assertAnswer(fastcgi_wire.fetch(self.socket_address), healthy=False)
        self.app_config_file('{"services": ["memory_backend"]}\n')
        self.run_block("reload")
        wait_for(lambda: fastcgi_wire.fetch(self.socket_address).stdout == expected_bytes(True),
                 timeout=5, what="the reloaded configuration to serve")
        # A file that does not load: the block's check stops the reload, and
        # a reload without it is refused, the old configuration serving on.
        self.app_config_file('{"services": ["redis"]}\n')
        self.assertIn('unknown service "redis"', self.run_block("reload", succeeds=False))
        self.reload_service()
        wait_for(lambda: 'unknown service "redis"' in read_text(self.path(".stand-in/journal")),
                 timeout=5, what="the refused reload in the journal")
        self.assertAnswer(fastcgi_wire.fetch(self.socket_address), healthy=True)
        self.app_config_file()  # The first one, its database back.
        self.make_app_database()
        first = self.service.pid
        # The binary replaced while it runs, then the service restarted on the same socket.
        self.run_block("upgrade")
        self.assertNotEqual(self.service.pid, first)
        self.assertAnswer(fastcgi_wire.fetch(self.socket_address), healthy=True)

    def test_docker_healthcheck(self):
        dockerfile = block("docker").replace("\\\n", " ")
        context = self.path("context")
        os.makedirs(os.path.join(context, "build"))
        shutil.copy(BINARY, os.path.join(context, "build", "healthcheck"))
        with open(os.path.join(context, "healthcheck.json"), "w") as out:
            out.write(self.move(heredocs(block("install"))[APP_CONFIG]))
        os.chmod(os.path.join(context, "healthcheck.json"), 0o644)
        self.make_app_database()
        command = None
        for line in dockerfile.splitlines():
            instruction, _, rest = line.partition(" ")
            if instruction == "COPY":
                source, target = rest.split()
                self.make_folder(os.path.dirname(target))
                shutil.copy2(os.path.join(context, source), self.moved(target))  # Modes kept.
            elif instruction == "HEALTHCHECK":
                options, _, array = rest.partition(" CMD ")
                timeout_s = float(re.search(r"--timeout=(\d+)s", options).group(1))
                self.assertGreater(timeout_s * 1000, DEFAULT_TIMEOUT_MS)
                command = [self.move(word) for word in json.loads(array)]
            else:
                self.fail("a Dockerfile line this test does not play: " + line)
        # Docker runs the exec form as is: 0 healthy, 1 unhealthy.
        healthy = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 timeout=10)
        self.assertEqual((healthy.returncode, healthy.stdout, healthy.stderr), (0, b"", b""))
        os.unlink(self.moved(APP_DATABASE))
        unhealthy = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   timeout=10)
        self.assertEqual((unhealthy.returncode, unhealthy.stdout), (1, FAILURE_BODY + b"\n"))
        self.assertIn(b"cursor_backend failed", unhealthy.stderr)

    def test_kubernetes_probe(self):
        probes = parse_simple_yaml(block("kubernetes"))
        self.assertEqual(sorted(probes), ["livenessProbe", "readinessProbe", "startupProbe"])
        with open(os.path.join(REPO, "conf", "probes.json")) as example:
            settings = json.load(example)
        with open(os.path.join(REPO, "nginx", "healthcheck-location.conf")) as location:
            self.assertIn("location ^~ /health/ {", location.read())
        paths = {}
        for kind, probe in probes.items():
            path, port = probe["httpGet"]["path"], probe["httpGet"]["port"]
            self.assertTrue(path.startswith("/health/"), path)
            name = path[len("/health/"):]
            self.assertIn(name, settings["probes"])  # A probe of the example, not the top level.
            # The kubelet's timeout outlasts the probe's own deadline: a slow
            # check answers its failure before the kubelet gives up.
            deadline_ms = settings["probes"][name].get("timeout_ms", settings.get("timeout_ms", 2000))
            self.assertLess(deadline_ms, 1000)
            self.assertGreater(int(probe["timeoutSeconds"]) * 1000, deadline_ms)
            paths[kind] = path
        with open("/etc/nginx/sites-available/default") as site:
            self.assertIn("listen %s default_server;" % port, site.read())
        # GETs there through a real nginx and the shipped files, as the kubelet sends them.
        config = self.probes_config("nobody")
        socket_path = self.path("healthcheck.sock")
        self.spawn_responder(config, socket_path=socket_path)
        self.start_nginx("unix:" + socket_path, self.port)
        for path in paths.values():
            self.assertEqual(http_request(self.port, path)[::2], (200, SUCCESS_BODY))
        os.unlink(self.path("app.db"))
        self.assertEqual(http_request(self.port, paths["livenessProbe"])[::2], (200, SUCCESS_BODY))
        for kind in ("readinessProbe", "startupProbe"):
            self.assertEqual(http_request(self.port, paths[kind])[::2], (503, FAILURE_BODY))

    def test_cron(self):
        self.install()
        self.run_block("cron")
        path = self.moved("/etc/cron.d/healthcheck")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o644)
        self.assertNotIn(".", os.path.basename(path))  # cron skips names with dots.
        environment, jobs = {}, []
        with open(path) as crontab:
            for line in crontab.read().splitlines():
                if re.match(r"^[A-Z_]+=", line):
                    key, _, value = line.partition("=")
                    environment[key] = value
                elif line.strip():
                    fields = line.split(None, 6)
                    for field in fields[:5]:
                        self.assertRegex(field, r"^[\d*/,-]+$")
                    jobs.append((fields[5], fields[6]))
        self.assertEqual(environment, {"MAILTO": "root"})
        self.assertEqual(len(jobs), 1)
        user, command = jobs[0]
        pwd.getpwnam(user)

        def run_job():  # As cron runs it: /bin/sh -c, as the user, a minimal environment.
            entry = pwd.getpwnam(user)
            return subprocess.run(["/bin/sh", "-c", command], user=user, group=entry.pw_gid,
                                  extra_groups=[], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=10,
                                  env={"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh",
                                       "HOME": entry.pw_dir, "LOGNAME": user})
        healthy = run_job()
        self.assertEqual((healthy.returncode, healthy.stdout), (0, b""))  # No mail.
        os.unlink(self.moved(APP_DATABASE))
        unhealthy = run_job()
        self.assertEqual(unhealthy.returncode, 1)
        self.assertIn(FAILURE_BODY, unhealthy.stdout)
        self.assertIn(b"cursor_backend failed", unhealthy.stdout)
        os.unlink(self.moved(APP_CONFIG))
        broken = run_job()
        self.assertEqual(broken.returncode, 78)
        self.assertIn(b"cannot read the configuration", broken.stdout)

    def test_nagios(self):
        definition = block("nagios")
        command_line = re.search(r"^\s*command_line\s+(.*)$", definition, re.MULTILINE).group(1)
        self.assertIn("command_name", definition)
        self.install()
        config = self.moved(APP_CONFIG)

        def check():  # Nagios runs a line holding shell operators with /bin/sh -c.
            return subprocess.run(["/bin/sh", "-c", self.move(command_line)],
                                  user=UNPRIVILEGED_USER, group=UNPRIVILEGED_GROUP,
                                  extra_groups=[], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=10)
        healthy = check()
        self.assertEqual((healthy.returncode, healthy.stdout), (0, b"OK: healthy\n"))
        os.unlink(self.moved(APP_DATABASE))
        self.assertEqual(self.run_binary(["--check", "--quiet", "--config", config]).returncode,
                         1)  # What Nagios would read as WARNING.
        unhealthy = check()
        self.assertEqual(unhealthy.returncode, 2)
        self.assertTrue(unhealthy.stdout.startswith(b"healthcheck: unhealthy: cursor_backend"),
                        unhealthy.stdout)
        os.chmod(config, 0o664)  # A configuration that does not load: CRITICAL too.
        broken = check()
        self.assertEqual(broken.returncode, 2)
        self.assertIn(b"writable by group or others", broken.stdout)


def parse_simple_yaml(text):
    """Nested mappings of scalars, by indentation: enough for a probe."""
    root, stack = {}, [(-1, None)]
    stack[0] = (-1, root)
    for line in text.splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if value.strip():
            parent[key] = value.strip()
        else:
            parent[key] = {}
            stack.append((indent, parent[key]))
    return root
