"""The raw SQLite ceiling: GigQ's own connection settings, several probes, a spread."""

from __future__ import annotations

import pytest

from gigq import JobQueue
from gigq.bench.sweep import ceiling
from gigq.bench.sweep.locations import Locations
from gigq.bench.sweep.plan import run_plan
from gigq.bench.sweep.space import build_spec, make_plan
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
    assert summary == (250.0, 100.0, 900.0, 5)
    assert ceiling.summarise([float("nan")]) is None


def _probes_of_a_run(repeat, trials_per_round):
    """Probes taken before each trial of a run, round by round."""
    taken, out = 0, []
    for repetition in range(1, repeat + 1):
        row = []
        for left in range(trials_per_round, 0, -1):
            n = ceiling.probes_due(taken, repetition, repeat, left)
            taken += n
            row.append(n)
        out.append(row)
    return out


def test_probes_are_spread_over_the_rounds_and_between_trials():
    # Five probes in every run, however it is scheduled, in every round's share.
    assert _probes_of_a_run(5, 1) == [[1], [1], [1], [1], [1]]
    assert _probes_of_a_run(3, 1) == [[2], [2], [1]]
    assert _probes_of_a_run(3, 3) == [[1, 1, 0], [1, 1, 0], [1, 0, 0]]
    assert _probes_of_a_run(1, 5) == [[1, 1, 1, 1, 1]]
    assert sum(map(sum, _probes_of_a_run(10, 2))) == ceiling.MIN_PROBES
    # The tuner's one-off trials: one probe before each until there are five.
    assert [ceiling.probes_due(n, 1, 3, None) for n in (0, 4, 5)] == [1, 1, 0]


def test_a_run_has_five_probes_and_every_row_their_median_and_spread(tmp_path):
    spec = build_spec("quick", repeat=2)
    spec.base = {**spec.base, "jobs": 50, "workers": 1, "polling_interval": 0.1}
    spec.dimensions, spec.groups = {}, []
    plan = make_plan(spec, Locations(tmp_path / "out"))
    outcome = run_plan(plan, tmp_path / "out")
    rows = outcome.results.rows
    assert len(rows) == 2 and rows["valid"].all()
    for _, row in rows.iterrows():
        low, median, high = (row["ceiling_min_commits_per_sec"],
                             row["ceiling_commits_per_sec"],
                             row["ceiling_max_commits_per_sec"])
        assert 0 < low <= median <= high
        assert row["ceiling_ratio"] == pytest.approx(row["jobs_per_sec"] / median)
    # Both rows got the same final figures: all five probes, not the first round's.
    assert rows["ceiling_commits_per_sec"].nunique() == 1
