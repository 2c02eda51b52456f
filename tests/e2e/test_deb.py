"""The Debian package (issue 14), built and installed for real.

`make deb` builds version N from this tree; its script builds N+1 from the
same copy with src/version.h bumped and a changed shipped configuration
(the only place a version is written: the package's comes from it).
lintian and dpkg-deb look at N. mmdebstrap makes a throwaway Debian root
from the machine's own apt sources, with nginx, Apache and lighttpd, and
runs tests/e2e/deb_scenario.sh in it with the README's "Install as a
package" blocks: install N, the checks, an edit of the conffile, the
upgrade to N+1, remove, purge; then install again and follow the README's
steps for the socket and the web servers. Nothing is installed on this
machine; the root is gone when mmdebstrap ends. About three minutes, most
of it the two builds."""
import gzip
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from tests.e2e.servers import REPO
from tests.e2e.test_readme import block

SCENARIO = os.path.join(REPO, "tests", "e2e", "deb_scenario.sh")
# The mirror this machine's apt uses (Debian 12's deb822 file, or the older
# one-line list): mmdebstrap pastes the first that exists into the root.
HOST_SOURCES = ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]
CONFIG = "/etc/healthcheck/healthcheck.json"
EDITED_CONFIG = '{\n  "services": ["memory_backend"],\n  "timeout_ms": 1234\n}\n'
NEXT_SHIPPED_CONFIG = '{\n  "services": ["memory_backend"],\n  "timeout_ms": 2000\n}\n'


def run(args, timeout, **kwargs):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                          universal_newlines=True, **kwargs)


def version_in(version_h):
    with open(version_h) as source:
        return re.search(r'kVersion = "([^"]+)"', source.read()).group(1)


def next_version(version):
    """0.1.0 -> 0.1.1: later than `version` for dpkg."""
    head, _, last = version.rpartition(".")
    return "%s.%d" % (head, int(last) + 1)


def names_a_mirror(path):
    try:
        with open(path) as sources:
            return any(line.strip() and not line.lstrip().startswith("#") for line in sources)
    except FileNotFoundError:
        return False


def sections(output):
    """deb_scenario.sh's output as {step: text}."""
    found, name = {}, None
    for line in output.splitlines():
        if line.startswith("=== "):
            name = line[4:]
            found[name] = []
        elif name is not None:
            found[name].append(line)
    return {step: "\n".join(lines) for step, lines in found.items()}


class DebianPackageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="healthcheck-deb-")
        try:
            cls.build_both()
            cls.install_in_a_throwaway_root()
        except BaseException:
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def build(cls, out, command):
        """Runs `command` (make deb, or build_deb.sh --again) with its stage and
        output in the temp folder; returns the package's path."""
        # Not the jobserver of the make that runs the suites: the package
        # build makes its own (-j2).
        env = {name: value for name, value in os.environ.items()
               if name not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        env.update(DEB_STAGE=os.path.join(cls.dir, "stage"), DEB_OUT=out)
        built = run(["nice"] + command, 900, env=env, cwd=REPO)
        assert built.returncode == 0, "%s failed:\n%s" % (" ".join(command), built.stdout[-3000:])
        # build_deb.sh's last lines name what it handed over.
        (package,) = [line for line in built.stdout.splitlines()
                      if line.startswith(os.path.join(out, "healthcheck_")) and line.endswith(".deb")]
        return package

    @classmethod
    def build_both(cls):
        cls.version = version_in(os.path.join(REPO, "src", "version.h"))
        cls.next = next_version(cls.version)
        assert block("package-build") == "make deb\n", "the README builds the package another way"
        cls.deb = cls.build(os.path.join(cls.dir, "n"), ["make", "-s", "deb"])
        # N+1 from the same copy: its version.h and its shipped configuration
        # changed, as a new release would change them.
        tree = os.path.join(cls.dir, "stage", "healthcheck")
        version_h = os.path.join(tree, "src", "version.h")
        with open(version_h) as source:
            text = source.read()
        with open(version_h, "w") as source:
            source.write(text.replace('"%s"' % cls.version, '"%s"' % cls.next))
        with open(os.path.join(tree, "conf", "memory.json"), "w") as shipped:
            shipped.write(NEXT_SHIPPED_CONFIG)
        cls.next_deb = cls.build(os.path.join(cls.dir, "n1"), ["sh", "tools/build_deb.sh", "--again"])
        # N's files, unpacked once for the tests that read them.
        cls.unpacked = os.path.join(cls.dir, "unpacked")
        unpacked = run(["dpkg-deb", "-x", cls.deb, cls.unpacked], 60)
        assert unpacked.returncode == 0, unpacked.stdout

    @classmethod
    def install_in_a_throwaway_root(cls):
        """One mmdebstrap run: a minimal root (apt variant) with what the
        checks use, the scenario run in it by a customize hook, the root
        removed at the end (output /dev/null)."""
        with open("/etc/os-release") as release:
            suite = re.search(r"^VERSION_CODENAME=(\S+)", release.read(), re.M).group(1)
        output = os.path.join(cls.dir, "scenario.out")
        readme = os.path.join(cls.dir, "readme")
        os.mkdir(readme)
        for name, suffix in (("package-install", "sh"), ("package-enable", "sh"),
                             ("package-apache", "sh"), ("package-nginx", "conf")):
            with open(os.path.join(readme, "%s.%s" % (name, suffix)), "w") as text:
                text.write(block(name))
        inside = "/tmp/" + os.path.basename(cls.deb), "/tmp/" + os.path.basename(cls.next_deb)
        args = ["nice", "mmdebstrap", "--variant=apt", "--mode=root",
                "--include=man-db,procps,systemd,libmariadb3,libpq5,sudo,nginx-light,apache2,lighttpd,"
                "curl,iproute2",
                "--customize-hook=copy-in %s %s %s %s /tmp" % (cls.deb, cls.next_deb, SCENARIO, readme),
                "--customize-hook=chroot \"$1\" sh /tmp/deb_scenario.sh %s %s /tmp/readme > %s 2>&1"
                % (inside[0], inside[1], output),
                suite, "/dev/null"]
        args += [path for path in HOST_SOURCES if names_a_mirror(path)][:1]
        made = run(args, 900)
        assert made.returncode == 0, "mmdebstrap failed (is the Debian mirror reachable?):\n%s" % made.stdout[-3000:]
        with open(output) as found:
            cls.output = found.read()
        cls.steps = sections(cls.output)

    def step(self, name):
        self.assertIn(name, self.steps, "the scenario stopped before %r:\n%s" % (name, self.output[-2000:]))
        return self.steps[name]

    # --- the package as built ------------------------------------------------

    def test_file_name_and_version_come_from_version_h(self):
        arch = run(["dpkg", "--print-architecture"], 10).stdout.strip()
        self.assertEqual(os.path.basename(self.deb), "healthcheck_%s_%s.deb" % (self.version, arch))
        field = run(["dpkg-deb", "--field", self.deb, "Version"], 10).stdout.strip()
        self.assertEqual(field, self.version)

    def test_lintian_reports_no_error_and_no_warning(self):
        checked = run(["lintian", "--fail-on", "error,warning", "--info", self.deb], 300)
        self.assertEqual(checked.returncode, 0, checked.stdout)
        self.assertNotRegex(checked.stdout, r"(?m)^[EW]: ", checked.stdout)

    def test_readme_sections_debian_names_exist(self):
        with open(os.path.join(REPO, "README.md")) as readme:
            headings = set(re.findall(r"(?m)^#+ (.+)$", readme.read()))
        for name in os.listdir(os.path.join(REPO, "debian")):
            path = os.path.join(REPO, "debian", name)
            if os.path.isfile(path):
                with open(path) as text:
                    for section in re.findall(r'README, "([^"]+)"', text.read()):
                        self.assertIn(section, headings, "debian/%s names a README section there is not" % name)

    def test_every_lintian_override_says_why(self):
        with open(os.path.join(REPO, "debian", "healthcheck.lintian-overrides")) as overrides:
            lines = [line.rstrip("\n") for line in overrides]
        for number, line in enumerate(lines):
            if line and not line.startswith("#"):
                self.assertTrue(number > 0 and lines[number - 1].startswith("#"),
                                "override without a reason above it: %r" % line)

    def test_contents_are_what_the_package_promises(self):
        listing = run(["dpkg-deb", "--contents", self.deb], 30).stdout
        paths = {line.split()[5].lstrip(".") for line in listing.splitlines()}
        for path in ("/usr/bin/healthcheck", "/usr/bin/healthcheck-mysql", "/usr/bin/healthcheck-postgresql",
                     "/usr/share/man/man1/healthcheck.1.gz", CONFIG,
                     "/lib/systemd/system/healthcheck.socket", "/lib/systemd/system/healthcheck.service",
                     "/usr/lib/sysusers.d/healthcheck.conf",
                     "/etc/apache2/conf-available/healthcheck.conf",
                     "/etc/lighttpd/conf-available/50-healthcheck.conf",
                     "/usr/share/doc/healthcheck/nginx/healthcheck-location.conf",
                     "/usr/share/doc/healthcheck/conf/spawn-fcgi.sh",
                     "/usr/share/doc/healthcheck/copyright"):
            self.assertIn(path, paths)
        self.assertFalse([path for path in paths if path.startswith("/usr/local")], listing)

    def test_shipped_files_name_the_packaged_program(self):
        unpacked = self.unpacked
        naming_local = run(["grep", "-rlI", "/usr/local/bin/healthcheck",
                            os.path.join(unpacked, "etc"), os.path.join(unpacked, "lib"),
                            os.path.join(unpacked, "usr/share/doc/healthcheck/conf"),
                            os.path.join(unpacked, "usr/share/doc/healthcheck/nginx")], 30).stdout
        self.assertEqual(naming_local, "")
        with open(os.path.join(unpacked, "lib/systemd/system/healthcheck.service")) as unit:
            self.assertIn("ExecStart=/usr/bin/healthcheck --config %s" % CONFIG, unit.read())

    def test_build_hands_over_the_debug_symbols(self):
        """make install leaves stripping to dh_strip, which keeps the symbols
        in a -dbgsym package: build_deb.sh hands it over beside the package."""
        symbols = os.path.join(os.path.dirname(self.deb),
                               os.path.basename(self.deb).replace("healthcheck_", "healthcheck-dbgsym_"))
        listing = run(["dpkg-deb", "--contents", symbols], 30).stdout
        self.assertRegex(listing, r"/usr/lib/debug/\.build-id/\S+\.debug")

    def test_program_is_hardened(self):
        """dpkg-buildflags' hardening=+all reaches the links: every program is
        position-independent (the static one by -static-pie) and bound now."""
        unpacked = self.unpacked
        for name in ("healthcheck", "healthcheck-mysql", "healthcheck-postgresql"):
            program = os.path.join(unpacked, "usr/bin", name)
            self.assertRegex(run(["readelf", "-h", program], 30).stdout, r"Type:\s+DYN ", name)
            self.assertRegex(run(["readelf", "-d", program], 30).stdout, r"FLAGS\S*\s+.*\bNOW\b", name)

    def test_documentation_is_complete_and_names_make_installs_place(self):
        docs = os.path.join(self.unpacked, "usr/share/doc/healthcheck")
        # The README sends readers to conf/README.md.
        self.assertTrue({"README.md", "README.md.gz"} & set(os.listdir(os.path.join(docs, "conf"))))
        # Its build-from-source recipes keep make install's /usr/local: never
        # an install over the file dpkg owns.
        with gzip.open(os.path.join(docs, "README.md.gz"), "rt") as readme:
            text = readme.read()
        self.assertNotRegex(text, r"install .*build/healthcheck /usr/bin/healthcheck")
        self.assertIn("sudo install -m 0755 build/healthcheck /usr/local/bin/healthcheck", text)

    # --- installed in the throwaway root ---------------------------------------

    def test_installs_and_creates_its_user(self):
        self.assertTrue(self.step("install").startswith("exit 0"), self.step("install"))
        name, _, uid, _, _, home, shell = self.step("user").split(":")
        self.assertEqual(name, "healthcheck")
        self.assertLess(int(uid), 1000)  # A system user,
        self.assertEqual((home, shell), ("/nonexistent", "/usr/sbin/nologin"))  # kept out of login.

    def test_program_and_package_say_the_same_version(self):
        self.assertEqual(self.step("version"), "healthcheck " + self.version)
        self.assertEqual(self.step("package-version"), self.version)

    def test_configuration_is_a_conffile_and_passes(self):
        self.assertIn(CONFIG, self.step("conffiles").splitlines())
        self.assertIn("configuration ok, tried as user root", self.step("test-config-as-root"))
        self.assertIn("configuration ok, tried as user healthcheck", self.step("test-config-as-service-user"))
        self.assertEqual(self.step("check"),
                         '{"status":"success","error":"","data":{},"pagination":{},"input_errors":{}}\nexit 0')

    def test_units_are_installed_valid_and_neither_enabled_nor_started(self):
        self.assertEqual(self.step("enabled"), "disabled\ndisabled")
        self.assertEqual(self.step("verify"), "exit 0")
        # The maintainer scripts, believing systemd runs, started nothing
        # (deb-systemd-invoke starts no disabled unit), nor on upgrade (it
        # restarts a unit that runs, and none does here).
        for step in ("systemd-on-install", "systemd-on-upgrade"):
            self.assertEqual(self.step(step), "systemctl: would daemon-reload", step)

    def test_remove_stops_the_units(self):
        self.assertEqual(self.step("systemd-on-remove"),
                         "systemctl: would stop healthcheck.service healthcheck.socket\n"
                         "systemctl: would daemon-reload")

    def test_manual_page_renders_without_warnings(self):
        self.assertEqual(self.step("man-warnings"), "")
        self.assertRegex(self.step("man"), r"(?m)^HEALTHCHECK\(1\)")
        self.assertRegex(self.step("man"), r"(?m)^NAME\n\s+healthcheck")
        self.assertRegex(self.step("man-footer"), r"^healthcheck %s +\d{4}-\d\d-\d\d +HEALTHCHECK\(1\)$"
                         % re.escape(self.version))
        self.assertEqual(self.step("man-driver").splitlines(), ["/usr/share/man/man1/healthcheck.1.gz"] * 2)

    def test_upgrade_keeps_the_edited_conffile(self):
        self.assertTrue(self.step("upgrade").startswith("exit 0"), self.step("upgrade"))
        self.assertEqual(self.step("version-after-upgrade"), "healthcheck " + self.next)
        self.assertEqual(self.step("conffile-after-upgrade") + "\n", EDITED_CONFIG)
        self.assertEqual(self.step("shipped-conffile-after-upgrade") + "\n", NEXT_SHIPPED_CONFIG)
        self.assertIn("configuration ok", self.step("test-config-after-upgrade"))

    def test_remove_keeps_the_configuration_and_purge_removes_it(self):
        remove = [line.strip() for line in self.step("remove").splitlines()]
        self.assertEqual(remove[:2], ["exit 0", "rc"])  # Removed, configuration kept.
        self.assertEqual(remove[2:], ["healthcheck.json", "healthcheck.json.dpkg-dist"])
        purge = self.step("purge").splitlines()
        self.assertEqual(purge[0], "exit 0")
        self.assertIn("no packages found matching healthcheck", purge[1])

    def test_purge_leaves_only_the_system_user(self):
        """Debian policy (9.2.2, and deluser's own advice) keeps a package's
        system user after purge: files elsewhere may still belong to it. The
        account files (and their backups, NAME-) are the only change: no
        path is left or missing, and the accounts gained exactly the user
        and its group."""
        changed = [line for line in self.step("left-after-purge").splitlines() if line[:1] in "<>"]
        paths = {line.split()[-1] for line in changed}
        accounts = {"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"}
        self.assertLessEqual(paths, accounts | {name + "-" for name in accounts}, self.step("left-after-purge"))
        added = [line for line in self.step("accounts-after-purge").splitlines() if line[:1] in "<>"]
        self.assertEqual(len(added), 2, added)
        self.assertRegex(added[0], r"^> healthcheck:x:\d+:\d+:.*:/usr/sbin/nologin$")
        self.assertRegex(added[1], r"^> healthcheck:x:\d+:$")

    # --- the README's steps after the install ------------------------------

    def test_readme_enables_the_socket(self):
        self.assertTrue(self.step("reinstall").startswith("exit 0"), self.step("reinstall"))
        enable = self.step("readme-enable")
        self.assertIn("configuration ok, tried as user healthcheck", enable)
        self.assertIn("systemctl: would start healthcheck.socket\nexit 0\n", enable)
        self.assertTrue(enable.endswith("\nenabled\ndisabled"), enable)  # The socket starts the service.

    def test_upgrade_restarts_the_socket_once_enabled(self):
        """With the socket enabled and running, and the service not started
        yet (no request came), an upgrade restarts the socket, and leaves the
        disabled service alone (deb-systemd-invoke would restart it too had a
        request started it: it restarts a disabled unit that runs)."""
        self.assertEqual(self.step("upgrade-while-enabled"),
                         "exit 0\nsystemctl: would daemon-reload\nsystemctl: would restart healthcheck.socket")

    def test_readme_web_server_steps(self):
        # The Apache snippet does nothing without mod_proxy_fcgi, rather than
        # stop Apache from starting.
        self.assertRegex(self.step("apache-conf-without-proxy-fcgi"), r"Syntax OK\nexit 0")
        self.assertRegex(self.step("readme-apache"), r"Syntax OK\nsystemctl: would reload apache2\nexit 0$")
        self.assertRegex(self.step("readme-nginx"), r"test is successful\nexit 0$")
        self.assertRegex(self.step("lighttpd-enable"), r"^exit 0\n(.*\n)?exit 0$")

    def test_each_web_server_serves_health_through_the_package_snippets(self):
        success = '200 application/json\n{"status":"success","error":"","data":{},"pagination":{},"input_errors":{}}'
        for server in ("nginx", "apache", "lighttpd"):
            self.assertEqual(self.step("serve-through-" + server), success, server)
        # nginx and Apache reached the responder on the socket of the units,
        # running as the service's user; lighttpd started its own.
        self.assertIn("starting FastCGI on unix:/run/healthcheck/healthcheck.sock", self.step("responder-log"))

    def test_lighttpd_starts_after_remove_and_both_servers_after_purge(self):
        self.assertEqual(self.step("lighttpd-starts-after-remove").splitlines()[:2], ["404", "running"],
                         self.step("lighttpd-starts-after-remove"))
        purged = self.step("purge-with-web-servers").splitlines()
        self.assertEqual(purged[0], "exit 0")
        self.assertEqual(purged.count("exit 0"), 3, purged)  # purge, apache2ctl, lighttpd -tt
        self.assertNotIn("healthcheck.conf", "\n".join(purged))

    def test_remove_keeps_the_administrators_own_links(self):
        self.assertEqual(self.step("remove-keeps-the-administrators-links").splitlines(),
                         ["exit 0", "exit 0", "../my-healthcheck.conf", "../my-healthcheck.conf"])

    def test_remove_leaves_no_web_server_pointing_at_what_is_gone(self):
        removed = self.step("remove-with-web-servers").splitlines()
        self.assertEqual(removed[0], "exit 0")
        self.assertEqual([line for line in removed if line.startswith("healthcheck:")],
                         ["healthcheck: removed /etc/apache2/conf-enabled/healthcheck.conf "
                          "(enable it again after installing healthcheck)",
                          "healthcheck: removed /etc/lighttpd/conf-enabled/50-healthcheck.conf "
                          "(enable it again after installing healthcheck)"])
        self.assertNotIn("healthcheck.conf", "\n".join(removed[3:]))
        self.assertEqual(removed.count("exit 0"), 3, removed)  # remove, apache2ctl, lighttpd -tt


if __name__ == "__main__":
    unittest.main()
