"""``gigq-bench tune`` for real: a tiny run end to end, its files, and the settings file
round trip through ``gigq worker --config`` and ``Worker.from_config``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jobfns
import pytest
from conftest import journal_mode_of, registered_workers, run_cli

from gigq import Job, JobQueue, SQLiteSettings, Worker
from gigq.bench.results import load
from gigq.bench.tune.output import (
    environment,
    python_code,
    toml_text,
    worker_config,
    worker_flags,
    write_toml,
)
from gigq.bench.tune.search import TUNED, meets_floor
from gigq.storage import DURABILITY_CLASSES
from gigq.worker import load_config


def _tune(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gigq.bench.cli", "tune", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)




def _run_worker_with(config_file: Path, db: Path, jobs: int = 12) -> dict:
    """Submit ``jobs`` jobs with the file's storage settings, run `gigq worker --config
    FILE --burst`, and return what the file asked for."""
    wanted = load_config(config_file)
    storage = {k: wanted[k] for k in ("journal_mode", "synchronous", "cache_size")
               if k in wanted}
    queue = JobQueue(str(db), settings=SQLiteSettings(**storage))
    queue.submit_many([Job("n", jobfns.noop) for _ in range(jobs)])
    done = run_cli("--db", str(db), "worker", "--config", str(config_file), "--burst")
    assert done.returncode == 0, done.stderr
    assert queue.stats()["completed"] == jobs
    return wanted


def test_tune_end_to_end_with_a_tiny_budget(tmp_path):
    out = tmp_path / "run"
    settings_file = tmp_path / "tuned.toml"
    proc = _tune("--job-type", "io", "--budget", "20s", "--out", str(out), "--write",
                 str(settings_file), "--seed", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    assert "Tune finished: io jobs, throughput, durability floor crash-safe" in text
    assert "Best found:" in text and "Recommended:" in text
    # 20 s buy fewer than the 6 pairs a gain needs, so "Not significant" is likely.
    assert ("Significant gain over GigQ's defaults" in text
            or "The defaults are fine here" in text or "Not significant: " in text
            or "Inconclusive: " in text)
    assert "gigq --db jobs.db worker" in text and "GIGQ_JOURNAL_MODE=" in text
    assert "Worker(\"jobs.db\"" in text and "SQLiteSettings(" in text
    assert any(f"— {d} (" in text for d in DURABILITY_CLASSES)
    assert "trials" in proc.stderr  # the progress line

    doc = json.loads((out / "tune.json").read_text())
    assert doc["format"] == "gigq-bench-tune" and doc["context"]["floor"] == "crash-safe"
    assert doc["verdict"] in ("gain", "defaults-fine", "not-significant", "inconclusive")
    assert doc["budget_s"] == 20 and doc["evaluations"] == len(doc["observations"]) >= 1
    stages = {o["stage"] for o in doc["observations"]}
    for o in doc["observations"]:
        assert meets_floor(o["settings"], "crash-safe")
    # How far 20 s get depends on the machine's load: when the search's best is the
    # defaults themselves there is nothing to compare them with (no final stage).
    compared = "final" in stages
    assert "coarse" in stages
    comparison = doc["comparison"]
    if compared:
        assert comparison["pairs"] >= 2
        assert comparison["ratio"]["low"] <= comparison["ratio"]["high"]
    else:
        assert doc["verdict"] in ("defaults-fine", "inconclusive") and not comparison
    rec = doc["recommendation"]
    assert set(rec["settings"]) == set(TUNED) and rec["durability"] in DURABILITY_CLASSES

    rows = load(out)
    assert len(rows) == doc["evaluations"]
    assert {"tune_stage", "tune_role", "tune_round"} <= set(rows.columns)
    if compared:
        assert set(rows["tune_role"]) >= {"winner", "reference"}
    assert rows["job_type"].eq("io").all()
    assert (out / "results.csv").exists()
    page = (out / "index.html").read_text()
    assert "gigq-bench tune" in page and page.count("<svg") >= (2 if compared else 1)
    assert 'id="verdict"' in page and rec["flags"].split(" --")[0] in page

    # The written file is what was recommended, and gigq worker applies it.
    assert worker_config(rec["settings"]) == load_config(settings_file)
    db = tmp_path / "check.db"
    wanted = _run_worker_with(settings_file, db)
    assert journal_mode_of(db) == wanted["journal_mode"]
    workers = registered_workers(db)
    assert len(workers) == wanted.get("processes", 1)
    assert {c for _, c in workers} == {wanted["concurrency"]}
    assert not list(out.rglob("*.db")), "trial databases are removed"

    # The page renders again from what the run saved, by either spelling of the command.
    for command in (["-m", "gigq.bench.tune.report"], ["-m", "gigq.bench.cli", "tune-report"]):
        (out / "index.html").unlink()
        again = subprocess.run([sys.executable, *command, str(out)], cwd=tmp_path,
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip() == str(out / "index.html")
        assert 'id="verdict"' in (out / "index.html").read_text()


def test_settings_file_round_trip_through_gigq_worker_and_from_config(tmp_path):
    settings = {"workers": 2, "concurrency": 3, "journal_mode": "delete",
                "synchronous": "full", "cache_size": -10000, "polling_interval": 0.2}
    path = write_toml(tmp_path / "tuned.toml", settings, ["made by a test"])
    assert path.read_text().startswith("# made by a test\n[worker]\n")
    db = tmp_path / "jobs.db"
    _run_worker_with(path, db, jobs=20)
    assert journal_mode_of(db) == "delete"
    assert sorted(c for _, c in registered_workers(db)) == [3, 3]  # 2 processes x 3 threads
    worker = Worker.from_config(str(db), path)
    try:
        assert worker.concurrency == 3 and worker.polling_interval == 0.2
        assert worker._storage.settings == SQLiteSettings(
            journal_mode="delete", synchronous="full", cache_size=-10000)
    finally:
        worker.close()


def test_every_form_of_the_settings_says_the_same():
    settings = {"workers": 1, "concurrency": 16, "journal_mode": "wal",
                "synchronous": "normal", "cache_size": None, "polling_interval": 1.0}
    assert worker_flags(settings) == ("gigq --db jobs.db worker --concurrency 16 "
                                      "--polling-interval 1 --journal-mode wal "
                                      "--synchronous normal")
    assert environment(settings) == {"GIGQ_JOURNAL_MODE": "wal", "GIGQ_SYNCHRONOUS": "normal",
                                     "GIGQ_POLLING_INTERVAL": "1"}
    code = python_code(settings)
    namespace: dict = {}
    exec(code.replace("worker.start()", "worker.close()"), namespace)  # it runs as printed
    assert namespace["worker"].concurrency == 16
    assert "processes" not in toml_text(settings)  # one process: a plain worker
    assert "cache_size" not in toml_text(settings)
    with_cache = {**settings, "workers": 4, "cache_size": -64000}
    assert "--processes 4" in worker_flags(with_cache) and "--cache-size -64000" in \
        worker_flags(with_cache)
    assert environment(with_cache)["GIGQ_CACHE_SIZE"] == "-64000"


@pytest.mark.parametrize("args,fragment", [
    (["--budget", "soon"], "invalid duration"),
    (["--job", "no_such_module_xyz.f"], "cannot import"),
    (["--job-type", "io", "--job", "os.getcwd"], "not both"),
    (["--params", "{}"], "--params goes with --job"),
    (["--location", "memory"], "in-memory database"),
    (["--location", "/no/such/dir"], "does not exist"),
    (["--job-size", "io_ms=fast"], "must be a number"),
    # Parsed by the sweep's one --job-size parser, which lists the known names.
    (["--job-size", "io_ms"], "expected NAME=NUMBER, e.g. io_ms=10; known: "),
])
def test_bad_input_stops_before_any_trial(tmp_path, args, fragment):
    proc = _tune(*args, "--out", str(tmp_path / "run"), cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert fragment in proc.stderr
    assert not (tmp_path / "run" / "tune.json").exists()


@pytest.mark.parametrize("command", [["-m", "gigq.bench.tune.report"],
                                     ["-m", "gigq.bench.cli", "tune-report"]])
def test_tune_report_has_help_and_rejects_what_is_not_a_tune_run(tmp_path, command):
    helped = subprocess.run([sys.executable, *command, "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert "Usage:" in helped.stdout and "DIR" in helped.stdout
    assert "Exit status: 0" in helped.stdout
    assert not (tmp_path / "--help").exists() and "not a tune run" not in helped.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = subprocess.run([sys.executable, *command, str(empty)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.startswith(f"Error: {empty} is not a tune run (")
    assert "Traceback" not in bad.stderr and not (empty / "index.html").exists()


@pytest.mark.parametrize("content, fragment", [
    ("[]", "holds []"), ("null", "holds null"), ('{"x": 1}', "missing context"),
    ("{not json", "cannot read"),
])
def test_tune_report_names_the_fix_for_a_malformed_tune_json(tmp_path, content, fragment):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "tune.json").write_text(content)
    bad = subprocess.run([sys.executable, "-m", "gigq.bench.cli", "tune-report", str(run_dir)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert fragment in bad.stderr and "--out directory of a 'gigq-bench tune' run" in bad.stderr
    assert not (run_dir / "index.html").exists()


def test_a_ram_location_needs_the_unsafe_floor(tmp_path):
    from gigq.bench.sweep.locations import find_tmpfs

    ram = find_tmpfs()
    if ram is None:
        pytest.skip("no tmpfs on this machine")
    proc = _tune("--location", ram, "--out", str(tmp_path / "run"), cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "RAM file system" in proc.stderr


def test_report_exports_its_charts_for_documents(tmp_path):
    import report_fixtures as fx

    from gigq.bench.report.render import export_charts
    from gigq.bench.results import save

    save(fx.make_results(), tmp_path / "run")
    paths = export_charts(tmp_path / "run", tmp_path / "figures")
    assert paths and all(p.suffix == ".svg" for p in paths)
    for path in paths:
        text = path.read_text()
        assert text.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in text
    from gigq.bench.cli import main

    assert main(["report", str(tmp_path / "run"), "--charts", str(tmp_path / "again")]) == 0
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(p.name for p in paths)
