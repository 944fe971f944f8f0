"""THE abstraction function: the implementation's state mapped into the spec's variables.

This is the only place that knows how the implementation's API objects map to the spec
(spec/volume_lifecycle.kvolt). Only what an observer of the API server sees is recorded: the
API-object kinds PV, PVC, Pod and Node, with the spec's field names and encodings. Everything
else is left out (partial mode: the checker leaves it free):

* kinds without an API counterpart in the implementation: `Cluster` (model bookkeeping), `Host`
  (kubelet memory and physical mounts), `VolumeAttachment` (the implementation's in-tree attacher
  attaches through the backend and creates no VolumeAttachment objects), `StorageClass` (only
  constants);
* fields that are physical truth or ghosts, not API state: PV.backing, PV.data, PVC.bind_witness,
  PVC.charged (what quota admission charged is not stored on the object);
* the finalizers of a PV of an attachable plugin: the spec's CSI path puts the external-attacher
  finalizer on it, the implementation's in-tree attacher has no counterpart.

The mapping is data, in the tables below: `KINDS` (spec kind -> API kind and how instances get
their slot), `FIELDS` (the spec fields recorded), `FINALIZERS`, `ACTIONS` (step action -> spec
action and parameter names). Instance ids are the spec model's (`pv1`, `pvc2`, `pod1`, `node1`):
claims and nodes by name (a claim re-created under the same name reuses its slot: the spec
creates a claim only in an absent slot, and the API server only creates a name that is free),
PVs and pods by creation order (uid). A claim's `uid` is the number of its incarnation (1, 2, ...
in creation order, after `UID_BASE`), as the spec's cluster-wide counter hands them out.

Conventions (kvolt.checker.views.traces): each kind is a variable holding a map from instance id to a
record with `exists`, `deleting`, `finalizers`, then the recorded fields. References are ids or
"none"; sets are {"#set": [...]}. An object that has been removed stays with exists = false and
only its lifecycle recorded.
"""

from __future__ import annotations

from typing import Any

from kvolt.impl.api import types as t
from kvolt.impl.cluster import Cluster
from kvolt.impl.volume.plugins import FAKE_DISK

NONE = "none"
GI = 2**30
UID_BASE = 0  # the model's initial Cluster.last_uid

# spec kind -> (API kind, slot key: "name" or "uid", id prefix)
KINDS: dict[str, tuple[str, str, str]] = {
    "PV": (t.PV, "uid", "pv"),
    "PVC": (t.PVC, "name", "pvc"),
    "Pod": (t.POD, "uid", "pod"),
    "Node": (t.NODE, "name", "node"),
}
VARIABLES = list(KINDS)

# spec fields recorded per kind (every other field of the spec kind is left free)
FIELDS: dict[str, tuple[str, ...]] = {
    "PV": ("phase", "claim", "claim_uid", "bound_by_controller", "provisioned", "capacity"),
    "PVC": ("uid", "phase", "volume", "bind_completed", "selected_node", "provisioning", "request", "capacity",
            "allocated"),
    "Pod": ("claim", "node"),
    "Node": ("ready", "oos", "in_use", "attached"),
}

FINALIZERS = {t.PVC_PROTECTION_FINALIZER: "pvc_protection", t.PV_PROTECTION_FINALIZER: "pv_protection",
              t.PV_DELETION_PROTECTION_FINALIZER: "pv_controller"}

# step action -> (spec action, {workload pick name: spec parameter name}); a step action not listed
# corresponds to several spec actions (or none) and is recorded as "impl:<action>", which the
# conformance checker treats as unconstrained.
ACTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "user_create_claim": ("user.create_claim", {"claim": "c"}),
    "user_delete_claim": ("user.delete_claim", {"claim": "c"}),
    "user_delete_pod": ("user.delete_pod", {"pod": "p"}),
    "user_create_pod": ("user.create_pod", {"pod": "p"}),
    "scheduler_bind": ("scheduler.schedule", {"pod": "p", "node": "n"}),
    "admin_taint_out_of_service": ("admin.taint_out_of_service", {"node": "n"}),
    "podgc_force_delete": ("pod_gc.collect", {"pod": "p"}),
}
PICK_KINDS = {"claim": "PVC", "pod": "Pod", "node": "Node"}

# the spec model each conformance workload is checked against (#meta.model of its traces), and
# that model's instance counts: every slot is recorded from the first state on (absent until used)
MODELS = {"conform": "conform_disk", "conform-nfs": "conform_nfs"}
MODEL_FAULTS = (("node-notready", "_faults"), ("kubelet-restart", "_restart"))  # fault -> model suffix (first wins)
SLOTS = {"conform_disk": {"PV": 1, "PVC": 1, "Pod": 2, "Node": 2},
         "conform_nfs": {"PV": 1, "PVC": 1, "Pod": 2, "Node": 2}}
# the model's creation budgets (its `init cluster1`): the spec's Cluster counts API creations, which
# the recorder sees (every create passes through the API server): last_uid = claims created so far
# (after UID_BASE), pods_left = the pod budget minus pods created so far
POD_BUDGET = {"conform_disk": 2, "conform_nfs": 2}


def model_for(workload: str, faults: frozenset[str] | set[str]) -> str | None:
    """The spec model (of spec/conformance.kvolt) a recording is checked against, or None."""
    if workload not in MODELS:
        return None
    suffix = next((s for fault, s in MODEL_FAULTS if fault in faults), "")
    return MODELS[workload] + suffix


def _family(model: str | None) -> str:
    return next((m for m in SLOTS if model and model.startswith(m)), "")


def _gi(value: Any) -> int:
    return t.parse_quantity(value) // GI if value else 0


class Abstraction:
    """Keeps the slot assignment (and claim incarnation numbers) across the states of one trace."""

    def __init__(self, model: str | None = None) -> None:
        self.ids: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        self.pod_budget = POD_BUDGET.get(_family(model))
        self.slots = {kind: [f"{KINDS[kind][2]}{i}" for i in range(1, n + 1)]
                      for kind, n in SLOTS.get(_family(model), {}).items()}
        self.claim_uids: dict[str, int] = {}  # API uid of a claim -> its incarnation number
        self.disk_pv: dict[str, str] = {}  # unique volume name -> PV id (kept after the PV is gone)
        self.pod_names: dict[str, str] = {}  # pod uid -> name (workload picks name pods)

    # ------------------------------------------------------------ slots
    def id(self, kind: str, key: str) -> str:
        if not key:
            return NONE
        table = self.ids[kind]
        if key not in table:
            table[key] = f"{KINDS[kind][2]}{len(table) + 1}"
        return table[key]

    def _slot_key(self, kind: str, o: dict) -> str:
        return t.uid(o) if KINDS[kind][1] == "uid" else t.key(o)

    def _claim_uid(self, api_uid: str) -> int:
        if not api_uid:
            return 0
        if api_uid not in self.claim_uids:
            self.claim_uids[api_uid] = UID_BASE + len(self.claim_uids) + 1
        return self.claim_uids[api_uid]

    def _claim_id(self, c: Cluster, ns: str, name: str) -> str:
        return self.id("PVC", f"{ns}/{name}") if name else NONE

    def _pv_by_name(self, c: Cluster, name: str) -> str:
        pv = c.server.peek(t.PV, "", name) if name else None
        return self.id("PV", t.uid(pv)) if pv is not None else NONE

    def _volume_id(self, unique: str) -> str:
        return self.disk_pv.get(unique, NONE)

    # ------------------------------------------------------------ field readers
    def _pv(self, c: Cluster, o: dict) -> dict[str, Any]:
        ref = t.claim_ref(o) or {}
        spec = o.get("spec", {})
        return {"phase": t.pv_phase(o) or "Pending",
                "claim": self._claim_id(c, ref.get("namespace", ""), ref.get("name", "")),
                "claim_uid": self._claim_uid(ref.get("uid", "")),
                "bound_by_controller": t.has_annotation(o, t.ANN_BOUND_BY_CONTROLLER),
                "provisioned": t.has_annotation(o, t.ANN_DYNAMICALLY_PROVISIONED),
                "capacity": _gi(spec.get("capacity", {}).get("storage"))}

    def _pvc(self, c: Cluster, o: dict) -> dict[str, Any]:
        spec, status = o.get("spec", {}), o.get("status", {})
        return {"uid": self._claim_uid(t.uid(o)), "phase": t.pvc_phase(o) or "Pending",
                "volume": self._pv_by_name(c, spec.get("volumeName") or ""),
                "bind_completed": t.has_annotation(o, t.ANN_BIND_COMPLETED),
                "selected_node": self.id("Node", t.annotations(o).get(t.ANN_SELECTED_NODE, "")),
                "provisioning": t.has_annotation(o, t.ANN_STORAGE_PROVISIONER)
                or t.has_annotation(o, t.ANN_BETA_STORAGE_PROVISIONER),
                "request": _gi(spec.get("resources", {}).get("requests", {}).get("storage")),
                "capacity": _gi((status.get("capacity") or {}).get("storage")),
                "allocated": _gi((status.get("allocatedResources") or {}).get("storage"))}

    def _pod(self, c: Cluster, o: dict) -> dict[str, Any]:
        claims = t.pod_claim_names(o)
        return {"claim": self._claim_id(c, t.namespace(o), claims[0][1]) if claims else NONE,
                "node": self.id("Node", t.pod_node(o))}

    def _node(self, c: Cluster, o: dict) -> dict[str, Any]:
        status = o.get("status", {})
        return {"ready": t.node_is_ready(o), "oos": t.has_out_of_service_taint(o),
                "in_use": {"#set": sorted({self._volume_id(v) for v in status.get("volumesInUse") or []})},
                "attached": {"#set": sorted({self._volume_id(v["name"]) for v in status.get("volumesAttached") or []})}}

    READERS = {"PV": "_pv", "PVC": "_pvc", "Pod": "_pod", "Node": "_node"}

    def _finalizers(self, kind: str, o: dict) -> dict | None:
        if kind == "Pod":  # graceful deletion: the spec's pseudo-finalizer `termination`
            return {"#set": ["termination"]}
        if kind == "PV" and "fakeDisk" in o.get("spec", {}):
            return None  # attachable: the spec's external-attacher finalizer has no counterpart
        if kind == "Node":
            return None  # the spec's Node has no finalizers
        return {"#set": sorted(FINALIZERS.get(f, f) for f in t.finalizers(o))}

    def state(self, c: Cluster) -> dict[str, Any]:
        """The spec variables of the cluster's current state."""
        self.observe(c)  # slots first (creation order, so that references resolve to stable ids)
        out: dict[str, Any] = {}
        for kind, (api_kind, _, _) in KINDS.items():
            reader = getattr(self, self.READERS[kind])
            present: dict[str, dict] = {}
            for o in c.server.peek_all(api_kind):
                record: dict[str, Any] = {"exists": True, "deleting": t.deletion_timestamp(o) is not None}
                finalizers = self._finalizers(kind, o)
                if finalizers is not None:
                    record["finalizers"] = finalizers
                fields = reader(c, o)
                record.update({f: fields[f] for f in FIELDS[kind]})
                present[self.id(kind, self._slot_key(kind, o))] = record
            pairs = []
            for oid in sorted(set(self.ids[kind].values()) | set(self.slots.get(kind, [])), key=_id_order):
                pairs.append([oid, present.get(oid, {"exists": False})])
            out[kind] = {"#map": pairs}
        if self.pod_budget is not None:
            out["Cluster"] = {"#map": [["cluster1", {"exists": True, "last_uid": UID_BASE + len(self.claim_uids),
                                                     "pods_left": self.pod_budget - len(self.ids["Pod"])}]]}
        return out

    def action(self, step_action: str, picks: dict[str, Any], c: Cluster) -> tuple[str, dict[str, Any]]:
        """The spec action a step corresponds to (with its parameters), or an unconstrained name."""
        if step_action not in ACTIONS:
            return f"impl:{step_action}", {}
        name, params = ACTIONS[step_action]
        out: dict[str, Any] = {}
        for pick, value in picks.items():
            if pick in params:
                out[params[pick]] = self._pick_id(PICK_KINDS[pick], value, c)
        return name, out

    def _pick_id(self, kind: str, value: str, c: Cluster) -> str:
        if kind == "PVC":
            return self.id("PVC", f"default/{value}")
        if kind == "Node":
            return self.id("Node", value)
        for key, oid in self.ids["Pod"].items():  # pods are slotted by uid; picks name them
            if self.pod_names.get(key) == value:
                return oid
        return NONE

    def observe(self, c: Cluster) -> None:
        """Assign slots to the objects that exist now (called before each step, so that a step's
        parameters can name an object the step removes)."""
        for kind in ("Node", "PVC", "PV", "Pod"):
            for o in sorted(c.server.peek_all(KINDS[kind][0]), key=_creation_order):
                self.id(kind, self._slot_key(kind, o))
                if kind == "PVC":
                    self._claim_uid(t.uid(o))
                if kind == "PV" and "fakeDisk" in o.get("spec", {}):
                    self.disk_pv.setdefault(f"{FAKE_DISK}/{o['spec']['fakeDisk']['diskID']}", self.id("PV", t.uid(o)))
                if kind == "Pod":
                    self.pod_names[t.uid(o)] = t.name(o)


def _creation_order(o: dict) -> int:
    uid = t.uid(o)
    return int(uid.rsplit("-", 1)[-1]) if uid.rsplit("-", 1)[-1].isdigit() else 0


def _id_order(oid: str) -> tuple[str, int]:
    head = oid.rstrip("0123456789")
    return head, int(oid[len(head):] or 0)
