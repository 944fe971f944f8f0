"""Parse spec text into the AST (`syntax.py`); lark's errors are translated into ours here."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.lexer import PatternStr

from kvolt.checker.frontend import syntax as ast
from kvolt.checker.frontend.diagnostics import Diagnostic, Span, SpecError, too_deep


@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("kvolt.checker.frontend").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, start=["start", "expr", "stmt"], maybe_placeholders=False)


def parse_module(text: str, file: str) -> ast.Module:
    """Parse one whole spec file."""
    try:
        tree = _parse(text, file, "start")
        return _Builder(file, text).transform(tree)
    except VisitError as error:  # an error raised inside the builder, with a span
        if isinstance(error.orig_exc, SpecError):
            raise error.orig_exc from None
        if isinstance(error.orig_exc, RecursionError):
            raise too_deep(file) from None
        raise
    except RecursionError:
        raise too_deep(file) from None


def parse_expr(text: str, file: str = "<expr>") -> ast.Expr:
    """Parse one expression (for tests and command-line filters)."""
    return _Builder(file, text).transform(_parse(text, file, "expr"))


def parse_stmt(text: str, file: str = "<stmt>") -> ast.Stmt:
    return _Builder(file, text).transform(_parse(text, file, "stmt"))


def _parse(text: str, file: str, start: str) -> Any:
    try:
        return _lark().parse(text, start=start)
    except UnexpectedInput as error:
        raise SpecError(_syntax_diagnostic(error, file, text)) from None


# ---------------------------------------------------------------- syntax errors

_EXPRESSION_STARTERS = {"NAME", "INT", "TRUE", "FALSE", "NONE", "LPAR", "LBRACE", "IF", "NOT", "FORALL", "EXISTS",
                        "COUNT"}
_DECLARATION_STARTERS = {"ACTOR", "ENUM", "KIND", "MODULE", "INVARIANT", "MODEL", "EXPECT", "OVERRIDE", "REMOVE",
                         "PROPERTY", "FAIR", "UNFAIR", "FINITE", "FAIRNESS_LEVEL", "CHECK"}
_OPERATORS = {"CMP", "ADDOP", "AND", "OR", "IMPLIES", "IN", "NOT", "DOT"}


def _describe_terminal(name: str) -> str:
    friendly = {"NAME": "a name", "INT": "a number", "STRING": 'a quoted path ("...")', "$END": "end of file",
                "LEADS_TO": "'~>'", "FAIRNESS_LEVEL": "'weak' or 'strong'"}
    if name in friendly:
        return friendly[name]
    for terminal in _lark().terminals:
        if terminal.name == name:
            if isinstance(terminal.pattern, PatternStr):
                return f"'{terminal.pattern.value}'"
            if name == "CMP":
                return "a comparison"
            if name == "ADDOP":
                return "'+', '-' or '&'"
            return name.lower()
    return name.lower()


def _describe_expected(expected: set[str]) -> str:
    names = set(expected)
    words: list[str] = []
    if len(names & _EXPRESSION_STARTERS) >= 6:
        names -= _EXPRESSION_STARTERS
        words.append("an expression")
    if len(names & _OPERATORS) >= 4:
        names -= _OPERATORS
        words.append("an operator")
    if len(names & _DECLARATION_STARTERS) >= 5:
        names -= _DECLARATION_STARTERS
        words.append("a new declaration")
    words += sorted(_describe_terminal(n) for n in names)
    if not words:
        return "something else"
    if len(words) > 8:
        return "one of " + ", ".join(words[:8]) + ", ..."
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _hint(token_value: str, expected: set[str]) -> tuple[str, ...]:
    describe = {_describe_terminal(n) for n in expected}
    if token_value == "=" and "':='" in describe:
        return ("fields are assigned with ':=' (a single '=' only appears in create, init and const)",)
    if token_value == "=" and "a comparison" in describe:
        return ("compare with '=='",)
    if token_value == ":=" and "'='" in describe:
        return ("inside create { ... }, init and const, fields take '=', not ':='",)
    if token_value in ("&&", "||", "!"):
        return ("use 'and', 'or' and 'not'",)
    return ()


_KEYWORDS_AS_NAMES = {"eventually", "always", "model", "invariant", "property", "actor", "kind", "enum", "module",
                      "fair", "unfair", "finite", "expect", "override", "remove"}


def _keyword_read_as_name(before: str) -> tuple[str, ...]:
    """A note when the word just before the error is a keyword the parser had to read as a name."""
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", before[-200:])
    if not words or words[-1] not in _KEYWORDS_AS_NAMES:
        return ()
    word = words[-1]
    if word in ("eventually", "always"):
        return (f"'{word}' was read as a name: temporal operators start a property's formula "
                "(property NAME: [forall x: K |] eventually P, always eventually P, or P ~> Q), "
                "and only forall may quantify them",)
    return (f"'{word}' was read as a name: is the expression before it incomplete?",)


def _comprehension_hint(token_value: str, before: str) -> tuple[str, ...]:
    """A note for `{x, y: K | ...}`: a set comprehension binds exactly one variable."""
    if token_value == ":" and re.search(r"\{\s*[A-Za-z_]\w*(\s*,\s*[A-Za-z_]\w*)+\s*$", before[-200:]):
        return ("a set comprehension binds one variable: {x: K | condition}",)
    return ()


def _syntax_diagnostic(error: UnexpectedInput, file: str, text: str) -> Diagnostic:
    if isinstance(error, UnexpectedToken):
        token = error.token
        expected = set(error.accepts or error.expected)
        if token.type == "$END":
            line, column = _end_position(text)
            span = Span(file, line, column, line, column + 1)
            return Diagnostic("P002", f"unexpected end of file; expected {_describe_expected(expected)}", span)
        value = str(token)
        span = Span(file, token.line or 1, token.column or 1, token.end_line or token.line or 1,
                    token.end_column or (token.column or 1) + max(1, len(value)))
        before = text[:token.start_pos] if token.start_pos is not None else ""
        return Diagnostic("P001", f"unexpected '{value}'; expected {_describe_expected(expected)}", span,
                          _hint(value, expected) or _comprehension_hint(value, before)
                          or _keyword_read_as_name(before))
    if isinstance(error, UnexpectedCharacters):
        char = text[error.pos_in_stream] if 0 <= error.pos_in_stream < len(text) else "?"
        span = Span(file, error.line, error.column, error.line, error.column + 1)
        notes = _hint(text[error.pos_in_stream:error.pos_in_stream + 2].strip(), set()) or _hint(char, set())
        return Diagnostic("P003", f"unexpected character {char!r}", span, notes)
    if isinstance(error, UnexpectedEOF):
        line, column = _end_position(text)
        return Diagnostic("P002", f"unexpected end of file; expected {_describe_expected(set(error.expected))}",
                          Span(file, line, column, line, column + 1))
    line = getattr(error, "line", 1) or 1
    column = getattr(error, "column", 1) or 1
    return Diagnostic("P001", "syntax error", Span(file, line, column, line, column + 1))


def _end_position(text: str) -> tuple[int, int]:
    lines = text.rstrip("\n").split("\n") if text.strip() else [""]
    return len(lines), len(lines[-1]) + 1


# ---------------------------------------------------------------- the builder


def _doc_above(lines: list[str], line: int) -> str:
    """The `///` doc comment lines directly above a declaration starting at `line`."""
    docs: list[str] = []
    index = line - 2
    while index >= 0 and lines[index].strip().startswith("///"):
        docs.append(lines[index].strip()[3:].strip())
        index -= 1
    return "\n".join(reversed(docs)).strip()


@v_args(meta=True, inline=True)
class _Builder(Transformer):  # type: ignore[type-arg]
    def __init__(self, file: str, text: str) -> None:
        super().__init__()
        self.file = file
        self.lines = text.splitlines()

    # -- helpers
    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 1, 1, 1, 1)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok_span(self, token: Token) -> Span:
        return Span(self.file, token.line or 1, token.column or 1, token.end_line or token.line or 1,
                    token.end_column or (token.column or 1) + len(str(token)))

    def _doc(self, meta: Any) -> str:
        return "" if getattr(meta, "empty", True) else _doc_above(self.lines, meta.line)

    # -- top level
    def start(self, meta: Any, *items: Any) -> ast.Module:
        extends: str | None = None
        extends_span: Span | None = None
        enums, kinds, actors, invariants, models = [], [], [], [], []
        properties: list[ast.PropertyDecl] = []
        fairness: list[ast.FairnessDecl] = []
        expect: ast.ExpectDecl | None = None
        check_on: list[ast.NameRef] = []
        for item in items:
            if isinstance(item, tuple) and item and item[0] == "extends":
                extends, extends_span = item[1], item[2]
            elif isinstance(item, ast.EnumDecl):
                enums.append(item)
            elif isinstance(item, ast.KindDecl):
                kinds.append(item)
            elif isinstance(item, ast.ActorDecl):
                actors.append(item)
            elif isinstance(item, list):  # a module: its actors
                actors.extend(item)
            elif isinstance(item, ast.InvariantDecl):
                invariants.append(item)
            elif isinstance(item, ast.ModelDecl):
                models.append(item)
            elif isinstance(item, ast.ExpectDecl):
                expect = item
            elif isinstance(item, ast.PropertyDecl):
                properties.append(item)
            elif isinstance(item, ast.FairnessDecl):
                fairness.append(item)
            elif isinstance(item, ast.CheckOnDecl):
                check_on.extend(item.models)
        return ast.Module(self.file, extends, extends_span, tuple(enums), tuple(kinds), tuple(actors),
                          tuple(invariants), tuple(models), expect, "", tuple(properties), tuple(fairness),
                          tuple(check_on))

    def extends(self, meta: Any, path: Token) -> tuple[str, str, Span]:
        return ("extends", str(path)[1:-1], self._span(meta))

    def expect_decl(self, meta: Any, name: Token) -> ast.ExpectDecl:
        return ast.ExpectDecl(str(name), self._tok_span(name))

    def check_on_decl(self, meta: Any, names: list[Token]) -> ast.CheckOnDecl:
        return ast.CheckOnDecl(tuple(self._name_refs(names)), self._span(meta))

    def name_list(self, meta: Any, *names: Token) -> list[Token]:
        return list(names)

    def enum_decl(self, meta: Any, name: Token, members: list[Token] | None = None) -> ast.EnumDecl:
        members = members or []
        return ast.EnumDecl(str(name), tuple(str(m) for m in members), self._doc(meta), self._tok_span(name),
                            tuple(self._tok_span(m) for m in members))

    # -- kinds
    def kind_decl(self, meta: Any, name: Token, *items: Any) -> ast.KindDecl:
        fields = tuple(i for i in items if isinstance(i, ast.FieldDecl))
        finalizers = tuple(f for i in items if isinstance(i, tuple) and i and i[0] == "finalizers" for f in i[1])
        return ast.KindDecl(str(name), fields, finalizers, self._doc(meta), self._tok_span(name))

    def field_decl(self, meta: Any, name: Token, type_: ast.TypeExpr, default: ast.Expr | None = None) -> ast.FieldDecl:
        return ast.FieldDecl(str(name), type_, default, False, self._doc(meta), self._tok_span(name))

    def const_decl(self, meta: Any, name: Token, type_: ast.TypeExpr, default: ast.Expr | None = None) -> ast.FieldDecl:
        return ast.FieldDecl(str(name), type_, default, True, self._doc(meta), self._tok_span(name))

    def finalizers_decl(self, meta: Any, names: list[Token]) -> tuple[str, tuple[str, ...]]:
        return ("finalizers", tuple(str(n) for n in names))

    def bool_type(self, meta: Any) -> ast.BoolType:
        return ast.BoolType(self._span(meta))

    def range_type(self, meta: Any, low: int, high: int) -> ast.RangeType:
        return ast.RangeType(low, high, self._span(meta))

    def set_type(self, meta: Any, name: Token) -> ast.SetType:
        return ast.SetType(str(name), self._tok_span(name))

    def named_type(self, meta: Any, name: Token) -> ast.NamedType:
        return ast.NamedType(str(name), self._tok_span(name))

    def int_lit(self, meta: Any, value: Token) -> int:
        return int(value)

    def neg_int(self, meta: Any, value: Token) -> int:
        return -int(value)

    # -- actors
    def module_decl(self, meta: Any, name: Token, *actors: ast.ActorDecl) -> list[ast.ActorDecl]:
        return [ast.ActorDecl(a.name, a.per, a.caches, a.actions, str(name), a.doc, a.span, a.per_span) for a in actors]

    def per(self, meta: Any, name: Token) -> tuple[str, str, Span]:
        return ("per", str(name), self._tok_span(name))

    def actor_decl(self, meta: Any, name: Token, *items: Any) -> ast.ActorDecl:
        per: str | None = None
        per_span = self._tok_span(name)
        caches: list[ast.CacheDecl] = []
        actions: list[ast.ActionDecl] = []
        for item in items:
            if isinstance(item, tuple) and item and item[0] == "per":
                per, per_span = item[1], item[2]
            elif isinstance(item, ast.CacheDecl):
                caches.append(item)
            elif isinstance(item, ast.ActionDecl):
                actions.append(item)
        return ast.ActorDecl(str(name), per, tuple(caches), tuple(actions), None, self._doc(meta),
                             self._tok_span(name), per_span)

    def cache_decl(self, meta: Any, names: list[Token], writethrough: Token | None = None) -> ast.CacheDecl:
        return ast.CacheDecl(tuple(str(n) for n in names), writethrough is not None, self._span(meta),
                             tuple(self._tok_span(n) for n in names))

    def action_decl(self, meta: Any, name: Token, *rest: Any) -> ast.ActionDecl:
        params: tuple[ast.Param, ...] = ()
        body: tuple[ast.Stmt, ...] = ()
        for item in rest:
            if isinstance(item, list) and item and isinstance(item[0], ast.Param):
                params = tuple(item)
            elif isinstance(item, tuple):
                body = item
        return ast.ActionDecl(str(name), params, body, self._doc(meta), "new", self._tok_span(name))

    def override_action(self, meta: Any, action: ast.ActionDecl) -> ast.ActionDecl:
        doc = action.doc or self._doc(meta)
        return ast.ActionDecl(action.name, action.params, action.body, doc, "override", action.span)

    def remove_action(self, meta: Any, name: Token) -> ast.ActionDecl:
        return ast.ActionDecl(str(name), (), (), "", "remove", self._tok_span(name))

    def params(self, meta: Any, *params: ast.Param) -> list[ast.Param]:
        return list(params)

    def param(self, meta: Any, name: Token, type_: ast.TypeExpr) -> ast.Param:
        return ast.Param(str(name), type_, self._tok_span(name))

    def block(self, meta: Any, *stmts: Any) -> tuple[ast.Stmt, ...]:
        return tuple(s for s in stmts if s is not None)

    # -- statements
    def empty_stmt(self, meta: Any) -> None:
        return None

    def require_stmt(self, meta: Any, cond: ast.Expr) -> ast.Require:
        return ast.Require(cond, self._span(meta))

    def let_stmt(self, meta: Any, name: Token, value: ast.Expr) -> ast.Let:
        return ast.Let(str(name), value, self._span(meta))

    def lvalue(self, meta: Any, *names: Token) -> tuple[ast.Expr, Token]:
        obj: ast.Expr = ast.Name(str(names[0]), self._tok_span(names[0]))
        for name in names[1:-1]:
            span = Span(self.file, obj.span.line, obj.span.column, name.end_line or 1, name.end_column or 1)
            obj = ast.FieldAccess(obj, str(name), span, self._tok_span(name))
        return obj, names[-1]

    def assign_stmt(self, meta: Any, *children: Any) -> ast.Assign:
        patch = len(children) == 3
        (obj, field_token), value = children[-2], children[-1]
        return ast.Assign(obj, str(field_token), value, patch, self._span(meta), self._tok_span(field_token))

    def create_stmt(self, meta: Any, name: Token, inits: tuple[ast.FieldInit, ...] = ()) -> ast.Create:
        return ast.Create(ast.Name(str(name), self._tok_span(name)), inits, self._span(meta))

    def field_inits(self, meta: Any, *inits: ast.FieldInit) -> tuple[ast.FieldInit, ...]:
        return tuple(inits)

    def field_init(self, meta: Any, name: Token, value: ast.Expr) -> ast.FieldInit:
        return ast.FieldInit(str(name), value, self._tok_span(name))

    def delete_stmt(self, meta: Any, obj: ast.Expr) -> ast.Delete:
        return ast.Delete(obj, self._span(meta))

    def _finalizer_op(self, op: str, meta: Any, children: tuple[Any, ...]) -> ast.FinalizerOp:
        patch = len(children) == 3
        name, obj = children[-2], children[-1]
        return ast.FinalizerOp(op, str(name), obj, patch, self._span(meta), self._tok_span(name))

    def add_fin_stmt(self, meta: Any, *children: Any) -> ast.FinalizerOp:
        return self._finalizer_op("add", meta, children)

    def remove_fin_stmt(self, meta: Any, *children: Any) -> ast.FinalizerOp:
        return self._finalizer_op("remove", meta, children)

    def if_stmt(self, meta: Any, cond: ast.Expr, then: tuple[ast.Stmt, ...], orelse: Any = ()) -> ast.If:
        if isinstance(orelse, ast.If):
            orelse = (orelse,)
        return ast.If(cond, then, tuple(orelse), self._span(meta))

    # -- invariants and models
    def invariant_decl(self, meta: Any, name: Token, expr: ast.Expr) -> ast.InvariantDecl:
        return ast.InvariantDecl(str(name), expr, self._doc(meta), "new", self._tok_span(name))

    def override_invariant(self, meta: Any, name: Token, expr: ast.Expr) -> ast.InvariantDecl:
        return ast.InvariantDecl(str(name), expr, self._doc(meta), "override", self._tok_span(name))

    def remove_invariant(self, meta: Any, name: Token) -> ast.InvariantDecl:
        return ast.InvariantDecl(str(name), ast.BoolLit(True), "", "remove", self._tok_span(name))

    def override_model(self, meta: Any, model: ast.ModelDecl) -> ast.ModelDecl:
        return _replace_mode(model, "override", model.doc or self._doc(meta))

    def remove_model(self, meta: Any, name: Token) -> ast.ModelDecl:
        return ast.ModelDecl(str(name), False, (), (), (), (), (), (), (), mode="remove", span=self._tok_span(name))

    def model_decl(self, meta: Any, name: Token, *items: Any) -> ast.ModelDecl:
        default = False
        parts: dict[str, list[Any]] = {k: [] for k in ("inst", "const", "init", "constraint", "sym", "check", "include")}
        flags = {"check": False, "include": False}
        for item in items:
            if isinstance(item, Token) and item.type == "DEFAULT":
                default = True
            elif isinstance(item, tuple):
                parts[item[0]].extend(item[1])
                if item[0] in flags:
                    flags[item[0]] = True
        return ast.ModelDecl(str(name), default, tuple(parts["inst"]), tuple(parts["const"]), tuple(parts["init"]),
                             tuple(parts["constraint"]), tuple(parts["sym"]), tuple(parts["check"]),
                             tuple(parts["include"]), flags["check"], flags["include"], self._doc(meta), "new",
                             self._tok_span(name))

    def instances_item(self, meta: Any, kind: Token, value: Any) -> tuple[str, list[ast.InstancesDecl]]:
        if isinstance(value, Token):
            decl = ast.InstancesDecl(str(kind), int(value), (), self._span(meta))
        else:
            decl = ast.InstancesDecl(str(kind), None, tuple(str(v) for v in value), self._span(meta))
        return ("inst", [decl])

    def const_item(self, meta: Any, instance: Token, field: Token, value: ast.Expr) -> tuple[str, list[ast.ConstValue]]:
        return ("const", [ast.ConstValue(str(instance), str(field), value, self._span(meta))])

    def init_item(self, meta: Any, instance: Token, fields: tuple[ast.InitField, ...] = ()) -> tuple[str, list[ast.InitObject]]:
        return ("init", [ast.InitObject(str(instance), fields, self._tok_span(instance))])

    def init_fields(self, meta: Any, *fields: ast.InitField) -> tuple[ast.InitField, ...]:
        return tuple(fields)

    def init_value(self, meta: Any, name: Token, value: ast.Expr) -> ast.InitField:
        return ast.InitField(str(name), (value,), self._tok_span(name))

    def init_choice(self, meta: Any, name: Token, *values: ast.Expr) -> ast.InitField:
        return ast.InitField(str(name), tuple(values), self._tok_span(name))

    def constraint_item(self, meta: Any, expr: ast.Expr) -> tuple[str, list[ast.Expr]]:
        return ("constraint", [expr])

    def _name_refs(self, names: list[Token]) -> list[ast.NameRef]:
        return [ast.NameRef(str(n), self._tok_span(n)) for n in names]

    def symmetric_item(self, meta: Any, names: list[Token]) -> tuple[str, list[ast.NameRef]]:
        return ("sym", self._name_refs(names))

    def check_item(self, meta: Any, names: list[Token]) -> tuple[str, list[ast.NameRef]]:
        return ("check", self._name_refs(names))

    def include_item(self, meta: Any, names: list[Token]) -> tuple[str, list[ast.NameRef]]:
        return ("include", self._name_refs(names))

    # -- temporal properties and fairness
    def property_decl(self, meta: Any, name: Token, formula: ast.PropertyDecl) -> ast.PropertyDecl:
        return replace(formula, name=str(name), doc=self._doc(meta), span=self._tok_span(name))

    def eventually(self, meta: Any, goal: ast.Expr) -> ast.PropertyDecl:
        return ast.PropertyDecl("", "eventually", (), None, goal)

    def always_eventually(self, meta: Any, goal: ast.Expr) -> ast.PropertyDecl:
        return ast.PropertyDecl("", "always_eventually", (), None, goal)

    def leads_to(self, meta: Any, trigger: ast.Expr, _arrow: Token, goal: ast.Expr) -> ast.PropertyDecl:
        """`T ~> G`. An unparenthesised `forall x: K | A implies B ~> G` reaches here with the forall
        holding only `A implies B` (an implication is not a leads-to's left side): the forall
        quantifies the whole formula, as documented, so it is moved out."""
        start = self._span(meta)
        if (isinstance(trigger, ast.Quantifier) and trigger.quantifier == "forall"
                and (trigger.span.line, trigger.span.column) == (start.line, start.column)):
            return ast.PropertyDecl("", "leads_to", trigger.binders, trigger.body, goal)
        return ast.PropertyDecl("", "leads_to", (), trigger, goal)

    def temporal_forall(self, meta: Any, binders: tuple[ast.Binder, ...], body: ast.PropertyDecl) -> ast.PropertyDecl:
        return replace(body, binders=binders + body.binders)

    def override_property(self, meta: Any, decl: ast.PropertyDecl) -> ast.PropertyDecl:
        return replace(decl, mode="override", doc=decl.doc or self._doc(meta))

    def remove_property(self, meta: Any, name: Token) -> ast.PropertyDecl:
        return ast.PropertyDecl(str(name), "eventually", (), None, ast.BoolLit(True), "", "remove", self._tok_span(name))

    def _fairness(self, level: str, target: str, names: list[Token], spans: list[Span], meta: Any) -> ast.FairnessDecl:
        return ast.FairnessDecl(level, target, tuple(str(n) for n in names), self._span(meta), tuple(spans))

    def fair_actor(self, meta: Any, *children: Any) -> ast.FairnessDecl:
        level = str(children[0]) if len(children) == 2 else "weak"
        names = children[-1]
        return self._fairness(level, "actor", names, [self._tok_span(n) for n in names], meta)

    def fair_action(self, meta: Any, *children: Any) -> ast.FairnessDecl:
        level = str(children[0]) if len(children) == 2 else "weak"
        refs = children[-1]
        return ast.FairnessDecl(level, "action", tuple(r[0] for r in refs), self._span(meta), tuple(r[1] for r in refs))

    def unfair_actor(self, meta: Any, names: list[Token]) -> ast.FairnessDecl:
        return self._fairness("none", "actor", names, [self._tok_span(n) for n in names], meta)

    def unfair_action(self, meta: Any, refs: list[tuple[str, Span]]) -> ast.FairnessDecl:
        return ast.FairnessDecl("none", "action", tuple(r[0] for r in refs), self._span(meta), tuple(r[1] for r in refs))

    def finite_actor(self, meta: Any, names: list[Token]) -> ast.FairnessDecl:
        return self._fairness("finite", "actor", names, [self._tok_span(n) for n in names], meta)

    def finite_action(self, meta: Any, refs: list[tuple[str, Span]]) -> ast.FairnessDecl:
        return ast.FairnessDecl("finite", "action", tuple(r[0] for r in refs), self._span(meta), tuple(r[1] for r in refs))

    def action_refs(self, meta: Any, *refs: tuple[str, Span]) -> list[tuple[str, Span]]:
        return list(refs)

    def action_ref(self, meta: Any, actor: Token, action: Token) -> tuple[str, Span]:
        return (f"{actor}.{action}", self._span(meta))

    # -- expressions
    def implies(self, meta: Any, left: ast.Expr, right: ast.Expr) -> ast.Binary:
        return ast.Binary("implies", left, right, self._span(meta))

    def or_(self, meta: Any, left: ast.Expr, right: ast.Expr) -> ast.Binary:
        return ast.Binary("or", left, right, self._span(meta))

    def and_(self, meta: Any, left: ast.Expr, right: ast.Expr) -> ast.Binary:
        return ast.Binary("and", left, right, self._span(meta))

    def not_(self, meta: Any, operand: ast.Expr) -> ast.Unary:
        return ast.Unary("not", operand, self._span(meta))

    def forall(self, meta: Any, binders: tuple[ast.Binder, ...], body: ast.Expr) -> ast.Quantifier:
        return ast.Quantifier("forall", binders, body, self._span(meta))

    def exists(self, meta: Any, binders: tuple[ast.Binder, ...], body: ast.Expr) -> ast.Quantifier:
        return ast.Quantifier("exists", binders, body, self._span(meta))

    def count(self, meta: Any, binders: tuple[ast.Binder, ...], body: ast.Expr) -> ast.Quantifier:
        return ast.Quantifier("count", binders, body, self._span(meta))

    def compare(self, meta: Any, left: ast.Expr, op: Token, right: ast.Expr) -> ast.Binary:
        return ast.Binary(str(op), left, right, self._span(meta), self._tok_span(op))

    def member(self, meta: Any, left: ast.Expr, right: ast.Expr) -> ast.Binary:
        return ast.Binary("in", left, right, self._span(meta))

    def not_member(self, meta: Any, left: ast.Expr, right: ast.Expr) -> ast.Binary:
        return ast.Binary("not in", left, right, self._span(meta))

    def binop(self, meta: Any, left: ast.Expr, op: Token, right: ast.Expr) -> ast.Binary:
        return ast.Binary(str(op), left, right, self._span(meta), self._tok_span(op))

    def field(self, meta: Any, obj: ast.Expr, name: Token) -> ast.FieldAccess:
        return ast.FieldAccess(obj, str(name), self._span(meta), self._tok_span(name))

    def int_lit_expr(self, meta: Any, value: Token) -> ast.IntLit:
        return ast.IntLit(int(value), self._span(meta))

    def true_lit(self, meta: Any) -> ast.BoolLit:
        return ast.BoolLit(True, self._span(meta))

    def false_lit(self, meta: Any) -> ast.BoolLit:
        return ast.BoolLit(False, self._span(meta))

    def none_lit(self, meta: Any) -> ast.NoneLit:
        return ast.NoneLit(self._span(meta))

    def name(self, meta: Any, name: Token) -> ast.Name:
        return ast.Name(str(name), self._tok_span(name))

    def call(self, meta: Any, name: Token, args: tuple[ast.Expr, ...] = ()) -> ast.Call:
        return ast.Call(str(name), args, self._span(meta))

    def set_lit(self, meta: Any, args: tuple[ast.Expr, ...] = ()) -> ast.SetLit:
        return ast.SetLit(args, self._span(meta))

    def set_comp(self, meta: Any, name: Token, type_: ast.TypeExpr, body: ast.Expr) -> ast.SetComprehension:
        return ast.SetComprehension(ast.Binder(str(name), type_, self._tok_span(name)), body, self._span(meta))

    def ite(self, meta: Any, cond: ast.Expr, then: ast.Expr, orelse: ast.Expr) -> ast.IfThenElse:
        return ast.IfThenElse(cond, then, orelse, self._span(meta))

    def args(self, meta: Any, *args: ast.Expr) -> tuple[ast.Expr, ...]:
        return tuple(args)

    def binders(self, meta: Any, *groups: list[ast.Binder]) -> tuple[ast.Binder, ...]:
        return tuple(binder for group in groups for binder in group)

    def binder(self, meta: Any, names: list[Token], type_: ast.TypeExpr) -> list[ast.Binder]:
        return [ast.Binder(str(name), type_, self._tok_span(name)) for name in names]

    def binder_names(self, meta: Any, *names: Token) -> list[Token]:
        return list(names)


def _replace_mode(model: ast.ModelDecl, mode: str, doc: str) -> ast.ModelDecl:
    return replace(model, mode=mode, doc=doc)
