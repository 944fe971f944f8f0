"""Canonical states under a large symmetry group, found by sorting instead of listing the group.

For each class of interchangeable bundles (`symmetry.py`), every bundle of a state gets a
signature that does not depend on instance names: its instances' own fields (with references
replaced by what they refer to: nothing, an instance that never moves, or which class and role a
moving one belongs to), the informer caches' copies of them, how many references point at them,
and, refined once, the signatures of what they refer to and what refers to them. Sorting the
bundles of each class by signature gives one renaming `g0` of the state. Bundles with equal
signatures (ties) can be put in either order, so the candidates are `t . g0 . s` for every
permutation `t` of tied positions; the canonical state is the least candidate (lexicographically).
Since signatures do not depend on names, the candidates of `h . s` are those of `s`: every state of
an orbit gets the same canonical state, and the canonical state is a renaming of `s`, so two states
share it only when they are in one orbit. A signature that tells too little costs time, never
soundness.

Most ties are between bundles that look the same (absent slots): swapping two tied positions then
leaves `g0 . s` unchanged, which one comparison per tied pair shows; only the rows where some swap
changes the state enumerate their tied positions' permutations. The group itself is never listed:
set-up is linear in the state's width, and memory does not depend on the group's size.

The witness (the renaming of each row onto its canonical form) is returned with it; the engines
replay counterexamples on concrete states, so they do not need it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from kvolt.checker.compiler import Layout, Moved, permutation_plan
from kvolt.checker.frontend import ir
from kvolt.checker.symmetry import SymmetryGroup

_BLOCK = 4096  # rows canonicalised at a time (the gather index is width x 8 bytes per row)
_TIE_LIMIT = 40_320  # candidates one state may need at most (8!): beyond, the signatures are too weak for the model
_MOVED_CODE = 1 << 24  # references to a moving instance read as this plus its class and role
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _constants(seed: int, count: int) -> np.ndarray:
    """Fixed odd 64-bit multipliers (splitmix64), the same in every process and run."""
    values = []
    state = seed
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & ((1 << 64) - 1)
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
        values.append((z ^ (z >> 31)) | 1)
    return np.array(values, dtype=np.uint64)


def _mix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(30))
    h = h * _M1
    h = h ^ (h >> np.uint64(27))
    h = h * _M2
    return h ^ (h >> np.uint64(31))


@dataclass(frozen=True)
class _Column:
    """How one column of a block reads in a signature."""

    offset: int
    mode: str  # "plain" | "ref" (a reference to a moving kind) | "refs" (a set of them)
    target: str = ""  # the referenced kind


@dataclass(frozen=True)
class _Region:
    """A run of blocks of one kind: the API copy, or one actor instance's cache."""

    kind: str
    base: int
    count: int
    width: int
    actor: str  # "" for the API copy
    owner: str  # the kind the actor runs per ("" if none)
    instance: int  # the actor instance (0 if not per instance)


class SortingCanonicaliser:
    """Canonical rows (and the renamings onto them) for a model whose symmetry group is too large to list."""

    def __init__(self, layout: Layout, group: SymmetryGroup) -> None:
        self.layout = layout
        self.group = group
        self.width = layout.size
        spec = layout.spec
        self.moved = {kind: group.count(kind) for kind in group.moved_kinds()}
        self.place: dict[tuple[str, int], tuple[int, int, int]] = {}  # moving instance -> (class, bundle, role)
        for j, c in enumerate(group.classes):
            for b, bundle in enumerate(c.bundles):
                for r, kind in enumerate(c.roles):
                    self.place[(kind, bundle[r])] = (j, b, r)
        self.regions = [_Region(k.name, layout.api[k.name].base, layout.api[k.name].count, layout.api[k.name].width,
                                "", "", 0) for k in spec.kinds if layout.api[k.name].count]
        for (actor, instance, kind), region in layout.caches.items():
            if region.count:
                self.regions.append(_Region(kind, region.base, region.count, region.width, actor,
                                            spec.actor(actor).per or "", instance))
        # regions that are one actor's caches on different instances of a moving kind share their weights
        families: dict[tuple[str, str], int] = {}
        self.family = [families.setdefault((region.actor, region.kind), r) if region.owner in self.moved else r
                       for r, region in enumerate(self.regions)]
        self.columns = {k.name: self._block_columns(k) for k in spec.kinds}
        self.ref_tables = {kind: self._reference_codes(kind) for kind in self.moved}
        self.member_weights = {kind: np.array([_constants(int(code), 1)[0] for code in self.ref_tables[kind][1:]],
                                              dtype=np.uint64) for kind in self.moved}
        widest = max((r.width for r in self.regions), default=1)
        self.weights = _constants(0x63616E6F6E, 64 * (len(self.regions) + 8) + widest + 64)
        self._destination_plan()
        self.transpositions: dict[tuple[int, int], _FixedPlan] = {}
        self.tie_plans: dict[bytes, list[_FixedPlan]] = {}

    # -- set-up (linear in the width)
    def _block_columns(self, kind: ir.Kind) -> list[_Column]:
        columns = [_Column(0, "plain"), _Column(1, "plain")]
        for f in kind.state_fields:
            offset = self.layout.offset(kind.name, f.name)
            element = f.type.element if isinstance(f.type, ir.SetT) else f.type
            if isinstance(element, ir.RefT) and element.kind in self.moved:
                columns.append(_Column(offset, "refs" if isinstance(f.type, ir.SetT) else "ref", element.kind))
            else:
                columns.append(_Column(offset, "plain"))
        return columns

    def _reference_codes(self, kind: str) -> np.ndarray:
        """What a reference to `kind` reads as: 0 for none, the index of an instance that stays, or a
        code naming the class and role of a moving one."""
        codes = [0]
        for i in range(self.group.count(kind)):
            place = self.place.get((kind, i))
            codes.append(i + 1 if place is None else _MOVED_CODE + (place[0] << 8) + place[2])
        return np.array(codes, dtype=np.int64)

    def _destination_plan(self) -> None:
        """For every block of the state: its region, kind and slot (where the renaming's source is looked up)."""
        self.block_kind: list[str] = []
        self.block_slot: list[int] = []
        self.block_region: list[int] = []
        block_of_column = np.zeros(self.width, dtype=np.int64)
        offset_of_column = np.arange(self.width, dtype=np.int64)
        fixed_column = np.ones(self.width, dtype=bool)
        for r, region in enumerate(self.regions):
            for slot in range(region.count):
                start = region.base + slot * region.width
                block_of_column[start:start + region.width] = len(self.block_kind)
                offset_of_column[start:start + region.width] = np.arange(region.width)
                fixed_column[start:start + region.width] = False
                self.block_kind.append(region.kind)
                self.block_slot.append(slot)
                self.block_region.append(r)
        self.block_of_column = block_of_column
        self.offset_of_column = offset_of_column
        self.fixed_column = fixed_column
        # where each region's copy for another actor instance starts: (actor, kind) -> base per instance
        self.region_bases: dict[tuple[str, str], np.ndarray] = {}
        for region in self.regions:
            if region.actor:
                key = (region.actor, region.kind)
                count = self.layout.actor_instances(self.layout.spec.actor(region.actor))
                bases = self.region_bases.setdefault(key, np.zeros(count, dtype=np.int64))
                bases[region.instance] = region.base
        renames: list[tuple[int, str, str]] = []  # (column, mode, kind)
        for region in self.regions:
            for slot in range(region.count):
                start = region.base + slot * region.width
                for column in self.columns[region.kind]:
                    if column.mode != "plain":
                        renames.append((start + column.offset, column.mode, column.target))
        self.renames = renames

    # -- the canonical rows
    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """The canonical form of each row (same type as `rows`, only the state's columns)."""
        return self.canonical(rows)[0]

    def canonical(self, rows: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(canonical rows, witness): `witness[kind][row, i]` is the new index of instance i."""
        out = np.empty((len(rows), self.width), dtype=rows.dtype)
        witness = {kind: np.empty((len(rows), n), dtype=np.int64) for kind, n in self.moved.items()}
        for start in range(0, len(rows), _BLOCK):
            block = rows[start:start + _BLOCK, :self.width].astype(np.int64)
            canonical, renaming = self._canonical_block(block)
            out[start:start + len(block)] = canonical
            for kind, new_of_old in renaming.items():
                witness[kind][start:start + len(block)] = new_of_old
        return out, witness

    def _canonical_block(self, rows: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        with np.errstate(over="ignore"):
            signatures = self._signatures(rows)
        orders, sorted_signatures = [], []
        for j, c in enumerate(self.group.classes):
            bundle = np.zeros((len(rows), len(c.bundles)), dtype=np.uint64)
            with np.errstate(over="ignore"):
                for b, members in enumerate(c.bundles):
                    for r, kind in enumerate(c.roles):
                        bundle[:, b] += _mix(signatures[kind][:, members[r]] + self.weights[r + 8 * (j % 8)])
            order = np.argsort(bundle, axis=1, kind="stable")
            orders.append(order)
            sorted_signatures.append(np.take_along_axis(bundle, order, axis=1))
        new_of_old = self._renaming(orders, len(rows))
        canonical = self._apply(rows, new_of_old)
        canonical = self._break_ties(canonical, sorted_signatures, new_of_old)
        return canonical, new_of_old

    def _signatures(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Per moving kind, a uint64 per row and instance that no renaming changes."""
        n = len(rows)
        own = {kind: np.zeros((n, count), dtype=np.uint64) for kind, count in self.moved.items()}
        incoming = {kind: np.zeros((n, count), dtype=np.uint64) for kind, count in self.moved.items()}
        for r, region in enumerate(self.regions):
            hashes = self._block_hashes(rows, region, r)  # n x count
            self._count_references(rows, region, r, incoming)
            weight = self.weights[self.family[r]]
            if region.kind in own:  # (copies on moving actor instances share a weight: added up in no order)
                own[region.kind] += _mix(hashes + weight)
            if region.owner in self.moved:  # the cache belongs to a moving instance: it is part of it
                place = self.place.get((region.owner, region.instance))
                if place is not None:
                    if region.kind in self.moved:
                        summary = _mix(hashes).sum(axis=1, dtype=np.uint64)
                    else:
                        summary = (_mix(hashes) * self.weights[:region.count]).sum(axis=1, dtype=np.uint64)
                    own[region.owner][:, region.instance] += _mix(summary + weight)
        first = {kind: _mix(own[kind] + _mix(incoming[kind])) for kind in self.moved}
        return self._refined(rows, first)

    def _block_hashes(self, rows: np.ndarray, region: _Region, r: int) -> np.ndarray:
        """Each block's own fields as a signature reads them (references by what they refer to)."""
        n = len(rows)
        total = np.zeros((n, region.count), dtype=np.uint64)
        for c, column in enumerate(self.columns[region.kind]):
            positions = region.base + column.offset + region.width * np.arange(region.count)
            values = rows[:, positions]
            if column.mode == "ref":
                values = self.ref_tables[column.target][np.clip(values, 0, self.group.count(column.target))]
            elif column.mode == "refs":
                values = self._set_code(values, column.target)
            total += (values.astype(np.uint64) + np.uint64(1)) * self.weights[64 + c]
        return total

    def _set_code(self, masks: np.ndarray, kind: str) -> np.ndarray:
        """A set of references read as: the instances that stay, and how many of each class and role."""
        code = np.zeros(masks.shape, dtype=np.uint64)
        for i, weight in enumerate(self.member_weights[kind]):
            code += ((masks >> i) & 1).astype(np.uint64) * weight
        return code

    def _count_references(self, rows: np.ndarray, region: _Region, r: int, incoming: dict[str, np.ndarray]) -> None:
        """How many references of each field point at each moving instance."""
        for c, column in enumerate(self.columns[region.kind]):
            if column.mode == "plain":
                continue
            weight = self.weights[(self.family[r] * 64 + c) % len(self.weights)]
            target = incoming[column.target]
            for slot in range(region.count):
                values = rows[:, region.base + slot * region.width + column.offset]
                for i in range(target.shape[1]):
                    hit = (values == i + 1) if column.mode == "ref" else ((values >> i) & 1).astype(bool)
                    target[:, i] += hit.astype(np.uint64) * weight

    def _refined(self, rows: np.ndarray, first: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One round of refinement over the API references: what an instance refers to, and what refers to it."""
        refined = {kind: s.copy() for kind, s in first.items()}
        for region in self.regions:
            if region.actor:
                continue
            for c, column in enumerate(self.columns[region.kind]):
                if column.mode != "ref":
                    continue
                weight = self.weights[(c * 7) % (len(self.weights) - 1)]
                target = first[column.target]
                padded = np.concatenate([np.zeros((len(rows), 1), dtype=np.uint64), target], axis=1)
                for slot in range(region.count):
                    values = rows[:, region.base + slot * region.width + column.offset]
                    pointed = np.take_along_axis(padded, np.clip(values, 0, target.shape[1])[:, None], axis=1)[:, 0]
                    if region.kind in refined:
                        refined[region.kind][:, slot] += _mix(pointed + weight)
                    if region.kind in first:
                        source = _mix(first[region.kind][:, slot] + weight)
                    else:
                        source = _mix(np.uint64(slot + 1) * weight + weight)
                    for i in range(target.shape[1]):
                        refined[column.target][:, i] += np.where(values == i + 1, source, np.uint64(0))
        return refined

    def _renaming(self, orders: list[np.ndarray], n: int) -> dict[str, np.ndarray]:
        """Per moving kind, the new index of each instance once every class's bundles are sorted."""
        new_of_old = {kind: np.tile(np.arange(count, dtype=np.int64), (n, 1)) for kind, count in self.moved.items()}
        rows = np.arange(n)
        for c, order in zip(self.group.classes, orders, strict=True):
            indices = np.array(c.bundles, dtype=np.int64)  # bundle x role
            for position in range(len(c.bundles)):
                for r, kind in enumerate(c.roles):
                    new_of_old[kind][rows, indices[order[:, position], r]] = indices[position, r]
        return new_of_old

    def _apply(self, rows: np.ndarray, new_of_old: dict[str, np.ndarray]) -> np.ndarray:
        """Rename each row's instances (`new_of_old[kind][row]`), moving blocks and caches with them."""
        n = len(rows)
        old_of_new = {}
        for kind, mapping in new_of_old.items():
            inverse = np.empty_like(mapping)
            np.put_along_axis(inverse, mapping, np.tile(np.arange(mapping.shape[1]), (n, 1)), axis=1)
            old_of_new[kind] = inverse
        starts = np.empty((n, len(self.block_kind)), dtype=np.int64)
        for b, (kind, slot, r) in enumerate(zip(self.block_kind, self.block_slot, self.block_region, strict=True)):
            region = self.regions[r]
            source_slot = old_of_new[kind][:, slot] if kind in old_of_new else slot
            if region.actor and region.owner in old_of_new:
                base = self.region_bases[(region.actor, region.kind)][old_of_new[region.owner][:, region.instance]]
            else:
                base = region.base
            starts[:, b] = base + source_slot * region.width
        source = starts[:, self.block_of_column] + self.offset_of_column
        if self.fixed_column.any():
            source[:, self.fixed_column] = np.flatnonzero(self.fixed_column)
        permuted = np.take_along_axis(rows, source, axis=1)
        renamed = {kind: np.concatenate([np.zeros((n, 1), dtype=np.int64), m + 1], axis=1) for kind, m in new_of_old.items()}
        for column, mode, kind in self.renames:
            values = permuted[:, column]
            if mode == "ref":
                permuted[:, column] = np.take_along_axis(renamed[kind], values[:, None], axis=1)[:, 0]
            else:
                result = np.zeros(n, dtype=np.int64)
                for i in range(self.moved[kind]):
                    result |= ((values >> i) & 1) << new_of_old[kind][:, i]
                result |= values & ~np.int64((1 << self.moved[kind]) - 1)
                permuted[:, column] = result
        return permuted

    # -- ties
    def _break_ties(self, canonical: np.ndarray, sorted_signatures: list[np.ndarray],
                    new_of_old: dict[str, np.ndarray]) -> np.ndarray:
        """Rows whose tied positions matter get the least of their candidates (and its renaming)."""
        n = len(canonical)
        hard = np.zeros(n, dtype=bool)
        ties = []
        for j, signatures in enumerate(sorted_signatures):
            for position in range(signatures.shape[1] - 1):
                tied = signatures[:, position] == signatures[:, position + 1]
                where = np.flatnonzero(tied & ~hard)
                if len(where):
                    swap = self._transposition(j, position)
                    changed = np.any(swap.apply(canonical[where]) != canonical[where], axis=1)
                    hard[where[changed]] = True
                ties.append(tied)
        if not hard.any():
            return canonical
        where = np.flatnonzero(hard)
        packed = np.packbits(np.stack(ties, axis=1)[where], axis=1)
        patterns = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
        for pattern in np.unique(patterns):
            chosen = where[patterns == pattern]
            best = canonical[chosen]
            best_plan: np.ndarray = np.full(len(chosen), -1)
            tied_pairs = np.unpackbits(np.frombuffer(pattern.tobytes(), dtype=np.uint8))[:len(ties)]
            plans = self._tie_plans(tied_pairs, [s.shape[1] for s in sorted_signatures])
            for p, plan in enumerate(plans):
                candidate = plan.apply(canonical[chosen])
                smaller = _lexicographically_less(candidate, best)
                best[smaller] = candidate[smaller]
                best_plan[smaller] = p
            canonical[chosen] = best
            for p, plan in enumerate(plans):
                rows = chosen[best_plan == p]
                for kind, mapping in new_of_old.items():
                    if kind in plan.perms:
                        new_of_old[kind][rows] = np.array(plan.perms[kind])[mapping[rows]]
        return canonical

    def _transposition(self, j: int, position: int) -> _FixedPlan:
        key = (j, position)
        if key not in self.transpositions:
            order = list(range(len(self.group.classes[j].bundles)))
            order[position], order[position + 1] = order[position + 1], order[position]
            perms = self.group.compose([self.group.classes[j].permutation(tuple(order))])
            self.transpositions[key] = _FixedPlan(self.layout, perms)
        return self.transpositions[key]

    def _tie_plans(self, pattern: np.ndarray, sizes: list[int]) -> list[_FixedPlan]:
        """Every non-identity permutation of tied positions, for one pattern of ties (one flag per adjacent pair)."""
        key = pattern.tobytes()
        if key in self.tie_plans:
            return self.tie_plans[key]
        per_class = []
        bit = 0
        for size in sizes:
            runs, run = [], [0]
            for position in range(size - 1):
                if pattern[bit]:
                    run.append(position + 1)
                else:
                    runs.append(run)
                    run = [position + 1]
                bit += 1
            runs.append(run)
            per_class.append(_run_permutations(runs, size))
        if np.prod([len(p) for p in per_class], dtype=float) > _TIE_LIMIT:
            raise TieError(f"{np.prod([len(p) for p in per_class], dtype=float):.0f} orders of tied instances "
                           "would have to be compared for one state")
        plans = []
        for choice in itertools.product(*per_class):
            if all(order == tuple(range(len(order))) for order in choice):
                continue
            perms = self.group.compose([c.permutation(o) for c, o in zip(self.group.classes, choice, strict=True)])
            plans.append(_FixedPlan(self.layout, perms))
        if len(self.tie_plans) < 4096:
            self.tie_plans[key] = plans
        return plans


class TieError(RuntimeError):
    """A state whose signatures leave too many instances tied to compare every order of them."""


def _run_permutations(runs: list[list[int]], size: int) -> list[tuple[int, ...]]:
    """Every order of positions that permutes only within runs."""
    result = []
    for parts in itertools.product(*(itertools.permutations(run) for run in runs)):
        order = [0] * size
        for run, part in zip(runs, parts, strict=True):
            for source, target in zip(run, part, strict=True):
                order[source] = target
        result.append(tuple(order))
    return result


def _lexicographically_less(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    differs = a != b
    first = np.argmax(differs, axis=1)
    rows = np.arange(len(a))
    return differs[rows, first] & (a[rows, first] < b[rows, first])


class _FixedPlan:
    """One permutation of instances, the same for every row, applied to int64 rows."""

    def __init__(self, layout: Layout, perms: dict[str, tuple[int, ...]]) -> None:
        self.perms = perms
        plan: list[Moved] = permutation_plan(layout, perms)
        self.sources = np.array([m.source for m in plan], dtype=np.int64)
        self.refs = [(c, np.array(m.table, dtype=np.int64)) for c, m in enumerate(plan) if m.mode == "ref"]
        self.bits = [(c, m.table) for c, m in enumerate(plan) if m.mode == "bits"]

    def apply(self, rows: np.ndarray) -> np.ndarray:
        out = rows[:, self.sources]
        for column, table in self.refs:
            values = out[:, column]
            out[:, column] = table[np.clip(values, 0, len(table) - 1)]
        for column, table in self.bits:
            values = out[:, column]
            result = values & ~np.int64((1 << len(table)) - 1)
            for i, image in enumerate(table):
                result |= np.where((values >> i) & 1 == 1, np.int64(image), np.int64(0))
            out[:, column] = result
        return out
