"""Checkpoints of a breadth-first search at level boundaries, and recovery from them.

A checkpoint is a folder `level-D` inside the checkpoint directory, written whole and then renamed
into place (so a run killed while writing leaves the previous checkpoint intact), holding:
- `search.pickle`: the coordinator's part: counts, depth, fired actions, the violations found so
  far, the parent links and moves of every state in discovery order, the initial rows, and what
  identifies the run (the model's generated code, the engine's settings);
- `share-W.npz`, one per worker: the visited keys it owns, and the next level's rows it owns with
  their discovery indices.
On recovery the shares are read by every worker, each keeping the keys and rows it owns now (by the
same fingerprint ranges), so a run may be recovered with another number of workers; the search goes
on from the next level and ends with the results an uninterrupted run gives.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be used to recover this run (none there, another model, another engine)."""


@dataclass
class Checkpoints:
    """Where and how often a search writes checkpoints, and which one it recovers from."""

    directory: str | None = None  # write checkpoints here (None: never)
    every_seconds: float = 0.0  # at the first level boundary this long after the last checkpoint
    recover: str | None = None  # resume from the latest checkpoint here
    last: float = field(default_factory=time.monotonic)
    written: int = 0

    def due(self) -> bool:
        return self.directory is not None and time.monotonic() - self.last >= self.every_seconds


def run_identity(program: str, settings: dict[str, Any]) -> str:
    """What a checkpoint must match to be recovered: the model's generated code and the engine's settings."""
    digest = hashlib.sha256(program.encode())
    digest.update(repr(sorted(settings.items())).encode())
    return digest.hexdigest()


def staging(directory: str, depth: int) -> Path:
    """A fresh folder to write one checkpoint into (renamed into place by `publish`)."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f".writing-level-{depth}-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return path


def publish(staged: Path, depth: int) -> Path:
    """Move a fully written checkpoint into place and drop the older ones."""
    final = staged.parent / f"level-{depth}"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staged, final)
    for other in staged.parent.glob("level-*"):
        if other != final and _level_of(other) is not None and _level_of(other) < depth:  # type: ignore[operator]
            shutil.rmtree(other, ignore_errors=True)
    return final


def _level_of(path: Path) -> int | None:
    try:
        return int(path.name.split("-", 1)[1])
    except (IndexError, ValueError):
        return None


def latest(directory: str) -> Path:
    """The most recent complete checkpoint in `directory`."""
    levels = [(level, p) for p in Path(directory).glob("level-*") if (level := _level_of(p)) is not None
              and (p / "search.pickle").exists()]
    if not levels:
        raise CheckpointError(f"no checkpoint in {directory}")
    return max(levels)[1]


def save_share(path: Path, worker: int, visited: np.ndarray, rows: np.ndarray, indices: np.ndarray) -> None:
    np.savez(path / f"share-{worker}.npz", visited=visited, rows=rows, indices=indices)


def load_shares(path: Path) -> list[dict[str, np.ndarray]]:
    shares = []
    for file in sorted(path.glob("share-*.npz"), key=lambda p: int(p.stem.split("-")[1])):
        with np.load(file) as data:
            shares.append({name: data[name] for name in data.files})
    if not shares:
        raise CheckpointError(f"checkpoint {path} holds no worker shares")
    return shares


def save_search(path: Path, state: dict[str, Any]) -> None:
    with open(path / "search.pickle", "wb") as out:
        pickle.dump({"format": FORMAT, **state}, out, protocol=pickle.HIGHEST_PROTOCOL)


def load_search(path: Path, identity: str) -> dict[str, Any]:
    with open(path / "search.pickle", "rb") as source:
        state = pickle.load(source)  # our own file, written by save_search
    if state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} has another format ({state.get('format')})")
    if state["identity"] != identity:
        raise CheckpointError(f"checkpoint {path} was written for another model or other engine settings")
    return state
