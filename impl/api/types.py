"""Typed API objects: the kinds kvolt serves and the field accessors the controllers use.

Counterpart of k8s.io/api/core/v1 (PersistentVolume, PersistentVolumeClaim, Pod, Node),
k8s.io/api/storage/v1 (StorageClass, VolumeAttachment) and the helpers in
k8s.io/component-helpers/storage/volume (annotation names, claim/volume class lookups).

Objects are kept in their manifest form (`apiVersion`, `kind`, `metadata`, `spec`, `status`), the
shape the API server stores and the shape scenario files are written in, so a scenario's expected
partial manifest compares field by field with what the API server holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kvolt.impl.api.resource import Quantity, QuantityError
from kvolt.impl.api.resource import parse_quantity as parse_resource_quantity

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    name: str
    api_version: str
    resource: str  # plural, as in the client's actions ("persistentvolumeclaims")
    namespaced: bool
    has_status: bool = True


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("PersistentVolume", "v1", "persistentvolumes", False),
        Kind("PersistentVolumeClaim", "v1", "persistentvolumeclaims", True),
        Kind("Pod", "v1", "pods", True),
        Kind("Node", "v1", "nodes", False),
        Kind("StorageClass", "storage.k8s.io/v1", "storageclasses", False, has_status=False),
        Kind("VolumeAttachment", "storage.k8s.io/v1", "volumeattachments", False),
    )
}
PV, PVC, POD, NODE, SC, VA = ("PersistentVolume", "PersistentVolumeClaim", "Pod", "Node", "StorageClass", "VolumeAttachment")

# Annotations and finalizers (component-helpers/storage/volume/helpers.go and friends)
ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_DYNAMICALLY_PROVISIONED = "pv.kubernetes.io/provisioned-by"
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_BETA_CLASS = "volume.beta.kubernetes.io/storage-class"
ANN_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
ANN_CONTROLLER_MANAGED_ATTACH = "volumes.kubernetes.io/controller-managed-attach-detach"
PVC_PROTECTION_FINALIZER = "kubernetes.io/pvc-protection"
PV_PROTECTION_FINALIZER = "kubernetes.io/pv-protection"
PV_DELETION_PROTECTION_FINALIZER = "kubernetes.io/pv-controller"  # PVDeletionInTreeProtectionFinalizer
PV_EXTERNAL_DELETION_PROTECTION_FINALIZER = "external-provisioner.volume.kubernetes.io/finalizer"  # PVDeletionProtectionFinalizer
ANN_MIGRATED_TO = "pv.kubernetes.io/migrated-to"
TAINT_OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"

RWO, ROX, RWX, RWOP = "ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"


# ---------------------------------------------------------------- metadata

def meta(obj: Obj) -> dict[str, Any]:
    return obj.setdefault("metadata", {})


def name(obj: Obj) -> str:
    return obj.get("metadata", {}).get("name", "")


def namespace(obj: Obj) -> str:
    return obj.get("metadata", {}).get("namespace", "")


def uid(obj: Obj) -> str:
    return obj.get("metadata", {}).get("uid", "")


def key(obj: Obj) -> str:
    """The cache key, as MetaNamespaceKeyFunc: `ns/name` or `name`."""
    ns = namespace(obj)
    return f"{ns}/{name(obj)}" if ns else name(obj)


def annotations(obj: Obj) -> dict[str, str]:
    return obj.get("metadata", {}).get("annotations") or {}


def has_annotation(obj: Obj, ann: str) -> bool:
    return ann in annotations(obj)


def set_annotation(obj: Obj, ann: str, value: str = "yes") -> None:
    meta(obj).setdefault("annotations", {})[ann] = value


def remove_annotation(obj: Obj, ann: str) -> None:
    anns = meta(obj).get("annotations")
    if anns and ann in anns:
        del anns[ann]


def finalizers(obj: Obj) -> list[str]:
    return obj.get("metadata", {}).get("finalizers") or []


def deletion_timestamp(obj: Obj) -> Any:
    return obj.get("metadata", {}).get("deletionTimestamp")


def is_deletion_candidate(obj: Obj, finalizer: str) -> bool:
    """protectionutil.IsDeletionCandidate."""
    return deletion_timestamp(obj) is not None and finalizer in finalizers(obj)


def need_to_add_finalizer(obj: Obj, finalizer: str) -> bool:
    """protectionutil.NeedToAddFinalizer."""
    return deletion_timestamp(obj) is None and finalizer not in finalizers(obj)


def labels_match(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """metav1.LabelSelectorAsSelector(...).Matches for matchLabels and matchExpressions (In, NotIn, Exists)."""
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        op, k, values = expr.get("operator"), expr.get("key"), expr.get("values") or []
        if (op == "In" and labels.get(k) not in values) or (op == "NotIn" and labels.get(k) in values) \
                or (op == "Exists" and k not in labels) or (op == "DoesNotExist" and k in labels):
            return False
    return True


# ---------------------------------------------------------------- quantities (resource.Quantity, see resource.py)

def quantity(value: Any) -> Quantity:
    """The resource.Quantity of a manifest value: a string, or a number as JSON allows (UnmarshalJSON)."""
    if isinstance(value, Quantity):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_resource_quantity(str(value))
    if not isinstance(value, str):
        raise QuantityError(repr(value), "a quantity is a string or a number")
    return parse_resource_quantity(value)


def parse_quantity(value: Any) -> int:
    """Quantity.Value(): a manifest quantity in whole units (bytes), rounded up; QuantityError (a ValueError) if malformed."""
    return quantity(value).value()


def canonical_quantity(value: Any) -> str:
    """What the API server stores and returns for a quantity: Quantity.String() (MarshalJSON)."""
    return str(quantity(value))


# the ResourceList fields (maps of resource name to Quantity) of kvolt's kinds, by path
QUANTITY_MAPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "PersistentVolume": (("spec", "capacity"),),
    "PersistentVolumeClaim": (("spec", "resources", "requests"), ("spec", "resources", "limits"), ("status", "capacity"),
                              ("status", "allocatedResources")),
}


def quantity_fields(kind: str, obj: Obj) -> list[tuple[tuple[str, ...], Any]]:
    """Every (path, value) of a quantity the object holds."""
    out = []
    for path in QUANTITY_MAPS.get(kind, ()):
        values: Any = obj
        for p in path:
            values = values.get(p) if isinstance(values, dict) else None
        if isinstance(values, dict):
            out.extend(((*path, name), value) for name, value in values.items() if value is not None)
    return out


def canonicalize_quantities(kind: str, obj: Obj) -> None:
    """Rewrite every quantity as the API server serializes it (Quantity.String); QuantityError if one is malformed."""
    for path, value in quantity_fields(kind, obj):
        target = obj
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = canonical_quantity(value)


def pv_capacity_quantity(pv: Obj) -> Quantity:
    """pv.Spec.Capacity[storage]; a missing entry is the zero Quantity, as a Go map lookup gives."""
    return quantity(pv.get("spec", {}).get("capacity", {}).get("storage", 0))


def pvc_request_quantity(pvc: Obj) -> Quantity:
    """pvc.Spec.Resources.Requests[storage] (zero when missing)."""
    return quantity(pvc.get("spec", {}).get("resources", {}).get("requests", {}).get("storage", 0))


def pv_capacity(pv: Obj) -> int:
    return pv_capacity_quantity(pv).value()


def pvc_request(pvc: Obj) -> int:
    return pvc_request_quantity(pvc).value()


# ---------------------------------------------------------------- PV / PVC helpers (storagehelpers)

def claim_class(pvc: Obj) -> str:
    """GetPersistentVolumeClaimClass: the beta annotation wins, then spec.storageClassName, else ""."""
    anns = annotations(pvc)
    if ANN_BETA_CLASS in anns:
        return anns[ANN_BETA_CLASS]
    return pvc.get("spec", {}).get("storageClassName") or ""


def volume_class(pv: Obj) -> str:
    anns = annotations(pv)
    if ANN_BETA_CLASS in anns:
        return anns[ANN_BETA_CLASS]
    return pv.get("spec", {}).get("storageClassName") or ""


def claim_ref(pv: Obj) -> dict[str, Any] | None:
    return pv.get("spec", {}).get("claimRef")


def volume_mode(obj: Obj) -> str:
    return obj.get("spec", {}).get("volumeMode") or "Filesystem"


def access_modes(obj: Obj) -> list[str]:
    return list(obj.get("spec", {}).get("accessModes") or [])


def pv_phase(pv: Obj) -> str:
    return pv.get("status", {}).get("phase", "")


def pvc_phase(pvc: Obj) -> str:
    return pvc.get("status", {}).get("phase", "")


def is_volume_bound_to_claim(pv: Obj, pvc: Obj) -> bool:
    """storagehelpers.IsVolumeBoundToClaim."""
    ref = claim_ref(pv)
    if not ref or ref.get("name") != name(pvc) or ref.get("namespace") != namespace(pvc):
        return False
    return not ref.get("uid") or ref.get("uid") == uid(pvc)


def is_multi_attach_allowed(pv: Obj | None) -> bool:
    """pkg/volume/util: IsMultiAttachAllowed for PV-backed specs."""
    if pv is None:
        return True
    modes = access_modes(pv)
    return not modes or RWX in modes or ROX in modes


def pod_claim_names(pod: Obj) -> list[tuple[str, str]]:
    """(volume name in the pod, claim name) for each persistentVolumeClaim volume."""
    out = []
    for vol in pod.get("spec", {}).get("volumes") or []:
        src = vol.get("persistentVolumeClaim")
        if src and src.get("claimName"):
            out.append((vol.get("name", src["claimName"]), src["claimName"]))
    return out


def pod_node(pod: Obj) -> str:
    return pod.get("spec", {}).get("nodeName") or ""


def pod_phase(pod: Obj) -> str:
    return pod.get("status", {}).get("phase", "Pending")


def is_pod_terminated(pod: Obj) -> bool:
    """volumeutil.IsPodTerminated: Succeeded/Failed, or deleting with no container running."""
    phase = pod_phase(pod)
    if phase in ("Succeeded", "Failed"):
        return True
    if deletion_timestamp(pod) is None:
        return False
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return not any(s.get("state", {}).get("running") is not None for s in statuses)


def node_is_ready(node: Obj) -> bool:
    for cond in node.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def has_out_of_service_taint(node: Obj) -> bool:
    return any(t.get("key") == TAINT_OUT_OF_SERVICE and t.get("effect") == "NoExecute"
               for t in node.get("spec", {}).get("taints") or [])


def clone(value: Any) -> Any:
    """A deep copy of manifest data (dicts, lists, scalars); faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value
