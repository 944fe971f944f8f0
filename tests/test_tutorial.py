"""docs/tutorial.md is executed: every `$ kvolt ...` line in a ```console block runs, and its output
must match the lines below it. In expected output, a line `...` stands for any number of lines and
`[...]` inside a line for any text (timings). `# exits N` after a command gives its exit code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from clirunner import run_cli
from golden_cases import working_directory

ROOT = Path(__file__).parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"


def _commands() -> list[tuple[int, str, int, list[str]]]:
    """(line number, command, expected exit code, expected output lines) for every command."""
    if not TUTORIAL.exists():
        return []
    commands: list[tuple[int, str, int, list[str]]] = []
    in_block = False
    for number, line in enumerate(TUTORIAL.read_text().splitlines(), 1):
        if line.startswith("```"):
            in_block = line.strip() == "```console"
            continue
        if not in_block:
            continue
        if line.startswith("$ "):
            command, _, comment = line[2:].partition("  # exits ")
            commands.append((number, command.strip(), int(comment) if comment else 0, []))
        elif commands:
            commands[-1][3].append(line)
    return commands


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Whether the actual lines match the expected ones, with `...` lines and `[...]` spans as wildcards."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head.strip() == "...":
        return any(_matches(rest, actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    pattern = ".*".join(re.escape(part) for part in head.rstrip().split("[...]"))
    return re.fullmatch(pattern, actual[0].rstrip()) is not None and _matches(rest, actual[1:])


def test_tutorial_has_commands() -> None:
    assert len(_commands()) >= 10


@pytest.mark.parametrize(("line", "command", "code", "expected"), _commands(), ids=lambda x: str(x)[:60])
def test_tutorial_command(line: int, command: str, code: int, expected: list[str], tmp_path: Path) -> None:
    words = shlex.split(command)
    assert words[0] == "kvolt", f"docs/tutorial.md:{line}: only kvolt commands run here"
    with working_directory(ROOT):
        result = run_cli(*words[1:])
    actual = (result.stdout + result.stderr).rstrip("\n").splitlines()
    while expected and not expected[-1].strip():
        expected = expected[:-1]
    assert result.code == code, f"docs/tutorial.md:{line}: exit {result.code}\n{result.stdout}{result.stderr}"
    assert _matches(expected, actual), (f"docs/tutorial.md:{line}: output differs\n--- expected\n" + "\n".join(expected)
                                        + "\n--- actual\n" + "\n".join(actual))


def _blocks() -> list[tuple[str, list[str]]]:
    blocks: list[tuple[str, list[str]]] = []
    current: tuple[str, list[str]] | None = None
    for line in TUTORIAL.read_text().splitlines():
        if line.startswith("```"):
            if current is None:
                current = (line.strip()[3:], [])
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current[1].append(line)
    return blocks


def test_embedded_diagrams_are_the_command_output() -> None:
    """Each ```mermaid block repeats, verbatim, the diagram the console block before it printed."""
    blocks = _blocks()
    diagrams = [(i, lines) for i, (kind, lines) in enumerate(blocks) if kind == "mermaid"]
    assert len(diagrams) >= 3
    for index, lines in diagrams:
        kind, console = blocks[index - 1]
        assert kind == "console"
        assert console[1:] == lines
