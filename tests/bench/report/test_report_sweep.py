"""The report and the notebook on results of a tiny real sweep, through the real CLI.

Runs `gigq-bench sweep` (150 jobs per trial, six trials) in a subprocess, then
`gigq-bench report`, and executes the notebook on the same run directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from report_fixtures import run_notebook

TINY = """\
extends = "none"
design = "oat"
repeat = 2
seed = 5

[base]
job_type = "noop"
workers = 1
concurrency = 1
journal_mode = "wal"
synchronous = "normal"
polling_interval = 0.05
location = "disk"
jobs = 150
mode = "drain"
submit = "batch"

[dimensions]
workers = [1, 2]
journal_mode = ["wal", "delete"]
"""
SECTIONS = ["summary", "charts", "correctness", "results", "environment"]


def gigq_bench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed `gigq-bench` entry point (as a user would) in ``cwd``."""
    code = "import sys; from gigq.bench.entry import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("sweep")
    (work / "tiny.toml").write_text(TINY)
    proc = gigq_bench("sweep", "--config", "tiny.toml", "--out", "run", cwd=work)
    # 1 = a trial failed verification: still a complete run with a report
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return work / "run", proc


def parse(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(), "html.parser")


def test_sweep_writes_the_report_and_prints_its_path(sweep_run):
    run, proc = sweep_run
    report = run / "index.html"
    assert report.exists()
    assert proc.stdout.rstrip().splitlines()[-1].startswith(f"Report: {Path('run', 'index.html')}")
    page = parse(report)
    assert [s["id"] for s in page.select("main > section")] == SECTIONS
    assert page.select_one("#best-noop") is not None
    assert page.select("#charts figure svg")  # workers was swept: throughput is drawn


def test_report_command_renders_again(sweep_run, tmp_path):
    run, _ = sweep_run
    out = tmp_path / "again.html"
    proc = gigq_bench("report", str(run), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"Report: {out}" in proc.stdout
    assert parse(out).select_one("#best-noop") is not None


def test_report_command_rejects_a_directory_without_results(tmp_path):
    proc = gigq_bench("report", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    assert "results.json" in proc.stderr
    assert not (tmp_path / "index.html").exists()


def test_sweep_without_report(tmp_path):
    (tmp_path / "tiny.toml").write_text(
        TINY.replace("workers = [1, 2]", "workers = [1]")
        .replace('journal_mode = ["wal", "delete"]', "").replace("repeat = 2", "repeat = 1"))
    proc = gigq_bench("sweep", "--config", "tiny.toml", "--out", "run", "--no-report",
                      cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    assert (tmp_path / "run" / "results.json").exists()
    assert not (tmp_path / "run" / "index.html").exists()


def test_notebook_runs_on_the_sweep_results(sweep_run, monkeypatch):
    run, _ = sweep_run
    cells = run_notebook(run, monkeypatch)
    assert "valid" in "".join(o.get("text", "") for o in cells[1].get("outputs", []))
    charts = [c for c in cells if any("image/png" in o.get("data", {})
                                      for o in c.get("outputs", []))]
    assert len(charts) == 2
