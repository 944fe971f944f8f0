"""The states one worker owns in a breadth-first search, and the worker processes.

With N workers, worker w owns the states whose visited-set key falls in the w-th of N equal ranges
of 64-bit fingerprints: only it keeps their keys, checks their invariants and expands them at the
next level. A chunk of a level (a range of discovery indices) is searched in two phases, every
worker doing its share of each:

1. `expand`: the worker expands its own frontier rows of the chunk, fingerprints the successors,
   drops duplicates among them (keeping the first in (move, parent) order, the order in which one
   worker expanding the whole chunk meets them) and sends each other worker the candidates it owns,
   keys, order keys and rows (`_Mailbox`: a reused memory-backed file per pair and kind).
2. `absorb`: the worker checks the candidates it owns against its visited set, keeps among the
   unseen ones the least (move, parent) per key (as if the chunk had been expanded whole), and
   checks their invariants. It reports their order keys, `move << 32 | parent`, which the
   coordinator merges into the chunk's discovery order, so that the indices, parent links and
   counterexamples are the same for any number of workers.

Under symmetry, workers also tell each other which raw rows they canonicalised (`absorb`), so that
none computes an orbit fingerprint another has already computed in an earlier chunk. With a large
symmetry group (the orbit hash, the costliest step), a third exchange comes between the two phases:
`expand` sends each distinct raw row to the owner of its raw fingerprint, and `canonicalise` there
computes its orbit key once, even when both workers met the row, and sends it on to the owner of
that key. Worker 0 is the coordinating process itself, so two workers keep two cores busy.

The large arrays of a chunk (the int64 column copies guards and invariants read, the successor
buffer, the mailboxes) live in per-process buffers that are reused and grow by doubling: memory
touched for the first time is slow to fault in, slower than filling it, and a buffer is freed
before the bigger one is made, since memory the kernel has just taken back is the fastest to get.
A level that is one chunk's new rows (up to `_KEEP_INT64_BYTES` of columns) and is expanded as one
chunk reuses the column copy its invariant check made.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import mmap
import multiprocessing
import os
import pickle
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kvolt.checker.compiler import SpecRuntimeError
from kvolt.checker.explicit import checkpoint
from kvolt.checker.explicit.fingerprint import Fingerprints, visited_keys
from kvolt.checker.explicit.vector import Sink, VectorModel, allowed_rows, expand_into, first_failures

_CANONICALISED_LIMIT = 1 << 24  # raw keys remembered per process (128 MB) to skip canonicalising rows again
_SHARED_DIR = "/dev/shm"  # memory-backed files: candidates exchanged between workers
_SHARED_ROOM = 1 << 30  # below this much free space in /dev/shm, exchange through the temporary directory
_KEEP_INT64_BYTES = 1 << 26  # int64 columns of new rows kept for the next level (about two chunks' worth)
_SPIN_SECONDS = 0.02  # how long a waiting process polls before it sleeps (with a core to itself)
PARENT_BITS = 32  # an order key is move << 32 | parent; parents (discovery indices) stay below 2**32


class Visited:
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
        if not len(keys):
            return found  # (an empty chunk's keys may not even have the runs' type)
        for run in self.runs:
            found |= self._member(keys, run)
        return found

    def add(self, keys: np.ndarray, presorted: bool = False) -> None:
        """Add keys known to be new (and distinct among themselves)."""
        if not len(keys):
            return  # an empty run would break `_member`
        self.count += len(keys)
        self.runs.append(keys if presorted else np.sort(keys))
        while len(self.runs) >= 2 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
            newest = self.runs.pop()
            self.runs[-1] = np.sort(np.concatenate([self.runs[-1], newest]), kind="stable")

    def nbytes(self) -> int:
        return sum(run.nbytes for run in self.runs)


@dataclass
class ChunkWork:
    """Candidate successors of some frontier rows, before the visited-set check."""

    compact: np.ndarray  # unique candidate successors, in the storage type
    keys: np.ndarray
    by_key: np.ndarray  # the order of the candidates in which their keys ascend
    parents: np.ndarray  # discovery index of each candidate's parent
    moves: np.ndarray
    fired: np.ndarray  # successors per action, before deduplication
    generated: int
    failed: bool = False  # some row raised a spec error; the coordinator re-evaluates exactly


class ColumnBuffer:
    """Reused memory for `int64_columns`: a fresh array of tens of megabytes is mapped anew by the
    allocator each time, and faulting its pages in costs as much as filling them."""

    def __init__(self) -> None:
        self.flat = np.zeros(0, dtype=np.int64)

    def get(self, width: int, count: int) -> np.ndarray:
        if len(self.flat) < width * count:  # doubling: levels grow, and each new buffer is faulted in afresh
            size = max(width * count, 2 * len(self.flat))
            self.flat = np.zeros(0, dtype=np.int64)  # freed first: its pages are the fastest the new one can get
            self.flat = np.empty(size, dtype=np.int64)
        return self.flat[:width * count].reshape(width, count)


@dataclass
class EdgeLog:
    """What a search recording its whole graph (for liveness) keeps beside the visited set: per chunk,
    every transition expanded here and every state settled here, as arrays (no Python object per
    edge or state). A transition's target is named by its chunk's distinct successor keys (ascending)
    and its position among them; `checker/liveness/graph.py` turns keys into discovery indices."""

    chunks: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    # (chunk start, sources less the start, moves, target group int32, distinct keys ascending); the
    # offsets and moves in 16 bits when they fit (a chunk has at most 65,536 rows by default)
    discarded: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)
    # (chunk start, source offsets, moves) of successors the model's constraint discards
    indices: list[np.ndarray] = field(default_factory=list)  # discovery indices of the states settled here
    rows: list[np.ndarray] = field(default_factory=list)  # their compact rows
    keys: list[np.ndarray] = field(default_factory=list)  # their keys
    start: int = 0  # the first discovery index of the chunk being expanded

    def transitions(self, sources: np.ndarray, moves: np.ndarray, groups: np.ndarray, ascending: np.ndarray) -> None:
        self.chunks.append((self.start, _narrow(sources - self.start), _narrow(moves), groups.astype(np.int32),
                            ascending))

    def discard(self, sources: np.ndarray, moves: np.ndarray) -> None:
        self.discarded.append((self.start, _narrow(sources - self.start), _narrow(moves)))

    def settled(self, indices: np.ndarray, rows: np.ndarray, keys: np.ndarray) -> None:
        self.indices.append(indices)
        self.rows.append(rows)
        self.keys.append(keys)


def _narrow(values: np.ndarray) -> np.ndarray:
    """Non-negative values in 16 bits when they fit, else in 32."""
    if not len(values) or (values.min() >= 0 and values.max() < 1 << 16):
        return values.astype(np.uint16)
    return values.astype(np.int32)


@dataclass(frozen=True)
class WorkContext:
    """What every worker needs to expand rows: the compiled model and how states are keyed."""

    vector: VectorModel
    fingerprints: Fingerprints
    exact: bool
    width: int
    move_base: np.ndarray
    sink: Sink = field(default_factory=Sink)  # each process's own successor buffer
    guard_columns: ColumnBuffer = field(default_factory=ColumnBuffer)  # a chunk's rows as guards read them
    constraint_columns: ColumnBuffer = field(default_factory=ColumnBuffer)  # its successors, for the constraint
    canonicalised: Visited = field(default_factory=Visited)  # raw keys of rows canonicalised (here or by others)
    recorded: list[np.ndarray] = field(default_factory=list)  # raw keys this process canonicalised, not yet shared
    share: bool = False  # whether other workers are told of them
    edges: EdgeLog | None = None  # every transition and state, when the search records its graph (liveness)

    @property
    def routes_raw(self) -> bool:
        """Whether candidates go to the owner of their raw key to be canonicalised there (`Partition.canonicalise`):
        with several workers and a costly orbit hash, so that no row is canonicalised by two workers."""
        return self.share and self.fingerprints.orbit is not None and not self.exact


def _not_canonicalised_before(context: WorkContext, raw: np.ndarray, by_key: np.ndarray) -> np.ndarray:
    """Which candidates (by raw key, distinct) no worker is known to have canonicalised in an earlier
    chunk (workers tell each other the raw keys they canonicalised, chunk by chunk).

    A row canonicalised before had its orbit key checked against its owner's visited set and added
    to it (or the search stopped right after), so it cannot be new again: skipping it changes
    nothing but the time. Most candidates are such rows, and canonicalising is what costs most
    under symmetry. The memory is bounded: past `_CANONICALISED_LIMIT` keys the record starts afresh.
    """
    seen = context.canonicalised
    ascending = raw[by_key]
    new = ~seen.contains(ascending)  # sorted queries: each run is walked once
    _remember(seen, ascending[new])
    if context.share:
        context.recorded.append(ascending[new])
    unknown = np.empty(len(raw), dtype=bool)
    unknown[by_key] = new
    return unknown


def _remember(seen: Visited, ascending: np.ndarray) -> None:
    if seen.count > _CANONICALISED_LIMIT:
        seen.runs, seen.count = [], 0
    seen.add(ascending, presorted=True)


def _recorded_since_last_shared(context: WorkContext) -> np.ndarray:
    """The raw keys this process canonicalised since it last told the others, ascending and distinct."""
    recorded = context.recorded
    keys = (recorded[0] if len(recorded) == 1 else np.unique(np.concatenate(recorded)) if recorded
            else np.zeros(0, dtype=np.uint64))  # one chunk's keys ascend already
    recorded.clear()
    return keys


def _learn_canonicalised(context: WorkContext, raw: list[np.ndarray]) -> None:
    """Other workers' canonicalised raw keys (each list ascending) join this process's record; a key it
    knows already is kept twice, which costs a little room and nothing else."""
    for keys in raw:
        if len(keys):
            _remember(context.canonicalised, keys)


def int64_columns(rows: np.ndarray, width: int, into: ColumnBuffer | None = None) -> np.ndarray:
    """The first `width` columns of compact rows as a column-major int64 array (what guards read),
    written into `into`'s memory when given (valid until its next use).

    Transposing in blocks of rows keeps both sides in cache: several times faster than one
    `np.asfortranarray` on a small-typed array.
    """
    out = np.empty((width, len(rows)), dtype=np.int64) if into is None else into.get(width, len(rows))
    for start in range(0, len(rows), 512):
        out[:, start:start + 512] = rows[start:start + 512, :width].T
    return out.T


def first_occurrences(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, by_key): where each distinct key first occurs, in increasing position, and the
    order of those positions in which their keys ascend (`keys[first][by_key]` is sorted)."""
    if not len(keys):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    position, differs = _key_runs(keys)
    return _ranked(position[np.flatnonzero(np.concatenate(([True], differs)))], len(keys))


def key_groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`first_occurrences` and, for every key, the rank of its value among the distinct ones, with
    those values ascending: (first, by_key, group, ascending)."""
    if not len(keys):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, keys[:0]
    position, differs = _key_runs(keys)
    rank = np.concatenate(([0], np.cumsum(differs)))
    group = np.empty(len(keys), dtype=np.int64)
    group[position] = rank
    starts = position[np.flatnonzero(np.concatenate(([True], differs)))]
    first, by_key = _ranked(starts, len(keys))
    return first, by_key, group, keys[starts]


def _key_runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position, differs): the positions in ascending key order, equal keys by ascending position, and
    whether each key in that order differs from the next.

    Fingerprints take one plain sort (several times faster than an argsort): each key's low bits are
    replaced by its position, so sorting puts equal keys together with their least position first.
    Two distinct keys that agree on every other bit could interleave (once in thousands of large
    chunks, fingerprints being uniform): then they are sorted the slow way.
    """
    if keys.dtype == np.uint64 and len(keys):
        bits = max(1, int(len(keys) - 1).bit_length())
        mask = np.uint64((1 << bits) - 1)
        tagged = keys & ~mask
        tagged |= np.arange(len(keys), dtype=np.uint64)
        tagged.sort()
        position = (tagged & mask).astype(np.int64)
        whole = keys[position]
        differs = whole[1:] != whole[:-1]
        tagged >>= np.uint64(bits)
        if np.count_nonzero(differs) == np.count_nonzero(tagged[1:] != tagged[:-1]):
            return position, differs
    position = np.argsort(keys, kind="stable")
    ordered = keys[position]
    return position, ordered[1:] != ordered[:-1]


def _least_order_per_key(keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The position of each distinct key's least order key (order keys are distinct), in ascending key order."""
    position, differs = _key_runs(keys)
    if np.all(differs):
        return position
    starts = np.flatnonzero(np.concatenate(([True], differs)))
    return position[_least_of_runs(order[position], starts)]


def _least_of_runs(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Which of `values` is the least of its run (runs begin at `starts`; values are distinct)."""
    return values == np.repeat(np.minimum.reduceat(values, starts), np.diff(np.append(starts, len(values))))


def _ranked(first_by_key: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(first, by_key) from each distinct key's first position, listed in ascending key order."""
    taken = np.zeros(count, dtype=bool)
    taken[first_by_key] = True
    rank = np.cumsum(taken) - 1
    return np.flatnonzero(taken), rank[first_by_key]


def _empty_work(chunk: np.ndarray, fired: np.ndarray, failed: bool = False) -> ChunkWork:
    empty = np.zeros(0, dtype=np.int64)
    return ChunkWork(chunk[:0], empty.astype(np.uint64), empty, empty, empty, fired, 0, failed)


def work_chunk(context: WorkContext, chunk: np.ndarray, indices: np.ndarray,
               rows64: np.ndarray | None = None, canonicalise: bool = True) -> ChunkWork:
    """Expand frontier rows (`indices`: their discovery indices) into their unique candidate successors
    (`rows64`: the rows' `int64_columns`, when already at hand). Without `canonicalise`, the candidates
    are the distinct raw rows not canonicalised before, keyed by their raw fingerprints."""
    vector = context.vector
    fired = np.zeros(len(vector.actions), dtype=np.int64)
    if rows64 is None:
        rows64 = int64_columns(chunk, context.width, context.guard_columns)  # guards read columns
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
            keep = allowed_rows(vector, int64_columns(chosen, context.width, context.constraint_columns))
        except SpecRuntimeError:
            return _empty_work(chunk, fired, failed=True)
        if context.edges is not None:
            _log_discarded(context.edges, indices, parents, moves, valid, keep)
        valid = np.flatnonzero(keep) if valid is None else valid[keep]
    fingerprints = context.fingerprints
    if context.exact:
        keys = visited_keys(successors if valid is None else successors[valid], fingerprints, True)
    else:
        keys = fingerprints.raw(successors)
        if valid is not None:
            keys = keys[valid]
    if context.edges is not None:
        first, by_key, group, ascending = key_groups(keys)
        real = slice(None) if valid is None else valid
        context.edges.transitions(indices[parents[real]], moves[real], group, ascending)
    else:
        first, by_key = first_occurrences(keys)
    candidates = first if valid is None else valid[first]
    keys = keys[first]
    if fingerprints.orbit is not None and not context.exact:
        unknown = _not_canonicalised_before(context, keys, by_key)
        candidates, keys = candidates[unknown], keys[unknown]
        if not canonicalise:  # (canonicalising orders the orbit keys afresh)
            by_key = (np.cumsum(unknown) - 1)[by_key[unknown[by_key]]]  # the same order, among those kept
    rows = take_rows(successors, candidates)
    if fingerprints.canonicalising and not context.exact and canonicalise:
        # exact duplicates are gone (one cheap hash); canonicalise only the distinct rows
        keys = fingerprints(rows, keys)
        first, by_key = first_occurrences(keys)
        candidates, keys, rows = candidates[first], keys[first], take_rows(rows, first)
    return ChunkWork(rows, keys, by_key, indices[parents[candidates]], moves[candidates], fired, generated)


def _log_discarded(log: EdgeLog, indices: np.ndarray, parents: np.ndarray, moves: np.ndarray,
                   valid: np.ndarray | None, keep: np.ndarray) -> None:
    """Record the successors the constraint discards: their actions are enabled all the same."""
    dropped = np.flatnonzero(~keep) if valid is None else valid[~keep]
    if len(dropped):
        log.discard(indices[parents[dropped]], moves[dropped])


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


def order_keys(moves: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """`move << 32 | parent`: ascending in the order one worker expanding a whole chunk meets successors."""
    return (moves.astype(np.int64) << PARENT_BITS) | parents.astype(np.int64)


@dataclass
class Share:
    """The candidates of a chunk one worker sends the owner of their keys: keys ascending, and order keys."""

    keys: np.ndarray
    order: np.ndarray


@dataclass(frozen=True)
class Gather:
    """The rows `positions` of a 2-D array, to be written straight where they are sent."""

    rows: np.ndarray
    positions: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.positions), *self.rows.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.rows.dtype

    def into(self, memory: np.ndarray) -> None:
        """Write the selected rows into `memory` (bytes, exactly their size)."""
        rows = np.ascontiguousarray(self.rows)
        whole = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
        np.take(whole, self.positions, out=memory.view(whole.dtype), mode="clip")  # clip: no temporary copy


def take_rows(rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """`rows[positions]` for a contiguous 2-D array, copying whole rows at once (several times faster)."""
    if not rows.flags.c_contiguous or not len(rows):
        return rows[positions]
    whole = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    return whole[positions].view(rows.dtype).reshape(len(positions), rows.shape[1])


def _split(keys: np.ndarray, by_key: np.ndarray, order: np.ndarray, compact: np.ndarray,
           partition: Partition) -> list[tuple[np.ndarray, Share]]:
    """For each worker, the positions of the candidates whose keys it owns and their share, in ascending key
    order (`by_key`: the order of the candidates in which their keys ascend)."""
    if partition.count == 1:
        return [(by_key, Share(keys[by_key], order[by_key]))]
    if keys.dtype == np.uint64:  # owners hold ranges of keys: the ascending keys are cut, not filtered
        ascending, ordered = keys[by_key], order[by_key]
        cuts = [0, *np.searchsorted(ascending, partition.bounds).tolist(), len(by_key)]
        return [(by_key[a:b], Share(ascending[a:b], ordered[a:b])) for a, b in itertools.pairwise(cuts)]
    owner_by_key = partition.owners(keys, compact)[by_key]
    split = []
    for owner in range(partition.count):
        positions = by_key[owner_by_key == owner]
        split.append((positions, Share(keys[positions], order[positions])))
    return split


def _merge_shares(shares: list[Share]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys ascending and distinct, sender, position in the sender's share) of the winning candidates.

    A chunk lists its successors move by move, and by parent within a move; each share holds the
    first occurrences of its keys in that order among its sender's rows. So the chunk's first
    occurrence of a key is the least, in (move, parent) order, of the shares' ones.
    """
    senders = [i for i, s in enumerate(shares) if len(s.keys)] or [0]  # an empty share may have another key type
    if len(senders) == 1:
        share = shares[senders[0]]
        return share.keys, np.full(len(share.keys), senders[0], dtype=np.int64), np.arange(len(share.keys))
    shares = [shares[i] for i in senders]
    keys = np.concatenate([s.keys for s in shares])
    merged = np.argsort(keys, kind="stable")  # a merge of sorted runs
    keys = keys[merged]
    repeated = np.flatnonzero(keys[1:] == keys[:-1])  # each such key and the next are one key
    if len(repeated):  # some key came from several workers: keep its least order key
        order = np.concatenate([s.order for s in shares])
        keep = np.ones(len(keys), dtype=bool)
        keep[_later_of_repeats(order, merged, repeated)] = False
        merged, keys = merged[keep], keys[keep]
    starts = np.cumsum([0] + [len(s.keys) for s in shares])
    which = np.zeros(len(merged), dtype=np.int64)  # the share each comes from (a few comparisons beat a search)
    for start in starts[1:-1]:
        which += merged >= start
    position = merged - starts[which]
    return keys, which if senders == list(range(len(shares))) else np.array(senders, dtype=np.int64)[which], position


def _later_of_repeats(order: np.ndarray, merged: np.ndarray, repeated: np.ndarray) -> np.ndarray:
    """Among merged candidates whose keys repeat (`repeated`: positions equal to the next one), the
    positions of all but the least order key of each key."""
    if not np.any(repeated[1:] == repeated[:-1] + 1):  # pairs only (always so with two workers)
        first, second = order[merged[repeated]], order[merged[repeated + 1]]
        return np.where(first <= second, repeated + 1, repeated)
    same = np.zeros(len(merged), dtype=bool)
    same[repeated + 1] = True
    return np.flatnonzero(~_least_of_runs(order[merged], np.flatnonzero(~same)))


class _Mailbox:
    """Arrays one worker sends another, through a file both map (memory-backed under /dev/shm).

    The file is reused for every message of its kind, so sending is one copy into pages already
    there and receiving is a view: no pickling, no new file per chunk. The protocol guarantees a
    message is read before the next one of its kind is written (the phases are separated by the
    coordinator's round trips). A header names the chunk, so a message read out of turn is caught.
    """

    _HEADER = 4096
    _ALIGN = 64

    def __init__(self, path: str) -> None:
        self.path = path
        self.view = np.zeros(0, dtype=np.uint8)

    def _map(self, size: int) -> None:
        """Map at least `size` bytes of the file (growing it when the sender needs more)."""
        if len(self.view) >= size:
            return
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            size = max(size, os.fstat(descriptor).st_size)
            if os.fstat(descriptor).st_size < size:
                os.ftruncate(descriptor, size)
            self.view = np.frombuffer(mmap.mmap(descriptor, size), dtype=np.uint8)
        finally:
            os.close(descriptor)

    def send(self, sequence: int, arrays: list[np.ndarray | Gather]) -> None:
        """Write a message: the arrays, each `Gather` written as the rows it selects (one copy, not two)."""
        layout = []
        offset = self._HEADER
        for array in arrays:
            layout.append((array.dtype.str, array.shape, offset))
            offset += -(-math.prod(array.shape) * array.dtype.itemsize // self._ALIGN) * self._ALIGN
        header = pickle.dumps((sequence, offset, layout))
        if len(header) > self._HEADER - 8:
            raise WorkerError("a message header outgrew its room")
        needed = max(offset, self._HEADER)
        if len(self.view) < needed:  # doubling: every remapping faults the whole file in again
            self._map(max(needed * 5 // 4, 2 * len(self.view)))
        for array, (dtype, shape, start) in zip(arrays, layout, strict=True):
            size = math.prod(shape) * np.dtype(dtype).itemsize
            if isinstance(array, Gather):
                array.into(self.view[start:start + size])
            else:
                self.view[start:start + size] = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        self.view[8:8 + len(header)] = np.frombuffer(header, dtype=np.uint8)
        self.view[:8] = np.frombuffer(len(header).to_bytes(8, "little"), dtype=np.uint8)

    def receive(self, sequence: int) -> list[np.ndarray]:
        """The arrays of the last message (views: valid until the next message of this kind)."""
        self._map(self._HEADER)
        length = int.from_bytes(self.view[:8].tobytes(), "little")
        sent, size, layout = pickle.loads(self.view[8:8 + length].tobytes())
        if sent != sequence:
            raise WorkerError(f"expected a message of chunk {sequence}, found one of chunk {sent}")
        self._map(size)
        return [self.view[start:start + math.prod(shape) * np.dtype(dtype).itemsize].view(np.dtype(dtype)).reshape(shape)
                for dtype, shape, start in layout]


class Exchange(Protocol):
    """How workers hand each other arrays: a message of a kind for one other worker, read back by it.

    Every message sent in a phase is received in a later phase (the coordinator's round trips keep
    the phases apart), and every worker receives each kind from every other one, in the same order.
    """

    def send(self, sequence: int, kind: str, target: int, arrays: list[np.ndarray | Gather]) -> None: ...

    def receive(self, sequence: int, kind: str, source: int) -> list[np.ndarray]: ...


class MailboxExchange:
    """Workers on one machine: one memory-backed file per (sender, receiver, kind), reused (`_Mailbox`)."""

    def __init__(self, directory: str | None, me: int) -> None:
        self.directory = directory
        self.me = me
        self.mailboxes: dict[tuple[int, int, str], _Mailbox] = {}

    def send(self, sequence: int, kind: str, target: int, arrays: list[np.ndarray | Gather]) -> None:
        self._mailbox(self.me, target, kind).send(sequence, arrays)

    def receive(self, sequence: int, kind: str, source: int) -> list[np.ndarray]:
        return self._mailbox(source, self.me, kind).receive(sequence)

    def _mailbox(self, source: int, target: int, kind: str) -> _Mailbox:
        key = (source, target, kind)
        if key not in self.mailboxes:
            assert self.directory is not None
            self.mailboxes[key] = _Mailbox(os.path.join(self.directory, f"{source}-{target}-{kind}"))
        return self.mailboxes[key]


@dataclass
class Absorbed:
    """What a worker reports of the new states it owns in a chunk."""

    order: np.ndarray  # order keys of the new states, ascending
    failing: dict[int, int]  # invariant index -> order key of its first new state that violates it
    error: bool = False  # an invariant raised a spec error; the coordinator re-evaluates exactly


class Partition:
    """One worker's share: the keys of the states it owns, their frontier rows and discovery indices."""

    def __init__(self, context: WorkContext, me: int, count: int, directory: str | None,
                 exchange: Exchange | None = None) -> None:
        self.context = context
        self.me, self.count = me, count
        self.exchange = exchange or MailboxExchange(directory, me)
        self.visited = Visited()
        padded = context.fingerprints.padded
        self.frontier = np.zeros((0, padded), dtype=context.fingerprints.dtype)
        self.frontier_index = np.zeros(0, dtype=np.int64)
        self.frontier64: np.ndarray | None = None  # the frontier's int64 columns, kept when it is one chunk's new rows
        self.next_rows: list[np.ndarray] = []
        self.next64: np.ndarray | None = None  # the int64 columns of next_rows, when it is one small piece
        self.next_index: list[np.ndarray] = []
        self.pending: np.ndarray | None = None  # the last chunk's new rows, in discovery order, waiting for indices
        self.pending_keys: np.ndarray | None = None  # their keys, when the search records its graph
        self.pending64: np.ndarray | None = None  # their int64 columns, when the invariant check made them
        self.check_columns = ColumnBuffer()
        self.own: tuple[Share, np.ndarray, np.ndarray] | None = None  # the candidates found here and owned here
        self.raw_unread = 0  # the chunk whose canonicalised raw keys other workers have sent (0: none unread)
        self.shares_canonicalised = context.share and context.fingerprints.orbit is not None and not context.exact
        self.bounds = np.array([(w << 64) // count for w in range(1, count)], dtype=np.uint64)  # fingerprints are uniform

    def owners(self, keys: np.ndarray, compact: np.ndarray) -> np.ndarray:
        """The worker that owns each key (uint8): worker w owns the keys from `bounds[w - 1]` up to `bounds[w]`."""
        if keys.dtype != np.uint64:
            keys = self.context.fingerprints.raw(compact)  # exact keys: route by the rows' hash
        return np.searchsorted(self.bounds, keys, side="right").astype(np.uint8)

    def seed(self, compact: np.ndarray, keys: np.ndarray) -> None:
        """Take the initial states this worker owns (their discovery indices are their positions)."""
        mine = np.flatnonzero(self.owners(keys, compact) == self.me) if self.count > 1 else np.arange(len(keys))
        self.visited.add(keys[mine])
        self.next_rows, self.next_index = [compact[mine]], [mine.astype(np.int64)]  # the first level

    def restore(self, path: str) -> None:
        """Take, from a checkpoint's shares (written by any number of workers), the visited keys and the
        next level's rows this worker owns."""
        visited, rows, indices = [], [], []
        for share in checkpoint.load_shares(Path(path)):
            keys, compact = share["visited"], share["rows"]
            mine = self._mine(keys, None)
            visited.append(keys[mine])
            row_keys = visited_keys(compact, self.context.fingerprints, self.context.exact)
            kept = self._mine(row_keys, compact)
            rows.append(compact[kept])
            indices.append(share["indices"][kept])
        self.visited.add(np.sort(np.concatenate(visited)), presorted=True)
        order = np.argsort(np.concatenate(indices), kind="stable")
        self.next_rows = [np.concatenate(rows)[order]]
        self.next_index = [np.concatenate(indices)[order]]

    def _mine(self, keys: np.ndarray, compact: np.ndarray | None) -> np.ndarray:
        if self.count == 1:
            return np.ones(len(keys), dtype=bool)
        if keys.dtype != np.uint64:  # exact keys: route by the rows' hash (the rows are the keys)
            rows = keys.view(self.context.fingerprints.dtype).reshape(len(keys), -1) if compact is None else compact
            return self.owners(keys, rows) == self.me
        return self.owners(keys, compact) == self.me  # type: ignore[arg-type]

    def save_share(self, path: str, settle: tuple[int, np.ndarray | None] | None) -> None:
        """At a level boundary: write this worker's visited keys and next level's rows into a checkpoint."""
        if settle is not None:
            self._settle(*settle)
        visited = np.concatenate(self.visited.runs) if self.visited.runs else np.zeros(0, dtype=np.uint64)
        padded = self.context.fingerprints.padded
        rows = (np.concatenate(self.next_rows) if self.next_rows
                else np.zeros((0, padded), dtype=self.context.fingerprints.dtype))
        indices = np.concatenate(self.next_index) if self.next_index else np.zeros(0, dtype=np.int64)
        checkpoint.save_share(Path(path), self.me, visited, rows, indices)

    def expand(self, sequence: int, start: int, stop: int, settle: tuple[int, np.ndarray | None] | None,
               new_level: bool) -> tuple[int, np.ndarray, bool]:
        """Phase 1 for the chunk of discovery indices [start, stop): (generated, fired per action, failed).

        Each other worker is sent the candidates it owns (of their raw keys, when `routes_raw`): keys,
        order keys and rows.
        """
        if settle is not None:
            self._settle(*settle)
        if new_level:
            self._next_level()
        if self.raw_unread:
            _learn_canonicalised(self.context, [self.exchange.receive(self.raw_unread, "raw", other)[0]
                                                for other in range(self.count) if other != self.me])
            self.raw_unread = 0
        low, high = np.searchsorted(self.frontier_index, [start, stop])
        whole = self.frontier64 is not None and low == 0 and high == len(self.frontier)
        if self.context.edges is not None:
            self.context.edges.start = start
        work = work_chunk(self.context, self.frontier[low:high], self.frontier_index[low:high],
                          self.frontier64 if whole else None, canonicalise=not self.context.routes_raw)
        self.frontier64 = None  # read once (a level of one chunk): its memory may go to the next buffer
        if work.failed:
            return 0, work.fired, True
        order = order_keys(work.moves, work.parents)
        self._send(sequence, "raw-candidates" if self.context.routes_raw else "candidates",
                   work.compact, work.keys, work.by_key, order)
        return work.generated, work.fired, False

    def canonicalise(self, sequence: int) -> None:
        """Between the phases, when raw keys are routed: canonicalise the raw candidates this worker owns
        (each distinct raw row once, whoever found it) and send each orbit key's owner the least (move,
        parent) of each orbit key."""
        shares, rows, at = self._shares(sequence, "raw-candidates")
        _, sender, position = _merge_shares(shares)  # each raw key once: its least order key
        chosen_rows, raw, order = [], [], []
        for other in range(self.count):
            picked = position[sender == other]
            chosen_rows.append(take_rows(rows[other], picked if at[other] is None else at[other][picked]))
            raw.append(shares[other].keys[picked])
            order.append(shares[other].order[picked])
        compact, ordered = np.concatenate(chosen_rows), np.concatenate(order)
        keys = self.context.fingerprints(compact, np.concatenate(raw))
        self._send(sequence, "candidates", compact, keys, _least_order_per_key(keys, ordered), ordered)

    def _send(self, sequence: int, kind: str, compact: np.ndarray, keys: np.ndarray, by_key: np.ndarray,
              order: np.ndarray) -> None:
        """Send each other worker the candidates whose keys it owns; keep this worker's own for later."""
        for owner, (positions, share) in enumerate(_split(keys, by_key, order, compact, self)):
            if owner == self.me:
                self.own = (share, compact, positions)
            else:
                self.exchange.send(sequence, kind, owner, [share.keys, share.order, Gather(compact, positions)])

    def _shares(self, sequence: int, kind: str) -> tuple[list[Share], list[np.ndarray], list[np.ndarray | None]]:
        """Every worker's share of the chunk's candidates for this one (its own kept, the others' received):
        the shares, their rows, and where each share's candidates are among its rows (None: in order)."""
        assert self.own is not None
        own, own_rows, own_at = self.own
        self.own = None
        shares: list[Share] = []
        rows: list[np.ndarray] = []
        at: list[np.ndarray | None] = []
        for sender in range(self.count):
            if sender == self.me:
                share, candidates, where = own, own_rows, own_at
            else:
                keys, order, candidates = self.exchange.receive(sequence, kind, sender)
                share, where = Share(keys, order), None
            shares.append(share)
            rows.append(candidates)
            at.append(where)
        return shares, rows, at

    def absorb(self, sequence: int, invariants: list[int], dry: bool = False) -> Absorbed | bool:
        """Phase 2: keep the new states among the candidates this worker owns, in discovery order; check them.

        A dry run (is any successor new?) changes nothing and answers with a bool.
        """
        shares, rows, at = self._shares(sequence, "candidates")
        if self.shares_canonicalised:  # sent now: the last message of this kind was read at this chunk's expand
            recorded = _recorded_since_last_shared(self.context)
            for other in range(self.count):
                if other != self.me:
                    self.exchange.send(sequence, "raw", other, [recorded])
            self.raw_unread = sequence
        # the visited set first (each share's keys ascend already), then duplicates among the unseen only
        unseen = [np.flatnonzero(~self.visited.contains(share.keys)) for share in shares]
        if dry:
            return any(len(u) for u in unseen)
        keys, sender, position = _merge_shares([Share(s.keys[u], s.order[u]) for s, u in zip(shares, unseen, strict=True)])
        self.visited.add(keys, presorted=True)
        found_order, found_at = [], []
        for other in range(self.count):
            fresh = unseen[other][position[sender == other]] if self.count > 1 else unseen[0][position]
            found_order.append(shares[other].order[fresh])
            found_at.append(fresh if at[other] is None else at[other][fresh])
        order = np.concatenate(found_order)
        discovery = np.argsort(order)  # the new states in the order one worker would have found them
        order = order[discovery]
        if self.count == 1:  # one gather, straight into discovery order
            self.pending = take_rows(rows[0], found_at[0][discovery])
        else:
            found = [take_rows(candidates, where) for candidates, where in zip(rows, found_at, strict=True)]
            self.pending = take_rows(np.concatenate(found), discovery)
        if self.context.edges is not None:  # the keys in the order of the rows
            by_sender = keys if self.count == 1 else np.concatenate([keys[sender == o] for o in range(self.count)])
            self.pending_keys = by_sender[discovery]
        self.pending64 = None
        return Absorbed(order, *self._check(self.pending, order, invariants))

    def _check(self, rows: np.ndarray, order: np.ndarray, invariants: list[int]) -> tuple[dict[int, int], bool]:
        """(invariant -> order key of its first violating row, whether some invariant raised a spec error)."""
        if not invariants or not len(rows):
            return {}, False
        try:
            # kept: the next level's guards read them (this buffer is written again only at the next check)
            self.pending64 = int64_columns(rows, self.context.width, self.check_columns)
            failing = first_failures(self.context.vector, invariants, self.pending64)
        except SpecRuntimeError:
            return {}, True
        return {invariant: int(order[position]) for invariant, position in failing.items()}, False

    def rows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """This worker's frontier rows of the chunk [start, stop) and their indices."""
        low, high = np.searchsorted(self.frontier_index, [start, stop])
        return self.frontier_index[low:high], self.frontier[low:high]

    def pending_rows(self) -> np.ndarray:
        """The new rows of the last chunk this worker owns, in discovery order."""
        assert self.pending is not None
        return self.pending

    def edge_log(self, settle: tuple[int, np.ndarray | None] | None) -> EdgeLog | None:
        """At the end of a search that records its graph: what this worker recorded (the last chunk settled)."""
        if settle is not None and self.pending is not None:
            self._settle(*settle)
        return self.context.edges

    def visited_bytes(self) -> int:
        return self.visited.nbytes()

    def _settle(self, first_index: int, owners: np.ndarray | None) -> None:
        """The last chunk's new states got their discovery indices (from `first_index` on, `owners` saying
        whose each is): the rows this worker owns join its next frontier."""
        assert self.pending is not None
        indices = (np.arange(first_index, first_index + len(self.pending), dtype=np.int64) if owners is None
                   else first_index + np.flatnonzero(owners == self.me))
        assert len(indices) == len(self.pending)
        if self.context.edges is not None and self.pending_keys is not None:
            self.context.edges.settled(indices, self.pending, self.pending_keys)
        # a level made of one chunk's new rows keeps their int64 columns for its expansion (bounded:
        # about one chunk's worth); a bigger level is concatenated, and copying them would cost as
        # much as making them again
        small = self.pending64 is not None and self.pending64.nbytes <= _KEEP_INT64_BYTES
        self.next64 = self.pending64 if small and not self.next_rows else None
        self.next_rows.append(self.pending)
        self.next_index.append(indices)
        self.pending = self.pending64 = None

    def _next_level(self) -> None:
        padded = self.context.fingerprints.padded
        if len(self.next_rows) == 1:  # one chunk's new rows: no copy
            self.frontier, self.frontier64 = self.next_rows[0], self.next64
        else:
            self.frontier = (np.concatenate(self.next_rows) if self.next_rows
                             else np.zeros((0, padded), dtype=self.context.fingerprints.dtype))
            self.frontier64 = None
        self.frontier_index = np.concatenate(self.next_index) if self.next_index else np.zeros(0, dtype=np.int64)
        self.next_rows, self.next64, self.next_index = [], None, []


class WorkerError(RuntimeError):
    """A worker process failed unexpectedly (its traceback is the message)."""


def _serve(context: WorkContext, me: int, count: int, directory: str, compact: np.ndarray | None,
           keys: np.ndarray | None, connection: Connection, restore: str | None = None) -> None:
    """A worker process: build its partition, then run what the coordinator asks until told to stop (None)."""
    partition = Partition(context, me, count, directory)
    start(partition, compact, keys, restore)
    spin = _cores_for(count)
    while True:
        _await(connection, spin)
        request = connection.recv()
        if request is None:
            return
        name, args = request
        try:
            connection.send(getattr(partition, name)(*args))
        except Exception:  # handed to the coordinator, which raises it
            connection.send(WorkerError(traceback.format_exc()))


def _await(connection: Connection, spin: bool) -> None:
    """Wait for a message by polling for a while before sleeping in `recv`: on a virtual machine a
    sleeping core takes a long time to wake, twice per chunk. Only when every worker has a core."""
    deadline = time.perf_counter() + (_SPIN_SECONDS if spin else 0.0)
    while time.perf_counter() < deadline and not connection.poll():
        pass


def _cores_for(count: int) -> bool:
    """Whether each of `count` worker processes can have a core of its own."""
    return count <= len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else count <= (os.cpu_count() or 1)


def _shared_directory() -> str | None:
    """/dev/shm when it has room to spare (containers often give it only 64 MB), else the temp directory."""
    try:
        free = os.statvfs(_SHARED_DIR)
    except OSError:
        return None
    return _SHARED_DIR if free.f_bavail * free.f_frsize > _SHARED_ROOM else None


def start(partition: Partition, compact: np.ndarray | None, keys: np.ndarray | None, restore: str | None) -> None:
    """A partition's first states: the initial ones it owns, or its share of a checkpoint."""
    if restore is not None:
        partition.restore(restore)
    else:
        assert compact is not None and keys is not None
        partition.seed(compact, keys)


class Workers:
    """The partitions of a search: this process's own, and one forked process per other worker."""

    def __init__(self, context: WorkContext, count: int, compact: np.ndarray | None, keys: np.ndarray | None,
                 restore: str | None = None) -> None:
        self.count = count
        self.spin = _cores_for(count)
        self.directory = tempfile.mkdtemp(prefix="kvolt-exchange-", dir=_shared_directory()) if count > 1 else None
        self.local = Partition(context, 0, count, self.directory)
        start(self.local, compact, keys, restore)
        self.links: list[tuple[Any, Connection]] = []
        fork = multiprocessing.get_context("fork")
        for me in range(1, count):
            mine, theirs = fork.Pipe()
            process = fork.Process(target=_serve, args=(context, me, count, self.directory, compact, keys, theirs,
                                                        restore), daemon=True)
            process.start()
            theirs.close()
            self.links.append((process, mine))

    def call(self, name: str, arguments: list[tuple]) -> list:
        """Run a partition method in every worker at once (`arguments[w]` for worker w); their results."""
        for (_, connection), args in zip(self.links, arguments[1:], strict=True):
            connection.send((name, args))
        results = [getattr(self.local, name)(*arguments[0])]
        for _, connection in self.links:
            _await(connection, self.spin)
            result = connection.recv()
            if isinstance(result, BaseException):
                raise result
            results.append(result)
        return results

    def close(self) -> None:
        for process, connection in self.links:
            with contextlib.suppress(OSError):
                connection.send(None)
            connection.close()
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
