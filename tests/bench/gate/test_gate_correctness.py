"""The gate fails on invalid trials the baseline did not have (correctness first),
and compares each configuration on the metrics its mode can measure."""

from __future__ import annotations

import json
from pathlib import Path

from benchdata import BASE_CONFIG, make_rows, write_run
from click.testing import CliRunner

from gigq.bench.cli import cli
from gigq.bench.exit_codes import ExitCode
from gigq.bench.gate.compare import compare_run
from gigq.bench.results import load_results

TWO = [BASE_CONFIG, {**BASE_CONFIG, "workers": 2}]
DOUBLED = "5 jobs ran more than once (job 3 ran 2 times)"


def _break(rows: list[dict], version: str, workers: int, every: bool = True) -> None:
    """Mark trials of ``version`` at ``workers`` invalid (as a double-running worker would);
    their timings stay plausible, so only the validity can tell."""
    for row in rows:
        if row["version"] == version and row["workers"] == workers:
            row["valid"] = False
            row["invalid_reason"] = DOUBLED
            if not every:
                return


def _compare(tmp_path: Path, rows: list[dict], *args: str) -> tuple[int, str, dict, str, str]:
    path = write_run(tmp_path / "run", rows, {"baseline": "b", "current": "c"})
    md, js, page = tmp_path / "s.md", tmp_path / "s.json", tmp_path / "s.html"
    result = CliRunner().invoke(cli, ["compare", str(path), "--threshold", "25%",
                                      "--markdown", str(md), "--json", str(js),
                                      "--html", str(page), *args])
    return (result.exit_code, result.stdout + result.stderr, json.loads(js.read_text()),
            md.read_text(), page.read_text())


def test_invalid_current_trials_fail_the_gate_as_a_correctness_regression(tmp_path) -> None:
    rows = make_rows(TWO, {"baseline": 1.0, "current": 1.0}, 8)
    _break(rows, "current", workers=2)
    code, out, doc, md, page = _compare(tmp_path, rows)
    assert code == ExitCode.FAILED
    assert out.index("CORRECTNESS REGRESSION") < out.index("verdict")  # said first
    assert "workers=2" in out and "ran more than once" in out
    assert doc["exit_code"] == ExitCode.FAILED
    assert doc["headline"].startswith("CORRECTNESS REGRESSION")
    [issue] = doc["correctness_regressions"]
    assert issue["invalid"] == 8 and issue["trials"] == 8
    assert "workers=2" in issue["label"] and DOUBLED in issue["reasons"]
    assert md.index("correctness regression") < md.index("| configuration |")
    assert "Correctness regression" in page and "ran more than once" in page


def test_one_invalid_current_trial_is_enough(tmp_path) -> None:
    rows = make_rows(TWO, {"baseline": 1.0, "current": 1.0}, 8)
    _break(rows, "current", workers=1, every=False)
    code, _, doc, _, _ = _compare(tmp_path, rows)
    assert code == ExitCode.FAILED
    assert doc["correctness_regressions"][0]["invalid"] == 1


def test_invalid_trials_the_baseline_also_had_only_warn(tmp_path) -> None:
    rows = make_rows(TWO, {"baseline": 1.0, "current": 1.0}, 8)
    _break(rows, "current", workers=2)
    _break(rows, "baseline", workers=2, every=False)
    code, out, doc, _, _ = _compare(tmp_path, rows)
    assert code == ExitCode.OK, out
    assert doc["correctness_regressions"] == []
    assert "invalid trial" in out


def test_invalid_baseline_trials_are_not_the_current_versions_fault(tmp_path) -> None:
    rows = make_rows(TWO, {"baseline": 1.0, "current": 1.0}, 8)
    _break(rows, "baseline", workers=1, every=False)
    code, _, doc, _, _ = _compare(tmp_path, rows)
    assert code == ExitCode.OK
    assert doc["correctness_regressions"] == []


def test_drain_rows_are_not_gated_on_latency_by_default(tmp_path) -> None:
    rows = make_rows(TWO, {"baseline": 1.0, "current": 1.0}, 8)
    for row in rows:  # a slower start-up: drain latency doubles, throughput does not
        if row["version"] == "current":
            row["end_to_end_p50_ms"] *= 2
    path = write_run(tmp_path / "run", rows, {"baseline": "b", "current": "c"})
    comparison = compare_run(load_results(path))
    assert comparison.exit_code == ExitCode.OK, comparison.headline
    assert "end_to_end_p50_ms" not in {r.metric for r in comparison.rows}
    assert {r.metric for r in comparison.rows} == {"jobs_per_sec", "submit_per_sec",
                                                 "cpu_per_1k_jobs"}


def test_steady_rows_are_gated_on_latency_not_on_their_arrival_rate(tmp_path) -> None:
    steady = {**BASE_CONFIG, "mode": "steady"}
    rows = make_rows([steady], {"baseline": 1.0, "current": 1.0}, 8, noise=0.01, drift=0.01)
    for row in rows:
        if row["version"] == "current":
            row["end_to_end_p50_ms"] *= 2
    path = write_run(tmp_path / "run", rows, {"baseline": "b", "current": "c"})
    comparison = compare_run(load_results(path))
    assert {r.metric for r in comparison.rows} == {"end_to_end_p50_ms"}
    assert comparison.exit_code == ExitCode.FAILED
