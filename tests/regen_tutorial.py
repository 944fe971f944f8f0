"""Refresh the outputs in docs/tutorial.md: `python tests/regen_tutorial.py`. Review the diff.

Each `$ kvolt ...` line of a ```console block is run from the repository root and the lines after
it are replaced by its output, with timings turned into `[...]` so the page stays stable.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from clirunner import run_cli
from golden_cases import working_directory

ROOT = Path(__file__).parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"

VOLATILE = [
    (re.compile(r"\d[\d,]*\.\d+ s\b"), "[...] s"),
    (re.compile(r"\([\d,]+ distinct states/s\)"), "([...] distinct states/s)"),
    (re.compile(r"collision probability about \S+"), "collision probability about [...]"),
    (re.compile(r"(\s)\d+\.\d\d(\s+(ok|MISMATCH|INCOMPLETE))$"), r"\1[...]\2"),
]


def stable(line: str) -> str:
    for pattern, replacement in VOLATILE:
        line = pattern.sub(replacement, line)
    return line.rstrip()


def main() -> None:
    lines = TUTORIAL.read_text().splitlines()
    out: list[str] = []
    in_block = None  # "console", "mermaid" (regenerated, dropped) or None
    last_output: list[str] = []
    for line in lines:
        if line.startswith("```"):
            if in_block is None:
                in_block = line.strip()[3:] or "other"
                if in_block != "mermaid":
                    out.append(line)
                continue
            if in_block == "console":
                out.append(line)
                if last_output and last_output[0].startswith(("sequenceDiagram", "stateDiagram")):
                    out.extend(["", "```mermaid", *last_output, "```"])
            elif in_block != "mermaid":
                out.append(line)
            in_block = None
            continue
        if in_block == "console" and line.startswith("$ "):
            out.append(line)
            command = line[2:].partition("  # exits ")[0]
            with working_directory(ROOT):
                result = run_cli(*shlex.split(command)[1:])
            last_output = [stable(x) for x in (result.stdout + result.stderr).rstrip("\n").splitlines()]
            out.extend(last_output)
            continue
        if in_block in ("console", "mermaid"):
            continue  # old output, regenerated above
        if in_block is None and out and out[-1] == "" and line == "" :
            continue
        out.append(line)
    TUTORIAL.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
