"""Informers: a per-controller cache of one kind, fed by its own watch stream.

Counterpart of k8s.io/client-go/tools/cache (SharedIndexInformer, Store/Indexer, listers) for the
purpose the volume controllers use it. Each informer reads the API server's watch stream in
resourceVersion order from its own cursor, and the deterministic scheduler delivers one event at a
time, so an informer can lag behind the API server (and behind other informers) for as long as the
scheduler chooses. Handlers (`add`, `update`, `delete`) run on delivery, as event handlers do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kvolt.impl.api import types as t
from kvolt.impl.api.server import APIServer, WatchEvent
from kvolt.impl.api.types import Obj

Handler = Callable[..., None]


@dataclass
class Informer:
    server: APIServer
    kind: str
    owner: str  # "pv-controller", "kubelet@node1", ... (for step names and traces)
    store: dict[str, Obj] = field(default_factory=dict)
    cursor: int = 0
    on_add: list[Handler] = field(default_factory=list)
    on_update: list[Handler] = field(default_factory=list)
    on_delete: list[Handler] = field(default_factory=list)
    delayed_until_ms: int = 0  # a watch-delay fault holds delivery until then
    delivered: list[WatchEvent] = field(default_factory=list)  # drained by the recorder for #meta

    @property
    def name(self) -> str:
        return f"{self.owner}:{self.kind}"

    def start(self, synced: bool = True) -> None:
        """List then watch: with `synced`, the cache starts equal to the API server (WaitForCacheSync)."""
        self.store = {}
        if synced:
            for obj in self.server.peek_all(self.kind):
                self.store[t.key(obj)] = t.clone(obj)
        self.cursor = len(self.server.events)

    def start_empty_at(self, cursor: int) -> None:
        """A cache that has not yet seen the events after `cursor` (upstream tests' informersAreLate)."""
        self.store = {}
        self.cursor = cursor

    def _next_index(self) -> int | None:
        events = self.server.events
        i = self.cursor
        while i < len(events):
            if events[i].kind == self.kind:
                return i
            i += 1
        self.cursor = i
        return None

    def pending(self) -> bool:
        return self._next_index() is not None

    def deliverable(self, now_ms: int) -> bool:
        return now_ms >= self.delayed_until_ms and self.pending()

    def deliver_one(self) -> WatchEvent | None:
        """Apply the next watch event of this kind to the cache and run the handlers."""
        i = self._next_index()
        if i is None:
            return None
        event = self.server.events[i]
        self.cursor = i + 1
        k = t.key(event.object)
        old = self.store.get(k)
        obj = t.clone(event.object)
        if event.type == "DELETED":
            self.store.pop(k, None)
            for h in self.on_delete:
                h(obj)
        elif old is None:
            self.store[k] = obj
            for h in self.on_add:
                h(obj)
        else:
            self.store[k] = obj
            for h in self.on_update:
                h(old, obj)
        self.delivered.append(event)
        return event

    def deliver_all(self) -> int:
        n = 0
        while self.deliver_one() is not None:
            n += 1
        return n

    # -------------------------------------------------------- lister

    def get(self, k: str) -> Obj | None:
        obj = self.store.get(k)
        return t.clone(obj) if obj is not None else None

    def list(self, ns: str | None = None) -> list[Obj]:
        return [t.clone(o) for k, o in sorted(self.store.items()) if ns is None or t.namespace(o) == ns]
