# ruff: noqa: E501  (the case tables mirror upstream rows, one per line)
"""Write tests/scenarios/*.yaml for the upstream PV-controller and PVC-protection cases.

The tables below transcribe pkg/controller/volume/persistentvolume/binder_test.go (TestSync, test
sets 1-x, 2-x, 3-x) and pkg/controller/volume/pvcprotection/pvc_protection_controller_test.go,
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


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
