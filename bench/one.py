"""Run one benchmark configuration in this process and print its figures as JSON (used by run.py)."""

from __future__ import annotations

import argparse
import json
import resource
import time

from kvolt.checker.build import build
from kvolt.checker.engine import Options
from kvolt.checker.explicit.explorer import explore
from kvolt.checker.explicit.simulator import SimulationOptions, simulate
from kvolt.checker.explicit.vector_search import explore_vector
from kvolt.checker.frontend.loader import builtin_spec_path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default=str(builtin_spec_path("bench.kvolt")))
    parser.add_argument("--model", required=True)
    parser.add_argument("--engine", choices=["scalar", "vector", "simulate"], required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-symmetry", action="store_true")
    parser.add_argument("--max-seconds", type=float)
    parser.add_argument("--cluster", action="store_true", help="run as a rank of an MPI job (under mpiexec)")
    args = parser.parse_args()
    built = build(args.spec, args.model)
    options = Options(stop_at_first=False, symmetry=not args.no_symmetry, max_seconds=args.max_seconds)
    start = time.monotonic()
    figures: dict[str, object] = {}
    if args.engine == "simulate":
        result = simulate(built.compiled, SimulationOptions(runs=2000, depth=100, seed=1, stop_at_first=False))
        figures = {"steps": result.steps, "steps_per_second": result.steps_per_second,
                   "distinct": result.distinct_states}
    elif args.engine == "scalar":
        result = explore(built.compiled, options)
        figures = {"verdict": result.verdict, "distinct": result.distinct_states, "generated": result.generated_states,
                   "depth": result.depth, "bytes_per_state": None}
    elif args.cluster:
        from kvolt.checker.distributed.mpi import explore_cluster

        outcome = explore_cluster(built.compiled, options)
        if outcome is None:
            return  # not rank 0
        result, stats, totals = outcome
        figures = {"verdict": result.verdict, "distinct": result.distinct_states, "generated": result.generated_states,
                   "depth": result.depth, "bytes_per_state": stats.visited_bytes_per_state, **totals}
    else:
        result, stats = explore_vector(built.compiled, options, workers=args.workers)
        figures = {"verdict": result.verdict, "distinct": result.distinct_states, "generated": result.generated_states,
                   "depth": result.depth, "bytes_per_state": stats.visited_bytes_per_state,
                   "collision_probability": stats.collision_probability}
    seconds = time.monotonic() - start
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    figures.update({"seconds": seconds, "peak_rss_mb": peak / 1024})
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
