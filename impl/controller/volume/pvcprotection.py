"""The PVC-protection controller: remove `kubernetes.io/pvc-protection` once no scheduled pod uses the claim.

Counterpart of pkg/controller/volume/pvcprotection/pvc_protection_controller.go (pvcAddedUpdated,
podAddedDeletedUpdated, processPVC, isBeingUsed with askInformer then askAPIServer, podUsesPVC,
addFinalizer, removeFinalizer). Errors requeue the claim rate-limited.

Fault flags (known bugs re-introduced on purpose):
* `pvc-protection-no-in-use-check` (B1): remove the finalizer whenever the claim is being deleted;
* `pvc-protection-informer-only` (B2): trust the pod informer, never LIST pods live.
"""

from __future__ import annotations

from kvolt.impl.api import types as t
from kvolt.impl.api.server import ActorClient, APIServer
from kvolt.impl.api.types import Obj, clone
from kvolt.impl.client.informer import Informer
from kvolt.impl.client.workqueue import WorkQueue

NAME = "pvc-protection-controller"


class PVCProtectionController:
    def __init__(self, server: APIServer, *, bugs: frozenset[str] = frozenset(), synced: bool = True):
        self.server = server
        self.client = ActorClient(server, NAME)
        self.bugs = bugs
        self.pvc_informer = Informer(server, t.PVC, NAME)
        self.pod_informer = Informer(server, t.POD, NAME)
        self.queue = WorkQueue("pvcprotection", server.clock)
        self.pvc_informer.on_add.append(self.pvc_added_updated)
        self.pvc_informer.on_update.append(self._pvc_updated)
        self.pod_informer.on_add.append(self._pod_added)
        self.pod_informer.on_update.append(self._pod_updated)
        self.pod_informer.on_delete.append(self._pod_deleted)
        for inf in self.informers():
            inf.start(synced)

    def informers(self) -> list[Informer]:
        return [self.pvc_informer, self.pod_informer]

    # informer handlers (bound methods, so that a cluster can be pickled)
    def _pvc_updated(self, old: Obj, new: Obj) -> None:
        self.pvc_added_updated(new)

    def _pod_added(self, pod: Obj) -> None:
        self.pod_added_deleted_updated(None, pod, False)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self.pod_added_deleted_updated(old, new, False)

    def _pod_deleted(self, pod: Obj) -> None:
        self.pod_added_deleted_updated(None, pod, True)

    # ------------------------------------------------------------ event handlers

    def pvc_added_updated(self, pvc: Obj) -> None:
        if t.need_to_add_finalizer(pvc, t.PVC_PROTECTION_FINALIZER) or \
                t.is_deletion_candidate(pvc, t.PVC_PROTECTION_FINALIZER):
            self.queue.add(t.key(pvc))

    def pod_added_deleted_updated(self, old: Obj | None, new: Obj, deleted: bool) -> None:
        if old is not None and t.uid(old) != t.uid(new):
            # a delete and a re-create hidden in one update: the old pod was deleted
            self._enqueue_pvcs(old, True)
        self._enqueue_pvcs(new, deleted)

    def _enqueue_pvcs(self, pod: Obj, deleted: bool) -> None:
        if not deleted and not t.is_pod_terminated(pod) and t.pod_node(pod):
            return  # a running scheduled pod cannot help remove a finalizer
        for _, claim in t.pod_claim_names(pod):
            self.queue.add(f"{t.namespace(pod)}/{claim}")

    # ------------------------------------------------------------ worker

    def process_next_work_item(self) -> tuple[str, str] | None:
        return self.queue.process_next(lambda key: self.process_pvc(*key.split("/", 1)))

    def process_pvc(self, ns: str, name: str) -> None:
        pvc = self.pvc_informer.get(f"{ns}/{name}")
        if pvc is None:
            return
        if t.is_deletion_candidate(pvc, t.PVC_PROTECTION_FINALIZER) and \
                ("pvc-protection-no-in-use-check" in self.bugs or not self.is_being_used(pvc)):
            self.remove_finalizer(pvc)
            return
        if t.need_to_add_finalizer(pvc, t.PVC_PROTECTION_FINALIZER):
            self.add_finalizer(pvc)

    def is_being_used(self, pvc: Obj) -> bool:
        if self.ask_informer(pvc):
            return True
        if "pvc-protection-informer-only" in self.bugs:
            return False
        return self.ask_api_server(pvc)

    def ask_informer(self, pvc: Obj) -> bool:
        return any(self.pod_uses_pvc(pod, pvc) for pod in self.pod_informer.list(t.namespace(pvc)))

    def ask_api_server(self, pvc: Obj) -> bool:
        return any(self.pod_uses_pvc(pod, pvc) for pod in self.client.list(t.POD, t.namespace(pvc)))

    @staticmethod
    def pod_uses_pvc(pod: Obj, pvc: Obj) -> bool:
        if not t.pod_node(pod):
            return False  # an unscheduled pod does not protect the claim
        return any(claim == t.name(pvc) for _, claim in t.pod_claim_names(pod))

    def add_finalizer(self, pvc: Obj) -> None:
        new = clone(pvc)
        t.meta(new).setdefault("finalizers", []).append(t.PVC_PROTECTION_FINALIZER)
        self.client.update(new)

    def remove_finalizer(self, pvc: Obj) -> None:
        new = clone(pvc)
        t.meta(new)["finalizers"] = [f for f in t.finalizers(pvc) if f != t.PVC_PROTECTION_FINALIZER]
        self.client.update(new)
