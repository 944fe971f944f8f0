"""`kvolt conform`, `replay`, `record` and `scenario`: the spec and the implementation checked against each other."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from kvolt.checker.frontend.diagnostics import SourceMap
from kvolt.checker.frontend.loader import builtin_spec_path
from kvolt.checker.views.traces import load_trace
from kvolt.commands.common import (
    EXIT_OK,
    EXIT_VIOLATION,
    chosen_spec_path,
    fail,
    guarded,
    stderr_console,
    stdout_console,
)


@click.command()
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

    loaded = load_spec(chosen_spec_path(spec), sources)
    compiled_models: dict[str, Any] = {}
    out = stdout_console() if not as_json else stderr_console()
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


@click.command()
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
        fail(f"error[Y002]: {trace} is a recording of the implementation (kvolt record), not a spec trace\n"
              f"  = note: replay drives the implementation along a spec trace (a counterexample, a walk of kvolt "
              f"simulate); check a recording against the spec with kvolt conform")
    spec_path = Path(spec) if spec else Path(source) if source and Path(source).is_file() else builtin_spec_path()
    loaded = load_spec(spec_path, sources)
    name = model_name or (loaded_trace.meta.get("model") if loaded.model(str(loaded_trace.meta.get("model"))) else None)
    model = choose_model(loaded, name)
    result = replay_trace(compile_model(loaded, model), loaded_trace, list(bugs))
    out = stdout_console() if not as_json else stderr_console()
    flags = f", implementation with {', '.join(bugs)}" if bugs else ", the correct implementation"
    out.print(f"kvolt replay {trace} — spec {spec_path}, model {model.name}{flags}", style="bold", highlight=False)
    for step in result.steps:
        call = "init" if step.index == 0 else f"{step.action}({', '.join(f'{k}={v}' for k, v in step.params.items())})"
        if not step.ok:
            done = "FAILED"
        elif step.index == 0:
            done = f"built; {len(step.moves)} implementation steps to settle" if step.moves else "built"
        elif step.moves and step.moves[0].endswith("(performed)"):
            done = "performed" + (", then " + ", ".join(step.moves[1:]) if step.moves[1:] else "")
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


@click.command()
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
        fail(f"unknown workload '{workload}'; workloads: {', '.join(sorted(WORKLOADS))}")
    names = [f for group in faults for f in group.split(",") if f]
    result = run_record(seed, steps, names, workload, Path(output), strategy)
    err = stderr_console()
    err.print(f"recorded {result.states} states ({result.steps} steps, seed {seed}) to {result.out}", highlight=False)
    for violation in result.violations:
        err.print(f"MONITOR: {violation}", style="bold red", highlight=False)
    if as_json:
        click.echo(json.dumps({"trace": str(result.out), "seed": seed, "steps": result.steps, "states": result.states,
                               "violations": result.violations}))
    sys.exit(EXIT_OK if result.ok else EXIT_VIOLATION)


@click.group()
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
    out = stderr_console() if as_json else stdout_console()
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
