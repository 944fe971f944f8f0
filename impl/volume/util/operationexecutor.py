"""The operation executor: attach, detach, verify-attached, mount, unmount, unmount-device.

Counterpart of pkg/volume/util/operationexecutor/operation_executor.go (operation keys, one
operation per key through nestedpendingoperations) and operation_generator.go
(GenerateAttachVolumeFunc, GenerateDetachVolumeFunc with verifyVolumeIsSafeToDetach,
GenerateVerifyControllerAttachedVolumeFunc, GenerateMountVolumeFunc, GenerateUnmountVolumeFunc,
GenerateUnmountDeviceFunc). Operations are registered as pending; each completes in a later
scheduler step (see nestedpendingoperations).
"""

from __future__ import annotations

from typing import Any

from kvolt.impl.api import types as t
from kvolt.impl.api.server import ActorClient, NotFound
from kvolt.impl.volume.plugins import UncertainError, VolumeError, VolumePluginMgr
from kvolt.impl.volume.util.nestedpendingoperations import AlreadyExistsError, BackoffError, NestedPendingOperations, OpKey

ATTACH, DETACH, VERIFY, MOUNT, UNMOUNT, UNMOUNT_DEVICE = (
    "volume_attach", "volume_detach", "verify_controller_attached_volume", "volume_mount", "volume_unmount",
    "unmount_device")


class OperationExecutor:
    def __init__(self, client: ActorClient, plugins: VolumePluginMgr, pending: NestedPendingOperations):
        self.client = client
        self.plugins = plugins
        self.pending = pending
        self.events: list[str] = []  # FailedAttachVolume etc., for traces

    def _run(self, key: OpKey, name: str, func, owner: str = "") -> bool:
        try:
            self.pending.run(key, name, func, owner)
            return True
        except (AlreadyExistsError, BackoffError):
            return False

    def is_operation_pending(self, volume: str, pod: str = "", node: str = "") -> bool:
        return self.pending.is_operation_pending(OpKey(volume, pod, node))

    def is_operation_safe_to_retry(self, volume: str, pod: str, node: str, name: str) -> bool:
        return self.pending.is_operation_safe_to_retry(OpKey(volume, pod, node), name)

    # ------------------------------------------------------------ attach/detach controller

    def attach_volume(self, volume_to_attach: Any, asw: Any, *, key_per_node: bool = False) -> bool:
        spec, node, name = volume_to_attach.spec, volume_to_attach.node, volume_to_attach.volume_name
        plugin = self.plugins.find_attachable_plugin_by_spec(spec)

        def op() -> None:
            try:
                device_path = plugin.attach(plugin.disk_id(spec), node)
            except (VolumeError, OSError) as error:
                asw.mark_volume_as_uncertain(name, spec, node)
                self.events.append(f"Warning FailedAttachVolume {name} on {node}: {error}")
                raise
            asw.mark_volume_as_attached(name, spec, node, device_path)

        multi = t.is_multi_attach_allowed(spec.pv)
        key = OpKey(name, "", node) if multi or key_per_node else OpKey(name)
        return self._run(key, ATTACH, op)

    def detach_volume(self, attached: Any, node: str, verify_safe_to_detach: bool, asw: Any) -> bool:
        spec, name = attached.spec, attached.volume_name
        plugin = self.plugins.find_attachable_plugin_by_spec(spec)

        def op() -> None:
            if verify_safe_to_detach:
                try:
                    self.verify_volume_is_safe_to_detach(name, node)
                except VolumeError:
                    asw.add_volume_to_report_as_attached(name, node)
                    raise
            try:
                plugin.detach(plugin.disk_id(spec), node)
            except (VolumeError, OSError):
                asw.add_volume_to_report_as_attached(name, node)
                raise
            asw.mark_volume_as_detached(name, node)

        key = OpKey(name, "", node) if t.is_multi_attach_allowed(spec.pv) else OpKey(name)
        return self._run(key, DETACH, op)

    def verify_volume_is_safe_to_detach(self, volume_name: str, node: str) -> None:
        try:
            node_obj = self.client.get(t.NODE, "", node)
        except NotFound:
            return  # a deleted Node object: safe
        except Exception as error:
            raise VolumeError(f"DetachVolume failed fetching node from API server: {error}") from error
        if volume_name in (node_obj.get("status", {}).get("volumesInUse") or []):
            raise VolumeError(f"DetachVolume failed for volume {volume_name}: volume is still in use by node {node}")

    # ------------------------------------------------------------ kubelet

    def verify_controller_attached_volume(self, vtm: Any, node: str, asw: Any) -> bool:
        plugin = vtm.plugin

        def op() -> None:
            if not plugin.attachable:
                asw.mark_volume_as_attached(vtm.volume_name, vtm.spec, vtm.plugin, "")
                return
            if not vtm.reported_in_use:
                raise VolumeError(f"Volume {vtm.volume_name} has not been added to the list of VolumesInUse in "
                                  "the node's volume status")
            try:
                node_obj = self.client.get(t.NODE, "", node)
            except Exception as error:
                raise VolumeError(f"VerifyControllerAttachedVolume failed fetching node from API server: {error}") from error
            for attached in node_obj.get("status", {}).get("volumesAttached") or []:
                if attached.get("name") == vtm.volume_name:
                    asw.mark_volume_as_attached(vtm.volume_name, vtm.spec, vtm.plugin, attached.get("devicePath", ""))
                    return
            raise VolumeError(f"Volume {vtm.volume_name} not attached according to node status")

        return self._run(OpKey(vtm.volume_name), VERIFY, op, vtm.pod_uid)

    def mount_volume(self, vtm: Any, node: str, asw: Any) -> bool:
        plugin, spec, name = vtm.plugin, vtm.spec, vtm.volume_name

        def op() -> None:
            modes = t.access_modes(spec.pv)
            if modes == [t.RWOP] and asw.is_volume_mounted_elsewhere(name, vtm.pod_uid):
                raise VolumeError("volume uses the ReadWriteOncePod access mode and is already in use by another pod")
            disk = plugin.disk_id(spec)
            if plugin.attachable:
                plugin.wait_for_attach(disk, node)
            if plugin.device_mountable and asw.device_state(name) != "GloballyMounted":
                asw.mark_device_as_uncertain(name)
                try:
                    plugin.mount_device(disk, node)
                except UncertainError:
                    raise
                except (VolumeError, OSError):
                    asw.mark_device_as_unmounted(name)
                    raise
                asw.mark_device_as_mounted(name)
            was_uncertain = asw.pod_mount_state(name, vtm.pod_uid) == "Uncertain"
            asw.mark_volume_mount_as_uncertain(name, vtm)
            try:
                plugin.set_up(spec, node, vtm.pod_uid, vtm.outer_name, vtm.claim_uid)
            except UncertainError:
                raise
            except (VolumeError, OSError):
                if not was_uncertain:
                    asw.mark_volume_as_unmounted(name, vtm.pod_uid)
                raise
            asw.mark_volume_as_mounted(name, vtm)

        pod = "" if plugin.attachable or plugin.device_mountable else vtm.pod_uid
        return self._run(OpKey(name, pod), MOUNT, op, vtm.pod_uid)

    def unmount_volume(self, volume_name: str, pod_uid: str, outer_name: str, plugin: Any, disk: str, node: str,
                       asw: Any) -> bool:
        def op() -> None:
            plugin.tear_down(disk, node, pod_uid, outer_name)
            asw.mark_volume_as_unmounted(volume_name, pod_uid)

        return self._run(OpKey(volume_name, pod_uid), UNMOUNT, op)

    def unmount_device(self, volume_name: str, plugin: Any, disk: str, node: str, asw: Any) -> bool:
        def op() -> None:
            if asw.has_pod_mounts(volume_name):
                raise VolumeError(f"the device of {volume_name} is in use by pods")
            plugin.unmount_device(disk, node)
            asw.mark_device_as_unmounted(name=volume_name)

        return self._run(OpKey(volume_name), UNMOUNT_DEVICE, op)
