"""The benchmark: `python bench/run.py` prints the table recorded in bench/README.md.

Each configuration runs in a fresh process (so peak memory is its own): the built-in spec's
benchmark models with the scalar engine, the vector engine on one and two workers, and random
simulation. Figures are measured, never asserted; this machine is shared and noisy, so the
configurations that take seconds run `--repeat` times, interleaved (one worker, two workers, one,
two, ...), and the run of median time is reported.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

ONE = Path(__file__).with_name("one.py")

QUICK = 20.0  # seconds: configurations faster than this are repeated
CONFIGS = [
    # (model, engine, workers, extra flags)
    ("bench", "scalar", 1, []),
    ("bench", "vector", 1, []),
    ("bench", "vector", 2, []),
    ("bench", "simulate", 1, []),
    ("bench_large", "vector", 1, []),
    ("bench_large", "vector", 2, []),
    ("bench_huge", "vector", 1, []),  # tens of millions of states
    ("bench_huge", "vector", 2, []),
    ("full", "vector", 1, []),  # the built-in spec's largest model (bench.kvolt extends it)
    ("full", "vector", 1, ["--no-symmetry"]),  # the same without symmetry: over ten million states
]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len([1 for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("processor")])
    memory = "?"
    try:
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        memory = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {cores} cores, {memory}, Python {platform.python_version()}, {platform.system()}"


def run(model: str, engine: str, workers: int, flags: list[str], max_seconds: float | None) -> dict:
    command = [sys.executable, str(ONE), "--model", model, "--engine", engine, "--workers", str(workers), *flags]
    if max_seconds:
        command += ["--max-seconds", str(max_seconds)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_run(runs: list[dict]) -> dict:
    """The run of median time (an error, if the first run failed)."""
    if "error" in runs[0]:
        return runs[0]
    ordered = sorted(runs, key=lambda figures: figures["seconds"])
    return {**ordered[len(ordered) // 2], "runs": len(runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run only the configurations of this model")
    parser.add_argument("--max-seconds", type=float, help="cut each exhaustive run after this long")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each quick configuration (the median is shown)")
    args = parser.parse_args()
    print(f"Machine: {machine()}\n")
    print("| model | engine | workers | distinct | generated | depth | seconds | distinct/s | generated/s "
          "| peak MB | bytes/state | speedup |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    chosen = [c for c in CONFIGS if not args.only or c[0] == args.only]
    runs: dict[int, list[dict]] = {i: [] for i in range(len(chosen))}
    for round_number in range(max(1, args.repeat)):
        for i, (model, engine, workers, flags) in enumerate(chosen):
            earlier = runs[i]
            if round_number and (not earlier or "error" in earlier[0] or earlier[0]["seconds"] > QUICK):
                continue
            runs[i].append(run(model, engine, workers, flags, args.max_seconds))
    single: dict[tuple[str, str], float] = {}
    for i, (model, engine, workers, flags) in enumerate(chosen):
        figures = median_run(runs[i])
        if "error" in figures:
            print(f"| {model} | {engine} | {workers} | error: {figures['error']} |||||||||")
            continue
        seconds = figures["seconds"]
        if engine == "simulate":
            print(f"| {model} | simulate | 1 | {figures['distinct']:,} | {figures['steps']:,} steps | - | {seconds:.1f} "
                  f"| - | {figures['steps_per_second']:,.0f} steps/s | {figures['peak_rss_mb']:,.0f} | - | - |")
            continue
        rate = figures["distinct"] / seconds
        if workers == 1:
            single[(model, engine)] = rate
        speedup = f"{rate / single[(model, engine)]:.2f}x" if workers > 1 and (model, engine) in single else "-"
        per_state = f"{figures['bytes_per_state']:.1f}" if figures.get("bytes_per_state") else "-"
        verdict = "" if figures["verdict"] == "ok" else f" ({figures['verdict']})"
        label = f"{model} {' '.join(flags)}".strip()
        shown = f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"
        print(f"| {label} | {engine} | {workers} | {figures['distinct']:,}{verdict} | {figures['generated']:,} "
              f"| {figures['depth']} | {shown} | {rate:,.0f} | {figures['generated'] / seconds:,.0f} "
              f"| {figures['peak_rss_mb']:,.0f} | {per_state} | {speedup} |")


    if args.repeat > 1:
        print(f"\nRuns under {QUICK:.0f} s show the median of {args.repeat} interleaved runs; the others ran once.")


if __name__ == "__main__":
    main()
