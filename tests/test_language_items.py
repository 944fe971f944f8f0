"""Set comprehensions and `check on model`: parsed, typed, compiled alike by both engines, used by the zoo."""

from __future__ import annotations

import json
from pathlib import Path

from clirunner import run_cli
from test_differential import compare, load

from kvolt.checker.build import build, choose_model
from kvolt.checker.compiler import compile_model
from kvolt.checker.engine import Options
from kvolt.checker.explicit.explorer import explore
from kvolt.checker.explicit.vector_search import explore_vector
from kvolt.checker.frontend import ir
from kvolt.checker.frontend import syntax as ast
from kvolt.checker.frontend.loader import load_text
from kvolt.checker.frontend.parser import parse_expr
from kvolt.checker.frontend.resolver import resolve
from kvolt.checker.views.traces import state_to_itf
from kvolt.checker.zoo import check_variant, variant_models

COMPREHENSIONS = """
enum Mode { A, B, C }
kind PV { used: bool  modes: set of Mode }
kind Node { vols: set of PV  modes: set of Mode }
actor a {
  action use(v: PV) { require not v.used  v.used := true }
  action free(v: PV) { require v.used  v.used := false }
  action tog(v: PV, m: Mode) { v.modes := v.modes + {m} }
  action track(n: Node) {
    n.vols := {v: PV | v.used}
    n.modes := {m: Mode | exists v: PV | v.used and m in v.modes}
  }
}
invariant tracked_subset: forall n: Node | n.vols <= {v: PV | v.used or v in n.vols}
invariant sizes_agree: forall n: Node | size({v: PV | v in n.vols}) == count(v: PV | v in n.vols)
invariant tracked_exactly: forall n: Node | n.vols == {v: PV | v.used}
invariant modes_of_used: forall n: Node | n.modes <= {m: Mode | exists v: PV | m in v.modes}
model m default { PV = 2  Node = 1  init node1  init pv1  init pv2 }
"""


def test_comprehension_parses_to_one_binder_and_a_body() -> None:
    expr = parse_expr("{v: PV | v.used}")
    assert expr == ast.SetComprehension(ast.Binder("v", ast.NamedType("PV")),
                                        ast.FieldAccess(ast.Name("v"), "used"))
    assert parse_expr("{v, w}") == ast.SetLit((ast.Name("v"), ast.Name("w")))


def test_comprehension_is_a_set_of_its_domain() -> None:
    spec = resolve(load_text(COMPREHENSIONS, "c.kvolt"))
    action = next(a for a in spec.actor("a").actions if a.name == "track")
    values = [s.value for s in action.effects if isinstance(s, ir.Assign)]
    assert [v.type for v in values] == [ir.SetT(ir.RefT("PV")), ir.SetT(ir.EnumT("Mode"))]
    assert all(isinstance(v, ir.Quant) and v.quantifier == "set" for v in values)


def test_comprehension_engines_agree_with_the_reference() -> None:
    """Both compiled engines and the naive reference reach the same states and break the same invariants."""
    ref = compare(COMPREHENSIONS, max_states=5000)
    assert ref.complete
    assert ref.violated == {"tracked_exactly"}  # use() without track(): the derived set lags


def test_comprehension_values_in_both_engines() -> None:
    """track() writes exactly the used volumes and the modes of used volumes, on every reachable state."""
    spec, model = load(COMPREHENSIONS)
    compiled = compile_model(spec, model)
    options = Options(stop_at_first=False)
    scalar, vector = explore(compiled, options), explore_vector(compiled, options)[0]
    assert scalar.distinct_states == vector.distinct_states
    assert [v.property for v in scalar.violations] == [v.property for v in vector.violations] == ["tracked_exactly"]
    index = {a.name: i for i, a in enumerate(compiled.actions)}
    (state,) = compiled.initial_states
    step = {a: next(t for i, _, t in compiled.successors(state) if i == index[a]) for a in ("a.use", "a.tog")}
    used = step["a.use"]  # pv1 used, no mode yet
    moded = next(t for i, _, t in compiled.successors(used) if i == index["a.tog"])  # pv1 gets mode A
    for before, vols, modes in ((used, ["pv1"], []), (moded, ["pv1"], ["A"])):
        after = next(t for i, _, t in compiled.successors(before) if i == index["a.track"])
        node = state_to_itf(compiled.layout, after)["Node"]["#map"][0][1]
        assert (sorted(node["vols"]["#set"]), sorted(node["modes"]["#set"])) == (vols, modes)


VARIANT = """
extends "base.kvolt"
expect violation small_only
check on model big, huge
"""

BASE = """
kind PV { used: bool }
actor a { action use(v: PV) { v.used := true } }
invariant small_only: count(v: PV | v.used) <= 1
model tiny default { PV = 1  init pv1 }
model big { PV = 2  init pv1  init pv2 }
model huge { PV = 3  init pv1  init pv2  init pv3 }
"""


def _variant(tmp_path: Path) -> Path:
    (tmp_path / "base.kvolt").write_text(BASE)
    (tmp_path / "v.kvolt").write_text(VARIANT)
    return tmp_path / "v.kvolt"


def test_check_on_model_chooses_the_first_named_model(tmp_path: Path) -> None:
    path = _variant(tmp_path)
    built = build(path)
    assert built.spec.check_models == ("big", "huge")
    assert built.model.name == "big"
    assert choose_model(built.spec, "tiny").name == "tiny"  # --model still wins


def test_zoo_checks_a_variant_on_every_named_model(tmp_path: Path) -> None:
    path = _variant(tmp_path)
    assert variant_models(path) == ["big", "huge"]
    entries = [check_variant(path, Options(stop_at_first=False), None, model=m)[0] for m in variant_models(path)]
    assert [(e.model, e.passed) for e in entries] == [("big", True), ("huge", True)]
    # the default model cannot show the bug: that is why the variant names its models
    assert not check_variant(path, Options(stop_at_first=False), None, model="tiny")[0].passed


def test_zoo_command_reports_one_row_per_model(tmp_path: Path) -> None:
    _variant(tmp_path)
    (tmp_path / "base.kvolt").rename(tmp_path / "base.txt")  # only the variant is in the zoo folder
    (tmp_path / "v.kvolt").write_text(VARIANT.replace("base.kvolt", "lib/base.kvolt"))
    (tmp_path / "lib").mkdir()
    (tmp_path / "base.txt").rename(tmp_path / "lib" / "base.kvolt")
    result = run_cli("zoo", str(tmp_path), "--json", "--out", str(tmp_path / "out"))
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(r["variant"], r["model"], r["passed"]) for r in report["variants"]] == [
        ("v.kvolt", "big", True), ("v.kvolt", "huge", True)]
    assert (tmp_path / "out" / "v@big.small_only.itf.json").exists()
    assert (tmp_path / "out" / "v@huge.small_only.itf.json").exists()
