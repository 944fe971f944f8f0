"""The vector search's workers as MPI ranks (mpi4py), one partition each, possibly on many machines.

Rank r owns the states whose fingerprints fall in the r-th of P equal ranges and holds their share of
the visited set and the frontier (`explicit/partition.py`'s `Partition`, unchanged). The candidates
a rank finds for others travel rank to rank in one `Alltoallv` per exchange (`MpiExchange`), so no
process is in the data path. Rank 0 is also the coordinator of `explicit/vector_search.py`: it
sends each step to every rank (`MpiWorkers.call`), collects each rank's small reply (counts, the order keys of
its new states) and merges them into discovery order, so that counts, depth, parent links and
counterexamples are those of one worker. Only rank 0 keeps parent links (12 bytes per state).
"""

from __future__ import annotations

import pickle
import time
import traceback
from typing import Any

import numpy as np

from kvolt.checker.compiler import CompiledModel
from kvolt.checker.engine import Options, Result
from kvolt.checker.explicit.checkpoint import Checkpoints
from kvolt.checker.explicit.partition import Gather, Partition, WorkContext, WorkerError, start
from kvolt.checker.explicit.vector_search import VectorStats, explore_vector, work_context

_ALIGN = 64
_REQUEST, _REPLY = 1, 2  # message tags: rank 0's requests, the other ranks' replies
_SPIN_SECONDS = 0.02  # how long a waiting rank polls before it starts sleeping between polls
_NAP_SECONDS = 0.0002


def _receive(comm: Any, source: int, tag: int) -> Any:
    """A pickled message, waited for politely: blocking MPI calls spin, and a spinning rank takes a core
    from the ranks (and the other users) that have work to do. So poll for a while, then nap between polls."""
    deadline = time.perf_counter() + _SPIN_SECONDS
    while not comm.iprobe(source=source, tag=tag):
        if time.perf_counter() > deadline:
            time.sleep(_NAP_SECONDS)
    return comm.recv(source=source, tag=tag)


def world() -> Any:
    """MPI's world communicator (importing mpi4py starts MPI, so only when a cluster run asks for it)."""
    from mpi4py import MPI

    return MPI.COMM_WORLD


class MpiExchange:
    """Messages between ranks: those sent in a phase are exchanged in one `Alltoallv` when the first is read.

    Every rank reads each kind of message from every other rank in the same phase (the protocol of
    `Partition`), so the collective call happens on every rank at the same point.
    """

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self.outgoing: dict[str, dict[int, list[np.ndarray]]] = {}
        self.incoming: dict[tuple[int, str], dict[int, list[np.ndarray]]] = {}
        self.bytes_sent = 0
        self.exchanges = 0

    def send(self, sequence: int, kind: str, target: int, arrays: list[np.ndarray | Gather]) -> None:
        materialised = [a.rows[a.positions] if isinstance(a, Gather) else np.ascontiguousarray(a) for a in arrays]
        self.outgoing.setdefault(kind, {})[target] = materialised

    def receive(self, sequence: int, kind: str, source: int) -> list[np.ndarray]:
        key = (sequence, kind)
        if key not in self.incoming:
            self.incoming = {k: v for k, v in self.incoming.items() if k[1] != kind}  # the last message of a kind is read
            self.incoming[key] = self._exchange(sequence, self.outgoing.pop(kind, {}))
        return self.incoming[key][source]

    def _exchange(self, sequence: int, messages: dict[int, list[np.ndarray]]) -> dict[int, list[np.ndarray]]:
        from mpi4py import MPI

        size, me = self.comm.Get_size(), self.comm.Get_rank()
        parts = [_pack(sequence, messages.get(target, [])) if target != me else np.zeros(0, np.uint8)
                 for target in range(size)]
        counts = np.array([len(p) for p in parts], dtype=np.int64)
        received_counts = np.empty(size, dtype=np.int64)
        self.comm.Alltoall(counts, received_counts)
        send = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
        receive = np.empty(int(received_counts.sum()), dtype=np.uint8)
        offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
        received_offsets = np.concatenate(([0], np.cumsum(received_counts)[:-1]))
        self.comm.Alltoallv([send, counts, offsets, MPI.BYTE], [receive, received_counts, received_offsets, MPI.BYTE])
        self.bytes_sent += int(counts.sum())
        self.exchanges += 1
        return {source: _unpack(sequence, receive[received_offsets[source]:received_offsets[source] + received_counts[source]])
                for source in range(size) if source != me}


def _pack(sequence: int, arrays: list[np.ndarray]) -> np.ndarray:
    """One message as bytes: a header (the chunk, each array's type and shape), then the arrays, aligned."""
    header = pickle.dumps((sequence, [(a.dtype.str, a.shape) for a in arrays]))
    start = -(-(8 + len(header)) // _ALIGN) * _ALIGN
    sizes = [-(-a.nbytes // _ALIGN) * _ALIGN for a in arrays]
    out = np.zeros(start + sum(sizes), dtype=np.uint8)
    out[:8] = np.frombuffer(len(header).to_bytes(8, "little"), dtype=np.uint8)
    out[8:8 + len(header)] = np.frombuffer(header, dtype=np.uint8)
    offset = start
    for array, size in zip(arrays, sizes, strict=True):
        out[offset:offset + array.nbytes] = array.reshape(-1).view(np.uint8)
        offset += size
    return out


def _unpack(sequence: int, data: np.ndarray) -> list[np.ndarray]:
    length = int.from_bytes(data[:8].tobytes(), "little")
    sent, layout = pickle.loads(data[8:8 + length].tobytes())  # written by _pack on another rank of this run
    if sent != sequence:
        raise WorkerError(f"expected a message of chunk {sequence}, found one of chunk {sent}")
    offset = -(-(8 + length) // _ALIGN) * _ALIGN
    arrays = []
    for dtype, shape in layout:
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        arrays.append(data[offset:offset + nbytes].view(np.dtype(dtype)).reshape(shape))
        offset += -(-nbytes // _ALIGN) * _ALIGN
    return arrays


class MpiWorkers:
    """Rank 0's view of the ranks: the same `call` and `close` as the local `Workers`."""

    def __init__(self, comm: Any, context: WorkContext, count: int, compact: np.ndarray | None,
                 keys: np.ndarray | None, restore: str | None) -> None:
        if count != comm.Get_size():
            raise ValueError(f"{count} workers asked for, {comm.Get_size()} ranks running")
        self.comm = comm
        self.count = count
        comm.bcast((compact, keys, restore), root=0)
        self.local = Partition(context, 0, count, None, MpiExchange(comm))
        self.totals: dict[str, int] = {}
        start(self.local, compact, keys, restore)

    def call(self, name: str, arguments: list[tuple]) -> list:
        """Run a partition method on every rank at once (`arguments[r]` for rank r); their results."""
        for rank in range(1, self.count):
            self.comm.send((name, arguments[rank]), dest=rank, tag=_REQUEST)
        try:
            mine: Any = getattr(self.local, name)(*arguments[0])
        except Exception:
            mine = WorkerError(traceback.format_exc())
        results = [mine] + [_receive(self.comm, rank, _REPLY) for rank in range(1, self.count)]
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    def close(self) -> None:
        """Stop the other ranks, first adding up the bytes every rank sent in the exchanges."""
        for rank in range(1, self.count):
            self.comm.send(("bytes_sent", ()), dest=rank, tag=_REQUEST)
        sent = self.local.exchange.bytes_sent + sum(_receive(self.comm, rank, _REPLY)  # type: ignore[attr-defined]
                                                    for rank in range(1, self.count))
        self.totals = {"bytes_exchanged": int(sent), "exchanges": self.local.exchange.exchanges}  # type: ignore[attr-defined]
        for rank in range(1, self.count):
            self.comm.send(None, dest=rank, tag=_REQUEST)


def serve(comm: Any, context: WorkContext) -> None:
    """A rank other than 0: its partition runs what rank 0 broadcasts until told to stop."""
    compact, keys, restore = comm.bcast(None, root=0)
    partition = Partition(context, comm.Get_rank(), comm.Get_size(), None, MpiExchange(comm))
    start(partition, compact, keys, restore)
    while True:
        request = _receive(comm, 0, _REQUEST)
        if request is None:
            return
        name, arguments = request
        try:
            if name == "bytes_sent":
                result: Any = partition.exchange.bytes_sent  # type: ignore[attr-defined]
            else:
                result = getattr(partition, name)(*arguments)
        except Exception:
            result = WorkerError(traceback.format_exc())
        comm.send(result, dest=0, tag=_REPLY)


def explore_cluster(scalar: CompiledModel, options: Options, exact: bool = False, chunk_rows: int | None = None,
                    checkpoints: Checkpoints | None = None,
                    comm: Any = None) -> tuple[Result, VectorStats, dict[str, int]] | None:
    """The vector search with every rank of `comm` (default: MPI's world) as a worker.

    Rank 0 returns the results (and the exchange's totals); the other ranks serve and return None.
    """
    comm = comm if comm is not None else world()
    size = comm.Get_size()
    if comm.Get_rank() != 0:
        serve(comm, work_context(scalar, options, exact, chunk_rows, size))
        return None
    pools: list[MpiWorkers] = []

    def make_pool(context: WorkContext, count: int, compact: np.ndarray | None, keys: np.ndarray | None,
                  restore: str | None) -> MpiWorkers:
        pools.append(MpiWorkers(comm, context, count, compact, keys, restore))
        return pools[-1]

    result, stats = explore_vector(scalar, options, exact, chunk_rows, size, checkpoints,
                                   pool=make_pool if size > 1 else None)
    return result, stats, pools[0].totals if pools else {}
