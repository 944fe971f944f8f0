"""The PV-protection controller: remove `kubernetes.io/pv-protection` once the PV is not Bound.

Counterpart of pkg/controller/volume/pvprotection/pv_protection_controller.go (pvAddedUpdated,
processPV, isBeingUsed = phase Bound, addFinalizer, removeFinalizer).
"""

from __future__ import annotations

from kvolt.impl.api import types as t
from kvolt.impl.api.server import ActorClient, APIServer
from kvolt.impl.api.types import Obj, clone
from kvolt.impl.client.informer import Informer
from kvolt.impl.client.workqueue import WorkQueue

NAME = "pv-protection-controller"


class PVProtectionController:
    def __init__(self, server: APIServer, *, synced: bool = True):
        self.server = server
        self.client = ActorClient(server, NAME)
        self.pv_informer = Informer(server, t.PV, NAME)
        self.queue = WorkQueue("pvprotection", server.clock)
        self.pv_informer.on_add.append(self.pv_added_updated)
        self.pv_informer.on_update.append(self._pv_updated)
        self.pv_informer.start(synced)

    def informers(self) -> list[Informer]:
        return [self.pv_informer]

    def _pv_updated(self, old: Obj, new: Obj) -> None:  # a bound method, so that a cluster can be pickled
        self.pv_added_updated(new)

    def pv_added_updated(self, pv: Obj) -> None:
        if t.need_to_add_finalizer(pv, t.PV_PROTECTION_FINALIZER) or t.is_deletion_candidate(pv, t.PV_PROTECTION_FINALIZER):
            self.queue.add(t.key(pv))

    def process_next_work_item(self) -> tuple[str, str] | None:
        return self.queue.process_next(self.process_pv)

    def process_pv(self, name: str) -> None:
        pv = self.pv_informer.get(name)
        if pv is None:
            return
        if t.is_deletion_candidate(pv, t.PV_PROTECTION_FINALIZER) and not self.is_being_used(pv):
            new = clone(pv)
            t.meta(new)["finalizers"] = [f for f in t.finalizers(pv) if f != t.PV_PROTECTION_FINALIZER]
            self.client.update(new)
            return
        if t.need_to_add_finalizer(pv, t.PV_PROTECTION_FINALIZER):
            new = clone(pv)
            t.meta(new).setdefault("finalizers", []).append(t.PV_PROTECTION_FINALIZER)
            self.client.update(new)

    @staticmethod
    def is_being_used(pv: Obj) -> bool:
        return t.pv_phase(pv) == "Bound"
