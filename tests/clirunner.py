"""Run the kvolt command line in-process and capture what it prints."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

from kvolt.cli import main


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    import sys

    saved = sys.argv
    sys.argv = ["kvolt", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main()
    finally:
        sys.argv = saved
    return CliResult(code, out.getvalue(), err.getvalue())
