"""Work queues with de-duplication and rate-limited requeue.

Counterpart of k8s.io/client-go/util/workqueue (Type, RateLimitingQueue with the
ItemExponentialFailureRateLimiter): a key added while queued is not added twice, a key being
processed is re-queued once processing ends (`dirty`), and `add_rate_limited` holds a key back for
an exponentially growing delay (5 ms doubling, capped at 1000 s) measured on the logical clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kvolt.impl.api.server import APIError, Clock

BASE_DELAY_MS = 5
MAX_DELAY_MS = 1000 * 1000


@dataclass
class WorkQueue:
    name: str
    clock: Clock
    queue: list[str] = field(default_factory=list)
    dirty: dict[str, None] = field(default_factory=dict)
    processing: dict[str, None] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)  # key -> ready-at (ms)
    failures: dict[str, int] = field(default_factory=dict)

    def add(self, key: str) -> None:
        if key in self.dirty:
            return
        self.dirty[key] = None
        if key not in self.processing:
            self.queue.append(key)

    def add_after(self, key: str, delay_ms: int) -> None:
        ready = self.clock.now_ms + delay_ms
        if key not in self.waiting or self.waiting[key] > ready:
            self.waiting[key] = ready

    def add_rate_limited(self, key: str) -> None:
        n = self.failures.get(key, 0)
        self.failures[key] = n + 1
        self.add_after(key, min(BASE_DELAY_MS * 2**n, MAX_DELAY_MS))

    def forget(self, key: str) -> None:
        self.failures.pop(key, None)

    def _promote(self) -> None:
        now = self.clock.now_ms
        for key, ready in list(self.waiting.items()):
            if ready <= now:
                del self.waiting[key]
                self.add(key)

    def ready(self) -> bool:
        self._promote()
        return bool(self.queue)

    def next_ready_ms(self) -> int | None:
        return min(self.waiting.values()) if self.waiting else None

    def get(self) -> str | None:
        self._promote()
        if not self.queue:
            return None
        key = self.queue.pop(0)
        self.processing[key] = None
        self.dirty.pop(key, None)
        return key

    def done(self, key: str) -> None:
        self.processing.pop(key, None)
        if key in self.dirty:
            self.queue.append(key)

    def process_next(self, handler: Callable[[str], object]) -> tuple[str, str] | None:
        """processNextWorkItem: handle one key; forget it on success, requeue it rate-limited on an API error.

        Returns (key, error text) or None when no key is ready.
        """
        key = self.get()
        if key is None:
            return None
        error = ""
        try:
            handler(key)
            self.forget(key)
        except APIError as e:
            error = str(e)
            self.add_rate_limited(key)
        finally:
            self.done(key)
        return key, error

    def __len__(self) -> int:
        return len(self.queue)
