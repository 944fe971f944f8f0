"""Helpers shared by the attach/detach controller and the kubelet.

Counterpart of pkg/volume/util/util.go and pkg/controller/volume/attachdetach/util/util.go:
building a volume spec for a pod's claim from cached (ADC) or live (kubelet) reads, with the
mutual-binding checks both sides make.
"""

from __future__ import annotations

from collections.abc import Callable

from kvolt.impl.api import types as t
from kvolt.impl.api.types import Obj
from kvolt.impl.volume.plugins import Spec


class SpecError(Exception):
    pass


def create_volume_spec(pod: Obj, claim_name: str, get_pvc: Callable[[str, str], Obj | None],
                       get_pv: Callable[[str], Obj | None], *, reject_terminating: bool = False) -> tuple[Spec, Obj]:
    """The claim must be Bound with a volumeName, and the PV's claimRef must carry the claim's UID."""
    ns = t.namespace(pod)
    pvc = get_pvc(ns, claim_name)
    if pvc is None:
        raise SpecError(f"error processing PVC {ns}/{claim_name}: not found")
    if reject_terminating and t.deletion_timestamp(pvc) is not None \
            and t.PVC_PROTECTION_FINALIZER not in t.finalizers(pvc):
        raise SpecError(f"can't start pod because PVC {ns}/{claim_name} is being deleted")
    if t.pvc_phase(pvc) != "Bound" or not pvc.get("spec", {}).get("volumeName"):
        raise SpecError(f"PVC {ns}/{claim_name} has non-bound phase or empty volumeName")
    pv = get_pv(pvc["spec"]["volumeName"])
    if pv is None:
        raise SpecError(f"PV {pvc['spec']['volumeName']} not found")
    ref = t.claim_ref(pv)
    if ref is None or ref.get("uid") != t.uid(pvc):
        raise SpecError(f"PV {t.name(pv)} is not bound to claim {ns}/{claim_name} (uid {t.uid(pvc)})")
    read_only = any(v.get("persistentVolumeClaim", {}).get("readOnly") for v in pod.get("spec", {}).get("volumes") or []
                    if v.get("persistentVolumeClaim", {}).get("claimName") == claim_name)
    return Spec(pv, read_only), pvc
