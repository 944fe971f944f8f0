"""Turn a check result into what people and tools read: a summary, a coverage table, JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kvolt.checker.compiler import CompiledModel
from kvolt.checker.engine import Progress, Result
from kvolt.checker.explicit.vector_search import VectorStats


@dataclass(frozen=True)
class RunInfo:
    spec: str
    model: str
    workers: int
    trace_files: dict[str, str]  # property -> written file
    engine: str = "scalar"
    vector: VectorStats | None = None


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
    parts.append(Text(""))
    parts.append(coverage_table(result, compiled))
    for name in dead_actions(result):
        parts.append(Text(f"warning: action {name} never fired: its guard may be unsatisfiable in this model",
                          style="yellow"))
    parts.append(Text(""))
    parts.append(verdict_text(result, info, compiled))
    return Group(*parts)


def coverage_table(result: Result, compiled: CompiledModel) -> Table:
    table = Table(title=None, box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    table.add_column("action")
    table.add_column("fired", justify="right")
    for name, count in result.actions_fired.items():
        style = "yellow" if count == 0 else ""
        table.add_row(Text(name, style=style), Text(f"{count:,}", style=style))
    return table


def verdict_text(result: Result, info: RunInfo, compiled: CompiledModel) -> Text:
    checked = ", ".join(i.name for i in compiled.invariants) or "no invariants"
    if result.verdict == "ok":
        return Text(f"OK: every checked property holds on all {result.distinct_states:,} reachable states ({checked}).",
                    style="bold green")
    if result.verdict == "incomplete":
        return Text(f"INCOMPLETE: {result.incomplete_reason}; no verdict on {checked}. "
                    "A search cut short never reports success.", style="bold yellow")
    text = Text()
    for index, violation in enumerate(result.violations):
        if index:
            text.append("\n")
        text.append(f"VIOLATION: {violation.property}", style="bold red")
        text.append(f" after {violation.length} steps")
        if violation.doc:
            text.append(f"\n  {violation.doc.splitlines()[0]}")
        path = info.trace_files.get(violation.property)
        if path:
            text.append(f"\n  counterexample: {path}  (kvolt show {path})")
    if result.incomplete_reason:
        text.append(f"\nThe search also stopped early: {result.incomplete_reason}.", style="yellow")
    return text


def symmetry_json(compiled: CompiledModel | None, used: bool) -> dict[str, Any] | None:
    """The symmetry group the search used: its size and the classes of interchangeable instances."""
    group = compiled.symmetry if compiled is not None and used else None
    if group is None:
        return None
    ids = compiled.model.ids  # type: ignore[union-attr]
    return {"size": group.size, "full_size": group.full_size, "listed": group.listed,
            "classes": [[[ids(kind)[i] for kind, i in zip(c.roles, bundle, strict=True)] for bundle in c.bundles]
                        for c in group.classes]}


def to_json(result: Result, info: RunInfo, compiled: CompiledModel | None = None) -> dict[str, Any]:
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
        "violations": [{"property": v.property, "trace": info.trace_files.get(v.property), "length": v.length}
                       for v in result.violations],
        "incomplete_reason": result.incomplete_reason,
        "engine": info.engine,
        "collision_probability": info.vector.collision_probability if info.vector else 0.0,
        "bytes_per_state": round(info.vector.visited_bytes_per_state, 2) if info.vector else None,
        "exact": info.vector.exact if info.vector else True,
    }
