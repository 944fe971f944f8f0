"""Turn a check result into what people and tools read: a summary, a coverage table, JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kvolt.checker.compiler import CompiledModel
from kvolt.checker.engine import Progress, Result, Violation
from kvolt.checker.explicit.vector_search import VectorStats
from kvolt.checker.liveness.run import LivenessRun


@dataclass(frozen=True)
class RunInfo:
    spec: str
    model: str
    workers: int
    trace_files: dict[str, str]  # property -> written file
    engine: str = "scalar"
    vector: VectorStats | None = None
    liveness: LivenessRun | None = None


def progress_line(progress: Progress) -> str:
    return (f"Progress: depth {progress.depth}, {progress.distinct:,} distinct states, "
            f"{progress.generated:,} generated, queue {progress.queue:,}, "
            f"{progress.states_per_second:,.0f} states/s, {progress.seconds:.0f} s")


def dead_actions(result: Result) -> list[str]:
    return [name for name, count in result.actions_fired.items() if count == 0]


def summary(result: Result, info: RunInfo, compiled: CompiledModel) -> RenderableType:
    parts: list[RenderableType] = []
    header = Text(f"kvolt check {info.spec} — model {info.model}", style="bold")
    parts.append(header)
    stats = (f"{result.distinct_states:,} distinct states, {result.generated_states:,} generated, depth {result.depth}, "
             f"{result.seconds:.2f} s ({result.states_per_second:,.0f} distinct states/s)"
             f"{', symmetry on' if result.symmetry else ''}, {info.engine} engine")
    parts.append(Text(stats))
    if result.symmetry and compiled.symmetry is not None:
        parts.append(Text(f"symmetry group: {compiled.symmetry.describe()}", style="dim"))
    if info.vector is not None:
        memory = (f"visited set {info.vector.visited_bytes_per_state:.1f} bytes/state; "
                  + ("exact states, no fingerprint collision possible" if info.vector.exact else
                     f"fingerprint collision probability about {info.vector.collision_probability:.1e}"))
        parts.append(Text(memory, style="dim"))
    if info.liveness is not None:
        parts.extend(liveness_lines(info.liveness))
        if info.workers > 1:
            parts.append(Text("  the liveness graph is built in one process (workers share the invariants' search only)",
                              style="dim"))
    parts.append(Text(""))
    parts.append(coverage_table(result, compiled))
    for name in dead_actions(result):
        parts.append(Text(f"warning: action {name} never fired: its guard may be unsatisfiable in this model",
                          style="yellow"))
    parts.append(Text(""))
    parts.append(verdict_text(result, info, compiled))
    return Group(*parts)


def liveness_lines(run: LivenessRun) -> list[Text]:
    """How the temporal properties were checked: the graph, the fairness assumed, what a verdict covers."""
    lines = [Text(f"temporal properties: {', '.join(run.properties)} ({run.instances:,} instances checked)")]
    lines.append(Text(f"  whole graph: {run.states:,} states, {run.transitions:,} transitions, "
                      f"built in {run.graph_seconds:.2f} s, checked in {run.check_seconds:.2f} s; "
                      f"{run.graph_bytes / 2**20:,.1f} MiB (no symmetry reduction: fairness names instances)",
                      style="dim"))
    levels = [f"{level} for {', '.join(names)}" for level, names in run.fairness.items() if names]
    lines.append(Text(f"  fairness per action binding: {'; '.join(levels)}", style="dim"))
    if run.constrained:
        lines.append(Text("  the model has a constraint: a temporal verdict covers the fair behaviours that stay "
                          "within it (a step that leaves it still counts as enabled)", style="dim"))
    return lines


def coverage_table(result: Result, compiled: CompiledModel) -> Table:
    table = Table(title=None, box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    table.add_column("action")
    table.add_column("fired", justify="right")
    for name, count in result.actions_fired.items():
        style = "yellow" if count == 0 else ""
        table.add_row(Text(name, style=style), Text(f"{count:,}", style=style))
    return table


def verdict_text(result: Result, info: RunInfo, compiled: CompiledModel) -> Text:
    checked = ", ".join([i.name for i in compiled.invariants] + list(compiled.model.properties)) or "no invariants"
    if result.verdict == "ok":
        text = Text(f"OK: every checked property holds on all {result.distinct_states:,} reachable states ({checked}).",
                    style="bold green")
        if compiled.model.properties:
            text = Text(f"OK: every invariant holds on all {result.distinct_states:,} reachable states, and every "
                        f"temporal property on every fair behaviour ({checked}).", style="bold green")
        return text
    if result.verdict == "incomplete":
        return Text(f"INCOMPLETE: {result.incomplete_reason}; no verdict on {checked}. "
                    "A search cut short never reports success.", style="bold yellow")
    text = Text()
    for index, violation in enumerate(result.violations):
        if index:
            text.append("\n")
        text.append(f"VIOLATION: {violation.property}", style="bold red")
        if violation.binding:
            text.append(" [" + ", ".join(f"{n} = {v}" for n, v in violation.binding) + "]")
        if violation.loop is not None:
            cycle = violation.length - violation.loop
            repeat = "stutters forever" if cycle == 1 and violation.trace[-1].action == "stutter" else \
                f"then a cycle of {cycle} step{'s' if cycle != 1 else ''} repeats forever"
            text.append(f": a lasso, {violation.loop} steps to state {violation.loop}, {repeat}")
        else:
            text.append(f" after {violation.length} steps")
        if violation.doc:
            text.append(f"\n  {violation.doc.splitlines()[0]}")
        path = info.trace_files.get(violation.property)
        if path:
            text.append(f"\n  counterexample: {path}  (kvolt show {path})")
    if result.incomplete_reason:
        text.append(f"\nThe search also stopped early: {result.incomplete_reason}.", style="yellow")
    return text


@dataclass(frozen=True)
class Expectation:
    """A variant's `expect violation P` against what the search found."""

    property: str
    checked: bool  # P was among the properties checked (not filtered out by --invariant/--property)
    found: bool

    def met(self, result: Result) -> bool | None:
        """True or False; None when there is no verdict on it (not checked, or a search cut short)."""
        if not self.checked:
            return None
        if self.found:
            return True
        return None if result.incomplete_reason else False


def expectation(result: Result, compiled: CompiledModel, expected: str | None) -> Expectation | None:
    if expected is None:
        return None
    checked = {i.name for i in compiled.invariants} | set(compiled.model.properties)
    return Expectation(expected, expected in checked, any(v.property == expected for v in result.violations))


def expectation_text(expected: Expectation, result: Result) -> Text:
    """One line on the spec's `expect violation`: met, not met (exit 1), or not decided."""
    declared = f"the spec declares `expect violation {expected.property}`"
    met = expected.met(result)
    if met:
        return Text(f"As expected: {declared}.", style="green")
    if met is False:
        found = ", ".join(v.property for v in result.violations)
        what = f"found a violation of {found} instead" if found else "and no state or behaviour violates it"
        return Text(f"EXPECTATION NOT MET: {declared}, {what}.", style="bold red")
    if not expected.checked:
        return Text(f"note: {declared}, but it is not among the properties checked.", style="yellow")
    return Text(f"note: {declared}; the search stopped before finding it, so no verdict on it.", style="yellow")


def symmetry_json(compiled: CompiledModel | None, used: bool) -> dict[str, Any] | None:
    """The symmetry group the search used: its size and the classes of interchangeable instances."""
    group = compiled.symmetry if compiled is not None and used else None
    if group is None:
        return None
    ids = compiled.model.ids  # type: ignore[union-attr]
    return {"size": group.size, "full_size": group.full_size, "listed": group.listed,
            "classes": [[[ids(kind)[i] for kind, i in zip(c.roles, bundle, strict=True)] for bundle in c.bundles]
                        for c in group.classes]}


def expectation_json(expected: Expectation | None, result: Result) -> dict[str, Any] | None:
    if expected is None:
        return None
    return {"property": expected.property, "checked": expected.checked, "found": expected.found,
            "met": expected.met(result)}


def to_json(result: Result, info: RunInfo, compiled: CompiledModel | None = None,
            expected: Expectation | None = None) -> dict[str, Any]:
    """The `--json` object of the CLI contract (`symmetry_group` when `compiled` is given)."""
    return {
        "spec": info.spec,
        "model": info.model,
        "verdict": result.verdict,
        "distinct_states": result.distinct_states,
        "generated_states": result.generated_states,
        "depth": result.depth,
        "seconds": round(result.seconds, 3),
        "states_per_second": round(result.states_per_second, 1),
        "symmetry": result.symmetry,
        "symmetry_group": symmetry_json(compiled, result.symmetry),
        "workers": info.workers,
        "actions": dict(result.actions_fired),
        "dead_actions": dead_actions(result),
        "violations": [_violation_json(v, info) for v in result.violations],
        "incomplete_reason": result.incomplete_reason,
        "engine": info.engine,
        "collision_probability": info.vector.collision_probability if info.vector else 0.0,
        "bytes_per_state": round(info.vector.visited_bytes_per_state, 2) if info.vector else None,
        "exact": info.vector.exact if info.vector else True,
        "liveness": _liveness_json(info.liveness),
        "expected_violation": expectation_json(expected, result),
    }


def _violation_json(violation: Violation, info: RunInfo) -> dict[str, Any]:
    record: dict[str, Any] = {"property": violation.property, "trace": info.trace_files.get(violation.property),
                              "length": violation.length}
    if violation.loop is not None:
        record["kind"] = "lasso"
        record["loop"] = violation.loop
        record["binding"] = {name: value for name, value in violation.binding}
    else:
        record["kind"] = "invariant"
    return record


def _liveness_json(run: LivenessRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"properties": list(run.properties), "instances": run.instances, "states": run.states,
            "transitions": run.transitions, "graph_seconds": round(run.graph_seconds, 3),
            "check_seconds": round(run.check_seconds, 3), "graph_bytes": run.graph_bytes,
            "fairness": run.fairness, "constrained": run.constrained, "incomplete_reason": run.incomplete}
