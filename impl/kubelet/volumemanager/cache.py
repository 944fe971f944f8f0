"""The kubelet volume manager's desired and actual state of the world.

Counterpart of pkg/kubelet/volumemanager/cache/desired_state_of_world.go (pod -> volumes to
mount, ReportedInUse per volume, the desired persistentVolumeSize) and actual_state_of_world.go
(per volume: attached, device mount state NotMounted / Uncertain / GloballyMounted, the claim
size last seen or grown to (InitializeClaimSize, MarkVolumeAsResized); per pod: mount state
Uncertain / Mounted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kvolt.impl.volume.plugins import Spec


@dataclass
class VolumeToMount:
    volume_name: str
    pod_uid: str
    pod_key: str
    outer_name: str  # the volume's name in the pod spec
    claim_uid: str
    spec: Spec
    plugin: Any
    reported_in_use: bool = False
    desired_size: int = 0  # persistentVolumeSize: the PV's capacity, set while the volume is mounted
    claim_capacity: int = 0  # the claim's status.capacity at the populator's last (live) read


class DesiredStateOfWorld:
    def __init__(self) -> None:
        self.pods: dict[str, dict[str, VolumeToMount]] = {}  # pod uid -> volume name -> ...
        self.reported_in_use: dict[str, None] = {}

    def add_pod_to_volume(self, vtm: VolumeToMount) -> None:
        self.pods.setdefault(vtm.pod_uid, {})[vtm.volume_name] = vtm

    def delete_pod_from_volume(self, pod_uid: str, volume_name: str) -> None:
        vols = self.pods.get(pod_uid)
        if vols is not None:
            vols.pop(volume_name, None)
            if not vols:
                del self.pods[pod_uid]

    def volume_exists(self, volume_name: str) -> bool:
        return any(volume_name in vols for vols in self.pods.values())

    def pod_exists_in_volume(self, pod_uid: str, volume_name: str) -> bool:
        return volume_name in self.pods.get(pod_uid, {})

    def get_volumes_to_mount(self) -> list[VolumeToMount]:
        out = []
        for uid in sorted(self.pods):
            for name in sorted(self.pods[uid]):
                vtm = self.pods[uid][name]
                vtm.reported_in_use = name in self.reported_in_use
                out.append(vtm)
        return out

    def mark_volumes_reported_in_use(self, names: list[str]) -> None:
        self.reported_in_use = {n: None for n in names}

    def update_persistent_volume_size(self, volume_name: str, size: int) -> None:
        for vols in self.pods.values():
            if volume_name in vols:
                vols[volume_name].desired_size = size

    def attachable_volumes(self) -> list[str]:
        return sorted({v.volume_name for vols in self.pods.values() for v in vols.values() if v.plugin.attachable})


@dataclass
class MountedPod:
    pod_uid: str
    outer_name: str
    claim_uid: str
    state: str  # "Mounted" | "Uncertain"


@dataclass
class AttachedVolume:
    volume_name: str
    spec: Spec
    plugin: Any
    device_path: str = ""
    device_state: str = "NotMounted"  # NotMounted | Uncertain | GloballyMounted
    pods: dict[str, MountedPod] = field(default_factory=dict)
    reconstructed: bool = False
    claim_size: int | None = None  # the claim's capacity as last seen, or as grown by node expansion


class ActualStateOfWorld:
    def __init__(self) -> None:
        self.volumes: dict[str, AttachedVolume] = {}

    def mark_volume_as_attached(self, name: str, spec: Spec, plugin: Any, device_path: str) -> None:
        vol = self.volumes.get(name)
        if vol is None:
            self.volumes[name] = AttachedVolume(name, spec, plugin, device_path)
        else:
            vol.spec, vol.device_path = spec, device_path or vol.device_path

    def mark_volume_as_detached(self, name: str) -> None:
        self.volumes.pop(name, None)

    def is_attached(self, name: str) -> bool:
        return name in self.volumes

    def device_state(self, name: str) -> str:
        vol = self.volumes.get(name)
        return vol.device_state if vol else "NotMounted"

    def initialize_claim_size(self, name: str, size: int) -> None:
        vol = self.volumes.get(name)
        if vol is not None and vol.claim_size is None:
            vol.claim_size = size

    def mark_volume_as_resized(self, name: str, size: int) -> None:
        vol = self.volumes.get(name)
        if vol is not None:
            vol.claim_size = size

    def claim_size(self, name: str) -> int | None:
        vol = self.volumes.get(name)
        return vol.claim_size if vol is not None else None

    def mark_device_as_uncertain(self, name: str) -> None:
        self.volumes[name].device_state = "Uncertain"

    def mark_device_as_mounted(self, name: str) -> None:
        self.volumes[name].device_state = "GloballyMounted"

    def mark_device_as_unmounted(self, name: str) -> None:
        if name in self.volumes:
            self.volumes[name].device_state = "NotMounted"

    def pod_mount_state(self, name: str, pod_uid: str) -> str:
        vol = self.volumes.get(name)
        if vol is None or pod_uid not in vol.pods:
            return "NotMounted"
        return vol.pods[pod_uid].state

    def mark_volume_mount_as_uncertain(self, name: str, vtm: VolumeToMount) -> None:
        vol = self.volumes[name]
        if pod := vol.pods.get(vtm.pod_uid):
            pod.state = "Uncertain" if pod.state != "Mounted" else pod.state
        else:
            vol.pods[vtm.pod_uid] = MountedPod(vtm.pod_uid, vtm.outer_name, vtm.claim_uid, "Uncertain")

    def mark_volume_as_mounted(self, name: str, vtm: VolumeToMount) -> None:
        self.volumes[name].pods[vtm.pod_uid] = MountedPod(vtm.pod_uid, vtm.outer_name, vtm.claim_uid, "Mounted")

    def mark_volume_as_unmounted(self, name: str, pod_uid: str) -> None:
        vol = self.volumes.get(name)
        if vol is not None:
            vol.pods.pop(pod_uid, None)

    def has_pod_mounts(self, name: str) -> bool:
        vol = self.volumes.get(name)
        return vol is not None and bool(vol.pods)

    def is_volume_mounted_elsewhere(self, name: str, pod_uid: str) -> bool:
        vol = self.volumes.get(name)
        return vol is not None and any(uid != pod_uid for uid in vol.pods)

    def pod_volumes_exist(self, pod_uid: str) -> bool:
        return any(pod_uid in vol.pods for vol in self.volumes.values())

    def get_mounted_pod_volumes(self) -> list[tuple[AttachedVolume, MountedPod]]:
        return [(vol, vol.pods[uid]) for _, vol in sorted(self.volumes.items()) for uid in sorted(vol.pods)]

    def attachable_volumes(self) -> list[str]:
        return sorted(name for name, vol in self.volumes.items() if vol.plugin.attachable)
