"""The explored state graph that liveness needs: every transition, not only the parent links.

A `StateGraph` is compressed sparse rows over discovery indices: the transitions of state `i` are
`targets[indptr[i]:indptr[i + 1]]`, each with its move (`move_base[action] + binding`, the action
binding that made it). A target of -1 is a successor the model's constraint discards: it is kept
because the action is still *enabled* there, which fairness must know (see NOTE(constraint) in
`fair.py`). Beside them: the states' rows, and the breadth-first parent links that shortest
prefixes are rebuilt from. No Python object per state or edge: int32 arrays only.

Two builders, one per engine: `scalar_graph` records the scalar explorer's transitions through its
edge hook; `vector_graph` runs the default vector search itself (`explore_recorded`, any number of
workers), whose edge log keeps per chunk the transitions' sources and moves and their targets as
positions among the chunk's distinct successor keys (which the search sorts anyway); at the end
every key is looked up once among the states' keys, sorted once. Both explore without symmetry
reduction (NOTE(symmetry) in `fair.py`).
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from kvolt.checker.compiler import CompiledModel
from kvolt.checker.engine import Options, Step
from kvolt.checker.explicit.explorer import explore_recording
from kvolt.checker.explicit.fingerprint import storage_dtype
from kvolt.checker.explicit.partition import EdgeLog
from kvolt.checker.explicit.vector_search import NO_PARENT as NO_PARENT_LINK
from kvolt.checker.explicit.vector_search import Recorded, explore_recorded

NO_STATE = -1


@dataclass
class StateGraph:
    """Every reachable state and transition of a model (no symmetry reduction)."""

    compiled: CompiledModel
    rows: np.ndarray  # one row per state (its first `layout.size` columns are the state)
    indptr: np.ndarray  # int64, len = states + 1
    targets: np.ndarray  # int32; -1: a successor the constraint discards
    moves: np.ndarray  # int32: move_base[action] + binding
    parent: np.ndarray  # int32 breadth-first parent (-1 for an initial state)
    parent_move: np.ndarray  # int32 move from the parent
    initial: np.ndarray  # int32 indices of the initial states
    move_base: np.ndarray  # int64: first move of each action
    depth: int
    seconds: float
    incomplete: str | None = None

    @property
    def count(self) -> int:
        return len(self.parent)

    @property
    def edge_count(self) -> int:
        return int(np.count_nonzero(self.targets >= 0))

    @property
    def nbytes(self) -> int:
        arrays = (self.rows, self.indptr, self.targets, self.moves, self.parent, self.parent_move)
        return sum(a.nbytes for a in arrays)

    def sources(self) -> np.ndarray:
        """The source state of every edge (int32), aligned with `targets` and `moves`."""
        return np.repeat(np.arange(self.count, dtype=np.int32), np.diff(self.indptr))

    def state(self, index: int) -> tuple[int, ...]:
        return tuple(int(v) for v in self.rows[index, :self.compiled.layout.size])

    def action_of(self, move: int) -> tuple[int, int]:
        """(action index, binding) of a move."""
        action = int(np.searchsorted(self.move_base, move, side="right") - 1)
        return action, move - int(self.move_base[action])

    def step(self, move: int, index: int) -> Step:
        action_index, binding = self.action_of(move)
        action = self.compiled.actions[action_index]
        return Step(action.name, action.bindings[binding].labels, self.state(index))

    def prefix(self, index: int) -> list[Step]:
        """A shortest behaviour from an initial state to state `index` (breadth-first parent links)."""
        chain = [index]
        while self.parent[chain[-1]] >= 0:
            chain.append(int(self.parent[chain[-1]]))
        chain.reverse()
        steps = [Step("init", (), self.state(chain[0]))]
        steps += [self.step(int(self.parent_move[node]), node) for node in chain[1:]]
        return steps


def move_base(compiled: CompiledModel) -> np.ndarray:
    return np.cumsum([0] + [len(a.bindings) for a in compiled.actions]).astype(np.int64)


# ---------------------------------------------------------------- the scalar engine


class _Recorder:
    """The scalar explorer's edge hook: transitions in compact machine arrays, in discovery order."""

    def __init__(self, base: np.ndarray) -> None:
        self.base = [int(b) for b in base]
        self.source = array("i")
        self.move = array("i")
        self.target = array("i")

    def edge(self, source: int, action: int, binding: int, target: int) -> None:
        self.source.append(source)
        self.move.append(self.base[action] + binding)
        self.target.append(target)


def scalar_graph(compiled: CompiledModel, options: Options) -> StateGraph:
    """Explore with the scalar engine (no symmetry, no invariants) and keep every transition."""
    base = move_base(compiled)
    recorder = _Recorder(base)
    unchecked = replace(compiled, invariants=[], all_hold=None)
    result, graph = explore_recording(unchecked, replace(options, symmetry=False, stop_at_first=True), recorder)
    count = len(graph.states)
    source = np.frombuffer(recorder.source, dtype=np.int32)
    targets = np.frombuffer(recorder.target, dtype=np.int32).copy()
    targets[targets >= count] = NO_STATE  # a successor cut by the state limit (the graph is incomplete then)
    indptr = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(source, minlength=count)[:count], out=indptr[1:])
    parent = np.array(graph.parent, dtype=np.int32)
    via = graph.via
    parent_move = np.array([base[a] + b if a >= 0 else 0 for a, b in via], dtype=np.int32)
    rows = np.array(graph.states, dtype=np.int64).reshape(count, compiled.layout.size)
    initial = np.flatnonzero(parent < 0).astype(np.int32)
    return StateGraph(compiled, rows, indptr, targets, np.frombuffer(recorder.move, dtype=np.int32).copy(), parent,
                      parent_move, initial, base, result.depth, result.seconds, result.incomplete_reason)


# ---------------------------------------------------------------- the vector engine


def vector_graph(compiled: CompiledModel, options: Options, workers: int = 1,
                 chunk_rows: int | None = None) -> StateGraph:
    """The default vector search (`explore_recorded`: no symmetry, no invariants) with its edge log,
    turned into CSR: every target key looked up once among the states' keys, sorted once."""
    started = time.monotonic()
    result, recorded = explore_recorded(compiled, replace(options, stop_at_first=True), workers, chunk_rows)
    count = result.distinct_states
    rows, keys = _states(compiled, recorded, count)
    order = np.argsort(keys).astype(np.int32)
    ordered = keys[order]
    total = sum(len(c[1]) for log in recorded.logs for c in log.chunks + log.discarded)
    targets, moves = np.empty(total, dtype=np.int32), np.empty(total, dtype=np.int32)
    degree = np.zeros(count, dtype=np.int64)
    done = 0
    for start, offsets, chunk_moves, chunk_targets in _chunks(recorded.logs, ordered, order):
        if len(offsets):
            by_source = np.argsort(offsets, kind="stable")  # a radix sort when the offsets are 16-bit
            np.take(chunk_targets, by_source, out=targets[done:done + len(offsets)])
            moves[done:done + len(offsets)] = chunk_moves[by_source]
            done += len(offsets)
            counts = np.bincount(offsets)
            degree[start:start + len(counts)] += counts
    indptr = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(degree, out=indptr[1:])
    parent = recorded.parents[:count].astype(np.int64)
    parent[parent == NO_PARENT_LINK] = NO_STATE
    initial = np.flatnonzero(parent < 0).astype(np.int32)
    return StateGraph(compiled, rows, indptr, targets, moves, parent.astype(np.int32),
                      recorded.moves[:count].astype(np.int32), initial, move_base(compiled), result.depth,
                      time.monotonic() - started, result.incomplete_reason)


def _states(compiled: CompiledModel, recorded: Recorded, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Every state's compact row and key, by discovery index (the workers' logs put together)."""
    width = compiled.layout.size
    first = recorded.initial_rows
    padded = -(-width * _itemsize(compiled) // 8) * 8 // _itemsize(compiled)
    rows = np.zeros((count, padded), dtype=storage_dtype(compiled.layout))
    keys = np.zeros(count, dtype=np.uint64)
    rows[:len(first), :width] = first
    keys[:len(first)] = recorded.initial_keys
    for log in recorded.logs:
        pieces = list(zip(log.indices, log.rows, log.keys, strict=True))
        log.indices, log.rows, log.keys = [], [], []  # each piece freed once copied: rows are most of the memory
        while pieces:
            indices, chunk_rows, chunk_keys = pieces.pop(0)
            kept = indices < count  # a state limit keeps only the first of a chunk's new states
            if len(indices) and indices[-1] - indices[0] == len(indices) - 1 and kept.all():
                rows[indices[0]:indices[-1] + 1] = chunk_rows
                keys[indices[0]:indices[-1] + 1] = chunk_keys
            else:
                rows[indices[kept]] = chunk_rows[kept]
                keys[indices[kept]] = chunk_keys[kept]
    return rows, keys


def _itemsize(compiled: CompiledModel) -> int:
    return storage_dtype(compiled.layout).itemsize


def _chunks(logs: list[EdgeLog], ordered: np.ndarray,
            order: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Per expanded chunk (every worker's part, in order of the chunk's start): source offsets, moves, targets."""
    parts: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]]] = {}
    for log in logs:
        for start, sources, moves, groups, ascending in log.chunks:
            parts.setdefault(start, []).append((sources, moves, groups, ascending))
        for start, sources, moves in log.discarded:
            parts.setdefault(start, []).append((sources, moves, None, None))
        log.chunks, log.discarded = [], []  # read once: their memory goes as the CSR grows
    for start in sorted(parts):
        pieces = parts.pop(start)
        targets = [np.full(len(s), NO_STATE, dtype=np.int32) if g is None else _lookup(ordered, order, a)[g]
                   for s, _, g, a in pieces]
        yield start, _joined([p[0] for p in pieces]), _joined([p[1] for p in pieces]), _joined(targets)


def _lookup(ordered: np.ndarray, order: np.ndarray, ascending: np.ndarray) -> np.ndarray:
    """The discovery index of each key (ascending, so the search walks `ordered` once), -1 when unknown."""
    position = np.searchsorted(ordered, ascending)
    position[position == len(ordered)] = 0
    found = order[position] if len(ordered) else np.zeros(len(ascending), dtype=np.int32)
    if len(ordered):
        found[ordered[position] != ascending] = NO_STATE  # discarded by a limit
    else:
        found[:] = NO_STATE
    return found


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    if not arrays:
        return np.zeros(0, dtype=np.int32)
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


__all__ = ["StateGraph", "scalar_graph", "vector_graph"]
