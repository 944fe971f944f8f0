"""Bounded model checking against breadth-first search on the example specs and mutations."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvolt.checker.build import build
from kvolt.checker.engine import Options
from kvolt.checker.explicit.explorer import explore
from kvolt.checker.symbolic.bmc import SymbolicOptions, bmc

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "spec" / "examples").glob("*.kvolt"))


def _shortest(violations) -> dict[str, int]:
    """Each violated property with the length of its (shortest) counterexample."""
    return {v.property: len(v.trace) for v in violations}


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_bmc_agrees_with_bfs_on_examples(path: Path) -> None:
    compiled = build(path).compiled
    bfs = explore(compiled, Options(stop_at_first=False))
    sym = bmc(compiled, depth=max(bfs.depth, 1) + 1, options=SymbolicOptions(stop_at_first=False, max_seconds=60))
    assert sym.verdict in ("violation", "ok", "incomplete")
    assert _shortest(sym.violations) == _shortest(bfs.violations)
    if bfs.verdict == "ok":
        assert sym.verdict in ("ok", "incomplete")
