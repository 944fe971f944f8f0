"""Resolve names and check types: the AST (`syntax.py`) becomes the typed IR (`ir.py`).

Bare names are resolved in this order: local names (parameters, `let`, quantifier variables,
`self`), then an enum member or finalizer of the type the context expects, then an enum member
that is unique across the spec. `Enum.Member` is always accepted.

Reads of a kind that the current actor caches go to that actor's cache, except inside
`live(...)`. Invariants and model constraints read the API state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from kvolt.checker.frontend import ir
from kvolt.checker.frontend import syntax as ast
from kvolt.checker.frontend.diagnostics import Diagnostic, Span, SpecError, did_you_mean, too_deep

RESERVED = {"self", "none", "true", "false"}
FUNCTIONS = ("size", "min", "max", "live")


def _fail(code: str, message: str, span: Span | None, notes: tuple[str, ...] = ()) -> NoReturn:
    raise SpecError(Diagnostic(code, message, span, notes))


@dataclass
class _Scope:
    values: dict[str, ir.Expr] = field(default_factory=dict)
    actor: ast.ActorDecl | None = None
    cached: frozenset[str] = frozenset()
    live: bool = False

    def child(self, **changes: object) -> _Scope:
        scope = _Scope(dict(self.values), self.actor, self.cached, self.live)
        for key, value in changes.items():
            setattr(scope, key, value)
        return scope


def resolve(module: ast.Module) -> ir.Spec:
    """Type-check a merged module and build its IR; raises SpecError with every problem found."""
    try:
        return _Resolver(module).run()
    except RecursionError:
        raise too_deep(module.file) from None


class _Resolver:
    def __init__(self, module: ast.Module) -> None:
        self.module = module
        self.errors: list[Diagnostic] = []
        self.enums: dict[str, tuple[str, ...]] = {}
        self.kind_decls: dict[str, ast.KindDecl] = {}
        self.kinds: dict[str, ir.Kind] = {}
        self.members: dict[str, list[str]] = {}  # enum member -> enums declaring it

    def _collect(self, step: Callable[[], object]) -> object:
        try:
            return step()
        except SpecError as error:
            self.errors.extend(error.diagnostics)
            return None

    def _raise_if_errors(self) -> None:
        if self.errors:
            raise SpecError(self.errors)

    def run(self) -> ir.Spec:
        self._declare_types()
        self._raise_if_errors()
        for decl in self.module.kinds:
            self._collect(lambda decl=decl: self._resolve_kind(decl))
        self._raise_if_errors()
        actors = [a for a in (self._collect(lambda d=d: self._resolve_actor(d)) for d in self.module.actors) if a]
        self._check_unique([a.name for a in self.module.actors], [a.span for a in self.module.actors], "actor")
        invariants = [i for i in (self._collect(lambda d=d: self._resolve_invariant(d)) for d in self.module.invariants) if i]
        self._check_unique([i.name for i in self.module.invariants], [i.span for i in self.module.invariants], "invariant")
        properties = [p for p in (self._collect(lambda d=d: self._resolve_property(d)) for d in self.module.properties) if p]
        self._check_unique([p.name for p in self.module.properties], [p.span for p in self.module.properties], "property")
        for prop in self.module.properties:
            if prop.name in {i.name for i in self.module.invariants}:
                self.errors.append(Diagnostic("R002", f"'{prop.name}' names both an invariant and a property", prop.span))
        fairness = self._collect(lambda: self._resolve_fairness(actors))
        self._raise_if_errors()
        modules = {a.module for a in self.module.actors if a.module}
        models = [m for m in (self._collect(lambda d=d: self._resolve_model(d, actors, invariants, modules, properties))
                              for d in self.module.models) if m]
        self._check_unique([m.name for m in self.module.models], [m.span for m in self.module.models], "model")
        default = self._default_model()
        expect = self._resolve_expect([i.name for i in invariants] + [p.name for p in properties])
        check_models = self._resolve_check_on([m.name for m in self.module.models])
        self._raise_if_errors()
        return ir.Spec(self.module.file, tuple(self.enums.items()), tuple(self.kinds[k.name] for k in self.module.kinds),
                       tuple(actors), tuple(invariants), tuple(models), default, expect, tuple(properties),
                       fairness or (), check_models)  # type: ignore[arg-type]

    def _resolve_check_on(self, names: list[str]) -> tuple[str, ...]:
        """`check on model ...`: every name a model of the (merged) spec, each once."""
        for ref in self.module.check_on:
            if ref.name not in names:
                self.errors.append(Diagnostic("M012", f"check on model '{ref.name}': no such model", ref.span,
                                              did_you_mean(ref.name, names) or (f"models: {', '.join(names)}",)))
        return tuple(dict.fromkeys(ref.name for ref in self.module.check_on))

    def _check_unique(self, names: list[str], spans: list[Span], what: str) -> None:
        seen: set[str] = set()
        for name, span in zip(names, spans, strict=True):
            if name in seen:
                self.errors.append(Diagnostic("R002", f"{what} '{name}' is declared twice", span))
            seen.add(name)

    # ------------------------------------------------------------ types

    def _declare_types(self) -> None:
        for enum in self.module.enums:
            if enum.name in self.enums or enum.name in self.kind_decls:
                self.errors.append(Diagnostic("R002", f"type '{enum.name}' is declared twice", enum.span))
                continue
            if not enum.members:
                self.errors.append(Diagnostic("R003", f"enum '{enum.name}' has no members", enum.span))
            if len(set(enum.members)) != len(enum.members):
                self.errors.append(Diagnostic("R002", f"enum '{enum.name}' lists a member twice", enum.span))
            if len(enum.members) > 62:
                self.errors.append(Diagnostic("R003", f"enum '{enum.name}' has more than 62 members", enum.span))
            self.enums[enum.name] = enum.members
            for member in enum.members:
                self.members.setdefault(member, []).append(enum.name)
        for kind in self.module.kinds:
            if kind.name in self.enums or kind.name in self.kind_decls:
                self.errors.append(Diagnostic("R002", f"type '{kind.name}' is declared twice", kind.span))
                continue
            self.kind_decls[kind.name] = kind
        for name, span in [(e.name, e.span) for e in self.module.enums] + [(k.name, k.span) for k in self.module.kinds]:
            if name in ("bool", "set", "self", "none"):
                self.errors.append(Diagnostic("R004", f"'{name}' is reserved and cannot name a type", span))

    def _type(self, node: ast.TypeExpr) -> ir.Type:
        if isinstance(node, ast.BoolType):
            return ir.BOOL
        if isinstance(node, ast.RangeType):
            if node.low > node.high:
                _fail("T010", f"empty range {node.low}..{node.high}", node.span)
            return ir.IntT(node.low, node.high)
        if isinstance(node, ast.SetType):
            if node.element == "bool":
                _fail("T011", "sets hold enum values or references, not bool", node.span)
            element = self._named(node.element, node.span)
            if not isinstance(element, ir.EnumT | ir.RefT):
                _fail("T011", "sets hold enum values or references", node.span)
            return ir.SetT(element)
        return self._named(node.name, node.span)

    def _named(self, name: str, span: Span) -> ir.EnumT | ir.RefT:
        if name in self.enums:
            return ir.EnumT(name)
        if name in self.kind_decls:
            return ir.RefT(name)
        _fail("R001", f"unknown type '{name}'", span,
              did_you_mean(name, [*self.enums, *self.kind_decls, "bool"]) or ("types are bool, LOW..HIGH, set of T, "
                                                                            "an enum or a kind",))

    def _resolve_kind(self, decl: ast.KindDecl) -> None:
        fields: list[ir.Field] = []
        names: set[str] = set()
        for f in decl.fields:
            if f.name in names:
                _fail("R002", f"field '{f.name}' is declared twice in kind {decl.name}", f.span)
            if f.name in ir.LIFECYCLE_FIELDS:
                _fail("R004", f"'{f.name}' is a built-in field of every kind", f.span,
                      ("every object has exists, deleting and finalizers; choose another name",))
            names.add(f.name)
            type_ = self._type(f.type)
            if f.default is None:
                default, has_default = _type_default(type_), not f.const
            else:
                value = self._expr(f.default, _Scope(), type_)
                self._check_assignable(value, type_, f.default.span if hasattr(f.default, "span") else f.span)
                default, has_default = _constant(value, f.default), True
                _check_range(default, type_, f.default)
            fields.append(ir.Field(f.name, type_, default, f.const, has_default, f.doc))
        if len(decl.finalizers) != len(set(decl.finalizers)):
            _fail("R002", f"kind {decl.name} lists a finalizer twice", decl.span)
        if len(fields) + 2 > 250:
            _fail("R003", f"kind {decl.name} has too many fields", decl.span)
        self.kinds[decl.name] = ir.Kind(decl.name, tuple(fields), decl.finalizers, decl.doc)

    # ------------------------------------------------------------ actors and actions

    def _resolve_actor(self, decl: ast.ActorDecl) -> ir.Actor:
        if decl.per is not None and decl.per not in self.kinds:
            _fail("R001", f"unknown kind '{decl.per}'", decl.per_span, did_you_mean(decl.per, list(self.kinds)))
        caches: list[tuple[str, bool]] = []
        for cache in decl.caches:
            for kind, span in zip(cache.kinds, cache.kind_spans or (cache.span,) * len(cache.kinds), strict=False):
                if kind not in self.kinds:
                    _fail("R001", f"unknown kind '{kind}'", span, did_you_mean(kind, list(self.kinds)))
                if any(k == kind for k, _ in caches):
                    _fail("R002", f"actor {decl.name} caches {kind} twice", span)
                caches.append((kind, cache.writethrough))
        scope = _Scope(actor=decl, cached=frozenset(k for k, _ in caches))
        actions = []
        for action in decl.actions:
            resolved = self._collect(lambda a=action: self._resolve_action(decl, a, scope))
            if resolved is not None:
                actions.append(resolved)
        self._check_unique([a.name for a in decl.actions], [a.span for a in decl.actions], "action")
        return ir.Actor(decl.name, decl.per, tuple(caches), tuple(actions), decl.module, decl.doc)

    def _resolve_action(self, actor: ast.ActorDecl, decl: ast.ActionDecl, scope: _Scope) -> ir.Action:
        scope = scope.child()
        params: list[ir.Param] = []
        if actor.per is not None:
            self_type = ir.RefT(actor.per)
            params.append(ir.Param("self", self_type))
            scope.values["self"] = ir.Var("self", self_type)
        for param in decl.params:
            if param.name in scope.values or param.name in RESERVED:
                _fail("R005", f"parameter '{param.name}' is already defined", param.span)
            type_ = self._type(param.type)
            if isinstance(type_, ir.SetT):
                _fail("T012", "an action parameter cannot be a set", param.type.span)
            if isinstance(type_, ir.IntT) and type_.high - type_.low > 64:
                _fail("T012", "an integer parameter ranges over at most 65 values", param.type.span)
            params.append(ir.Param(param.name, type_))
            scope.values[param.name] = ir.Var(param.name, type_)
        guards: list[ir.Expr] = []
        effects = self._block(decl.body, scope, guards, top=True)
        return ir.Action(actor.name, decl.name, tuple(params), tuple(guards), effects, decl.doc, decl.span)

    def _block(self, body: tuple[ast.Stmt, ...], scope: _Scope, guards: list[ir.Expr], top: bool) -> tuple[ir.Stmt, ...]:
        effects: list[ir.Stmt] = []
        for stmt in body:
            if isinstance(stmt, ast.Require):
                if not top:
                    _fail("S001", "'require' belongs at the top level of an action body", stmt.span,
                          ("a guard inside 'if' would be a conditional guard; write 'require cond implies ...'",))
                guards.append(self._bool(stmt.cond, scope))
            elif isinstance(stmt, ast.Let):
                if stmt.name in scope.values or stmt.name in RESERVED:
                    _fail("R005", f"'{stmt.name}' is already defined", stmt.span)
                scope.values[stmt.name] = self._expr(stmt.value, scope, None)
            else:
                effects.append(self._stmt(stmt, scope, guards))
        return tuple(effects)

    def _stmt(self, stmt: ast.Stmt, scope: _Scope, guards: list[ir.Expr]) -> ir.Stmt:
        if isinstance(stmt, ast.Assign):
            return self._assign(stmt, scope)
        if isinstance(stmt, ast.Create):
            return self._create(stmt, scope)
        if isinstance(stmt, ast.Delete):
            obj, kind = self._object(stmt.obj, scope)
            return ir.Delete(obj, kind, stmt.span)
        if isinstance(stmt, ast.FinalizerOp):
            obj, kind = self._object(stmt.obj, scope)
            finalizers = self.kinds[kind].finalizers
            if stmt.finalizer not in finalizers:
                _fail("R006", f"kind {kind} has no finalizer '{stmt.finalizer}'", stmt.finalizer_span,
                      did_you_mean(stmt.finalizer, finalizers) or (f"declare it: finalizers {stmt.finalizer}",))
            return ir.FinalizerOp(stmt.op, obj, kind, finalizers.index(stmt.finalizer), stmt.patch, stmt.span)
        if isinstance(stmt, ast.If):
            cond = self._bool(stmt.cond, scope)
            then = self._block(stmt.then, scope.child(), guards, top=False)
            orelse = self._block(stmt.orelse, scope.child(), guards, top=False)
            return ir.If(cond, then, orelse)
        raise AssertionError(stmt)

    def _object(self, node: ast.Expr, scope: _Scope) -> tuple[ir.Expr, str]:
        obj = self._expr(node, scope, None)
        if not isinstance(_type(obj), ir.RefT):
            _fail("T001", f"expected an object reference, found a value of type {_type(obj)}", node.span)
        return obj, _type(obj).kind  # type: ignore[union-attr]

    def _assign(self, stmt: ast.Assign, scope: _Scope) -> ir.Assign:
        obj, kind = self._object(stmt.target, scope)
        field_ = self._field(kind, stmt.field, stmt.field_span)
        if field_ is None:
            _fail("S002", f"'{stmt.field}' is managed by the API server and cannot be assigned", stmt.field_span,
                  ("use create, delete, and add/remove finalizer",))
        if field_.const:
            _fail("S003", f"'{kind}.{stmt.field}' is a per-instance constant and cannot be assigned", stmt.field_span,
                  ("constants are set by the model: const INSTANCE.FIELD = VALUE",))
        value = self._expr(stmt.value, scope, field_.type)
        self._check_assignable(value, field_.type, stmt.value.span)
        if isinstance(stmt.value, ast.IntLit) and isinstance(value, ir.Lit):  # a literal: refuse now
            _check_range(value.value, field_.type, stmt.value)
        return ir.Assign(obj, kind, stmt.field, value, stmt.patch, stmt.span)

    def _create(self, stmt: ast.Create, scope: _Scope) -> ir.Create:
        obj, kind = self._object(stmt.obj, scope)
        inits: list[tuple[str, ir.Expr]] = []
        for init in stmt.inits:
            if any(name == init.name for name, _ in inits):
                _fail("R002", f"'{init.name}' is given twice", init.span)
            if init.name == "finalizers":
                target: ir.Type = ir.SetT(ir.FinT(kind))
            else:
                field_ = self._field(kind, init.name, init.span)
                if field_ is None or field_.const:
                    what = "a per-instance constant" if field_ else "managed by the API server"
                    _fail("S003", f"'{init.name}' is {what} and cannot be set at create", init.span)
                target = field_.type
            value = self._expr(init.value, scope, target)
            self._check_assignable(value, target, init.value.span)
            if isinstance(init.value, ast.IntLit) and isinstance(value, ir.Lit):  # a literal: refuse now
                _check_range(value.value, target, init.value)
            inits.append((init.name, value))
        return ir.Create(obj, kind, tuple(inits), stmt.span)

    def _field(self, kind: str, name: str, span: Span) -> ir.Field | None:
        """The declared field; None for a lifecycle pseudo-field; an error if unknown."""
        if name in ir.LIFECYCLE_FIELDS:
            return None
        declared = self.kinds[kind].field(name)
        if declared is None:
            _fail("R007", f"kind {kind} has no field '{name}'", span,
                  did_you_mean(name, [f.name for f in self.kinds[kind].fields] + list(ir.LIFECYCLE_FIELDS)))
        return declared

    # ------------------------------------------------------------ invariants, models

    def _resolve_invariant(self, decl: ast.InvariantDecl) -> ir.Invariant:
        return ir.Invariant(decl.name, self._bool(decl.expr, _Scope()), decl.doc, decl.span)

    def _bind(self, binders: Sequence[ast.Binder], scope: _Scope, int_limit: int,
              too_many: str) -> list[tuple[str, ir.Type]]:
        """Declare quantified names in `scope`: no shadowing, no sets, integer ranges below `int_limit`."""
        domains: list[tuple[str, ir.Type]] = []
        for binder in binders:
            if binder.name in scope.values or binder.name in RESERVED:
                _fail("R005", f"'{binder.name}' is already defined", binder.span)
            domain = self._type(binder.type)
            if isinstance(domain, ir.SetT):
                _fail("T012", "cannot quantify over sets", binder.type.span)
            if isinstance(domain, ir.IntT) and domain.high - domain.low >= int_limit:
                _fail("T012", too_many, binder.type.span)
            domains.append((binder.name, domain))
            scope.values[binder.name] = ir.Var(binder.name, domain)
        return domains

    def _resolve_property(self, decl: ast.PropertyDecl) -> ir.Property:
        """A temporal property: its `forall` binders range over instances, enum members or integers."""
        scope = _Scope()
        binders = self._bind(decl.binders, scope, 64,
                             "a property's forall ranges over at most 64 integers (one property per value)")
        trigger = self._bool(decl.trigger, scope) if decl.trigger is not None else None
        goal = self._bool(decl.goal, scope)
        return ir.Property(decl.name, decl.shape, tuple(binders), trigger, goal, decl.doc, decl.span)

    def _resolve_fairness(self, actors: list[ir.Actor]) -> tuple[tuple[str, str], ...]:
        """Every actor's and every action's fairness, declarations applied in source order (later wins).

        Default: weak for every actor (a controller reconciles forever); the environment (users,
        admins, faults) is declared `unfair`. An action takes its actor's level unless declared itself.
        """
        known = {a.name: a for a in actors}
        actor_level = {a.name: "weak" for a in actors}
        action_level: dict[str, str] = {}
        for decl in self.module.fairness:
            spans = decl.name_spans or (decl.span,) * len(decl.names)
            for name, span in zip(decl.names, spans, strict=False):
                if decl.target == "actor":
                    if name not in known:
                        _fail("R014", f"unknown actor '{name}'", span, did_you_mean(name, list(known)))
                    actor_level[name] = decl.level
                    for action in known[name].actions:  # an actor's declaration covers its actions
                        action_level.pop(action.qualified_name, None)
                    continue
                actor_name, _, action_name = name.partition(".")
                if actor_name not in known:
                    _fail("R014", f"unknown actor '{actor_name}'", span, did_you_mean(actor_name, list(known)))
                actions = [a.name for a in known[actor_name].actions]
                if action_name not in actions:
                    _fail("R015", f"actor {actor_name} has no action '{action_name}'", span,
                          did_you_mean(action_name, actions))
                action_level[name] = decl.level
        levels = [(name, level) for name, level in actor_level.items()]
        for actor in actors:
            for action in actor.actions:
                levels.append((action.qualified_name, action_level.get(action.qualified_name, actor_level[actor.name])))
        return tuple(levels)

    def _default_model(self) -> str:
        defaults = [m for m in self.module.models if m.default]
        if len(defaults) > 1:
            self.errors.append(Diagnostic("M001", "more than one model is marked default", defaults[1].span))
        if defaults:
            return defaults[0].name
        return self.module.models[0].name if len(self.module.models) == 1 else ""

    def _resolve_expect(self, names: list[str]) -> str | None:
        expect = self.module.expect
        if expect is None:
            return None
        if expect.invariant not in names:
            self.errors.append(Diagnostic("R008", f"unknown invariant or property '{expect.invariant}'", expect.span,
                                          did_you_mean(expect.invariant, names)))
        return expect.invariant

    def _resolve_model(self, decl: ast.ModelDecl, actors: list[ir.Actor], invariants: list[ir.Invariant],
                       modules: set[str], properties: list[ir.Property]) -> ir.Model:
        instances = self._model_instances(decl)
        scope = _Scope()
        for kind, ids in instances.items():
            for index, name in enumerate(ids):
                scope.values[name] = ir.Lit(ir.RefT(kind), index + 1)
        where = {name: (kind, index) for kind, ids in instances.items() for index, name in enumerate(ids)}
        consts = self._model_consts(decl, instances, where, scope)
        inits = tuple(self._model_init(obj, where, scope) for obj in decl.inits)
        seen_inits: set[str] = set()
        for obj in decl.inits:
            if obj.instance in seen_inits:
                _fail("M004", f"{obj.instance} is initialised twice", obj.span)
            seen_inits.add(obj.instance)
        constraints = tuple(self._bool(c, _Scope()) for c in decl.constraints)
        symmetric = tuple(self._symmetric_kind(ref) for ref in decl.symmetric)
        names = [i.name for i in invariants]
        property_names = [p.name for p in properties]
        for ref in decl.checks:
            if ref.name not in names and ref.name not in property_names:
                _fail("R008", f"unknown invariant or property '{ref.name}'", ref.span,
                      did_you_mean(ref.name, names + property_names))
        checks = tuple(ref.name for ref in decl.checks if ref.name in names) if decl.has_check else tuple(names)
        checked_properties = (tuple(ref.name for ref in decl.checks if ref.name in property_names) if decl.has_check
                              else tuple(property_names))
        for ref in decl.includes:
            if ref.name not in modules:
                _fail("R009", f"unknown module '{ref.name}'", ref.span, did_you_mean(ref.name, sorted(modules)))
        included = {ref.name for ref in decl.includes}
        active = tuple(a.name for a in actors if not decl.has_include or a.module is None or a.module in included)
        return ir.Model(decl.name, tuple(instances.items()), consts, inits, constraints, symmetric, checks, active, decl.doc,
                        checked_properties, tuple(ref.span for ref in decl.symmetric))

    def _model_instances(self, decl: ast.ModelDecl) -> dict[str, tuple[str, ...]]:
        instances: dict[str, tuple[str, ...]] = {k: () for k in self.kinds}
        seen: dict[str, Span] = {}
        for item in decl.instances:
            if item.kind not in self.kinds:
                _fail("R001", f"unknown kind '{item.kind}'", item.span, did_you_mean(item.kind, list(self.kinds)))
            if instances[item.kind]:
                _fail("M002", f"instances of {item.kind} are given twice", item.span)
            if item.count is not None:
                if item.count > 62:
                    _fail("M003", f"at most 62 instances of a kind (got {item.count})", item.span)
                ids = tuple(f"{item.kind.lower()}{i + 1}" for i in range(item.count))
            else:
                ids = item.names
            for name in ids:
                if name in seen or name in RESERVED or name in self.kinds or name in self.enums or name in self.members:
                    _fail("M002", f"instance name '{name}' is already used", item.span)
                seen[name] = item.span
            instances[item.kind] = ids
        return instances

    def _model_consts(self, decl: ast.ModelDecl, instances: dict[str, tuple[str, ...]],
                      where: dict[str, tuple[str, int]], scope: _Scope) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
        values: dict[tuple[str, str], list[int | None]] = {}
        for kind in self.kinds.values():
            for f in kind.const_fields:
                values[(kind.name, f.name)] = [f.default if f.has_default else None] * len(instances[kind.name])
        for item in decl.consts:
            kind, index = self._instance(item.instance, where, item.span)
            field_ = self.kinds[kind].field(item.field)
            if field_ is None or not field_.const:
                _fail("M005", f"'{kind}.{item.field}' is not a per-instance constant", item.span,
                      ("initial values of ordinary fields go in 'init INSTANCE { field = value }'",))
            value = self._expr(item.value, scope, field_.type)
            self._check_assignable(value, field_.type, item.value.span)
            values[(kind, item.field)][index] = _checked_constant(value, field_.type, item.value)
        result = []
        for (kind, name), per_instance in values.items():
            for index, value in enumerate(per_instance):
                if value is None:
                    _fail("M006", f"model '{decl.name}' does not set constant {kind}.{name} of "
                          f"{instances[kind][index]}", decl.span,
                          (f"add: const {instances[kind][index]}.{name} = ...",))
            result.append((kind, name, tuple(v for v in per_instance if v is not None)))
        return tuple(result)

    def _instance(self, name: str, where: dict[str, tuple[str, int]], span: Span) -> tuple[str, int]:
        if name not in where:
            _fail("M007", f"unknown instance '{name}'", span, did_you_mean(name, list(where)))
        return where[name]

    def _model_init(self, obj: ast.InitObject, where: dict[str, tuple[str, int]], scope: _Scope) -> ir.InitObject:
        kind, index = self._instance(obj.instance, where, obj.span)
        fields: list[tuple[str, tuple[int, ...]]] = []
        for init in obj.fields:
            if init.name == "finalizers":
                target: ir.Type = ir.SetT(ir.FinT(kind))
            else:
                field_ = self._field(kind, init.name, init.span)
                if field_ is None or field_.const:
                    _fail("M005", f"'{init.name}' cannot be initialised here", init.span,
                          ("constants are set with 'const INSTANCE.FIELD = VALUE'",) if field_ else ())
                target = field_.type
            choices = []
            for choice in init.choices:
                value = self._expr(choice, scope, target)
                self._check_assignable(value, target, choice.span)
                choices.append(_checked_constant(value, target, choice))
            if any(name == init.name for name, _ in fields):
                _fail("R002", f"'{init.name}' is given twice", init.span)
            fields.append((init.name, tuple(dict.fromkeys(choices))))
        return ir.InitObject(kind, index, tuple(fields))

    def _symmetric_kind(self, ref: ast.NameRef) -> str:
        """A kind named by `symmetric`; whether it really is one is decided on the constants (checker/symmetry.py)."""
        if ref.name not in self.kinds:
            _fail("R001", f"unknown kind '{ref.name}'", ref.span, did_you_mean(ref.name, list(self.kinds)))
        return ref.name

    # ------------------------------------------------------------ expressions

    def _bool(self, node: ast.Expr, scope: _Scope) -> ir.Expr:
        expr = self._expr(node, scope, ir.BOOL)
        if _type(expr) != ir.BOOL:
            _fail("T002", f"expected a boolean, found {_type(expr)}", node.span)
        return expr

    def _int(self, node: ast.Expr, scope: _Scope) -> ir.Expr:
        expr = self._expr(node, scope, ir.INT)
        if not isinstance(_type(expr), ir.IntT):
            _fail("T003", f"expected an integer, found {_type(expr)}", node.span)
        return expr

    def _check_assignable(self, value: ir.Expr, target: ir.Type, span: Span) -> None:
        if _unify(_type(value), target) is None:
            _fail("T004", f"type mismatch: expected {target}, found {_type(value)}", span)

    def _expr(self, node: ast.Expr, scope: _Scope, expected: ir.Type | None) -> ir.Expr:
        method = getattr(self, f"_expr_{type(node).__name__}")
        return method(node, scope, expected)  # type: ignore[no-any-return]

    def _expr_IntLit(self, node: ast.IntLit, scope: _Scope, expected: ir.Type | None) -> ir.Expr:
        return ir.Lit(ir.IntT(node.value, node.value), node.value)

    def _expr_BoolLit(self, node: ast.BoolLit, scope: _Scope, expected: ir.Type | None) -> ir.Expr:
        return ir.Lit(ir.BOOL, int(node.value))

    def _expr_NoneLit(self, node: ast.NoneLit, scope: _Scope, expected: ir.Type | None) -> ir.Expr:
        return ir.Lit(expected if isinstance(expected, ir.RefT) else ir.NoneT(), 0)

    def _expr_Name(self, node: ast.Name, scope: _Scope, expected: ir.Type | None) -> ir.Expr:
        name = node.name
        if name in scope.values:
            return scope.values[name]
        if isinstance(expected, ir.EnumT) and name in self.enums[expected.name]:
            return ir.Lit(expected, self.enums[expected.name].index(name))
        if isinstance(expected, ir.FinT) and name in self.kinds[expected.kind].finalizers:
            return ir.Lit(expected, self.kinds[expected.kind].finalizers.index(name))
        owners = self.members.get(name, [])
        if len(owners) == 1:
            return ir.Lit(ir.EnumT(owners[0]), self.enums[owners[0]].index(name))
        if len(owners) > 1:
            _fail("R010", f"'{name}' is a member of several enums ({', '.join(owners)})", node.span,
                  (f"write {owners[0]}.{name}",))
        kinds_with = [k.name for k in self.kinds.values() if name in k.finalizers]
        if len(kinds_with) == 1:
            return ir.Lit(ir.FinT(kinds_with[0]), self.kinds[kinds_with[0]].finalizers.index(name))
        if name in self.enums or name in self.kind_decls:
            _fail("T005", f"'{name}' is a type, not a value", node.span)
        if name == "self":
            _fail("R011", "'self' exists only in the actions of an actor declared 'per KIND'", node.span)
        candidates = [*scope.values, *self.members, *(f for k in self.kinds.values() for f in k.finalizers)]
        _fail("R008", f"unknown name '{name}'", node.span, did_you_mean(name, candidates))

    def _expr_FieldAccess(self, node: ast.FieldAccess, scope: _Scope, expected: ir.Type | None) -> ir.Expr:
        if isinstance(node.obj, ast.Name) and node.obj.name not in scope.values and node.obj.name in self.enums:
            members = self.enums[node.obj.name]
            if node.name not in members:
                _fail("R012", f"enum {node.obj.name} has no member '{node.name}'", node.name_span,
                      did_you_mean(node.name, members))
            return ir.Lit(ir.EnumT(node.obj.name), members.index(node.name))
        obj = self._expr(node.obj, scope, None)
        obj_type = _type(obj)
        if not isinstance(obj_type, ir.RefT):
            _fail("T006", f"'.{node.name}' needs an object, but this is a value of type {obj_type}", node.obj.span)
        kind = obj_type.kind
        declared = self._field(kind, node.name, node.name_span)
        if declared is None:
            type_: ir.Type = ir.SetT(ir.FinT(kind)) if node.name == "finalizers" else ir.BOOL
            const = False
        else:
            type_, const = declared.type, declared.const
        cache = None
        if not const and not scope.live and kind in scope.cached and scope.actor is not None:
            cache = scope.actor.name
        return ir.FieldRead(obj, kind, node.name, type_, cache, node.span)

    def _expr_Call(self, node: ast.Call, scope: _Scope, expected: ir.Type | None) -> ir.Expr:
        if node.func not in FUNCTIONS:
            _fail("R013", f"unknown function '{node.func}'", node.span,
                  did_you_mean(node.func, FUNCTIONS) or (f"functions are {', '.join(FUNCTIONS)}",))
        arity = {"size": 1, "min": 2, "max": 2, "live": 1}[node.func]
        if len(node.args) != arity:
            _fail("T007", f"{node.func}() takes {arity} argument{'s' if arity > 1 else ''}, got {len(node.args)}", node.span)
        if node.func == "live":
            return self._expr(node.args[0], scope.child(live=True), expected)
        if node.func == "size":
            arg = self._expr(node.args[0], scope, None)
            if not isinstance(_type(arg), ir.SetT):
                _fail("T008", f"size() needs a set, found {_type(arg)}", node.args[0].span)
            return ir.Call("size", (arg,), ir.INT)
        args = tuple(self._int(a, scope) for a in node.args)
        return ir.Call(node.func, args, ir.INT)

    def _expr_SetLit(self, node: ast.SetLit, scope: _Scope, expected: ir.Type | None) -> ir.Expr:
        element: ir.Type | None = expected.element if isinstance(expected, ir.SetT) else None
        items = []
        for item in node.elements:
            value = self._expr(item, scope, element)
            if element is None:
                element = _type(value)
            elif _unify(_type(value), element) is None:
                _fail("T004", f"set element of type {_type(value)} in a set of {element}", item.span)
            items.append(value)
        if element is None:
            _fail("T009", "cannot tell the type of this empty set", node.span,
                  ("compare it with a typed set, e.g. c.modes == {}",))
        if not isinstance(element, ir.EnumT | ir.RefT | ir.FinT):
            _fail("T011", f"sets hold enum values, finalizers or references, not {element}", node.span)
        return ir.SetLit(tuple(items), ir.SetT(element))

    def _expr_Unary(self, node: ast.Unary, scope: _Scope, expected: ir.Type | None) -> ir.Expr:
        return ir.Not(self._bool(node.operand, scope))

    def _expr_IfThenElse(self, node: ast.IfThenElse, scope: _Scope, expected: ir.Type | None) -> ir.Expr:
        cond = self._bool(node.cond, scope)
        then = self._expr(node.then, scope, expected)
        orelse = self._expr(node.orelse, scope, expected or _type(then))
        type_ = _unify(_type(then), _type(orelse))
        if type_ is None:
            _fail("T004", f"the branches of if have different types: {_type(then)} and {_type(orelse)}", node.span)
        return ir.Ite(cond, then, orelse, type_)

    def _expr_Quantifier(self, node: ast.Quantifier, scope: _Scope, expected: ir.Type | None) -> ir.Expr:
        inner = scope.child()
        domains = self._bind(node.binders, inner, 1024,
                             "a quantifier ranges over at most 1024 integers (it is unrolled when compiled)")
        body = self._bool(node.body, inner)
        result_type: ir.Type = ir.INT if node.quantifier == "count" else ir.BOOL
        if node.quantifier == "count" and len(domains) > 1:
            # count over several binders: count the tuples; nest sums of counts
            expr: ir.Expr = ir.Quant("count", domains[-1][0], domains[-1][1], body, ir.INT)
            for name, domain in reversed(domains[:-1]):
                expr = ir.Quant("sum", name, domain, expr, ir.INT)
            return expr
        expr = body
        for name, domain in reversed(domains):
            expr = ir.Quant(node.quantifier, name, domain, expr, result_type)
        return expr

    def _expr_SetComprehension(self, node: ast.SetComprehension, scope: _Scope, expected: ir.Type | None) -> ir.Expr:
        """`{v: K | pred}` is the set of the K values satisfying pred: a quantifier whose result is a set."""
        binder = node.binder
        if binder.name in scope.values or binder.name in RESERVED:
            _fail("R005", f"'{binder.name}' is already defined", binder.span)
        domain = self._type(binder.type)
        if not isinstance(domain, ir.EnumT | ir.RefT):
            _fail("T011", f"a set comprehension ranges over a kind or an enum (sets hold enum values or references), "
                          f"not {domain}", binder.type.span)
        inner = scope.child()
        inner.values[binder.name] = ir.Var(binder.name, domain)
        body = self._bool(node.body, inner)
        return ir.Quant("set", binder.name, domain, body, ir.SetT(domain))

    def _expr_Binary(self, node: ast.Binary, scope: _Scope, expected: ir.Type | None) -> ir.Expr:
        op = node.op
        if op in ("and", "or", "implies"):
            return ir.BinOp(op, self._bool(node.left, scope), self._bool(node.right, scope), ir.BOOL)
        if op in ("in", "not in"):
            container = self._expr(node.right, scope, None)
            if not isinstance(_type(container), ir.SetT):
                _fail("T008", f"'{op}' needs a set on its right, found {_type(container)}", node.right.span)
            element_type = _type(container).element  # type: ignore[union-attr]
            element = self._expr(node.left, scope, element_type)
            if _unify(_type(element), element_type) is None:
                _fail("T004", f"type mismatch: {_type(element)} in a set of {element_type}", node.left.span)
            test: ir.Expr = ir.BinOp("in", element, container, ir.BOOL)
            return ir.Not(test) if op == "not in" else test
        left, right = self._pair(node, scope)
        lt, rt = _type(left), _type(right)
        if op in ("==", "!="):
            if _unify(lt, rt) is None:
                _fail("T004", f"cannot compare {lt} with {rt}", node.span)
            return ir.BinOp(op, left, right, ir.BOOL)
        if op in ("<", "<=", ">", ">="):
            if isinstance(lt, ir.IntT) and isinstance(rt, ir.IntT):
                return ir.BinOp(op, left, right, ir.BOOL)
            if isinstance(lt, ir.SetT) and lt == rt and op in ("<=", ">="):
                return ir.BinOp("subset", left, right, ir.BOOL) if op == "<=" else ir.BinOp("subset", right, left, ir.BOOL)
            _fail("T004", f"'{op}' compares integers (or sets with <= and >=), not {lt} and {rt}", node.span)
        if isinstance(lt, ir.IntT) and isinstance(rt, ir.IntT) and op in ("+", "-"):
            return ir.BinOp(op, left, right, ir.INT)
        if isinstance(lt, ir.SetT) and lt == rt:
            return ir.BinOp({"+": "union", "-": "diff", "&": "inter"}[op], left, right, lt)
        _fail("T004", f"'{op}' is not defined on {lt} and {rt}", node.op_span if node.op_span.line else node.span)

    def _pair(self, node: ast.Binary, scope: _Scope) -> tuple[ir.Expr, ir.Expr]:
        """Resolve both operands, the self-typed one first so the other gets an expected type."""
        if _needs_context(node.left) and not _needs_context(node.right):
            right = self._expr(node.right, scope, None)
            return self._expr(node.left, scope, _type(right)), right
        left = self._expr(node.left, scope, None)
        return left, self._expr(node.right, scope, _type(left))


def _needs_context(node: ast.Expr) -> bool:
    return isinstance(node, ast.SetLit | ast.NoneLit | ast.Name)


def _type(expr: ir.Expr) -> ir.Type:
    return expr.type


def _unify(a: ir.Type, b: ir.Type) -> ir.Type | None:
    if isinstance(a, ir.IntT) and isinstance(b, ir.IntT):
        return ir.INT
    if isinstance(a, ir.NoneT) and isinstance(b, ir.RefT | ir.NoneT):
        return b
    if isinstance(b, ir.NoneT) and isinstance(a, ir.RefT):
        return a
    return a if a == b else None


def _type_default(type_: ir.Type) -> int:
    if isinstance(type_, ir.IntT):
        return type_.low if type_.low > 0 or type_.high < 0 else 0
    return 0


def _constant(expr: ir.Expr, node: ast.Expr) -> int:
    """The encoded value of a constant expression (literals and sets of literals)."""
    if isinstance(expr, ir.Lit):
        return expr.value
    if isinstance(expr, ir.SetLit) and all(isinstance(e, ir.Lit) for e in expr.elements):
        mask = 0
        for element in expr.elements:
            value = element.value  # type: ignore[union-attr]
            mask |= 1 << (value - 1 if isinstance(expr.type.element, ir.RefT) else value)
        return mask
    _fail("T013", "expected a constant value here", getattr(node, "span", None))


def _checked_constant(expr: ir.Expr, type_: ir.Type, node: ast.Expr) -> int:
    value = _constant(expr, node)
    _check_range(value, type_, node)
    return value


def _check_range(value: int, type_: ir.Type, node: ast.Expr) -> None:
    if isinstance(type_, ir.IntT) and not type_.low <= value <= type_.high:
        _fail("T014", f"{value} is outside the range {type_}", getattr(node, "span", None))
