"""The raw SQLite ceiling: GigQ's own connection settings, several probes, a spread."""

from __future__ import annotations

import pytest

from gigq import JobQueue
from gigq.bench import ceiling, space
from gigq.bench.locations import Locations, Scratch
from gigq.bench.space import SweepSpec, normalise
from gigq.bench.sweep import Runner, Task
from gigq.bench.trial import Harness
from gigq.storage import SQLiteSettings, Storage

PRAGMAS = ("journal_mode", "synchronous", "cache_size", "wal_autocheckpoint", "mmap_size")


def _pragmas(conn):
    return {p: conn.execute(f"PRAGMA {p}").fetchone()[0] for p in PRAGMAS}


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_the_probe_connection_has_the_pragmas_of_gigqs_connections(tmp_path, journal_mode):
    settings = SQLiteSettings(journal_mode=journal_mode, synchronous="full", cache_size=-4000)
    queue = JobQueue(str(tmp_path / "gigq.db"), settings=settings)
    queue.stats()
    gigq_conn = Storage.shared(str(tmp_path / "gigq.db"), settings).connection()
    probe = ceiling.probe_storage(str(tmp_path / "probe.db"), settings)
    try:
        assert _pragmas(probe.connection()) == _pragmas(gigq_conn)
    finally:
        probe.close_thread_connection()
        queue.close()


def test_probe_rates_on_disk_and_in_memory(tmp_path):
    assert ceiling.commit_rate(str(tmp_path), "wal", "normal", seconds=0.05) > 0
    # In memory twice in a row: the probe table of GigQ's shared in-memory
    # database does not outlive a probe.
    for _ in range(2):
        assert ceiling.commit_rate(None, "memory", "normal", seconds=0.05) > 0


def test_summary_is_the_median_and_spread_of_the_good_probes():
    summary = ceiling.summarise([300.0, float("nan"), 100.0, 200.0, 900.0, 250.0])
    assert (summary.median, summary.low, summary.high, summary.probes) == (250.0, 100.0,
                                                                           900.0, 5)
    assert ceiling.summarise([float("nan")]) is None
    assert [ceiling.probes_per_round(r) for r in (1, 2, 3, 5, 10)] == [5, 3, 2, 1, 1]


def test_a_run_takes_at_least_five_probes_spread_over_its_rounds(tmp_path):
    scratch = Scratch()
    harness = Harness(Locations(tmp_path / "out"), scratch, timeout=120)
    spec = SweepSpec(repeat=2)
    runner = Runner(harness, spec)
    config = normalise({**space.DEFAULT_BASE, "workers": 1, "jobs": 50,
                        "polling_interval": 0.1})
    try:
        first = runner.trial(Task(1, 1, "current", config))
        assert len(runner.ceilings[ceiling.probe_key(config)]) == 3  # ceil(5 / 2)
        second = runner.trial(Task(2, 2, "current", config))
    finally:
        scratch.cleanup()
    rates = runner.ceilings[ceiling.probe_key(config)]
    assert len(rates) == 6 and all(r > 0 for r in rates)
    rows = [first, second]
    runner.apply_ceilings(rows)
    for row in rows:
        assert row["ceiling_commits_per_sec"] == pytest.approx(sum(sorted(rates)[2:4]) / 2)
        assert row["ceiling_min_commits_per_sec"] == min(rates)
        assert row["ceiling_max_commits_per_sec"] == max(rates)
        assert row["ceiling_ratio"] == pytest.approx(row["jobs_per_sec"] /
                                                     row["ceiling_commits_per_sec"])
