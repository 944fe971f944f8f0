"""Regenerate the conformance corpus traces/*.itf.json (issue 5).

    python -m kvolt.impl.tools.make_corpus [--out traces]

Every trace is a recording of the implementation (`kvolt record`) with one of the conformance
workloads (impl/workload.py: `conform`, `conform-nfs`), a seed and a fault setting; its #meta.model
names the model of spec/conformance.kvolt it is checked against. The whole corpus must pass

    kvolt conform traces/*.itf.json --spec spec/conformance.kvolt --max-hidden 1

(tests/impl/test_conformance_corpus.py). Traces with machine crashes are kept shorter: the kubelet
memory of a machine that may crash is invisible to the API observer, so the checker carries more
candidate spec states along them.

The corpus also holds spec walks (`walk-*.itf.json`): random walks of the conformance models with
every variable, so `kvolt conform` checks them in exact mode, and `kvolt replay` drives the
implementation along them (tests/impl/test_replay.py). A walk lets the environment (users, the
scheduler) act on one choice in ENVIRONMENT_ODDS and the controllers on the others: a uniform
choice lets users create and delete so often that walks rarely get past binding.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from kvolt.checker.build import build
from kvolt.checker.compiler import CompiledModel
from kvolt.checker.engine import Step
from kvolt.checker.views.traces import trace_to_itf
from kvolt.impl.cli_api import record, trace_text
from kvolt.impl.record import run

MAX_HIDDEN = 1
QUIET = ["watch-delay", "api-conflict", "api-error", "plugin-error", "plugin-timeout", "controller-restart", "clock-jump"]
# (name, workload, faults, steps, seeds)
SETTINGS: list[tuple[str, str, list[str], int, range]] = [
    ("disk-none", "conform", [], 100, range(1, 5)),
    ("disk-quiet", "conform", QUIET, 80, range(1, 15)),
    ("disk-restart", "conform", [*QUIET, "kubelet-restart"], 70, range(1, 13)),
    ("disk-all", "conform", ["all"], 40, range(1, 7)),
    ("nfs-quiet", "conform-nfs", QUIET, 80, range(1, 8)),
    ("nfs-restart", "conform-nfs", [*QUIET, "kubelet-restart"], 70, range(1, 6)),
    ("nfs-all", "conform-nfs", ["all"], 40, range(1, 5)),
]
# Node failures are rare in short runs (a fault step is offered with probability 0.02): these
# settings take the first seeds (from 1 on) whose run powers a node off; every such seed is kept.
# (name, workload, faults, steps, how many seeds)
NODE_DOWN: list[tuple[str, str, list[str], int, int]] = [
    ("disk-notready", "conform", ["node-notready", "clock-jump", "watch-delay"], 60, 5),
    ("nfs-notready", "conform-nfs", ["node-notready", "clock-jump"], 60, 2),
]


# spec walks: (file name prefix, model of spec/conformance.kvolt, seeds); each walk has WALK_STEPS choices
SPEC = "spec/conformance.kvolt"  # relative: the walks' #meta.source, read from the repository root
# (the seeds whose walks together exercise the most actions among the first 60)
WALKS: list[tuple[str, str, tuple[int, ...]]] = [("walk-disk", "conform_disk", (1, 3, 11, 35)),
                                                  ("walk-nfs", "conform_nfs", (1, 2, 4))]
WALK_STEPS = 40
ENVIRONMENT = ("user.", "scheduler.")
ENVIRONMENT_ODDS = 6


def walk(model: CompiledModel, choices: list[int]) -> list[Step]:
    """The spec walk that takes, at step i, an enabled transition chosen by choices[i], from the
    first initial state (see the module doc); it ends early where nothing is enabled."""
    state = model.initial_states[0]
    steps = [Step("init", (), state)]
    for choice in choices:
        enabled = []
        for action in model.actions:
            out: list[tuple[int, tuple[int, ...]]] = []
            action.successors(state, out)
            enabled += [(action, binding, successor) for binding, successor in out
                        if model.constraint is None or model.constraint(successor)]
        if not enabled:
            break
        controllers = [e for e in enabled if not e[0].name.startswith(ENVIRONMENT)]
        pool = controllers if controllers and choice % ENVIRONMENT_ODDS else enabled
        action, binding, state = pool[choice // ENVIRONMENT_ODDS % len(pool)]
        steps.append(Step(action.name, action.bindings[binding].labels, state))
    return steps


def spec_walks() -> list[tuple[str, str]]:
    """(file name, ITF text) of every spec walk of the corpus."""
    out = []
    for prefix, model_name, seeds in WALKS:
        model = build(SPEC, model_name).compiled
        for seed in seeds:
            rng = random.Random(seed)
            steps = walk(model, [rng.randrange(2**16) for _ in range(WALK_STEPS)])
            document = trace_to_itf(model, steps, f"a spec walk of {model_name} (impl/tools/make_corpus.py, seed {seed})")
            document["#meta"].pop("generated-by", None)  # the corpus does not change with kvolt's version
            out.append((f"{prefix}-s{seed}.itf.json", trace_text(document)))
    return out


def _seeds_with_node_down(workload: str, faults: list[str], steps: int, count: int) -> list[int]:
    seeds: list[int] = []
    seed = 0
    while len(seeds) < count:
        seed += 1
        if "fault node-down" in " ".join(run(seed, steps, faults, workload, keep_states=False).step_names):
            seeds.append(seed)
    return seeds


def corpus() -> list[tuple[str, str, list[str], int, int]]:
    """(file name, workload, faults, steps, seed) of every corpus trace."""
    out = [(f"{name}-s{seed}.itf.json", workload, faults, steps, seed)
           for name, workload, faults, steps, seeds in SETTINGS for seed in seeds]
    for name, workload, faults, steps, count in NODE_DOWN:
        out += [(f"{name}-s{seed}.itf.json", workload, faults, steps, seed)
                for seed in _seeds_with_node_down(workload, faults, steps, count)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="traces", help="output folder (default: traces)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.itf.json"):
        old.unlink()
    for file, workload, faults, steps, seed in corpus():
        result = record(seed, steps, faults, workload, out / file)
        print(f"{file}: {result.states} states" + (f", monitor: {result.violations[0]}" if result.violations else ""))
    for file, text in spec_walks():
        (out / file).write_text(text)
        print(f"{file}: a spec walk")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
