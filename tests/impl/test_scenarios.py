"""The upstream-style scenario suite, and how the runner reports mismatches and malformed files."""

from pathlib import Path

import pytest

from kvolt.impl.cli_api import ScenarioError, run_scenarios

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def test_every_scenario_passes():
    results = run_scenarios([SCENARIOS])
    assert len(results) >= 138
    failed = {r.name: r.mismatches for r in results if not r.ok}
    assert not failed
    assert all(r.upstream.startswith("kubernetes/kubernetes ") for r in results)
    families = {Path(r.file).name.split("-")[0] for r in results}
    assert families == {"binder", "pvcprotection", "attachdetach", "expand", "delete", "recycle", "provision", "multisync"}


def test_a_wrong_expectation_is_a_field_level_diff(tmp_path):
    text = (SCENARIOS / "binder-1-1-successful-bind.yaml").read_text()
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(text.replace("phase: Bound", "phase: Lost"))
    (result,) = run_scenarios([wrong])
    assert not result.ok
    assert any("status.phase: expected 'Lost', got 'Bound'" in m for m in result.mismatches)


def test_malformed_scenario_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nupstream: y\ninitial:\n- kind: Volume\n  metadata: {name: a}\n")
    with pytest.raises(ScenarioError) as info:
        run_scenarios([bad])
    error = info.value
    assert (error.file, error.line, error.column) == (str(bad), 4, 9)
    assert "unknown kind 'Volume'" in error.message


def test_the_mock_plugin_sees_each_call_in_turn(tmp_path):
    """wrapTestWithReclaimCalls: a second delete call gets the second result; without a plugin the volume fails."""
    text = (SCENARIOS / "delete-8-5-delete-returns-error.yaml").read_text()
    second = tmp_path / "second.yaml"
    second.write_text(text.replace("- Mock delete error", "- null"))
    (result,) = run_scenarios([second])
    assert not result.ok  # the delete now succeeds, so the expected Failed phase is not reached
    assert any("expected to exist, but it is absent" in m for m in result.mismatches)
