"""The PV controller's sync logic: binding, release, reclaim and provisioning.

Counterpart of pkg/controller/volume/persistentvolume/pv_controller.go (syncClaim,
syncUnboundClaim, syncBoundClaim, syncVolume, bind, bindVolumeToClaim, bindClaimToVolume,
updateClaimStatus, updateVolumePhase, unbindVolume, reclaimVolume, recycleVolumeOperation,
deleteVolumeOperation, doDeleteVolume, findDeletablePlugin, removeDeletionProtectionFinalizer,
isVolumeReleased, isVolumeUsed, provisionClaim, findProvisionablePlugin, provisionClaimOperation,
provisionClaimOperationExternal, rescheduleProvisioning). The informers, queues and workers are in
pv_controller_base.py.

Every sync reads the controller's private cache (`self.volumes`, `self.claims`), which holds the
newest version seen from the informers or from the controller's own writes; writes are CAS
updates, and any error ends the sync (the next sync repairs, each step being idempotent).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from kvolt.impl.api import types as t
from kvolt.impl.api.server import APIError, NotFound
from kvolt.impl.api.types import Obj, clone
from kvolt.impl.backend import DiskInUseError
from kvolt.impl.controller.volume.persistentvolume.index import (
    PersistentVolumeOrderedIndex,
    check_access_modes,
    check_volume_mode_mismatches,
)
from kvolt.impl.volume.csimigration import CSIMigratedPluginManager, TranslationError
from kvolt.impl.volume.plugins import PluginNotFoundError, Spec, VolumeError, new_deleter
from kvolt.impl.volume.util import resize_util as ru
from kvolt.impl.volume.util.nestedpendingoperations import AlreadyExistsError, BackoffError, OpKey


def _q(text: str) -> str:
    """Go's %q for the names in messages: "volume1"."""
    return json.dumps(text)


class SyncError(Exception):
    pass


class FinalizerRemovalError(VolumeError):
    """doDeleteVolume deleted the storage but could not drop the PV's deletion-protection finalizer."""


class PVControllerSync:
    """The sync half of PersistentVolumeController; see pv_controller_base.PersistentVolumeController."""

    # provided by the base
    client: Any
    volumes: dict[str, Obj]
    claims: dict[str, Obj]
    claim_informer: Any
    class_informer: Any
    claim_queue: Any
    volume_queue: Any
    operations: Any
    plugins: Any
    pod_informer: Any
    csi_migrated_plugin_manager: Any
    pre_operation_hook: Any = None
    enable_dynamic_provisioning: bool = True
    create_provisioned_pv_retry_count: int = 5  # createProvisionedPVRetryCount

    def update_volume_migration_annotations_and_finalizers(self, volume: Obj) -> Obj:
        raise NotImplementedError  # pv_controller_base.PersistentVolumeController

    # ------------------------------------------------------------ cache (storeObjectUpdate)

    @staticmethod
    def _store_update(store: dict[str, Obj], obj: Obj) -> bool:
        k = t.key(obj)
        old = store.get(k)
        if old is not None and int(old["metadata"]["resourceVersion"]) > int(obj["metadata"]["resourceVersion"]):
            return False
        store[k] = clone(obj)
        return True

    def store_claim_update(self, claim: Obj) -> bool:
        return self._store_update(self.claims, claim)

    def store_volume_update(self, volume: Obj) -> bool:
        return self._store_update(self.volumes, volume)

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        self.client.event(obj, type_, reason, message)

    # ------------------------------------------------------------ syncClaim

    def sync_claim(self, claim: Obj) -> None:
        if not t.has_annotation(claim, t.ANN_BIND_COMPLETED):
            self.sync_unbound_claim(claim)
        else:
            self.sync_bound_claim(claim)

    def _is_delay_binding_mode(self, claim: Obj) -> bool:
        cls = t.claim_class(claim)
        if not cls:
            return False
        sc = self.class_informer.get(cls)
        if sc is None:
            return False
        return sc.get("volumeBindingMode") == "WaitForFirstConsumer"

    def sync_unbound_claim(self, claim: Obj) -> None:
        if not claim.get("spec", {}).get("volumeName"):
            delay_binding = self._is_delay_binding_mode(claim)
            volume = PersistentVolumeOrderedIndex(list(self.volumes.values())).find_by_claim(claim, delay_binding)
            if volume is None:
                if delay_binding and not t.has_annotation(claim, t.ANN_SELECTED_NODE):
                    self.event(claim, "Normal", "WaitForFirstConsumer",
                               "waiting for first consumer to be created before binding")
                elif t.claim_class(claim):
                    self.provision_claim(claim)
                    return
                else:
                    self.event(claim, "Normal", "FailedBinding",
                               "no persistent volumes available for this claim and no storage class is set")
                self.update_claim_status(claim, "Pending", None)
                return
            self.bind(volume, claim)
            return
        # a claim pre-bound to a volume by the user
        volume_name = claim["spec"]["volumeName"]
        volume = self.volumes.get(volume_name)
        if volume is None:
            self.update_claim_status(claim, "Pending", None)
            return
        if t.claim_ref(volume) is None:
            problem = self.check_volume_satisfy_claim(volume, claim)
            if problem:
                self.event(claim, "Warning", "VolumeMismatch", f"Cannot bind to requested volume {_q(volume_name)}: {problem}")
                self.update_claim_status(claim, "Pending", None)
                return
            self.bind(volume, claim)
            return
        if t.is_volume_bound_to_claim(volume, claim):
            self.bind(volume, claim)
            return
        self.event(claim, "Warning", "FailedBinding", f"volume {_q(volume_name)} already bound to a different claim.")
        if not t.has_annotation(claim, t.ANN_BOUND_BY_CONTROLLER):
            # the user asked for a PV that is claimed by someone else; wait for the user
            self.update_claim_status(claim, "Pending", None)
            return
        raise SyncError(f"Invalid binding of claim {_q(t.key(claim))} to volume {_q(volume_name)}: volume already "
                        "claimed by a different claim (THIS SHOULD NEVER HAPPEN)")

    def check_volume_satisfy_claim(self, volume: Obj, claim: Obj) -> str:
        if t.deletion_timestamp(volume) is not None:
            return "the volume is marked for deletion"
        if t.pv_capacity(volume) < t.pvc_request(claim):
            return "requested PV is too small"
        if t.volume_class(volume) != t.claim_class(claim):
            return "storageClassName does not match"
        if check_volume_mode_mismatches(claim, volume):
            return "incompatible volumeMode"
        if not check_access_modes(claim, volume):
            return "incompatible accessMode"
        return ""

    def sync_bound_claim(self, claim: Obj) -> None:
        volume_name = claim.get("spec", {}).get("volumeName")
        if not volume_name:
            self.update_claim_status_with_event(claim, "Lost", None, "Warning", "ClaimLost",
                                                "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
            return
        volume = self.volumes.get(volume_name)
        if volume is None:
            self.update_claim_status_with_event(claim, "Lost", None, "Warning", "ClaimLost",
                                                "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
            return
        ref = t.claim_ref(volume)
        if ref is None or ref.get("uid") == t.uid(claim):
            self.bind(volume, claim)
            return
        self.update_claim_status_with_event(claim, "Lost", None, "Warning", "ClaimMisbound",
                                            "Two claims are bound to the same volume, this one is bound incorrectly")

    # ------------------------------------------------------------ syncVolume

    def sync_volume(self, volume: Obj) -> None:
        volume = self.update_volume_migration_annotations_and_finalizers(volume)
        ref = t.claim_ref(volume)
        if ref is None:
            self.update_volume_phase(volume, "Available", "")
            return
        if not ref.get("uid"):
            self.update_volume_phase(volume, "Available", "")
            return
        claim_key = f"{ref.get('namespace', '')}/{ref.get('name', '')}"
        claim = self.claims.get(claim_key)
        found = claim is not None
        if not found and t.pv_phase(volume) not in ("Released", "Failed"):
            claim = self.claim_informer.get(claim_key)
            if claim is None:
                try:
                    claim = self.client.get(t.PVC, ref.get("namespace", ""), ref.get("name", ""))
                except NotFound:
                    claim = None
        if claim is not None and t.uid(claim) != ref.get("uid"):
            try:
                live = self.client.get(t.PVC, ref.get("namespace", ""), ref.get("name", ""))
            except NotFound:
                live = None
            claim = live if live is not None and t.uid(live) == ref.get("uid") else None
        if claim is None:
            if t.pv_phase(volume) not in ("Released", "Failed"):
                volume = self.update_volume_phase(volume, "Released", "")
            self.reclaim_volume(volume)
            return
        claim_volume = claim.get("spec", {}).get("volumeName") or ""
        if not claim_volume:
            if check_volume_mode_mismatches(claim, volume):
                self.event(volume, "Warning", "VolumeMismatch", "Cannot bind PersistentVolume to requested "
                           "PersistentVolumeClaim due to incompatible volumeMode.")
                self.event(claim, "Warning", "VolumeMismatch", "Cannot bind PersistentVolume to requested "
                           "PersistentVolumeClaim due to incompatible volumeMode.")
                return
            self.claim_queue.add(t.key(claim))
            return
        if claim_volume == t.name(volume):
            self.update_volume_phase(volume, "Bound", "")
            return
        if t.has_annotation(volume, t.ANN_DYNAMICALLY_PROVISIONED) and \
                volume.get("spec", {}).get("persistentVolumeReclaimPolicy") == "Delete":
            if t.pv_phase(volume) not in ("Released", "Failed"):
                volume = self.update_volume_phase(volume, "Released", "")
            self.reclaim_volume(volume)
            return
        self.unbind_volume(volume)

    # ------------------------------------------------------------ status writes

    def update_claim_status(self, claim: Obj, phase: str, volume: Obj | None) -> Obj:
        status = claim.get("status", {})
        new = clone(claim)
        new_status = new.setdefault("status", {})
        dirty = False
        if status.get("phase") != phase:
            new_status["phase"] = phase
            dirty = True
        if volume is None:
            for f in ("accessModes", "capacity"):
                if status.get(f) is not None:
                    new_status.pop(f)
                    dirty = True
        else:
            modes = t.access_modes(volume)
            if status.get("accessModes") != modes:
                new_status["accessModes"] = modes
                dirty = True
            # the capacity is set when the claim becomes Bound, not after: a difference can be intended
            # (the filesystem of the claim smaller than the PV's block device)
            if status.get("phase") != phase:
                cap = volume.get("spec", {}).get("capacity", {}).get("storage")
                if cap is None:
                    raise SyncError(f"PersistentVolume {_q(t.name(volume))} is without a storage capacity")
                old_cap = (status.get("capacity") or {}).get("storage")
                if t.has_annotation(volume, ru.ANN_PRE_RESIZE_CAPACITY):
                    # the volume needs a filesystem resize: the claim shows the size before it
                    pre = t.annotations(volume)[ru.ANN_PRE_RESIZE_CAPACITY]
                    try:
                        pre = t.canonical_quantity(pre)
                    except t.QuantityError:
                        pre = cap  # "Parsing pre-resize-capacity from PV failed": the PV's capacity
                    new_status["capacity"] = {**(status.get("capacity") or {}), "storage": pre}
                    dirty = True
                elif old_cap is None or t.quantity(cap) != t.quantity(old_cap):
                    new_status["capacity"] = t.clone(volume["spec"]["capacity"])
                    dirty = True
        if not dirty:
            return claim
        updated = self.client.update_status(new)
        self.store_claim_update(updated)
        return updated

    def update_claim_status_with_event(self, claim: Obj, phase: str, volume: Obj | None, type_: str, reason: str,
                                       message: str) -> Obj:
        if claim.get("status", {}).get("phase") == phase:
            return claim
        updated = self.update_claim_status(claim, phase, volume)
        self.event(updated, type_, reason, message)
        return updated

    def update_volume_phase(self, volume: Obj, phase: str, message: str) -> Obj:
        if t.pv_phase(volume) == phase:
            return volume
        new = clone(volume)
        new_status = new.setdefault("status", {})
        new_status["phase"] = phase
        if message:
            new_status["message"] = message
        else:
            new_status.pop("message", None)
        updated = self.client.update_status(new)
        self.store_volume_update(updated)
        return updated

    def update_volume_phase_with_event(self, volume: Obj, phase: str, type_: str, reason: str, message: str) -> Obj:
        if t.pv_phase(volume) == phase:
            return volume
        updated = self.update_volume_phase(volume, phase, message)
        self.event(updated, type_, reason, message)
        return updated

    # ------------------------------------------------------------ bind / unbind

    def bind(self, volume: Obj, claim: Obj) -> None:
        """Four writes, PV first: claimRef, PV phase, claim volumeName, claim phase."""
        volume = self.bind_volume_to_claim(volume, claim)
        volume = self.update_volume_phase(volume, "Bound", "")
        claim = self.bind_claim_to_volume(claim, volume)
        self.update_claim_status(claim, "Bound", volume)

    def bind_volume_to_claim(self, volume: Obj, claim: Obj) -> Obj:
        new = clone(volume)
        dirty = False
        set_by_controller = not t.is_volume_bound_to_claim(volume, claim)
        ref = t.claim_ref(volume)
        if ref is None or ref.get("name") != t.name(claim) or ref.get("namespace") != t.namespace(claim) \
                or ref.get("uid") != t.uid(claim):
            new.setdefault("spec", {})["claimRef"] = {
                "kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": t.namespace(claim),
                "name": t.name(claim), "uid": t.uid(claim),
                "resourceVersion": claim.get("metadata", {}).get("resourceVersion", "")}
            dirty = True
        if set_by_controller and not t.has_annotation(volume, t.ANN_BOUND_BY_CONTROLLER):
            t.set_annotation(new, t.ANN_BOUND_BY_CONTROLLER)
            dirty = True
        if not dirty:
            return volume
        updated = self.client.update(new)
        self.store_volume_update(updated)
        return updated

    def bind_claim_to_volume(self, claim: Obj, volume: Obj) -> Obj:
        new = clone(claim)
        dirty = False
        if claim.get("spec", {}).get("volumeName") != t.name(volume):
            new.setdefault("spec", {})["volumeName"] = t.name(volume)
            if not t.has_annotation(claim, t.ANN_BOUND_BY_CONTROLLER):
                t.set_annotation(new, t.ANN_BOUND_BY_CONTROLLER)
            dirty = True
        if not t.has_annotation(claim, t.ANN_BIND_COMPLETED):
            t.set_annotation(new, t.ANN_BIND_COMPLETED)
            dirty = True
        if not dirty:
            return claim
        updated = self.client.update(new)
        self.store_claim_update(updated)
        return updated

    def unbind_volume(self, volume: Obj) -> None:
        new = clone(volume)
        if t.has_annotation(volume, t.ANN_BOUND_BY_CONTROLLER):
            new["spec"].pop("claimRef", None)
            t.remove_annotation(new, t.ANN_BOUND_BY_CONTROLLER)
            if not t.annotations(new):
                new["metadata"].pop("annotations", None)  # no annotations look better than an empty map
        else:
            new["spec"]["claimRef"]["uid"] = ""
        updated = self.client.update(new)
        self.store_volume_update(updated)
        self.update_volume_phase(updated, "Available", "")

    # ------------------------------------------------------------ reclaim

    def reclaim_volume(self, volume: Obj) -> None:
        """reclaimVolume: carry out the reclaim policy of a released volume."""
        if t.annotations(volume).get(t.ANN_MIGRATED_TO):
            return  # migrated to CSI: the PV controller stands down, the external provisioner reclaims
        policy = volume.get("spec", {}).get("persistentVolumeReclaimPolicy", "Retain")
        if policy == "Retain":
            return
        if policy == "Recycle":
            op_name = f"recycle-{t.name(volume)}[{t.uid(volume)}]"
            self._schedule_operation(op_name, lambda: self.recycle_volume_operation(volume))
            return
        if policy == "Delete":
            op_name = f"delete-{t.name(volume)}[{t.uid(volume)}]"
            self._schedule_operation(op_name, lambda: self.delete_volume_operation(volume))
            return
        self.update_volume_phase_with_event(volume, "Failed", "Warning", "VolumeUnknownReclaimPolicy",
                                            "Volume has unrecognized PersistentVolumeReclaimPolicy")

    def _schedule_operation(self, name: str, func) -> None:
        """scheduleOperation: start an operation unless one of that name runs or backs off."""
        if self.pre_operation_hook is not None:
            self.pre_operation_hook(name)
        with contextlib.suppress(AlreadyExistsError, BackoffError):
            self.operations.run(OpKey(name), name.split("-", 1)[0], func)

    def is_volume_released(self, volume: Obj) -> bool:
        ref = t.claim_ref(volume)
        if ref is None or not ref.get("uid"):
            return False
        claim = self.claims.get(f"{ref.get('namespace', '')}/{ref.get('name', '')}")
        if claim is None or t.uid(claim) != ref["uid"]:
            return True
        volume_name = claim.get("spec", {}).get("volumeName") or ""
        return bool(volume_name) and volume_name != t.name(volume)

    def is_volume_used(self, volume: Obj) -> list[str]:
        """isVolumeUsed: the pods (ns/name) not terminated that use the volume's claim, from the pod informer."""
        ref = t.claim_ref(volume)
        if ref is None:
            return []
        pods = self.pod_informer.list(ref.get("namespace", ""))
        return sorted(f"{t.namespace(p)}/{t.name(p)}" for p in pods
                      if not t.is_pod_terminated(p) and ref.get("name") in {c for _, c in t.pod_claim_names(p)})

    # ------------------------------------------------------------ recycle

    def recycle_volume_operation(self, volume: Obj) -> None:
        """recycleVolumeOperation: scrub a released volume and make it Available again."""
        try:
            new_volume = self.client.get(t.PV, "", t.name(volume))
        except APIError:
            return
        if not self.is_volume_released(new_volume):
            return  # no longer needs recycling
        pods = self.is_volume_used(new_volume)
        ref = t.claim_ref(volume) or {}
        claim_cached = f"{ref.get('namespace', '')}/{ref.get('name', '')}" in self.claims
        if pods and not claim_cached:
            self.event(volume, "Normal", "VolumeFailedRecycle", f"Volume is used by pods: {','.join(pods)}")
            return
        volume = new_volume
        spec = Spec(volume)
        try:
            plugin = self.plugins.recyclable_plugin_by_spec(spec)
        except PluginNotFoundError:
            with contextlib.suppress(APIError):
                self.update_volume_phase_with_event(volume, "Failed", "Warning", "VolumeFailedRecycle",
                                                    "No recycler plugin found for the volume!")
            return
        try:
            plugin.recycle(t.name(volume), spec, lambda type_, message: self.event(
                volume, type_, "RecyclerPod", f"Recycler pod: {message}"))
        except VolumeError as error:
            with contextlib.suppress(APIError):
                self.update_volume_phase_with_event(volume, "Failed", "Warning", "VolumeFailedRecycle",
                                                    f"Recycle failed: {error}")
            return
        self.event(volume, "Normal", "VolumeRecycled", "Volume recycled")
        with contextlib.suppress(APIError):
            self.unbind_volume(volume)  # Available again; a failure recycles once more on the next sync

    # ------------------------------------------------------------ delete

    def delete_volume_operation(self, volume: Obj) -> None:
        """deleteVolumeOperation: delete the storage of a released volume, then the PV object.

        Any failure but "still in use" marks the volume Failed with a VolumeFailedDelete event (the
        message is the error, e.g. `error getting deleter volume plugin for volume "pv": no volume
        plugin matched`); the controller retries on every sync of the volume all the same.
        """
        try:
            new_volume = self.client.get(t.PV, "", t.name(volume))
        except APIError:
            return
        if not self.is_volume_released(new_volume):
            return  # no longer needs deletion
        try:
            deleted = self.do_delete_volume(volume)
        except DiskInUseError as error:  # volerr.IsDeletedVolumeInUse: the plugin needs more time
            self.event(volume, "Normal", "VolumeDelete", str(error))
            raise
        except (VolumeError, APIError, OSError) as error:
            self.update_volume_phase_with_event(volume, "Failed", "Warning", "VolumeFailedDelete", str(error))
            raise
        if not deleted:
            return  # an external deleter owns it
        with contextlib.suppress(APIError):
            self.client.delete(t.PV, "", t.name(volume))

    def find_deletable_plugin(self, volume: Obj) -> Any:
        """findDeletablePlugin: the plugin that provisioned the volume, else its spec's; None for an external deleter."""
        provisioned_by = t.annotations(volume).get(t.ANN_DYNAMICALLY_PROVISIONED, "")
        if provisioned_by:
            try:
                return self.plugins.deletable_plugin_by_name(provisioned_by)
            except PluginNotFoundError:
                if not provisioned_by.startswith("kubernetes.io/"):
                    return None  # an external provisioner: do not report an error
                raise
        if t.has_annotation(volume, t.ANN_MIGRATED_TO) or "csi" in volume.get("spec", {}):
            return None  # HonorPVReclaimPolicy: the CSI driver's external provisioner deletes
        try:
            return self.plugins.deletable_plugin_by_spec(Spec(volume))
        except PluginNotFoundError as error:
            raise PluginNotFoundError(f"error getting deleter volume plugin for volume {_q(t.name(volume))}: {error}") from None

    def do_delete_volume(self, volume: Obj) -> bool:
        """doDeleteVolume: True when the storage was deleted, False when the deleter is external."""
        plugin = self.find_deletable_plugin(volume)
        if plugin is None:
            return False
        try:
            deleter = new_deleter(plugin, Spec(volume))
        except VolumeError as error:
            raise VolumeError(f"failed to create deleter for volume {_q(t.name(volume))}: {error}") from None
        deleter.delete()
        self.remove_deletion_protection_finalizer(volume)  # the storage is gone: let the PV object go
        return True

    def remove_deletion_protection_finalizer(self, volume: Obj) -> None:
        """removeDeletionProtectionFinalizer: drop kubernetes.io/pv-controller from the newest PV."""
        try:
            current = self.client.get(t.PV, "", t.name(volume))
        except APIError as error:
            raise FinalizerRemovalError(str(error)) from None
        if t.PV_DELETION_PROTECTION_FINALIZER not in t.finalizers(current):
            return
        clone_ = clone(current)
        t.meta(clone_)["finalizers"] = [f for f in t.finalizers(current) if f != t.PV_DELETION_PROTECTION_FINALIZER]
        try:
            updated = self.client.update(clone_)
        except APIError as error:
            raise FinalizerRemovalError(f"persistent volume controller can't update finalizer: {error}") from None
        self.store_volume_update(updated)

    # ------------------------------------------------------------ provisioning (in-tree)

    def provision_claim(self, claim: Obj) -> None:
        """provisionClaim: schedule the provisioning of a claim by its class's plugin or an external provisioner."""
        if not self.enable_dynamic_provisioning:
            return
        try:
            plugin, cls = self.find_provisionable_plugin(claim)
        except (PluginNotFoundError, NotFound) as error:
            self.event(claim, "Warning", "ProvisioningFailed", str(error))
            return  # retried on every syncUnboundClaim
        op_name = f"provision-{t.key(claim)}[{t.uid(claim)}]"
        if plugin is None:
            self._schedule_operation(op_name, lambda: self.provision_claim_operation_external(claim, cls))
        else:
            self._schedule_operation(op_name, lambda: self.provision_claim_operation(claim, plugin, cls))

    def find_provisionable_plugin(self, claim: Obj) -> tuple[Any, Obj]:
        """findProvisionablePlugin: (plugin, class); plugin None when an external provisioner is requested."""
        cls = self.class_informer.get(t.claim_class(claim))
        if cls is None:
            raise NotFound(f'storageclass.storage.k8s.io "{t.claim_class(claim)}" not found')
        provisioner = cls.get("provisioner", "")
        if self.csi_migrated_plugin_manager.is_migration_enabled_for_plugin(provisioner):
            return None, cls  # CSI migration: do not depend on the in-tree plugin
        plugin = self.plugins.find_provisionable_plugin_by_name(provisioner)
        if plugin is None:
            if not provisioner.startswith("kubernetes.io/"):
                return None, cls  # an external provisioner: not an error
            raise PluginNotFoundError(f"no volume plugin matched name: {provisioner}")
        return plugin, cls

    def set_claim_provisioner(self, claim: Obj, provisioner: str) -> Obj:
        if t.annotations(claim).get(t.ANN_STORAGE_PROVISIONER) == provisioner:
            return claim
        new = clone(claim)
        t.set_annotation(new, t.ANN_BETA_STORAGE_PROVISIONER, provisioner)
        t.set_annotation(new, t.ANN_STORAGE_PROVISIONER, provisioner)
        update_migration_annotations(self.csi_migrated_plugin_manager, t.meta(new)["annotations"], True)
        updated = self.client.update(new)
        self.store_claim_update(updated)
        return updated

    def provision_claim_operation_external(self, claim: Obj, cls: Obj) -> None:
        """provisionClaimOperationExternal: annotate the claim for the external provisioner and say so."""
        provisioner = cls.get("provisioner", "")
        if self.csi_migrated_plugin_manager.is_migration_enabled_for_plugin(provisioner):
            provisioner = self.csi_migrated_plugin_manager.csi_name_from_in_tree_name(provisioner)
        try:
            claim = self.set_claim_provisioner(claim, provisioner)
        except APIError as error:
            self.event(claim, "Warning", "ProvisioningFailed", f"Error saving claim: {error}")
            raise
        self.event(claim, "Normal", "ExternalProvisioning",
                   f"Waiting for a volume to be created either by the external provisioner '{provisioner}' or manually "
                   "by the system administrator. If volume creation is delayed, please verify that the provisioner is "
                   "running and correctly registered.")

    def provision_claim_operation(self, claim: Obj, plugin: Any, cls: Obj) -> None:
        """provisionClaimOperation: provision a volume with an in-tree plugin and create its PV, bound to the claim."""
        if plugin.name != "kubernetes.io/csi" and claim.get("spec", {}).get("dataSource") is not None:
            message = f"plugin {_q(plugin.name)} is not a CSI plugin. Only CSI plugin can provision a claim with a datasource"
            self.event(claim, "Warning", "ProvisioningFailed", message)
            raise VolumeError(message)
        claim = self.set_claim_provisioner(claim, cls.get("provisioner", ""))
        pv_name = f"pvc-{t.uid(claim)}"
        try:
            self.client.get(t.PV, "", pv_name)
            return  # a previous provisionClaimOperation may just have finished
        except NotFound:
            pass
        options = {"reclaimPolicy": cls.get("reclaimPolicy", "Delete"), "mountOptions": list(cls.get("mountOptions") or []),
                   "pvName": pv_name, "pvc": claim, "parameters": cls.get("parameters")}
        if options["mountOptions"] and not getattr(plugin, "supports_mount_option", False):
            self.event(claim, "Warning", "ProvisioningFailed", f"Mount options are not supported by the provisioner but "
                       f"StorageClass {_q(t.name(cls))} has mount options {options['mountOptions']}")
            raise VolumeError(f"provisioner {_q(plugin.name)} doesn't support mount options")
        try:
            provisioner = plugin.new_provisioner(options)
        except VolumeError as error:
            self.event(claim, "Warning", "ProvisioningFailed", f"Failed to create provisioner: {error}")
            raise
        try:
            volume = provisioner.provision(claim.get("metadata", {}).get("annotations", {}).get(t.ANN_SELECTED_NODE))
        except VolumeError as error:
            self.reschedule_provisioning(claim)
            self.event(claim, "Warning", "ProvisioningFailed",
                       f"Failed to provision volume with StorageClass {_q(t.name(cls))}: {error}")
            raise
        volume["metadata"]["name"] = volume["metadata"].get("name") or pv_name
        volume["spec"]["claimRef"] = {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": t.namespace(claim),
                                      "name": t.name(claim), "uid": t.uid(claim),
                                      "resourceVersion": claim["metadata"].get("resourceVersion", "")}
        volume.setdefault("status", {})["phase"] = "Bound"
        volume["spec"]["storageClassName"] = t.claim_class(claim)
        t.set_annotation(volume, t.ANN_BOUND_BY_CONTROLLER)
        t.set_annotation(volume, t.ANN_DYNAMICALLY_PROVISIONED, plugin.name)
        if volume["spec"].get("persistentVolumeReclaimPolicy") == "Delete":  # HonorPVReclaimPolicy
            t.meta(volume)["finalizers"] = [t.PV_DELETION_PROTECTION_FINALIZER]
        error: APIError | None = None
        for _ in range(self.create_provisioned_pv_retry_count):
            try:
                self.store_volume_update(self.client.create(volume))
                error = None
                break
            except APIError as e:
                error = None if e.reason == "AlreadyExists" else e
                if error is None:
                    break
        if error is None:
            self.event(claim, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {pv_name} using {plugin.name}")
            return
        # a storage asset outside Kubernetes without a PV object: try to delete it
        self.event(claim, "Warning", "ProvisioningFailed",
                   f"Error creating provisioned PV object for claim {t.key(claim)}: {error}. Deleting the volume.")
        delete_error: Exception | None = None
        for _ in range(self.create_provisioned_pv_retry_count):
            try:
                delete_error, deleted = None, self.do_delete_volume(volume)
            except FinalizerRemovalError as e:  # the storage is deleted, the (absent) PV object not updated
                delete_error, deleted = e, True
            except (VolumeError, APIError, OSError) as e:
                delete_error, deleted = e, False
            if delete_error is None and deleted:
                break
            if not deleted:
                break  # "unreachable": an in-tree plugin provisioned it, so an in-tree deleter exists
        if delete_error is not None:
            self.event(claim, "Warning", "ProvisioningCleanupFailed",
                       f"Error cleaning provisioned volume for claim {t.key(claim)}: {delete_error}. Please delete manually.")

    def reschedule_provisioning(self, claim: Obj) -> None:
        """rescheduleProvisioning: drop the selected-node annotation so the scheduler picks a node again."""
        if t.ANN_SELECTED_NODE not in t.annotations(claim):
            return
        new = clone(claim)
        t.remove_annotation(new, t.ANN_SELECTED_NODE)
        try:
            updated = self.client.update(new)
        except APIError:
            return
        self.store_claim_update(updated)


# ---------------------------------------------------------------- CSI migration bookkeeping (pv_controller_base.go)

def modify_deletion_finalizers(cmpm: CSIMigratedPluginManager, volume: Obj) -> tuple[list[str], bool]:
    """modifyDeletionFinalizers: the finalizers a dynamically provisioned PV should carry, and whether they changed.

    Migrated in-tree plugin: the in-tree finalizer goes (the external provisioner guards the volume).
    In-tree plugin: kubernetes.io/pv-controller is added for reclaim policy Delete and removed for
    Retain and Recycle; the external-provisioner finalizer goes (a CSI migration rollback).
    """
    if not t.has_annotation(volume, t.ANN_DYNAMICALLY_PROVISIONED):
        return t.finalizers(volume), False  # supported only for dynamically provisioned volumes
    out = list(t.finalizers(volume))
    modified = False
    provisioner = t.annotations(volume)[t.ANN_DYNAMICALLY_PROVISIONED]
    if cmpm.is_migration_enabled_for_plugin(provisioner):
        if t.PV_DELETION_PROTECTION_FINALIZER in out:
            out = [f for f in out if f != t.PV_DELETION_PROTECTION_FINALIZER]
            modified = True
        return out, modified
    if not provisioner.startswith("kubernetes.io/"):
        return t.finalizers(volume), False  # not an in-tree plugin
    policy = volume.get("spec", {}).get("persistentVolumeReclaimPolicy")
    if policy == "Delete" and t.PV_DELETION_PROTECTION_FINALIZER not in out:
        out.append(t.PV_DELETION_PROTECTION_FINALIZER)
        modified = True
    elif policy in ("Retain", "Recycle") and t.PV_DELETION_PROTECTION_FINALIZER in out:
        out = [f for f in out if f != t.PV_DELETION_PROTECTION_FINALIZER]
        modified = True
    if t.PV_EXTERNAL_DELETION_PROTECTION_FINALIZER in out:
        out = [f for f in out if f != t.PV_EXTERNAL_DELETION_PROTECTION_FINALIZER]
        modified = True
    return out, modified


def update_migration_annotations(cmpm: CSIMigratedPluginManager, annotations: dict[str, str] | None, claim: bool) -> bool:
    """updateMigrationAnnotations: set or drop pv.kubernetes.io/migrated-to in place; True if it changed."""
    if annotations is None:
        return False
    provisioner = annotations.get(t.ANN_STORAGE_PROVISIONER if claim else t.ANN_DYNAMICALLY_PROVISIONED)
    if provisioner is None and claim:
        provisioner = annotations.get(t.ANN_BETA_STORAGE_PROVISIONER)
    if provisioner is None:
        return False  # statically provisioned, or no provisioner known
    migrated_to = annotations.get(t.ANN_MIGRATED_TO, "")
    if cmpm.is_migration_enabled_for_plugin(provisioner):
        try:
            driver = cmpm.csi_name_from_in_tree_name(provisioner)
        except TranslationError:
            return False
        if migrated_to != driver:
            annotations[t.ANN_MIGRATED_TO] = driver
            return True
    elif migrated_to:
        del annotations[t.ANN_MIGRATED_TO]
        return True
    return False
