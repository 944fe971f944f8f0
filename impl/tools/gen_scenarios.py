# ruff: noqa: E501  (the case tables mirror upstream rows, one per line)
"""Write tests/scenarios/*.yaml for the upstream PV-controller and PVC-protection cases.

The tables below transcribe pkg/controller/volume/persistentvolume/binder_test.go (TestSync, test
sets 1-x, 2-x, 3-x, 13-x; TestMultiSync), delete_test.go, recycle_test.go, provision_test.go,
pkg/controller/volume/pvcprotection/pvc_protection_controller_test.go and the attach/detach
reconciler_test.go,
with the helpers of framework_test.go (newVolume, newClaim: namespace "default", access modes
[ReadWriteOnce, ReadOnlyMany], volumeMode Filesystem; a Bound claim's status copies its request
and modes) rendered as manifests. Run: python -m kvolt.impl.tools.gen_scenarios [OUT_DIR]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

BINDER = "kubernetes/kubernetes pkg/controller/volume/persistentvolume/binder_test.go TestSync"
PVCP = "kubernetes/kubernetes pkg/controller/volume/pvcprotection/pvc_protection_controller_test.go TestPVCProtectionController"
BBC, BC = "pv.kubernetes.io/bound-by-controller", "pv.kubernetes.io/bind-completed"
MODES = ["ReadWriteOnce", "ReadOnlyMany"]
LABELS = {"foo": "true", "bar": "false"}
CLASSES = {"wait": "WaitForFirstConsumer", "gold": "Immediate"}


def vol(name, cap, uid, claim, phase, cls="", *anns, labels=None):
    return dict(name=name, cap=cap, uid=uid, claim=claim, phase=phase, cls=cls, anns=anns, labels=labels)


def clm(name, uid, req, vname, phase, cls=None, *anns, cap=None, selector=False, modes=None, extra_anns=None):
    return dict(name=name, uid=uid, req=req, vname=vname, phase=phase, cls=cls, anns=anns, cap=cap, selector=selector,
                modes=modes, extra=extra_anns or {})


def pv_manifest(v, expected=False):
    anns = {a: "yes" for a in v["anns"]}
    m = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": v["name"]},
         "spec": {"capacity": {"storage": v["cap"]}, "accessModes": MODES, "persistentVolumeReclaimPolicy": "Retain",
                  "storageClassName": v["cls"], "volumeMode": "Filesystem"},
         "status": {"phase": v["phase"]}}
    if v["claim"]:
        m["spec"]["claimRef"] = {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": "default",
                                 "name": v["claim"], "uid": v["uid"]}
    elif expected:
        m["spec"]["claimRef"] = None
    if expected:
        anns.setdefault(BBC, None)
        m["spec"] = {k: m["spec"][k] for k in ("claimRef",) if k in m["spec"]}
        if m["spec"].get("claimRef"):
            m["spec"]["claimRef"] = {"name": v["claim"], "uid": v["uid"]}
    if anns:
        m["metadata"]["annotations"] = anns
    if v["labels"]:
        m["metadata"]["labels"] = dict(v["labels"])
    return m


def pvc_manifest(c, expected=False):
    anns = {a: "yes" for a in c["anns"]}
    anns.update(c["extra"])
    modes = c["modes"] or MODES
    m = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": c["name"], "namespace": "default",
                                                                          "uid": c["uid"]},
         "spec": {"accessModes": modes, "resources": {"requests": {"storage": c["req"]}}, "volumeName": c["vname"],
                  "volumeMode": "Filesystem"},
         "status": {"phase": c["phase"]}}
    if c["cls"] is not None:
        m["spec"]["storageClassName"] = c["cls"]
    if c["selector"]:
        m["spec"]["selector"] = {"matchLabels": dict(LABELS)}
    if c["phase"] == "Bound":
        m["status"]["accessModes"] = modes
        m["status"]["capacity"] = {"storage": c["cap"] or c["req"]}
    if expected:
        del m["metadata"]["uid"]
        m["spec"] = {"volumeName": c["vname"]}
        if c["phase"] != "Bound":
            m["status"]["capacity"] = None
        anns.setdefault(BBC, None)
        anns.setdefault(BC, None)
    if anns:
        m["metadata"]["annotations"] = anns
    return m


S = "Available"
BINDER_CASES = [
    ("1-1 - successful bind", "claim", [vol("volume1-1", "1Gi", "", "", S)], [vol("volume1-1", "1Gi", "uid1-1", "claim1-1", "Bound", "", BBC)],
     [clm("claim1-1", "uid1-1", "1Gi", "", "Pending")], [clm("claim1-1", "uid1-1", "1Gi", "volume1-1", "Bound", None, BBC, BC)], [], False),
    ("1-2 - noop", "claim", [vol("volume1-2", "1Gi", "", "", S)], [vol("volume1-2", "1Gi", "", "", S)],
     [clm("claim1-2", "uid1-2", "10Gi", "", "Pending")], [clm("claim1-2", "uid1-2", "10Gi", "", "Pending")], ["Normal FailedBinding"], False),
    ("1-3 - reset to Pending", "claim", [vol("volume1-3", "1Gi", "", "", S)], [vol("volume1-3", "1Gi", "", "", S)],
     [clm("claim1-3", "uid1-3", "10Gi", "", "Bound")], [clm("claim1-3", "uid1-3", "10Gi", "", "Pending")], ["Normal FailedBinding"], False),
    ("1-4 - smallest volume", "claim", [vol("volume1-4_1", "10Gi", "", "", S), vol("volume1-4_2", "1Gi", "", "", S)],
     [vol("volume1-4_1", "10Gi", "", "", S), vol("volume1-4_2", "1Gi", "uid1-4", "claim1-4", "Bound", "", BBC)],
     [clm("claim1-4", "uid1-4", "1Gi", "", "Pending")], [clm("claim1-4", "uid1-4", "1Gi", "volume1-4_2", "Bound", None, BBC, BC)], [], False),
    ("1-5 - prebound volume by name - success", "claim",
     [vol("volume1-5_1", "10Gi", "", "claim1-5", S), vol("volume1-5_2", "1Gi", "", "", S)],
     [vol("volume1-5_1", "10Gi", "uid1-5", "claim1-5", "Bound"), vol("volume1-5_2", "1Gi", "", "", S)],
     [clm("claim1-5", "uid1-5", "1Gi", "", "Pending")], [clm("claim1-5", "uid1-5", "1Gi", "volume1-5_1", "Bound", None, BBC, BC, cap="10Gi")], [], False),
    ("1-6 - prebound volume by UID - success", "claim",
     [vol("volume1-6_1", "10Gi", "uid1-6", "claim1-6", S), vol("volume1-6_2", "1Gi", "", "", S)],
     [vol("volume1-6_1", "10Gi", "uid1-6", "claim1-6", "Bound"), vol("volume1-6_2", "1Gi", "", "", S)],
     [clm("claim1-6", "uid1-6", "1Gi", "", "Pending")], [clm("claim1-6", "uid1-6", "1Gi", "volume1-6_1", "Bound", None, BBC, BC, cap="10Gi")], [], False),
    ("1-7 - prebound volume to different claim", "claim", [vol("volume1-7", "10Gi", "uid1-777", "claim1-7", S)],
     [vol("volume1-7", "10Gi", "uid1-777", "claim1-7", S)], [clm("claim1-7", "uid1-7", "1Gi", "", "Pending")],
     [clm("claim1-7", "uid1-7", "1Gi", "", "Pending")], ["Normal FailedBinding"], False),
    ("1-8 - complete bind after crash - PV bound", "claim", [vol("volume1-8", "1Gi", "uid1-8", "claim1-8", S, "", BBC)],
     [vol("volume1-8", "1Gi", "uid1-8", "claim1-8", "Bound", "", BBC)], [clm("claim1-8", "uid1-8", "1Gi", "", "Pending")],
     [clm("claim1-8", "uid1-8", "1Gi", "volume1-8", "Bound", None, BBC, BC)], [], False),
    ("1-9 - complete bind after crash - PV status saved", "claim", [vol("volume1-9", "1Gi", "uid1-9", "claim1-9", "Bound", "", BBC)],
     [vol("volume1-9", "1Gi", "uid1-9", "claim1-9", "Bound", "", BBC)], [clm("claim1-9", "uid1-9", "1Gi", "", "Pending")],
     [clm("claim1-9", "uid1-9", "1Gi", "volume1-9", "Bound", None, BBC, BC)], [], False),
    ("1-10 - complete bind after crash - PVC bound", "claim", [vol("volume1-10", "1Gi", "uid1-10", "claim1-10", "Bound", "", BBC)],
     [vol("volume1-10", "1Gi", "uid1-10", "claim1-10", "Bound", "", BBC)],
     [clm("claim1-10", "uid1-10", "1Gi", "volume1-10", "Pending", None, BBC, BC)],
     [clm("claim1-10", "uid1-10", "1Gi", "volume1-10", "Bound", None, BBC, BC)], [], False),
    ("1-11 - bind when selector matches", "claim", [vol("volume1-1", "1Gi", "", "", S, labels=LABELS)],
     [vol("volume1-1", "1Gi", "uid1-1", "claim1-1", "Bound", "", BBC, labels=LABELS)],
     [clm("claim1-1", "uid1-1", "1Gi", "", "Pending", selector=True)],
     [clm("claim1-1", "uid1-1", "1Gi", "volume1-1", "Bound", None, BBC, BC, selector=True)], [], False),
    ("1-12 - do not bind when selector does not match", "claim", [vol("volume1-1", "1Gi", "", "", S)],
     [vol("volume1-1", "1Gi", "", "", S)], [clm("claim1-1", "uid1-1", "1Gi", "", "Pending", selector=True)],
     [clm("claim1-1", "uid1-1", "1Gi", "", "Pending", selector=True)], ["Normal FailedBinding"], False),
    ("1-13 - delayed binding", "claim", [vol("volume1-1", "1Gi", "", "", S, "wait")], [vol("volume1-1", "1Gi", "", "", S, "wait")],
     [clm("claim1-1", "uid1-1", "1Gi", "", "Pending", "wait")], [clm("claim1-1", "uid1-1", "1Gi", "", "Pending", "wait")],
     ["Normal WaitForFirstConsumer"], False),
    ("1-14 - successful prebound PV", "claim", [vol("volume1-1", "1Gi", "", "claim1-1", S, "wait")],
     [vol("volume1-1", "1Gi", "uid1-1", "claim1-1", "Bound", "wait")], [clm("claim1-1", "uid1-1", "1Gi", "", "Pending", "wait")],
     [clm("claim1-1", "uid1-1", "1Gi", "volume1-1", "Bound", "wait", BBC, BC)], [], False),
    ("1-15 - successful prebound PVC", "claim", [vol("volume1-15_1", "10Gi", "", "", S), vol("volume1-15_2", "1Gi", "", "", S)],
     [vol("volume1-15_1", "10Gi", "uid1-15", "claim1-15", "Bound", "", BBC), vol("volume1-15_2", "1Gi", "", "", S)],
     [clm("claim1-15", "uid1-15", "1Gi", "volume1-15_1", "Pending")],
     [clm("claim1-15", "uid1-15", "1Gi", "volume1-15_1", "Bound", None, BC, cap="10Gi")], [], False),
    ("1-16 - successful prebound PVC", "claim", [vol("volume1-16", "1Gi", "", "", S)], [vol("volume1-16", "1Gi", "", "", S)],
     [clm("claim1-16", "uid1-16", "1Gi", "volume1-16", "Pending", modes=["ReadWriteMany"])],
     [clm("claim1-16", "uid1-16", "1Gi", "volume1-16", "Pending", modes=["ReadWriteMany"])], [], False),
    ("1-17 - skip non-available PV if it's not pre-bind", "claim",
     [vol("volume1-17-pending", "1Gi", "", "", "Pending"), vol("volume1-17-failed", "1Gi", "", "", "Failed"),
      vol("volume1-17-released", "1Gi", "", "", "Released"), vol("volume1-17-empty", "1Gi", "", "", "")],
     [vol("volume1-17-pending", "1Gi", "", "", "Pending"), vol("volume1-17-failed", "1Gi", "", "", "Failed"),
      vol("volume1-17-released", "1Gi", "", "", "Released"), vol("volume1-17-empty", "1Gi", "", "", "")],
     [clm("claim1-17", "uid1-17", "1Gi", "", "Pending")], [clm("claim1-17", "uid1-17", "1Gi", "", "Pending")], [], False),
    ("1-18 - successful pre-bound PV to PVC provisioning", "claim", [vol("volume1-18", "1Gi", "uid1-18", "claim1-18", S, "wait")],
     [vol("volume1-18", "1Gi", "uid1-18", "claim1-18", "Bound", "wait")],
     [clm("claim1-18", "uid1-18", "1Gi", "", "Pending", "wait", extra_anns={"volume.kubernetes.io/selected-node": "node1"})],
     [clm("claim1-18", "uid1-18", "1Gi", "volume1-18", "Bound", "wait", BBC, BC, extra_anns={"volume.kubernetes.io/selected-node": "node1"})],
     [], False),
    ("2-1 - claim prebound to non-existing volume - noop", "claim", [], [], [clm("claim2-1", "uid2-1", "10Gi", "volume2-1", "Pending")],
     [clm("claim2-1", "uid2-1", "10Gi", "volume2-1", "Pending")], [], False),
    ("2-2 - claim prebound to non-existing volume - reset status", "claim", [], [],
     [clm("claim2-2", "uid2-2", "10Gi", "volume2-2", "Bound")], [clm("claim2-2", "uid2-2", "10Gi", "volume2-2", "Pending")], [], False),
    ("2-3 - claim prebound to unbound volume", "claim", [vol("volume2-3", "1Gi", "", "", S)],
     [vol("volume2-3", "1Gi", "uid2-3", "claim2-3", "Bound", "", BBC)], [clm("claim2-3", "uid2-3", "1Gi", "volume2-3", "Pending")],
     [clm("claim2-3", "uid2-3", "1Gi", "volume2-3", "Bound", None, BC)], [], False),
    ("2-4 - claim prebound to prebound volume by name", "claim", [vol("volume2-4", "1Gi", "", "claim2-4", S)],
     [vol("volume2-4", "1Gi", "uid2-4", "claim2-4", "Bound")], [clm("claim2-4", "uid2-4", "1Gi", "volume2-4", "Pending")],
     [clm("claim2-4", "uid2-4", "1Gi", "volume2-4", "Bound", None, BC)], [], False),
    ("2-5 - claim prebound to prebound volume by UID", "claim", [vol("volume2-5", "1Gi", "uid2-5", "claim2-5", S)],
     [vol("volume2-5", "1Gi", "uid2-5", "claim2-5", "Bound")], [clm("claim2-5", "uid2-5", "1Gi", "volume2-5", "Pending")],
     [clm("claim2-5", "uid2-5", "1Gi", "volume2-5", "Bound", None, BC)], [], False),
    ("2-6 - claim prebound to already bound volume", "claim", [vol("volume2-6", "1Gi", "uid2-6_1", "claim2-6_1", "Bound")],
     [vol("volume2-6", "1Gi", "uid2-6_1", "claim2-6_1", "Bound")], [clm("claim2-6", "uid2-6", "1Gi", "volume2-6", "Bound")],
     [clm("claim2-6", "uid2-6", "1Gi", "volume2-6", "Pending")], [], False),
    ("2-7 - claim bound by controller to already bound volume", "claim",
     [vol("volume2-7", "1Gi", "uid2-7_1", "claim2-7_1", "Bound")], [vol("volume2-7", "1Gi", "uid2-7_1", "claim2-7_1", "Bound")],
     [clm("claim2-7", "uid2-7", "1Gi", "volume2-7", "Bound", None, BBC)], [clm("claim2-7", "uid2-7", "1Gi", "volume2-7", "Bound", None, BBC)],
     [], True),
    ("2-8 - claim prebound to unbound volume that does not match the selector", "claim", [vol("volume2-8", "1Gi", "", "", S)],
     [vol("volume2-8", "1Gi", "uid2-8", "claim2-8", "Bound", "", BBC)],
     [clm("claim2-8", "uid2-8", "1Gi", "volume2-8", "Pending", selector=True)],
     [clm("claim2-8", "uid2-8", "1Gi", "volume2-8", "Bound", None, BC, selector=True)], [], False),
    ("2-9 - claim prebound to unbound volume that size is smaller than requested", "claim", [vol("volume2-9", "1Gi", "", "", S)],
     [vol("volume2-9", "1Gi", "", "", S)], [clm("claim2-9", "uid2-9", "2Gi", "volume2-9", "Bound")],
     [clm("claim2-9", "uid2-9", "2Gi", "volume2-9", "Pending")], ["Warning VolumeMismatch"], False),
    ("2-10 - claim prebound to unbound volume that class is different", "claim", [vol("volume2-10", "1Gi", "1", "", S, "gold")],
     [vol("volume2-10", "1Gi", "", "", S, "gold")], [clm("claim2-10", "uid2-10", "1Gi", "volume2-10", "Bound")],
     [clm("claim2-10", "uid2-10", "1Gi", "volume2-10", "Pending")], ["Warning VolumeMismatch"], False),
    ("3-1 - bound claim with missing VolumeName", "claim", [], [], [clm("claim3-1", "uid3-1", "10Gi", "", "Bound", None, BBC, BC)],
     [clm("claim3-1", "uid3-1", "10Gi", "", "Lost", None, BBC, BC)], ["Warning ClaimLost"], False),
    ("3-2 - bound claim with missing volume", "claim", [], [], [clm("claim3-2", "uid3-2", "10Gi", "volume3-2", "Bound", None, BBC, BC)],
     [clm("claim3-2", "uid3-2", "10Gi", "volume3-2", "Lost", None, BBC, BC)], ["Warning ClaimLost"], False),
    ("3-3 - bound claim with unbound volume", "claim", [vol("volume3-3", "10Gi", "", "", S)],
     [vol("volume3-3", "10Gi", "uid3-3", "claim3-3", "Bound", "", BBC)],
     [clm("claim3-3", "uid3-3", "10Gi", "volume3-3", "Pending", None, BBC, BC)],
     [clm("claim3-3", "uid3-3", "10Gi", "volume3-3", "Bound", None, BBC, BC)], [], False),
    ("3-4 - bound claim with prebound volume", "claim", [vol("volume3-4", "10Gi", "claim3-4-x", "claim3-4", S)],
     [vol("volume3-4", "10Gi", "claim3-4-x", "claim3-4", S)], [clm("claim3-4", "uid3-4", "10Gi", "volume3-4", "Pending", None, BBC, BC)],
     [clm("claim3-4", "uid3-4", "10Gi", "volume3-4", "Lost", None, BBC, BC)], ["Warning ClaimMisbound"], False),
    ("3-5 - bound claim with bound volume", "claim", [vol("volume3-5", "10Gi", "uid3-5", "claim3-5", S)],
     [vol("volume3-5", "10Gi", "uid3-5", "claim3-5", "Bound")], [clm("claim3-5", "uid3-5", "10Gi", "volume3-5", "Pending", None, BC)],
     [clm("claim3-5", "uid3-5", "10Gi", "volume3-5", "Bound", None, BC)], [], False),
    ("3-6 - bound claim with bound volume", "claim", [vol("volume3-6", "10Gi", "uid3-6-x", "claim3-6-x", S)],
     [vol("volume3-6", "10Gi", "uid3-6-x", "claim3-6-x", S)], [clm("claim3-6", "uid3-6", "10Gi", "volume3-6", "Pending", None, BC)],
     [clm("claim3-6", "uid3-6", "10Gi", "volume3-6", "Lost", None, BC)], ["Warning ClaimMisbound"], False),
    ("3-7 - bound claim with unbound volume where selector doesn't match", "claim", [vol("volume3-3", "10Gi", "", "", S)],
     [vol("volume3-3", "10Gi", "uid3-3", "claim3-3", "Bound", "", BBC)],
     [clm("claim3-3", "uid3-3", "10Gi", "volume3-3", "Pending", None, BBC, BC, selector=True)],
     [clm("claim3-3", "uid3-3", "10Gi", "volume3-3", "Bound", None, BBC, BC, selector=True)], [], False),
]


def binder_scenario(case):
    name, _, ivols, evols, iclaims, eclaims, events, error = case
    initial = [{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": n},
                "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": mode} for n, mode in CLASSES.items()]
    initial += [pv_manifest(v) for v in ivols] + [pvc_manifest(c) for c in iclaims]
    return {
        "name": name,
        "upstream": f'{BINDER} "{name}"',
        "components": ["pv-controller"],
        "initial": initial,
        "steps": [{"sync": {"controller": "pv-controller", "claim": f"default/{iclaims[0]['name']}"}}],
        "expect": {"objects": [pv_manifest(v, True) for v in evols] + [pvc_manifest(c, True) for c in eclaims],
                   "events": list(events), "error": error},
    }


# ---------------------------------------------------------------- PVC protection

FIN = "kubernetes.io/pvc-protection"


def pvc(name="pvc1", ns="default", finalizer=False, deleted=False):
    m = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    if finalizer:
        m["metadata"]["finalizers"] = [FIN]
    if deleted:
        m["metadata"]["deletionTimestamp"] = "t+0ms"
    return m


def pod(name="pod1", ns="default", claim=None, node="node1", phase="Running", uid=None, empty_dir=False):
    vols = []
    if claim:
        vols.append({"name": "vol", "persistentVolumeClaim": {"claimName": claim}})
    if empty_dir:
        vols.append({"name": "emptyDir", "emptyDir": {}})
    m = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
         "spec": {"volumes": vols}, "status": {"phase": phase}}
    if node:
        m["spec"]["nodeName"] = node
    if uid:
        m["metadata"]["uid"] = uid
    return m


L = "list pods"
U = "update persistentvolumeclaims"
PVCP_CASES = [
    ("PVC without finalizer -> finalizer is added", [pvc(), pvc("pvc2", "namespace-2")], [], None, [],
     [f"{U} default/pvc1", f"{U} namespace-2/pvc2"], [("pvc1", "default", [FIN])]),
    ("PVC with finalizer -> no action", [pvc(finalizer=True), pvc("pvc2", "namespace-2", True)], [], None, [], [], []),
    ("saving PVC finalizer fails -> controller retries", [pvc()], [], None, [("update", 2)],
     [f"{U} default/pvc1"] * 3, [("pvc1", "default", [FIN])]),
    ("deleted PVC with finalizers across different namespaces -> finalizer is removed",
     [pvc(finalizer=True, deleted=True), pvc("pvc2", "namespace-2", True, True)], [], None, [],
     [f"{L} default", f"{U} default/pvc1", f"{L} namespace-2", f"{U} namespace-2/pvc2"], [("pvc1", "default", None)]),
    ("multiple PVCs with finalizer for the same namespace; no alive pods -> finalizer is removed",
     [pvc(finalizer=True, deleted=True), pvc("pvc2", finalizer=True, deleted=True)], [], None, [],
     [f"{L} default", f"{U} default/pvc1", f"{L} default", f"{U} default/pvc2"], []),
    ("finalizer removal fails -> controller retries", [pvc(finalizer=True, deleted=True)], [], None, [("update", 2)],
     [f"{L} default", f"{U} default/pvc1"] * 3, [("pvc1", "default", None)]),
    ("delete multiple PVCs of the same namespace; pod list fails for one PVC -> add failing PVC back to queue and continue to the next PVC",
     [pvc(finalizer=True, deleted=True), pvc("pvc2", finalizer=True, deleted=True)], [], None, [("list", 1)],
     [f"{L} default", f"{L} default", f"{U} default/pvc2", f"{L} default", f"{U} default/pvc1"], []),
    ("deleted PVC with finalizer + pod with the PVC exists -> finalizer is not removed",
     [pvc(finalizer=True, deleted=True), pod(claim="pvc1")], [], None, [], [], [("pvc1", "default", [FIN])]),
    ("deleted PVC with finalizer + pod with unrelated PVC and EmptyDir exists -> finalizer is removed",
     [pvc(finalizer=True, deleted=True), pod(claim="unrelatedPVC", empty_dir=True)], [], None, [],
     [f"{L} default", f"{U} default/pvc1"], []),
    ("deleted multiple PVCs with finalizer (same namespace) + pod with unrelated PVC and EmptyDir exists",
     [pvc(finalizer=True, deleted=True), pvc("pvc2", finalizer=True, deleted=True), pvc("pvc3", finalizer=True, deleted=True),
      pod(claim="unrelatedPVC", empty_dir=True)], [], None, [],
     [f"{L} default", f"{U} default/pvc1", f"{L} default", f"{U} default/pvc2", f"{L} default", f"{U} default/pvc3"], []),
    ("deleted PVC with finalizer + pod with the PVC finished but is not deleted -> finalizer is not removed",
     [pvc(finalizer=True, deleted=True), pod(claim="pvc1", phase="Failed")], [], None, [], [], [("pvc1", "default", [FIN])]),
    ("deleted PVC with finalizer + pod with the PVC exists but is not in the Informer's cache yet -> finalizer is not removed",
     [pvc(finalizer=True, deleted=True), pod(claim="pvc1")], ["pvc-protection-controller:Pod"], None, [],
     [f"{L} default"], [("pvc1", "default", [FIN])]),
    ("mix of deleted PVCs with some used by a pod and some unused -> finalizer is removed only for unused PVCs",
     [pvc(finalizer=True, deleted=True), pvc("pvc2", finalizer=True, deleted=True), pvc("pvc3", "namespace-3", True, True),
      pod(claim="pvc1"), pod("pod2", "namespace-3", claim="pvc3")], ["pvc-protection-controller:Pod"], None, [],
     [f"{L} default", f"{L} default", f"{U} default/pvc2", f"{L} namespace-3"], [("pvc1", "default", [FIN]), ("pvc3", "namespace-3", [FIN])]),
    ("updated running Pod -> no action", [pvc(finalizer=True, deleted=True), pod(claim="pvc1")], [],
     {"event": "pod-updated", "pod": "default/pod1"}, [], [], [("pvc1", "default", [FIN])]),
    ("updated finished Pod -> finalizer is not removed", [pvc(finalizer=True, deleted=True), pod(claim="pvc1", phase="Succeeded")], [],
     {"event": "pod-updated", "pod": "default/pod1"}, [], [], [("pvc1", "default", [FIN])]),
    ("updated unscheduled Pod -> finalizer is removed", [pvc(finalizer=True, deleted=True), pod(claim="pvc1", node=None)], [],
     {"event": "pod-updated", "pod": "default/pod1"}, [], [f"{L} default", f"{U} default/pvc1"], []),
    ("deleted running Pod -> finalizer is removed", [pvc(finalizer=True, deleted=True)], [],
     {"event": "pod-deleted", "object": pod(claim="pvc1")}, [], [f"{L} default", f"{U} default/pvc1"], []),
    ("pod delete and create with same namespaced name seen as an update, old pod used deleted PVC -> finalizer is removed",
     [pvc(finalizer=True, deleted=True), pod(uid="uid2")], [],
     {"event": "pod-replaced", "old": pod(claim="pvc1"), "pod": "default/pod1"}, [], [f"{L} default", f"{U} default/pvc1"], []),
    ("pod delete and create with same namespaced name seen as an update, old pod used non-deleted PVC -> finalizer is not removed",
     [pvc(finalizer=True), pod(uid="uid2")], [], {"event": "pod-replaced", "old": pod(claim="pvc1"), "pod": "default/pod1"}, [], [],
     [("pvc1", "default", [FIN])]),
    ("pod delete and create with same namespaced name seen as an update, both pods reference deleted PVC -> finalizer is not removed",
     [pvc(finalizer=True, deleted=True), pod(uid="uid2", claim="pvc1")], [],
     {"event": "pod-replaced", "old": pod(claim="pvc1"), "pod": "default/pod1"}, [], [], [("pvc1", "default", [FIN])]),
    ("pod update from unscheduled to scheduled, deleted PVC is referenced -> finalizer is not removed",
     [pvc(finalizer=True, deleted=True), pod(claim="pvc1")], [],
     {"event": "pod-replaced", "old": pod(claim="pvc1", node=None), "pod": "default/pod1"}, [], [], [("pvc1", "default", [FIN])]),
]


def pvcp_scenario(case):
    name, initial, late, handle, reactors, calls, expect_objs = case
    steps = [{"inject": {"verb": verb, "resource": "persistentvolumeclaims" if verb == "update" else "pods",
                         "error": "ServerError", "count": n, "actor": "pvc-protection-controller"}} for verb, n in reactors]
    if handle:
        steps.append({"handle": {"controller": "pvc-protection-controller", **handle}})
    steps.append({"sync": {"controller": "pvc-protection-controller"}})
    expect = {"actions": {"actor": "pvc-protection-controller", "calls": calls}}
    objs, absent = [], []
    for n, ns, fins in expect_objs:
        if fins is None:
            absent.append({"kind": "PersistentVolumeClaim", "namespace": ns, "name": n})
        else:
            objs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": n, "namespace": ns, "finalizers": fins}})
    if objs:
        expect["objects"] = objs
    if absent:
        expect["absent"] = absent
    out = {"name": name, "upstream": f'{PVCP} "{name}"', "components": ["pvc-protection-controller"],
           "initial": initial, "steps": steps, "expect": expect}
    if late:
        out["late_informers"] = late
    return out


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def main(out_dir: str = "tests/scenarios") -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for case in BINDER_CASES:
        number = case[0].split(" ")[0]
        (out / f"binder-{number}-{slug(case[0][len(number):])}.yaml").write_text(
            yaml.safe_dump(binder_scenario(case), sort_keys=False, width=120), encoding="utf-8")
    for i, case in enumerate(PVCP_CASES, start=1):
        (out / f"pvcprotection-{i:02d}-{slug(case[0])[:60]}.yaml").write_text(
            yaml.safe_dump(pvcp_scenario(case), sort_keys=False, width=120), encoding="utf-8")
    main_adc(out_dir)
    main_framework(out_dir)
    return 0



# ---------------------------------------------------------------- attach/detach reconciler

ADC = "kubernetes/kubernetes pkg/controller/volume/attachdetach/reconciler/reconciler_test.go"
VOL = "kvolt.io/fake-disk/disk-1"


def node(name, ready=True, taint=False, in_use=()):
    m = {"apiVersion": "v1", "kind": "Node",
         "metadata": {"name": name, "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
         "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}], "volumesInUse": list(in_use)}}
    if taint:
        m["spec"] = {"taints": [{"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}]}
    return m


def bound_pair(modes):
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1"},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": modes, "persistentVolumeReclaimPolicy": "Retain",
                   "fakeDisk": {"diskID": "disk-1"},
                   "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "claim1", "uid": "uid-claim1"}},
          "status": {"phase": "Bound"}}
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "claim1", "namespace": "default", "uid": "uid-claim1"},
             "spec": {"accessModes": modes, "resources": {"requests": {"storage": "1Gi"}}, "volumeName": "pv1"},
             "status": {"phase": "Bound"}}
    return [pv, claim]


def adc_pod(name, node_name):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node_name, "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "claim1"}}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "app", "state": {"running": {}}}]}}


PASS = [{"reconcile": "attach-detach"}, {"operations": "attach-detach"}]
DELETE_POD1 = [{"delete": {"kind": "Pod", "name": "pod1", "gracePeriodSeconds": 0}}, {"deliver": "all"}]


def attached_expect(nodes):
    return {"attached": {"disk-1": nodes}}


ADC_CASES = [
    ("Test_Run_Positive_OneDesiredVolumeAttach",
     [node("node1"), *bound_pair(["ReadWriteOnce"]), adc_pod("pod1", "node1")], [*PASS, {"reconcile": "attach-detach"}],
     {"attached": {"disk-1": ["node1"]},
      "objects": [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"},
                   "status": {"volumesAttached": [{"name": VOL, "devicePath": "/dev/disk/by-id/disk-1"}]}}]}),
    ("Test_Run_Positive_OneDesiredVolumeAttachThenDetachWithUnmountedVolume",
     [node("node1"), *bound_pair(["ReadWriteOnce"]), adc_pod("pod1", "node1")],
     PASS + DELETE_POD1 + [{"update": {"kind": "Node", "metadata": {"name": "node1"}, "status": {"volumesInUse": [], "conditions": [
         {"type": "Ready", "status": "True", "lastHeartbeatTime": "t+1s"}]}}},
                           {"deliver": "all"}] + PASS,
     {"attached": {"disk-1": []},
      "objects": [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"}, "status": {"volumesAttached": []}}]}),
    ("Test_Run_Positive_OneDesiredVolumeAttachThenDetachWithMountedVolume",
     [node("node1", in_use=[VOL]), *bound_pair(["ReadWriteOnce"]), adc_pod("pod1", "node1")],
     PASS + DELETE_POD1 + PASS + [{"advance": 420000}] + PASS,
     {"attached": {"disk-1": ["node1"]}}),
    ("Test_Run_Negative_OneDesiredVolumeAttachThenDetachWithUnmountedVolumeUpdateStatusFail",
     [node("node1"), *bound_pair(["ReadWriteOnce"]), adc_pod("pod1", "node1")],
     PASS + DELETE_POD1 + [{"update": {"kind": "Node", "metadata": {"name": "node1"}, "status": {"volumesInUse": [], "conditions": [
         {"type": "Ready", "status": "True", "lastHeartbeatTime": "t+1s"}]}}},
                           {"deliver": "all"},
                           {"inject": {"verb": "patch-status", "resource": "nodes", "count": 1, "actor": "attach-detach-controller"}}]
     + PASS,
     {"attached": {"disk-1": ["node1"]}}),
    ("Test_Run_OneVolumeAttachAndDetachMultipleNodesWithReadWriteMany",
     [node("node1"), node("node2"), *bound_pair(["ReadWriteMany"]), adc_pod("pod1", "node1"), adc_pod("pod2", "node2")],
     PASS + PASS, {"attached": {"disk-1": ["node1", "node2"]}}),
    ("Test_Run_OneVolumeAttachAndDetachMultipleNodesWithReadWriteOnce",
     [node("node1"), node("node2"), *bound_pair(["ReadWriteOnce"]), adc_pod("pod1", "node1"), adc_pod("pod2", "node2")],
     PASS + PASS + [{"advance": 1000}] + PASS, {"attached": {"disk-1": ["node1"]}, "events": ["Warning FailedAttachVolume Multi-Attach error"]}),
    ("Test_Run_OneVolumeAttachAndDetachMultipleNodesWithReadWriteOnce (then detach and attach elsewhere)",
     [node("node1"), node("node2"), *bound_pair(["ReadWriteOnce"]), adc_pod("pod1", "node1"), adc_pod("pod2", "node2")],
     PASS + PASS + DELETE_POD1 + [{"update": {"kind": "Node", "metadata": {"name": "node1"}, "status": {"volumesInUse": [], "conditions": [
         {"type": "Ready", "status": "True", "lastHeartbeatTime": "t+1s"}]}}},
                                  {"deliver": "all"}] + PASS + PASS,
     {"attached": {"disk-1": ["node2"]}}),
    ("Test_Run_OneVolumeDetachOnOutOfServiceTaintedNode",
     [node("node1", ready=False, taint=True, in_use=[VOL]), *bound_pair(["ReadWriteOnce"]), adc_pod("pod1", "node1")],
     PASS + DELETE_POD1 + PASS, {"attached": {"disk-1": []}}),
    ("Test_Run_OneVolumeDetachOnNoOutOfServiceTaintedNode",
     [node("node1", ready=True, in_use=[VOL]), *bound_pair(["ReadWriteOnce"]), adc_pod("pod1", "node1")],
     PASS + DELETE_POD1 + PASS, {"attached": {"disk-1": ["node1"]}}),
    ("Test_Run_OneVolumeDetachOnUnhealthyNode",
     [node("node1", ready=False, in_use=[VOL]), *bound_pair(["ReadWriteOnce"]), adc_pod("pod1", "node1")],
     PASS + DELETE_POD1 + PASS + [{"advance": 420000}] + PASS, {"attached": {"disk-1": []}}),
    ("Test_Run_OneVolumeDetachOnUnhealthyNode (before maxWaitForUnmountDuration)",
     [node("node1", ready=False, in_use=[VOL]), *bound_pair(["ReadWriteOnce"]), adc_pod("pod1", "node1")],
     PASS + DELETE_POD1 + PASS + [{"advance": 60000}] + PASS, {"attached": {"disk-1": ["node1"]}}),
]


def adc_scenario(case):
    name, initial, steps, expect = case
    return {"name": name, "upstream": f"{ADC} {name.split(' ')[0]}", "components": ["attach-detach-controller"],
            "initial": initial, "steps": steps, "expect": expect}


def main_adc(out_dir: str = "tests/scenarios") -> None:
    out = Path(out_dir)
    for i, case in enumerate(ADC_CASES, start=1):
        (out / f"attachdetach-{i:02d}-{slug(case[0])[:70]}.yaml").write_text(
            yaml.safe_dump(adc_scenario(case), sort_keys=False, width=120), encoding="utf-8")



# ---------------------------------------------------------------- PV controller: delete, recycle, provision, set 13, multisync
#
# framework_test.go's helpers as manifests: newVolume (a GCE PD source, modes [RWO, ROX], volumeMode
# Filesystem; AnnDynamicallyProvisioned names the mock plugin), newExternalProvisionedVolume (a CSI
# source), newClaim (a Bound claim's status copies its request and modes). Expected objects are the
# fields upstream's CheckVolumes/CheckClaims compare that the controller writes: phase, message,
# claimRef, annotations, finalizers, volumeName, status capacity.

PVDIR = "kubernetes/kubernetes pkg/controller/volume/persistentvolume/"
MOCK = "kubernetes.io/mock-volume"
DP, SP, BSP = "pv.kubernetes.io/provisioned-by", "volume.kubernetes.io/storage-provisioner", "volume.beta.kubernetes.io/storage-provisioner"
MIG = "pv.kubernetes.io/migrated-to"
INTREE_FIN, PVP_FIN = "kubernetes.io/pv-controller", "kubernetes.io/pv-protection"
GCE_DRIVER = "pd.csi.storage.gke.io"


def fv(name, cap, uid, claim, phase, policy, cls="", *anns, fins=None, message=None, csi=None, values=None, deleting=False):
    """newVolume / newExternalProvisionedVolume (csi=driver) with annotations given by key."""
    return dict(name=name, cap=cap, uid=uid, claim=claim, phase=phase, policy=policy, cls=cls, anns=anns, fins=fins,
                message=message, csi=csi, values=values or {}, deleting=deleting)


def fc(name, uid, cap, vname, phase, cls=None, *anns, values=None, exp_cap=None, data_source=False):
    return dict(name=name, uid=uid, cap=cap, vname=vname, phase=phase, cls=cls, anns=anns, values=values or {},
                exp_cap=exp_cap, data_source=data_source)


def _volume_annotations(v):
    out = {}
    for a in v["anns"]:
        out[a] = (v["csi"] or MOCK) if a == DP else "yes"
    out.update(v["values"])
    return out


def fw_volume(v, expected=False):
    anns = _volume_annotations(v)
    source = {"csi": {"driver": v["csi"], "volumeHandle": "527b55dc-c7db-4574-9226-2e33318b06a3", "fsType": "ext4"}} \
        if v["csi"] else {"gcePersistentDisk": {}}
    claim_ref = {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": "default", "name": v["claim"],
                 "uid": v["uid"]} if v["claim"] else None
    if not expected:
        m = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": v["name"]},
             "spec": {"capacity": {"storage": v["cap"]}, **source, "accessModes": MODES,
                      "persistentVolumeReclaimPolicy": v["policy"], "storageClassName": v["cls"], "volumeMode": "Filesystem"},
             "status": {"phase": v["phase"]}}
        if claim_ref:
            m["spec"]["claimRef"] = claim_ref
        if anns:
            m["metadata"]["annotations"] = anns
        if v["fins"]:
            m["metadata"]["finalizers"] = list(v["fins"])
        if v["deleting"]:
            m["metadata"]["deletionTimestamp"] = "2020-02-18T10:30:30Z"
        if v["message"]:
            m["status"]["message"] = v["message"]
        return m
    for a in (BBC, DP, MIG):
        anns.setdefault(a, None)
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": v["name"], "annotations": anns, "finalizers": list(v["fins"]) if v["fins"] else None},
            "spec": {"claimRef": {"name": v["claim"], "uid": v["uid"]} if claim_ref else None,
                     "persistentVolumeReclaimPolicy": v["policy"], "storageClassName": v["cls"]},
            "status": {"phase": v["phase"], "message": v["message"]}}


def fw_claim(c, expected=False):
    anns = {a: (MOCK if a in (SP, BSP) else "yes") for a in c["anns"]}
    anns.update(c["values"])
    bound = c["phase"] == "Bound"
    if not expected:
        m = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": c["name"], "namespace": "default", "uid": c["uid"]},
             "spec": {"accessModes": MODES, "resources": {"requests": {"storage": c["cap"]}}, "volumeName": c["vname"],
                      "volumeMode": "Filesystem"},
             "status": {"phase": c["phase"]}}
        if c["cls"] is not None:
            m["spec"]["storageClassName"] = c["cls"]
        if c["data_source"]:
            m["spec"]["dataSource"] = {"name": "test-snap", "kind": "VolumeSnapshot", "apiGroup": "snapshot.storage.k8s.io"}
        if anns:
            m["metadata"]["annotations"] = anns
        if bound:
            m["status"].update(accessModes=MODES, capacity={"storage": c["exp_cap"] or c["cap"]})
        return m
    for a in (BBC, BC, SP, BSP, MIG):
        anns.setdefault(a, None)
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": c["name"], "namespace": "default", "annotations": anns},
            "spec": {"volumeName": c["vname"]},
            "status": {"phase": c["phase"], "capacity": {"storage": c["exp_cap"] or c["cap"]} if bound else None}}


def mock(delete=None, recycle=None, provision=None):
    """wrapTestWithPluginCalls: the mock plugin's results, None for success."""
    out = {}
    for key, calls in (("delete", delete), ("recycle", recycle), ("provision", provision)):
        if calls is not None:
            out[key] = calls
    return {"mock": out}


def provision_call(params, error=None):
    return {"parameters": params, "error": error}


def fw(name, upstream, vols, evols, claims, eclaims, events, test, *, plugins=None, before=None, errors=(), pods=(),
       classes=(), multisync=False, migration=None):
    return dict(name=name, upstream=upstream, vols=vols, evols=evols, claims=claims, eclaims=eclaims, events=events,
                test=test, plugins=plugins, before=before or [], errors=errors, pods=pods, classes=classes, multisync=multisync,
                migration=migration)


def delete_pv(name):
    return {"delete": {"kind": "PersistentVolume", "name": name}}


def mark_volume_available(name):
    """VolumeReactor.MarkVolumeAvailable: no claimRef, phase Available, no annotations."""
    return {"update": {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name, "annotations": None},
                       "spec": {"claimRef": None}, "status": {"phase": "Available"}}}


def fw_pod(name, claim, phase):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"volumes": [{"name": "vol1", "persistentVolumeClaim": {"claimName": claim}}]}, "status": {"phase": phase}}


B, A, R, F, PND = "Bound", "Available", "Released", "Failed", "Pending"
DEL, REC, RET = "Delete", "Recycle", "Retain"
DELETE_T = "delete_test.go TestDeleteSync"
DELETE_CASES = [
    fw("8-1 - successful delete", DELETE_T, [fv("volume8-1", "1Gi", "uid8-1", "claim8-1", B, DEL, "", BBC)], [], [], [], [], "volume",
       plugins=mock(delete=[None])),
    fw("8-2 - successful delete with prebound volume", DELETE_T, [fv("volume8-2", "1Gi", "uid8-2", "claim8-2", B, DEL)], [], [], [], [],
       "volume", plugins=mock(delete=[None])),
    fw("8-3 - plugin not found", DELETE_T, [fv("volume8-3", "1Gi", "uid8-3", "claim8-3", B, DEL)],
       [fv("volume8-3", "1Gi", "uid8-3", "claim8-3", F, DEL, message='error getting deleter volume plugin for volume "volume8-3": no volume plugin matched')],
       [], [], ["Warning VolumeFailedDelete"], "volume", plugins={}),
    fw("8-4 - newDeleter returns error", DELETE_T, [fv("volume8-4", "1Gi", "uid8-4", "claim8-4", B, DEL)],
       [fv("volume8-4", "1Gi", "uid8-4", "claim8-4", F, DEL, message='failed to create deleter for volume "volume8-4": Mock plugin error: no deleteCalls configured')],
       [], [], ["Warning VolumeFailedDelete"], "volume", plugins=mock(delete=[])),
    fw("8-5 - delete returns error", DELETE_T, [fv("volume8-5", "1Gi", "uid8-5", "claim8-5", B, DEL)],
       [fv("volume8-5", "1Gi", "uid8-5", "claim8-5", F, DEL, message="Mock delete error")], [], [], ["Warning VolumeFailedDelete"], "volume",
       plugins=mock(delete=["Mock delete error"])),
    fw("8-6 - volume is deleted before deleting", DELETE_T, [fv("volume8-6", "1Gi", "uid8-6", "claim8-6", B, DEL)], [], [], [], [], "volume",
       plugins=mock(delete=[]), before=[delete_pv("volume8-6")]),
    fw("8-7 - volume is bound before deleting", DELETE_T, [fv("volume8-7", "1Gi", "uid8-7", "claim8-7", B, DEL, "", BBC)],
       [fv("volume8-7", "1Gi", "uid8-7", "claim8-7", B, DEL, "", BBC)], [], [fc("claim8-7", "uid8-7", "10Gi", "volume8-7", B)], [], "volume",
       plugins=mock(delete=[]),
       # the reactor adds a claim bound to the volume (AddClaimBoundToVolume) and the controller caches it
       before=[{"load": fw_claim(fc("claim8-7", "uid8-7", "10Gi", "volume8-7", B))},
               {"update": {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "volume8-7"}, "status": {"phase": B}}},
               {"cache": {"kind": "PersistentVolumeClaim", "name": "claim8-7"}}]),
    fw("8-9 - prebound volume is deleted while the claim exists", DELETE_T, [fv("volume8-9", "1Gi", "uid8-9", "claim8-9", B, DEL)], [],
       [fc("claim8-9", "uid8-9-x", "10Gi", "", PND)], [fc("claim8-9", "uid8-9-x", "10Gi", "", PND)], [], "volume", plugins=mock(delete=[None])),
    fw("8-10-1 - external deleter when volume is dynamic provisioning", DELETE_T,
       [fv("volume8-10-1", "1Gi", "uid10-1-1", "claim10-1-1", B, DEL, "", BBC, csi=GCE_DRIVER, values={DP: "external.io/test"})],
       [fv("volume8-10-1", "1Gi", "uid10-1-1", "claim10-1-1", R, DEL, "", BBC, csi=GCE_DRIVER, values={DP: "external.io/test"})],
       [], [], [], "volume"),
    fw("8-10-2 - external deleter when volume is static provisioning", DELETE_T,
       [fv("volume8-10-2", "1Gi", "uid10-1-2", "claim10-1-2", B, DEL, "", BBC, csi=GCE_DRIVER)],
       [fv("volume8-10-2", "1Gi", "uid10-1-2", "claim10-1-2", R, DEL, "", BBC, csi=GCE_DRIVER)], [], [], [], "volume"),
    fw("8-10-3 - external deleter when volume is migrated", DELETE_T,
       [fv("volume8-10-3", "1Gi", "uid10-1-3", "claim10-1-3", B, DEL, "", values={DP: "kubernetes.io/gce-pd", MIG: GCE_DRIVER})],
       [fv("volume8-10-3", "1Gi", "uid10-1-3", "claim10-1-3", R, DEL, "", values={DP: "kubernetes.io/gce-pd", MIG: GCE_DRIVER})],
       [], [], [], "volume"),
    fw("8-11 - two PVs provisioned for a single claim", DELETE_T,
       [fv("volume8-11-1", "1Gi", "uid8-11", "claim8-11", B, DEL, "", DP), fv("volume8-11-2", "1Gi", "uid8-11", "claim8-11", B, DEL, "", DP)],
       [fv("volume8-11-2", "1Gi", "uid8-11", "claim8-11", B, DEL, "", DP)],
       [fc("claim8-11", "uid8-11", "10Gi", "volume8-11-2", B)], [fc("claim8-11", "uid8-11", "10Gi", "volume8-11-2", B)], [], "volume",
       plugins=mock(delete=[None])),
    fw("8-12 - two PVs externally provisioned for a single claim", DELETE_T,
       [fv("volume8-12-1", "1Gi", "uid8-12", "claim8-12", B, DEL, "", DP, csi=GCE_DRIVER, values={DP: "external.io/test"}),
        fv("volume8-12-2", "1Gi", "uid8-12", "claim8-12", B, DEL, "", DP, csi=GCE_DRIVER)],
       [fv("volume8-12-1", "1Gi", "uid8-12", "claim8-12", R, DEL, "", DP, csi=GCE_DRIVER, values={DP: "external.io/test"}),
        fv("volume8-12-2", "1Gi", "uid8-12", "claim8-12", B, DEL, "", DP, csi=GCE_DRIVER)],
       [fc("claim8-12", "uid8-12", "10Gi", "volume8-12-2", B)], [fc("claim8-12", "uid8-12", "10Gi", "volume8-12-2", B)], [], "volume"),
    fw("8-13 - volume has deletion timestamp and processed", DELETE_T,
       [fv("volume8-13", "1Gi", "uid8-13", "claim8-13", B, DEL, "", BBC, fins=[INTREE_FIN], deleting=True)], [], [], [], [], "volume",
       plugins=mock(delete=[None])),
    fw("9-1 - delete returns error", "delete_test.go TestDeleteMultiSync",
       [fv("volume9-1", "1Gi", "uid9-1", "claim9-1", B, DEL, fins=[INTREE_FIN])], [], [], [], ["Warning VolumeFailedDelete"], "volume",
       plugins=mock(delete=["Mock delete error", None]), multisync=True),
]

RECYCLE_T = "recycle_test.go TestRecycleSync"
RECYCLE_PODS = [fw_pod("runningPod", "runningClaim", "Running"), fw_pod("pendingPod", "pendingClaim", "Pending"),
                fw_pod("completedPod", "completedClaim", "Succeeded")]
RECYCLE_CASES = [
    fw("6-1 - successful recycle", RECYCLE_T, [fv("volume6-1", "1Gi", "uid6-1", "claim6-1", B, REC, "", BBC)],
       [fv("volume6-1", "1Gi", "", "", A, REC)], [], [], [], "volume", plugins=mock(recycle=[None])),
    fw("6-2 - successful recycle with prebound volume", RECYCLE_T, [fv("volume6-2", "1Gi", "uid6-2", "claim6-2", B, REC)],
       [fv("volume6-2", "1Gi", "", "claim6-2", A, REC)], [], [], [], "volume", plugins=mock(recycle=[None])),
    fw("6-3 - plugin not found", RECYCLE_T, [fv("volume6-3", "1Gi", "uid6-3", "claim6-3", B, REC)],
       [fv("volume6-3", "1Gi", "uid6-3", "claim6-3", F, REC, message="No recycler plugin found for the volume!")], [], [],
       ["Warning VolumeFailedRecycle"], "volume", plugins={}),
    fw("6-4 - newRecycler returns error", RECYCLE_T, [fv("volume6-4", "1Gi", "uid6-4", "claim6-4", B, REC)],
       [fv("volume6-4", "1Gi", "uid6-4", "claim6-4", F, REC, message="Recycle failed: Mock plugin error: no recycleCalls configured")], [], [],
       ["Warning VolumeFailedRecycle"], "volume", plugins=mock(recycle=[])),
    fw("6-5 - recycle returns error", RECYCLE_T, [fv("volume6-5", "1Gi", "uid6-5", "claim6-5", B, REC)],
       [fv("volume6-5", "1Gi", "uid6-5", "claim6-5", F, REC, message="Recycle failed: Mock recycle error")], [], [],
       ["Warning VolumeFailedRecycle"], "volume", plugins=mock(recycle=["Mock recycle error"])),
    fw("6-6 - volume is deleted before recycling", RECYCLE_T, [fv("volume6-6", "1Gi", "uid6-6", "claim6-6", B, REC)], [], [], [], [],
       "volume", plugins=mock(recycle=[]), before=[delete_pv("volume6-6")]),
    fw("6-7 - volume is deleted before recycling", RECYCLE_T, [fv("volume6-7", "1Gi", "uid6-7", "claim6-7", B, REC, "", BBC)],
       [fv("volume6-7", "1Gi", "", "", A, REC)], [], [], [], "volume", plugins=mock(recycle=[]), before=[mark_volume_available("volume6-7")]),
    fw("6-8 - prebound volume is deleted before recycling", RECYCLE_T, [fv("volume6-8", "1Gi", "uid6-8", "claim6-8", B, REC)],
       [fv("volume6-8", "1Gi", "", "", A, REC)], [], [], [], "volume", plugins=mock(recycle=[]), before=[mark_volume_available("volume6-8")]),
    fw("6-9 - prebound volume is recycled while the claim exists", RECYCLE_T, [fv("volume6-9", "1Gi", "uid6-9", "claim6-9", B, REC)],
       [fv("volume6-9", "1Gi", "", "claim6-9", A, REC)], [fc("claim6-9", "uid6-9-x", "10Gi", "", PND)],
       [fc("claim6-9", "uid6-9-x", "10Gi", "", PND)], [], "volume", plugins=mock(recycle=[None])),
    fw("6-10 - unknown reclaim policy", RECYCLE_T, [fv("volume6-10", "1Gi", "uid6-10", "claim6-10", B, "Unknown")],
       [fv("volume6-10", "1Gi", "uid6-10", "claim6-10", F, "Unknown", message="Volume has unrecognized PersistentVolumeReclaimPolicy")],
       [], [], ["Warning VolumeUnknownReclaimPolicy"], "volume", plugins={}),
    fw("6-11 - used by running pod", RECYCLE_T, [fv("volume6-11", "1Gi", "uid6-11", "runningClaim", B, REC, "", BBC)],
       [fv("volume6-11", "1Gi", "uid6-11", "runningClaim", R, REC, "", BBC)], [], [], ["Normal VolumeFailedRecycle"], "volume",
       plugins={}, pods=RECYCLE_PODS),
    fw("6-12 - used by pending pod", RECYCLE_T, [fv("volume6-12", "1Gi", "uid6-12", "pendingClaim", B, REC, "", BBC)],
       [fv("volume6-12", "1Gi", "uid6-12", "pendingClaim", R, REC, "", BBC)], [], [], ["Normal VolumeFailedRecycle"], "volume",
       plugins={}, pods=RECYCLE_PODS),
    fw("6-13 - used by completed pod", RECYCLE_T, [fv("volume6-13", "1Gi", "uid6-13", "completedClaim", B, REC, "", BBC)],
       [fv("volume6-13", "1Gi", "", "", A, REC)], [], [], [], "volume", plugins=mock(recycle=[None]), pods=RECYCLE_PODS),
    fw("6-14 - seemingly used by running pod", RECYCLE_T, [fv("volume6-14", "1Gi", "uid6-14", "completedClaim", B, REC, "", BBC)],
       [fv("volume6-14", "1Gi", "", "", A, REC)], [fc("completedClaim", "uid6-14-x", "10Gi", "", B)],
       [fc("completedClaim", "uid6-14-x", "10Gi", "", B)], [], "volume", plugins=mock(recycle=[None]), pods=RECYCLE_PODS),
    fw("7-1 - recycle returns error", "recycle_test.go TestRecycleMultiSync", [fv("volume7-1", "1Gi", "uid7-1", "claim7-1", B, REC)],
       [fv("volume7-1", "1Gi", "", "claim7-1", A, REC)], [], [], ["Warning VolumeFailedRecycle"], "volume",
       plugins=mock(recycle=["Mock recycle error", None]), multisync=True),
]

P1, P2 = {"param1": "value1"}, {"param2": "value2"}


def sc(name, provisioner, params, mode="Immediate", mount_options=None):
    m = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name}, "provisioner": provisioner,
         "parameters": params, "reclaimPolicy": "Delete", "volumeBindingMode": mode}
    if mount_options:
        m["mountOptions"] = mount_options
    return m


PROVISION_CLASSES = [sc("gold", MOCK, P1), sc("silver", MOCK, P2), sc("copper", MOCK, P1, "WaitForFirstConsumer"),
                     sc("external", "vendor.com/my-volume", P1), sc("external-wait", "vendor.com/my-volume-wait", P1, "WaitForFirstConsumer"),
                     sc("unknown-internal", "kubernetes.io/unknown", P1), sc("unsupported-mountoptions", MOCK, P1, mount_options=["foo"]),
                     sc("csi", "mydriver.csi.k8s.io", P1)]
PROVISION_T = "provision_test.go TestProvisionSync"
ANN_SELECTED = "volume.kubernetes.io/selected-node"
# the real API server's admission adds kubernetes.io/pv-protection to every PV it creates; upstream's fake reactor does not
PROVISIONED_FINS = [INTREE_FIN, PVP_FIN]


def provisioned(n, cls="gold", policy=DEL):
    """The PV provisionClaimOperation creates. Upstream's reactor keeps the Bound phase it is created with; the real
    API server drops the status of a new object (the registry's PrepareForCreate), so after one sync it is Pending,
    and the next syncVolume makes it Bound (12-1)."""
    return fv(f"pvc-uid{n}", "1Gi", f"uid{n}", f"claim{n}", PND, policy, cls, BBC, DP, fins=PROVISIONED_FINS)


def pending(n, cls="gold", *anns, values=None):
    return fc(f"claim{n}", f"uid{n}", "1Gi", "", PND, cls, *anns, values=values)


PROVISION_CASES = [
    fw("11-1 - successful provision with storage class 1", PROVISION_T, [], [provisioned("11-1")], [pending("11-1")],
       [pending("11-1", "gold", SP, BSP)], ["Normal ProvisioningSucceeded"], "claim", plugins=mock(provision=[provision_call(P1)])),
    fw("11-2 - plugin not found", PROVISION_T, [], [], [pending("11-2")], [pending("11-2")], ["Warning ProvisioningFailed"], "claim",
       plugins={}),
    fw("11-3 - newProvisioner failure", PROVISION_T, [], [], [pending("11-3")], [pending("11-3", "gold", SP, BSP)],
       ["Warning ProvisioningFailed"], "claim", plugins=mock(provision=[])),
    fw("11-4 - provision failure", PROVISION_T, [], [], [pending("11-4")], [pending("11-4", "gold", SP, BSP)],
       ["Warning ProvisioningFailed"], "claim", plugins=mock(provision=[provision_call(P1, "Mock provisioner error")])),
    fw("11-6 - provisioning when there is a volume available", PROVISION_T, [fv("volume11-6", "1Gi", "", "", A, RET, "gold")],
       [fv("volume11-6", "1Gi", "uid11-6", "claim11-6", B, RET, "gold", BBC)], [pending("11-6")],
       [fc("claim11-6", "uid11-6", "1Gi", "volume11-6", B, "gold", BBC, BC)], [], "claim", plugins=mock(provision=[provision_call(P1)])),
    fw("11-7 - claim is bound before provisioning", PROVISION_T, [],
       [fv("pvc-uid11-7", "1Gi", "uid11-7", "claim11-7", B, DEL, "gold", BBC, DP)], [pending("11-7")],
       [pending("11-7", "gold", SP, BSP)], [], "claim", plugins=mock(provision=[]),
       before=[{"load": fw_volume(fv("pvc-uid11-7", "1Gi", "uid11-7", "claim11-7", B, DEL, "gold", BBC, DP))}]),
    fw("11-8 - cannot save provisioned volume", PROVISION_T, [], [provisioned("11-8")], [pending("11-8")],
       [pending("11-8", "gold", SP, BSP)], ["Normal ProvisioningSucceeded"], "claim", plugins=mock(provision=[provision_call(P1)]),
       errors=[("create", "persistentvolumes", "ServerError", 1)]),
    fw("11-9 - cannot save provisioned volume, delete succeeds", PROVISION_T, [], [], [pending("11-9")],
       [pending("11-9", "gold", SP, BSP)], ["Warning ProvisioningFailed"], "claim",
       plugins=mock(delete=[None], provision=[provision_call(P1)]), errors=[("create", "persistentvolumes", "ServerError", 5)]),
    fw("11-10 - cannot save provisioned volume, no delete plugin found", PROVISION_T, [], [], [pending("11-10")],
       [pending("11-10", "gold", SP, BSP)], ["Warning ProvisioningFailed", "Warning ProvisioningCleanupFailed"], "claim",
       plugins=mock(provision=[provision_call(P1)]), errors=[("create", "persistentvolumes", "ServerError", 5)]),
    fw("11-11 - cannot save provisioned volume, deleter fails", PROVISION_T, [], [], [pending("11-11")],
       [pending("11-11", "gold", SP, BSP)], ["Warning ProvisioningFailed", "Warning ProvisioningCleanupFailed"], "claim",
       plugins=mock(delete=[f"Mock deletion error{i}" for i in range(1, 6)], provision=[provision_call(P1)]),
       errors=[("create", "persistentvolumes", "ServerError", 5)]),
    fw("11-12 - cannot save provisioned volume, delete succeeds 2nd time", PROVISION_T, [], [], [pending("11-12")],
       [pending("11-12", "gold", SP, BSP)], ["Warning ProvisioningFailed"], "claim",
       plugins=mock(delete=["Mock deletion error1", None], provision=[provision_call(P1)]),
       errors=[("create", "persistentvolumes", "ServerError", 5)]),
    fw("11-13 - successful provision with storage class 2", PROVISION_T, [], [provisioned("11-13", "silver")], [pending("11-13", "silver")],
       [pending("11-13", "silver", SP, BSP)], ["Normal ProvisioningSucceeded"], "claim", plugins=mock(provision=[provision_call(P2)])),
    fw("11-14 - fail due to non-existing class", PROVISION_T, [], [], [pending("11-14", "non-existing")], [pending("11-14", "non-existing")],
       [], "claim", plugins=mock(provision=[])),
    fw("11-15 - no provisioning with class=''", PROVISION_T, [], [], [pending("11-15", "")], [pending("11-15", "")], [], "claim",
       plugins=mock(provision=[])),
    fw("11-16 - no provisioning with class=nil", PROVISION_T, [], [], [pending("11-15", None)], [pending("11-15", None)], [], "claim",
       plugins=mock(provision=[])),
    fw("11-17 - external provisioner", PROVISION_T, [], [], [pending("11-17", "external")],
       [pending("11-17", "external", values={SP: "vendor.com/my-volume", BSP: "vendor.com/my-volume"})], ["Normal ExternalProvisioning"],
       "claim", plugins=mock(provision=[])),
    fw("11-18 - unknown internal provisioner", PROVISION_T, [], [], [pending("11-18", "unknown-internal")],
       [pending("11-18", "unknown-internal")], ["Warning ProvisioningFailed"], "claim", plugins=mock(provision=[])),
    fw("11-19 - provisioned volume saved but API server crashed", PROVISION_T, [], [], [pending("11-19")],
       [pending("11-19", "gold", SP, BSP)], [], "claim", plugins=mock(provision=[provision_call(P1)]),
       errors=[("create", "persistentvolumes", "ServerError", 1), ("create", "persistentvolumes", "AlreadyExists", 1)]),
    fw("11-20 - unsupported storageClass.mountOptions", PROVISION_T, [], [], [pending("11-20", "unsupported-mountoptions")],
       [pending("11-20", "unsupported-mountoptions", SP, BSP)], ["Warning ProvisioningFailed Mount options"], "claim",
       plugins=mock(provision=[])),
    fw("11-21 - external provisioner for CSI migration", PROVISION_T, [], [], [pending("11-21")],
       [pending("11-21", "gold", values={SP: "vendor.com/MockCSIDriver", BSP: "vendor.com/MockCSIDriver", MIG: "vendor.com/MockCSIDriver"})],
       ["Normal ExternalProvisioning"], "claim", plugins=mock(), migration={"*": "vendor.com/MockCSIDriver"}),
    fw("11-22 - external provisioner with volume available", PROVISION_T, [fv("volume11-22", "1Gi", "", "", A, RET, "external")],
       [fv("volume11-22", "1Gi", "uid11-22", "claim11-22", B, RET, "external", BBC)], [pending("11-22", "external")],
       [fc("claim11-22", "uid11-22", "1Gi", "volume11-22", B, "external", BBC, BC)], [], "claim", plugins=mock(provision=[])),
    fw("11-23 - skip finding PV and provision for PVC annotated with AnnSelectedNode", PROVISION_T,
       [fv("volume11-23", "1Gi", "", "", A, DEL, "copper")],
       [fv("volume11-23", "1Gi", "", "", A, DEL, "copper"), provisioned("11-23", "copper")],
       [pending("11-23", "copper", values={ANN_SELECTED: "node1"})],
       [pending("11-23", "copper", SP, BSP, values={ANN_SELECTED: "node1"})], ["Normal ProvisioningSucceeded"], "claim",
       plugins=mock(provision=[provision_call(P1)])),
    fw("11-24 - skip finding PV and wait external provisioner for PVC annotated with AnnSelectedNode", PROVISION_T,
       [fv("volume11-24", "1Gi", "", "", A, DEL, "external-wait")], [fv("volume11-24", "1Gi", "", "", A, DEL, "external-wait")],
       [pending("11-24", "external-wait", values={ANN_SELECTED: "node1"})],
       [pending("11-24", "external-wait", values={ANN_SELECTED: "node1", SP: "vendor.com/my-volume-wait", BSP: "vendor.com/my-volume-wait"})],
       ["Normal ExternalProvisioning"], "claim"),
    fw("11-25 - failed in-tree provision with data source", PROVISION_T, [], [],
       [fc("claim11-25", "uid11-25", "1Gi", "", PND, "gold", data_source=True)], [fc("claim11-25", "uid11-25", "1Gi", "", PND, "gold")],
       ["Warning ProvisioningFailed"], "claim", plugins={}),
    fw("11-26 - csi with data source", PROVISION_T, [], [],
       [fc("claim11-26", "uid11-26", "1Gi", "", PND, "csi", values={SP: "mydriver.csi.k8s.io"}, data_source=True)],
       [fc("claim11-26", "uid11-26", "1Gi", "", PND, "csi", values={SP: "mydriver.csi.k8s.io"})], ["Normal ExternalProvisioning"], "claim",
       plugins=mock(provision=[])),
    fw("12-1 - successful provision", "provision_test.go TestProvisionMultiSync", [],
       [fv("pvc-uid12-1", "1Gi", "uid12-1", "claim12-1", B, DEL, "gold", BBC, DP, fins=PROVISIONED_FINS)], [pending("12-1")],
       [fc("claim12-1", "uid12-1", "1Gi", "pvc-uid12-1", B, "gold", BBC, BC, SP, BSP)], [], "claim",
       plugins=mock(provision=[provision_call(P1)]), multisync=True),
]
SET13_T = "binder_test.go TestSync"
SET13_CASES = [
    fw("13-1 - binding to class", SET13_T, [fv("volume13-1-1", "1Gi", "", "", A, RET), fv("volume13-1-2", "10Gi", "", "", A, RET, "gold")],
       [fv("volume13-1-1", "1Gi", "", "", A, RET), fv("volume13-1-2", "10Gi", "uid13-1", "claim13-1", B, RET, "gold", BBC)],
       [fc("claim13-1", "uid13-1", "1Gi", "", PND, "gold")], [fc("claim13-1", "uid13-1", "1Gi", "volume13-1-2", B, "gold", BBC, BC, exp_cap="10Gi")],
       [], "claim"),
    fw("13-2 - binding without a class", SET13_T, [fv("volume13-2-1", "1Gi", "", "", A, RET, "gold"), fv("volume13-2-2", "10Gi", "", "", A, RET)],
       [fv("volume13-2-1", "1Gi", "", "", A, RET, "gold"), fv("volume13-2-2", "10Gi", "uid13-2", "claim13-2", B, RET, "", BBC)],
       [fc("claim13-2", "uid13-2", "1Gi", "", PND)], [fc("claim13-2", "uid13-2", "1Gi", "volume13-2-2", B, None, BBC, BC, exp_cap="10Gi")],
       [], "claim"),
    fw("13-3 - binding to specific a class", SET13_T,
       [fv("volume13-3-1", "1Gi", "", "", A, RET, "silver"), fv("volume13-3-2", "10Gi", "", "", A, RET, "gold")],
       [fv("volume13-3-1", "1Gi", "", "", A, RET, "silver"), fv("volume13-3-2", "10Gi", "uid13-3", "claim13-3", B, RET, "gold", BBC)],
       [fc("claim13-3", "uid13-3", "1Gi", "", PND, "gold")], [fc("claim13-3", "uid13-3", "1Gi", "volume13-3-2", B, "gold", BBC, BC, exp_cap="10Gi")],
       [], "claim"),
    fw("13-4 - empty class", SET13_T, [fv("volume13-4", "1Gi", "", "", A, RET)], [fv("volume13-4", "1Gi", "uid13-4", "claim13-4", B, RET, "", BBC)],
       [fc("claim13-4", "uid13-4", "1Gi", "", PND, "")], [fc("claim13-4", "uid13-4", "1Gi", "volume13-4", B, "", BBC, BC)], [], "claim"),
    fw("13-5 - nil class", SET13_T, [fv("volume13-5", "1Gi", "", "", A, RET)], [fv("volume13-5", "1Gi", "uid13-5", "claim13-5", B, RET, "", BBC)],
       [fc("claim13-5", "uid13-5", "1Gi", "", PND)], [fc("claim13-5", "uid13-5", "1Gi", "volume13-5", B, None, BBC, BC)], [], "claim"),
]

MULTISYNC_T = "binder_test.go TestMultiSync"
MULTISYNC_CASES = [
    fw("10-1 - successful bind", MULTISYNC_T, [fv("volume10-1", "1Gi", "", "", PND, RET)],
       [fv("volume10-1", "1Gi", "uid10-1", "claim10-1", B, RET, "", BBC)], [fc("claim10-1", "uid10-1", "1Gi", "", PND)],
       [fc("claim10-1", "uid10-1", "1Gi", "volume10-1", B, None, BBC, BC)], [], "claim", multisync=True),
    fw("10-2 - bind PV race", MULTISYNC_T,
       [fv("volume10-2-1", "1Gi", "uid10-2", "claim10-2", B, RET, "", BBC), fv("volume10-2-2", "1Gi", "uid10-2", "claim10-2", B, RET, "", BBC)],
       [fv("volume10-2-1", "1Gi", "uid10-2", "claim10-2", B, RET, "", BBC), fv("volume10-2-2", "1Gi", "", "", A, RET)],
       [fc("claim10-2", "uid10-2", "1Gi", "volume10-2-1", B, None, BBC, BC)], [fc("claim10-2", "uid10-2", "1Gi", "volume10-2-1", B, None, BBC, BC)],
       [], "claim", multisync=True),
]

FAMILIES = (("delete", DELETE_CASES, []), ("recycle", RECYCLE_CASES, []), ("provision", PROVISION_CASES, PROVISION_CLASSES),
            ("binder", SET13_CASES, []), ("multisync", MULTISYNC_CASES, []))


def framework_scenario(case, classes):
    steps = [{"inject": {"verb": verb, "resource": resource, "error": error, "count": count, "actor": "pv-controller"}}
             for verb, resource, error, count in case["errors"]]
    target = {"volume": case["vols"][0]["name"]} if case["test"] == "volume" else {"claim": f"default/{case['claims'][0]['name']}"}
    sync = {"controller": "pv-controller", **target}
    if case["before"]:
        sync["before_operation"] = case["before"]
    steps.append({"sync": sync})
    if case["multisync"]:
        steps.append({"until": "quiescent"})  # runMultisyncTests: changed objects and periodic syncs until nothing changes
    expect = {"objects": [fw_volume(v, True) for v in case["evols"]] + [fw_claim(c, True) for c in case["eclaims"]],
              "events": list(case["events"])}
    kept = {v["name"] for v in case["evols"]}
    absent = [{"kind": "PersistentVolume", "name": v["name"]} for v in case["vols"] if v["name"] not in kept]
    absent += [{"kind": "PersistentVolume", "name": f"pvc-{c['uid']}"} for c in case["claims"] if f"pvc-{c['uid']}" not in kept]
    if absent:
        expect["absent"] = absent
    out = {"name": case["name"], "upstream": f'{PVDIR}{case["upstream"]} "{case["name"]}"', "components": ["pv-controller"]}
    if case["plugins"] is not None:
        out["plugins"] = case["plugins"]
    if case["migration"]:
        out["csi_migration"] = case["migration"]
    out["initial"] = [*classes, *case["pods"], *(fw_volume(v) for v in case["vols"]), *(fw_claim(c) for c in case["claims"])]
    out["steps"] = steps
    out["expect"] = expect
    return out


def main_framework(out_dir: str = "tests/scenarios") -> None:
    out = Path(out_dir)
    for family, cases, classes in FAMILIES:
        for case in cases:
            number = case["name"].split(" ")[0]
            (out / f"{family}-{number}-{slug(case['name'][len(number):])[:60]}.yaml").write_text(
                yaml.safe_dump(framework_scenario(case, classes), sort_keys=False, width=120), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
