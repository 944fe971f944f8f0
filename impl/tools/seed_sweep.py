"""Run many seeds and summarise what the physical monitors saw.

`sweep(...)` returns a Summary; `python -m kvolt.impl.tools.seed_sweep [--seeds N] [--steps S]
[--fault F]... [--workload W] [--strategy S]` writes it as one JSON object on stdout (this
module's only output; the library code stays silent).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field

from kvolt.impl.record import run


@dataclass
class Summary:
    seeds: int
    steps: int
    faults: list[str]
    workload: str
    strategy: str
    runs_with_violations: int = 0
    first_violating_seed: int | None = None
    first_violation: str = ""
    first_violation_step: int | None = None
    by_monitor: dict[str, int] = field(default_factory=dict)
    violating_seeds: list[int] = field(default_factory=list)
    total_steps: int = 0
    seconds: float = 0.0


def sweep(seeds: int, steps: int, faults: list[str], workload: str = "default", strategy: str = "random",
          start: int = 0, stop_at_first: bool = False) -> Summary:
    summary = Summary(seeds, steps, list(faults), workload, strategy)
    began = time.perf_counter()
    for seed in range(start, start + seeds):
        result = run(seed, steps, faults, workload, strategy, keep_states=False)
        summary.total_steps += result.steps_taken
        if result.violations:
            summary.runs_with_violations += 1
            summary.violating_seeds.append(seed)
            for v in result.violations:
                summary.by_monitor[v.monitor] = summary.by_monitor.get(v.monitor, 0) + 1
            if summary.first_violating_seed is None:
                v = result.violations[0]
                summary.first_violating_seed, summary.first_violation, summary.first_violation_step = seed, \
                    f"{v.monitor}: {v.message}", v.step
                if stop_at_first:
                    summary.seeds = seed - start + 1
                    break
    summary.seconds = round(time.perf_counter() - began, 2)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--fault", action="append", default=[])
    parser.add_argument("--workload", default="default")
    parser.add_argument("--strategy", default="random")
    args = parser.parse_args(argv)
    summary = sweep(args.seeds, args.steps, args.fault, args.workload, args.strategy, args.start)
    sys.stdout.write(json.dumps(asdict(summary)) + "\n")
    return 1 if summary.runs_with_violations else 0


if __name__ == "__main__":
    sys.exit(main())
