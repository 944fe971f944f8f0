"""Every known-bug variant of the built-in spec breaks exactly the property it declares (kvolt zoo)."""

from __future__ import annotations

import json
import re
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


# -- every zoo counterexample replayed on the implementation (kvolt replay): it never says ok where the
# states differ. Each variant: the bug flag re-introducing its bug in the implementation, or None,
# and what replaying its counterexample must show:
#   "flag"        with the flag the implementation follows every step and the property breaks there;
#                 the correct implementation fails at or after the mutated step
#   "refused"     no flag: the correct implementation fails at or after the mutated step
#   "environment" no flag: the rule changed is an environment actor's (an administrator's mistake), which
#                 the implementation cannot refuse: it follows every step and the property breaks there
#   "unsupported" the implementation cannot build the variant's model (exit 2, the reason named)
ZOO_REPLAY: dict[str, tuple[str | None, str]] = {
    "b01_protection_without_in_use_check": ("pvc-protection-no-in-use-check", "flag"),
    "b02_protection_trusts_stale_pod_cache": ("pvc-protection-informer-only", "flag"),
    "b04_pod_removed_before_unmount": (None, "refused"),
    "b08_multi_attach_guard_removed": ("adc-no-multi-attach-guard", "flag"),
    "b09_attach_keyed_per_node": ("adc-attach-key-per-node", "flag"),
    "b11_force_detach_healthy_node": (None, "refused"),
    "b12_out_of_service_on_running_node": (None, "environment"),
    "b13_claim_written_before_volume": (None, "refused"),
    "b13_writes_without_optimistic_concurrency": (None, "refused"),
    "b17_provisioning_name_changes_on_retry": (None, "refused"),
    "b18_kubelet_rejects_terminating_claim": ("kubelet-reject-terminating-pvc", "flag"),
    "b20_allocated_raised_after_expansion": ("expand-allocated-after-expansion", "flag"),
    "l01_protection_not_requeued_on_pod_delete": (None, "refused"),
    "l02_no_force_detach_without_taint": (None, "refused"),
    "l03_reclaim_skips_deleted_volume": (None, "refused"),
    "s06_detach_without_in_use_check": ("adc-detach-no-in-use-check", "flag"),
    "x01_released_volume_matched": (None, "refused"),
    "x02_in_use_not_reported_before_mount": (None, "refused"),
    "x03_release_without_live_get": (None, "unsupported"),
    "x04_quota_charges_spec_only": (None, "refused"),
}


def _mutated_step(variant: Path, document: dict) -> int:
    """The first step the variant's changed rules take: an overridden action (`override action` inside
    `actor A { ... }`), or, for a lasso, its cycle (an action made unfair, a rule whose absence the
    cycle shows)."""
    changed, actor = set(), None
    for line in variant.read_text().splitlines():
        if (opened := re.match(r"\s*actor (\w+)", line)) is not None:
            actor = opened.group(1)
        if (override := re.match(r"\s*override action (\w+)", line)) is not None:
            changed.add(f"{actor}.{override.group(1)}")
        if (unfair := re.match(r"\s*unfair action (\w+\.\w+)", line)) is not None:
            changed.add(unfair.group(1))
    actions = [s["mbt::actionTaken"] for s in document["states"]]
    first = [i for i, a in enumerate(actions) if a in changed]
    if document.get("loop") is not None:
        first.append(document["loop"] + 1)
    assert first, f"{variant.name}: no step of its counterexample takes a changed rule"
    return min(first)


def test_every_zoo_counterexample_replays_as_its_table_row_says(zoo_run: tuple[object, dict]) -> None:
    from kvolt.impl.faults import BUGS

    _, report = zoo_run
    assert {row["variant"].removesuffix(".kvolt") for row in report["variants"]} == set(ZOO_REPLAY)
    assert {flag for flag, _ in ZOO_REPLAY.values() if flag} == set(BUGS)  # every bug flag has its variant
    problems = []
    for row in report["variants"]:
        name = row["variant"].removesuffix(".kvolt")
        flag, expected = ZOO_REPLAY[name]
        document = json.loads(Path(row["trace"]).read_text())
        mutated = _mutated_step(builtin_spec_path("mutations") / row["variant"], document)
        correct = run_cli("replay", row["trace"], "--json")
        if expected == "unsupported":
            if correct.code != 2 or "the implementation has no" not in correct.stderr:
                problems.append((name, "expected exit 2 naming what the implementation lacks", correct.stderr))
            continue
        result = json.loads(correct.stdout)
        if expected == "environment":
            if not (correct.code == 0 and result["ok"] and result["property_reached"]):
                problems.append((name, "expected the violation reached on the correct implementation", result))
            continue
        if correct.code != 1 or result["ok"] or result["failed_step"] < mutated or not result["differences"]:
            problems.append((name, f"expected a failure at or after step {mutated}", result["failed_step"],
                             result["message"]))
        if flag is not None:
            faulty = run_cli("replay", row["trace"], "--bug", flag, "--json")
            outcome = json.loads(faulty.stdout)
            if not (faulty.code == 0 and outcome["ok"] and outcome["property"] == row["expected"]
                    and outcome["property_reached"]):
                problems.append((name, f"expected the violation reached with --bug {flag}", outcome))
    assert problems == [], problems
