"""Matching claims to volumes.

Counterpart of pkg/controller/volume/persistentvolume/index.go (persistentVolumeOrderedIndex:
findByClaim, allPossibleMatchingAccessModes) and of component-helpers/storage/volume/pv_helpers.go
(FindMatchingVolume, CheckVolumeModeMismatches, CheckAccessModes).
"""

from __future__ import annotations

from kvolt.impl.api import types as t
from kvolt.impl.api.types import Obj


def check_volume_mode_mismatches(claim: Obj, volume: Obj) -> bool:
    return t.volume_mode(claim) != t.volume_mode(volume)


def check_access_modes(claim: Obj, volume: Obj) -> bool:
    modes = t.access_modes(volume)
    return all(m in modes for m in t.access_modes(claim))


def find_matching_volume(claim: Obj, volumes: list[Obj], delay_binding: bool) -> Obj | None:
    """FindMatchingVolume on the controller path (node == nil): the smallest fitting Available PV,
    except that a PV pre-bound to this claim wins at once."""
    requested = t.pvc_request_quantity(claim)
    requested_class = t.claim_class(claim)
    selector = claim.get("spec", {}).get("selector")
    smallest: Obj | None = None
    for volume in volumes:
        if t.claim_ref(volume) is not None and not t.is_volume_bound_to_claim(volume, claim):
            continue
        size = t.pv_capacity_quantity(volume)
        if size < requested:  # volumeQty.Cmp(requestedQty) < 0
            continue
        if check_volume_mode_mismatches(claim, volume):
            continue
        if t.deletion_timestamp(volume) is not None:
            continue
        if t.is_volume_bound_to_claim(volume, claim):
            return volume
        if delay_binding:
            continue
        if t.pv_phase(volume) != "Available":
            continue
        if selector is not None and not t.labels_match(selector, (volume.get("metadata", {}).get("labels") or {})):
            continue
        if t.volume_class(volume) != requested_class:
            continue
        if smallest is None or t.pv_capacity_quantity(smallest) > size:
            smallest = volume
    return smallest


class PersistentVolumeOrderedIndex:
    """Volumes grouped by their exact access-mode set."""

    def __init__(self, volumes: list[Obj]):
        self.groups: dict[tuple[str, ...], list[Obj]] = {}
        for v in sorted(volumes, key=t.name):
            self.groups.setdefault(tuple(sorted(set(t.access_modes(v)))), []).append(v)

    def all_possible_matching_access_modes(self, claim_modes: list[str]) -> list[tuple[str, ...]]:
        wanted = set(claim_modes)
        possible = [modes for modes in self.groups if wanted <= set(modes)]
        return sorted(possible, key=lambda m: (len(m), m))

    def find_by_claim(self, claim: Obj, delay_binding: bool) -> Obj | None:
        for modes in self.all_possible_matching_access_modes(t.access_modes(claim)):
            volume = find_matching_volume(claim, self.groups[modes], delay_binding)
            if volume is not None:
                return volume
        return None
