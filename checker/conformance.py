"""Trace validation: is a recorded trace (from the implementation, or anywhere) a behaviour of the spec?

A recorded state constrains the spec state only where it says something: each variable, instance
and field it carries pins one position of the state; everything else (caches, an actor's memory,
fields an observer does not see) is free. Checking keeps, for every recorded state, the set of spec
states that agree with it, reachable from the previous set by at most K hidden steps followed by
the recorded step (breadth-first, so a matching behaviour is found whenever one exists within the
bound). In exact mode (every variable recorded and every step named; K is then 0) each step must be
the named action with the named parameters, or a stuttering step.

On failure the report names the first recorded step that nothing matches, the recorded values, the
closest spec states reached with a field-level diff, and the actions that were enabled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from kvolt.checker.compiler import CompiledModel, Layout, decode_value
from kvolt.checker.frontend import ir
from kvolt.checker.frontend.diagnostics import Diagnostic, SpecError
from kvolt.checker.views.traces import ACTION_KEY, NONE_REF, PICKS_KEY, STUTTER, Trace, cache_var

State = tuple[int, ...]
Constraint = tuple[tuple[int, frozenset[int]], ...]  # (position, allowed values)


@dataclass(frozen=True)
class ConformOptions:
    max_hidden: int = 0
    max_candidates: int = 200_000


@dataclass(frozen=True)
class FieldDiff:
    object: str
    field: str
    recorded: str
    spec: str


@dataclass
class ConformResult:
    trace: str
    ok: bool
    mode: str  # "exact" | "partial"
    steps: int
    failed_step: int | None = None
    message: str = ""
    recorded: list[tuple[str, str, str]] = field(default_factory=list)  # (object, field, value)
    closest: list[list[FieldDiff]] = field(default_factory=list)
    enabled: list[str] = field(default_factory=list)
    actions_used: dict[str, int] = field(default_factory=dict)
    candidates_peak: int = 0


# ---------------------------------------------------------------- decoding recorded states


class _Decoder:
    """Turn ITF variables into constraints on positions of the compiled state."""

    def __init__(self, layout: Layout, trace: Trace) -> None:
        self.layout = layout
        self.spec = layout.spec
        self.model = layout.model
        self.trace = trace
        self.regions: dict[str, tuple[str, int]] = {k.name: (k.name, layout.api[k.name].base) for k in self.spec.kinds}
        for (actor_name, instance, kind), region in layout.caches.items():
            actor = self.spec.actor(actor_name)
            instance_id = self.model.ids(actor.per)[instance] if actor.per else None
            self.regions[cache_var(actor, instance_id, kind)] = (kind, region.base)
        self.labels: dict[int, tuple[str, str]] = {}
        for var, (kind_name, base) in self.regions.items():
            kind = self.spec.kind(kind_name)
            width = layout.api[kind_name].width
            for index, instance in enumerate(self.model.ids(kind_name)):
                start = base + index * width
                label = f"{var} {instance}" if not var.startswith("cache:") else f"{instance} ({var[6:]})"
                self.labels[start] = (label, "lifecycle")
                self.labels[start + 1] = (label, "finalizers")
                for f in kind.state_fields:
                    self.labels[start + layout.offset(kind_name, f.name)] = (label, f.name)

    def fail(self, step: int, where: str, message: str) -> SpecError:
        return SpecError(Diagnostic("C001", f"{self.trace.file}: state {step}, {where}: {message}"))

    def constraint(self, step: int, state: dict[str, Any]) -> Constraint:
        pinned: dict[int, frozenset[int]] = {}
        for var, value in state.items():
            if var.startswith(("#", "mbt::")):
                continue
            if var not in self.regions:
                raise self.fail(step, f"variable '{var}'", "the spec has no such variable (kinds and caches: "
                                + ", ".join(sorted(self.regions)) + ")")
            kind_name, base = self.regions[var]
            for instance, record in self._objects(step, var, value):
                ids = self.model.ids(kind_name)
                if instance not in ids:
                    raise self.fail(step, f"{var}", f"no instance '{instance}' of {kind_name} in model "
                                    f"{self.model.name} ({', '.join(ids) or 'none'})")
                start = base + ids.index(instance) * self.layout.api[kind_name].width
                self._record(step, var, instance, kind_name, start, record, pinned)
        return tuple(sorted(pinned.items()))

    def _objects(self, step: int, var: str, value: Any) -> Iterable[tuple[str, dict[str, Any]]]:
        if isinstance(value, dict) and "#map" in value:
            for pair in value["#map"]:
                key, record = pair
                if not isinstance(key, str) or not isinstance(record, dict):
                    raise self.fail(step, var, "each entry must map an instance id to a record of fields")
                yield key, record
        elif isinstance(value, dict):
            for key, record in value.items():
                if not isinstance(record, dict):
                    raise self.fail(step, f"{var}.{key}", "expected a record of fields")
                yield key, record
        else:
            raise self.fail(step, var, "expected a map from instance ids to records")

    def _record(self, step: int, var: str, instance: str, kind_name: str, start: int, record: dict[str, Any],
                pinned: dict[int, frozenset[int]]) -> None:
        kind = self.spec.kind(kind_name)
        where = f"{var} {instance}"
        exists, deleting = record.get("exists"), record.get("deleting")
        for name, flag in (("exists", exists), ("deleting", deleting)):
            if flag is not None and not isinstance(flag, bool):
                raise self.fail(step, f"{where}.{name}", f"expected true or false, found {flag!r}")
        if exists is not None or deleting is not None:
            lives = {0, 1, 2}
            if exists is not None:
                lives &= {1, 2} if exists else {0}
            if deleting is not None:
                lives &= {2} if deleting else {0, 1}
            if not lives:
                raise self.fail(step, where, "an object cannot be deleting without existing")
            pinned[start] = frozenset(lives)
        for name, value in record.items():
            if name in ("exists", "deleting"):
                continue
            if name == "finalizers":
                pinned[start + 1] = frozenset({self._encode(step, f"{where}.finalizers", ir.SetT(ir.FinT(kind_name)), value)})
                continue
            declared = kind.field(name)
            if declared is None or declared.const:
                known = ", ".join(f.name for f in kind.state_fields)
                raise self.fail(step, f"{where}.{name}", f"{kind_name} has no field '{name}' (fields: {known})")
            position = start + self.layout.offset(kind_name, name)
            pinned[position] = frozenset({self._encode(step, f"{where}.{name}", declared.type, value)})

    def _encode(self, step: int, where: str, type_: ir.Type, value: Any) -> int:
        if isinstance(type_, ir.BoolT):
            if not isinstance(value, bool):
                raise self.fail(step, where, f"expected true or false, found {value!r}")
            return int(value)
        if isinstance(type_, ir.IntT):
            if isinstance(value, dict) and "#bigint" in value:
                value = int(value["#bigint"])
            if not isinstance(value, int) or isinstance(value, bool) or not type_.low <= value <= type_.high:
                raise self.fail(step, where, f"expected an integer in {type_}, found {value!r}")
            return value
        if isinstance(type_, ir.EnumT):
            members = self.spec.enum(type_.name)
            if value not in members:
                raise self.fail(step, where, f"expected one of {', '.join(members)}, found {value!r}")
            return members.index(value)
        if isinstance(type_, ir.FinT):
            names = self.spec.kind(type_.kind).finalizers
            if value not in names:
                raise self.fail(step, where, f"expected a finalizer of {type_.kind} ({', '.join(names)}), found {value!r}")
            return names.index(value)
        if isinstance(type_, ir.RefT):
            if value == NONE_REF or value is None:
                return 0
            ids = self.model.ids(type_.kind)
            if value not in ids:
                raise self.fail(step, where, f"expected none or an instance of {type_.kind} ({', '.join(ids)}), "
                                f"found {value!r}")
            return ids.index(value) + 1
        if isinstance(type_, ir.SetT):
            items = value.get("#set") if isinstance(value, dict) else value if isinstance(value, list) else None
            if items is None:
                raise self.fail(step, where, f"expected a set, found {value!r}")
            mask = 0
            for item in items:
                code = self._encode(step, where, type_.element, item)
                mask |= 1 << (code - 1 if isinstance(type_.element, ir.RefT) else code)
            return mask
        raise self.fail(step, where, f"cannot read a value of type {type_}")

    def show(self, position: int, value: int) -> tuple[str, str, str]:
        label, name = self.labels.get(position, (f"position {position}", "?"))
        if name == "lifecycle":
            return label, "lifecycle", ("absent", "live", "terminating")[value] if 0 <= value <= 2 else str(value)
        if name == "finalizers":
            kind = self._kind_at(position)
            return label, name, "{" + ", ".join(self.spec.kind(kind).finalizers[b] for b in range(8) if value >> b & 1) + "}"
        kind = self._kind_at(position)
        declared = self.spec.kind(kind).field(name)
        shown = decode_value(self.spec, self.model, declared.type, value) if declared else value
        if isinstance(shown, list):
            shown = "{" + ", ".join(str(s) for s in shown) + "}"
        return label, name, "none" if shown is None else str(shown).lower() if isinstance(shown, bool) else str(shown)

    def _kind_at(self, position: int) -> str:
        for kind, base in self.regions.values():
            region = self.layout.api[kind]
            if base <= position < base + region.width * region.count:
                return kind
        raise KeyError(position)


def _matches(state: State, constraint: Constraint) -> bool:
    return all(state[position] in allowed for position, allowed in constraint)


def _mismatches(state: State, constraint: Constraint) -> list[tuple[int, frozenset[int]]]:
    return [(p, a) for p, a in constraint if state[p] not in a]


# ---------------------------------------------------------------- the check


def conform(model: CompiledModel, trace: Trace, options: ConformOptions) -> ConformResult:
    decoder = _Decoder(model.layout, trace)
    constraints = [decoder.constraint(i, s) for i, s in enumerate(trace.states)]
    full_positions = set(range(model.layout.size))
    # exact mode is a property of the trace: every variable in every state, every step a named spec
    # action; such a trace leaves no room for hidden steps, whatever K allows for partial traces
    exact = all({p for p, a in c if len(a) == 1} == full_positions for c in constraints) and \
        all(isinstance(s.get(ACTION_KEY), str) and not str(s.get(ACTION_KEY)).startswith("impl:") for s in trace.states[1:])
    if exact:
        options = replace(options, max_hidden=0)
    result = ConformResult(trace.file, True, "exact" if exact else "partial", len(trace.states) - 1)
    actions = {a.name: i for i, a in enumerate(model.actions)}
    # step 0: initial states (or, in partial mode, states within K hidden steps of one) that match
    layer = _reach(model, list(dict.fromkeys(model.initial_states)), options.max_hidden, None, options)
    current = {s: None for s in layer if _matches(s, constraints[0])}
    parents: list[dict[State, tuple[State | None, list[str]]]] = [{s: (None, []) for s in current}]
    if not current:
        return _failure(result, decoder, 0, constraints[0], layer, model, [], "no initial state of the model matches")
    successors = _Successors(model)
    for step in range(1, len(trace.states)):
        recorded = trace.states[step]
        action_name = recorded.get(ACTION_KEY)
        picks = recorded.get(PICKS_KEY) or {}
        named = actions.get(action_name) if isinstance(action_name, str) else None
        stutter = action_name == STUTTER  # a lasso's stuttering step: the state repeats
        if exact and named is None and isinstance(action_name, str) and action_name != "init" and not stutter:
            raise decoder.fail(step, ACTION_KEY, f"the spec has no action '{action_name}'")
        following: dict[State, tuple[State | None, list[str]]] = {}
        seen_layer: list[State] = []
        for state in current:
            moves = [(state, [])] if stutter else _steps(successors, state, options.max_hidden, named,
                                                         picks if named is not None else None, options)
            for successor, path in moves:
                seen_layer.append(successor)
                if successor not in following and _matches(successor, constraints[step]):
                    following[successor] = (state, path)
        result.candidates_peak = max(result.candidates_peak, len(following))
        if not following:
            enabled = sorted({model.actions[i].name for s in current for i, _, _ in model.successors(s)})
            message = f"no behaviour of the spec reaches a state matching step {step}"
            if isinstance(action_name, str):
                message += f" ({action_name})"
            return _failure(result, decoder, step, constraints[step], seen_layer, model, enabled, message,
                            constraints[step - 1])
        parents.append(following)
        current = dict.fromkeys(following)
    result.actions_used = _witness_actions(parents)
    return result


class _Successors:
    """The model's successors of a state, remembered: a recording repeats its candidate states for
    many steps (implementation steps that change nothing recorded)."""

    def __init__(self, model: CompiledModel) -> None:
        self.model = model
        self.actions = model.actions
        self.known: dict[State, list[tuple[int, int, State]]] = {}

    def __call__(self, state: State) -> list[tuple[int, int, State]]:
        found = self.known.get(state)
        if found is None:
            found = self.known[state] = list(self.model.successors(state))
        return found


def _steps(successors: _Successors, start: State, hidden: int, named: int | None, picks: dict[str, Any] | None,
           options: ConformOptions) -> list[tuple[State, list[str]]]:
    """States reachable from `start` by up to `hidden` hidden steps and then the recorded step."""
    found: list[tuple[State, list[str]]] = [(start, [])]  # a stuttering step
    frontier: list[tuple[State, list[str]]] = [(start, [])]
    seen = {start}
    for depth in range(hidden + 1):
        next_frontier: list[tuple[State, list[str]]] = []
        for state, path in frontier:
            for index, binding, successor in successors(state):
                action = successors.actions[index]
                last_ok = named is None or index == named
                if last_ok and picks is not None and not _picks_match(action.bindings[binding].labels, picks):
                    last_ok = False
                if last_ok:
                    found.append((successor, [*path, action.name]))
                if depth < hidden and successor not in seen:
                    seen.add(successor)
                    next_frontier.append((successor, [*path, action.name]))
        frontier = next_frontier
        if len(seen) > options.max_candidates:
            raise SpecError(Diagnostic("C002", f"more than {options.max_candidates:,} candidate states within "
                                       f"{hidden} hidden steps: record more variables or lower --max-hidden"))
    return found


def _picks_match(labels: tuple[tuple[str, object], ...], picks: dict[str, Any]) -> bool:
    values = dict(labels)
    for name, value in picks.items():
        if name not in values:
            return False
        expected = values[name]
        if isinstance(value, dict) and "#set" in value:
            value = sorted(value["#set"])
            expected = sorted(expected) if isinstance(expected, list) else expected
        if (NONE_REF if expected is None else expected) != value:
            return False
    return True


def _reach(model: CompiledModel, states: list[State], hidden: int, named: int | None,
           options: ConformOptions) -> list[State]:
    seen = dict.fromkeys(states)
    frontier = list(states)
    for _ in range(hidden):
        next_frontier = []
        for state in frontier:
            for _, _, successor in model.successors(state):
                if successor not in seen:
                    seen[successor] = None
                    next_frontier.append(successor)
        frontier = next_frontier
        if len(seen) > options.max_candidates:
            break
    return list(seen)


def _witness_actions(parents: list[dict[State, tuple[State | None, list[str]]]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    state = next(iter(parents[-1]))
    for layer in reversed(parents[1:]):
        previous, path = layer[state]
        for name in path:
            counts[name] = counts.get(name, 0) + 1
        state = previous  # type: ignore[assignment]
    return counts


def _failure(result: ConformResult, decoder: _Decoder, step: int, constraint: Constraint, reached: list[State],
             model: CompiledModel, enabled: list[str], message: str, previous: Constraint = ()) -> ConformResult:
    """Fill in the report: what this step recorded (what changed), the closest spec states, the enabled actions."""
    result.ok = False
    result.failed_step = step
    result.message = message
    result.enabled = enabled
    before = dict(previous)
    changed = [(p, a) for p, a in constraint if before.get(p) != a] if previous else list(constraint)
    result.recorded = [decoder.show(p, next(iter(a))) if len(a) == 1 else (*decoder.show(p, min(a))[:2], "any of "
                       + ", ".join(decoder.show(p, v)[2] for v in sorted(a))) for p, a in changed]
    ranked = sorted(set(reached), key=lambda s: (len(_mismatches(s, constraint)), s))[:3]
    for state in ranked:
        diffs = []
        for position, allowed in _mismatches(state, constraint):
            label, name, spec_value = decoder.show(position, state[position])
            recorded = " or ".join(decoder.show(position, v)[2] for v in sorted(allowed))
            diffs.append(FieldDiff(label, name, recorded, spec_value))
        result.closest.append(diffs)
    return result
