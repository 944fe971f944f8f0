"""`kvolt zoo`: every known-bug variant checked against its expected violation."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kvolt.checker.engine import Options
from kvolt.checker.frontend.diagnostics import SourceMap
from kvolt.checker.frontend.loader import builtin_spec_path
from kvolt.checker.views.traces import trace_to_itf
from kvolt.commands.common import (
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VIOLATION,
    fail,
    guarded,
    print_renderable,
    stderr_console,
    stdout_console,
    try_write_trace,
)


@click.command()
@click.argument("folder", required=False)
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), help="Time limit per variant.")
@click.option("--engine", type=click.Choice(["vector", "scalar"]), default="vector", show_default=True,
              help="The search engine, as for kvolt check.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--out", type=click.Path(file_okay=False), default="kvolt-out/zoo", show_default=True,
              help="Where each variant's counterexample is written.")
@guarded
def zoo(folder: str | None, max_seconds: float | None, engine: str, as_json: bool, out: str,
        sources: SourceMap) -> None:
    """Check every known-bug variant (default: the built-in spec/mutations/) against its expectation."""
    from rich.table import Table

    from kvolt.checker.zoo import check_variant, variant_models, variants

    directory = Path(folder) if folder else builtin_spec_path("mutations")
    paths = variants(directory)
    if not paths:
        fail(f"no .kvolt variants in {directory}")
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    for column in ("variant", "expected", "found", "trace", "states", "seconds", ""):
        table.add_column(column, justify="right" if column in ("trace", "states", "seconds") else "left")
    rows = []
    unwritten: list[str] = []
    options = Options(stop_at_first=False, max_seconds=max_seconds)
    checks = [(path, model, len(models)) for path in paths for models in [variant_models(path, sources)]
              for model in models]
    for path, model, several in checks:
        entry, compiled = check_variant(path, options, sources, engine, model)
        violation = entry.expected_violation
        trace_file = None
        name = f"{path.stem}@{entry.model}" if several > 1 else path.stem
        if violation is not None:
            trace_file = Path(out) / f"{name}.{violation.property}.itf.json"
            what = "lasso counterexample" if violation.loop is not None else "counterexample"
            problem = try_write_trace(trace_file, trace_to_itf(compiled, violation.trace, f"{path.stem}: {what} to "
                                                               f"{violation.property}", (violation.property, violation.doc),
                                                               violation.loop, violation.binding))
            if problem is not None:
                unwritten.append(problem)
                trace_file = None
        status = "ok" if entry.passed else ("INCOMPLETE" if entry.result.incomplete_reason else "MISMATCH")
        table.add_row(name, entry.expected or "-", ", ".join(entry.found) or "none",
                      str(violation.length) if violation else "-", f"{entry.result.distinct_states:,}",
                      f"{entry.result.seconds:.2f}", status)
        rows.append({"variant": path.name, "model": entry.model, "expected": entry.expected, "found": entry.found,
                     "trace_length": violation.length if violation else None, "trace": str(trace_file) if trace_file else None,
                     "loop": violation.loop if violation else None,
                     "distinct_states": entry.result.distinct_states, "seconds": round(entry.result.seconds, 3),
                     "verdict": entry.result.verdict, "passed": entry.passed})
    print_renderable(stderr_console() if as_json else stdout_console(), table)
    passed = sum(r["passed"] for r in rows)
    summary = f"{passed} of {len(rows)} variants break exactly their expected property"
    (stderr_console() if as_json else stdout_console()).print(summary, style="bold green" if passed == len(rows) else "bold red")
    if as_json:
        click.echo(json.dumps({"variants": rows, "passed": passed, "total": len(rows), "engine": engine}))
    if unwritten:
        fail("\n".join(unwritten), EXIT_USAGE)
    sys.exit(EXIT_OK if passed == len(rows) else EXIT_VIOLATION)
