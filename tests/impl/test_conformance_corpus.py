"""Conformance (issue 5): recorded implementation traces are behaviours of the spec.

(a) every trace of the corpus (traces/*.itf.json, impl/tools/make_corpus.py) conforms to
    spec/conformance.kvolt with MAX_HIDDEN hidden steps;
(b) traces recorded with the bug-reintroducing flags of impl/faults.py are rejected;
(c) single-field mutations of good corpus traces are rejected at the mutated step (or, where the
    mutated value is one the spec allows there, at the next step).
"""

from __future__ import annotations

import copy
import json
import random
from functools import lru_cache
from pathlib import Path

import pytest

from kvolt.checker.build import choose_model, load_spec
from kvolt.checker.compiler import compile_model
from kvolt.checker.conformance import ConformOptions, conform
from kvolt.checker.frontend.diagnostics import SourceMap
from kvolt.checker.views.traces import parse_trace
from kvolt.impl.abstraction import SLOTS, VARIABLES
from kvolt.impl.record import run
from kvolt.impl.tools.make_corpus import MAX_HIDDEN, corpus, spec_walks

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "conformance.kvolt"
TRACES = sorted((ROOT / "traces").glob("*.itf.json"))


@lru_cache(maxsize=1)
def _spec():
    return load_spec(str(SPEC), SourceMap())


@lru_cache(maxsize=8)
def _model(name: str):
    loaded = _spec()
    return compile_model(loaded, choose_model(loaded, name))


def _check(document: dict, name: str = "trace"):
    trace = parse_trace(json.dumps(document), name)
    return conform(_model(document["#meta"]["model"]), trace, ConformOptions(max_hidden=MAX_HIDDEN))


# ------------------------------------------------------------------------------------------ (a)


def test_corpus_is_complete_and_fresh():
    walks = [name for name, _ in spec_walks()]
    assert [p.name for p in TRACES] == sorted([*(name for name, *_ in corpus()), *walks])
    recorded = [p for p in TRACES if p.name not in walks]
    assert len(recorded) >= 50
    models = {json.loads(p.read_text())["#meta"]["model"] for p in recorded}
    assert models == {f"{family}{suffix}" for family in SLOTS for suffix in ("", "_restart", "_faults")}
    steps = [json.loads(p.read_text())["#meta"]["steps"] for p in recorded]
    assert min(steps) >= 40 and max(steps) <= 120


def test_corpus_regenerates_byte_for_byte():
    from kvolt.impl.cli_api import trace_text

    for name, workload, faults, steps, seed in corpus()[::9]:
        assert trace_text(run(seed, steps, faults, workload).document) == (ROOT / "traces" / name).read_text()


def test_corpus_spec_walks_regenerate_byte_for_byte(monkeypatch):
    monkeypatch.chdir(ROOT)
    for name, text in spec_walks():
        assert text == (ROOT / "traces" / name).read_text(), name


def test_the_whole_corpus_conforms_through_the_cli(capsys, monkeypatch):
    from kvolt.cli import main

    monkeypatch.setattr("sys.argv", ["kvolt", "conform", *map(str, TRACES), "--spec", str(SPEC),
                                     "--max-hidden", str(MAX_HIDDEN), "--json"])
    code = main()
    report = json.loads(capsys.readouterr().out)
    failed = [(t["trace"], t["failed_step"], t["message"]) for t in report["traces"] if not t["ok"]]
    assert not failed
    assert code == 0 and report["passed"] == len(TRACES)
    # spec walks (every variable, every step named) are checked exactly; recordings (API objects only) partially
    modes = {Path(t["trace"]).name.startswith("walk-"): t["mode"] for t in report["traces"]}
    assert modes == {True: "exact", False: "partial"}
    # the corpus drives the spec through binding, attach, mount reporting and node failure
    for action in ("user.create_claim", "pv_controller.provision_volume", "pv_controller.bind_claim_phase",
                   "scheduler.schedule", "attach_detach.attach", "attach_detach.report_attached",
                   "kubelet.report_in_use", "machine.power_off", "node_lifecycle.mark_not_ready",
                   "admin.taint_out_of_service", "kubelet.heartbeat", "pvc_protection.remove_finalizer"):
        assert report["coverage"].get(action, 0) > 0, action


# ------------------------------------------------------------------------------------------ (b)

# flag -> (seed, steps, faults, the implementation step at which the trace leaves the spec): the
# first seed of the `conform` workload (no faults) whose recording shows the bug at the API.
# Not listed (see the issue 5 report): pvc-protection-informer-only, adc-attach-key-per-node and
# kubelet-reject-terminating-pvc (no seed found yet whose recording shows them), and
# expand-allocated-after-expansion (expansion is not part of the conformance workloads).
BUG_RECORDINGS: dict[str, tuple[int, int, list[str], str]] = {
    # the ADC removes the volume from volumesAttached while node2 reports it in use (detach_start's guard)
    "adc-detach-no-in-use-check": (4, 200, [], "adc_reconcile"),
    # the RWO disk is reported attached to node1 while still attached to node2 (one VolumeAttachment)
    "adc-no-multi-attach-guard": (4, 200, [], "adc_reconcile"),
    # the claim is removed while a scheduled pod uses it (pvc_protection.remove_finalizer's guard)
    "pvc-protection-no-in-use-check": (2, 200, [], "pvc_protection_sync"),
}


@pytest.mark.parametrize("flag", sorted(BUG_RECORDINGS))
def test_bug_flag_recording_is_rejected(flag):
    seed, steps, faults, where = BUG_RECORDINGS[flag]
    document = run(seed, steps, [*faults, flag], "conform").document
    result = _check(document, flag)
    assert not result.ok
    assert document["states"][result.failed_step]["#meta"]["impl_action"] == where


# ------------------------------------------------------------------------------------------ (c)

MUTATION_TRACES = ["disk-none-s1", "disk-none-s2", "disk-quiet-s1", "disk-quiet-s5", "disk-restart-s1", "nfs-quiet-s1"]
MUTATIONS_PER_TRACE = 45
ENUMS = {"phase": ["Pending", "Available", "Bound", "Released", "Failed"]}


def _alternatives(kind: str, field: str, value, ids: dict[str, list[str]]):
    if isinstance(value, bool):
        return [not value]
    if field == "phase":
        members = ["Pending", "Bound", "Lost"] if kind == "PVC" else ENUMS["phase"]
        return [m for m in members if m != value]
    if isinstance(value, int):
        return [v for v in range(3 if field == "pods_left" else 4) if v != value]
    if isinstance(value, dict) and "#set" in value:
        universe = ["termination"] if kind == "Pod" else \
            ["pvc_protection"] if kind == "PVC" else ["pv_protection", "pv_controller"] if field == "finalizers" else ids["PV"]
        current = set(value["#set"])
        return [{"#set": sorted(current ^ {x})} for x in universe]
    if isinstance(value, str):
        target = {"claim": "PVC", "volume": "PV", "node": "Node", "selected_node": "Node"}[field]
        return [v for v in ["none", *ids[target]] if v != value]
    return []


def _mutations(document: dict, rng: random.Random, count: int):
    states = document["states"]
    ids = {var: [k for k, _ in states[0][var]["#map"]] for var in VARIABLES}
    out = []
    attempts = 0
    while len(out) < count and attempts < count * 50:
        attempts += 1
        index = rng.randrange(1, len(states))
        var = rng.choice([*VARIABLES, "Cluster"])
        pairs = states[index][var]["#map"]
        slot = rng.randrange(len(pairs))
        record = pairs[slot][1]
        field = rng.choice(sorted(record))
        before = dict(states[index - 1][var]["#map"][slot][1])
        options = [v for v in _alternatives(var, field, record[field], ids) if v != before.get(field)]
        if var == "Cluster" and field == "exists":
            continue
        if field == "exists":
            options = [{"exists": not record["exists"]}] if record["exists"] or not before.get("exists") else []
        if not options:
            continue
        value = rng.choice(options)
        mutated = copy.deepcopy(document)
        target = mutated["states"][index][var]["#map"][slot]
        if field == "exists":
            target[1] = value
        else:
            target[1][field] = value
        mutated["states"] = mutated["states"][:index + 2]
        out.append((index, f"{var}.{pairs[slot][0]}.{field}={value}", mutated))
    return out


def test_single_field_mutations_are_rejected_at_the_mutated_step():
    rng = random.Random(5)
    at_step, next_step, accepted = 0, 0, []
    for name in MUTATION_TRACES:
        document = json.loads((ROOT / "traces" / f"{name}.itf.json").read_text())
        for index, what, mutated in _mutations(document, rng, MUTATIONS_PER_TRACE):
            result = _check(mutated, f"{name}:{what}")
            if result.ok:
                accepted.append((name, index, what))
            elif result.failed_step == index:
                at_step += 1
            else:
                assert result.failed_step == index + 1, (name, index, what, result.failed_step)
                next_step += 1
    total = at_step + next_step + len(accepted)
    assert total >= 250
    # a mutated value can be one the spec also allows there (another interleaving of hidden steps);
    # with this seed 2 of 270 are (a claim removed a step early, a volume reported attached a step
    # early); everything else is rejected: 250 at the mutated step, 18 at the next one
    assert len(accepted) <= 0.02 * total, accepted
    assert at_step >= 0.9 * total, (at_step, next_step)
