"""Hand-made gigq-bench results (docs/bench-results.md) for the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

BASE_CONFIG = {
    "job_type": "noop", "workers": 1, "concurrency": 1, "journal_mode": "wal",
    "synchronous": "normal", "cache_size": None, "polling_interval": 0.1,
    "location": "disk", "jobs": 2000, "mode": "drain", "submit": "batch",
}


def config_id(config: dict[str, Any]) -> str:
    """A stable id from the configuration's values, like the sweep's."""
    return ",".join(f"{k}={config[k]}" for k in sorted(config))


def make_rows(
    configs: list[dict[str, Any]],
    versions: dict[str, float],
    reps: int,
    seed: int = 0,
    noise: float = 0.05,
    drift: float = 0.08,
) -> list[dict[str, Any]]:
    """Interleaved rows: per repetition and configuration, one trial per version.

    ``versions`` maps a label to its true speed factor (1.0 = baseline speed; 0.7 = each
    job takes 1/0.7 as long). Noise is log-normal, plus a drift shared by the trials of
    one repetition (what pairing cancels).
    """
    rng = np.random.default_rng(seed)
    rows, order = [], 0
    for rep in range(1, reps + 1):
        for ci, cfg in enumerate(configs):
            shared = rng.normal(0, drift)
            labels = list(versions)
            rng.shuffle(labels)
            for label in labels:
                speed = versions[label]
                jitter = np.exp(rng.normal(0, noise) + shared)
                jobs_per_sec = 4000.0 * (ci + 1) * speed * jitter
                order += 1
                rows.append({
                    **cfg,
                    "config_id": config_id(cfg), "trial_id": f"t{order}",
                    "repetition": rep, "order": order, "version": label,
                    "started_at": "2025-01-01T00:00:00",
                    "jobs_per_sec": jobs_per_sec,
                    "submit_per_sec": 50000.0 * jitter,
                    "end_to_end_p50_ms": cfg["jobs"] / jobs_per_sec * 500,
                    "cpu_per_1k_jobs": 0.2 / speed * jitter,
                    "lock_wait_share": None,
                    "durability": "crash-safe", "valid": True, "invalid_reason": None,
                    "jobs_completed": cfg["jobs"], "duration_s": cfg["jobs"] / jobs_per_sec,
                    "note": None,
                })
    return rows


def write_run(path: Path, rows: list[dict[str, Any]], versions: dict[str, str] | None = None,
              environment: dict[str, Any] | None = None) -> Path:
    """Write a results.json (format version 1) into ``path``; returns the directory."""
    path.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": "gigq-bench-results", "format_version": 1,
        "spec": {"profile": "test", "design": "oat", "repeat": 1, "seed": 0,
                 "versions": versions or {}},
        "environment": environment or {"hostname": "test", "git_commit": "abc123"},
        "skipped": [], "rows": rows,
    }
    (path / "results.json").write_text(json.dumps(doc))
    return path
