"""``gigq-bench compare``: exit codes and outputs on hand-made results."""

from __future__ import annotations

import json
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from benchdata import BASE_CONFIG, make_rows, write_run
from click.testing import CliRunner

from gigq.bench.cli import cli
from gigq.bench.gate.compare import Thresholds, compare_run, noise_floor
from gigq.bench.results import load_results


@pytest.fixture
def run_factory(tmp_path: Path) -> Callable[..., Path]:
    """Build a results directory from make_rows arguments."""
    counter = iter(range(1000))

    def factory(configs: list[dict[str, Any]] | None = None,
                versions: dict[str, float] | None = None, reps: int = 8, seed: int = 0,
                **kwargs: Any) -> Path:
        configs = configs or [BASE_CONFIG, {**BASE_CONFIG, "workers": 2}]
        versions = versions or {"current": 1.0}
        rows = make_rows(configs, versions, reps, seed=seed, **kwargs)
        return write_run(tmp_path / f"run{next(counter)}", rows,
                         {k: f"{k} version" for k in versions})

    return factory


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["compare", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_ab_run_without_change_passes(run_factory) -> None:
    path = run_factory(versions={"baseline": 1.0, "current": 1.0})
    code, out, _ = run(str(path), "--threshold", "25%")
    assert code == 0, out
    assert "REGRESSION" not in out
    assert "jobs_per_sec" in out


def test_ab_run_with_slowdown_fails(run_factory, tmp_path: Path) -> None:
    path = run_factory(versions={"baseline": 1.0, "current": 0.6})
    md, js, page = tmp_path / "s.md", tmp_path / "s.json", tmp_path / "s.html"
    code, out, err = run(str(path), "--threshold", "25%", "--markdown", str(md),
                         "--json", str(js), "--html", str(page))
    assert code == 1
    assert "REGRESSION" in out and "slower" in out
    assert "FAIL" in err
    doc = json.loads(js.read_text())
    assert doc["exit_code"] == 1
    slower = [r for r in doc["rows"] if r["verdict"] == "slower"]
    assert {r["metric"] for r in slower} >= {"jobs_per_sec"}
    assert all(r["paired"] for r in doc["rows"])
    jobs = next(r for r in slower if r["metric"] == "jobs_per_sec")
    assert jobs["ratio"] < 1 < jobs["slowdown_factor"]
    text = md.read_text()
    assert "performance regression" in text and "| jobs_per_sec" in text.replace("\u2191", "")
    check_html(page.read_text())


def test_speedup_passes_and_is_reported_faster(run_factory) -> None:
    path = run_factory(versions={"baseline": 1.0, "current": 1.6})
    code, out, _ = run(str(path))
    assert code == 0
    assert "faster" in out


def test_two_separate_runs_are_compared_unpaired(run_factory, tmp_path: Path) -> None:
    base = run_factory(seed=1)
    current = run_factory(seed=2, versions={"current": 0.5})
    js = tmp_path / "c.json"
    code, _, _ = run(str(base), str(current), "--json", str(js))
    assert code == 1
    doc = json.loads(js.read_text())
    assert not any(r["paired"] for r in doc["rows"])


def test_inconclusive_passes_unless_strict(run_factory) -> None:
    # 3 repetitions can never reach 95% confidence with pairs: inconclusive.
    path = run_factory(versions={"baseline": 1.0, "current": 0.5}, reps=3)
    code, out, err = run(str(path))
    assert code == 0
    assert "inconclusive" in out and "too few" in out
    assert "--strict" in err
    code, _, _ = run(str(path), "--strict")
    assert code == 3


def test_nothing_comparable_exits_2(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", make_rows([BASE_CONFIG], {"current": 1.0}, 6))
    other = {**BASE_CONFIG, "job_type": "io"}
    current = write_run(tmp_path / "b", make_rows([other], {"current": 1.0}, 6))
    code, out, err = run(str(base), str(current))
    assert code == 2
    assert "no configuration was measured on both sides" in out
    assert "nothing comparable" in err


@pytest.mark.parametrize("args", [
    ["/nonexistent/results"],
    ["{run}", "--metric", "bogus"],
    ["{run}", "--threshold", "-5%"],
    ["{run}", "--base-version", "nope"],
    ["{run}", "--thresholds", "{bad_toml}"],
])
def test_bad_input_exits_2(args: list[str], run_factory, tmp_path: Path) -> None:
    path = run_factory(versions={"baseline": 1.0, "current": 1.0})
    bad = tmp_path / "bad.toml"
    bad.write_text("threshold = [oops")
    args = [a.format(run=path, bad_toml=bad) for a in args]
    code, out, err = run(*args)
    assert code == 2
    assert "error" in (err + out).lower()


def test_not_a_results_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text('{"format": "something else"}')
    code, _, err = run(str(tmp_path))
    assert code == 2 and "not a gigq-bench results file" in err


def test_single_version_run_alone_is_bad_input(run_factory) -> None:
    code, _, err = run(str(run_factory()))
    assert code == 2 and "exactly two" in err


def test_invalid_trials_are_left_out_with_a_warning(tmp_path: Path) -> None:
    # An invalid *baseline* trial: left out with a warning (an invalid current trial
    # is a correctness regression instead, see test_gate_correctness.py).
    rows = make_rows([BASE_CONFIG], {"baseline": 1.0, "current": 1.0}, 8)
    last = [r for r in rows if r["version"] == "baseline"][-1]
    last["valid"] = False
    last["jobs_per_sec"] = 1e9  # would look like a huge regression if used
    path = write_run(tmp_path / "r", rows, {"baseline": "b", "current": "c"})
    code, out, _ = run(str(path))
    assert code == 0
    assert "invalid trial" in out


def test_thresholds_file_per_metric_and_per_configuration(run_factory, tmp_path: Path) -> None:
    path = run_factory(versions={"baseline": 1.0, "current": 0.6})
    toml = tmp_path / "t.toml"
    toml.write_text(
        'threshold = "5%"\n'
        'metrics = ["jobs_per_sec"]\n'
        '[metric.jobs_per_sec]\nthreshold = "90%"\n'
        '[[rule]]\nwhere = { workers = 2 }\nmetric = "jobs_per_sec"\nthreshold = "20%"\n'
    )
    js = tmp_path / "c.json"
    code, _, _ = run(str(path), "--thresholds", str(toml), "--json", str(js))
    doc = json.loads(js.read_text())
    by_workers = {r["config"]["workers"]: r for r in doc["rows"]}
    assert doc["metrics"] == ["jobs_per_sec"]
    assert by_workers[1]["threshold"] == pytest.approx(0.90)
    assert by_workers[1]["verdict"] == "unchanged"  # 1.67x worse is within 90%
    assert by_workers[2]["threshold"] == pytest.approx(0.20)
    assert by_workers[2]["verdict"] == "slower"
    assert code == 1


def test_thresholds_file_defaults_and_cli_precedence(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text('threshold = "30%"\n[metric.wait_p95_ms]\nthreshold = "50%"\n')
    th, metrics = Thresholds.from_toml(toml)
    assert th.for_row("jobs_per_sec", "x", {}) == pytest.approx(0.30)
    assert th.for_row("wait_p95_ms", "x", {}) == pytest.approx(0.50)
    assert metrics == []
    th, _ = Thresholds.from_toml(toml, default=0.12)  # --threshold beats the file's default
    assert th.for_row("jobs_per_sec", "x", {}) == pytest.approx(0.12)


def test_markdown_to_stdout_and_all_metrics(run_factory) -> None:
    path = run_factory(versions={"baseline": 1.0, "current": 1.0})
    code, out, _ = run(str(path), "--metric", "all", "--markdown", "-")
    assert code == 0
    assert "### gigq-bench" in out
    assert "not measured on both sides" in out  # lock_wait_share etc. are null


def test_markdown_appends_to_github_step_summary(run_factory, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    path = run_factory(versions={"baseline": 1.0, "current": 1.0})
    run(str(path), "--markdown", str(summary))
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "### gigq-bench" in text


def test_calibration_of_an_aa_run(run_factory, tmp_path: Path) -> None:
    path = run_factory(versions={"baseline": 1.0, "current": 1.0}, reps=10, noise=0.03,
                       drift=0.0)
    js = tmp_path / "c.json"
    code, out, _ = run(str(path), "--calibrate", "--json", str(js), "--threshold", "50%")
    assert code == 0
    assert "Noise floor" in out and "smallest safe threshold" in out
    floors = {f["metric"]: f for f in json.loads(js.read_text())["noise_floor"]}
    jobs = floors["jobs_per_sec"]
    assert 0 < jobs["noise"] < 0.5
    assert jobs["recommended"] >= jobs["noise"]
    # With the recommended threshold, the same A/A comparison rates everything unchanged.
    results = load_results(path)
    again = compare_run(results, thresholds=Thresholds(jobs["recommended"]),
                        metrics=["jobs_per_sec"])
    assert {r.verdict for r in again.rows} == {"unchanged"}
    assert [f.metric for f in noise_floor(again)] == ["jobs_per_sec"]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)


def check_html(page: str) -> None:
    parser = _Collector()
    parser.feed(page)
    assert "svg" in parser.tags and "table" in parser.tags
    # Self-contained: the only script is the kit's inline table.js (sorting), nothing
    # is loaded from anywhere, by tag or by script.
    assert "src" not in {name for name, _ in parser.attrs}
    assert "<link" not in page and "fetch(" not in page and "XMLHttpRequest" not in page
    for name, value in parser.attrs:
        if name in ("src", "href"):
            assert not (value or "").startswith(("http://", "https://"))
    assert "slower" in page


def test_outcome_columns_are_not_configuration(tmp_path: Path) -> None:
    rows = make_rows([BASE_CONFIG, {**BASE_CONFIG, "workers": 2}],
                     {"baseline": 1.0, "current": 1.0}, 6)
    for i, row in enumerate(rows):
        row["load_1m"] = 1.0 + i  # differs per trial: must not look like a dimension
    path = write_run(tmp_path / "r", rows, {"baseline": {"description": "old code"},
                                           "current": {"description": "new code"}})
    js = tmp_path / "c.json"
    run(str(path), "--json", str(js))
    doc = json.loads(js.read_text())
    assert {r["label"] for r in doc["rows"]} == {"workers=1", "workers=2"}
    assert all("load_1m" not in r["config"] for r in doc["rows"])
    assert doc["base"]["description"] == "old code"
