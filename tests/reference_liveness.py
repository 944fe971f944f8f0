"""A deliberately naive reference liveness checker, for tests only.

It shares nothing with `kvolt.checker.liveness` but the IR: states and successors come from the
naive reference explorer (`reference.py`, which interprets the IR), the graph is a dict of Python
sets, components come from a plain recursive Tarjan, and fairness follows docs/language.md word
for word:

- a behaviour is a lasso; every state has a stuttering self-loop (a state may repeat forever);
- fairness is per action binding (the action name and its parameter values); weak: not enabled
  in every state of the cycle without being taken on it; strong: not enabled in some state of the
  cycle without being taken on it; unfair: nothing; finite: never taken on the cycle;
- a step whose successor fails the model's constraint is still enabled (it leads nowhere);
- a property instance fails iff some fair cycle, in the region its shape allows, is reachable.

`check` gives the verdict per property; `validate_lasso` checks a lasso of the real engine on
the reference: its steps are transitions, its cycle is fair, and the property fails on it.
"""

from __future__ import annotations

import itertools
import sys
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reference import EvalError, Reference, State, canonical, canonical_reference_state

from kvolt.checker.engine import Step
from kvolt.checker.frontend import ir

Move = tuple[str, tuple[Any, ...]]  # (action name, parameter values in the reference's encoding)


@dataclass
class Graph:
    ref: Reference
    initial: list[State]
    states: list[State]
    out: dict[State, list[tuple[Move, State | None]]] = field(default_factory=dict)  # None: fails the constraint

    def enabled(self, state: State) -> set[Move]:
        return {move for move, _ in self.out[state]}


class TooBig(Exception):
    pass


def level_of(spec: ir.Spec, action: str) -> str:
    actor, _, name = action.partition(".")
    return spec.fairness_of(actor, None if name.startswith("sync[") else name)


def moves_from(ref: Reference, state: State) -> list[tuple[Move, State | None]]:
    """Every enabled binding of every action (and cache sync), with its successor."""
    result: list[tuple[Move, State | None]] = []
    slots = dict(state)
    for actor in ref.actors:
        for action in actor.actions:
            for env in ref.bindings(action):
                successor = ref.fire(actor, action, env, state)
                if successor is not None:
                    values = tuple(env[p.name] for p in action.params)
                    result.append(((action.qualified_name, values), successor))
        for instance in range(ref.instances(actor)):
            for kind, _ in actor.caches:
                for index in range(ref.count(kind)):
                    key = ("cache", actor.name, instance, kind, index)
                    if slots[key] != slots[("api", kind, index)]:
                        copy = dict(slots)
                        copy[key] = slots[("api", kind, index)]
                        values = (instance + 1, index + 1) if actor.per else (index + 1,)
                        result.append(((f"{actor.name}.sync[{kind}]", values), tuple(sorted(copy.items()))))
    return [(move, successor if successor is None or ref.allowed(successor) else None) for move, successor in result]


def build(spec: ir.Spec, model: ir.Model, max_states: int = 400) -> Graph:
    ref = Reference(spec, model)
    initial = [s for s in ref.initial_states() if ref.allowed(s)]
    graph = Graph(ref, initial, [])
    queue = deque(dict.fromkeys(initial))
    seen = set(queue)
    while queue:
        state = queue.popleft()
        graph.states.append(state)
        if len(graph.states) > max_states:
            raise TooBig()
        graph.out[state] = moves_from(ref, state)
        for _, successor in graph.out[state]:
            if successor is not None and successor not in seen:
                seen.add(successor)
                queue.append(successor)
    return graph


def _components(graph: Graph, nodes: set[State], spec: ir.Spec) -> list[set[State]]:
    """Tarjan's strongly connected components of the graph restricted to `nodes` (no finite moves)."""
    index: dict[State, int] = {}
    low: dict[State, int] = {}
    stack: list[State] = []
    on_stack: set[State] = set()
    result: list[set[State]] = []
    counter = itertools.count()

    def visit(node: State) -> None:
        index[node] = low[node] = next(counter)
        stack.append(node)
        on_stack.add(node)
        for move, target in graph.out[node]:
            if target is None or target not in nodes or level_of(spec, move[0]) == "finite":
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            result.append(component)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(nodes) + 100))
    try:
        for node in nodes:
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return result


def _taken_inside(graph: Graph, component: set[State], spec: ir.Spec) -> set[Move]:
    return {move for state in component for move, target in graph.out[state]
            if target in component and level_of(spec, move[0]) != "finite"}


def has_fair_cycle(graph: Graph, nodes: set[State], spec: ir.Spec) -> bool:
    """Whether some cycle inside `nodes` (stuttering included) is fair."""
    return any(_fair_inside(graph, component, spec) for component in _components(graph, nodes, spec))


def _fair_inside(graph: Graph, component: set[State], spec: ir.Spec) -> bool:
    taken = _taken_inside(graph, component, spec)
    enabled_somewhere = set().union(*(graph.enabled(s) for s in component))
    enabled_everywhere = set.intersection(*(graph.enabled(s) for s in component))
    for move in enabled_everywhere:
        if level_of(spec, move[0]) == "weak" and move not in taken:
            return False
    bad_strong = {m for m in enabled_somewhere if level_of(spec, m[0]) == "strong" and m not in taken}
    if not bad_strong:
        return True
    rest = {s for s in component if not (graph.enabled(s) & bad_strong)}
    return bool(rest) and has_fair_cycle(graph, rest, spec)


def _instances(spec: ir.Spec, model: ir.Model, prop: ir.Property) -> list[dict[str, Any]]:
    domains = [list(ir.domain_values(spec, model, t)) for _, t in prop.binders]
    return [dict(zip([n for n, _ in prop.binders], values, strict=True)) for values in itertools.product(*domains)]


def _holds(graph: Graph, expr: ir.Expr, env: dict[str, Any], state: State) -> bool:
    return bool(graph.ref.eval(expr, env, dict(state), None))


def _reach(graph: Graph, sources: Iterable[State], allowed: set[State]) -> set[State]:
    seen = {s for s in sources if s in allowed}
    queue = deque(seen)
    while queue:
        state = queue.popleft()
        for _, target in graph.out[state]:
            if target is not None and target in allowed and target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def instance_fails(graph: Graph, spec: ir.Spec, prop: ir.Property, env: dict[str, Any]) -> bool:
    bad = {s for s in graph.states if not _holds(graph, prop.goal, env, s)}
    if prop.shape == "always_eventually":
        region = bad
    elif prop.shape == "eventually":
        region = _reach(graph, graph.initial, bad)
    else:
        assert prop.trigger is not None
        triggers = [s for s in bad if _holds(graph, prop.trigger, env, s)]
        region = _reach(graph, triggers, bad)
    return has_fair_cycle(graph, region, spec)


def check(spec: ir.Spec, model: ir.Model, graph: Graph) -> dict[str, bool]:
    """property name -> whether it fails (some instance has a fair violating lasso)."""
    return {name: any(instance_fails(graph, spec, spec.property(name), env)
                      for env in _instances(spec, model, spec.property(name)))
            for name in model.properties}


# ---------------------------------------------------------------- replaying the engine's lassos


def _encoded(spec: ir.Spec, model: ir.Model, type_: ir.Type, value: Any) -> Any:
    if isinstance(type_, ir.RefT):
        return model.ids(type_.kind).index(value) + 1 if value is not None else 0
    if isinstance(type_, ir.EnumT):
        return spec.enum(type_.name).index(value)
    if isinstance(type_, ir.BoolT):
        return int(value)
    return value


def _move_of(spec: ir.Spec, model: ir.Model, step: Step) -> Move:
    actor_name, _, name = step.action.partition(".")
    actor = spec.actor(actor_name)
    labels = dict(step.params)
    if name.startswith("sync["):
        kind = name[5:-1]
        index = model.ids(kind).index(labels["obj"]) + 1
        return (step.action, (model.ids(actor.per).index(labels["self"]) + 1, index) if actor.per else (index,))
    action = next(a for a in actor.actions if a.name == name)
    return (step.action, tuple(_encoded(spec, model, p.type, labels[p.name]) for p in action.params))


def validate_lasso(spec: ir.Spec, model: ir.Model, compiled_itf: list[dict[str, Any]], steps: tuple[Step, ...],
                   loop: int, prop: ir.Property, binding: dict[str, Any]) -> list[str]:
    """Problems with a lasso of the engine (empty when it is valid), replayed on the reference alone
    (no whole graph needed): each step is a transition of the spec from an initial state, the cycle
    is fair, and the property fails on it. `compiled_itf`: each step's state as `state_to_itf` gives it."""
    ref = Reference(spec, model)
    texts = [canonical(itf) for itf in compiled_itf]
    start = [s for s in ref.initial_states() if ref.allowed(s) and canonical_reference_state(spec, model, s) == texts[0]]
    if not start:
        return ["the lasso does not start in an initial state of the reference"]
    states: list[State] = [start[0]]
    moves: list[Move | None] = []
    out: dict[State, list[tuple[Move, State | None]]] = {}

    def moves_of(state: State) -> list[tuple[Move, State | None]]:
        if state not in out:
            out[state] = moves_from(ref, state)
        return out[state]

    for position, step in enumerate(steps[1:], 1):
        before = states[-1]
        if step.action == "stutter":
            if texts[position] != texts[position - 1]:
                return [f"step {position} stutters but changes the state"]
            moves.append(None)
            states.append(before)
            continue
        move = _move_of(spec, model, step)
        after = next((t for m, t in moves_of(before)
                      if m == move and t is not None and canonical_reference_state(spec, model, t) == texts[position]), None)
        if after is None:
            return [f"step {position} ({step.action}) is not a transition of the spec"]
        moves.append(move)
        states.append(after)
    problems: list[str] = []
    if states[-1] != states[loop]:
        problems.append("the last state is not the state the cycle starts at")
    cycle_states = states[loop:-1] or [states[loop]]
    cycle_moves = {m for m in moves[loop:] if m is not None}
    enabled = [{m for m, _ in moves_of(s)} for s in cycle_states]
    for move in set().union(*enabled):
        level = level_of(spec, move[0])
        if level == "weak" and all(move in e for e in enabled) and move not in cycle_moves:
            problems.append(f"the cycle is unfair to {move} (weakly fair, always enabled, never taken)")
        if level == "strong" and move not in cycle_moves:
            problems.append(f"the cycle is unfair to {move} (strongly fair, enabled, never taken)")
    for move in cycle_moves:
        if level_of(spec, move[0]) == "finite":
            problems.append(f"the cycle takes {move}, which happens only finitely often")
    env = {name: _encoded(spec, model, dict(prop.binders)[name], value) for name, value in binding.items()}
    goal = [bool(ref.eval(prop.goal, env, dict(s), None)) for s in states]
    if prop.shape == "eventually":
        fails = not any(goal)
    elif prop.shape == "always_eventually":
        fails = not any(goal[loop:])
    else:
        assert prop.trigger is not None
        trigger = [bool(ref.eval(prop.trigger, env, dict(s), None)) for s in states]
        fails = any(trigger[i] and not any(goal[min(i, loop):]) for i in range(len(states)))
    if not fails:
        problems.append("the property holds on this lasso")
    return problems


__all__ = ["EvalError", "Graph", "TooBig", "build", "check", "validate_lasso"]
