"""The in-memory API server: optimistic concurrency, finalizers, uids, admission, watch order."""

import pytest

from kvolt.impl.api import types as t
from kvolt.impl.api.server import APIServer, Conflict, Forbidden, NotFound


def claim(name="c1", size="1Gi"):
    return {"kind": t.PVC, "metadata": {"name": name, "namespace": "default"},
            "spec": {"accessModes": [t.RWO], "resources": {"requests": {"storage": size}}}}


def test_stale_resource_version_is_a_conflict():
    s = APIServer()
    c = s.create("user", claim())
    first = t.clone(c)
    first["metadata"]["annotations"] = {"a": "1"}
    s.update("ctrl", first)
    stale = t.clone(c)
    stale["metadata"]["annotations"] = {"b": "2"}
    with pytest.raises(Conflict):
        s.update("ctrl", stale)
    assert t.annotations(s.peek(t.PVC, "default", "c1")) == {"a": "1"}


def test_admission_adds_protection_finalizers_and_resets_status():
    s = APIServer()
    c = s.create("user", {**claim(), "status": {"phase": "Bound"}})
    assert t.finalizers(c) == [t.PVC_PROTECTION_FINALIZER]
    assert t.pvc_phase(c) == "Pending"
    pv = s.create("user", {"kind": t.PV, "metadata": {"name": "pv1"}, "spec": {"capacity": {"storage": "1Gi"}}})
    assert t.finalizers(pv) == [t.PV_PROTECTION_FINALIZER]


def test_delete_with_finalizer_marks_and_last_finalizer_removes():
    s = APIServer()
    s.create("user", claim())
    s.delete("user", t.PVC, "default", "c1")
    marked = s.peek(t.PVC, "default", "c1")
    assert marked is not None and t.deletion_timestamp(marked) is not None
    new = t.clone(marked)
    new["metadata"]["finalizers"] = []
    s.update("ctrl", new)
    assert s.peek(t.PVC, "default", "c1") is None
    assert [e.type for e in s.events] == ["ADDED", "MODIFIED", "DELETED"]
    rvs = [e.resource_version for e in s.events]
    assert rvs == sorted(rvs)


def test_no_new_finalizers_on_terminating_objects():
    s = APIServer()
    s.create("user", claim())
    s.delete("user", t.PVC, "default", "c1")
    obj = t.clone(s.peek(t.PVC, "default", "c1"))
    obj["metadata"]["finalizers"].append("x")
    with pytest.raises(Forbidden):
        s.update("ctrl", obj)


def test_uids_are_unique_per_incarnation():
    s = APIServer()
    first = s.create("user", {"kind": t.POD, "metadata": {"name": "p", "namespace": "default"}, "spec": {}})
    s.delete("user", t.POD, "default", "p")
    second = s.create("user", {"kind": t.POD, "metadata": {"name": "p", "namespace": "default"}, "spec": {}})
    assert t.uid(first) != t.uid(second)
    with pytest.raises(Conflict):
        s.delete("kubelet", t.POD, "default", "p", uid=t.uid(first))


def test_scheduled_pod_deletion_is_graceful():
    s = APIServer()
    s.create("user", {"kind": t.POD, "metadata": {"name": "p", "namespace": "default"}, "spec": {"nodeName": "n1"}})
    s.delete("user", t.POD, "default", "p")
    assert t.deletion_timestamp(s.peek(t.POD, "default", "p")) is not None
    s.delete("kubelet", t.POD, "default", "p", grace_seconds=0)
    assert s.peek(t.POD, "default", "p") is None
    with pytest.raises(NotFound):
        s.get("x", t.POD, "default", "p")


def test_resize_admission_needs_bound_claim_and_expandable_class():
    s = APIServer()
    s.create("admin", {"kind": t.SC, "metadata": {"name": "fixed"}, "provisioner": "x"})
    c = s.create("user", {**claim(), "spec": {**claim()["spec"], "storageClassName": "fixed"}})
    bigger = t.clone(c)
    bigger["spec"]["resources"]["requests"]["storage"] = "2Gi"
    with pytest.raises(Forbidden):
        s.update("user", bigger)


def test_noop_write_keeps_resource_version():
    s = APIServer()
    c = s.create("user", claim())
    again = s.update("ctrl", c)
    assert again["metadata"]["resourceVersion"] == c["metadata"]["resourceVersion"]
