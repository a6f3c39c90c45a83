"""Hand-made gigq-bench results that follow docs/bench-results.md (format version 1).

The report is built and tested against these before (and independently of) the real
sweep. Numbers come from a simple deterministic model of GigQ's behaviour plus seeded
noise, so tests can compute the expected answers from the rows themselves.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gigq.bench.metrics import METRICS
from gigq.bench.results import CONFIG_COLUMNS, Results, save
from gigq.storage import SQLiteSettings, durability_class

BASE: dict[str, Any] = {
    "job_type": "noop",
    "workers": 2,
    "concurrency": 1,
    "journal_mode": "wal",
    "synchronous": "normal",
    "cache_size": None,
    "polling_interval": 0.1,
    "location": "disk",
    "jobs": 400,
    "mode": "drain",
    "submit": "batch",
}

# A sweep that varies every dimension the report charts (one factor at a time).
EVERY_DIMENSION: dict[str, list[Any]] = {
    "job_type": ["noop", "cpu", "io", "mixed"],
    "workers": [1, 2, 4],
    "concurrency": [1, 8],
    "journal_mode": ["wal", "delete", "truncate"],
    "synchronous": ["off", "normal", "full"],
    "cache_size": [None, -64000],
    "polling_interval": [0.02, 0.1, 0.5],
    "location": ["disk", "tmpfs", "memory"],
    "mode": ["drain", "steady"],
    "submit": ["single", "batch"],
}


def config_id(config: Mapping[str, Any]) -> str:
    """Stable identity of a configuration: its dimensions in a fixed order."""
    parts = []
    for key in sorted(config):
        value = config[key]
        parts.append(f"{key}={'default' if value is None else value}")
    return ",".join(parts)


def plan(
    dimensions: Mapping[str, list[Any]], base: Mapping[str, Any], design: str
) -> list[dict[str, Any]]:
    """The configurations of an ``oat`` or ``grid`` design, without duplicates."""
    configs: list[dict[str, Any]] = []
    if design == "grid":
        names = list(dimensions)
        for values in itertools.product(*(dimensions[n] for n in names)):
            configs.append({**base, **dict(zip(names, values, strict=True))})
    else:
        configs.append(dict(base))
        for name, values in dimensions.items():
            for value in values:
                configs.append({**base, name: value})
    unique: dict[str, dict[str, Any]] = {}
    for config in configs:
        unique.setdefault(config_id(config), config)
    return list(unique.values())


def skip_reason(config: Mapping[str, Any]) -> str | None:
    """Why a configuration cannot run (mirrors the sweep's validity rules)."""
    if config["location"] == "memory":
        if config["journal_mode"] == "wal":
            return "WAL is not available for :memory:"
        if config["workers"] > 1:
            return "an in-memory database cannot be shared across processes"
    return None


def _model(config: Mapping[str, Any], rng: random.Random) -> dict[str, float]:
    """Plausible metrics for a configuration: WAL scales with workers, DELETE does not."""
    wal = config["journal_mode"] == "wal"
    workers = config["workers"]
    rate = 900.0 if wal else 300.0
    rate *= min(workers, 2) ** 0.6 if wal else 1.0 / workers**0.3
    rate *= {"off": 1.4, "normal": 1.0, "full": 0.55, "extra": 0.5}[config["synchronous"]]
    rate *= {"disk": 1.0, "tmpfs": 1.6, "memory": 2.0}.get(config["location"], 0.8)
    rate *= 1.05 if config["cache_size"] is not None else 1.0
    io_scale = min(config["concurrency"], 8) ** 0.9
    rate *= {"noop": 1.0, "cpu": 0.25, "io": 0.06 * io_scale, "mixed": 0.3}[config["job_type"]]
    if config["submit"] == "single":
        rate *= 0.97
    noise = rng.gauss(1.0, 0.04)
    jobs_per_sec = rate * noise
    poll_ms = config["polling_interval"] * 1000
    steady = config["mode"] == "steady"
    wait_p50 = (poll_ms * 0.5 if steady else 200.0 + poll_ms * 0.1) * rng.gauss(1.0, 0.05)
    lock_share = min(0.9, (0.02 if wal else 0.07) * (workers - 1) * config["concurrency"] ** 0.5)
    metrics = {
        "jobs_per_sec": jobs_per_sec,
        "submit_per_sec": (20000.0 if config["submit"] == "batch" else 2500.0) * noise,
        "wait_p50_ms": wait_p50,
        "wait_p95_ms": wait_p50 * 1.9,
        "wait_p99_ms": wait_p50 * 2.3,
        "end_to_end_p50_ms": wait_p50 + 2.0,
        "end_to_end_p95_ms": wait_p50 * 1.9 + 3.0,
        "end_to_end_p99_ms": wait_p50 * 2.3 + 4.0,
        "lock_wait_share": lock_share * rng.gauss(1.0, 0.05),
        # WAL waits only to take the write lock; rollback modes mostly at COMMIT
        "lock_wait_begin_share": lock_share if wal else 0.3 * lock_share,
        "lock_wait_commit_share": 0.0 if wal else 0.6 * lock_share,
        "lock_wait_read_share": 0.0 if wal else 0.1 * lock_share,
        "lock_wait_p99_ms": 1.0 + 40 * lock_share,
        "lock_waits_per_job": 3 * lock_share,
        "busy_errors": 0,
        "cpu_per_1k_jobs": 0.8 + 0.1 * workers,
        "ceiling_ratio": None if config["location"] == "memory" else 0.4 * noise,
        "db_bytes_per_job": 600.0 + 2 * config.get("payload_bytes", 0),
    }
    assert set(metrics) == set(METRICS), "fixture out of date with the metric registry"
    return metrics


def make_results(
    dimensions: Mapping[str, list[Any]] | None = None,
    *,
    base: Mapping[str, Any] | None = None,
    design: str = "oat",
    repeat: int = 3,
    seed: int = 7,
    invalid: Iterable[tuple[Mapping[str, Any], int, str]] = (),
    profile: str = "test",
    jobs_auto: bool = False,
) -> Results:
    """A complete run: rows for every repetition of every runnable configuration.

    ``invalid`` lists ``(config overrides, repetition, reason)``: that trial is kept
    with ``valid = False``, as the sweep does with a trial that lost or doubled jobs.
    ``jobs_auto`` sizes each configuration's job count from its speed, as the sweep does
    for ``jobs = "auto"`` (so ``jobs`` differs between configurations without being swept).
    """
    dimensions = dict(EVERY_DIMENSION if dimensions is None else dimensions)
    base = {**BASE, **(base or {})}
    rng = random.Random(seed)
    configs = plan(dimensions, base, design)
    runnable, skipped = [], []
    for config in configs:
        reason = skip_reason(config)
        if reason:
            skipped.append({"config": config, "config_id": config_id(config), "reason": reason})
        else:
            runnable.append(config)
    broken = {
        (config_id({**base, **overrides}), rep): reason for overrides, rep, reason in invalid
    }
    rows = []
    order = 0
    for rep in range(1, repeat + 1):
        shuffled = list(runnable)
        rng.shuffle(shuffled)
        for config in shuffled:
            order += 1
            cid = config_id(config)
            metrics = _model(config, rng)
            reason = broken.get((cid, rep))
            settings = SQLiteSettings(
                journal_mode=config["journal_mode"], synchronous=config["synchronous"]
            )
            jobs = config["jobs"]
            if jobs_auto:
                jobs = max(100, int(_model(config, random.Random(0))["jobs_per_sec"] * 1.5))
            completed = jobs - (3 if reason else 0)
            rows.append({
                **{k: config.get(k) for k in CONFIG_COLUMNS},
                # Dimensions added later (queues, payload_bytes, ...) when a test varies them.
                **{k: v for k, v in config.items() if k not in CONFIG_COLUMNS},
                "jobs": jobs,
                "config_id": cid,
                "trial_id": f"t{order:04d}",
                "repetition": rep,
                "order": order,
                "version": "current",
                "started_at": f"2025-11-27T10:{order // 60 % 60:02d}:{order % 60:02d}",
                **metrics,
                "durability": durability_class(
                    settings, in_memory=config["location"] == "memory"
                ),
                "valid": reason is None,
                "invalid_reason": reason,
                "jobs_completed": completed,
                "duration_s": jobs / metrics["jobs_per_sec"],
                "ceiling_commits_per_sec": 2400.0,
                "note": None,
            })
    spec = {
        "profile": profile,
        "design": design,
        "base": {**base, "jobs": "auto"} if jobs_auto else base,
        "dimensions": dimensions,
        "repeat": repeat,
        "seed": seed,
        "command": f"gigq-bench sweep --profile {profile} --repeat {repeat} --seed {seed}",
        "groups": [{"name": "main", "base": {}, "dimensions": dimensions}],
        "job_sizes": {"cpu_iterations": 20000, "io_ms": 10.0},
        "versions": {"current": {"interpreter": "/usr/bin/python3", "description": None,
                                 "gigq_version": "1.0.0.dev0"}},
        "interrupted": False,
    }
    environment = {
        "hostname": "bench-host",
        "cpu_model": "Test CPU @ 2.0GHz",
        "cores": 2,
        "memory_bytes": 24 * 1024**3,
        "os": "Linux-6.1-x86_64",
        "python": "3.11.2",
        "sqlite_version": "3.40.1",
        "gigq_version": "1.0.0.dev0",
        "git_commit": "abc1234",
        "filesystems": {
            "disk": {"path": "/work/tmp", "fs_type": "ext4"},
            "tmpfs": {"path": "/dev/shm", "fs_type": "tmpfs"},
            "memory": {"path": ":memory:", "fs_type": None},
        },
        "command_line": spec["command"],
        "started_at": "2025-11-27T10:00:00+00:00",
        "finished_at": "2025-11-27T10:03:25+00:00",
    }
    return Results(
        rows=pd.DataFrame(rows), spec=spec, environment=environment, skipped=skipped
    )


def all_skipped() -> Results:
    """A run in which no trial ran: every configuration was skipped."""
    results = make_results({"location": ["memory"]}, base={"location": "memory"})
    assert results.rows.empty and results.skipped
    return results


def write_run(results: Results, out_dir: str | Path) -> Path:
    """Save ``results`` as a run directory (results.json + results.csv); returns it."""
    save(results, out_dir)
    return Path(out_dir)


NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "explore_results.ipynb"


def run_notebook(results_dir: Path, monkeypatch) -> list:
    """Execute notebooks/explore_results.ipynb on ``results_dir``; returns its code cells.

    Raises nbclient's CellExecutionError, with the traceback, if any cell fails.
    """
    import nbclient
    import nbformat

    monkeypatch.setenv("GIGQ_RESULTS", str(results_dir))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the inline backend shows the charts
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    return [c for c in nb.cells if c.cell_type == "code"]
