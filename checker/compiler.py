"""Compile a resolved spec and one of its models into successor and predicate functions.

NOTE(codegen-safety): a spec is data, never code. The generated Python holds only integer
literals, operators and the fixed helper names below; no name, string or comment from the
spec ever reaches it. `_check_generated` enforces this on every compiled function by
tokenizing the source, so a spec whose names carry Python payloads cannot run anything.

The state is a flat tuple of small ints (see `Layout`): for every kind, one block per
instance `[life, finalizer mask, field...]` (life: 0 absent, 1 live, 2 terminating), then one
copy of the cached kinds' blocks per (actor instance, cached kind).

Parameters and quantified variables are unrolled at compile time, so almost every field read
is a constant index into the state; only reads through a reference field are dynamic.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kvolt.checker.frontend import ir
from kvolt.checker.frontend.diagnostics import Span, too_deep
from kvolt.checker.symmetry import SymmetryGroup, symmetry_group

ABSENT, LIVE, TERMINATING = 0, 1, 2
LIFE_NAMES = ("absent", "live", "terminating")


class SpecRuntimeError(Exception):
    """A spec evaluated something undefined (a field of `none`, a value out of range)."""

    def __init__(self, message: str, span: Span | None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span


@dataclass(frozen=True)
class Region:
    """Where one kind's blocks live in the state: the API copy or an actor's cache."""

    base: int
    width: int
    count: int

    def block(self, index: int) -> int:
        return self.base + index * self.width


@dataclass
class Layout:
    spec: ir.Spec
    model: ir.Model
    api: dict[str, Region] = field(default_factory=dict)
    caches: dict[tuple[str, int, str], Region] = field(default_factory=dict)  # (actor, instance, kind)
    size: int = 0
    offsets: dict[tuple[str, str], int] = field(default_factory=dict)  # offset's answers (the compilers ask thousands of times)

    def offset(self, kind: str, name: str) -> int:
        """Offset of a field inside an object's block."""
        if name in ("exists", "deleting"):
            return 0
        if name == "finalizers":
            return 1
        known = self.offsets.get((kind, name))
        if known is None:
            fields = self.spec.kind(kind).state_fields
            known = self.offsets[(kind, name)] = 2 + next(i for i, f in enumerate(fields) if f.name == name)
        return known

    def actor_instances(self, actor: ir.Actor) -> int:
        return self.model.count(actor.per) if actor.per else 1


def build_layout(spec: ir.Spec, model: ir.Model) -> Layout:
    layout = Layout(spec, model)
    position = 0
    for kind in spec.kinds:
        width = 2 + len(kind.state_fields)
        layout.api[kind.name] = Region(position, width, model.count(kind.name))
        position += width * model.count(kind.name)
    for actor in _active_actors(spec, model):
        for instance in range(layout.actor_instances(actor)):
            for kind, _ in actor.caches:
                region = layout.api[kind]
                layout.caches[(actor.name, instance, kind)] = Region(position, region.width, region.count)
                position += region.width * region.count
    layout.size = position
    return layout


def _active_actors(spec: ir.Spec, model: ir.Model) -> list[ir.Actor]:
    return [a for a in spec.actors if a.name in model.actors]


# ---------------------------------------------------------------- compiled model


@dataclass(frozen=True)
class Binding:
    """One way to instantiate an action's parameters, with values encoded and decoded."""

    values: tuple[int, ...]
    labels: tuple[tuple[str, object], ...]  # (parameter, readable value)


@dataclass
class CompiledAction:
    name: str  # "actor.action", or "actor.sync[Kind]" for a cache refresh
    actor: str
    doc: str
    params: tuple[str, ...]
    bindings: list[Binding]
    successors: Callable[[tuple[int, ...], list[tuple[int, tuple[int, ...]]]], None]
    source: str
    span: Span | None = None
    is_sync: bool = False


@dataclass
class CompiledInvariant:
    name: str
    doc: str
    holds: Callable[[tuple[int, ...]], bool]
    source: str


@dataclass
class CompiledModel:
    spec: ir.Spec
    model: ir.Model
    layout: Layout
    initial_states: list[tuple[int, ...]]
    actions: list[CompiledAction]
    invariants: list[CompiledInvariant]
    constraint: Callable[[tuple[int, ...]], bool] | None
    canonicalize: Callable[[tuple[int, ...]], tuple[int, ...]] | None
    sources: list[str]
    step_all: Callable[[tuple[int, ...], list], None]  # every action at once, appending (action, binding, state)
    all_hold: Callable[[tuple[int, ...]], bool] | None = None  # every invariant at once (one call per state)
    symmetry: SymmetryGroup | None = None  # the symmetries the search uses (None: none)

    def successors(self, state: tuple[int, ...]) -> Iterator[tuple[int, int, tuple[int, ...]]]:
        """(action index, binding index, next state) for every enabled step, in a fixed order."""
        out: list[tuple[int, tuple[int, ...]]] = []
        for index, action in enumerate(self.actions):
            out.clear()
            action.successors(state, out)
            for binding, next_state in out:
                yield index, binding, next_state


# ---------------------------------------------------------------- helpers visible to generated code


class _Helpers:
    def __init__(self) -> None:
        self.sites: list[tuple[str, Span | None]] = []

    def site(self, message: str, span: Span | None) -> int:
        self.sites.append((message, span))
        return len(self.sites) - 1

    def namespace(self) -> dict[str, object]:
        sites = self.sites

        def fail(site: int, value: object = None) -> int:
            message, span = sites[site]
            raise SpecRuntimeError(message.format(value=value), span)

        def nn(ref: int, site: int) -> int:
            if ref:
                return ref
            return fail(site)

        def rbit(ref: int, site: int) -> int:
            if ref:
                return 1 << (ref - 1)
            return fail(site)

        def inref(ref: int, mask: int) -> int:
            return (mask >> (ref - 1)) & 1 if ref else 0

        def rng(value: int, low: int, high: int, site: int) -> int:
            if low <= value <= high:
                return value
            return fail(site, value)

        def permbits(mask: int, table: tuple[int, ...]) -> int:
            result = 0
            bit = 0
            while mask:
                if mask & 1:
                    result |= table[bit]
                mask >>= 1
                bit += 1
            return result

        return {"_E": fail, "_nn": nn, "_rbit": rbit, "_inref": inref, "_rng": rng, "_pb": permbits,
                "min": min, "max": max, "tuple": tuple, "list": list, "int": int}


_ALLOWED_NAMES = {"def", "return", "if", "else", "elif", "and", "or", "not", "while", "True", "False", "break",
                  "None", "for", "in", "pass", "s", "t", "out", "append", "bit_count",
                  "_E", "_nn", "_rbit", "_inref", "_rng", "_pb", "min", "max", "tuple", "list", "int"}
_GENERATED_NAME = re.compile(r"^(?:[ot]\d+|f\d+|_T\d+|_M\d+)$")


_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*|(?<=\.)[A-Za-z_]\w*")  # names and attribute names, not digits' suffixes


def check_vocabulary(source: str, allowed: set[str], generated: re.Pattern[str], what: str) -> None:
    """Refuse generated code that holds anything but our own names, numbers and operators.

    No quote or `#` may appear (so no string or comment), and every name, attribute names included,
    is one we emit. A regular expression over the text does this several times faster than tokenize.
    """
    if any(mark in source for mark in "'\"#"):
        raise AssertionError(f"generated {what} contains a string or comment")
    for name in set(_NAME.findall(source)):
        if name not in allowed and not generated.match(name):
            raise AssertionError(f"generated {what} contains an unexpected name {name!r}")


def _check_generated(source: str) -> None:
    check_vocabulary(source, _ALLOWED_NAMES, _GENERATED_NAME, "code")


# ---------------------------------------------------------------- expression compilation

# A compiled expression is either a constant int (folded) or Python source text.
Code = int | str


def _src(code: Code) -> str:
    return str(int(code)) if isinstance(code, int | bool) else code


def _is_const(code: Code) -> bool:
    return isinstance(code, int)


def fold_mask(bits: list[int], parts: list[Code], term: Callable[[int, str], str]) -> Code:
    """A set's bit mask from one condition per bit: constant conditions folded, the rest joined by `|`."""
    constant = 0
    dynamic: list[str] = []
    for bit, part in zip(bits, parts, strict=True):
        if _is_const(part):
            constant |= bit if part else 0
        else:
            dynamic.append(term(bit, str(part)))
    if not dynamic:
        return constant
    return "(" + " | ".join(dynamic + ([str(constant)] if constant else [])) + ")"


class _ExprCompiler:
    """Compile IR expressions over the pre-state `s` with every variable bound to a constant."""

    def __init__(self, layout: Layout, helpers: _Helpers, tables: dict[tuple[int, ...], str]) -> None:
        self.layout = layout
        self.spec = layout.spec
        self.model = layout.model
        self.helpers = helpers
        self.tables = tables

    def table(self, values: tuple[int, ...]) -> str:
        if values not in self.tables:
            self.tables[values] = f"_T{len(self.tables)}"
        return self.tables[values]

    def region(self, kind: str, cache: str | None, env: dict[str, int]) -> Region:
        if cache is None:
            return self.layout.api[kind]
        actor = self.spec.actor(cache)
        instance = env["self"] - 1 if actor.per else 0
        return self.layout.caches[(cache, instance, kind)]

    def expr(self, e: ir.Expr, env: dict[str, int]) -> Code:
        method = getattr(self, f"_{type(e).__name__}")
        return method(e, env)  # type: ignore[no-any-return]

    def _Lit(self, e: ir.Lit, env: dict[str, int]) -> Code:
        return e.value

    def _Var(self, e: ir.Var, env: dict[str, int]) -> Code:
        return env[e.name]

    def _FieldRead(self, e: ir.FieldRead, env: dict[str, int]) -> Code:
        obj = self.expr(e.obj, env)
        kind = self.spec.kind(e.kind)
        declared = kind.field(e.field)
        site = self.helpers.site(f"'{e.field}' of none: the reference is empty here", e.span)
        if declared is not None and declared.const:
            values = self.model.const_values(e.kind, e.field)
            if _is_const(obj):
                return values[obj - 1] if obj else f"_E({site})"
            return f"{self.table((0, *values))}[({obj} or _E({site}))]"
        region = self.region(e.kind, e.cache, env)
        offset = self.layout.offset(e.kind, e.field)
        if _is_const(obj):
            if not obj:
                return f"_E({site})"
            index: str = str(region.block(obj - 1) + offset)
        else:
            index = f"{region.base + offset - region.width} + {region.width} * ({obj} or _E({site}))"
        if e.field == "exists":
            return f"(s[{index}] > 0)"
        if e.field == "deleting":
            return f"(s[{index}] == 2)"
        return f"s[{index}]"

    def _Not(self, e: ir.Not, env: dict[str, int]) -> Code:
        operand = self.expr(e.operand, env)
        return int(not operand) if _is_const(operand) else f"(not {operand})"

    def _Ite(self, e: ir.Ite, env: dict[str, int]) -> Code:
        cond = self.expr(e.cond, env)
        if _is_const(cond):
            return self.expr(e.then if cond else e.orelse, env)
        return f"({_src(self.expr(e.then, env))} if {cond} else {_src(self.expr(e.orelse, env))})"

    def _SetLit(self, e: ir.SetLit, env: dict[str, int]) -> Code:
        constant = 0
        parts: list[str] = []
        is_ref = isinstance(e.type.element, ir.RefT)
        for element in e.elements:
            code = self.expr(element, env)
            if _is_const(code):
                if is_ref:
                    if not code:
                        site = self.helpers.site("none cannot be a member of a set", None)
                        parts.append(f"_E({site})")
                        continue
                    constant |= 1 << (code - 1)
                else:
                    constant |= 1 << code
            elif is_ref:
                site = self.helpers.site("none cannot be a member of a set", None)
                parts.append(f"_rbit({code}, {site})")
            else:
                parts.append(f"(1 << {code})")
        if not parts:
            return constant
        if constant:
            parts.append(str(constant))
        return "(" + " | ".join(parts) + ")"

    def _Call(self, e: ir.Call, env: dict[str, int]) -> Code:
        args = [self.expr(a, env) for a in e.args]
        if e.func == "size":
            (arg,) = args
            return int(arg).bit_count() if _is_const(arg) else f"({arg}).bit_count()"
        if all(_is_const(a) for a in args):
            return min(args) if e.func == "min" else max(args)  # type: ignore[type-var]
        return f"{e.func}({_src(args[0])}, {_src(args[1])})"

    def _Quant(self, e: ir.Quant, env: dict[str, int]) -> Code:
        values = ir.domain_values(self.spec, self.model, e.domain)
        parts = [self.expr(e.body, {**env, e.var: v}) for v in values]
        if e.quantifier == "forall":
            return self._junction(parts, "and")
        if e.quantifier == "exists":
            return self._junction(parts, "or")
        if e.quantifier == "set":
            return self._comprehension(e, values, parts)
        if e.quantifier == "count":
            parts = [p if _is_const(p) else f"(1 if {p} else 0)" for p in parts]
        constant = sum(int(p) for p in parts if _is_const(p))
        dynamic = [p for p in parts if not _is_const(p)]
        if not dynamic:
            return constant
        return "(" + " + ".join(dynamic + ([str(constant)] if constant else [])) + ")"

    def _comprehension(self, e: ir.Quant, values: range, parts: list[Code]) -> Code:
        """`{v: K | p}`: the bit mask of the values whose body holds (bit v - 1 for references, v for enums)."""
        bits = [1 << ir.element_bit(value, e.domain) for value in values]
        return fold_mask(bits, parts, lambda bit, part: f"({bit} if {part} else 0)")

    def _junction(self, parts: list[Code], op: str) -> Code:
        absorbing, neutral = (0, 1) if op == "and" else (1, 0)
        dynamic: list[str] = []
        for part in parts:
            if _is_const(part):
                if bool(part) == bool(absorbing):
                    return absorbing
                continue
            dynamic.append(part)  # type: ignore[arg-type]
        if not dynamic:
            return neutral
        return dynamic[0] if len(dynamic) == 1 else "(" + f" {op} ".join(dynamic) + ")"

    def _BinOp(self, e: ir.BinOp, env: dict[str, int]) -> Code:
        op = e.op
        left = self.expr(e.left, env)
        if op in ("and", "or", "implies"):
            if _is_const(left):
                if op == "and":
                    return self.expr(e.right, env) if left else 0
                if op == "or":
                    return 1 if left else self.expr(e.right, env)
                return self.expr(e.right, env) if left else 1
            right = self.expr(e.right, env)
            if op == "implies":
                return self._junction([f"(not {left})", right], "or")
            return self._junction([left, right], op)
        right = self.expr(e.right, env)
        if op == "in":
            return self._member(e, left, right)
        if _is_const(left) and _is_const(right):
            return _fold(op, int(left), int(right))
        a, b = _src(left), _src(right)
        python = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "+": "+", "-": "-",
                  "union": "|", "inter": "&"}
        if op in python:
            return f"({a} {python[op]} {b})"
        if op == "diff":
            return f"({a} & ~{b})"
        if op == "subset":
            return f"(({a} & ~{b}) == 0)"
        raise AssertionError(op)

    def _member(self, e: ir.BinOp, element: Code, container: Code) -> Code:
        is_ref = isinstance(e.right.type, ir.SetT) and isinstance(e.right.type.element, ir.RefT)
        if _is_const(element):
            if is_ref and not element:
                return 0
            bit = ir.element_bit(int(element), e.right.type.element)
            if _is_const(container):
                return (int(container) >> bit) & 1
            return f"(({container} >> {bit}) & 1)"
        if is_ref:
            return f"_inref({element}, {_src(container)})"
        return f"(({_src(container)} >> {element}) & 1)"


def _fold(op: str, a: int, b: int) -> int:
    results = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b,
               "+": a + b, "-": a - b, "union": a | b, "inter": a & b, "diff": a & ~b, "subset": (a & ~b) == 0}
    return int(results[op])


# ---------------------------------------------------------------- statement compilation


class _ActionCompiler:
    """Generate one Python function that appends every enabled (binding, successor) of an action."""

    def __init__(self, layout: Layout, exprs: _ExprCompiler, helpers: _Helpers) -> None:
        self.layout = layout
        self.exprs = exprs
        self.helpers = helpers
        self.lines: list[str] = []
        self.temp = 0

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def fresh(self) -> str:
        self.temp += 1
        return f"o{self.temp}"

    def compile(self, action: ir.Action, actor: ir.Actor, function: str) -> tuple[str, list[Binding]]:
        spec, model = self.layout.spec, self.layout.model
        domains = [list(ir.domain_values(spec, model, p.type)) for p in action.params]
        bindings: list[Binding] = []
        self.emit(0, f"def {function}(s, out):")
        self.emit(1, "pass")
        for values in itertools.product(*domains):
            env = {p.name: v for p, v in zip(action.params, values, strict=True)}
            index = len(bindings)
            bindings.append(Binding(tuple(values), tuple((p.name, decode_value(spec, model, p.type, v))
                                                        for p, v in zip(action.params, values, strict=True))))
            self._binding(action, actor, env, index)
        return "\n".join(self.lines) + "\n", bindings

    def _binding(self, action: ir.Action, actor: ir.Actor, env: dict[str, int], index: int) -> None:
        guard = self.exprs._junction([self.exprs.expr(g, env) for g in action.guards], "and")
        if _is_const(guard) and not guard:
            return
        depth = 1
        if not _is_const(guard):
            self.emit(depth, f"if {guard}:")
            depth += 1
        self.emit(depth, "while True:")
        self.emit(depth + 1, "t = list(s)")
        touched: list[tuple[str, Code]] = []
        self._stmts(action.effects, actor, env, depth + 1, touched)
        self.emit(depth + 1, f"out.append(({index}, tuple(t)))")
        self.emit(depth + 1, "break")

    def _stmts(self, stmts: tuple[ir.Stmt, ...], actor: ir.Actor, env: dict[str, int], depth: int,
               touched: list[tuple[str, Code]]) -> None:
        if not stmts:
            self.emit(depth, "pass")
        for stmt in stmts:
            if isinstance(stmt, ir.If):
                cond = self.exprs.expr(stmt.cond, env)
                if _is_const(cond):
                    self._stmts(stmt.then if cond else stmt.orelse, actor, env, depth, touched)
                    continue
                self.emit(depth, f"if {cond}:")
                self._stmts(stmt.then, actor, env, depth + 1, touched)
                if stmt.orelse:
                    self.emit(depth, "else:")
                    self._stmts(stmt.orelse, actor, env, depth + 1, touched)
                continue
            self._effect(stmt, actor, env, depth, touched)

    def _base(self, obj: ir.Expr, kind: str, env: dict[str, int], depth: int, what: str) -> tuple[Code, Code]:
        """(reference value, API block base) of the object a statement writes."""
        ref = self.exprs.expr(obj, env)
        region = self.layout.api[kind]
        site = self.helpers.site(f"cannot {what} none: the reference is empty here", getattr(obj, "span", None))
        if _is_const(ref):
            if not ref:
                self.emit(depth, f"_E({site})")
                return 0, 0
            return ref, region.block(ref - 1)
        name = self.fresh()
        self.emit(depth, f"{name} = {ref} or _E({site})")
        base = self.fresh()
        self.emit(depth, f"{base} = {region.base - region.width} + {region.width} * {name}")
        return name, base

    def _at(self, base: Code, offset: int) -> str:
        return str(int(base) + offset) if _is_const(base) else f"{base} + {offset}"

    def _conflict_check(self, actor: ir.Actor, kind: str, ref: Code, base: Code, env: dict[str, int],
                        depth: int, patch: bool) -> None:
        """A write through a cached view fails when the live object differs from the snapshot."""
        if patch or actor.cache_of(kind) is None:
            return
        cache = self.exprs.region(kind, actor.name, env)
        width = cache.width
        if _is_const(ref):
            c = cache.block(int(ref) - 1)
            self.emit(depth, f"if s[{base}:{int(base) + width}] != s[{c}:{c + width}]: break")
        else:
            c = self.fresh()
            self.emit(depth, f"{c} = {cache.base - width} + {width} * {ref}")
            self.emit(depth, f"if s[{base}:{base} + {width}] != s[{c}:{c} + {width}]: break")

    def _effect(self, stmt: ir.Stmt, actor: ir.Actor, env: dict[str, int], depth: int,
                touched: list[tuple[str, Code]]) -> None:
        kind = stmt.kind  # type: ignore[union-attr]
        what = {"Assign": "write a field of", "Create": "create", "Delete": "delete", "FinalizerOp": "change finalizers of"}
        ref, base = self._base(stmt.obj, kind, env, depth, what[type(stmt).__name__])  # type: ignore[union-attr]
        touched.append((kind, ref))
        life = self._at(base, 0)
        fins = self._at(base, 1)
        if isinstance(stmt, ir.Assign):
            self.emit(depth, f"if t[{life}] == 0: break")
            self._conflict_check(actor, kind, ref, base, env, depth, stmt.patch)
            declared = self.layout.spec.kind(kind).field(stmt.field)
            value = self._value(stmt.value, declared.type, env, stmt.span, stmt.field)  # type: ignore[union-attr]
            self.emit(depth, f"t[{self._at(base, self.layout.offset(kind, stmt.field))}] = {value}")
        elif isinstance(stmt, ir.Create):
            self.emit(depth, f"if t[{life}] != 0: break")
            inits = dict(stmt.inits)
            self.emit(depth, f"t[{life}] = 1")
            fin_value = self._value(inits["finalizers"], None, env, stmt.span, "finalizers") if "finalizers" in inits else "0"
            self.emit(depth, f"t[{fins}] = {fin_value}")
            for f in self.layout.spec.kind(kind).state_fields:
                value = self._value(inits[f.name], f.type, env, stmt.span, f.name) if f.name in inits else str(f.default)
                self.emit(depth, f"t[{self._at(base, self.layout.offset(kind, f.name))}] = {value}")
        elif isinstance(stmt, ir.Delete):
            self.emit(depth, f"if t[{life}] == 0: break")
            self.emit(depth, f"if t[{fins}]:")
            self.emit(depth + 1, f"t[{life}] = 2")
            self.emit(depth, "else:")
            self._reset(kind, base, depth + 1)
        elif isinstance(stmt, ir.FinalizerOp):
            bit = 1 << stmt.finalizer
            if stmt.op == "add":
                self.emit(depth, f"if t[{life}] != 1: break")
                self._conflict_check(actor, kind, ref, base, env, depth, stmt.patch)
                self.emit(depth, f"t[{fins}] = t[{fins}] | {bit}")
            else:
                self.emit(depth, f"if t[{life}] == 0: break")
                self._conflict_check(actor, kind, ref, base, env, depth, stmt.patch)
                self.emit(depth, f"t[{fins}] = t[{fins}] & ~{bit}")
                self.emit(depth, f"if t[{life}] == 2 and t[{fins}] == 0:")
                self._reset(kind, base, depth + 1)
        self._writethrough(actor, env, depth, [(kind, ref)])

    def _reset(self, kind: str, base: Code, depth: int) -> None:
        """The API server removes the object: its slot returns to absent with default fields."""
        self.emit(depth, f"t[{self._at(base, 0)}] = 0")
        self.emit(depth, f"t[{self._at(base, 1)}] = 0")
        for f in self.layout.spec.kind(kind).state_fields:
            self.emit(depth, f"t[{self._at(base, self.layout.offset(kind, f.name))}] = {f.default}")

    def _value(self, expr: ir.Expr, target: ir.Type | None, env: dict[str, int], span: Span | None, name: str) -> str:
        code = self.exprs.expr(expr, env)
        if _is_const(code):
            if isinstance(target, ir.IntT) and not target.low <= int(code) <= target.high:
                site = self.helpers.site(f"value {{value}} assigned to '{name}' is outside its range {target}", span)
                return f"_E({site}, {int(code)})"
            return str(int(code))
        if isinstance(target, ir.BoolT):
            return f"(1 if {code} else 0)"
        if isinstance(target, ir.IntT):
            site = self.helpers.site(f"value {{value}} assigned to '{name}' is outside its range {target}", span)
            return f"_rng({code}, {target.low}, {target.high}, {site})"
        return code

    def _writethrough(self, actor: ir.Actor, env: dict[str, int], depth: int, touched: list[tuple[str, Code]]) -> None:
        """A write-through cache (like the PV controller's) stores the actor's own writes, right after each one."""
        seen: set[tuple[str, str]] = set()
        for kind, ref in touched:
            cache = actor.cache_of(kind)
            if cache is None or not cache[1] or (kind, str(ref)) in seen:
                continue
            seen.add((kind, str(ref)))
            api = self.layout.api[kind]
            region = self.exprs.region(kind, actor.name, env)
            if _is_const(ref):
                a, c = api.block(int(ref) - 1), region.block(int(ref) - 1)
                self.emit(depth, f"t[{c}:{c + api.width}] = t[{a}:{a + api.width}]")
            else:
                a = f"{api.base - api.width} + {api.width} * {ref}"
                c = f"{region.base - region.width} + {region.width} * {ref}"
                self.emit(depth, f"t[{c}:{c} + {api.width}] = t[{a}:{a} + {api.width}]")


# ---------------------------------------------------------------- values for people


def decode_value(spec: ir.Spec, model: ir.Model, type_: ir.Type, value: int) -> object:
    """An encoded value as a person reads it: an enum member, an instance id, a bool, a set."""
    if isinstance(type_, ir.BoolT):
        return bool(value)
    if isinstance(type_, ir.IntT):
        return value
    if isinstance(type_, ir.EnumT):
        members = spec.enum(type_.name)
        return members[value] if 0 <= value < len(members) else f"?{value}"
    if isinstance(type_, ir.RefT | ir.NoneT):
        if not value:
            return None
        ids = model.ids(type_.kind) if isinstance(type_, ir.RefT) else ()
        return ids[value - 1] if value - 1 < len(ids) else f"?{value}"
    if isinstance(type_, ir.FinT):
        return spec.kind(type_.kind).finalizers[value]
    if isinstance(type_, ir.SetT):
        element = type_.element
        offset = 1 if isinstance(element, ir.RefT) else 0
        return [decode_value(spec, model, element, bit + offset) for bit in range(value.bit_length()) if value >> bit & 1]
    raise TypeError(type_)


# ---------------------------------------------------------------- the whole model


def compile_model(spec: ir.Spec, model: ir.Model) -> CompiledModel:
    try:
        return _compile_model(spec, model)
    except RecursionError:
        raise too_deep(spec.file) from None


def _compile_model(spec: ir.Spec, model: ir.Model) -> CompiledModel:
    layout = build_layout(spec, model)
    group = symmetry_group(spec, model, model.symmetric_spans)
    if group is not None and group.trivial:
        group = None
    helpers = _Helpers()
    tables: dict[tuple[int, ...], str] = {}
    exprs = _ExprCompiler(layout, helpers, tables)
    sources: list[str] = []
    functions: list[tuple[str, str]] = []
    pending_actions: list[tuple[str, ir.Actor, str, tuple[str, ...], list[Binding], str, Span | None, bool]] = []
    count = 0
    for actor in _active_actors(spec, model):
        for action in actor.actions:
            function = f"f{count}"
            count += 1
            source, bindings = _ActionCompiler(layout, exprs, helpers).compile(action, actor, function)
            functions.append((function, source))
            pending_actions.append((action.qualified_name, actor, action.doc, tuple(p.name for p in action.params),
                                    bindings, function, action.span, False))
        for kind, _ in actor.caches:
            function = f"f{count}"
            count += 1
            source, bindings = _sync_function(layout, actor, kind, function)
            functions.append((function, source))
            params = ("self", "obj") if actor.per else ("obj",)
            where = " on {self}" if actor.per else ""
            doc = f"the {{actor}} informer{where} delivers the latest version of {kind} {{obj}} to its cache"
            pending_actions.append((f"{actor.name}.sync[{kind}]", actor, doc, params, bindings, function, None, True))
    invariant_functions = []
    invariant_codes: list[Code] = []
    for invariant in spec.invariants:
        if invariant.name not in model.checks:
            continue
        function = f"f{count}"
        count += 1
        code = exprs.expr(invariant.expr, {})
        functions.append((function, f"def {function}(s):\n    return {_src(code)}\n"))
        invariant_functions.append((invariant, function))
        invariant_codes.append(code)
    all_hold_function = None
    if invariant_codes:
        all_hold_function = f"f{count}"
        count += 1
        conjunction = " and ".join(f"({_src(code)})" for code in invariant_codes)
        functions.append((all_hold_function, f"def {all_hold_function}(s):\n    return {conjunction}\n"))
    constraint_function = None
    if model.constraints:
        function = f"f{count}"
        count += 1
        code = exprs._junction([exprs.expr(c, {}) for c in model.constraints], "and")
        functions.append((function, f"def {function}(s):\n    return {_src(code)}\n"))
        constraint_function = function
    step_function = f"f{count}"
    count += 1
    action_sources = dict(functions)
    functions.append((step_function, _step_all_source(step_function, [action_sources[a[5]] for a in pending_actions])))
    canon_function = None
    if group is not None and group.listed:
        function = f"f{count}"
        count += 1
        source = _canonicalizer_source(layout, function, exprs, group.permutations())
        functions.append((function, source))
        canon_function = function
    namespace = helpers.namespace()
    table_source = "".join(f"{name} = {values!r}\n" for values, name in tables.items())
    program = table_source + "\n".join(source for _, source in functions)
    _check_generated(program)
    exec(compile(program, f"<kvolt:{model.name}>", "exec"), namespace)
    sources.append(program)
    actions = [CompiledAction(name, actor.name, doc, params, bindings, namespace[function], dict(functions)[function],  # type: ignore[arg-type]
                              span, is_sync)
               for name, actor, doc, params, bindings, function, span, is_sync in pending_actions]
    invariants = [CompiledInvariant(inv.name, inv.doc, namespace[fn], dict(functions)[fn])  # type: ignore[arg-type]
                  for inv, fn in invariant_functions]
    constraint = namespace[constraint_function] if constraint_function else None
    canonicalize = namespace[canon_function] if canon_function else None
    if group is not None and not group.listed:
        canonicalize = _sorting_canonicaliser(layout, group)
    all_hold = namespace[all_hold_function] if all_hold_function else None
    return CompiledModel(spec, model, layout, initial_states(layout), actions, invariants,
                         constraint, canonicalize, sources, namespace[step_function], all_hold, group)  # type: ignore[arg-type]


def _sorting_canonicaliser(layout: Layout, group: SymmetryGroup) -> Callable[[tuple[int, ...]], tuple[int, ...]]:
    """The canonical state of one state under a group too large to list (`checker/canonical.py`)."""
    import numpy as np

    from kvolt.checker.canonical import SortingCanonicaliser  # (it builds on this module's layout)

    canonicaliser = SortingCanonicaliser(layout, group)

    def canonicalize(state: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(int(v) for v in canonicaliser(np.array([state], dtype=np.int64))[0])

    return canonicalize


def compile_predicate(compiled: CompiledModel, expr: ir.Expr,
                      env: dict[str, int] | None = None) -> Callable[[tuple[int, ...]], bool]:
    """A state predicate with its free variables bound by `env` (a temporal property's instance)."""
    helpers = _Helpers()
    tables: dict[tuple[int, ...], str] = {}
    code = _ExprCompiler(compiled.layout, helpers, tables).expr(expr, env or {})
    program = "".join(f"{name} = {values!r}\n" for values, name in tables.items())
    program += f"def f0(s):\n    return {_src(code)}\n"
    _check_generated(program)
    namespace = helpers.namespace()
    exec(compile(program, f"<kvolt-predicate:{compiled.model.name}>", "exec"), namespace)
    return namespace["f0"]  # type: ignore[return-value]


_APPEND = re.compile(r"out\.append\(\((\d+), ")


def _step_all_source(function: str, action_sources: list[str]) -> str:
    """One function with every action's body in order, appending (action, binding, state) triples.

    The explorer calls it once per state instead of once per action per state. Action bodies are
    self-contained `if ...: while True: ... break` blocks that never return, so they chain as they are.
    """
    lines = [f"def {function}(s, out):", "    pass"]
    for index, source in enumerate(action_sources):
        body = source.split("\n", 1)[1]
        tagged, count = _APPEND.subn(lambda m, index=index: f"out.append(({index}, {m.group(1)}, ", body)
        if count != body.count("out.") or "return" in body:
            raise AssertionError("an action's generated code does not chain into the all-actions function")
        lines.append(tagged.rstrip("\n"))
    return "\n".join(lines) + "\n"


def _sync_function(layout: Layout, actor: ir.Actor, kind: str, function: str) -> tuple[str, list[Binding]]:
    api = layout.api[kind]
    lines = [f"def {function}(s, out):", "    pass"]
    bindings: list[Binding] = []
    ids = layout.model.ids(kind)
    for instance in range(layout.actor_instances(actor)):
        cache = layout.caches[(actor.name, instance, kind)]
        for obj in range(api.count):
            a, c, w = api.block(obj), cache.block(obj), api.width
            index = len(bindings)
            labels: tuple[tuple[str, object], ...] = (("obj", ids[obj]),)
            values: tuple[int, ...] = (obj + 1,)
            if actor.per:
                labels = (("self", layout.model.ids(actor.per)[instance]), *labels)
                values = (instance + 1, *values)
            bindings.append(Binding(values, labels))
            lines.append(f"    if s[{a}:{a + w}] != s[{c}:{c + w}]:")
            lines.append("        t = list(s)")
            lines.append(f"        t[{c}:{c + w}] = t[{a}:{a + w}]")
            lines.append(f"        out.append(({index}, tuple(t)))")
    return "\n".join(lines) + "\n", bindings


def initial_states(layout: Layout) -> list[tuple[int, ...]]:
    """Every initial state: the product of the model's nondeterministic init choices."""
    spec, model = layout.spec, layout.model
    base = [0] * layout.size
    for kind in spec.kinds:
        region = layout.api[kind.name]
        for index in range(region.count):
            for f in kind.state_fields:
                base[region.block(index) + layout.offset(kind.name, f.name)] = f.default
    slots: list[tuple[int, tuple[int, ...]]] = []
    for obj in model.inits:
        block = layout.api[obj.kind].block(obj.index)
        base[block] = LIVE
        for name, choices in obj.fields:
            slots.append((block + layout.offset(obj.kind, name), choices))
    states = []
    for combination in itertools.product(*(choices for _, choices in slots)):
        state = list(base)
        for (position, _), value in zip(slots, combination, strict=True):
            state[position] = value
        for (_actor, _instance, kind), region in layout.caches.items():
            api = layout.api[kind]
            state[region.base:region.base + api.width * api.count] = state[api.base:api.base + api.width * api.count]
        states.append(tuple(state))
    return list(dict.fromkeys(states))


# ---------------------------------------------------------------- symmetry


def _canonicalizer_source(layout: Layout, function: str, exprs: _ExprCompiler,
                          permutations: list[dict[str, tuple[int, ...]]]) -> str:
    """A function returning the least permutation of a state under a (listed) symmetry group.

    Each permutation is compared with the least so far position by position, and its tuple is
    built only when it is smaller: usually the first position that differs decides. Positions a
    permutation leaves alone are skipped while the least so far is the state itself.
    """
    lines = [f"def {function}(s):", "    t0 = s"]
    first = True
    for perms in permutations:
        values = _permuted_values(layout, perms, exprs)
        lines.append("    o1 = False")
        keyword = "if"
        for position, value in enumerate(values):
            if first and value == f"s[{position}]":
                continue  # equal to the state itself, which is the least so far
            lines.append(f"    {keyword} {value} != t0[{position}]:")
            lines.append(f"        o1 = {value} < t0[{position}]")
            keyword = "elif"
        lines.append(f"    if o1: t0 = ({', '.join(values)},)")
        first = False
    lines.append("    return t0")
    return "\n".join(lines) + "\n"


def permute_state(layout: Layout, state: tuple[int, ...], perms: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """Apply instance permutations (old index -> new index) to a state; used by tests and replays."""
    exprs = _ExprCompiler(layout, _Helpers(), {})
    source = f"({_permuted_tuple(layout, perms, exprs)},)"
    namespace = _Helpers().namespace()
    namespace.update({name: values for values, name in exprs.tables.items()})
    namespace["s"] = state
    return eval(compile(source, "<kvolt:permute>", "eval"), namespace)


@dataclass(frozen=True)
class Moved:
    """Where one position of a permuted state comes from, and how its value is renamed."""

    source: int
    mode: str  # "copy" | "ref" (value -> table[value]) | "bits" (bit i -> table[i])
    table: tuple[int, ...] = ()


def permutation_plan(layout: Layout, perms: dict[str, tuple[int, ...]]) -> list[Moved]:
    """For every position of the permuted state, its source position and renaming.

    `perms[kind][i]` is the new index of instance i. Blocks move with their instance, references
    to a permuted kind are renamed, and so are the caches of actors that run per permuted instance.
    """
    spec = layout.spec
    plan: list[Moved] = [Moved(i, "copy") for i in range(layout.size)]

    def move_block(src: int, dst: int, kind: str) -> None:
        plan[dst] = Moved(src, "copy")
        plan[dst + 1] = Moved(src + 1, "copy")
        for f in spec.kind(kind).state_fields:
            offset = layout.offset(kind, f.name)
            element = f.type.element if isinstance(f.type, ir.SetT) else f.type
            if isinstance(element, ir.RefT) and element.kind in perms:
                perm = perms[element.kind]
                if isinstance(f.type, ir.SetT):
                    plan[dst + offset] = Moved(src + offset, "bits", tuple(1 << perm[i] for i in range(len(perm))))
                else:
                    plan[dst + offset] = Moved(src + offset, "ref", (0, *(perm[i] + 1 for i in range(len(perm)))))
            else:
                plan[dst + offset] = Moved(src + offset, "copy")

    def move_region(src_region: Region, dst_region: Region, kind: str) -> None:
        perm = perms.get(kind)
        for index in range(src_region.count):
            move_block(src_region.block(index), dst_region.block(perm[index] if perm else index), kind)

    for kind in spec.kinds:
        move_region(layout.api[kind.name], layout.api[kind.name], kind.name)
    for (actor_name, instance, kind), region in layout.caches.items():
        actor = spec.actor(actor_name)
        new_instance = perms[actor.per][instance] if actor.per and actor.per in perms else instance
        move_region(region, layout.caches[(actor_name, new_instance, kind)], kind)
    return plan


def _permuted_tuple(layout: Layout, perms: dict[str, tuple[int, ...]], exprs: _ExprCompiler) -> str:
    return ", ".join(_permuted_values(layout, perms, exprs))


def _permuted_values(layout: Layout, perms: dict[str, tuple[int, ...]], exprs: _ExprCompiler) -> list[str]:
    parts = []
    for moved in permutation_plan(layout, perms):
        if moved.mode == "ref":
            parts.append(f"{exprs.table(moved.table)}[s[{moved.source}]]")
        elif moved.mode == "bits":
            parts.append(f"_pb(s[{moved.source}], {exprs.table(moved.table)})")
        else:
            parts.append(f"s[{moved.source}]")
    return parts
