"""Fingerprints of compact state rows: stable 64-bit hashes, minimised over symmetry orbits.

A state row is stored in the narrowest integer type that holds every column (`storage_dtype`),
padded to whole 64-bit words. Its fingerprint is stable across processes and runs: the per-word
keys and multipliers come from a fixed splitmix64 stream, never from Python's salted `hash`.
With symmetry, a state's fingerprint is the least fingerprint over its orbit (every permutation of
the symmetric kinds' instances), so one representative per orbit is kept. Small groups hash each
permuted row; bigger ones use `_OrbitHash`, which never builds one. With `exact`, the visited-set
key is the row's bytes instead (`visited_keys`).
"""

from __future__ import annotations

import itertools

import numpy as np

from kvolt.checker.canonical import SortingCanonicaliser
from kvolt.checker.compiler import Layout, Moved, permutation_plan
from kvolt.checker.explicit.vector import VectorModel
from kvolt.checker.frontend import ir
from kvolt.checker.symmetry import SymmetryGroup

_MASK64 = (1 << 64) - 1
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_S31 = np.uint64(31)
_HASH_BLOCK = 8192  # rows hashed at a time: the block's words stay in cache across word positions
_ORBIT_BLOCK = 1024  # rows canonicalised at a time by _OrbitHash (its temporaries are ~4 KB per row)
_ORBIT_MIN_GROUP = 4  # smaller symmetry groups: hashing each permuted row is cheaper
_ORBIT_MAX_TABLE = 1 << 23  # group size x width x value range: beyond this, building the tables costs too much


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


def _orbit_hash(layout: Layout, group: SymmetryGroup, width: int) -> _OrbitHash | None:
    """The decomposed orbit hash, for groups big enough to pay for it (and value ranges small enough)."""
    low, high = column_bounds(layout)
    if group.size < _ORBIT_MIN_GROUP or group.size * width * (high - low + 1) > _ORBIT_MAX_TABLE:
        return None
    return _OrbitHash(layout, group, width, low, high)


class _SortedOrbit:
    """Orbit keys under a group too large to list: the fingerprint of each row's canonical form
    (`checker/canonical.py`), which sorting finds without the group's elements."""

    def __init__(self, layout: Layout, group: SymmetryGroup, fingerprints: Fingerprints) -> None:
        self.canonicaliser = SortingCanonicaliser(layout, group)
        self.fingerprints = fingerprints

    def __call__(self, compact: np.ndarray) -> np.ndarray:
        return self.fingerprints.raw(self.fingerprints.compact(self.canonicaliser(compact)))


class Fingerprints:
    """64-bit fingerprints of compact rows, minimised over the symmetry orbit when there is one.

    A row's bytes are read as 64-bit words; each word goes through a bijective mix (so distinct
    words stay distinct and differences spread over all bits), the mixed words are combined with
    fixed random odd multipliers, and the sum is mixed once more. A permuted row is built in the
    compact type (a column gather, plus small lookup tables for renamed references).
    """

    def __init__(self, vector: VectorModel, width: int, dtype: np.dtype, symmetry: bool) -> None:
        self.width = width
        layout = vector.scalar.layout
        group = vector.scalar.symmetry if symmetry else None
        self.orbit: _OrbitHash | _SortedOrbit | None = None
        if group is not None:
            self.orbit = _orbit_hash(layout, group, width) if group.listed else _SortedOrbit(layout, group, self)
        self.dtype = dtype
        self.padded = -(-width * dtype.itemsize // 8) * 8 // dtype.itemsize
        words = self.padded * dtype.itemsize // 8
        constants = _splitmix64(0x6B766F6C74, 2 * words)
        self.word_keys = [np.uint64(c) for c in constants[:words]]
        self.word_multipliers = [np.uint64(c | 1) for c in constants[words:]]
        self.plans = []
        for plan in vector.permutations if symmetry and self.orbit is None else []:
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

    @property
    def canonicalising(self) -> bool:
        """Whether keys are least over orbits (a symmetry group is in use)."""
        return self.orbit is not None or bool(self.plans)

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
        """The orbit-least fingerprint (`raw`, when given, is `self.raw(compact)`, already computed).

        A least value is far from uniform (most are small), so it goes through a bijective mix: the
        fingerprints stay as distinct as they were, and workers can own equal ranges of them.
        """
        if self.orbit is None and not self.plans:
            return self.raw(compact) if raw is None else raw  # no symmetry: uniform already
        least = self.orbit(compact) if self.orbit is not None else self._least(compact, raw)
        with np.errstate(over="ignore"):
            return _mix(least)

    def _least(self, compact: np.ndarray, raw: np.ndarray | None) -> np.ndarray:
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


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of 64-bit values that spreads every input bit over all output bits."""
    h = h ^ (h >> np.uint64(30))
    h *= _MIX1
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> _S31
    return h


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

    def __init__(self, layout: Layout, group: SymmetryGroup, width: int, low: int, high: int) -> None:
        choices = group.factors()  # per class of interchangeable bundles, its permutations (the identity first)
        kinds = list(range(len(choices)))
        assignments = list(itertools.product(*(range(len(c)) for c in choices)))
        size = high - low + 1
        self.low = low
        self.width = width
        z = np.array(_splitmix64(0x6F72626974, width * size), dtype=np.uint64).reshape(width, size)
        # for each assignment, for each source column: the values its column contributes, by value
        contributions: list[list[tuple[int, ...]]] = []
        for assignment in assignments:
            perms = _composed([choices[i][a] for i, a in enumerate(assignment)])
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


def _composed(factors: list[dict[str, tuple[int, ...]]]) -> dict[str, tuple[int, ...]]:
    """One permutation per kind from factors that move disjoint instances."""
    result: dict[str, list[int]] = {}
    for perms in factors:
        for kind, perm in perms.items():
            merged = result.setdefault(kind, list(range(len(perm))))
            for old, new in enumerate(perm):
                if old != new:
                    merged[old] = new
    return {kind: tuple(perm) for kind, perm in result.items()}


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


def visited_keys(compact: np.ndarray, fingerprints: Fingerprints, exact: bool) -> np.ndarray:
    """The visited-set keys of compact rows: fingerprints, or the rows' bytes when exact."""
    if not exact:
        return fingerprints(compact)
    compact = np.ascontiguousarray(compact)
    return compact.view(np.dtype((np.void, compact.dtype.itemsize * compact.shape[1]))).ravel()
