"""A whole cluster: API server, controller-manager, one kubelet per node, the backend, and its steps.

Counterpart of the process layout of a real cluster (cmd/kube-controller-manager starting the
PV, PVC-protection, PV-protection, attach/detach and expand controllers; cmd/kubelet on every node),
expressed as units of work for the deterministic scheduler: every enabled step is one informer
delivering one watch event, one worker processing one queue key, one reconciler or populator
pass, one pending operation completing, or one pod writing to its volumes. Periodic loops are
due on the logical clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kvolt.impl.api import types as t
from kvolt.impl.api.server import APIServer, Clock
from kvolt.impl.backend import Backend
from kvolt.impl.client.informer import Informer
from kvolt.impl.controller.volume.attachdetach.attach_detach_controller import AttachDetachController
from kvolt.impl.controller.volume.expand.expand_controller import ExpandController
from kvolt.impl.controller.volume.persistentvolume.pv_controller_base import RESYNC_PERIOD_MS, PersistentVolumeController
from kvolt.impl.controller.volume.pvcprotection import PVCProtectionController
from kvolt.impl.controller.volume.pvprotection import PVProtectionController
from kvolt.impl.kubelet.kubelet import Kubelet
from kvolt.impl.volume.plugins import VolumePluginMgr

STEP_MS = 10
PERIODS_MS = {"adc-reconcile": 100, "adc-populator": 1000, "pv-resync": RESYNC_PERIOD_MS, "kubelet-populate": 100,
              "kubelet-reconcile": 100, "kubelet-pod-sync": 100, "kubelet-node-status": 1000, "pod-write": 200}
COMPONENTS = ("pv-controller", "pvc-protection-controller", "pv-protection-controller", "attach-detach-controller",
              "kubelet", "expand-controller")


@dataclass
class Step:
    """One unit of work. `action` names the spec action it corresponds to (see abstraction.py)."""

    name: str
    actor: str
    action: str
    run: Callable[[], str]
    picks: dict[str, Any] = field(default_factory=dict)
    kind: str = "system"  # "system", "user" or "fault"


class Cluster:
    def __init__(self, nodes: list[str], *, bugs: frozenset[str] = frozenset(),
                 components: tuple[str, ...] = COMPONENTS, plugin_fault: Any = None):
        self.clock = Clock()
        self.server = APIServer(self.clock)
        self.backend = Backend()
        self.bugs = bugs
        self.components = components
        self.nodes = list(nodes)
        self.plugins = VolumePluginMgr(self.backend, plugin_fault)
        self.pv: PersistentVolumeController | None = None
        self.pvc_protection: PVCProtectionController | None = None
        self.pv_protection: PVProtectionController | None = None
        self.adc: AttachDetachController | None = None
        self.expand: ExpandController | None = None
        self.kubelets: dict[str, Kubelet] = {}
        self.due: dict[str, int] = {}
        self.step_log: list[str] = []
        for n in self.nodes:
            self.backend.host(n)

    # ------------------------------------------------------------ processes

    def start_controller_manager(self) -> None:
        if "pv-controller" in self.components:
            self.pv = PersistentVolumeController(self.server, self.plugins)
            self.pv.resync()
        if "pvc-protection-controller" in self.components:
            self.pvc_protection = PVCProtectionController(self.server, bugs=self.bugs)
            for pvc in self.pvc_protection.pvc_informer.list():
                self.pvc_protection.pvc_added_updated(pvc)
        if "pv-protection-controller" in self.components:
            self.pv_protection = PVProtectionController(self.server)
            for pv in self.pv_protection.pv_informer.list():
                self.pv_protection.pv_added_updated(pv)
        if "attach-detach-controller" in self.components:
            self.adc = AttachDetachController(self.server, self.plugins, bugs=self.bugs)
        shared_pods = self.pvc_protection or self.adc  # one SharedInformerFactory in kube-controller-manager
        if self.pv is not None and shared_pods is not None:
            self.pv.share_pod_informer(shared_pods.pod_informer)
        if "expand-controller" in self.components:
            self.expand = ExpandController(self.server, self.plugins, bugs=self.bugs)
            for pvc in self.expand.pvc_informer.list():  # the informer's initial list: AddFunc
                self.expand.enqueue_pvc(pvc)

    def start_kubelet(self, node: str) -> None:
        if "kubelet" in self.components and self.backend.host(node).powered:
            self.kubelets[node] = Kubelet(self.server, node, self.backend, self.plugins, bugs=self.bugs)

    def start(self) -> None:
        self.start_controller_manager()
        for n in self.nodes:
            self.start_kubelet(n)

    def informers(self) -> list[Informer]:
        out: list[Informer] = []
        for c in (self.pv, self.pvc_protection, self.pv_protection, self.adc, self.expand):
            if c is not None:
                out.extend(c.informers())
        for n in sorted(self.kubelets):
            out.extend(self.kubelets[n].informers())
        return out

    # ------------------------------------------------------------ steps

    def _is_due(self, loop: str, period_key: str) -> bool:
        return self.clock.now_ms >= self.due.get(loop, 0)

    def _periodic(self, loop: str, period_key: str, actor: str, action: str, fn: Callable[[], str],
                  picks: dict | None = None) -> Step:
        def run() -> str:
            self.due[loop] = self.clock.now_ms + PERIODS_MS[period_key]
            return fn()
        return Step(loop, actor, action, run, picks or {})

    def enabled_steps(self) -> list[Step]:
        steps: list[Step] = []
        now = self.clock.now_ms
        for inf in self.informers():
            if inf.deliverable(now):
                steps.append(Step(f"deliver {inf.name}", inf.owner, "deliver_event",
                                  lambda inf=inf: _describe_event(inf.deliver_one()), {"informer": inf.name}))
        if self.pv is not None:
            pv = self.pv
            if pv.claim_queue.ready():
                steps.append(Step("pv-controller sync-claim", "pv-controller", "pv_controller_sync_claim",
                                  lambda: _describe_sync(pv.claim_worker()), {"claim": pv.claim_queue.queue[0]}))
            if pv.volume_queue.ready():
                steps.append(Step("pv-controller sync-volume", "pv-controller", "pv_controller_sync_volume",
                                  lambda: _describe_sync(pv.volume_worker()), {"volume": pv.volume_queue.queue[0]}))
            if now >= pv.last_resync_ms + RESYNC_PERIOD_MS:
                steps.append(Step("pv-controller resync", "pv-controller", "pv_controller_resync",
                                  lambda: (pv.resync(), "resync")[1]))
            for op in pv.operations.pending_ops():
                steps.append(Step(f"pv-controller op {op.key.volume}", "pv-controller", "pv_controller_" + op.name,
                                  lambda op=op, pv=pv: _describe_op(op, pv.operations.complete(op)),
                                  {"operation": op.key.volume}))
        for ctrl, action in ((self.pvc_protection, "pvc_protection_sync"), (self.pv_protection, "pv_protection_sync")):
            if ctrl is not None and ctrl.queue.ready():
                steps.append(Step(f"{ctrl.client.actor} sync", ctrl.client.actor, action,
                                  lambda ctrl=ctrl: _describe_sync(ctrl.process_next_work_item()),
                                  {"key": ctrl.queue.queue[0]}))
        if self.adc is not None:
            adc = self.adc
            if self._is_due("adc reconcile", "adc-reconcile"):
                steps.append(self._periodic("adc reconcile", "adc-reconcile", "attach-detach-controller",
                                            "adc_reconcile", lambda: (adc.reconcile(), "reconcile")[1]))
            if self._is_due("adc populator", "adc-populator"):
                steps.append(self._periodic("adc populator", "adc-populator", "attach-detach-controller",
                                            "adc_populate", lambda: (adc.populator_pass(), "populate")[1]))
            for op in adc.pending.pending_ops():
                steps.append(Step(f"adc op {op.describe()}", "attach-detach-controller", "adc_" + op.name,
                                  lambda op=op, adc=adc: _describe_op(op, adc.pending.complete(op)),
                                  {"volume": op.key.volume, "node": op.key.node}))
        if self.expand is not None:
            exp = self.expand
            if exp.queue.ready():
                steps.append(Step("expand-controller sync", "expand-controller", "expand_controller_sync",
                                  lambda: _describe_sync(exp.process_next_work_item()), {"claim": exp.queue.queue[0]}))
            for key in sorted(exp.calls):
                steps.append(Step(f"expand-controller expand-volume {key}", "expand-controller",
                                  "expand_controller_expand_volume",
                                  lambda key=key, exp=exp: _describe_sync(exp.complete_call(key)), {"claim": key}))
        for node in sorted(self.kubelets):
            steps.extend(self._kubelet_steps(node))
        return steps

    def check_monitors(self) -> None:
        """Monitors over API objects and physical truth together, run after every step (S12 quota)."""
        self.backend.check_quota(self.server.peek_all(t.PVC), self.server.peek_all(t.PV))

    def _kubelet_steps(self, node: str) -> list[Step]:
        k = self.kubelets[node]
        if not self.backend.host(node).powered:
            return []
        actor = k.name
        steps = []
        for loop, action, fn in (
                ("kubelet-populate", "kubelet_populate", lambda: (k.populator.populate(), "populate")[1]),
                ("kubelet-reconcile", "kubelet_reconcile", lambda: (k.reconciler.reconcile(), "reconcile")[1]),
                ("kubelet-pod-sync", "kubelet_sync_pods", lambda: ", ".join(k.sync_pods()) or "no change"),
                ("kubelet-node-status", "kubelet_update_node_status", lambda: "ok" if k.update_node_status() else "failed")):
            name = f"{actor} {loop.split('-', 1)[1]}"
            if self._is_due(name, loop):
                steps.append(self._periodic(name, loop, actor, action, fn, {"node": node}))
        for op in k.pending.pending_ops():
            steps.append(Step(f"{actor} op {op.describe()}", actor, "kubelet_" + op.name,
                              lambda op=op, k=k: _describe_op(op, k.pending.complete(op)),
                              {"volume": op.key.volume, "node": node}))
        for uid in k.running_pods():
            name = f"pod {uid} write"
            if self._is_due(name, "pod-write"):
                steps.append(self._periodic(name, "pod-write", f"pod:{uid}", "pod_write",
                                            lambda uid=uid: f"{self.backend.write(node, uid)} writes",
                                            {"pod": uid, "node": node}))
        return steps

    def next_wakeup_ms(self, include_loops: bool = True) -> int | None:
        """The earliest logical time at which some timer makes a step enabled."""
        times = [v for v in self.due.values() if v > self.clock.now_ms] if include_loops else []
        for inf in self.informers():
            if inf.pending() and inf.delayed_until_ms > self.clock.now_ms:
                times.append(inf.delayed_until_ms)
        queues = []
        if self.pv is not None:
            queues += [self.pv.claim_queue, self.pv.volume_queue]
            times.append(self.pv.last_resync_ms + RESYNC_PERIOD_MS)
        for c in (self.pvc_protection, self.pv_protection, self.expand):
            if c is not None:
                queues.append(c.queue)
        for q in queues:
            if q.next_ready_ms() is not None:
                times.append(q.next_ready_ms())
        return min(times) if times else None

    # ------------------------------------------------------------ drivers for scenarios

    def _signature(self) -> list:
        """The API state, ignoring node heartbeats (which change on every status write)."""
        return [_without_heartbeats(o) for o in self.server.objects.values()]

    def run_until_quiescent(self, max_rounds: int = 300, include_resync: bool = True) -> int:
        """Run every enabled system step in name order, round after round, until nothing changes."""
        quiet = 0
        rounds = 0
        while rounds < max_rounds and quiet < 15:
            rounds += 1
            before = (self._signature(), len(self.backend.log))
            for inf in self.informers():
                inf.deliver_all()
            for step in self.enabled_steps():
                if step.action in ("pod_write", "deliver_event"):
                    continue
                if step.action == "pv_controller_resync" and not include_resync:
                    continue
                step.run()
            pending = any(inf.pending() for inf in self.informers())
            changed = (self._signature(), len(self.backend.log)) != before
            quiet = 0 if changed or pending else quiet + 1
            self.clock.now_ms += PERIODS_MS["adc-reconcile"]
            if quiet >= 12 and include_resync:  # quiet for a while: let the slow timers fire
                wake = self.next_wakeup_ms(include_loops=False)
                if wake is not None and wake > self.clock.now_ms:
                    self.clock.now_ms = wake
        return rounds


def _without_heartbeats(obj: dict) -> dict:
    if obj.get("kind") != t.NODE:
        return obj
    obj = t.clone(obj)
    obj["metadata"].pop("resourceVersion", None)
    for cond in obj.get("status", {}).get("conditions") or []:
        cond.pop("lastHeartbeatTime", None)
    return obj


def _describe_event(event: Any) -> str:
    if event is None:
        return "no event"
    return f"{event.type} {event.kind} {t.key(event.object)} rv={event.resource_version}"


def _describe_sync(result: Any) -> str:
    if result is None:
        return "empty queue"
    if isinstance(result, tuple):
        key, error = result
    else:
        key, error = result.key, result.error
    return f"{key}: {error}" if error else f"{key}: ok"


def _describe_op(op: Any, error: Exception | None) -> str:
    return f"{op.describe()}: {'failed: ' + str(error) if error else 'ok'}"
