"""Starting a cluster run: under an MPI launcher already, or as local processes through `mpiexec`.

`kvolt check --cluster P` run by hand starts `mpiexec -n P` on this machine with the same command
line, and each of the P processes finds itself inside an MPI job and runs as one rank. On several
machines the launcher is started by the user (`mpiexec -hosts a,b -n 8 kvolt check --cluster 8 ...`).
A job that dies (a rank killed, a machine lost) is started again from its latest checkpoint when the
run writes checkpoints, up to `retries` times.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from kvolt.checker.explicit.checkpoint import CheckpointError, latest

_JOB_VARIABLES = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALRANKID")
VERDICT_CODES = (0, 1, 2, 3)  # what a finished `kvolt check` exits with; anything else is a failed job


def inside_job() -> bool:
    """Whether this process was started by an MPI launcher (as one rank of a job)."""
    return any(name in os.environ for name in _JOB_VARIABLES)


def launcher() -> str | None:
    """The `mpiexec` of this Python's environment (the mpich wheel installs one), else one on PATH."""
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def run_local_job(ranks: int, arguments: list[str], checkpoint: str | None, retries: int,
                  on_restart: Callable[[int, str], None] | None = None) -> tuple[int, int]:
    """Run `kvolt ARGUMENTS` as `ranks` local MPI processes; (exit code, restarts from a checkpoint).
    `on_restart(exit code, checkpoint)` is told of each restart."""
    command = launcher()
    if command is None:
        raise FileNotFoundError("no MPI launcher found: install the cluster extra (pip install 'kvolt[cluster]')")
    restarts = 0
    attempt = list(arguments)
    while True:
        # stdout is the job's JSON; a failed job's (the launcher's report of a lost rank) goes to stderr
        done = subprocess.run([command, "-n", str(ranks), sys.executable, "-m", "kvolt", *attempt], check=False,
                              stdout=subprocess.PIPE, text=True, errors="replace")
        finished = done.returncode in VERDICT_CODES
        stream = sys.stdout if finished else sys.stderr
        stream.write(done.stdout)
        stream.flush()
        if finished or checkpoint is None or restarts >= retries:
            return done.returncode, restarts
        try:
            resumed = latest(checkpoint)
        except CheckpointError:
            return done.returncode, restarts
        restarts += 1
        if on_restart is not None:
            on_restart(done.returncode, str(resumed))
        attempt = _with_recover(arguments, checkpoint)


def _with_recover(arguments: list[str], checkpoint: str) -> list[str]:
    """The command line with `--recover CHECKPOINT` in place of any `--recover` it had."""
    out: list[str] = []
    skip = False
    for argument in arguments:
        if skip:
            skip = False
            continue
        if argument == "--recover":
            skip = True
            continue
        if argument.startswith("--recover="):
            continue
        out.append(argument)
    return [*out, "--recover", checkpoint]


def note_rank(checkpoint: str | None, rank: int) -> None:
    """Write this rank's process id beside the checkpoints (`ranks/rank-R.pid`): which process is which rank."""
    if checkpoint is None:
        return
    folder = Path(checkpoint) / "ranks"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"rank-{rank}.pid").write_text(f"{os.getpid()}\n")
