"""Faults the scheduler may inject, and flags that re-introduce known bugs.

Faults (each deterministic, drawn from the run's own random stream):
* `watch-delay`: an informer stops receiving events for a while;
* `api-conflict`, `api-error`: a controller's or kubelet's write fails with Conflict / a 500;
* `plugin-error`, `plugin-timeout`: a volume plugin call fails before acting, or acts and then
  reports failure (the uncertain outcome);
* `kubelet-restart`, `controller-restart`: a process restarts with empty caches;
* `node-notready`: a node powers off (NotReady), may be tainted out-of-service by an admin
  (PodGC then force-deletes its pods) and later powers on again;
* `clock-jump`: seven minutes pass (timeouts such as maxWaitForUnmountDuration expire).

Bug flags (domain.md §4): see BUGS.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kvolt.impl.api import types as t
from kvolt.impl.api.server import APIError
from kvolt.impl.cluster import Cluster, Step

FAULTS = ("watch-delay", "api-conflict", "api-error", "plugin-error", "plugin-timeout", "kubelet-restart",
          "controller-restart", "node-notready", "clock-jump")
BUGS = {
    "pvc-protection-no-in-use-check": "B1: the PVC-protection controller removes its finalizer without checking pods",
    "pvc-protection-informer-only": "B2: the PVC-protection controller trusts its pod informer, no live LIST",
    "adc-no-multi-attach-guard": "B8: the attach/detach controller attaches an RWO volume to a second node",
    "adc-detach-no-in-use-check": "S6: the attach/detach controller detaches without mountedByNode/volumesInUse checks",
    "adc-attach-key-per-node": "B9: attach operations of RWO volumes are keyed per node",
    "kubelet-reject-terminating-pvc": "B18: the kubelet rejects every terminating claim when rebuilding its DSW",
    "expand-allocated-after-expansion": "B20: the expand controller records allocatedResources only after "
                                        "ControllerExpandVolume returns",
}
STEP_FAULT_PROBABILITY = 0.02
API_FAULT_PROBABILITY = 0.03
PLUGIN_FAULT_PROBABILITY = 0.04


class FaultError(ValueError):
    pass


def parse(names: list[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Split a --fault list into (faults, bug flags); `all` enables every fault."""
    faults, bugs = set(), set()
    for raw in names:
        name = raw.removeprefix("bug:")
        if raw == "all":
            faults.update(FAULTS)
        elif name in BUGS:
            bugs.add(name)
        elif raw in FAULTS:
            faults.add(raw)
        else:
            raise FaultError(f"unknown fault {raw!r} (faults: {', '.join(FAULTS)}, all; bugs: {', '.join(BUGS)})")
    return frozenset(faults), frozenset(bugs)


@dataclass
class FaultInjector:
    faults: frozenset[str]
    rng: random.Random

    # hooks installed in the API server and the plugin manager
    def api_hook(self, actor: str, verb: str, kind: str) -> str | None:
        if actor in ("user", "admin", "node-lifecycle-controller", "pod-gc") or \
                (verb in ("get", "list") and "api-error" not in self.faults):
            return None
        if verb in ("update", "update-status") and "api-conflict" in self.faults and self.rng.random() < API_FAULT_PROBABILITY:
            return "Conflict"
        if "api-error" in self.faults and self.rng.random() < API_FAULT_PROBABILITY:
            return "ServerError"
        return None

    def plugin_hook(self, op: str, volume: str, node: str) -> str | None:
        kinds = [k for k in ("error", "timeout") if f"plugin-{k}" in self.faults]
        if kinds and self.rng.random() < PLUGIN_FAULT_PROBABILITY:
            return self.rng.choice(kinds)
        return None

    # steps
    def steps(self, cluster: Cluster) -> list[Step]:
        out: list[Step] = []
        f = self.faults
        if "watch-delay" in f:
            for inf in cluster.informers():
                if inf.pending():
                    out.append(Step(f"fault watch-delay {inf.name}", "faults", "fault_watch_delay",
                                    lambda inf=inf: self._delay(cluster, inf), {"informer": inf.name}, "fault"))
        if "kubelet-restart" in f:
            for node in sorted(cluster.kubelets):
                if cluster.backend.host(node).powered:
                    out.append(Step(f"fault kubelet-restart {node}", "faults", "fault_kubelet_restart",
                                    lambda node=node: (cluster.start_kubelet(node), f"kubelet@{node} restarted")[1],
                                    {"node": node}, "fault"))
        if "controller-restart" in f:
            out.append(Step("fault controller-restart", "faults", "fault_controller_restart",
                            lambda: (cluster.start_controller_manager(), "kube-controller-manager restarted")[1],
                            {}, "fault"))
        if "node-notready" in f:
            down = [n for n in cluster.nodes if not cluster.backend.host(n).powered]
            for node in cluster.nodes:
                host = cluster.backend.host(node)
                if host.powered and not down:
                    out.append(Step(f"fault node-down {node}", "faults", "fault_node_down",
                                    lambda node=node: self._node_down(cluster, node), {"node": node}, "fault"))
                elif not host.powered:
                    obj = cluster.server.peek(t.NODE, "", node)
                    if obj is not None and not t.has_out_of_service_taint(obj):
                        out.append(Step(f"admin taint out-of-service {node}", "admin", "admin_taint_out_of_service",
                                        lambda node=node: self._taint(cluster, node, True), {"node": node}, "fault"))
                    out.append(Step(f"fault node-up {node}", "faults", "fault_node_up",
                                    lambda node=node: self._node_up(cluster, node), {"node": node}, "fault"))
        if "clock-jump" in f:
            out.append(Step("fault clock-jump", "faults", "tick", lambda: self._jump(cluster), {}, "fault"))
        return out

    def _delay(self, cluster: Cluster, inf) -> str:
        inf.delayed_until_ms = cluster.clock.now_ms + self.rng.choice([500, 2000, 5000])
        return f"{inf.name} delayed until t+{inf.delayed_until_ms}ms"

    def _jump(self, cluster: Cluster) -> str:
        # Minutes passing bound every watch delay: informers catch up first (fairness).
        for inf in cluster.informers():
            inf.delayed_until_ms = 0
            inf.deliver_all()
        cluster.clock.now_ms += 7 * 60 * 1000
        return "7 minutes pass"

    def _node_down(self, cluster: Cluster, node: str) -> str:
        cluster.backend.power_off(node)
        cluster.kubelets.pop(node, None)

        def not_ready(obj: dict) -> None:
            conds = [c for c in obj.get("status", {}).get("conditions") or [] if c.get("type") != "Ready"]
            obj.setdefault("status", {})["conditions"] = [*conds, {"type": "Ready", "status": "False"}]
        cluster.server.patch("node-lifecycle-controller", t.NODE, "", node, not_ready, subresource="status")
        return f"{node} powered off (NotReady)"

    def _taint(self, cluster: Cluster, node: str, on: bool) -> str:
        def mutate(obj: dict) -> None:
            taints = [x for x in obj.get("spec", {}).get("taints") or [] if x.get("key") != t.TAINT_OUT_OF_SERVICE]
            if on:
                taints.append({"key": t.TAINT_OUT_OF_SERVICE, "value": "nodeshutdown", "effect": "NoExecute"})
            obj.setdefault("spec", {})["taints"] = taints
        cluster.server.patch("admin", t.NODE, "", node, mutate)
        return f"{node} {'tainted' if on else 'untainted'} out-of-service"

    def _node_up(self, cluster: Cluster, node: str) -> str:
        self._taint(cluster, node, False)
        cluster.backend.power_on(node)
        cluster.start_kubelet(node)
        if node in cluster.kubelets:
            cluster.kubelets[node].update_node_status()
        return f"{node} powered on"


def pod_gc_steps(cluster: Cluster) -> list[Step]:
    """PodGC (pkg/controller/podgc): force-delete terminating pods on out-of-service NotReady nodes."""
    out = []
    for node in cluster.nodes:
        obj = cluster.server.peek(t.NODE, "", node)
        if obj is None or not t.has_out_of_service_taint(obj) or t.node_is_ready(obj):
            continue
        for pod in cluster.server.peek_all(t.POD):
            if t.pod_node(pod) == node:
                ns, name = t.namespace(pod), t.name(pod)
                out.append(Step(f"pod-gc delete {ns}/{name}", "pod-gc", "podgc_force_delete",
                                lambda ns=ns, name=name: _force_delete(cluster, ns, name), {"pod": name}))
    return out


def _force_delete(cluster: Cluster, ns: str, name: str) -> str:
    try:
        cluster.server.delete("pod-gc", t.POD, ns, name, grace_seconds=0)
    except APIError as error:
        return f"force delete {ns}/{name}: {error.reason}"
    return f"force deleted {ns}/{name}"
