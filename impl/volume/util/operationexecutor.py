"""The operation executor: attach, detach, verify-attached, mount, unmount, unmount-device.

Counterpart of pkg/volume/util/operationexecutor/operation_executor.go (operation keys, one
operation per key through nestedpendingoperations) and operation_generator.go
(GenerateAttachVolumeFunc, GenerateDetachVolumeFunc with verifyVolumeIsSafeToDetach,
GenerateVerifyControllerAttachedVolumeFunc, GenerateMountVolumeFunc with expandVolumeDuringMount,
GenerateUnmountVolumeFunc, GenerateUnmountDeviceFunc, GenerateExpandInUseVolumeFunc with
nodeExpandVolume) and node_expander.go (NodeExpander: node expansion proceeds only while the claim
is NodeResizePending / NodeResizeInProgress, then MarkFSResizeFinished sets status.capacity and
clears the resize status and conditions). Operations are registered as pending; each completes in a later
scheduler step (see nestedpendingoperations).
"""

from __future__ import annotations

from typing import Any

from kvolt.impl.api import types as t
from kvolt.impl.api.server import ActorClient, APIError, NotFound
from kvolt.impl.volume.plugins import UncertainError, VolumeError, VolumePluginMgr
from kvolt.impl.volume.util import resize_util as ru
from kvolt.impl.volume.util.nestedpendingoperations import AlreadyExistsError, BackoffError, NestedPendingOperations, OpKey

ATTACH, DETACH, VERIFY, MOUNT, UNMOUNT, UNMOUNT_DEVICE, FS_RESIZE = (
    "volume_attach", "volume_detach", "verify_controller_attached_volume", "volume_mount", "volume_unmount",
    "unmount_device", "volume_fs_resize")


class OperationExecutor:
    def __init__(self, client: ActorClient, plugins: VolumePluginMgr, pending: NestedPendingOperations):
        self.client = client
        self.plugins = plugins
        self.pending = pending
        self.events: list[str] = []  # FailedAttachVolume etc., for traces

    def _run(self, key: OpKey, name: str, func, owner: str = "", node: str = "") -> bool:
        try:
            self.pending.run(key, name, func, owner, node)
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
        return self._run(key, ATTACH, op, node=node)

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
        return self._run(key, DETACH, op, node=node)

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
                self.expand_volume_during_mount(vtm, node, asw)
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

    # ------------------------------------------------------------ kubelet: node expansion

    def expand_in_use_volume(self, vtm: Any, node: str, asw: Any, current_size: int) -> bool:
        """GenerateExpandInUseVolumeFunc: grow a mounted volume's filesystem to the desired size."""
        name, new_size = vtm.volume_name, vtm.desired_size

        def op() -> None:
            if not self.node_expand_volume(vtm, node, new_size, current_size):
                raise VolumeError(f"NodeExpandVolume.NodeExpandVolume failed to resize volume {name}: "
                                  "volume resizing failed for unknown reason")
            asw.mark_volume_as_resized(name, new_size)

        return self._run(OpKey(name), FS_RESIZE, op, vtm.pod_uid)

    def expand_volume_during_mount(self, vtm: Any, node: str, asw: Any) -> None:
        """expandVolumeDuringMount (offline expansion, right after MountDevice)."""
        if not vtm.plugin.requires_fs_resize or t.pv_capacity(vtm.spec.pv) <= vtm.claim_capacity:
            return  # the populator's live read of the claim already shows it needs no growing
        pvc = self._get_claim_of(vtm.spec.pv)
        pv_size, claim_size = t.pv_capacity(vtm.spec.pv), ru.status_capacity(pvc)
        if claim_size < pv_size and self._node_expand(vtm, node, pvc, pv_size, claim_size):
            asw.mark_volume_as_resized(vtm.volume_name, pv_size)

    def _get_claim_of(self, pv: dict) -> dict:
        ref = t.claim_ref(pv) or {}
        try:
            return self.client.get(t.PVC, ref.get("namespace", ""), ref.get("name", ""))
        except APIError as error:
            raise VolumeError(f"mountVolume.NodeExpandVolume get PVC failed : {error}") from error

    def node_expand_volume(self, vtm: Any, node: str, new_size: int, old_size: int) -> bool:
        """nodeExpandVolume: returns whether the resize is done (or needs no doing)."""
        if not vtm.plugin.requires_fs_resize or new_size <= old_size:
            return True
        pvc = self._get_claim_of(vtm.spec.pv)
        return self._node_expand(vtm, node, pvc, new_size, old_size)

    def _node_expand(self, vtm: Any, node: str, pvc: dict, new_size: int, old_size: int) -> bool:
        if vtm.spec.read_only:
            self.events.append(f"Warning FileSystemResizeFailed {vtm.volume_name}: requested read-only file system")
            return True
        status, claim_size = ru.resize_status(pvc), ru.status_capacity(pvc)
        if status == "" and ru.allocated(pvc) is None:  # an older resize controller: the legacy path
            vtm.plugin.node_expand(vtm.spec, node, new_size, old_size)
            if claim_size < new_size:
                self._update_claim(lambda: ru.mark_fs_resize_finished(self.client, pvc, new_size))
            return True
        already_updated = claim_size >= new_size and status == ""
        if not already_updated and status not in (ru.NODE_RESIZE_PENDING, ru.NODE_RESIZE_IN_PROGRESS):
            return False  # NodeExpander.runPreCheck: the controller is not done with this claim
        if not already_updated:
            pvc = self._update_claim(lambda: ru.mark_node_expansion_in_progress(self.client, pvc))
        vtm.plugin.node_expand(vtm.spec, node, new_size, old_size)
        self.events.append(f"Normal FileSystemResizeSuccessful {vtm.volume_name} on {node}")
        if not already_updated:
            self._update_claim(lambda: ru.mark_fs_resize_finished(self.client, pvc, new_size))
        return True

    @staticmethod
    def _update_claim(write: Any) -> dict:
        try:
            return write()
        except APIError as error:
            raise VolumeError(f"mountVolume.NodeExpandVolume update PVC status failed : {error}") from error
