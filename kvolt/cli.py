"""The command-line front: the only layer that prints, and the only one that knows both the
checker and the implementation. Exit codes: 0 ok, 1 violation, 2 usage or bad input,
3 incomplete. Each family of commands lives in `kvolt.commands`; this module gathers them."""

from __future__ import annotations

import click

from kvolt import __version__
from kvolt.commands import conformance, explore, teaching, zoo
from kvolt.commands.common import EXIT_OK, EXIT_USAGE, stderr_console


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kvolt")
def cli() -> None:
    """kvolt: the Kubernetes volume lifecycle, made checkable."""


for command in (explore.check, explore.simulate, conformance.conform, conformance.replay, zoo.zoo, teaching.show,
                teaching.html, teaching.diagram, teaching.lifecycle, teaching.graph, conformance.record,
                conformance.scenario):
    cli.add_command(command)


def main() -> int:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code or 0)
    except click.ClickException as error:
        error.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        stderr_console().print("aborted")
        return EXIT_USAGE
    except SystemExit as done:
        return int(done.code or 0) if isinstance(done.code, int) else EXIT_USAGE
    return EXIT_OK

