"""The vectorised engine: every action applied to a whole block of states at once (numpy).

States are rows with the scalar engine's layout (`compiler.Layout`). Each action binding is
compiled to numpy code: guards become boolean masks over the whole chunk (read from int64
columns; a guard value computed by several bindings of an action is computed once), assignments
become column writes on copies of the enabled rows, reads through a reference become gathers,
quantifiers are unrolled at compile time. Successors are copies of the chunk's rows in the
compact storage type, written into one reusable buffer (`Sink`); effects read the few columns
they need from the enabled rows (`_Rows`) rather than copying whole int64 rows.

NOTE(short-circuit): numpy evaluates both sides of `and`, so a read through `none` may be
evaluated on rows where the scalar engine would never reach it. Such reads return a dummy value
and carry a `bad` mask that follows the short-circuit rules (`bad(a and b) = bad(a) | (a & bad(b))`).
A row whose effective evaluation touched `none` (or assigned an out-of-range value) is handed
to the scalar engine, whose exact evaluation raises the error with its source position.

The generated code obeys NOTE(codegen-safety) in compiler.py: integers, operators and our own
helper names only.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kvolt.checker.compiler import (
    CompiledModel,
    Layout,
    Moved,
    Region,
    SpecRuntimeError,
    check_vocabulary,
    fold_mask,
    permutation_plan,
)
from kvolt.checker.frontend import ir
from kvolt.checker.frontend.diagnostics import too_deep

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


class _Rows:
    """The rows `idx` of a frontier `F` (int64, column-major), gathered one column at a time when read.

    Effects read only a few columns of the enabled rows; copying whole int64 rows (a row gather
    from a column-major array) would cost far more than the reads themselves.
    """

    __slots__ = ("columns", "frontier", "idx")

    def __init__(self, frontier: np.ndarray, idx: np.ndarray) -> None:
        self.frontier = frontier
        self.idx = idx
        self.columns: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, key: object) -> np.ndarray:
        if isinstance(key, tuple):  # (slice(None), column): one column of the selected rows
            column = int(key[1])
            got = self.columns.get(column)
            if got is None:
                got = self.columns[column] = self.frontier[:, column].take(self.idx)
            return got
        return self.frontier[self.idx[key]]  # whole rows (the suspect rows of `_chk`)

    def full(self) -> np.ndarray:
        return self.frontier[self.idx]


class Sink:
    """Where one chunk's successors are written: consecutive rows of one buffer, reused across chunks.

    Each enabled binding copies its parent rows into the next free rows (`take`) and edits them
    there; `append` then records the piece. No per-binding arrays to concatenate afterwards, and
    no fresh memory pages to fault in for every chunk.
    """

    def __init__(self) -> None:
        self.buffer = np.zeros((0, 0), dtype=np.int8)
        self.used = 0
        self.action = 0
        self.pending = (0, 0)
        self.pieces: list[tuple[int, int, np.ndarray | None, int, int, np.ndarray | None]] = []
        self.parents = 0  # rows of the current chunk
        self.per_parent = 4.0  # the most successors per row seen in a chunk: what the buffer is sized for

    def reset(self, rows: np.ndarray) -> None:
        """Start a chunk whose successors are copies of `rows` (2-D, the storage type).

        The buffer is sized for the most successors per row seen so far, so it rarely grows in the
        middle of a chunk (which copies what is written already).
        """
        if self.parents >= 256:  # the last chunk's ratio (a few rows say little about the next chunk's)
            self.per_parent = max(self.per_parent, self.used / self.parents)
        wanted = max(int(self.per_parent * 1.25 * len(rows)), 1024)
        if self.buffer.dtype != rows.dtype or self.buffer.shape[1:] != rows.shape[1:] or len(self.buffer) < wanted:
            if self.buffer.dtype == rows.dtype and self.buffer.shape[1:] == rows.shape[1:]:
                wanted = max(wanted, 2 * len(self.buffer))  # doubling: levels grow, and each new buffer is faulted in
            self.buffer = np.zeros((0, 0), dtype=np.int8)  # freed first: its pages are the fastest the new one can get
            self.buffer = np.empty((wanted, *rows.shape[1:]), dtype=rows.dtype)
        self.used = 0
        self.parents = len(rows)
        self.pieces = []

    def take(self, rows: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
        count = len(rows) if idx is None else len(idx)
        start, stop = self.used, self.used + count
        if stop > len(self.buffer):  # earlier pieces are complete: moving them is safe
            grown = np.empty((max(2 * len(self.buffer), stop), *self.buffer.shape[1:]), dtype=self.buffer.dtype)
            grown[:start] = self.buffer[:start]
            self.buffer = grown
        target = self.buffer[start:stop]
        if idx is None:
            target[...] = rows
        else:
            np.take(rows, idx, axis=0, out=target, mode="clip")  # clip: no temporary copy (idx is in range)
        self.used = stop
        self.pending = (start, stop)
        return target

    def append(self, piece: tuple[int, np.ndarray | None, np.ndarray, np.ndarray | None]) -> None:
        binding, idx, _, ok = piece
        self.pieces.append((self.action, binding, idx, *self.pending, ok))

    def successors(self) -> np.ndarray:
        return self.buffer[:self.used]


def _whole(array: np.ndarray | _Rows) -> np.ndarray:
    return array.full() if isinstance(array, _Rows) else array


def _namespace() -> dict[str, object]:
    def gather(array: np.ndarray | _Rows, ref: np.ndarray, start: int, width: int, count: int) -> np.ndarray:
        """Column `start + width * ref` of every row (column `start + width` where ref is 0)."""
        result = array[:, start + width]
        for k in range(2, count + 1):
            result = np.where(ref == k, array[:, start + width * k], result)
        return result

    def check(bad: np.ndarray, pre: np.ndarray | _Rows) -> None:
        if bad.any():
            raise SuspectRows(pre[bad])

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=bool)

    def full(n: int, value: int) -> np.ndarray:
        return np.full(n, value, dtype=np.int64)

    def block_equal(array: np.ndarray | _Rows, a: object, c: object, width: int) -> np.ndarray:
        """Row-wise equality of two blocks, each at a constant or per-row start column."""
        if isinstance(a, int) and isinstance(c, int):
            result = array[:, a] == array[:, c]
            for i in range(1, width):
                result &= array[:, a + i] == array[:, c + i]
            return result
        whole = _whole(array)
        rows = np.arange(len(whole))[:, None]
        offsets = np.arange(width)[None, :]
        left = whole[:, a:a + width] if isinstance(a, int) else whole[rows, np.asarray(a)[:, None] + offsets]
        right = whole[:, c:c + width] if isinstance(c, int) else whole[rows, np.asarray(c)[:, None] + offsets]
        return (left == right).all(axis=1)

    def copy_block(array: np.ndarray, dst: object, src: object, width: int, mask: object) -> None:
        if isinstance(dst, int) and isinstance(src, int):
            if mask is None:
                array[:, dst:dst + width] = array[:, src:src + width]
            else:
                chosen = np.asarray(mask)
                array[chosen, dst:dst + width] = array[chosen, src:src + width]
            return
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
        if isinstance(columns, int):
            if mask is None:
                array[:, columns] = values
            else:
                array[:, columns] = np.where(mask, values, array[:, columns])
            return
        rows = np.arange(len(array))
        current = array[rows, columns]
        array[rows, columns] = values if mask is None else np.where(mask, values, current)

    def bitcount(x: object) -> np.ndarray:
        return np.bitwise_count(np.asarray(x, dtype=np.int64)).astype(np.int64)

    def copy_rows(rows: np.ndarray) -> np.ndarray:
        """A row-major copy (never the same array: successors must not write into the frontier)."""
        return np.array(rows, order="C", copy=True)

    def as_int(x: object) -> np.ndarray:
        return np.asarray(x).astype(np.int64)

    def take(sink: Sink, rows: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
        return sink.take(rows, idx)

    return {"_g": gather, "_chk": check, "_ones": ones, "_full": full, "_beq": block_equal, "_cpb": copy_block,
            "_inref": inref, "_rbit": rbit, "_at": at, "_put": put, "_bc": bitcount, "_i": as_int,
            "_where": np.where, "_nz": np.flatnonzero, "_c": copy_rows, "_min": np.minimum, "_max": np.maximum,
            "_R": _Rows, "_t": take, "len": len, "range": range}


_ALLOWED = {"def", "return", "if", "else", "and", "or", "not", "is", "None", "True", "False", "for", "in", "pass",
            "F", "P", "T", "ok", "idx", "m", "out", "n", "copy", "size", "append",
            "_g", "_chk", "_ones", "_full", "_beq", "_c", "_cpb", "_inref", "_rbit", "_at", "_put", "_bc", "_i",
            "_where", "_nz", "_min", "_max", "_R", "_t", "len", "range"}
# generated locals: c (masks), g (hoisted guard values), o (offsets), r (references), v (values and
# function names), and C0 (the chunk's rows in the storage type, which successors are copied from)
_GENERATED = re.compile(r"^(?:[cgor]\d+|v\d+|C0)$")


def _check_generated(source: str) -> None:
    check_vocabulary(source, _ALLOWED, _GENERATED, "vector code")


# ---------------------------------------------------------------- expressions

_SIMPLE = re.compile(r"^(?:[A-Z]\[:, \d+\]|[a-z]+\d+)$")  # a column view or a name: nothing to share


class _VecExpr:
    """Compile IR expressions over a row array (`F` for guards, `P` for effects) to numpy code."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.spec = layout.spec
        self.model = layout.model
        self.array = "F"
        self.hoist: Callable[[str], str] | None = None  # names a computed value (common subexpressions)

    def region(self, kind: str, cache: str | None, env: dict[str, int]) -> Region:
        if cache is None:
            return self.layout.api[kind]
        actor = self.spec.actor(cache)
        return self.layout.caches[(cache, env["self"] - 1 if actor.per else 0, kind)]

    def expr(self, e: ir.Expr, env: dict[str, int]) -> _Val:
        value: _Val = getattr(self, f"_{type(e).__name__}")(e, env)
        if self.hoist is None:
            return value
        return _Val(self._hoisted(value.code), self._hoisted(value.bad) if value.bad else None)

    def _hoisted(self, code: Code) -> Code:
        if _is_const(code) or _SIMPLE.match(str(code)):
            return code
        assert self.hoist is not None
        return self.hoist(str(code))

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
            column = f"_g({a}, {obj.code}, {region.base + offset - region.width}, {region.width}, {region.count})"
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
        if e.quantifier == "set":
            return self._comprehension(e, values, parts)
        if e.quantifier == "count":
            parts = [p if _is_const(p.code) else _Val(f"_i({p.code})", p.bad) for p in parts]
        constant = sum(int(p.code) for p in parts if _is_const(p.code))
        dynamic = [str(p.code) for p in parts if not _is_const(p.code)]
        bad = _or_bad(*(p.bad for p in parts))
        if not dynamic:
            return _Val(constant, bad)
        return _Val("(" + " + ".join(dynamic + ([str(constant)] if constant else [])) + ")", bad)

    def _comprehension(self, e: ir.Quant, values: range, parts: list[_Val]) -> _Val:
        """`{v: K | p}`: bit masks over the rows, one bit per value whose body holds (no short-circuit)."""
        bits = [1 << ir.element_bit(value, e.domain) for value in values]
        mask = fold_mask(bits, [p.code for p in parts], lambda bit, part: f"(_i({part}) * {bit})")
        return _Val(mask, _or_bad(*(p.bad for p in parts)))

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
            bit = ir.element_bit(int(element), e.right.type.element)
            if _is_const(container):
                return (int(container) >> bit) & 1
            return f"((({container} >> {bit}) & 1) != 0)"
        if is_ref:
            return f"_inref({element}, {container})"
        return f"((({container} >> {element}) & 1) != 0)"


# ---------------------------------------------------------------- actions


class _VecAction:
    """One action's numpy function `vN(F, C0, out)`: every binding over a whole chunk.

    `F` holds the chunk's rows as int64 columns (guards and effects read it); `C0` holds the same
    rows in the storage type, padded, and the successors `T` are copies of its enabled rows, so a
    successor costs a short row copy plus the columns the effects write. Guard values are named
    once per function and shared by every binding that computes the same one.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.exprs = _VecExpr(layout)
        self.lines: list[str] = []
        self.temp = 0
        self.shared: dict[str, str] = {}

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def fresh(self, prefix: str) -> str:
        self.temp += 1
        return f"{prefix}{self.temp}"

    def _share(self, code: str) -> str:
        """A guard value computed once per function (at the top level, so every binding may reuse it)."""
        name = self.shared.get(code)
        if name is None:
            name = self.shared[code] = self.fresh("g")
            self.emit(1, f"{name} = {code}")
        return name

    def compile(self, action: ir.Action, actor: ir.Actor, function: str, bindings: int) -> str:
        spec, model = self.layout.spec, self.layout.model
        domains = [list(ir.domain_values(spec, model, p.type)) for p in action.params]
        self.emit(0, f"def {function}(F, C0, out):")
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
        self.exprs.hoist = self._share
        try:
            guard = self.exprs._junction([self.exprs.expr(g, env) for g in self._conjuncts(action.guards)], "and")
        finally:
            self.exprs.hoist = None
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
            self.emit(depth, "T = _t(out, C0, idx)")
        else:
            self.emit(depth, f"idx = _nz({guard.code})")
            self.emit(depth, "P = _R(F, idx)")
        self.exprs.array = "P"
        self.emit(depth, "if len(P):")
        depth += 1
        if not _is_const(guard.code):
            self.emit(depth, "T = _t(out, C0, idx)")
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
        self._put_many(base, [(offset, value)], mask, depth)

    def _put_many(self, base: Code, writes: list[tuple[int, str]], mask: str | None, depth: int) -> None:
        """Column writes into T, in order; runs of constants into adjacent constant columns become one write."""
        if not _is_const(base):
            for offset, value in writes:
                self.emit(depth, f"_put(T, {self._index(base, offset)}, {value}, {mask})")
            return
        run: list[tuple[int, str]] = []
        for offset, value in [*writes, (-2, "")]:
            column = int(base) + offset
            if run and (offset == -2 or not value.lstrip("-").isdigit() or column != int(base) + run[-1][0] + 1):
                self._write_run(int(base), run, mask, depth)
                run = []
            if offset == -2:
                break
            if value.lstrip("-").isdigit():
                run.append((offset, value))
            else:
                self._write_one(int(base) + offset, value, mask, depth)

    def _write_run(self, base: int, run: list[tuple[int, str]], mask: str | None, depth: int) -> None:
        first = base + run[0][0]
        if len(run) == 1:
            self._write_one(first, run[0][1], mask, depth)
            return
        values = "(" + ", ".join(v for _, v in run) + ")"
        rows = ":" if mask is None else mask
        self.emit(depth, f"T[{rows}, {first}:{first + len(run)}] = {values}")

    def _write_one(self, column: int, value: str, mask: str | None, depth: int) -> None:
        if mask is None:
            self.emit(depth, f"T[:, {column}] = {value}")
        elif value.lstrip("-").isdigit():
            self.emit(depth, f"T[{mask}, {column}] = {value}")
        else:
            self.emit(depth, f"T[:, {column}] = _where({mask}, {value}, T[:, {column}])")

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
            fin_value = self._value(inits["finalizers"], None, env, mask, depth) if "finalizers" in inits else "0"
            writes = [(0, "1"), (1, fin_value)]
            for f in self.layout.spec.kind(kind).state_fields:
                value = self._value(inits[f.name], f.type, env, mask, depth) if f.name in inits else str(f.default)
                writes.append((self.layout.offset(kind, f.name), value))
            self._put_many(base, writes, mask, depth)
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
        writes = [(0, "0"), (1, "0")]
        writes += [(self.layout.offset(kind, f.name), str(f.default)) for f in self.layout.spec.kind(kind).state_fields]
        self._put_many(base, writes, c, depth)

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
    lines = [f"def {function}(F, C0, out):", "    pass"]
    index = 0
    for instance in range(layout.actor_instances(actor)):
        cache = layout.caches[(actor.name, instance, kind)]
        for obj in range(api.count):
            a, c, w = api.block(obj), cache.block(obj), api.width
            lines.append(f"    idx = _nz(~_beq(F, {a}, {c}, {w}))")
            lines.append("    if len(idx):")
            lines.append("        T = _t(out, C0, idx)")
            lines.append(f"        T[:, {c}:{c + w}] = T[:, {a}:{a + w}]")
            lines.append(f"        out.append(({index}, idx, T, None))")
            index += 1
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the compiled vector model


@dataclass
class VectorModel:
    """Whole-array successor, invariant and constraint functions for one compiled model."""

    scalar: CompiledModel
    actions: list[Callable[[np.ndarray, np.ndarray, Sink], None]]
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
    group = scalar.symmetry
    permutations = [permutation_plan(layout, perms) for perms in group.permutations()] if group and group.listed else []
    return VectorModel(scalar, [namespace[n] for n in names], [namespace[n] for n in invariant_names],  # type: ignore[misc]
                       namespace[constraint_name] if constraint_name else None, permutations, program)  # type: ignore[arg-type]


def compile_predicate_vector(scalar: CompiledModel, expr: ir.Expr,
                             env: dict[str, int] | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A state predicate over int64 rows (free variables bound by `env`): one boolean per row.

    Raises SuspectRows where the exact (scalar) evaluation may fail; `compiler.compile_predicate`
    then gives the exact error. (Temporal properties' state formulas use it.)
    """
    exprs = _VecExpr(scalar.layout)
    source = _predicate_source(exprs, "v0", expr, env or {})
    _check_generated(source)
    namespace = _namespace()
    exec(compile(source, f"<kvolt-vector-predicate:{scalar.model.name}>", "exec"), namespace)
    return namespace["v0"]  # type: ignore[return-value]


def _predicate_source(exprs: _VecExpr, name: str, expr: ir.Expr, env: dict[str, int] | None = None) -> str:
    lines = [f"def {name}(F):"]
    shared: dict[str, str] = {}

    def share(code: str) -> str:
        if code not in shared:
            shared[code] = f"g{len(shared) + 1}"
            lines.append(f"    {shared[code]} = {code}")
        return shared[code]

    exprs.hoist = share
    try:
        value = exprs.expr(expr, env or {})
    finally:
        exprs.hoist = None
    if value.bad:
        lines.append(f"    _chk({value.bad}, F)")
    if _is_const(value.code):
        lines.append(f"    return _ones(len(F)) if {int(bool(value.code))} else ~_ones(len(F))")
    else:
        lines.append(f"    return {value.code} & _ones(len(F))")
    return "\n".join(lines) + "\n"


def expand_into(vector: VectorModel, rows: np.ndarray, compact: np.ndarray, sink: Sink) -> None:
    """Every binding's successors, unfiltered, into `sink` (see `Sink.pieces`).

    `rows` are int64 (column-major is fastest), `compact` the same rows in the storage type, and
    the successors are copies of `compact`'s rows. A piece is (action index, binding, parent rows
    or None for all, start, stop in the sink, ok mask or None when every successor is real).
    Raises SpecRuntimeError, exactly as the scalar engine would, when an enabled step of some row
    evaluates something undefined.
    """
    sink.reset(compact)
    for action_index, function in enumerate(vector.actions):
        sink.action = action_index
        try:
            function(rows, compact, sink)
        except SuspectRows as suspect:
            _reraise_successors(vector.scalar.actions[action_index].successors, suspect.rows)
            raise AssertionError("the vector engine flagged a row the scalar engine accepts") from None


def expand(vector: VectorModel, rows: np.ndarray,
           compact: np.ndarray | None = None) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """Every successor of every row: (action index, binding, parent rows, successor rows)."""
    sink = Sink()
    expand_into(vector, rows, rows if compact is None else compact, sink)
    results: list[tuple[int, int, np.ndarray, np.ndarray]] = []
    for action_index, binding, idx, start, stop, ok in sink.pieces:
        parents = np.arange(len(rows)) if idx is None else idx
        successors = sink.buffer[start:stop]
        if ok is not None:
            parents, successors = parents[ok], successors[ok]
        if len(successors):
            results.append((action_index, binding, parents, successors.copy()))
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


def first_failures(vector: VectorModel, invariants: list[int], rows: np.ndarray) -> dict[int, int]:
    """Each invariant's first row (position) that violates it, for those some row violates; raises as `check_rows`."""
    failing: dict[int, int] = {}
    for invariant in invariants:
        bad = np.flatnonzero(~check_rows(vector, invariant, rows))
        if len(bad):
            failing[invariant] = int(bad[0])
    return failing


def allowed_rows(vector: VectorModel, rows: np.ndarray) -> np.ndarray:
    if vector.constraint is None:
        return np.ones(len(rows), dtype=bool)
    try:
        return vector.constraint(rows)
    except SuspectRows as suspect:
        _reraise_predicate(vector.scalar.constraint, suspect.rows)  # type: ignore[arg-type]
        raise AssertionError("the vector engine flagged a row the scalar engine accepts") from None


__all__ = ["SpecRuntimeError", "SuspectRows", "VectorModel", "allowed_rows", "check_rows", "compile_predicate_vector",
           "compile_vector", "expand", "expand_into", "first_failures"]
