"""Every known-bug variant of the built-in spec breaks exactly the property it declares (kvolt zoo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirunner import run_cli

from kvolt.checker.frontend.loader import builtin_spec_path

MUTATIONS = sorted(builtin_spec_path("mutations").glob("*.kvolt"))


def test_there_are_at_least_twelve_known_bugs() -> None:
    assert len(MUTATIONS) >= 12


def test_zoo_finds_every_bug_and_only_that_one(tmp_path: Path) -> None:
    result = run_cli("zoo", "--json", "--out", str(tmp_path))
    report = json.loads(result.stdout)
    failures = [row for row in report["variants"] if not row["passed"]]
    assert not failures, failures
    assert result.code == 0
    assert report["total"] == len(MUTATIONS)
    for row in report["variants"]:
        assert row["found"] == [row["expected"]]
        trace = json.loads(Path(row["trace"]).read_text())
        assert len(trace["states"]) == row["trace_length"] + 1


@pytest.mark.parametrize("variant", MUTATIONS, ids=lambda p: p.stem)
def test_variant_header_names_upstream_and_property(variant: Path) -> None:
    text = variant.read_text()
    assert "expect violation" in text
    assert "k/k#" in text or "kubernetes" in text.lower()


def test_teaching_commands_work_on_every_counterexample(tmp_path: Path) -> None:
    """show, show --narrate, diagram and html on the counterexample of every known-bug variant."""
    report = json.loads(run_cli("zoo", "--json", "--out", str(tmp_path / "zoo")).stdout)
    for row in report["variants"]:
        trace = row["trace"]
        shown = run_cli("show", trace)
        narrated = run_cli("show", trace, "--narrate")
        diagram = run_cli("diagram", trace, "--format", "mermaid")
        page = run_cli("html", trace, "-o", str(tmp_path / f"{row['variant']}.html"))
        assert (shown.code, narrated.code, diagram.code, page.code) == (0, 0, 0, 0), row["variant"]
        assert f"Then {row['expected']} no longer holds." in narrated.stdout
        assert diagram.stdout.startswith("sequenceDiagram\n")
        assert f"Violated: {row['expected']}" in shown.stdout


def test_state_graph_of_the_tiny_model(tmp_path: Path) -> None:
    document = json.loads(run_cli("graph", "--model", "tiny", "--format", "json").stdout)
    assert document["complete"] and len(document["nodes"]) == 1710
    assert all(not node["violates"] for node in document["nodes"])
    dot = run_cli("graph", "--model", "tiny", "--format", "dot")
    assert dot.code == 0 and dot.stdout.startswith("digraph states {")
