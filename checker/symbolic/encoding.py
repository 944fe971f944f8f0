"""One compiled model as z3 terms: states as vectors of variables, actions as a transition relation.

The encoding follows `checker/compiler.py` construct by construct, so that a step the symbolic
engines take is exactly a step the explicit engines take (every trace is replayed on the compiled
model to make sure, `Encoding.replay`):

- a state is the compiler's `Layout` vector, one z3 term per position: bool fields are z3 Bools,
  sets and finalizer masks bit-vectors as wide as their universe, every other value (life 0/1/2,
  ints, enum members, references 0 = none, i + 1 = i-th instance) a signed bit-vector of one width
  (`Encoding.width`, the fewest bits every value and every sum in the spec fits in);
- parameters and quantified variables are unrolled as the compiler unrolls them, with the same
  constant folding, so an expression is either a Python int (a constant) or a z3 term;
- every expression also yields its evaluation-error condition (a field of none, none in a set, a
  value out of range) with Python's short-circuit order, as the generated code raises;
- effects read the pre-state and write a post-state vector in order, with the compiler's implicit
  preconditions (an absent object cannot be written, a live one cannot be created, a write through
  a cache is a compare-and-swap of the pre-state's API object against the snapshot), `patch`
  skipping the compare-and-swap and write-through caches refreshed after each write;
- one step is one binding of one action (a selector variable says which) or one informer sync;
  a position is written by an if-then-else chain over the bindings that may write it.

Symmetry plays no part: the symbolic engines work on concrete instance names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import z3

from kvolt.checker.compiler import CompiledModel, SpecRuntimeError
from kvolt.checker.engine import State, Step
from kvolt.checker.frontend import ir
from kvolt.checker.frontend.diagnostics import Diagnostic, Span, SpecError

Term = z3.ExprRef
Value = int | Term  # a Python int is a constant, folded as the compiler folds it
Cond = bool | z3.BoolRef  # an error condition: False when none can happen

MAX_WIDTH = 64
MAX_UNROLL = 4096  # quantifier and parameter domains larger than this are refused


class Unsupported(SpecError):
    """A construct the symbolic encoding cannot express; the diagnostic names it and its line."""


def _unsupported(what: str, span: Span | None) -> Unsupported:
    return Unsupported(Diagnostic("Z001", f"the symbolic engines cannot encode {what}", span,
                                  ("check this model with `kvolt check` (explicit-state search) instead",)))


# ---------------------------------------------------------------- small z3 helpers with folding


def c_or(*conds: Cond) -> Cond:
    dynamic = [c for c in conds if not isinstance(c, bool)]
    if any(c is True for c in conds):
        return True
    if not dynamic:
        return False
    return dynamic[0] if len(dynamic) == 1 else z3.Or(*dynamic)


def c_and(*conds: Cond) -> Cond:
    dynamic = [c for c in conds if not isinstance(c, bool)]
    if any(c is False for c in conds):
        return False
    if not dynamic:
        return True
    return dynamic[0] if len(dynamic) == 1 else z3.And(*dynamic)


def as_bool(cond: Cond) -> z3.BoolRef:
    return z3.BoolVal(cond) if isinstance(cond, bool) else cond


def ite(cond: Cond, then: Term, orelse: Term) -> Term:
    if isinstance(cond, bool):
        return then if cond else orelse
    if then.eq(orelse):
        return then
    return z3.If(cond, then, orelse)


@dataclass(frozen=True)
class Slot:
    """One position of the state vector and the values it may hold."""

    name: str  # readable: "PV[pv1].phase", "cache:kubelet@node1:Pod[pod1].life"
    sort: str  # "bool" | "num" | "bits"
    width: int  # bits (num: the encoding's width; bits: the universe size, at least 1)
    low: int = 0
    high: int = 0  # num: the range; bits: the mask of usable bits


@dataclass(frozen=True)
class Binding:
    """One step the selector can choose: an action's binding, or an informer sync."""

    action: int  # index into CompiledModel.actions
    binding: int  # index into that action's bindings


@dataclass
class Transition:
    """The relation between a pre-state and a post-state vector, chosen by a selector."""

    relation: z3.BoolRef  # over the template pre-state, post-state and selector
    error: z3.BoolRef  # over the template pre-state: some binding raises an evaluation error


class Encoding:
    """The compiled model's states, initial states, constraint, invariants and steps as z3 terms."""

    def __init__(self, compiled: CompiledModel, context: z3.Context | None = None) -> None:
        self.compiled = compiled
        self.layout = compiled.layout
        self.spec = compiled.spec
        self.model = compiled.model
        self.ctx = context or z3.main_ctx()
        self.width = _arith_width(self.spec, self.model)
        self.slots = self._slots()
        self.bindings: list[Binding] = [Binding(a, b) for a, action in enumerate(compiled.actions)
                                        for b in range(len(action.bindings))]
        self.selector_width = max(1, (len(self.bindings) - 1).bit_length())
        self.pre = self.state("s")
        self.post = self.state("t")
        self.choice = self.selector("a")
        self._transition: Transition | None = None

    # -- variables
    def state(self, prefix: str) -> list[Term]:
        """A fresh vector of state variables named `prefix` + position."""
        out: list[Term] = []
        for index, slot in enumerate(self.slots):
            name = f"{prefix}_{index}"
            out.append(z3.Bool(name, self.ctx) if slot.sort == "bool" else z3.BitVec(name, slot.width, self.ctx))
        return out

    def selector(self, name: str) -> Term:
        return z3.BitVec(name, self.selector_width, self.ctx)

    def num(self, value: int) -> Term:
        return z3.BitVecVal(value, self.width, self.ctx)

    def constant(self, value: int, slot: Slot) -> Term:
        if slot.sort == "bool":
            return z3.BoolVal(bool(value), self.ctx)
        return z3.BitVecVal(value, slot.width, self.ctx)

    def _slots(self) -> list[Slot]:
        slots: list[Slot | None] = [None] * self.layout.size
        for kind in self.spec.kinds:
            self._region_slots(slots, kind, self.layout.api[kind.name], kind.name)
        for (actor, instance, kind_name), region in self.layout.caches.items():
            owner = self.spec.actor(actor)
            where = f"@{self.model.ids(owner.per)[instance]}" if owner.per else ""
            self._region_slots(slots, self.spec.kind(kind_name), region, f"cache:{actor}{where}:{kind_name}")
        assert all(s is not None for s in slots)
        return slots  # type: ignore[return-value]

    def _region_slots(self, slots: list[Slot | None], kind: ir.Kind, region, label: str) -> None:
        ids = self.model.ids(kind.name)
        for index in range(region.count):
            base = region.block(index)
            prefix = f"{label}[{ids[index]}]"
            slots[base] = Slot(f"{prefix}.life", "num", self.width, 0, 2)
            fins = len(kind.finalizers)
            slots[base + 1] = Slot(f"{prefix}.finalizers", "bits", max(1, fins), 0, (1 << fins) - 1)
            for f in kind.state_fields:
                slots[base + self.layout.offset(kind.name, f.name)] = self._field_slot(f"{prefix}.{f.name}", f.type)

    def _field_slot(self, name: str, type_: ir.Type) -> Slot:
        if isinstance(type_, ir.BoolT):
            return Slot(name, "bool", 1)
        if isinstance(type_, ir.SetT):
            size = ir.universe_size(self.spec, self.model, type_.element)
            return Slot(name, "bits", max(1, size), 0, (1 << size) - 1)
        low, high = _range_of(self.spec, self.model, type_)
        return Slot(name, "num", self.width, low, high)

    # -- sorts of expression values
    def sort_width(self, type_: ir.Type) -> int:
        if isinstance(type_, ir.SetT):
            return max(1, ir.universe_size(self.spec, self.model, type_.element))
        return self.width

    def lift(self, value: Value, type_: ir.Type) -> Term:
        """A value as a z3 term of its type's sort."""
        if not isinstance(value, int):
            return value
        if isinstance(type_, ir.BoolT):
            return z3.BoolVal(bool(value), self.ctx)
        return z3.BitVecVal(value, self.sort_width(type_), self.ctx)

    # -- whole-state formulas
    def domain(self, state: list[Term]) -> z3.BoolRef:
        """Every position holds a value of its type (what an arbitrary pre-state must satisfy)."""
        parts = []
        for slot, var in zip(self.slots, state, strict=True):
            if slot.sort == "num":
                parts.append(z3.And(var >= slot.low, var <= slot.high))
            elif slot.sort == "bits" and slot.high != (1 << slot.width) - 1:
                parts.append(var & ~z3.BitVecVal(slot.high, slot.width, self.ctx) == 0)
        return z3.And(*parts) if parts else z3.BoolVal(True, self.ctx)

    def equals(self, state: list[Term], values: State) -> z3.BoolRef:
        return z3.And(*(var == self.constant(v, slot) for slot, var, v in zip(self.slots, state, values, strict=True)))

    def init(self, state: list[Term]) -> z3.BoolRef:
        """The model's initial states (positions every initial state agrees on written once)."""
        states = self.compiled.initial_states
        if not states:
            return z3.BoolVal(False, self.ctx)
        common = {i for i in range(len(self.slots)) if len({s[i] for s in states}) == 1}
        fixed = [state[i] == self.constant(states[0][i], self.slots[i]) for i in sorted(common)]
        varying = [i for i in range(len(self.slots)) if i not in common]
        choices = [z3.And(*(state[i] == self.constant(s[i], self.slots[i]) for i in varying)) for s in states] if varying else []
        return z3.And(*fixed, z3.Or(*choices)) if choices else z3.And(*fixed)

    def constraint(self, state: list[Term]) -> tuple[z3.BoolRef, z3.BoolRef]:
        """(the model's constraint holds, evaluating it raises an error)."""
        if not self.model.constraints:
            return z3.BoolVal(True, self.ctx), z3.BoolVal(False, self.ctx)
        exprs = Exprs(self, state, None)
        value, error = exprs.junction([exprs.expr(c, {}) for c in self.model.constraints], "and")
        return self.truth(value), as_bool(error)

    def predicate(self, expr: ir.Expr, state: list[Term], env: dict[str, int] | None = None,
                  span: Span | None = None) -> tuple[z3.BoolRef, z3.BoolRef]:
        """(a state predicate holds, evaluating it raises an error)."""
        value, error = Exprs(self, state, span).expr(expr, env or {})
        return self.truth(value), as_bool(error)

    def invariant(self, name: str, state: list[Term]) -> tuple[z3.BoolRef, z3.BoolRef]:
        invariant = self.spec.invariant(name)
        return self.predicate(invariant.expr, state, span=invariant.span)

    def truth(self, value: Value) -> z3.BoolRef:
        if isinstance(value, int):
            return z3.BoolVal(bool(value), self.ctx)
        return value  # type: ignore[return-value]

    # -- steps
    def transition(self) -> Transition:
        """The step relation over (`pre`, `post`, `choice`), built once."""
        if self._transition is None:
            self._transition = self._build_transition()
        return self._transition

    def step(self, pre: list[Term], post: list[Term], choice: Term) -> z3.BoolRef:
        """One step from `pre` to `post` taken by the binding `choice` names."""
        relation = self.transition().relation
        return z3.substitute(relation, *zip(self.pre, pre, strict=True), *zip(self.post, post, strict=True),
                             (self.choice, choice))

    def step_error(self, pre: list[Term]) -> z3.BoolRef:
        """Some binding raises an evaluation error when fired from `pre`."""
        return z3.substitute(self.transition().error, *zip(self.pre, pre, strict=True))

    def _build_transition(self) -> Transition:
        writes: list[list[tuple[z3.BoolRef, Term]]] = [[] for _ in self.slots]
        enabled: list[z3.BoolRef] = []
        errors: list[Cond] = []
        index = 0
        for action in self.compiled.actions:
            effects = self._action_effects(action)
            for enable, error, post in effects:
                chosen = self.choice == index
                enabled.append(z3.Implies(chosen, as_bool(enable)))
                errors.append(error)
                for position, term in enumerate(post):
                    if not term.eq(self.pre[position]):
                        writes[position].append((chosen, term))
                index += 1
        parts = list(enabled)
        if len(self.bindings) < 1 << self.selector_width:
            parts.append(z3.ULT(self.choice, len(self.bindings)))
        if not self.bindings:
            parts.append(z3.BoolVal(False, self.ctx))
        for position, chain in enumerate(writes):
            value: Term = self.pre[position]
            for chosen, term in reversed(chain):
                value = z3.If(chosen, term, value)
            parts.append(self.post[position] == value)
        return Transition(z3.And(*parts), as_bool(c_or(*errors)))

    def _action_effects(self, action) -> list[tuple[Cond, Cond, list[Term]]]:
        """(enabled, error, post-state) for each binding of one compiled action, in binding order."""
        if action.is_sync:
            return self._sync_effects(action)
        actor_name, name = action.name.split(".", 1)
        actor = self.spec.actor(actor_name)
        declared = next(a for a in actor.actions if a.name == name)
        out = []
        for binding in action.bindings:
            env = {p.name: v for p, v in zip(declared.params, binding.values, strict=True)}
            out.append(Effects(self, actor, env, declared.span).run(declared))
        return out

    def _sync_effects(self, action) -> list[tuple[Cond, Cond, list[Term]]]:
        actor_name, rest = action.name.split(".", 1)
        kind = rest[len("sync["):-1]
        actor = self.spec.actor(actor_name)
        api = self.layout.api[kind]
        out = []
        for binding in action.bindings:
            instance = binding.values[0] - 1 if actor.per else 0
            obj = binding.values[-1] - 1
            cache = self.layout.caches[(actor.name, instance, kind)]
            a, c = api.block(obj), cache.block(obj)
            differs = z3.Or(*(self.pre[a + i] != self.pre[c + i] for i in range(api.width)))
            post = list(self.pre)
            post[c:c + api.width] = self.pre[a:a + api.width]
            out.append((differs, False, post))
        return out

    # -- models back to states and traces
    def decode(self, solution: z3.ModelRef, state: list[Term]) -> State:
        values = []
        for slot, var in zip(self.slots, state, strict=True):
            value = solution.eval(var, model_completion=True)
            if slot.sort == "bool":
                values.append(int(z3.is_true(value)))
            elif slot.sort == "num":
                values.append(value.as_signed_long())  # type: ignore[attr-defined]
            else:
                values.append(value.as_long())  # type: ignore[attr-defined]
        return tuple(values)

    def decode_choice(self, solution: z3.ModelRef, choice: Term) -> Binding:
        return self.bindings[solution.eval(choice, model_completion=True).as_long()]  # type: ignore[attr-defined]

    def replay(self, states: list[State], choices: list[Binding]) -> tuple[Step, ...]:
        """The trace as `Step`s, each step checked against the compiled model's own successors."""
        first = states[0]
        if first not in set(self.compiled.initial_states):
            raise AssertionError("symbolic trace: the first state is not an initial state")
        steps = [Step("init", (), first)]
        for state, choice, nxt in zip(states, choices, states[1:], strict=False):
            action = self.compiled.actions[choice.action]
            out: list[tuple[int, State]] = []
            action.successors(state, out)
            if (choice.binding, nxt) not in out:
                raise AssertionError(f"symbolic trace: {action.name} does not lead to the next state")
            steps.append(Step(action.name, action.bindings[choice.binding].labels, nxt))
        return tuple(steps)

    def runtime_error(self, state: State) -> tuple[str, SpecRuntimeError] | None:
        """Where and which evaluation error the compiled model raises in this state (constraint, invariants, actions)."""
        checks: list[tuple[str, Callable[[], object]]] = []
        if self.compiled.constraint is not None:
            checks.append(("the model's constraint", lambda: self.compiled.constraint(state)))  # type: ignore[misc]
        checks.extend((f"invariant {inv.name}", lambda inv=inv: inv.holds(state)) for inv in self.compiled.invariants)
        for action in self.compiled.actions:
            checks.append((action.name, lambda action=action: action.successors(state, [])))
        for where, check in checks:
            try:
                check()
            except SpecRuntimeError as error:
                return where, error
        return None


# ---------------------------------------------------------------- expressions


class Exprs:
    """Expressions over one state vector, folded and short-circuited exactly as the compiler does."""

    def __init__(self, enc: Encoding, state: list[Term], span: Span | None) -> None:
        self.enc = enc
        self.spec = enc.spec
        self.model = enc.model
        self.layout = enc.layout
        self.s = state
        self.span = span

    def expr(self, e: ir.Expr, env: dict[str, int]) -> tuple[Value, Cond]:
        method = getattr(self, f"_{type(e).__name__}")
        return method(e, env)  # type: ignore[no-any-return]

    def _Lit(self, e: ir.Lit, env: dict[str, int]) -> tuple[Value, Cond]:
        return e.value, False

    def _Var(self, e: ir.Var, env: dict[str, int]) -> tuple[Value, Cond]:
        return env[e.name], False

    def region(self, kind: str, cache: str | None, env: dict[str, int]):
        if cache is None:
            return self.layout.api[kind]
        actor = self.spec.actor(cache)
        instance = env["self"] - 1 if actor.per else 0
        return self.layout.caches[(cache, instance, kind)]

    def _FieldRead(self, e: ir.FieldRead, env: dict[str, int]) -> tuple[Value, Cond]:
        obj, error = self.expr(e.obj, env)
        declared = self.spec.kind(e.kind).field(e.field)
        count = self.model.count(e.kind)
        if declared is not None and declared.const:
            values = self.model.const_values(e.kind, e.field)
            if isinstance(obj, int):
                return (values[obj - 1], error) if obj else (self.enc.lift(0, e.type), True)
            return self._select(obj, [self.enc.lift(v, e.type) for v in values]), c_or(error, obj == 0)
        region = self.region(e.kind, e.cache, env)
        offset = self.layout.offset(e.kind, e.field)
        if isinstance(obj, int):
            if not obj:
                return self.enc.lift(0, e.type), True
            return self._slot_value(region.block(obj - 1) + offset, e.field), error
        if count == 0:
            return self.enc.lift(0, e.type), True
        options = [self._slot_value(region.block(i) + offset, e.field) for i in range(count)]
        return self._select(obj, options), c_or(error, obj == 0)

    def _slot_value(self, position: int, name: str) -> Term:
        var = self.s[position]
        if name == "exists":
            return var > 0
        if name == "deleting":
            return var == 2
        return var

    def _select(self, ref: Term, options: list[Term]) -> Term:
        """options[ref - 1] for a reference term (the last option when ref is none: an error then)."""
        value = options[-1]
        for i in range(len(options) - 2, -1, -1):
            value = ite(ref == i + 1, options[i], value)
        return value

    def _Not(self, e: ir.Not, env: dict[str, int]) -> tuple[Value, Cond]:
        value, error = self.expr(e.operand, env)
        return (int(not value), error) if isinstance(value, int) else (z3.Not(value), error)

    def _Ite(self, e: ir.Ite, env: dict[str, int]) -> tuple[Value, Cond]:
        cond, error = self.expr(e.cond, env)
        if isinstance(cond, int):
            return self.expr(e.then if cond else e.orelse, env)
        then, then_error = self.expr(e.then, env)
        orelse, else_error = self.expr(e.orelse, env)
        value = z3.If(cond, self.enc.lift(then, e.type), self.enc.lift(orelse, e.type))
        return value, c_or(error, c_and(cond, then_error), c_and(z3.Not(cond), else_error))

    def _SetLit(self, e: ir.SetLit, env: dict[str, int]) -> tuple[Value, Cond]:
        constant = 0
        parts: list[Term] = []
        errors: list[Cond] = []
        is_ref = isinstance(e.type.element, ir.RefT)
        width = self.enc.sort_width(e.type)
        for element in e.elements:
            code, error = self.expr(element, env)
            errors.append(error)
            if isinstance(code, int):
                if is_ref:
                    if not code:
                        errors.append(True)
                        parts.append(z3.BitVecVal(0, width, self.enc.ctx))
                        continue
                    constant |= 1 << (code - 1)
                else:
                    constant |= 1 << code
                continue
            count = self.model.count(e.type.element.kind) if is_ref else width
            shift = 1 if is_ref else 0
            bit = z3.BitVecVal(0, width, self.enc.ctx)
            for i in range(count):
                bit = ite(code == i + shift, z3.BitVecVal(1 << i, width, self.enc.ctx), bit)
            if is_ref:
                errors.append(code == 0)
            parts.append(bit)
        if not parts:
            return constant, c_or(*errors)
        value = parts[0]
        for part in parts[1:]:
            value = value | part
        if constant:
            value = value | constant
        return value, c_or(*errors)

    def _Call(self, e: ir.Call, env: dict[str, int]) -> tuple[Value, Cond]:
        pairs = [self.expr(a, env) for a in e.args]
        args = [v for v, _ in pairs]
        error = c_or(*(err for _, err in pairs))
        if e.func == "size":
            (arg,) = args
            if isinstance(arg, int):
                return arg.bit_count(), error
            width = arg.size()
            bits = [z3.ZeroExt(self.enc.width - 1, z3.Extract(i, i, arg)) for i in range(width)]
            return z3.Sum(*bits) if len(bits) > 1 else bits[0], error
        if all(isinstance(a, int) for a in args):
            return (min(args) if e.func == "min" else max(args)), error  # type: ignore[type-var]
        a, b = (self.enc.lift(x, ir.INT) for x in args)
        return (z3.If(a <= b, a, b) if e.func == "min" else z3.If(a >= b, a, b)), error

    def _Quant(self, e: ir.Quant, env: dict[str, int]) -> tuple[Value, Cond]:
        values = _domain(self.spec, self.model, e.domain, self.span)
        parts = [self.expr(e.body, {**env, e.var: v}) for v in values]
        if e.quantifier == "forall":
            return self.junction(parts, "and")
        if e.quantifier == "exists":
            return self.junction(parts, "or")
        error = c_or(*(err for _, err in parts))
        constant = sum(int(bool(v)) if e.quantifier == "count" else v for v, _ in parts if isinstance(v, int))
        dynamic = [z3.If(v, self.enc.num(1), self.enc.num(0)) if e.quantifier == "count" else v
                   for v, _ in parts if not isinstance(v, int)]
        if not dynamic:
            return constant, error
        total = dynamic[0] if len(dynamic) == 1 else z3.Sum(*dynamic)
        return (total + constant if constant else total), error

    def junction(self, parts: list[tuple[Value, Cond]], op: str) -> tuple[Value, Cond]:
        """`and`/`or` of parts: a constant absorbing part decides alone, later parts are evaluated
        only while the earlier ones leave the result open (Python's short circuit)."""
        absorbing, neutral = (0, 1) if op == "and" else (1, 0)
        dynamic: list[tuple[Term, Cond]] = []
        for value, error in parts:
            if isinstance(value, int):
                if bool(value) == bool(absorbing):
                    return absorbing, False
                continue
            dynamic.append((value, error))
        if not dynamic:
            return neutral, False
        if len(dynamic) == 1:
            return dynamic[0]
        errors: list[Cond] = []
        open_so_far: list[Term] = []
        for value, error in dynamic:
            errors.append(c_and(*open_so_far, error) if open_so_far else error)
            open_so_far.append(value if op == "and" else z3.Not(value))
        values = [v for v, _ in dynamic]
        return (z3.And(*values) if op == "and" else z3.Or(*values)), c_or(*errors)

    def _BinOp(self, e: ir.BinOp, env: dict[str, int]) -> tuple[Value, Cond]:
        op = e.op
        left, left_error = self.expr(e.left, env)
        if op in ("and", "or", "implies"):
            if isinstance(left, int):
                if op == "and":
                    return self.expr(e.right, env) if left else (0, False)
                if op == "or":
                    return (1, False) if left else self.expr(e.right, env)
                return self.expr(e.right, env) if left else (1, False)
            right = self.expr(e.right, env)
            if op == "implies":
                return self.junction([(z3.Not(left), left_error), right], "or")
            return self.junction([(left, left_error), right], op)
        right, right_error = self.expr(e.right, env)
        error = c_or(left_error, right_error)
        if op == "in":
            return self._member(e, left, right), error
        if isinstance(left, int) and isinstance(right, int):
            return _fold(op, left, right), error
        a, b = self.enc.lift(left, e.left.type), self.enc.lift(right, e.right.type)
        if isinstance(a, z3.BitVecRef) and isinstance(b, z3.BitVecRef) and a.size() != b.size():
            raise AssertionError(f"symbolic encoding: operands of {op} of different widths")
        table = {"==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b, "<=": lambda: a <= b,
                 ">": lambda: a > b, ">=": lambda: a >= b, "+": lambda: a + b, "-": lambda: a - b,
                 "union": lambda: a | b, "inter": lambda: a & b, "diff": lambda: a & ~b,
                 "subset": lambda: a & ~b == 0}
        return table[op](), error

    def _member(self, e: ir.BinOp, element: Value, container: Value) -> Value:
        is_ref = isinstance(e.right.type, ir.SetT) and isinstance(e.right.type.element, ir.RefT)
        if isinstance(element, int):
            if is_ref and not element:
                return 0
            bit = ir.element_bit(element, e.right.type.element)
            if isinstance(container, int):
                return (container >> bit) & 1
            if bit >= container.size():
                return 0
            return z3.Extract(bit, bit, container) == 1
        mask = self.enc.lift(container, e.right.type)
        shift = 1 if is_ref else 0
        count = mask.size()
        members = [z3.And(element == i + shift, z3.Extract(i, i, mask) == 1) for i in range(count)]
        return z3.Or(*members) if members else z3.BoolVal(False, self.enc.ctx)


def _fold(op: str, a: int, b: int) -> int:
    results = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b,
               "+": a + b, "-": a - b, "union": a | b, "inter": a & b, "diff": a & ~b, "subset": (a & ~b) == 0}
    return int(results[op])


# ---------------------------------------------------------------- statements


class Effects:
    """One binding of one action: its guard, then its statements over a post-state vector."""

    def __init__(self, enc: Encoding, actor: ir.Actor, env: dict[str, int], span: Span | None) -> None:
        self.enc = enc
        self.layout = enc.layout
        self.spec = enc.spec
        self.actor = actor
        self.env = env
        self.exprs = Exprs(enc, enc.pre, span)
        self.s = enc.pre
        self.t: list[Term] = list(enc.pre)
        self.ok: Cond = True  # not yet stopped by an implicit precondition (`break`)
        self.error: Cond = False

    def run(self, action: ir.Action) -> tuple[Cond, Cond, list[Term]]:
        guard, guard_error = self.exprs.junction([self.exprs.expr(g, self.env) for g in action.guards], "and")
        if isinstance(guard, int) and not guard:
            return False, False, list(self.s)
        self._stmts(action.effects)
        enabled = c_and(True if isinstance(guard, int) else guard, self.ok)
        error = c_or(guard_error, c_and(True if isinstance(guard, int) else guard, self.error))
        return enabled, error, self.t

    def fail(self, condition: Cond) -> None:
        """An evaluation error happens here when `condition` holds; the step stops there."""
        self.error = c_or(self.error, c_and(self.ok, condition))
        self.ok = c_and(self.ok, _negate(condition))

    def stop_unless(self, condition: Cond) -> None:
        """An implicit precondition: the step is disabled unless `condition` holds."""
        self.ok = c_and(self.ok, condition)

    def _stmts(self, stmts: tuple[ir.Stmt, ...]) -> None:
        for stmt in stmts:
            if isinstance(stmt, ir.If):
                cond, error = self.exprs.expr(stmt.cond, self.env)
                if isinstance(cond, int):
                    self._stmts(stmt.then if cond else stmt.orelse)
                    continue
                self.fail(error)
                self.branch(cond, lambda stmt=stmt: self._stmts(stmt.then), lambda stmt=stmt: self._stmts(stmt.orelse))
                continue
            self._effect(stmt)

    def branch(self, cond: z3.BoolRef, then: Callable[[], None], orelse: Callable[[], None]) -> None:
        """Run both branches on copies of the post-state and merge them under `cond`."""
        start_t, start_ok = list(self.t), self.ok
        self.ok = c_and(start_ok, cond)
        then()
        then_t, then_ok = self.t, self.ok
        self.t, self.ok = list(start_t), c_and(start_ok, z3.Not(cond))
        orelse()
        self.t = [ite(cond, a, b) for a, b in zip(then_t, self.t, strict=True)]
        self.ok = c_or(then_ok, self.ok)

    def _effect(self, stmt: ir.Stmt) -> None:
        ref, error = self.exprs.expr(stmt.obj, self.env)  # type: ignore[union-attr]
        self.fail(error)
        kind = stmt.kind  # type: ignore[union-attr]
        if isinstance(ref, int):
            if not ref:
                self.fail(True)
                return
            self._on(stmt, ref)
            return
        self.fail(ref == 0)
        count = self.enc.model.count(kind)
        self._cases(stmt, ref, 1, count)

    def _cases(self, stmt: ir.Stmt, ref: Term, index: int, count: int) -> None:
        """The statement on the object `ref` names, one case per instance."""
        if index >= count:
            if index == count:
                self._on(stmt, index)
            return
        self.branch(ref == index, lambda: self._on(stmt, index), lambda: self._cases(stmt, ref, index + 1, count))

    def _on(self, stmt: ir.Stmt, ref: int) -> None:
        kind = stmt.kind  # type: ignore[union-attr]
        base = self.layout.api[kind].block(ref - 1)
        life, fins = base, base + 1
        t, num = self.t, self.enc.num
        if isinstance(stmt, ir.Assign):
            self.stop_unless(t[life] != 0)
            self._cas(kind, ref, base, stmt.patch)
            declared = self.spec.kind(kind).field(stmt.field)
            value = self._value(stmt.value, declared.type, stmt.span)  # type: ignore[union-attr]
            self.t[base + self.layout.offset(kind, stmt.field)] = value
        elif isinstance(stmt, ir.Create):
            self.stop_unless(t[life] == 0)
            inits = dict(stmt.inits)
            self.t[life] = num(1)
            width = self.enc.slots[fins].width
            fin_type = ir.SetT(ir.FinT(kind))
            self.t[fins] = (self._value(inits["finalizers"], fin_type, stmt.span) if "finalizers" in inits
                            else z3.BitVecVal(0, width, self.enc.ctx))
            for f in self.spec.kind(kind).state_fields:
                position = base + self.layout.offset(kind, f.name)
                self.t[position] = (self._value(inits[f.name], f.type, stmt.span) if f.name in inits
                                    else self.enc.constant(f.default, self.enc.slots[position]))
        elif isinstance(stmt, ir.Delete):
            self.stop_unless(t[life] != 0)
            held = t[fins] != 0
            self.t[life] = ite(held, num(2), num(0))
            self._reset(kind, base, held)
        elif isinstance(stmt, ir.FinalizerOp):
            width = self.enc.slots[fins].width
            bit = z3.BitVecVal(1 << stmt.finalizer, width, self.enc.ctx)
            if stmt.op == "add":
                self.stop_unless(t[life] == 1)
                self._cas(kind, ref, base, stmt.patch)
                self.t[fins] = t[fins] | bit
            else:
                self.stop_unless(t[life] != 0)
                self._cas(kind, ref, base, stmt.patch)
                remaining = t[fins] & ~bit
                self.t[fins] = remaining
                gone = z3.And(t[life] == 2, remaining == 0)
                self.t[life] = ite(gone, num(0), t[life])
                self._reset(kind, base, z3.Not(gone), skip_life=True)
        self._writethrough(kind, ref)

    def _reset(self, kind: str, base: int, keep: Cond, skip_life: bool = False) -> None:
        """The object is removed unless `keep`: its slot returns to absent with default fields."""
        fins = base + 1
        zero = z3.BitVecVal(0, self.enc.slots[fins].width, self.enc.ctx)
        self.t[fins] = ite(keep, self.t[fins], zero)
        for f in self.spec.kind(kind).state_fields:
            position = base + self.layout.offset(kind, f.name)
            self.t[position] = ite(keep, self.t[position], self.enc.constant(f.default, self.enc.slots[position]))

    def _cas(self, kind: str, ref: int, base: int, patch: bool) -> None:
        if patch or self.actor.cache_of(kind) is None:
            return
        cache = self.exprs.region(kind, self.actor.name, self.env)
        c = cache.block(ref - 1)
        width = cache.width
        self.stop_unless(z3.And(*(self.s[base + i] == self.s[c + i] for i in range(width))))

    def _value(self, expr: ir.Expr, target: ir.Type, span: Span | None) -> Term:
        code, error = self.exprs.expr(expr, self.env)
        self.fail(error)
        if isinstance(target, ir.IntT):
            if isinstance(code, int):
                if not target.low <= code <= target.high:
                    self.fail(True)
                return self.enc.num(code)
            self.fail(z3.Or(code < target.low, code > target.high))
        return self.enc.lift(code, target)

    def _writethrough(self, kind: str, ref: int) -> None:
        cache = self.actor.cache_of(kind)
        if cache is None or not cache[1]:
            return
        api = self.layout.api[kind]
        region = self.exprs.region(kind, self.actor.name, self.env)
        a, c = api.block(ref - 1), region.block(ref - 1)
        self.t[c:c + api.width] = self.t[a:a + api.width]


def _negate(cond: Cond) -> Cond:
    return (not cond) if isinstance(cond, bool) else z3.Not(cond)


# ---------------------------------------------------------------- widths and domains


def _range_of(spec: ir.Spec, model: ir.Model, type_: ir.Type) -> tuple[int, int]:
    if isinstance(type_, ir.IntT):
        return type_.low, type_.high
    if isinstance(type_, ir.EnumT):
        return 0, len(spec.enum(type_.name)) - 1
    if isinstance(type_, ir.RefT):
        return 0, model.count(type_.kind)
    if isinstance(type_, ir.FinT):
        return 0, max(0, len(spec.kind(type_.kind).finalizers) - 1)
    return 0, 1


def _domain(spec: ir.Spec, model: ir.Model, domain: ir.Type, span: Span | None) -> range:
    values = ir.domain_values(spec, model, domain)
    if len(values) > MAX_UNROLL:
        raise _unsupported(f"a quantifier over {len(values):,} values of {domain} (at most {MAX_UNROLL:,} are unrolled)",
                           span)
    return values


def _arith_width(spec: ir.Spec, model: ir.Model) -> int:
    """The fewest bits (signed) every stored value and every intermediate sum of the spec fits in."""
    bound = 3  # life values, booleans
    for kind in spec.kinds:
        for f in kind.fields:
            if not isinstance(f.type, ir.SetT | ir.BoolT):
                low, high = _range_of(spec, model, f.type)
                bound = max(bound, abs(low), abs(high))
    for _, ids in model.instances:
        bound = max(bound, len(ids) + 1)
    for _, members in spec.enums:
        bound = max(bound, len(members))
    exprs: list[tuple[ir.Expr, Span | None]] = [(i.expr, i.span) for i in spec.invariants]
    exprs += [(c, None) for c in model.constraints]
    for actor in spec.actors:
        for action in actor.actions:
            exprs += [(g, action.span) for g in action.guards]
            exprs += [(e, action.span) for e in _stmt_exprs(action.effects)]
    for expr, span in exprs:
        bound = max(bound, _magnitude(spec, model, expr, span))
    width = bound.bit_length() + 2
    if width > MAX_WIDTH:
        raise _unsupported(f"values as large as {bound:,} (more than {MAX_WIDTH} bits)", None)
    return width


def _stmt_exprs(stmts: tuple[ir.Stmt, ...]) -> list[ir.Expr]:
    out: list[ir.Expr] = []
    for stmt in stmts:
        if isinstance(stmt, ir.If):
            out.append(stmt.cond)
            out += _stmt_exprs(stmt.then) + _stmt_exprs(stmt.orelse)
        elif isinstance(stmt, ir.Assign):
            out += [stmt.obj, stmt.value]
        elif isinstance(stmt, ir.Create):
            out += [stmt.obj, *(v for _, v in stmt.inits)]
        else:
            out.append(stmt.obj)  # type: ignore[union-attr]
    return out


def _magnitude(spec: ir.Spec, model: ir.Model, e: ir.Expr, span: Span | None) -> int:
    """An upper bound on the absolute value of an int-like expression (0 for sets and bools)."""
    if isinstance(e, ir.Lit):
        return abs(e.value) if not isinstance(e.type, ir.SetT) else 0
    if isinstance(e, ir.Var | ir.FieldRead):
        if isinstance(e, ir.FieldRead):
            _magnitude(spec, model, e.obj, span)
        if isinstance(e.type, ir.SetT | ir.BoolT):
            return 1
        if isinstance(e.type, ir.IntT) and e.type == ir.INT:
            raise _unsupported("an unbounded int", getattr(e, "span", None) or span)
        low, high = _range_of(spec, model, e.type)
        return max(abs(low), abs(high))
    if isinstance(e, ir.Not):
        _magnitude(spec, model, e.operand, span)
        return 1
    if isinstance(e, ir.BinOp):
        a, b = _magnitude(spec, model, e.left, span), _magnitude(spec, model, e.right, span)
        return a + b if e.op in ("+", "-") else max(a, b, 1)
    if isinstance(e, ir.Ite):
        return max(_magnitude(spec, model, x, span) for x in (e.cond, e.then, e.orelse))
    if isinstance(e, ir.Quant):
        values = _domain(spec, model, e.domain, span)
        inner = _magnitude(spec, model, e.body, span)
        if isinstance(e.domain, ir.IntT):
            inner = max(inner, abs(e.domain.low), abs(e.domain.high))
        return len(values) * max(inner, 1) if e.quantifier == "count" else max(inner, 1)
    if isinstance(e, ir.SetLit):
        for element in e.elements:
            _magnitude(spec, model, element, span)
        return 1
    if isinstance(e, ir.Call):
        parts = [_magnitude(spec, model, a, span) for a in e.args]
        if e.func == "size":
            return max(1, ir.universe_size(spec, model, e.args[0].type.element))  # type: ignore[union-attr]
        return max(parts)
    raise AssertionError(type(e))
