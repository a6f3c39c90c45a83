"""gigq-bench history: runs made by the test fixtures, matched across runs and drawn."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from benchdata import BASE_CONFIG, make_rows
from benchdata import write_run as write_ab_run
from click.testing import CliRunner
from report_fixtures import BASE, config_id, make_results, write_run

from gigq.bench.cli import cli
from gigq.bench.history import page as history_page
from gigq.bench.history.runs import HistoryError, find_runs, load_runs
from gigq.bench.history.series import PLOTTED_METRICS, build_history
from gigq.bench.stats import median

# Directory names out of date order, so sorting by name would be wrong.
RUNS = (  # directory, workers swept, commit, started
    ("run-c", [1, 2], "c0ffee1aaaaaaaaa", "2026-11-29T09:00:00+00:00"),
    ("run-a", [1, 2, 4], "beef002bbbbbbbbb", "2026-11-30T09:00:00+00:00"),
    ("run-b", [1, 2], "f00d003ccccccccc", "2026-12-01T09:00:00+00:00"),
)


def _run(tmp: Path, name: str, workers: list[int], commit: str, started: str,
         seed: int, **kwargs) -> Path:
    results = make_results({"workers": workers}, seed=seed, **kwargs)
    results.environment.update(git_commit=commit, started_at=started)
    return write_run(results, tmp / name)


@pytest.fixture
def three_runs(tmp_path) -> Path:
    """Three saved runs in one directory; workers=4 only in the middle one, and the
    newest with an invalid trial of workers=2."""
    root = tmp_path / "runs"
    for seed, (name, workers, commit, started) in enumerate(RUNS):
        invalid = [({"workers": 2}, 2, "3 jobs lost")] if name == "run-b" else []
        _run(root, name, workers, commit, started, seed, invalid=invalid)
    return root


def _cid(workers: int) -> str:
    return config_id({**BASE, "workers": workers})


def test_runs_are_sorted_by_date_not_by_name(three_runs):
    runs = load_runs([three_runs])
    assert [r.path.name for r in runs] == ["run-c", "run-a", "run-b"]
    assert [r.label for r in runs] == ["c0ffee1", "beef002", "f00d003"]
    assert runs[0].date == "2026-11-29 09:00"
    assert runs[0].machine.startswith("bench-host") and runs[0].profile == "test"


def test_values_plotted_equal_the_data(three_runs):
    history = build_history(load_runs([three_runs]))
    assert {c.config_id for c in history.configs} == {_cid(1), _cid(2)}
    for config in history.configs:
        for metric in PLOTTED_METRICS:
            chart = history_page.chart(history, config, metric)
            (series,) = chart.series
            scale = 100 if metric == "lock_wait_share" else 1
            expected = []
            for run in history.runs:
                rows = run.rows[(run.rows["config_id"] == config.config_id)
                                & run.rows["valid"]]
                expected.append(median(list(rows[metric])) * scale)
            assert series.x == [0.0, 1.0, 2.0]
            assert series.y == pytest.approx(expected)
            assert all(lo <= y <= hi for lo, y, hi in
                       zip(series.low, series.y, series.high, strict=True))


def test_invalid_trials_are_left_out_of_the_medians(three_runs):
    history = build_history(load_runs([three_runs]))
    newest = history.runs[-1]
    config = next(c for c in history.configs if c.config_id == _cid(2))
    rows = newest.rows[newest.rows["config_id"] == _cid(2)]
    assert (~rows["valid"]).sum() == 1
    point = config.points["jobs_per_sec"][2]
    assert point.n == 2
    assert point.estimate == pytest.approx(median(list(rows[rows["valid"]]["jobs_per_sec"])))


def test_a_configuration_in_one_run_is_listed_not_plotted(three_runs):
    history = build_history(load_runs([three_runs]))
    (only,) = history.unplotted
    assert only.config_id == _cid(4)
    assert only.runs == ["beef002"] and only.reason == "in one run only"
    html = history_page.render_html(history)
    listed = html[html.index('id="unplotted"'):]
    assert only.label in listed and _cid(4) in listed
    charts = html[html.index('id="configurations"'):html.index('id="unplotted"')]
    assert _cid(4) not in charts
    assert len(re.findall(r"<svg[^>]*class=\"chart\"", charts)) == 2 * len(PLOTTED_METRICS)


def test_gate_verdicts_from_compare_json_are_marked(three_runs):
    newest, older = three_runs / "run-b", three_runs / "run-a"
    # The real gate writes the verdicts: newest judged against the run before it.
    result = CliRunner().invoke(cli, ["compare", str(older), str(newest), "--json",
                                      str(newest / "compare.json"), "--metric", "jobs_per_sec"])
    assert result.exit_code in (0, 1, 3), result.output
    doc = json.loads((newest / "compare.json").read_text())
    expected = {r["config_id"]: r["verdict"] for r in doc["rows"]}
    # workers=2 lost jobs in the newest run: a correctness regression, marked as such.
    assert [c["config_id"] for c in doc["correctness_regressions"]] == [_cid(2)]
    expected[_cid(2)] = "correctness"
    history = build_history(load_runs([three_runs]))
    assert history.runs[-1].gate == doc["headline"]
    for config in history.configs:
        labels = history_page.chart(history, config, "jobs_per_sec").x_tick_labels
        assert history_page.MARKS[expected[config.config_id]] in labels[2]
        assert not any(m in labels[0] + labels[1] for m in history_page.MARKS.values())
    html = history_page.render_html(history)
    assert doc["headline"] in html  # in full, as the gate cell's tooltip
    # The cell itself: the outcome and the verdicts of the file's rows, zeros left out.
    counts = {v: n for v, n in doc["counts"].items() if n}
    summary = history_page.gate_summary(history.runs[-1])
    assert summary.startswith(doc["headline"].split(":")[0] + ": ")
    assert summary.count(",") == len(counts) - 1
    assert all(f"{n} {v}" in summary for v, n in counts.items())


def test_verdicts_stay_with_a_copied_run(three_runs, tmp_path):
    newest, older = three_runs / "run-b", three_runs / "run-a"
    CliRunner().invoke(cli, ["compare", str(older), str(newest), "--json",
                             str(newest / "compare.json")])
    # Runs are kept by copying the gate's output directory: compare.json keeps the old path.
    kept = tmp_path / "kept"
    for run in (older, newest):
        shutil.copytree(run, kept / run.name)
    shutil.rmtree(three_runs)
    runs = load_runs([kept])
    assert runs[-1].path.name == "run-b" and runs[-1].gate and runs[-1].verdicts
    assert runs[0].gate is None


def test_compare_json_of_another_run_is_ignored(three_runs):
    newest, older = three_runs / "run-b", three_runs / "run-a"
    # The newest run was this comparison's *base*: its verdicts say nothing about it.
    CliRunner().invoke(cli, ["compare", str(newest), str(older), "--json",
                             str(newest / "compare.json")])
    runs = load_runs([three_runs])
    assert runs[-1].gate is None and not runs[-1].verdicts


def test_a_broken_compare_json_is_a_clear_error(three_runs):
    (three_runs / "run-a" / "compare.json").write_text("{not json")
    with pytest.raises(HistoryError, match=r"run-a/compare.json is not readable JSON"):
        load_runs([three_runs])


def test_an_ab_run_plots_its_current_version(tmp_path):
    configs = [{**BASE_CONFIG, "workers": 1}]
    for i, speed in enumerate((1.0, 0.6)):
        rows = make_rows(configs, {"baseline": 1.0, "current": speed}, reps=4, seed=i)
        # The first run measured a git revision (ab --current REF), the second the checkout.
        current = "git HEAD~1 = 0badc0de99 (a subject)" if i == 0 else "working tree"
        baseline = "gigq==0.5.1 (package index)" if i == 0 else "git HEAD~1 = 1234567890 (s)"
        write_ab_run(tmp_path / f"ab{i}", rows, versions={"baseline": baseline,
                                                          "current": current},
                     environment={"hostname": "ci", "git_commit": f"{i}abcdef",
                                  "started_at": f"2026-12-0{i + 1}T00:00:00"})
    runs = load_runs([tmp_path])
    assert [r.version for r in runs] == ["current", "current"]
    assert [r.label for r in runs] == ["0badc0d", "1abcdef"]
    assert all(set(r.rows["version"]) == {"current"} for r in runs)
    assert [r.baseline for r in runs] == ["gigq==0.5.1 (package index)", "1234567"]
    (config,) = build_history(runs).configs
    for run, point in zip(runs, config.points["jobs_per_sec"], strict=True):
        assert point.estimate == pytest.approx(median(list(run.rows["jobs_per_sec"])))


def test_ceiling_ratio_is_derived_when_only_its_parts_were_recorded(tmp_path):
    for i in range(2):
        results = make_results({"workers": [1]}, seed=i)
        results.rows["ceiling_ratio"] = None
        results.rows["ceiling_commits_per_sec"] = 2000.0 * (i + 1)
        results.environment["started_at"] = f"2026-12-0{i + 1}T00:00:00+00:00"
        write_run(results, tmp_path / f"r{i}")
    history = build_history(load_runs([tmp_path]))
    assert len(history.configs) == 2  # the base (workers=2) and workers=1
    for config in history.configs:
        for run, point in zip(history.runs, config.points["ceiling_ratio"], strict=True):
            rows = run.rows[run.rows["config_id"] == config.config_id]
            ratios = list(rows["jobs_per_sec"] / rows["ceiling_commits_per_sec"])
            assert point.estimate == pytest.approx(median(ratios))


def test_one_run_gets_an_honest_page(tmp_path):
    run = _run(tmp_path, "only", [1, 2], "abc1234", "2026-12-01T00:00:00+00:00", 0)
    path = history_page.write_history([run], tmp_path / "h.html")
    html = path.read_text()
    assert "Only one run" in html and "nothing is plotted yet" in html
    assert 'class="chart"' not in html
    assert "abc1234" in html  # the run is still in the table


def test_bad_inputs_name_the_path_and_the_fix(tmp_path):
    with pytest.raises(HistoryError, match="does not exist"):
        find_runs([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(HistoryError, match=r"empty holds no results.json and no run "
                                           r"directories"):
        find_runs([tmp_path / "empty"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(HistoryError, match=r"is not a results\.json"):
        find_runs([tmp_path / "notes.txt"])


def test_history_command_writes_the_page_and_prints_its_path(three_runs):
    result = CliRunner().invoke(cli, ["history", str(three_runs)])
    assert result.exit_code == 0, result.output
    path = three_runs / "history.html"  # default: inside the one directory of runs
    assert result.output.strip() == f"History: {path}"
    html = path.read_text()
    assert "<title>GigQ performance history</title>" in html
    # Self-contained: nothing is loaded from anywhere.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html


def test_history_command_takes_run_dirs_and_out(three_runs, tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    dirs = [str(three_runs / name) for name, *_ in RUNS[:2]]
    result = CliRunner().invoke(cli, ["history", *dirs, "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = (out / "history.html").read_text()
    assert "2 runs" in html and "f00d003" not in html


def _header_only(run_dir):
    """A results.json with its format header and nothing else (as report refuses it)."""
    from gigq.bench.results import Results, save

    save(Results(rows=pd.DataFrame(), spec={}, environment={}, skipped=[]), run_dir)
    return run_dir


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "holds no results.json"),
    (lambda p: _header_only(p / "header-only"), "holds no trials"),
])
def test_history_command_bad_input_is_one_line_exit_2(tmp_path, make, message):
    result = CliRunner().invoke(cli, ["history", str(make(tmp_path))])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gigq-bench history: ")
    assert message in lines[0] and "Traceback" not in result.output


def test_steady_mode_configurations_are_listed_not_plotted(tmp_path):
    for i in range(2):
        results = make_results({"mode": ["drain", "steady"]}, seed=i)
        results.environment["started_at"] = f"2026-12-0{i + 1}T00:00:00+00:00"
        write_run(results, tmp_path / f"r{i}")
    history = build_history(load_runs([tmp_path]))
    steady = _cid(2).replace("mode=drain", "mode=steady")
    assert [c.config_id for c in history.configs] == [_cid(2)]
    (listed,) = history.unplotted
    assert listed.config_id == steady and listed.reason.startswith("steady mode")


def test_runs_sharing_no_configuration_get_an_honest_page(tmp_path):
    _run(tmp_path, "a", [1], "aaaaaaa", "2026-12-01T00:00:00+00:00", 0,
         base={"job_type": "cpu"})
    _run(tmp_path, "b", [1], "bbbbbbb", "2026-12-02T00:00:00+00:00", 1,
         base={"job_type": "io"})
    history = build_history(load_runs([tmp_path]))
    assert history.configs == [] and len(history.unplotted) == 4
    html = history_page.render_html(history)
    assert "No configuration has valid trials in two of these runs" in html
    assert 'class="chart"' not in html


def test_a_copied_run_directory_is_counted_once(three_runs, tmp_path):
    # cp -r of one run is the same measurement, not a second run that agreed with it.
    runs = sorted(p for p in three_runs.iterdir() if p.is_dir())
    copy = tmp_path / "copy"
    shutil.copytree(runs[0], copy)
    assert len(load_runs([*runs, copy])) == len(runs)
