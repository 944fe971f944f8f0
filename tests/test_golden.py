"""Golden files: parser and checker errors, and `kvolt show`. Regenerate with tests/regen_golden.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from golden_cases import (
    LIFECYCLE,
    LIFECYCLE_CASES,
    diagram_output,
    error_cases,
    error_output,
    lifecycle_output,
    show_cases,
    show_output,
)

CODES_COVERED = {"P", "L", "R", "T", "S", "M", "X"}


def test_golden_folders_are_not_empty() -> None:
    assert len(error_cases()) >= 40
    assert show_cases()


def test_every_error_family_has_a_golden_case() -> None:
    assert {case.name[0] for case in error_cases()} == CODES_COVERED


@pytest.mark.parametrize("case", error_cases(), ids=lambda p: p.stem)
def test_error_message(case: Path, tmp_path: Path) -> None:
    expected = case.with_suffix(".expect").read_text()
    actual = error_output(case, tmp_path)
    assert actual == expected
    assert "Traceback" not in actual
    assert actual.startswith("exit 2\n")


@pytest.mark.parametrize("case", show_cases(), ids=lambda p: p.name)
def test_show(case: Path) -> None:
    expected = case.with_name(case.name.replace(".itf.json", ".expect")).read_text()
    assert show_output(case) == expected


@pytest.mark.parametrize("case", show_cases(), ids=lambda p: p.name)
def test_narration(case: Path) -> None:
    expected = case.with_name(case.name.replace(".itf.json", ".narrate.expect")).read_text()
    assert show_output(case, "--narrate") == expected


@pytest.mark.parametrize("case", show_cases(), ids=lambda p: p.name)
def test_mermaid_sequence_diagram(case: Path) -> None:
    expected = case.with_name(case.name.replace(".itf.json", ".mermaid.expect")).read_text()
    assert diagram_output(case) == expected


@pytest.mark.parametrize(("name", "spec", "kind", "field", "fmt"), LIFECYCLE_CASES, ids=[c[0] for c in LIFECYCLE_CASES])
def test_lifecycle_diagram(name: str, spec: str, kind: str, field: str | None, fmt: str) -> None:
    assert lifecycle_output(spec, kind, field, fmt) == (LIFECYCLE / f"{name}.expect").read_text()
