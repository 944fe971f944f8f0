"""The reachable state graph, and lifecycles of one kind projected from it (for teaching).

`state_graph` runs a breadth-first search that keeps every transition (small models only).
`lifecycle` projects every transition onto one kind's fields, instance by instance: a node is
what one object looks like (its lifecycle state and the chosen fields), an edge is an action that
changes it, labelled with every action that does.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from kvolt.checker.compiler import CompiledModel, decode_value
from kvolt.checker.frontend import ir
from kvolt.checker.frontend.diagnostics import Diagnostic, SpecError, did_you_mean
from kvolt.checker.views.traces import state_to_itf

State = tuple[int, ...]


@dataclass
class StateGraph:
    model: CompiledModel
    graph: nx.MultiDiGraph  # nodes are state ids; node attr "state", "initial", "violates"; edge attr "action"
    complete: bool


def state_graph(model: CompiledModel, max_states: int = 100_000) -> StateGraph:
    """Every reachable state and transition of a (small) model."""
    graph = nx.MultiDiGraph()
    index: dict[State, int] = {}
    frontier: list[State] = []
    for state in model.initial_states:
        if model.constraint is not None and not model.constraint(state):
            continue
        if state not in index:
            index[state] = len(index)
            graph.add_node(index[state], state=state, initial=True)
            frontier.append(state)
    complete = True
    while frontier:
        next_frontier: list[State] = []
        for state in frontier:
            for action_index, binding, successor in model.successors(state):
                if model.constraint is not None and not model.constraint(successor):
                    continue
                if successor not in index:
                    if len(index) >= max_states:
                        complete = False
                        continue
                    index[successor] = len(index)
                    graph.add_node(index[successor], state=successor, initial=False)
                    next_frontier.append(successor)
                action = model.actions[action_index]
                graph.add_edge(index[state], index[successor], action=action.name,
                               params=dict(action.bindings[binding].labels))
        frontier = next_frontier
    for _node, data in graph.nodes(data=True):
        data["violates"] = [i.name for i in model.invariants if not i.holds(data["state"])]
    return StateGraph(model, graph, complete)


def _fields(model: CompiledModel, kind: str, field: str | None) -> list[ir.Field]:
    try:
        declared = model.spec.kind(kind)
    except StopIteration:
        names = [k.name for k in model.spec.kinds]
        raise SpecError(Diagnostic("G001", f"unknown kind '{kind}'", notes=did_you_mean(kind, names) or
                                   (f"kinds: {', '.join(names)}",))) from None
    if field is None:
        return list(declared.state_fields)
    chosen = declared.field(field)
    if chosen is None or chosen.const:
        names = [f.name for f in declared.state_fields]
        raise SpecError(Diagnostic("G002", f"kind {kind} has no field '{field}'", notes=did_you_mean(field, names) or
                                   (f"fields: {', '.join(names)}",)))
    return [chosen]


def object_view(model: CompiledModel, kind: str, fields: list[ir.Field], state: State, index: int) -> str:
    """One object as a short label: its lifecycle state and chosen fields."""
    layout = model.layout
    block = layout.api[kind].block(index)
    life = state[block]
    if life == 0:
        return "absent"
    parts = ["terminating" if life == 2 else "live"]
    for f in fields:
        value = decode_value(model.spec, model.model, f.type, state[block + layout.offset(kind, f.name)])
        if isinstance(f.type, ir.RefT):
            value = "none" if value is None else "set"
        elif isinstance(value, list):
            value = "{" + ", ".join(str(v) for v in value) + "}"
        elif isinstance(value, bool):
            value = str(value).lower()
        parts.append(f"{f.name}={value}")
    return " ".join(parts)


def lifecycle(model: CompiledModel, kind: str, field: str | None = None,
              max_states: int = 2_000_000) -> tuple[nx.DiGraph, bool]:
    """The lifecycle of one kind: object views as nodes, the actions that change them as edges.

    A breadth-first search projects every transition as it goes, so only the visited set is kept,
    not the state graph. Returns the lifecycle and whether the search was complete.
    """
    fields = _fields(model, kind, field)
    count = model.model.count(kind)
    result = nx.DiGraph()
    views: dict[tuple[int, ...], str] = {}  # one object's block -> its label

    def view(state: State, index: int) -> str:
        block = model.layout.api[kind].block(index)
        key = state[block:block + model.layout.api[kind].width]
        label = views.get(key)
        if label is None:
            label = views[key] = object_view(model, kind, fields, state, index)
        return label

    seen: set[State] = set()
    frontier: list[State] = []
    for state in model.initial_states:
        if (model.constraint is None or model.constraint(state)) and state not in seen:
            seen.add(state)
            frontier.append(state)
            for i in range(count):
                result.add_node(view(state, i), initial=True)
    complete = True
    while frontier:
        next_frontier: list[State] = []
        for state in frontier:
            before = [view(state, i) for i in range(count)]
            for action_index, _, successor in model.successors(state):
                if model.constraint is not None and not model.constraint(successor):
                    continue
                for i in range(count):
                    after = view(successor, i)
                    if after != before[i]:
                        if not result.has_edge(before[i], after):
                            result.add_edge(before[i], after, actions=set())
                        result.edges[before[i], after]["actions"].add(model.actions[action_index].name)
                if successor not in seen:
                    if len(seen) >= max_states:
                        complete = False
                        continue
                    seen.add(successor)
                    next_frontier.append(successor)
        frontier = next_frontier
    for node in result.nodes:
        result.nodes[node].setdefault("initial", False)
    return result, complete


def _quote(text: str) -> str:
    """A DOT string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def lifecycle_dot(life: nx.DiGraph, title: str) -> str:
    lines = [f"digraph {_quote(title)} {{", "  rankdir=LR;", '  node [shape=box, style=rounded, fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=10];', '  start [shape=point];']
    ids = {node: f"s{i}" for i, node in enumerate(sorted(life.nodes))}
    for node, ident in ids.items():
        lines.append(f"  {ident} [label={_quote(node)}];")
        if life.nodes[node].get("initial"):
            lines.append(f"  start -> {ident};")
    for a, b, data in sorted(life.edges(data=True)):
        lines.append(f"  {ids[a]} -> {ids[b]} [label={_quote(chr(10).join(sorted(data['actions'])))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """Text safe inside a Mermaid label: no quotes, brackets or statement separators."""
    for bad, good in (('"', "'"), (";", ","), ("#", ""), ("<", "\u2039"), (">", "\u203a"), ("{", "("), ("}", ")"),
                      ("[", "("), ("]", ")"), ("|", "/"), (":", " ")):
        text = text.replace(bad, good)
    return text


def lifecycle_mermaid(life: nx.DiGraph) -> str:
    ids = {node: f"s{i}" for i, node in enumerate(sorted(life.nodes))}
    lines = ["stateDiagram-v2"]
    for node, ident in ids.items():
        lines.append(f'    state "{_mermaid_text(node)}" as {ident}')
        if life.nodes[node].get("initial"):
            lines.append(f"    [*] --> {ident}")
    for a, b, data in sorted(life.edges(data=True)):
        label = _mermaid_text(", ".join(sorted(data["actions"])))
        lines.append(f"    {ids[a]} --> {ids[b]} : {label}")
    return "\n".join(lines) + "\n"


def graph_document(graph: StateGraph) -> dict:
    """The whole state graph as JSON: states decoded as in traces, violating states marked."""
    layout = graph.model.layout
    nodes = [{"id": node, "initial": data["initial"], "violates": data["violates"],
              "state": state_to_itf(layout, data["state"])} for node, data in graph.graph.nodes(data=True)]
    edges = [{"source": a, "target": b, "action": data["action"], "params": data["params"]}
             for a, b, data in graph.graph.edges(data=True)]
    return {"model": graph.model.model.name, "complete": graph.complete, "nodes": nodes, "edges": edges}


def graph_dot(graph: StateGraph) -> str:
    lines = ["digraph states {", '  node [shape=circle, fontname="Helvetica"];', '  edge [fontname="Helvetica", fontsize=9];']
    for node, data in graph.graph.nodes(data=True):
        attributes = [f"label={_quote(str(node))}"]
        if data["violates"]:
            attributes += ["color=red", "style=filled", "fillcolor=mistyrose",
                           f"tooltip={_quote('violates ' + ', '.join(data['violates']))}"]
        if data["initial"]:
            attributes.append("shape=doublecircle")
        lines.append(f"  {node} [{', '.join(attributes)}];")
    for a, b, data in graph.graph.edges(data=True):
        params = ", ".join(f"{k}={v}" for k, v in data["params"].items())
        lines.append(f"  {a} -> {b} [label={_quote(data['action'] + '(' + params + ')')}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_graphml(graph: StateGraph) -> str:
    plain = nx.MultiDiGraph()
    for node, data in graph.graph.nodes(data=True):
        plain.add_node(node, initial=data["initial"], violates=",".join(data["violates"]))
    for a, b, data in graph.graph.edges(data=True):
        plain.add_edge(a, b, action=data["action"], params=",".join(f"{k}={v}" for k, v in data["params"].items()))
    return "\n".join(nx.generate_graphml(plain)) + "\n"
