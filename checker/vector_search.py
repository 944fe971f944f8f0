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
stored is the concrete row that was reached, so the recorded moves replay concretely. Small
groups hash each permuted row; bigger ones use `_OrbitHash`, which never builds one.

A chunk's successors are deduplicated twice: exact duplicates by a cheap hash of the rows, then
orbits by the canonical fingerprint of the survivors only; the first occurrence (in move order,
then parent order) is kept, which is what makes the parent links and traces deterministic.
With several workers, `workers - 1` forked helpers and the main process expand tasks (pieces of
chunks) of frontiers shared through /dev/shm; the main process merges each chunk's tasks back
into what the whole chunk would have given and absorbs chunks in order, so the outcome is the
same for any number of workers.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import multiprocessing
import multiprocessing.connection
import os
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from kvolt.checker import ir
from kvolt.checker.compiler import CompiledModel, Layout, Moved, SpecRuntimeError, permutation_plan
from kvolt.checker.explorer import ExplorationError, Options, Result, SearchClock, Step, Violation, search_stopped
from kvolt.checker.vector import Sink, VectorModel, allowed_rows, check_rows, compile_vector, expand, expand_into

_MASK64 = (1 << 64) - 1
NO_PARENT = (1 << 32) - 1  # parent links are uint32 indices in discovery order
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_S31 = np.uint64(31)
_HASH_BLOCK = 8192  # rows hashed at a time: the block's words stay in cache across word positions
_ORBIT_BLOCK = 1024  # rows canonicalised at a time by _OrbitHash (its temporaries are ~4 KB per row)
_CANONICALISED_LIMIT = 1 << 24  # raw keys remembered per process (128 MB) to skip canonicalising rows again
_ORBIT_MIN_GROUP = 4  # smaller symmetry groups: hashing each permuted row is cheaper
_ORBIT_MAX_TABLE = 1 << 23  # group size x width x value range: beyond this, building the tables costs too much
_TASKS_PER_WORKER = 2  # a chunk is cut into this many tasks per worker (the last ones to finish idle the others)
_MIN_TASK_ROWS = 4096  # below this, per-call overhead outweighs parallelism
_HELPER_QUEUE = 2  # tasks sent ahead to each helper process
_SHARED_DIR = "/dev/shm"  # memory-backed files: frontiers shared with helper processes


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


def _runs(sources: list[int]) -> list[tuple[int, int, int]]:
    """A column permutation as copies of contiguous runs: (destination, source, length), moved columns only."""
    runs: list[tuple[int, int, int]] = []
    for destination, source in enumerate(sources):
        if runs and runs[-1][1] + runs[-1][2] == source and runs[-1][0] + runs[-1][2] == destination:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((destination, source, 1))
    return [run for run in runs if run[0] != run[1]]


def _orbit_hash(layout: Layout, width: int) -> _OrbitHash | None:
    """The decomposed orbit hash, for groups big enough to pay for it (and value ranges small enough)."""
    model = layout.model
    group = math.prod(math.factorial(model.count(k)) for k in model.symmetric)
    low, high = column_bounds(layout)
    if group < _ORBIT_MIN_GROUP or group * width * (high - low + 1) > _ORBIT_MAX_TABLE:
        return None
    return _OrbitHash(layout, width, low, high)


class _Fingerprints:
    """64-bit fingerprints of compact rows, minimised over the symmetry orbit when there is one.

    A row's bytes are read as 64-bit words; each word goes through a bijective mix (so distinct
    words stay distinct and differences spread over all bits), the mixed words are combined with
    fixed random odd multipliers, and the sum is mixed once more. A permuted row is built in the
    compact type (a column gather, plus small lookup tables for renamed references).
    """

    def __init__(self, vector: VectorModel, width: int, dtype: np.dtype, symmetry: bool) -> None:
        self.width = width
        self.orbit = _orbit_hash(vector.scalar.layout, width) if symmetry and vector.permutations else None
        self.dtype = dtype
        self.padded = -(-width * dtype.itemsize // 8) * 8 // dtype.itemsize
        words = self.padded * dtype.itemsize // 8
        constants = _splitmix64(0x6B766F6C74, 2 * words)
        self.word_keys = [np.uint64(c) for c in constants[:words]]
        self.word_multipliers = [np.uint64(c | 1) for c in constants[words:]]
        self.plans = []
        for plan in vector.permutations if symmetry else []:
            sources = [m.source for m in plan] + list(range(width, self.padded))
            renames = []
            for column, moved in enumerate(plan):
                if moved.mode == "ref":
                    renames.append((column, np.array(moved.table, dtype=dtype)))
                elif moved.mode == "bits":
                    size = 1 << len(moved.table)
                    table = np.array([sum(t for bit, t in enumerate(moved.table) if mask >> bit & 1)
                                      for mask in range(size)], dtype=np.int64)
                    renames.append((column, table.astype(dtype)))
            self.plans.append((_runs(sources), renames))

    def compact(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the storage type, padded with zero columns to a whole number of 64-bit words."""
        compact = np.zeros((len(rows), self.padded), dtype=self.dtype)
        compact[:, :self.width] = rows
        return compact

    def _hash(self, compact: np.ndarray) -> np.ndarray:
        """Fingerprints of at most a block of rows, one 64-bit word position at a time (long 1-D loops)."""
        words = np.ascontiguousarray(compact).view(np.uint64)
        h = np.zeros(len(words), dtype=np.uint64)
        shifted = np.empty(len(words), dtype=np.uint64)
        for w, (key, multiplier) in enumerate(zip(self.word_keys, self.word_multipliers, strict=True)):
            x = np.bitwise_xor(words[:, w], key)
            x *= _MIX1
            np.right_shift(x, _S31, out=shifted)
            x ^= shifted
            x *= multiplier
            h += x
        h ^= h >> np.uint64(30)
        h *= _MIX1
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> _S31
        return h

    def raw(self, compact: np.ndarray) -> np.ndarray:
        """The fingerprint of the rows as they are (no symmetry)."""
        out = np.empty(len(compact), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for start in range(0, len(compact), _HASH_BLOCK):
                out[start:start + _HASH_BLOCK] = self._hash(compact[start:start + _HASH_BLOCK])
        return out

    def __call__(self, compact: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
        """The orbit-least fingerprint (`raw`, when given, is `self.raw(compact)`, already computed)."""
        if self.orbit is not None:
            return self.orbit(compact)
        best = self.raw(compact) if raw is None else raw.copy()
        with np.errstate(over="ignore"):
            for start in range(0, len(compact), _HASH_BLOCK):
                block = compact[start:start + _HASH_BLOCK]
                least = best[start:start + _HASH_BLOCK]
                for runs, renames in self.plans:
                    permuted = block.copy()
                    for destination, source, length in runs:
                        permuted[:, destination:destination + length] = block[:, source:source + length]
                    for column, table in renames:
                        permuted[:, column] = table[permuted[:, column]]
                    np.minimum(least, self._hash(permuted), out=least)
        return best


class _OrbitHash:
    """The least fingerprint over a symmetry group, without building any permuted row.

    The fingerprint of a row x is mix(sum over columns c of Z[c][x[c]]) with fixed random 64-bit
    values Z (a Zobrist hash: any two different rows differ in the sum by a random value). A
    permutation g moves source column s to some column with some renaming of its value, and
    which column and renaming depends only on the permutations of a few kinds (the block's own,
    the referenced kind's, a per-instance cache's owner): D(s). So the columns are grouped by
    D, each group's sum is computed once per choice of permutations of its kinds, and the sum
    for every g of the group is a handful of additions of those partial sums. The Zobrist sums are
    uniformly random already, so no final mix is needed (a bijection would not change collisions).
    """

    def __init__(self, layout: Layout, width: int, low: int, high: int) -> None:
        model = layout.model
        kinds = list(model.symmetric)
        choices = [list(itertools.permutations(range(model.count(k)))) for k in kinds]
        assignments = list(itertools.product(*(range(len(c)) for c in choices)))
        size = high - low + 1
        self.low = low
        self.width = width
        z = np.array(_splitmix64(0x6F72626974, width * size), dtype=np.uint64).reshape(width, size)
        # for each assignment, for each source column: the values its column contributes, by value
        contributions: list[list[tuple[int, ...]]] = []
        for assignment in assignments:
            perms = {k: choices[i][a] for i, (k, a) in enumerate(zip(kinds, assignment, strict=True))}
            per_source: list[tuple[int, ...]] = [()] * width
            for column, moved in enumerate(permutation_plan(layout, perms)):
                per_source[moved.source] = tuple(int(z[column][_renamed(moved, v) - low]) for v in range(low, high + 1))
            contributions.append(per_source)
        index = {a: i for i, a in enumerate(assignments)}
        groups: dict[tuple[int, ...], list[int]] = {}
        for source in range(width):
            depends = tuple(k for k in range(len(kinds))
                            if any(contributions[index[a]][source] != contributions[index[_reset(a, k)]][source]
                                   for a in assignments))
            groups.setdefault(depends, []).append(source)
        columns: list[int] = []
        tables: list[tuple[int, ...]] = []
        starts: list[int] = []
        partial_of: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
        for depends, sources in groups.items():
            for sub in itertools.product(*(range(len(choices[k])) for k in depends)):
                full = [0] * len(kinds)
                for k, a in zip(depends, sub, strict=True):
                    full[k] = a
                partial_of[(depends, sub)] = len(starts)
                starts.append(len(columns))
                for source in sources:
                    columns.append(source)
                    tables.append(contributions[index[tuple(full)]][source])
        self.columns = np.array(columns, dtype=np.int64)
        self.offsets = (np.arange(len(columns), dtype=np.int64) * size - low)[:, None]
        self.tables = np.array(tables, dtype=np.uint64).ravel()
        self.bounds = list(itertools.pairwise([*starts, len(columns)]))
        # the sums for every assignment, built kind by kind: each group is added once all its kinds are chosen
        self.constant = [partial_of[((), ())]] if () in groups else []
        self.stages: list[tuple[int, list[np.ndarray]]] = []
        for k in range(len(kinds)):
            prefixes = list(itertools.product(*(range(len(choices[i])) for i in range(k + 1))))
            finishing = [np.array([partial_of[(d, tuple(p[i] for i in d))] for p in prefixes], dtype=np.int64)
                         for d in groups if d and d[-1] == k]
            self.stages.append((len(choices[k]), finishing))

    def __call__(self, compact: np.ndarray) -> np.ndarray:
        best = np.empty(len(compact), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for start in range(0, len(compact), _ORBIT_BLOCK):
                block = compact[start:start + _ORBIT_BLOCK, :self.width]
                values = np.ascontiguousarray(block.T).take(self.columns, axis=0).astype(np.int64)
                values += self.offsets
                looked_up = self.tables.take(values)
                partial = np.empty((len(self.bounds), len(block)), dtype=np.uint64)
                for i, (a, b) in enumerate(self.bounds):  # much faster than np.add.reduceat here
                    np.add.reduce(looked_up[a:b], axis=0, out=partial[i])
                total = partial[self.constant].sum(axis=0, keepdims=True, dtype=np.uint64)
                for choices, finishing in self.stages:
                    total = np.repeat(total, choices, axis=0)  # prefixes extended by this kind's choice (fastest)
                    for group in finishing:
                        total += partial[group]
                best[start:start + _ORBIT_BLOCK] = total.min(axis=0)  # the sums are uniform already: no mixing
        return best


def _reset(assignment: tuple[int, ...], kind: int) -> tuple[int, ...]:
    return (*assignment[:kind], 0, *assignment[kind + 1:])


def _renamed(moved: Moved, value: int) -> int:
    """A value as it reads after the permutation `moved` describes (values outside a table stay)."""
    if moved.mode == "ref":
        return moved.table[value] if 0 <= value < len(moved.table) else value
    if moved.mode == "bits":
        if value < 0 or value >> len(moved.table):
            return value
        return sum(t for bit, t in enumerate(moved.table) if value >> bit & 1)
    return value


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

    def add(self, keys: np.ndarray, presorted: bool = False) -> None:
        """Add keys known to be new (and distinct among themselves)."""
        self.count += len(keys)
        self.runs.append(keys if presorted else np.sort(keys))
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
    by_key: np.ndarray  # the order of the candidates in which their keys ascend
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
    sink: Sink = field(default_factory=Sink)  # each process's own successor buffer
    canonicalised: _Visited = field(default_factory=lambda: _Visited())  # raw keys of rows this process canonicalised


def _not_canonicalised_before(seen: _Visited, raw: np.ndarray, by_key: np.ndarray) -> np.ndarray:
    """Which candidates (by raw key, distinct) this process has not canonicalised in an earlier chunk.

    A row canonicalised before had its orbit key checked against the visited set and added to it
    (or the search stopped right after), so it cannot be new again: skipping it changes nothing but
    the time. Most candidates are such rows, and canonicalising is what costs most under symmetry.
    The memory is bounded: past `_CANONICALISED_LIMIT` keys the record starts afresh.
    """
    ascending = raw[by_key]
    new = ~seen.contains(ascending)  # sorted queries: each run is walked once
    if seen.count > _CANONICALISED_LIMIT:
        seen.runs, seen.count = [], 0
    seen.add(ascending[new], presorted=True)
    unknown = np.empty(len(raw), dtype=bool)
    unknown[by_key] = new
    return unknown


def int64_columns(rows: np.ndarray, width: int) -> np.ndarray:
    """The first `width` columns of compact rows as a column-major int64 array (what guards read).

    Transposing in blocks of rows keeps both sides in cache: several times faster than one
    `np.asfortranarray` on a small-typed array.
    """
    out = np.empty((width, len(rows)), dtype=np.int64)
    for start in range(0, len(rows), 512):
        out[:, start:start + 512] = rows[start:start + 512, :width].T
    return out.T


def _first_occurrences(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, by_key): where each distinct key first occurs, in increasing position, and the
    order of those positions in which their keys ascend (`keys[first][by_key]` is sorted)."""
    if not len(keys):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    # an unstable sort is much faster; the least position in each run of equal keys is taken instead
    order = np.argsort(keys) if keys.dtype == np.uint64 else np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    first_by_key = np.minimum.reduceat(order, starts)
    taken = np.zeros(len(keys), dtype=bool)
    taken[first_by_key] = True
    rank = np.cumsum(taken) - 1
    return np.flatnonzero(taken), rank[first_by_key]


def _empty_work(chunk: np.ndarray, fired: np.ndarray, failed: bool = False) -> _ChunkWork:
    empty = np.zeros(0, dtype=np.int64)
    return _ChunkWork(chunk[:0], empty.astype(np.uint64), empty, empty, empty, fired, 0, failed)


def _work_chunk(context: _Context, chunk: np.ndarray, chunk_start: int) -> _ChunkWork:
    vector = context.vector
    fired = np.zeros(len(vector.actions), dtype=np.int64)
    rows64 = int64_columns(chunk, context.width)  # guards read columns
    sink = context.sink
    try:
        expand_into(vector, rows64, chunk, sink)
    except SpecRuntimeError:
        return _empty_work(chunk, fired, failed=True)
    pieces = sink.pieces
    if not pieces:
        return _empty_work(chunk, fired)
    successors = sink.successors()
    parents = np.concatenate([np.arange(len(chunk)) if idx is None else idx for _, _, idx, _, _, _ in pieces])
    moves = np.repeat(np.array([context.move_base[a] + b for a, b, _, _, _, _ in pieces], dtype=np.int64),
                      [stop - start for _, _, _, start, stop, _ in pieces])
    valid = _valid_rows(pieces, fired)
    generated = len(successors) if valid is None else len(valid)
    if vector.constraint is not None:
        chosen = successors if valid is None else successors[valid]
        try:
            keep = allowed_rows(vector, int64_columns(chosen, context.width))
        except SpecRuntimeError:
            return _empty_work(chunk, fired, failed=True)
        valid = np.flatnonzero(keep) if valid is None else valid[keep]
    fingerprints = context.fingerprints
    if context.exact:
        keys = _keys(successors if valid is None else successors[valid], fingerprints, True)
    else:
        keys = fingerprints.raw(successors)
        if valid is not None:
            keys = keys[valid]
    first, by_key = _first_occurrences(keys)
    candidates = first if valid is None else valid[first]
    keys = keys[first]
    if fingerprints.orbit is not None and not context.exact:
        unknown = _not_canonicalised_before(context.canonicalised, keys, by_key)
        candidates, keys = candidates[unknown], keys[unknown]
    rows = successors[candidates]
    if fingerprints.plans and not context.exact:
        # exact duplicates are gone (one cheap hash); canonicalise only the distinct rows
        keys = fingerprints(rows, keys)
        first, by_key = _first_occurrences(keys)
        candidates, keys, rows = candidates[first], keys[first], rows[first]
    return _ChunkWork(rows, keys, by_key, parents[candidates] + chunk_start, moves[candidates], fired, generated)


def _valid_rows(pieces: list, fired: np.ndarray) -> np.ndarray | None:
    """Positions (in the sink) of the real successors, None when all are; counts them per action."""
    masks = []
    any_dropped = False
    for action, _, _, start, stop, ok in pieces:
        if ok is None:
            fired[action] += stop - start
            masks.append(np.ones(stop - start, dtype=bool))
        else:
            count = int(np.count_nonzero(ok))
            fired[action] += count
            any_dropped = any_dropped or count < len(ok)
            masks.append(ok)
    return np.flatnonzero(np.concatenate(masks)) if any_dropped else None


def _helper_main(context: _Context, connection: Connection) -> None:
    """A helper process: expand the frontier rows it is told to until told to stop (None)."""
    frontier: np.ndarray | None = None
    while True:
        task = connection.recv()
        if task is None:
            return
        path, shape, dtype, start, stop, first_index = task
        if frontier is None or getattr(frontier, "filename", None) != path:
            frontier = np.memmap(path, dtype=np.dtype(dtype), mode="r", shape=shape)
        try:
            connection.send(_work_chunk(context, frontier[start:stop], first_index))
        except Exception as error:  # handed to the main process, which raises it
            connection.send(error)


def _shared_directory(size: int) -> str | None:
    """/dev/shm when it has room to spare (containers often give it only 64 MB), else the temp directory."""
    try:
        free = os.statvfs(_SHARED_DIR)
    except OSError:
        return None
    return _SHARED_DIR if free.f_bavail * free.f_frsize > 2 * size else None


class _Helpers:
    """Forked helper processes that expand tasks while the main process expands and absorbs others.

    The main process is a worker too (`workers - 1` helpers), so two workers keep two cores busy
    without a third process competing with them. Frontiers live in files under /dev/shm that
    every process maps, so a task is a few numbers (and sending one never blocks: a helper
    blocked on sending its result can never deadlock with the main process sending it a task).
    """

    def __init__(self, context: _Context, count: int) -> None:
        fork = multiprocessing.get_context("fork")
        self.links: list[tuple[Any, Connection, deque[int]]] = []
        self.paths: list[str] = []
        for _ in range(count):
            mine, theirs = fork.Pipe()
            process = fork.Process(target=_helper_main, args=(context, theirs), daemon=True)
            process.start()
            theirs.close()
            self.links.append((process, mine, deque()))

    def allocate(self, count: int, width: int, dtype: np.dtype) -> np.ndarray:
        """An array every helper can map (a fresh file under /dev/shm when there is one)."""
        if not count:
            return np.zeros((0, width), dtype=dtype)
        descriptor, path = tempfile.mkstemp(prefix="kvolt-frontier-", dir=_shared_directory(count * width * dtype.itemsize))
        os.close(descriptor)
        self.paths.append(path)
        return np.memmap(path, dtype=dtype, mode="w+", shape=(count, width))

    def release(self, keep: np.ndarray) -> None:
        """Remove every shared frontier file but `keep`'s (mappings stay valid until dropped)."""
        for path in [p for p in self.paths if p != getattr(keep, "filename", None)]:
            self.paths.remove(path)
            with contextlib.suppress(OSError):
                os.unlink(path)

    def send(self, task_id: int, frontier: np.ndarray, start: int, stop: int, first_index: int) -> bool:
        """Queue a task at the helper with the fewest outstanding ones, if one has room."""
        _, connection, queue = min(self.links, key=lambda link: len(link[2]))
        if len(queue) >= _HELPER_QUEUE:
            return False
        path = frontier.filename  # type: ignore[attr-defined]
        connection.send((path, frontier.shape, frontier.dtype.str, start, stop, first_index))
        queue.append(task_id)
        return True

    def receive(self, block: bool) -> tuple[int, _ChunkWork] | None:
        """A finished task (id, work), or None when none is ready and `block` is false."""
        for _, connection, queue in self.links:
            if queue and connection.poll():
                work = connection.recv()
                if isinstance(work, BaseException):
                    raise work
                return queue.popleft(), work
        if block and self.outstanding():
            multiprocessing.connection.wait([connection for _, connection, queue in self.links if queue])
            return self.receive(block=False)
        return None

    def outstanding(self) -> int:
        return sum(len(queue) for _, _, queue in self.links)

    def drain(self) -> None:
        """Collect and drop every outstanding result (after the search stopped mid-level)."""
        while self.outstanding():
            self.receive(block=True)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a helper blocked on sending a result must be read first
            self.drain()
        for process, connection, _ in self.links:
            with contextlib.suppress(OSError):
                connection.send(None)
            connection.close()
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        self.release(np.zeros(0))


def _merge(works: list[_ChunkWork]) -> _ChunkWork:
    """The tasks of one chunk as if the chunk had been expanded whole.

    A chunk lists its successors move by move, and by parent within a move; each task's candidates
    are the first occurrences of their keys in that order among its own rows. So the chunk's first
    occurrence of a key is the least, in (move, parent) order, of the tasks' ones.
    """
    if len(works) == 1:
        return works[0]
    moves = np.concatenate([w.moves for w in works])
    parents = np.concatenate([w.parents for w in works])
    order = np.argsort((moves << 32) | parents, kind="stable")  # parents are < 2**32, moves < 2**31
    keys = np.concatenate([w.keys for w in works])[order]
    first, by_key = _first_occurrences(keys)
    chosen = order[first]
    return _ChunkWork(np.concatenate([w.compact for w in works])[chosen], keys[first], by_key, parents[chosen],
                      moves[chosen], sum(w.fired for w in works), sum(w.generated for w in works))


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
    search.workers = workers
    if workers <= 1:
        return search.run()
    search.helpers = _Helpers(search.context, workers - 1)
    try:
        return search.run()
    finally:
        search.helpers.close()


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
        self.helpers: _Helpers | None = None
        self.workers = 1

    # -- the search
    def run(self) -> tuple[Result, VectorStats]:
        frontier = self._initial()
        if self.helpers is not None:
            shared = self.helpers.allocate(len(frontier), frontier.shape[1], frontier.dtype)
            shared[...] = frontier
            frontier = shared
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
        """Expand one level chunk by chunk, absorbing the results in order.

        With workers, chunks are cut into smaller tasks so that every worker has work even on a
        small level; a chunk's tasks are merged back into what the whole chunk would have given
        (`_merge`) before they are absorbed, so the outcome never depends on the tasks.
        """
        new_chunks: list[np.ndarray] = []
        tasks = self._tasks(len(frontier))
        pending: list[_ChunkWork] = []
        for (_, stop, chunk), work in zip(tasks, self._works(frontier, level_start, tasks), strict=False):
            if work.failed:
                self._raise_exact_error(frontier[chunk[0]:chunk[1]], level_start + chunk[0])
            pending.append(work)
            if stop < chunk[1]:
                continue
            new_rows = self._absorb(_merge(pending))
            pending = []
            if new_rows is not None and len(new_rows):
                new_chunks.append(new_rows)
            self._tick(len(frontier) - stop)
            if self._stopped():
                break
        if self.helpers is None:
            return np.concatenate(new_chunks) if new_chunks else np.zeros((0, self.fingerprints.padded), dtype=self.dtype)
        self.helpers.drain()
        next_frontier = self.helpers.allocate(sum(len(c) for c in new_chunks), self.fingerprints.padded, self.dtype)
        if new_chunks:
            np.concatenate(new_chunks, out=next_frontier)
        self.helpers.release(keep=next_frontier)
        return next_frontier

    def _works(self, frontier: np.ndarray, level_start: int,
               tasks: list[tuple[int, int, tuple[int, int]]]) -> Iterator[_ChunkWork]:
        """The tasks' results in task order; with helpers, the main process takes tasks whenever it would wait."""
        helpers = self.helpers
        if helpers is None:
            for start, stop, _ in tasks:
                yield _work_chunk(self.context, frontier[start:stop], level_start + start)
            return
        done: dict[int, _ChunkWork] = {}
        unassigned = 0
        for wanted in range(len(tasks)):
            while wanted not in done:
                while unassigned < len(tasks):
                    start, stop, _ = tasks[unassigned]
                    if not helpers.send(unassigned, frontier, start, stop, level_start + start):
                        break
                    unassigned += 1
                received = helpers.receive(block=unassigned >= len(tasks))
                if received is not None:
                    done[received[0]] = received[1]
                elif unassigned < len(tasks):
                    start, stop, _ = tasks[unassigned]
                    done[unassigned] = _work_chunk(self.context, frontier[start:stop], level_start + start)
                    unassigned += 1
            yield done.pop(wanted)

    def _tasks(self, rows: int) -> list[tuple[int, int, tuple[int, int]]]:
        """(start, stop, its chunk's (start, stop)) of every task of a level of `rows` rows."""
        tasks = []
        for start in range(0, rows, self.chunk_rows):
            chunk = (start, min(rows, start + self.chunk_rows))
            size = chunk[1] - chunk[0]
            if self.helpers is not None:
                size = max(_MIN_TASK_ROWS, -(-size // (_TASKS_PER_WORKER * self.workers)))
            tasks += [(a, min(a + size, chunk[1]), chunk) for a in range(chunk[0], chunk[1], size)]
        return tasks

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
        ascending = work.keys[work.by_key]
        unseen = ~self.visited.contains(ascending)  # sorted queries: searchsorted walks each run once
        fresh = np.sort(work.by_key[unseen])
        if self.options.max_states is not None and self.visited.count + len(fresh) > self.options.max_states:
            fresh = fresh[:max(0, self.options.max_states - self.visited.count)]
            self.incomplete = f"state limit {self.options.max_states:,} reached"
            ascending, unseen = np.sort(work.keys[fresh]), None
        if not len(fresh):
            return None
        first_index = self.visited.count
        self.visited.add(ascending if unseen is None else ascending[unseen], presorted=True)
        if self.visited.count >= NO_PARENT:
            raise MemoryError("more than 4 billion states: beyond what parent links can address")
        self.parents.append(work.parents[fresh].astype(np.uint32))
        self.moves.append(work.moves[fresh].astype(self.move_dtype))
        compact = work.compact[fresh]
        self._check(int64_columns(compact, self.width), first_index)
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
