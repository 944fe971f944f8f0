"""The in-tree expand controller, with the RecoverVolumeExpansionFailure flow (KEP-1790).

Counterpart of pkg/controller/volume/expand/expand_controller.go (enqueuePVC: Bound claims only,
on add, delete, a request increase or a status-capacity increase; syncHandler: a live GET of the
PV, pv.claimRef.uid == pvc.uid, act only if requests > status.capacity or the PV carries the
pre-resize annotation; "waiting for an external controller" without an in-tree expandable
plugin; expand: drop the pre-resize annotation once node expansion is complete) and of
pkg/volume/util/operationexecutor/operation_generator.go (GenerateExpandAndRecoverVolumeFunc,
expandAndRecoverFunction, markForPendingNodeExpansion).

The controller expansion takes two scheduler steps, as a real ControllerExpandVolume call takes
time: the worker records ControllerResizeInProgress and status.allocatedResources := the target
(before anything else, S12), then issues the call, which the provider applies at once (the disk's
real size changes); a later step handles the response: on success pv.spec.capacity is raised and
the claim is marked NodeResizePending + FileSystemResizePending (or finished, for a plugin without
node expansion); on a final error ControllerResizeInfeasible (the user may then lower the request,
but only above status.capacity); on any other error the key is requeued with backoff, and the
retry expands to the recorded allocatedResources, whatever the request now says.

Bug flag `expand-allocated-after-expansion` (B20) records allocatedResources only after the call
returns (with the NodeResizePending / finished write).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kvolt.impl.api import types as t
from kvolt.impl.api.server import ActorClient, APIError, APIServer
from kvolt.impl.api.types import Obj
from kvolt.impl.client.informer import Informer
from kvolt.impl.client.workqueue import WorkQueue
from kvolt.impl.volume.plugins import InfeasibleError, Spec, VolumeError, VolumePluginMgr
from kvolt.impl.volume.util import resize_util as ru

NAME = "expand-controller"
BUG = "expand-allocated-after-expansion"


class SyncError(Exception):
    pass


@dataclass
class ExpandCall:
    """A ControllerExpandVolume call the provider has applied, whose response is not yet handled."""

    key: str
    pvc: Obj  # as returned by MarkControllerReisizeInProgress
    pv: Obj
    plugin: Any
    new_size: int
    updated_size: int | None
    error: Exception | None


class ExpandController:
    def __init__(self, server: APIServer, plugins: VolumePluginMgr, *, bugs: frozenset[str] = frozenset(),
                 synced: bool = True):
        self.server = server
        self.client = ActorClient(server, NAME)
        self.plugins = plugins
        self.bugs = bugs
        self.pvc_informer = Informer(server, t.PVC, NAME)
        self.queue = WorkQueue("volume_expand", server.clock)
        self.calls: dict[str, ExpandCall] = {}
        self.pvc_informer.on_add.append(self.enqueue_pvc)
        self.pvc_informer.on_update.append(self.pvc_updated)
        self.pvc_informer.on_delete.append(self.enqueue_pvc)
        self.pvc_informer.start(synced)

    def informers(self) -> list[Informer]:
        return [self.pvc_informer]

    # ------------------------------------------------------------ event handlers

    def enqueue_pvc(self, pvc: Obj) -> None:
        if t.pvc_phase(pvc) == "Bound":
            self.queue.add(t.key(pvc))

    def pvc_updated(self, old: Obj, new: Obj) -> None:
        if t.pvc_request(new) > t.pvc_request(old) or ru.status_capacity(new) > ru.status_capacity(old):
            self.enqueue_pvc(new)

    # ------------------------------------------------------------ worker

    def process_next_work_item(self) -> tuple[str, str] | None:
        """One worker pass; a key whose controller expansion is in flight stays busy until its response."""
        key = self.queue.get()
        if key is None:
            return None
        try:
            if self.sync_handler(key):
                return key, ""
        except (APIError, VolumeError, SyncError) as error:
            self._done(key, error)
            return key, str(error)
        self._done(key, None)
        return key, ""

    def complete_call(self, key: str) -> tuple[str, str]:
        """The response of the in-flight controller expansion of `key`."""
        call = self.calls.pop(key)
        error: Exception | None = None
        try:
            self.finish_expansion(call)
        except (APIError, VolumeError) as e:
            error = e
        self._done(key, error)
        return key, str(error) if error else ""

    def _done(self, key: str, error: Exception | None) -> None:
        if error is None:
            self.queue.forget(key)
        else:
            self.queue.add_rate_limited(key)
        self.queue.done(key)

    # ------------------------------------------------------------ syncHandler

    def sync_handler(self, key: str) -> bool:
        """Returns whether a controller expansion was issued (its response comes in a later step)."""
        pvc = self.pvc_informer.get(key)
        if pvc is None:
            return False
        volume_name = pvc.get("spec", {}).get("volumeName") or ""
        try:
            pv = self.client.get(t.PV, "", volume_name)
        except APIError as error:
            raise SyncError(f'failed to get PV "{volume_name}": {error}') from error
        ref = t.claim_ref(pv)
        if ref is None or ref.get("namespace") != t.namespace(pvc) or ref.get("uid") != t.uid(pvc):
            raise SyncError(f"persistent Volume is not bound to PVC being updated : {key}")
        if t.pvc_request(pvc) <= ru.status_capacity(pvc) and not t.has_annotation(pv, ru.ANN_PRE_RESIZE_CAPACITY):
            return False
        plugin = self.plugins.find_expandable_plugin_by_spec(Spec(pv))
        if plugin is None:
            self.client.event(pvc, "Normal", "ExternalExpanding", "waiting for an external controller to expand this PVC")
            return False
        return self.expand(pvc, pv, plugin)

    def expand(self, pvc: Obj, pv: Obj, plugin: Any) -> bool:
        if self.is_node_expand_complete(pvc, pv) and t.has_annotation(pv, ru.ANN_PRE_RESIZE_CAPACITY):
            ru.delete_pre_resize_capacity_annotation(self.client, pv)
            return False
        return self.expand_and_recover(pvc, pv, plugin)

    @staticmethod
    def is_node_expand_complete(pvc: Obj, pv: Obj) -> bool:
        cap = ru.status_capacity(pvc)
        return cap >= t.pvc_request(pvc) and cap >= t.pv_capacity(pv)

    # ------------------------------------------------------------ expandAndRecoverFunction

    def expand_and_recover(self, pvc: Obj, pv: Obj, plugin: Any) -> bool:
        """The first half: choose the target, record it, issue ControllerExpandVolume."""
        spec_size, pv_size = t.pvc_request(pvc), t.pv_capacity(pv)
        status, allocated = ru.resize_status(pvc), ru.allocated(pvc)
        new_size = spec_size
        if pv_size < spec_size:
            if status in (ru.CONTROLLER_RESIZE_IN_PROGRESS, ru.NODE_RESIZE_PENDING, ru.NODE_RESIZE_IN_PROGRESS,
                          ru.NODE_RESIZE_INFEASIBLE) and allocated is not None:
                new_size = allocated  # resume the expansion already recorded, whatever the request says now
        else:
            if status in (ru.NODE_RESIZE_IN_PROGRESS, ru.NODE_RESIZE_PENDING):
                return False  # a spurious update: the kubelet has work to do
            if status == ru.NODE_RESIZE_INFEASIBLE:
                self.mark_for_pending_node_expansion(pvc, pv, None)
                return False
            if status in (ru.CONTROLLER_RESIZE_IN_PROGRESS, ru.CONTROLLER_RESIZE_INFEASIBLE) or \
                    (status == "" and allocated is not None):
                new_size = allocated if allocated is not None else spec_size
        pvc = ru.mark_controller_resize_in_progress(self.client, pvc, plugin.name, new_size,
                                                    record_allocated=BUG not in self.bugs)
        updated: int | None = None
        error: Exception | None = None
        try:
            updated = plugin.expand_volume_device(Spec(pv), new_size, ru.status_capacity(pvc))
        except (VolumeError, OSError) as e:
            error = e
        self.calls[t.key(pvc)] = ExpandCall(t.key(pvc), pvc, pv, plugin, new_size, updated, error)
        return True

    def finish_expansion(self, call: ExpandCall) -> None:
        """The second half: the call's response reaches the controller."""
        pvc, key = call.pvc, call.key
        allocated_now = call.new_size if BUG in self.bugs else None
        if call.error is not None:
            message = f"error expanding pvc {key}: {call.error}"
            if isinstance(call.error, InfeasibleError):
                try:
                    ru.mark_controller_expansion_infeasible(self.client, pvc, call.error)
                except APIError as error:
                    message += f" (marking it infeasible failed: {error})"
            self.client.event(pvc, "Warning", "VolumeResizeFailed", message)
            raise VolumeError(message)
        assert call.updated_size is not None
        try:
            pv = ru.update_pv_size(self.client, call.pv, call.updated_size)
        except APIError as error:
            # the claim stays ControllerResizeInProgress: the retry expands to allocatedResources again
            raise VolumeError(f"error updating pv for pvc {key}: {error}") from error
        if not call.plugin.requires_fs_resize or t.volume_mode(pv) == "Block":
            try:
                ru.mark_fs_resize_finished(self.client, pvc, call.updated_size, allocated_size=allocated_now)
            except APIError as error:
                raise VolumeError(f"error marking pvc {key} as resized: {error}") from error
            self.client.event(pvc, "Normal", "VolumeResizeSuccessful", f"ExpandVolume succeeded for volume {key}")
        else:
            self.mark_for_pending_node_expansion(pvc, pv, allocated_now)

    def mark_for_pending_node_expansion(self, pvc: Obj, pv: Obj, allocated_now: int | None) -> Obj:
        try:
            new = ru.mark_for_fs_resize(self.client, pvc, allocated_size=allocated_now)
        except APIError as error:
            raise VolumeError(f"error marking pvc {t.key(pvc)} for node expansion: {error}") from error
        try:
            ru.add_pre_resize_capacity_annotation(self.client, pv, ru.status_capacity(pvc))
        except APIError as error:
            raise VolumeError(f"error updating pv {t.name(pv)} annotation ({ru.ANN_PRE_RESIZE_CAPACITY}) with "
                              f"pre-resize capacity: {error}") from error
        return new

    # ------------------------------------------------------------ for scenarios (upstream unit tests)

    def test_sync(self, key: str) -> str:
        """syncHandler on one key, the controller expansion's response handled at once; returns the error."""
        try:
            if self.sync_handler(key):
                return self.complete_call(key)[1]
        except (APIError, VolumeError, SyncError) as error:
            return str(error)
        return ""

    def test_expand_and_recover(self, key: str) -> str:
        """expandAndRecoverFunction on the stored claim and its PV, as TestOperationGenerator_* call it."""
        ns, name = key.split("/", 1)
        try:
            pvc = self.client.get(t.PVC, ns, name)
            pv = self.client.get(t.PV, "", pvc["spec"]["volumeName"])
            plugin = self.plugins.find_expandable_plugin_by_spec(Spec(pv))
            if plugin is None:
                return f"can not find plugin for expanding volume: {key}"
            if self.expand_and_recover(pvc, pv, plugin):
                call = self.calls.pop(key)
                self.finish_expansion(call)
        except (APIError, VolumeError) as error:
            return str(error)
        return ""
