"""One node's kubelet: the volume manager plus the pod lifecycle and node-status parts it needs.

Counterpart of pkg/kubelet/volumemanager/volume_manager.go (GetVolumesInUse,
MarkVolumesAsReportedInUse, WaitForAttachAndMount), pkg/kubelet/nodestatus/setters.go
(VolumesInUse, Ready condition) and the pod worker paths of pkg/kubelet (start a pod's
containers once its volumes are mounted; on deletion stop them, wait for the volumes to be
unmounted — podVolumesExist — and then delete the pod object with grace period 0).

A restart (`Kubelet(...)` again over the same host) loses the caches and pending operations;
mounts and running containers survive on the host and are reconstructed.
"""

from __future__ import annotations

import contextlib

from kvolt.impl.api import types as t
from kvolt.impl.api.server import ActorClient, APIError, APIServer
from kvolt.impl.backend import Backend
from kvolt.impl.client.informer import Informer
from kvolt.impl.kubelet.volumemanager.cache import ActualStateOfWorld, DesiredStateOfWorld
from kvolt.impl.kubelet.volumemanager.populator import DesiredStateOfWorldPopulator
from kvolt.impl.kubelet.volumemanager.reconciler import Reconciler
from kvolt.impl.volume.plugins import VolumePluginMgr
from kvolt.impl.volume.util.nestedpendingoperations import NestedPendingOperations
from kvolt.impl.volume.util.operationexecutor import OperationExecutor


class Kubelet:
    def __init__(self, server: APIServer, node: str, backend: Backend, plugins: VolumePluginMgr, *,
                 bugs: frozenset[str] = frozenset()):
        self.server = server
        self.node = node
        self.name = f"kubelet@{node}"
        self.client = ActorClient(server, self.name)
        self.backend = backend
        self.host = backend.host(node)
        self.plugins = plugins
        self.pod_informer = Informer(server, t.POD, self.name)
        self.pod_informer.start(True)
        self.dsw = DesiredStateOfWorld()
        self.asw = ActualStateOfWorld()
        self.pending = NestedPendingOperations(server.clock)
        self.executor = OperationExecutor(self.client, plugins, self.pending)
        self.populator = DesiredStateOfWorldPopulator(node, self.client, self.pod_informer, plugins, self.dsw,
                                                      self.asw, self.is_pod_running, bugs)
        self.reconciler = Reconciler(node, self.dsw, self.asw, self.executor, self.populator)
        self.reconstructed = self.reconciler.reconstruct(self.host, backend, plugins)
        self.only_pod: str | None = None  # see sync_pods

    def is_pod_running(self, uid: str) -> bool:
        """The container runtime's view (a bound method, so that a cluster can be pickled)."""
        return uid in self.host.running

    def informers(self) -> list[Informer]:
        return [self.pod_informer]

    # ------------------------------------------------------------ volume manager

    def get_volumes_in_use(self) -> list[str]:
        return sorted(set(self.dsw.attachable_volumes()) | set(self.asw.attachable_volumes()))

    def update_node_status(self) -> bool:
        """The node-status loop: Ready, plus volumesInUse once the reconciler has synced."""
        synced = self.reconciler.synced
        in_use = self.get_volumes_in_use()

        def set_status(node: dict) -> None:
            status = node.setdefault("status", {})
            conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Ready"]
            conditions.append({"type": "Ready", "status": "True", "lastHeartbeatTime": self.server.clock.stamp()})
            status["conditions"] = conditions
            if synced:
                status["volumesInUse"] = in_use

        try:
            self.client.patch(t.NODE, "", self.node, set_status, subresource="status")
        except APIError:
            return False
        if synced:
            self.dsw.mark_volumes_reported_in_use(in_use)
        return True

    # ------------------------------------------------------------ pod workers

    def sync_pods(self) -> list[str]:
        """One pass of the pod workers; returns what was done.

        Upstream runs one worker per pod (pod_workers.go), so pods are synced independently, in any
        order; with `only_pod` set (by the replay, for one pass), only that pod's worker runs.
        """
        done = []
        pods = {t.uid(p): p for p in self.pod_informer.list() if t.pod_node(p) == self.node
                and self.only_pod in (None, t.uid(p))}
        for uid in sorted(self.host.running):
            if self.only_pod not in (None, uid):
                continue
            if uid not in pods:
                self.backend.stop_pod(self.node, uid)  # force-deleted: kill the containers
                done.append(f"kill {uid}")
        for uid, pod in sorted(pods.items()):
            running = uid in self.host.running
            if t.deletion_timestamp(pod) is not None or t.is_pod_terminated(pod):
                if running:
                    self.backend.stop_pod(self.node, uid)
                    self._set_status(pod, "Succeeded", running=False)
                    done.append(f"stop {t.key(pod)}")
                elif t.deletion_timestamp(pod) is not None and not self.asw.pod_volumes_exist(uid) \
                        and not any(op.owner == uid for op in self.pending.pending_ops()):
                    # podVolumesExist / WaitForUnmount look at the actual state only: a volume still
                    # desired but never mounted (not attached, say) does not hold the pod back
                    try:
                        self.client.delete(t.POD, t.namespace(pod), t.name(pod), grace_seconds=0, uid=uid)
                        done.append(f"delete {t.key(pod)}")
                    except APIError:
                        continue
                    # the pod is gone: drop what is left of it in the desired state at once (the
                    # populator would once the pod leaves the informer), so that no mount starts for it
                    for name in sorted(self.dsw.pods.get(uid, {})):
                        self.dsw.delete_pod_from_volume(uid, name)
                continue
            if not running and self._volumes_mounted(pod):
                self.backend.start_pod(self.node, uid)
                self._set_status(pod, "Running", running=True)
                done.append(f"start {t.key(pod)}")
        return done

    def _volumes_mounted(self, pod: dict) -> bool:
        """WaitForAttachAndMount: every claim volume of the pod is mounted for it."""
        uid = t.uid(pod)
        wanted = t.pod_claim_names(pod)
        mounted = self.dsw.pods.get(uid, {})
        if len(mounted) < len(wanted):
            return False
        return all(self.asw.pod_mount_state(name, uid) == "Mounted" for name in mounted)

    def _set_status(self, pod: dict, phase: str, *, running: bool) -> None:
        state = {"running": {}} if running else {"terminated": {"exitCode": 0}}

        def mutate(obj: dict) -> None:
            status = obj.setdefault("status", {})
            status["phase"] = phase
            status["containerStatuses"] = [{"name": "app", "state": state}]

        with contextlib.suppress(APIError):
            self.client.patch(t.POD, t.namespace(pod), t.name(pod), mutate, subresource="status")

    def running_pods(self) -> list[str]:
        return sorted(self.host.running)
