"""Checkpoints: a search recovered from its latest checkpoint ends exactly as an uninterrupted one.

Same distinct and generated counts, depth, verdict, actions fired, parent links (so the same
shortest counterexamples, step by step), for one worker and for two, recovered with the same number
of workers or another; and a run killed with SIGKILL in the middle of a level is recovered from the
last checkpoint it completed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clirunner import run_cli

from kvolt.checker.build import build
from kvolt.checker.engine import Options
from kvolt.checker.explicit.checkpoint import CheckpointError, Checkpoints, latest
from kvolt.checker.explicit.vector_search import explore_vector
from kvolt.checker.frontend.loader import builtin_spec_path

EXAMPLES = builtin_spec_path("examples")


def outcome(result) -> tuple:
    return (result.verdict, result.distinct_states, result.generated_states, result.depth, result.actions_fired,
            [(v.property, v.trace) for v in result.violations])


@pytest.mark.parametrize(("spec", "model", "workers", "recovered_by"), [
    (EXAMPLES / "stale_pod_cache.kvolt", "small", 1, 1),
    (EXAMPLES / "protection.kvolt", "two_pods", 2, 2),
    (EXAMPLES / "protection.kvolt", "two_pods", 2, 1),
    (builtin_spec_path(), "attach", 1, 2),
], ids=["violation-1", "ok-2", "ok-2-then-1", "symmetry-1-then-2"])
def test_recovered_search_ends_as_an_uninterrupted_one(spec: Path, model: str, workers: int, recovered_by: int,
                                                       tmp_path: Path) -> None:
    compiled = build(spec, model).compiled
    whole, _ = explore_vector(compiled, Options(stop_at_first=False), chunk_rows=64, workers=workers)
    stop = max(1, whole.depth // 2)
    first, _ = explore_vector(compiled, Options(stop_at_first=False, max_depth=stop), chunk_rows=64, workers=workers,
                              checkpoints=Checkpoints(str(tmp_path), 0.0))
    assert first.verdict in ("incomplete", "violation") and latest(str(tmp_path)).name == f"level-{stop}"
    resumed, _ = explore_vector(compiled, Options(stop_at_first=False), chunk_rows=64, workers=recovered_by,
                                checkpoints=Checkpoints(None, 0.0, str(tmp_path)))
    assert outcome(resumed) == outcome(whole)


def test_a_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    spec = EXAMPLES / "protection.kvolt"
    explore_vector(build(spec, "two_pods").compiled, Options(max_depth=2), checkpoints=Checkpoints(str(tmp_path), 0.0))
    with pytest.raises(CheckpointError, match="another model"):
        explore_vector(build(spec, "small").compiled, Options(), checkpoints=Checkpoints(None, 0.0, str(tmp_path)))
    result = run_cli("check", str(spec), "--model", "small", "--recover", str(tmp_path))
    assert result.code == 2 and "another model" in result.stderr and "Traceback" not in result.stderr


def _check_json(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "kvolt", "check", "--model", "lifecycle", "-q", "--json", *args],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_run_killed_mid_level_is_recovered_with_identical_results(tmp_path: Path) -> None:
    """SIGKILL once a few checkpoints exist (checkpointing every level keeps the run going for seconds)."""
    directory = tmp_path / "checkpoints"
    process = subprocess.Popen([sys.executable, "-m", "kvolt", "check", "--model", "lifecycle", "-q",
                                "--checkpoint", str(directory), "--checkpoint-every", "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if any(directory.glob("level-1[0-9]")):
                break
            time.sleep(0.01)
        assert process.poll() is None, "the run ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    level = latest(str(directory)).name
    recovered = _check_json("--recover", str(directory), "--workers", "2")
    whole = _check_json()
    for name in ("verdict", "distinct_states", "generated_states", "depth", "actions"):
        assert recovered[name] == whole[name], (name, level)
