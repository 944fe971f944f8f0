"""Traces in the Informal Trace Format (ITF) of Apalache and Quint: write, read, validate.

A state maps each variable to a value. kvolt's variables are one per kind (`PV`, `PVC`, ...),
each a map from instance id to a record of the object's fields, plus one per actor cache
(`cache:pvc_protection:Pod`, `cache:kubelet@node1:PVC`). Every record carries the lifecycle as
`exists`, `deleting` and `finalizers`, then the declared fields. Enum values and references are
strings (an empty reference is "none"), sets are `{"#set": [...]}`, maps `{"#map": [[k, v], ...]}`.
Each state also holds `mbt::actionTaken` and `mbt::nondetPicks`, as Quint's model-based testing.

Malformed input is reported with the file, line and column of the offending JSON value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree

from kvolt import __version__
from kvolt.checker.compiler import CompiledModel, Layout, decode_value
from kvolt.checker.engine import Step
from kvolt.checker.frontend import ir
from kvolt.checker.frontend.diagnostics import Diagnostic, SourceMap, Span, SpecError

ACTION_KEY = "mbt::actionTaken"
PICKS_KEY = "mbt::nondetPicks"
NONE_REF = "none"
STUTTER = "stutter"  # the action of a lasso's step that repeats a state (no action is taken)


# ---------------------------------------------------------------- writing


def cache_var(actor: ir.Actor, instance_id: str | None, kind: str) -> str:
    return f"cache:{actor.name}@{instance_id}:{kind}" if instance_id else f"cache:{actor.name}:{kind}"


def variables(layout: Layout) -> list[str]:
    names = [k.name for k in layout.spec.kinds]
    for (actor_name, instance, kind) in layout.caches:
        actor = layout.spec.actor(actor_name)
        names.append(cache_var(actor, layout.model.ids(actor.per)[instance] if actor.per else None, kind))
    return names


def _itf_value(value: object) -> Any:
    if value is None:
        return NONE_REF
    if isinstance(value, list):
        return {"#set": [_itf_value(v) for v in value]}
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return {"#bigint": str(value)}
    return value


def _object_record(layout: Layout, kind: ir.Kind, state: tuple[int, ...], block: int) -> dict[str, Any]:
    spec, model = layout.spec, layout.model
    life = state[block]
    record: dict[str, Any] = {
        "exists": life != 0,
        "deleting": life == 2,
        "finalizers": {"#set": [kind.finalizers[b] for b in range(len(kind.finalizers)) if state[block + 1] >> b & 1]},
    }
    for f in kind.state_fields:
        record[f.name] = _itf_value(decode_value(spec, model, f.type, state[block + layout.offset(kind.name, f.name)]))
    return record


def _region_map(layout: Layout, kind: ir.Kind, state: tuple[int, ...], base: int) -> dict[str, Any]:
    region = layout.api[kind.name]
    ids = layout.model.ids(kind.name)
    pairs = [[ids[i], _object_record(layout, kind, state, base + i * region.width)] for i in range(region.count)]
    return {"#map": pairs}


def state_to_itf(layout: Layout, state: tuple[int, ...]) -> dict[str, Any]:
    """The ITF variables of one state (without the mbt:: keys)."""
    values: dict[str, Any] = {}
    for kind in layout.spec.kinds:
        values[kind.name] = _region_map(layout, kind, state, layout.api[kind.name].base)
    for (actor_name, instance, kind_name), region in layout.caches.items():
        actor = layout.spec.actor(actor_name)
        instance_id = layout.model.ids(actor.per)[instance] if actor.per else None
        values[cache_var(actor, instance_id, kind_name)] = _region_map(layout, layout.spec.kind(kind_name), state, region.base)
    return values


def trace_to_itf(compiled: CompiledModel, steps: tuple[Step, ...] | list[Step], description: str,
                 violated: tuple[str, str] | None = None, loop: int | None = None,
                 binding: tuple[tuple[str, object], ...] = ()) -> dict[str, Any]:
    """A whole trace as an ITF document; `violated` is (property, its doc comment).

    A lasso has `loop`, the index of the state its cycle starts at, at the top level as Apalache
    writes it; its last state equals that state, and the cycle repeats forever from there. A step
    `stutter` repeats the state (no action is taken). `binding`: the property's forall values.
    """
    layout = compiled.layout
    docs = {a.name: a.doc for a in compiled.actions}
    meta: dict[str, Any] = {
        "format": "ITF",
        "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
        "source": compiled.spec.file,
        "model": compiled.model.name,
        "description": description,
        "generated-by": f"kvolt {__version__}",
        "action-docs": {name: docs[name] for name in dict.fromkeys(s.action for s in steps) if name in docs},
    }
    if violated is not None:
        meta["violated"] = {"property": violated[0], "doc": violated[1]}
        if binding:
            meta["violated"]["binding"] = {name: _itf_value(value) for name, value in binding}
    if loop is not None:
        meta["lasso"] = {"loop": loop, "cycle_length": len(steps) - 1 - loop,
                         "reading": f"the last state equals state {loop}: the steps after state {loop} repeat forever"}
    states = []
    for index, step in enumerate(steps):
        state: dict[str, Any] = {"#meta": {"index": index}}
        state[ACTION_KEY] = step.action
        state[PICKS_KEY] = {name: _itf_value(value) for name, value in step.params}
        state.update(state_to_itf(layout, step.state))
        states.append(state)
    document: dict[str, Any] = {"#meta": meta, "vars": variables(layout), "states": states}
    if loop is not None:
        document["loop"] = loop
    return document


def write_trace(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Trace:
    """A validated ITF document, values left in their JSON form."""

    file: str
    meta: dict[str, Any]
    vars: list[str]
    states: list[dict[str, Any]]
    loop: int | None = None  # a lasso: the index of the state its cycle starts at (the last state equals it)


def load_trace(path: str | Path, sources: SourceMap | None = None) -> Trace:
    """Read and validate an ITF file; a malformed one raises SpecError with a position."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(Diagnostic("I001", f"trace file not found: {name}")) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(Diagnostic("I001", f"cannot read trace file {name}: {error}")) from None
    if sources is not None:
        sources.add(name, text)
    return parse_trace(text, name)


def parse_trace(text: str, name: str) -> Trace:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        span = Span(name, error.lineno, error.colno, error.lineno, error.colno + 1)
        raise SpecError(Diagnostic("I002", f"not valid JSON: {error.msg}", span)) from None
    problem = _validate(document)
    if problem is not None:
        path, message = problem
        raise SpecError(Diagnostic("I003", f"not an ITF trace: {message} (at {_path_text(path)})",
                                   _locate(text, name, path)))
    vars_ = document.get("vars") or sorted({k for s in document["states"] for k in s if not k.startswith(("#", "mbt::"))})
    return Trace(name, document.get("#meta", {}), list(vars_), document["states"], document.get("loop"))


def _path_text(path: tuple[str | int, ...]) -> str:
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _validate(document: Any) -> tuple[tuple[str | int, ...], str] | None:
    if not isinstance(document, dict):
        return (), "the document must be a JSON object"
    if "states" not in document:
        return (), "missing the 'states' list"
    states = document["states"]
    if not isinstance(states, list):
        return ("states",), "'states' must be a list"
    if not states:
        return ("states",), "the trace has no states"
    if "vars" in document and (not isinstance(document["vars"], list)
                               or not all(isinstance(v, str) for v in document["vars"])):
        return ("vars",), "'vars' must be a list of names"
    if "#meta" in document and not isinstance(document["#meta"], dict):
        return ("#meta",), "'#meta' must be an object"
    loop = document.get("loop")
    if loop is not None and (isinstance(loop, bool) or not isinstance(loop, int) or not 0 <= loop < len(states)):
        return ("loop",), f"'loop' must be the index of a state (0 to {len(states) - 1})"
    declared = document.get("vars")
    for index, state in enumerate(states):
        if not isinstance(state, dict):
            return ("states", index), "each state must be an object"
        action = state.get(ACTION_KEY)
        if action is not None and not isinstance(action, str):
            return ("states", index, ACTION_KEY), "the action taken must be a string"
        picks = state.get(PICKS_KEY)
        if picks is not None and not isinstance(picks, dict):
            return ("states", index, PICKS_KEY), "the parameters must be an object"
        for key, value in state.items():
            if key.startswith(("#", "mbt::")):
                continue
            if declared is not None and key not in declared:
                return ("states", index, key), f"variable '{key}' is not listed in 'vars'"
            problem = _validate_value(value, ("states", index, key))
            if problem:
                return problem
    return None


def _validate_value(value: Any, path: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], str] | None:
    if isinstance(value, bool | int | float | str) or value is None:
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _validate_value(item, (*path, index))
            if problem:
                return problem
        return None
    if not isinstance(value, dict):
        return path, "unexpected value"
    if "#set" in value or "#tup" in value:
        items = value.get("#set", value.get("#tup"))
        if not isinstance(items, list):
            return path, "'#set' and '#tup' hold a list"
        return _validate_value(items, path)
    if "#map" in value:
        pairs = value["#map"]
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            return (*path, "#map"), "'#map' holds a list of [key, value] pairs"
        for index, (key, item) in enumerate(pairs):
            problem = _validate_value(key, (*path, "#map", index, 0)) or _validate_value(item, (*path, "#map", index, 1))
            if problem:
                return problem
        return None
    if "#bigint" in value:
        digits = value["#bigint"]
        if not isinstance(digits, str) or not digits.lstrip("-").isdigit():
            return (*path, "#bigint"), "'#bigint' holds a decimal string"
        return None
    for key, item in value.items():
        problem = _validate_value(item, (*path, key))
        if problem:
            return problem
    return None


# -- positions of JSON values, found only when there is an error to report

_JSON_GRAMMAR = r"""
?value: object | array | STRING | NUMBER | "true" -> true | "false" -> false | "null" -> null
array: "[" [value ("," value)*] "]"
object: "{" [pair ("," pair)*] "}"
pair: STRING ":" value
%import common.ESCAPED_STRING -> STRING
%import common.SIGNED_NUMBER -> NUMBER
%import common.WS
%ignore WS
"""


@lru_cache(maxsize=1)
def _json_parser() -> Lark:
    return Lark(_JSON_GRAMMAR, start="value", parser="lalr", propagate_positions=True)


def locate_in_file(name: str, path: tuple[str | int, ...]) -> Span | None:
    """The position of the JSON value at `path` in a trace file (None if the file cannot be read again)."""
    try:
        return _locate(Path(name).read_text(encoding="utf-8"), name, path)
    except (OSError, UnicodeDecodeError):
        return None


def _locate(text: str, name: str, path: tuple[str | int, ...]) -> Span:
    try:
        node: Any = _json_parser().parse(text)
    except Exception:  # the JSON was valid for json.loads, so this is not expected
        return Span(name, 1, 1, 1, 2)
    for part in path:
        child = _child(node, part)
        if child is None:
            break
        node = child
    if isinstance(node, Token):
        return Span(name, node.line or 1, node.column or 1, node.end_line or 1, node.end_column or 2)
    meta = node.meta
    if getattr(meta, "empty", True):
        return Span(name, 1, 1, 1, 2)
    end_column = meta.end_column if meta.end_line == meta.line else meta.column + 1
    return Span(name, meta.line, meta.column, meta.line, end_column)


def _child(node: Any, part: str | int) -> Any:
    if not isinstance(node, Tree):
        return None
    if node.data == "array" and isinstance(part, int):
        items = [c for c in node.children if c is not None]
        return items[part] if part < len(items) else None
    if node.data == "object":
        for pair in node.children:
            if pair is None:
                continue
            key, value = pair.children
            if json.loads(str(key)) == part:
                return value
    if node.data == "object" and isinstance(part, int):
        return None
    return None
