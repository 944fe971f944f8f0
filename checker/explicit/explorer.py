"""Exhaustive breadth-first exploration of a compiled model, with shortest counterexamples.

Level by level from the initial states; every distinct state is checked against every
invariant of the model when it is first found, so the first violation found is at the least
depth and its trace (rebuilt from parent links) is a shortest one. A state that fails the
model's constraints is discarded, as TLC does with CONSTRAINT.

With symmetry, states are stored as canonical representatives; a trace is rebuilt by replaying
from a concrete initial state and choosing, at each step, the successor whose canonical form is
the next stored state, so every reported trace uses concrete ids and really is a behaviour.
"""

from __future__ import annotations

from collections.abc import Callable

from kvolt.checker.compiler import CompiledModel, SpecRuntimeError
from kvolt.checker.engine import (
    EdgeSink,
    ExplorationError,
    Options,
    Result,
    SearchClock,
    State,
    Step,
    Violation,
    search_stopped,
)


class _Graph:
    """Visited states with parent links, as parallel lists indexed by state id."""

    def __init__(self) -> None:
        self.index: dict[State, int] = {}
        self.states: list[State] = []
        self.parent: list[int] = []
        self.via: list[tuple[int, int]] = []  # (action, binding) that produced the state
        self.origin: dict[int, State] = {}  # initial state id -> the concrete initial state

    def add(self, state: State, parent: int, via: tuple[int, int]) -> int:
        ident = len(self.states)
        self.index[state] = ident
        self.states.append(state)
        self.parent.append(parent)
        self.via.append(via)
        return ident

    def path(self, ident: int) -> list[int]:
        path = [ident]
        while self.parent[path[-1]] >= 0:
            path.append(self.parent[path[-1]])
        return path[::-1]


def explore(model: CompiledModel, options: Options | None = None, edges: EdgeSink | None = None) -> Result:
    """Run the breadth-first search and return the verdict, statistics and counterexamples.

    With `edges`, every transition met is reported to it (state ids are discovery indices).
    """
    return _Explorer(model, options or Options(), edges).run()


def explore_recording(model: CompiledModel, options: Options, edges: EdgeSink) -> tuple[Result, _Graph]:
    """`explore`, telling `edges` every transition, and the visited states with their parent links (liveness)."""
    explorer = _Explorer(model, options, edges)
    return explorer.run(), explorer.graph


class _Explorer:
    def __init__(self, model: CompiledModel, options: Options, edges: EdgeSink | None = None) -> None:
        self.model = model
        self.edges = edges
        self.options = options
        self.canon = model.canonicalize if options.symmetry else None
        self.graph = _Graph()
        self.fired = [0] * len(model.actions)
        self.generated = 0
        self.violations: list[Violation] = []
        self.violated: set[str] = set()
        self.invariants = list(model.invariants)
        self.clock = SearchClock(options)
        self.depth = 0
        self.incomplete: str | None = None

    # -- the search
    def run(self) -> Result:
        frontier = self._initial()
        while frontier and not self._stopped():
            if self.options.max_depth is not None and self.depth >= self.options.max_depth:
                if self._has_new_successor(frontier):
                    self.incomplete = f"depth limit {self.options.max_depth} reached"
                break
            next_frontier = self._expand_level(frontier)
            if next_frontier:
                self.depth += 1
            frontier = next_frontier
        return self._result()

    def _stopped(self) -> bool:
        return search_stopped(self.options, self.incomplete, self.violations, self.invariants)

    def _initial(self) -> list[int]:
        frontier = []
        for state in self.model.initial_states:
            self.generated += 1
            if not self._allowed(state, -1):
                continue
            key = self.canon(state) if self.canon else state
            if key in self.graph.index:
                continue
            ident = self.graph.add(key, -1, (-1, -1))
            self.graph.origin[ident] = state
            frontier.append(ident)
            self._check(ident)
            if self._stopped():
                break
        return frontier

    def _expand_level(self, frontier: list[int]) -> list[int]:
        """Expand one level. The loop is the engine's hot path: names are local, every action of a
        state is evaluated in one call, and a new state takes the slow path (`_check`) only when an
        invariant fails or raises."""
        graph, canon, constraint = self.graph, self.canon, self.model.constraint
        allowed = self._allowed
        states, index, parents, via = graph.states, graph.index, graph.parent, graph.via
        setdefault = index.setdefault
        fired = self.fired
        limit = self.options.max_states
        step_all = self.model.step_all
        all_hold = self._all_hold()
        next_frontier: list[int] = []
        append_next = next_frontier.append
        out: list[tuple[int, int, State]] = []
        new = len(states)  # the id the next new state gets
        edge = self.edges.edge if self.edges is not None else None
        for count, ident in enumerate(frontier):
            state = states[ident]
            error = None
            try:
                step_all(state, out)
            except SpecRuntimeError:
                out.clear()
                error = self._successors_until_error(state, ident, out)
            for position, (action_index, binding, successor) in enumerate(out, 1):
                fired[action_index] += 1
                if constraint is not None and not allowed(successor, ident):
                    if edge is not None:
                        edge(ident, action_index, binding, -1)
                    continue
                key = canon(successor) if canon else successor
                target = setdefault(key, new)
                if edge is not None:
                    edge(ident, action_index, binding, target)
                if target != new:  # seen before (one hash of the key, not two)
                    continue
                if limit is not None and new >= limit:
                    del index[key]
                    self.generated += position
                    self.incomplete = f"state limit {limit:,} reached"
                    return next_frontier
                states.append(key)
                parents.append(ident)
                via.append((action_index, binding))
                append_next(new)
                new += 1
                try:
                    if all_hold(key):
                        continue
                except SpecRuntimeError:
                    pass  # `_check` reports it
                self._check(new - 1)
                all_hold = self._all_hold()
                if self._stopped():
                    self.generated += position
                    return next_frontier
            self.generated += len(out)
            out.clear()
            if error is not None:
                raise error
            if count % 512 == 0:
                self._tick(len(frontier) - count + len(next_frontier))
                if self.incomplete:
                    return next_frontier
        return next_frontier

    def _successors_until_error(self, state: State, ident: int, out: list[tuple[int, int, State]]) -> ExplorationError:
        """Some action raised on `state`: the successors of the actions before it, and the error to report."""
        single: list[tuple[int, State]] = []
        for action_index, action in enumerate(self.model.actions):
            try:
                action.successors(state, single)
            except SpecRuntimeError as error:
                return self._runtime_error(error, ident, action.name)
            out.extend((action_index, binding, successor) for binding, successor in single)
            single.clear()
        raise AssertionError("the all-actions function raised where no single action does")

    def _all_hold(self) -> Callable[[State], bool]:
        """What the fast path evaluates on a new state: whether every unviolated invariant holds (it
        may raise; `_check` then reports exactly). One generated function while none is violated."""
        if self.model.all_hold is not None and len(self.invariants) == len(self.model.invariants):
            return self.model.all_hold
        holds = [i.holds for i in self.invariants]
        return lambda state: all(h(state) for h in holds)

    def _has_new_successor(self, frontier: list[int]) -> bool:
        for ident in frontier:
            for _, _, successor in self.model.successors(self.graph.states[ident]):
                if not self._allowed(successor, ident):
                    continue
                key = self.canon(successor) if self.canon else successor
                if key not in self.graph.index:
                    return True
        return False

    def _allowed(self, state: State, parent: int) -> bool:
        """The model's constraint, with its evaluation errors reported as the spec's."""
        if self.model.constraint is None:
            return True
        try:
            return bool(self.model.constraint(state))
        except SpecRuntimeError as error:
            trace = self.trace(parent) if parent >= 0 else (Step("init", (), state),)
            raise ExplorationError(error.message, error.span, "the model's constraint", trace) from None

    def _tick(self, queue: int) -> None:
        self.incomplete = self.clock.tick(self.depth, len(self.graph.states), self.generated, queue) or self.incomplete

    def _check(self, ident: int) -> None:
        state = self.graph.states[ident]
        for invariant in self.invariants:
            if invariant.name in self.violated:
                continue
            try:
                holds = invariant.holds(state)
            except SpecRuntimeError as error:
                raise self._runtime_error(error, ident, f"invariant {invariant.name}") from None
            if not holds:
                self.violated.add(invariant.name)
                self.violations.append(Violation(invariant.name, invariant.doc, self.trace(ident)))
        if self.violated:
            self.invariants = [i for i in self.invariants if i.name not in self.violated]

    def _runtime_error(self, error: SpecRuntimeError, ident: int, where: str) -> ExplorationError:
        return ExplorationError(error.message, error.span, where, self.trace(ident))

    # -- traces
    def trace(self, ident: int) -> tuple[Step, ...]:
        """The concrete behaviour from an initial state to the stored state `ident`."""
        path = self.graph.path(ident)
        state = self.graph.origin[path[0]]
        steps = [Step("init", (), state)]
        for node in path[1:]:
            action_index, binding = self.graph.via[node]
            action = self.model.actions[action_index]
            state, binding = self._concrete_successor(state, action_index, binding, self.graph.states[node])
            steps.append(Step(action.name, action.bindings[binding].labels, state))
        return tuple(steps)

    def _concrete_successor(self, state: State, action_index: int, binding: int, target: State) -> tuple[State, int]:
        action = self.model.actions[action_index]
        out: list[tuple[int, State]] = []
        action.successors(state, out)
        if self.canon is None:
            return next(s for b, s in out if b == binding), binding
        for candidate_binding, successor in out:
            if self.canon(successor) == target:
                return successor, candidate_binding
        raise AssertionError("symmetry replay found no matching successor")  # the reduction would be unsound

    def _result(self) -> Result:
        seconds = self.clock.seconds
        if self.violations:
            verdict = "violation"
        elif self.incomplete:
            verdict = "incomplete"
        else:
            verdict = "ok"
        fired = {}
        for action, count in zip(self.model.actions, self.fired, strict=True):
            fired[action.name] = fired.get(action.name, 0) + count
        return Result(verdict, len(self.graph.states), self.generated, self.depth, seconds, fired, self.violations,
                      self.incomplete, self.canon is not None, len(self.graph.origin))
