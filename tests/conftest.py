import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import os

from hypothesis import settings

# In CI the examples are derandomised, so a run is reproducible and never blocked by a new random find
# (the random exploration happens on developers' machines, where the profile is the default one).
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
