"""Canonical states under a large symmetry group, found by sorting instead of listing the group.

For each class of interchangeable bundles (`symmetry.py`), every bundle of a state gets a
signature that does not depend on instance names: its instances' own fields (with references
replaced by what they refer to: nothing, an instance that never moves, or which class and role a
moving one belongs to), the informer caches' copies of them, then refined over a few rounds by
the signatures of what they refer to and of what refers to them (every reference of the state,
as weighted adjacency tensors built once per block of rows). Sorting the bundles of each class by
signature (one argsort per class over the whole block) gives one renaming of the state.

Bundles with equal signatures (a tie) could be put in either order. Let S(s) be the renamings
that sort a state's bundles: for a renamed state g.s, S(g.s) = S(s) g^-1, so the set of sorted
states {p.s : p in S(s)} is the same for every state of an orbit, and its least member
(lexicographically) is a canonical form: a function of the orbit, and a renaming of the state.
Those sorted states are the sorted state permuted within its runs of tied bundles. A run whose
adjacent swaps all leave the sorted state unchanged (absent slots, say) adds nothing: every order
of it gives the same state, one comparison per tied pair shows it. Only the other runs are
enumerated, by per-class permutations within them (three identical node and machine pairs: 3! x
3!), rows grouped by their pattern of runs so each permutation is one gather over the group. The
group itself is never listed: set-up is linear in the state's width, and memory does not depend
on the group's size. Signatures that tell too little cost time (more ties), never soundness.

The witness (the renaming of each row onto its canonical form) is returned on request; the
engines replay counterexamples on concrete states, so they do not ask for it.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from kvolt.checker.compiler import Layout, Moved, permutation_plan
from kvolt.checker.frontend import ir
from kvolt.checker.symmetry import SymmetryGroup

_BLOCK = 4096  # rows canonicalised at a time (the gather index is width x 8 bytes per row)
_ROUNDS = 3  # rounds of refinement by references (each one reaches one reference further)
_MOVED_CODE = 1 << 24  # references to a moving instance read as this plus its class and role
_SET_TABLE_LIMIT = 10  # sets of references to kinds of up to this many instances are renamed by a table per row
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
class _Region:
    """A run of blocks of one kind: the API copy, or one actor instance's cache."""

    kind: str
    base: int
    count: int
    width: int
    actor: str  # "" for the API copy
    owner: str  # the kind the actor runs per ("" if none)
    instance: int  # the actor instance (0 if not per instance)


@dataclass(frozen=True)
class _Edges:
    """Every reference from instances of one kind to a moving kind, over all regions, as index arrays."""

    source: str
    target: str
    refs: tuple[tuple[np.ndarray, np.uint64, np.uint64], ...]  # (columns, one per source slot; out, in weight)
    sets: tuple[tuple[np.ndarray, np.uint64, np.uint64], ...]


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
        self.fields = {k.name: self._block_fields(k) for k in spec.kinds}  # offset -> (mode, target)
        self.ref_tables = {kind: self._reference_codes(kind) for kind in self.moved}
        self.member_weights = {kind: np.array([_constants(int(code), 1)[0] for code in self.ref_tables[kind][1:]],
                                              dtype=np.uint64) for kind in self.moved}
        self._column_plan()
        self._edge_plan()
        self._destination_plan()
        self.instance_codes = {kind: self._instance_codes(kind, count) for kind, count in self.moved.items()}
        self.role_weights = _constants(0x726F6C65, 1 + max((len(c.roles) for c in group.classes), default=1))
        self.plans: dict[tuple[int, tuple[int, ...]], _FixedPlan] = {}

    # -- set-up (linear in the width)
    def _block_fields(self, kind: ir.Kind) -> dict[int, tuple[str, str]]:
        """The block's references to moving kinds: offset -> ("ref" | "refs", target kind)."""
        fields = {}
        for f in kind.state_fields:
            element = f.type.element if isinstance(f.type, ir.SetT) else f.type
            if isinstance(element, ir.RefT) and element.kind in self.moved:
                fields[self.layout.offset(kind.name, f.name)] = ("refs" if isinstance(f.type, ir.SetT) else "ref",
                                                                 element.kind)
        return fields

    def _reference_codes(self, kind: str) -> np.ndarray:
        """What a reference to `kind` reads as: 0 for none, the index of an instance that stays, or a
        code naming the class and role of a moving one."""
        codes = [0]
        for i in range(self.group.count(kind)):
            place = self.place.get((kind, i))
            codes.append(i + 1 if place is None else _MOVED_CODE + (place[0] << 8) + place[2])
        return np.array(codes, dtype=np.int64)

    def _instance_codes(self, kind: str, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(added to each instance's signature when others read it, whether the instance stays): an
        instance that stays reads as itself, a moving one as its class and role."""
        codes = np.zeros(count, dtype=np.uint64)
        stays = np.zeros(count, dtype=bool)
        for i in range(count):
            place = self.place.get((kind, i))
            if place is None:
                codes[i] = _constants(0x73746179 + 131 * list(self.moved).index(kind) + i, 1)[0]
                stays[i] = True
            else:
                codes[i] = _constants(0x726F6C65 + 64 * place[0] + place[2], 1)[0]
        return codes, stays

    def _column_plan(self) -> None:
        """Per column of the state: its weight in its block's hash, and how references in it are read."""
        weights = np.zeros(self.width, dtype=np.uint64)
        refs: dict[str, list[int]] = defaultdict(list)
        sets: dict[str, list[int]] = defaultdict(list)
        for r, region in enumerate(self.regions):
            column_weights = _constants(0x636F6C + 1009 * self.family[r], region.width)
            for slot in range(region.count):
                start = region.base + slot * region.width
                weights[start:start + region.width] = column_weights
                for offset, (mode, target) in self.fields[region.kind].items():
                    (refs if mode == "ref" else sets)[target].append(start + offset)
        self.column_weights = weights
        self.ref_columns = {kind: np.array(columns, dtype=np.int64) for kind, columns in refs.items()}
        self.set_columns = {kind: np.array(columns, dtype=np.int64) for kind, columns in sets.items()}
        self.region_weights = _constants(0x726567, len(self.regions))
        self.slot_weights = _constants(0x736C6F74, max((r.count for r in self.regions), default=1))

    def _edge_plan(self) -> None:
        """Every reference of the state to a moving kind, grouped by (source kind, target kind)."""
        refs: dict[tuple[str, str], list] = defaultdict(list)
        sets: dict[tuple[str, str], list] = defaultdict(list)
        for r, region in enumerate(self.regions):
            for offset, (mode, target) in self.fields[region.kind].items():
                columns = region.base + offset + region.width * np.arange(region.count, dtype=np.int64)
                out, incoming = _constants(0x65646765 + 4099 * self.family[r] + offset, 2)
                (refs if mode == "ref" else sets)[(region.kind, target)].append((columns, out, incoming))
        self.edges = [_Edges(source, target, tuple(refs.get((source, target), ())), tuple(sets.get((source, target), ())))
                      for source, target in dict.fromkeys([*refs, *sets])]
        self.fixed_sources = {kind: _constants(0x666978 + 97 * k, self.group.count(kind))
                              for k, kind in enumerate(dict.fromkeys(e.source for e in self.edges))
                              if kind not in self.moved}

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

    # -- the canonical rows
    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """The canonical form of each row (same type as `rows`, only the state's columns)."""
        return self.canonical(rows, witness=False)[0]

    def canonical(self, rows: np.ndarray, witness: bool = True) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(canonical rows, witness): `witness[kind][row, i]` is the new index of instance i (empty
        without `witness`)."""
        out = np.empty((len(rows), self.width), dtype=rows.dtype)
        renamings = {kind: np.empty((len(rows), n), dtype=np.int64) for kind, n in self.moved.items()} if witness else {}
        for start in range(0, len(rows), _BLOCK):
            block = rows[start:start + _BLOCK, :self.width].astype(np.int64)
            with np.errstate(over="ignore"):
                canonical, renaming = self._canonical_block(block, witness)
            out[start:start + len(block)] = canonical
            for kind, new_of_old in renaming.items():
                renamings[kind][start:start + len(block)] = new_of_old
        return out, renamings

    def _canonical_block(self, rows: np.ndarray, witness: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        signatures = self._refine(rows, self._signatures(rows))
        bundles = self._bundle_signatures(signatures)
        orders = [np.argsort(b, axis=1, kind="stable") for b in bundles]
        ordered = [np.take_along_axis(b, o, axis=1) for b, o in zip(bundles, orders, strict=True)]
        new_of_old = self._renaming(orders, len(rows))
        canonical = self._apply(rows, new_of_old)
        self._resolve_ties(canonical, ordered, new_of_old if witness else None)
        return canonical, new_of_old if witness else {}

    # -- signatures
    def _signatures(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Per moving kind, a uint64 per row and instance that no renaming changes: its blocks' fields
        (references read by what they refer to, not by name) and the caches of it and on it."""
        n = len(rows)
        coded = rows.astype(np.uint64)
        for kind, columns in self.ref_columns.items():
            coded[:, columns] = self.ref_tables[kind][np.clip(rows[:, columns], 0, self.moved[kind])].astype(np.uint64)
        for kind, columns in self.set_columns.items():
            masks = rows[:, columns]
            code = np.zeros(masks.shape, dtype=np.uint64)
            for i, weight in enumerate(self.member_weights[kind]):
                code += ((masks >> i) & 1).astype(np.uint64) * weight
            coded[:, columns] = code + (masks >> self.moved[kind]).astype(np.uint64)  # (bits beyond the kind: none)
        weighted = (coded + np.uint64(1)) * self.column_weights
        own = {kind: np.zeros((n, count), dtype=np.uint64) for kind, count in self.moved.items()}
        for r, region in enumerate(self.regions):
            stop = region.base + region.count * region.width
            hashes = _mix(weighted[:, region.base:stop].reshape(n, region.count, region.width).sum(axis=2, dtype=np.uint64))
            weight = self.region_weights[self.family[r]]
            if region.kind in own:  # (copies on moving actor instances share a weight: added up in no order)
                own[region.kind] += _mix(hashes + weight)
            if region.owner in self.moved and (region.owner, region.instance) in self.place:
                # the cache belongs to a moving instance: it is part of that instance
                if region.kind in self.moved:
                    summary = hashes.sum(axis=1, dtype=np.uint64)
                else:
                    summary = (hashes * self.slot_weights[:region.count]).sum(axis=1, dtype=np.uint64)
                own[region.owner][:, region.instance] += _mix(summary + weight)
        return {kind: _mix(s) for kind, s in own.items()}

    def _adjacency(self, rows: np.ndarray) -> list[tuple[_Edges, np.ndarray, np.ndarray]]:
        """Per (source, target) kinds: rows x source x target tensors of the references' out and in weights."""
        n = len(rows)
        result = []
        for edges in self.edges:
            count = self.moved[edges.target]
            sources = self.group.count(edges.source)
            out = np.zeros((n, sources, count), dtype=np.uint64)
            incoming = np.zeros((n, sources, count), dtype=np.uint64)
            ordinals = np.arange(1, count + 1, dtype=np.int64)
            for columns, w_out, w_in in edges.refs:
                hits = (rows[:, columns][:, :, None] == ordinals).astype(np.uint64)
                out += hits * w_out
                incoming += hits * w_in
            for columns, w_out, w_in in edges.sets:
                hits = ((rows[:, columns][:, :, None] >> (ordinals - 1)) & 1).astype(np.uint64)
                out += hits * w_out
                incoming += hits * w_in
            result.append((edges, out, incoming))
        return result

    def _codes(self, signatures: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """How each instance reads to those that refer to it or that it refers to."""
        codes = {}
        for kind, s in signatures.items():
            constant, stays = self.instance_codes[kind]
            codes[kind] = np.where(stays, constant, _mix(s + constant))
        return codes

    def _refine(self, rows: np.ndarray, signatures: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Rounds of refinement over every reference: each instance adds the codes of what it refers to
        (weighted by the field) and of what refers to it; no renaming changes them."""
        adjacency = self._adjacency(rows)
        for _ in range(_ROUNDS):
            codes = self._codes(signatures)
            refined = {kind: s.copy() for kind, s in signatures.items()}
            for edges, out, incoming in adjacency:
                target = codes[edges.target]
                if edges.source in refined:
                    refined[edges.source] += (out * target[:, None, :]).sum(axis=2, dtype=np.uint64)
                    source = codes[edges.source]
                else:
                    source = self.fixed_sources[edges.source][None, :]
                refined[edges.target] += (incoming * _mix(source + np.uint64(1))[:, :, None]).sum(axis=1, dtype=np.uint64)
            signatures = {kind: _mix(s) for kind, s in refined.items()}
        return signatures

    def _bundle_signatures(self, signatures: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Per class, a signature per row and bundle (its roles' signatures combined)."""
        n = len(next(iter(signatures.values())))
        result = []
        for c in self.group.classes:
            members = np.array(c.bundles, dtype=np.int64)  # bundle x role
            bundle = np.zeros((n, len(c.bundles)), dtype=np.uint64)
            for r, kind in enumerate(c.roles):
                bundle += _mix(signatures[kind][:, members[:, r]] + self.role_weights[r])
            result.append(bundle)
        return result

    # -- renaming rows
    def _renaming(self, orders: list[np.ndarray], n: int) -> dict[str, np.ndarray]:
        """Per moving kind, the new index of each instance once every class's bundles are sorted."""
        new_of_old = {kind: np.tile(np.arange(count, dtype=np.int64), (n, 1)) for kind, count in self.moved.items()}
        rows = np.arange(n)[:, None]
        for c, order in zip(self.group.classes, orders, strict=True):
            indices = np.array(c.bundles, dtype=np.int64)  # bundle x role
            for r, kind in enumerate(c.roles):
                new_of_old[kind][rows, indices[order, r]] = indices[:, r]
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
        for kind, columns in self.ref_columns.items():
            renamed = np.concatenate([np.zeros((n, 1), dtype=np.int64), new_of_old[kind] + 1], axis=1)
            values = np.clip(permuted[:, columns], 0, self.moved[kind])
            permuted[:, columns] = np.take_along_axis(renamed, values, axis=1)
        for kind, columns in self.set_columns.items():
            permuted[:, columns] = self._renamed_sets(permuted[:, columns], new_of_old[kind], self.moved[kind])
        return permuted

    @staticmethod
    def _renamed_sets(masks: np.ndarray, new_of_old: np.ndarray, count: int) -> np.ndarray:
        """Sets of references (bit masks) with each member i renamed to new_of_old[row, i]."""
        high = masks & ~np.int64((1 << count) - 1)
        if count <= _SET_TABLE_LIMIT:  # a table per row: mask -> renamed mask
            bits = (np.arange(1 << count, dtype=np.int64)[:, None] >> np.arange(count)) & 1  # mask x member
            table = (bits[None, :, :] << new_of_old[:, None, :]).sum(axis=2)
            return np.take_along_axis(table, masks & ((1 << count) - 1), axis=1) | high
        result = high.copy()
        for i in range(count):
            result |= ((masks >> i) & 1) << new_of_old[:, i:i + 1]
        return result

    # -- ties
    def _resolve_ties(self, canonical: np.ndarray, ordered: list[np.ndarray],
                      new_of_old: dict[str, np.ndarray] | None) -> None:
        """Replace each sorted row by the least of its orders within the runs of tied bundles that
        matter (in place; the renamings follow when given)."""
        pattern = self._mattering_runs(canonical, ordered)
        if pattern is None:
            return
        hard = np.flatnonzero(pattern.any(axis=1))
        if not len(hard):
            return
        shapes, which = np.unique(pattern[hard], axis=0, return_inverse=True)
        for s, shape in enumerate(shapes):
            group = hard[which.reshape(-1) == s]
            classes = self._class_orders(shape)
            best, choice = self._least_order(canonical[group], classes)
            canonical[group] = best
            if new_of_old is not None:
                self._compose(new_of_old, group, choice, classes)

    def _mattering_runs(self, canonical: np.ndarray, ordered: list[np.ndarray]) -> np.ndarray | None:
        """Per row and adjacent pair of sorted bundles (of every class, side by side): whether the two
        are tied in a run of ties whose order changes the row. None when nothing is tied."""
        n = len(canonical)
        columns = []
        any_tie = False
        for j, signatures in enumerate(ordered):
            size = signatures.shape[1]
            tied = signatures[:, :-1] == signatures[:, 1:]  # rows x pairs
            if not tied.any():
                columns.append(np.zeros((n, max(size - 1, 0)), dtype=bool))
                continue
            any_tie = True
            changes = np.zeros_like(tied)
            for p in range(size - 1):
                where = np.flatnonzero(tied[:, p])
                if len(where):
                    swapped = self._plan(j, _swap(size, p)).apply(canonical[where])
                    changes[where, p] = np.any(swapped != canonical[where], axis=1)
            # a run (maximal stretch of tied pairs) matters when any of its swaps changes the row
            run = np.cumsum(~np.concatenate([np.zeros((n, 1), dtype=bool), tied[:, :-1]], axis=1), axis=1)
            matters = np.zeros_like(tied)
            for k in range(1, size):
                in_run = tied & (run == k)
                matters |= in_run & (in_run & changes).any(axis=1, keepdims=True)
            columns.append(matters)
        return np.concatenate(columns, axis=1) if any_tie else None

    def _class_orders(self, shape: np.ndarray) -> list[tuple[int, list[tuple[int, ...]]]]:
        """From a row pattern of mattering tied pairs: per class with such runs, every order of its
        bundles that permutes within those runs (the identity first)."""
        result = []
        offset = 0
        for j, c in enumerate(self.group.classes):
            size = len(c.bundles)
            pairs = shape[offset:offset + size - 1]
            offset += size - 1
            if not pairs.any():
                continue
            runs: list[list[int]] = []
            for p in range(size - 1):
                if pairs[p]:
                    if runs and runs[-1][-1] == p:
                        runs[-1].append(p + 1)
                    else:
                        runs.append([p, p + 1])
            orders = []
            for choice in itertools.product(*(itertools.permutations(run) for run in runs)):
                order = list(range(size))
                for run, image in zip(runs, choice, strict=True):
                    for position, target in zip(run, image, strict=True):
                        order[position] = target
                orders.append(tuple(order))
            result.append((j, orders))
        return result

    def _least_order(self, rows: np.ndarray, classes: list[tuple[int, list[tuple[int, ...]]]]) -> tuple[np.ndarray, np.ndarray]:
        """The least of the rows permuted by every combination of the classes' orders, and per row
        the index of each class's order in it (rows x classes)."""
        best = rows.copy()
        choice = np.zeros((len(rows), len(classes)), dtype=np.int64)
        current = np.zeros(len(classes), dtype=np.int64)

        def visit(level: int, permuted: np.ndarray) -> None:
            if level == len(classes):
                smaller = _lexicographically_less(permuted, best)
                best[smaller] = permuted[smaller]
                choice[smaller] = current
                return
            j, orders = classes[level]
            for o, order in enumerate(orders):
                current[level] = o
                visit(level + 1, permuted if o == 0 else self._plan(j, order).apply(permuted))
            current[level] = 0

        visit(0, rows)
        return best, choice

    def _compose(self, new_of_old: dict[str, np.ndarray], group: np.ndarray, choice: np.ndarray,
                 classes: list[tuple[int, list[tuple[int, ...]]]]) -> None:
        """Follow the sorted rows' renamings of `group` by the chosen orders within ties."""
        for level, (j, orders) in enumerate(classes):
            for o, order in enumerate(orders):
                rows = group[choice[:, level] == o]
                if o == 0 or not len(rows):
                    continue
                for kind, perm in self._plan(j, order).perms.items():
                    new_of_old[kind][rows] = np.array(perm, dtype=np.int64)[new_of_old[kind][rows]]

    def _plan(self, j: int, order: tuple[int, ...]) -> _FixedPlan:
        """The renaming that puts class j's bundle at position b to position order[b] (cached)."""
        key = (j, order)
        if key not in self.plans:
            perms = self.group.compose([self.group.classes[j].permutation(order)])
            self.plans[key] = _FixedPlan(self.layout, perms)
        return self.plans[key]


def _swap(size: int, position: int) -> tuple[int, ...]:
    order = list(range(size))
    order[position], order[position + 1] = order[position + 1], order[position]
    return tuple(order)


def _lexicographically_less(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    differs = a != b
    first = np.argmax(differs, axis=1)
    rows = np.arange(len(a))
    return differs[rows, first] & (a[rows, first] < b[rows, first])


class _FixedPlan:
    """One permutation of instances, the same for every row, applied to int64 rows: one gather, then
    one table look-up per renamed kind for its references and one for its sets of references."""

    def __init__(self, layout: Layout, perms: dict[str, tuple[int, ...]]) -> None:
        self.perms = perms
        plan: list[Moved] = permutation_plan(layout, perms)
        self.sources = np.array([m.source for m in plan], dtype=np.int64)
        refs: dict[tuple[int, ...], list[int]] = defaultdict(list)
        bits: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for c, m in enumerate(plan):
            if m.mode == "ref":
                refs[m.table].append(c)
            elif m.mode == "bits":
                bits[m.table].append(c)
        self.refs = [(np.array(columns, dtype=np.int64), np.array(table, dtype=np.int64))
                     for table, columns in refs.items()]
        self.bits = [(np.array(columns, dtype=np.int64), np.array(table, dtype=np.int64), _mask_table(table))
                     for table, columns in bits.items()]

    def apply(self, rows: np.ndarray) -> np.ndarray:
        out = rows[:, self.sources]
        for columns, table in self.refs:
            out[:, columns] = table[np.clip(out[:, columns], 0, len(table) - 1)]
        for columns, table, masks in self.bits:
            values = out[:, columns]
            low = values & np.int64((1 << len(table)) - 1)
            if masks is not None:
                renamed = masks[low]
            else:
                renamed = np.zeros_like(values)
                for i, image in enumerate(table):
                    renamed |= ((values >> i) & 1) * image
            out[:, columns] = renamed | (values & ~np.int64((1 << len(table)) - 1))
        return out


def _mask_table(images: tuple[int, ...]) -> np.ndarray | None:
    """mask -> renamed mask, for sets of members of a kind small enough to tabulate (None otherwise)."""
    if len(images) > _SET_TABLE_LIMIT:
        return None
    bits = (np.arange(1 << len(images), dtype=np.int64)[:, None] >> np.arange(len(images))) & 1
    return (bits * np.array(images, dtype=np.int64)).sum(axis=1)
