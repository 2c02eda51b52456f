"""A short soak (tests/soak/soak.py for 12 s): good requests all answered,
worker memory and descriptors flat under mixed hostile traffic."""
import unittest

from tests.integration.support import BINARY
from tests.soak import soak

SOAK_SECONDS = 12


class ShortSoakTest(unittest.TestCase):

    def test_mixed_traffic_leaves_workers_flat(self):
        lines = []
        problems = soak.run(BINARY, SOAK_SECONDS, report=lines.append)
        self.assertEqual(problems, [], "\n".join(lines))
