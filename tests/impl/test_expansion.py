"""Volume expansion (KEP-1790): admission, the expand controller, kubelet node expansion, the S12 quota monitor."""

import pytest

from kvolt.impl.api import types as t
from kvolt.impl.api.server import Forbidden, Invalid
from kvolt.impl.backend import Backend
from kvolt.impl.cluster import Cluster
from kvolt.impl.record import run
from kvolt.impl.volume.util import resize_util as ru

GI = 2**30


def _cluster(bugs=frozenset()):
    c = Cluster(["node1"], bugs=frozenset(bugs))
    s = c.server
    s.create("admin", {"kind": t.NODE, "metadata": {"name": "node1", "annotations": {t.ANN_CONTROLLER_MANAGED_ATTACH: "true"}},
                       "status": {"conditions": [{"type": "Ready", "status": "True"}]}}, admit=False)
    for name, provisioner in (("fast", "kvolt.io/fake-disk"), ("nfs", "kvolt.io/nfs")):
        s.create("admin", {"kind": t.SC, "metadata": {"name": name}, "provisioner": provisioner, "reclaimPolicy": "Delete",
                           "volumeBindingMode": "Immediate", "allowVolumeExpansion": True})
    s.create("admin", {"kind": t.SC, "metadata": {"name": "fixed"}, "provisioner": "kvolt.io/fake-disk",
                       "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
    c.start()
    return c


def _claim(c, name, cls):
    c.server.create("user", {"kind": t.PVC, "metadata": {"name": name, "namespace": "default"},
                             "spec": {"accessModes": [t.RWO], "resources": {"requests": {"storage": "1Gi"}},
                                      "storageClassName": cls}})
    c.run_until_quiescent()
    return c.server.peek(t.PVC, "default", name)


def _pod(c, name, claim):
    c.server.create("user", {"kind": t.POD, "metadata": {"name": name, "namespace": "default"},
                             "spec": {"nodeName": "node1",
                                      "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}})
    c.run_until_quiescent()
    assert t.pod_phase(c.server.peek(t.POD, "default", name)) == "Running"


def _resize(c, claim, size):
    obj = c.server.get("user", t.PVC, "default", claim)
    obj["spec"]["resources"]["requests"]["storage"] = size
    c.server.update("user", obj)


def _disk(c, pvc):
    pv = c.server.peek(t.PV, "", pvc["spec"]["volumeName"])
    return c.backend.disks[pv["spec"]["fakeDisk"]["diskID"]], pv


def test_admission_grow_needs_expandable_class_and_shrink_stays_above_status_capacity():
    c = _cluster()
    _claim(c, "fixed1", "fixed")
    with pytest.raises(Forbidden):
        _resize(c, "fixed1", "2Gi")
    _claim(c, "grow", "fast")
    _resize(c, "grow", "4Gi")
    with pytest.raises(Invalid):  # not above status.capacity (1Gi)
        _resize(c, "grow", "1Gi")
    with pytest.raises(Invalid):  # PATCH is validated as well
        c.server.patch("user", t.PVC, "default", "grow",
                       lambda o: o["spec"]["resources"]["requests"].__setitem__("storage", "512Mi"))
    _resize(c, "grow", "2Gi")  # RecoverVolumeExpansionFailure: lowering above status.capacity is allowed
    assert t.pvc_request(c.server.peek(t.PVC, "default", "grow")) == 2 * GI


def test_online_expansion_grows_disk_then_filesystem_and_clears_the_status():
    c = _cluster()
    pvc = _claim(c, "c1", "fast")
    _pod(c, "p1", "c1")
    _resize(c, "c1", "3Gi")
    c.run_until_quiescent()
    pvc = c.server.peek(t.PVC, "default", "c1")
    disk, pv = _disk(c, pvc)
    assert (disk.size, disk.fs_size, t.pv_capacity(pv)) == (3 * GI, 3 * GI, 3 * GI)
    assert ru.status_capacity(pvc) == 3 * GI and ru.allocated(pvc) == 3 * GI
    assert ru.resize_status(pvc) == "" and not ru.conditions(pvc)
    assert not t.has_annotation(pv, ru.ANN_PRE_RESIZE_CAPACITY)  # dropped once node expansion completed
    assert not c.backend.violations


def test_unmounted_volume_waits_with_file_system_resize_pending_then_grows_at_mount():
    c = _cluster()
    _claim(c, "c1", "fast")
    _resize(c, "c1", "2Gi")
    c.run_until_quiescent()
    pvc = c.server.peek(t.PVC, "default", "c1")
    assert ru.resize_status(pvc) == ru.NODE_RESIZE_PENDING and ru.has_condition(pvc, ru.FS_RESIZE_PENDING)
    assert ru.status_capacity(pvc) == GI
    _pod(c, "p1", "c1")
    c.run_until_quiescent()
    pvc = c.server.peek(t.PVC, "default", "c1")
    disk, _ = _disk(c, pvc)
    assert ru.status_capacity(pvc) == 2 * GI and disk.fs_size == 2 * GI and ru.resize_status(pvc) == ""


def test_file_share_needs_no_node_expansion():
    c = _cluster()
    _claim(c, "c1", "nfs")
    _resize(c, "c1", "2Gi")
    c.run_until_quiescent()
    pvc = c.server.peek(t.PVC, "default", "c1")
    assert ru.status_capacity(pvc) == 2 * GI and ru.resize_status(pvc) == ""
    assert ("expand-controller", "default/c1", "Normal", "VolumeResizeSuccessful",
            "ExpandVolume succeeded for volume default/c1") in c.server.recorded_events


def test_infeasible_expansion_is_recovered_by_lowering_the_request():
    c = _cluster()
    _claim(c, "c1", "fast")
    _resize(c, "c1", "16Gi")  # beyond the provider's largest disk
    c.run_until_quiescent()
    pvc = c.server.peek(t.PVC, "default", "c1")
    assert ru.resize_status(pvc) == ru.CONTROLLER_RESIZE_INFEASIBLE and ru.allocated(pvc) == 16 * GI
    _resize(c, "c1", "2Gi")
    c.run_until_quiescent()
    pvc = c.server.peek(t.PVC, "default", "c1")
    disk, pv = _disk(c, pvc)
    assert ru.allocated(pvc) == 2 * GI and t.pv_capacity(pv) == 2 * GI and disk.size == 2 * GI
    assert ru.resize_status(pvc) == ru.NODE_RESIZE_PENDING
    assert not c.backend.violations


@pytest.mark.parametrize(("bugs", "violated"), [((), False), (("expand-allocated-after-expansion",), True)])
def test_lowering_the_request_while_the_expansion_is_in_flight(bugs, violated):
    """B20: the provider has grown the disk, the response is not handled yet, the user lowers the request."""
    c = _cluster(bugs)
    _claim(c, "c1", "fast")
    _resize(c, "c1", "4Gi")
    for inf in c.informers():
        inf.deliver_all()
    assert c.expand.process_next_work_item() == ("default/c1", "")
    assert "default/c1" in c.expand.calls  # ControllerExpandVolume applied at the provider, response pending
    _resize(c, "c1", "2Gi")
    c.check_monitors()
    assert bool(c.backend.violations) == violated
    c.run_until_quiescent()
    pvc = c.server.peek(t.PVC, "default", "c1")
    disk, _ = _disk(c, pvc)
    assert disk.size == 4 * GI and ru.status_capacity(pvc) in (GI, 4 * GI)
    assert [v.monitor for v in c.backend.violations] == (["quota-below-allocation"] if violated else [])


def test_quota_monitor_only_judges_grown_disks():
    b = Backend()
    b.create_disk("d1", "cloud", 2 * GI)  # a static 2Gi disk bound by a 1Gi claim: not a quota problem
    claim = {"kind": t.PVC, "metadata": {"name": "c", "namespace": "default", "uid": "u1"},
             "spec": {"volumeName": "pv1", "resources": {"requests": {"storage": "1Gi"}}}, "status": {}}
    pv = {"kind": t.PV, "metadata": {"name": "pv1"}, "spec": {"fakeDisk": {"diskID": "d1"}, "claimRef": {"uid": "u1"}}}
    b.check_quota([claim], [pv])
    assert not b.violations
    b.expand_disk("d1", 3 * GI)
    b.check_quota([claim], [pv])
    b.check_quota([claim], [pv])  # reported once
    assert [v.monitor for v in b.violations] == ["quota-below-allocation"]
    claim["status"]["allocatedResources"] = {"storage": "3Gi"}
    b.violations.clear()
    b.check_quota([claim], [pv])
    assert not b.violations


def test_expand_workload_correct_implementation_is_clean_and_bug_is_caught():
    flag = "expand-allocated-after-expansion"
    found = next(seed for seed in range(50) if run(seed, 400, ["all", flag], "expand", keep_states=False).violations)
    result = run(found, 400, ["all", flag], "expand", keep_states=False)
    assert result.violations[0].monitor == "quota-below-allocation"
    assert not run(found, 400, ["all"], "expand", keep_states=False).violations
    for seed in range(20):
        assert not run(seed, 400, ["all"], "expand", keep_states=False).violations, seed
