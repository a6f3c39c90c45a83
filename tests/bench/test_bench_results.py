"""Results files: rows with the standard columns survive a save/load round trip."""

from __future__ import annotations

import json
import math

import pytest

from gigq.bench import results
from gigq.bench.metrics import METRICS
from gigq.bench.results import Results, ResultsError, load, load_results, save
from gigq.bench.space import DEFAULT_BASE, config_id, normalise
from gigq.bench.sweep import ROW_COLUMNS, rows_frame


def _row(i, valid=True, rate=100.0):
    config = normalise(DEFAULT_BASE)
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
