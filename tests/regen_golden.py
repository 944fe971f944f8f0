"""Regenerate every golden file: `python tests/regen_golden.py`. Review the diff before committing."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from clirunner import run_cli
from golden_cases import (
    EXAMPLES,
    LIFECYCLE,
    LIFECYCLE_CASES,
    SHOW,
    SHOW_SOURCES,
    diagram_output,
    error_cases,
    error_output,
    lifecycle_output,
    show_cases,
    show_output,
    working_directory,
)


def regenerate_show_inputs(scratch: Path) -> None:
    for spec, model, trace in SHOW_SOURCES:
        args = ["check", spec, "-q", "--out", str(scratch)]
        if model:
            args += ["--model", model]
        with working_directory(EXAMPLES.parent.parent):
            run_cli(*args)
        document = json.loads((scratch / f"{trace}.itf.json").read_text())
        name = f"{Path(spec).stem}.{trace}.itf.json"
        (SHOW / name).write_text(json.dumps(document, indent=1) + "\n")


def main() -> None:
    scratch = Path(tempfile.mkdtemp())
    try:
        for case in error_cases():
            case.with_suffix(".expect").write_text(error_output(case, scratch))
        regenerate_show_inputs(scratch)
        for case in show_cases():
            case.with_name(case.name.replace(".itf.json", ".expect")).write_text(show_output(case))
            case.with_name(case.name.replace(".itf.json", ".narrate.expect")).write_text(show_output(case, "--narrate"))
            case.with_name(case.name.replace(".itf.json", ".mermaid.expect")).write_text(diagram_output(case))
        LIFECYCLE.mkdir(exist_ok=True)
        for name, spec, kind, field, fmt in LIFECYCLE_CASES:
            (LIFECYCLE / f"{name}.expect").write_text(lifecycle_output(spec, kind, field, fmt))
    finally:
        shutil.rmtree(scratch)
    print(f"regenerated {len(error_cases())} error cases and {len(show_cases())} show cases")


if __name__ == "__main__":
    main()
