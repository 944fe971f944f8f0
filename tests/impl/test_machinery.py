"""Work queues, nested pending operations, informers lagging the API server."""

import pytest

from kvolt.impl.api import types as t
from kvolt.impl.api.server import APIServer, Clock
from kvolt.impl.client.informer import Informer
from kvolt.impl.client.workqueue import WorkQueue
from kvolt.impl.volume.util.nestedpendingoperations import (
    AlreadyExistsError,
    BackoffError,
    NestedPendingOperations,
    OpKey,
)


def test_queue_deduplicates_and_requeues_while_processing():
    q = WorkQueue("q", Clock())
    q.add("a")
    q.add("a")
    assert len(q) == 1
    key = q.get()
    q.add("a")  # re-added while processing: comes back once done
    assert not q.ready()
    q.done(key)
    assert q.get() == "a"


def test_rate_limited_requeue_waits_on_the_clock():
    clock = Clock()
    q = WorkQueue("q", clock)
    q.add_rate_limited("a")
    q.add_rate_limited("a")
    assert not q.ready()
    clock.now_ms += 10
    assert q.get() == "a"


def test_nested_operations_wildcards_and_backoff():
    clock = Clock()
    ops = NestedPendingOperations(clock)

    def fail():
        raise RuntimeError("boom")

    op = ops.run(OpKey("v1"), "attach", fail)
    with pytest.raises(AlreadyExistsError):
        ops.run(OpKey("v1", "", "node2"), "attach", lambda: None)  # volume-wide key blocks every node
    ops.run(OpKey("v2", "", "node1"), "attach", lambda: None)
    assert ops.complete(op) is not None
    with pytest.raises(BackoffError):
        ops.run(OpKey("v1"), "attach", lambda: None)
    assert ops.is_operation_safe_to_retry(OpKey("v1"), "detach")
    clock.now_ms += 600
    ops.run(OpKey("v1"), "attach", lambda: None)


def test_informer_lags_until_events_are_delivered():
    s = APIServer()
    inf = Informer(s, t.POD, "ctrl")
    inf.start()
    seen = []
    inf.on_add.append(lambda o: seen.append(t.name(o)))
    s.create("user", {"kind": t.POD, "metadata": {"name": "p", "namespace": "default"}, "spec": {}})
    assert inf.get("default/p") is None and inf.pending()
    inf.deliver_one()
    assert inf.get("default/p") is not None and seen == ["p"]
