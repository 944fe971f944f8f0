"""Check temporal properties on a whole state graph and build their lasso counterexamples.

A property `forall x: K | F` is checked once per value of its binders (the quantifier is outside
the temporal formula: one property per claim, per volume, ...); the first value whose instance
fails gives the counterexample. Per shape, with G the goal and T the trigger:

- `always eventually G`: a fair cycle among the reachable states where G is false;
- `eventually G`: a fair cycle among the states reachable from an initial state through states
  where G is false;
- `T ~> G`: a fair cycle among the states reachable, through states where G is false, from a
  reachable state where T holds and G does not.

The lasso's prefix is a shortest path to the cycle; the cycle honours every fairness obligation
(`fair.cycle_in`).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from kvolt.checker.compiler import CompiledModel, SpecRuntimeError, compile_predicate, decode_value
from kvolt.checker.engine import ExplorationError, Step, Violation
from kvolt.checker.explicit.vector import SuspectRows, _Rows, compile_predicate_vector
from kvolt.checker.frontend import ir
from kvolt.checker.liveness.fair import Edges, Lasso, bfs, cycle_in, fair_components
from kvolt.checker.liveness.graph import StateGraph

_CHUNK = 1 << 18  # rows per predicate evaluation (only the columns read are made int64)


@dataclass(frozen=True)
class Instance:
    """One temporal property with its `forall` binders fixed."""

    property: ir.Property
    env: tuple[tuple[str, int], ...]
    labels: tuple[tuple[str, object], ...]

    @property
    def title(self) -> str:
        if not self.labels:
            return self.property.name
        return f"{self.property.name} [{', '.join(f'{n} = {v}' for n, v in self.labels)}]"


@dataclass
class LivenessResult:
    violations: list[Violation] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # property names, in the model's order
    instances: int = 0
    seconds: float = 0.0


def instances(compiled: CompiledModel, prop: ir.Property) -> list[Instance]:
    spec, model = compiled.spec, compiled.model
    domains = [list(ir.domain_values(spec, model, domain)) for _, domain in prop.binders]
    result = []
    for values in itertools.product(*domains):
        env = tuple((name, value) for (name, _), value in zip(prop.binders, values, strict=True))
        labels = tuple((name, decode_value(spec, model, domain, value))
                       for (name, domain), value in zip(prop.binders, values, strict=True))
        result.append(Instance(prop, env, labels))
    return result


def check_properties(graph: StateGraph, names: tuple[str, ...], stop_at_first: bool = True) -> LivenessResult:
    """Check each named property on the whole graph (which must be complete)."""
    started = time.monotonic()
    compiled = graph.compiled
    edges = Edges.of(graph)
    result = LivenessResult()
    every = [instance for name in names for instance in instances(compiled, compiled.spec.property(name))]
    formulas = [(instance, part) for instance in every for part in ("trigger", "goal")
                if getattr(instance.property, part) is not None]
    values = evaluate_many(graph, [(getattr(i.property, part), dict(i.env), f"property {i.property.name}")
                                   for i, part in formulas])
    table = {(id(i), part): value for (i, part), value in zip(formulas, values, strict=True)}
    for name in names:
        prop = compiled.spec.property(name)
        result.checked.append(name)
        for instance in (i for i in every if i.property is prop):
            result.instances += 1
            trigger = table.get((id(instance), "trigger"))
            lasso = find_lasso(edges, instance, table[(id(instance), "goal")], trigger)
            if lasso is not None:
                result.violations.append(_violation(graph, instance, lasso))
                break
        if result.violations and stop_at_first:
            break
    result.seconds = time.monotonic() - started
    return result


def find_lasso(edges: Edges, instance: Instance, goal: np.ndarray, trigger: np.ndarray | None) -> Lasso | None:
    """A fair lasso on which the instance fails, or None when it holds (`goal`, `trigger`: per state)."""
    graph = edges.graph
    prop = instance.property
    bad = ~goal
    everywhere = np.ones(graph.count, dtype=bool)
    if prop.shape == "always_eventually":
        sources, allowed = np.zeros(graph.count, dtype=bool), everywhere
        sources[graph.initial] = True
        distance, predecessor, via = bfs(graph, sources, allowed)
        region = bad & (distance >= 0)
    else:
        if prop.shape == "eventually":
            sources = np.zeros(graph.count, dtype=bool)
            sources[graph.initial] = True
        else:
            assert trigger is not None
            sources = trigger.copy()
        sources &= bad
        distance, predecessor, via = bfs(graph, sources, bad)
        region = distance >= 0
    if not region.any():
        return None
    fair = fair_components(edges, region)
    reached = np.flatnonzero((fair >= 0) & (distance >= 0))
    if not len(reached):
        return None
    entry = int(reached[np.argmin(distance[reached])])
    members = np.flatnonzero(fair == fair[entry])
    route = _back(entry, predecessor, via)  # from a source of the search to the entry
    start = route[0][1]
    if prop.shape == "always_eventually" or prop.shape == "eventually":
        head_states, head_moves = [start], []
    else:  # a shortest behaviour to the trigger state, then the route through states where G is false
        chain = [start]
        while graph.parent[chain[-1]] >= 0:
            chain.append(int(graph.parent[chain[-1]]))
        chain.reverse()
        head_states = chain
        head_moves = [int(graph.parent_move[node]) for node in chain[1:]]
    for move, state in route[1:]:
        head_moves.append(move)
        head_states.append(state)
    cycle_states, cycle_moves = cycle_in(edges, members, entry)
    loop = len(head_states) - 1
    return Lasso(tuple(head_states + cycle_states), tuple(head_moves + cycle_moves), loop)


def _back(entry: int, predecessor: np.ndarray, via: np.ndarray) -> list[tuple[int, int]]:
    """(move, state) pairs from the search's source to `entry`; the first has no move (-1)."""
    route = [(-1, entry)]
    while predecessor[route[-1][1]] >= 0:
        state = route[-1][1]
        route[-1] = (int(via[state]), state)
        route.append((-1, int(predecessor[state])))
    return route[::-1]


def evaluate(graph: StateGraph, expr: ir.Expr, env: dict[str, int], where: str) -> np.ndarray:
    """A state formula on every state of the graph (vectorised, chunk by chunk); exact errors with a trace."""
    return evaluate_many(graph, [(expr, env, where)])[0]


def evaluate_many(graph: StateGraph, formulas: list[tuple[ir.Expr, dict[str, int], str]]) -> list[np.ndarray]:
    """Several state formulas on every state, each chunk's columns made once for all of them."""
    compiled = graph.compiled
    predicates = [compile_predicate_vector(compiled, expr, env) for expr, env, _ in formulas]
    width = compiled.layout.size
    values = [np.zeros(graph.count, dtype=bool) for _ in formulas]
    for start in range(0, graph.count, _CHUNK):
        rows = graph.rows[start:start + _CHUNK]
        columns = _Columns(rows, width)  # only the columns the formulas read, each made once
        for (expr, env, where), predicate, value in zip(formulas, predicates, values, strict=True):
            try:
                value[start:start + len(rows)] = predicate(columns)
            except SuspectRows:
                _raise_exact(graph, expr, env, where, start, len(rows))
    return values


class _Columns(_Rows):
    """A chunk of compact rows as predicates read them: each column made int64 when first read, once
    for every formula (a formula reads a few of a state's columns)."""

    def __init__(self, rows: np.ndarray, width: int) -> None:
        self.rows, self.width = rows, width
        self.columns: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: object) -> np.ndarray:
        if isinstance(key, tuple):  # (slice(None), column)
            column = int(key[1])
            got = self.columns.get(column)
            if got is None:
                got = self.columns[column] = self.rows[:, column].astype(np.int64)
            return got
        return self.rows[key, :self.width].astype(np.int64)  # whole rows (suspect ones, per-row offsets)

    def full(self) -> np.ndarray:
        return self.rows[:, :self.width].astype(np.int64)


def _raise_exact(graph: StateGraph, expr: ir.Expr, env: dict[str, int], where: str, start: int, count: int) -> None:
    exact = compile_predicate(graph.compiled, expr, env)
    for index in range(start, start + count):
        try:
            exact(graph.state(index))
        except SpecRuntimeError as error:
            raise ExplorationError(error.message, error.span, where, tuple(graph.prefix(index))) from None
    raise AssertionError("the vector engine flagged a state the scalar engine accepts")


def lasso_steps(graph: StateGraph, lasso: Lasso) -> tuple[Step, ...]:
    steps = [Step("init", (), graph.state(lasso.states[0]))]
    for move, state in zip(lasso.moves, lasso.states[1:], strict=True):
        steps.append(Step("stutter", (), graph.state(state)) if move < 0 else graph.step(move, state))
    return tuple(steps)


def _violation(graph: StateGraph, instance: Instance, lasso: Lasso) -> Violation:
    prop = instance.property
    return Violation(prop.name, prop.doc, lasso_steps(graph, lasso), lasso.loop, instance.labels)
