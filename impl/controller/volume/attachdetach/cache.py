"""The attach/detach controller's desired and actual state of the world.

Counterpart of pkg/controller/volume/attachdetach/cache/desired_state_of_world.go (nodes managed
by the controller -> volumes -> scheduled pods) and actual_state_of_world.go (volume -> node ->
attachedConfirmed, mountedByNode, detachRequestedTime; the per-node list reported in
node.status.volumesAttached).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kvolt.impl.volume.plugins import Spec

ATTACHED, UNCERTAIN, DETACHED = "Attached", "Uncertain", "Detached"


@dataclass
class VolumeToAttach:
    volume_name: str
    spec: Spec
    node: str
    scheduled_pods: dict[str, str] = field(default_factory=dict)  # pod uid -> ns/name
    multi_attach_error_reported: bool = False


@dataclass
class NodeManaged:
    name: str
    keep_terminated_pod_volumes: bool = False
    volumes: dict[str, VolumeToAttach] = field(default_factory=dict)


class DesiredStateOfWorld:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeManaged] = {}

    def add_node(self, node: str, keep_terminated: bool = False) -> None:
        if node not in self.nodes:
            self.nodes[node] = NodeManaged(node, keep_terminated)

    def delete_node(self, node: str) -> bool:
        managed = self.nodes.get(node)
        if managed is None:
            return True
        if managed.volumes:
            return False  # "failed to delete node: it still contains volumes"
        del self.nodes[node]
        return True

    def node_exists(self, node: str) -> bool:
        return node in self.nodes

    def add_pod(self, pod_uid: str, pod_key: str, spec: Spec, volume_name: str, node: str) -> None:
        managed = self.nodes[node]
        vol = managed.volumes.get(volume_name)
        if vol is None:
            vol = managed.volumes[volume_name] = VolumeToAttach(volume_name, spec, node)
        vol.scheduled_pods[pod_uid] = pod_key

    def delete_pod(self, pod_uid: str, volume_name: str, node: str) -> None:
        managed = self.nodes.get(node)
        if managed is None or volume_name not in managed.volumes:
            return
        vol = managed.volumes[volume_name]
        vol.scheduled_pods.pop(pod_uid, None)
        if not vol.scheduled_pods:
            del managed.volumes[volume_name]

    def volume_exists(self, volume_name: str, node: str) -> bool:
        managed = self.nodes.get(node)
        return managed is not None and volume_name in managed.volumes

    def get_volumes_to_attach(self) -> list[VolumeToAttach]:
        return [v for n in sorted(self.nodes) for _, v in sorted(self.nodes[n].volumes.items())]

    def get_pods(self) -> dict[str, tuple[str, list[tuple[str, str]]]]:
        """pod uid -> (pod key, [(volume, node)])."""
        out: dict[str, tuple[str, list[tuple[str, str]]]] = {}
        for vol in self.get_volumes_to_attach():
            for uid, key in sorted(vol.scheduled_pods.items()):
                out.setdefault(uid, (key, []))[1].append((vol.volume_name, vol.node))
        return out

    def set_multi_attach_error(self, volume_name: str, node: str) -> None:
        self.nodes[node].volumes[volume_name].multi_attach_error_reported = True


@dataclass
class NodeAttachedTo:
    node: str
    attached_confirmed: bool
    mounted_by_node: bool = True  # "assume mounted, until proven otherwise"
    detach_requested_ms: int | None = None


@dataclass
class AttachedVolume:
    volume_name: str
    spec: Spec
    device_path: str = ""
    nodes: dict[str, NodeAttachedTo] = field(default_factory=dict)


class ActualStateOfWorld:
    def __init__(self) -> None:
        self.volumes: dict[str, AttachedVolume] = {}
        self.report: dict[str, dict[str, str]] = {}  # node -> volume -> device path
        self.status_update_needed: dict[str, None] = {}

    def _add_volume_node(self, volume_name: str, spec: Spec, node: str, device_path: str, attached: bool) -> None:
        vol = self.volumes.get(volume_name)
        if vol is None:
            vol = self.volumes[volume_name] = AttachedVolume(volume_name, spec, device_path)
        elif device_path:
            vol.device_path = device_path
        entry = vol.nodes.get(node)
        if entry is None:
            vol.nodes[node] = NodeAttachedTo(node, attached)
        elif attached:
            entry.attached_confirmed = True
        if attached:
            self.add_volume_to_report_as_attached(volume_name, node)

    def mark_volume_as_attached(self, volume_name: str, spec: Spec, node: str, device_path: str) -> None:
        self._add_volume_node(volume_name, spec, node, device_path, True)

    def mark_volume_as_uncertain(self, volume_name: str, spec: Spec, node: str) -> None:
        self._add_volume_node(volume_name, spec, node, "", False)

    def mark_volume_as_detached(self, volume_name: str, node: str) -> None:
        vol = self.volumes.get(volume_name)
        if vol is not None:
            vol.nodes.pop(node, None)
            if not vol.nodes:
                del self.volumes[volume_name]
        self.remove_volume_from_report_as_attached(volume_name, node)

    def remove_volume_from_report_as_attached(self, volume_name: str, node: str) -> None:
        if volume_name in self.report.get(node, {}):
            del self.report[node][volume_name]
            self.status_update_needed[node] = None

    def add_volume_to_report_as_attached(self, volume_name: str, node: str) -> None:
        vol = self.volumes.get(volume_name)
        if vol is None or node not in vol.nodes:
            return
        reported = self.report.setdefault(node, {})
        if volume_name not in reported:
            reported[volume_name] = vol.device_path
            self.status_update_needed[node] = None

    def set_volume_mounted_by_node(self, volume_name: str, node: str, mounted: bool) -> None:
        vol = self.volumes.get(volume_name)
        if vol is not None and node in vol.nodes:
            vol.nodes[node].mounted_by_node = mounted

    def set_detach_request_time(self, volume_name: str, node: str, now_ms: int) -> int:
        entry = self.volumes[volume_name].nodes[node]
        if entry.detach_requested_ms is None:
            entry.detach_requested_ms = now_ms
        return now_ms - entry.detach_requested_ms

    def reset_detach_request_time(self, volume_name: str, node: str) -> None:
        vol = self.volumes.get(volume_name)
        if vol is not None and node in vol.nodes:
            vol.nodes[node].detach_requested_ms = None

    def get_attach_state(self, volume_name: str, node: str) -> str:
        vol = self.volumes.get(volume_name)
        if vol is None or node not in vol.nodes:
            return DETACHED
        return ATTACHED if vol.nodes[node].attached_confirmed else UNCERTAIN

    def get_attached_volumes(self) -> list[tuple[AttachedVolume, NodeAttachedTo]]:
        return [(vol, vol.nodes[n]) for _, vol in sorted(self.volumes.items()) for n in sorted(vol.nodes)]

    def get_nodes_for_attached_volume(self, volume_name: str) -> list[str]:
        vol = self.volumes.get(volume_name)
        if vol is None:
            return []
        return [n for n, e in sorted(vol.nodes.items()) if e.attached_confirmed]

    def get_volumes_to_report_attached(self) -> dict[str, list[tuple[str, str]]]:
        out = {}
        for node in sorted(self.status_update_needed):
            out[node] = sorted(self.report.get(node, {}).items())
        return out
