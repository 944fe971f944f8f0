"""Liveness: temporal properties under fairness, against a naive reference, and by hand.

- differential: random specs with temporal properties and fairness (tests/strategies.py); the
  reference liveness checker (tests/reference_liveness.py) and both engines agree on every verdict,
  and every lasso replays on the reference (its steps are transitions, its cycle is fair, the
  property fails on it);
- semantics, each on a small spec written for it: stuttering, weak and strong fairness, fairness per
  binding, finite faults, constraints, symmetry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import reference_liveness as rl
from hypothesis import HealthCheck, given, reject, settings
from strategies import seeded_specs, specs

from kvolt.checker.build import choose_model
from kvolt.checker.compiler import compile_model
from kvolt.checker.engine import ExplorationError, Options
from kvolt.checker.frontend import ir
from kvolt.checker.frontend.diagnostics import SpecError
from kvolt.checker.frontend.loader import load_text
from kvolt.checker.frontend.resolver import resolve
from kvolt.checker.liveness.check import check_properties
from kvolt.checker.liveness.fair import Edges, _refined, fair_components
from kvolt.checker.liveness.graph import StateGraph, scalar_graph, vector_graph
from kvolt.checker.views.traces import state_to_itf

SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def _load(text: str) -> tuple[ir.Spec, ir.Model]:
    spec = resolve(load_text(text, "live.kvolt"))
    return spec, choose_model(spec, None)


def _graph(spec: ir.Spec, model: ir.Model, engine: str) -> StateGraph:
    compiled = compile_model(spec, model)
    return (vector_graph if engine == "vector" else scalar_graph)(compiled, Options())


def _lasso_problems(spec: ir.Spec, model: ir.Model, graph: StateGraph, violation) -> list[str]:
    itf = [state_to_itf(graph.compiled.layout, step.state) for step in violation.trace]
    return rl.validate_lasso(spec, model, itf, violation.trace, violation.loop, spec.property(violation.property),
                             dict(violation.binding))


def _agree(text: str, engine: str) -> None:
    try:
        spec, model = _load(text)
    except SpecError:
        reject()
    if not model.properties:
        reject()
    try:
        reference = rl.build(spec, model, max_states=300)
        expected = rl.check(spec, model, reference)
    except (rl.TooBig, rl.EvalError, RecursionError):
        reject()
    try:
        graph = _graph(spec, model, engine)
    except ExplorationError:
        reject()
    assert graph.count == len(reference.states)
    result = check_properties(graph, model.properties, stop_at_first=False)
    found = {v.property for v in result.violations}
    assert found == {name for name, fails in expected.items() if fails}, text
    for violation in result.violations:
        assert _lasso_problems(spec, model, graph, violation) == [], text


@settings(max_examples=70, deadline=None, suppress_health_check=SUPPRESS)
@given(specs(temporal=True))
def test_random_specs_agree_with_the_reference_vector(text: str) -> None:
    _agree(text, "vector")


@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESS)
@given(seeded_specs(temporal=True))
def test_random_specs_agree_with_the_reference_scalar(text: str) -> None:
    _agree(text, "scalar")


# ---------------------------------------------------------------- semantics, by hand

JOBS = """
kind Job { started: bool  done: bool  tries: 0..3 }
actor user {
  action start(j: Job) { require not j.started  j.started := true }
}
actor worker {
  action finish(j: Job) { require j.started and not j.done  j.done := true }
}
DECLS
model m default { Job = 2 INITS }
"""


def _verdicts(text: str, engine: str = "vector") -> tuple[dict[str, bool], list]:
    spec, model = _load(text)
    graph = _graph(spec, model, engine)
    result = check_properties(graph, model.properties, stop_at_first=False)
    for violation in result.violations:
        assert _lasso_problems(spec, model, graph, violation) == []
    failed = {v.property for v in result.violations}
    return {name: name in failed for name in model.properties}, result.violations


def jobs(decls: str, inits: str = "init job1 init job2") -> str:
    return JOBS.replace("DECLS", decls).replace("INITS", inits)


@pytest.mark.parametrize("engine", ["vector", "scalar"])
def test_a_quiescent_state_stutters_forever(engine: str) -> None:
    """Nothing is enabled once both jobs are done; before that the unfair user may never start one."""
    text = jobs("unfair actor user\nproperty all_done: eventually forall j: Job | j.done\n"
                "property started_done: forall j: Job | j.started ~> j.done")
    verdicts, violations = _verdicts(text, engine)
    assert verdicts == {"all_done": True, "started_done": False}
    (lasso,) = violations
    assert lasso.trace[-1].action == "stutter" and lasso.loop == len(lasso.trace) - 2


def test_only_unfair_actions_enabled_is_a_stuttering_cycle() -> None:
    text = jobs("unfair actor user, worker\nproperty started_done: forall j: Job | j.started ~> j.done",
                "init job1 { started = true }")
    verdicts, violations = _verdicts(text)
    assert verdicts == {"started_done": True}
    assert [s.action for s in violations[0].trace] == ["init", "stutter"]


TOGGLE = """
kind Light { on: bool  seen: bool }
actor flicker { action toggle(l: Light) { l.on := not l.on } }
actor watcher { action look(l: Light) { require l.on and not l.seen  l.seen := true } }
{decl}
property seen: forall l: Light | eventually l.seen
model m default { Light = 1  init light1 }
"""


def test_weak_fairness_allows_an_action_enabled_only_on_and_off_to_starve() -> None:
    verdicts, violations = _verdicts(TOGGLE.replace("{decl}", "weak fair actor watcher"))
    assert verdicts == {"seen": True}
    assert len(violations[0].trace) - 1 - violations[0].loop == 2  # on, off, on, ... forever


def test_strong_fairness_takes_an_action_enabled_infinitely_often() -> None:
    assert _verdicts(TOGGLE.replace("{decl}", "strong fair action watcher.look"))[0] == {"seen": False}


SERVE = """
kind Claim { const busy: bool = false  bound: bool  turn: bool }
actor controller {
  /// one sync action for every claim: a busy claim is only ever re-synced, the others get bound
  action sync(c: Claim) {
    require not c.bound
    if c.busy { c.turn := not c.turn } else { c.bound := true }
  }
}
property bound: forall c: Claim | eventually (c.bound or c.busy)
model m default { Claim = 2  const claim1.busy = true  init claim1  init claim2 }
"""


def test_fairness_is_per_binding_so_a_controller_cannot_starve_one_object() -> None:
    """Under TLA+'s WF over the whole action, `sync(claim1)` forever would excuse never binding claim2."""
    assert _verdicts(SERVE)[0] == {"bound": False}


def test_an_unfair_binding_can_starve() -> None:
    verdicts, violations = _verdicts(SERVE.replace("property bound", "unfair action controller.sync\nproperty bound"))
    assert verdicts == {"bound": True} and dict(violations[0].binding) == {"c": "claim2"}


CRASH = """
kind Node { up: bool = true  ready: bool = true }
actor machine { action crash(n: Node) { require n.up  n.up := false  n.ready := false }
                action boot(n: Node) { require not n.up  n.up := true } }
actor kubelet { action heartbeat(n: Node) { require n.up and not n.ready  n.ready := true } }
{decl}
property ready_again: forall n: Node | not n.ready ~> n.ready
model m default { Node = 1  init node1 }
"""


def test_a_fault_that_repeats_forever_defeats_liveness_unless_finite() -> None:
    assert _verdicts(CRASH.replace("{decl}", "unfair actor machine"))[0] == {"ready_again": True}
    verdicts, _ = _verdicts(CRASH.replace("{decl}", "finite actor machine"))
    assert verdicts == {"ready_again": True}  # the machine may also just stay down: it need not boot
    verdicts, _ = _verdicts(CRASH.replace("{decl}", "finite action machine.crash"))
    assert verdicts == {"ready_again": False}  # it boots (weakly fair) and eventually stops crashing


CONSTRAINED = """
kind Claim { stage: 0..2 }
actor pvc_protection { action advance(c: Claim) { require c.stage < 2  c.stage := c.stage + 1 } }
property finished: forall c: Claim | eventually c.stage == 2
model m default { Claim = 1  init claim1  constraint forall c: Claim | c.stage < 2 }
"""


@pytest.mark.parametrize("engine", ["vector", "scalar"])
def test_a_step_that_leaves_the_constraint_is_still_enabled(engine: str) -> None:
    """The controller's second step leaves the constraint: it is not taken for idle (no spurious lasso)."""
    verdicts, _ = _verdicts(CONSTRAINED, engine)
    assert verdicts == {"finished": False}


SYMMETRIC = """
kind Claim { bound: bool }
actor controller { action bind(c: Claim) { require not c.bound  c.bound := true } }
unfair actor controller
property bound: forall c: Claim | eventually c.bound
model m default { Claim = 2  init claim1  init claim2  symmetric Claim }
"""


def test_symmetry_is_not_applied_to_the_liveness_graph() -> None:
    """Per-binding fairness names instances, which a quotient graph forgets: every state is kept."""
    spec, model = _load(SYMMETRIC)
    assert _graph(spec, model, "vector").count == 4  # not the 3 orbits
    with_symmetry = _verdicts(SYMMETRIC)
    without = _verdicts(SYMMETRIC.replace("symmetric Claim", ""))
    assert with_symmetry[0] == without[0] == {"bound": True}
    assert [s.state for s in with_symmetry[1][0].trace] == [s.state for s in without[1][0].trace]


def test_both_engines_build_the_same_graph() -> None:
    path = Path(__file__).parent.parent / "spec" / "examples" / "stale_pod_cache.kvolt"
    spec = resolve(load_text(path.read_text() + "\nproperty some: eventually true\n", str(path)))
    model = choose_model(spec, None)
    scalar, vector = _graph(spec, model, "scalar"), _graph(spec, model, "vector")
    assert (scalar.count, scalar.edge_count) == (vector.count, vector.edge_count)
    size = scalar.compiled.layout.size
    assert sorted(map(tuple, scalar.rows.tolist())) == sorted(tuple(r[:size]) for r in vector.rows.tolist())


def _labelled_edges(graph: StateGraph) -> list[tuple[tuple[int, ...], int, tuple[int, ...] | None]]:
    """Every transition as (source state, move, target state or None when the constraint discards it)."""
    sources = graph.sources()
    return sorted(((graph.state(int(s)), int(m), graph.state(int(t)) if t >= 0 else None)
                   for s, m, t in zip(sources, graph.moves, graph.targets, strict=True)),
                  key=lambda edge: (edge[0], edge[1], edge[2] or ()))


def _same_graph(text: str) -> None:
    try:
        spec, model = _load(text)
        compiled = compile_model(spec, model)
        scalar = scalar_graph(compiled, Options(max_states=400))
    except (SpecError, ExplorationError):
        reject()
    if scalar.incomplete:
        reject()
    one = vector_graph(compiled, Options(), chunk_rows=5)
    two = vector_graph(compiled, Options(), workers=2, chunk_rows=5)
    for name in ("rows", "indptr", "targets", "moves", "parent", "parent_move", "initial"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    assert one.count == scalar.count and one.depth == scalar.depth
    assert _labelled_edges(one) == _labelled_edges(scalar)
    for index in range(one.count):  # parent links are breadth-first: a shortest prefix, of real steps
        prefix = one.prefix(index)
        assert prefix[-1].state == one.state(index)
        assert len(prefix) == len(scalar.prefix(scalar_index(scalar, one.state(index))))


def scalar_index(graph: StateGraph, state: tuple[int, ...]) -> int:
    return next(i for i in range(graph.count) if graph.state(i) == state)


@settings(max_examples=25, deadline=None, suppress_health_check=SUPPRESS)
@given(seeded_specs(temporal=True))
def test_the_vector_search_records_the_scalar_engines_graph_with_any_workers(text: str) -> None:
    """The default search's edge log (`explore_recorded`), chunked and shared by two workers, keeps
    exactly the transitions the scalar explorer meets, constraint-discarded ones included."""
    _same_graph(text)


def _partition(labels: np.ndarray) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for state, label in enumerate(labels.tolist()):
        if label >= 0:
            groups.setdefault(label, set()).add(state)
    return {frozenset(g) for g in groups.values()}


@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESS)
@given(seeded_specs(temporal=True))
def test_fair_components_found_from_the_whole_graphs_components_match_the_plain_refinement(text: str) -> None:
    """`fair_components` decomposes a region through the whole graph's components computed once (states
    alone judged by `burdened`); the plain refinement of every state of the region must agree."""
    try:
        spec, model = _load(text)
        graph = vector_graph(compile_model(spec, model), Options(max_states=2000))
    except (SpecError, ExplorationError):
        reject()
    edges = Edges.of(graph)
    for region in (np.ones(graph.count, dtype=bool), np.arange(graph.count) % 2 == 0, np.arange(graph.count) % 3 != 1):
        plain = _refined(edges, region.copy(), np.full(graph.count, -1, dtype=np.int64), 0)
        assert _partition(fair_components(edges, region)) == _partition(plain)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_state_limit_leaves_a_consistent_incomplete_graph(workers: int) -> None:
    spec, model = _load(jobs("property all_done: eventually forall j: Job | j.done"))
    compiled = compile_model(spec, model)
    whole = vector_graph(compiled, Options())
    cut = vector_graph(compiled, Options(max_states=whole.count - 2), workers=workers, chunk_rows=2)
    assert whole.incomplete is None and cut.incomplete == f"state limit {whole.count - 2:,} reached"
    assert cut.count == whole.count - 2 == len(cut.rows) and cut.indptr[-1] == len(cut.targets)
    assert cut.targets.max() < cut.count
    assert all(cut.prefix(i)[-1].state == cut.state(i) for i in range(cut.count))
