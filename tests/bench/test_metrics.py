"""Metrics on hand-made measurements with known answers."""

from __future__ import annotations

import pytest

from gigq.bench import metrics
from gigq.bench.metrics import METRICS, JobRecord, TrialData, WorkerReport
from gigq.percentile import percentile


def _jobs(n, created=100.0, wait=0.010, run=0.002, spacing=0.001):
    """n completed jobs created at ``created``, started wait+i*spacing later."""
    out = []
    for i in range(n):
        started = created + wait + i * spacing
        out.append(JobRecord("completed", 1, created, started, started + run))
    return out


def _data(jobs, ledger=None, workers=None, submitted=None, **kw):
    n = len(jobs) if submitted is None else submitted
    return TrialData(
        submitted=n, submit_seconds=0.5, jobs=jobs,
        ledger={i: 1 for i in range(n)} if ledger is None else ledger,
        workers=workers if workers is not None else [WorkerReport(100.0, 102.0, 1.0, 1)],
        **kw,
    )


def test_percentile_linear_interpolation():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7], 99) == 7
    assert percentile([3, 1, 2], 0) == 1 and percentile([3, 1, 2], 100) == 3
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_throughput_from_barrier_to_last_completion():
    jobs = _jobs(100)  # last completion: 100 + 0.010 + 0.099 + 0.002 = 100.111
    data = _data(jobs, barrier=100.011)
    out = metrics.throughput(data)
    assert out["duration_s"] == pytest.approx(0.1)
    assert out["jobs_per_sec"] == pytest.approx(1000)
    assert out["submit_per_sec"] == pytest.approx(200)
    assert out["jobs_completed"] == 100


def test_barrier_defaults_to_first_worker_release():
    workers = [WorkerReport(100.5, 101, 0, 1), WorkerReport(100.2, 101, 0, 1)]
    data = _data(_jobs(10), workers=workers)
    assert metrics.barrier_time(data) == 100.2


def test_latency_percentiles_in_ms():
    jobs = _jobs(101, wait=0.0, run=0.005, spacing=0.001)  # waits 0..100 ms
    out = metrics.latency(_data(jobs))
    assert out["wait_p50_ms"] == pytest.approx(50)
    assert out["wait_p95_ms"] == pytest.approx(95)
    assert out["wait_p99_ms"] == pytest.approx(99)
    assert out["end_to_end_p50_ms"] == pytest.approx(55)


def test_lock_wait_share_and_waits_per_job():
    hist = [0] * 28
    hist[3] = 90     # 90 uncontended acquisitions (4-8 µs)
    hist[11] = 8     # 8 waits of 1-2 ms
    hist[14] = 2     # 2 waits of 8-16 ms
    lock = {"transactions": 100, "lock_wait_total_s": 0.5, "lock_wait_max_s": 0.012,
            "busy_retries": 0, "busy_errors": 1, "histogram": hist}
    workers = [WorkerReport(0.0, 2.0, 1.0, threads=2, lock=lock),   # 4 thread-seconds
               WorkerReport(0.0, 1.0, 1.0, threads=1, lock=lock)]   # 1 thread-second
    out = metrics.lock_contention(_data(_jobs(100), workers=workers), jobs_completed=100)
    assert out["lock_wait_share"] == pytest.approx(1.0 / 5.0)
    assert out["lock_waits_per_job"] == pytest.approx(20 / 100)
    assert out["busy_errors"] == 2
    # p99 of 200 waits falls in bucket 14 (< 16.384 ms), capped by the max seen.
    assert out["lock_wait_p99_ms"] == pytest.approx(12.0)


def test_lock_metrics_are_empty_without_counters():
    out = metrics.lock_contention(_data(_jobs(5)), jobs_completed=5)
    assert out == {"lock_wait_share": None, "lock_wait_begin_share": None,
                   "lock_wait_commit_share": None, "lock_wait_read_share": None,
                   "lock_wait_p99_ms": None, "lock_waits_per_job": None, "busy_errors": None}


def test_cpu_and_ceiling():
    workers = [WorkerReport(0, 1, 0.3, 1), WorkerReport(0, 1, 0.2, 1)]
    assert metrics.cpu_per_1k_jobs(_data(_jobs(500), workers=workers), 500) == pytest.approx(1.0)
    assert metrics.ceiling_ratio(500.0, 2000.0) == 0.25
    assert metrics.ceiling_ratio(500.0, None) is None


def test_compute_returns_every_registered_metric():
    row = metrics.compute(_data(_jobs(20), ceiling=1000.0))
    assert set(METRICS) <= set(row)
    assert row["valid"] is True and row["invalid_reason"] is None


def test_valid_trial():
    assert metrics.verify(_data(_jobs(10))) == (True, None)


def test_duplicate_run_is_invalid():
    ledger = {i: 1 for i in range(10)}
    ledger[4] = 2
    valid, reason = metrics.verify(_data(_jobs(10), ledger=ledger))
    assert not valid and "1 jobs ran more than once (job 4 ran 2 times)" in reason


def test_job_that_never_ran_is_invalid_even_if_the_queue_says_completed():
    ledger = {i: 1 for i in range(10) if i != 7}
    valid, reason = metrics.verify(_data(_jobs(10), ledger=ledger))
    assert not valid and "1 jobs never ran" in reason and "job 7" in reason


def test_lost_and_unfinished_jobs_are_invalid():
    jobs = [*_jobs(8), JobRecord("pending", 0, 100.0, None, None)]
    valid, reason = metrics.verify(_data(jobs, submitted=10,
                                         ledger={i: 1 for i in range(8)}))
    assert not valid
    assert "the queue holds 9 jobs, 10 were submitted" in reason
    assert "1 jobs did not complete (1 pending)" in reason
    assert "2 jobs never ran" in reason


def test_unknown_ledger_entries_are_invalid():
    ledger = {i: 1 for i in range(3)} | {99: 1}
    valid, reason = metrics.verify(_data(_jobs(3), ledger=ledger))
    assert not valid and "1 job numbers that were never submitted" in reason


def test_process_failure_is_the_reason():
    data = _data(_jobs(3), ledger={}, failures=["work process exited (code 1)"])
    assert metrics.verify(data) == (False, "work process exited (code 1)")


def test_invalid_trial_still_reports_its_numbers():
    row = metrics.compute(_data(_jobs(10), ledger={}))
    assert row["valid"] is False and row["jobs_per_sec"] is not None


def test_lock_counters_of_versions_with_different_histograms_add_up():
    # One merge (LockStatsSnapshot.merge) for the core and the bench: a worker of a
    # version with fewer buckets must not cut the others' longest waits off.
    short = {"transactions": 3, "lock_wait_total_s": 0.25, "lock_wait_max_s": 0.002,
             "busy_retries": 1, "busy_errors": 0, "histogram": [1, 0, 2]}
    long_hist = [0] * 28
    long_hist[0], long_hist[15] = 1, 1  # one wait of 16-33 ms
    long = {**short, "lock_wait_max_s": 0.02, "histogram": long_hist}
    workers = [WorkerReport(0.0, 1.0, 0.1, 1, lock=short),
               WorkerReport(0.0, 1.0, 0.1, 1, lock=long)]
    merged = metrics.merge_lock(workers)
    assert merged.histogram == (2, 0, 2, *[0] * 12, 1, *[0] * 12)
    assert merged.transactions == 6 and merged.busy_retries == 2
    assert merged.lock_wait_total_s == 0.5 and merged.lock_wait_max_s == 0.02
    assert metrics.merge_lock([*workers, WorkerReport(0.0, 1.0, 0.1, 1)]) is None
    # Neither reports per-site counters: no per-site shares, waits from the histogram.
    out = metrics.lock_contention(_data(_jobs(10), workers=workers), jobs_completed=10)
    assert out["lock_wait_begin_share"] is None and out["lock_waits_per_job"] == 0.1
    assert out["lock_wait_p99_ms"] == pytest.approx(20.0)
