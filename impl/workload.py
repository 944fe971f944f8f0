"""Workloads: what users and administrators do to the cluster during a recorded run.

No upstream counterpart; this plays the role of the e2e tests' users (kubectl create/delete of
claims and pods, kubectl edit of a claim's request, an administrator's static PVs and
out-of-service taints). Each tenant follows a
small script chosen from the seed; its next action becomes an enabled "user" step once the
previous one is done and what it waits for has happened (or a logical timeout passed), so the
scheduler interleaves users with the controllers freely.

Workload `expand` resizes claims (classes with allowVolumeExpansion): online (a pod runs),
offline (before the pod starts), to a size the provider refuses (then, as RecoverVolumeExpansionFailure
allows, the user lowers the request again, above status.capacity), and lowering the request
while an expansion is visibly still in progress. Only this workload runs the expand controller:
the others never resize a claim, and leaving it out keeps their schedules (and recorded seeds)
as they were.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from kvolt.impl.api import types as t
from kvolt.impl.api.server import APIError
from kvolt.impl.cluster import COMPONENTS, Cluster, Step
from kvolt.impl.volume.util import resize_util as ru

NS = "default"
WORKLOADS = ("default", "rwo-reschedule", "nfs", "expand", "conform", "conform-nfs")
CONFORM = ("conform", "conform-nfs")  # sized to the models of spec/conformance.kvolt
GI = 2**30
WAIT_TIMEOUT_MS = 3000


@dataclass
class Action:
    name: str  # spec action: user_create_claim, user_create_pod, user_delete_pod, user_delete_claim
    describe: str
    do: Callable[[Cluster], None]
    wait: Callable[[Cluster], bool] | None = None  # must hold (or time out) before the *next* action
    picks: dict = field(default_factory=dict)
    ready: Callable[[Cluster], bool] | None = None  # this action's own precondition (None: always)


@dataclass
class Tenant:
    name: str
    actions: list[Action]
    next: int = 0
    done_at_ms: int = 0

    def enabled(self, cluster: Cluster) -> bool:
        if self.next >= len(self.actions):
            return False
        ready = self.actions[self.next].ready
        if ready is not None and not ready(cluster):
            return False
        if self.next == 0:
            return True
        wait = self.actions[self.next - 1].wait
        return wait is None or wait(cluster) or cluster.clock.now_ms >= self.done_at_ms + WAIT_TIMEOUT_MS


def _claim(name: str, cls: str, size: str = "1Gi") -> dict:
    return {"apiVersion": "v1", "kind": t.PVC, "metadata": {"name": name, "namespace": NS},
            "spec": {"accessModes": [t.RWO], "resources": {"requests": {"storage": size}}, "storageClassName": cls}}


def _pod(name: str, claim: str, node: str) -> dict:
    return {"apiVersion": "v1", "kind": t.POD, "metadata": {"name": name, "namespace": NS},
            "spec": {"nodeName": node, "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}}


def _running(pod: str) -> Callable[[Cluster], bool]:
    def check(cluster: Cluster) -> bool:
        obj = cluster.server.peek(t.POD, NS, pod)
        return obj is not None and t.pod_phase(obj) == "Running"
    return check


ANN_WANTED_NODE = "kvolt.io/wanted-node"  # the conformance workloads' node choice, applied by `schedule_steps`


def _schedulable(claim: str, node: str) -> Callable[[Cluster], bool]:
    """What the kube-scheduler checks before binding a pod with this claim to this node (the
    volumebinding plugin: the claim is fully bound, not being deleted, its PV points back to it;
    the node is Ready and has no out-of-service taint). The conformance workloads create pods with
    spec.nodeName only when this holds, so that creation plus binding is the spec's create_pod
    followed by scheduler.schedule."""
    def check(cluster: Cluster) -> bool:
        c = cluster.server.peek(t.PVC, NS, claim)
        n = cluster.server.peek(t.NODE, "", node)
        if c is None or t.deletion_timestamp(c) is not None or not t.has_annotation(c, t.ANN_BIND_COMPLETED):
            return False
        v = cluster.server.peek(t.PV, "", c.get("spec", {}).get("volumeName") or "")
        if v is None or not t.is_volume_bound_to_claim(v, c) or (t.claim_ref(v) or {}).get("uid") != t.uid(c):
            return False
        return n is not None and t.node_is_ready(n) and not t.has_out_of_service_taint(n)
    return check


def _gone(kind: str, name: str) -> Callable[[Cluster], bool]:
    return lambda cluster: cluster.server.peek(kind, NS, name) is None


def _bound(claim: str) -> Callable[[Cluster], bool]:
    def check(cluster: Cluster) -> bool:
        obj = cluster.server.peek(t.PVC, NS, claim)
        return obj is not None and t.pvc_phase(obj) == "Bound"
    return check


def _resized_or_stuck(claim: str, size: int) -> Callable[[Cluster], bool]:
    """What a user watching `kubectl get pvc` waits for: the new capacity, or a visibly stuck or failed resize."""
    def check(cluster: Cluster) -> bool:
        obj = cluster.server.peek(t.PVC, NS, claim)
        return obj is None or ru.status_capacity(obj) >= size or \
            ru.resize_status(obj) in (ru.CONTROLLER_RESIZE_IN_PROGRESS, ru.CONTROLLER_RESIZE_INFEASIBLE)
    return check


def _resize(claim: str, size: int) -> Callable[[Cluster], None]:
    """kubectl edit: GET, change spec.resources.requests.storage, PUT (admission and validation apply)."""
    def do(cluster: Cluster) -> None:
        obj = cluster.server.get("user", t.PVC, NS, claim)
        obj["spec"].setdefault("resources", {}).setdefault("requests", {})["storage"] = ru.format_quantity(size)
        cluster.server.update("user", obj)
    return do


def _bind(cluster: Cluster, pod: str, node: str) -> str:
    def mutate(obj: dict) -> None:
        obj["spec"]["nodeName"] = node
    try:
        cluster.server.patch("scheduler", t.POD, NS, pod, mutate)
    except APIError as error:
        return f"bind {pod}: {error.reason}"
    return f"bound {pod} to {node}"


def _create(obj: dict) -> Callable[[Cluster], None]:
    return lambda cluster: cluster.server.create("user", obj)


def _delete(kind: str, name: str) -> Callable[[Cluster], None]:
    return lambda cluster: cluster.server.delete("user", kind, NS, name)


class Workload:
    def __init__(self, name: str, rng: random.Random, nodes: list[str]):
        if name not in WORKLOADS:
            raise ValueError(f"unknown workload {name!r} (expected one of {', '.join(WORKLOADS)})")
        self.name, self.rng, self.nodes = name, rng, nodes
        self.tenants: list[Tenant] = []
        self.static_pvs: list[str] = []
        self.components = COMPONENTS if name == "expand" else tuple(c for c in COMPONENTS if c != "expand-controller")

    def setup(self, cluster: Cluster) -> None:
        """Nodes, classes and an administrator's static PVs, before the controllers start."""
        s = cluster.server
        for n in self.nodes:
            s.create("admin", {"kind": t.NODE, "metadata": {"name": n, "annotations": {t.ANN_CONTROLLER_MANAGED_ATTACH: "true"}},
                               "status": {"conditions": [{"type": "Ready", "status": "True"}]}}, admit=False)
        expansion = {"allowVolumeExpansion": True} if self.name == "expand" else {}
        s.create("admin", {"kind": t.SC, "metadata": {"name": "fast"}, "provisioner": "kvolt.io/fake-disk",
                           "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate", **expansion})
        s.create("admin", {"kind": t.SC, "metadata": {"name": "nfs"}, "provisioner": "kvolt.io/nfs",
                           "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate", **expansion})
        if self.name in CONFORM:
            self.tenants.append(self._conform_script(1, "fast" if self.name == "conform" else "nfs"))
            return
        kinds = {"default": ["fast", "nfs", "static"], "rwo-reschedule": ["fast", "fast", "static"],
                 "nfs": ["nfs", "nfs", "fast"], "expand": ["fast", "fast", "nfs"]}[self.name]
        for i, kind in enumerate(kinds, start=1):
            if self.name == "expand":
                self.tenants.append(self._expand_script(i, kind))
                continue
            if kind == "static":
                disk = f"disk-static-{i}"
                cluster.backend.create_disk(disk, "cloud", 2 * 2**30)
                s.create("admin", {"kind": t.PV, "metadata": {"name": f"static-{i}"},
                                   "spec": {"capacity": {"storage": "2Gi"}, "accessModes": [t.RWO],
                                            "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                                            "fakeDisk": {"diskID": disk}}})
            self.tenants.append(self._script(i, "" if kind == "static" else kind))

    def _script(self, i: int, cls: str) -> Tenant:
        claim, a, b = f"claim{i}", f"pod{i}-a", f"pod{i}-b"
        n1 = self.rng.choice(self.nodes)
        n2 = self.rng.choice([n for n in self.nodes if n != n1] or self.nodes)
        variant = self.rng.choice(["reschedule", "delete-claim-first", "simple", "reschedule"])
        acts = [Action("user_create_claim", f"create claim {claim} ({cls or 'static'})", _create(_claim(claim, cls)),
                       picks={"claim": claim}),
                Action("user_create_pod", f"create pod {a} on {n1}", _create(_pod(a, claim, n1)), _running(a),
                       picks={"pod": a, "node": n1})]
        if variant == "reschedule":
            acts += [Action("user_delete_pod", f"delete pod {a}", _delete(t.POD, a), picks={"pod": a}),
                     Action("user_create_pod", f"create pod {b} on {n2}", _create(_pod(b, claim, n2)), _running(b),
                            picks={"pod": b, "node": n2}),
                     Action("user_delete_claim", f"delete claim {claim}", _delete(t.PVC, claim), picks={"claim": claim}),
                     Action("user_delete_pod", f"delete pod {b}", _delete(t.POD, b), picks={"pod": b})]
        elif variant == "delete-claim-first":
            acts += [Action("user_delete_claim", f"delete claim {claim}", _delete(t.PVC, claim), picks={"claim": claim}),
                     Action("user_delete_pod", f"delete pod {a}", _delete(t.POD, a), _gone(t.POD, a), picks={"pod": a})]
        else:
            acts += [Action("user_delete_pod", f"delete pod {a}", _delete(t.POD, a), _gone(t.POD, a), picks={"pod": a}),
                     Action("user_delete_claim", f"delete claim {claim}", _delete(t.PVC, claim), picks={"claim": claim})]
        return Tenant(f"user{i}", acts)

    def _conform_script(self, i: int, cls: str) -> Tenant:
        """One claim and at most two pods (the budget of the conformance models)."""
        claim, a, b = f"claim{i}", f"pod{i}-a", f"pod{i}-b"
        n1 = self.rng.choice(self.nodes)
        n2 = self.rng.choice(self.nodes)
        variant = self.rng.choice(["reschedule", "delete-claim-first", "simple", "delete-claim-early"])

        def create_pod(pod: str, node: str) -> Action:
            obj = _pod(pod, claim, "")
            obj["metadata"]["annotations"] = {ANN_WANTED_NODE: node}
            return Action("user_create_pod", f"create pod {pod} (for {node})", _create(obj), _running(pod),
                          picks={"pod": pod})

        def delete_pod(pod: str, wait: bool = True) -> Action:
            return Action("user_delete_pod", f"delete pod {pod}", _delete(t.POD, pod), _gone(t.POD, pod) if wait else None,
                          picks={"pod": pod})
        delete_claim = Action("user_delete_claim", f"delete claim {claim}", _delete(t.PVC, claim), picks={"claim": claim})
        acts = [Action("user_create_claim", f"create claim {claim} ({cls})", _create(_claim(claim, cls)), _bound(claim),
                       picks={"claim": claim}),
                create_pod(a, n1)]
        if variant == "reschedule":
            acts += [delete_pod(a, wait=False), create_pod(b, n2), delete_claim, delete_pod(b)]
        elif variant == "delete-claim-first":
            acts += [delete_claim, delete_pod(a)]
        elif variant == "simple":
            acts += [delete_pod(a), create_pod(b, n2), delete_pod(b), delete_claim]
        else:
            acts = [acts[0], delete_claim]
        return Tenant(f"user{i}", acts)

    def _expand_script(self, i: int, cls: str) -> Tenant:
        claim, pod = f"claim{i}", f"pod{i}"
        node = self.rng.choice(self.nodes)
        variant = self.rng.choice(["online", "offline", "infeasible-then-lower", "lower-while-in-progress"])
        create_pod = Action("user_create_pod", f"create pod {pod} on {node}", _create(_pod(pod, claim, node)),
                            _running(pod), picks={"pod": pod, "node": node})

        def resize(size: int, wait: Callable[[Cluster], bool] | None = None) -> Action:
            return Action("user_resize_claim", f"resize claim {claim} to {ru.format_quantity(size)}", _resize(claim, size),
                          wait, picks={"claim": claim, "size": size})
        acts = [Action("user_create_claim", f"create claim {claim} ({cls})", _create(_claim(claim, cls)), _bound(claim),
                       picks={"claim": claim})]
        if variant == "online":
            acts += [create_pod, resize(3 * GI, _resized_or_stuck(claim, 3 * GI))]
        elif variant == "offline":
            acts += [resize(3 * GI, _resized_or_stuck(claim, 3 * GI)), create_pod]
        elif variant == "infeasible-then-lower":
            acts += [create_pod, resize(16 * GI, _resized_or_stuck(claim, 16 * GI)), resize(2 * GI)]
        else:
            acts += [create_pod, resize(4 * GI, _resized_or_stuck(claim, 4 * GI)), resize(2 * GI)]
        acts += [Action("user_delete_pod", f"delete pod {pod}", _delete(t.POD, pod), _gone(t.POD, pod), picks={"pod": pod}),
                 Action("user_delete_claim", f"delete claim {claim}", _delete(t.PVC, claim), picks={"claim": claim})]
        return Tenant(f"user{i}", acts)

    def steps(self, cluster: Cluster) -> list[Step]:
        out = self._schedule_steps(cluster) if self.name in CONFORM else []
        for tenant in self.tenants:
            if tenant.enabled(cluster):
                action = tenant.actions[tenant.next]
                out.append(Step(f"{tenant.name} {action.describe}", tenant.name, action.name,
                                lambda tenant=tenant, action=action: self._run(cluster, tenant, action),
                                dict(action.picks), kind="user"))
        return out

    def _schedule_steps(self, cluster: Cluster) -> list[Step]:
        """The kube-scheduler's binding of a pending pod (pods/binding sets spec.nodeName)."""
        out = []
        for pod in cluster.server.peek_all(t.POD):
            node = t.annotations(pod).get(ANN_WANTED_NODE, "")
            claims = t.pod_claim_names(pod)
            if t.pod_node(pod) or not node or t.deletion_timestamp(pod) is not None or not claims:
                continue
            if _schedulable(claims[0][1], node)(cluster):
                name = t.name(pod)
                out.append(Step(f"scheduler bind {name} to {node}", "scheduler", "scheduler_bind",
                                lambda name=name, node=node: _bind(cluster, name, node), {"pod": name, "node": node},
                                kind="user"))
        return out

    def _run(self, cluster: Cluster, tenant: Tenant, action: Action) -> str:
        tenant.next += 1
        tenant.done_at_ms = cluster.clock.now_ms
        try:
            action.do(cluster)
        except APIError as error:
            return f"{action.describe}: {error.reason}"
        return action.describe

    def finished(self) -> bool:
        return all(tn.next >= len(tn.actions) for tn in self.tenants)
