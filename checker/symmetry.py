"""The symmetry group of a model: which instance permutations of its `symmetric` kinds are symmetries.

Rules, invariants and constraints never name an instance (the language has no instance names
outside models, and references cannot be ordered), so a permutation of instances is a symmetry of
the whole search exactly when it maps every per-instance constant onto itself: a constant that
is a plain value must agree between an instance and its image, and a constant that names an
instance of a symmetric kind must name the image of what it named. Initial states need not be
preserved: permuting an initial state permutes its behaviours, so a search that keeps one state
per orbit still meets one state of every orbit reachable from the initial states, at the same
depth, and the invariants (which name no instance) hold on all of an orbit or none of it.

The group is found on the model's constants seen as a coloured graph: every instance of a
symmetric kind is a vertex, coloured by its kind and its plain constants (a reference to an
instance of a kind that is not symmetric is plain: that instance stays where it is), with an edge
per constant that names another symmetric instance. The group permutes the connected components
(a pod and the claim and node its constants name, say) among the isomorphic ones, each as a
whole: a class of interchangeable *bundles*. A component that has symmetries of its own (two
identical volumes of one symmetric storage class) contributes those too, but the engines use only
the permutations of whole bundles (a subgroup, which is sound; the summary says so).

The group is never listed for the engines when it is large: `permutations()` lists it for small
groups, and the sorting canonicalisers (`compiler.py`, `explicit/canonical.py`) use only the
bundle classes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

from kvolt.checker.frontend import ir
from kvolt.checker.frontend.diagnostics import Diagnostic, Span, SpecError

Instance = tuple[str, int]  # (kind, 0-based index)
Perms = dict[str, tuple[int, ...]]  # kind -> new index of each instance (identity where not moved)

LISTED_LIMIT = 120  # groups up to this size are listed for the engines; larger ones are canonicalised by sorting


@dataclass(frozen=True)
class BundleClass:
    """Interchangeable bundles: every permutation of them, applied to each role at once, is a symmetry."""

    roles: tuple[str, ...]  # the kind of each role
    bundles: tuple[tuple[int, ...], ...]  # per bundle, the instance index of each role

    def permutation(self, order: tuple[int, ...]) -> dict[Instance, Instance]:
        """Instance renaming that moves bundle b to position order[b]."""
        return {(kind, self.bundles[b][r]): (kind, self.bundles[target][r])
                for b, target in enumerate(order) for r, kind in enumerate(self.roles)}


@dataclass(frozen=True)
class SymmetryGroup:
    """The symmetries a model's search uses: all permutations of the bundles of each class."""

    kinds: tuple[str, ...]  # the kinds the model declares symmetric
    counts: tuple[tuple[str, int], ...]  # instances of every kind of the model
    classes: tuple[BundleClass, ...]
    unused: int = 1  # how many times larger the full group is (symmetries inside bundles, not used)

    @property
    def size(self) -> int:
        return math.prod(math.factorial(len(c.bundles)) for c in self.classes)

    @property
    def full_size(self) -> int:
        return self.size * self.unused

    @property
    def trivial(self) -> bool:
        return self.size == 1

    @property
    def listed(self) -> bool:
        """Whether the engines list every permutation (small groups) rather than sort."""
        return self.size <= LISTED_LIMIT

    def moved_kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(kind for c in self.classes for kind in c.roles))

    def identity(self) -> Perms:
        return {kind: tuple(range(self.count(kind))) for kind in self.moved_kinds()}

    def count(self, kind: str) -> int:
        return dict(self.counts)[kind]

    def compose(self, renamings: list[dict[Instance, Instance]]) -> Perms:
        """One permutation per kind from renamings of disjoint sets of instances."""
        perms = {kind: list(indices) for kind, indices in self.identity().items()}
        for renaming in renamings:
            for (kind, old), (_, new) in renaming.items():
                perms[kind][old] = new
        return {kind: tuple(indices) for kind, indices in perms.items()}

    def factors(self) -> list[list[Perms]]:
        """Per class, every permutation of its bundles (as per-kind permutations, identity elsewhere)."""
        return [[self.compose([c.permutation(order)]) for order in itertools.permutations(range(len(c.bundles)))]
                for c in self.classes]

    def permutations(self) -> list[Perms]:
        """Every non-identity element (listed: use only for small groups)."""
        orders = [list(itertools.permutations(range(len(c.bundles)))) for c in self.classes]
        result = []
        for choice in itertools.product(*orders):
            if all(order == tuple(range(len(order))) for order in choice):
                continue
            result.append(self.compose([c.permutation(o) for c, o in zip(self.classes, choice, strict=True)]))
        return result

    def describe(self) -> str:
        """The group in words, for the summary: its size and what it permutes."""
        parts = []
        for c in self.classes:
            names = "+".join(dict.fromkeys(c.roles))
            parts.append(f"{len(c.bundles)} {names}" if len(c.roles) == 1 else f"{len(c.bundles)} bundles of {names}")
        text = f"{self.size:,} permutations ({', '.join(parts)} interchangeable)"
        if self.unused > 1:
            text += f"; the full group is {self.full_size:,} (symmetries within bundles are not used)"
        return text


# ---------------------------------------------------------------- the constants as a coloured graph


@dataclass(frozen=True)
class _Structure:
    vertices: tuple[Instance, ...]
    colour: dict[Instance, tuple]
    edges: dict[tuple[Instance, Instance], frozenset[str]]  # labels of the constants from one vertex to another

    def neighbours(self, vertex: Instance) -> set[Instance]:
        return {b if a == vertex else a for a, b in self.edges if vertex in (a, b)}

    def labels(self, a: Instance, b: Instance) -> tuple[frozenset[str], frozenset[str]]:
        return self.edges.get((a, b), frozenset()), self.edges.get((b, a), frozenset())


def _structure(spec: ir.Spec, model: ir.Model, kinds: tuple[str, ...]) -> _Structure:
    symmetric = set(kinds)
    vertices = tuple((kind, i) for kind in kinds for i in range(model.count(kind)))
    colour: dict[Instance, list] = {v: [v[0]] for v in vertices}
    edges: dict[tuple[Instance, Instance], set[str]] = {}
    for kind, name, values in model.consts:
        type_ = spec.kind(kind).field(name).type  # type: ignore[union-attr]
        element = type_.element if isinstance(type_, ir.SetT) else type_
        named = isinstance(element, ir.RefT) and element.kind in symmetric
        if kind not in symmetric:
            if named:  # an instance that stays put names these: they stay put too
                for index, value in enumerate(values):
                    for target in _targets(type_, value):
                        colour[(element.kind, target)].append(("named by", kind, index, name))  # type: ignore[union-attr]
            continue
        for index, value in enumerate(values):
            vertex = (kind, index)
            if not named:
                colour[vertex].append((name, value))
                continue
            targets = _targets(type_, value)
            colour[vertex].append((name, "names", len(targets)))
            for target in targets:
                edges.setdefault((vertex, (element.kind, target)), set()).add(name)  # type: ignore[union-attr]
    return _Structure(vertices, {v: tuple(c) for v, c in colour.items()},
                      {pair: frozenset(labels) for pair, labels in edges.items()})


def _targets(type_: ir.Type, value: int) -> list[int]:
    """The instance indices a reference (or a set of references) constant names."""
    if isinstance(type_, ir.SetT):
        return [bit for bit in range(value.bit_length()) if value >> bit & 1]
    return [value - 1] if value else []


def _components(structure: _Structure) -> list[tuple[Instance, ...]]:
    """Connected components, each listed from its first vertex outwards (so a search meets edges early)."""
    seen: set[Instance] = set()
    components = []
    adjacency = {v: set() for v in structure.vertices}
    for a, b in structure.edges:
        adjacency[a].add(b)
        adjacency[b].add(a)
    for start in structure.vertices:
        if start in seen:
            continue
        order, queue = [], [start]
        seen.add(start)
        while queue:
            vertex = queue.pop(0)
            order.append(vertex)
            for other in sorted(adjacency[vertex]):
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
        components.append(tuple(order))
    return components


def _isomorphisms(structure: _Structure, source: tuple[Instance, ...], target: tuple[Instance, ...],
                  fixed: dict[Instance, Instance] | None = None) -> Iterator[dict[Instance, Instance]]:
    """Colour- and edge-preserving bijections from one component onto another (backtracking)."""
    if len(source) != len(target):
        return
    mapping: dict[Instance, Instance] = dict(fixed or {})
    used = set(mapping.values())

    def extend(position: int) -> Iterator[dict[Instance, Instance]]:
        if position == len(source):
            yield dict(mapping)
            return
        vertex = source[position]
        if vertex in mapping:
            yield from extend(position + 1)
            return
        for candidate in target:
            if candidate in used or structure.colour[candidate] != structure.colour[vertex]:
                continue
            same_loops = structure.labels(vertex, vertex) == structure.labels(candidate, candidate)
            if same_loops and all(structure.labels(vertex, other) == structure.labels(candidate, image)
                                  for other, image in mapping.items()):
                mapping[vertex] = candidate
                used.add(candidate)
                yield from extend(position + 1)
                del mapping[vertex]
                used.discard(candidate)

    if all(structure.colour[a] == structure.colour[b] for a, b in mapping.items()):
        yield from extend(0)


def _has_nontrivial_automorphism(structure: _Structure, component: tuple[Instance, ...]) -> bool:
    """Whether some symmetry of the component moves one of its vertices."""
    for vertex in component:
        for other in component:
            if (other != vertex and structure.colour[other] == structure.colour[vertex]
                    and next(_isomorphisms(structure, component, component, {vertex: other}), None) is not None):
                return True
    return False


def _automorphism_count(structure: _Structure, component: tuple[Instance, ...], cap: int = 100_000) -> int:
    count = 0
    for _ in _isomorphisms(structure, component, component):
        count += 1
        if count >= cap:
            break
    return count


# ---------------------------------------------------------------- the group


def symmetry_group(spec: ir.Spec, model: ir.Model, spans: tuple[Span, ...] = ()) -> SymmetryGroup | None:
    """The symmetry group of the model's `symmetric` kinds; a SpecError for a kind no symmetry moves."""
    kinds = tuple(dict.fromkeys(model.symmetric))
    if not kinds:
        return None
    structure = _structure(spec, model, kinds)
    classes: list[tuple[tuple[Instance, ...], list[tuple[Instance, ...]]]] = []  # representative, members
    unused = 1
    for component in _components(structure):
        for representative, members in classes:
            found = next(_isomorphisms(structure, representative, component), None)
            if found is not None:
                members.append(tuple(found[v] for v in representative))  # roles in the representative's order
                break
        else:
            classes.append((component, [component]))
    bundle_classes = []
    for representative, members in classes:
        if _has_nontrivial_automorphism(structure, representative):
            unused *= _automorphism_count(structure, representative) ** len(members)
        if len(members) > 1:
            roles = tuple(kind for kind, _ in representative)
            bundle_classes.append(BundleClass(roles, tuple(tuple(i for _, i in member) for member in members)))
    group = SymmetryGroup(kinds, tuple((k, len(ids)) for k, ids in model.instances), tuple(bundle_classes), unused)
    _refuse_fixed_kinds(spec, model, structure, group, dict(zip(kinds, spans, strict=False)))
    return group


def _refuse_fixed_kinds(spec: ir.Spec, model: ir.Model, structure: _Structure, group: SymmetryGroup,
                        spans: dict[str, Span]) -> None:
    """A declared kind of two or more instances that no symmetry moves is an error naming the constant."""
    moved = set(group.moved_kinds())
    for kind in group.kinds:
        if kind in moved or model.count(kind) < 2:
            continue
        component_of = {v: c for c in _components(structure) for v in c}
        if any(_has_nontrivial_automorphism(structure, component_of[(kind, i)]) for i in range(model.count(kind))):
            continue  # moved, though only within bundles (the summary says this part is not used)
        why, notes = _why_fixed(spec, model, kind)
        raise SpecError(Diagnostic("M008", f"kind {kind} cannot be symmetric: {why}", spans.get(kind), notes))


def _why_fixed(spec: ir.Spec, model: ir.Model, kind: str) -> tuple[str, tuple[str, ...]]:
    """The constant that tells the kind's instances apart, and the values that do."""
    symmetric = set(model.symmetric)
    ids = model.ids(kind)
    for owner, name, values in model.consts:
        if owner != kind:
            continue
        type_ = spec.kind(owner).field(name).type  # type: ignore[union-attr]
        element = type_.element if isinstance(type_, ir.SetT) else type_
        if not (isinstance(element, ir.RefT) and element.kind in symmetric) and len(set(values)) > 1:
            shown = ", ".join(f"{i} = {_shown(spec, model, type_, v)}" for i, v in zip(ids, values, strict=True))
            return f"its instances differ in constant '{name}'", (f"{name}: {shown}",)
    for owner, name, values in model.consts:
        type_ = spec.kind(owner).field(name).type  # type: ignore[union-attr]
        element = type_.element if isinstance(type_, ir.SetT) else type_
        if isinstance(element, ir.RefT) and element.kind == kind and any(values):
            if owner not in symmetric:
                return (f"constant {owner}.{name} names its instances",
                        (f"{owner} is not symmetric, so the instances it names cannot move; "
                         f"declare 'symmetric {kind}, {owner}' if {owner}'s instances are interchangeable too",))
            return f"constant {owner}.{name} names its instances in ways no permutation preserves", ()
    return "the constants of its instances tell them apart", ()


def _shown(spec: ir.Spec, model: ir.Model, type_: ir.Type, value: int) -> str:
    from kvolt.checker.compiler import decode_value  # the compiler imports this module

    decoded = decode_value(spec, model, type_, value)
    if isinstance(decoded, list):
        return "{" + ", ".join(str(d) for d in decoded) + "}"
    return str(decoded).lower() if isinstance(decoded, bool) else str(decoded)
