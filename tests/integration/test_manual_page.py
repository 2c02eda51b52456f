"""The manual page, man/healthcheck.1, is the one reference: it renders
without a warning, and it documents what the program itself says it takes
(the flags of --help, the keys its configuration parser accepts, the
environment variables src/ reads, the exit codes, the version), so that
neither can change without the other."""
import os
import re
import subprocess
import unittest

from tests.integration.support import BINARY, REPO, TestCase

PAGE = os.path.join(REPO, "man", "healthcheck.1")
SRC = os.path.join(REPO, "src")
REQUIRED_SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "MODES", "OPTIONS", "CONFIGURATION",
                     "ENVIRONMENT", "EXIT STATUS", "SIGNALS", "FILES", "EXAMPLES", "SEE ALSO"]
# Wide enough that no item heading wraps; the warnings are checked at the
# width man uses for a pipe too.
PARSE_WIDTH = "200"
WARNING_WIDTHS = ["60", "80", PARSE_WIDTH]
ITEM_INDENT = " " * 7       # man(7) .TP headings in a section
SUBSECTION_INDENT = " " * 3  # .SS headings
BOGUS_KEY = "no_such_key_for_the_manual"


def render(width, warnings=False):
    """(text, stderr) of `man -l PAGE`, as plain text."""
    env = dict(os.environ, MANWIDTH=width, LC_ALL="C.UTF-8")
    env.pop("MAN_KEEP_FORMATTING", None)
    args = ["man"] + (["--warnings"] if warnings else []) + ["-E", "UTF-8", "-l", PAGE]
    result = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            timeout=60)
    text = result.stdout.decode("utf-8")
    text = re.sub(r".\x08", "", text)                # overstrike bold and underline
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)      # SGR, should a pager setting leak in
    text = text.translate({0x2212: "-", 0x2010: "-", 0x2011: "-"})
    return text, result.stderr.decode("utf-8", errors="replace")


def split_headings(text, indent):
    """{heading: body} for the lines starting at exactly `indent` spaces."""
    parts, name = {}, None
    pattern = re.compile("^" + indent + r"(\S.*)$")
    for line in text.splitlines():
        match = pattern.match(line)
        if match:
            name = match.group(1).strip()
            parts[name] = []
        elif name is not None:
            parts[name].append(line)
    return {heading: "\n".join(lines) for heading, lines in parts.items()}


def item_words(body):
    """The first word of every .TP heading in `body`: a line at the item
    indent followed by one at the body indent, or a short tag whose text
    starts on its own line at the body indent ("0      Ok")."""
    lines = body.splitlines() + [""]
    words = set()
    for line, following in zip(lines, lines[1:]):
        match = re.match(r"^ {7}([^\s,(]+)", line)
        if not match:
            continue
        body_follows = re.match(r"^ {14}\S", following)
        short_tag = re.match(r"^ {7}\S{1,6} +(?=\S)", line)
        if body_follows or (short_tag and len(short_tag.group(0)) == 14):
            words.add(match.group(1))
    return words


def read(path):
    with open(path, encoding="utf-8") as source:
        return source.read()


def source_files():
    for folder, _, names in os.walk(SRC):
        for name in sorted(names):
            if name.endswith((".cpp", ".h")):
                yield os.path.join(folder, name)


class ManualPageTest(TestCase):

    @classmethod
    def setUpClass(cls):
        text, _ = render(PARSE_WIDTH)
        cls.sections = split_headings(text, "")

    def section(self, name):
        self.assertIn(name, self.sections, "the page has no %s section" % name)
        return self.sections[name]

    def subsections(self, name):
        return split_headings(self.section(name), SUBSECTION_INDENT)

    def test_renders_without_warnings_and_has_every_section(self):
        for width in WARNING_WIDTHS:
            _, errors = render(width, warnings=True)
            self.assertEqual(errors, "", "man --warnings at MANWIDTH=%s" % width)
        groff = subprocess.run(["groff", "-man", "-ww", "-z", PAGE], stderr=subprocess.PIPE,
                               timeout=60)
        self.assertEqual(groff.stderr.decode(), "", "groff -man -ww")
        missing = [name for name in REQUIRED_SECTIONS if name not in self.sections]
        self.assertEqual(missing, [], "sections missing from the rendered page")

    def test_mandoc_finds_nothing_to_warn_about(self):
        lint = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", PAGE],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(lint.stdout.decode(), "")

    def test_options_document_exactly_the_flags_of_help(self):
        help_text = self.run_binary(["--help"]).stdout.decode()
        help_flags = set(re.findall(r"--[a-z][a-z-]*", help_text))
        self.assertGreater(len(help_flags), 10, help_text)
        headings = [line for line in self.section("OPTIONS").splitlines()
                    if line.startswith(ITEM_INDENT + "-")]
        page_flags = set(re.findall(r"--[a-z][a-z-]*", "\n".join(headings)))
        self.assertEqual(sorted(help_flags - page_flags), [], "in --help, not in OPTIONS")
        self.assertEqual(sorted(page_flags - help_flags), [], "in OPTIONS, not in --help")

    def expected_keys(self, config):
        """The keys the parser lists when `config` holds the bogus key."""
        path = self.write_config(config)
        result = self.run_binary(["--test-config", "--config", path])
        errors = result.stderr.decode()
        self.assertEqual(result.returncode, 78, errors)
        match = re.search(r'"[^"]*%s": unknown key \(expected one of ([^)]*)\)' % BOGUS_KEY, errors)
        self.assertIsNotNone(match, "no list of expected keys for %s: %s" % (config, errors))
        return set(re.findall(r'"([^"]+)"', match.group(1)))

    def test_configuration_documents_every_key_the_parser_accepts(self):
        bogus = '"%s": 1' % BOGUS_KEY
        levels = {  # subsection of CONFIGURATION: configurations with the bogus key there
            "Top level": ["{%s}" % bogus],
            "Probes": ['{"probes": {"p": {%s}}}' % bogus],
            "cursor_backend": ['{"cursor_backend": {%s}}' % bogus,
                               '{"cursor_backend": {"driver": "mysql", %s}}' % bogus,
                               '{"cursor_backend": {"driver": "postgresql", %s}}' % bogus],
            "callable": ['{"callable": {%s}}' % bogus,
                         '{"probes": {"p": {"callable": {%s}}}}' % bogus],
            "cache": ['{"cache": {%s}}' % bogus,
                      '{"probes": {"p": {"cache": {%s}}}}' % bogus],
            "details": ['{"details": {%s}}' % bogus],
        }
        subsections = self.subsections("CONFIGURATION")
        for name, configs in levels.items():
            accepted = set()
            for config in configs:
                accepted |= self.expected_keys(config)
            self.assertIn(name, subsections, "CONFIGURATION has no %s subsection" % name)
            body = subsections[name]
            if name == "Probes":
                # Prose: each key named in it.
                missing = {key for key in accepted if not re.search(r"\b%s\b" % key, body)}
                self.assertEqual(sorted(missing), [], "keys of a probe not in Probes")
                continue
            documented = item_words(body)
            self.assertEqual(sorted(accepted - documented), [],
                             "keys the parser accepts in %s, not documented there" % name)
            self.assertEqual(sorted(documented - accepted), [],
                             "keys documented in %s that the parser refuses" % name)

    def environment_names_read_by_src(self):
        constants = {}
        for path in source_files():
            for name, value in re.findall(r'\b(k\w+)\s*=\s*"([^"]*)"', read(path)):
                constants[name] = value
        names = set()
        for path in source_files():
            text = read(path)
            for argument in re.findall(r"\bgetenv\(([^()]*)\)", text):
                argument = argument.strip()
                if re.fullmatch(r'"[^"]+"', argument):
                    names.add(argument.strip('"'))
                elif argument in constants:
                    names.add(constants[argument])
                elif argument == "3":
                    continue  # "getenv(3)" in a comment
                elif argument == "name" and os.path.basename(path) in ("cgi.cpp", "server_settings.cpp"):
                    continue  # the lookups below
                else:
                    self.fail("%s: getenv(%s): teach this test which names it reads"
                              % (os.path.relpath(path, REPO), argument))
        # cgi.cpp hands getenv to RequestFromVariables, server_settings.cpp to
        # the db_* settings: the names those read.
        names |= set(re.findall(r'copy\("([A-Z_]+)"', read(os.path.join(SRC, "request.h"))))
        names |= set(re.findall(r'"(db_[a-z_]+)"', read(os.path.join(SRC, "server_settings.cpp"))))
        return names

    def test_environment_names_every_variable_src_reads(self):
        names = self.environment_names_read_by_src()
        for expected in ("HEALTHCHECK_CONFIG", "REQUEST_METHOD", "LISTEN_FDS", "db_password",
                         "HTTP_AUTHORIZATION"):
            self.assertIn(expected, names, "the scan of src/ lost track of getenv")
        environment = self.section("ENVIRONMENT")
        missing = sorted(name for name in names
                         if not re.search(r"(?<![\w])%s(?![\w])" % re.escape(name), environment))
        self.assertEqual(missing, [], "read in src/, not in ENVIRONMENT")

    def test_exit_status_lists_every_exit_code(self):
        code_constants = set(re.findall(r"constexpr int kExit\w+ = (\d+);",
                                        read(os.path.join(SRC, "exit_codes.h"))))
        self.assertGreaterEqual(len(code_constants), 6)
        page_codes = item_words(self.section("EXIT STATUS"))
        self.assertEqual(sorted(code_constants - page_codes), [], "in exit_codes.h, not the page")
        self.assertEqual(sorted(page_codes - code_constants), [], "on the page, not in exit_codes.h")

    def test_th_line_names_no_version_of_its_own(self):
        """src/version.h is the one place a version is written: make install
        writes it into the installed page's .TH line (tests/e2e/test_install.py)."""
        th = re.search(r'^\.TH HEALTHCHECK 1 \d{4}-\d{2}-\d{2} "healthcheck"', read(PAGE), re.MULTILINE)
        self.assertIsNotNone(th, "no .TH HEALTHCHECK 1 DATE \"healthcheck\" line")

if __name__ == "__main__":
    unittest.main()
