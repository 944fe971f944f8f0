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


def _variant(tmp_path: Path, expect: str) -> str:
    variant = tmp_path / "variant.kvolt"
    variant.write_text(f'extends "{PROTECTION}"\nexpect violation {expect}\n')
    return str(variant)


def test_check_says_when_an_expected_violation_is_not_found(tmp_path: Path) -> None:
    result = run_cli("check", _variant(tmp_path, "running_pods_are_scheduled"), "-q", "--json", "--out", str(tmp_path))
    assert result.code == 1
    assert "EXPECTATION NOT MET: the spec declares `expect violation running_pods_are_scheduled`" in result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "ok"  # the search's own verdict is unchanged; the expectation fails
    assert report["expected_violation"] == {"property": "running_pods_are_scheduled", "checked": True,
                                            "found": False, "met": False}


def test_check_confirms_an_expected_violation(tmp_path: Path) -> None:
    result = run_cli("check", STALE, "-q", "--json", "--out", str(tmp_path))
    assert result.code == 1
    assert "As expected: the spec declares `expect violation no_claim_removed_in_use`." in result.stderr
    assert json.loads(result.stdout)["expected_violation"]["met"] is True


def test_an_expectation_filtered_out_or_cut_short_has_no_verdict(tmp_path: Path) -> None:
    variant = _variant(tmp_path, "running_pods_are_scheduled")
    filtered = run_cli("check", variant, "-q", "--invariant", "no_claim_removed_in_use", "--out", str(tmp_path))
    assert filtered.code == 0 and "not among the properties checked" in " ".join(filtered.stderr.split())
    cut = run_cli("check", variant, "-q", "--max-states", "50", "--out", str(tmp_path))
    assert cut.code == 3 and "no verdict on it" in " ".join(cut.stderr.split())


def test_zoo_uses_the_vector_engine_by_default(tmp_path: Path) -> None:
    folder = tmp_path / "zoo"
    folder.mkdir()
    (folder / "stale.kvolt").write_text(Path(STALE).read_text().replace('"protection.kvolt"', f'"{PROTECTION}"'))
    vector = json.loads(run_cli("zoo", str(folder), "--json", "--out", str(tmp_path / "v")).stdout)
    scalar = json.loads(run_cli("zoo", str(folder), "--json", "--engine", "scalar", "--out", str(tmp_path / "s")).stdout)
    assert (vector["engine"], scalar["engine"]) == ("vector", "scalar")
    assert [r["found"] for r in vector["variants"]] == [r["found"] for r in scalar["variants"]] == \
        [["no_claim_removed_in_use"]]
    assert vector["variants"][0]["trace_length"] == scalar["variants"][0]["trace_length"]


@pytest.mark.parametrize("engine", ["vector", "scalar"])
def test_zoo_never_passes_a_search_cut_short(tmp_path: Path, engine: str) -> None:
    from kvolt.checker.engine import Options
    from kvolt.checker.zoo import check_variant

    variant = tmp_path / "stale.kvolt"
    variant.write_text(Path(STALE).read_text().replace('"protection.kvolt"', f'"{PROTECTION}"'))
    entry, _ = check_variant(variant, Options(stop_at_first=False, max_depth=7), engine=engine)
    assert entry.found == ["no_claim_removed_in_use"]  # the expected violation, seen before the limit
    assert entry.result.incomplete_reason is not None
    assert not entry.passed


def _interrupt_after_progress(args: list[str]) -> tuple[int, str, str]:
    """Start kvolt, wait for its first progress line (it is exploring), send SIGINT, collect what it prints."""
    import signal
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "kvolt", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("Progress:"):
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    return process.returncode, out, "".join(seen) + err


@pytest.mark.parametrize("command", [
    ["check", "--model", "full"],
    ["check", "--model", "full", "--workers", "2"],
    ["simulate", "--model", "full", "--runs", "1000000", "--depth", "100"],
], ids=["check", "check-2-workers", "simulate"])
def test_ctrl_c_keeps_the_work_done(tmp_path: Path, command: list[str]) -> None:
    code, out, err = _interrupt_after_progress([*command, "--json", "--out", str(tmp_path)])
    assert code == 3, err[-2000:]
    assert out.count("\n") == 1
    report = json.loads(out)
    assert report["verdict"] == "incomplete" and report["incomplete_reason"] == "interrupted (SIGINT)"
    assert report["distinct_states"] > 0 and sum(report["actions"].values()) > 0
    assert "INCOMPLETE: interrupted (SIGINT)" in err and "Traceback" not in err
