"""Results files: rows with the standard columns survive a save/load round trip."""

from __future__ import annotations

import json
import math

import pytest

from gigq.bench import results
from gigq.bench.metrics import METRICS
from gigq.bench.results import Results, ResultsError, load, load_results, save
from gigq.bench.sweep.plan import ROW_COLUMNS, rows_frame
from gigq.bench.sweep.space import DEFAULT_BASE, canonical_config, config_id


def _row(i, valid=True, rate=100.0):
    config = canonical_config(DEFAULT_BASE)
    row = {**config, "jobs": 1000, "config_id": config_id(config), "trial_id": f"t{i:04d}",
           "repetition": i, "order": i, "version": "current", "started_at": "2026-01-01T00:00:00",
           **{m: 1.5 for m in METRICS}, "jobs_per_sec": rate, "ceiling_ratio": float("nan"),
           "durability": "crash-safe", "valid": valid,
           "invalid_reason": None if valid else "2 jobs never ran", "jobs_completed": 1000,
           "duration_s": 1.0, "ceiling_commits_per_sec": None, "note": None, "load_1m": 0.5}
    return row


def test_round_trip(tmp_path):
    rows = [_row(1), _row(2, valid=False)]
    res = Results(rows=rows_frame(rows), spec={"profile": "quick", "repeat": 2},
                  environment={"cores": 2}, skipped=[{"config": {}, "config_id": "x",
                                                       "reason": "why"}])
    json_path, csv_path = save(res, tmp_path)
    assert json_path.exists() and csv_path.exists()
    doc = json.loads(json_path.read_text())
    assert doc["format"] == "gigq-bench-results" and doc["format_version"] == 1
    assert doc["rows"][0]["ceiling_ratio"] is None  # NaN is written as null
    df = load(tmp_path)
    assert list(df.columns) == list(ROW_COLUMNS)
    assert len(df) == 2 and df.attrs["spec"]["profile"] == "quick"
    assert df.attrs["skipped"][0]["reason"] == "why"
    back = load_results(json_path)
    assert len(back.valid_rows) == 1
    assert math.isnan(back.rows["ceiling_ratio"].iloc[0])
    assert csv_path.read_text().splitlines()[0].split(",") == list(ROW_COLUMNS)


def _strict_json(text):
    def refuse(token):
        raise AssertionError(f"{token} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_every_json_file_is_written_by_one_cleaner(tmp_path):
    """results.json, tune.json and the gate's --json go through results.json_ready:
    numpy values and NaN/inf nested in lists and dicts (and numpy dict keys) come out
    as plain JSON, never as NaN tokens, strings or a TypeError."""
    import numpy as np

    from gigq.bench.tune.output import write_tune_json

    nested = {"values": [np.float64("nan"), np.int64(3), (np.float32(0.5), float("inf"))],
              "by_workers": {np.int64(4): np.float64(1.5)}}
    plain = {"values": [None, 3, [0.5, None]], "by_workers": {"4": 1.5}}
    row = {**_row(1), "note": nested["values"]}
    save(Results(rows=rows_frame([row])), tmp_path)
    assert _strict_json((tmp_path / "results.json").read_text())["rows"][0]["note"] == \
        plain["values"]
    tune_json = write_tune_json(tmp_path / "tune.json", nested)
    assert _strict_json(tune_json.read_text()) == plain
    assert results.json_ready(nested) == plain


def test_empty_results_have_the_header(tmp_path):
    save(Results(rows=rows_frame([])), tmp_path)
    header = (tmp_path / "results.csv").read_text().strip().split(",")
    assert header == list(ROW_COLUMNS)
    assert load(tmp_path).empty


def test_bad_paths_and_versions(tmp_path):
    with pytest.raises(ResultsError, match=r"holds no results\.json"):
        load(tmp_path)
    other = tmp_path / "results.json"
    other.write_text(json.dumps({"format": results.FORMAT, "format_version": 99}))
    with pytest.raises(ResultsError, match="upgrade"):
        load(tmp_path)


# --- Hand-edited results.json rows are refused at load, naming file, row and field ---

def _run_with(tmp_path, edit, top=None):
    """A saved 5-trial run whose results.json rows (and top level) were edited by hand."""
    save(Results(rows=rows_frame([_row(i) for i in range(1, 6)]),
                 spec={"profile": "quick"}, environment={"cores": 2}), tmp_path)
    path = tmp_path / "results.json"
    doc = json.loads(path.read_text())
    doc["rows"] = edit(doc["rows"])
    doc.update(top or {})
    path.write_text(json.dumps(doc))
    return path


def _set(field, value, only=None):
    def edit(rows):
        for i, row in enumerate(rows):
            if only is None or i == only:
                row[field] = value
        return rows
    return edit


BAD_ROWS = [
    (_set("jobs_per_sec", -5), r"trial t0001 \(row 1\): jobs_per_sec is -5, it cannot be below 0"),
    (_set("wait_p99_ms", "abc", only=2), r"trial t0003 \(row 3\): wait_p99_ms is 'abc'"),
    (_set("jobs_per_sec", float("inf"), only=1), r"trial t0002 \(row 2\): jobs_per_sec is inf"),
    (_set("cpu_per_1k_jobs", [1, 2], only=0), r"row 1\): cpu_per_1k_jobs is \[1, 2\]"),
    (_set("busy_errors", True, only=0), r"busy_errors is True, it must be null or a finite"),
    (lambda rows: rows + [dict(r) for r in rows],
     r"trial t0001 \(row 6\): repeats the trial of trial t0001 \(row 1\)"),
    (_set("valid", "yes", only=0), r"row 1\): valid is 'yes', it must be true or false"),
    (_set("valid", None, only=4), r"trial t0005 \(row 5\): valid is None"),
    (_set("repetition", "2", only=1),
     r"trial t0002 \(row 2\): repetition is '2', it must be an integer"),
    (_set("repetition", 1.5, only=1), r"repetition is 1.5"),
]


@pytest.mark.parametrize(("edit", "message"), BAD_ROWS)
def test_bad_row_values_are_refused(tmp_path, edit, message):
    path = _run_with(tmp_path, edit)
    with pytest.raises(ResultsError, match=message) as info:
        load_results(tmp_path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_duplicate_trials_without_trial_id_are_refused(tmp_path):
    def edit(rows):
        for row in rows:
            del row["trial_id"]
        return [*rows, dict(rows[0])]
    _run_with(tmp_path, edit)
    with pytest.raises(ResultsError, match=r"row 6: repeats the trial of row 1 .*repetition 1"):
        load_results(tmp_path)


@pytest.mark.parametrize("field", ["environment", "spec"])
@pytest.mark.parametrize("value", [[1, 2], "cores", 3])
def test_environment_and_spec_must_be_objects(tmp_path, field, value):
    _run_with(tmp_path, lambda rows: rows, top={field: value})
    with pytest.raises(ResultsError, match=f"'{field}' is a .*, it must be an object"):
        load_results(tmp_path)


def test_valid_edge_values_still_load(tmp_path):
    """null metrics, zero, integral floats for repetition and a null environment load."""
    def edit(rows):
        rows[0]["jobs_per_sec"] = None
        rows[1]["busy_errors"] = 0
        rows[2]["repetition"] = 3.0
        return rows
    _run_with(tmp_path, edit, top={"environment": None})
    loaded = load_results(tmp_path)
    assert len(loaded.rows) == 5 and loaded.environment == {}
    assert math.isnan(loaded.rows["jobs_per_sec"].iloc[0])


@pytest.mark.parametrize("command", ["report", "compare"])
@pytest.mark.parametrize(("edit", "top"), [
    (_set("jobs_per_sec", float("inf"), only=1), None),
    (_set("repetition", "two", only=1), None),
    (lambda rows: rows, {"environment": ["cores", 2]}),
    (_set("jobs_per_sec", -5), None),
    (_set("valid", None, only=0), None),
])
def test_cli_exits_2_with_one_line(tmp_path, command, edit, top):
    from click.testing import CliRunner

    from gigq.bench.cli import cli

    path = _run_with(tmp_path / "run", edit, top)
    args = [command, str(path)] + ([str(path)] if command == "compare" else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], result.output
