"""Nested pending operations: at most one operation per volume (+pod, +node) at a time.

Counterpart of pkg/volume/util/nestedpendingoperations/nestedpendingoperations.go (and the
exponential backoff of pkg/util/goroutinemap/exponentialbackoff). An operation key is
(volume, pod, node); an empty pod or node is a wildcard. Starting an operation while a matching one
is pending fails with AlreadyExists; after a failure the same operation name is refused until its
backoff (500 ms doubling, capped at 2 min 2 s) has expired.

Operations do not run in goroutines here: `run` registers the operation as pending and the
deterministic scheduler later completes it as its own step (`complete`), so other work can
interleave between the start of an attach and its end, as it does in the real system.

An operation's function is a closure, as the Go code's GenerateXFunc results are; it is kept as a
`PortableFunc` so that a whole cluster, pending operations included, can be copied by pickling
(the replay driver, impl/replay.py, tries implementation steps on copies).
"""

from __future__ import annotations

import importlib
import marshal
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kvolt.impl.api.server import Clock

INITIAL_DURATION_MS = 500
MAX_DURATION_MS = 2 * 60 * 1000 + 2 * 1000


class AlreadyExistsError(Exception):
    pass


class BackoffError(Exception):
    pass


class PortableFunc:
    """A function (closures included) that pickles: its code by marshal, its globals by module
    name, what its closure holds as ordinary pickled values (so a copy calls the copied objects)."""

    def __init__(self, func: Callable[[], None]) -> None:
        self.func = func

    def __call__(self) -> None:
        self.func()

    def __reduce__(self) -> tuple[Any, ...]:
        f = self.func
        if not isinstance(f, types.FunctionType):
            return PortableFunc, (f,)
        cells = tuple(c.cell_contents for c in f.__closure__ or ())
        return _rebuild, (marshal.dumps(f.__code__), f.__module__, f.__name__, f.__defaults__, cells)


def _rebuild(code: bytes, module: str, name: str, defaults: Any, cells: tuple) -> PortableFunc:
    globals_ = (sys.modules.get(module) or importlib.import_module(module)).__dict__
    closure = tuple(types.CellType(c) for c in cells) or None
    return PortableFunc(types.FunctionType(marshal.loads(code), globals_, name, defaults, closure))


@dataclass(frozen=True)
class OpKey:
    volume: str
    pod: str = ""
    node: str = ""

    def matches(self, other: OpKey) -> bool:
        return (self.volume == other.volume and (self.pod == other.pod or not self.pod or not other.pod)
                and (self.node == other.node or not self.node or not other.node))

    def __str__(self) -> str:
        return f"{self.volume}[{self.pod}][{self.node}]"


@dataclass
class Operation:
    key: OpKey
    name: str  # "volume_attach", "volume_detach", "volume_mount", ...
    func: Callable[[], None]
    pending: bool = True
    failures: int = 0
    last_error_ms: int = 0
    duration_ms: int = 0
    seq: int = 0
    owner: str = ""  # the pod an operation works for, if any
    node: str = ""  # the node an attach or detach works on (its key may not say: a volume-wide key)

    def describe(self) -> str:
        return f"{self.name} {self.key}"


@dataclass
class NestedPendingOperations:
    clock: Clock
    operations: list[Operation] = field(default_factory=list)
    seq: int = 0
    on_change: Callable[[Operation], None] | None = None  # called when an operation starts (impl/replay.py)

    def _find(self, key: OpKey) -> Operation | None:
        exact = None
        for op in self.operations:
            if op.key.matches(key):
                if op.pending:  # a pending match is preferred
                    return op
                exact = exact or op
        return exact

    def _backoff_expired(self, op: Operation) -> bool:
        return self.clock.now_ms >= op.last_error_ms + op.duration_ms

    def run(self, key: OpKey, name: str, func: Callable[[], None], owner: str = "", node: str = "") -> Operation:
        op = self._find(key)
        if op is not None:
            if op.pending:
                raise AlreadyExistsError(f"an operation with name {op.name} and key {op.key} is already in progress")
            if op.name == name and op.failures and not self._backoff_expired(op):
                raise BackoffError(f"operation {name} for {key} failed, no retries permitted until "
                                   f"t+{op.last_error_ms + op.duration_ms}ms")
            self.operations.remove(op)
            failures, duration = (op.failures, op.duration_ms) if op.name == name else (0, 0)
        else:
            failures, duration = 0, 0
        self.seq += 1
        new = Operation(key, name, PortableFunc(func), failures=failures, duration_ms=duration, seq=self.seq, owner=owner,
                        node=node)
        self.operations.append(new)
        if self.on_change is not None:
            self.on_change(new)
        return new

    def is_operation_pending(self, key: OpKey) -> bool:
        op = self._find(key)
        return op is not None and op.pending

    def is_operation_safe_to_retry(self, key: OpKey, name: str) -> bool:
        op = self._find(key)
        if op is None:
            return True
        if op.pending:
            return False
        return op.name != name or not op.failures or self._backoff_expired(op)

    def pending_ops(self) -> list[Operation]:
        return [op for op in self.operations if op.pending]

    def complete(self, op: Operation) -> Exception | None:
        """Run a pending operation to its end; a failure starts (or doubles) its backoff."""
        error: Exception | None = None
        try:
            op.func()
        except Exception as e:  # an operation's failure is data, reported to the caller
            error = e
        op.pending = False
        if error is None:
            self.operations.remove(op)
        else:
            op.failures += 1
            op.last_error_ms = self.clock.now_ms
            op.duration_ms = INITIAL_DURATION_MS if op.duration_ms == 0 else min(op.duration_ms * 2, MAX_DURATION_MS)
        return error

    def drop_all(self) -> None:
        """A process restart: in-flight operations are gone (their goroutines died)."""
        self.operations.clear()
