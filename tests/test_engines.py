"""The vectorised engine against the scalar one, and symmetry against brute-force orbits.

Both engines must agree exactly: distinct states, depth, verdict, how often each action fired,
and the set of violated properties with their (shortest) trace lengths.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from kvolt.checker.build import build
from kvolt.checker.compiler import compile_model, permute_state
from kvolt.checker.engine import ExplorationError, Options
from kvolt.checker.explicit import fingerprint, vector_search
from kvolt.checker.explicit.explorer import explore
from kvolt.checker.explicit.fingerprint import Fingerprints, storage_dtype
from kvolt.checker.explicit.partition import Visited
from kvolt.checker.explicit.vector import Sink, compile_vector
from kvolt.checker.explicit.vector_search import explore_vector
from kvolt.checker.frontend.loader import load_text
from kvolt.checker.frontend.resolver import resolve

SPEC = Path(__file__).parent.parent / "spec"
EXAMPLES = SPEC / "examples"


def _models() -> list[tuple[Path, str]]:
    cases = []
    for path in sorted(EXAMPLES.glob("*.kvolt")):
        spec = build(path).spec
        cases += [(path, model.name) for model in spec.models]
    return cases


def _summary(result) -> tuple:
    return (result.verdict, result.distinct_states, result.depth, result.actions_fired,
            sorted((v.property, v.length) for v in result.violations))


@pytest.mark.parametrize("symmetry", [True, False], ids=["symmetry", "no-symmetry"])
@pytest.mark.parametrize(("path", "model"), _models(), ids=lambda x: x.name if isinstance(x, Path) else x)
def test_vector_engine_matches_scalar(path: Path, model: str, symmetry: bool) -> None:
    compiled = build(path, model).compiled
    options = Options(symmetry=symmetry, stop_at_first=False)
    scalar = explore(compiled, options)
    vector, stats = explore_vector(compiled, options)
    assert _summary(vector) == _summary(scalar)
    assert stats.visited_bytes_per_state <= 16


@pytest.mark.parametrize(("path", "model"), _models(), ids=lambda x: x.name if isinstance(x, Path) else x)
def test_exact_mode_matches_fingerprints(path: Path, model: str) -> None:
    compiled = build(path, model).compiled
    options = Options(symmetry=False, stop_at_first=False)
    fingerprinted, _ = explore_vector(compiled, options)
    exact, stats = explore_vector(compiled, options, exact=True)
    assert _summary(exact) == _summary(fingerprinted)
    assert stats.exact and stats.collision_probability == 0.0


def test_first_violation_is_shortest_in_both_engines() -> None:
    compiled = build(EXAMPLES / "stale_pod_cache.kvolt").compiled
    scalar = explore(compiled, Options())
    vector, _ = explore_vector(compiled, Options())
    assert [v.length for v in scalar.violations] == [v.length for v in vector.violations] == [7]
    for violation in vector.violations:
        assert not compiled.invariants[0].holds(violation.trace[-1].state)


def test_small_chunks_give_the_same_answer() -> None:
    compiled = build(EXAMPLES / "protection.kvolt", "two_pods").compiled
    whole, _ = explore_vector(compiled, Options(stop_at_first=False))
    chunked, _ = explore_vector(compiled, Options(stop_at_first=False), chunk_rows=7)
    assert _summary(chunked) == _summary(whole)


TWO_SYMMETRIC_KINDS = """
kind Node { ready: bool }
kind Pod {
  node: Node
  running: bool
}
actor scheduler {
  action place(p: Pod, n: Node) {
    require p.node == none and n.ready
    p.node := n
  }
  action evict(p: Pod) {
    require p.node != none and not p.running
    p.node := none
  }
}
actor kubelet per Node {
  cache Pod
  action start(p: Pod) {
    require p.node == self and not p.running
    p.running := true
  }
  action stop(p: Pod) {
    require p.running and p.node == self
    patch p.running := false
  }
  action flap() {
    self.ready := not self.ready
  }
}
invariant placed_when_running: forall p: Pod | p.running implies p.node != none
model m {
  Node = 2
  Pod = 2
  init node1 { ready = one of {true, false} }
  init node2
  init pod1
  init pod2
  symmetric Node, Pod
}
"""


def test_symmetry_counts_exactly_the_orbits() -> None:
    spec = resolve(load_text(TWO_SYMMETRIC_KINDS, "two_symmetric_kinds.kvolt"))
    compiled = compile_model(spec, spec.models[0])
    concrete = _reachable(compiled)
    layout = compiled.layout
    perms = [dict(zip(("Node", "Pod"), choice, strict=True))
             for choice in itertools.product(itertools.permutations(range(2)), repeat=2)]
    orbits = {min(permute_state(layout, s, p) for p in perms) for s in concrete}
    scalar = explore(compiled, Options(symmetry=True, stop_at_first=False))
    vector, _ = explore_vector(compiled, Options(symmetry=True, stop_at_first=False))
    unreduced = explore(compiled, Options(symmetry=False, stop_at_first=False))
    assert unreduced.distinct_states == len(concrete)
    assert scalar.distinct_states == vector.distinct_states == len(orbits) < len(concrete)
    assert scalar.verdict == vector.verdict == unreduced.verdict


def _reachable(compiled) -> set[tuple[int, ...]]:
    seen = set(compiled.initial_states)
    frontier = list(seen)
    while frontier:
        state = frontier.pop()
        for _, _, successor in compiled.successors(state):
            if successor not in seen:
                seen.add(successor)
                frontier.append(successor)
    return seen


@pytest.mark.parametrize(("path", "model"), [(EXAMPLES / "protection.kvolt", "two_pods"),
                                             (EXAMPLES / "stale_pod_cache.kvolt", "small")], ids=["ok", "violation"])
def test_two_workers_give_identical_results(path: Path, model: str) -> None:
    compiled = build(path, model).compiled
    one, _ = explore_vector(compiled, Options(), chunk_rows=64)
    two, _ = explore_vector(compiled, Options(), chunk_rows=64, workers=2)
    assert _summary(two) == _summary(one)
    assert [v.trace for v in two.violations] == [v.trace for v in one.violations]
    for violation in two.violations:  # a shortest counterexample that replays to the violation
        assert violation.length == 7
        assert not next(i for i in compiled.invariants if i.name == violation.property).holds(violation.trace[-1].state)


@pytest.mark.parametrize(("path", "violated"), [(SPEC / "volume_lifecycle.kvolt", []),
                                                (SPEC / "mutations" / "s06_detach_without_in_use_check.kvolt",
                                                 ["no_detach_while_mounted"])], ids=["ok", "violation"])
def test_workers_canonicalise_by_raw_key_with_identical_results(path: Path, violated: list[str]) -> None:
    """Under a large symmetry group (the orbit hash), candidates go to their raw key's owner to be
    canonicalised first (a third exchange per chunk); small chunks make levels of many chunks."""
    compiled = build(path, "attach").compiled
    layout = compiled.layout
    assert Fingerprints(compile_vector(compiled), layout.size, storage_dtype(layout), True).orbit is not None
    one, one_links = _search_with_links(compiled, workers=1)
    assert [v.property for v in one.violations] == violated
    for workers in (2, 3):
        many, many_links = _search_with_links(compiled, workers)
        assert (_summary(many), many.generated_states) == (_summary(one), one.generated_states)
        assert [v.trace for v in many.violations] == [v.trace for v in one.violations]
        assert all((a == b).all() for a, b in zip(many_links, one_links, strict=True))  # every state's parent and move
    for limit in (Options(max_states=5000), Options(max_depth=8)):  # the dry run at a depth limit takes the third exchange too
        one, _ = explore_vector(compiled, limit, chunk_rows=512)
        two, _ = explore_vector(compiled, limit, chunk_rows=512, workers=2)
        assert (_summary(two), two.generated_states, two.incomplete_reason) == \
            (_summary(one), one.generated_states, one.incomplete_reason)


def _search_with_links(compiled, workers: int) -> tuple:
    """A search's result and its parent links and moves, state by state in discovery order."""
    search = vector_search._Search(compiled, Options(stop_at_first=False), exact=False, chunk_rows=512, workers=workers)
    result, _ = search.run()
    return result, (np.concatenate(search.parents), np.concatenate(search.moves))


CONST_BOOL_THROUGH_REFERENCE = """
kind Cls { const flag: bool = false }
kind Obj { cls: Cls  done: bool }
actor a {
  action go(o: Obj) {
    require o.exists and o.cls != none
    require o.cls.flag
    o.done := true
  }
}
invariant never_done: forall o: Obj | not o.done
model m {
  Cls = 2
  Obj = 1
  const cls2.flag = true
  init cls1
  init cls2
  init obj1 { cls = one of {cls1, cls2} }
}
"""


def test_boolean_constant_read_through_a_reference_is_a_mask() -> None:
    """Regression (notes/spec-blockers.md #1): the vector engine used the constant table's ints as an index."""
    spec = resolve(load_text(CONST_BOOL_THROUGH_REFERENCE, "const_bool.kvolt"))
    compiled = compile_model(spec, spec.models[0])
    scalar = explore(compiled, Options(stop_at_first=False))
    vector, _ = explore_vector(compiled, Options(stop_at_first=False))
    assert _summary(vector) == _summary(scalar)
    assert [v.property for v in vector.violations] == ["never_done"]


@pytest.mark.parametrize(("path", "model"), [(EXAMPLES / "protection.kvolt", "two_pods"),
                                             (EXAMPLES / "stale_pod_cache.kvolt", "small")], ids=["ok", "violation"])
def test_workers_give_identical_results_under_every_limit(path: Path, model: str) -> None:
    """States are shared among workers by fingerprint; limits and violations still fall at the same state."""
    compiled = build(path, model).compiled
    for options in (Options(), Options(stop_at_first=False), Options(max_states=500), Options(max_depth=4),
                    Options(stop_at_first=False, max_depth=6)):
        one, one_stats = explore_vector(compiled, options, chunk_rows=40)
        for workers in (2, 3):
            many, many_stats = explore_vector(compiled, options, chunk_rows=40, workers=workers)
            assert (_summary(many), many.generated_states, many.incomplete_reason) == \
                (_summary(one), one.generated_states, one.incomplete_reason)
            assert [v.trace for v in many.violations] == [v.trace for v in one.violations]
            assert many_stats.visited_bytes_per_state == one_stats.visited_bytes_per_state


RUNTIME_ERRORS = {
    "action": """
kind K { r: K  n: 0..3 }
actor u {
  action step(k: K) { require k.n < 3  k.n := k.n + 1 }
  action follow(k: K) { require k.n == 2  k.n := k.r.n }
}
model m { K = 2 init k1 init k2 }
""",
    "invariant": """
kind K { r: K  n: 0..3 }
actor u { action step(k: K) { require k.n < 3  k.n := k.n + 1 } }
invariant followed: forall k: K | k.n < 2 or k.r.n == 0
model m { K = 2 init k1 init k2 }
""",
    "constraint": """
kind K { r: K  n: 0..3  b: bool }
actor u { action step(k: K) { require k.n < 3  k.n := k.n + 1 } }
model m { K = 2 init k1 init k2 constraint forall k: K | k.n < 2 or k.r.b }
""",
}


@pytest.mark.parametrize("where", sorted(RUNTIME_ERRORS))
def test_a_runtime_error_is_reported_alike_by_one_and_two_workers(where: str) -> None:
    """A spec error found in some worker's share is re-evaluated exactly: same message, place and trace."""
    spec = resolve(load_text(RUNTIME_ERRORS[where], f"{where}.kvolt"))
    compiled = compile_model(spec, spec.models[0])
    reports = []
    for workers in (1, 2):
        with pytest.raises(ExplorationError) as caught:
            explore_vector(compiled, Options(stop_at_first=False), chunk_rows=2, workers=workers)
        reports.append((caught.value.message, caught.value.action, caught.value.span, caught.value.trace))
    assert reports[0] == reports[1]
    assert len(reports[0][3]) >= 2  # found past the initial states, with the trace that leads there


def test_exact_search_on_two_workers_gives_identical_results() -> None:
    compiled = build(EXAMPLES / "stale_pod_cache.kvolt", "small").compiled
    options = Options(stop_at_first=False)
    one, _ = explore_vector(compiled, options, exact=True, chunk_rows=40)
    two, stats = explore_vector(compiled, options, exact=True, chunk_rows=40, workers=2)
    assert stats.exact and stats.collision_probability == 0.0
    assert (_summary(two), two.generated_states) == (_summary(one), one.generated_states)
    assert [v.trace for v in two.violations] == [v.trace for v in one.violations]


def test_an_empty_run_leaves_the_visited_set_usable() -> None:
    """Regression: a chunk whose candidates were all canonicalised before added an empty run, which broke lookups."""
    visited = Visited()
    visited.add(np.zeros(0, dtype=np.uint64))
    visited.add(np.array([3, 1], dtype=np.uint64))
    assert visited.contains(np.array([1, 2, 3], dtype=np.uint64)).tolist() == [True, False, True]
    assert visited.count == 2


def test_orbit_hash_agrees_with_hashing_every_permutation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The decomposed orbit fingerprint (used for groups of 4 or more) reduces exactly as the permuted rows do."""
    spec = resolve(load_text(TWO_SYMMETRIC_KINDS, "two_symmetric_kinds.kvolt"))
    compiled = compile_model(spec, spec.models[0])
    options = Options(symmetry=True, stop_at_first=False)
    decomposed, _ = explore_vector(compiled, options)
    monkeypatch.setattr(fingerprint, "_ORBIT_MIN_GROUP", 1 << 30)
    permuted, _ = explore_vector(compiled, options)
    assert _summary(decomposed) == _summary(permuted)


def test_the_successor_buffer_grows_without_losing_rows() -> None:
    sink = Sink()
    rows = np.arange(24, dtype=np.int8).reshape(6, 4)
    sink.reset(rows)
    taken = [sink.take(rows, np.array([i % 6, (i + 1) % 6])) for i in range(1000)]
    taken[-1][:, 0] = -1
    assert sink.used == 2000 and len(sink.buffer) >= 2000
    expected = np.concatenate([rows[[i % 6, (i + 1) % 6]] for i in range(1000)])
    expected[-2:, 0] = -1
    assert (sink.successors() == expected).all()
