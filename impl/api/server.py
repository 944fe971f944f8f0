"""An in-memory API server with the semantics the volume controllers rely on.

Counterpart of the parts of k8s.io/apiserver the controllers touch (generic registry store:
optimistic concurrency on resourceVersion, graceful deletion with finalizers, watch in
resourceVersion order) plus the admission plugins that matter for volumes:
plugin/pkg/admission/storage/storageobjectinuseprotection (finalizers on create),
plugin/pkg/admission/storage/persistentvolume/resize (PVC size increases, on PUT and PATCH),
the RecoverVolumeExpansionFailure rule of PVC update validation (a request may be lowered, but
only to a value above status.capacity) and
plugin/pkg/admission/storage/storageclass/setdefault (default class on create).

Every call names the actor making it, so a test can assert a controller's client actions (as
upstream tests do with client-go's fake clientset), and so faults can be injected per actor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kvolt.impl.api import types as t
from kvolt.impl.api.types import KINDS, Obj, clone


class APIError(Exception):
    reason = "InternalError"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(APIError):
    reason = "NotFound"


class Conflict(APIError):
    reason = "Conflict"


class AlreadyExists(APIError):
    reason = "AlreadyExists"


class Invalid(APIError):
    reason = "Invalid"


class Forbidden(APIError):
    reason = "Forbidden"


class ServerError(APIError):
    """A transient failure (timeout, 500): the write did not happen."""

    reason = "InternalError"


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED
    kind: str
    object: Obj
    resource_version: int


@dataclass(frozen=True)
class Action:
    """One client call, as client-go's testing.Action records it."""

    actor: str
    verb: str
    resource: str
    namespace: str
    name: str

    def describe(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace and self.name else self.namespace or self.name
        return f"{self.verb} {self.resource} {where}".rstrip()


@dataclass
class Reactor:
    """An injected failure: the next `count` matching calls fail with `error` (upstream: reactors)."""

    verb: str
    resource: str
    error: str = "ServerError"
    count: int = 1
    actor: str | None = None


@dataclass
class Clock:
    """Logical time in milliseconds; the deterministic scheduler advances it."""

    now_ms: int = 0

    def stamp(self) -> str:
        return f"t+{self.now_ms}ms"


@dataclass
class APIServer:
    clock: Clock = field(default_factory=Clock)
    objects: dict[tuple[str, str], Obj] = field(default_factory=dict)
    events: list[WatchEvent] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    reactors: list[Reactor] = field(default_factory=list)
    # A random fault hook installed by the scheduler: (actor, verb, kind) -> error name or None.
    fault_hook: Callable[[str, str, str], str | None] | None = None
    # kubernetes Events (reason, type, object key, message), recorded by the controllers' recorders.
    recorded_events: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    resource_version: int = 0
    uid_counter: int = 0
    # Called after every change of the stored objects (with the watch event), for the recorder.
    on_change: Callable[[WatchEvent], None] | None = None

    # ------------------------------------------------------------ bookkeeping

    def _next_rv(self) -> int:
        self.resource_version += 1
        return self.resource_version

    def _record(self, actor: str, verb: str, kind: str, ns: str, name: str) -> None:
        self.actions.append(Action(actor, verb, KINDS[kind].resource, ns, name))
        for reactor in self.reactors:
            if reactor.count > 0 and reactor.verb == verb and reactor.resource == KINDS[kind].resource \
                    and reactor.actor in (None, actor):
                reactor.count -= 1
                raise _error(reactor.error, f"injected {reactor.error} on {verb} {kind} {name}")
        if self.fault_hook is not None:
            error = self.fault_hook(actor, verb, kind)
            if error is not None:
                raise _error(error, f"injected {error} on {verb} {kind} {name}")

    def _emit(self, type_: str, kind: str, obj: Obj) -> None:
        self.events.append(WatchEvent(type_, kind, clone(obj), self.resource_version))
        if self.on_change is not None:
            self.on_change(self.events[-1])

    def record_event(self, actor: str, obj: Obj, type_: str, reason: str, message: str) -> None:
        """The event recorder: `Warning ClaimLost ...` as upstream's FakeRecorder formats it."""
        self.recorded_events.append((actor, t.key(obj), type_, reason, message))

    @staticmethod
    def _key(kind: str, ns: str, name: str) -> tuple[str, str]:
        return kind, f"{ns}/{name}" if KINDS[kind].namespaced else name

    @staticmethod
    def _serialize_quantities(kind: str, obj: Obj) -> None:
        """Quantities are stored as they serialize (Quantity.String: 1.5Gi becomes 1536Mi); a malformed one is Invalid."""
        try:
            t.canonicalize_quantities(kind, obj)
        except t.QuantityError as error:
            raise Invalid(f'{KINDS[kind].resource} "{t.name(obj)}": {error}') from None

    # ------------------------------------------------------------ admission

    def _admit_create(self, kind: str, obj: Obj) -> None:
        m = t.meta(obj)
        if kind == t.PVC:
            if t.PVC_PROTECTION_FINALIZER not in t.finalizers(obj):
                m.setdefault("finalizers", []).append(t.PVC_PROTECTION_FINALIZER)
            spec = obj.setdefault("spec", {})
            if spec.get("storageClassName") is None and t.ANN_BETA_CLASS not in t.annotations(obj):
                default = self._default_class()
                if default is not None:
                    spec["storageClassName"] = default
        elif kind == t.PV and t.PV_PROTECTION_FINALIZER not in t.finalizers(obj):
            m.setdefault("finalizers", []).append(t.PV_PROTECTION_FINALIZER)

    def _default_class(self) -> str | None:
        for (kind, _), sc in sorted(self.objects.items()):
            if kind == t.SC and t.annotations(sc).get(t.ANN_DEFAULT_CLASS) == "true":
                return t.name(sc)
        return None

    def _admit_update(self, kind: str, old: Obj, new: Obj) -> None:
        if kind != t.PVC:
            return
        old_size, new_size = t.pvc_request_quantity(old), t.pvc_request_quantity(new)
        if new_size > old_size:
            if t.pvc_phase(old) != "Bound":
                raise Forbidden("only dynamically provisioned pvc can be resized and the storageclass that "
                                "provisions the pvc must support resize")
            sc = self.objects.get((t.SC, t.claim_class(old)))
            if sc is None or not sc.get("allowVolumeExpansion"):
                raise Forbidden("only dynamically provisioned pvc can be resized and the storageclass that "
                                "provisions the pvc must support resize")
        elif new_size < old_size:
            capacity = old.get("status", {}).get("capacity", {}).get("storage")
            if capacity is None or new_size <= t.quantity(capacity):
                raise Invalid("spec.resources.requests.storage: Forbidden: field can not be less than status.capacity")

    # ------------------------------------------------------------ verbs

    def create(self, actor: str, obj: Obj, *, admit: bool = True) -> Obj:
        kind = obj["kind"]
        ns, name = t.namespace(obj), t.name(obj)
        self._record(actor, "create", kind, ns, name)
        k = self._key(kind, ns, name)
        if k in self.objects:
            raise AlreadyExists(f'{KINDS[kind].resource} "{name}" already exists')
        obj = clone(obj)
        self._serialize_quantities(kind, obj)
        obj.setdefault("apiVersion", KINDS[kind].api_version)
        m = t.meta(obj)
        if not m.get("uid"):
            self.uid_counter += 1
            m["uid"] = f"uid-{self.uid_counter}"
        m.pop("deletionTimestamp", None)
        if admit:
            self._admit_create(kind, obj)
            if kind in (t.PV, t.PVC):  # the registry strategies' PrepareForCreate
                obj["status"] = {"phase": "Pending"}
        m["resourceVersion"] = str(self._next_rv())
        self.objects[k] = obj
        self._emit("ADDED", kind, obj)
        return clone(obj)

    def load(self, obj: Obj) -> Obj:
        """Store an object as given (a scenario's initial state): no admission, no client action."""
        kind = obj["kind"]
        obj = clone(obj)
        self._serialize_quantities(kind, obj)
        obj.setdefault("apiVersion", KINDS[kind].api_version)
        m = t.meta(obj)
        if not m.get("uid"):
            self.uid_counter += 1
            m["uid"] = f"uid-{self.uid_counter}"
        m["resourceVersion"] = str(self._next_rv())
        self.objects[self._key(kind, t.namespace(obj), t.name(obj))] = obj
        self._emit("ADDED", kind, obj)
        return clone(obj)

    def get(self, actor: str, kind: str, ns: str, name: str) -> Obj:
        self._record(actor, "get", kind, ns, name)
        obj = self.objects.get(self._key(kind, ns, name))
        if obj is None:
            raise NotFound(f'{KINDS[kind].resource} "{name}" not found')
        return clone(obj)

    def list(self, actor: str, kind: str, ns: str | None = None) -> list[Obj]:
        self._record(actor, "list", kind, ns or "", "")
        return [clone(o) for (k, _), o in sorted(self.objects.items())
                if k == kind and (ns is None or t.namespace(o) == ns)]

    def peek(self, kind: str, ns: str, name: str) -> Obj | None:
        """Read without a client call: for monitors, the abstraction function and tests only."""
        return self.objects.get(self._key(kind, ns, name))

    def peek_all(self, kind: str) -> list[Obj]:
        return [o for (k, _), o in sorted(self.objects.items()) if k == kind]

    def _check_precondition(self, current: Obj | None, obj: Obj) -> Obj:
        kind, name = obj["kind"], t.name(obj)
        if current is None:
            raise NotFound(f'{KINDS[kind].resource} "{name}" not found')
        m = obj.get("metadata", {})
        if m.get("uid") and m["uid"] != t.uid(current):
            raise Conflict(f"Precondition failed: UID in precondition: {m['uid']}, UID in object meta: {t.uid(current)}")
        rv = m.get("resourceVersion")
        if rv is not None and str(rv) != current["metadata"]["resourceVersion"]:
            raise Conflict(f'Operation cannot be fulfilled on {KINDS[kind].resource} "{name}": the object has been '
                           "modified; please apply your changes to the latest version and try again")
        return current

    def _store(self, kind: str, k: tuple[str, str], obj: Obj) -> Obj:
        current = self.objects.get(k)
        removing = t.deletion_timestamp(obj) is not None and not t.finalizers(obj) and \
            not (kind == t.POD and obj["metadata"].get("deletionGracePeriodSeconds", 0) > 0)
        if current is not None and not removing:
            obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            if obj == current:  # a no-op write does not bump the resourceVersion
                return clone(obj)
        if removing:
            del self.objects[k]
            self._next_rv()
            obj["metadata"]["resourceVersion"] = str(self.resource_version)
            self._emit("DELETED", kind, obj)
            return clone(obj)
        obj["metadata"]["resourceVersion"] = str(self._next_rv())
        self.objects[k] = obj
        self._emit("MODIFIED", kind, obj)
        return clone(obj)

    def update(self, actor: str, obj: Obj) -> Obj:
        """PUT: CAS on resourceVersion; status is kept from the stored object."""
        kind, ns, name = obj["kind"], t.namespace(obj), t.name(obj)
        self._record(actor, "update", kind, ns, name)
        k = self._key(kind, ns, name)
        current = self._check_precondition(self.objects.get(k), obj)
        new = clone(obj)
        new["metadata"]["uid"] = t.uid(current)
        new["metadata"]["deletionTimestamp"] = t.deletion_timestamp(current)
        if new["metadata"]["deletionTimestamp"] is None:
            del new["metadata"]["deletionTimestamp"]
        for keep in ("deletionGracePeriodSeconds",):
            if keep in current["metadata"]:
                new["metadata"][keep] = current["metadata"][keep]
        if KINDS[kind].has_status:
            if "status" in current:
                new["status"] = clone(current["status"])
            else:
                new.pop("status", None)
        self._serialize_quantities(kind, new)
        self._admit_update(kind, current, new)
        if t.deletion_timestamp(current) is not None:
            added = [f for f in t.finalizers(new) if f not in t.finalizers(current)]
            if added:
                raise Forbidden(f"no new finalizers can be added if the object is being deleted, found new finalizers {added}")
        return self._store(kind, k, new)

    def update_status(self, actor: str, obj: Obj) -> Obj:
        """PUT .../status: CAS on resourceVersion; only status changes."""
        kind, ns, name = obj["kind"], t.namespace(obj), t.name(obj)
        self._record(actor, "update-status", kind, ns, name)
        k = self._key(kind, ns, name)
        current = self._check_precondition(self.objects.get(k), obj)
        new = clone(current)
        new["status"] = clone(obj.get("status", {}))
        self._serialize_quantities(kind, new)
        new["metadata"]["resourceVersion"] = str(self._next_rv())
        self.objects[k] = new
        self._emit("MODIFIED", kind, new)
        return clone(new)

    def patch(self, actor: str, kind: str, ns: str, name: str, mutate: Callable[[Obj], None], *,
              subresource: str = "") -> Obj:
        """PATCH: applied to the current object without a resourceVersion check."""
        self._record(actor, "patch" + (f"-{subresource}" if subresource else ""), kind, ns, name)
        k = self._key(kind, ns, name)
        current = self.objects.get(k)
        if current is None:
            raise NotFound(f'{KINDS[kind].resource} "{name}" not found')
        new = clone(current)
        mutate(new)
        self._serialize_quantities(kind, new)
        new["metadata"]["uid"] = t.uid(current)
        if not subresource:
            self._admit_update(kind, current, new)
        return self._store(kind, k, new)

    def delete(self, actor: str, kind: str, ns: str, name: str, *, grace_seconds: int | None = None,
               uid: str | None = None) -> Obj | None:
        """DELETE: with finalizers (or a pod's grace period) the object is only marked."""
        self._record(actor, "delete", kind, ns, name)
        k = self._key(kind, ns, name)
        current = self.objects.get(k)
        if current is None:
            raise NotFound(f'{KINDS[kind].resource} "{name}" not found')
        if uid is not None and uid != t.uid(current):
            raise Conflict(f"Precondition failed: UID in precondition: {uid}, UID in object meta: {t.uid(current)}")
        new = clone(current)
        graceful = False
        if kind == t.POD:
            if grace_seconds is None:
                grace_seconds = 30
            # the pod registry deletes unscheduled and terminal pods at once
            if not t.pod_node(current) or t.pod_phase(current) in ("Succeeded", "Failed"):
                grace_seconds = 0
            graceful = grace_seconds > 0
        if graceful or t.finalizers(new):
            if t.deletion_timestamp(new) is not None:
                return clone(current)
            new["metadata"]["deletionTimestamp"] = self.clock.stamp()
            if kind == t.POD:
                new["metadata"]["deletionGracePeriodSeconds"] = grace_seconds
            return self._store(kind, k, new)
        del self.objects[k]
        new["metadata"].setdefault("deletionTimestamp", self.clock.stamp())
        new["metadata"]["resourceVersion"] = str(self._next_rv())
        self._emit("DELETED", kind, new)
        return None


def _error(name: str, message: str) -> APIError:
    return {"Conflict": Conflict, "NotFound": NotFound, "ServerError": ServerError, "Forbidden": Forbidden,
            "AlreadyExists": AlreadyExists, "Invalid": Invalid}.get(name, ServerError)(message)


Client = Any  # the controllers take the server plus their actor name; see ActorClient


@dataclass
class ActorClient:
    """A clientset bound to one actor: what a controller holds (`ctrl.kubeClient`)."""

    server: APIServer
    actor: str

    def create(self, obj: Obj) -> Obj:
        return self.server.create(self.actor, obj)

    def get(self, kind: str, ns: str, name: str) -> Obj:
        return self.server.get(self.actor, kind, ns, name)

    def list(self, kind: str, ns: str | None = None) -> list[Obj]:
        return self.server.list(self.actor, kind, ns)

    def update(self, obj: Obj) -> Obj:
        return self.server.update(self.actor, obj)

    def update_status(self, obj: Obj) -> Obj:
        return self.server.update_status(self.actor, obj)

    def patch(self, kind: str, ns: str, name: str, mutate: Callable[[Obj], None], subresource: str = "") -> Obj:
        return self.server.patch(self.actor, kind, ns, name, mutate, subresource=subresource)

    def delete(self, kind: str, ns: str, name: str, grace_seconds: int | None = None, uid: str | None = None) -> Obj | None:
        return self.server.delete(self.actor, kind, ns, name, grace_seconds=grace_seconds, uid=uid)

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        self.server.record_event(self.actor, obj, type_, reason, message)
