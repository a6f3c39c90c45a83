"""The raw SQLite commit-rate probe behind ``ceiling_ratio``.

One connection, one thread: ``BEGIN IMMEDIATE`` → insert one small row →
``COMMIT``, as fast as it goes, on a fresh database in the same location with the
same settings as the trial. The connection is opened by GigQ's own
:class:`~gigq.storage.Storage`, so it gets exactly the PRAGMAs GigQ's connections
get (journal mode, synchronous, cache size, ``wal_autocheckpoint``, ...). That is
what the disk and SQLite allow for one write transaction per job; GigQ's jobs/s
divided by it says how close the queue gets to that ceiling.

One probe is noisy on a shared machine, so a run takes :data:`MIN_PROBES` probes
of :data:`DEFAULT_SECONDS` each per location and settings, spread over its
repetition rounds and interleaved with its trials (:func:`probes_due`), and uses
their median (:func:`summarise`); the spread (min and max) is stored next to it.
"""

from __future__ import annotations

import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from gigq.storage import MEMORY, SQLiteSettings, Storage

DEFAULT_SECONDS = 1.0
MIN_COMMITS = 30
# Probes per location and settings in a run: the median of these is the ceiling.
MIN_PROBES = 5


def probe_key(config: Mapping[str, Any]) -> tuple[Any, ...]:
    """Configurations sharing this key share a ceiling (location and SQLite settings)."""
    return (config["location"], config["journal_mode"], config["synchronous"],
            config["cache_size"])


def probes_due(taken: int, repetition: int, repeat: int, trials_left: int | None) -> int:
    """Probes to take before this trial so that a run of ``repeat`` rounds has
    MIN_PROBES per location and settings, spread over its rounds.

    By the end of round ``repetition`` a share ``repetition / repeat`` of them is
    due, split over the ``trials_left`` trials of this round that still need the
    ceiling (this one included). Without a schedule (``trials_left`` None: the
    tuner's one-off trials) one probe before each trial until there are enough.
    """
    if trials_left is None:
        return 1 if taken < MIN_PROBES else 0
    due = math.ceil(MIN_PROBES * min(repetition, repeat) / max(repeat, 1))
    return math.ceil(max(due - taken, 0) / max(trials_left, 1))


class Ceiling(NamedTuple):
    """The ceiling of one location and settings: median of its probes, and spread."""

    median: float
    low: float
    high: float
    probes: int


def summarise(rates: Sequence[float]) -> Ceiling | None:
    """Median, min and max of the successful probes (None if there are none)."""
    good = [r for r in rates if r is not None and math.isfinite(r) and r > 0]
    if not good:
        return None
    return Ceiling(statistics.median(good), min(good), max(good), len(good))


def probe_storage(path: str, settings: SQLiteSettings) -> Storage:
    """The probe's database, opened as GigQ opens its own (not the process-wide
    shared instance: the probe closes its connection when done)."""
    return Storage(path, settings)


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
    settings = SQLiteSettings(journal_mode=journal_mode, synchronous=synchronous,
                              cache_size=cache_size)
    workdir = None if directory is None else tempfile.mkdtemp(prefix="ceiling-", dir=directory)
    storage = probe_storage(MEMORY if workdir is None else f"{workdir}/probe.db", settings)
    conn = storage.connection()
    try:
        # IF NOT EXISTS / DROP: GigQ's in-memory database is shared per process.
        conn.execute("CREATE TABLE IF NOT EXISTS bench_probe "
                     "(id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        payload = "x" * 64  # about the size of a benchmark job's params
        commits = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO bench_probe (payload) VALUES (?)", (payload,))
            conn.execute("COMMIT")
            commits += 1
            if commits >= min_commits and time.perf_counter() >= deadline:
                break
        rate = commits / (time.perf_counter() - start)
        if workdir is None:
            conn.execute("DROP TABLE bench_probe")
        return rate
    finally:
        storage.close_thread_connection()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
