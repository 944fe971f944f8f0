"""The kubelet's volume manager and pod deletion for a pod deleted before its volume is mounted."""

from kvolt.impl.api import types as t
from kvolt.impl.cluster import STEP_MS, Cluster

NS = "default"


def _cluster() -> Cluster:
    c = Cluster(["node1"])
    s = c.server
    s.create("admin", {"kind": t.NODE, "metadata": {"name": "node1", "annotations": {t.ANN_CONTROLLER_MANAGED_ATTACH: "true"}},
                       "status": {"conditions": [{"type": "Ready", "status": "True"}]}}, admit=False)
    for name, provisioner in (("fast", "kvolt.io/fake-disk"), ("nfs", "kvolt.io/nfs")):
        s.create("admin", {"kind": t.SC, "metadata": {"name": name}, "provisioner": provisioner,
                           "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
    c.start()
    return c


def _claim_and_pod(c: Cluster, cls: str) -> str:
    """A bound claim of class `cls`, then a pod using it on node1 that the kubelet has put in its
    desired state of world (nothing mounted yet); returns the pod's uid."""
    c.server.create("user", {"kind": t.PVC, "metadata": {"name": "c1", "namespace": NS},
                             "spec": {"accessModes": [t.RWO], "resources": {"requests": {"storage": "1Gi"}},
                                      "storageClassName": cls}})
    c.run_until_quiescent()
    assert t.pvc_phase(c.server.peek(t.PVC, NS, "c1")) == "Bound"
    c.server.create("user", {"kind": t.POD, "metadata": {"name": "p1", "namespace": NS},
                             "spec": {"nodeName": "node1",
                                      "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "c1"}}]}})
    k = c.kubelets["node1"]
    k.pod_informer.deliver_all()
    k.populator.populate()
    uid = t.uid(c.server.peek(t.POD, NS, "p1"))
    assert uid in k.dsw.pods
    return uid


def test_a_pod_deleted_before_its_volume_is_mounted_keeps_it_desired_and_gets_it_mounted():
    # desired_state_of_world_populator.go, findAndRemoveDeletedPods: a volume the actual state does
    # not have mounted for the pod (PodRemovedFromVolume) stays desired while the pod object exists,
    # terminating or not, and the reconciler (no termination check) mounts it
    c = _cluster()
    uid = _claim_and_pod(c, "nfs")
    k = c.kubelets["node1"]
    [name] = k.dsw.pods[uid]
    c.server.delete("user", t.POD, NS, "p1")
    k.pod_informer.deliver_all()
    assert t.deletion_timestamp(k.pod_informer.get(f"{NS}/p1")) is not None
    k.populator.populate()
    assert name in k.dsw.pods.get(uid, {})  # kept: not mounted, the pod object exists
    for _ in range(3):  # verify-attached, then mount
        k.reconciler.reconcile()
        for op in k.pending.pending_ops():
            assert k.pending.complete(op) is None
    assert k.asw.pod_mount_state(name, uid) == "Mounted"
    assert uid not in k.host.running  # no containers start for a pod being deleted
    assert not any(d.startswith("delete") for d in k.sync_pods())  # podVolumesExist: still mounted
    # then the populator drops the mounted volume, the reconciler tears it down, the pod object goes
    c.run_until_quiescent()
    assert c.server.peek(t.POD, NS, "p1") is None
    assert not k.dsw.pods and not c.backend.hosts["node1"].pod_mounts
    assert not c.backend.violations


def test_a_pod_deleted_while_its_disk_is_not_attached_is_deleted_all_the_same():
    # podVolumesExist / WaitForUnmount look at the actual state only: a volume that is desired but
    # never attached (the attach/detach controller does not attach for a pod being deleted) does not
    # keep the pod object Terminating
    c = _cluster()
    uid = _claim_and_pod(c, "fast")
    k = c.kubelets["node1"]
    assert not any(d.attached for d in c.backend.disks.values())
    c.server.delete("user", t.POD, NS, "p1")
    for _ in range(3000):
        if c.server.peek(t.POD, NS, "p1") is None:
            break
        steps = [s for s in c.enabled_steps() if s.actor != "attach-detach-controller"]
        if steps:
            steps[0].run()
        else:
            wake = c.next_wakeup_ms()
            c.clock.now_ms = wake if wake is not None and wake > c.clock.now_ms else c.clock.now_ms + STEP_MS
    assert c.server.peek(t.POD, NS, "p1") is None
    assert uid not in k.dsw.pods and not c.backend.hosts["node1"].pod_mounts
    assert not c.backend.violations


def test_the_pod_workers_sync_every_pod_unless_told() -> None:
    """Recorded runs stay as they were: a pass stops the containers of every pod that is gone; with
    `only_pod` set (the replay does, for one pass) only that pod's worker runs."""
    c = _cluster()
    k = c.kubelets["node1"]
    for uid in ("uid-1", "uid-2"):  # containers whose pod objects are gone (force-deleted)
        c.backend.start_pod("node1", uid)
    k.only_pod = "uid-2"
    assert k.sync_pods() == ["kill uid-2"] and sorted(k.host.running) == ["uid-1"]
    k.only_pod = None
    assert k.sync_pods() == ["kill uid-1"] and not k.host.running
