"""Breadth-first search over whole frontiers with the vectorised engine.

Memory per visited state is what keeps big models in reach:
- a 64-bit fingerprint in a sorted array (stable across processes: the per-column multipliers
  come from a fixed splitmix64 stream, never from Python's salted `hash`);
- a parent link (uint32 index in discovery order) and the move that produced it (uint16/32);
- the frontier rows of the current and next level only, in the narrowest integer type that
  holds every column, processed in chunks so the peak stays bounded.
Counterexamples are rebuilt by replaying the recorded moves from the initial state with the
scalar engine, which also re-checks that both engines agree. With `exact`, whole rows are kept
instead of fingerprints, and no collision is possible.

With symmetry, a state's fingerprint is the least fingerprint over its orbit (every permutation
of the symmetric kinds' instances), so one representative per orbit is kept; the representative
stored is the concrete row that was reached, so the recorded moves replay concretely.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from typing import Any

import numpy as np

from kvolt.checker import ir
from kvolt.checker.compiler import CompiledModel, Layout, SpecRuntimeError
from kvolt.checker.explorer import ExplorationError, Options, Result, SearchClock, Step, Violation, search_stopped
from kvolt.checker.vector import VectorModel, allowed_rows, check_rows, compile_vector, expand

_MASK64 = (1 << 64) - 1
NO_PARENT = (1 << 32) - 1  # parent links are uint32 indices in discovery order


def _splitmix64(seed: int, count: int) -> list[int]:
    values = []
    state = seed & _MASK64
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        values.append(z ^ (z >> 31))
    return values


def column_bounds(layout: Layout) -> tuple[int, int]:
    """The least and greatest value any column of a state can hold."""
    spec, model = layout.spec, layout.model
    low, high = 0, 2
    for kind in spec.kinds:
        high = max(high, (1 << len(kind.finalizers)) - 1)
        for f in kind.state_fields:
            t = f.type
            if isinstance(t, ir.IntT):
                low, high = min(low, t.low), max(high, t.high)
            elif isinstance(t, ir.SetT):
                high = max(high, (1 << ir.universe_size(spec, model, t.element)) - 1)
            elif isinstance(t, ir.EnumT):
                high = max(high, len(spec.enum(t.name)) - 1)
            elif isinstance(t, ir.RefT):
                high = max(high, model.count(t.kind))
    return low, high


def storage_dtype(layout: Layout) -> np.dtype:
    low, high = column_bounds(layout)
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


class _Fingerprints:
    """64-bit fingerprints of compact rows, minimised over the symmetry orbit when there is one.

    A row's bytes are read as 64-bit words; each word goes through a bijective mix (so distinct
    words stay distinct and differences spread over all bits), the mixed words are combined with
    fixed random odd multipliers, and the sum is mixed once more. A permuted row is built in the
    compact type (a column gather, plus small lookup tables for renamed references).
    """

    def __init__(self, vector: VectorModel, width: int, dtype: np.dtype, symmetry: bool) -> None:
        self.width = width
        self.dtype = dtype
        self.padded = -(-width * dtype.itemsize // 8) * 8 // dtype.itemsize
        words = self.padded * dtype.itemsize // 8
        constants = _splitmix64(0x6B766F6C74, 2 * words)
        self.keys = np.array(constants[:words], dtype=np.uint64)
        self.multipliers = np.array([c | 1 for c in constants[words:]], dtype=np.uint64)
        self.plans = []
        for plan in vector.permutations if symmetry else []:
            sources = np.array([m.source for m in plan] + list(range(width, self.padded)), dtype=np.int64)
            renames = []
            for column, moved in enumerate(plan):
                if moved.mode == "ref":
                    renames.append((column, np.array(moved.table, dtype=dtype)))
                elif moved.mode == "bits":
                    size = 1 << len(moved.table)
                    table = np.array([sum(t for bit, t in enumerate(moved.table) if mask >> bit & 1)
                                      for mask in range(size)], dtype=np.int64)
                    renames.append((column, table.astype(dtype)))
            self.plans.append((sources, renames))

    def compact(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the storage type, padded with zero columns to a whole number of 64-bit words."""
        compact = np.zeros((len(rows), self.padded), dtype=self.dtype)
        compact[:, :self.width] = rows
        return compact

    def _hash(self, compact: np.ndarray) -> np.ndarray:
        words = np.ascontiguousarray(compact).view(np.uint64)
        x = words ^ self.keys
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(31)
        x *= self.multipliers
        h = x.sum(axis=1, dtype=np.uint64)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
        return h

    def raw(self, compact: np.ndarray) -> np.ndarray:
        """The fingerprint of the rows as they are (no symmetry)."""
        with np.errstate(over="ignore"):
            return self._hash(compact)

    def __call__(self, compact: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            best = self._hash(compact)
            for sources, renames in self.plans:
                permuted = compact[:, sources]
                for column, table in renames:
                    permuted[:, column] = table[permuted[:, column].astype(np.int64)]
                np.minimum(best, self._hash(permuted), out=best)
        return best


class _Visited:
    """A set of keys (fingerprints, or whole rows as bytes when exact) in sorted runs.

    New keys arrive as sorted runs; two runs of similar size are merged (a linear merge, since
    both are sorted), so there are only about log2(n) runs to search and each key is merged
    O(log n) times.
    """

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []
        self.count = 0

    @staticmethod
    def _member(keys: np.ndarray, run: np.ndarray) -> np.ndarray:
        position = np.searchsorted(run, keys)
        position[position == len(run)] = 0
        return run[position] == keys

    def contains(self, keys: np.ndarray) -> np.ndarray:
        found = np.zeros(len(keys), dtype=bool)
        for run in self.runs:
            found |= self._member(keys, run)
        return found

    def add(self, keys: np.ndarray) -> None:
        """Add keys known to be new (and distinct among themselves)."""
        self.count += len(keys)
        self.runs.append(np.sort(keys))
        while len(self.runs) >= 2 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
            newest = self.runs.pop()
            self.runs[-1] = np.sort(np.concatenate([self.runs[-1], newest]), kind="stable")

    def nbytes(self) -> int:
        return sum(run.nbytes for run in self.runs)


@dataclass
class _ChunkWork:
    """What one frontier chunk produced, before the visited-set check (made in a worker, or here)."""

    compact: np.ndarray  # unique candidate successors, in the storage type
    keys: np.ndarray
    parents: np.ndarray  # discovery index of each candidate's parent
    moves: np.ndarray
    fired: np.ndarray  # successors per action, before deduplication
    generated: int
    failed: bool = False  # some row raised a spec error; the caller re-evaluates exactly


@dataclass(frozen=True)
class _Context:
    vector: VectorModel
    fingerprints: _Fingerprints
    exact: bool
    width: int
    move_base: np.ndarray


_WORKER_CONTEXT: _Context | None = None  # set before the worker processes fork


def _work_chunk(context: _Context, chunk: np.ndarray, chunk_start: int) -> _ChunkWork:
    fired = np.zeros(len(context.vector.actions), dtype=np.int64)
    rows64 = np.asfortranarray(chunk[:, :context.width], dtype=np.int64)  # guards read columns
    empty = np.zeros(0, dtype=np.int64)
    try:
        results = expand(context.vector, rows64)
        if results:
            rows = np.concatenate([r for _, _, _, r in results])
            parents = np.concatenate([p.astype(np.int64) + chunk_start for _, _, p, _ in results])
            moves = np.concatenate([np.full(len(r), context.move_base[a] + b, dtype=np.int64) for a, b, _, r in results])
            keep = allowed_rows(context.vector, rows)
    except SpecRuntimeError:
        return _ChunkWork(chunk[:0], empty, empty, empty, fired, 0, failed=True)
    if not results:
        return _ChunkWork(chunk[:0], empty.astype(np.uint64), empty, empty, fired, 0)
    for action, _, _, r in results:
        fired[action] += len(r)
    generated = len(rows)
    if not keep.all():
        rows, parents, moves = rows[keep], parents[keep], moves[keep]
    compact = context.fingerprints.compact(rows)
    if context.fingerprints.plans and not context.exact:
        # drop exact duplicates first (one cheap hash), then canonicalise only the distinct rows
        _, first = np.unique(context.fingerprints.raw(compact), return_index=True)
        first.sort()
        compact, parents, moves = compact[first], parents[first], moves[first]
    keys = _keys(compact, context.fingerprints, context.exact)
    _, first = np.unique(keys, return_index=True)
    first.sort()
    return _ChunkWork(compact[first], keys[first], parents[first], moves[first], fired, generated)


def _work_in_worker(task: tuple[np.ndarray, int]) -> _ChunkWork:
    assert _WORKER_CONTEXT is not None
    return _work_chunk(_WORKER_CONTEXT, *task)


@dataclass
class VectorStats:
    collision_probability: float
    visited_bytes_per_state: float
    exact: bool
    storage_dtype: str


def _keys(compact: np.ndarray, fingerprints: _Fingerprints, exact: bool) -> np.ndarray:
    """The visited-set keys of compact rows: fingerprints, or the rows' bytes when exact."""
    if not exact:
        return fingerprints(compact)
    compact = np.ascontiguousarray(compact)
    return compact.view(np.dtype((np.void, compact.dtype.itemsize * compact.shape[1]))).ravel()


def explore_vector(scalar: CompiledModel, options: Options | None = None, exact: bool = False,
                   chunk_rows: int | None = None, workers: int = 1) -> tuple[Result, VectorStats]:
    """Breadth-first search with the vectorised engine; same verdicts and counts as `explore`.

    With several workers, processes expand and fingerprint frontier chunks in parallel; the results
    are consumed in chunk order, so the outcome is identical for any number of workers.
    """
    search = _Search(scalar, options or Options(), exact, chunk_rows)
    if workers <= 1:
        return search.run()
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = search.context
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            search.pool = pool
            return search.run()
    finally:
        _WORKER_CONTEXT = None


class _Search:
    def __init__(self, scalar: CompiledModel, options: Options, exact: bool, chunk_rows: int | None) -> None:
        self.scalar = scalar
        self.vector = compile_vector(scalar)
        self.options = options
        self.exact = exact
        self.symmetry = options.symmetry and bool(self.vector.permutations)
        if exact and self.symmetry:
            self.symmetry = False  # whole rows cannot be minimised over orbits here; exact wins
        width = scalar.layout.size
        self.width = width
        self.dtype = storage_dtype(scalar.layout)
        self.fingerprints = _Fingerprints(self.vector, width, self.dtype, self.symmetry)
        self.chunk_rows = chunk_rows or int(min(65536, max(4096, 2**28 // (64 * max(width, 1)))))
        self.visited = _Visited()
        self.parents: list[np.ndarray] = []
        self.moves: list[np.ndarray] = []
        self.initial_rows: np.ndarray | None = None
        self.move_base = np.cumsum([0] + [len(a.bindings) for a in scalar.actions]).astype(np.int64)
        self.move_dtype = np.uint16 if self.move_base[-1] < 2**16 else np.uint32
        self.fired = np.zeros(len(scalar.actions), dtype=np.int64)
        self.generated = 0
        self.depth = 0
        self.invariants = list(range(len(self.vector.invariants)))
        self.violations: list[Violation] = []
        self.incomplete: str | None = None
        self.clock = SearchClock(options)
        self.context = _Context(self.vector, self.fingerprints, exact, width, self.move_base)
        self.pool: Any = None

    # -- the search
    def run(self) -> tuple[Result, VectorStats]:
        frontier = self._initial()
        while frontier is not None and len(frontier) and not self._stopped():
            if self.options.max_depth is not None and self.depth >= self.options.max_depth:
                if self._has_new_successor(frontier):
                    self.incomplete = f"depth limit {self.options.max_depth} reached"
                break
            level_start = self.visited.count - len(frontier)
            next_frontier = self._expand_level(frontier, level_start)
            if len(next_frontier):
                self.depth += 1
            frontier = next_frontier
        return self._result()

    def _stopped(self) -> bool:
        return search_stopped(self.options, self.incomplete, self.violations, self.invariants)

    def _initial(self) -> np.ndarray:
        rows = np.array(self.scalar.initial_states, dtype=np.int64).reshape(-1, self.width)
        self.generated += len(rows)
        if len(rows):
            try:
                rows = rows[allowed_rows(self.vector, rows)]
            except SpecRuntimeError as error:
                raise ExplorationError(error.message, error.span, "the model's constraint", ()) from None
        keys = _keys(self.fingerprints.compact(rows), self.fingerprints, self.exact)
        _, first = np.unique(keys, return_index=True)
        first.sort()
        rows, keys = rows[first], keys[first]
        self.initial_rows = rows
        self.visited.add(keys)
        self.parents.append(np.full(len(rows), NO_PARENT, dtype=np.uint32))
        self.moves.append(np.zeros(len(rows), dtype=self.move_dtype))
        self._check(rows, 0)
        return self.fingerprints.compact(rows)

    def _expand_level(self, frontier: np.ndarray, level_start: int) -> np.ndarray:
        new_chunks: list[np.ndarray] = []
        tasks = [(frontier[o:o + self.chunk_rows], level_start + o) for o in range(0, len(frontier), self.chunk_rows)]
        works = self.pool.imap(_work_in_worker, tasks) if self.pool is not None else (
            _work_chunk(self.context, chunk, start) for chunk, start in tasks)
        for (chunk, chunk_start), work in zip(tasks, works, strict=True):
            if work.failed:
                self._raise_exact_error(chunk, chunk_start)
            new_rows = self._absorb(work)
            if new_rows is not None and len(new_rows):
                new_chunks.append(new_rows)
            self._tick(level_start + len(frontier) - chunk_start - len(chunk))
            if self._stopped():
                break
        if not new_chunks:
            return np.zeros((0, self.fingerprints.padded), dtype=self.dtype)
        return np.concatenate(new_chunks)

    def _raise_exact_error(self, chunk: np.ndarray, chunk_start: int) -> None:
        """A chunk raised a spec error (in an action or in the constraint): report it exactly."""
        rows = chunk[:, :self.width].astype(np.int64)
        try:
            expand(self.vector, rows)
        except SpecRuntimeError as error:
            raise self._runtime_error(error, rows, chunk_start) from None
        constraint = self.scalar.constraint
        for offset, row in enumerate(rows):
            for _, _, successor in self.scalar.successors(tuple(int(v) for v in row)):
                try:
                    if constraint is not None:
                        constraint(successor)
                except SpecRuntimeError as error:
                    raise ExplorationError(error.message, error.span, "the model's constraint",
                                           self.trace(chunk_start + offset)) from None
        raise AssertionError("a worker reported a spec error that does not reproduce")

    def _absorb(self, work: _ChunkWork) -> np.ndarray | None:
        """Keep the candidates not seen before; record their parents and check them."""
        self.generated += work.generated
        self.fired += work.fired
        if not len(work.keys):
            return None
        fresh = np.flatnonzero(~self.visited.contains(work.keys))
        if self.options.max_states is not None and self.visited.count + len(fresh) > self.options.max_states:
            fresh = fresh[:max(0, self.options.max_states - self.visited.count)]
            self.incomplete = f"state limit {self.options.max_states:,} reached"
        if not len(fresh):
            return None
        first_index = self.visited.count
        self.visited.add(work.keys[fresh])
        if self.visited.count >= NO_PARENT:
            raise MemoryError("more than 4 billion states: beyond what parent links can address")
        self.parents.append(work.parents[fresh].astype(np.uint32))
        self.moves.append(work.moves[fresh].astype(self.move_dtype))
        compact = work.compact[fresh]
        self._check(compact[:, :self.width].astype(np.int64), first_index)
        return compact

    def _has_new_successor(self, frontier: np.ndarray) -> bool:
        for offset in range(0, len(frontier), self.chunk_rows):
            chunk = frontier[offset:offset + self.chunk_rows, :self.width].astype(np.int64)
            for _, _, _, rows in expand(self.vector, chunk):
                rows = rows[allowed_rows(self.vector, rows)]
                keys = _keys(self.fingerprints.compact(rows), self.fingerprints, self.exact)
                if len(rows) and not self.visited.contains(keys).all():
                    return True
        return False

    def _check(self, rows: np.ndarray, first_index: int) -> None:
        for invariant in list(self.invariants):
            try:
                holds = check_rows(self.vector, invariant, rows)
            except SpecRuntimeError as error:
                raise self._runtime_error(error, rows, first_index, predicate=True) from None
            failing = np.flatnonzero(~holds)
            if len(failing):
                compiled = self.scalar.invariants[invariant]
                self.violations.append(Violation(compiled.name, compiled.doc, self.trace(first_index + int(failing[0]))))
                self.invariants.remove(invariant)

    def _tick(self, queue: int) -> None:
        self.incomplete = self.clock.tick(self.depth, self.visited.count, self.generated, queue) or self.incomplete

    # -- traces
    def _lookup(self, index: int) -> tuple[int, int]:
        for parents, moves in zip(self.parents, self.moves, strict=True):
            if index < len(parents):
                return int(parents[index]), int(moves[index])
            index -= len(parents)
        raise IndexError(index)

    def trace(self, index: int) -> tuple[Step, ...]:
        """Replay the recorded moves from the initial state to state `index` with the scalar engine."""
        chain: list[int] = []
        current = index
        while True:
            parent, move = self._lookup(current)
            if parent == NO_PARENT:
                break
            chain.append(move)
            current = parent
        assert self.initial_rows is not None
        state = tuple(int(v) for v in self.initial_rows[current])
        steps = [Step("init", (), state)]
        for move in reversed(chain):
            action_index = int(np.searchsorted(self.move_base, move, side="right") - 1)
            binding = move - int(self.move_base[action_index])
            action = self.scalar.actions[action_index]
            out: list[tuple[int, tuple[int, ...]]] = []
            action.successors(state, out)
            state = next(s for b, s in out if b == binding)
            steps.append(Step(action.name, action.bindings[binding].labels, state))
        return tuple(steps)

    def _runtime_error(self, error: SpecRuntimeError, rows: np.ndarray, first_index: int,
                       predicate: bool = False) -> ExplorationError:
        """Find the row that raised (the scalar engine re-evaluates exactly) and report its trace."""
        checks: list[tuple[str, object]] = []
        if predicate:
            checks += [(f"invariant {i.name}", i.holds) for i in self.scalar.invariants]
            if self.scalar.constraint is not None:
                checks.append(("the model's constraint", self.scalar.constraint))
        else:
            checks += [(a.name, a.successors) for a in self.scalar.actions]
        for offset, row in enumerate(rows):
            state = tuple(int(v) for v in row)
            for where, function in checks:
                try:
                    function(state) if predicate else function(state, [])  # type: ignore[operator]
                except SpecRuntimeError as exact:
                    return ExplorationError(exact.message, exact.span, where, self.trace(first_index + offset))
        return ExplorationError(error.message, error.span, "an action", ())

    def _result(self) -> tuple[Result, VectorStats]:
        seconds = self.clock.seconds
        verdict = "violation" if self.violations else ("incomplete" if self.incomplete else "ok")
        fired: dict[str, int] = {}
        for action, count in zip(self.scalar.actions, self.fired, strict=True):
            fired[action.name] = fired.get(action.name, 0) + int(count)
        distinct = self.visited.count
        result = Result(verdict, distinct, self.generated, self.depth, seconds, fired, self.violations,
                        self.incomplete, self.symmetry, len(self.initial_rows) if self.initial_rows is not None else 0)
        link_bytes = sum(p.nbytes + m.nbytes for p, m in zip(self.parents, self.moves, strict=True))
        per_state = (self.visited.nbytes() + link_bytes) / distinct if distinct else 0.0
        # TLC's estimate of the chance that two distinct states shared a fingerprint
        collision = 0.0 if self.exact else min(1.0, distinct * max(self.generated - distinct, 0) / 2.0**64)
        return result, VectorStats(collision, per_state, self.exact, str(self.dtype))
