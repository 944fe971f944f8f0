"""What every command shares: exit codes, consoles, and the guard that turns errors into messages."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from kvolt.checker.engine import STOP, ExplorationError
from kvolt.checker.frontend.diagnostics import Diagnostic, SourceMap, SpecError, render, render_all
from kvolt.checker.frontend.loader import builtin_spec_path

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3
VERDICT_EXIT = {"ok": EXIT_OK, "violation": EXIT_VIOLATION, "incomplete": EXIT_INCOMPLETE}


def terminal_width() -> int:
    return max(100, Console().width)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, width=terminal_width())


def stdout_console() -> Console:
    return Console(highlight=False, width=terminal_width())


def print_renderable(console: Console, renderable: Any) -> None:
    """Print rich output; without a terminal, as plain text with no trailing padding."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    text = "\n".join(line.rstrip() for line in captured.get().splitlines())
    console.file.write(text + "\n")


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.exit(code)


INTERRUPTED = "interrupted (SIGINT)"


@contextmanager
def interruptible() -> Iterator[None]:
    """Within this block Ctrl-C (SIGINT) asks the search to stop at its next progress check and report
    what it found, as a limit does (verdict incomplete, exit 3); a second Ctrl-C aborts at once.
    Forked workers inherit the handler, so a Ctrl-C sent to the whole process group stops none of them."""

    def handler(signum: int, frame: object) -> None:
        if STOP.reason is not None:
            raise KeyboardInterrupt
        STOP.request(INTERRUPTED)
        sys.stderr.write("\ninterrupted: finishing the current step and reporting what was found "
                         "(Ctrl-C again to abort)\n")

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave Ctrl-C as it is
        yield
        return
    STOP.clear()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        STOP.clear()


def cannot_write(path: Path | str, error: OSError) -> str:
    """The message for an output that could not be written (a read-only folder, a file in the path)."""
    reason = error.strerror or type(error).__name__
    where = f" ({error.filename})" if error.filename and str(error.filename) != str(path) else ""
    return f"error: cannot write {path}: {reason}{where}"


def try_write_trace(path: Path, document: dict[str, Any]) -> str | None:
    """Write one trace; the message saying why it could not be written, or None."""
    from kvolt.checker.views.traces import write_trace

    try:
        write_trace(path, document)
    except OSError as error:
        return cannot_write(path, error)
    return None


def guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every error into a clean message and an exit code; never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        sources: SourceMap = kwargs.setdefault("sources", SourceMap())
        try:
            return command(*args, **kwargs)
        except SpecError as error:
            fail(render_all(error, sources))
        except ExplorationError as error:
            diagnostic = Diagnostic("X001", f"{error.message} (while evaluating {error.action})", error.span,
                                    (f"reached after {len(error.trace) - 1} steps from an initial state: "
                                     + " -> ".join(s.action for s in error.trace[1:]) if len(error.trace) > 1
                                     else "reached in an initial state",))
            fail(render(diagnostic, sources))
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except RecursionError:
            fail("error[P004]: the spec nests expressions or statements too deeply (a few hundred levels at most)")
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except _impl_errors() as error:
            fail(_render_impl_error(error, sources))
        except OSError as error:  # a file that cannot be read or written: the user's environment, not a bug
            fail(f"error: {error.strerror or error}" + (f": {error.filename}" if error.filename else ""))
        except Exception as error:  # a bug in kvolt itself: say so plainly
            if os.environ.get("KVOLT_DEBUG"):
                traceback.print_exc()
            fail(f"kvolt: internal error: {type(error).__name__}: {error}\n"
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


def chosen_spec_path(spec: str | None) -> Path:
    return Path(spec) if spec else builtin_spec_path()
