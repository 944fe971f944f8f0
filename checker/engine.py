"""What every engine shares: search options, progress, steps and traces, verdicts, and errors.

The scalar and vector explorers (`explicit/`) take `Options` and return a `Result`; the views and
the command line read only these types, so an engine can be swapped without touching them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from kvolt.checker.frontend.diagnostics import Span

State = tuple[int, ...]


@dataclass(frozen=True)
class Options:
    max_states: int | None = None
    max_depth: int | None = None
    max_seconds: float | None = None
    stop_at_first: bool = True
    symmetry: bool = True
    progress: Callable[[Progress], None] | None = None
    progress_interval: float = 2.0


@dataclass(frozen=True)
class Progress:
    depth: int
    distinct: int
    generated: int
    queue: int
    seconds: float

    @property
    def states_per_second(self) -> float:
        return self.distinct / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Step:
    """One state of a trace and the action (with its parameters) that led to it."""

    action: str  # "init" for the first state
    params: tuple[tuple[str, object], ...]
    state: State


@dataclass(frozen=True)
class Violation:
    """A counterexample. For a temporal property it is a lasso: `loop` is the index of the state the
    cycle starts at, and the last state equals `trace[loop].state` (the cycle repeats forever from there)."""

    property: str
    doc: str
    trace: tuple[Step, ...]
    loop: int | None = None
    binding: tuple[tuple[str, object], ...] = ()  # the property's forall binders, for a temporal property

    @property
    def length(self) -> int:
        """The number of transitions in the trace."""
        return len(self.trace) - 1


@dataclass
class Result:
    verdict: str  # "ok" | "violation" | "incomplete"
    distinct_states: int
    generated_states: int
    depth: int
    seconds: float
    actions_fired: dict[str, int]
    violations: list[Violation] = field(default_factory=list)
    incomplete_reason: str | None = None
    symmetry: bool = False
    initial_states: int = 0

    @property
    def states_per_second(self) -> float:
        return self.distinct_states / self.seconds if self.seconds > 0 else float(self.distinct_states)


class EdgeSink(Protocol):
    """Told every transition a search meets (the liveness graph is built from them); target -1: the
    successor fails the model's constraint."""

    def edge(self, source: int, action: int, binding: int, target: int) -> None: ...


class StopRequest:
    """A request, from outside the search (Ctrl-C), to stop at the next progress check and report what
    was found so far, exactly as a limit does. The command line sets it from its SIGINT handler."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def request(self, reason: str) -> None:
        self.reason = reason

    def clear(self) -> None:
        self.reason = None


STOP = StopRequest()


class SearchClock:
    """The wall time of one search: its time limit and its progress reports (shared by both engines)."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.start = time.monotonic()
        self.last_progress = self.start

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.start

    def tick(self, depth: int, distinct: int, generated: int, queue: int) -> str | None:
        """Report progress when it is due; return why to stop if the time limit has passed."""
        now = time.monotonic()
        if self.options.progress is not None and now - self.last_progress >= self.options.progress_interval:
            self.last_progress = now
            self.options.progress(Progress(depth, distinct, generated, queue, now - self.start))
        if STOP.reason is not None:
            return STOP.reason
        if self.options.max_seconds is not None and now - self.start > self.options.max_seconds:
            return f"time limit {self.options.max_seconds:g} s reached"
        return None


def search_stopped(options: Options, incomplete: str | None, violations: list, unviolated: list) -> bool:
    """A search stops at a limit, at the first violation if asked, or once every invariant is violated."""
    return incomplete is not None or (bool(violations) and (options.stop_at_first or not unviolated))


class ExplorationError(Exception):
    """The spec hit a runtime error in some reachable state; carries the trace to that state."""

    def __init__(self, message: str, span: Span | None, action: str, trace: tuple[Step, ...]) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.action = action
        self.trace = trace
