"""Fair cycles: strongly connected components (scipy) refined by the fairness of every action binding.

NOTE(fairness): fairness is per action *binding* (the action with all its parameters fixed, `self`
included). Weak fairness of a binding: if it stays enabled forever, it is taken infinitely often;
strong fairness: if it is enabled infinitely often, it is taken infinitely often. This is how a
Kubernetes controller reconciles: its work queue holds one key per object and every key is
processed eventually (a periodic resync re-queues every object), so a controller cannot serve one
claim forever while another claim's sync stays pending. TLA+'s WF_vars(A) over the disjunction of
all bindings would allow exactly that starvation, and report spurious lassos.

NOTE(stuttering): every state may repeat forever (TLA+'s stuttering steps). A behaviour that
stutters in a state is fair when no fair binding is enabled there: a quiescent state, or one where
only the environment (unfair actors: users, admins, faults) could act. So every state has a
stuttering self-loop, every strongly connected component holds a cycle, and a single state is a
fair cycle exactly when no fair binding is enabled in it.

A component C (in the graph restricted to the states a property allows) holds a fair cycle iff a
cycle through all of C's states and edges is fair, after refining for strong fairness:
- a weakly fair binding enabled in every state of C but never taken inside C: no cycle of C is fair
  (every cycle of C has it enabled throughout and never takes it), drop C;
- a strongly fair binding enabled somewhere in C but never taken inside C: no fair cycle of C visits
  a state where it is enabled; remove those states and decompose what is left again;
- otherwise C is fair. (Emerson and Lei's refinement, vectorised over all components at once.)

NOTE(finite): an action declared `finite` (a fault: a crash, a restart, a machine going down)
is unfair and happens only finitely often on the behaviours considered: "transient errors stop".
A cycle never takes it; a prefix may take it any number of times.

NOTE(constraint): a successor the model's constraint discards still makes its action enabled
(the graph keeps it as an edge to -1). So a lasso is fair in the unconstrained spec too: a
controller whose next step leaves the constraint is not taken to be idle, and no lasso is
reported for it. The claim an ok verdict makes is stated accordingly: every fair behaviour that
stays within the constraint satisfies the property.

NOTE(symmetry): the liveness graph is explored without symmetry reduction. On the quotient graph
a cycle may return to a permuted state, and per-binding fairness (which names instances) does not
survive the quotient; exploring every state keeps the check exact.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from kvolt.checker.compiler import CompiledModel
from kvolt.checker.liveness.graph import StateGraph

LEVELS = {"none": 0, "weak": 1, "strong": 2, "finite": 3}
FINITE = 3


def move_fairness(compiled: CompiledModel) -> np.ndarray:
    """The fairness level (0 none, 1 weak, 2 strong, 3 finite) of every move (action binding)."""
    spec = compiled.spec
    levels = []
    for action in compiled.actions:
        name = None if action.name.split(".", 1)[1].startswith("sync[") else action.name.split(".", 1)[1]
        levels.append(np.full(len(action.bindings), LEVELS[spec.fairness_of(action.actor, name)], dtype=np.int8))
    return np.concatenate(levels) if levels else np.zeros(0, dtype=np.int8)


@dataclass
class Edges:
    """A graph's edges with what every search over them needs, computed once per check."""

    graph: StateGraph
    sources: np.ndarray
    level: np.ndarray  # per move
    safe_targets: np.ndarray  # targets, with 0 for a discarded successor (so they can index arrays)
    cycle_edge: np.ndarray  # bool per edge: a cycle may take it (a real target, not a finite move)
    edge_level: np.ndarray  # per edge: 1 weak, 2 strong, 0 no obligation (unfair or finite)
    cyclic: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # the cycle edges inside one strongly connected component of the whole graph (self-loops included)
    burdened: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    # per state: some fair binding enabled there is not taken by a self-loop (the state alone is no fair cycle)

    @classmethod
    def of(cls, graph: StateGraph) -> Edges:
        """The edges' fairness, and the whole graph's components once (every region's refine them)."""
        level = move_fairness(graph.compiled)
        per_edge = level[graph.moves] if len(graph.moves) else np.zeros(0, dtype=np.int8)
        cycle_edge = (graph.targets >= 0) & (per_edge != FINITE)
        edges = cls(graph, graph.sources(), level, np.where(graph.targets >= 0, graph.targets, 0), cycle_edge,
                    np.where(per_edge == FINITE, 0, per_edge).astype(np.int8))
        labels = _whole_components(edges)
        edges.cyclic = np.flatnonzero(cycle_edge & (labels[edges.sources] == labels[edges.safe_targets]))
        edges.burdened = _burdened(edges)
        return edges


def _whole_components(edges: Edges) -> np.ndarray:
    """The strongly connected component of every state over the cycle edges, straight from the CSR."""
    graph = edges.graph
    kept = edges.cycle_edge
    indptr = np.zeros(graph.count + 1, dtype=np.int64)
    np.cumsum(np.bincount(edges.sources[kept], minlength=graph.count)[:graph.count], out=indptr[1:])
    indices = graph.targets[kept]
    matrix = csr_matrix((np.ones(len(indices), dtype=np.int8), indices, indptr), shape=(graph.count, graph.count))
    return connected_components(matrix, directed=True, connection="strong")[1]


def _burdened(edges: Edges) -> np.ndarray:
    """Per state: whether a fair binding enabled there is not taken by one of its self-loops."""
    graph = edges.graph
    obliged = np.flatnonzero(edges.edge_level > 0)
    loops = edges.cyclic[edges.sources[edges.cyclic] == edges.safe_targets[edges.cyclic]]
    span = np.int64(len(edges.level) + 1)
    keys = edges.sources[obliged].astype(np.int64) * span + graph.moves[obliged]
    unmet = obliged
    if len(loops):
        unmet = obliged[~np.isin(keys, edges.sources[loops].astype(np.int64) * span + graph.moves[loops])]
    return np.bincount(edges.sources[unmet], minlength=graph.count)[:graph.count] > 0


def edges_from(graph: StateGraph, nodes: np.ndarray) -> np.ndarray:
    """The indices of every edge leaving `nodes` (state indices): their CSR ranges, concatenated."""
    starts = graph.indptr[nodes]
    lengths = graph.indptr[nodes + 1] - starts
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return offsets + np.arange(total)


def components(edges: Edges, inside: np.ndarray, leaving: np.ndarray | None = None) -> np.ndarray:
    """Strongly connected component of every state of `inside` (-1 outside), with scipy. `leaving`:
    the edges leaving `inside`, when at hand. A cycle takes only real, not finite, edges (NOTE(finite))."""
    nodes = np.flatnonzero(inside)
    if leaving is None:
        leaving = edges_from(edges.graph, nodes)
    local = np.full(len(inside), -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes))
    internal = leaving[edges.cycle_edge[leaving] & inside[edges.safe_targets[leaving]]]
    src = local[edges.sources[internal]]
    dst = local[edges.safe_targets[internal]]
    matrix = csr_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(matrix, directed=True, connection="strong")
    result = np.full(len(inside), -1, dtype=np.int64)
    result[nodes] = labels
    return result


def fair_components(edges: Edges, region: np.ndarray) -> np.ndarray:
    """A label per state: the fair component it belongs to within `region` (-1: in none). See the module notes.

    A cycle of the region lies inside one component of the whole graph, so the region's components
    of several states are found among `edges.cyclic` alone; every other state of the region is a
    component by itself, fair exactly when it is not `burdened`. The refinement below runs only on
    the components of several states.
    """
    graph = edges.graph
    fair = np.full(graph.count, -1, dtype=np.int64)
    several = _in_cycles(edges, region)
    alone = np.flatnonzero(region & ~several & ~edges.burdened)
    fair[alone] = np.arange(len(alone))
    return _refined(edges, several, fair, len(alone))


def _in_cycles(edges: Edges, region: np.ndarray) -> np.ndarray:
    """The states of the region that lie in a component of the region of at least two states."""
    cyclic = edges.cyclic
    inner = cyclic[region[edges.sources[cyclic]] & region[edges.safe_targets[cyclic]]]
    inner = inner[edges.sources[inner] != edges.safe_targets[inner]]
    several = np.zeros(len(region), dtype=bool)
    if not len(inner):
        return several
    nodes, local = np.unique(np.concatenate([edges.sources[inner], edges.safe_targets[inner]]), return_inverse=True)
    src, dst = local[:len(inner)], local[len(inner):]
    matrix = csr_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(matrix, directed=True, connection="strong")
    several[nodes[np.bincount(labels)[labels] > 1]] = True
    return several


def _refined(edges: Edges, candidates: np.ndarray, fair: np.ndarray, next_label: int) -> np.ndarray:
    """Label the fair components among `candidates` (whole components of the region) from `next_label` on."""
    graph = edges.graph
    span = np.int64(len(edges.level) + 1)
    while candidates.any():
        leaving = edges_from(graph, np.flatnonzero(candidates))
        labels = components(edges, candidates, leaving)
        count = int(labels.max()) + 1
        size = np.bincount(labels[candidates], minlength=count)
        obliged = leaving[edges.edge_level[leaving] > 0]  # enabled fair bindings of the candidate states
        sources, moves = edges.sources[obliged], graph.moves[obliged]
        enabled_keys = labels[sources] * span + moves
        keys, states_enabling = np.unique(enabled_keys, return_counts=True)
        targets = edges.safe_targets[obliged]
        internal = edges.cycle_edge[obliged] & candidates[targets] & (labels[sources] == labels[targets])
        taken = np.isin(keys, enabled_keys[internal])
        component, move = keys // span, keys % span
        weak_bad = (edges.level[move] == 1) & (states_enabling == size[component]) & ~taken
        strong_bad = (edges.level[move] == 2) & ~taken
        dropped = np.zeros(count, dtype=bool)
        dropped[component[weak_bad]] = True
        refine = np.zeros(count, dtype=bool)
        refine[component[strong_bad]] = True
        refine &= ~dropped
        good = ~dropped & ~refine
        good_states = candidates & good[np.maximum(labels, 0)]
        fair[good_states] = next_label + labels[good_states]
        next_label += count
        candidates &= refine[np.maximum(labels, 0)]
        if not candidates.any():
            break
        # in the components to refine, drop the states where a violated strongly fair binding is enabled
        violated = keys[strong_bad & refine[component]]
        candidates[sources[np.isin(enabled_keys, violated)]] = False
    return fair


def bfs(graph: StateGraph, sources: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Breadth-first search from `sources` through `allowed` states: (distance, predecessor, move), -1 where unreached."""
    distance = np.full(graph.count, -1, dtype=np.int64)
    predecessor = np.full(graph.count, -1, dtype=np.int64)
    via = np.full(graph.count, -1, dtype=np.int64)
    frontier = np.flatnonzero(sources & allowed)
    distance[frontier] = 0
    level = 0
    while len(frontier):
        edge = edges_from(graph, frontier)
        if not len(edge):
            break
        lengths = graph.indptr[frontier + 1] - graph.indptr[frontier]
        target = graph.targets[edge]
        ok = target >= 0
        ok[ok] = allowed[target[ok]] & (distance[target[ok]] < 0)
        edge, target = edge[ok], target[ok]
        parent = np.repeat(frontier, lengths)[ok]
        target, first = np.unique(target, return_index=True)
        level += 1
        distance[target] = level
        predecessor[target] = parent[first]
        via[target] = graph.moves[edge[first]]
        frontier = target
    return distance, predecessor, via


@dataclass(frozen=True)
class Lasso:
    """State indices and moves: `states[0]` initial, `states[loop]` where the cycle starts; the last
    state equals `states[loop]`. A move of -1 is a stuttering step (the state repeats)."""

    states: tuple[int, ...]
    moves: tuple[int, ...]  # moves[i] leads from states[i] to states[i + 1]
    loop: int


def cycle_in(edges: Edges, members: np.ndarray, entry: int) -> tuple[list[int], list[int]]:
    """A fair cycle from `entry` through the fair component `members` (indices): (states after entry, moves).

    Greedy: for each fair binding enabled somewhere in the component, take it (strong fairness, or
    weak fairness of one enabled everywhere) or visit a state where it is disabled (weak); then go
    back to `entry`. No step at all is a stuttering cycle.
    """
    graph = edges.graph
    inside = set(members.tolist())
    out: dict[int, list[tuple[int, int]]] = {}
    enabled: dict[int, set[int]] = {}
    for state in members.tolist():
        start, stop = int(graph.indptr[state]), int(graph.indptr[state + 1])
        fair_here = set()
        internal = []
        for edge in range(start, stop):
            move, target = int(graph.moves[edge]), int(graph.targets[edge])
            if edges.level[move] in (1, 2):
                fair_here.add(move)
            if target in inside and edges.level[move] != FINITE:
                internal.append((move, target))
        out[state] = internal
        enabled[state] = fair_here
    everywhere = set.intersection(*enabled.values()) if enabled else set()
    obligations: list[tuple[str, int]] = []
    for move in sorted(set().union(*enabled.values()) if enabled else set()):
        takes = edges.level[move] == 2 or move in everywhere
        obligations.append(("take" if takes else "avoid", move))
    path_states: list[int] = []
    path_moves: list[int] = []
    visited = {entry}
    taken: set[int] = set()
    current = entry
    for kind, move in obligations:
        if move in taken or (kind == "avoid" and any(move not in enabled[s] for s in visited)):
            continue
        if kind == "avoid":
            route = _route(out, current, lambda s, m=move: m not in enabled[s])
        else:
            route = _route(out, current, lambda s, m=move: any(mv == m for mv, _ in out[s]))
        for step_move, state in route:
            path_moves.append(step_move)
            path_states.append(state)
            visited.add(state)
            taken.add(step_move)
            current = state
        if kind == "take":
            target = next(t for mv, t in out[current] if mv == move)
            path_moves.append(move)
            path_states.append(target)
            visited.add(target)
            taken.add(move)
            current = target
    if current != entry or not path_moves:
        if current != entry:
            for step_move, state in _route(out, current, lambda s: s == entry):
                path_moves.append(step_move)
                path_states.append(state)
        else:
            path_moves.append(-1)
            path_states.append(entry)
    return path_states, path_moves


def _route(out: dict[int, list[tuple[int, int]]], start: int, goal: object) -> list[tuple[int, int]]:
    """A shortest path inside the component from `start` to a state satisfying `goal` (may be empty)."""
    if goal(start):  # type: ignore[operator]
        return []
    previous: dict[int, tuple[int, int]] = {start: (-1, -1)}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        for move, target in out[state]:
            if target in previous:
                continue
            previous[target] = (state, move)
            if goal(target):  # type: ignore[operator]
                route = []
                node = target
                while node != start:
                    parent, via = previous[node]
                    route.append((via, node))
                    node = parent
                return route[::-1]
            queue.append(target)
    raise AssertionError("a strongly connected component is not strongly connected")
