#!/usr/bin/env python3
"""Runs every test suite and prints one closing line: 'tests: N passed, M failed'.

Suites: the doctest unit tests (one binary), then the Python suites under
tests/integration and tests/e2e, which drive the real binary and real servers.
"""
import argparse
import os
import re
import subprocess
import sys
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON_SUITES = ["tests/integration", "tests/e2e"]
UNIT_TIMEOUT_S = 300


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
    os.environ["HEALTHCHECK_BIN"] = os.path.abspath(args.binary)
    sys.path.insert(0, REPO)

    unit_passed, unit_failed = run_unit(os.path.abspath(args.unit))
    python_passed, python_failed = run_python_suites(args.suite or PYTHON_SUITES)
    passed, failed = unit_passed + python_passed, unit_failed + python_failed
    print("unit: %d passed, %d failed" % (unit_passed, unit_failed))
    print("integration and end-to-end: %d passed, %d failed" % (python_passed, python_failed))
    print("tests: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
