"""Traces told for people: a narration in plain English and a Mermaid sequence diagram.

Both work from an ITF trace alone. An action's doc comment is its narration when it mentions
the action's parameters as `{name}` placeholders ("the attach/detach controller detaches {v}
from {n}"); otherwise the narration is the action and its parameters followed by the doc
comment's first line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kvolt.checker.views.show import STUTTER, Row, binding_text, flatten, format_value
from kvolt.checker.views.traces import ACTION_KEY, PICKS_KEY, Trace

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Change:
    object: str
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class NarratedStep:
    index: int
    action: str
    actor: str  # the actor, with its instance for per-kind actors ("kubelet@node1")
    params: dict[str, str]
    sentence: str
    changes: tuple[Change, ...]


def _actor(action: str, params: dict[str, str]) -> str:
    if action == STUTTER:
        return "nobody"
    actor = action.split(".", 1)[0] if "." in action else action
    return f"{actor}@{params['self']}" if "self" in params else actor


def _first_sentence(doc: str) -> str:
    """The doc comment's first sentence (a paragraph's lines joined), or its first line if it has none."""
    paragraph = " ".join(line.strip() for line in doc.strip().split("\n\n")[0].splitlines())
    match = re.match(r"(.+?[.!?])(\s|$)", paragraph)
    return match.group(1) if match else paragraph


def _sentence(doc: str | None, action: str, params: dict[str, str]) -> str:
    if action == STUTTER:
        return "Nothing happens: no fair action is enabled, and the state stays as it is forever."
    call = f"{action}({', '.join(f'{k}={v}' for k, v in params.items())})"
    if not doc:
        return call
    first = _first_sentence(doc)
    names = set(_PLACEHOLDER.findall(first))
    if names and names <= set(params) | {"actor"}:
        values = {**params, "actor": action.split(".", 1)[0]}
        text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], first)
        return text[0].upper() + text[1:] if text else call
    return f"{call}: {first}"


def _changes(before: dict[Row, str], after: dict[Row, str]) -> tuple[Change, ...]:
    rows = [r for r in after if before.get(r) != after[r]] + [r for r in before if r not in after]
    return tuple(Change(obj, name, before.get((obj, name), "-"), after.get((obj, name), "-")) for obj, name in rows)


def narrate(trace: Trace) -> list[NarratedStep]:
    docs = trace.meta.get("action-docs") if isinstance(trace.meta.get("action-docs"), dict) else {}
    steps: list[NarratedStep] = []
    previous: dict[Row, str] | None = None
    for index, state in enumerate(trace.states):
        rows = flatten(state)
        action = state.get(ACTION_KEY) or ("init" if index == 0 else "?")
        picks = {k: format_value(v) for k, v in (state.get(PICKS_KEY) or {}).items()}
        if previous is not None:
            doc = docs.get(action) if isinstance(docs.get(action), str) else None
            steps.append(NarratedStep(index, action, _actor(action, picks), picks, _sentence(doc, action, picks),
                                      _changes(previous, rows)))
        previous = rows
    return steps


def _summary(changes: tuple[Change, ...], limit: int = 4) -> str:
    parts = [f"{c.object}.{c.field} {c.before} → {c.after}" for c in changes[:limit]]
    if len(changes) > limit:
        parts.append(f"and {len(changes) - limit} more")
    return "; ".join(parts) if parts else "no visible change"


def narration_text(trace: Trace) -> str:
    meta = trace.meta
    lines = []
    title = meta.get("description") or f"Trace {trace.file}"
    where = ", ".join(x for x in (f"spec {meta['source']}" if meta.get("source") else "",
                                   f"model {meta['model']}" if meta.get("model") else "") if x)
    lines.append(f"{title[0].upper()}{title[1:]}" + (f" ({where})" if where else "") + f", {len(trace.states) - 1} steps:")
    lines.append("")
    for step in narrate(trace):
        if trace.loop is not None and step.index == trace.loop + 1:
            lines.append(f"     ↻ from state {trace.loop} on, these steps repeat forever:")
        lines.append(f"{step.index:>3}. {step.sentence}")
        lines.append(f"     {_summary(step.changes)}")
    violated = meta.get("violated")
    if trace.loop is not None:
        lines.append(f"     ↺ back to state {trace.loop}; the cycle repeats forever.")
    if isinstance(violated, dict) and trace.loop is not None:
        lines.append("")
        lines.append(f"So {violated.get('property')}{binding_text(violated)} fails: on this behaviour, which "
                     "every fair scheduler allows, what it waits for never happens.")
        if violated.get("doc"):
            lines.append("  " + str(violated["doc"]).replace("\n", "\n  "))
    elif isinstance(violated, dict):
        lines.append("")
        lines.append(f"Then {violated.get('property')} no longer holds.")
        if violated.get("doc"):
            lines.append("  " + str(violated["doc"]).replace("\n", "\n  "))
    return "\n".join(lines) + "\n"


_MERMAID_ID = re.compile(r"[^A-Za-z0-9_]")


def _mermaid_id(name: str) -> str:
    return "p_" + _MERMAID_ID.sub("_", name)


def _mermaid_label(text: str) -> str:
    """Text safe inside a Mermaid message or note (no line breaks, separators or markup)."""
    for bad, good in (("\n", " "), (";", ","), ("#", ""), ("<", "\u2039"), (">", "\u203a"), ("%%", "%"), (":", " ")):
        text = text.replace(bad, good)
    return text


_SYNC = re.compile(r"[^.]+\.sync\[([A-Za-z_][A-Za-z0-9_]*)\]")


def _synced_object(step: NarratedStep) -> str | None:
    """The object a cache-sync step delivers (`actor.sync[Kind]` with parameter obj)."""
    match = _SYNC.fullmatch(step.action)
    return f"{match.group(1)} {step.params['obj']}" if match and "obj" in step.params else None


def mermaid_sequence(trace: Trace) -> str:
    """The trace as a Mermaid sequence diagram: actors, the objects they write, the watch events they get."""
    steps = narrate(trace)
    participants: dict[str, bool] = {}  # name -> is a user
    for step in steps:
        participants.setdefault(step.actor, step.actor.startswith("user"))
        for obj in [_synced_object(step)] + [c.object for c in step.changes if "(" not in c.object]:
            if obj:
                participants.setdefault(obj, False)
    lines = ["sequenceDiagram"]
    for name, is_user in participants.items():
        lines.append(f"    {'actor' if is_user else 'participant'} {_mermaid_id(name)} as {_mermaid_label(name)}")
    for step in steps:
        if trace.loop is not None and step.index == trace.loop + 1:
            lines.append(f"    loop repeats forever from state {trace.loop}")
        source = _mermaid_id(step.actor)
        if step.action == STUTTER:
            lines.append(f"    Note over {source}: {step.index}. stutter (nothing happens)")
            continue
        synced = _synced_object(step)
        if synced:
            lines.append(f"    {_mermaid_id(synced)}-->>{source}: {step.index}. watch event")
            continue
        call = _mermaid_label(f"{step.index}. {step.action.split('.', 1)[-1]}"
                              f"({', '.join(f'{k}={v}' for k, v in step.params.items() if k != 'self')})")
        written = list(dict.fromkeys(c.object for c in step.changes if "(" not in c.object))
        if not written:
            lines.append(f"    Note over {source}: {call}")
        for obj in written:
            target = _mermaid_id(obj)
            lines.append(f"    {source}->>{target}: {call}")
            fields = [c for c in step.changes if c.object == obj]
            note = ", ".join(f"{c.field} {c.before}→{c.after}" for c in fields[:3])
            if len(fields) > 3:
                note += f", +{len(fields) - 3}"
            lines.append(f"    Note over {target}: {_mermaid_label(note)}")
    if trace.loop is not None and len(trace.states) > trace.loop + 1:
        lines.append("    end")
    violated = trace.meta.get("violated")
    if isinstance(violated, dict) and participants:
        first = _mermaid_id(next(iter(participants)))
        lines.append(f"    Note over {first}: violated {_mermaid_label(str(violated.get('property')))}")
    return "\n".join(lines) + "\n"


def step_records(trace: Trace) -> list[dict[str, Any]]:
    """Narrated steps as plain data (for the HTML viewer)."""
    return [{"index": s.index, "action": s.action, "actor": s.actor, "params": s.params, "sentence": s.sentence,
             "changes": [c.__dict__ for c in s.changes]} for s in narrate(trace)]
