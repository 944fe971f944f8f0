"""Recording: run a workload under the deterministic scheduler and build an ITF trace.

No upstream counterpart. One run = a seed, a step budget, faults, bug flags, a workload and a
strategy. Every step is chosen by the scheduler; each state of the trace is the abstraction of
the cluster after that step, with `mbt::actionTaken` the spec action, `mbt::nondetPicks` its
parameters, and `#meta` holding the raw API watch events, client actions, physical events and
monitor violations of the step. Everything is derived from the seed, so a run is reproducible
byte for byte.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from typing import Any

from kvolt.impl.abstraction import MODELS, VARIABLES, Abstraction, model_for
from kvolt.impl.api import types as t
from kvolt.impl.backend import Violation
from kvolt.impl.cluster import STEP_MS, Cluster
from kvolt.impl.faults import STEP_FAULT_PROBABILITY, FaultInjector, parse, pod_gc_steps
from kvolt.impl.scheduler import Scheduler
from kvolt.impl.workload import Workload

ACTION_KEY, PICKS_KEY = "mbt::actionTaken", "mbt::nondetPicks"  # as kvolt.checker.views.traces
NODES = ["node1", "node2"]


@dataclass
class Run:
    seed: int
    steps_taken: int
    violations: list[Violation]
    document: dict[str, Any]
    step_names: list[str] = field(default_factory=list)

    @property
    def first_violation(self) -> Violation | None:
        return self.violations[0] if self.violations else None


def run(seed: int, steps: int, faults: list[str], workload: str = "default", strategy: str = "random",
        *, stop_on_violation: bool = False, keep_states: bool = True, split: bool | None = None) -> Run:
    """`split`: record a state after each API write of a step (default: for the conformance workloads),
    so that a step that makes several writes (a PV controller sync binding a claim: PV, PV status,
    PVC, PVC status) shows each write as its own state, as the spec's actions do. (Where the spec
    folds two writes into one action, e.g. unbindVolume's Update and UpdateStatus, the state between
    them is not a spec state; the conformance workloads do not unbind.)"""
    if split is None:
        split = workload in MODELS
    fault_set, bugs = parse(faults)
    rng = random.Random(seed)
    fault_rng = random.Random(rng.random())
    injector = FaultInjector(fault_set, fault_rng)
    load = Workload(workload, random.Random(rng.random()), NODES)
    cluster = Cluster(NODES, bugs=bugs, plugin_fault=injector.plugin_hook, components=load.components)
    load.setup(cluster)
    cluster.start()
    cluster.server.fault_hook = injector.api_hook
    scheduler = Scheduler(int(rng.random() * 2**31), strategy, steps=steps)
    model = model_for(workload, fault_set)
    abstraction = Abstraction(model)
    states = [_state(abstraction, cluster, ("init", {}), {"step": "init"})] if keep_states else []
    names: list[str] = []
    taken = 0
    idle = 0
    while taken < steps:
        event_mark, action_mark = len(cluster.server.events), len(cluster.server.actions)
        log_mark, violation_mark = len(cluster.backend.log), len(cluster.backend.violations)
        enabled = cluster.enabled_steps() + pod_gc_steps(cluster) + load.steps(cluster)
        fault_steps = injector.steps(cluster)
        if fault_steps and (not enabled or scheduler.rng.random() < STEP_FAULT_PROBABILITY):
            enabled = fault_steps
        if not enabled:
            wake = cluster.next_wakeup_ms()
            if wake is None or idle > 1000:
                break
            cluster.clock.now_ms = max(wake, cluster.clock.now_ms + STEP_MS)
            idle += 1
            continue
        idle = 0
        step = scheduler.choose(enabled)
        cluster.backend.step = taken + 1
        writes: list[tuple[tuple[str, str, str], dict, str]] = []
        if keep_states:
            abstraction.observe(cluster)
            if split:
                marks = {"log": len(cluster.backend.log), "before": {k: v for k, v in states[-1].items() if k in VARIABLES
                                                                       or k == "Cluster"}}
                cluster.server.on_change = functools.partial(_collect, writes, abstraction, cluster, marks=marks)
        outcome = step.run()
        cluster.server.on_change = None
        if keep_states:
            abstraction.observe(cluster)
        cluster.check_monitors()
        taken += 1
        cluster.clock.now_ms += STEP_MS
        names.append(step.name)
        if keep_states:
            meta = {"step": step.name, "actor": step.actor, "impl_action": step.action, "outcome": outcome,
                    "time_ms": cluster.clock.now_ms,
                    "api_events": [f"{e.type} {e.kind} {t.key(e.object)} rv={e.resource_version}"
                                   for e in cluster.server.events[event_mark:]],
                    "api_actions": [f"{a.actor}: {a.describe()}" for a in cluster.server.actions[action_mark:]],
                    "physical": cluster.backend.log[log_mark:],
                    "violations": [f"{v.monitor}: {v.message}" for v in cluster.backend.violations[violation_mark:]]}
            for index, (_, variables, event) in enumerate(writes[:-1]):
                states.append({"#meta": {"step": step.name, "impl_action": step.action, "write": index + 1,
                                         "api_events": [event]},
                               ACTION_KEY: f"impl:{step.action}", PICKS_KEY: {}, **variables})
            states.append(_state(abstraction, cluster, abstraction.action(step.action, step.picks, cluster), meta))
        if stop_on_violation and cluster.backend.violations:
            break
    document = {
        "#meta": {"format": "ITF", "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
                  "source": "kvolt.impl", "description": f"kvolt record --seed {seed} --steps {steps}",
                  "seed": seed, "steps": steps, "faults": sorted(fault_set), "bugs": sorted(bugs),
                  "workload": workload, "strategy": strategy, **({"model": model} if model else {}),
                  "violations": [{"monitor": v.monitor, "message": v.message, "step": v.step}
                                 for v in cluster.backend.violations]},
        "vars": VARIABLES + (["Cluster"] if workload in MODELS else []),
        "states": [dict(s, **{"#meta": dict(s["#meta"], index=i)}) for i, s in enumerate(states)],
    }
    return Run(seed, taken, list(cluster.backend.violations), document, names)


def _collect(writes: list, abstraction: Abstraction, cluster: Cluster, event: Any, *, marks: dict) -> None:
    """Record the API state after one write. If the physical world changed since the previous write
    (a machine powered on, a disk attached), the API state before this write is recorded once more:
    the point at which the spec's physical action happened, before the write that follows it."""
    log = cluster.backend.log
    if len(log) > marks["log"]:
        previous = writes[-1][1] if writes else marks["before"]
        writes.append((("physical",), previous, "physical: " + "; ".join(log[marks["log"]:])))
        marks["log"] = len(log)
    actor = cluster.server.actions[-1].actor if cluster.server.actions else ""
    key = (actor, event.kind, t.key(event.object))
    label = f"{event.type} {event.kind} {t.key(event.object)} rv={event.resource_version}"
    writes.append((key, abstraction.state(cluster), label))


def _state(abstraction: Abstraction, cluster: Cluster, action: tuple[str, dict], meta: dict) -> dict:
    state: dict[str, Any] = {"#meta": meta, ACTION_KEY: action[0], PICKS_KEY: dict(action[1])}
    state.update(abstraction.state(cluster))
    return state
