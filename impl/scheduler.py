"""The deterministic scheduler: a seed and a strategy choose every next step.

No upstream counterpart (Go's runtime scheduler and the network decide this in a real cluster);
the strategies follow the systematic-testing literature: uniform random choice among enabled
steps, and PCT (Burckhardt et al., "A Randomized Scheduler with Probabilistic Guarantees of Finding
Bugs", ASPLOS 2010): random distinct actor priorities, the highest-priority enabled actor runs, and
at d-1 random points the running actor drops to the lowest priority.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

STRATEGIES = ("random", "pct")


class Scheduler:
    def __init__(self, seed: int, strategy: str = "random", *, steps: int = 1000, pct_depth: int = 3):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r} (expected one of {', '.join(STRATEGIES)})")
        self.rng = random.Random(seed)
        self.strategy = strategy
        self.priorities: dict[str, float] = {}
        self.change_points = sorted(self.rng.randrange(max(steps, 1)) for _ in range(max(pct_depth - 1, 0)))
        self.low = 0.0
        self.count = 0

    def choose(self, steps: Sequence[Any]) -> Any:
        """Pick one of the enabled steps (given in a deterministic order)."""
        self.count += 1
        if self.strategy == "random":
            return steps[self.rng.randrange(len(steps))]
        for step in steps:
            if step.actor not in self.priorities:
                self.priorities[step.actor] = 1.0 + self.rng.random()
        chosen = max(steps, key=lambda s: (self.priorities[s.actor], -steps.index(s)))
        if self.change_points and self.count >= self.change_points[0]:
            self.change_points.pop(0)
            self.low -= 1.0
            self.priorities[chosen.actor] = self.low
        return chosen
