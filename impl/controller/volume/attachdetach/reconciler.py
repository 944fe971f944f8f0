"""The attach/detach reconciler: detach what is no longer desired, then attach what is.

Counterpart of pkg/controller/volume/attachdetach/reconciler/reconciler.go (reconcile,
attachDesiredVolumes, reportMultiAttachError, nodeIsHealthy, hasOutOfServiceTaint) and of
statusupdater/node_status_updater.go (UpdateNodeStatuses, UpdateNodeStatusForNode).

Fault flags (known bugs re-introduced on purpose):
* `adc-no-multi-attach-guard` (B8): attach a non-shareable volume while it is attached elsewhere;
* `adc-detach-no-in-use-check`: detach without waiting for mountedByNode or checking volumesInUse;
* `adc-attach-key-per-node` (B9): key attach operations per node even for non-shareable volumes.
"""

from __future__ import annotations

from typing import Any

from kvolt.impl.api import types as t
from kvolt.impl.api.server import ActorClient, APIError
from kvolt.impl.controller.volume.attachdetach.cache import ATTACHED, DETACHED, ActualStateOfWorld, DesiredStateOfWorld
from kvolt.impl.volume.util.operationexecutor import DETACH, OperationExecutor

MAX_WAIT_FOR_UNMOUNT_MS = 6 * 60 * 1000


class NodeStatusUpdater:
    def __init__(self, client: ActorClient, node_informer: Any, asw: ActualStateOfWorld):
        self.client = client
        self.node_informer = node_informer
        self.asw = asw

    def update_node_statuses(self) -> list[str]:
        errors = []
        for node in sorted(self.asw.status_update_needed):
            try:
                self.update_node_status_for_node(node)
            except APIError as error:
                errors.append(str(error))
        return errors

    def update_node_status_for_node(self, node: str) -> None:
        if self.node_informer.get(node) is None:
            self.asw.status_update_needed.pop(node, None)
            return  # the node is gone; nothing to report
        attached = [{"name": v, "devicePath": p} for v, p in sorted(self.asw.report.get(node, {}).items())]

        def set_attached(obj: dict) -> None:
            obj.setdefault("status", {})["volumesAttached"] = attached

        self.client.patch(t.NODE, "", node, set_attached, subresource="status")
        self.asw.status_update_needed.pop(node, None)


class Reconciler:
    def __init__(self, dsw: DesiredStateOfWorld, asw: ActualStateOfWorld, executor: OperationExecutor,
                 status_updater: NodeStatusUpdater, node_informer: Any, client: ActorClient, clock: Any,
                 bugs: frozenset[str] = frozenset(), disable_force_detach_on_timeout: bool = False):
        self.dsw, self.asw, self.executor = dsw, asw, executor
        self.status_updater = status_updater
        self.node_informer = node_informer
        self.client = client
        self.clock = clock
        self.bugs = bugs
        self.disable_force_detach_on_timeout = disable_force_detach_on_timeout
        self.log: list[str] = []
        self.first_node: str | None = None  # see _in_attach_order

    def node_is_healthy(self, node: str) -> bool:
        obj = self.node_informer.get(node)
        return obj is not None and t.node_is_ready(obj)

    def has_out_of_service_taint(self, node: str) -> bool:
        obj = self.node_informer.get(node)
        return obj is not None and t.has_out_of_service_taint(obj)

    def reconcile(self) -> None:
        self._detach_undesired()
        self._attach_desired()
        self.status_updater.update_node_statuses()

    def _detach_undesired(self) -> None:
        for vol, entry in self.asw.get_attached_volumes():
            name, node = vol.volume_name, entry.node
            if self.dsw.volume_exists(name, node):
                continue
            multi = t.is_multi_attach_allowed(vol.spec.pv)
            if not self.executor.is_operation_safe_to_retry(name, "", node if multi else "", DETACH):
                continue
            if self.asw.get_attach_state(name, node) == DETACHED:
                continue
            elapsed = self.asw.set_detach_request_time(name, node, self.clock.now_ms)
            timeout = elapsed > MAX_WAIT_FOR_UNMOUNT_MS
            healthy = self.node_is_healthy(node)
            force_timeout_expired = timeout and not self.disable_force_detach_on_timeout
            force_detach = not healthy and force_timeout_expired
            out_of_service = self.has_out_of_service_taint(node)
            no_check = "adc-detach-no-in-use-check" in self.bugs
            if entry.mounted_by_node and not force_detach and not out_of_service and not no_check:
                continue
            self.asw.remove_volume_from_report_as_attached(name, node)
            try:
                self.status_updater.update_node_status_for_node(node)
            except APIError as error:
                self.log.append(f"UpdateNodeStatusForNode failed for {node}: {error}")
                self.asw.add_volume_to_report_as_attached(name, node)
                continue
            verify = not (force_timeout_expired or out_of_service) and not no_check
            if not self.executor.detach_volume(vol, node, verify, self.asw):
                self.asw.add_volume_to_report_as_attached(name, node)
            else:
                self.log.append(f"detach {name} from {node} started (verify={verify})")

    def _attach_desired(self) -> None:
        for vta in self._in_attach_order(self.dsw.get_volumes_to_attach()):
            name, node = vta.volume_name, vta.node
            multi = t.is_multi_attach_allowed(vta.spec.pv)
            per_node = multi or "adc-attach-key-per-node" in self.bugs
            if self.executor.is_operation_pending(name, "", node if per_node else ""):
                continue
            if self.asw.get_attach_state(name, node) == ATTACHED:
                self.asw.reset_detach_request_time(name, node)
                continue
            if not multi and "adc-no-multi-attach-guard" not in self.bugs:
                nodes = self.asw.get_nodes_for_attached_volume(name)
                if nodes:
                    if not vta.multi_attach_error_reported:
                        self.report_multi_attach_error(vta, nodes)
                        self.dsw.set_multi_attach_error(name, node)
                    continue
            if self.executor.attach_volume(vta, self.asw, key_per_node=per_node):
                self.log.append(f"attach {name} to {node} started")

    def _in_attach_order(self, volumes: list) -> list:
        """GetVolumesToAttach iterates Go maps, in an order that differs from pass to pass; here it is
        sorted, except that a driver exploring orders (the replay, impl/replay.py) may put one node's
        volumes first for one pass (`first_node`)."""
        if self.first_node is None:
            return volumes
        return sorted(volumes, key=lambda vta: vta.node != self.first_node)

    def report_multi_attach_error(self, vta: Any, nodes: list[str]) -> None:
        message = (f"Multi-Attach error for volume {vta.spec.name!r}: Volume is already exclusively attached to "
                   f"node {', '.join(nodes)} and can't be attached to another")
        for uid, pod_key in sorted(vta.scheduled_pods.items()):
            ns, name = pod_key.split("/", 1)
            self.client.event({"kind": t.POD, "metadata": {"namespace": ns, "name": name, "uid": uid}},
                              "Warning", "FailedAttachVolume", message)
