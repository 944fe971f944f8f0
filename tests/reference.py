"""A deliberately naive reference explorer, for tests only.

It interprets the typed IR (`ir.Spec` + `ir.Model`) directly, following docs/language.md, and
shares nothing with the compiled engine but the IR and its value encoding of scalars. It is
slow and meant to be obviously correct:

- a state is a sorted tuple of (slot key, object) pairs, where a slot key is
  ("api", kind, index) or ("cache", actor, actor instance, kind, index) and an object is
  `Obj(life, finalizers, fields)`: life is "absent" / "live" / "terminating", finalizers a
  frozenset of finalizer indices, fields a tuple of (name, value) in declaration order;
- values: bool 0/1, int itself, enum member index, reference 0 (none) or instance index + 1,
  sets are frozensets of those element codes (not bit masks);
- every expression reads the pre-state; statements are applied in order to a dict copy of it.

Choices where docs/language.md is silent (documented so a mismatch can be judged):
- a write checks, in this order: the object reference is not none (else an evaluation error),
  the object exists / is absent / is live in the post-state so far (else disabled), the
  compare-and-swap against the actor's snapshot in the *pre*-state (else disabled), and only
  then evaluates and range-checks the value (an out-of-range value is an evaluation error);
- the compare-and-swap compares the API object and the snapshot as they were when the action
  started (the actor read its snapshot once, at the start of the step);
- write-through stores, at the end of the step, the post-state API version of every object
  the step *actually* wrote (statements in an `if` branch that was not taken write nothing).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kvolt.checker.frontend import ir

ABSENT, LIVE, TERMINATING = "absent", "live", "terminating"


class EvalError(Exception):
    """The spec evaluated something undefined (a field of none, a value out of range)."""

    def __init__(self, message: str, kind: str = "none") -> None:
        super().__init__(message)
        self.kind = kind  # "none" (a field of none, none in a set) or "range"


class Disabled(Exception):
    """A statement's implicit precondition failed: the action is disabled for this binding."""


class Obj(NamedTuple):
    life: str
    finalizers: frozenset[int]
    fields: tuple[tuple[str, Any], ...]

    def get(self, name: str) -> Any:
        for key, value in self.fields:
            if key == name:
                return value
        raise KeyError(name)

    def set(self, name: str, value: Any) -> Obj:
        assert any(key == name for key, _ in self.fields), name
        return self._replace(fields=tuple((k, value if k == name else v) for k, v in self.fields))


State = tuple[tuple[tuple, Obj], ...]


# ---------------------------------------------------------------- values


def _mask_to_set(mask: int, element: ir.Type) -> frozenset[int]:
    """A set value given in the IR's bit-mask form (defaults, init choices, constants)."""
    offset = 1 if isinstance(element, ir.RefT) else 0
    return frozenset(bit + offset for bit in range(mask.bit_length()) if mask >> bit & 1)


def _from_ir(value: int, type_: ir.Type) -> Any:
    if isinstance(type_, ir.SetT):
        return _mask_to_set(value, type_.element)
    return value


def _domain(spec: ir.Spec, model: ir.Model, type_: ir.Type) -> list[int]:
    if isinstance(type_, ir.RefT):
        return [i + 1 for i in range(len(model.ids(type_.kind)))]
    if isinstance(type_, ir.EnumT):
        return list(range(len(spec.enum(type_.name))))
    if isinstance(type_, ir.BoolT):
        return [0, 1]
    if isinstance(type_, ir.IntT):
        return list(range(type_.low, type_.high + 1))
    raise TypeError(type_)


# ---------------------------------------------------------------- the reference machine


@dataclass
class Reference:
    spec: ir.Spec
    model: ir.Model
    actors: list[ir.Actor] = field(init=False)

    def __post_init__(self) -> None:
        self.actors = [a for a in self.spec.actors if a.name in self.model.actors]

    # -- objects and slots
    def default_obj(self, kind: str) -> Obj:
        k = self.spec.kind(kind)
        return Obj(ABSENT, frozenset(), tuple((f.name, _from_ir(f.default, f.type)) for f in k.state_fields))

    def count(self, kind: str) -> int:
        return len(self.model.ids(kind))

    def instances(self, actor: ir.Actor) -> int:
        return self.count(actor.per) if actor.per else 1

    def cache_keys(self) -> list[tuple[str, int, str]]:
        return [(a.name, i, kind) for a in self.actors for i in range(self.instances(a)) for kind, _ in a.caches]

    # -- initial states
    def initial_states(self) -> list[State]:
        base: dict[tuple, Obj] = {}
        for kind in self.spec.kinds:
            for index in range(self.count(kind.name)):
                base[("api", kind.name, index)] = self.default_obj(kind.name)
        choices: list[tuple[tuple, str, list[Any]]] = []
        for init in self.model.inits:
            key = ("api", init.kind, init.index)
            base[key] = base[key]._replace(life=LIVE)
            kind = self.spec.kind(init.kind)
            for name, values in init.fields:
                if name == "finalizers":
                    decoded = [_mask_to_set(v, ir.FinT(init.kind)) for v in values]
                else:
                    type_ = kind.field(name).type  # type: ignore[union-attr]
                    decoded = [_from_ir(v, type_) for v in values]
                choices.append((key, name, decoded))
        states = []
        for combination in itertools.product(*(values for _, _, values in choices)):
            slots = dict(base)
            for (key, name, _), value in zip(choices, combination, strict=True):
                obj = slots[key]
                slots[key] = obj._replace(finalizers=value) if name == "finalizers" else obj.set(name, value)
            for actor, instance, kind in self.cache_keys():
                for index in range(self.count(kind)):
                    slots[("cache", actor, instance, kind, index)] = slots[("api", kind, index)]
            states.append(_freeze(slots))
        return list(dict.fromkeys(states))

    # -- expressions
    def eval(self, e: ir.Expr, env: dict[str, Any], slots: dict[tuple, Obj], actor: ir.Actor | None) -> Any:
        if isinstance(e, ir.Lit):
            return _from_ir(e.value, e.type)
        if isinstance(e, ir.Var):
            return env[e.name]
        if isinstance(e, ir.FieldRead):
            ref = self.eval(e.obj, env, slots, actor)
            if ref == 0:
                raise EvalError(f"'{e.field}' of none")
            declared = self.spec.kind(e.kind).field(e.field)
            if declared is not None and declared.const:
                return _from_ir(self.model.const_values(e.kind, e.field)[ref - 1], declared.type)
            if e.cache is None:
                obj = slots[("api", e.kind, ref - 1)]
            else:
                owner = self.spec.actor(e.cache)
                instance = env["self"] - 1 if owner.per else 0
                obj = slots[("cache", e.cache, instance, e.kind, ref - 1)]
            if e.field == "exists":
                return int(obj.life != ABSENT)
            if e.field == "deleting":
                return int(obj.life == TERMINATING)
            if e.field == "finalizers":
                return obj.finalizers
            return obj.get(e.field)
        if isinstance(e, ir.Not):
            return int(not self.eval(e.operand, env, slots, actor))
        if isinstance(e, ir.BinOp):
            return self._binop(e, env, slots, actor)
        if isinstance(e, ir.Ite):
            if self.eval(e.cond, env, slots, actor):
                return self.eval(e.then, env, slots, actor)
            return self.eval(e.orelse, env, slots, actor)
        if isinstance(e, ir.Quant):
            values = _domain(self.spec, self.model, e.domain)
            body = (self.eval(e.body, {**env, e.var: v}, slots, actor) for v in values)
            if e.quantifier == "forall":
                return int(all(body))
            if e.quantifier == "exists":
                return int(any(body))
            if e.quantifier == "count":
                return sum(1 for b in body if b)
            if e.quantifier == "sum":
                return sum(body)
            if e.quantifier == "set":
                return frozenset(v for v in values if self.eval(e.body, {**env, e.var: v}, slots, actor))
            raise AssertionError(e.quantifier)
        if isinstance(e, ir.SetLit):
            elements = set()
            for element in e.elements:
                value = self.eval(element, env, slots, actor)
                if isinstance(e.type.element, ir.RefT) and value == 0:
                    raise EvalError("none in a set")
                elements.add(value)
            return frozenset(elements)
        if isinstance(e, ir.Call):
            args = [self.eval(a, env, slots, actor) for a in e.args]
            if e.func == "size":
                return len(args[0])
            if e.func == "min":
                return min(args)
            if e.func == "max":
                return max(args)
            raise AssertionError(e.func)
        raise TypeError(e)

    def _binop(self, e: ir.BinOp, env: dict[str, Any], slots: dict[tuple, Obj], actor: ir.Actor | None) -> Any:
        op = e.op
        left = self.eval(e.left, env, slots, actor)
        if op == "and":
            return int(bool(left) and bool(self.eval(e.right, env, slots, actor)))
        if op == "or":
            return int(bool(left) or bool(self.eval(e.right, env, slots, actor)))
        if op == "implies":
            return int((not left) or bool(self.eval(e.right, env, slots, actor)))
        right = self.eval(e.right, env, slots, actor)
        if op == "in":
            return int(left in right)
        table = {
            "==": lambda a, b: int(a == b), "!=": lambda a, b: int(a != b),
            "<": lambda a, b: int(a < b), "<=": lambda a, b: int(a <= b),
            ">": lambda a, b: int(a > b), ">=": lambda a, b: int(a >= b),
            "+": lambda a, b: a + b, "-": lambda a, b: a - b,
            "union": lambda a, b: a | b, "inter": lambda a, b: a & b, "diff": lambda a, b: a - b,
            "subset": lambda a, b: int(a <= b),
        }
        return table[op](left, right)

    # -- statements
    def _value(self, e: ir.Expr, type_: ir.Type, env: dict[str, Any], pre: dict[tuple, Obj], actor: ir.Actor) -> Any:
        value = self.eval(e, env, pre, actor)
        if isinstance(type_, ir.BoolT):
            return int(bool(value))
        if isinstance(type_, ir.IntT) and not type_.low <= value <= type_.high:
            raise EvalError(f"value {value} outside {type_}", "range")
        return value

    def _cas(self, actor: ir.Actor, kind: str, index: int, env: dict[str, Any], pre: dict[tuple, Obj], patch: bool) -> None:
        if patch:
            return
        cached = actor.cache_of(kind)
        if cached is None:
            return
        instance = env["self"] - 1 if actor.per else 0
        if pre[("api", kind, index)] != pre[("cache", actor.name, instance, kind, index)]:
            raise Disabled("Conflict")

    def _exec(self, stmt: ir.Stmt, env: dict[str, Any], pre: dict[tuple, Obj], post: dict[tuple, Obj],
              actor: ir.Actor, written: list[tuple[str, int]]) -> None:
        if isinstance(stmt, ir.If):
            branch = stmt.then if self.eval(stmt.cond, env, pre, actor) else stmt.orelse
            for inner in branch:
                self._exec(inner, env, pre, post, actor, written)
            return
        ref = self.eval(stmt.obj, env, pre, actor)
        if ref == 0:
            raise EvalError("statement on none")
        kind = stmt.kind
        index = ref - 1
        key = ("api", kind, index)
        obj = post[key]
        if isinstance(stmt, ir.Assign):
            if obj.life == ABSENT:
                raise Disabled("NotFound")
            self._cas(actor, kind, index, env, pre, stmt.patch)
            declared = self.spec.kind(kind).field(stmt.field)
            post[key] = obj.set(stmt.field, self._value(stmt.value, declared.type, env, pre, actor))  # type: ignore[union-attr]
        elif isinstance(stmt, ir.Create):
            if obj.life != ABSENT:
                raise Disabled("AlreadyExists")
            new = self.default_obj(kind)._replace(life=LIVE)
            for name, value in stmt.inits:
                if name == "finalizers":
                    new = new._replace(finalizers=self.eval(value, env, pre, actor))
                else:
                    declared = self.spec.kind(kind).field(name)
                    new = new.set(name, self._value(value, declared.type, env, pre, actor))  # type: ignore[union-attr]
            post[key] = new
        elif isinstance(stmt, ir.Delete):
            if obj.life == ABSENT:
                raise Disabled("NotFound")
            post[key] = obj._replace(life=TERMINATING) if obj.finalizers else self.default_obj(kind)
        elif isinstance(stmt, ir.FinalizerOp):
            if stmt.op == "add":
                if obj.life != LIVE:
                    raise Disabled("Forbidden")
                self._cas(actor, kind, index, env, pre, stmt.patch)
                post[key] = obj._replace(finalizers=obj.finalizers | {stmt.finalizer})
            else:
                if obj.life == ABSENT:
                    raise Disabled("NotFound")
                self._cas(actor, kind, index, env, pre, stmt.patch)
                remaining = obj.finalizers - {stmt.finalizer}
                if obj.life == TERMINATING and not remaining:
                    post[key] = self.default_obj(kind)
                else:
                    post[key] = obj._replace(finalizers=remaining)
        else:
            raise TypeError(stmt)
        written.append((kind, index))

    def bindings(self, action: ir.Action) -> Iterator[dict[str, Any]]:
        domains = [_domain(self.spec, self.model, p.type) for p in action.params]
        for values in itertools.product(*domains):
            yield {p.name: v for p, v in zip(action.params, values, strict=True)}

    def fire(self, actor: ir.Actor, action: ir.Action, env: dict[str, Any], state: State) -> State | None:
        """The successor of `state` under one binding, or None when disabled."""
        pre = dict(state)
        for guard in action.guards:
            if not self.eval(guard, env, pre, actor):
                return None
        post = dict(pre)
        written: list[tuple[str, int]] = []
        try:
            for stmt in action.effects:
                self._exec(stmt, env, pre, post, actor, written)
        except Disabled:
            return None
        instance = env["self"] - 1 if actor.per else 0
        for kind, index in written:
            cached = actor.cache_of(kind)
            if cached is not None and cached[1]:
                post[("cache", actor.name, instance, kind, index)] = post[("api", kind, index)]
        return _freeze(post)

    def successors(self, state: State) -> Iterator[tuple[str, State]]:
        """(label, successor) of every enabled step; raises EvalError on an evaluation error."""
        for actor in self.actors:
            for action in actor.actions:
                for env in self.bindings(action):
                    successor = self.fire(actor, action, env, state)
                    if successor is not None:
                        yield f"{actor.name}.{action.name}", successor
            slots = dict(state)
            for instance in range(self.instances(actor)):
                for kind, _ in actor.caches:
                    for index in range(self.count(kind)):
                        api = slots[("api", kind, index)]
                        key = ("cache", actor.name, instance, kind, index)
                        if slots[key] != api:
                            copy = dict(slots)
                            copy[key] = api
                            yield f"{actor.name}.sync[{kind}]", _freeze(copy)

    def allowed(self, state: State) -> bool:
        slots = dict(state)
        return all(self.eval(c, {}, slots, None) for c in self.model.constraints)

    def violated_in(self, state: State) -> set[str]:
        slots = dict(state)
        return {inv.name for inv in self.spec.invariants
                if inv.name in self.model.checks and not self.eval(inv.expr, {}, slots, None)}


def _freeze(slots: dict[tuple, Obj]) -> State:
    return tuple(sorted(slots.items()))


# ---------------------------------------------------------------- exploration


class TooBig(Exception):
    pass


@dataclass
class Exploration:
    states: set[State]  # every state within `depth` steps (all of them when `complete`)
    violated: set[str]
    errors: int  # how many evaluations raised EvalError
    error_kinds: set[str]  # the kinds of those errors ("none", "range")
    depth: int  # the deepest complete BFS level
    complete: bool
    levels: list[int]  # how many new states each level added


def explore(spec: ir.Spec, model: ir.Model, max_states: int | None = None, max_depth: int | None = None) -> Exploration:
    """Breadth-first search level by level; stops at a level boundary when `max_states` would be
    exceeded (then `states` holds every state within the last complete depth)."""
    ref = Reference(spec, model)
    seen: set[State] = set()
    violated: set[str] = set()
    errors = 0
    error_kinds: set[str] = set()

    def admit(states: Iterable[State]) -> list[State]:
        nonlocal errors
        new = []
        for state in states:
            if state in seen or state in admitted:
                continue
            try:
                ok = ref.allowed(state)
            except EvalError as error:
                errors += 1
                error_kinds.add(error.kind)
                continue
            if not ok:
                continue
            admitted.add(state)
            new.append(state)
        return new

    admitted: set[State] = set()
    frontier = admit(ref.initial_states())
    levels = [len(frontier)]
    depth = 0
    complete = True
    while frontier:
        for state in frontier:
            seen.add(state)
            try:
                violated |= ref.violated_in(state)
            except EvalError as error:
                errors += 1
                error_kinds.add(error.kind)
        if max_depth is not None and depth >= max_depth:
            complete = False
            break
        candidates: list[State] = []
        for state in frontier:
            try:
                candidates.extend(s for _, s in ref.successors(state))
            except EvalError as error:
                errors += 1
                error_kinds.add(error.kind)
        admitted = set()
        nxt = admit(candidates)
        if not nxt:
            break
        if max_states is not None and len(seen) + len(nxt) > max_states:
            complete = False
            break
        frontier = nxt
        depth += 1
        levels.append(len(nxt))
    return Exploration(seen, violated, errors, error_kinds, depth, complete, levels)


def reachable(spec: ir.Spec, model: ir.Model) -> set[State]:
    return explore(spec, model).states


def violated(spec: ir.Spec, model: ir.Model) -> set[str]:
    """Every checked invariant that fails in some reachable state (continue after violation)."""
    return explore(spec, model).violated


# ---------------------------------------------------------------- comparable form


def _value_to_itf(spec: ir.Spec, model: ir.Model, type_: ir.Type, value: Any) -> Any:
    if isinstance(type_, ir.BoolT):
        return bool(value)
    if isinstance(type_, ir.IntT):
        return value
    if isinstance(type_, ir.EnumT):
        return spec.enum(type_.name)[value]
    if isinstance(type_, ir.RefT):
        return model.ids(type_.kind)[value - 1] if value else "none"
    if isinstance(type_, ir.FinT):
        return spec.kind(type_.kind).finalizers[value]
    if isinstance(type_, ir.SetT):
        return {"#set": sorted(_value_to_itf(spec, model, type_.element, v) for v in value)}
    raise TypeError(type_)


def _obj_to_itf(spec: ir.Spec, model: ir.Model, kind: str, obj: Obj) -> dict[str, Any]:
    k = spec.kind(kind)
    record: dict[str, Any] = {
        "exists": obj.life != ABSENT,
        "deleting": obj.life == TERMINATING,
        "finalizers": {"#set": sorted(k.finalizers[i] for i in obj.finalizers)},
    }
    for f in k.state_fields:
        record[f.name] = _value_to_itf(spec, model, f.type, obj.get(f.name))
    return record


def to_itf(spec: ir.Spec, model: ir.Model, state: State) -> dict[str, Any]:
    """The same variables `traces.state_to_itf` gives for a compiled state."""
    slots = dict(state)
    out: dict[str, Any] = {}
    for kind in spec.kinds:
        ids = model.ids(kind.name)
        out[kind.name] = {"#map": [[ids[i], _obj_to_itf(spec, model, kind.name, slots[("api", kind.name, i)])]
                                   for i in range(len(ids))]}
    ref = Reference(spec, model)
    for actor_name, instance, kind in ref.cache_keys():
        actor = spec.actor(actor_name)
        name = f"cache:{actor.name}@{model.ids(actor.per)[instance]}:{kind}" if actor.per else f"cache:{actor.name}:{kind}"
        ids = model.ids(kind)
        out[name] = {"#map": [[ids[i], _obj_to_itf(spec, model, kind, slots[("cache", actor_name, instance, kind, i)])]
                              for i in range(len(ids))]}
    return out


def canonical(itf: dict[str, Any]) -> str:
    """A sorted JSON text of an ITF-like state, with every set sorted: equal states, equal texts."""

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            if "#set" in value:
                return {"#set": sorted((norm(v) for v in value["#set"]), key=lambda v: json.dumps(v, sort_keys=True))}
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return value

    return json.dumps(norm(itf), sort_keys=True)


def canonical_reference_state(spec: ir.Spec, model: ir.Model, state: State) -> str:
    return canonical(to_itf(spec, model, state))


# ---------------------------------------------------------------- symmetry (brute force)


def permute(spec: ir.Spec, model: ir.Model, state: State, perms: dict[str, tuple[int, ...]]) -> State:
    """Rename instances: `perms[K][i]` is the new index of K's instance i (0-based)."""

    def ref(kind: str, value: int) -> int:
        return perms[kind][value - 1] + 1 if value and kind in perms else value

    def value_of(type_: ir.Type, value: Any) -> Any:
        if isinstance(type_, ir.RefT):
            return ref(type_.kind, value)
        if isinstance(type_, ir.SetT) and isinstance(type_.element, ir.RefT):
            return frozenset(ref(type_.element.kind, v) for v in value)
        return value

    def obj_of(kind: str, obj: Obj) -> Obj:
        k = spec.kind(kind)
        return obj._replace(fields=tuple((name, value_of(k.field(name).type, v)) for name, v in obj.fields))  # type: ignore[union-attr]

    def index(kind: str, i: int) -> int:
        return perms[kind][i] if kind in perms else i

    out: dict[tuple, Obj] = {}
    for key, obj in state:
        if key[0] == "api":
            _, kind, i = key
            out[("api", kind, index(kind, i))] = obj_of(kind, obj)
        else:
            _, actor_name, instance, kind, i = key
            per = spec.actor(actor_name).per
            new_instance = perms[per][instance] if per in perms else instance
            out[("cache", actor_name, new_instance, kind, index(kind, i))] = obj_of(kind, obj)
    return _freeze(out)


def orbits(spec: ir.Spec, model: ir.Model, states: Iterable[State], kinds: Iterable[str]) -> int:
    """The number of orbits of `states` under every permutation of the instances of `kinds`."""
    kinds = list(kinds)
    all_perms = [list(itertools.permutations(range(len(model.ids(k))))) for k in kinds]
    representatives = set()
    for state in states:
        images = [permute(spec, model, state, dict(zip(kinds, choice, strict=True)))
                  for choice in itertools.product(*all_perms)]
        representatives.add(min(images, key=lambda s: canonical_reference_state(spec, model, s)))
    return len(representatives)


def constant_symmetries(spec: ir.Spec, model: ir.Model, kinds: Iterable[str]) -> list[dict[str, tuple[int, ...]]]:
    """Every combination of permutations of `kinds` that maps each per-instance constant onto itself
    (checked value by value: the naive definition of the symmetry group), the identity included."""
    kinds = list(dict.fromkeys(kinds))
    all_perms = [list(itertools.permutations(range(len(model.ids(k))))) for k in kinds]
    result = []
    for choice in itertools.product(*all_perms):
        perms = dict(zip(kinds, choice, strict=True))
        if all(_constant_kept(spec, model, perms, kind, name, values) for kind, name, values in model.consts):
            result.append(perms)
    return result


def _constant_kept(spec: ir.Spec, model: ir.Model, perms: dict[str, tuple[int, ...]], kind: str, name: str,
                   values: tuple[int, ...]) -> bool:
    type_ = spec.kind(kind).field(name).type  # type: ignore[union-attr]

    def renamed(value: int) -> int:
        if isinstance(type_, ir.RefT) and type_.kind in perms and value:
            return perms[type_.kind][value - 1] + 1
        if isinstance(type_, ir.SetT) and isinstance(type_.element, ir.RefT) and type_.element.kind in perms:
            table = perms[type_.element.kind]
            return sum(1 << table[bit] for bit in range(value.bit_length()) if value >> bit & 1)
        return value

    image = perms.get(kind, tuple(range(len(values))))
    return all(values[image[i]] == renamed(value) for i, value in enumerate(values))


def orbits_under(spec: ir.Spec, model: ir.Model, states: Iterable[State], group: list[dict[str, tuple[int, ...]]]) -> int:
    """The number of orbits of `states` under the given permutations (a group, the identity included)."""
    representatives = set()
    for state in states:
        images = [permute(spec, model, state, perms) for perms in group]
        representatives.add(min(canonical_reference_state(spec, model, s) for s in images))
    return len(representatives)
