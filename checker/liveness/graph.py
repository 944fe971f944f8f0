"""The explored state graph that liveness needs: every transition, not only the parent links.

A `StateGraph` is compressed sparse rows over discovery indices: the transitions of state `i` are
`targets[indptr[i]:indptr[i + 1]]`, each with its move (`move_base[action] + binding`, the action
binding that made it). A target of -1 is a successor the model's constraint discards: it is kept
because the action is still *enabled* there, which fairness must know (see NOTE(constraint) in
`fair.py`). Beside them: the states' rows, and the breadth-first parent links that shortest
prefixes are rebuilt from. No Python object per state or edge: int32 arrays only.

Two builders, one per engine: `scalar_graph` records the scalar explorer's transitions through its
edge hook; `vector_graph` runs its own breadth-first search over whole frontiers with the vector
engine's successor functions, looking successors up by 64-bit fingerprint in sorted runs of keys.
Both explore without symmetry reduction (NOTE(symmetry) in `fair.py`).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field, replace

import numpy as np

from kvolt.checker.compiler import CompiledModel, SpecRuntimeError
from kvolt.checker.engine import ExplorationError, Options, SearchClock, Step
from kvolt.checker.explicit.explorer import explore_recording
from kvolt.checker.explicit.fingerprint import Fingerprints, storage_dtype
from kvolt.checker.explicit.partition import ColumnBuffer, int64_columns, take_rows
from kvolt.checker.explicit.vector import Sink, VectorModel, allowed_rows, compile_vector, expand_into

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


class _KeyIndex:
    """Fingerprint -> discovery index, in sorted runs merged when two grow alike (as `Visited` does)."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def find(self, keys: np.ndarray) -> np.ndarray:
        """The index of each key, -1 when unknown (distinct keys are searched in ascending order: cache-friendly)."""
        distinct, inverse = np.unique(keys, return_inverse=True)
        found = np.full(len(distinct), NO_STATE, dtype=np.int64)
        for run_keys, run_ids in self.runs:
            position = np.searchsorted(run_keys, distinct)
            position[position == len(run_keys)] = 0
            hit = run_keys[position] == distinct
            found[hit] = run_ids[position[hit]]
        return found[inverse.reshape(-1)]

    def add(self, keys: np.ndarray, ids: np.ndarray) -> None:
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        self.runs.append((keys[order], ids[order]))
        while len(self.runs) >= 2 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            (k2, i2), (k1, i1) = self.runs.pop(), self.runs.pop()
            keys_all, ids_all = np.concatenate([k1, k2]), np.concatenate([i1, i2])
            order = np.argsort(keys_all, kind="stable")
            self.runs.append((keys_all[order], ids_all[order]))


@dataclass
class _Growing:
    """A growing 1-D or 2-D array with amortised appends."""

    data: np.ndarray
    used: int = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.used + len(values)
        if need > len(self.data):
            grown = np.empty((max(need, 2 * len(self.data)), *self.data.shape[1:]), dtype=self.data.dtype)
            grown[:self.used] = self.data[:self.used]
            self.data = grown
        self.data[self.used:need] = values
        self.used = need

    def view(self) -> np.ndarray:
        return self.data[:self.used]


def vector_graph(compiled: CompiledModel, options: Options, vector: VectorModel | None = None,
                 chunk_rows: int = 32768) -> StateGraph:
    """Breadth-first search over whole frontiers (vector engine), keeping every transition."""
    vector = vector or compile_vector(compiled)
    clock = SearchClock(options)
    width = compiled.layout.size
    dtype = storage_dtype(compiled.layout)
    fingerprints = Fingerprints(vector, width, dtype, symmetry=False)
    base = move_base(compiled)
    rows0 = np.array(compiled.initial_states, dtype=np.int64).reshape(-1, width)
    rows0 = rows0[_allowed(vector, rows0, ())]
    compact0 = fingerprints.compact(rows0)
    keys0 = fingerprints.raw(compact0)
    _, first = np.unique(keys0, return_index=True)
    first.sort()
    compact0, keys0 = compact0[first], keys0[first]
    index = _KeyIndex()
    index.add(keys0, np.arange(len(keys0), dtype=np.int64))
    rows = _Growing(compact0.copy())
    rows.used = len(compact0)
    parent = _Growing(np.full(len(compact0), -1, dtype=np.int32), len(compact0))
    parent_move = _Growing(np.zeros(len(compact0), dtype=np.int32), len(compact0))
    targets = _Growing(np.zeros(1024, dtype=np.int32))
    moves = _Growing(np.zeros(1024, dtype=np.int32))
    degree = _Growing(np.zeros(1024, dtype=np.int64))
    level_start, level_stop, depth = 0, len(compact0), 0
    incomplete: str | None = None
    graph_parts = (rows, parent, parent_move)
    buffers = _Buffers()
    while level_start < level_stop and incomplete is None:
        if options.max_depth is not None and depth >= options.max_depth:
            incomplete = f"depth limit {options.max_depth} reached"
            break
        for start in range(level_start, level_stop, chunk_rows):
            stop = min(level_stop, start + chunk_rows)
            incomplete = _expand_chunk(compiled, vector, fingerprints, index, graph_parts, targets, moves, degree,
                                       start, stop, base, options, buffers)
            incomplete = incomplete or clock.tick(depth, rows.used, targets.used, rows.used - stop)
            if incomplete:
                break
        if incomplete:
            break
        level_start, level_stop = level_stop, rows.used
        if level_stop > level_start:
            depth += 1
    count = rows.used
    expanded = degree.used
    indptr = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(degree.view(), out=indptr[1:expanded + 1])
    indptr[expanded + 1:] = indptr[expanded]
    parents = parent.view().copy()
    return StateGraph(compiled, rows.view(), indptr, targets.view(), moves.view(), parents,
                      parent_move.view().copy(), np.flatnonzero(parents < 0).astype(np.int32), base, depth,
                      clock.seconds, incomplete)


@dataclass
class _Buffers:
    """Memory one search reuses from chunk to chunk (a fresh array's pages cost more to fault in than
    to fill), as the safety search does."""

    sink: Sink = field(default_factory=Sink)
    guards: ColumnBuffer = field(default_factory=ColumnBuffer)
    constraint: ColumnBuffer = field(default_factory=ColumnBuffer)



def _columns(rows: np.ndarray, width: int, buffer: ColumnBuffer) -> np.ndarray:
    """The first `width` columns as a column-major int64 array (what guards and predicates read),
    transposed in cache-sized blocks (`partition.int64_columns`) into reused memory."""
    return int64_columns(rows, width, buffer)


def _allowed(vector: VectorModel, rows: np.ndarray, trace: tuple[Step, ...]) -> np.ndarray:
    try:
        return allowed_rows(vector, rows)
    except SpecRuntimeError as error:
        raise ExplorationError(error.message, error.span, "the model's constraint", trace) from None


def _expand_chunk(compiled: CompiledModel, vector: VectorModel, fingerprints: Fingerprints, index: _KeyIndex,
                  graph_parts: tuple[_Growing, _Growing, _Growing], targets: _Growing, moves: _Growing,
                  degree: _Growing, start: int, stop: int, base: np.ndarray, options: Options,
                  buffers: _Buffers) -> str | None:
    """Expand states [start, stop): their transitions (sorted by source) and the new states they reach."""
    rows, parent, parent_move = graph_parts
    width = compiled.layout.size
    compact = rows.data[start:stop]
    try:
        expand_into(vector, _columns(compact, width, buffers.guards), compact, buffers.sink)
    except SpecRuntimeError:
        _raise_exact(compiled, rows, parent, parent_move, base, start, stop)
        raise
    sources, moves_of, positions = [], [], []
    for action, binding, idx, first, last, ok in buffers.sink.pieces:
        parents = np.arange(len(compact)) if idx is None else idx
        where = np.arange(first, last)
        if ok is not None:
            parents, where = parents[ok], where[ok]
        sources.append(parents)
        moves_of.append(np.full(len(parents), base[action] + binding, dtype=np.int64))
        positions.append(where)
    if not sources or not sum(len(p) for p in positions):
        degree.extend(np.zeros(stop - start, dtype=np.int64))
        return None
    source = np.concatenate(sources).astype(np.int64) + start
    move = np.concatenate(moves_of)
    successors = take_rows(buffers.sink.successors(), np.concatenate(positions))
    keys = fingerprints.raw(successors)
    found = index.find(keys)
    unknown = np.flatnonzero(found == NO_STATE)
    if vector.constraint is not None and len(unknown):
        # a state already found passed the constraint: only unknown successors need it, each once
        _, first, inverse = np.unique(keys[unknown], return_index=True, return_inverse=True)
        allowed = _allowed(vector, _columns(successors[unknown[first]], width, buffers.constraint), ())
        unknown = unknown[allowed[inverse.reshape(-1)]]  # the others stay -1: discarded successors
    # new states: in (move, parent) order as a breadth-first search meets them
    new = unknown
    incomplete = None
    if len(new):
        order = np.lexsort((source[new], move[new]))
        new = new[order]
        new_keys = keys[new]
        unique_keys, first, inverse = np.unique(new_keys, return_index=True, return_inverse=True)
        chosen = np.sort(first)
        if options.max_states is not None and rows.used + len(chosen) > options.max_states:
            chosen = chosen[:max(0, options.max_states - rows.used)]
            incomplete = f"state limit {options.max_states:,} reached"
        ids = np.full(len(unique_keys), NO_STATE, dtype=np.int64)
        rank = np.searchsorted(unique_keys, new_keys[chosen])
        ids[rank] = rows.used + np.arange(len(chosen))
        found[new] = ids[inverse.reshape(-1)]
        index.add(new_keys[chosen], rows.used + np.arange(len(chosen), dtype=np.int64))
        rows.extend(successors[new[chosen]])
        parent.extend(source[new[chosen]].astype(np.int32))
        parent_move.extend(move[new[chosen]].astype(np.int32))
    if rows.used >= 2**31 - 1:
        raise MemoryError("more than 2 billion states: beyond what int32 edges can address")
    by_source = np.argsort(source, kind="stable")
    targets.extend(found[by_source].astype(np.int32))
    moves.extend(move[by_source].astype(np.int32))
    degree.extend(np.bincount(source - start, minlength=stop - start).astype(np.int64))
    return incomplete


def _raise_exact(compiled: CompiledModel, rows: _Growing, parent: _Growing, parent_move: _Growing,
                 base: np.ndarray, start: int, stop: int) -> None:
    """Some state in [start, stop) makes an action evaluate something undefined: report it exactly."""
    width = compiled.layout.size
    for index in range(start, stop):
        state = tuple(int(v) for v in rows.data[index, :width])
        for action in compiled.actions:
            try:
                action.successors(state, [])
            except SpecRuntimeError as error:
                partial = StateGraph(compiled, rows.view(), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32),
                                     np.zeros(0, dtype=np.int32), parent.view(), parent_move.view(),
                                     np.zeros(0, dtype=np.int32), base, 0, 0.0)
                raise ExplorationError(error.message, error.span, action.name, tuple(partial.prefix(index))) from None


__all__ = ["StateGraph", "scalar_graph", "vector_graph"]
