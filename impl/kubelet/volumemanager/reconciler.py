"""The kubelet volume reconciler: unmount, then mount or attach, then unmount devices.

Counterpart of pkg/kubelet/volumemanager/reconciler/reconciler_new.go and reconciler_common.go
(unmountVolumes, mountOrAttachVolumes with waitForVolumeAttach and, for a mounted volume whose
desired size exceeds the claim size, ExpandInUseVolume; unmountDetachDevices, readyToUnmount) and
reconstruct_new.go (reconstructVolumes: every mount found on the host
is added to the actual state as Uncertain, and unmounting waits until the desired state has been
populated).
"""

from __future__ import annotations

from typing import Any

from kvolt.impl.kubelet.volumemanager.cache import ActualStateOfWorld, DesiredStateOfWorld
from kvolt.impl.volume.plugins import Spec
from kvolt.impl.volume.util.operationexecutor import OperationExecutor


class Reconciler:
    def __init__(self, node: str, dsw: DesiredStateOfWorld, asw: ActualStateOfWorld, executor: OperationExecutor,
                 populator: Any, controller_attach_detach_enabled: bool = True):
        self.node, self.dsw, self.asw, self.executor, self.populator = node, dsw, asw, executor, populator
        self.controller_attach_detach_enabled = controller_attach_detach_enabled
        self.synced = False  # ReconcilerStatesHasBeenSynced: enables volumesInUse reporting
        self.first_pod: str | None = None  # see _in_mount_order

    def ready_to_unmount(self) -> bool:
        return self.populator.has_added_pods

    def reconcile(self) -> None:
        ready = self.ready_to_unmount()
        if ready:
            self.unmount_volumes()
        self.mount_or_attach_volumes()
        if ready:
            self.unmount_detach_devices()
            self.synced = True

    def unmount_volumes(self) -> None:
        for vol, pod in self.asw.get_mounted_pod_volumes():
            if not self.dsw.pod_exists_in_volume(pod.pod_uid, vol.volume_name):
                self.executor.unmount_volume(vol.volume_name, pod.pod_uid, pod.outer_name, vol.plugin,
                                             vol.plugin.disk_id(vol.spec), self.node, self.asw)

    def mount_or_attach_volumes(self) -> None:
        for vtm in self._in_mount_order(self.dsw.get_volumes_to_mount()):
            if self.asw.pod_mount_state(vtm.volume_name, vtm.pod_uid) == "Mounted":
                claim_size = self.asw.claim_size(vtm.volume_name)
                if vtm.desired_size and claim_size is not None and vtm.desired_size > claim_size \
                        and not vtm.spec.read_only:
                    self.executor.expand_in_use_volume(vtm, self.node, self.asw, claim_size)
                continue
            if not self.asw.is_attached(vtm.volume_name):
                if self.controller_attach_detach_enabled and vtm.plugin.attachable and not vtm.reported_in_use:
                    continue  # waitForVolumeAttach: not yet reported in use
                self.executor.verify_controller_attached_volume(vtm, self.node, self.asw)
                continue
            self.executor.mount_volume(vtm, self.node, self.asw)

    def _in_mount_order(self, volumes: list) -> list:
        """GetVolumesToMount iterates Go maps (volumesToMount, then each volume's podsToMount), in an
        order that differs from pass to pass; here it is sorted, except that a driver exploring
        orders (the replay, impl/replay.py) may put one pod's volumes first for one pass
        (`first_pod`). It matters where pods share an attachable volume: its operations are keyed
        by the volume alone, so the pod met first is the one whose mount (device and set-up) starts."""
        if self.first_pod is None:
            return volumes
        return sorted(volumes, key=lambda vtm: vtm.pod_uid != self.first_pod)

    def unmount_detach_devices(self) -> None:
        for name in sorted(self.asw.volumes):
            vol = self.asw.volumes[name]
            if vol.pods or self.dsw.volume_exists(name) or self.executor.is_operation_pending(name):
                continue
            if vol.device_state in ("GloballyMounted", "Uncertain") and vol.plugin.device_mountable:
                self.executor.unmount_device(name, vol.plugin, vol.plugin.disk_id(vol.spec), self.node, self.asw)
            else:
                self.asw.mark_volume_as_detached(name)  # the controller detaches

    # ------------------------------------------------------------ reconstruction

    def reconstruct(self, host: Any, backend: Any, plugins: Any) -> list[str]:
        """Add every mount found on the host to the actual state as Uncertain."""
        found = []
        for (pod_uid, outer), disk_id in sorted(host.pod_mounts.items()):
            spec, plugin = self._reconstruct_spec(disk_id, backend, plugins)
            if plugin is None:
                continue
            name = plugin.unique_volume_name(spec)
            vol = self.asw.volumes.get(name)
            if vol is None:
                self.asw.mark_volume_as_attached(name, spec, plugin, "")
                vol = self.asw.volumes[name]
                vol.reconstructed = True
            if vol.device_state == "NotMounted" and plugin.device_mountable:
                vol.device_state = "Uncertain"
            from kvolt.impl.kubelet.volumemanager.cache import MountedPod
            vol.pods[pod_uid] = MountedPod(pod_uid, outer, host.pod_claims.get((pod_uid, outer), ""), "Uncertain")
            found.append(name)
        for disk_id in sorted(host.device_mounts):
            spec, plugin = self._reconstruct_spec(disk_id, backend, plugins)
            if plugin is None:
                continue
            name = plugin.unique_volume_name(spec)
            if name not in self.asw.volumes:
                self.asw.mark_volume_as_attached(name, spec, plugin, "")
                self.asw.volumes[name].reconstructed = True
            self.asw.volumes[name].device_state = "Uncertain"
            found.append(name)
        return found

    @staticmethod
    def _reconstruct_spec(disk_id: str, backend: Any, plugins: Any) -> tuple[Spec, Any]:
        disk = backend.disks.get(disk_id)
        kind = disk.kind if disk is not None else "cloud"
        if kind == "cloud":
            source = {"fakeDisk": {"diskID": disk_id}}
        elif kind == "nfs":
            server, path = disk_id.split(":", 1)
            source = {"nfs": {"server": server, "path": path}}
        else:
            source = {"local": {"path": disk_id}}
        spec = Spec({"kind": "PersistentVolume", "metadata": {"name": f"reconstructed-{disk_id}"}, "spec": source})
        return spec, plugins.find_plugin_by_spec(spec)
