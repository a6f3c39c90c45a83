"""notebooks/explore_results.ipynb runs top to bottom on results made by the test suite."""

from __future__ import annotations

import pytest
import report_fixtures as fx
from report_fixtures import run_notebook

pytest.importorskip("nbclient")

def outputs(cell, kind: str) -> list:
    return [o for o in cell.get("outputs", []) if kind in o.get("data", {})]


def text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


def test_notebook_reproduces_two_charts_and_answers_its_own_question(tmp_path, monkeypatch):
    results = fx.make_results(
        {"job_type": ["noop", "io"], "workers": [1, 2], "journal_mode": ["wal", "delete"],
         "synchronous": ["normal", "full"]},
        design="grid", repeat=2, invalid=[({"workers": 2}, 1, "1 job ran twice")],
    )
    run = fx.write_run(results, tmp_path / "run")
    cells = run_notebook(run, monkeypatch)
    loaded = text(cells[1])
    assert f"{len(results.rows)} trials, {len(results.rows) - 1} valid" in loaded
    charts = [c for c in cells if outputs(c, "image/png")]
    assert len(charts) == 2
    pivot = cells[-1]
    assert "CPU s per 1,000 jobs" in text(pivot)
    assert len(outputs(pivot, "text/html")) == 2


def test_notebook_runs_on_a_run_where_nothing_was_measured(tmp_path, monkeypatch):
    run = fx.write_run(fx.all_skipped(), tmp_path / "empty")
    cells = run_notebook(run, monkeypatch)
    assert "0 trials, 0 valid, 1 configurations skipped" in text(cells[1])
    assert not [c for c in cells if outputs(c, "image/png")]
    assert "no CPU measurements" in text(cells[-1])
