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


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, dict]:
    """One run of the whole zoo (minutes), shared by the tests below."""
    result = run_cli("zoo", "--json", "--out", str(tmp_path_factory.mktemp("zoo")))
    return result, json.loads(result.stdout)


def test_zoo_finds_every_bug_and_only_that_one(zoo_run: tuple[object, dict]) -> None:
    result, report = zoo_run
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


def test_teaching_commands_work_on_every_counterexample(zoo_run: tuple[object, dict], tmp_path: Path) -> None:
    """show, show --narrate, diagram and html on the counterexample of every known-bug variant."""
    _, report = zoo_run
    for row in report["variants"]:
        trace = row["trace"]
        shown = run_cli("show", trace)
        narrated = run_cli("show", trace, "--narrate")
        diagram = run_cli("diagram", trace, "--format", "mermaid")
        page = run_cli("html", trace, "-o", str(tmp_path / f"{row['variant']}.html"))
        assert (shown.code, narrated.code, diagram.code, page.code) == (0, 0, 0, 0), row["variant"]
        assert diagram.stdout.startswith("sequenceDiagram\n")
        assert f"Violated: {row['expected']}" in shown.stdout
        if row["loop"] is None:
            assert f"Then {row['expected']} no longer holds." in narrated.stdout
            continue
        # a lasso: every view says where the cycle starts and that it repeats forever
        assert f"So {row['expected']}" in narrated.stdout and "repeat forever" in narrated.stdout
        assert f"the cycle starts at state {row['loop']}" in shown.stdout and "repeats forever" in shown.stdout
        assert "    loop repeats forever" in diagram.stdout
        assert '"loop": ' + str(row["loop"]) in (tmp_path / f"{row['variant']}.html").read_text()


LIVENESS_VARIANTS = [p for p in MUTATIONS if p.stem.startswith("l")]


def test_at_least_three_variants_break_only_liveness() -> None:
    assert len(LIVENESS_VARIANTS) >= 3


def test_every_lasso_the_zoo_finds_replays_on_the_reference(zoo_run: tuple[object, dict]) -> None:
    """Prefix and cycle are behaviours of the spec (the naive reference interpreter), the cycle is
    fair, and the property fails on it."""
    import reference_liveness as rl

    from kvolt.checker.build import load_spec
    from kvolt.checker.engine import Step

    _, report = zoo_run
    lassos = [row for row in report["variants"] if row["loop"] is not None]
    assert {row["variant"] for row in lassos} == {p.name for p in LIVENESS_VARIANTS}
    for row in lassos:
        spec = load_spec(builtin_spec_path("mutations") / row["variant"])
        model = spec.model(row["model"])
        document = json.loads(Path(row["trace"]).read_text())
        steps = tuple(Step(s["mbt::actionTaken"], tuple((k, None if v == "none" else v)
                                                         for k, v in s["mbt::nondetPicks"].items()), ())
                      for s in document["states"])
        states = [{k: v for k, v in s.items() if not k.startswith(("#", "mbt::"))} for s in document["states"]]
        binding = {k: (None if v == "none" else v) for k, v in document["#meta"]["violated"].get("binding", {}).items()}
        problems = rl.validate_lasso(spec, model, states, steps, document["loop"], spec.property(row["expected"]), binding)
        assert problems == [], (row["variant"], problems)


def test_state_graph_of_the_tiny_model(tmp_path: Path) -> None:
    document = json.loads(run_cli("graph", "--model", "tiny", "--format", "json").stdout)
    assert document["complete"] and len(document["nodes"]) == 1710
    assert all(not node["violates"] for node in document["nodes"])
    dot = run_cli("graph", "--model", "tiny", "--format", "dot")
    assert dot.code == 0 and dot.stdout.startswith("digraph states {")
