"""The vectorised engine: every action applied to a whole block of states at once (numpy).

States are rows of an int64 matrix with the scalar engine's layout (`compiler.Layout`). Each
action binding is compiled to numpy code: guards become boolean masks (conjunct by conjunct,
narrowing the rows as they go), assignments become column writes on the selected rows, reads
through a reference become gathers, quantifiers are unrolled at compile time.

NOTE(short-circuit): numpy evaluates both sides of `and`, so a read through `none` may be
evaluated on rows where the scalar engine would never reach it. Such reads return a dummy value
and carry a `bad` mask that follows the short-circuit rules (`bad(a and b) = bad(a) | (a & bad(b))`).
A row whose effective evaluation touched `none` (or assigned an out-of-range value) is handed
to the scalar engine, whose exact evaluation raises the error with its source position.

The generated code obeys NOTE(codegen-safety) in compiler.py: integers, operators and our own
helper names only.
"""

from __future__ import annotations

import io
import itertools
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kvolt.checker import ir
from kvolt.checker.compiler import (
    CompiledModel,
    Layout,
    Moved,
    Region,
    SpecRuntimeError,
    permutation_plan,
    symmetry_permutations,
)
from kvolt.checker.diagnostics import too_deep

Code = int | str  # a folded constant, or numpy source text


@dataclass
class _Val:
    """A compiled vector expression: its value code and the code of its `bad` mask (or None)."""

    code: Code
    bad: str | None = None


def _is_const(code: Code) -> bool:
    return isinstance(code, int)


def _or_bad(*bads: str | None) -> str | None:
    present = [b for b in bads if b]
    if not present:
        return None
    return present[0] if len(present) == 1 else "(" + " | ".join(present) + ")"


class SuspectRows(Exception):
    """Some rows evaluated a read through none or an out-of-range value: re-run them exactly."""

    def __init__(self, rows: np.ndarray) -> None:
        super().__init__("suspect rows")
        self.rows = rows


def _namespace() -> dict[str, object]:
    def gather(array: np.ndarray, ref: np.ndarray, start: int, width: int) -> np.ndarray:
        return array[np.arange(len(array)), start + width * np.maximum(ref, 1)]

    def check(bad: np.ndarray, pre: np.ndarray) -> None:
        if bad.any():
            raise SuspectRows(pre[bad])

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=bool)

    def full(n: int, value: int) -> np.ndarray:
        return np.full(n, value, dtype=np.int64)

    def block_equal(array: np.ndarray, a: object, c: object, width: int) -> np.ndarray:
        """Row-wise equality of two blocks, each at a constant or per-row start column."""
        rows = np.arange(len(array))[:, None]
        offsets = np.arange(width)[None, :]
        left = array[:, a:a + width] if isinstance(a, int) else array[rows, np.asarray(a)[:, None] + offsets]
        right = array[:, c:c + width] if isinstance(c, int) else array[rows, np.asarray(c)[:, None] + offsets]
        return (left == right).all(axis=1)

    def copy_block(array: np.ndarray, dst: object, src: object, width: int, mask: object) -> None:
        rows = np.arange(len(array))[:, None]
        offsets = np.arange(width)[None, :]
        everything = slice(None)
        dst_index = (everything, slice(dst, dst + width)) if isinstance(dst, int) else (rows, np.asarray(dst)[:, None] + offsets)
        src_index = (everything, slice(src, src + width)) if isinstance(src, int) else (rows, np.asarray(src)[:, None] + offsets)
        values = array[src_index]
        if mask is not None:
            values = np.where(np.asarray(mask)[:, None], values, array[dst_index])
        array[dst_index] = values

    def inref(ref: np.ndarray | int, mask: np.ndarray | int) -> np.ndarray:
        ref = np.asarray(ref)
        return (ref > 0) & (((np.asarray(mask) >> np.maximum(ref - 1, 0)) & 1) != 0)

    def rbit(ref: np.ndarray) -> np.ndarray:
        return np.where(ref > 0, np.left_shift(1, np.maximum(ref - 1, 0)), 0)

    def at(array: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return array[np.arange(len(array)), columns]

    def put(array: np.ndarray, columns: object, values: object, mask: object) -> None:
        rows = np.arange(len(array))
        if isinstance(columns, int):
            current = array[:, columns]
            array[:, columns] = values if mask is None else np.where(mask, values, current)
        else:
            current = array[rows, columns]
            array[rows, columns] = values if mask is None else np.where(mask, values, current)

    def bitcount(x: object) -> np.ndarray:
        return np.bitwise_count(np.asarray(x, dtype=np.int64)).astype(np.int64)

    def copy_rows(rows: np.ndarray) -> np.ndarray:
        """A row-major copy (never the same array: successors must not write into the frontier)."""
        return np.array(rows, dtype=np.int64, order="C", copy=True)

    def as_int(x: object) -> np.ndarray:
        return np.asarray(x).astype(np.int64)

    return {"_g": gather, "_chk": check, "_ones": ones, "_full": full, "_beq": block_equal, "_cpb": copy_block,
            "_inref": inref, "_rbit": rbit, "_at": at, "_put": put, "_bc": bitcount, "_i": as_int,
            "_where": np.where, "_nz": np.flatnonzero, "_c": copy_rows, "_min": np.minimum, "_max": np.maximum,
            "len": len, "range": range}


_ALLOWED = {"def", "return", "if", "else", "and", "or", "not", "is", "None", "True", "False", "for", "in", "pass",
            "F", "P", "T", "ok", "idx", "m", "out", "n", "copy", "size", "append",
            "_g", "_chk", "_ones", "_full", "_beq", "_c", "_cpb", "_inref", "_rbit", "_at", "_put", "_bc", "_i",
            "_where", "_nz", "_min", "_max", "len", "range"}
_GENERATED = re.compile(r"^(?:[cor]\d+|v\d+)$")


def _check_generated(source: str) -> None:
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.string not in _ALLOWED and not _GENERATED.match(token.string):
            raise AssertionError(f"generated vector code contains an unexpected name {token.string!r}")
        if token.type in (tokenize.STRING, tokenize.COMMENT):
            raise AssertionError("generated vector code contains a string or comment")


# ---------------------------------------------------------------- expressions


class _VecExpr:
    """Compile IR expressions over a row array (`F` for guards, `P` for effects) to numpy code."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.spec = layout.spec
        self.model = layout.model
        self.array = "F"

    def region(self, kind: str, cache: str | None, env: dict[str, int]) -> Region:
        if cache is None:
            return self.layout.api[kind]
        actor = self.spec.actor(cache)
        return self.layout.caches[(cache, env["self"] - 1 if actor.per else 0, kind)]

    def expr(self, e: ir.Expr, env: dict[str, int]) -> _Val:
        return getattr(self, f"_{type(e).__name__}")(e, env)  # type: ignore[no-any-return]

    def _Lit(self, e: ir.Lit, env: dict[str, int]) -> _Val:
        return _Val(e.value)

    def _Var(self, e: ir.Var, env: dict[str, int]) -> _Val:
        return _Val(env[e.name])

    def _FieldRead(self, e: ir.FieldRead, env: dict[str, int]) -> _Val:
        obj = self.expr(e.obj, env)
        declared = self.spec.kind(e.kind).field(e.field)
        a = self.array
        if declared is not None and declared.const:
            values = self.model.const_values(e.kind, e.field)
            if _is_const(obj.code):
                if not obj.code:
                    return _Val(0, f"_ones(len({a}))")
                return _Val(values[obj.code - 1], obj.bad)
            table = "[" + ", ".join(str(v) for v in (0, *values)) + "]"
            lookup = f"_i({table})[{obj.code}]"
            return _Val(f"({lookup} != 0)" if isinstance(e.type, ir.BoolT) else lookup, _or_bad(obj.bad, f"({obj.code} == 0)"))
        region = self.region(e.kind, e.cache, env)
        offset = self.layout.offset(e.kind, e.field)
        if region.count == 0:  # every reference to this kind is none: a read is undefined wherever reached
            return _Val(0, f"_ones(len({a}))")
        if _is_const(obj.code):
            if not obj.code:
                return _Val(0, f"_ones(len({a}))")
            column = f"{a}[:, {region.block(obj.code - 1) + offset}]"
            bad = obj.bad
        else:
            column = f"_g({a}, {obj.code}, {region.base + offset - region.width}, {region.width})"
            bad = _or_bad(obj.bad, f"({obj.code} == 0)")
        if e.field == "exists":
            return _Val(f"({column} > 0)", bad)
        if e.field == "deleting":
            return _Val(f"({column} == 2)", bad)
        if isinstance(e.type, ir.BoolT):
            return _Val(f"({column} != 0)", bad)
        return _Val(column, bad)

    def _Not(self, e: ir.Not, env: dict[str, int]) -> _Val:
        v = self.expr(e.operand, env)
        return _Val(int(not v.code), v.bad) if _is_const(v.code) else _Val(f"(~{v.code})", v.bad)

    def _Ite(self, e: ir.Ite, env: dict[str, int]) -> _Val:
        cond = self.expr(e.cond, env)
        if _is_const(cond.code):
            branch = self.expr(e.then if cond.code else e.orelse, env)
            return _Val(branch.code, _or_bad(cond.bad, branch.bad))
        then, orelse = self.expr(e.then, env), self.expr(e.orelse, env)
        bad = _or_bad(cond.bad, f"({cond.code} & {then.bad})" if then.bad else None,
                      f"(~{cond.code} & {orelse.bad})" if orelse.bad else None)
        choice = f"_where({cond.code}, {then.code}, {orelse.code})"
        return _Val(f"({choice} != 0)" if isinstance(e.type, ir.BoolT) else choice, bad)

    def _SetLit(self, e: ir.SetLit, env: dict[str, int]) -> _Val:
        constant = 0
        parts: list[str] = []
        bads: list[str | None] = []
        is_ref = isinstance(e.type.element, ir.RefT)
        for element in e.elements:
            v = self.expr(element, env)
            bads.append(v.bad)
            if _is_const(v.code):
                if is_ref and not v.code:
                    bads.append(f"_ones(len({self.array}))")
                    continue
                constant |= 1 << (v.code - 1 if is_ref else v.code)
            elif is_ref:
                parts.append(f"_rbit({v.code})")
                bads.append(f"({v.code} == 0)")
            else:
                parts.append(f"(1 << {v.code})")
        bad = _or_bad(*bads)
        if not parts:
            return _Val(constant, bad)
        if constant:
            parts.append(str(constant))
        return _Val("(" + " | ".join(parts) + ")", bad)

    def _Call(self, e: ir.Call, env: dict[str, int]) -> _Val:
        args = [self.expr(a, env) for a in e.args]
        bad = _or_bad(*(a.bad for a in args))
        if e.func == "size":
            (arg,) = args
            return _Val(int(arg.code).bit_count() if _is_const(arg.code) else f"_bc({arg.code})", bad)
        if all(_is_const(a.code) for a in args):
            values = [int(a.code) for a in args]
            return _Val(min(values) if e.func == "min" else max(values), bad)
        function = "_min" if e.func == "min" else "_max"
        return _Val(f"{function}({args[0].code}, {args[1].code})", bad)

    def _Quant(self, e: ir.Quant, env: dict[str, int]) -> _Val:
        values = ir.domain_values(self.spec, self.model, e.domain)
        parts = [self.expr(e.body, {**env, e.var: v}) for v in values]
        if e.quantifier in ("forall", "exists"):
            return self._junction(parts, "and" if e.quantifier == "forall" else "or")
        if e.quantifier == "count":
            parts = [p if _is_const(p.code) else _Val(f"_i({p.code})", p.bad) for p in parts]
        constant = sum(int(p.code) for p in parts if _is_const(p.code))
        dynamic = [str(p.code) for p in parts if not _is_const(p.code)]
        bad = _or_bad(*(p.bad for p in parts))
        if not dynamic:
            return _Val(constant, bad)
        return _Val("(" + " + ".join(dynamic + ([str(constant)] if constant else [])) + ")", bad)

    def _junction(self, parts: list[_Val], op: str) -> _Val:
        """Short-circuit and/or over several operands, left to right (see NOTE(short-circuit))."""
        absorbing = 0 if op == "and" else 1
        symbol = "&" if op == "and" else "|"
        code: Code = 1 - absorbing
        bad: str | None = None
        for part in parts:
            if _is_const(code):
                # everything so far was the neutral constant
                if _is_const(part.code):
                    bad = _or_bad(bad, part.bad)
                    if bool(part.code) == bool(absorbing):
                        return _Val(absorbing, bad)
                    continue
                code, bad = part.code, _or_bad(bad, part.bad)
                continue
            reached = code if op == "and" else f"(~{code})"
            if part.bad:
                bad = _or_bad(bad, f"({reached} & {part.bad})")
            if _is_const(part.code):
                if bool(part.code) == bool(absorbing):
                    return _Val(absorbing, bad)
                continue
            code = f"({code} {symbol} {part.code})"
        return _Val(code, bad)

    def _BinOp(self, e: ir.BinOp, env: dict[str, int]) -> _Val:
        op = e.op
        if op in ("and", "or"):
            return self._junction([self.expr(e.left, env), self.expr(e.right, env)], op)
        if op == "implies":
            left = self.expr(e.left, env)
            negated = _Val(int(not left.code), left.bad) if _is_const(left.code) else _Val(f"(~{left.code})", left.bad)
            return self._junction([negated, self.expr(e.right, env)], "or")
        left, right = self.expr(e.left, env), self.expr(e.right, env)
        bad = _or_bad(left.bad, right.bad)
        if op == "in":
            return _Val(self._member(e, left.code, right.code), bad)
        if _is_const(left.code) and _is_const(right.code):
            from kvolt.checker.compiler import _fold

            return _Val(_fold(op, int(left.code), int(right.code)), bad)
        a, b = str(left.code), str(right.code)
        python = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "+": "+", "-": "-",
                  "union": "|", "inter": "&"}
        if op in python:
            return _Val(f"({a} {python[op]} {b})", bad)
        if op == "diff":
            return _Val(f"({a} & ~{b})", bad)
        if op == "subset":
            return _Val(f"(({a} & ~{b}) == 0)", bad)
        raise AssertionError(op)

    def _member(self, e: ir.BinOp, element: Code, container: Code) -> Code:
        is_ref = isinstance(e.right.type, ir.SetT) and isinstance(e.right.type.element, ir.RefT)
        if _is_const(element):
            if is_ref and not element:
                return 0
            bit = element - 1 if is_ref else element
            if _is_const(container):
                return (int(container) >> bit) & 1
            return f"((({container} >> {bit}) & 1) != 0)"
        if is_ref:
            return f"_inref({element}, {container})"
        return f"((({container} >> {element}) & 1) != 0)"


# ---------------------------------------------------------------- actions


class _VecAction:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.exprs = _VecExpr(layout)
        self.lines: list[str] = []
        self.temp = 0

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def fresh(self, prefix: str) -> str:
        self.temp += 1
        return f"{prefix}{self.temp}"

    def compile(self, action: ir.Action, actor: ir.Actor, function: str, bindings: int) -> str:
        spec, model = self.layout.spec, self.layout.model
        domains = [list(ir.domain_values(spec, model, p.type)) for p in action.params]
        self.emit(0, f"def {function}(F, out):")
        self.emit(1, "pass")
        for index, values in enumerate(itertools.product(*domains)):
            env = {p.name: v for p, v in zip(action.params, values, strict=True)}
            self._binding(action, actor, env, index)
        return "\n".join(self.lines) + "\n"

    def _conjuncts(self, guards: tuple[ir.Expr, ...]) -> list[ir.Expr]:
        flat: list[ir.Expr] = []
        for guard in guards:
            stack = [guard]
            while stack:
                g = stack.pop(0)
                if isinstance(g, ir.BinOp) and g.op == "and":
                    stack[:0] = [g.left, g.right]
                else:
                    flat.append(g)
        return flat

    def _binding(self, action: ir.Action, actor: ir.Actor, env: dict[str, int], index: int) -> None:
        """The guard as one mask over all rows (no row copies), then the effects on the enabled rows."""
        self.exprs.array = "F"
        guard = self.exprs._junction([self.exprs.expr(g, env) for g in self._conjuncts(action.guards)], "and")
        if _is_const(guard.code) and not guard.code and not guard.bad:
            return
        depth = 1
        if guard.bad:
            self.emit(depth, f"_chk({guard.bad}, F)")
        if _is_const(guard.code):
            if not guard.code:
                return
            self.emit(depth, "idx = None")
            self.emit(depth, "P = F")
        else:
            self.emit(depth, f"idx = _nz({guard.code})")
            self.emit(depth, "P = F[idx]")
        self.exprs.array = "P"
        self.emit(depth, "if len(P):")
        depth += 1
        self.emit(depth, "T = _c(P)")
        self.emit(depth, "ok = _ones(len(P))")
        self._stmts(action.effects, actor, env, depth, None)
        self.emit(depth, f"out.append(({index}, idx, T, ok))")

    def _stmts(self, stmts: tuple[ir.Stmt, ...], actor: ir.Actor, env: dict[str, int], depth: int,
               mask: str | None) -> None:
        for stmt in stmts:
            if isinstance(stmt, ir.If):
                cond = self.exprs.expr(stmt.cond, env)
                if cond.bad:
                    self.emit(depth, f"_chk({self._care(cond.bad, mask)}, P)")
                if _is_const(cond.code):
                    self._stmts(stmt.then if cond.code else stmt.orelse, actor, env, depth, mask)
                    continue
                then_mask, else_mask = self.fresh("c"), self.fresh("c")
                self.emit(depth, f"{then_mask} = {cond.code}" if mask is None else f"{then_mask} = {mask} & {cond.code}")
                self.emit(depth, f"{else_mask} = ~{cond.code}" if mask is None else f"{else_mask} = {mask} & ~{cond.code}")
                self._stmts(stmt.then, actor, env, depth, then_mask)
                self._stmts(stmt.orelse, actor, env, depth, else_mask)
                continue
            self._effect(stmt, actor, env, depth, mask)

    def _care(self, bad: str, mask: str | None) -> str:
        return f"({bad} & ok)" if mask is None else f"({bad} & ok & {mask})"

    def _require(self, condition: str, mask: str | None, depth: int) -> None:
        """An implicit precondition (the API call would fail): drop the rows where it does not hold."""
        self.emit(depth, f"ok &= {condition}" if mask is None else f"ok &= ~{mask} | {condition}")

    def _target(self, obj: ir.Expr, kind: str, env: dict[str, int], depth: int, mask: str | None) -> tuple[Code, Code]:
        """(reference, API block start) of the written object: constants or per-row arrays."""
        ref = self.exprs.expr(obj, env)
        region = self.layout.api[kind]
        if ref.bad:
            self.emit(depth, f"_chk({self._care(ref.bad, mask)}, P)")
        if _is_const(ref.code):
            if not ref.code:
                self.emit(depth, f"_chk({self._care('_ones(len(P))', mask)}, P)")
                return 0, 0
            return ref.code, region.block(ref.code - 1)
        r = self.fresh("r")
        self.emit(depth, f"{r} = {ref.code}")
        self.emit(depth, f"_chk({self._care(f'({r} == 0)', mask)}, P)")
        o = self.fresh("o")
        self.emit(depth, f"{o} = {region.base - region.width} + {region.width} * _max({r}, 1)")
        return r, o

    def _col(self, array: str, base: Code, offset: int) -> str:
        if _is_const(base):
            return f"{array}[:, {int(base) + offset}]"
        return f"_at({array}, {base} + {offset})"

    def _index(self, base: Code, offset: int) -> str:
        return str(int(base) + offset) if _is_const(base) else f"{base} + {offset}"

    def _put(self, base: Code, offset: int, value: str, mask: str | None, depth: int) -> None:
        self.emit(depth, f"_put(T, {self._index(base, offset)}, {value}, {mask})")

    def _conflict(self, actor: ir.Actor, kind: str, ref: Code, base: Code, env: dict[str, int], depth: int,
                  mask: str | None, patch: bool) -> None:
        if patch or actor.cache_of(kind) is None:
            return
        cache = self.exprs.region(kind, actor.name, env)
        if _is_const(ref):
            c: Code = cache.block(int(ref) - 1)
        else:
            c = self.fresh("o")
            self.emit(depth, f"{c} = {cache.base - cache.width} + {cache.width} * _max({ref}, 1)")
        self._require(f"_beq(P, {base}, {c}, {cache.width})", mask, depth)

    def _value(self, expr: ir.Expr, target: ir.Type | None, env: dict[str, int], mask: str | None, depth: int) -> str:
        value = self.exprs.expr(expr, env)
        if value.bad:
            self.emit(depth, f"_chk({self._care(value.bad, mask)}, P)")
        if _is_const(value.code):
            if isinstance(target, ir.IntT) and not target.low <= int(value.code) <= target.high:
                self.emit(depth, f"_chk({self._care('_ones(len(P))', mask)}, P)")  # the scalar engine names the error
                return "0"
            return str(int(value.code))
        if isinstance(target, ir.BoolT):
            return f"_i({value.code})"
        if isinstance(target, ir.IntT):
            v = self.fresh("v")
            self.emit(depth, f"{v} = {value.code}")
            self.emit(depth, f"_chk({self._care(f'(({v} < {target.low}) | ({v} > {target.high}))', mask)}, P)")
            return v
        return str(value.code)

    def _effect(self, stmt: ir.Stmt, actor: ir.Actor, env: dict[str, int], depth: int, mask: str | None) -> None:
        kind = stmt.kind  # type: ignore[union-attr]
        ref, base = self._target(stmt.obj, kind, env, depth, mask)  # type: ignore[union-attr]
        life, fins = self._col("T", base, 0), self._col("T", base, 1)
        if isinstance(stmt, ir.Assign):
            self._require(f"({life} != 0)", mask, depth)
            self._conflict(actor, kind, ref, base, env, depth, mask, stmt.patch)
            declared = self.layout.spec.kind(kind).field(stmt.field)
            value = self._value(stmt.value, declared.type, env, mask, depth)  # type: ignore[union-attr]
            self._put(base, self.layout.offset(kind, stmt.field), value, mask, depth)
        elif isinstance(stmt, ir.Create):
            self._require(f"({life} == 0)", mask, depth)
            inits = dict(stmt.inits)
            self._put(base, 0, "1", mask, depth)
            fin_value = self._value(inits["finalizers"], None, env, mask, depth) if "finalizers" in inits else "0"
            self._put(base, 1, fin_value, mask, depth)
            for f in self.layout.spec.kind(kind).state_fields:
                value = self._value(inits[f.name], f.type, env, mask, depth) if f.name in inits else str(f.default)
                self._put(base, self.layout.offset(kind, f.name), value, mask, depth)
        elif isinstance(stmt, ir.Delete):
            self._require(f"({life} != 0)", mask, depth)
            self._put(base, 0, f"_where({fins} != 0, 2, 0)", mask, depth)
            self._reset_where(kind, base, f"({self._col('T', base, 0)} == 0)", mask, depth)
        elif isinstance(stmt, ir.FinalizerOp):
            bit = 1 << stmt.finalizer
            if stmt.op == "add":
                self._require(f"({life} == 1)", mask, depth)
                self._conflict(actor, kind, ref, base, env, depth, mask, stmt.patch)
                self._put(base, 1, f"({fins} | {bit})", mask, depth)
            else:
                self._require(f"({life} != 0)", mask, depth)
                self._conflict(actor, kind, ref, base, env, depth, mask, stmt.patch)
                self._put(base, 1, f"({fins} & ~{bit})", mask, depth)
                removed = f"(({self._col('T', base, 0)} == 2) & ({self._col('T', base, 1)} == 0))"
                self._reset_where(kind, base, removed, mask, depth)
        self._writethrough(actor, kind, ref, env, depth, mask)

    def _reset_where(self, kind: str, base: Code, condition: str, mask: str | None, depth: int) -> None:
        c = self.fresh("c")
        self.emit(depth, f"{c} = {condition}" if mask is None else f"{c} = {mask} & {condition}")
        self._put(base, 0, "0", c, depth)
        self._put(base, 1, "0", c, depth)
        for f in self.layout.spec.kind(kind).state_fields:
            self._put(base, self.layout.offset(kind, f.name), str(f.default), c, depth)

    def _writethrough(self, actor: ir.Actor, kind: str, ref: Code, env: dict[str, int], depth: int,
                      mask: str | None) -> None:
        cache = actor.cache_of(kind)
        if cache is None or not cache[1]:
            return
        api = self.layout.api[kind]
        region = self.exprs.region(kind, actor.name, env)
        if _is_const(ref):
            a: Code = api.block(int(ref) - 1)
            c: Code = region.block(int(ref) - 1)
        else:
            a, c = self.fresh("o"), self.fresh("o")
            self.emit(depth, f"{a} = {api.base - api.width} + {api.width} * _max({ref}, 1)")
            self.emit(depth, f"{c} = {region.base - region.width} + {region.width} * _max({ref}, 1)")
        self.emit(depth, f"_cpb(T, {c}, {a}, {api.width}, {mask})")


def _sync_source(layout: Layout, actor: ir.Actor, kind: str, function: str) -> str:
    api = layout.api[kind]
    lines = [f"def {function}(F, out):", "    pass"]
    index = 0
    for instance in range(layout.actor_instances(actor)):
        cache = layout.caches[(actor.name, instance, kind)]
        for obj in range(api.count):
            a, c, w = api.block(obj), cache.block(obj), api.width
            lines.append(f"    idx = _nz(~_beq(F, {a}, {c}, {w}))")
            lines.append("    if len(idx):")
            lines.append("        T = _c(F[idx])")
            lines.append(f"        T[:, {c}:{c + w}] = T[:, {a}:{a + w}]")
            lines.append(f"        out.append(({index}, idx, T, None))")
            index += 1
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the compiled vector model


@dataclass
class VectorModel:
    """Whole-array successor, invariant and constraint functions for one compiled model."""

    scalar: CompiledModel
    actions: list[Callable[[np.ndarray, list], None]]
    invariants: list[Callable[[np.ndarray], np.ndarray]]
    constraint: Callable[[np.ndarray], np.ndarray] | None
    permutations: list[list[Moved]]
    source: str


def compile_vector(scalar: CompiledModel) -> VectorModel:
    try:
        return _compile_vector(scalar)
    except RecursionError:
        raise too_deep(scalar.spec.file) from None


def _compile_vector(scalar: CompiledModel) -> VectorModel:
    layout = scalar.layout
    spec, model = layout.spec, layout.model
    functions: list[str] = []
    names: list[str] = []
    count = 0
    for actor in [a for a in spec.actors if a.name in model.actors]:
        for action in actor.actions:
            name = f"v{count}"
            count += 1
            compiled = next(a for a in scalar.actions if a.name == action.qualified_name)
            functions.append(_VecAction(layout).compile(action, actor, name, len(compiled.bindings)))
            names.append(name)
        for kind, _ in actor.caches:
            name = f"v{count}"
            count += 1
            functions.append(_sync_source(layout, actor, kind, name))
            names.append(name)
    invariant_names = []
    exprs = _VecExpr(layout)
    exprs.array = "F"
    for invariant in spec.invariants:
        if invariant.name not in model.checks:
            continue
        name = f"v{count}"
        count += 1
        functions.append(_predicate_source(exprs, name, invariant.expr))
        invariant_names.append(name)
    constraint_name = None
    if model.constraints:
        name = f"v{count}"
        count += 1
        conjunction: ir.Expr = model.constraints[0]
        for extra in model.constraints[1:]:
            conjunction = ir.BinOp("and", conjunction, extra, ir.BOOL)
        functions.append(_predicate_source(exprs, name, conjunction))
        constraint_name = name
    program = "\n".join(functions)
    _check_generated(program)
    namespace = _namespace()
    exec(compile(program, f"<kvolt-vector:{model.name}>", "exec"), namespace)
    permutations = [permutation_plan(layout, perms) for perms in symmetry_permutations(layout)] if model.symmetric else []
    return VectorModel(scalar, [namespace[n] for n in names], [namespace[n] for n in invariant_names],  # type: ignore[misc]
                       namespace[constraint_name] if constraint_name else None, permutations, program)  # type: ignore[arg-type]


def _predicate_source(exprs: _VecExpr, name: str, expr: ir.Expr) -> str:
    value = exprs.expr(expr, {})
    lines = [f"def {name}(F):"]
    if value.bad:
        lines.append(f"    _chk({value.bad}, F)")
    if _is_const(value.code):
        lines.append(f"    return _ones(len(F)) if {int(bool(value.code))} else ~_ones(len(F))")
    else:
        lines.append(f"    return {value.code} & _ones(len(F))")
    return "\n".join(lines) + "\n"


def expand(vector: VectorModel, rows: np.ndarray) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """Every successor of every row: (action index, binding, parent rows, successor rows).

    Raises SpecRuntimeError, exactly as the scalar engine would, when an enabled step of some row
    evaluates something undefined.
    """
    results: list[tuple[int, int, np.ndarray, np.ndarray]] = []
    for action_index, function in enumerate(vector.actions):
        out: list[tuple[int, np.ndarray | None, np.ndarray, np.ndarray | None]] = []
        try:
            function(rows, out)
        except SuspectRows as suspect:
            _reraise_successors(vector.scalar.actions[action_index].successors, suspect.rows)
            raise AssertionError("the vector engine flagged a row the scalar engine accepts") from None
        for binding, idx, successors, ok in out:
            parents = np.arange(len(rows)) if idx is None else idx
            if ok is not None:
                parents, successors = parents[ok], successors[ok]
            if len(successors):
                results.append((action_index, binding, parents, successors))
    return results


def _reraise_successors(function: Callable, rows: np.ndarray) -> None:
    for row in rows:
        function(tuple(int(v) for v in row), [])


def _reraise_predicate(function: Callable, rows: np.ndarray) -> None:
    for row in rows:
        function(tuple(int(v) for v in row))


def check_rows(vector: VectorModel, predicate_index: int, rows: np.ndarray) -> np.ndarray:
    """Which rows satisfy an invariant (with the exact scalar error on undefined evaluations)."""
    try:
        return vector.invariants[predicate_index](rows)
    except SuspectRows as suspect:
        _reraise_predicate(vector.scalar.invariants[predicate_index].holds, suspect.rows)
        raise AssertionError("the vector engine flagged a row the scalar engine accepts") from None


def allowed_rows(vector: VectorModel, rows: np.ndarray) -> np.ndarray:
    if vector.constraint is None:
        return np.ones(len(rows), dtype=bool)
    try:
        return vector.constraint(rows)
    except SuspectRows as suspect:
        _reraise_predicate(vector.scalar.constraint, suspect.rows)  # type: ignore[arg-type]
        raise AssertionError("the vector engine flagged a row the scalar engine accepts") from None


__all__ = ["SpecRuntimeError", "VectorModel", "allowed_rows", "check_rows", "compile_vector", "expand"]
