"""Claim and volume bookkeeping for volume expansion (KEP-1790, RecoverVolumeExpansionFailure).

Counterpart of pkg/volume/util/resize_util.go (UpdatePVSize, AddAnnPreResizeCapacity,
DeleteAnnPreResizeCapacity, MarkControllerReisizeInProgress, MarkForFSResize, MarkResizeFinished,
MarkFSResizeFinished, MarkNodeExpansionInProgress, MarkNodeExpansionInfeasible,
MergeResizeConditionOnPVC) and of the status names of k8s.io/api/core/v1
(PersistentVolumeClaimConditionType, ClaimResourceStatus).

Every claim write is a status write carrying the resourceVersion the caller read (upstream
PatchPVCStatus adds it to the patch), so a write based on a stale claim fails with Conflict.
"""

from __future__ import annotations

from typing import Any

from kvolt.impl.api import types as t
from kvolt.impl.api.types import Obj, clone

ANN_PRE_RESIZE_CAPACITY = "volume.alpha.kubernetes.io/pre-resize-capacity"
ANN_RESIZER = "volume.kubernetes.io/storage-resizer"

# v1.PersistentVolumeClaimConditionType
RESIZING = "Resizing"
FS_RESIZE_PENDING = "FileSystemResizePending"
CONTROLLER_RESIZE_ERROR = "ControllerResizeError"
NODE_RESIZE_ERROR = "NodeResizeError"
RESIZE_CONDITIONS = (RESIZING, FS_RESIZE_PENDING, CONTROLLER_RESIZE_ERROR, NODE_RESIZE_ERROR)

# v1.ClaimResourceStatus (status.allocatedResourceStatuses["storage"])
CONTROLLER_RESIZE_IN_PROGRESS = "ControllerResizeInProgress"
CONTROLLER_RESIZE_INFEASIBLE = "ControllerResizeInfeasible"
NODE_RESIZE_PENDING = "NodeResizePending"
NODE_RESIZE_IN_PROGRESS = "NodeResizeInProgress"
NODE_RESIZE_INFEASIBLE = "NodeResizeInfeasible"


# ---------------------------------------------------------------- readers

def format_quantity(n: int) -> str:
    """A byte count as the canonical Quantity string ("2Gi", "3G", "1500")."""
    for suffix, unit in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("T", 10**12), ("G", 10**9), ("M", 10**6)):
        if n and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def _quantity(resources: dict | None) -> int | None:
    value = (resources or {}).get("storage")
    return None if value is None else t.parse_quantity(value)


def status_capacity(pvc: Obj) -> int:
    """pvc.Status.Capacity[storage] (0 when unset, as a zero Quantity compares)."""
    return _quantity(pvc.get("status", {}).get("capacity")) or 0


def allocated(pvc: Obj) -> int | None:
    """pvc.Status.AllocatedResources[storage], None when unset."""
    return _quantity(pvc.get("status", {}).get("allocatedResources"))


def resize_status(pvc: Obj) -> str:
    return (pvc.get("status", {}).get("allocatedResourceStatuses") or {}).get("storage", "")


def quota_charge(pvc: Obj) -> int:
    """The ResourceQuota evaluator's requests.storage usage: max(spec.requests, status.allocatedResources)."""
    return max(t.pvc_request(pvc), allocated(pvc) or 0)


def conditions(pvc: Obj) -> list[dict[str, Any]]:
    return list(pvc.get("status", {}).get("conditions") or [])


def has_condition(pvc: Obj, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in conditions(pvc))


# ---------------------------------------------------------------- pure edits (on a copy)

def merge_resize_conditions(pvc: Obj, new: list[dict[str, Any]], keep_old: bool) -> None:
    """MergeResizeConditionOnPVC: non-resize conditions stay; resize ones are replaced (or kept)."""
    wanted = {c["type"]: c for c in new}
    out = []
    for cond in conditions(pvc):
        if cond.get("type") not in RESIZE_CONDITIONS:
            out.append(cond)
        elif cond.get("type") in wanted:
            out.append(wanted.pop(cond["type"]))
        elif keep_old:
            out.append(cond)
    out.extend(wanted.values())
    status = pvc.setdefault("status", {})
    if out:
        status["conditions"] = out
    else:
        status.pop("conditions", None)


def set_resize_status(pvc: Obj, value: str | None) -> None:
    status = pvc.setdefault("status", {})
    statuses = dict(status.get("allocatedResourceStatuses") or {})
    if value is None:
        statuses.pop("storage", None)
    else:
        statuses["storage"] = value
    if statuses:
        status["allocatedResourceStatuses"] = statuses
    else:
        status.pop("allocatedResourceStatuses", None)


def set_allocated(pvc: Obj, size: int) -> None:
    status = pvc.setdefault("status", {})
    status["allocatedResources"] = {**(status.get("allocatedResources") or {}), "storage": format_quantity(size)}


def set_resizer(pvc: Obj, resizer: str) -> None:
    if t.annotations(pvc).get(ANN_RESIZER) != resizer:
        t.set_annotation(pvc, ANN_RESIZER, resizer)


def _condition(type_: str, message: str = "") -> dict[str, Any]:
    cond = {"type": type_, "status": "True"}
    if message:
        cond["message"] = message
    return cond


# ---------------------------------------------------------------- writes

def _write_status(client: Any, old: Obj, new: Obj) -> Obj:
    """PatchPVCStatus with the resourceVersion check; the resizer annotation goes through the main resource."""
    if t.annotations(new).get(ANN_RESIZER) != t.annotations(old).get(ANN_RESIZER):
        resizer = t.annotations(new)[ANN_RESIZER]
        updated = client.update(_with_annotation(old, ANN_RESIZER, resizer))
        new = {**new, "metadata": updated["metadata"]}
    if new.get("status") == old.get("status"):
        return new
    return client.update_status(new)


def _with_annotation(obj: Obj, ann: str, value: str) -> Obj:
    obj = clone(obj)
    t.set_annotation(obj, ann, value)
    return obj


def mark_controller_resize_in_progress(client: Any, pvc: Obj, resizer: str, new_size: int, *,
                                       record_allocated: bool = True) -> Obj:
    """MarkControllerReisizeInProgress: Resizing condition, ControllerResizeInProgress and
    allocatedResources := new size, written *before* the controller expansion is issued."""
    new = clone(pvc)
    merge_resize_conditions(new, [_condition(RESIZING)], keep_old=False)
    set_resize_status(new, CONTROLLER_RESIZE_IN_PROGRESS)
    if record_allocated:
        set_allocated(new, new_size)
    set_resizer(new, resizer)
    return _write_status(client, pvc, new)


def mark_controller_expansion_infeasible(client: Any, pvc: Obj, error: Exception) -> Obj:
    """A final controller-expansion error: ControllerResizeInfeasible (the user may now lower the request)."""
    new = clone(pvc)
    set_resize_status(new, CONTROLLER_RESIZE_INFEASIBLE)
    merge_resize_conditions(new, [_condition(CONTROLLER_RESIZE_ERROR, f"failed to expand pvc with {error}")],
                            keep_old=False)
    return _write_status(client, pvc, new)


def mark_for_fs_resize(client: Any, pvc: Obj, *, allocated_size: int | None = None) -> Obj:
    """MarkForFSResize: condition FileSystemResizePending and NodeResizePending."""
    new = clone(pvc)
    set_resize_status(new, NODE_RESIZE_PENDING)
    merge_resize_conditions(new, [_condition(FS_RESIZE_PENDING, "Waiting for user to (re-)start a pod to finish "
                                                                "file system resize of volume on node.")], keep_old=True)
    if allocated_size is not None:
        set_allocated(new, allocated_size)
    return _write_status(client, pvc, new)


def mark_fs_resize_finished(client: Any, pvc: Obj, new_size: int, *, allocated_size: int | None = None) -> Obj:
    """MarkFSResizeFinished (= MarkResizeFinished): status.capacity := new size, the storage resize
    status and every resize condition cleared. allocatedResources stays."""
    new = clone(pvc)
    new.setdefault("status", {})["capacity"] = {**(new["status"].get("capacity") or {}), "storage": format_quantity(new_size)}
    set_resize_status(new, None)
    merge_resize_conditions(new, [], keep_old=False)
    if allocated_size is not None:
        set_allocated(new, allocated_size)
    return _write_status(client, pvc, new)


def mark_node_expansion_in_progress(client: Any, pvc: Obj) -> Obj:
    new = clone(pvc)
    set_resize_status(new, NODE_RESIZE_IN_PROGRESS)
    return _write_status(client, pvc, new)


def update_pv_size(client: Any, pv: Obj, new_size: int) -> Obj:
    """UpdatePVSize: pv.spec.capacity := the size the plugin reports."""
    def mutate(obj: Obj) -> None:
        obj.setdefault("spec", {}).setdefault("capacity", {})["storage"] = format_quantity(new_size)
    return client.patch(t.PV, "", t.name(pv), mutate)


def add_pre_resize_capacity_annotation(client: Any, pv: Obj, old_capacity: int) -> Obj:
    if t.has_annotation(pv, ANN_PRE_RESIZE_CAPACITY):
        return pv
    value = format_quantity(old_capacity)
    return client.patch(t.PV, "", t.name(pv), lambda obj: t.set_annotation(obj, ANN_PRE_RESIZE_CAPACITY, value))


def delete_pre_resize_capacity_annotation(client: Any, pv: Obj) -> Obj:
    if not t.has_annotation(pv, ANN_PRE_RESIZE_CAPACITY):
        return pv
    return client.patch(t.PV, "", t.name(pv), lambda obj: t.remove_annotation(obj, ANN_PRE_RESIZE_CAPACITY))
