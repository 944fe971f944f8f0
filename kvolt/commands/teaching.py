"""`kvolt show`, `html`, `diagram`, `lifecycle` and `graph`: traces and lifecycles for people."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kvolt.checker.build import build
from kvolt.checker.frontend.diagnostics import SourceMap
from kvolt.checker.views.show import render_trace
from kvolt.checker.views.traces import load_trace
from kvolt.commands.common import (
    chosen_spec_path,
    fail,
    guarded,
    print_renderable,
    stderr_console,
    stdout_console,
)


@click.command()
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
    print_renderable(stdout_console(), render_trace(loaded))


@click.command()
@click.argument("trace")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The HTML file to write.")
@guarded
def html(trace: str, output: str, sources: SourceMap) -> None:
    """Write a self-contained HTML page that steps through a trace."""
    from kvolt.checker.views.html import trace_page

    page = trace_page(load_trace(trace, sources))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(page, encoding="utf-8")
    stderr_console().print(f"wrote {output} ({len(page):,} bytes); open it in a browser, step with the arrow keys",
                    highlight=False)


@click.command()
@click.argument("trace")
@click.option("--format", "fmt", type=click.Choice(["mermaid"]), default="mermaid", show_default=True)
@guarded
def diagram(trace: str, fmt: str, sources: SourceMap) -> None:
    """Draw a trace as a sequence diagram of actors and the objects they write."""
    from kvolt.checker.views.narrate import mermaid_sequence

    sys.stdout.write(mermaid_sequence(load_trace(trace, sources)))


@click.command()
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

    built = build(chosen_spec_path(spec), model_name, (), sources)
    life, complete = derive(built.compiled, kind, field_name, max_states)
    if not complete:
        stderr_console().print(f"note: the search was cut at {max_states:,} states; the lifecycle may be partial",
                        style="yellow")
    title = f"{kind} lifecycle" + (f" ({field_name})" if field_name else "")
    sys.stdout.write(lifecycle_mermaid(life) if fmt == "mermaid" else lifecycle_dot(life, title))


@click.command()
@click.argument("spec", required=False)
@click.option("--model", "model_name", help="Model to explore (default: the spec's default model).")
@click.option("--format", "fmt", type=click.Choice(["dot", "graphml", "json"]), default="dot", show_default=True)
@click.option("--max-states", type=click.IntRange(min=1), default=20_000, show_default=True)
@guarded
def graph(spec: str | None, model_name: str | None, fmt: str, max_states: int, sources: SourceMap) -> None:
    """Print the whole reachable state graph of a small model, violating states marked."""
    from kvolt.checker.views.graph import graph_document, graph_dot, graph_graphml, state_graph

    built = build(chosen_spec_path(spec), model_name, (), sources)
    explored = state_graph(built.compiled, max_states)
    if not explored.complete:
        fail(f"the model has more than {max_states:,} states; choose a smaller model or raise --max-states", 3)
    if fmt == "json":
        click.echo(json.dumps(graph_document(explored)))
    else:
        sys.stdout.write(graph_dot(explored) if fmt == "dot" else graph_graphml(explored))
