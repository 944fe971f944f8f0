"""Source spans and user-facing errors, rendered once with the offending line and a caret.

Every phase reports problems as `Diagnostic` values; `SpecError` carries them out of the
phase. Rendering is kept here so all errors look alike:

    error[K201]: unknown field 'phse' on kind PV
      --> spec/x.kvolt:12:15
       |
    12 |   require v.phse == Available
       |             ^^^^
       = help: did you mean 'phase'?
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Span:
    """A region of one source file (1-based line and column, end exclusive)."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NO_SPAN = Span("<none>", 0, 0, 0, 0)


@dataclass(frozen=True)
class Diagnostic:
    """One error: a stable code, a message, where, and optional help lines."""

    code: str
    message: str
    span: Span | None = None
    notes: tuple[str, ...] = ()


class SpecError(Exception):
    """Raised by a phase that found one or more diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic) -> None:
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        super().__init__(self.diagnostics[0].message if self.diagnostics else "error")


@dataclass
class SourceMap:
    """The text of every file read, so errors can quote the offending line."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, text: str) -> None:
        self.texts[name] = text

    def line(self, name: str, number: int) -> str | None:
        text = self.texts.get(name)
        if text is None:
            try:
                text = Path(name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                return None
            self.texts[name] = text
        lines = text.splitlines()
        if 1 <= number <= len(lines):
            return lines[number - 1]
        return None


def suggest(name: str, candidates: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The nearest candidate to a misspelt name, if one is close enough."""
    matches = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...] | set[str]) -> tuple[str, ...]:
    near = suggest(name, candidates)
    return (f"did you mean '{near}'?",) if near else ()


def render(diagnostic: Diagnostic, sources: SourceMap | None = None) -> str:
    """Render one diagnostic as text: header, location, quoted line with carets, help."""
    sources = sources or SourceMap()
    out = [f"error[{diagnostic.code}]: {diagnostic.message}"]
    span = diagnostic.span
    if span is not None and span.line > 0:
        gutter = " " * len(str(span.line))
        out.append(f"{gutter}--> {span}")
        text = sources.line(span.file, span.line)
        if text is not None:
            text = text.replace("\t", " ")
            width = _caret_width(span, text)
            out.append(f"{gutter} |")
            out.append(f"{span.line} | {text}")
            out.append(f"{gutter} | {' ' * (span.column - 1)}{'^' * width}")
    for note in diagnostic.notes:
        out.append(f"  = help: {note}")
    return "\n".join(out)


def _caret_width(span: Span, text: str) -> int:
    if span.end_line == span.line and span.end_column > span.column:
        return span.end_column - span.column
    return max(1, len(text.rstrip()) - span.column + 1)


def render_all(error: SpecError, sources: SourceMap | None = None) -> str:
    return "\n\n".join(render(d, sources) for d in error.diagnostics)


TOO_DEEP = "the spec nests expressions or statements too deeply (a few hundred levels at most)"


def too_deep(file: str | None = None) -> SpecError:
    """A spec so deeply nested that a recursive phase ran out of stack: refused, not crashed."""
    span = Span(file, 1, 1, 1, 2) if file else None
    return SpecError(Diagnostic("P004", TOO_DEEP, span))
