"""The PV controller paths of issue 16 checked directly: CSI-migration finalizer bookkeeping
(pv_controller_test.go TestModifyDeletionFinalizers, as facts), the claim capacity on bind when the
PV carries AnnPreResizeCapacity, and quantities as the API server stores them."""

from __future__ import annotations

import pytest

from kvolt.impl.api import types as t
from kvolt.impl.api.server import Invalid
from kvolt.impl.cluster import Cluster
from kvolt.impl.controller.volume.persistentvolume.pv_controller import modify_deletion_finalizers
from kvolt.impl.volume.csimigration import CSIMigratedPluginManager
from kvolt.impl.volume.testing import MOCK_PLUGIN
from kvolt.impl.volume.util.resize_util import ANN_PRE_RESIZE_CAPACITY

EXTERNAL, INTREE = t.PV_EXTERNAL_DELETION_PROTECTION_FINALIZER, t.PV_DELETION_PROTECTION_FINALIZER
CUSTOM = "test.volume.kubernetes.io/finalizer"
NONMIGRATED_DRIVER, MIGRATED_PLUGIN, MIGRATED_DRIVER = "rbd.csi.ceph.com", "kubernetes.io/gce-pd", "pd.csi.storage.gke.io"


def volume(policy="Delete", finalizers=None, provisioned_by=MOCK_PLUGIN, migrated_to=None):
    anns = {t.ANN_BOUND_BY_CONTROLLER: "yes"} if provisioned_by else {}
    if provisioned_by:
        anns[t.ANN_DYNAMICALLY_PROVISIONED] = provisioned_by
    if migrated_to:
        anns[t.ANN_MIGRATED_TO] = migrated_to
    return {"kind": t.PV, "metadata": {"name": "v", "annotations": anns, "finalizers": finalizers},
            "spec": {"persistentVolumeReclaimPolicy": policy}}


# TestModifyDeletionFinalizers: (name, volume, expected finalizers, modified)
FINALIZER_CASES = [
    ("13-1 migration was never enabled, volume has the finalizer",
     volume(finalizers=[EXTERNAL], provisioned_by=NONMIGRATED_DRIVER), [EXTERNAL], False),
    ("13-2 migration was never enabled, volume does not have the finalizer",
     volume(provisioned_by=NONMIGRATED_DRIVER), [], False),
    ("13-3 migration was disabled, volume has existing custom finalizer", volume(finalizers=[CUSTOM]), [CUSTOM, INTREE], True),
    ("13-4 migration was disabled, volume has no finalizers", volume(), [INTREE], True),
    ("13-5 migration was disabled, volume has external PV deletion finalizer", volume(finalizers=[EXTERNAL]), [INTREE], True),
    ("13-6 migration was disabled, volume has multiple finalizers",
     volume(finalizers=[EXTERNAL, CUSTOM]), [CUSTOM, INTREE], True),
    ("13-7 migration is enabled, volume has both finalizers",
     volume(finalizers=[EXTERNAL, INTREE], provisioned_by=MIGRATED_PLUGIN, migrated_to=MIGRATED_DRIVER), [EXTERNAL], True),
    ("13-10 missing annotations but finalizers exist", volume(finalizers=[EXTERNAL], provisioned_by=None), [EXTERNAL], False),
    ("13-11 missing annotations and finalizers", volume(provisioned_by=None), [], False),
    ("13-12 reclaimPolicy is Retain, no finalizers", volume(policy="Retain"), [], False),
    ("13-13 reclaimPolicy is Recycle, no finalizers", volume(policy="Recycle"), [], False),
    ("13-14 reclaimPolicy is Retain, in-tree finalizer", volume(policy="Retain", finalizers=[INTREE]), [], True),
]


@pytest.mark.parametrize(("name", "pv", "expected", "modified"), FINALIZER_CASES, ids=[c[0] for c in FINALIZER_CASES])
def test_modify_deletion_finalizers(name, pv, expected, modified):
    finalizers, changed = modify_deletion_finalizers(CSIMigratedPluginManager(), pv)
    assert (list(finalizers or []), changed) == (expected, modified)


def bind_with_pre_resize(annotation: str) -> dict:
    c = Cluster([], components=("pv-controller",))
    c.server.load({"kind": t.PV, "metadata": {"name": "pv1", "annotations": {ANN_PRE_RESIZE_CAPACITY: annotation}},
                   "spec": {"capacity": {"storage": "2Gi"}, "accessModes": [t.RWO], "persistentVolumeReclaimPolicy": "Retain",
                            "volumeMode": "Filesystem"}, "status": {"phase": "Available"}})
    c.server.load({"kind": t.PVC, "metadata": {"name": "c1", "namespace": "default", "uid": "u1"},
                   "spec": {"accessModes": [t.RWO], "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
                   "status": {"phase": "Pending"}})
    c.start()
    assert c.pv.test_sync_claim("default/c1") == ""
    return c.server.peek(t.PVC, "default", "c1")


def test_bind_takes_the_claim_capacity_from_the_pre_resize_annotation():
    claim = bind_with_pre_resize("1024Mi")
    assert claim["status"]["phase"] == "Bound"
    assert claim["status"]["capacity"] == {"storage": "1Gi"}  # the size before the resize, as the API server prints it


def test_a_malformed_pre_resize_annotation_falls_back_to_the_pv_capacity():
    assert bind_with_pre_resize("lots")["status"]["capacity"] == {"storage": "2Gi"}


def test_the_api_server_stores_quantities_canonically_and_rejects_malformed_ones():
    c = Cluster([], components=())
    created = c.server.create("user", {"kind": t.PVC, "metadata": {"name": "c", "namespace": "default"},
                                       "spec": {"resources": {"requests": {"storage": "1.5Gi"}}}})
    assert created["spec"]["resources"]["requests"]["storage"] == "1536Mi"
    big = c.server.create("user", {"kind": t.PV, "metadata": {"name": "huge"}, "spec": {"capacity": {"storage": "200E"}}})
    assert t.pv_capacity_quantity(big) > t.quantity("199E")
    with pytest.raises(Invalid, match="quantities must match the regular expression"):
        c.server.create("user", {"kind": t.PV, "metadata": {"name": "bad"}, "spec": {"capacity": {"storage": "1Gb"}}})
    with pytest.raises(Invalid, match="unable to parse quantity's suffix"):
        c.server.create("user", {"kind": t.PV, "metadata": {"name": "bad"}, "spec": {"capacity": {"storage": "1Gi3"}}})
