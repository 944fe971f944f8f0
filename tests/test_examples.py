"""The example specs, checked end to end through the CLI with pinned outcomes.

Pinned state counts catch any change in the engine's semantics: a change that moves one of
these numbers must be explained, not just re-pinned.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirunner import run_cli

EXAMPLES = Path(__file__).parent.parent / "spec" / "examples"

# (spec, model, extra flags) -> (verdict, distinct states, depth, violated properties)
PINNED = [
    ("static_binding.kvolt", None, (), ("ok", 268, 7, [])),
    ("static_binding.kvolt", None, ("--no-symmetry",), ("ok", 508, 7, [])),
    ("protection.kvolt", "small", (), ("ok", 6511, 28, [])),
    ("protection.kvolt", "small", ("--no-symmetry",), ("ok", 12662, 28, [])),
    ("protection.kvolt", "two_pods", (), ("ok", 21657, 29, [])),
    ("protection.kvolt", "legacy_claim", (), ("ok", 504, 15, [])),
    ("protection.kvolt", "no_controller", (), ("ok", 51, 12, [])),
    ("stale_pod_cache.kvolt", None, ("--engine", "scalar"), ("violation", 441, 7, ["no_claim_removed_in_use"])),
]


def _check(tmp_path: Path, spec: str, model: str | None, *flags: str) -> tuple[int, dict]:
    args = ["check", str(EXAMPLES / spec), "--json", "-q", "--out", str(tmp_path)]
    if model:
        args += ["--model", model]
    result = run_cli(*args, *flags)
    return result.code, json.loads(result.stdout)


@pytest.mark.parametrize(("spec", "model", "flags", "expected"), PINNED,
                         ids=[f"{s}:{m or 'default'}{''.join(f)}" for s, m, f, _ in PINNED])
def test_example(tmp_path: Path, spec: str, model: str | None, flags: tuple[str, ...], expected: tuple) -> None:
    verdict, distinct, depth, violated = expected
    code, report = _check(tmp_path, spec, model, *flags)
    assert (report["verdict"], report["distinct_states"], report["depth"]) == (verdict, distinct, depth)
    assert [v["property"] for v in report["violations"]] == violated
    assert code == {"ok": 0, "violation": 1}[verdict]
    for violation in report["violations"]:
        assert Path(violation["trace"]).exists()


def test_every_example_is_pinned() -> None:
    pinned = {spec for spec, *_ in PINNED}
    assert pinned == {p.name for p in EXAMPLES.glob("*.kvolt")}


def test_variant_breaks_exactly_its_expected_property(tmp_path: Path) -> None:
    code, report = _check(tmp_path, "stale_pod_cache.kvolt", None, "--continue")
    assert code == 1
    assert [v["property"] for v in report["violations"]] == ["no_claim_removed_in_use"]


def test_counterexample_is_the_stale_informer_race(tmp_path: Path) -> None:
    _check(tmp_path, "stale_pod_cache.kvolt", None)
    trace = json.loads((tmp_path / "no_claim_removed_in_use.itf.json").read_text())
    actions = [s["mbt::actionTaken"] for s in trace["states"]]
    assert actions[0] == "init"
    assert actions[-1] == "pvc_protection.remove_finalizer"
    assert "kubelet.start" in actions
    assert "pvc_protection.sync[Pod]" not in actions  # the controller never saw the pod
    assert trace["#meta"]["violated"]["property"] == "no_claim_removed_in_use"


def test_examples_exercise_every_language_feature() -> None:
    text = "\n".join(p.read_text() for p in EXAMPLES.glob("*.kvolt"))
    features = ["enum ", "kind ", "const ", "finalizers ", "set of ", "actor ", " per ", "cache ", "writethrough",
                "live(", "patch ", "module ", "include ", "extends ", "override action", "expect violation",
                "invariant ", "model ", "default", "one of", "constraint ", "symmetric ", "forall ", "exists ",
                "count(", "if ", " then ", "let ", "create ", "delete ", "add finalizer", "remove finalizer",
                " implies ", " not in ", " <= ", "size(", "none", "///"]
    missing = [f for f in features if f not in text]
    assert not missing
