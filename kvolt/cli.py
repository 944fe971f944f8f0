"""The command-line front: the only layer that prints, and the only one that knows both the
checker and the implementation. Exit codes: 0 ok, 1 violation, 2 usage or bad input,
3 incomplete."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from kvolt import __version__
from kvolt.checker.build import build
from kvolt.checker.engine import ExplorationError, Options
from kvolt.checker.explicit.explorer import explore
from kvolt.checker.explicit.vector_search import explore_vector
from kvolt.checker.frontend.diagnostics import Diagnostic, SourceMap, SpecError, render, render_all
from kvolt.checker.frontend.loader import builtin_spec_path
from kvolt.checker.views import report
from kvolt.checker.views.show import render_trace
from kvolt.checker.views.traces import load_trace, trace_to_itf, write_trace

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3


def _width() -> int:
    return max(100, Console().width)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, width=_width())


def _stdout() -> Console:
    return Console(highlight=False, width=_width())


def print_renderable(console: Console, renderable: Any) -> None:
    """Print rich output; without a terminal, as plain text with no trailing padding."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    text = "\n".join(line.rstrip() for line in captured.get().splitlines())
    console.file.write(text + "\n")


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.exit(code)


def guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every error into a clean message and an exit code; never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        sources: SourceMap = kwargs.setdefault("sources", SourceMap())
        try:
            return command(*args, **kwargs)
        except SpecError as error:
            _fail(render_all(error, sources))
        except ExplorationError as error:
            diagnostic = Diagnostic("X001", f"{error.message} (while evaluating {error.action})", error.span,
                                    (f"reached after {len(error.trace) - 1} steps from an initial state: "
                                     + " -> ".join(s.action for s in error.trace[1:]) if len(error.trace) > 1
                                     else "reached in an initial state",))
            _fail(render(diagnostic, sources))
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except RecursionError:
            _fail("error[P004]: the spec nests expressions or statements too deeply (a few hundred levels at most)")
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except _impl_errors() as error:
            _fail(_render_impl_error(error, sources))
        except Exception as error:  # a bug in kvolt itself: say so plainly
            if os.environ.get("KVOLT_DEBUG"):
                traceback.print_exc()
            _fail(f"kvolt: internal error: {type(error).__name__}: {error}\n"
                  "This is a bug in kvolt, not in your input; rerun with KVOLT_DEBUG=1 for details.", 70)

    return wrapper


def _impl_errors() -> tuple[type[Exception], ...]:
    from kvolt.impl.cli_api import FaultError, ManifestError, ReplayError

    return (ManifestError, FaultError, ReplayError)


def _render_impl_error(error: Exception, sources: SourceMap) -> str:
    """A malformed manifest or scenario (with its position), or an unknown fault, as our diagnostics."""
    from kvolt.checker.frontend.diagnostics import Span

    file, line, column = (getattr(error, name, None) for name in ("file", "line", "column"))
    span = Span(file, line, column, line, column + 1) if file and line else None
    message = getattr(error, "message", str(error))
    code = {"FaultError": "F001", "ReplayError": "Y001"}.get(type(error).__name__, "S101")
    return render(Diagnostic(code, message, span), sources)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kvolt")
def cli() -> None:
    """kvolt: the Kubernetes volume lifecycle, made checkable."""


def _spec_path(spec: str | None) -> Path:
    return Path(spec) if spec else builtin_spec_path()


@cli.command()
@click.argument("spec", required=False)
@click.option("--model", "model_name", help="Model to check (default: the spec's default model).")
@click.option("--invariant", "invariants", multiple=True, help="Check only this invariant (repeatable).")
@click.option("--max-states", type=click.IntRange(min=1), help="Stop after this many distinct states.")
@click.option("--max-depth", type=click.IntRange(min=0), help="Do not explore beyond this depth.")
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), help="Stop after this long.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--no-symmetry", is_flag=True, help="Ignore the model's symmetric kinds.")
@click.option("--engine", type=click.Choice(["vector", "scalar"]), default="vector", show_default=True,
              help="vector: whole frontiers at once (numpy); scalar: one state at a time.")
@click.option("--exact", is_flag=True, help="Vector engine: keep whole states, not 64-bit fingerprints.")
@click.option("--continue", "keep_going", is_flag=True, help="Keep going after a violation: one trace per property.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout; human output goes to stderr.")
@click.option("--out", type=click.Path(file_okay=False), default="kvolt-out", show_default=True,
              help="Where counterexamples are written.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@guarded
def check(spec: str | None, model_name: str | None, invariants: tuple[str, ...], max_states: int | None,
          max_depth: int | None, max_seconds: float | None, workers: int, no_symmetry: bool, engine: str, exact: bool,
          keep_going: bool, as_json: bool, out: str, quiet: bool, sources: SourceMap) -> None:
    """Explore every reachable state of SPEC (default: the built-in volume lifecycle)."""
    err = _stderr()
    path = _spec_path(spec)
    built = build(path, model_name, invariants, sources)
    if workers > 1 and engine == "scalar":
        err.print("note: the scalar engine runs one worker; use the vector engine for parallel workers",
                  style="yellow")
        workers = 1
    options = Options(max_states=max_states, max_depth=max_depth, max_seconds=max_seconds,
                      stop_at_first=not keep_going, symmetry=not no_symmetry,
                      progress=None if quiet else (lambda p: err.print(report.progress_line(p), highlight=False)))
    stats = None
    if engine == "vector":
        result, stats = explore_vector(built.compiled, options, exact=exact, workers=workers)
    else:
        result = explore(built.compiled, options)
    trace_files: dict[str, str] = {}
    for violation in result.violations:
        file = Path(out) / f"{violation.property}.itf.json"
        document = trace_to_itf(built.compiled, violation.trace, f"counterexample to {violation.property}",
                                (violation.property, violation.doc))
        write_trace(file, document)
        trace_files[violation.property] = str(file)
    info = report.RunInfo(str(spec or "volume_lifecycle.kvolt (built-in)"), built.model.name, workers, trace_files,
                          engine, stats)
    print_renderable(err, report.summary(result, info, built.compiled))
    if as_json:
        click.echo(json.dumps(report.to_json(result, info)))
    sys.exit({"ok": EXIT_OK, "violation": EXIT_VIOLATION, "incomplete": EXIT_INCOMPLETE}[result.verdict])


@cli.command()
@click.argument("spec", required=False)
@click.option("--model", "model_name", help="Model to simulate (default: the spec's default model).")
@click.option("--invariant", "invariants", multiple=True, help="Check only this invariant (repeatable).")
@click.option("--runs", type=click.IntRange(min=1), default=100, show_default=True, help="Number of random walks.")
@click.option("--depth", type=click.IntRange(min=0), default=50, show_default=True, help="Steps per walk at most.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the first walk; runs are reproducible.")
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), help="Stop starting new walks after this long.")
@click.option("--save-walks", type=click.IntRange(min=0), default=0, help="Also write the first N walks as ITF.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--out", type=click.Path(file_okay=False), default="kvolt-out", show_default=True,
              help="Where violating (and saved) walks are written.")
@guarded
def simulate(spec: str | None, model_name: str | None, invariants: tuple[str, ...], runs: int, depth: int, seed: int,
             max_seconds: float | None, save_walks: int, as_json: bool, out: str, sources: SourceMap) -> None:
    """Check invariants along seeded random walks (for models too large to exhaust)."""
    from kvolt.checker.explicit.simulator import SimulationOptions
    from kvolt.checker.explicit.simulator import simulate as run_simulation

    built = build(_spec_path(spec), model_name, invariants, sources)
    options = SimulationOptions(runs=runs, depth=depth, seed=seed, max_seconds=max_seconds, keep_walks=save_walks > 0)
    result = run_simulation(built.compiled, options)
    files: dict[str, str] = {}
    for violation in result.violations:
        file = Path(out) / f"{violation.property}.sim.itf.json"
        write_trace(file, trace_to_itf(built.compiled, violation.trace, f"random walk violating {violation.property} "
                                       f"(seed {seed})", (violation.property, violation.doc)))
        files[violation.property] = str(file)
    walk_files = []
    for index, walk in enumerate(result.walks[:save_walks]):
        file = Path(out) / f"walk-{seed}-{index}.itf.json"
        write_trace(file, trace_to_itf(built.compiled, walk, f"random walk {index} of seed {seed}"))
        walk_files.append(str(file))
    err = _stderr()
    summary = (f"kvolt simulate — model {built.model.name}: {result.runs:,} walks, {result.steps:,} steps, "
               f"{result.distinct_states:,} distinct states, {result.seconds:.2f} s "
               f"({result.steps_per_second:,.0f} steps/s), {result.quiescent_runs} walks ended quiescent")
    err.print(summary, highlight=False)
    never = [name for name, count in result.actions_fired.items() if count == 0]
    if never:
        err.print(f"never taken: {', '.join(never)}", style="yellow", highlight=False)
    for violation in result.violations:
        err.print(f"VIOLATION: {violation.property} after {violation.length} steps: {files[violation.property]}",
                  style="bold red", highlight=False)
    if result.verdict == "ok":
        err.print("no violation seen on these walks (a simulation is not a proof)", style="green")
    if as_json:
        click.echo(json.dumps({"spec": str(spec or "volume_lifecycle.kvolt (built-in)"), "model": built.model.name,
                               "verdict": result.verdict, "runs": result.runs, "steps": result.steps,
                               "distinct_states": result.distinct_states, "seconds": round(result.seconds, 3),
                               "steps_per_second": round(result.steps_per_second, 1), "actions": result.actions_fired,
                               "violations": [{"property": v.property, "trace": files[v.property], "length": v.length}
                                              for v in result.violations], "walks": walk_files}))
    sys.exit({"ok": EXIT_OK, "violation": EXIT_VIOLATION, "incomplete": EXIT_INCOMPLETE}[result.verdict])


@cli.command()
@click.argument("traces", nargs=-1, required=True)
@click.option("--spec", "spec", help="Spec to check against (default: the built-in volume lifecycle).")
@click.option("--model", "model_name", help="Model (default: the trace's #meta.model, else the spec's default).")
@click.option("--max-hidden", type=click.IntRange(min=0), default=0, show_default=True,
              help="Hidden spec steps allowed before each recorded step (partial traces).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@guarded
def conform(traces: tuple[str, ...], spec: str | None, model_name: str | None, max_hidden: int, as_json: bool,
            sources: SourceMap) -> None:
    """Check that recorded traces (ITF) are behaviours of the spec."""
    from kvolt.checker.build import choose_model, load_spec
    from kvolt.checker.compiler import compile_model
    from kvolt.checker.conformance import ConformOptions
    from kvolt.checker.conformance import conform as check_trace

    loaded = load_spec(_spec_path(spec), sources)
    compiled_models: dict[str, Any] = {}
    out = _stdout() if not as_json else _stderr()
    results = []
    for path in traces:
        trace = load_trace(path, sources)
        name = model_name or (trace.meta.get("model") if loaded.model(str(trace.meta.get("model"))) else None)
        model = choose_model(loaded, name)
        if model.name not in compiled_models:
            compiled_models[model.name] = compile_model(loaded, model)
        result = check_trace(compiled_models[model.name], trace, ConformOptions(max_hidden=max_hidden))
        results.append((result, model.name))
        if result.ok:
            out.print(f"ok    {path}  ({result.mode}, {result.steps} steps, model {model.name})", highlight=False)
            continue
        out.print(f"FAIL  {path}  at step {result.failed_step}: {result.message}", style="bold red", highlight=False,
                  soft_wrap=True)
        recorded = ", ".join(f"{o}.{f}={v}" for o, f, v in result.recorded) or "no change"
        out.print(f"      recorded at this step: {recorded}", highlight=False, soft_wrap=True)
        for rank, diffs in enumerate(result.closest, 1):
            shown = "; ".join(f"{d.object}.{d.field}: recorded {d.recorded}, spec {d.spec}" for d in diffs)
            out.print(f"      closest spec state {rank}: {shown or 'matches (check the action and its parameters)'}",
                      highlight=False, soft_wrap=True)
        if result.enabled:
            out.print(f"      enabled actions: {', '.join(result.enabled)}", highlight=False, soft_wrap=True)
    used: dict[str, int] = {}
    for result, _ in results:
        for action, count in result.actions_used.items():
            used[action] = used.get(action, 0) + count
    all_actions = sorted({a.name for m in compiled_models.values() for a in m.actions})
    unexercised = [a for a in all_actions if a not in used]
    failed = sum(not r.ok for r, _ in results)
    out.print(f"{len(results) - failed} of {len(results)} traces conform; the traces exercised "
              f"{len(all_actions) - len(unexercised)} of {len(all_actions)} spec actions", style="bold", highlight=False)
    if unexercised:
        out.print(f"never exercised: {', '.join(unexercised)}", style="yellow", highlight=False, soft_wrap=True)
    if as_json:
        click.echo(json.dumps({
            "traces": [{"trace": r.trace, "model": m, "ok": r.ok, "mode": r.mode, "steps": r.steps,
                        "failed_step": r.failed_step, "message": r.message,
                        "recorded": [list(x) for x in r.recorded],
                        "closest": [[d.__dict__ for d in diffs] for diffs in r.closest], "enabled": r.enabled}
                       for r, m in results],
            "coverage": used, "unexercised": unexercised, "passed": len(results) - failed, "total": len(results)}))
    sys.exit(EXIT_OK if not failed else EXIT_VIOLATION)


@cli.command()
@click.argument("trace")
@click.option("--spec", "spec", help="The trace's spec (default: its #meta.source if that file exists, else the built-in).")
@click.option("--model", "model_name", help="Model (default: the trace's #meta.model, else the spec's default).")
@click.option("--bug", "bugs", multiple=True, help="Run the implementation with this bug flag (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@guarded
def replay(trace: str, spec: str | None, model_name: str | None, bugs: tuple[str, ...], as_json: bool,
           sources: SourceMap) -> None:
    """Drive the implementation along a spec trace, comparing states after every step."""
    from kvolt.checker.build import choose_model, load_spec
    from kvolt.checker.compiler import compile_model
    from kvolt.impl.cli_api import replay_trace

    loaded_trace = load_trace(trace, sources)
    source = str(loaded_trace.meta.get("source", ""))
    if source == "kvolt.impl":
        _fail(f"error[Y002]: {trace} is a recording of the implementation (kvolt record), not a spec trace\n"
              f"  = note: replay drives the implementation along a spec trace (a counterexample, a walk of kvolt "
              f"simulate); check a recording against the spec with kvolt conform")
    spec_path = Path(spec) if spec else Path(source) if source and Path(source).is_file() else builtin_spec_path()
    loaded = load_spec(spec_path, sources)
    name = model_name or (loaded_trace.meta.get("model") if loaded.model(str(loaded_trace.meta.get("model"))) else None)
    model = choose_model(loaded, name)
    result = replay_trace(compile_model(loaded, model), loaded_trace, list(bugs))
    out = _stdout() if not as_json else _stderr()
    flags = f", implementation with {', '.join(bugs)}" if bugs else ", the correct implementation"
    out.print(f"kvolt replay {trace} — spec {spec_path}, model {model.name}{flags}", style="bold", highlight=False)
    for step in result.steps:
        call = "init" if step.index == 0 else f"{step.action}({', '.join(f'{k}={v}' for k, v in step.params.items())})"
        if not step.ok:
            done = "FAILED"
        elif step.index == 0:
            done = f"built; {len(step.moves)} implementation steps to settle" if step.moves else "built"
        elif step.moves and step.moves[0].endswith("(performed)"):
            done = "performed"
        else:
            done = "<- " + ", ".join(step.moves) if step.moves else "(nothing visible: no implementation step needed)"
        out.print(f"  {step.index:>3}  {call}  {done}", highlight=False, soft_wrap=True,
                  style="red" if not step.ok else None)
    if result.ok:
        out.print(f"ok: the implementation followed all {len(result.steps) - 1} steps (API objects and the physical "
                  f"world equal the trace's after each)", style="green", highlight=False)
    else:
        out.print(f"FAIL at step {result.failed_step}: {result.message}", style="bold red", highlight=False)
        for obj, field_name, expected, actual in result.differences:
            out.print(f"      {obj}.{field_name}: trace {expected}, implementation {actual}", highlight=False, soft_wrap=True)
    if result.property and result.ok:
        if result.property_reached:
            out.print(f"violation reached: {result.property}: {result.property_detail}", style="bold", highlight=False,
                      soft_wrap=True)
        elif result.property_reached is None:
            out.print(f"the implementation has no check for {result.property}", style="yellow", highlight=False)
        else:
            out.print(f"violation NOT reached: {result.property} holds on the implementation", style="bold red",
                      highlight=False)
    for monitor in result.monitors:
        out.print(f"monitor: {monitor}", style="yellow", highlight=False, soft_wrap=True)
    if as_json:
        click.echo(json.dumps({
            "trace": trace, "spec": str(spec_path), "model": model.name, "bugs": list(bugs), "ok": result.ok,
            "steps": [{"index": s.index, "action": s.action, "params": s.params, "implementation": s.moves, "ok": s.ok}
                      for s in result.steps],
            "failed_step": result.failed_step, "message": result.message,
            "differences": [{"object": o, "field": f, "trace": e, "implementation": a} for o, f, e, a in result.differences],
            "property": result.property, "property_reached": result.property_reached,
            "property_detail": result.property_detail, "monitors": result.monitors}))
    reached = result.property is None or result.property_reached is not False
    sys.exit(EXIT_OK if result.ok and reached else EXIT_VIOLATION)


@cli.command()
@click.argument("folder", required=False)
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), help="Time limit per variant.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--out", type=click.Path(file_okay=False), default="kvolt-out/zoo", show_default=True,
              help="Where each variant's counterexample is written.")
@guarded
def zoo(folder: str | None, max_seconds: float | None, as_json: bool, out: str, sources: SourceMap) -> None:
    """Check every known-bug variant (default: the built-in spec/mutations/) against its expectation."""
    from rich.table import Table

    from kvolt.checker.zoo import check_variant, variants

    directory = Path(folder) if folder else builtin_spec_path("mutations")
    paths = variants(directory)
    if not paths:
        _fail(f"no .kvolt variants in {directory}")
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    for column in ("variant", "expected", "found", "trace", "states", "seconds", ""):
        table.add_column(column, justify="right" if column in ("trace", "states", "seconds") else "left")
    rows = []
    options = Options(stop_at_first=False, max_seconds=max_seconds)
    for path in paths:
        entry, compiled = check_variant(path, options, sources)
        violation = entry.expected_violation
        trace_file = None
        if violation is not None:
            trace_file = Path(out) / f"{path.stem}.{violation.property}.itf.json"
            write_trace(trace_file, trace_to_itf(compiled, violation.trace, f"{path.stem}: counterexample to "
                                                 f"{violation.property}", (violation.property, violation.doc)))
        status = "ok" if entry.passed else ("INCOMPLETE" if entry.result.verdict == "incomplete" else "MISMATCH")
        table.add_row(path.stem, entry.expected or "-", ", ".join(entry.found) or "none",
                      str(violation.length) if violation else "-", f"{entry.result.distinct_states:,}",
                      f"{entry.result.seconds:.2f}", status)
        rows.append({"variant": path.name, "model": entry.model, "expected": entry.expected, "found": entry.found,
                     "trace_length": violation.length if violation else None, "trace": str(trace_file) if trace_file else None,
                     "distinct_states": entry.result.distinct_states, "seconds": round(entry.result.seconds, 3),
                     "verdict": entry.result.verdict, "passed": entry.passed})
    print_renderable(_stderr() if as_json else _stdout(), table)
    passed = sum(r["passed"] for r in rows)
    summary = f"{passed} of {len(rows)} variants break exactly their expected property"
    (_stderr() if as_json else _stdout()).print(summary, style="bold green" if passed == len(rows) else "bold red")
    if as_json:
        click.echo(json.dumps({"variants": rows, "passed": passed, "total": len(rows)}))
    sys.exit(EXIT_OK if passed == len(rows) else EXIT_VIOLATION)


@cli.command()
@click.argument("trace")
@click.option("--narrate", is_flag=True, help="Tell the trace as a story, one sentence per step.")
@guarded
def show(trace: str, narrate: bool, sources: SourceMap) -> None:
    """Print a trace (ITF JSON) step by step, showing only the fields that changed."""
    loaded = load_trace(trace, sources)
    if narrate:
        from kvolt.checker.views.narrate import narration_text

        sys.stdout.write(narration_text(loaded))
        return
    print_renderable(_stdout(), render_trace(loaded))


@cli.command()
@click.argument("trace")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The HTML file to write.")
@guarded
def html(trace: str, output: str, sources: SourceMap) -> None:
    """Write a self-contained HTML page that steps through a trace."""
    from kvolt.checker.views.html import trace_page

    page = trace_page(load_trace(trace, sources))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(page, encoding="utf-8")
    _stderr().print(f"wrote {output} ({len(page):,} bytes); open it in a browser, step with the arrow keys",
                    highlight=False)


@cli.command()
@click.argument("trace")
@click.option("--format", "fmt", type=click.Choice(["mermaid"]), default="mermaid", show_default=True)
@guarded
def diagram(trace: str, fmt: str, sources: SourceMap) -> None:
    """Draw a trace as a sequence diagram of actors and the objects they write."""
    from kvolt.checker.views.narrate import mermaid_sequence

    sys.stdout.write(mermaid_sequence(load_trace(trace, sources)))


@cli.command()
@click.argument("spec", required=False)
@click.option("--kind", required=True, help="The kind whose lifecycle to draw, e.g. PV.")
@click.option("--field", "field_name", help="Project onto this field only (default: every field).")
@click.option("--model", "model_name", help="Model to explore (default: the spec's default model).")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@click.option("--max-states", type=click.IntRange(min=1), default=2_000_000, show_default=True)
@guarded
def lifecycle(spec: str | None, kind: str, field_name: str | None, model_name: str | None, fmt: str,
              max_states: int, sources: SourceMap) -> None:
    """Derive one kind's lifecycle from the explored state graph."""
    from kvolt.checker.views.graph import lifecycle as derive
    from kvolt.checker.views.graph import lifecycle_dot, lifecycle_mermaid

    built = build(_spec_path(spec), model_name, (), sources)
    life, complete = derive(built.compiled, kind, field_name, max_states)
    if not complete:
        _stderr().print(f"note: the search was cut at {max_states:,} states; the lifecycle may be partial",
                        style="yellow")
    title = f"{kind} lifecycle" + (f" ({field_name})" if field_name else "")
    sys.stdout.write(lifecycle_mermaid(life) if fmt == "mermaid" else lifecycle_dot(life, title))


@cli.command()
@click.argument("spec", required=False)
@click.option("--model", "model_name", help="Model to explore (default: the spec's default model).")
@click.option("--format", "fmt", type=click.Choice(["dot", "graphml", "json"]), default="dot", show_default=True)
@click.option("--max-states", type=click.IntRange(min=1), default=20_000, show_default=True)
@guarded
def graph(spec: str | None, model_name: str | None, fmt: str, max_states: int, sources: SourceMap) -> None:
    """Print the whole reachable state graph of a small model, violating states marked."""
    from kvolt.checker.views.graph import graph_document, graph_dot, graph_graphml, state_graph

    built = build(_spec_path(spec), model_name, (), sources)
    explored = state_graph(built.compiled, max_states)
    if not explored.complete:
        _fail(f"the model has more than {max_states:,} states; choose a smaller model or raise --max-states", 3)
    if fmt == "json":
        click.echo(json.dumps(graph_document(explored)))
    else:
        sys.stdout.write(graph_dot(explored) if fmt == "dot" else graph_graphml(explored))


@cli.command()
@click.option("--seed", type=int, default=0, show_default=True, help="The run is reproducible from its seed.")
@click.option("--steps", type=click.IntRange(min=1), default=400, show_default=True, help="Scheduler steps to run.")
@click.option("--faults", "faults", multiple=True, help="Fault to inject, or a bug flag (bug:NAME); 'all' for every fault.")
@click.option("--workload", default="default", show_default=True, help="Which users' workload to run.")
@click.option("--strategy", type=click.Choice(["random", "pct"]), default="random", show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The ITF trace to write.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@guarded
def record(seed: int, steps: int, faults: tuple[str, ...], workload: str, strategy: str, output: str, as_json: bool,
           sources: SourceMap) -> None:
    """Run the implementation under the deterministic scheduler and record the run as an ITF trace."""
    from kvolt.impl.cli_api import WORKLOADS
    from kvolt.impl.cli_api import record as run_record

    if workload not in WORKLOADS:
        _fail(f"unknown workload '{workload}'; workloads: {', '.join(sorted(WORKLOADS))}")
    names = [f for group in faults for f in group.split(",") if f]
    result = run_record(seed, steps, names, workload, Path(output), strategy)
    err = _stderr()
    err.print(f"recorded {result.states} states ({result.steps} steps, seed {seed}) to {result.out}", highlight=False)
    for violation in result.violations:
        err.print(f"MONITOR: {violation}", style="bold red", highlight=False)
    if as_json:
        click.echo(json.dumps({"trace": str(result.out), "seed": seed, "steps": result.steps, "states": result.states,
                               "violations": result.violations}))
    sys.exit(EXIT_OK if result.ok else EXIT_VIOLATION)


@cli.group()
def scenario() -> None:
    """Upstream-style controller scenarios (YAML) run against the implementation."""


@scenario.command("run")
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@guarded
def scenario_run(paths: tuple[str, ...], as_json: bool, sources: SourceMap) -> None:
    """Run scenario files (or folders of them); report each mismatch as a field-level diff."""
    from kvolt.impl.cli_api import run_scenarios

    results = run_scenarios([Path(p) for p in paths])
    out = _stderr() if as_json else _stdout()
    for result in results:
        if result.ok:
            out.print(f"ok    {result.name}", highlight=False)
            continue
        out.print(f"FAIL  {result.name}  ({result.file}; upstream: {result.upstream})", style="bold red",
                  highlight=False, soft_wrap=True)
        for mismatch in result.mismatches:
            out.print(f"      {mismatch}", highlight=False, soft_wrap=True)
    passed = sum(r.ok for r in results)
    out.print(f"{passed} of {len(results)} scenarios pass", style="bold green" if passed == len(results) else "bold red")
    if as_json:
        click.echo(json.dumps({"passed": passed, "total": len(results),
                               "scenarios": [{"name": r.name, "file": r.file, "upstream": r.upstream, "ok": r.ok,
                                              "mismatches": list(r.mismatches)} for r in results]}))
    sys.exit(EXIT_OK if passed == len(results) else EXIT_VIOLATION)


def main() -> int:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code or 0)
    except click.ClickException as error:
        error.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        _stderr().print("aborted")
        return EXIT_USAGE
    except SystemExit as done:
        return int(done.code or 0) if isinstance(done.code, int) else EXIT_USAGE
    return EXIT_OK
