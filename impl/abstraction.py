"""THE abstraction function: the implementation's state mapped into the spec's variables.

This is the only place that knows how API objects, the kubelets' hosts and the backend map to
the spec (spec/volume_lifecycle.kvolt). The spec was still being written when this was; the
mapping is therefore kept as data: `KIND_FIELDS` says, per spec kind, which API kind feeds it and
how each spec field is read; `FINALIZERS` maps finalizer names; `ACTIONS` maps each step's action
to the spec action's name. Adapting to the final spec means editing these tables.

Conventions (kvolt.checker.traces): each kind is a variable holding a map from a stable id
(`pv1`, `pvc2`, `pod1`, `node1`, in order of first appearance of the object's name) to a record
with `exists`, `deleting`, `finalizers`, then the declared fields. References are ids or "none";
sets are {"#set": [...]}. An object that has been removed stays in the map with exists = false.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kvolt.impl.api import types as t
from kvolt.impl.cluster import Cluster

NONE = "none"

FINALIZERS = {t.PVC_PROTECTION_FINALIZER: "pvc_protection", t.PV_PROTECTION_FINALIZER: "pv_protection",
              t.PV_DELETION_PROTECTION_FINALIZER: "pv_controller"}

# spec action name for each implementation step action (identity unless listed)
ACTIONS: dict[str, str] = {
    "pv_controller_provision": "provision",
    "pv_controller_delete": "delete_volume",
    "adc_volume_attach": "attach",
    "adc_volume_detach": "detach",
    "kubelet_volume_mount": "mount",
    "kubelet_volume_unmount": "unmount",
    "kubelet_unmount_device": "unmount_device",
    "kubelet_verify_controller_attached_volume": "verify_attached",
}


class Abstraction:
    """Keeps the id assignment across the states of one trace."""

    def __init__(self) -> None:
        self.ids: dict[str, dict[str, str]] = {"PV": {}, "PVC": {}, "Pod": {}, "Node": {}, "Disk": {}}
        self.prefix = {"PV": "pv", "PVC": "pvc", "Pod": "pod", "Node": "node", "Disk": "disk"}

    def id(self, kind: str, name: str) -> str:
        if not name:
            return NONE
        table = self.ids[kind]
        if name not in table:
            table[name] = f"{self.prefix[kind]}{len(table) + 1}"
        return table[name]

    # ------------------------------------------------------------ field readers
    def _pv(self, c: Cluster, o: dict) -> dict[str, Any]:
        ref = t.claim_ref(o) or {}
        bound_claim = self.id("PVC", f"{ref.get('namespace', '')}/{ref.get('name', '')}") if ref.get("name") else NONE
        return {"phase": t.pv_phase(o) or "Pending", "claim": bound_claim, "claim_uid_set": bool(ref.get("uid")),
                "reclaim": o.get("spec", {}).get("persistentVolumeReclaimPolicy", "Retain"),
                "provisioned": t.has_annotation(o, t.ANN_DYNAMICALLY_PROVISIONED)}

    def _pvc(self, c: Cluster, o: dict) -> dict[str, Any]:
        return {"phase": t.pvc_phase(o) or "Pending", "volume": self.id("PV", o.get("spec", {}).get("volumeName") or ""),
                "bind_completed": t.has_annotation(o, t.ANN_BIND_COMPLETED)}

    def _pod(self, c: Cluster, o: dict) -> dict[str, Any]:
        claims = t.pod_claim_names(o)
        node = t.pod_node(o)
        host = c.backend.hosts.get(node)
        return {"claim": self.id("PVC", f"{t.namespace(o)}/{claims[0][1]}") if claims else NONE,
                "node": self.id("Node", node), "running": host is not None and t.uid(o) in host.running,
                "phase": t.pod_phase(o)}

    def _node(self, c: Cluster, o: dict) -> dict[str, Any]:
        status = o.get("status", {})
        return {"ready": t.node_is_ready(o), "out_of_service": t.has_out_of_service_taint(o),
                "in_use": {"#set": sorted(self._volume_id(c, v) for v in status.get("volumesInUse") or [])},
                "attached": {"#set": sorted(self._volume_id(c, v["name"]) for v in status.get("volumesAttached") or [])}}

    def _volume_id(self, c: Cluster, unique: str) -> str:
        """A unique volume name (`plugin/disk`) as the id of the PV that holds that disk."""
        disk = unique.rsplit("/", 1)[-1] if unique.startswith("kvolt.io/fake-disk/") else unique.split("/", 2)[-1]
        for pv in c.server.peek_all(t.PV):
            if pv.get("spec", {}).get("fakeDisk", {}).get("diskID") == disk:
                return self.id("PV", t.name(pv))
        return self.id("Disk", disk)

    KIND_FIELDS: dict[str, tuple[str, str]] = {"PV": (t.PV, "_pv"), "PVC": (t.PVC, "_pvc"), "Pod": (t.POD, "_pod"),
                                                "Node": (t.NODE, "_node")}
    DEFAULTS: dict[str, dict[str, Any]] = {
        "PV": {"phase": "Pending", "claim": NONE, "claim_uid_set": False, "reclaim": "Retain", "provisioned": False},
        "PVC": {"phase": "Pending", "volume": NONE, "bind_completed": False},
        "Pod": {"claim": NONE, "node": NONE, "running": False, "phase": "Pending"},
        "Node": {"ready": False, "out_of_service": False, "in_use": {"#set": []}, "attached": {"#set": []}},
    }

    def state(self, c: Cluster) -> dict[str, Any]:
        """The spec variables of the cluster's current state."""
        out: dict[str, Any] = {}
        for var, (kind, reader_name) in self.KIND_FIELDS.items():
            reader: Callable[[Cluster, dict], dict] = getattr(self, reader_name)
            present: dict[str, dict] = {}
            for o in c.server.peek_all(kind):
                oid = self.id(var, t.key(o))
                record = {"exists": True, "deleting": t.deletion_timestamp(o) is not None,
                          "finalizers": {"#set": sorted(FINALIZERS.get(f, f) for f in t.finalizers(o))}}
                record.update(reader(c, o))
                present[oid] = record
            pairs = []
            for _name, oid in sorted(self.ids[var].items(), key=lambda kv: _id_order(kv[1])):
                record = present.get(oid)
                if record is None:
                    record = {"exists": False, "deleting": False, "finalizers": {"#set": []}, **self.DEFAULTS[var]}
                pairs.append([oid, record])
            out[var] = {"#map": pairs}
        disks = []
        for disk_id, disk in sorted(c.backend.disks.items()):
            mounted = sorted(self.id("Node", h.name) for h in c.backend.hosts.values() if h.mounts_of(disk_id))
            disks.append([self.id("Disk", disk_id), {"exists": disk.exists, "kind": disk.kind,
                                                     "attached": {"#set": sorted(self.id("Node", n) for n in disk.attached)},
                                                     "mounted": {"#set": mounted}}])
        out["Disk"] = {"#map": disks}
        return out

    @staticmethod
    def action(step_action: str) -> str:
        return ACTIONS.get(step_action, step_action)


def _id_order(oid: str) -> tuple[str, int]:
    head = oid.rstrip("0123456789")
    return head, int(oid[len(head):] or 0)


VARIABLES = ["PV", "PVC", "Pod", "Node", "Disk"]
