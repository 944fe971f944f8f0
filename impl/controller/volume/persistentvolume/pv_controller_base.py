"""The PV controller's plumbing: informers, the private cache, queues, workers and resync.

Counterpart of pkg/controller/volume/persistentvolume/pv_controller_base.go
(NewController, initializeCaches, enqueueWork, volumeWorker, claimWorker, updateVolume,
deleteVolume, updateClaim, deleteClaim, resync, and the CSI-migration bookkeeping of syncVolume:
updateVolumeMigrationAnnotationsAndFinalizers with modifyDeletionFinalizers and
updateMigrationAnnotations). One worker per queue: each scheduler step processes one key of one
queue. The feature gate HonorPVReclaimPolicy is on, as it is by default since Kubernetes 1.31.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvolt.impl.api import types as t
from kvolt.impl.api.server import ActorClient, APIError, APIServer
from kvolt.impl.api.types import Obj
from kvolt.impl.client.informer import Informer
from kvolt.impl.client.workqueue import WorkQueue
from kvolt.impl.controller.volume.persistentvolume.pv_controller import (
    PVControllerSync,
    SyncError,
    modify_deletion_finalizers,
    update_migration_annotations,
)
from kvolt.impl.volume.csimigration import CSIMigratedPluginManager
from kvolt.impl.volume.plugins import VolumePluginMgr
from kvolt.impl.volume.util.nestedpendingoperations import NestedPendingOperations

NAME = "pv-controller"
RESYNC_PERIOD_MS = 15_000


@dataclass
class SyncResult:
    key: str
    error: str = ""


class PersistentVolumeController(PVControllerSync):
    def __init__(self, server: APIServer, plugins: VolumePluginMgr, *, synced: bool = True):
        self.server = server
        self.client = ActorClient(server, NAME)
        self.plugins = plugins
        self.volume_informer = Informer(server, t.PV, NAME)
        self.claim_informer = Informer(server, t.PVC, NAME)
        self.class_informer = Informer(server, t.SC, NAME)
        self.pod_informer = Informer(server, t.POD, NAME)  # podLister / podIndexer (no handlers)
        self.owns_pod_informer = True
        self.csi_migrated_plugin_manager = CSIMigratedPluginManager()
        self.pre_operation_hook = None  # tests only: called with the operation name before it is scheduled
        self.volume_queue = WorkQueue("volumes", server.clock)
        self.claim_queue = WorkQueue("claims", server.clock)
        self.operations = NestedPendingOperations(server.clock)
        self.volumes: dict[str, Obj] = {}
        self.claims: dict[str, Obj] = {}
        self.last_resync_ms = server.clock.now_ms
        # bound methods, not lambdas: a cluster is pickled (copied) by the replay driver (impl/replay.py)
        self.volume_informer.on_add.append(self._enqueue_volume)
        self.volume_informer.on_update.append(self._volume_updated)
        self.volume_informer.on_delete.append(self._enqueue_volume)
        self.claim_informer.on_add.append(self._enqueue_claim)
        self.claim_informer.on_update.append(self._claim_updated)
        self.claim_informer.on_delete.append(self._enqueue_claim)
        for inf in self.informers():
            inf.start(synced)
        self.initialize_caches()

    def informers(self) -> list[Informer]:
        own = [self.volume_informer, self.claim_informer, self.class_informer]
        return [*own, self.pod_informer] if self.owns_pod_informer else own

    def share_pod_informer(self, informer: Informer) -> None:
        """Read pods from another controller's informer: kube-controller-manager's controllers share one
        SharedInformerFactory, so they see one pod cache."""
        self.pod_informer, self.owns_pod_informer = informer, False

    def _enqueue_volume(self, volume: Obj) -> None:
        self.volume_queue.add(t.key(volume))

    def _volume_updated(self, old: Obj, new: Obj) -> None:
        self.volume_queue.add(t.key(new))

    def _enqueue_claim(self, claim: Obj) -> None:
        self.claim_queue.add(t.key(claim))

    def _claim_updated(self, old: Obj, new: Obj) -> None:
        self.claim_queue.add(t.key(new))

    def initialize_caches(self) -> None:
        for v in self.volume_informer.list():
            self.store_volume_update(v)
        for c in self.claim_informer.list():
            self.store_claim_update(c)

    def resync(self) -> None:
        for c in self.claim_informer.list():
            self.claim_queue.add(t.key(c))
        for v in self.volume_informer.list():
            self.volume_queue.add(t.key(v))
        self.last_resync_ms = self.server.clock.now_ms

    # ------------------------------------------------------------ CSI migration (syncVolume's first step)

    def update_volume_migration_annotations_and_finalizers(self, volume: Obj) -> Obj:
        """updateVolumeMigrationAnnotationsAndFinalizers: one PV update when the annotation or finalizers change."""
        clone = t.clone(volume)
        annotations = clone.get("metadata", {}).get("annotations")
        ann_modified = update_migration_annotations(self.csi_migrated_plugin_manager, annotations, False)
        finalizers, finalizers_modified = modify_deletion_finalizers(self.csi_migrated_plugin_manager, clone)
        if not ann_modified and not finalizers_modified:
            return clone
        if finalizers_modified:
            t.meta(clone)["finalizers"] = finalizers
        try:
            updated = self.client.update(clone)
        except APIError as error:
            raise SyncError(f"persistent Volume Controller can't anneal migration annotations or finalizer: {error}") from None
        self.store_volume_update(updated)
        return updated

    # ------------------------------------------------------------ workers

    def volume_worker(self) -> SyncResult | None:
        key = self.volume_queue.get()
        if key is None:
            return None
        try:
            volume = self.volume_informer.get(key)
            if volume is not None:
                return SyncResult(key, self.update_volume(volume))
            cached = self.volumes.get(key)
            if cached is not None:
                self.delete_volume(cached)
            return SyncResult(key)
        finally:
            self.volume_queue.done(key)

    def claim_worker(self) -> SyncResult | None:
        key = self.claim_queue.get()
        if key is None:
            return None
        try:
            claim = self.claim_informer.get(key)
            if claim is not None:
                return SyncResult(key, self.update_claim(claim))
            cached = self.claims.get(key)
            if cached is not None:
                self.delete_claim(cached)
            return SyncResult(key)
        finally:
            self.claim_queue.done(key)

    def update_volume(self, volume: Obj) -> str:
        if not self.store_volume_update(volume):
            return ""
        try:
            self.sync_volume(volume)
        except (APIError, SyncError) as error:
            return str(error)
        return ""

    def update_claim(self, claim: Obj) -> str:
        if not self.store_claim_update(claim):
            return ""
        try:
            self.sync_claim(claim)
        except (APIError, SyncError) as error:
            return str(error)
        return ""

    def delete_volume(self, volume: Obj) -> None:
        self.volumes.pop(t.key(volume), None)
        ref = t.claim_ref(volume)
        if ref is not None:
            self.claim_queue.add(f"{ref.get('namespace', '')}/{ref.get('name', '')}")

    def delete_claim(self, claim: Obj) -> None:
        self.claims.pop(t.key(claim), None)
        volume_name = claim.get("spec", {}).get("volumeName")
        if volume_name:
            self.volume_queue.add(volume_name)

    # ------------------------------------------------------------ test drivers (framework_test.go)

    def test_sync_claim(self, key: str) -> str:
        """testSyncClaim: one syncClaim of the cached claim, returning its error."""
        claim = self.claims.get(key)
        if claim is None:
            return f"claim {key} not in the controller cache"
        try:
            self.sync_claim(t.clone(claim))
        except (APIError, SyncError) as error:
            return str(error)
        return ""

    def test_sync_volume(self, name: str) -> str:
        volume = self.volumes.get(name)
        if volume is None:
            return f"volume {name} not in the controller cache"
        try:
            self.sync_volume(t.clone(volume))
        except (APIError, SyncError) as error:
            return str(error)
        return ""
