"""Render an ITF trace for people: the first state in full, then per step only what changed.

Works on any ITF document (kvolt's or another tool's): every variable is flattened into rows
of (object, field) -> value, and consecutive states are compared row by row.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kvolt.checker.views.traces import ACTION_KEY, PICKS_KEY, Trace

Row = tuple[str, str]  # (object, field)


STUTTER = "stutter"  # the step of a lasso that repeats a state (no action taken)


def binding_text(violated: dict[str, Any]) -> str:
    """` [c = pvc1]`: the forall values of a violated temporal property, from an ITF trace's meta."""
    binding = violated.get("binding")
    if not isinstance(binding, dict) or not binding:
        return ""
    return " [" + ", ".join(f"{k} = {format_value(v)}" for k, v in binding.items()) + "]"


def format_value(value: Any) -> str:
    """An ITF value as compact text: sets in braces, maps as k: v, records as field=value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        if "#set" in value:
            return "{" + ", ".join(sorted(format_value(v) for v in value["#set"])) + "}"
        if "#tup" in value:
            return "<" + ", ".join(format_value(v) for v in value["#tup"]) + ">"
        if "#bigint" in value:
            return str(value["#bigint"])
        if "#map" in value:
            return "{" + ", ".join(f"{format_value(k)}: {format_value(v)}" for k, v in value["#map"]) + "}"
        return "{" + ", ".join(f"{k}={format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def _object_label(var: str, key: str) -> str:
    if var.startswith("cache:"):
        owner = var[len("cache:"):].rsplit(":", 1)[0]
        return f"{key} ({owner} cache)"
    return f"{var} {key}"


def flatten(state: dict[str, Any]) -> dict[Row, str]:
    """Rows of one state: kind maps become one row per object field."""
    rows: dict[Row, str] = {}
    for var, value in state.items():
        if var.startswith(("#", "mbt::")):
            continue
        if isinstance(value, dict) and "#map" in value and all(isinstance(v, dict) and not _is_special(v)
                                                              for _, v in value["#map"]):
            for key, record in value["#map"]:
                label = _object_label(var, format_value(key))
                for name, item in record.items():
                    rows[(label, name)] = format_value(item)
        else:
            rows[(var, "")] = format_value(value)
    return rows


def _is_special(value: dict[str, Any]) -> bool:
    return any(k.startswith("#") for k in value)


def _step_title(index: int, state: dict[str, Any]) -> Text:
    action = state.get(ACTION_KEY, "")
    picks = state.get(PICKS_KEY) or {}
    args = ", ".join(f"{k}={format_value(v)}" for k, v in picks.items())
    title = Text(f"Step {index}" if index else "State 0", style="bold")
    if action == STUTTER:
        title.append("  ")
        title.append("stutter", style="bold cyan")
        title.append("  (no action: the state repeats)", style="dim")
    elif action and action != "init":
        title.append("  ")
        title.append(f"{action}({args})", style="bold cyan")
    elif index == 0:
        title.append("  initial state", style="dim")
    return title


def _doc_line(trace: Trace, action: str) -> str | None:
    docs = trace.meta.get("action-docs")
    if isinstance(docs, dict) and isinstance(docs.get(action), str) and docs[action]:
        return docs[action].splitlines()[0]
    return None


def _initial_table(rows: dict[Row, str]) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("object", style="bold")
    table.add_column("fields")
    objects: dict[str, list[str]] = {}
    absent: list[str] = []
    for (obj, name), value in rows.items():
        objects.setdefault(obj, []).append(f"{name}={value}" if name else value)
    for obj, fields in objects.items():
        if "exists=false" in fields:
            absent.append(obj)
            continue
        shown = [f for f in fields if f not in ("exists=true", "deleting=false", "finalizers={}")]
        table.add_row(obj, ", ".join(shown) if shown else "(defaults)")
    if absent:
        table.add_row(Text("absent", style="dim"), Text(", ".join(absent), style="dim"))
    return table


def _diff_table(before: dict[Row, str], after: dict[Row, str]) -> Table | Text:
    changed = [row for row in after if before.get(row) != after[row]]
    changed += [row for row in before if row not in after]
    if not changed:
        return Text("  (no visible change)", style="dim")
    table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("object", style="bold")
    table.add_column("field")
    table.add_column("change")
    previous = None
    for obj, name in changed:
        old = before.get((obj, name), "-")
        new = after.get((obj, name), "-")
        change = Text(old, style="dim")
        change.append(" -> ")
        change.append(new, style="bold yellow")
        table.add_row(obj if obj != previous else "", name, change)
        previous = obj
    return table


def render_trace(trace: Trace) -> RenderableType:
    """The whole trace as a rich renderable."""
    parts: list[RenderableType] = []
    meta = trace.meta
    header = Text(f"Trace {trace.file}", style="bold")
    description = meta.get("description")
    if description:
        header.append(f"\n{description}")
    if meta.get("model"):
        header.append(f"\nspec {meta.get('source', '?')}, model {meta['model']}, {len(trace.states) - 1} steps",
                      style="dim")
    if trace.loop is not None:
        header.append(f"\na lasso: the steps after state {trace.loop} repeat forever", style="dim")
    parts.append(header)
    previous: dict[Row, str] | None = None
    last = len(trace.states) - 1
    for index, state in enumerate(trace.states):
        rows = flatten(state)
        parts.append(Text(""))
        if trace.loop is not None and index == trace.loop + 1:
            parts.append(Text(f"↻ the cycle starts at state {trace.loop}: steps {trace.loop + 1} to {last} "
                              "repeat forever", style="bold magenta"))
        parts.append(_step_title(index, state))
        doc = _doc_line(trace, state.get(ACTION_KEY, ""))
        if doc and index:
            parts.append(Text(f"  {doc}", style="italic dim"))
        parts.append(_initial_table(rows) if previous is None else _diff_table(previous, rows))
        previous = rows
    if trace.loop is not None:
        parts.append(Text(f"↺ back to state {trace.loop} (the same state): the cycle repeats forever",
                          style="bold magenta"))
    violated = meta.get("violated")
    if isinstance(violated, dict):
        parts.append(Text(""))
        footer = Text(f"Violated: {violated.get('property')}{binding_text(violated)}", style="bold red")
        if trace.loop is not None:
            footer.append(" (on this infinite behaviour, what the property waits for never happens)", style="red")
        if violated.get("doc"):
            footer.append("\n  " + str(violated["doc"]).replace("\n", "\n  "), style="red")
        parts.append(footer)
    return Group(*parts)
