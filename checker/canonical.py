"""Canonical states under a large symmetry group, found by sorting instead of listing the group.

For each class of interchangeable bundles (`symmetry.py`), every bundle of a state gets a
signature that does not depend on instance names: its instances' own fields (with references
replaced by what they refer to: nothing, an instance that never moves, or which class and role a
moving one belongs to), the informer caches' copies of them, how many references point at them,
then refined over a few rounds by the ranks (places in their class by signature) of what they
refer to and of what refers to them. Sorting the bundles of each class by signature gives one
renaming of the state. Since signatures do not depend on names, every state of an orbit is sorted
alike, and the result is a renaming of the state, so two states share it only when they are in one
orbit. A signature that tells too little costs time, never soundness.

Bundles with equal signatures (a tie) could be put in either order. Most ties are between bundles
that look the same (absent slots): swapping two tied positions leaves the sorted state unchanged,
which one comparison per tied pair shows, and then every order gives the same state. Where a tie
matters (three identical node and machine pairs, say: swapping two nodes alone changes which
machine names which node), the first such run of tied bundles is individualised: each of its
bundles in turn is marked, the signatures refined again, and the least (lexicographically) of the
resulting states is the canonical one (the individualisation-refinement of graph canonical
labelling, without its automorphism pruning). The group itself is never listed: set-up is linear
in the state's width, and memory does not depend on the group's size.

The witness (the renaming of each row onto its canonical form) is returned with it; the engines
replay counterexamples on concrete states, so they do not need it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kvolt.checker.compiler import Layout, Moved, permutation_plan
from kvolt.checker.frontend import ir
from kvolt.checker.symmetry import SymmetryGroup

_BLOCK = 4096  # rows canonicalised at a time (the gather index is width x 8 bytes per row)
_ROUNDS = 3  # rounds of refinement by references (each one reaches one reference further)
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
        self._reference_plan()

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

    def _reference_plan(self) -> None:
        """The API's reference columns to moving kinds, and the codes refinement reads instances by."""
        self.api_references: list[tuple[str, int, int, str, str, np.uint64]] = []
        for r, region in enumerate(self.regions):
            if region.actor:
                continue
            for c, column in enumerate(self.columns[region.kind]):
                if column.mode == "plain":
                    continue
                weight = self.weights[(r * 64 + c + 17) % len(self.weights)]
                for slot in range(region.count):
                    self.api_references.append((region.kind, slot, region.base + slot * region.width + column.offset,
                                                column.mode, column.target, weight))
        self.fixed_codes = {(region.kind, slot): _constants(0x666978 + 97 * r + slot, 1)[0]
                            for r, region in enumerate(self.regions) if not region.actor for slot in range(region.count)}
        self.stay_codes = {kind: np.array([_constants(0x73746179 + 131 * k + i, 1)[0] for i in range(count)],
                                          dtype=np.uint64) for k, (kind, count) in enumerate(self.moved.items())}
        self.ordinals = {n: np.arange(1, n + 1, dtype=np.int64) for n in range(65)}  # 1..n: the references to n instances
        self.role_codes = {(j, r): _constants(0x726F6C65 + 64 * j + r, 1)[0]
                           for j, c in enumerate(self.group.classes) for r in range(len(c.roles))}

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
            signatures = self._refine(rows, self._signatures(rows), _ROUNDS)
            return self._resolve(rows, signatures, 0)

    def _bundle_signatures(self, signatures: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Per class, a signature per row and bundle (its roles' signatures combined)."""
        n = len(next(iter(signatures.values())))
        result = []
        for j, c in enumerate(self.group.classes):
            bundle = np.zeros((n, len(c.bundles)), dtype=np.uint64)
            for b, members in enumerate(c.bundles):
                for r, kind in enumerate(c.roles):
                    bundle[:, b] += _mix(signatures[kind][:, members[r]] + self.weights[r + 8 * (j % 8)])
            result.append(bundle)
        return result

    def _resolve(self, rows: np.ndarray, signatures: dict[str, np.ndarray],
                 depth: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Sort by signature; where a tie matters, individualise each tied bundle in turn and keep the least."""
        bundles = self._bundle_signatures(signatures)
        orders = [np.argsort(b, axis=1, kind="stable") for b in bundles]
        ordered = [np.take_along_axis(b, o, axis=1) for b, o in zip(bundles, orders, strict=True)]
        new_of_old = self._renaming(orders, len(rows))
        canonical = self._apply(rows, new_of_old)
        cell = self._first_mattering_tie(canonical, ordered)
        if cell is None:
            return canonical, new_of_old
        hard = np.flatnonzero(cell[0] >= 0)
        j_of, start_of, length_of = cell[0][hard], cell[1][hard], cell[2][hard]
        best = canonical[hard].copy()
        best_renaming = {kind: m[hard].copy() for kind, m in new_of_old.items()}
        mark = _constants(0x696E64 + depth, 1)[0]
        for k in range(int(length_of.max())):
            branch = np.flatnonzero(length_of > k)
            sub = hard[branch]
            marked = {kind: s[sub].copy() for kind, s in signatures.items()}
            for j, c in enumerate(self.group.classes):
                chosen = np.flatnonzero(j_of[branch] == j)
                if not len(chosen):
                    continue
                bundle = orders[j][sub[chosen], start_of[branch][chosen] + k]
                members = np.array(c.bundles, dtype=np.int64)[bundle]
                for r, kind in enumerate(c.roles):
                    marked[kind][chosen, members[:, r]] += mark
            candidate, renaming = self._resolve(rows[sub], self._refine(rows[sub], marked, _ROUNDS), depth + 1)
            smaller = np.ones(len(branch), dtype=bool) if k == 0 else _lexicographically_less(candidate, best[branch])
            best[branch[smaller]] = candidate[smaller]
            for kind, m in renaming.items():
                best_renaming[kind][branch[smaller]] = m[smaller]
        canonical[hard] = best
        for kind, m in best_renaming.items():
            new_of_old[kind][hard] = m
        return canonical, new_of_old

    def _first_mattering_tie(self, canonical: np.ndarray,
                             ordered: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Per row, the first run of tied bundles (class, first position, length) whose order changes the
        sorted row (class -1: none). A run whose adjacent swaps all leave the row unchanged is passed
        over: every order of it gives the same row. Which run that is depends only on the signatures
        and on the orbit, so it is the same for every state of an orbit."""
        n = len(canonical)
        found_class = np.full(n, -1, dtype=np.int64)
        found_start = np.zeros(n, dtype=np.int64)
        found_length = np.zeros(n, dtype=np.int64)
        for j, signatures in enumerate(ordered):
            size = signatures.shape[1]
            tied = [signatures[:, p] == signatures[:, p + 1] for p in range(size - 1)]
            start = np.zeros(n, dtype=np.int64)
            run_changes = np.zeros(n, dtype=bool)
            for p in range(size):
                if p < size - 1:
                    where = np.flatnonzero(tied[p] & (found_class < 0))
                    if len(where):
                        swapped = self._transposition(j, p).apply(canonical[where])
                        run_changes[where] |= np.any(swapped != canonical[where], axis=1)
                ends = np.ones(n, dtype=bool) if p == size - 1 else ~tied[p]
                take = ends & run_changes & (found_class < 0)
                found_class[take] = j
                found_start[take] = start[take]
                found_length[take] = p + 1 - start[take]
                start[ends] = p + 1
                run_changes[ends] = False
        if not (found_class >= 0).any():
            return None
        return found_class, found_start, found_length

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
        return {kind: _mix(own[kind] + _mix(incoming[kind])) for kind in self.moved}

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

    def _refine(self, rows: np.ndarray, signatures: dict[str, np.ndarray], rounds: int) -> dict[str, np.ndarray]:
        """Rounds of refinement over the API's references: every instance adds what it refers to and what
        refers to it, each read by its class, role and rank (its bundle's place among its class's
        bundles by signature), which no renaming changes."""
        for _ in range(rounds):
            codes = self._rank_codes(signatures)
            refined = {kind: s.copy() for kind, s in signatures.items()}
            for source_kind, slot, column, mode, target, weight in self.api_references:
                values = rows[:, column]
                source = codes[source_kind][:, slot] if source_kind in codes else self.fixed_codes[(source_kind, slot)]
                target_codes = codes[target]
                count = target_codes.shape[1]
                incoming = _mix(source + weight + np.uint64(1))
                if mode == "ref":
                    hits = (values[:, None] == self.ordinals[count]).astype(np.uint64)  # rows x target instances
                    if source_kind in refined:
                        pointed = (hits * target_codes).sum(axis=1, dtype=np.uint64)  # 0 for none
                        refined[source_kind][:, slot] += _mix(pointed + weight)
                else:
                    hits = ((values[:, None] >> (self.ordinals[count] - 1)) & 1).astype(np.uint64)
                    if source_kind in refined:
                        refined[source_kind][:, slot] += (hits * _mix(target_codes + weight)).sum(axis=1, dtype=np.uint64)
                refined[target] += hits * (incoming[:, None] if np.ndim(incoming) else incoming)
            signatures = {kind: _mix(s) for kind, s in refined.items()}
        return signatures

    def _rank_codes(self, signatures: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per instance of a moving kind: its class, role and its bundle's rank (how many bundles of its
        class have a smaller signature); instances that stay read as themselves."""
        codes = {kind: np.broadcast_to(self.stay_codes[kind], s.shape).copy() for kind, s in signatures.items()}
        for j, (c, bundle) in enumerate(zip(self.group.classes, self._bundle_signatures(signatures), strict=True)):
            rank = (bundle[:, :, None] > bundle[:, None, :]).sum(axis=2).astype(np.uint64)
            for b, members in enumerate(c.bundles):
                for r, kind in enumerate(c.roles):
                    codes[kind][:, members[r]] = _mix(rank[:, b] + self.role_codes[(j, r)])
        return codes

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
    def _transposition(self, j: int, position: int) -> _FixedPlan:
        key = (j, position)
        if key not in self.transpositions:
            order = list(range(len(self.group.classes[j].bundles)))
            order[position], order[position + 1] = order[position + 1], order[position]
            perms = self.group.compose([self.group.classes[j].permutation(tuple(order))])
            self.transpositions[key] = _FixedPlan(self.layout, perms)
        return self.transpositions[key]


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
