"""The typed intermediate representation: what the resolver produces and the engines consume.

Values are encoded as small integers already here, because every engine (compiled, naive
reference, symbolic) shares the encoding:

- bool: 0 / 1;  int: itself;  enum member: its index;  finalizer: its index in the kind;
- reference: 0 for none, i + 1 for the i-th instance of the kind;
- set: a bit mask (bit i: enum member i, finalizer i, or instance i).

Spans are excluded from equality so that two IR trees compare by meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kvolt.checker.frontend.diagnostics import NO_SPAN, Span

# ---------------------------------------------------------------- types


@dataclass(frozen=True)
class BoolT:
    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class IntT:
    low: int = -(2**31)
    high: int = 2**31

    def __str__(self) -> str:
        return "int" if self.low == -(2**31) else f"{self.low}..{self.high}"


@dataclass(frozen=True)
class EnumT:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class RefT:
    """A nullable reference to an instance of a kind."""

    kind: str

    def __str__(self) -> str:
        return self.kind


@dataclass(frozen=True)
class FinT:
    """A finalizer name of a kind."""

    kind: str

    def __str__(self) -> str:
        return f"finalizer of {self.kind}"


@dataclass(frozen=True)
class NoneT:
    """The type of the literal `none` before it meets a reference type."""

    def __str__(self) -> str:
        return "none"


@dataclass(frozen=True)
class SetT:
    element: EnumT | RefT | FinT

    def __str__(self) -> str:
        return f"set of {self.element}"


Type = BoolT | IntT | EnumT | RefT | FinT | NoneT | SetT

BOOL = BoolT()
INT = IntT()

# ---------------------------------------------------------------- expressions

LIFECYCLE_FIELDS = ("exists", "deleting", "finalizers")


@dataclass(frozen=True)
class Lit:
    type: Type
    value: int


@dataclass(frozen=True)
class Var:
    """A parameter, quantifier variable or `self`."""

    name: str
    type: Type


@dataclass(frozen=True)
class FieldRead:
    """`obj.field`; `cache` names the actor whose informer cache is read, None for the API.

    `field` may be a declared field, a per-instance constant, or one of the lifecycle
    pseudo-fields `exists`, `deleting`, `finalizers`.
    """

    obj: Expr
    kind: str
    field: str
    type: Type
    cache: str | None = None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Not:
    operand: Expr
    type: Type = BOOL


@dataclass(frozen=True)
class BinOp:
    """and or implies == != < <= > >= + - (ints); union diff inter subset in (sets)."""

    op: str
    left: Expr
    right: Expr
    type: Type


@dataclass(frozen=True)
class Ite:
    cond: Expr
    then: Expr
    orelse: Expr
    type: Type


@dataclass(frozen=True)
class Quant:
    """forall / exists / count over one bound variable; nested for several binders."""

    quantifier: str
    var: str
    domain: Type  # RefT (instances), EnumT, IntT (bounded range), BoolT
    body: Expr
    type: Type


@dataclass(frozen=True)
class SetLit:
    elements: tuple[Expr, ...]
    type: SetT


@dataclass(frozen=True)
class Call:
    """size(s), min(a, b), max(a, b)."""

    func: str
    args: tuple[Expr, ...]
    type: Type


Expr = Lit | Var | FieldRead | Not | BinOp | Ite | Quant | SetLit | Call

# ---------------------------------------------------------------- statements


@dataclass(frozen=True)
class Assign:
    obj: Expr
    kind: str
    field: str
    value: Expr
    patch: bool = False
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Create:
    obj: Expr
    kind: str
    inits: tuple[tuple[str, Expr], ...]
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Delete:
    obj: Expr
    kind: str
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class FinalizerOp:
    op: str  # "add" | "remove"
    obj: Expr
    kind: str
    finalizer: int
    patch: bool = False
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class If:
    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]


Stmt = Assign | Create | Delete | FinalizerOp | If

# ---------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Field:
    name: str
    type: Type
    default: int
    const: bool = False
    has_default: bool = True
    doc: str = ""


@dataclass(frozen=True)
class Kind:
    name: str
    fields: tuple[Field, ...]
    finalizers: tuple[str, ...]
    doc: str = ""

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def state_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.const)

    @property
    def const_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.const)


@dataclass(frozen=True)
class Param:
    name: str
    type: Type


@dataclass(frozen=True)
class Action:
    actor: str
    name: str
    params: tuple[Param, ...]  # for a per-kind actor the first one is `self`
    guards: tuple[Expr, ...]
    effects: tuple[Stmt, ...]
    doc: str = ""
    span: Span = field(default=NO_SPAN, compare=False)

    @property
    def qualified_name(self) -> str:
        return f"{self.actor}.{self.name}"


@dataclass(frozen=True)
class Actor:
    name: str
    per: str | None
    caches: tuple[tuple[str, bool], ...]  # (kind, writethrough), in declaration order
    actions: tuple[Action, ...]
    module: str | None = None
    doc: str = ""

    def cache_of(self, kind: str) -> tuple[str, bool] | None:
        return next((c for c in self.caches if c[0] == kind), None)


@dataclass(frozen=True)
class Invariant:
    name: str
    expr: Expr
    doc: str = ""
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Property:
    """A temporal property, one per binding of its `forall` binders (see docs/language.md).

    shape "eventually": <>goal; "always_eventually": []<>goal; "leads_to": [](trigger => <>goal).
    """

    name: str
    shape: str
    binders: tuple[tuple[str, Type], ...]
    trigger: Expr | None
    goal: Expr
    doc: str = ""
    span: Span = field(default=NO_SPAN, compare=False)


FAIRNESS_LEVELS = ("none", "weak", "strong", "finite")  # finite: unfair, and taken only finitely often


@dataclass(frozen=True)
class InitObject:
    kind: str
    index: int
    fields: tuple[tuple[str, tuple[int, ...]], ...]  # field -> possible values ("finalizers": masks)


@dataclass(frozen=True)
class Model:
    name: str
    instances: tuple[tuple[str, tuple[str, ...]], ...]  # kind -> instance ids, for every kind
    consts: tuple[tuple[str, str, tuple[int, ...]], ...]  # (kind, field, value per instance)
    inits: tuple[InitObject, ...]
    constraints: tuple[Expr, ...]
    symmetric: tuple[str, ...]
    checks: tuple[str, ...]
    actors: tuple[str, ...]  # the actors this model runs
    doc: str = ""
    properties: tuple[str, ...] = ()  # the temporal properties it checks
    symmetric_spans: tuple[Span, ...] = field(default=(), compare=False)  # where each symmetric kind is declared

    def ids(self, kind: str) -> tuple[str, ...]:
        return dict(self.instances)[kind]

    def count(self, kind: str) -> int:
        return len(self.ids(kind))

    def const_values(self, kind: str, field: str) -> tuple[int, ...]:
        return next(v for k, f, v in self.consts if k == kind and f == field)


@dataclass(frozen=True)
class Spec:
    file: str
    enums: tuple[tuple[str, tuple[str, ...]], ...]
    kinds: tuple[Kind, ...]
    actors: tuple[Actor, ...]
    invariants: tuple[Invariant, ...]
    models: tuple[Model, ...]
    default_model: str
    expect: str | None = None
    properties: tuple[Property, ...] = ()
    fairness: tuple[tuple[str, str], ...] = ()  # actor name or "actor.action" -> a FAIRNESS_LEVELS member
    check_models: tuple[str, ...] = ()  # `check on model ...` (a variant's models; empty: the default model)

    def property(self, name: str) -> Property:
        return next(p for p in self.properties if p.name == name)

    def fairness_of(self, actor: str, action: str | None = None) -> str:
        """An action's fairness: its own declaration, else its actor's (sync actions: the actor's)."""
        levels = dict(self.fairness)
        if action is not None and f"{actor}.{action}" in levels:
            return levels[f"{actor}.{action}"]
        return levels.get(actor, "weak")

    def enum(self, name: str) -> tuple[str, ...]:
        return dict(self.enums)[name]

    def kind(self, name: str) -> Kind:
        return next(k for k in self.kinds if k.name == name)

    def actor(self, name: str) -> Actor:
        return next(a for a in self.actors if a.name == name)

    def invariant(self, name: str) -> Invariant:
        return next(i for i in self.invariants if i.name == name)

    def model(self, name: str) -> Model | None:
        return next((m for m in self.models if m.name == name), None)


def element_bit(value: int, element: Type) -> int:
    """The bit standing for a set element's value: instances count from 1 (0 is `none`), members from 0."""
    return value - 1 if isinstance(element, RefT) else value


def universe_size(spec: Spec, model: Model, element: EnumT | RefT | FinT) -> int:
    """How many distinct elements a set of this element type can hold."""
    if isinstance(element, EnumT):
        return len(spec.enum(element.name))
    if isinstance(element, FinT):
        return len(spec.kind(element.kind).finalizers)
    return model.count(element.kind)


def domain_values(spec: Spec, model: Model, domain: Type) -> range:
    """The encoded values a quantifier or a parameter ranges over."""
    if isinstance(domain, RefT):
        return range(1, model.count(domain.kind) + 1)
    if isinstance(domain, EnumT):
        return range(len(spec.enum(domain.name)))
    if isinstance(domain, BoolT):
        return range(2)
    if isinstance(domain, IntT):
        return range(domain.low, domain.high + 1)
    raise TypeError(f"cannot range over {domain}")
