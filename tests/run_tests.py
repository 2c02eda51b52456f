#!/usr/bin/env python3
"""Runs every test suite and prints one closing line: 'tests: N passed, M failed'.

Suites: the doctest unit tests (one binary), then the Python suites under
tests/integration and tests/e2e, which drive the real binary and real servers.

Some tests run the binary and shipped scripts as unprivileged users (nobody,
the web server's www-data), who may not be able to enter the checkout (a
clone under /root, mode 0700 on Debian): the suites run copies staged in a
temporary folder anyone can enter ($HEALTHCHECK_BIN, $HEALTHCHECK_STAGE),
removed at the end.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON_SUITES = ["tests/integration", "tests/e2e"]
UNIT_TIMEOUT_S = 300
# Shipped files the tests run as another user (see run_by_others in
# tests/integration/support.py).
FILES_RUN_BY_OTHERS = ["conf/spawn-fcgi.sh"]
# healthcheck-mysql and healthcheck-postgresql (src/driver_handover.h).
DRIVER_PROGRAM_SUFFIXES = ["-mysql", "-postgresql"]


def run_unit(binary):
    """Runs the doctest binary; returns (passed, failed)."""
    completed = subprocess.run([binary], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=UNIT_TIMEOUT_S)
    output = completed.stdout.decode(errors="replace")
    sys.stdout.write(output)
    found = re.search(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", output)
    if not found:
        print("unit: no doctest summary found (exit %d)" % completed.returncode)
        return 0, 1
    passed, failed = int(found.group(2)), int(found.group(3))
    if completed.returncode != 0 and failed == 0:
        failed = 1
    return passed, failed


def stage_for_other_users(binary):
    """Copies `binary`, and FILES_RUN_BY_OTHERS under their repository
    paths, into a new folder of the system's temp folder that other users
    may enter (0755 whatever the umask); returns (folder, binary's copy)."""
    folder = tempfile.mkdtemp(prefix="healthcheck-stage-")
    try:
        os.chmod(folder, 0o755)
        # The driver programs the binary hands over to live beside it.
        programs = [binary] + [binary + suffix for suffix in DRIVER_PROGRAM_SUFFIXES
                               if os.path.exists(binary + suffix)]
        copies = [(program, os.path.join(folder, os.path.basename(program)))
                  for program in programs]
        copies += [(os.path.join(REPO, relative), os.path.join(folder, relative))
                   for relative in FILES_RUN_BY_OTHERS]
        for source, copy in copies:
            if not os.path.isdir(os.path.dirname(copy)):
                os.makedirs(os.path.dirname(copy))
                os.chmod(os.path.dirname(copy), 0o755)
            shutil.copy2(source, copy)
            os.chmod(copy, 0o755)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # A missing binary leaves nothing behind.
        raise
    return folder, copies[0][1]


def run_python_suites(names):
    """Runs the unittest suites; returns (passed, failed)."""
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for name in names:
        folder = os.path.join(REPO, name)
        if os.path.isdir(folder) and any(f.startswith("test_") for f in os.listdir(folder)):
            suite.addTests(loader.discover(folder, top_level_dir=REPO))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    return result.testsRun - failed - skipped, failed


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--unit", required=True, help="the doctest unit test binary")
    parser.add_argument("--binary", required=True, help="build/healthcheck")
    parser.add_argument("--suite", action="append", help="only these Python suite folders")
    args = parser.parse_args()
    # SIGTERM (timeout, a cancelled CI job) unwinds like Ctrl-C, so the
    # staging folder goes and the running suite's servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Held back until the folder is in the hands of the `finally` below: a
    # SIGTERM between the folder's making and the `try` would leave it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    stage, staged_binary = stage_for_other_users(os.path.abspath(args.binary))
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        os.environ["HEALTHCHECK_BIN"] = staged_binary
        os.environ["HEALTHCHECK_STAGE"] = stage
        sys.path.insert(0, REPO)
        unit_passed, unit_failed = run_unit(os.path.abspath(args.unit))
        python_passed, python_failed = run_python_suites(args.suite or PYTHON_SUITES)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    passed, failed = unit_passed + python_passed, unit_failed + python_failed
    print("unit: %d passed, %d failed" % (unit_passed, unit_failed))
    print("integration and end-to-end: %d passed, %d failed" % (python_passed, python_failed))
    print("tests: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
