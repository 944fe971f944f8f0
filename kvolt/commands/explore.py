"""`kvolt check` and `kvolt simulate`: the explicit-state engines from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kvolt.checker.build import Built, build
from kvolt.checker.compiler import CompiledModel
from kvolt.checker.distributed import launch
from kvolt.checker.engine import Options, Result
from kvolt.checker.explicit.checkpoint import CheckpointError, Checkpoints
from kvolt.checker.explicit.explorer import explore
from kvolt.checker.explicit.vector_search import VectorStats, explore_vector
from kvolt.checker.frontend.diagnostics import SourceMap
from kvolt.checker.liveness.run import LivenessRun, check_liveness, graph_result
from kvolt.checker.views import report
from kvolt.checker.views.traces import trace_to_itf
from kvolt.commands.common import (
    EXIT_USAGE,
    EXIT_VIOLATION,
    VERDICT_EXIT,
    chosen_spec_path,
    fail,
    guarded,
    interruptible,
    print_renderable,
    stderr_console,
    try_write_trace,
)


@click.command()
@click.argument("spec", required=False)
@click.option("--model", "model_name", help="Model to check (default: the spec's default model).")
@click.option("--invariant", "invariants", multiple=True, help="Check only this invariant (repeatable).")
@click.option("--property", "properties", multiple=True,
              help="Check only this temporal property (repeatable); with --invariant, both are checked.")
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
@click.option("--checkpoint", "checkpoint_dir", type=click.Path(file_okay=False),
              help="Write the search (visited set, parent links, frontier) to DIR at level boundaries.")
@click.option("--checkpoint-every", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="Seconds between checkpoints (written at the first level boundary after that).")
@click.option("--recover", "recover_dir", type=click.Path(file_okay=False, exists=True),
              help="Resume from the latest checkpoint in DIR (same spec, model and engine settings).")
@click.option("--cluster", "ranks", type=click.IntRange(min=1),
              help="Distributed engine on N MPI ranks: local processes, or the ranks of an mpiexec job.")
@click.option("--cluster-retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Restart a failed local cluster job from its latest --checkpoint this many times.")
@guarded
def check(spec: str | None, model_name: str | None, invariants: tuple[str, ...], properties: tuple[str, ...],
          max_states: int | None, max_depth: int | None, max_seconds: float | None, workers: int, no_symmetry: bool,
          engine: str, exact: bool, keep_going: bool, as_json: bool, out: str, quiet: bool, checkpoint_dir: str | None,
          checkpoint_every: float, recover_dir: str | None, ranks: int | None, cluster_retries: int,
          sources: SourceMap) -> None:
    """Explore every reachable state of SPEC (default: the built-in volume lifecycle).

    Invariants are checked on every reachable state; temporal properties on the whole state graph,
    under the spec's fairness (see docs/language.md).
    """
    err = stderr_console()
    if ranks is not None:
        if engine == "scalar" or workers > 1:
            fail("error: --cluster runs the vector engine with one worker per rank (drop --engine scalar / --workers)")
        if not launch.inside_job():
            try:
                code, _ = launch.run_local_job(
                    ranks, sys.argv[1:], checkpoint_dir, cluster_retries,
                    lambda failed, resumed: err.print(f"note: the cluster job failed (exit {failed}); "
                                                      f"restarting from {resumed}", style="yellow", highlight=False))
            except FileNotFoundError as error:
                fail(f"error: {error}")
            sys.exit(code)
    path = chosen_spec_path(spec)
    built = build(path, model_name, invariants, sources, properties)
    checkpoints = None
    if checkpoint_dir or recover_dir:
        if engine == "scalar":
            fail("error: --checkpoint and --recover need the vector engine (the default)")
        checkpoints = Checkpoints(checkpoint_dir, checkpoint_every, recover_dir)
    if workers > 1 and engine == "scalar":
        err.print("note: the scalar engine runs one worker; use the vector engine for parallel workers",
                  style="yellow")
        workers = 1
    options = Options(max_states=max_states, max_depth=max_depth, max_seconds=max_seconds,
                      stop_at_first=not keep_going, symmetry=not no_symmetry,
                      progress=None if quiet else (lambda p: err.print(report.progress_line(p), highlight=False)))
    stats = None
    cluster: dict[str, int] | None = None
    temporal = built.model.properties
    result = None
    liveness = None
    with interruptible():
        if built.model.checks or not temporal or ranks is not None:
            if ranks is not None:
                result, stats, cluster = _cluster_rank(built, options, exact, checkpoints, ranks, checkpoint_dir)
                workers = ranks
            elif engine == "vector":
                try:
                    result, stats = explore_vector(built.compiled, options, exact=exact, workers=workers,
                                                   checkpoints=checkpoints)
                except CheckpointError as error:
                    fail(f"error: {error}")
            else:
                result = explore(built.compiled, options)
        if temporal:
            liveness, result = _check_temporal(built.compiled, options, engine, keep_going, result,
                                               workers if ranks is None else 1)
    assert result is not None
    trace_files: dict[str, str] = {}
    unwritten: list[str] = []
    for violation in result.violations:
        file = Path(out) / f"{violation.property}.itf.json"
        what = "lasso counterexample" if violation.loop is not None else "counterexample"
        document = trace_to_itf(built.compiled, violation.trace, f"{what} to {violation.property}",
                                (violation.property, violation.doc), violation.loop, violation.binding)
        problem = try_write_trace(file, document)
        if problem is None:
            trace_files[violation.property] = str(file)
        else:
            unwritten.append(problem)
    info = report.RunInfo(str(spec or "volume_lifecycle.kvolt (built-in)"), built.model.name, workers, trace_files,
                          engine, stats, liveness)
    print_renderable(err, report.summary(result, info, built.compiled))
    expected = report.expectation(result, built.compiled, built.spec.expect)
    if expected is not None:
        print_renderable(err, report.expectation_text(expected, result))
    if as_json:
        document = report.to_json(result, info, built.compiled, expected)
        if cluster is not None:
            document["cluster"] = {"ranks": ranks, **cluster}
        click.echo(json.dumps(document))
    if unwritten:  # the verdict is printed above; the output that is missing is an error of the environment
        fail("\n".join(unwritten), EXIT_USAGE)
    if expected is not None and expected.met(result) is False:
        sys.exit(EXIT_VIOLATION)  # a variant that should break and does not: as much a failure as a violation
    sys.exit(VERDICT_EXIT[result.verdict])


def _cluster_rank(built: Built, options: Options, exact: bool, checkpoints: Checkpoints | None, ranks: int,
                  checkpoint_dir: str | None) -> tuple[Result, VectorStats, dict[str, int]]:
    """This process as one rank of the job: rank 0 returns the results, the others serve and exit quietly."""
    from kvolt.checker.distributed.mpi import explore_cluster, world

    comm = world()
    if comm.Get_size() != ranks:
        fail(f"error: --cluster {ranks} but the MPI job has {comm.Get_size()} ranks")
    launch.note_rank(checkpoint_dir, comm.Get_rank())
    try:
        outcome = explore_cluster(built.compiled, options, exact, checkpoints=checkpoints, comm=comm)
    except CheckpointError as error:
        fail(f"error: {error}")
    if outcome is None:
        sys.exit(0)
    return outcome


def _check_temporal(compiled: CompiledModel, options: Options, engine: str, keep_going: bool,
                    safety: Result | None, workers: int = 1) -> tuple[LivenessRun | None, Result]:
    """The temporal properties, after the invariants (unless their search stopped: no verdict then)."""
    if safety is not None and (safety.incomplete_reason or (safety.violations and not keep_going)):
        return None, safety
    run = check_liveness(compiled, options, engine, keep_going, workers)
    if safety is None:
        return run, graph_result(run, compiled)
    safety.violations.extend(run.violations)
    safety.seconds += run.seconds
    if run.incomplete and not safety.incomplete_reason:
        safety.incomplete_reason = run.incomplete
    safety.verdict = "violation" if safety.violations else ("incomplete" if safety.incomplete_reason else "ok")
    return run, safety


@click.command()
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
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@guarded
def simulate(spec: str | None, model_name: str | None, invariants: tuple[str, ...], runs: int, depth: int, seed: int,
             max_seconds: float | None, save_walks: int, as_json: bool, out: str, quiet: bool,
             sources: SourceMap) -> None:
    """Check invariants along seeded random walks (for models too large to exhaust)."""
    from kvolt.checker.explicit.simulator import SimulationOptions
    from kvolt.checker.explicit.simulator import simulate as run_simulation

    built = build(chosen_spec_path(spec), model_name, invariants, sources)
    err = stderr_console()

    def progress(walks: int, steps: int, seconds: float) -> None:
        err.print(f"Progress: {walks:,} walks, {steps:,} steps, {seconds:.0f} s", highlight=False)

    options = SimulationOptions(runs=runs, depth=depth, seed=seed, max_seconds=max_seconds, keep_walks=save_walks > 0,
                                progress=None if quiet else progress)
    with interruptible():
        result = run_simulation(built.compiled, options)
    files: dict[str, str] = {}
    unwritten: list[str] = []
    for violation in result.violations:
        file = Path(out) / f"{violation.property}.sim.itf.json"
        problem = try_write_trace(file, trace_to_itf(built.compiled, violation.trace, f"random walk violating "
                                                     f"{violation.property} (seed {seed})",
                                                     (violation.property, violation.doc)))
        if problem is None:
            files[violation.property] = str(file)
        else:
            unwritten.append(problem)
    walk_files = []
    for index, walk in enumerate(result.walks[:save_walks]):
        file = Path(out) / f"walk-{seed}-{index}.itf.json"
        problem = try_write_trace(file, trace_to_itf(built.compiled, walk, f"random walk {index} of seed {seed}"))
        if problem is None:
            walk_files.append(str(file))
        else:
            unwritten.append(problem)
    summary = (f"kvolt simulate — model {built.model.name}: {result.runs:,} walks, {result.steps:,} steps, "
               f"{result.distinct_states:,} distinct states, {result.seconds:.2f} s "
               f"({result.steps_per_second:,.0f} steps/s), {result.quiescent_runs} walks ended quiescent")
    err.print(summary, highlight=False)
    never = [name for name, count in result.actions_fired.items() if count == 0]
    if never:
        err.print(f"never taken: {', '.join(never)}", style="yellow", highlight=False)
    for violation in result.violations:
        where = files.get(violation.property, "(not written)")
        err.print(f"VIOLATION: {violation.property} after {violation.length} steps: {where}",
                  style="bold red", highlight=False)
    if result.verdict == "ok":
        err.print("no violation seen on these walks (a simulation is not a proof)", style="green")
    if result.incomplete_reason:
        err.print(f"INCOMPLETE: {result.incomplete_reason}; {result.runs:,} of {runs:,} walks taken.",
                  style="bold yellow", highlight=False)
    if as_json:
        click.echo(json.dumps({"spec": str(spec or "volume_lifecycle.kvolt (built-in)"), "model": built.model.name,
                               "verdict": result.verdict, "runs": result.runs, "steps": result.steps,
                               "distinct_states": result.distinct_states, "seconds": round(result.seconds, 3),
                               "steps_per_second": round(result.steps_per_second, 1), "actions": result.actions_fired,
                               "violations": [{"property": v.property, "trace": files.get(v.property), "length": v.length}
                                              for v in result.violations], "walks": walk_files,
                               "incomplete_reason": result.incomplete_reason}))
    if unwritten:
        fail("\n".join(unwritten), EXIT_USAGE)
    sys.exit(VERDICT_EXIT[result.verdict])
