"""End to end: tiny real sweeps with real worker processes and real SQLite files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gigq.bench.results import load
from gigq.bench.sweep import trial_worker
from gigq.bench.sweep.locations import Locations, Scratch
from gigq.bench.sweep.plan import ROW_COLUMNS, run_plan
from gigq.bench.sweep.space import DEFAULT_BASE, build_spec, canonical_config, make_plan
from gigq.bench.sweep.trial import Harness, TrialFailure, interpreter_capabilities

TINY = """
extends = "none"
repeat = 1
seed = 7

[base]
workers = 2
jobs = 300
location = "disk"
polling_interval = 0.5

[dimensions]
journal_mode = ["wal", "delete"]
location = ["disk", "memory"]

[[group]]
name = "steady on disk"
base = { mode = "steady", arrival_rate = 200, duration = 0.5, polling_interval = 0.1 }

[[group]]
name = "in-memory"
base = { location = "memory", workers = 1, journal_mode = "memory", concurrency = 2 }
"""


def _sweep(args, **kw):
    return subprocess.run([sys.executable, "-m", "gigq.bench.cli", "sweep", *args],
                          capture_output=True, text=True, timeout=300, **kw)


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if "gigq-bench-scratch" in p.name or p.suffix == ".db"]


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if text in cmd and "trial_worker" in cmd:
                pids.append(int(entry.name))
    return pids


def test_tiny_sweep_end_to_end(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "run"
    proc = _sweep(["--config", str(config), "--out", str(out), "--no-report"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Recommended configuration per job type" in proc.stdout
    assert "results.json" in proc.stdout and "results.csv" in proc.stdout
    assert "trials" in proc.stderr  # the progress line

    df = load(out)
    assert list(df.columns)[: len(ROW_COLUMNS)] == list(ROW_COLUMNS)
    assert len(df) == 4 and df["valid"].all(), df[["config_id", "invalid_reason"]]
    drain = df[df["mode"] == "drain"]
    assert set(drain["journal_mode"]) == {"wal", "delete", "memory"}
    assert (drain["jobs_completed"] == 300).all() and (drain["jobs"] == 300).all()
    assert set(drain["location"]) == {"disk", "memory"}
    steady = df[df["mode"] == "steady"].iloc[0]
    assert steady["location"] == "disk" and steady["jobs_completed"] == 100
    assert df["jobs_per_sec"].gt(0).all() and df["cpu_per_1k_jobs"].gt(0).all()
    assert df["lock_wait_share"].between(0, 1).all()
    assert df["ceiling_commits_per_sec"].gt(0).all()
    assert set(df["durability"]) == {"crash-safe", "unsafe"}
    assert sorted(df["order"]) == [1, 2, 3, 4] and set(df["version"]) == {"current"}

    doc = json.loads((out / "results.json").read_text())
    assert doc["spec"]["repeat"] == 1 and doc["spec"]["interrupted"] is False
    assert "journal_mode" in doc["spec"]["dimensions"]
    env = doc["environment"]
    for key in ("cpu_model", "cores", "memory_bytes", "os", "python", "sqlite_version",
                "gigq_version", "git_commit", "filesystems", "command_line", "started_at",
                "finished_at"):
        assert key in env, key
    assert env["filesystems"]["disk"]["fs_type"]
    (skip,) = doc["skipped"]
    assert skip["config"]["location"] == "memory" and "one process" in skip["reason"]
    assert (out / "results.csv").read_text().count("\n") == 5
    assert not _leftovers(out), "trial databases and scratch directories are removed"


def test_two_versions_are_interleaved_and_labelled(tmp_path):
    spec = build_spec(config_file=None, set_values=["jobs=200", "workers=1"])
    spec.dimensions, spec.groups, spec.repeat = {}, [], 2
    locs = Locations(tmp_path)
    plan = make_plan(spec, locs)
    outcome = run_plan(plan, tmp_path, versions={"baseline": sys.executable, "current": None},
                       locations=locs)
    rows = outcome.results.rows
    assert sorted(rows["version"]) == ["baseline", "baseline", "current", "current"]
    assert rows["valid"].all()
    assert list(rows["repetition"]) == [1, 1, 2, 2]  # versions run back to back
    versions = outcome.results.spec["versions"]
    assert versions["baseline"]["gigq_version"] and versions["current"]["capabilities"]["burst"]


def test_failing_worker_interpreter_gives_an_invalid_trial(tmp_path):
    broken = tmp_path / "broken-python"
    broken.write_text("#!/bin/sh\necho 'cannot start' >&2\nexit 1\n")
    broken.chmod(0o755)
    locs = Locations(tmp_path)
    scratch = Scratch()
    try:
        harness = Harness(locs, scratch, interpreter=str(broken), timeout=30)
        outcome = harness.run(canonical_config({**DEFAULT_BASE, "jobs": 50}))
    finally:
        scratch.cleanup()
    assert outcome.valid is False
    reason = outcome.values["invalid_reason"]
    assert "submit process exited (code 1)" in reason and "cannot start" in reason
    assert not _leftovers(tmp_path)


def test_driver_detects_this_gigq_capabilities():
    caps = trial_worker.capabilities()
    assert all(caps[k] for k in ("settings", "burst", "lock_stats", "submit_many", "backup"))
    assert interpreter_capabilities(sys.executable)["gigq_version"] == caps["gigq_version"]


def test_unusable_interpreter_is_refused_before_running(tmp_path):
    broken = tmp_path / "not-python"
    broken.write_text("#!/bin/sh\necho 'no gigq here' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(TrialFailure, match=r"cannot run GigQ trials.*no gigq here"):
        interpreter_capabilities(str(broken))
    out = tmp_path / "out"
    proc = _sweep(["--python", str(broken), "--out", str(out)])
    assert proc.returncode == 2 and "--python" in proc.stderr
    assert not (out / "results.json").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to look for orphans")
def test_ctrl_c_keeps_finished_trials_and_leaves_no_process(tmp_path):
    config = tmp_path / "long.toml"
    config.write_text('extends = "none"\nrepeat = 20\n[base]\nworkers = 2\njobs = 400\n'
                      '[dimensions]\nworkers = [1, 2]\n')
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "gigq.bench.cli", "sweep", "--config",
                             str(config), "--out", str(out), "--no-report"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            results = out / "results.json"
            if results.exists():
                try:
                    if json.loads(results.read_text())["rows"]:
                        break
                except ValueError:
                    pass
            time.sleep(0.2)
        else:
            pytest.fail("no trial finished")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert "Interrupted" in stderr
    doc = json.loads((out / "results.json").read_text())
    assert doc["spec"]["interrupted"] is True and doc["rows"]
    assert all(r["valid"] for r in doc["rows"])
    assert not _processes_mentioning(str(out))
    assert not _leftovers(out)
    assert os.path.exists(out / "results.csv")
