"""One liveness check from start to end: build the whole graph with an engine, then check each property."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field, replace

import numpy as np

from kvolt.checker.compiler import CompiledModel
from kvolt.checker.engine import Options, Result, Violation
from kvolt.checker.liveness.check import check_properties
from kvolt.checker.liveness.graph import StateGraph, scalar_graph, vector_graph


@dataclass
class LivenessRun:
    """What a liveness check did: the graph it built, the properties it checked, and what failed."""

    properties: tuple[str, ...]
    states: int = 0
    transitions: int = 0
    depth: int = 0
    graph_seconds: float = 0.0
    check_seconds: float = 0.0
    graph_bytes: int = 0
    peak_rss_bytes: int = 0
    instances: int = 0
    violations: list[Violation] = field(default_factory=list)
    incomplete: str | None = None
    constrained: bool = False
    fairness: dict[str, list[str]] = field(default_factory=dict)  # level -> actors (and actions declared apart)
    graph: StateGraph | None = None

    @property
    def seconds(self) -> float:
        return self.graph_seconds + self.check_seconds


def fairness_summary(compiled: CompiledModel) -> dict[str, list[str]]:
    """Actors by fairness level, then actions whose level differs from their actor's."""
    spec = compiled.spec
    summary: dict[str, list[str]] = {"weak": [], "strong": [], "none": [], "finite": []}
    for actor in spec.actors:
        if actor.name not in compiled.model.actors:
            continue
        level = spec.fairness_of(actor.name)
        summary[level].append(actor.name)
        for action in actor.actions:
            own = spec.fairness_of(actor.name, action.name)
            if own != level:
                summary[own].append(action.qualified_name)
    return summary


def check_liveness(compiled: CompiledModel, options: Options, engine: str = "vector",
                   keep_going: bool = False, workers: int = 1) -> LivenessRun:
    """Explore the whole state graph (no symmetry reduction; the vector engine's search with `workers`
    processes) and check the model's temporal properties."""
    run = LivenessRun(compiled.model.properties, constrained=compiled.constraint is not None,
                      fairness=fairness_summary(compiled))
    graph_options = replace(options, symmetry=False)
    graph = (vector_graph(compiled, graph_options, workers) if engine == "vector"
             else scalar_graph(compiled, graph_options))
    run.graph = graph
    run.states, run.transitions, run.depth = graph.count, graph.edge_count, graph.depth
    run.graph_seconds, run.graph_bytes = graph.seconds, graph.nbytes
    if graph.incomplete:
        run.incomplete = graph.incomplete
        run.peak_rss_bytes = _peak_rss()
        return run
    started = time.monotonic()
    if options.max_seconds is not None and graph.seconds > options.max_seconds:
        run.incomplete = f"time limit {options.max_seconds:g} s reached"
        return run
    checked = check_properties(graph, compiled.model.properties, stop_at_first=not keep_going)
    run.violations, run.instances = checked.violations, checked.instances
    run.check_seconds = time.monotonic() - started
    run.peak_rss_bytes = _peak_rss()
    return run


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def graph_result(run: LivenessRun, compiled: CompiledModel) -> Result:
    """A `Result` for a check of temporal properties only (no safety search ran): the graph's figures."""
    fired: dict[str, int] = {a.name: 0 for a in compiled.actions}
    graph = run.graph
    if graph is not None and len(graph.moves):
        counts = np.bincount(graph.moves, minlength=int(graph.move_base[-1]))
        for index, action in enumerate(compiled.actions):
            fired[action.name] += int(counts[graph.move_base[index]:graph.move_base[index + 1]].sum())
    verdict = "violation" if run.violations else ("incomplete" if run.incomplete else "ok")
    return Result(verdict, run.states, len(graph.targets) if graph is not None else 0, run.depth, run.seconds, fired,
                  list(run.violations), run.incomplete, False,
                  len(graph.initial) if graph is not None else 0)
