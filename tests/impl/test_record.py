"""Recorded runs: monitors stay silent on the correct implementation, runs are reproducible from
their seed, and each bug-reintroducing flag is caught by a physical monitor."""

import json
import os
import subprocess
import sys

import pytest

from kvolt.checker.views.traces import load_trace
from kvolt.impl.cli_api import FaultError, record, trace_text
from kvolt.impl.record import run
from kvolt.impl.tools.seed_sweep import sweep

FAULTS = ["all"]


def test_correct_implementation_under_faults_fires_no_monitor():
    summary = sweep(200, 400, FAULTS)
    assert summary.runs_with_violations == 0, summary
    assert summary.total_steps > 200 * 300  # the runs really ran


def test_pct_strategy_fires_no_monitor():
    assert sweep(20, 400, FAULTS, strategy="pct").runs_with_violations == 0


@pytest.mark.parametrize("seed", [0, 7, 123])
def test_record_is_byte_for_byte_reproducible(tmp_path, seed):
    a, b = tmp_path / "a.itf.json", tmp_path / "b.itf.json"
    first = record(seed, 300, FAULTS, "default", a)
    record(seed, 300, FAULTS, "default", b)
    assert a.read_bytes() == b.read_bytes()
    assert first.states == first.steps + 1


def test_reproducible_across_processes_with_different_hash_seeds(tmp_path):
    script = ("import sys; from pathlib import Path; from kvolt.impl.cli_api import record; "
              "record(5, 250, ['all'], 'default', Path(sys.argv[1]))")
    outs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"{hash_seed}.json"
        subprocess.run([sys.executable, "-c", script, str(out)], check=True,
                       env={**os.environ, "PYTHONHASHSEED": hash_seed})
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_trace_is_valid_itf_with_actions_and_raw_events(tmp_path):
    out = tmp_path / "t.itf.json"
    record(3, 200, FAULTS, "default", out)
    trace = load_trace(out)
    assert trace.vars == ["PV", "PVC", "Pod", "Node"]
    actions = {s["mbt::actionTaken"] for s in trace.states}
    assert {"init", "user.create_claim", "impl:deliver_event", "impl:pv_controller_sync_claim"} <= actions
    assert any(s["#meta"].get("api_events") for s in trace.states[1:])
    assert [s["#meta"]["index"] for s in trace.states] == list(range(len(trace.states)))


def test_unknown_fault_is_an_error():
    with pytest.raises(FaultError):
        run(0, 10, ["no-such-fault"])


# Each flag re-introduces a known bug; the first violating seeds below were found by
# `python -m kvolt.impl.tools.seed_sweep --fault all --fault FLAG` (see the report).
@pytest.mark.parametrize(("flag", "seed", "monitor"), [
    ("pvc-protection-no-in-use-check", 0, "deleted-while-mounted"),
    ("adc-no-multi-attach-guard", 92, "multi-attach-write"),
    ("adc-detach-no-in-use-check", 2, "detached-while-mounted"),
    ("pvc-protection-informer-only", 2322, "deleted-while-mounted"),
])
def test_bug_flag_is_caught_and_the_trace_shows_how(tmp_path, flag, seed, monitor):
    out = tmp_path / "bug.itf.json"
    result = record(seed, 400, [*FAULTS, flag], "default", out)
    assert result.violations and result.violations[0].startswith(monitor)
    doc = json.loads(out.read_text())
    flagged = [s for s in doc["states"] if s["#meta"].get("violations")]
    assert flagged and flagged[0]["#meta"]["violations"][0].startswith(monitor)
    assert doc["#meta"]["bugs"] == [flag]
    # without the flag the same seed is clean
    assert not run(seed, 400, FAULTS, keep_states=False).violations


def test_trace_text_is_stable_json():
    doc = run(1, 50, []).document
    assert json.loads(trace_text(doc)) == doc
