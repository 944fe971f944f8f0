"""The abstract syntax tree: what the parser produces, before any name is resolved.

Frozen dataclasses, separate from lark's parse tree. Every node carries a `span` that is
left out of equality, so tests can compare trees built by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kvolt.checker.frontend.diagnostics import NO_SPAN, Span


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)


# ---------------------------------------------------------------- types


@dataclass(frozen=True)
class BoolType:
    span: Span = _span()


@dataclass(frozen=True)
class RangeType:
    low: int
    high: int
    span: Span = _span()


@dataclass(frozen=True)
class SetType:
    element: str
    span: Span = _span()


@dataclass(frozen=True)
class NamedType:
    """An enum or a kind (a nullable reference); the resolver decides which."""

    name: str
    span: Span = _span()


TypeExpr = BoolType | RangeType | SetType | NamedType


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class IntLit:
    value: int
    span: Span = _span()


@dataclass(frozen=True)
class BoolLit:
    value: bool
    span: Span = _span()


@dataclass(frozen=True)
class NoneLit:
    span: Span = _span()


@dataclass(frozen=True)
class Name:
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class FieldAccess:
    obj: Expr
    name: str
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class SetLit:
    elements: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Unary:
    op: str  # "not"
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Binary:
    """and, or, implies, ==, !=, <, <=, >, >=, in, not in, +, -, &."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span()
    op_span: Span = _span()


@dataclass(frozen=True)
class Binder:
    name: str
    type: TypeExpr
    span: Span = _span()


@dataclass(frozen=True)
class Quantifier:
    quantifier: str  # "forall" | "exists" | "count"
    binders: tuple[Binder, ...]
    body: Expr
    span: Span = _span()


@dataclass(frozen=True)
class SetComprehension:
    """`{v: K | pred}`: the values of K (a kind's instances or an enum's members) that satisfy pred."""

    binder: Binder
    body: Expr
    span: Span = _span()


@dataclass(frozen=True)
class IfThenElse:
    cond: Expr
    then: Expr
    orelse: Expr
    span: Span = _span()


Expr = (IntLit | BoolLit | NoneLit | Name | FieldAccess | Call | SetLit | Unary | Binary | Quantifier | SetComprehension
        | IfThenElse)


# ---------------------------------------------------------------- statements


@dataclass(frozen=True)
class Require:
    cond: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Let:
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Assign:
    target: Expr  # the object whose field is written
    field: str
    value: Expr
    patch: bool = False
    span: Span = _span()
    field_span: Span = _span()


@dataclass(frozen=True)
class FieldInit:
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Create:
    obj: Name
    inits: tuple[FieldInit, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Delete:
    obj: Expr
    span: Span = _span()


@dataclass(frozen=True)
class FinalizerOp:
    op: str  # "add" | "remove"
    finalizer: str
    obj: Expr
    patch: bool = False
    span: Span = _span()
    finalizer_span: Span = _span()


@dataclass(frozen=True)
class If:
    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    span: Span = _span()


Stmt = Require | Let | Assign | Create | Delete | FinalizerOp | If


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True)
class EnumDecl:
    name: str
    members: tuple[str, ...]
    doc: str = ""
    span: Span = _span()
    member_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class FieldDecl:
    name: str
    type: TypeExpr
    default: Expr | None
    const: bool = False
    doc: str = ""
    span: Span = _span()


@dataclass(frozen=True)
class KindDecl:
    name: str
    fields: tuple[FieldDecl, ...]
    finalizers: tuple[str, ...]
    doc: str = ""
    span: Span = _span()


@dataclass(frozen=True)
class Param:
    name: str
    type: TypeExpr
    span: Span = _span()


@dataclass(frozen=True)
class ActionDecl:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    doc: str = ""
    mode: str = "new"  # "new" | "override" | "remove" (in an actor block of a variant)
    span: Span = _span()


@dataclass(frozen=True)
class CacheDecl:
    kinds: tuple[str, ...]
    writethrough: bool = False
    span: Span = _span()
    kind_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class ActorDecl:
    name: str
    per: str | None
    caches: tuple[CacheDecl, ...]
    actions: tuple[ActionDecl, ...]
    module: str | None = None
    doc: str = ""
    span: Span = _span()
    per_span: Span = _span()


@dataclass(frozen=True)
class InvariantDecl:
    name: str
    expr: Expr
    doc: str = ""
    mode: str = "new"  # "new" | "override" | "remove"
    span: Span = _span()


@dataclass(frozen=True)
class InitField:
    name: str
    choices: tuple[Expr, ...]  # one element: a fixed value; several: a nondeterministic choice
    span: Span = _span()


@dataclass(frozen=True)
class InitObject:
    instance: str
    fields: tuple[InitField, ...]
    span: Span = _span()


@dataclass(frozen=True)
class InstancesDecl:
    kind: str
    count: int | None
    names: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True)
class ConstValue:
    instance: str
    field: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class NameRef:
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class ModelDecl:
    name: str
    default: bool
    instances: tuple[InstancesDecl, ...]
    consts: tuple[ConstValue, ...]
    inits: tuple[InitObject, ...]
    constraints: tuple[Expr, ...]
    symmetric: tuple[NameRef, ...]
    checks: tuple[NameRef, ...]
    includes: tuple[NameRef, ...]
    has_check: bool = False
    has_include: bool = False
    doc: str = ""
    mode: str = "new"  # "new" | "override" | "remove"
    span: Span = _span()


@dataclass(frozen=True)
class PropertyDecl:
    """A temporal property: `eventually P`, `always eventually P` or `P ~> Q`, under `forall` binders.

    `trigger` is P of `P ~> Q` (None for the other shapes); `goal` is what must eventually hold.
    """

    name: str
    shape: str  # "eventually" | "always_eventually" | "leads_to"
    binders: tuple[Binder, ...]
    trigger: Expr | None
    goal: Expr
    doc: str = ""
    mode: str = "new"  # "new" | "override" | "remove"
    span: Span = _span()


@dataclass(frozen=True)
class FairnessDecl:
    """`[weak|strong] fair`, `unfair` or `finite` `actor/action ...`; targets are actor or actor.action names."""

    level: str  # "weak" | "strong" | "none" | "finite"
    target: str  # "actor" | "action"
    names: tuple[str, ...]
    span: Span = _span()
    name_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class ExpectDecl:
    invariant: str
    span: Span = _span()


@dataclass(frozen=True)
class CheckOnDecl:
    """`check on model a, b`: the models a variant must be checked on."""

    models: tuple[NameRef, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Module:
    """One parsed file, declarations in source order."""

    file: str
    extends: str | None
    extends_span: Span | None
    enums: tuple[EnumDecl, ...]
    kinds: tuple[KindDecl, ...]
    actors: tuple[ActorDecl, ...]
    invariants: tuple[InvariantDecl, ...]
    models: tuple[ModelDecl, ...]
    expect: ExpectDecl | None
    doc: str = ""
    properties: tuple[PropertyDecl, ...] = ()
    fairness: tuple[FairnessDecl, ...] = ()  # in source order: a later declaration overrides an earlier one
    check_on: tuple[NameRef, ...] = ()  # `check on model ...`: the models this spec (a variant) is checked on
