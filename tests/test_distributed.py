"""The distributed engine (MPI ranks) gives exactly one worker's results, and survives a killed rank.

Runs go through the command line, as a user starts them: `kvolt check --cluster N` starts N local
MPI processes with the mpich launcher. Counts, depth, verdict, actions fired, the counterexample
files and the parent links (read from the last checkpoint, which holds every state's link) must be
the same for one worker, two local workers, and two and three ranks.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kvolt.checker.distributed.launch import launcher
from kvolt.checker.explicit.checkpoint import latest
from kvolt.checker.frontend.loader import builtin_spec_path

pytestmark = pytest.mark.skipif(launcher() is None, reason="no MPI launcher (pip install 'kvolt[cluster]')")

EXAMPLES = builtin_spec_path("examples")
COMPARED = ("verdict", "distinct_states", "generated_states", "depth", "actions")


def check(tmp: Path, name: str, *args: str) -> tuple[dict, dict, dict]:
    """(the --json object, the counterexample files' contents, the parent links and moves)."""
    out, checkpoints = tmp / f"{name}-out", tmp / f"{name}-checkpoints"
    done = subprocess.run([sys.executable, "-m", "kvolt", "check", *args, "--json", "-q", "--continue",
                           "--out", str(out), "--checkpoint", str(checkpoints), "--checkpoint-every", "0"],
                          capture_output=True, text=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    document = json.loads(done.stdout)
    traces = {path.name: json.loads(path.read_text()) for path in sorted(out.glob("*.itf.json"))}
    with open(latest(str(checkpoints)) / "search.pickle", "rb") as source:
        state = pickle.load(source)
    return document, traces, {"parents": state["parents"].tolist(), "moves": state["moves"].tolist()}


@pytest.mark.parametrize(("spec", "model"), [(EXAMPLES / "stale_pod_cache.kvolt", "small"),
                                             (builtin_spec_path(), "attach")], ids=["violation", "symmetry"])
def test_ranks_give_one_workers_results(spec: Path, model: str, tmp_path: Path) -> None:
    base = [str(spec), "--model", model]
    one, one_traces, one_links = check(tmp_path, "one", *base)
    for name, extra in (("local2", ["--workers", "2"]), ("ranks2", ["--cluster", "2"]), ("ranks3", ["--cluster", "3"])):
        document, traces, links = check(tmp_path, name, *base, *extra)
        assert {k: document[k] for k in COMPARED} == {k: one[k] for k in COMPARED}, name
        assert traces == one_traces, name
        assert links == one_links, name
        if name.startswith("ranks"):
            assert document["cluster"]["ranks"] == int(name[-1]) and document["cluster"]["bytes_exchanged"] > 0


def test_a_killed_rank_is_survived(tmp_path: Path) -> None:
    """SIGKILL rank 1 mid-run: the launcher starts the job again from the latest checkpoint."""
    checkpoints = tmp_path / "checkpoints"
    process = subprocess.Popen([sys.executable, "-m", "kvolt", "check", "--model", "lifecycle", "--cluster", "2",
                                "--json", "-q", "--checkpoint", str(checkpoints), "--checkpoint-every", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid_file = checkpoints / "ranks" / "rank-1.pid"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if pid_file.exists() and any(checkpoints.glob("level-1[0-9]")):
            break
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before a rank could be killed"
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert "restarting from" in stderr
    recovered = json.loads(stdout)
    straight = subprocess.run([sys.executable, "-m", "kvolt", "check", "--model", "lifecycle", "--json", "-q"],
                              capture_output=True, text=True, check=True)
    whole = json.loads(straight.stdout)
    assert {k: recovered[k] for k in COMPARED} == {k: whole[k] for k in COMPARED}
