"""Everyday use of the command line (issue 18): outputs that cannot be written, `expect violation`,
interrupts that keep the work done, output for people."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from clirunner import run_cli

EXAMPLES = Path(__file__).parent.parent / "spec" / "examples"
PROTECTION = str(EXAMPLES / "protection.kvolt")
STALE = str(EXAMPLES / "stale_pod_cache.kvolt")


def _blocked_out(tmp_path: Path) -> Path:
    """An --out folder that cannot be created: a plain file sits where its parent should be."""
    (tmp_path / "a-file").write_text("not a folder\n")
    return tmp_path / "a-file" / "out"


@pytest.mark.parametrize("command", [
    ["check", STALE, "-q"],
    ["check", STALE, "-q", "--json"],
    ["simulate", STALE, "--runs", "300", "--depth", "30", "--seed", "7"],
])
def test_an_unwritable_out_prints_the_verdict_then_cannot_write(tmp_path: Path, command: list[str]) -> None:
    out = _blocked_out(tmp_path)
    result = run_cli(*command, "--out", str(out))
    assert result.code == 2
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert "VIOLATION: no_claim_removed_in_use" in result.stderr
    message = f"cannot write {out}/no_claim_removed_in_use"
    assert message in result.stderr
    assert result.stderr.index("VIOLATION") < result.stderr.index(message)
    if "--json" in command:
        report = json.loads(result.stdout)
        assert result.stdout.count("\n") == 1
        assert report["verdict"] == "violation" and report["violations"][0]["trace"] is None


def test_an_unwritable_zoo_out_exits_2_after_the_table(tmp_path: Path) -> None:
    folder = tmp_path / "zoo"
    folder.mkdir()
    (folder / "stale.kvolt").write_text(Path(STALE).read_text().replace('"protection.kvolt"', f'"{PROTECTION}"'))
    result = run_cli("zoo", str(folder), "--out", str(_blocked_out(tmp_path)))
    assert result.code == 2
    assert "1 of 1 variants break exactly their expected property" in result.stdout
    assert "cannot write" in result.stderr and "internal error" not in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = run_cli("check", STALE, "-q", "--out", str(folder))
    finally:
        folder.chmod(0o755)
    assert result.code == 2
    assert "VIOLATION" in result.stderr and "cannot write" in result.stderr and "Permission denied" in result.stderr


def test_a_read_only_out_folder_whoever_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_text", refuse)
    result = run_cli("check", STALE, "-q", "--out", str(tmp_path))
    assert result.code == 2
    assert f"cannot write {tmp_path}/no_claim_removed_in_use.itf.json: Permission denied" in result.stderr


def test_an_unwritable_html_output_exits_2(tmp_path: Path) -> None:
    trace = tmp_path / "t.itf.json"
    assert run_cli("check", STALE, "-q", "--out", str(tmp_path)).code == 1
    (tmp_path / "no_claim_removed_in_use.itf.json").rename(trace)
    result = run_cli("html", str(trace), "-o", str(_blocked_out(tmp_path) / "page.html"))
    assert result.code == 2
    assert "internal error" not in result.stderr and "Not a directory" in result.stderr
