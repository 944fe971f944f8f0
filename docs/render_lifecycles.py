"""Render the lifecycles of the built-in spec to SVG: `python docs/render_lifecycles.py` (needs Graphviz).

Each picture is derived from the explored state graph by `kvolt lifecycle`, never drawn by hand.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

# (file, model, kind, field)
PICTURES = [
    ("lifecycle-pv.svg", "lifecycle", "PV", "phase"),
    ("lifecycle-pvc.svg", "lifecycle", "PVC", "phase"),
    ("lifecycle-pod.svg", "attach", "Pod", "node"),
    ("lifecycle-va.svg", "attach", "VolumeAttachment", "attached"),
]


def main() -> None:
    for name, model, kind, field in PICTURES:
        dot = subprocess.run([sys.executable, "-m", "kvolt", "lifecycle", "--model", model, "--kind", kind,
                              "--field", field, "--format", "dot"], capture_output=True, text=True, check=True).stdout
        svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=True).stdout
        (HERE / name).write_text(svg)
        print(f"wrote docs/{name} ({kind} {field}, model {model})")


if __name__ == "__main__":
    main()
