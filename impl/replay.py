"""Model-based testing: drive the implementation along a spec trace (`kvolt replay`).

No upstream counterpart. A spec trace (a counterexample of `kvolt check`, a walk of `kvolt simulate`)
is a sequence of spec actions. Replaying it builds a cluster whose objects are the trace's initial
state, then realises every step in the implementation and compares, after each step, the
implementation's state with the trace's:

* the API objects, through THE abstraction function (impl/abstraction.py: PV, PVC, Pod, Node);
* the physical world, which the replay (unlike an observer of the API server) can see: which
  volume is attached to which node (the spec's VolumeAttachment.attached), staged and set up on
  which machine, which pods run (the spec's Host).

How a step is realised depends on who acts (`ENVIRONMENT`): what users, administrators, the
scheduler, machines and PodGC do is performed directly as API calls or physical events. A
controller's or kubelet's action is searched for among the implementation's own steps: informer
deliveries, queue workers, reconciler and populator passes, operations completing, time passing.
Steps of the acting component are tried first. A step runs as a fiber (a greenlet) that pauses
after the API write that makes the compared state equal to the trace's next state, so a sync that
makes several writes (bind: PV, PV status, PVC, PVC status) realises several spec actions and other
actors may act between its writes, as in a real cluster (pauses also come after physical events
and after an attach operation starts: the spec's VolumeAttachment). A spec cache refresh
(`actor.sync[Kind]`) is realised by that component's informer delivering up to the object's latest
event, and a watch event delivered to a cache the spec models must leave it as the trace has it.
Other steps whose effect is invisible here (a controller's memory) need no counterpart of their
own: the search takes whatever hidden steps the next visible change needs, trying each candidate
on a copy of the cluster (pickled where no fiber is paused, re-executed from there otherwise).

A replay fails at the first step whose state the implementation cannot reach; the report gives
the fields that differ. For a counterexample it then says whether the implementation really
violates the trace's property (`PROPERTIES`: the same property judged on the implementation's API
objects and physical world).
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import greenlet

from kvolt.checker.compiler import CompiledModel, decode_value
from kvolt.checker.views.traces import ACTION_KEY, PICKS_KEY
from kvolt.impl.abstraction import FIELDS, FINALIZERS, KINDS, Abstraction
from kvolt.impl.api import types as t
from kvolt.impl.api.server import APIError
from kvolt.impl.cluster import COMPONENTS, STEP_MS, Cluster, Step
from kvolt.impl.volume.plugins import FAKE_DISK
from kvolt.impl.volume.util.operationexecutor import ATTACH
from kvolt.impl.volume.util.resize_util import quota_charge

NS = "default"
GI = 2**30
API_KINDS = ("PV", "PVC", "Pod", "Node")
PHYSICAL = "physical"  # the pseudo-object holding the compared physical facts
# spec actor -> implementation actor (kubelet: per node)
COMPONENT = {"pv_controller": "pv-controller", "pvc_protection": "pvc-protection-controller",
             "pv_protection": "pv-protection-controller", "attach_detach": "attach-detach-controller",
             "csi_attacher": "attach-detach-controller", "expand_controller": "expand-controller"}
SYNC = re.compile(r"(\w+)\.sync\[(\w+)\]")  # a spec actor's cache refresh
API_KIND = {"PV": t.PV, "PVC": t.PVC, "Pod": t.POD, "Node": t.NODE}
# spec actions performed directly (users, administrators, the scheduler, machines, PodGC)
ENVIRONMENT = ("user.create_claim", "user.delete_claim", "user.resize_claim", "user.create_pod", "user.delete_pod",
               "user.create_volume", "user.delete_volume", "user.admin_clear_claim_ref", "scheduler.schedule",
               "machine.power_off", "machine.power_on", "node_lifecycle.mark_not_ready", "admin.force_delete_pod",
               "admin.taint_out_of_service", "admin.remove_out_of_service", "pod_gc.collect", "kubelet.restart")
# environment actions whose spec step includes the machine's kubelet reacting (killing the containers
# of a pod whose object was removed): Replay._reaction
KUBELET_REACTS = ("admin.force_delete_pod", "pod_gc.collect")
LONG_WAIT_MS = 7 * 60 * 1000  # longer than every timer of the implementation (maxWaitForUnmountDuration: 6 min)
MAX_JUMPS = 3  # long waits tried while checking that a lasso's cycle can repeat forever
JUMP_EVERY = 60  # moves between two long waits (a kubelet's heartbeats always leave something to do)
MAX_MOVES = 300  # trials of implementation moves for one spec step
MAX_DEPTH = 16  # hidden moves before one spec step (greedy search)
BFS_DEPTH = 3  # exhaustive search depth
POD_WORKER_ACTIONS = ("kubelet.dsw_remove", "kubelet.remove_pod")  # one pod's worker: see Replay._pod_only
BFS_BUDGET = 80  # trials of the exhaustive search before the greedy one
MAX_SETTLE_MOVES = 300

Projection = dict[tuple[str, str], tuple[tuple[str, Any], ...]]


class ReplayError(ValueError):
    """The trace asks for something the replay cannot build (exit 2); `where` is the JSON path of the
    offending value in the trace file, when there is one."""

    def __init__(self, message: str, where: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.where = where


# ---------------------------------------------------------------- the compared state


def _norm(value: Any) -> Any:
    if isinstance(value, dict) and "#set" in value:
        return tuple(sorted(_norm(v) for v in value["#set"]))
    if isinstance(value, dict) and "#bigint" in value:
        return int(value["#bigint"])
    return value


@dataclass(frozen=True)
class Constants:
    """The model's constants the replay needs, decoded: classes, plugins, sizes, modes."""

    compiled: CompiledModel

    def value(self, kind: str, oid: str, name: str) -> Any:
        spec, model = self.compiled.spec, self.compiled.model
        f = next(x for x in spec.kind(kind).const_fields if x.name == name)
        raw = model.const_values(kind, name)[model.ids(kind).index(oid)]
        return decode_value(spec, model, f.type, raw)

    def plugin(self, pv: str) -> str:
        return str(self.value("StorageClass", self.value("PV", pv, "class"), "plugin"))

    def ids(self, kind: str) -> tuple[str, ...]:
        return self.compiled.model.ids(kind)


def _records(variables: dict[str, Any], kind: str) -> dict[str, dict]:
    return {oid: rec for oid, rec in variables.get(kind, {"#map": []})["#map"]}


def _record(kind: str, rec: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The compared fields of one object record (ITF form)."""
    if not rec.get("exists"):
        return (("exists", False),)
    keys = ["exists", "deleting", *(["finalizers"] if kind in ("PV", "PVC") else []), *FIELDS[kind]]
    values = {k: _norm(rec.get(k)) for k in keys}
    if kind == "PV":  # the CSI external-attacher's finalizer has no counterpart (in-tree attacher)
        values["finalizers"] = tuple(f for f in values["finalizers"] or () if f != "external_attacher")
    return tuple(values.items())


# fields compared on the API objects beyond the abstraction's (which records what an observer of the
# API server sees): PVC.charged, what quota admission charges, is the quota evaluator's usage of the
# claim object on the implementation's side (resize_util.quota_charge: max(spec, allocated))
REPLAY_FIELDS: dict[str, tuple[str, ...]] = {"PVC": ("charged",)}


def _api_projection(variables: dict[str, Any], consts: Constants) -> Projection:
    out: Projection = {}
    for kind in API_KINDS:
        records = _records(variables, kind)
        for oid in consts.ids(kind):
            rec = records.get(oid, {"exists": False})
            extra = tuple((f, _norm(rec.get(f))) for f in REPLAY_FIELDS.get(kind, ()) if rec.get("exists"))
            out[(kind, oid)] = _record(kind, rec) + extra
    return out


Caches = dict[tuple[str, str], dict[str, tuple[tuple[str, Any], ...]]]  # (component, API kind) -> slot -> record


def spec_caches(variables: dict[str, Any]) -> Caches:
    """The controllers' informer caches in a spec state (the `cache:ACTOR:KIND` variables)."""
    out: Caches = {}
    for name, value in variables.items():
        parts = name.split(":")
        if len(parts) == 3 and parts[0] == "cache" and parts[1] in COMPONENT and parts[2] in API_KIND:
            kind = parts[2]
            out[(COMPONENT[parts[1]], API_KIND[kind])] = {oid: _record(kind, rec) for oid, rec in value["#map"]}
    return out


def spec_projection(variables: dict[str, Any], consts: Constants) -> Projection:
    """The compared part of a spec state (ITF variables)."""
    out = _api_projection(variables, consts)
    hosts = _records(variables, "Host")
    node_of = {hid: rec.get("node") for hid, rec in hosts.items()}
    attachments = [rec for rec in _records(variables, "VolumeAttachment").values() if rec.get("exists")]
    attached = sorted((rec["pv"], rec["node"]) for rec in attachments if rec.get("attached"))
    attaching = sorted((rec["pv"], rec["node"]) for rec in attachments
                       if not rec.get("attached") and not rec.get("deleting") and not rec.get("detaching"))
    staged, mounts, orphans, running = [], [], [], []
    for hid, rec in hosts.items():
        node = node_of[hid]
        # a global (device) mount exists only for attachable volumes: NFS has none
        staged += [(pv, node) for pv in _norm(rec.get("staged", {"#set": []})) if consts.plugin(pv) == "Attachable"]
        mounts += [(pod, node) for pod in _norm(rec.get("mounts", {"#set": []}))]
        orphans += [(pv, node) for pv in _norm(rec.get("orphans", {"#set": []}))]
        running += [(pod, node) for pod in _norm(rec.get("running", {"#set": []}))]
    backing = sorted(v for v, rec in _records(variables, "PV").items() if rec.get("exists") and rec.get("backing"))
    out[(PHYSICAL, "")] = (("backing", tuple(backing)), ("attaching", tuple(attaching)), ("attached", tuple(attached)),
                           ("staged", tuple(sorted(staged))), ("mounts", tuple(sorted(mounts))),
                           ("orphans", tuple(sorted(orphans))), ("running", tuple(sorted(running))))
    return out


def diff(expected: Projection, actual: Projection) -> list[tuple[str, str, str, str]]:
    """(object, field, spec value, implementation value) for every difference."""
    out = []
    for key in sorted(set(expected) | set(actual)):
        e, a = dict(expected.get(key, ())), dict(actual.get(key, ()))
        label = f"{key[0]} {key[1]}".strip()
        for name in dict.fromkeys([*e, *a]):
            if e.get(name, "-") != a.get(name, "-"):
                out.append((label, name, _show(e.get(name, "-")), _show(a.get(name, "-"))))
    return out


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "{" + ", ".join(_show(v) if not isinstance(v, tuple) else "/".join(map(str, v)) for v in value) + "}"
    return str(value).lower() if isinstance(value, bool) else str(value)


# ---------------------------------------------------------------- the implementation side


def clone(world: World) -> World:
    """A deep copy of a world, by pickling (pending operations pickle with their closures:
    nestedpendingoperations.PortableFunc)."""
    return pickle.loads(pickle.dumps(world, protocol=pickle.HIGHEST_PROTOCOL))


@dataclass
class World:
    """Everything a replay changes, picklable (so it can be copied): the cluster and the slot bookkeeping."""

    cluster: Cluster
    abstraction: Abstraction
    pod_names: dict[str, str] = field(default_factory=dict)  # pod slot -> current object name
    incarnations: dict[str, int] = field(default_factory=dict)
    disk_slots: dict[str, str] = field(default_factory=dict)  # backend disk id -> PV slot (kept after the PV is gone)


class Sandbox:
    """A world plus its steps in flight (fibers paused after an API write)."""

    def __init__(self, world: World, replay: Replay) -> None:
        self.world = world
        self.replay = replay
        self.fibers: dict[str, greenlet.greenlet] = {}
        self.fiber_actors: dict[str, str] = {}
        self.outcome = ""  # of the last move applied

    @property
    def cluster(self) -> Cluster:
        return self.world.cluster

    def projection(self, target: Projection | None = None) -> Projection:
        return self.replay.impl_projection(self.world, target)

    # ------------------------------------------------------------ moves
    def apply(self, move: tuple, current: Projection, target: Projection) -> str:
        """Run one move; returns "goal" (the state is the target), "hidden" (unchanged), "partial"
        (some of the changes the target needs, nothing else) or "off". A watch event delivered to a
        cache the spec models must leave that cache as the trace has it."""
        watched = self._watched(move)
        before = {key: self.replay.impl_cache(self.world, *key) for key in watched}
        outcome = self._apply(move, current, target)
        expected = self.replay.expected_caches.get(id(target), {})
        for key in watched:
            after = self.replay.impl_cache(self.world, *key)
            for slot in set(after) | set(before[key]):
                now, wanted = _unread(key, after.get(slot)), _unread(key, expected.get(key, {}).get(slot))
                if now != _unread(key, before[key].get(slot)) and now != wanted:
                    self.outcome = outcome = "off"
        return outcome

    def _watched(self, move: tuple) -> list[tuple[str, str]]:
        """The spec-modelled caches a delivery move may change: (component, API kind)."""
        if move[0] == "catch-up":
            name = move[1]
        elif move[0] == "start" and move[1].startswith("deliver "):
            name = move[1].removeprefix("deliver ")
        elif move[0] == "sync":
            name = f"{move[1]}:{move[2]}"
        else:
            return []
        if ":" not in name:
            return []
        owner, kind = name.rsplit(":", 1)
        return [(owner, kind)] if (owner, kind) in self.replay.modelled_caches else []

    def _apply(self, move: tuple, current: Projection, target: Projection) -> str:
        kind = move[0]
        if kind == "env":
            self.replay.perform(self.world, move[1], dict(move[2]), target)
        elif kind == "tick":
            wake = self.cluster.next_wakeup_ms()
            now = self.cluster.clock.now_ms
            self.cluster.clock.now_ms = wake if wake is not None and wake > now else now + STEP_MS
        elif kind == "jump":  # a long time passes (a lasso's cycle repeats forever): every timeout expires
            self.cluster.clock.now_ms += LONG_WAIT_MS
        elif kind == "wait":  # time passes until a periodic loop is due again, and it runs
            self.cluster.clock.now_ms = max(self.cluster.clock.now_ms, self.cluster.due.get(move[1], 0))
            if not self._start(move[1], current, target):
                return "off"
        elif kind == "sync":  # a spec cache refresh: this informer delivers up to the object's latest event
            informer = next((i for i in self.cluster.informers() if i.owner == move[1] and i.kind == move[2]), None)
            if informer is not None:
                while any(t.key(e.object) == move[3] for e in self.cluster.server.events[informer.cursor:]
                          if e.kind == informer.kind):
                    informer.deliver_one()
        elif kind == "catch-up":
            informer = next((i for i in self.cluster.informers() if i.name == move[1]), None)
            if informer is None:
                return "off"
            informer.deliver_all()
        elif kind == "start":
            if not self._start(move[1], current, target):
                return "off"
        elif kind == "resume":
            if move[1] not in self.fibers:
                return "off"
            self._drive(move[1], current, target)
        elif kind == "reconcile-from":  # the attach/detach reconciler, one node's volumes first
            adc = self.cluster.adc
            step = next((s for s in self.candidates() if s.action == "adc_reconcile"), None)
            if adc is None or step is None:
                return "off"
            adc.reconciler.first_node = move[1]
            try:
                self._start(step.name, current, target)
            finally:
                adc.reconciler.first_node = None
        elif kind in ("pod-only", "pod-first") and not self._start_told(move, current, target):
            return "off"
        self.cluster.check_monitors()
        for informer in self.cluster.informers():
            informer.delivered.clear()  # kept for recordings only
        now_state = self.projection(target)
        self.outcome = ("goal" if now_state == target else "hidden" if now_state == current
                        else "partial" if _between(now_state, current, target) else "off")
        return self.outcome

    def _start_told(self, move: tuple, current: Projection, target: Projection) -> bool:
        """A kubelet's loop (when next due) told about one pod for one pass: its pod workers syncing
        only that pod (`pod-only`), or its reconciler meeting that pod's volumes first (`pod-first`)."""
        loop, attribute = ("pod-sync", "only_pod") if move[0] == "pod-only" else ("reconcile", "first_pod")
        kubelet = next((k for k in self.cluster.kubelets.values() if move[1] == f"{k.name} {loop}"), None)
        if kubelet is None:
            return False
        told = kubelet if move[0] == "pod-only" else kubelet.reconciler
        self.cluster.clock.now_ms = max(self.cluster.clock.now_ms, self.cluster.due.get(move[1], 0))
        setattr(told, attribute, move[2])
        try:
            return self._start(move[1], current, target)
        finally:
            setattr(told, attribute, None)

    def _start(self, name: str, current: Projection, target: Projection) -> bool:
        """Start the enabled step `name` as a fiber and drive it; False if it is not enabled."""
        step = next((s for s in self.candidates() if s.name == name), None)
        if step is None:
            return False
        self.fibers[step.name] = greenlet.greenlet(step.run)
        self.fiber_actors[step.name] = step.actor
        self._drive(step.name, current, target)
        return True

    def _drive(self, lane: str, current: Projection, target: Projection) -> None:
        """Run a fiber until its step ends or an API write makes the state the target."""
        fiber = self.fibers[lane]
        main = greenlet.getcurrent()

        def on_change(event: Any) -> None:
            if current != target and self.projection(target) == target:
                main.switch("paused")

        adc = self.cluster.adc
        self.cluster.server.on_change = self.cluster.backend.on_change = on_change
        if adc is not None:  # an attach starting is compared too (the spec's VolumeAttachment)
            adc.pending.on_change = on_change
        try:
            result = fiber.switch()
        finally:
            self.cluster.server.on_change = self.cluster.backend.on_change = None
            if adc is not None:
                adc.pending.on_change = None
        if fiber.dead or result != "paused":
            self.fibers.pop(lane, None)
            self.fiber_actors.pop(lane, None)

    def candidates(self) -> list[Step]:
        """Enabled implementation steps (not pod writes), without the lanes in flight."""
        return [s for s in self.cluster.enabled_steps() if s.name not in self.fibers and s.action != "pod_write"]

    def signature(self) -> bytes:
        """What the cluster knows and has, without the clock, timers and logs, plus what can run
        next: two worlds with one signature behave alike (used to prune moves that change nothing)."""
        c = self.cluster
        saved = (c.clock.now_ms, c.due, c.step_log, c.server.events, c.server.actions, c.backend.log)
        try:
            c.clock.now_ms, c.due, c.step_log, c.server.events, c.server.actions, c.backend.log = 0, {}, [], [], [], []
            blob = pickle.dumps(c, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            c.clock.now_ms, c.due, c.step_log, c.server.events, c.server.actions, c.backend.log = saved
        lanes = repr((sorted(self.fibers), [s.name for s in self.candidates()])).encode()
        return hashlib.blake2b(blob + lanes, digest_size=16).digest()


# ---------------------------------------------------------------- results


@dataclass
class StepReport:
    index: int
    action: str
    params: dict[str, Any]
    moves: list[str]
    ok: bool


@dataclass
class ReplayResult:
    trace: str
    ok: bool
    steps: list[StepReport]
    failed_step: int | None = None
    message: str = ""
    differences: list[tuple[str, str, str, str]] = field(default_factory=list)
    property: str | None = None  # the trace's violated property (counterexamples)
    property_reached: bool | None = None
    property_detail: str = ""
    monitors: list[str] = field(default_factory=list)  # the implementation's own monitors that fired


# ---------------------------------------------------------------- the driver


class Replay:
    """Replays one spec trace on a fresh implementation."""

    def __init__(self, compiled: CompiledModel, states: list[dict[str, Any]], bugs: frozenset[str] = frozenset(),
                 name: str = "trace", max_moves: int = MAX_MOVES, violated: str | None = None,
                 loop: int | None = None) -> None:
        self.violated = violated
        self.loop = loop  # a lasso: the index of the state its cycle starts at
        self.compiled = compiled
        self.consts = Constants(compiled)
        self.states = states
        self.bugs = bugs
        self.name = name
        self.max_moves = max_moves
        self._check_picks(states)
        self.targets = [spec_projection(s, self.consts) for s in states]
        caches = [spec_caches(s) for s in states]
        self.expected_caches = {id(target): cache for target, cache in zip(self.targets, caches, strict=True)}
        self.modelled_caches = set().union(*caches) if caches else set()
        self.host_node = {hid: rec.get("node") for hid, rec in _records(states[0], "Host").items()}
        self.setup_hint: tuple[str, str] | None = None  # see _setup_hint
        self.pod_hint: tuple[str, str] | None = None  # see _pod_hint
        for s in states:
            self.host_node.update({hid: rec.get("node") for hid, rec in _records(s, "Host").items()})

    def _check_picks(self, states: list[dict[str, Any]]) -> None:
        """Every step names all of its action's parameters (the replay acts on them)."""
        params = {a.name: [n for n, _ in a.bindings[0].labels] if a.bindings else [] for a in self.compiled.actions}
        for index, state in enumerate(states[1:], 1):
            action, picks = state.get(ACTION_KEY), state.get(PICKS_KEY) or {}
            missing = [n for n in params.get(str(action), []) if n not in picks]
            if missing:
                raise ReplayError(f"{self.name}: state {index}: {PICKS_KEY} of {action} lacks "
                                  f"{', '.join(missing)}: replay needs every parameter of every step",
                                  ("states", index, PICKS_KEY))

    # ------------------------------------------------------------ projection of the implementation
    def impl_projection(self, world: World, target: Projection | None) -> Projection:
        self._assign_new(world, target)
        variables = world.abstraction.state(world.cluster)
        self._add_pv_finalizers(world, variables)
        self._add_quota_charges(world, variables)
        out = _api_projection(variables, self.consts)
        out[(PHYSICAL, "")] = self._physical(world)
        return out

    def impl_cache(self, world: World, component: str, api_kind: str) -> dict[str, tuple[tuple[str, Any], ...]]:
        """A component's informer cache of one kind (the PV controller's claims: its own cache,
        updated by its writes too), as compared records by spec slot."""
        c, a = world.cluster, world.abstraction
        kind = next(k for k, v in API_KIND.items() if v == api_kind)
        if component == "pv-controller" and api_kind == t.PVC and c.pv is not None:
            store = c.pv.claims
        else:
            informer = next((i for i in c.informers() if i.owner == component and i.kind == api_kind), None)
            store = informer.store if informer is not None else {}
        reader = getattr(a, Abstraction.READERS[kind])
        out = {}
        for obj in store.values():
            slot = a.ids[kind].get(t.uid(obj) if KINDS[kind][1] == "uid" else t.key(obj))
            if slot is None:
                continue
            record: dict[str, Any] = {"exists": True, "deleting": t.deletion_timestamp(obj) is not None}
            finalizers = a._finalizers(kind, obj)
            if finalizers is not None:
                record["finalizers"] = finalizers
            record.update(reader(c, obj))
            out[slot] = _record(kind, record)
        return out

    @staticmethod
    def _add_pv_finalizers(world: World, variables: dict[str, Any]) -> None:
        """The finalizers of attachable PVs, which an API observer's record leaves out."""
        ids = world.abstraction.ids["PV"]
        names = {ids.get(t.uid(o)): [FINALIZERS.get(f, f) for f in t.finalizers(o)]
                 for o in world.cluster.server.peek_all(t.PV)}
        for oid, rec in variables["PV"]["#map"]:
            if rec.get("exists") and "finalizers" not in rec:
                rec["finalizers"] = {"#set": sorted(names.get(oid, []))}

    @staticmethod
    def _add_quota_charges(world: World, variables: dict[str, Any]) -> None:
        """PVC.charged: the quota evaluator's usage of each claim, in Gi."""
        ids = world.abstraction.ids["PVC"]
        charges = {ids.get(t.key(o)): quota_charge(o) // GI for o in world.cluster.server.peek_all(t.PVC)}
        for oid, rec in variables["PVC"]["#map"]:
            if rec.get("exists"):
                rec["charged"] = charges.get(oid, 0)

    def _assign_new(self, world: World, target: Projection | None) -> None:
        """Give a new PV (provisioned by the implementation) the slot the trace expects it in."""
        ids = world.abstraction.ids["PV"]
        for pv in world.cluster.server.peek_all(t.PV):
            if t.uid(pv) in ids:
                continue
            taken = {ids[t.uid(o)] for o in world.cluster.server.peek_all(t.PV) if t.uid(o) in ids}
            free = [v for v in self.consts.ids("PV") if v not in taken]
            wanted = [v for v in free if target is not None and dict(target.get(("PV", v), ())).get("exists")]
            ids[t.uid(pv)] = (wanted or free or [f"pv{len(ids) + 1}"])[0]

    def _physical(self, world: World) -> tuple[tuple[str, Any], ...]:
        a, backend = world.abstraction, world.cluster.backend
        pv_of = {unique[len(FAKE_DISK) + 1:]: oid for unique, oid in a.disk_pv.items() if unique.startswith(FAKE_DISK + "/")}
        pv_of.update({_disk_id(o): a.ids["PV"].get(t.uid(o), "") for o in world.cluster.server.peek_all(t.PV)})
        world.disk_slots.update(pv_of)
        pv_of = world.disk_slots  # a removed PV's disk keeps its slot (a mount may outlive the object)
        pod_of = a.ids["Pod"]
        pods = {t.uid(o) for o in world.cluster.server.peek_all(t.POD)}
        attached = sorted((pv_of.get(d.id, d.id), node) for d in backend.disks.values() if d.exists and d.kind == "cloud"
                          for node in d.attached)
        staged, mounts, orphans, running = [], [], [], []
        for node, host in backend.hosts.items():
            if not host.powered:  # a machine that is down has nothing mounted or running (the spec's power_off)
                continue
            staged += [(pv_of.get(d, d), node) for d in host.device_mounts]
            for (uid, _), disk in host.pod_mounts.items():  # the mount of a pod whose object is gone: an orphan
                if uid in pods:
                    mounts.append((pod_of.get(uid, uid), node))
                else:
                    orphans.append((pv_of.get(disk, disk), node))
            running += [(pod_of.get(uid, uid), node) for uid in host.running]
        backing = sorted(a.ids["PV"].get(t.uid(o), "") for o in world.cluster.server.peek_all(t.PV)
                         if (d := backend.disks.get(_disk_id(o))) is not None and d.exists)
        adc = world.cluster.adc
        attaching = sorted({(pv_of.get(op.key.volume[len(FAKE_DISK) + 1:], op.key.volume), op.node)
                            for op in (adc.pending.operations if adc is not None else []) if op.name == ATTACH})
        return (("backing", tuple(backing)), ("attaching", tuple(attaching)), ("attached", tuple(sorted(attached))),
                ("staged", tuple(sorted(set(staged)))), ("mounts", tuple(sorted(set(mounts)))),
                ("orphans", tuple(sorted(set(orphans)))), ("running", tuple(sorted(set(running)))))

    # ------------------------------------------------------------ building the initial cluster
    def build(self) -> World:
        nodes = list(self.consts.ids("Node"))
        components = COMPONENTS if "expand_controller" in self.compiled.model.actors else \
            tuple(c for c in COMPONENTS if c != "expand-controller")
        cluster = Cluster(nodes, bugs=self.bugs, components=components)
        abstraction = Abstraction(None)
        abstraction.ids["PVC"].update({f"{NS}/{c}": c for c in self.consts.ids("PVC")})
        abstraction.ids["Node"].update({n: n for n in nodes})
        world = World(cluster, abstraction)
        init = self.states[0]
        self._create_nodes(world, _records(init, "Node"))
        self._create_classes(world, _records(init, "StorageClass"))
        claims = _records(init, "PVC")
        for c, rec in claims.items():
            if rec.get("exists"):
                self._create_claim(world, c, rec)
        for v, rec in _records(init, "PV").items():
            if rec.get("exists"):
                self._create_volume(world, v, rec, claims)
        for p, rec in _records(init, "Pod").items():
            if rec.get("exists"):
                self._create_pod(world, p, rec.get("claim", "none"), rec.get("node", "none"), admit=False,
                                 deleting=bool(rec.get("deleting")))
        self._write_node_status(world, _records(init, "Node"))
        for rec in _records(init, "VolumeAttachment").values():  # what the cloud has attached
            if rec.get("exists") and rec.get("attached"):
                pv = cluster.server.peek(t.PV, "", rec["pv"])
                if pv is not None and "fakeDisk" in pv["spec"]:
                    cluster.backend.attach(_disk_id(pv), rec["node"])
        cluster.start()
        return world

    def _create_nodes(self, world: World, records: dict[str, dict]) -> None:
        for n in self.consts.ids("Node"):
            rec = records.get(n, {})
            if not rec.get("exists"):
                continue
            ready = "True" if rec.get("ready", True) else "False"
            obj: dict[str, Any] = {"kind": t.NODE,
                                   "metadata": {"name": n, "annotations": {t.ANN_CONTROLLER_MANAGED_ATTACH: "true"}},
                                   "status": {"conditions": [{"type": "Ready", "status": ready}]}}
            if rec.get("oos"):
                obj["spec"] = {"taints": [{"key": t.TAINT_OUT_OF_SERVICE, "value": "nodeshutdown", "effect": "NoExecute"}]}
            world.cluster.server.create("admin", obj, admit=False)

    def _create_classes(self, world: World, records: dict[str, dict]) -> None:
        for sc in self.consts.ids("StorageClass"):
            if not records.get(sc, {}).get("exists", True):
                continue
            plugin = self.consts.value("StorageClass", sc, "plugin")
            if plugin == "Local":
                raise ReplayError(f"storage class {sc}: the implementation has no local-volume provisioner")
            provisioner = ({"Attachable": FAKE_DISK, "Shared": "kvolt.io/nfs"}[plugin]
                           if self.consts.value("StorageClass", sc, "provisioner") else "kubernetes.io/no-provisioner")
            world.cluster.server.create("admin", {
                "kind": t.SC, "metadata": {"name": sc}, "provisioner": provisioner,
                "reclaimPolicy": self.consts.value("StorageClass", sc, "reclaim"),
                "volumeBindingMode": self.consts.value("StorageClass", sc, "binding"),
                "allowVolumeExpansion": bool(self.consts.value("StorageClass", sc, "allow_expansion"))}, admit=False)

    def _modes(self, kind: str, oid: str) -> list[str]:
        names = {"RWO": t.RWO, "ROX": "ReadOnlyMany", "RWX": "ReadWriteMany", "RWOP": "ReadWriteOncePod"}
        return [names[m] for m in sorted(self.consts.value(kind, oid, "modes"))]

    def _claim_object(self, c: str, request: int) -> dict:
        return {"apiVersion": "v1", "kind": t.PVC, "metadata": {"name": c, "namespace": NS},
                "spec": {"accessModes": self._modes("PVC", c), "resources": {"requests": {"storage": f"{request}Gi"}},
                         "storageClassName": self.consts.value("PVC", c, "class")}}

    def _create_claim(self, world: World, c: str, rec: dict) -> None:
        obj = self._claim_object(c, int(rec.get("request") or self.consts.value("PVC", c, "size")))
        meta, spec = obj["metadata"], obj["spec"]
        meta["finalizers"] = [_api_finalizer(f) for f in _norm(rec.get("finalizers", {"#set": []}))]
        annotations: dict[str, str] = {}
        if rec.get("bind_completed"):
            annotations[t.ANN_BIND_COMPLETED] = "yes"
        if rec.get("provisioning"):
            annotations[t.ANN_STORAGE_PROVISIONER] = self._provisioner_of(c)
        if rec.get("selected_node", "none") != "none":
            annotations[t.ANN_SELECTED_NODE] = rec["selected_node"]
        meta["annotations"] = annotations
        if rec.get("volume", "none") != "none":
            spec["volumeName"] = rec["volume"]
        status: dict[str, Any] = {"phase": rec.get("phase", "Pending")}
        if rec.get("capacity"):
            status["capacity"] = {"storage": f"{rec['capacity']}Gi"}
        if rec.get("allocated"):
            status["allocatedResources"] = {"storage": f"{rec['allocated']}Gi"}
        obj["status"] = status
        created = world.cluster.server.create("admin", obj, admit=False)
        world.abstraction.claim_uids[t.uid(created)] = int(rec.get("uid") or 0)
        if rec.get("deleting"):
            world.cluster.server.delete("user", t.PVC, NS, c)

    def _provisioner_of(self, c: str) -> str:
        sc = self.consts.value("PVC", c, "class")
        return {"Attachable": FAKE_DISK, "Shared": "kvolt.io/nfs"}.get(self.consts.value("StorageClass", sc, "plugin"), "")

    def _volume_source(self, world: World, v: str, size: int) -> dict:
        plugin = self.consts.plugin(v)
        if plugin == "Attachable":
            disk = f"disk-{v}"
            world.cluster.backend.create_disk(disk, "cloud", size * GI)
            return {"fakeDisk": {"diskID": disk}}
        if plugin == "Shared":
            world.cluster.backend.create_disk(f"nfs:/exports/{v}", "nfs", size * GI)
            return {"nfs": {"server": "nfs", "path": f"/exports/{v}"}}
        raise ReplayError(f"volume {v}: the implementation has no local volumes")

    def _volume_object(self, world: World, v: str, capacity: int) -> dict:
        return {"apiVersion": "v1", "kind": t.PV, "metadata": {"name": v, "annotations": {}},
                "spec": {"capacity": {"storage": f"{capacity}Gi"}, "accessModes": self._modes("PV", v),
                         "persistentVolumeReclaimPolicy": self.consts.value("PV", v, "reclaim"),
                         "storageClassName": self.consts.value("PV", v, "class"),
                         **self._volume_source(world, v, capacity)}}

    def _create_volume(self, world: World, v: str, rec: dict, claims: dict[str, dict]) -> None:
        obj = self._volume_object(world, v, int(rec.get("capacity") or self.consts.value("PV", v, "size")))
        meta = obj["metadata"]
        meta["finalizers"] = [_api_finalizer(f) for f in _norm(rec.get("finalizers", {"#set": []}))
                              if f in ("pv_protection", "pv_controller")]
        if rec.get("bound_by_controller"):
            meta["annotations"][t.ANN_BOUND_BY_CONTROLLER] = "yes"
        if rec.get("provisioned"):
            meta["annotations"][t.ANN_DYNAMICALLY_PROVISIONED] = self._provisioner_of_volume(v)
        claim = rec.get("claim", "none")
        if claim != "none":
            api_uid = next((u for u, n in world.abstraction.claim_uids.items() if n == rec.get("claim_uid")), "")
            if not api_uid and rec.get("claim_uid"):  # a claim incarnation already gone (a Released volume)
                api_uid = f"uid-gone-{rec['claim_uid']}"
                world.abstraction.claim_uids[api_uid] = int(rec["claim_uid"])
            obj["spec"]["claimRef"] = {"kind": t.PVC, "namespace": NS, "name": claim, "uid": api_uid}
        obj["status"] = {"phase": rec.get("phase", "Pending")}
        created = world.cluster.server.create("admin", obj, admit=False)
        world.abstraction.ids["PV"][t.uid(created)] = v
        if rec.get("deleting"):
            world.cluster.server.delete("user", t.PV, "", v)

    def _provisioner_of_volume(self, v: str) -> str:
        sc = self.consts.value("PV", v, "class")
        return {"Attachable": FAKE_DISK, "Shared": "kvolt.io/nfs"}.get(self.consts.value("StorageClass", sc, "plugin"), "")

    def _create_pod(self, world: World, p: str, claim: str, node: str, admit: bool = True,
                    deleting: bool = False) -> None:
        n = world.incarnations.get(p, 0) + 1
        world.incarnations[p] = n
        name = p if n == 1 else f"{p}-{n}"
        obj: dict[str, Any] = {"apiVersion": "v1", "kind": t.POD, "metadata": {"name": name, "namespace": NS},
                               "spec": {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
                                        if claim != "none" else []}}
        if node != "none":
            obj["spec"]["nodeName"] = node
        created = world.cluster.server.create("user" if admit else "admin", obj, admit=admit)
        world.abstraction.ids["Pod"][t.uid(created)] = p
        world.abstraction.pod_names[t.uid(created)] = name
        world.pod_names[p] = name
        if deleting:
            world.cluster.server.delete("user", t.POD, NS, name)

    def _write_node_status(self, world: World, records: dict[str, dict]) -> None:
        """volumesInUse and volumesAttached of the initial state (written as the kubelet and the ADC had)."""
        for n, rec in records.items():
            if not rec.get("exists"):
                continue
            in_use = [self._unique(world, v) for v in _norm(rec.get("in_use", {"#set": []}))]
            attached = [self._unique(world, v) for v in _norm(rec.get("attached", {"#set": []}))]
            if not in_use and not attached:
                continue

            def mutate(obj: dict, in_use: list = in_use, attached: list = attached) -> None:
                status = obj.setdefault("status", {})
                status["volumesInUse"] = in_use
                status["volumesAttached"] = [{"name": u, "devicePath": ""} for u in attached]
            world.cluster.server.patch("admin", t.NODE, "", n, mutate, subresource="status")

    def _unique(self, world: World, v: str) -> str:
        obj = world.cluster.server.peek(t.PV, "", v)
        if obj is None or "fakeDisk" not in obj["spec"]:
            raise ReplayError(f"initial state: volume {v} is reported on a node but is not an attachable volume")
        return f"{FAKE_DISK}/{obj['spec']['fakeDisk']['diskID']}"

    # ------------------------------------------------------------ environment actions
    def perform(self, world: World, action: str, params: dict[str, Any], target: Projection) -> None:
        with contextlib.suppress(APIError):  # refused: the state comparison reports what did not happen
            self._perform(world, action, params, target, world.cluster.server)

    def _perform(self, world: World, action: str, p: dict[str, Any], target: Projection, server: Any) -> None:
        if action == "user.create_claim":
            c = p["c"]
            created = server.create("user", self._claim_object(c, int(self.consts.value("PVC", c, "size"))))
            world.abstraction.claim_uids[t.uid(created)] = int(dict(target[("PVC", c)]).get("uid") or 0)
        elif action == "user.delete_claim":
            server.delete("user", t.PVC, NS, p["c"])
        elif action == "user.resize_claim":
            obj = server.get("user", t.PVC, NS, p["c"])
            obj["spec"]["resources"]["requests"]["storage"] = f"{p['size']}Gi"
            server.update("user", obj)
        elif action == "user.create_pod":
            self._create_pod(world, p["p"], p["c"], "none")
        elif action == "user.delete_pod":
            server.delete("user", t.POD, NS, world.pod_names.get(p["p"], p["p"]))
        elif action == "user.create_volume":
            v = p["v"]
            created = server.create("admin", self._volume_object(world, v, int(self.consts.value("PV", v, "size"))))
            world.abstraction.ids["PV"][t.uid(created)] = v
        elif action == "user.delete_volume":
            server.delete("admin", t.PV, "", self._pv_name(world, p["v"]))
        elif action == "user.admin_clear_claim_ref":
            obj = server.get("admin", t.PV, "", self._pv_name(world, p["v"]))
            obj["spec"].pop("claimRef", None)
            t.remove_annotation(obj, t.ANN_BOUND_BY_CONTROLLER)
            server.update("admin", obj)
        elif action == "scheduler.schedule":
            def bind(obj: dict, node: str = p["n"]) -> None:
                obj["spec"]["nodeName"] = node
            server.patch("scheduler", t.POD, NS, world.pod_names.get(p["p"], p["p"]), bind)
        elif action in ("admin.force_delete_pod", "pod_gc.collect"):
            actor = "admin" if action.startswith("admin") else "pod-gc"
            server.delete(actor, t.POD, NS, world.pod_names.get(p["p"], p["p"]), grace_seconds=0)
        elif action in ("admin.taint_out_of_service", "admin.remove_out_of_service"):
            self._taint(server, p["n"], action.endswith("taint_out_of_service"))
        elif action == "machine.power_off":
            node = self.host_node[p["h"]]
            world.cluster.backend.power_off(node)
            world.cluster.kubelets.pop(node, None)
        elif action == "machine.power_on":
            node = self.host_node[p["h"]]
            world.cluster.backend.power_on(node)
            world.cluster.start_kubelet(node)
        elif action == "node_lifecycle.mark_not_ready":
            def not_ready(obj: dict) -> None:
                conds = [c for c in obj.get("status", {}).get("conditions") or [] if c.get("type") != "Ready"]
                obj.setdefault("status", {})["conditions"] = [*conds, {"type": "Ready", "status": "False"}]
            server.patch("node-lifecycle-controller", t.NODE, "", p["n"], not_ready, subresource="status")
        elif action == "kubelet.restart":
            world.cluster.start_kubelet(self.host_node[p["h"]])
        else:
            raise ReplayError(f"no implementation counterpart for the environment action {action}")

    def _object_key(self, world: World, kind: str, slot: str) -> str:
        """The API key (namespace/name) of the object in a spec slot."""
        if kind == "PV":
            return self._pv_name(world, slot)
        if kind == "Pod":
            return f"{NS}/{world.pod_names.get(slot, slot)}"
        return f"{NS}/{slot}" if kind == "PVC" else slot

    @staticmethod
    def _pv_name(world: World, slot: str) -> str:
        """The name of the PV object in a slot (provisioned PVs are named pvc-<claim uid>)."""
        ids = world.abstraction.ids["PV"]
        return next((t.name(o) for o in world.cluster.server.peek_all(t.PV) if ids.get(t.uid(o)) == slot), slot)

    @staticmethod
    def _taint(server: Any, node: str, on: bool) -> None:
        def mutate(obj: dict) -> None:
            taints = [x for x in obj.get("spec", {}).get("taints") or [] if x.get("key") != t.TAINT_OUT_OF_SERVICE]
            if on:
                taints.append({"key": t.TAINT_OUT_OF_SERVICE, "value": "nodeshutdown", "effect": "NoExecute"})
            obj.setdefault("spec", {})["taints"] = taints
        server.patch("admin", t.NODE, "", node, mutate)

    # ------------------------------------------------------------ the search
    def run(self) -> ReplayResult:
        world = self.build()
        self.live = Sandbox(world, self)
        self.checkpoint = clone(world)
        self.log: list[tuple[tuple, Projection, Projection]] = []
        reports: list[StepReport] = []
        moves = self._settle(self.targets[0])
        if moves is None:
            return self._failure(0, "init", {}, reports, "the implementation cannot be brought to the initial state")
        reports.append(StepReport(0, "init", {}, moves, True))
        for index in range(1, len(self.states)):
            state = self.states[index]
            action, params = str(state.get(ACTION_KEY, "")), dict(state.get(PICKS_KEY, {}))
            current, target = self.targets[index - 1], self.targets[index]
            sync = SYNC.fullmatch(action)
            if sync is not None and sync.group(1) in COMPONENT:
                move = ("sync", COMPONENT[sync.group(1)], API_KIND[sync.group(2)],
                        self._object_key(self.live.world, sync.group(2), str(params.get("obj"))))
                self._commit(move, current, target)
                moves = [_describe(move)]
                if self.live.projection(target) != target:
                    return self._failure(index, action, params, reports, "the cache refresh changed the state")
            elif action in ENVIRONMENT:
                self._commit(("env", action, tuple(sorted(params.items()))), current, target)
                moves = [f"{action} (performed)"]
                reaction = self._reaction(action, params, target)
                if reaction is None:
                    return self._failure(index, action, params, reports,
                                         "the implementation's state after this action differs from the trace's")
                moves += reaction
            elif target == current:
                moves = []  # invisible here: realised, if at all, by the hidden steps of a later visible change
            else:
                self.setup_hint = self._setup_hint(index, action, params)
                self.pod_hint = self._pod_hint(action, params)
                try:
                    found = self._search(current, target, self._actors(action, params),
                                         self._node_hint(index, params))
                finally:
                    self.setup_hint = self.pod_hint = None
                if found is None:
                    return self._failure(index, action, params, reports,
                                         "no sequence of implementation steps reaches this state")
                moves = found
            reports.append(StepReport(index, action, params, moves, True))
            self._finish_fibers(target)
        if self.loop is not None:
            left = self._leaves_cycle(self.loop)
            if left is not None:
                move, actual = left
                last = len(self.states) - 1
                reports[-1] = StepReport(last, reports[-1].action, reports[-1].params, reports[-1].moves, False)
                message = (f"the trace's cycle (states {self.loop} to {last}) repeats forever, but the implementation "
                           f"leaves it: {move}")
                return self._finish(ReplayResult(self.name, False, reports, last, message,
                                                 diff(self.targets[last], actual)))
        return self._finish(ReplayResult(self.name, True, reports))

    def _leaves_cycle(self, loop: int) -> tuple[str, Projection] | None:
        """A lasso claims that its cycle repeats forever. Left to itself from the cycle's last state
        (every component's moves and time passing, no environment action), does the implementation
        reach a state outside the cycle's? Returns the move that does and the state it reaches;
        None when every move it has keeps it inside the cycle, or changes nothing, until none is left."""
        cycle = self.targets[loop:]
        here = cycle[-1]
        seen = {self.live.signature()}
        jumps = 0
        for count in range(MAX_SETTLE_MOVES):
            chosen = None
            if count % JUMP_EVERY == 0 and jumps < MAX_JUMPS:  # heartbeats never run out: time passes regularly
                jumps += 1
                chosen = ("jump",)
            for move in self._moves(self.live, None) if chosen is None else ():
                trial = self._sandbox([(move, here, here)], self.live)
                signature = trial.signature()
                if signature not in seen:
                    seen.add(signature)
                    chosen = move
                    break
            if chosen is None and jumps < MAX_JUMPS:  # nothing left to do now: let a long time pass
                jumps += 1
                chosen = ("jump",)
            if chosen is None:
                return None
            self._commit(chosen, here, here)
            state = self.live.projection(here)
            if state not in cycle:
                return _describe(chosen), state
            here = state
        return None

    def _reaction(self, action: str, params: dict[str, Any], target: Projection) -> list[str] | None:
        """What the machine's kubelet does at once in answer to an environment action the spec folds
        it into (a force delete: the containers of the removed pod are killed), searched among that
        kubelet's own moves only; [] when the action alone reaches the trace's state, None when
        nothing does."""
        after = self.live.projection(target)
        if after == target:
            return []
        node = self.host_node.get(str(params.get("h", "")), "")
        if action not in KUBELET_REACTS or not node or node not in self.live.cluster.kubelets:
            return None
        return self._search(after, target, (f"kubelet@{node}",), only=True)

    def _finish_fibers(self, state: Projection) -> None:
        """Let steps paused after their last visible write run to their end now, where that changes
        nothing compared (so that the world can be copied again without re-running steps)."""
        for lane in list(self.live.fibers):
            trial = self._sandbox([(("resume", lane), state, state)])
            if trial.outcome != "off" and lane not in trial.fibers:
                self._commit(("resume", lane), state, state)

    def _node_hint(self, index: int, params: dict[str, Any]) -> str | None:
        """The node a step is about: its Node parameter, or its VolumeAttachment's node."""
        if params.get("n", "none") != "none":
            return str(params["n"])
        attachment = params.get("a")
        for state in (self.states[index], self.states[index - 1]):
            record = _records(state, "VolumeAttachment").get(str(attachment), {})
            if record.get("node", "none") != "none":
                return str(record["node"])
        return None

    def _setup_hint(self, index: int, action: str, params: dict[str, Any]) -> tuple[str, str] | None:
        """For a kubelet's step: its node and the pod the trace sets up next there (this step's or
        a later one's kubelet.setup), which its reconciler may meet first (`_pod_first`)."""
        if not action.startswith("kubelet.") or str(params.get("h", "")) not in self.host_node:
            return None
        host = str(params["h"])
        for state in self.states[index:]:
            picks = dict(state.get(PICKS_KEY, {}))
            if state.get(ACTION_KEY) == "kubelet.setup" and str(picks.get("h", "")) == host:
                return str(self.host_node[host]), str(picks.get("p", ""))
        return None

    def _pod_hint(self, action: str, params: dict[str, Any]) -> tuple[str, str] | None:
        """For a kubelet's step about one pod's termination (its containers stopped, its object
        deleted): the node and the pod, whose worker alone may run (`_pod_only`)."""
        if action not in POD_WORKER_ACTIONS or str(params.get("h", "")) not in self.host_node:
            return None
        return str(self.host_node[str(params["h"])]), str(params.get("p", ""))

    def _pod_only(self, sandbox: Sandbox, actors: tuple[str, ...] | None) -> list[tuple]:
        """The kubelet's pod workers (when next due) with only the pod of `pod_hint` synced: upstream
        runs one worker per pod, so two pods being deleted on one node are stopped (and their objects
        deleted) one at a time, in either order, where the implementation's pass does both."""
        hinted = self._hinted_pod(sandbox, actors, self.pod_hint)
        if hinted is None or hinted[1] is None:
            return []
        kubelet, uid = hinted
        return [("pod-only", f"{kubelet.name} pod-sync", uid)]

    @staticmethod
    def _hinted_pod(sandbox: Sandbox, actors: tuple[str, ...] | None,
                    hint: tuple[str, str] | None) -> tuple[Any, str | None] | None:
        """The kubelet of a hint's node (None when it is not one of `actors`) and the uid of its pod."""
        if hint is None:
            return None
        node, slot = hint
        kubelet = sandbox.cluster.kubelets.get(node)
        if kubelet is None or (actors is not None and kubelet.name not in actors):
            return None
        name = sandbox.world.pod_names.get(slot)
        return kubelet, next((u for u, n in sandbox.world.abstraction.pod_names.items() if n == name), None)

    def _pod_first(self, sandbox: Sandbox, actors: tuple[str, ...] | None) -> list[tuple]:
        """The kubelet's reconciler (when next due) meeting the pod of `setup_hint` first, where that
        pod has a volume still to mount whose operations are keyed by the volume alone (attachable
        or device-mountable): of pods sharing such a volume, the pod met first gets its one
        operation (device mount and set-up), so the order decides which pod is set up first.
        Tried before the kubelet's other steps, also where the pod is met first anyway (then it is
        the plain pass, tried early, so that reconcile, mount, start the containers fits in the
        breadth-first search's budget)."""
        hinted = self._hinted_pod(sandbox, actors, self.setup_hint)
        if hinted is None:
            return []
        kubelet, uid = hinted
        dsw, asw = kubelet.dsw, kubelet.asw
        for volume, vtm in sorted(dsw.pods.get(uid or "", {}).items()):
            if (vtm.plugin.attachable or vtm.plugin.device_mountable) \
                    and asw.pod_mount_state(volume, vtm.pod_uid) != "Mounted":
                return [("pod-first", f"{kubelet.name} reconcile", uid)]
        return []

    def _actors(self, action: str, params: dict[str, Any]) -> tuple[str, ...]:
        actor = action.split(".", 1)[0]
        if actor == "kubelet":
            node = self.host_node.get(str(params.get("h", "")), "")
            return (f"kubelet@{node}",) if node else ()
        return (COMPONENT[actor],) if actor in COMPONENT else ()

    def _commit(self, move: tuple, current: Projection, target: Projection) -> str:
        outcome = self.live.apply(move, current, target)
        self.log.append((move, current, target))
        if not self.live.fibers:
            self.checkpoint = clone(self.live.world)
            self.log = []
        return outcome

    def _sandbox(self, path: list[tuple], parent: Sandbox | None = None) -> Sandbox:
        """A copy of the live world with `path` (moves, each with its current and target) applied:
        copied from `parent` (the world after all moves of `path` but the last) when no step is in
        flight there, else rebuilt from the last checkpoint by running the moves again."""
        if parent is not None and not parent.fibers:
            sandbox = Sandbox(clone(parent.world), self)
            sandbox.apply(*path[-1])
            return sandbox
        if not self.live.fibers and not path:
            return Sandbox(clone(self.live.world), self)
        sandbox = Sandbox(clone(self.checkpoint), self)
        for move, current, target in [*self.log, *path]:
            sandbox.apply(move, current, target)
        return sandbox

    def _moves(self, sandbox: Sandbox, actors: tuple[str, ...] | None, hint: str | None = None,
               stale_first: bool = False) -> list[tuple]:
        """Candidate moves in the order they are tried: the acting component's fibers in flight,
        its informers catching up, its other steps (the attach/detach reconciler also with the
        node the trace names first, `hint`; a kubelet's reconciler also with the pod the trace sets
        up next first, `_pod_first`; its pod workers also for the one pod the step is about,
        `_pod_only`), single watch events, then time passing (`actors` None: every component's)."""
        def mine(actor: str) -> bool:
            return actors is None or actor in actors
        now = sandbox.cluster.clock.now_ms
        informers = [i for i in sandbox.cluster.informers() if mine(i.owner) and i.deliverable(now)]
        steps = sandbox.candidates()
        own = [s for s in steps if s.action != "deliver_event" and mine(s.actor)]
        reconcile = any(s.action == "adc_reconcile" for s in own)
        hinted = [("reconcile-from", hint)] if reconcile and hint in sandbox.cluster.nodes else []
        others = [("reconcile-from", n) for n in sandbox.cluster.nodes[1:] if reconcile and n != hint]
        hinted += self._pod_first(sandbox, actors) + self._pod_only(sandbox, actors)
        single = [("start", s.name) for s in steps if s.action == "deliver_event" and mine(s.actor)
                  and _pending_events(sandbox, s) > 1]
        waits = [("wait", loop) for loop, due in sorted(sandbox.cluster.due.items())
                 if due > now and _loop_actor(loop) is not None and mine(str(_loop_actor(loop)))]
        resume = [("resume", lane) for lane, actor in sandbox.fiber_actors.items() if mine(actor)]
        catch_up = [("catch-up", i.name) for i in informers]
        if stale_first:  # one watch event at a time before whole catch-ups: a decision on a stale cache
            return [*resume, *single, *hinted, *[("start", s.name) for s in own], *others, *catch_up, *waits, ("tick",)]
        return [*resume, *catch_up, *hinted, *[("start", s.name) for s in own], *others, *single, *waits, ("tick",)]

    def _search(self, current: Projection, target: Projection, actors: tuple[str, ...] | None,
                hint: str | None = None, only: bool = False) -> list[str] | None:
        """Implementation moves whose last one makes the state the target and whose others change
        nothing compared: first every short sequence of the acting component's moves (breadth-first,
        so a stale cache is used where the trace used one), then greedily longer ones (the acting
        component's, then everyone's, unless `only`), each round taking the first move that changes
        something."""
        scopes = (actors,) if actors and only else (actors, None) if actors else (None,)
        path = self._bfs(current, target, scopes[0], hint)
        for scope in scopes:
            for stale_first in (False, True):
                if path is None:
                    path = self._greedy(current, target, scope, hint, stale_first=stale_first)
        if path is None and actors and not only:
            path = self._assisted(current, target, actors, hint)
        if path is None:
            return None
        for move, move_current, move_target in path:
            self._commit(move, move_current, move_target)
        return [_describe(move) for move, _, _ in path]

    def _bfs(self, current: Projection, target: Projection, actors: tuple[str, ...] | None,
             hint: str | None) -> list[tuple[tuple, Projection, Projection]] | None:
        root = self._sandbox([])
        seen = {root.signature()}
        frontier: list[tuple[list[tuple[tuple, Projection, Projection]], Sandbox]] = [([], root)]
        trials = 0
        for _ in range(BFS_DEPTH):
            next_frontier = []
            for path, sandbox in frontier:
                for move in self._moves(sandbox, actors, hint):
                    trials += 1
                    child_path = [*path, (move, current, target)]
                    child = self._sandbox(child_path, sandbox)
                    outcome = child.outcome
                    if outcome == "goal":
                        return child_path
                    if outcome in ("hidden", "partial"):
                        signature = child.signature()
                        if signature not in seen:
                            seen.add(signature)
                            next_frontier.append((child_path, child))
                    if trials >= min(self.max_moves, BFS_BUDGET):
                        return None
            frontier = next_frontier
        return None

    def _assisted(self, current: Projection, target: Projection, actors: tuple[str, ...],
                  hint: str | None) -> list[tuple[tuple, Projection, Projection]] | None:
        """One hidden step of another component first (a kubelet's status write the controller must
        see, ...), then the acting component's moves, greedily."""
        root = self._sandbox([])
        own = set(self._moves(root, actors, hint))
        for move in self._moves(root, None, hint):
            if move in own:
                continue
            first = [(move, current, target)]
            helped = self._sandbox(first, root)
            if helped.outcome in ("hidden", "partial"):
                path = self._greedy(current, target, actors, hint, first, helped)
                if path is not None:
                    return path
        return None

    def _greedy(self, current: Projection, target: Projection, actors: tuple[str, ...] | None, hint: str | None,
                start: list[tuple[tuple, Projection, Projection]] | None = None, sandbox: Sandbox | None = None,
                stale_first: bool = False) -> list[tuple[tuple, Projection, Projection]] | None:
        path = list(start or [])
        sandbox = sandbox or self._sandbox([])
        seen = {sandbox.signature()}
        trials = 0
        for _ in range(MAX_DEPTH):
            chosen: tuple[tuple, Sandbox] | None = None
            for move in self._moves(sandbox, actors, hint, stale_first):
                trials += 1
                child = self._sandbox([*path, (move, current, target)], sandbox)
                outcome = child.outcome
                if outcome == "goal":
                    return [*path, (move, current, target)]
                if outcome in ("hidden", "partial") and chosen is None:
                    signature = child.signature()
                    if signature not in seen:
                        seen.add(signature)
                        chosen = (move, child)
                if trials >= self.max_moves:
                    return None
            if chosen is None:
                return None
            path.append((chosen[0], current, target))
            sandbox = chosen[1]
        return None

    def _settle(self, target: Projection) -> list[str] | None:
        """From the objects of the initial state, the hidden steps that bring the implementation's
        memory and the physical world to the initial state (a kubelet that has mounted, ...): greedily,
        any move that keeps the API objects as they are and adds only physical facts the initial
        state has, until the state is the initial state."""
        moves: list[str] = []
        seen = {self.live.signature()}
        for _ in range(MAX_SETTLE_MOVES):
            if self.live.projection(target) == target:
                return moves
            chosen = None
            for move in self._moves(self.live, None):
                sandbox = self._sandbox([(move, target, target)], self.live)
                if _towards(sandbox.projection(target), target):
                    signature = sandbox.signature()
                    if signature not in seen:
                        seen.add(signature)
                        chosen = move
                        break
            if chosen is None:
                break
            self._commit(chosen, target, target)
            moves.append(_describe(chosen))
        return moves if self.live.projection(target) == target else None

    # ------------------------------------------------------------ outcome
    def _failure(self, index: int, action: str, params: dict[str, Any], reports: list[StepReport],
                 message: str) -> ReplayResult:
        actual = self.live.projection(self.targets[index]) if hasattr(self, "live") else {}
        reports.append(StepReport(index, action, params, [], False))
        return self._finish(ReplayResult(self.name, False, reports, index, message, diff(self.targets[index], actual)))

    def _finish(self, result: ReplayResult) -> ReplayResult:
        """The implementation's own monitors, and the trace's violated property judged on it."""
        result.monitors = [f"{v.monitor}: {v.message}" for v in self.live.cluster.backend.violations]
        result.property = self.violated
        if self.violated is not None and result.ok:
            check = PROPERTIES.get(self.violated)
            if check is not None:
                result.property_detail = check(self.live.world)
                result.property_reached = bool(result.property_detail)
        return result


# cached fields a spec actor never reads from its cache (it writes them, and reads them live)
UNREAD_CACHED = {("attach-detach-controller", t.NODE): {"attached"}}


def _unread(key: tuple[str, str], record: tuple[tuple[str, Any], ...] | None) -> tuple[tuple[str, Any], ...] | None:
    skip = UNREAD_CACHED.get(key)
    return record if record is None or not skip else tuple((k, v) for k, v in record if k not in skip)


def _loop_actor(loop: str) -> str | None:
    """The component a periodic loop (a key of Cluster.due) belongs to."""
    if loop.startswith("adc "):
        return "attach-detach-controller"
    if loop.startswith("kubelet@"):
        return loop.split(" ", 1)[0]
    return None


def _pending_events(sandbox: Sandbox, step: Step) -> int:
    informer = next((i for i in sandbox.cluster.informers() if step.name == f"deliver {i.name}"), None)
    if informer is None:
        return 0
    events = sandbox.cluster.server.events
    return sum(1 for e in events[informer.cursor:] if e.kind == informer.kind)


def _between(state: Projection, current: Projection, target: Projection) -> bool:
    """Every compared value is the current one or the target's (sets: between the two), so the
    state is on the way from one to the other: where the spec folds several implementation steps
    into one action (kubelet.setup mounts the volume and starts the containers), the steps in
    between pass through such states."""
    for key, fields in state.items():
        now, before, after = dict(fields), dict(current.get(key, ())), dict(target.get(key, ()))
        if set(now) != set(before) and set(now) != set(after):
            return False
        for name, value in now.items():
            if value in (before.get(name), after.get(name)):
                continue
            if key[0] == PHYSICAL:
                low = set(before.get(name, ())) & set(after.get(name, ()))
                high = set(before.get(name, ())) | set(after.get(name, ()))
                if low <= set(value) <= high:
                    continue
            return False
    return True


def _towards(state: Projection, target: Projection) -> bool:
    """The API objects are the target's, and every physical fact is one the target has."""
    for key, fields in state.items():
        if key[0] != PHYSICAL:
            if fields != target.get(key):
                return False
            continue
        wanted = dict(target.get(key, ()))
        if any(not set(value) <= set(wanted.get(name, ())) for name, value in fields):
            return False
    return True


def _describe(move: tuple) -> str:
    if move[0] == "start":
        return move[1]
    if move[0] == "resume":
        return f"{move[1]} (continued)"
    if move[0] == "tick":
        return "time passes"
    if move[0] == "jump":
        return f"{LONG_WAIT_MS // 60000} minutes pass"
    if move[0] == "reconcile-from":
        return f"adc reconcile ({move[1]}'s volumes first)"
    if move[0] == "pod-first":
        return f"{move[1]} (pod {move[2]}'s volumes first)"
    if move[0] == "pod-only":
        return f"{move[1]} (pod {move[2]} only)"
    if move[0] == "catch-up":
        return f"{move[1]} informer catches up"
    if move[0] == "sync":
        return f"{move[1]}:{move[2]} informer delivers {move[3]}"
    if move[0] == "wait":
        return f"{move[1]} (when next due)"
    return f"{move[1]} (performed)"


def _disk_id(pv: dict[str, Any]) -> str:
    """The backend disk behind a PV (as the plugins name it)."""
    spec = pv.get("spec", {})
    if "fakeDisk" in spec:
        return str(spec["fakeDisk"].get("diskID", ""))
    if "nfs" in spec:
        return f"nfs:{spec['nfs'].get('path', '')}"
    return ""


def _api_finalizer(name: str) -> str:
    return {"pvc_protection": t.PVC_PROTECTION_FINALIZER, "pv_protection": t.PV_PROTECTION_FINALIZER,
            "pv_controller": t.PV_DELETION_PROTECTION_FINALIZER}.get(name, name)


# ---------------------------------------------------------------- properties judged on the implementation


def _removed_claim_in_use(world: World) -> str:
    server = world.cluster.server
    for pod in server.peek_all(t.POD):
        for _, claim in t.pod_claim_names(pod):
            if t.pod_node(pod) and server.peek(t.PVC, t.namespace(pod), claim) is None:
                return f"pod {t.key(pod)} on {t.pod_node(pod)} uses claim {t.namespace(pod)}/{claim}, which is gone"
    return ""


def _double_attach(world: World) -> str:
    server, backend = world.cluster.server, world.cluster.backend
    for pv in server.peek_all(t.PV):
        disk = backend.disks.get(_disk_id(pv))
        if disk is not None and disk.kind == "cloud" and len(disk.attached) > 1 and not t.is_multi_attach_allowed(pv):
            return f"disk {disk.id} of {t.name(pv)} ({', '.join(t.access_modes(pv))}) is attached to {', '.join(disk.attached)}"
    return ""


def _running_pod_unmounted(world: World) -> str:
    server = world.cluster.server
    pods = {t.uid(p): p for p in server.peek_all(t.POD)}
    for node, host in world.cluster.backend.hosts.items():
        mounted = {uid for uid, _ in host.pod_mounts}
        for uid in host.running:
            pod = pods.get(uid)
            if pod is not None and t.deletion_timestamp(pod) is None and t.pod_claim_names(pod) and uid not in mounted:
                return f"pod {t.key(pod)} runs on {node} but its volume is no longer mounted there"
    return ""


def _expansion_beyond_allocation(world: World) -> str:
    server = world.cluster.server
    for claim in server.peek_all(t.PVC):
        status = claim.get("status", {})
        recorded = max(t.parse_quantity((status.get("capacity") or {}).get("storage") or 0),
                       t.parse_quantity((status.get("allocatedResources") or {}).get("storage") or 0))
        pv = server.peek(t.PV, "", claim.get("spec", {}).get("volumeName") or "")
        if pv is not None and t.is_volume_bound_to_claim(pv, claim) and t.pv_capacity(pv) > recorded:
            return (f"volume {t.name(pv)} holds {t.pv_capacity(pv) // GI}Gi but claim {t.key(claim)} records only "
                    f"{recorded // GI}Gi (capacity or allocatedResources): quota charges less than the backend holds")
    return ""


def _detached_while_mounted(world: World) -> str:
    fired = [v for v in world.cluster.backend.violations if v.monitor == "detached-while-mounted"]
    return fired[0].message if fired else ""


# spec invariant -> the same property judged on the implementation's API objects and physical world
PROPERTIES: dict[str, Callable[[World], str]] = {
    "claim_not_removed_while_in_use": _removed_claim_in_use,
    "single_attach": _double_attach,
    "running_pod_keeps_volume": _running_pod_unmounted,
    "quota_covers_expansion": _expansion_beyond_allocation,
    "no_detach_while_mounted": _detached_while_mounted,
}


# the kinds (and their constants) the replay builds the implementation's objects from: the
# volume-lifecycle spec's (spec/volume_lifecycle.kvolt and its variants)
NEEDED_CONSTANTS: dict[str, tuple[str, ...]] = {
    "PV": ("class", "modes", "size", "reclaim"), "PVC": ("class", "modes", "size"), "Pod": (), "Node": (),
    "StorageClass": ("plugin", "provisioner", "reclaim", "binding", "allow_expansion")}


def check_spec(compiled: CompiledModel) -> None:
    """The spec must have the implementation's kinds; else ReplayError naming what is missing."""
    kinds = {k.name: k for k in compiled.spec.kinds}
    missing = [k for k in NEEDED_CONSTANTS if k not in kinds]
    missing += [f"{k}.{f}" for k, fields in NEEDED_CONSTANTS.items() if k in kinds
                for f in fields if f not in {c.name for c in kinds[k].const_fields}]
    if missing:
        raise ReplayError(f"spec {compiled.spec.file} has no {', '.join(missing)}: replay drives the implementation, "
                          f"whose objects are the volume-lifecycle spec's ({', '.join(NEEDED_CONSTANTS)}); replay a "
                          f"trace of spec/volume_lifecycle.kvolt, of one of its variants, or of spec/conformance.kvolt")


def replay(compiled: CompiledModel, document: dict[str, Any], bugs: frozenset[str] = frozenset(),
           name: str = "trace", max_moves: int = MAX_MOVES) -> ReplayResult:
    """Replay an ITF document (already validated) on a fresh implementation."""
    check_spec(compiled)
    states = document["states"]
    if not states:
        raise ReplayError("the trace has no states")
    violated = (document.get("#meta", {}).get("violated") or {}).get("property")
    return Replay(compiled, states, bugs, name, max_moves, violated, document.get("loop")).run()


