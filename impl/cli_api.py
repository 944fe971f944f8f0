"""The functions the command-line front calls: `kvolt record`, `kvolt replay` and `kvolt scenario run`.

No printing here: results are values; malformed input raises ScenarioError / ManifestError (with
file, line, column) or FaultError (an unknown fault name), for the CLI to render.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kvolt.checker.compiler import CompiledModel
from kvolt.checker.conformance import ConformOptions, conform
from kvolt.checker.frontend.diagnostics import Diagnostic, SpecError
from kvolt.checker.views.traces import Trace, locate_in_file
from kvolt.impl.faults import BUGS, FAULTS, FaultError
from kvolt.impl.manifest import ManifestError
from kvolt.impl.record import run
from kvolt.impl.replay import ReplayError, ReplayResult, check_spec, replay
from kvolt.impl.scenario import ScenarioError, ScenarioResult, run_scenario
from kvolt.impl.workload import WORKLOADS

__all__ = ["BUGS", "FAULTS", "WORKLOADS", "FaultError", "ManifestError", "RecordResult", "ReplayError", "ReplayResult",
           "ScenarioError", "ScenarioResult", "record", "replay_trace", "run_scenarios", "trace_text"]


@dataclass(frozen=True)
class RecordResult:
    out: Path
    seed: int
    steps: int  # steps actually taken (a run may end early when nothing is enabled)
    states: int
    violations: list[str]  # "monitor: message (step N)"

    @property
    def ok(self) -> bool:
        return not self.violations


def trace_text(document: dict) -> str:
    """The exact bytes written for a trace (stable: no timestamps, sorted iteration everywhere)."""
    return json.dumps(document, indent=1) + "\n"


def record(seed: int, steps: int, faults: list[str], workload: str, out: Path, strategy: str = "random") -> RecordResult:
    result = run(seed, steps, faults, workload, strategy)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(trace_text(result.document), encoding="utf-8")
    return RecordResult(out, seed, result.steps_taken, len(result.document["states"]),
                        [f"{v.monitor}: {v.message} (step {v.step})" for v in result.violations])


def run_scenarios(paths: list[Path]) -> list[ScenarioResult]:
    """Run scenario files (directories are searched for *.yaml), in name order."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        files.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
    return [run_scenario(f) for f in files]


def replay_trace(compiled: CompiledModel, trace: Trace, bugs: list[str]) -> ReplayResult:
    """`kvolt replay`: the trace must be a behaviour of the spec (checked exactly first); then the
    implementation, with these bug flags, is driven along it."""
    unknown = [b for b in bugs if b not in BUGS]
    if unknown:
        raise FaultError(f"unknown bug flag {unknown[0]!r} (bug flags: {', '.join(BUGS)})")
    check_spec(compiled)
    check = conform(compiled, trace, ConformOptions(max_hidden=0))
    if not check.ok:
        raise ReplayError(f"{trace.file} is not a trace of model {compiled.model.name}: step {check.failed_step}: "
                          f"{check.message} (replay takes a spec trace: a counterexample or a walk of kvolt simulate)")
    try:
        return replay(compiled, {"#meta": trace.meta, "states": trace.states, "loop": trace.loop}, frozenset(bugs),
                      name=trace.file)
    except ReplayError as error:
        if not error.where:
            raise
        raise SpecError(Diagnostic("Y003", error.message, locate_in_file(trace.file, error.where))) from None
