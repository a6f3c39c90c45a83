"""The raw SQLite commit-rate probe behind ``ceiling_ratio``.

One connection, one thread, plain ``sqlite3``: ``BEGIN IMMEDIATE`` → insert one
small row → ``COMMIT``, as fast as it goes, on a fresh database in the same
location with the same journal mode, synchronous level and cache size as the
trial. That is what the disk and SQLite allow for one write transaction per job;
GigQ's jobs/s divided by it says how close the queue gets to that ceiling.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from collections.abc import Mapping
from typing import Any

DEFAULT_SECONDS = 0.3
MIN_COMMITS = 30


def probe_key(config: Mapping[str, Any]) -> tuple[Any, ...]:
    """Configurations sharing this key share a ceiling (location and SQLite settings)."""
    return (config["location"], config["journal_mode"], config["synchronous"],
            config["cache_size"])


def commit_rate(
    directory: str | None,
    journal_mode: str,
    synchronous: str,
    cache_size: int | None = None,
    seconds: float = DEFAULT_SECONDS,
    min_commits: int = MIN_COMMITS,
) -> float:
    """Single-row commits per second on a fresh database in ``directory``.

    ``directory=None`` probes an in-memory database. Runs for ``seconds`` and at
    least ``min_commits`` commits; the probe's files are removed afterwards.
    """
    workdir = None if directory is None else tempfile.mkdtemp(prefix="ceiling-", dir=directory)
    target = ":memory:" if workdir is None else f"{workdir}/probe.db"
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        if workdir is not None:
            conn.execute(f"PRAGMA journal_mode = {journal_mode}")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        if cache_size is not None:
            conn.execute(f"PRAGMA cache_size = {int(cache_size)}")
        conn.execute("CREATE TABLE probe (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        payload = "x" * 64  # about the size of a benchmark job's params
        commits = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO probe (payload) VALUES (?)", (payload,))
            conn.execute("COMMIT")
            commits += 1
            if commits >= min_commits and time.perf_counter() >= deadline:
                break
        return commits / (time.perf_counter() - start)
    finally:
        conn.close()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
