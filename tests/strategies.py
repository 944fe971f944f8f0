"""Hypothesis strategies that generate random small kvolt specs as source text.

`specs()` draws a whole spec: one enum, 1-3 kinds (bool / range / enum / reference / set
fields, finalizers, sometimes a per-instance constant), 1-3 actors (sometimes one `per` a kind,
sometimes one with `cache ...`, sometimes writethrough, sometimes inside a `module`), actions
with parameters, `let`s, guards (and/or/not/implies, comparisons, membership, subset, reads
through references, `live`, forall/exists/count over one or two binders, if-then-else, set
literals and operations) and effects (assignments, `patch`, create/delete, finalizer changes,
if/else), 1-3 invariants, and one model with init choices and sometimes a constraint, an
`include`, a `check` list or a `symmetric` kind. Everything is type-directed, so nearly every drawn spec resolves; reads
through reference fields are guarded against none (the only evaluation errors left are
out-of-range assignments, which both engines must report).

The generator is plain Python over a `draw` function, so the same code also serves
`random.Random`-driven generation (see `SpecGen`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

ENUM = "Col"
MEMBERS_ALL = ("red", "green", "blue")
KIND_NAMES = ("Ka", "Kb", "Kc")


@dataclass
class FieldInfo:
    name: str
    type: tuple  # ("bool",) ("int", lo, hi) ("enum",) ("ref", K) ("setE",) ("setK", K)
    const: bool = False


@dataclass
class KindInfo:
    name: str
    fields: list[FieldInfo]
    finalizers: list[str]
    count: int = 1
    ids: list[str] = field(default_factory=list)

    def of(self, pred: Callable[[FieldInfo], bool], state_only: bool = False) -> list[FieldInfo]:
        return [f for f in self.fields if pred(f) and not (state_only and f.const)]


def lit(value: int) -> str:
    """An integer literal; the language has no unary minus, so -1 is written (0 - 1)."""
    return f"(0 - {-value})" if value < 0 else str(value)


class SpecGen:
    """Generates spec text; `choice`, `integer` and `boolean` come from a draw function."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self._draw = draw
        self.kinds: list[KindInfo] = []
        self.members: tuple[str, ...] = ()
        self.fresh = 0
        self.modules: list[str] = []
        self.invariants: list[str] = []
        self.structure = False  # symmetric kinds with constants (plain and naming instances)
        self.properties: list[str] = []
        self.actions: list[str] = []  # "actor.action", for fairness declarations

    # -- randomness
    def choice(self, options: list | tuple) -> Any:
        return self._draw(st.sampled_from(list(options)))

    def integer(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))

    def boolean(self, p: float = 0.5) -> bool:
        if p <= 0:
            return False
        if p >= 1:
            return True
        return self._draw(st.integers(0, 99)) < int(p * 100)

    def name(self, prefix: str) -> str:
        self.fresh += 1
        return f"{prefix}{self.fresh}"

    def kind(self, name: str) -> KindInfo:
        return next(k for k in self.kinds if k.name == name)

    # -- declarations
    def declare(self) -> None:
        self.members = MEMBERS_ALL[: self.integer(2, 3)]
        nkinds = self.integer(1, 3)
        names = KIND_NAMES[:nkinds]
        for name in names:
            self.kinds.append(KindInfo(name, [], []))
        for kind in self.kinds:
            kind.finalizers = [f"{kind.name.lower()}_f{i}" for i in range(self.integer(0, 2))]
            for i in range(self.integer(1, 3)):
                shape = self.choice(["bool", "bool", "int", "int", "enum", "ref", "setE", "setK"])
                if shape == "bool":
                    t: tuple = ("bool",)
                elif shape == "int":
                    t = self.choice([("int", 0, 1), ("int", 0, 2), ("int", -1, 1), ("int", 1, 2)])
                elif shape == "enum":
                    t = ("enum",)
                elif shape == "ref":
                    t = ("ref", self.choice(names))
                elif shape == "setE":
                    t = ("setE",)
                else:
                    t = ("setK", self.choice(names))
                kind.fields.append(FieldInfo(f"{shape.lower()}{i}", t))
            if self.boolean(0.6 if self.structure else 0.2):
                kind.fields.append(FieldInfo("cst", ("int", 0, 2), const=True))
            if self.structure and self.boolean(0.5):
                kind.fields.append(FieldInfo("cref", ("ref", self.choice(names)), const=True))

    def type_text(self, t: tuple) -> str:
        if t[0] == "bool":
            return "bool"
        if t[0] == "int":
            return f"{t[1]}..{t[2]}"
        if t[0] == "enum":
            return ENUM
        if t[0] == "ref":
            return t[1]
        if t[0] == "setE":
            return f"set of {ENUM}"
        return f"set of {t[1]}"

    def default_text(self, t: tuple, const: bool = False) -> str | None:
        """A constant default for a field, or None for the type's own default."""
        if not const and not self.boolean(0.4):
            return None
        if t[0] in ("bool", "int", "enum"):
            return self.scalar_value(t)
        if t[0] == "setE":
            return "{" + ", ".join(m for m in self.members if self.boolean(0.4)) + "}"
        return None  # refs and sets of refs: none / {}

    def kind_text(self, kind: KindInfo) -> str:
        lines = [f"kind {kind.name} {{"]
        if kind.finalizers:
            lines.append("  finalizers " + ", ".join(kind.finalizers))
        for f in kind.fields:
            default = self.default_text(f.type, f.const)
            prefix = "const " if f.const else ""
            lines.append(f"  {prefix}{f.name}: {self.type_text(f.type)}" + (f" = {default}" if default else ""))
        lines.append("}")
        return "\n".join(lines)

    # -- expressions; `env` maps local names to types
    def atoms(self, env: dict[str, tuple], t: tuple) -> list[str]:
        return [n for n, vt in env.items() if vt == t]

    def objects(self, env: dict[str, tuple], kind: str | None = None) -> list[str]:
        return [n for n, vt in env.items() if vt[0] == "obj" and (kind is None or vt[1] == kind)]

    def with_object(self, env: dict[str, tuple], depth: int, body: Callable[[dict[str, tuple], str], str],
                    kind: str | None = None) -> str:
        """`body` over some object variable, introducing one with a quantifier when needed."""
        candidates = self.objects(env, kind)
        if candidates and not self.boolean(0.25):
            return body(env, self.choice(candidates))
        kinds = [kind] if kind else [k.name for k in self.kinds]
        k = self.choice(kinds)
        var = self.name("x")
        inner = {**env, var: ("obj", k)}
        quant = self.choice(["forall", "exists"])
        return f"({quant} {var}: {k} | {body(inner, var)})"

    def bool_expr(self, env: dict[str, tuple], depth: int) -> str:
        options = ["field", "field", "lifecycle", "cmp_int", "eq", "member"]
        if depth > 0:
            options += ["and", "or", "not", "implies", "quant", "deref", "ite", "count"]
        shape = self.choice(options)
        d = depth - 1
        if shape == "field":
            return self.with_object(env, depth, lambda e, o: self._bool_field(e, o, d))
        if shape == "lifecycle":
            def life(e: dict[str, tuple], o: str) -> str:
                kind = self.kind(e[o][1])
                forms = [f"{o}.exists", f"{o}.deleting", f"not {o}.exists", f"live({o}.exists)"]
                if kind.finalizers:
                    f = self.choice(kind.finalizers)
                    forms += [f"{f} in {o}.finalizers", f"{o}.finalizers == {{}}", f"{f} not in live({o}.finalizers)"]
                return self.choice(forms)
            return self.with_object(env, depth, life)
        if shape == "cmp_int":
            op = self.choice(["==", "!=", "<", "<=", ">", ">="])
            left = self.int_expr(env, max(d, 0), literal=False)
            right = self.int_expr(env, max(d, 0)) if self.boolean(0.4) else lit(self.integer(-1, 2))
            return f"({left} {op} {right})"
        if shape == "eq":
            return self.with_object(env, depth, lambda e, o: self._eq(e, o, d))
        if shape == "member":
            return self.with_object(env, depth, lambda e, o: self._member(e, o, d))
        if shape in ("and", "or", "implies"):
            return f"({self.bool_expr(env, d)} {shape} {self.bool_expr(env, d)})"
        if shape == "not":
            return f"not ({self.bool_expr(env, d)})"
        if shape == "quant":
            if self.boolean(0.7):
                k = self.choice([k.name for k in self.kinds])
                var = self.name("q")
                quant = self.choice(["forall", "exists"])
                return f"({quant} {var}: {k} | {self.bool_expr({**env, var: ('obj', k)}, d)})"
            var = self.name("c")
            return f"(exists {var}: {ENUM} | {self.with_object(env, d, lambda e, o: self._enum_about(e, o, var))})"
        if shape == "deref":
            return self.with_object(env, depth, lambda e, o: self._deref_bool(e, o, d))
        if shape == "ite":
            return f"(if {self.bool_expr(env, d)} then {self.bool_expr(env, d)} else {self.bool_expr(env, d)})"
        # count, sometimes over pairs (several binders)
        k = self.choice([k.name for k in self.kinds])
        var = self.name("n")
        op = self.choice(["<=", ">=", "=="])
        if self.boolean(0.25):
            other = self.name("n")
            inner = {**env, var: ("obj", k), other: ("obj", k)}
            body = f"{var} != {other} and {self.bool_expr(inner, d)}"
            if self.boolean(0.5):
                return f"(forall {var}, {other}: {k} | {var} == {other} or {self.bool_expr(inner, d)})"
            return f"count({var}, {other}: {k} | {body}) {op} {self.integer(0, 2)}"
        return f"count({var}: {k} | {self.bool_expr({**env, var: ('obj', k)}, d)}) {op} {self.integer(0, 2)}"

    def _enum_about(self, env: dict[str, tuple], o: str, var: str) -> str:
        kind = self.kind(env[o][1])
        enums = kind.of(lambda f: f.type[0] == "enum")
        sets = kind.of(lambda f: f.type[0] == "setE")
        if sets and self.boolean(0.5):
            return f"{var} in {o}.{self.choice(sets).name}"
        if enums:
            return f"{o}.{self.choice(enums).name} == {var}"
        return f"{var} == {self.choice(self.members)}"

    def _bool_field(self, env: dict[str, tuple], o: str, depth: int) -> str:
        kind = self.kind(env[o][1])
        bools = kind.of(lambda f: f.type[0] == "bool")
        if bools:
            text = f"{o}.{self.choice(bools).name}"
            return f"live({text})" if self.boolean(0.15) else text
        return f"{o}.exists"

    def _eq(self, env: dict[str, tuple], o: str, depth: int) -> str:
        kind = self.kind(env[o][1])
        candidates = kind.of(lambda f: f.type[0] in ("enum", "ref", "setE", "setK", "bool"))
        if not candidates:
            return f"{o}.exists == {self.choice(['true', 'false'])}"
        f = self.choice(candidates)
        op = self.choice(["==", "!="])
        literal = self.boolean(0.6)
        value = self.literal_value(f.type, env) if literal else self.value_expr(f.type, env, max(depth, 0), safe=True)
        return f"({o}.{f.name} {op} ({value}))"

    def literal_value(self, t: tuple, env: dict[str, tuple]) -> str:
        if t[0] == "bool":
            return self.choice(["true", "false"])
        if t[0] == "int":
            return lit(self.integer(t[1], t[2]))
        if t[0] == "enum":
            return self.choice(self.members)
        if t[0] == "ref":
            return self.choice(["none", *self.objects(env, t[1])])
        if t[0] == "setE":
            return "{" + ", ".join(m for m in self.members if self.boolean(0.4)) + "}"
        refs = self.objects(env, t[1])
        return "{" + (self.choice(refs) if refs and self.boolean(0.5) else "") + "}"

    def _member(self, env: dict[str, tuple], o: str, depth: int) -> str:
        kind = self.kind(env[o][1])
        sets = kind.of(lambda f: f.type[0] in ("setE", "setK"))
        if not sets:
            return f"{o}.exists"
        f = self.choice(sets)
        neg = self.choice(["in", "not in"])
        if f.type[0] == "setE":
            if self.boolean(0.3):
                return f"{o}.{f.name} {self.choice(['<=', '>='])} {self.set_enum_expr(env, 0)}"
            if self.boolean(0.3):
                return f"size({o}.{f.name}) {self.choice(['<=', '>=', '=='])} {self.integer(0, 2)}"
            return f"{self.enum_expr(env, 0)} {neg} {o}.{f.name}"
        target = f.type[1]
        refs = self.objects(env, target)
        if refs and self.boolean(0.7):
            return f"{self.choice(refs)} {neg} {o}.{f.name}"
        return f"{o}.{f.name} == {{}}"

    def _deref_bool(self, env: dict[str, tuple], o: str, depth: int) -> str:
        """A read through a reference field, guarded against none."""
        kind = self.kind(env[o][1])
        refs = kind.of(lambda f: f.type[0] == "ref")
        if not refs:
            return self._bool_field(env, o, depth)
        f = self.choice(refs)
        path = f"{o}.{f.name}"
        target = self.kind(f.type[1])
        bools = target.of(lambda g: g.type[0] == "bool")
        ints = target.of(lambda g: g.type[0] == "int")
        if bools and self.boolean(0.5):
            inner = f"{path}.{self.choice(bools).name}"
        elif ints:
            inner = f"{path}.{self.choice(ints).name} >= {self.integer(0, 2)}"
        else:
            inner = f"{path}.exists"
        if self.boolean(0.5):
            return f"({path} != none and {inner})"
        return f"({path} == none or {inner})"

    def int_expr(self, env: dict[str, tuple], depth: int, literal: bool = True) -> str:
        options = (["lit"] if literal else []) + ["field", "field"]
        ints = [n for n, t in env.items() if t[0] == "int"]
        if ints:
            options += ["var", "var"]
        if depth > 0:
            options += ["plus", "minmax", "ite", "count", "size", "deref"]
        shape = self.choice(options)
        d = depth - 1
        if shape == "lit":
            return lit(self.integer(-1, 2))
        if shape == "var":
            return self.choice(ints)
        if shape == "field":
            def read(e: dict[str, tuple], o: str) -> str:
                kind = self.kind(e[o][1])
                fs = kind.of(lambda f: f.type[0] == "int")
                return f"{o}.{self.choice(fs).name}" if fs else "1"
            return self._int_read(env, read)
        if shape == "plus":
            return f"({self.int_expr(env, d)} {self.choice(['+', '-'])} {self.int_expr(env, d)})"
        if shape == "minmax":
            return f"{self.choice(['min', 'max'])}({self.int_expr(env, d)}, {self.int_expr(env, d)})"
        if shape == "ite":
            return f"(if {self.bool_expr(env, d)} then {self.int_expr(env, d)} else {self.int_expr(env, d)})"
        if shape == "count":
            k = self.choice([k.name for k in self.kinds])
            var = self.name("n")
            return f"count({var}: {k} | {self.bool_expr({**env, var: ('obj', k)}, d)})"
        if shape == "size":
            def size(e: dict[str, tuple], o: str) -> str:
                kind = self.kind(e[o][1])
                fs = kind.of(lambda f: f.type[0] in ("setE", "setK"))
                return f"size({o}.{self.choice(fs).name})" if fs else f"size({o}.finalizers)"
            return self._int_read(env, size)
        # deref
        def deref(e: dict[str, tuple], o: str) -> str:
            kind = self.kind(e[o][1])
            refs = kind.of(lambda f: f.type[0] == "ref")
            for f in refs:
                target = self.kind(f.type[1])
                ints_t = target.of(lambda g: g.type[0] == "int")
                if ints_t:
                    return f"(if {o}.{f.name} != none then {o}.{f.name}.{self.choice(ints_t).name} else 0)"
            return "0"
        return self._int_read(env, deref)

    def _int_read(self, env: dict[str, tuple], body: Callable[[dict[str, tuple], str], str]) -> str:
        objs = self.objects(env)
        if objs:
            return body(env, self.choice(objs))
        # no object at hand: count over a kind instead
        k = self.choice([k.name for k in self.kinds])
        var = self.name("n")
        return f"count({var}: {k} | {self._bool_field({**env, var: ('obj', k)}, var, 0)})"

    def enum_expr(self, env: dict[str, tuple], depth: int) -> str:
        options = ["lit", "lit"] + (["var"] if self.atoms(env, ("enum",)) else [])
        objs = [o for o in self.objects(env) if self.kind(env[o][1]).of(lambda f: f.type[0] == "enum")]
        if objs:
            options += ["field", "field"]
        if depth > 0:
            options.append("ite")
        shape = self.choice(options)
        if shape == "lit":
            m = self.choice(self.members)
            return f"{ENUM}.{m}" if self.boolean(0.2) else m
        if shape == "var":
            return self.choice(self.atoms(env, ("enum",)))
        if shape == "field":
            o = self.choice(objs)
            return f"{o}.{self.choice(self.kind(env[o][1]).of(lambda f: f.type[0] == 'enum')).name}"
        return f"(if {self.bool_expr(env, depth - 1)} then {self.enum_expr(env, 0)} else {self.enum_expr(env, 0)})"

    def set_enum_expr(self, env: dict[str, tuple], depth: int) -> str:
        options = ["lit", "comp"]
        objs = [o for o in self.objects(env) if self.kind(env[o][1]).of(lambda f: f.type[0] == "setE")]
        if objs:
            options += ["field", "op", "op"]
        shape = self.choice(options)
        if shape == "comp":
            var = self.name("m")
            body = self.with_object(env, 0, lambda e, o: self._enum_about(e, o, var))
            return f"{{{var}: {ENUM} | {body}}}"
        if shape == "lit":
            return "{" + ", ".join(self.enum_expr(env, 0) for _ in range(self.integer(0, 2))) + "}"
        o = self.choice(objs)
        read = f"{o}.{self.choice(self.kind(env[o][1]).of(lambda f: f.type[0] == 'setE')).name}"
        if shape == "field":
            return read
        return f"({read} {self.choice(['+', '-', '&'])} {self.set_enum_expr(env, 0)})"

    def ref_expr(self, kind: str, env: dict[str, tuple], safe: bool) -> str:
        options = ["none"] + (["var", "var"] if self.objects(env, kind) else [])
        holders = [(o, f) for o in self.objects(env) for f in self.kind(env[o][1]).of(
            lambda f: f.type == ("ref", kind))]
        if holders:
            options.append("field")
        shape = self.choice(options)
        if shape == "none":
            return "none"
        if shape == "var":
            return self.choice(self.objects(env, kind))
        o, f = self.choice(holders)
        return f"{o}.{f.name}"

    def set_ref_expr(self, kind: str, env: dict[str, tuple]) -> str:
        """Sets of references are built from variables only (never none)."""
        refs = self.objects(env, kind)
        holders = [(o, f) for o in self.objects(env) for f in self.kind(env[o][1]).of(
            lambda f: f.type == ("setK", kind))]
        options = ["empty", "comp"] + (["lit"] if refs else []) + (["field"] if holders else [])
        if refs and holders:
            options += ["op", "op"]
        shape = self.choice(options)
        if shape == "empty":
            return "{}"
        if shape == "comp":
            var = self.name("s")
            return f"{{{var}: {kind} | {self.bool_expr({**env, var: ('obj', kind)}, 1)}}}"
        if shape == "lit":
            return "{" + ", ".join(dict.fromkeys(self.choice(refs) for _ in range(self.integer(1, 2)))) + "}"
        o, f = self.choice(holders)
        if shape == "field":
            return f"{o}.{f.name}"
        return f"({o}.{f.name} {self.choice(['+', '-', '&'])} {{{self.choice(refs)}}})"

    def value_expr(self, t: tuple, env: dict[str, tuple], depth: int, safe: bool = True) -> str:
        if t[0] == "bool":
            return self.bool_expr(env, depth)
        if t[0] == "int":
            value = self.int_expr(env, depth)
            if safe or re.fullmatch(r"\d+|\(0 - \d+\)", value):  # a bare literal is range-checked statically
                return f"min(max({value}, {lit(t[1])}), {lit(t[2])})"
            return value
        if t[0] == "enum":
            return self.enum_expr(env, depth)
        if t[0] == "ref":
            return self.ref_expr(t[1], env, safe)
        if t[0] == "setE":
            return self.set_enum_expr(env, depth)
        return self.set_ref_expr(t[1], env)

    # -- statements
    def stmt(self, env: dict[str, tuple], depth: int, cached: set[str], indent: str) -> str:
        objs = self.objects(env)
        options = ["assign", "assign", "assign"]
        if objs:
            options += ["create", "create", "delete", "fin", "fin"]
        if depth > 0:
            options += ["if", "if", "deref_assign"]
        shape = self.choice(options)
        if shape in ("assign", "deref_assign") and not objs:
            shape = "assign"
        if shape == "assign":
            if not objs:
                return f"{indent};"
            o = self.choice(objs)
            return indent + self._assign(env, o, o, cached)
        if shape == "deref_assign":
            o = self.choice(objs)
            refs = self.kind(env[o][1]).of(lambda f: f.type[0] == "ref")
            if not refs:
                return indent + self._assign(env, o, o, cached)
            f = self.choice(refs)
            target_kind = f.type[1]
            path = f"{o}.{f.name}"
            inner = self._assign({**env}, path, None, cached, kind=target_kind)
            if inner.startswith(";"):
                return f"{indent};"
            return f"{indent}if {path} != none {{ {inner} }}"
        if shape == "create":
            o = self.choice(objs)
            kind = self.kind(env[o][1])
            inits = []
            for f in kind.of(lambda f: True, state_only=True):
                if self.boolean(0.4):
                    inits.append(f"{f.name} = {self.value_expr(f.type, env, 0, safe=self.boolean(0.9))}")
            if kind.finalizers and self.boolean(0.6):
                fins = [x for x in kind.finalizers if self.boolean(0.5)]
                inits.append("finalizers = {" + ", ".join(fins) + "}")
            body = (" { " + ", ".join(inits) + " }") if inits or self.boolean(0.3) else ""
            return f"{indent}create {o}{body}"
        if shape == "delete":
            return f"{indent}delete {self.choice(objs)}"
        if shape == "fin":
            o = self.choice(objs)
            kind = self.kind(env[o][1])
            if not kind.finalizers:
                return f"{indent}delete {o}"
            patch = "patch " if kind.name in cached and self.boolean(0.3) else ""
            f = self.choice(kind.finalizers)
            if self.boolean(0.5):
                return f"{indent}{patch}add finalizer {f} to {o}"
            return f"{indent}{patch}remove finalizer {f} from {o}"
        # if
        cond = self.bool_expr(env, 1)
        then = "\n".join(self.stmt(env, depth - 1, cached, indent + "  ") for _ in range(self.integer(1, 2)))
        text = f"{indent}if {cond} {{\n{then}\n{indent}}}"
        if self.boolean(0.5):
            orelse = "\n".join(self.stmt(env, depth - 1, cached, indent + "  ") for _ in range(self.integer(1, 2)))
            text += f" else {{\n{orelse}\n{indent}}}"
        return text

    def _assign(self, env: dict[str, tuple], target: str, var: str | None, cached: set[str],
                kind: str | None = None) -> str:
        kind_name = kind or env[var][1]  # type: ignore[index]
        fields = self.kind(kind_name).of(lambda f: True, state_only=True)
        if not fields:
            return ";"
        f = self.choice(fields)
        patch = "patch " if kind_name in cached and self.boolean(0.3) else ""
        safe = self.boolean(0.85)
        if self.boolean(0.4):
            value = self.simple_value(f.type, env, target, f.name)
        else:
            value = self.value_expr(f.type, env, 1, safe=safe)
        return f"{patch}{target}.{f.name} := {value}"

    def simple_value(self, t: tuple, env: dict[str, tuple], target: str, name: str) -> str:
        """A value that usually changes the field: a literal, a negation, a step."""
        if t[0] == "bool":
            return self.choice(["true", "false", f"not {target}.{name}"])
        if t[0] == "int":
            return self.choice([lit(t[1]), lit(t[2]), f"min({target}.{name} + 1, {lit(t[2])})",
                                f"max({target}.{name} - 1, {lit(t[1])})"])
        if t[0] == "enum":
            return self.choice(self.members)
        if t[0] == "setE":
            m = self.choice(self.members)
            return self.choice([f"{target}.{name} + {{{m}}}", f"{target}.{name} - {{{m}}}", "{}"])
        return self.value_expr(t, env, 0)

    # -- actors
    def action_text(self, actor_env: dict[str, tuple], cached: set[str], index: int) -> str:
        env = dict(actor_env)
        params = []
        for i in range(self.integer(0 if self.objects(env) else 1, 2)):
            p = self.name("p")
            shape = "obj" if i == 0 and not self.objects(env) else self.choice(["obj", "obj", "enum", "int", "bool"])
            if shape == "obj":
                k = self.choice([k.name for k in self.kinds])
                params.append(f"{p}: {k}")
                env[p] = ("obj", k)
            elif shape == "enum":
                params.append(f"{p}: {ENUM}")
                env[p] = ("enum",)
            elif shape == "int":
                lo, hi = self.choice([(0, 1), (0, 2), (-1, 1)])
                params.append(f"{p}: {lo}..{hi}")
                env[p] = ("int", lo, hi)
            else:
                params.append(f"{p}: bool")
                env[p] = ("boolvar",)
        lines = [f"  action a{index}({', '.join(params)}) {{"]
        for _ in range(self.choice([0, 0, 1, 1, 2])):
            lines.append(f"    require {self.bool_expr(env, self.choice([0, 1]))}")
        bools = [n for n, t in env.items() if t == ("boolvar",)]
        if bools and self.boolean(0.5):
            lines.append(f"    require {self.choice(bools)}")
        if self.boolean(0.2):  # lets are substituted where used: they read the pre-state
            name = self.name("l")
            objs = self.objects(env)
            if objs and self.boolean(0.5):
                alias = self.choice(objs)
                lines.append(f"    let {name} = {alias}")
                env[name] = env[alias]
            else:
                lines.append(f"    let {name} = {self.int_expr(env, 1)}")
                env[name] = ("int", -9, 9)
        for _ in range(self.choice([1, 1, 1, 2, 2, 3])):
            lines.append(self.stmt(env, 1, cached, "    "))
        lines.append("  }")
        return "\n".join(lines)

    def actors_text(self) -> str:
        out = []
        count = self.choice([1, 2, 2, 3, 3])
        per_index = self.integer(0, count - 1) if self.boolean(0.5) else -1
        cache_index = self.integer(0, count - 1) if self.boolean(0.6) else -1
        for i in range(count):
            header = f"actor act{i}"
            env: dict[str, tuple] = {}
            if i == per_index:
                k = self.choice([k.name for k in self.kinds])
                header += f" per {k}"
                env["self"] = ("obj", k)
            lines = [header + " {"]
            cached: set[str] = set()
            if i == cache_index:
                kinds = [k.name for k in self.kinds if self.boolean(0.6)] or [self.kinds[0].name]
                cached = set(kinds)
                lines.append(f"  cache {', '.join(kinds)}" + (" writethrough" if self.boolean(0.4) else ""))
            for j in range(self.choice([1, 2, 2, 3])):
                lines.append(self.action_text(env, cached, j))
                self.actions.append(f"act{i}.a{j}")
            lines.append("}")
            text = "\n".join(lines)
            if i > 0 and self.boolean(0.2):  # inside a module, which the model may leave out
                module = f"mod{i}"
                self.modules.append(module)
                text = f"module {module} {{\n{text}\n}}"
            out.append(text)
        return "\n\n".join(out)

    # -- invariants and model
    def scalar_value(self, t: tuple) -> str:
        """A literal of a bool, int or enum type."""
        if t[0] == "bool":
            return self.choice(["true", "false"])
        if t[0] == "int":
            return str(self.integer(max(t[1], 0), t[2]))
        return self.choice(self.members)

    def init_value(self, t: tuple, kind: KindInfo) -> str:
        if t[0] in ("bool", "int", "enum"):
            return self.scalar_value(t)
        if t[0] == "ref":
            ids = self.kind(t[1]).ids
            return self.choice(["none", *ids])
        if t[0] == "setE":
            return "{" + ", ".join(m for m in self.members if self.boolean(0.4)) + "}"
        ids = self.kind(t[1]).ids
        return "{" + ", ".join(i for i in ids if self.boolean(0.4)) + "}"

    def model_text(self, symmetric: str | None, symmetric_kinds: tuple[str, ...] = ()) -> str:
        lines = ["model m default {"]
        for kind in self.kinds:
            if kind.count == 0:
                continue
            if kind.ids[0] == f"{kind.name.lower()}1" and self.boolean(0.5):
                lines.append(f"  {kind.name} = {kind.count}")
            else:
                lines.append(f"  {kind.name} = {{{', '.join(kind.ids)}}}")
        for kind in self.kinds:
            if any(f.name == "cst" for f in kind.fields) and (kind.name != symmetric or symmetric_kinds):
                for ident in kind.ids:
                    if self.boolean(0.5):
                        value = self.integer(0, 1) if symmetric_kinds else self.integer(0, 2)  # often alike
                        lines.append(f"  const {ident}.cst = {value}")
            for f in kind.fields:
                if f.name == "cref":
                    targets = self.kind(f.type[1]).ids
                    for ident in kind.ids:
                        lines.append(f"  const {ident}.cref = {self.choice(['none', *targets])}")
        for kind in self.kinds:
            for ident in kind.ids:
                if not self.boolean(0.75):
                    continue
                inits = []
                for f in kind.of(lambda f: True, state_only=True):
                    if self.boolean(0.4):
                        if self.boolean(0.4):
                            values = list(dict.fromkeys(self.init_value(f.type, kind) for _ in range(2)))
                            inits.append(f"{f.name} = one of {{{', '.join(values)}}}")
                        else:
                            inits.append(f"{f.name} = {self.init_value(f.type, kind)}")
                if kind.finalizers and self.boolean(0.3):
                    inits.append("finalizers = {" + ", ".join(x for x in kind.finalizers if self.boolean(0.5)) + "}")
                lines.append(f"  init {ident}" + (" { " + ", ".join(inits) + " }" if inits else ""))
        if self.boolean(0.25):
            k = self.choice(self.kinds)
            var = self.name("x")
            body = self.bool_expr({var: ("obj", k.name)}, 1)
            lines.append(f"  constraint count({var}: {k.name} | {body}) <= {self.integer(1, 2)}")
        if symmetric_kinds:
            lines.append(f"  symmetric {', '.join(symmetric_kinds)}")
        elif symmetric:
            lines.append(f"  symmetric {symmetric}")
        if self.modules and self.boolean(0.6):
            included = [m for m in self.modules if self.boolean(0.5)] or self.modules[:1]
            lines.append(f"  include {', '.join(included)}")
        if len(self.invariants) > 1 and self.boolean(0.2):
            checked = [i for i in self.invariants if self.boolean(0.6)] or self.invariants[:1]
            lines.append(f"  check {', '.join(checked + self.properties)}")
        lines.append("}")
        return "\n".join(lines)

    # -- temporal properties and fairness
    def temporal_text(self, actor_names: list[str]) -> str:
        """Fairness declarations for some actors and actions, then 1-2 temporal properties."""
        lines = []
        levels = ["fair", "weak fair", "strong fair", "unfair", "finite"]
        for actor in actor_names:
            if self.boolean(0.4):
                lines.append(f"{self.choice(levels)} actor {actor}")
        for action in self.actions:
            if self.boolean(0.2):
                lines.append(f"{self.choice(levels)} action {action}")
        for i in range(self.integer(1, 2)):
            shape = self.choice(["eventually", "always eventually", "leads_to", "leads_to"])
            env: dict[str, tuple] = {}
            prefix = ""
            if self.boolean(0.5):
                kind = self.choice([k for k in self.kinds if k.count] or self.kinds)
                var = self.name("q")
                env[var] = ("obj", kind.name)
                prefix = f"forall {var}: {kind.name} | "
            goal = self.bool_expr(env, 1)
            if shape == "leads_to":
                body = f"({self.bool_expr(env, 1)}) {self.choice(['~>', 'leads_to'])} {goal}"
            else:
                body = f"{shape} {goal}"
            lines.append(f"/// generated property {i}\nproperty prop{i}: {prefix}{body}")
            self.properties.append(f"prop{i}")
        return "\n".join(lines)

    def spec(self, symmetric: bool = False, structure: bool = False, temporal: bool = False) -> str:
        """With `structure`, one or two kinds are symmetric and constants (plain ones, and ones that name
        instances) decide which of their permutations are symmetries; with `temporal`, fairness
        declarations and temporal properties follow the invariants."""
        self.structure = structure
        self.declare()
        sym_kind = None
        sym_kinds: tuple[str, ...] = ()
        for kind in self.kinds:
            kind.count = self.choice([1, 1, 2, 2, 2] if len(self.kinds) < 3 else [1, 1, 1, 2])
            if kind.name != self.kinds[0].name and self.boolean(0.05):
                kind.count = 0
        if structure:
            names = [k.name for k in self.kinds]
            sym_kinds = tuple(n for n in names if self.boolean(0.6)) or (self.choice(names),)
            for name in sym_kinds:
                self.kind(name).count = self.choice([2, 2, 3]) if len(self.kinds) < 3 else 2
            symmetric = False
        if symmetric:
            sym_kind = self.choice([k.name for k in self.kinds])
            self.kind(sym_kind).count = 2
        for kind in self.kinds:
            if kind.count and self.boolean(0.3) and kind.name != sym_kind and kind.name not in sym_kinds:
                kind.ids = [f"{kind.name.lower()}_{x}" for x in ("x", "y")[: kind.count]]
            else:
                kind.ids = [f"{kind.name.lower()}{i + 1}" for i in range(kind.count)]
        parts = [f"enum {ENUM} {{ {', '.join(self.members)} }}"]
        parts += [self.kind_text(k) for k in self.kinds]
        parts.append(self.actors_text())
        for i in range(self.integer(1, 3)):
            parts.append(f"invariant inv{i}: {self.bool_expr({}, 2)}")
            self.invariants.append(f"inv{i}")
        if temporal:
            parts.append(self.temporal_text(sorted({a.split(".")[0] for a in self.actions})))
        parts.append(self.model_text(sym_kind, sym_kinds))
        return "\n\n".join(parts) + "\n"


@st.composite
def specs(draw: Callable[[st.SearchStrategy[Any]], Any], symmetric: bool = False, structure: bool = False,
          temporal: bool = False) -> str:
    """The text of one random small spec (with `symmetric K` for one kind when asked; with `structure`,
    several symmetric kinds whose constants decide the group; with fairness declarations and temporal
    properties when `temporal`)."""
    return SpecGen(draw).spec(symmetric=symmetric, structure=structure, temporal=temporal)


class RandomSpecGen(SpecGen):
    """The same generator driven by `random.Random` (uniform choices, reproducible by seed)."""

    def __init__(self, rng: Any) -> None:
        super().__init__(lambda strategy: None)
        self.rng = rng

    def choice(self, options: list | tuple) -> Any:
        return self.rng.choice(list(options))

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def boolean(self, p: float = 0.5) -> bool:
        return self.rng.random() < p


@st.composite
def seeded_specs(draw: Callable[[st.SearchStrategy[Any]], Any], symmetric: bool = False,
                 structure: bool = False, temporal: bool = False) -> str:
    """A spec from a uniformly random generator seeded by hypothesis: more varied, shrinks less."""
    import random

    seed = draw(st.integers(0, 2**32 - 1))
    return RandomSpecGen(random.Random(seed)).spec(symmetric=symmetric, structure=structure, temporal=temporal)
