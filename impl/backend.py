"""The physical world: a fake storage backend and the hosts, with monitors on physical truth.

Counterpart of what the real system leaves to the cloud provider and the Linux hosts (the
cloud disk API behind pkg/volume's attachable plugins, an NFS server, `/proc/mounts` on each
node), as pkg/volume/testing's FakeVolume records calls. The API objects say what the
controllers believe; this module says what happened: which disks exist, to which nodes each is
attached, what each host has mounted for which pod, and which writes reached which disk.

The monitors judge physical truth only, independently of the API view:
* `multi-attach-write`: a non-shareable disk attached to two nodes while pods on both write;
* `deleted-while-mounted` / `detached-while-mounted`: the disk vanished under a live mount;
* `write-lost`: a running pod wrote to a disk that is gone or not attached to its node;
* `cross-claim-data`: data written through one claim is seen by a pod of another claim;
* `quota-below-allocation` (an API-level monitor, KEP-1790 S12): once a disk has been grown by
  a controller expansion, the quota its claim is charged, max(spec.requests,
  status.allocatedResources), is at least the disk's real size. Checked after every step
  (`check_quota`), from the API objects and the disks, independently of any controller.

Disks are resized only through `expand_disk` (ControllerExpandVolume at the provider: the real
size changes at once; beyond MAX_DISK_SIZE the provider refuses with a final error) and the
filesystem on a node through `expand_fs` (NodeExpandVolume / resize2fs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_DISK_SIZE = 8 * 2**30  # the provider's largest disk


class DiskInUseError(OSError):
    """The provider refused to delete an attached disk (volerr.DeletedVolumeInUseError)."""


class ResizeInfeasibleError(OSError):
    """The provider cannot grow the disk to the requested size (a final error: retrying cannot help)."""


@dataclass
class Violation:
    monitor: str
    message: str
    step: int


@dataclass
class Disk:
    id: str
    kind: str  # "cloud" (attachable, exclusive), "local" (one node, no attach), "nfs" (shared export)
    size: int
    node: str = ""  # for local disks
    exists: bool = True
    attached: dict[str, None] = field(default_factory=dict)
    writers_since_attach: dict[str, int] = field(default_factory=dict)
    data_owner: str = ""  # the claim uid whose pod first wrote to the disk
    created_size: int = 0  # the size it was created with (set by create_disk)
    fs_size: int = 0  # the filesystem on it (grown by NodeExpandVolume); 0 = as created
    expand_calls: int = 0  # controller expansions received


@dataclass
class Host:
    name: str
    powered: bool = True
    device_mounts: dict[str, str] = field(default_factory=dict)  # disk id -> global mount path
    pod_mounts: dict[tuple[str, str], str] = field(default_factory=dict)  # (pod uid, volume) -> disk id
    pod_claims: dict[tuple[str, str], str] = field(default_factory=dict)  # (pod uid, volume) -> claim uid
    running: dict[str, None] = field(default_factory=dict)  # pod uids with running containers

    def mounts_of(self, disk: str) -> bool:
        return disk in self.device_mounts or any(d == disk for d in self.pod_mounts.values())


@dataclass
class Backend:
    disks: dict[str, Disk] = field(default_factory=dict)
    hosts: dict[str, Host] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # physical events, kept in the trace's #meta
    step: int = 0
    _quota_seen: set[tuple[str, int, int]] = field(default_factory=set)
    # called after every physical event (a driver may pause a step there: impl/replay.py)
    on_change: Callable[[str], None] | None = None

    def _event(self, message: str) -> None:
        self.log.append(message)
        if self.on_change is not None:
            self.on_change(message)

    def _violate(self, monitor: str, message: str) -> None:
        self.violations.append(Violation(monitor, message, self.step))
        self.log.append(f"VIOLATION {monitor}: {message}")

    def host(self, name: str) -> Host:
        return self.hosts.setdefault(name, Host(name))

    # ------------------------------------------------------------ storage API (cloud / NFS server)

    def create_disk(self, disk_id: str, kind: str, size: int, node: str = "") -> Disk:
        """Idempotent by name, as CSI CreateVolume is."""
        disk = self.disks.get(disk_id)
        if disk is None or not disk.exists:
            disk = Disk(disk_id, kind, size, node, created_size=size)
            self.disks[disk_id] = disk
            self._event(f"create disk {disk_id}")
        return disk

    def delete_disk(self, disk_id: str) -> None:
        """Cloud disks cannot be deleted while attached (the provider answers "in use")."""
        disk = self.disks.get(disk_id)
        if disk is None or not disk.exists:
            return
        if disk.kind == "cloud" and disk.attached:
            raise DiskInUseError(f"disk {disk_id} is attached to {', '.join(disk.attached)}")
        for host in self.hosts.values():
            if host.powered and host.mounts_of(disk_id):
                self._violate("deleted-while-mounted", f"disk {disk_id} deleted while mounted on {host.name}")
        disk.exists = False
        disk.attached.clear()
        self._event(f"delete disk {disk_id}")

    def expand_disk(self, disk_id: str, size: int) -> int:
        """ControllerExpandVolume at the provider: idempotent; returns the disk's real size afterwards."""
        disk = self._disk(disk_id)
        disk.expand_calls += 1
        if size > disk.size:
            if size > MAX_DISK_SIZE:
                raise ResizeInfeasibleError(f"disk {disk_id}: {size} bytes exceeds the largest disk ({MAX_DISK_SIZE})")
            disk.size = size
            self._event(f"expand disk {disk_id} to {size}")
        return disk.size

    def expand_fs(self, disk_id: str, node: str) -> int:
        """NodeExpandVolume: the filesystem on the disk, mounted on `node`, grows to the disk's size."""
        disk = self._disk(disk_id)
        if disk.kind == "cloud" and disk_id not in self.host(node).device_mounts:
            raise OSError(f"{disk_id} is not mounted on {node}")
        disk.fs_size = disk.size
        self._event(f"expand fs {disk_id} on {node} to {disk.size}")
        return disk.size

    def check_quota(self, claims: list[dict[str, Any]], volumes: list[dict[str, Any]]) -> None:
        """The S12 monitor over the API objects and the disks (run after every step)."""
        from kvolt.impl.api import types as t
        from kvolt.impl.volume.util.resize_util import quota_charge

        by_name = {t.name(v): v for v in volumes}
        for claim in claims:
            pv = by_name.get(claim.get("spec", {}).get("volumeName") or "")
            if pv is None or (t.claim_ref(pv) or {}).get("uid") != t.uid(claim):
                continue
            disk = self.disks.get(_disk_of(pv))
            if disk is None or not disk.exists or disk.size <= disk.created_size:
                continue
            charged = quota_charge(claim)
            if charged < disk.size:
                seen = (t.uid(claim), charged, disk.size)
                if seen not in self._quota_seen:
                    self._quota_seen.add(seen)
                    self._violate("quota-below-allocation", f"claim {t.key(claim)} is charged {charged} bytes of quota "
                                                            f"but its disk {disk.id} has {disk.size}")

    def attach(self, disk_id: str, node: str) -> None:
        disk = self._disk(disk_id)
        disk.attached[node] = None
        disk.writers_since_attach[node] = 0
        self._event(f"attach {disk_id} -> {node}")

    def detach(self, disk_id: str, node: str) -> None:
        disk = self._disk(disk_id)
        host = self.hosts.get(node)
        if node in disk.attached and host is not None and host.powered and host.mounts_of(disk_id):
            self._violate("detached-while-mounted", f"disk {disk_id} detached from {node} while mounted there")
        disk.attached.pop(node, None)
        disk.writers_since_attach.pop(node, None)
        self._event(f"detach {disk_id} -x {node}")

    def _disk(self, disk_id: str) -> Disk:
        disk = self.disks.get(disk_id)
        if disk is None or not disk.exists:
            raise OSError(f"disk {disk_id} does not exist")
        return disk

    def disk_attached_to(self, disk_id: str, node: str) -> bool:
        disk = self.disks.get(disk_id)
        return disk is not None and disk.exists and node in disk.attached

    # ------------------------------------------------------------ hosts (mount table)

    def mount_device(self, disk_id: str, node: str, path: str) -> None:
        disk = self._disk(disk_id)
        if disk.kind == "cloud" and node not in disk.attached:
            raise OSError(f"device for {disk_id} not present on {node}")
        self.host(node).device_mounts[disk_id] = path
        self._event(f"mount-device {disk_id} on {node}")

    def unmount_device(self, disk_id: str, node: str) -> None:
        self.host(node).device_mounts.pop(disk_id, None)
        self._event(f"unmount-device {disk_id} on {node}")

    def mount_pod(self, disk_id: str, node: str, pod_uid: str, volume: str, claim_uid: str) -> None:
        disk = self._disk(disk_id)
        if disk.kind == "local" and disk.node != node:
            raise OSError(f"local disk {disk_id} is on {disk.node}, not {node}")
        host = self.host(node)
        host.pod_mounts[(pod_uid, volume)] = disk_id
        host.pod_claims[(pod_uid, volume)] = claim_uid
        self._event(f"mount {disk_id} for pod {pod_uid} on {node}")
        self._check_read(disk, claim_uid, pod_uid)

    def unmount_pod(self, node: str, pod_uid: str, volume: str) -> None:
        host = self.host(node)
        host.pod_mounts.pop((pod_uid, volume), None)
        host.pod_claims.pop((pod_uid, volume), None)
        self._event(f"unmount pod {pod_uid} volume {volume} on {node}")

    def _check_read(self, disk: Disk, claim_uid: str, pod_uid: str) -> None:
        if disk.data_owner and claim_uid and disk.data_owner != claim_uid:
            self._violate("cross-claim-data", f"pod {pod_uid} of claim {claim_uid} sees data of claim "
                                              f"{disk.data_owner} on disk {disk.id}")

    # ------------------------------------------------------------ pods

    def start_pod(self, node: str, pod_uid: str) -> None:
        self.host(node).running[pod_uid] = None

    def stop_pod(self, node: str, pod_uid: str) -> None:
        self.host(node).running.pop(pod_uid, None)

    def write(self, node: str, pod_uid: str) -> int:
        """A running pod writes to every volume it has mounted; returns how many writes were made."""
        host = self.host(node)
        if not host.powered or pod_uid not in host.running:
            return 0
        n = 0
        for (uid, volume), disk_id in sorted(host.pod_mounts.items()):
            if uid != pod_uid:
                continue
            disk = self.disks.get(disk_id)
            claim_uid = host.pod_claims.get((uid, volume), "")
            n += 1
            if disk is None or not disk.exists:
                self._violate("write-lost", f"pod {pod_uid} on {node} wrote to deleted disk {disk_id}")
                continue
            if disk.kind == "cloud" and node not in disk.attached:
                self._violate("write-lost", f"pod {pod_uid} on {node} wrote to {disk_id}, not attached there")
                continue
            self._check_read(disk, claim_uid, pod_uid)
            if not disk.data_owner:
                disk.data_owner = claim_uid
            if disk.kind == "cloud":
                disk.writers_since_attach[node] = disk.writers_since_attach.get(node, 0) + 1
                others = [m for m in disk.attached if m != node and disk.writers_since_attach.get(m, 0) > 0
                          and self.hosts.get(m) is not None and self.hosts[m].powered]
                if others:
                    self._violate("multi-attach-write", f"disk {disk_id} attached to {node} and {others[0]} "
                                                        "and written from both")
        return n

    # ------------------------------------------------------------ node power

    def power_off(self, node: str) -> None:
        host = self.host(node)
        host.powered = False
        host.running.clear()
        self._event(f"power-off {node}")

    def power_on(self, node: str) -> None:
        """A reboot: nothing is mounted or running any more; disks stay attached."""
        host = self.host(node)
        host.powered = True
        host.device_mounts.clear()
        host.pod_mounts.clear()
        host.pod_claims.clear()
        host.running.clear()
        for disk in self.disks.values():
            if node in disk.attached:
                disk.writers_since_attach[node] = 0
        self._event(f"power-on {node}")


def _disk_of(pv: dict[str, Any]) -> str:
    """The backend disk id a PV's source names (as the plugins' disk_id)."""
    spec = pv.get("spec", {})
    if "fakeDisk" in spec:
        return spec["fakeDisk"].get("diskID", "")
    if "nfs" in spec:
        return f"{spec['nfs'].get('server', '')}:{spec['nfs'].get('path', '')}"
    if "local" in spec:
        return spec["local"].get("path", "")
    return ""
