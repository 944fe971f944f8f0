"""Scenarios in the style of the upstream table-driven tests.

Counterpart of the test drivers in pkg/controller/volume/persistentvolume/framework_test.go
(initial and expected volumes/claims, expected events by prefix, testSyncClaim / testSyncVolume /
runMultisyncTests), pvcprotection's TestPVCProtectionController (initial objects,
informersAreLate, expected client actions) and the attach/detach reconciler tests (DSW/ASW
built from objects, reconciler passes, attach/detach outcomes).

A scenario file (YAML) has: `name`, `upstream` (the case it comes from), `components`, `initial`
(manifests), optional `late_informers`, `steps`, and `expect` with `objects` (partial manifests:
only the fields written are compared), `absent`, `events` (by prefix, in order), `error`,
`actions` (a controller's exact client calls), `attached` (backend truth: disk -> nodes) and
`disks` (backend truth: disk -> size, fs_size, expand_calls). The expand controller is driven
with `sync: {controller: expand-controller[, claim: KEY]}` and, for the operation generator's
unit cases, `expand: {claim: KEY}` (expandAndRecoverFunction on the stored claim and PV).

Plugin injection, as the PV controller's framework_test.go does it: `plugins` replaces the volume
plugins (VolumePluginMgr.InitPlugins): `plugins: {}` leaves none (newTestController), and
`plugins: {mock: {delete: [...], recycle: [...], provision: [...]}}` installs only the mock plugin
(wrapTestWithPluginCalls), each list giving the result of successive calls: `null` for success, a
string for an error with that message; a provision call is `{parameters: {...}, error: ...}`. A
`sync` of the pv-controller then waits for the operations it started, as runSyncTests does, and
`before_operation: [steps]` runs steps when the controller is about to start its operation
(wrapTestWithInjectedOperation). `load` stores an object as given (the test reactor's own writes)
and `cache: {kind, name[, namespace]}` copies the stored object into the PV controller's cache
(ctrl.claims.Add / ctrl.volumes.store.Add). `csi_migration: {plugin: driver, ...}` makes the PV
controller treat those in-tree plugins as migrated to those CSI drivers; the plugin `"*"` stands
for every plugin (the fake manager and translator of wrapTestWithCSIMigrationProvisionCalls).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvolt.impl.api import types as t
from kvolt.impl.api.server import Reactor
from kvolt.impl.cluster import COMPONENTS, Cluster
from kvolt.impl.manifest import Document, ManifestError, check_object, load_document
from kvolt.impl.volume.csimigration import CSIMigratedPluginManager
from kvolt.impl.volume.testing import MockCalls, MockVolumePlugin, ProvisionCall


class ScenarioError(ManifestError):
    """A malformed scenario file (file, line, column)."""


@dataclass
class ScenarioResult:
    name: str
    file: str
    upstream: str
    ok: bool
    mismatches: list[str] = field(default_factory=list)


_TOP = {"name", "upstream", "description", "components", "plugins", "csi_migration", "initial", "late_informers", "steps",
        "expect"}
_EXPECT = {"objects", "absent", "events", "error", "actions", "attached", "disks"}
_STEPS = {"sync", "until", "reconcile", "operations", "populate", "create", "delete", "update", "advance", "inject",
          "handle", "deliver", "node-status", "sync-pods", "expand", "load", "cache"}


def _err(doc: Document, path: tuple, message: str) -> ScenarioError:
    line, column = doc.where(path)
    return ScenarioError(message, doc.file, line, column)


def load_scenario(path: Path) -> Document:
    try:
        return _load_scenario(path)
    except ScenarioError:
        raise
    except ManifestError as error:
        raise ScenarioError(error.message, error.file, error.line, error.column) from None


def _load_scenario(path: Path) -> Document:
    doc = load_document(path)
    data = doc.data
    if not isinstance(data, dict):
        raise _err(doc, (), "a scenario is a mapping with name, upstream, initial, steps and expect")
    for key in data:
        if key not in _TOP:
            raise _err(doc, (key,), f"unknown scenario field {key!r} (expected one of {', '.join(sorted(_TOP))})")
    for key in ("name", "upstream"):
        if not isinstance(data.get(key), str) or not data.get(key):
            raise _err(doc, (key,) if key in data else (), f"a scenario needs {key!r} (a string)")
    for comp in data.get("components") or []:
        if comp not in COMPONENTS:
            raise _err(doc, ("components",), f"unknown component {comp!r} (expected one of {', '.join(COMPONENTS)})")
    for i, _ in enumerate(data.get("initial") or []):
        check_object(doc, ("initial", i))
    for i, step in enumerate(data.get("steps") or []):
        if not isinstance(step, dict) or len(step) != 1 or next(iter(step)) not in _STEPS:
            raise _err(doc, ("steps", i), f"a step is a mapping with one of: {', '.join(sorted(_STEPS))}")
    expect = data.get("expect") or {}
    if not isinstance(expect, dict):
        raise _err(doc, ("expect",), "expect must be a mapping")
    for key in expect:
        if key not in _EXPECT:
            raise _err(doc, ("expect", key), f"unknown expectation {key!r} (expected one of {', '.join(sorted(_EXPECT))})")
    for i, _ in enumerate(expect.get("objects") or []):
        check_object(doc, ("expect", "objects", i), partial=True)
    return doc


def run_scenario(path: Path) -> ScenarioResult:
    doc = load_scenario(path)
    data = doc.data
    components = tuple(data.get("components") or COMPONENTS)
    initial = [t.clone(o) for o in data.get("initial") or []]
    nodes = [t.name(o) for o in initial if o["kind"] == t.NODE]
    cluster = Cluster(nodes, components=components)
    if "plugins" in data:
        cluster.plugins.init_plugins(_plugins(doc, cluster, data["plugins"]))
    for obj in initial:
        cluster.server.load(obj)
        if obj["kind"] == t.PV and "fakeDisk" in obj.get("spec", {}):  # the backing disks exist
            cluster.backend.create_disk(obj["spec"]["fakeDisk"]["diskID"], "cloud", t.pv_capacity(obj))
        elif obj["kind"] == t.PV and "nfs" in obj.get("spec", {}):
            nfs = obj["spec"]["nfs"]
            cluster.backend.create_disk(f"{nfs.get('server', '')}:{nfs.get('path', '')}", "nfs", t.pv_capacity(obj))
    cluster.start()
    if "csi_migration" in data:
        migration = data["csi_migration"]
        if cluster.pv is None or not isinstance(migration, dict) or not all(isinstance(v, str) for v in migration.values()):
            raise _err(doc, ("csi_migration",), "csi_migration maps in-tree plugin names to CSI driver names (pv-controller)")
        cluster.pv.csi_migrated_plugin_manager = CSIMigratedPluginManager(frozenset(migration), tuple(migration.items()))
    for name in data.get("late_informers") or []:
        matches = [inf for inf in cluster.informers() if inf.name == name]
        if not matches:
            raise _err(doc, ("late_informers",), f"no informer named {name!r}")
        matches[0].start_empty_at(len(cluster.server.events))
    action_mark = len(cluster.server.actions)
    event_mark = len(cluster.server.recorded_events)
    errors: list[str] = []
    for i, step in enumerate(data.get("steps") or []):
        errors.extend(_run_step(doc, ("steps", i), cluster, step))
    mismatches = _compare(doc, cluster, data.get("expect") or {}, errors, action_mark, event_mark)
    return ScenarioResult(data["name"], str(path), data["upstream"], not mismatches, mismatches)


def _plugins(doc: Document, c: Cluster, spec: Any) -> list:
    """The plugins a scenario installs: none, or the mock plugin with its configured call results."""
    if not isinstance(spec, dict) or set(spec) - {"mock"}:
        raise _err(doc, ("plugins",), "plugins is {} or {mock: {delete: [...], recycle: [...], provision: [...]}}")
    if "mock" not in spec:
        return []
    mock = spec["mock"] or {}
    for key, calls in mock.items():
        if key not in ("delete", "recycle", "provision") or not isinstance(calls, list):
            raise _err(doc, ("plugins", "mock", key), "mock plugin calls are lists under delete, recycle or provision")
    provision = [ProvisionCall(call.get("parameters"), call.get("error")) for call in mock.get("provision") or []]
    calls = MockCalls(delete=list(mock.get("delete") or []), recycle=list(mock.get("recycle") or []), provision=provision)
    return [MockVolumePlugin(c.backend, calls)]


def _sync_pv_controller(doc: Document, path: tuple, c: Cluster, arg: dict) -> list[str]:
    """testSyncClaim / testSyncVolume, then the operations they started run to completion (runSyncTests)."""
    pv = c.pv
    hook_steps = arg.get("before_operation") or []

    def hook(name: str) -> None:
        pv.pre_operation_hook = None  # once: the injected change happens before the first operation
        for i, step in enumerate(hook_steps):
            _run_step(doc, (*path, "before_operation", i), c, step)
    pv.pre_operation_hook = hook if hook_steps else None
    if "claim" in arg:
        error = pv.test_sync_claim(arg["claim"])
    elif "volume" in arg:
        error = pv.test_sync_volume(arg["volume"])
    else:
        raise _err(doc, path, "sync of pv-controller needs `claim` or `volume`")
    pv.pre_operation_hook = None
    for _ in range(20):  # runningOperations.WaitForCompletion
        pending = pv.operations.pending_ops()
        if not pending:
            break
        for op in pending:
            pv.operations.complete(op)
    return [error] if error else []


def _run_step(doc: Document, path: tuple, c: Cluster, step: dict) -> list[str]:
    (verb, arg), = step.items()
    server = c.server
    if verb == "sync":
        controller = arg.get("controller")
        if controller == "pv-controller" and c.pv is not None:
            return _sync_pv_controller(doc, (*path, "sync"), c, arg)
        if controller == "expand-controller" and c.expand is not None:
            if "claim" in arg:
                error = c.expand.test_sync(arg["claim"])
                return [error] if error else []
            out = []
            for _ in range(50):  # the queue until empty, each controller expansion's response handled at once
                if not c.expand.queue.ready():
                    break
                key, error = c.expand.process_next_work_item()
                if key in c.expand.calls:
                    error = c.expand.complete_call(key)[1]
                if error:
                    out.append(error)
            return out
        ctrl = {"pvc-protection-controller": c.pvc_protection, "pv-protection-controller": c.pv_protection}.get(controller)
        if ctrl is None:
            raise _err(doc, path, f"cannot sync {controller!r} (not a running component)")
        out = []
        for _ in range(50):  # process the queue until empty, waiting out rate-limited requeues
            if not ctrl.queue.ready():
                wake = ctrl.queue.next_ready_ms()
                if wake is None:
                    break
                c.clock.now_ms = wake
                continue
            result = ctrl.process_next_work_item()
            if result and result[1]:
                out.append(result[1])
        return []
    if verb == "until":
        if arg != "quiescent":
            raise _err(doc, path, "`until` takes `quiescent`")
        c.run_until_quiescent()
        return []
    if verb == "deliver":
        for inf in c.informers():
            inf.deliver_all()
        return []
    if verb == "reconcile":
        if arg == "attach-detach" and c.adc is not None:
            c.adc.reconcile()
        elif isinstance(arg, dict) and arg.get("component") == "kubelet" and arg.get("node") in c.kubelets:
            c.kubelets[arg["node"]].reconciler.reconcile()
        else:
            raise _err(doc, path, "reconcile takes `attach-detach` or {component: kubelet, node: NAME}")
        return []
    if verb == "populate":
        if arg == "attach-detach" and c.adc is not None:
            c.adc.populator_pass()
        elif isinstance(arg, dict) and arg.get("node") in c.kubelets:
            c.kubelets[arg["node"]].populator.populate()
        else:
            raise _err(doc, path, "populate takes `attach-detach` or {component: kubelet, node: NAME}")
        return []
    if verb == "node-status":
        c.kubelets[arg["node"]].update_node_status()
        return []
    if verb == "sync-pods":
        c.kubelets[arg["node"]].sync_pods()
        return []
    if verb == "operations":
        pending = c.adc.pending if arg == "attach-detach" and c.adc is not None else \
            c.kubelets[arg["node"]].pending if isinstance(arg, dict) and arg.get("node") in c.kubelets else None
        if pending is None:
            raise _err(doc, path, "operations takes `attach-detach` or {component: kubelet, node: NAME}")
        errors = []
        for op in list(pending.pending_ops()):
            error = pending.complete(op)
            if error is not None:
                errors.append(str(error))
        return []
    if verb == "create":
        server.create("user", check_object(doc, (*path, "create")))
        return []
    if verb == "load":
        server.load(check_object(doc, (*path, "load")))
        return []
    if verb == "cache":
        kind = arg.get("kind") if isinstance(arg, dict) else None
        if c.pv is None or kind not in (t.PV, t.PVC):
            raise _err(doc, path, "cache takes {kind: PersistentVolume|PersistentVolumeClaim, name, namespace} "
                                  "and needs the pv-controller component")
        obj = server.peek(kind, arg.get("namespace", "default" if kind == t.PVC else ""), arg.get("name", ""))
        if obj is None:
            raise _err(doc, path, f"cannot cache {kind} {arg.get('name')}: it does not exist")
        (c.pv.store_claim_update if kind == t.PVC else c.pv.store_volume_update)(obj)
        return []
    if verb == "update":
        obj = check_object(doc, (*path, "update"), partial=True)
        ns = t.namespace(obj) or ("default" if t.KINDS[obj["kind"]].namespaced else "")
        current = server.peek(obj["kind"], ns, t.name(obj))
        if current is None:
            raise _err(doc, path, f"cannot update {obj['kind']} {t.name(obj)}: it does not exist")
        server.patch("user", obj["kind"], t.namespace(current), t.name(current), lambda o: _merge(o, obj))
        return []
    if verb == "delete":
        kind = arg.get("kind")
        if kind not in t.KINDS:
            raise _err(doc, (*path, "delete"), f"unknown kind {kind!r}")
        server.delete("user", kind, arg.get("namespace", "default" if t.KINDS[kind].namespaced else ""), arg.get("name", ""),
                      grace_seconds=arg.get("gracePeriodSeconds"))
        return []
    if verb == "advance":
        c.clock.now_ms += int(arg)
        return []
    if verb == "inject":
        server.reactors.append(Reactor(arg["verb"], arg["resource"], arg.get("error", "ServerError"), int(arg.get("count", 1)),
                                       arg.get("actor")))
        return []
    if verb == "handle":
        return _handle(doc, path, c, arg)
    if verb == "expand":
        if c.expand is None or not isinstance(arg, dict) or "claim" not in arg:
            raise _err(doc, path, "expand takes {claim: NS/NAME} and needs the expand-controller component")
        error = c.expand.test_expand_and_recover(arg["claim"])
        return [error] if error else []
    raise _err(doc, path, f"unknown step {verb!r}")


def _handle(doc: Document, path: tuple, c: Cluster, arg: dict) -> list[str]:
    """Call a controller's informer event handler directly, as upstream unit tests do."""
    ctrl = c.pvc_protection
    if arg.get("controller") != "pvc-protection-controller" or ctrl is None:
        raise _err(doc, path, "handle supports controller: pvc-protection-controller")
    event = arg.get("event")
    if event in ("pod-updated", "pod-replaced"):
        ns, name = arg["pod"].split("/", 1)
        pod = c.server.peek(t.POD, ns, name)
        if pod is None:
            raise _err(doc, path, f"pod {arg['pod']} does not exist")
        old = t.clone(arg["old"]) if event == "pod-replaced" else None
        if old is not None:
            old.setdefault("metadata", {}).setdefault("namespace", "default")
        ctrl.pod_added_deleted_updated(old, t.clone(pod), False)
    elif event == "pod-deleted":
        obj = t.clone(arg["object"])
        obj.setdefault("metadata", {}).setdefault("namespace", "default")
        ctrl.pod_added_deleted_updated(None, obj, True)
    else:
        raise _err(doc, path, "event is one of pod-updated, pod-replaced, pod-deleted")
    return []


def _merge(target: dict, patch: dict) -> None:
    """A merge patch: mappings merge, `null` removes a field, anything else replaces it."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            _merge(target[k], v)
        else:
            target[k] = t.clone(v)


def _diff(path: str, expected: Any, actual: Any, out: list[str]) -> None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            out.append(f"{path}: expected a mapping, got {actual!r}")
            return
        for k, v in expected.items():
            if v is None:
                if actual.get(k) is not None:
                    out.append(f"{path}.{k}: expected absent, got {actual[k]!r}")
                continue
            if k not in actual:
                if isinstance(v, dict) and all(x is None for x in v.values()):
                    continue  # only absences expected inside a missing mapping
                out.append(f"{path}.{k}: expected {v!r}, field absent")
                continue
            _diff(f"{path}.{k}", v, actual[k], out)
        return
    if isinstance(expected, str) and isinstance(actual, str) and expected != actual:
        try:
            if t.parse_quantity(expected) == t.parse_quantity(actual):
                return
        except ValueError:
            pass
    if expected != actual:
        out.append(f"{path}: expected {expected!r}, got {actual!r}")


def _compare(doc: Document, c: Cluster, expect: dict, errors: list[str], action_mark: int, event_mark: int) -> list[str]:
    out: list[str] = []
    for obj in expect.get("objects") or []:
        kind = obj["kind"]
        ns = t.namespace(obj) or ("default" if t.KINDS[kind].namespaced else "")
        actual = c.server.peek(kind, ns, t.name(obj))
        label = f"{kind} {ns + '/' if ns else ''}{t.name(obj)}"
        if actual is None:
            out.append(f"{label}: expected to exist, but it is absent")
            continue
        partial = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        partial["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in ("name", "namespace")}
        _diff(label, partial, actual, out)
    for ref in expect.get("absent") or []:
        kind = ref.get("kind")
        ns = ref.get("namespace", "default" if t.KINDS.get(kind) and t.KINDS[kind].namespaced else "")
        if c.server.peek(kind, ns, ref.get("name", "")) is not None:
            out.append(f"{kind} {ref.get('name')}: expected absent, but it exists")
    got_events = [f"{type_} {reason} {message}" for _, _, type_, reason, message in c.server.recorded_events[event_mark:]]
    for i, prefix in enumerate(expect.get("events") or []):
        if i >= len(got_events):
            out.append(f"event {i}: expected {prefix!r}, not emitted")
        elif not got_events[i].startswith(prefix):
            out.append(f"event {i}: expected prefix {prefix!r}, got {got_events[i]!r}")
    if "error" in expect and bool(expect["error"]) != bool(errors):
        out.append(f"sync error: expected {'an error' if expect['error'] else 'none'}, got {errors or 'none'}")
    if "actions" in expect:
        spec = expect["actions"]
        actor = spec.get("actor")
        got = [a.describe() for a in c.server.actions[action_mark:] if a.actor == actor and a.verb != "get"]
        want = list(spec.get("calls") or [])
        if got != want:
            out.append(f"client actions of {actor}: expected {want}, got {got}")
    for disk, want in (expect.get("disks") or {}).items():
        d = c.backend.disks.get(disk)
        if d is None:
            out.append(f"disk {disk}: expected to exist, but it is absent")
            continue
        for field_name, value in want.items():
            actual = getattr(d, field_name, None)
            expected = t.parse_quantity(value) if field_name in ("size", "fs_size") else value
            if actual != expected:
                out.append(f"disk {disk}: expected {field_name} {value!r}, got {actual!r}")
    for disk, nodes in (expect.get("attached") or {}).items():
        d = c.backend.disks.get(disk)
        actual_nodes = sorted(d.attached) if d is not None and d.exists else []
        if sorted(nodes) != actual_nodes:
            out.append(f"disk {disk}: expected attached to {sorted(nodes)}, got {actual_nodes}")
    return out
