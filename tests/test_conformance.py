"""Trace validation: spec traces conform; single-field mutations are caught at their step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirunner import run_cli

from kvolt.checker.build import build
from kvolt.checker.conformance import ConformOptions, conform
from kvolt.checker.frontend.diagnostics import SpecError
from kvolt.checker.views.traces import parse_trace

EXAMPLES = Path(__file__).parent.parent / "spec" / "examples"
STALE = EXAMPLES / "stale_pod_cache.kvolt"


@pytest.fixture(scope="module")
def counterexample(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("cex")
    run_cli("check", str(STALE), "-q", "--out", str(out))
    return json.loads((out / "no_claim_removed_in_use.itf.json").read_text())


@pytest.fixture(scope="module")
def compiled():
    return build(STALE).compiled


def _check(compiled, document: dict, hidden: int = 0):
    return conform(compiled, parse_trace(json.dumps(document), "t.itf.json"), ConformOptions(max_hidden=hidden))


def test_counterexample_conforms_exactly(compiled, counterexample: dict) -> None:
    result = _check(compiled, counterexample)
    assert result.ok and result.mode == "exact"
    assert "pvc_protection.remove_finalizer" in result.actions_used


def _without_caches(document: dict) -> dict:
    partial = json.loads(json.dumps(document))
    partial["vars"] = [v for v in partial["vars"] if not v.startswith("cache:")]
    for state in partial["states"]:
        for key in [k for k in state if k.startswith("cache:")]:
            del state[key]
    return partial


def test_partial_trace_with_hidden_steps(compiled, counterexample: dict) -> None:
    partial = _without_caches(counterexample)
    partial["states"] = [s for s in partial["states"] if "sync" not in s["mbt::actionTaken"]]
    assert not _check(compiled, partial, hidden=0).ok
    result = _check(compiled, partial, hidden=1)
    assert result.ok and result.mode == "partial"


def _mutations(document: dict):
    """Every single-field change of a recorded object field to another value of its type."""
    alternatives = {"node": ["node1", "node2", "none"], "claim": ["pvc1", "none"], "running": [True, False],
                    "exists": [True, False], "deleting": [True, False]}
    for step in range(1, len(document["states"])):
        for var in ("Pod", "PVC"):
            for index, (instance, record) in enumerate(document["states"][step][var]["#map"]):
                for name, value in record.items():
                    previous = document["states"][step - 1][var]["#map"][index][1].get(name)
                    for other in alternatives.get(name, []):
                        if other not in (value, previous) and not (name == "deleting" and other and not record["exists"]):
                            yield step, var, instance, name, other


def test_every_single_field_mutation_fails_at_its_step(compiled, counterexample: dict) -> None:
    count = 0
    for step, var, instance, name, other in _mutations(counterexample):
        mutated = json.loads(json.dumps(counterexample))
        record = dict(mutated["states"][step][var]["#map"])[instance]
        record[name] = other
        try:
            result = _check(compiled, mutated)
        except SpecError as error:  # an impossible record (deleting but not existing) is rejected as input
            assert f"state {step}," in str(error.diagnostics[0].message)
            continue
        assert not result.ok, (step, var, instance, name, other)
        assert result.failed_step == step, (step, var, instance, name, other)
        count += 1
    assert count > 20


def test_cli_reports_the_step_and_a_field_diff(tmp_path: Path, counterexample: dict) -> None:
    mutated = json.loads(json.dumps(counterexample))
    dict(mutated["states"][4]["Pod"]["#map"])["pod1"]["node"] = "node2"
    path = tmp_path / "mutated.itf.json"
    path.write_text(json.dumps(mutated))
    result = run_cli("conform", str(path), "--spec", str(STALE), "--json")
    report = json.loads(result.stdout)
    assert result.code == 1
    (entry,) = report["traces"]
    assert entry["failed_step"] == 4
    assert {"object": "Pod pod1", "field": "node", "recorded": "node2", "spec": "node1"} in entry["closest"][0]
    assert "kubelet.start" in entry["enabled"]


@pytest.mark.parametrize(("patch", "message"), [
    (lambda d: d["states"][1].update({"Volume": {"#map": []}}), "the spec has no such variable"),
    (lambda d: dict(d["states"][2]["Pod"]["#map"])["pod1"].update({"node": "node9"}), "found 'node9'"),
    (lambda d: dict(d["states"][2]["Pod"]["#map"])["pod1"].update({"running": 3}), "expected true or false"),
    (lambda d: dict(d["states"][2]["Pod"]["#map"])["pod1"].update({"colour": "red"}), "has no field 'colour'"),
])
def test_malformed_traces_exit_2(tmp_path: Path, counterexample: dict, patch, message: str) -> None:
    document = json.loads(json.dumps(counterexample))
    document["vars"].append("Volume")
    patch(document)
    path = tmp_path / "bad.itf.json"
    path.write_text(json.dumps(document))
    result = run_cli("conform", str(path), "--spec", str(STALE))
    assert result.code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
