"""Random simulation: seeded random walks through a model too large to exhaust.

Each walk starts from an initial state chosen at random and, at every step, takes one enabled
(action, binding) pair chosen uniformly; it stops at the depth limit, in a quiescent state, or at
the first violated invariant. Every run is reproducible from its seed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kvolt.checker.compiler import CompiledModel, SpecRuntimeError
from kvolt.checker.engine import STOP, ExplorationError, Step, Violation


@dataclass(frozen=True)
class SimulationOptions:
    runs: int = 100
    depth: int = 50
    seed: int = 0
    max_seconds: float | None = None
    stop_at_first: bool = True
    keep_walks: bool = False
    progress: Callable[[int, int, float], None] | None = None  # (walks, steps, seconds), every progress_interval
    progress_interval: float = 2.0


@dataclass
class SimulationResult:
    verdict: str  # "ok" (no violation seen: not a proof) | "violation" | "incomplete" (time limit)
    runs: int
    steps: int
    distinct_states: int
    seconds: float
    actions_fired: dict[str, int]
    violations: list[Violation] = field(default_factory=list)
    walks: list[tuple[Step, ...]] = field(default_factory=list)
    quiescent_runs: int = 0
    incomplete_reason: str | None = None  # a time limit or an interrupt stopped the walks early

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float(self.steps)


def simulate(model: CompiledModel, options: SimulationOptions) -> SimulationResult:
    rng = random.Random(options.seed)
    seen: set[tuple[int, ...]] = set()
    fired = [0] * len(model.actions)
    violations: list[Violation] = []
    violated: set[str] = set()
    walks: list[tuple[Step, ...]] = []
    steps = quiescent = runs = 0
    start = last_progress = time.monotonic()
    out: list[tuple[int, tuple[int, ...]]] = []
    verdict = "ok"
    incomplete: str | None = None
    for run in range(options.runs):
        if options.max_seconds is not None and time.monotonic() - start > options.max_seconds:
            incomplete = f"time limit {options.max_seconds:g} s reached"
        incomplete = STOP.reason or incomplete
        if incomplete:
            verdict = "incomplete"
            break
        runs += 1
        state = rng.choice(model.initial_states)
        walk = [Step("init", (), state)]
        broken = _check(model, state, walk, violated, violations)
        seen.add(state)
        for _ in range(options.depth):
            if broken or STOP.reason:
                break
            enabled: list[tuple[int, int, tuple[int, ...]]] = []
            for index, action in enumerate(model.actions):
                out.clear()
                try:
                    action.successors(state, out)
                except SpecRuntimeError as error:
                    raise ExplorationError(error.message, error.span, action.name, tuple(walk)) from None
                enabled.extend((index, binding, successor) for binding, successor in out)
            if model.constraint is not None:
                enabled = [e for e in enabled if model.constraint(e[2])]
            if not enabled:
                quiescent += 1
                break
            index, binding, state = enabled[rng.randrange(len(enabled))]
            fired[index] += 1
            steps += 1
            action = model.actions[index]
            walk.append(Step(action.name, action.bindings[binding].labels, state))
            seen.add(state)
            broken = _check(model, state, walk, violated, violations)
        if options.keep_walks:
            walks.append(tuple(walk))
        now = time.monotonic()
        if options.progress is not None and now - last_progress >= options.progress_interval:
            last_progress = now
            options.progress(run + 1, steps, now - start)
        if violations and options.stop_at_first:
            break
    if violations:
        verdict = "violation"
    totals: dict[str, int] = {}
    for action, count in zip(model.actions, fired, strict=True):
        totals[action.name] = totals.get(action.name, 0) + count
    return SimulationResult(verdict, runs, steps, len(seen), time.monotonic() - start, totals, violations, walks,
                            quiescent, incomplete)


def _check(model: CompiledModel, state: tuple[int, ...], walk: list[Step], violated: set[str],
           violations: list[Violation]) -> bool:
    broken = False
    for invariant in model.invariants:
        try:
            holds = invariant.holds(state)
        except SpecRuntimeError as error:
            raise ExplorationError(error.message, error.span, f"invariant {invariant.name}", tuple(walk)) from None
        if not holds:
            broken = True
            if invariant.name not in violated:
                violated.add(invariant.name)
                violations.append(Violation(invariant.name, invariant.doc, tuple(walk)))
    return broken
