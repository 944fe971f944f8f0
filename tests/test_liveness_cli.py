"""`kvolt check` with temporal properties, end to end: exit codes, --json, lasso ITF files, the views."""

from __future__ import annotations

import json
from pathlib import Path

from clirunner import run_cli

SPEC = """
kind Job { started: bool  done: bool }
actor user { action start(j: Job) { require not j.started  j.started := true } }
actor worker { action finish(j: Job) { require j.started and not j.done  j.done := true } }
unfair actor user
/// Every started job is eventually done.
property jobs_finish: forall j: Job | j.started ~> j.done
/// Every job is eventually done (false: the user need never start one).
property all_done: eventually forall j: Job | j.done
invariant sane: forall j: Job | j.done implies j.started
model m default { Job = 2  init job1  init job2  symmetric Job }
"""


def _spec(tmp_path: Path, text: str = SPEC) -> str:
    path = tmp_path / "jobs.kvolt"
    path.write_text(text)
    return str(path)


def test_a_lasso_is_reported_written_and_listed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("check", _spec(tmp_path), "--json", "--quiet", "--out", str(out))
    assert result.code == 1
    report = json.loads(result.stdout)
    assert report["verdict"] == "violation"
    (violation,) = report["violations"]
    assert violation["property"] == "all_done" and violation["kind"] == "lasso"
    assert violation["loop"] == 0 and violation["length"] == 1
    trace = json.loads(Path(violation["trace"]).read_text())
    assert trace["loop"] == 0 and trace["#meta"]["lasso"]["loop"] == 0
    assert trace["states"][-1]["mbt::actionTaken"] == "stutter"
    last = {k: v for k, v in trace["states"][-1].items() if not k.startswith(("#", "mbt::"))}
    first = {k: v for k, v in trace["states"][0].items() if not k.startswith(("#", "mbt::"))}
    assert last == first  # the last state equals the state the cycle starts at
    assert report["symmetry"] is True  # the invariants' search uses the reduction ...
    assert report["distinct_states"] == 6 and report["liveness"]["states"] == 9  # ... the liveness graph does not
    assert report["liveness"]["fairness"] == {"weak": ["worker"], "strong": [], "none": ["user"], "finite": []}
    said = " ".join(result.stderr.split())  # (lines wrap at the terminal width)
    assert "no symmetry reduction" in said and "fairness per action binding: weak for worker; none for user" in said


def test_property_selects_what_is_checked(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    ok = run_cli("check", spec, "--property", "jobs_finish", "--json", "--quiet", "--out", str(tmp_path))
    assert ok.code == 0
    report = json.loads(ok.stdout)
    assert report["verdict"] == "ok" and report["liveness"]["properties"] == ["jobs_finish"]
    assert report["distinct_states"] == 9  # only temporal properties: the whole graph's figures
    assert "every temporal property on every fair behaviour" in " ".join(ok.stderr.split())
    invariant_only = run_cli("check", spec, "--invariant", "sane", "--json", "--quiet", "--out", str(tmp_path))
    assert invariant_only.code == 0 and json.loads(invariant_only.stdout)["liveness"] is None


def test_an_unknown_property_is_bad_input(tmp_path: Path) -> None:
    result = run_cli("check", _spec(tmp_path), "--property", "jobs_finsh", "--out", str(tmp_path))
    assert result.code == 2
    assert "unknown property 'jobs_finsh'" in result.stderr and "did you mean 'jobs_finish'" in result.stderr


def test_a_search_cut_short_gives_no_temporal_verdict(tmp_path: Path) -> None:
    result = run_cli("check", _spec(tmp_path), "--property", "jobs_finish", "--max-states", "2", "--json",
                     "--quiet", "--out", str(tmp_path))
    assert result.code == 3
    assert json.loads(result.stdout)["verdict"] == "incomplete"


def test_a_constraint_is_named_in_the_claim(tmp_path: Path) -> None:
    text = SPEC.replace("symmetric Job", "constraint count(j: Job | j.done) <= 1")
    result = run_cli("check", _spec(tmp_path, text), "--property", "jobs_finish", "--quiet", "--out", str(tmp_path))
    assert result.code == 0
    assert "the model has a constraint" in " ".join(result.stderr.split())


def test_the_views_mark_the_cycle(tmp_path: Path) -> None:
    text = SPEC.replace("unfair actor user", "unfair actor user\nstrong fair action worker.finish") \
        .replace("action finish(j: Job) { require j.started and not j.done  j.done := true }",
                 "action finish(j: Job) { require j.started and not j.done  j.done := true }\n"
                 "  action spin(j: Job) { require j.started and not j.done  j.started := true }")
    text = text.replace("strong fair action worker.finish", "unfair action worker.finish")
    out = tmp_path / "out"
    result = run_cli("check", _spec(tmp_path, text), "--property", "jobs_finish", "--json", "--quiet",
                     "--out", str(out))
    assert result.code == 1
    (violation,) = json.loads(result.stdout)["violations"]
    trace = violation["trace"]
    shown = run_cli("show", trace).stdout
    assert "the cycle starts at state" in shown and "repeats forever" in shown
    assert "Violated: jobs_finish [j = job" in shown
    narrated = run_cli("show", trace, "--narrate").stdout
    assert "these steps repeat forever" in narrated and "So jobs_finish [j = job" in narrated
    diagram = run_cli("diagram", trace, "--format", "mermaid").stdout
    assert "loop repeats forever from state" in diagram and diagram.rstrip().splitlines()[-2].strip() == "end"
    page = tmp_path / "page.html"
    assert run_cli("html", trace, "-o", str(page)).code == 0
    assert f'"loop": {violation["loop"]}' in page.read_text()


def test_two_workers_build_the_liveness_graph_with_the_same_outcome(tmp_path: Path) -> None:
    """`--workers 2` shares the liveness graph's search too: the same figures and the same lasso."""
    reports, traces = [], []
    for workers in ("1", "2"):
        out = tmp_path / workers
        result = run_cli("check", _spec(tmp_path), "--json", "--quiet", "--continue", "--workers", workers,
                         "--out", str(out))
        assert result.code == 1
        report = json.loads(result.stdout)
        reports.append({k: report["liveness"][k] for k in ("states", "transitions", "instances")})
        traces.append([json.loads(Path(v["trace"]).read_text())["states"] for v in report["violations"]])
    assert reports[0] == reports[1] and reports[0]["states"] == 9
    assert traces[0] == traces[1]
