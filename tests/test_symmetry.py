"""The symmetry group of models with per-instance constants, and reduction by it, against brute force.

Random specs declare one or two kinds symmetric and give their instances constants, plain ones and
ones that name instances; the group kvolt computes (`checker/symmetry.py`) must be the group of
every combination of permutations that keeps each constant (listed naively), a kind no such
permutation moves must be refused (M008), and both engines must keep exactly one state per orbit,
with the listed group's canonicaliser and with the sorting one (`checker/canonical.py`) alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import reference
from hypothesis import HealthCheck, given, settings
from strategies import seeded_specs, specs

from kvolt.checker import symmetry
from kvolt.checker.build import choose_model
from kvolt.checker.compiler import CompiledModel, compile_model
from kvolt.checker.engine import ExplorationError, Options
from kvolt.checker.explicit.explorer import explore
from kvolt.checker.explicit.vector_search import explore_vector
from kvolt.checker.frontend.diagnostics import SpecError
from kvolt.checker.frontend.loader import builtin_spec_path, load_text
from kvolt.checker.frontend.resolver import resolve

MAX_STATES = 400
SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def check_structure_symmetry(text: str) -> None:
    spec = resolve(load_text(text, "gen.kvolt"))
    model = choose_model(spec, None)
    brute = reference.constant_symmetries(spec, model, model.symmetric)
    try:
        compiled = compile_model(spec, model)
    except SpecError as error:
        assert error.diagnostics[0].code == "M008", text
        kind = error.diagnostics[0].message.split()[1]
        assert all(perms[kind] == tuple(range(model.count(kind))) for perms in brute), f"{kind} is movable\n{text}"
        return
    group = symmetry.symmetry_group(spec, model)
    assert group is not None
    assert (compiled.symmetry is None) == group.trivial
    assert group.full_size == len(brute), f"group of {group.full_size}, brute force {len(brute)}\n{text}"
    used = brute if group.unused == 1 else [group.identity(), *group.permutations()]
    ref = reference.explore(spec, model, max_states=MAX_STATES)
    if ref.errors:
        return  # (evaluation errors are the differential tests' business)
    orbits = reference.orbits_under(spec, model, ref.states, used)
    depth = None if ref.complete else ref.depth
    for limit in (symmetry.LISTED_LIMIT, 0):  # the listed group, then the sorting canonicaliser
        with listed_limit(limit):
            quiet = compile_model(spec, replace(model, checks=()))
            checked = compile_model(spec, model)
        options = Options(stop_at_first=False, symmetry=True, max_depth=depth)
        try:
            scalar = explore(quiet, options)
            vector, _ = explore_vector(quiet, options)
        except ExplorationError:
            return
        assert scalar.distinct_states == orbits, f"scalar ({limit=}): {scalar.distinct_states} states, {orbits} orbits\n{text}"
        assert vector.distinct_states == orbits, f"vector ({limit=}): {vector.distinct_states} states, {orbits} orbits\n{text}"
        result, _ = explore_vector(checked, Options(stop_at_first=False, symmetry=True, max_depth=depth))
        assert {v.property for v in result.violations} == ref.violated, text


@contextlib.contextmanager
def listed_limit(limit: int) -> Iterator[None]:
    """Compile with groups above `limit` canonicalised by sorting (0: every group)."""
    saved = symmetry.LISTED_LIMIT
    symmetry.LISTED_LIMIT = limit
    try:
        yield
    finally:
        symmetry.LISTED_LIMIT = saved


@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESS)
@given(specs(structure=True))
def test_structure_symmetry_counts_orbits(text: str) -> None:
    check_structure_symmetry(text)


@settings(max_examples=30, deadline=None, suppress_health_check=SUPPRESS)
@given(seeded_specs(structure=True))
def test_structure_symmetry_counts_orbits_uniform(text: str) -> None:
    check_structure_symmetry(text)


def test_a_group_too_large_to_list_is_never_listed() -> None:
    """cluster3: six kinds of three instances, 46,656 permutations; set-up builds nothing per permutation,
    and both engines keep the same states (to a few levels: the scalar engine is the slow oracle here)."""
    from kvolt.checker.build import build
    from kvolt.checker.explicit.fingerprint import Fingerprints, storage_dtype
    from kvolt.checker.explicit.vector import compile_vector

    compiled = build(builtin_spec_path(), "cluster3").compiled
    group = compiled.symmetry
    assert group is not None and group.size == 6**6 and not group.listed
    vector = compile_vector(compiled)
    fingerprints = Fingerprints(vector, compiled.layout.size, storage_dtype(compiled.layout), True)
    assert vector.permutations == [] and fingerprints.plans == [] and fingerprints.canonicalising
    options = Options(stop_at_first=False, max_depth=3)
    scalar = explore(compiled, options)
    fast, _ = explore_vector(compiled, options)
    unreduced, _ = explore_vector(compiled, replace(options, symmetry=False))
    assert scalar.distinct_states == fast.distinct_states < unreduced.distinct_states


def test_refusals_name_the_constant() -> None:
    text = """
kind Node { ready: bool = true }
kind Pod { const home: Node  running: bool }
model a {
  Node = 2
  Pod = 2
  const pod1.home = node1
  const pod2.home = node2
  symmetric Node, Pod
}
"""
    spec = resolve(load_text(text, "a.kvolt"))
    group = symmetry.symmetry_group(spec, spec.models[0])
    assert group is not None and group.size == 2 and len(group.classes) == 1  # pods move with their nodes
    assert group.classes[0].roles == ("Node", "Pod")
    pinned = text.replace("symmetric Node, Pod", "symmetric Node")
    spec = resolve(load_text(pinned, "b.kvolt"))
    try:
        symmetry.symmetry_group(spec, spec.models[0])
    except SpecError as error:
        assert error.diagnostics[0].code == "M008" and "Pod.home" in error.diagnostics[0].message
    else:
        raise AssertionError("a kind named by a constant of a kind that is not symmetric was accepted")


def _reachable_rows(compiled: CompiledModel, depth: int) -> np.ndarray:
    """Every state within `depth` steps of the initial ones (no reduction), as int64 rows."""
    import numpy as np

    seen = set(compiled.initial_states)
    frontier = list(seen)
    for _ in range(depth):
        frontier = [s for state in frontier for _, _, s in compiled.successors(state) if s not in seen]
        frontier = list(dict.fromkeys(frontier))
        seen.update(frontier)
    return np.array(sorted(seen), dtype=np.int64)


def test_sorting_canonical_form_is_an_orbit_invariant() -> None:
    """cluster3's states within four steps, each renamed by random elements of its 46,656-element group:
    every renaming has the same canonical form, the witness maps each state onto it, and the
    canonical forms split the states into as many orbits as the scalar engine's one-state path."""
    import random

    import numpy as np

    from kvolt.checker.build import build
    from kvolt.checker.canonical import SortingCanonicaliser, _FixedPlan

    compiled = build(builtin_spec_path(), "cluster3").compiled
    group = compiled.symmetry
    canonicaliser = SortingCanonicaliser(compiled.layout, group)
    rows = _reachable_rows(compiled, 4)
    assert len(rows) > 100
    canonical, witness = canonicaliser.canonical(rows)
    assert (canonicaliser._apply(rows, witness) == canonical).all()
    rng = random.Random(7)
    for _ in range(6):
        orders = [tuple(rng.sample(range(len(c.bundles)), len(c.bundles))) for c in group.classes]
        perms = group.compose([c.permutation(o) for c, o in zip(group.classes, orders, strict=True)])
        renamed = _FixedPlan(compiled.layout, perms).apply(rows)
        assert (canonicaliser(renamed) == canonical).all()
    scalar = {compiled.canonicalize(tuple(int(v) for v in row)) for row in rows}
    assert len(np.unique(canonical, axis=0)) == len(scalar) < len(rows)
