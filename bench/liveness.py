"""Liveness against safety on the built-in spec's models: `python bench/liveness.py [MODEL ...]`.

For each model, two configurations, each in a fresh process so its peak memory is its own:
- safety: `kvolt check --model MODEL --invariant ...` (every invariant, vector engine, one worker,
  the model's symmetry), what the liveness check is measured against;
- liveness: every temporal property of the model (vector engine: the whole graph without symmetry
  reduction, then the fair-cycle search), as `kvolt check --model MODEL --property ...` runs it.
Prints one Markdown row per configuration and the ratio; figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def measure(model: str, mode: str) -> dict[str, object]:
    """Run one configuration in this process and return its figures."""
    from kvolt.checker.build import build
    from kvolt.checker.engine import Options
    from kvolt.checker.explicit.vector_search import explore_vector
    from kvolt.checker.frontend.loader import builtin_spec_path
    from kvolt.checker.liveness.run import check_liveness

    built = build(builtin_spec_path(), model)
    options = Options(stop_at_first=False)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    start = time.monotonic()
    if mode == "safety":
        result, _ = explore_vector(built.compiled, options)
        figures: dict[str, object] = {"states": result.distinct_states, "transitions": result.generated_states,
                                      "verdict": result.verdict, "violations": [v.property for v in result.violations]}
    else:
        run = check_liveness(built.compiled, options, "vector", keep_going=True)
        figures = {"states": run.states, "transitions": run.transitions, "graph_seconds": round(run.graph_seconds, 2),
                   "check_seconds": round(run.check_seconds, 2), "instances": run.instances,
                   "verdict": "violation" if run.violations else (run.incomplete or "ok"),
                   "violations": [v.property for v in run.violations]}
    figures["seconds"] = round(time.monotonic() - start, 2)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime - cpu_before, 2)
    figures["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", default=["lifecycle"])
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one)))
        return
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| model | check | states | transitions | seconds | CPU seconds | peak MB | verdict | liveness / safety |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model in args.models:
        rows = {}
        for mode in ("safety", "liveness"):
            done = subprocess.run([sys.executable, __file__, "--one", model, mode], capture_output=True, text=True,
                                  check=True)
            rows[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        ratio = rows["liveness"]["seconds"] / max(rows["safety"]["seconds"], 1e-9)
        cpu_ratio = rows["liveness"]["cpu_seconds"] / max(rows["safety"]["cpu_seconds"], 1e-9)
        for mode, figures in rows.items():
            detail = (f" (graph {figures['graph_seconds']} s + check {figures['check_seconds']} s)"
                      if mode == "liveness" else "")
            ratios = f"{ratio:.2f}x (CPU {cpu_ratio:.2f}x)" if mode == "liveness" else ""
            print(f"| {model} | {mode} | {figures['states']:,} | {figures['transitions']:,} | {figures['seconds']}{detail} "
                  f"| {figures['cpu_seconds']} | {figures['peak_mb']:,} | {figures['verdict']} | {ratios} |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
