"""The kubelet's desired-state populator.

Counterpart of pkg/kubelet/volumemanager/populator/desired_state_of_world_populator.go
(findAndAddNewPods with processPodVolumes and createVolumeSpec, which GETs the claim and the PV
live; checkVolumeFSResize, which records the PV's capacity as the desired size of a mounted,
non-read-only volume, so the reconciler expands it on the node when it exceeds the claim's
status.capacity; findAndRemoveDeletedPods, which removes a pod's volumes only once its
containers are gone, and keeps a volume that is not mounted for the pod (PodRemovedFromVolume)
as long as the pod object exists, terminating or not: the reconciler may still mount it).

Fault flag `kubelet-reject-terminating-pvc` (B18) rejects every claim with a deletionTimestamp,
the behaviour before the fix in PR #130335.
"""

from __future__ import annotations

from typing import Any

from kvolt.impl.api import types as t
from kvolt.impl.api.server import APIError, NotFound
from kvolt.impl.kubelet.volumemanager.cache import ActualStateOfWorld, DesiredStateOfWorld, VolumeToMount
from kvolt.impl.volume.util.resize_util import status_capacity
from kvolt.impl.volume.util.volumeutil import SpecError, create_volume_spec


class DesiredStateOfWorldPopulator:
    def __init__(self, node: str, client: Any, pod_informer: Any, plugins: Any, dsw: DesiredStateOfWorld,
                 asw: ActualStateOfWorld, is_pod_running: Any, bugs: frozenset[str] = frozenset()):
        self.node, self.client, self.pod_informer, self.plugins = node, client, pod_informer, plugins
        self.dsw, self.asw = dsw, asw
        self.is_pod_running = is_pod_running  # the container runtime's view (podStateProvider)
        self.bugs = bugs
        self.has_added_pods = False
        self.errors: dict[str, str] = {}  # pod uid -> the volume error shown on the pod

    def populate(self) -> None:
        self.find_and_add_new_pods()
        self.find_and_remove_deleted_pods()
        self.has_added_pods = True

    def _active_pods(self) -> list[dict]:
        return [p for p in self.pod_informer.list() if t.pod_node(p) == self.node and not t.is_pod_terminated(p)
                and t.deletion_timestamp(p) is None]

    def find_and_add_new_pods(self) -> None:
        for pod in self._active_pods():
            self.process_pod_volumes(pod)

    def process_pod_volumes(self, pod: dict) -> None:
        uid = t.uid(pod)
        for outer, claim in t.pod_claim_names(pod):
            try:
                spec, pvc = create_volume_spec(pod, claim, self._get_pvc, self._get_pv,
                                               reject_terminating=True)
                if "kubelet-reject-terminating-pvc" in self.bugs and t.deletion_timestamp(pvc) is not None:
                    raise SpecError(f"PVC {t.key(pvc)} is being deleted")
            except (SpecError, APIError) as error:
                self.errors[uid] = str(error)
                continue
            plugin = self.plugins.find_plugin_by_spec(spec)
            if plugin is None:
                self.errors[uid] = f"no volume plugin matched {spec.name}"
                continue
            name = plugin.unique_volume_name(spec)
            if not self.dsw.pod_exists_in_volume(uid, name):
                self.dsw.add_pod_to_volume(VolumeToMount(name, uid, t.key(pod), outer, t.uid(pvc), spec, plugin))
            self.dsw.pods[uid][name].claim_capacity = status_capacity(pvc)
            self.check_volume_fs_resize(name, uid, spec, pvc)
            self.errors.pop(uid, None)

    def check_volume_fs_resize(self, name: str, pod_uid: str, spec: Any, pvc: dict) -> None:
        """checkVolumeFSResize: only mounted volumes (an unmounted one grows at its next MountDevice)."""
        if spec.read_only or self.asw.pod_mount_state(name, pod_uid) != "Mounted":
            return
        pv_capacity, claim_capacity = t.pv_capacity(spec.pv), status_capacity(pvc)
        if pv_capacity > claim_capacity:
            self.dsw.update_persistent_volume_size(name, pv_capacity)
            self.asw.initialize_claim_size(name, claim_capacity)

    def _get_pvc(self, ns: str, name: str) -> dict | None:
        try:
            return self.client.get(t.PVC, ns, name)
        except NotFound:
            return None

    def _get_pv(self, name: str) -> dict | None:
        try:
            return self.client.get(t.PV, "", name)
        except NotFound:
            return None

    def find_and_remove_deleted_pods(self) -> None:
        pods = {t.uid(p): p for p in self.pod_informer.list()}
        for uid in sorted(self.dsw.pods):
            pod = pods.get(uid)
            if pod is not None and t.deletion_timestamp(pod) is None and not t.is_pod_terminated(pod):
                continue
            if self.is_pod_running(uid):
                continue  # ShouldPodRuntimeBeRemoved: containers still run
            for name in sorted(self.dsw.pods[uid]):
                if pod is not None and self.asw.pod_mount_state(name, uid) == "NotMounted":
                    continue  # PodRemovedFromVolume && podExists: kept until it is mounted or the pod is gone
                self.dsw.delete_pod_from_volume(uid, name)
