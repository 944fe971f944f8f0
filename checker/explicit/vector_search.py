"""Breadth-first search over whole frontiers with the vectorised engine: the coordinator.

Memory per visited state is what keeps big models in reach:
- a 64-bit fingerprint in a sorted array (`fingerprint.py`; with symmetry, the least over the
  state's orbit, so one representative per orbit is kept);
- a parent link (uint32 index in discovery order) and the move that produced it (uint16/32);
- the frontier rows of the current and next level only, in the narrowest integer type that
  holds every column, processed in chunks so the peak stays bounded.
Counterexamples are rebuilt by replaying the recorded moves from the initial state with the
scalar engine, which also re-checks that both engines agree; the representative stored is the
concrete row that was reached, so the moves replay concretely. With `exact`, whole rows are kept
instead of fingerprints, and no collision is possible.

The states are partitioned among the workers by fingerprint (`partition.py`): each worker expands
its own frontier rows, sends every other worker the candidates it owns, and keeps the new ones
among those it owns. This process coordinates, level by level and chunk by chunk: it merges the
workers' order keys into the chunk's discovery order, records the parent links, and decides when
the search stops (a violation, a limit). Among duplicate successors the first in (move, parent)
order is kept, which is the order one worker meets them in: the parent links, counts and
counterexamples are the same for any number of workers, and the first counterexample is a
shortest one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from kvolt.checker.compiler import CompiledModel, SpecRuntimeError
from kvolt.checker.engine import ExplorationError, Options, Result, SearchClock, Step, Violation, search_stopped
from kvolt.checker.explicit import checkpoint
from kvolt.checker.explicit.checkpoint import Checkpoints
from kvolt.checker.explicit.fingerprint import Fingerprints, storage_dtype, visited_keys
from kvolt.checker.explicit.partition import PARENT_BITS, Absorbed, EdgeLog, WorkContext, Workers, int64_columns
from kvolt.checker.explicit.vector import allowed_rows, compile_vector, expand, first_failures

PoolFactory = Callable[[WorkContext, int, "np.ndarray | None", "np.ndarray | None", "str | None"], Any]
NO_PARENT = (1 << 32) - 1  # parent links are uint32 indices in discovery order
_PARENT_MASK = np.int64(NO_PARENT)


@dataclass
class VectorStats:
    collision_probability: float
    visited_bytes_per_state: float
    exact: bool
    storage_dtype: str


def explore_vector(scalar: CompiledModel, options: Options | None = None, exact: bool = False,
                   chunk_rows: int | None = None, workers: int = 1,
                   checkpoints: Checkpoints | None = None, pool: PoolFactory | None = None) -> tuple[Result, VectorStats]:
    """Breadth-first search with the vectorised engine; same verdicts and counts as `explore`.

    With several workers, processes share the states by fingerprint; the outcome is identical for
    any number of workers. With `checkpoints`, the search is written at level boundaries and may
    start from the latest checkpoint of an earlier run instead of the initial states. `pool` makes the
    workers (default: forked processes on this machine; `checker/distributed` makes MPI ranks).
    """
    search = _Search(scalar, options or Options(), exact, chunk_rows, workers, checkpoints)
    if pool is not None:
        search.make_pool = pool
    return search.run()


@dataclass
class Recorded:
    """The whole graph a recording search met (`explore_recorded`): parent links and every worker's log."""

    parents: np.ndarray  # uint32, NO_PARENT for an initial state
    moves: np.ndarray  # the move from the parent
    initial_rows: np.ndarray  # int64 rows of the initial states (discovery indices 0, 1, ...)
    initial_keys: np.ndarray
    logs: list[EdgeLog]


def explore_recorded(scalar: CompiledModel, options: Options, workers: int = 1,
                     chunk_rows: int | None = None) -> tuple[Result, Recorded]:
    """The default search without symmetry and without invariants, recording every transition and
    state (the liveness graph) at the cost of a few arrays appended per chunk."""
    search = _Search(scalar, replace(options, symmetry=False), False, chunk_rows, workers, record=True)
    search.invariants = []
    result, _ = search.run()
    assert search.initial_rows is not None and search.initial_keys is not None
    recorded = Recorded(np.concatenate(search.parents), np.concatenate(search.moves), search.initial_rows,
                        search.initial_keys, search.logs)
    return result, recorded


def work_context(scalar: CompiledModel, options: Options, exact: bool, chunk_rows: int | None,
                 workers: int) -> WorkContext:
    """What a worker of such a search needs (for workers that are not forked from the coordinator)."""
    return _Search(scalar, options, exact, chunk_rows, workers).context


class _Search:
    def __init__(self, scalar: CompiledModel, options: Options, exact: bool, chunk_rows: int | None,
                 workers: int, checkpoints: Checkpoints | None = None, record: bool = False) -> None:
        self.scalar = scalar
        self.vector = compile_vector(scalar)
        self.options = options
        self.exact = exact
        self.symmetry = options.symmetry and scalar.symmetry is not None
        if exact and self.symmetry:
            self.symmetry = False  # whole rows cannot be minimised over orbits here; exact wins
        width = scalar.layout.size
        self.width = width
        self.dtype = storage_dtype(scalar.layout)
        self.fingerprints = Fingerprints(self.vector, width, self.dtype, self.symmetry)
        self.chunk_rows = chunk_rows or int(min(65536, max(4096, 2**28 // (64 * max(width, 1)))))
        self.workers = workers
        self.distinct = 0
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
        self.context = WorkContext(self.vector, self.fingerprints, exact, width, self.move_base, share=workers > 1,
                                   edges=EdgeLog() if record else None)
        self.initial_keys: np.ndarray | None = None
        self.logs: list[EdgeLog] = []
        self.pool: Any = None  # Workers, or another pool with its `call` and `close`
        self.sequence = 0  # chunks asked for so far: names the files the workers exchange
        self.settle: list[tuple[int, np.ndarray | None]] | None = None  # where the last chunk's new states go
        self.visited_bytes = 0
        self.checkpoints = checkpoints
        self.make_pool: PoolFactory = Workers
        self.seconds_before = 0.0  # the time the run took before the checkpoint it was recovered from
        self.identity = checkpoint.run_identity(scalar.sources[0] + self.vector.source,
                                                {"exact": exact, "symmetry": self.symmetry, "chunk_rows": self.chunk_rows})

    # -- the search
    def run(self) -> tuple[Result, VectorStats]:
        if self.checkpoints is not None and self.checkpoints.recover is not None:
            level = self._recover(self.checkpoints.recover)
        else:
            compact, keys = self._initial()
            self.pool = self.make_pool(self.context, self.workers, compact, keys, None)
            level = len(compact)
        assert self.pool is not None
        fresh = self.checkpoints is None or self.checkpoints.recover is None  # (a recovered level is saved already)
        try:
            while level and not self._stopped():
                if self.checkpoints is not None and self.checkpoints.due() and fresh:
                    self._checkpoint(level)
                fresh = True
                level_start = self.distinct - level
                if self.options.max_depth is not None and self.depth >= self.options.max_depth:
                    if self._has_new_successor(level_start, level):
                        self.incomplete = f"depth limit {self.options.max_depth} reached"
                    break
                level = self._expand_level(level_start, level)
                if level:
                    self.depth += 1
            self.visited_bytes = sum(self.pool.call("visited_bytes", [()] * self.workers))
            if self.context.edges is not None:
                self.logs = self.pool.call("edge_log", [(s,) for s in self.settle or [None] * self.workers])
        finally:
            self.pool.close()
        return self._result()

    # -- checkpoints
    _SAVED = ("distinct", "fired", "generated", "depth", "invariants", "violations", "initial_rows", "sequence")

    def _checkpoint(self, level: int) -> None:
        """Write the search at this level boundary (`level`: the size of the level about to be expanded)."""
        assert self.pool is not None and self.checkpoints is not None and self.checkpoints.directory is not None
        staged = checkpoint.staging(self.checkpoints.directory, self.depth)
        settle = self.settle or [None] * self.workers
        self.settle = None
        self.pool.call("save_share", [(str(staged), s) for s in settle])
        state = {name: getattr(self, name) for name in self._SAVED}
        state.update(identity=self.identity, level=level, workers=self.workers,
                     parents=np.concatenate(self.parents), moves=np.concatenate(self.moves),
                     seconds=self.seconds_before + self.clock.seconds)
        checkpoint.save_search(staged, state)
        checkpoint.publish(staged, self.depth)
        self.checkpoints.written += 1
        self.checkpoints.last = time.monotonic()

    def _recover(self, directory: str) -> int:
        """Start from the latest checkpoint in `directory`; the size of the level to expand next."""
        path = checkpoint.latest(directory)
        state = checkpoint.load_search(path, self.identity)
        for name in self._SAVED:
            setattr(self, name, state[name])
        self.parents, self.moves = [state["parents"]], [state["moves"]]
        self.seconds_before = state["seconds"]
        self.pool = self.make_pool(self.context, self.workers, None, None, str(path))
        return int(state["level"])

    def _stopped(self) -> bool:
        return search_stopped(self.options, self.incomplete, self.violations, self.invariants)

    def _initial(self) -> tuple[np.ndarray, np.ndarray]:
        """The initial states (compact) and their keys; their links recorded and invariants checked."""
        rows = np.array(self.scalar.initial_states, dtype=np.int64).reshape(-1, self.width)
        self.generated += len(rows)
        if len(rows):
            try:
                rows = rows[allowed_rows(self.vector, rows)]
            except SpecRuntimeError as error:
                raise ExplorationError(error.message, error.span, "the model's constraint", ()) from None
        keys = visited_keys(self.fingerprints.compact(rows), self.fingerprints, self.exact)
        _, first = np.unique(keys, return_index=True)
        first.sort()
        rows, keys = rows[first], keys[first]
        self.initial_rows, self.initial_keys = rows, keys
        self.distinct = len(rows)
        self.parents.append(np.full(len(rows), NO_PARENT, dtype=np.uint32))
        self.moves.append(np.zeros(len(rows), dtype=self.move_dtype))
        self._check(rows, 0)
        return self.fingerprints.compact(rows), keys

    def _chunks(self, level_start: int, level: int) -> list[tuple[int, int]]:
        end = level_start + level
        return [(start, min(end, start + self.chunk_rows)) for start in range(level_start, end, self.chunk_rows)]

    def _expand(self, start: int, stop: int, new_level: bool) -> None:
        """Phase 1 in every worker; a spec error in some row is then reported exactly."""
        assert self.pool is not None
        self.sequence += 1
        settle = self.settle or [None] * self.workers
        self.settle = None
        replies = self.pool.call("expand", [(self.sequence, start, stop, s, new_level) for s in settle])
        for generated, fired, _ in replies:
            self.generated += generated
            self.fired += fired
        if any(failed for _, _, failed in replies):
            self._raise_exact_error(start, stop)
        if self.context.routes_raw:
            self.pool.call("canonicalise", [(self.sequence,)] * self.workers)

    def _expand_level(self, level_start: int, level: int) -> int:
        """Expand one level chunk by chunk; the number of new states."""
        assert self.pool is not None
        new = 0
        for number, (start, stop) in enumerate(self._chunks(level_start, level)):
            self._expand(start, stop, new_level=number == 0)
            absorbed = self.pool.call("absorb", [(self.sequence, list(self.invariants))] * self.workers)
            new += self._record(absorbed)
            self._tick(level_start + level - stop)
            if self._stopped():
                break
        return new

    def _record(self, absorbed: list[Absorbed]) -> int:
        """Put the workers' new states in discovery order: link them, tell each its indices, check the limits."""
        first_index = self.distinct
        owners = None
        if self.workers == 1:
            order = absorbed[0].order
        else:  # each worker's order keys ascend: a stable sort merges them
            found = np.concatenate([a.order for a in absorbed])
            merged = np.argsort(found, kind="stable")
            order = found[merged]
            owners = np.repeat(np.arange(self.workers, dtype=np.uint8), [len(a.order) for a in absorbed])[merged]
        self.settle = [(first_index, owners)] * self.workers  # each worker holds the new states it owns
        if self.options.max_states is not None and self.distinct + len(order) > self.options.max_states:
            order = order[:max(0, self.options.max_states - self.distinct)]
            self.incomplete = f"state limit {self.options.max_states:,} reached"
        if self.distinct + len(order) >= NO_PARENT:
            raise MemoryError("more than 4 billion states: beyond what parent links can address")
        if len(order):
            self.parents.append((order & _PARENT_MASK).astype(np.uint32))
            self.moves.append((order >> PARENT_BITS).astype(self.move_dtype))
        self.distinct += len(order)
        if any(a.error for a in absorbed):
            self._check_exactly(absorbed, len(order), first_index)
        else:
            self._note_violations(absorbed, order, first_index)
        return len(order)

    def _note_violations(self, absorbed: list[Absorbed], order: np.ndarray, first_index: int) -> None:
        """Each invariant's first violating new state in discovery order (among the states kept)."""
        for invariant in list(self.invariants):
            failing = [a.failing[invariant] for a in absorbed if invariant in a.failing]
            if not failing or not len(order) or min(failing) > order[-1]:
                continue
            index = first_index + int(np.searchsorted(order, min(failing)))
            compiled = self.scalar.invariants[invariant]
            self.violations.append(Violation(compiled.name, compiled.doc, self.trace(index)))
            self.invariants.remove(invariant)

    def _check_exactly(self, absorbed: list[Absorbed], kept: int, first_index: int) -> None:
        """Some worker's invariant check raised: check the chunk's new states here, in discovery order."""
        assert self.pool is not None
        rows = np.concatenate(self.pool.call("pending_rows", [()] * self.workers))
        order = np.argsort(np.concatenate([a.order for a in absorbed]))
        self._check(int64_columns(rows[order[:kept]], self.width), first_index)

    def _has_new_successor(self, level_start: int, level: int) -> bool:
        """Whether the level has a successor never seen (a dry run: nothing is recorded)."""
        assert self.pool is not None
        for number, (start, stop) in enumerate(self._chunks(level_start, level)):
            self._expand(start, stop, new_level=number == 0)
            if any(self.pool.call("absorb", [(self.sequence, [], True)] * self.workers)):
                return True
        return False

    def _raise_exact_error(self, start: int, stop: int) -> None:
        """A chunk raised a spec error (in an action or in the constraint): report it exactly."""
        assert self.pool is not None
        shares = self.pool.call("rows", [(start, stop)] * self.workers)
        indices = np.concatenate([i for i, _ in shares])
        chunk = np.concatenate([r for _, r in shares])[np.argsort(indices)]
        chunk_start = start
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

    def _check(self, rows: np.ndarray, first_index: int) -> None:
        try:
            failing = first_failures(self.vector, self.invariants, rows)
        except SpecRuntimeError as error:
            raise self._runtime_error(error, rows, first_index, predicate=True) from None
        for invariant, position in failing.items():
            compiled = self.scalar.invariants[invariant]
            self.violations.append(Violation(compiled.name, compiled.doc, self.trace(first_index + position)))
            self.invariants.remove(invariant)

    def _tick(self, queue: int) -> None:
        self.incomplete = self.clock.tick(self.depth, self.distinct, self.generated, queue) or self.incomplete

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
        seconds = self.seconds_before + self.clock.seconds
        verdict = "violation" if self.violations else ("incomplete" if self.incomplete else "ok")
        fired: dict[str, int] = {}
        for action, count in zip(self.scalar.actions, self.fired, strict=True):
            fired[action.name] = fired.get(action.name, 0) + int(count)
        distinct = self.distinct
        result = Result(verdict, distinct, self.generated, self.depth, seconds, fired, self.violations,
                        self.incomplete, self.symmetry, len(self.initial_rows) if self.initial_rows is not None else 0)
        link_bytes = sum(p.nbytes + m.nbytes for p, m in zip(self.parents, self.moves, strict=True))
        per_state = (self.visited_bytes + link_bytes) / distinct if distinct else 0.0
        # TLC's estimate of the chance that two distinct states shared a fingerprint
        collision = 0.0 if self.exact else min(1.0, distinct * max(self.generated - distinct, 0) / 2.0**64)
        return result, VectorStats(collision, per_state, self.exact, str(self.dtype))
