"""The command-line contract: exit codes, --json, limits, counterexample files, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from clirunner import run_cli

EXAMPLES = Path(__file__).parent.parent / "spec" / "examples"
PROTECTION = str(EXAMPLES / "protection.kvolt")
STALE = str(EXAMPLES / "stale_pod_cache.kvolt")

JSON_KEYS = {"spec", "model", "verdict", "distinct_states", "generated_states", "depth", "seconds",
             "states_per_second", "symmetry", "workers", "actions", "violations"}


def test_json_is_one_object_with_the_contract_keys(tmp_path: Path) -> None:
    result = run_cli("check", PROTECTION, "--json", "--out", str(tmp_path))
    report = json.loads(result.stdout)
    assert report.keys() >= JSON_KEYS
    assert result.stdout.count("\n") == 1
    assert report["symmetry"] is True and report["workers"] == 1
    assert all(isinstance(v, int) for v in report["actions"].values())
    assert "OK" in result.stderr  # human output goes to stderr


def test_violation_exits_1_and_writes_itf(tmp_path: Path) -> None:
    result = run_cli("check", STALE, "--json", "--out", str(tmp_path))
    assert result.code == 1
    violation = json.loads(result.stdout)["violations"][0]
    trace = json.loads(Path(violation["trace"]).read_text())
    assert len(trace["states"]) == violation["length"] + 1
    assert trace["vars"][0] == "Node"
    for index, state in enumerate(trace["states"]):
        assert state["#meta"]["index"] == index
        assert "mbt::actionTaken" in state and "mbt::nondetPicks" in state


@pytest.mark.parametrize("limit", [["--max-states", "100"], ["--max-depth", "3"]])
def test_a_limit_gives_incomplete_never_ok(tmp_path: Path, limit: list[str]) -> None:
    result = run_cli("check", PROTECTION, "--json", "--out", str(tmp_path), *limit)
    report = json.loads(result.stdout)
    assert result.code == 3
    assert report["verdict"] == "incomplete"
    assert "INCOMPLETE" in result.stderr


def test_depth_limit_beyond_the_diameter_is_complete(tmp_path: Path) -> None:
    result = run_cli("check", PROTECTION, "--json", "--max-depth", "28", "--out", str(tmp_path))
    assert result.code == 0


def test_a_limit_does_not_hide_a_violation_found_before_it(tmp_path: Path) -> None:
    result = run_cli("check", STALE, "--json", "--max-states", "100000", "--out", str(tmp_path))
    assert result.code == 1


def test_invariant_filter(tmp_path: Path) -> None:
    result = run_cli("check", STALE, "--json", "--invariant", "running_pods_are_scheduled", "--out", str(tmp_path))
    assert result.code == 0


@pytest.mark.parametrize(("args", "message"), [
    (["check", PROTECTION, "--model", "smal"], "did you mean 'small'?"),
    (["check", PROTECTION, "--invariant", "nope"], "unknown invariant 'nope'"),
    (["check", "/no/such/spec.kvolt"], "spec file not found"),
    (["check", PROTECTION, "--max-states", "0"], "Invalid value"),
    (["frobnicate"], "No such command"),
])
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("text", "message", "position"), [
    ('{"states": [', "not valid JSON", ":1:13"),
    ('{"vars": ["a"], "states": []}', "the trace has no states", ":1:27"),
    ('{"states": [{"a": 1}, 7]}', "each state must be an object", ":1:23"),
    ('{\n "vars": ["a"],\n "states": [\n  {"b": 1}\n ]\n}', "variable 'b' is not listed", ":4:9"),
    ('{"states": [{"a": {"#map": [[1]]}}]}', "'#map' holds a list of [key, value] pairs", ":1:28"),
])
def test_malformed_traces_exit_2_with_a_position(tmp_path: Path, text: str, message: str, position: str) -> None:
    path = tmp_path / "bad.itf.json"
    path.write_text(text)
    result = run_cli("show", str(path))
    assert result.code == 2
    assert message in result.stderr
    assert f"bad.itf.json{position}" in result.stderr
    assert "Traceback" not in result.stderr


def test_show_marks_only_changed_fields(tmp_path: Path) -> None:
    run_cli("check", STALE, "--out", str(tmp_path), "-q")
    result = run_cli("show", str(tmp_path / "no_claim_removed_in_use.itf.json"))
    assert result.code == 0
    step5 = result.stdout.split("Step 5")[1].split("Step 6")[0]
    assert "deleting  false -> true" in step5
    assert "running" not in step5
    assert result.stdout.rstrip().endswith("S1: a claim is not removed while a pod that uses it runs.")


def test_console_script_runs_without_traceback() -> None:
    done = subprocess.run([sys.executable, "-m", "kvolt", "check", STALE, "-q", "--out", "/dev/null/x"],
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr


def test_simulate_is_reproducible_and_finds_the_race(tmp_path: Path) -> None:
    args = ["simulate", STALE, "--runs", "300", "--depth", "30", "--seed", "7", "--json", "--out", str(tmp_path)]
    first = json.loads(run_cli(*args).stdout)
    second = json.loads(run_cli(*args).stdout)
    assert first["verdict"] == "violation"
    assert {k: v for k, v in first.items() if k != "seconds" and k != "steps_per_second"} == \
        {k: v for k, v in second.items() if k != "seconds" and k != "steps_per_second"}
    trace = json.loads(Path(first["violations"][0]["trace"]).read_text())
    assert trace["states"][-1]["mbt::actionTaken"] == "pvc_protection.remove_finalizer"


def test_simulate_ok_is_not_called_a_proof(tmp_path: Path) -> None:
    result = run_cli("simulate", PROTECTION, "--runs", "50", "--depth", "20", "--out", str(tmp_path), "--save-walks", "2")
    assert result.code == 0
    assert "not a proof" in result.stderr
    assert len(list(tmp_path.glob("walk-0-*.itf.json"))) == 2


def test_zoo_reports_each_variant(tmp_path: Path) -> None:
    folder = tmp_path / "zoo"
    folder.mkdir()
    (folder / "stale.kvolt").write_text(Path(STALE).read_text().replace('"protection.kvolt"', f'"{PROTECTION}"'))
    (folder / "wrong.kvolt").write_text(f'extends "{PROTECTION}"\nexpect violation running_pods_are_scheduled\n')
    result = run_cli("zoo", str(folder), "--json", "--out", str(tmp_path / "out"))
    report = json.loads(result.stdout)
    assert result.code == 1
    rows = {row["variant"]: row for row in report["variants"]}
    assert rows["stale.kvolt"]["passed"] and rows["stale.kvolt"]["found"] == ["no_claim_removed_in_use"]
    assert not rows["wrong.kvolt"]["passed"] and rows["wrong.kvolt"]["found"] == []
    assert Path(rows["stale.kvolt"]["trace"]).exists()


def test_record_is_reproducible_and_monitors_catch_a_bug_flag(tmp_path: Path) -> None:
    first, second = tmp_path / "a.itf.json", tmp_path / "b.itf.json"
    assert run_cli("record", "--seed", "3", "--steps", "150", "--faults", "all", "-o", str(first)).code == 0
    assert run_cli("record", "--seed", "3", "--steps", "150", "--faults", "all", "-o", str(second)).code == 0
    assert first.read_bytes() == second.read_bytes()
    buggy = run_cli("record", "--seed", "0", "--steps", "400", "--faults", "all,bug:pvc-protection-no-in-use-check",
                    "-o", str(tmp_path / "bug.itf.json"), "--json")
    assert buggy.code == 1
    assert any("deleted-while-mounted" in v for v in json.loads(buggy.stdout)["violations"])


def test_scenarios_pass_and_bad_scenarios_exit_2(tmp_path: Path) -> None:
    scenarios = Path(__file__).parent / "scenarios"
    result = run_cli("scenario", "run", str(scenarios), "--json")
    report = json.loads(result.stdout)
    assert result.code == 0 and report["passed"] == report["total"] >= 60
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nupstream: y\nobjects:\n  - kind: Frob\n")
    failed = run_cli("scenario", "run", str(bad))
    assert failed.code == 2
    assert "bad.yaml:3:1" in failed.stderr or "bad.yaml:" in failed.stderr
    assert "Traceback" not in failed.stderr
    unknown = run_cli("record", "--faults", "nope", "-o", str(tmp_path / "x.json"))
    assert unknown.code == 2 and "unknown fault 'nope'" in unknown.stderr
