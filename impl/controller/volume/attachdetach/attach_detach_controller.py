"""The attach/detach controller: informers, DSW population, volumesInUse processing, restart.

Counterpart of pkg/controller/volume/attachdetach/attach_detach_controller.go (podAdd,
podUpdate, podDelete, nodeAdd, nodeUpdate, processVolumesInUse, populateActualStateOfWorld,
populateDesiredStateOfWorld), pkg/controller/volume/attachdetach/util/util.go (ProcessPodVolumes,
DetermineVolumeAction, CreateVolumeSpec from the caches) and
populator/desired_state_of_world_populator.go (findAndRemoveDeletedPods, findAndAddActivePods).
"""

from __future__ import annotations

from kvolt.impl.api import types as t
from kvolt.impl.api.server import ActorClient, APIServer
from kvolt.impl.api.types import Obj
from kvolt.impl.client.informer import Informer
from kvolt.impl.controller.volume.attachdetach.cache import ActualStateOfWorld, DesiredStateOfWorld
from kvolt.impl.controller.volume.attachdetach.reconciler import NodeStatusUpdater, Reconciler
from kvolt.impl.volume.plugins import Spec, VolumePluginMgr
from kvolt.impl.volume.util.nestedpendingoperations import NestedPendingOperations
from kvolt.impl.volume.util.operationexecutor import OperationExecutor
from kvolt.impl.volume.util.volumeutil import SpecError, create_volume_spec

NAME = "attach-detach-controller"


class AttachDetachController:
    def __init__(self, server: APIServer, plugins: VolumePluginMgr, *, bugs: frozenset[str] = frozenset(),
                 disable_force_detach_on_timeout: bool = False):
        self.server = server
        self.client = ActorClient(server, NAME)
        self.plugins = plugins
        self.pod_informer = Informer(server, t.POD, NAME)
        self.node_informer = Informer(server, t.NODE, NAME)
        self.pvc_informer = Informer(server, t.PVC, NAME)
        self.pv_informer = Informer(server, t.PV, NAME)
        self.dsw = DesiredStateOfWorld()
        self.asw = ActualStateOfWorld()
        self.pending = NestedPendingOperations(server.clock)
        self.executor = OperationExecutor(self.client, plugins, self.pending)
        self.status_updater = NodeStatusUpdater(self.client, self.node_informer, self.asw)
        self.reconciler = Reconciler(self.dsw, self.asw, self.executor, self.status_updater, self.node_informer,
                                     self.client, server.clock, bugs, disable_force_detach_on_timeout)
        self.pod_informer.on_add.append(self.pod_add)
        self.pod_informer.on_update.append(self._pod_updated)
        self.pod_informer.on_delete.append(self.pod_delete)
        self.node_informer.on_add.append(self.node_add)
        self.node_informer.on_update.append(self._node_updated)
        self.node_informer.on_delete.append(self._node_deleted)
        for inf in self.informers():
            inf.start(True)
        self.populate_actual_state_of_world()
        self.populate_desired_state_of_world()

    def informers(self) -> list[Informer]:
        return [self.pod_informer, self.node_informer, self.pvc_informer, self.pv_informer]

    # ------------------------------------------------------------ start-up

    def populate_actual_state_of_world(self) -> None:
        for node in self.node_informer.list():
            for attached in node.get("status", {}).get("volumesAttached") or []:
                spec = self._spec_for_unique_name(attached["name"])
                if spec is None:
                    continue
                self.asw.mark_volume_as_attached(attached["name"], spec, t.name(node), attached.get("devicePath", ""))
            self.process_volumes_in_use(node)
            self.node_add(node)

    def _spec_for_unique_name(self, unique: str) -> Spec | None:
        for pv in self.pv_informer.list():
            plugin = self.plugins.find_attachable_plugin_by_spec(Spec(pv))
            if plugin is not None and plugin.unique_volume_name(Spec(pv)) == unique:
                return Spec(pv)
        return None

    def populate_desired_state_of_world(self) -> None:
        for pod in self.pod_informer.list():
            self.pod_add(pod)

    # ------------------------------------------------------------ handlers

    # informer handlers (bound methods, so that a cluster can be pickled)
    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self.pod_add(new)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        self.node_add(new)

    def _node_deleted(self, node: Obj) -> None:
        self.dsw.delete_node(t.name(node))

    def node_add(self, node: Obj) -> None:
        if t.ANN_CONTROLLER_MANAGED_ATTACH in t.annotations(node):
            self.dsw.add_node(t.name(node))
        self.process_volumes_in_use(node)

    def process_volumes_in_use(self, node: Obj) -> None:
        in_use = set(node.get("status", {}).get("volumesInUse") or [])
        for vol, entry in self.asw.get_attached_volumes():
            if entry.node == t.name(node):
                self.asw.set_volume_mounted_by_node(vol.volume_name, entry.node, vol.volume_name in in_use)

    def pod_add(self, pod: Obj) -> None:
        add = not (t.is_pod_terminated(pod) and not self._keep_terminated(pod))
        self.process_pod_volumes(pod, add)

    def pod_delete(self, pod: Obj) -> None:
        self.process_pod_volumes(pod, False)

    def _keep_terminated(self, pod: Obj) -> bool:
        node = self.dsw.nodes.get(t.pod_node(pod))
        return node is not None and node.keep_terminated_pod_volumes

    def process_pod_volumes(self, pod: Obj, add: bool) -> None:
        node = t.pod_node(pod)
        if not node or not self.dsw.node_exists(node):
            return
        for _, claim in t.pod_claim_names(pod):
            if not add:
                for name, vol in list(self.dsw.nodes[node].volumes.items()):
                    if t.uid(pod) in vol.scheduled_pods:
                        self.dsw.delete_pod(t.uid(pod), name, node)
                return
            try:
                spec, _ = create_volume_spec(pod, claim, lambda ns, n: self.pvc_informer.get(f"{ns}/{n}"),
                                             self.pv_informer.get)
            except SpecError:
                continue
            plugin = self.plugins.find_attachable_plugin_by_spec(spec)
            if plugin is None:
                continue
            self.dsw.add_pod(t.uid(pod), t.key(pod), spec, plugin.unique_volume_name(spec), node)

    # ------------------------------------------------------------ populator (periodic)

    def populator_pass(self) -> None:
        """findAndRemoveDeletedPods, then findAndAddActivePods."""
        live = {t.uid(p): p for p in self.pod_informer.list()}
        for uid, (_, volumes) in self.dsw.get_pods().items():
            pod = live.get(uid)
            if pod is None or (t.is_pod_terminated(pod) and not self._keep_terminated(pod)):
                for volume, node in volumes:
                    self.dsw.delete_pod(uid, volume, node)
        for pod in live.values():
            self.pod_add(pod)

    def reconcile(self) -> None:
        self.reconciler.reconcile()
