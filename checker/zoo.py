"""The known-bug zoo: check every variant in a folder and compare what breaks with what should.

Each variant declares `expect violation PROPERTY`. A variant passes when exactly that property is
violated (the search continues after the first violation, so a second broken property shows up).
A variant that expects a temporal property is checked on its invariants and on every temporal
property of its model (it must break only liveness, and only that property); one that expects an
invariant is checked on its invariants alone, as before.

A variant whose bug shows only on a model other than the default names it: `check on model wffc`
(or several models); it is then checked on each of them, and must break exactly its property on
every one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kvolt.checker.build import build, load_spec
from kvolt.checker.engine import Options, Result, Violation
from kvolt.checker.explicit.explorer import explore
from kvolt.checker.explicit.vector_search import explore_vector
from kvolt.checker.frontend.diagnostics import SourceMap
from kvolt.checker.liveness.run import check_liveness


@dataclass(frozen=True)
class ZooEntry:
    variant: Path
    model: str
    expected: str | None
    result: Result

    @property
    def found(self) -> list[str]:
        return [v.property for v in self.result.violations]

    @property
    def passed(self) -> bool:
        """Exactly the expected property broke, on a search that ran to the end (a search cut short
        cannot show that nothing else breaks)."""
        return self.expected is not None and self.found == [self.expected] and self.result.incomplete_reason is None

    @property
    def expected_violation(self) -> Violation | None:
        return next((v for v in self.result.violations if v.property == self.expected), None)


def variants(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.kvolt"))


def variant_models(path: Path, sources: SourceMap | None = None) -> list[str | None]:
    """The models a variant is checked on: those of its `check on model`, else its default (None)."""
    return list(load_spec(path, sources).check_models) or [None]


def check_variant(path: Path, options: Options, sources: SourceMap | None = None,
                  engine: str = "vector", model: str | None = None) -> tuple[ZooEntry, object]:
    """Check one variant on one model (with the default vector engine unless told otherwise); returns
    the entry and the compiled model (for writing its trace)."""
    built = build(path, model, (), sources)
    result = explore_vector(built.compiled, options)[0] if engine == "vector" else explore(built.compiled, options)
    temporal = built.spec.expect in {p.name for p in built.spec.properties}
    if temporal and built.model.properties and result.incomplete_reason is None:
        run = check_liveness(built.compiled, options, engine, keep_going=True)
        result.violations.extend(run.violations)
        result.seconds += run.seconds
        result.incomplete_reason = run.incomplete
        result.verdict = "violation" if result.violations else ("incomplete" if run.incomplete else "ok")
    return ZooEntry(path, built.model.name, built.spec.expect, result), built.compiled
