import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import os

from hypothesis import settings

# The examples are derandomised by default, so `pytest` gives the same verdict on every machine and
# is never blocked by a new random find. KVOLT_EXPLORE=1 draws fresh random examples instead, to
# look for new failures (the random walks of tests/impl/test_replay.py find the known replay gaps
# listed there now and then).
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile("explore" if os.environ.get("KVOLT_EXPLORE") else "ci")
