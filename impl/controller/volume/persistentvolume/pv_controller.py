"""The PV controller's sync logic: binding, release, reclaim and provisioning.

Counterpart of pkg/controller/volume/persistentvolume/pv_controller.go (syncClaim,
syncUnboundClaim, syncBoundClaim, syncVolume, bind, bindVolumeToClaim, bindClaimToVolume,
updateClaimStatus, updateVolumePhase, unbindVolume, reclaimVolume, deleteVolumeOperation,
isVolumeReleased, provisionClaim, provisionClaimOperation). The informers, queues and workers
are in pv_controller_base.py.

Every sync reads the controller's private cache (`self.volumes`, `self.claims`), which holds the
newest version seen from the informers or from the controller's own writes; writes are CAS
updates, and any error ends the sync (the next sync repairs, each step being idempotent).
"""

from __future__ import annotations

import contextlib
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
from kvolt.impl.volume.plugins import Spec
from kvolt.impl.volume.util.nestedpendingoperations import AlreadyExistsError, BackoffError, OpKey


class SyncError(Exception):
    pass


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
    enable_dynamic_provisioning: bool = True

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
                self.event(claim, "Warning", "VolumeMismatch", f"Cannot bind to requested volume {volume_name!r}: {problem}")
                self.update_claim_status(claim, "Pending", None)
                return
            self.bind(volume, claim)
            return
        if t.is_volume_bound_to_claim(volume, claim):
            self.bind(volume, claim)
            return
        if not t.has_annotation(claim, t.ANN_BOUND_BY_CONTROLLER):
            # the user asked for a PV that is claimed by someone else; wait for the user
            self.update_claim_status(claim, "Pending", None)
            return
        raise SyncError(f"Invalid binding of claim {t.key(claim)!r} to volume {volume_name!r}: volume already "
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
            if status.get("phase") != phase:
                cap = volume.get("spec", {}).get("capacity", {}).get("storage")
                if cap is None:
                    raise SyncError(f"PersistentVolume {t.name(volume)!r} is without a storage capacity")
                old_cap = status.get("capacity", {}).get("storage")
                if old_cap is None or t.parse_quantity(old_cap) != t.parse_quantity(cap):
                    new_status["capacity"] = {"storage": cap}
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
        status = volume.get("status", {})
        if status.get("phase") == phase and status.get("message", "") == message:
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
        else:
            new["spec"]["claimRef"]["uid"] = ""
        updated = self.client.update(new)
        self.store_volume_update(updated)
        self.update_volume_phase(updated, "Available", "")

    # ------------------------------------------------------------ reclaim

    def reclaim_volume(self, volume: Obj) -> None:
        policy = volume.get("spec", {}).get("persistentVolumeReclaimPolicy", "Retain")
        if policy == "Retain":
            return
        if policy == "Delete":
            op_name = f"delete-{t.name(volume)}[{t.uid(volume)}]"
            self._schedule_operation(op_name, lambda: self.delete_volume_operation(volume))
            return
        self.update_volume_phase_with_event(volume, "Failed", "Warning", "VolumeUnknownReclaimPolicy",
                                            "Volume has unrecognized PersistentVolumeReclaimPolicy")

    def _schedule_operation(self, name: str, func) -> None:
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

    def delete_volume_operation(self, volume: Obj) -> None:
        try:
            new_volume = self.client.get(t.PV, "", t.name(volume))
        except NotFound:
            return
        if not self.is_volume_released(new_volume):
            return
        spec = Spec(new_volume)
        plugin = self.plugins.find_deletable_plugin_by_spec(spec)
        if plugin is None:
            return  # an external deleter owns it
        try:
            plugin.delete(spec)
        except DiskInUseError as error:
            self.event(new_volume, "Normal", "VolumeDelete", str(error))
            raise
        except Exception as error:
            self.event(new_volume, "Warning", "VolumeFailedDelete", str(error))
            self.update_volume_phase(new_volume, "Failed", str(error))
            raise
        if t.PV_DELETION_PROTECTION_FINALIZER in t.finalizers(new_volume):
            def drop(obj: Obj) -> None:
                obj["metadata"]["finalizers"] = [f for f in t.finalizers(obj) if f != t.PV_DELETION_PROTECTION_FINALIZER]
            new_volume = self.client.patch(t.PV, "", t.name(new_volume), drop)
            if new_volume is not None:
                self.store_volume_update(new_volume)
        with contextlib.suppress(NotFound):
            self.client.delete(t.PV, "", t.name(volume))

    # ------------------------------------------------------------ provisioning (in-tree)

    def provision_claim(self, claim: Obj) -> None:
        if not self.enable_dynamic_provisioning:
            return
        cls = self.class_informer.get(t.claim_class(claim))
        if cls is None:
            self.event(claim, "Warning", "ProvisioningFailed", f"storageclass.storage.k8s.io {t.claim_class(claim)!r} not found")
            return
        plugin = self.plugins.find_provisionable_plugin_by_name(cls.get("provisioner", ""))
        op_name = f"provision-{t.key(claim)}[{t.uid(claim)}]"
        if plugin is None:
            self._schedule_operation(op_name, lambda: self.provision_claim_operation_external(claim, cls))
        else:
            self._schedule_operation(op_name, lambda: self.provision_claim_operation(claim, plugin, cls))

    def set_claim_provisioner(self, claim: Obj, provisioner: str) -> Obj:
        if t.annotations(claim).get(t.ANN_STORAGE_PROVISIONER) == provisioner:
            return claim
        new = clone(claim)
        t.set_annotation(new, t.ANN_STORAGE_PROVISIONER, provisioner)
        t.set_annotation(new, t.ANN_BETA_STORAGE_PROVISIONER, provisioner)
        updated = self.client.update(new)
        self.store_claim_update(updated)
        return updated

    def provision_claim_operation_external(self, claim: Obj, cls: Obj) -> None:
        self.set_claim_provisioner(claim, cls.get("provisioner", ""))
        self.event(claim, "Normal", "ExternalProvisioning",
                   f"Waiting for a volume to be created by the external provisioner {cls.get('provisioner')!r}")

    def provision_claim_operation(self, claim: Obj, plugin: Any, cls: Obj) -> None:
        claim = self.set_claim_provisioner(claim, cls.get("provisioner", ""))
        pv_name = f"pvc-{t.uid(claim)}"
        try:
            self.client.get(t.PV, "", pv_name)
            return  # a previous provisionClaimOperation may just have finished
        except NotFound:
            pass
        source = plugin.provision(pv_name, t.pvc_request(claim))
        policy = cls.get("reclaimPolicy", "Delete")
        volume: Obj = {
            "apiVersion": "v1", "kind": t.PV,
            "metadata": {"name": pv_name, "annotations": {t.ANN_BOUND_BY_CONTROLLER: "yes",
                                                           t.ANN_DYNAMICALLY_PROVISIONED: plugin.name}},
            "spec": {"capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
                     "accessModes": t.access_modes(claim), "persistentVolumeReclaimPolicy": policy,
                     "storageClassName": t.claim_class(claim), "volumeMode": t.volume_mode(claim),
                     "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": t.namespace(claim),
                                  "name": t.name(claim), "uid": t.uid(claim),
                                  "resourceVersion": claim["metadata"].get("resourceVersion", "")},
                     **source},
        }
        if policy == "Delete":
            volume["metadata"]["finalizers"] = [t.PV_DELETION_PROTECTION_FINALIZER]
        error: APIError | None = None
        for _ in range(5):  # createProvisionedPVRetryCount
            try:
                created = self.client.create(volume)
                self.store_volume_update(created)
                error = None
                break
            except APIError as e:
                if e.reason == "AlreadyExists":
                    error = None
                    break
                error = e
        if error is not None:
            try:
                plugin.delete(Spec(volume))
            except Exception:
                self.event(claim, "Warning", "ProvisioningCleanupFailed", f"Error cleaning provisioned volume: {error}")
            raise error
        self.event(claim, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {pv_name}")
