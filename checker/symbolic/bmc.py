"""Bounded model checking: Init and K steps unrolled in one incremental z3 solver.

At each depth k, in the order breadth-first search meets them: an evaluation error in the model's
constraint at the k-th state, the constraint assumed, an evaluation error in an invariant, each
invariant not yet violated (a query of its negation inside push/pop), an evaluation error in some
action fired from the k-th state, then the next step. The first depth at which an invariant's
query is satisfiable is its shortest counterexample, the depth BFS reports. With no violation up
to K the search is complete only when no simple path of K + 1 steps exists (every reachable state
is then within K steps); otherwise the verdict is incomplete, never ok.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import z3

from kvolt.checker.compiler import CompiledModel
from kvolt.checker.engine import ExplorationError, Step, Violation
from kvolt.checker.symbolic.encoding import Binding, Encoding, Term


@dataclass(frozen=True)
class SymbolicProgress:
    depth: int
    seconds: float
    solver_calls: int
    what: str = "bmc"


@dataclass(frozen=True)
class SymbolicOptions:
    max_seconds: float | None = None  # the whole run
    query_seconds: float | None = None  # each solver query
    stop_at_first: bool = True
    progress: Callable[[SymbolicProgress], None] | None = None


@dataclass
class SymbolicResult:
    verdict: str  # "ok" | "violation" | "incomplete"
    depth: int  # the deepest depth every query was answered at
    seconds: float
    solver_calls: int
    violations: list[Violation] = field(default_factory=list)
    incomplete_reason: str | None = None
    complete: bool = False  # every reachable state is within `depth` steps


class Budget:
    """The wall clock of one symbolic run: the run's and each query's time limit, and the calls made."""

    def __init__(self, options: SymbolicOptions) -> None:
        self.options = options
        self.start = time.monotonic()
        self.calls = 0
        self.last_model: z3.ModelRef | None = None  # of the last satisfiable query

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.start

    def check(self, solver: z3.Solver, *assumptions: z3.BoolRef) -> z3.CheckSatResult:
        """One query within the limits (unknown when a limit cuts it short)."""
        limits = [s for s in (self.options.query_seconds,) if s is not None]
        if self.options.max_seconds is not None:
            remaining = self.options.max_seconds - self.seconds
            if remaining <= 0:
                return z3.unknown
            limits.append(remaining)
        solver.set("timeout", int(min(limits) * 1000) if limits else 0)
        self.calls += 1
        return solver.check(*assumptions)

    def reason(self, solver: z3.Solver) -> str:
        if self.options.max_seconds is not None and self.seconds >= self.options.max_seconds:
            return f"time limit {self.options.max_seconds:g} s reached"
        why = solver.reason_unknown()
        if why in ("timeout", "canceled") and self.options.query_seconds is not None:
            return f"a solver query took longer than {self.options.query_seconds:g} s"
        return f"the solver answered unknown ({why})"


class Unrolling:
    """States s_0 .. s_k and choices a_0 .. a_{k-1} of one path, asserted into one solver."""

    def __init__(self, enc: Encoding, solver: z3.Solver, prefix: str = "") -> None:
        self.enc = enc
        self.solver = solver
        self.prefix = prefix
        self.states: list[list[Term]] = []
        self.choices: list[Term] = []

    def add_state(self) -> list[Term]:
        state = self.enc.state(f"{self.prefix}s{len(self.states)}")
        self.states.append(state)
        return state

    def add_step(self) -> list[Term]:
        """Assert one more step from the last state; returns the new state."""
        pre = self.states[-1]
        choice = self.enc.selector(f"{self.prefix}a{len(self.choices)}")
        post = self.add_state()
        self.choices.append(choice)
        self.solver.add(self.enc.step(pre, post, choice))
        return post

    def trace(self, solution: z3.ModelRef, length: int) -> tuple[Step, ...]:
        states = [self.enc.decode(solution, s) for s in self.states[:length + 1]]
        choices: list[Binding] = [self.enc.decode_choice(solution, a) for a in self.choices[:length]]
        return self.enc.replay(states, choices)


SOLVER_LOGIC = "QF_FD"


def new_solver(enc: Encoding) -> z3.Solver:
    """An incremental solver for finite domains (bit-vectors and Booleans, bit-blasted to SAT)."""
    import os
    logic = os.environ.get("KVOLT_Z3_LOGIC", SOLVER_LOGIC)
    return z3.SolverFor(logic, ctx=enc.ctx) if logic else z3.Solver(ctx=enc.ctx)


def distinct_states(enc: Encoding, a: list[Term], b: list[Term]) -> z3.BoolRef:
    return z3.Or(*(x != y for x, y in zip(a, b, strict=True)))


def bmc(compiled: CompiledModel, depth: int, options: SymbolicOptions | None = None,
        encoding: Encoding | None = None) -> SymbolicResult:
    """Check the model's invariants on every path of at most `depth` steps from an initial state."""
    options = options or SymbolicOptions()
    enc = encoding or Encoding(compiled)
    budget = Budget(options)
    solver = new_solver(enc)
    path = Unrolling(enc, solver)
    docs = {i.name: i.doc for i in compiled.spec.invariants}
    pending = [name for name in compiled.model.checks]
    violations: list[Violation] = []
    state = path.add_state()
    solver.add(enc.init(state))

    def stop(reason: str, reached: int) -> SymbolicResult:
        return SymbolicResult("violation" if violations else "incomplete", reached, budget.seconds, budget.calls,
                              violations, None if violations else reason)

    for k in range(depth + 1):
        if options.progress is not None:
            options.progress(SymbolicProgress(k, budget.seconds, budget.calls))
        allowed, constraint_error = enc.constraint(state)
        answer = _query(budget, solver, constraint_error)
        if answer == z3.unknown:
            return stop(budget.reason(solver), k - 1)
        if answer == z3.sat:
            raise _error(enc, path, _model(budget), k, "the model's constraint")
        solver.add(allowed)
        errors = [enc.invariant(name, state)[1] for name in pending]
        answer = _query(budget, solver, z3.Or(*errors)) if errors else z3.unsat
        if answer == z3.unknown:
            return stop(budget.reason(solver), k - 1)
        if answer == z3.sat:
            raise _error(enc, path, _model(budget), k, "an invariant")
        for name in list(pending):
            holds, _ = enc.invariant(name, state)
            answer = _query(budget, solver, z3.Not(holds))
            if answer == z3.unknown:
                return stop(budget.reason(solver), k - 1)
            if answer == z3.sat:
                violations.append(Violation(name, docs.get(name, ""), path.trace(_model(budget), k)))
                pending.remove(name)
        if violations and (options.stop_at_first or not pending):
            return SymbolicResult("violation", k, budget.seconds, budget.calls, violations)
        answer = _query(budget, solver, enc.step_error(state))
        if answer == z3.unknown:
            return stop(budget.reason(solver), k - 1)
        if answer == z3.sat:
            raise _error(enc, path, _model(budget), k, "an action")
        if k == depth:
            break
        state = path.add_step()
    complete = _no_longer_simple_path(enc, compiled, depth, budget)
    if violations:
        return SymbolicResult("violation", depth, budget.seconds, budget.calls, violations, complete=bool(complete))
    if complete is None:
        return SymbolicResult("incomplete", depth, budget.seconds, budget.calls, [],
                              f"no violation within {depth} steps; whether longer paths exist is unknown "
                              f"({budget.reason(solver)})")
    if not complete:
        return SymbolicResult("incomplete", depth, budget.seconds, budget.calls, [],
                              f"no violation within {depth} steps; states deeper than {depth} steps were not checked")
    return SymbolicResult("ok", depth, budget.seconds, budget.calls, [], complete=True)


def _query(budget: Budget, solver: z3.Solver, condition: z3.BoolRef) -> z3.CheckSatResult:
    if z3.is_false(condition):
        return z3.unsat
    solver.push()
    solver.add(condition)
    answer = budget.check(solver)
    if answer == z3.sat:
        budget.last_model = solver.model()
    solver.pop()
    return answer


def _model(budget: Budget) -> z3.ModelRef:
    assert budget.last_model is not None
    return budget.last_model


def _no_longer_simple_path(enc: Encoding, compiled: CompiledModel, depth: int, budget: Budget) -> bool | None:
    """True when no loop-free path of depth + 1 steps exists (None: the solver could not tell)."""
    solver = new_solver(enc)
    path = Unrolling(enc, solver, prefix="p")
    first = path.add_state()
    solver.add(enc.init(first))
    solver.add(enc.constraint(first)[0])
    for _ in range(depth + 1):
        state = path.add_step()
        solver.add(enc.constraint(state)[0])
        for earlier in path.states[:-1]:
            solver.add(distinct_states(enc, earlier, state))
    answer = budget.check(solver)
    if answer == z3.unknown:
        return None
    return answer == z3.unsat


def _error(enc: Encoding, path: Unrolling, solution: z3.ModelRef, k: int, where: str) -> ExplorationError:
    """The evaluation error the solver found, as BFS reports it: message, span, trace to the state."""
    trace = path.trace(solution, k)
    found = enc.runtime_error(trace[-1].state)
    if found is None:
        raise AssertionError(f"symbolic encoding: {where} raises no error in the state the solver found")
    what, error = found
    return ExplorationError(error.message, error.span, what, trace)
