"""Lock waits are recorded where they happen and as long as they really were.

A second process holds an SQLite lock for a known time while this one submits,
claims, settles or reads; the recorded wait must be between 80% of the hold and
twice it, in every journal mode, with or without a CPU-bound thread competing for
the GIL. ``busy_retries`` and ``busy_errors`` must mean what the docs say.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jobfns
import pytest
from conftest import run_cli, wait_until

from gigq import DatabaseBusyError, Job, JobQueue, SQLiteSettings, Worker
from gigq.storage import LockStatsSnapshot, Storage

HOLD = 0.3  # seconds the other process keeps the lock
# With a CPU-bound thread every statement before the one that waits costs a GIL
# hand-over or two (~5 ms each) that is not lock wait; a longer hold keeps that small.
CPU_HOLD = 0.5
LOW, HIGH = 0.8, 2.0  # recorded wait / real wait must fall in [LOW, HIGH]
ROLLBACK = ("delete", "truncate", "persist")

# The other process: takes the lock, says when, keeps it for HOLD, releases it and
# says when: just before and just after the COMMIT, since on a loaded machine the
# holder itself can be descheduled in between (time.monotonic is one clock for every
# process on the machine).
# "shared" is a reader inside a read transaction: it blocks a rollback-journal COMMIT.
HOLDER = r"""
import sqlite3, sys, time
db, how, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])
conn = sqlite3.connect(db, isolation_level=None, timeout=30)
if how == "shared":
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM jobs").fetchone()
else:
    conn.execute(f"BEGIN {how}")
print("held", time.monotonic(), flush=True)
time.sleep(hold)
releasing = time.monotonic()
conn.execute("COMMIT")
print("released", releasing, time.monotonic(), flush=True)
"""

# (journal mode, how the other process holds the lock, where the wait happens). An
# exclusive lock in a rollback mode also keeps readers out, so an operation that
# reads before it writes (a worker looks for dead workers' jobs) waits at the read.
CASES = [
    ("wal", "immediate", "begin"),
    ("wal", "exclusive", "begin"),
    *((mode, "immediate", "begin") for mode in ROLLBACK),
    *((mode, "exclusive", "begin|read") for mode in ROLLBACK),
    *((mode, "shared", "commit") for mode in ROLLBACK),
]
# With a CPU-bound thread: the case each journal mode is mostly about.
CPU_CASES = [("wal", "immediate", "begin"), *((m, "shared", "commit") for m in ROLLBACK)]


@contextmanager
def held(db: str, how: str, hold: float = HOLD) -> Iterator[dict[str, float]]:
    """The lock held by another process from entry; yields {"released": t} after exit."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, db, how, str(hold)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline().split()
        assert first and first[0] == "held", f"the lock holder failed: {first}"
        times = {"held": float(first[1])}
        yield times
        second = proc.stdout.readline().split()
        times["releasing"], times["released"] = float(second[1]), float(second[2])
    finally:
        proc.stdout.close()
        proc.wait(30)


@contextmanager
def cpu_bound_thread(enabled: bool = True) -> Iterator[None]:
    """A thread of this process that runs Python code without pause (holds the GIL)."""
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    thread = threading.Thread(target=spin, daemon=True)
    if enabled:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if enabled:
            thread.join()


def settings_for(mode: str, **changes) -> SQLiteSettings:
    return SQLiteSettings(journal_mode=mode, **changes)


def thread_lock_stats(db: str, settings: SQLiteSettings) -> LockStatsSnapshot:
    """The counters of this thread's connection alone: the worker's heartbeat thread
    shares the process-wide counters, and its reads wait too while we commit."""
    conn = Storage.shared(db, settings).connection()
    return LockStatsSnapshot.of([conn.lock_stats])


def assert_wait_matches(recorded, sites: str, lock: dict[str, float], start: float) -> None:
    """The recorded wait, all of it at one of ``sites`` ("a|b"), is within [LOW, HIGH]
    x the real one: from ``start`` to the holder's release, which lies between the
    holder's clock readings just before and just after its COMMIT."""
    low, high = lock["releasing"] - start, lock["released"] - start
    assert low > HOLD / 2, f"the operation barely overlapped the hold ({low:.3f} s)"
    total = recorded.lock_wait_total_s
    at_sites = sum(getattr(recorded, f"lock_wait_{site}_s") for site in sites.split("|"))
    assert LOW * low <= total <= HIGH * high, (
        f"recorded {total * 1000:.1f} ms for a real wait of {low * 1000:.1f}–"
        f"{high * 1000:.1f} ms: {recorded}")
    assert at_sites >= 0.9 * total, f"the wait was not recorded at {sites}: {recorded}"
    assert sum(getattr(recorded, f"{site}_waits") for site in sites.split("|")) >= 1
    assert recorded.busy_errors == 0 and recorded.busy_retries >= 1


def _submit(db: str, mode: str, how: str, site: str, cpu: bool, hold: float) -> None:
    queue = JobQueue(db, settings=settings_for(mode))
    queue.submit(Job("warm-up", jobfns.noop))  # schema and connection set up beforehand
    before = queue.lock_stats()
    with cpu_bound_thread(cpu), held(db, how, hold) as lock:
        start = time.monotonic()
        queue.submit(Job("n", jobfns.noop))
    assert_wait_matches(queue.lock_stats().since(before), site, lock, start)


def _claim(db: str, mode: str, how: str, site: str, cpu: bool, hold: float) -> None:
    settings = settings_for(mode)
    queue = JobQueue(db, settings=settings)
    worker = Worker(db, settings=settings)
    assert worker.process_one() is False  # registered, connection open
    queue.submit(Job("n", jobfns.noop))
    before = thread_lock_stats(db, settings)
    with cpu_bound_thread(cpu), held(db, how, hold) as lock:
        start = time.monotonic()
        assert worker.process_one() is True
    after = thread_lock_stats(db, settings)
    assert_wait_matches(after.since(before), site, lock, start)


def wait_then_stamp(path: str, marker: str) -> float:
    """The settle test's job: runs until ``path`` exists; returns when it returned."""
    jobfns.wait_for_file(path, marker)
    return time.monotonic()


def _settle(db: str, mode: str, how: str, site: str, cpu: bool, hold: float,
            tmp: Path) -> None:
    settings = settings_for(mode)
    queue = JobQueue(db, settings=settings)
    worker = Worker(db, settings=settings)
    tmp.mkdir(parents=True, exist_ok=True)
    release, running = tmp / "release", tmp / "running"
    job_id = queue.submit(Job("w", wait_then_stamp,
                              params={"path": str(release), "marker": str(running)}))
    recorded = []

    def claim_run_and_settle() -> None:
        worker.process_one()  # on a new thread, so with a connection of its own
        recorded.append(thread_lock_stats(db, settings))

    thread = threading.Thread(target=claim_run_and_settle)
    thread.start()
    wait_until(running.exists, what="the job to start")  # claimed: nothing held then
    with cpu_bound_thread(cpu), held(db, how, hold) as lock:
        release.touch()  # the job returns (within its 20 ms poll) and its outcome waits
        thread.join(60)
    assert queue.get_status(job_id)["status"] == "completed"
    # From the job's return: a busy GIL can delay that well past release.touch().
    returned = queue.get_result(job_id)
    assert_wait_matches(recorded[0], site, lock, returned)


OPERATIONS = ["submit", "claim", "settle"]


def _run(op: str, db: str, case: tuple[str, str, str], cpu: bool, tmp: Path) -> None:
    mode, how, site = case
    hold = CPU_HOLD if cpu else HOLD
    # The reference interval starts before the operation's first attempt: on a loaded
    # 2-core machine the operation can be descheduled in between, and then honestly
    # waits less than the reference says. One more measurement on a fresh database
    # absorbs that; an accounting that is wrong fails both.
    for attempt in (1, 2):
        where = db if attempt == 1 else str(tmp / "again" / "jobs.db")
        if attempt == 2:
            (tmp / "again").mkdir()
        try:
            if op == "submit":
                _submit(where, mode, how, site, cpu, hold)
            elif op == "claim":
                _claim(where, mode, how, site, cpu, hold)
            else:
                _settle(where, mode, how, site, cpu, hold, tmp / f"run{attempt}")
            return
        except AssertionError as exc:
            if attempt == 2:
                raise
            print(f"first measurement off, measuring again: {exc}")


@pytest.mark.parametrize("case", CASES, ids=["-".join(c[:2]) for c in CASES])
@pytest.mark.parametrize("op", OPERATIONS)
def test_recorded_lock_wait_matches_the_hold(db_path, tmp_path, op, case):
    _run(op, db_path, case, False, tmp_path)


@pytest.mark.parametrize("case", CPU_CASES, ids=["-".join(c[:2]) for c in CPU_CASES])
@pytest.mark.parametrize("op", OPERATIONS)
def test_a_cpu_bound_thread_does_not_inflate_the_recorded_wait(db_path, tmp_path, op, case):
    _run(op, db_path, case, True, tmp_path)


@pytest.mark.parametrize("mode", ROLLBACK)
@pytest.mark.parametrize("read", ["get_status", "stats", "list_jobs"])
def test_reads_wait_out_a_writer_and_count_it(db_path, mode, read):
    queue = JobQueue(db_path, settings=settings_for(mode))
    job_id = queue.submit(Job("n", jobfns.noop))
    call = {"get_status": lambda: queue.get_status(job_id), "stats": queue.stats,
            "list_jobs": queue.list_jobs}[read]
    call()
    before = queue.lock_stats()
    with held(db_path, "exclusive") as lock:  # an exclusive lock keeps readers out
        start = time.monotonic()
        call()
    assert_wait_matches(queue.lock_stats().since(before), "read", lock, start)


def test_busy_retries_count_only_attempts_that_found_the_database_busy(db_path):
    queue = JobQueue(db_path)
    before = queue.lock_stats()
    for i in range(20):
        queue.submit(Job(f"n{i}", jobfns.noop))
    queue.stats()
    quiet = queue.lock_stats().since(before)
    assert quiet.transactions == 20
    assert (quiet.busy_retries, quiet.busy_errors, quiet.lock_wait_total_s) == (0, 0, 0.0)
    with held(db_path, "immediate"):
        queue.submit(Job("late", jobfns.noop))
    waited = queue.lock_stats().since(before)
    assert waited.busy_retries >= 1 and waited.busy_errors == 0
    assert waited.begin_waits == 1 and waited.transactions == 21


@pytest.mark.parametrize("mode", ["wal", "delete"])
def test_busy_errors_count_operations_that_gave_up(db_path, mode):
    queue = JobQueue(db_path, settings=settings_for(mode, busy_timeout=0.2))
    queue.submit(Job("n", jobfns.noop))
    before = queue.lock_stats()
    with held(db_path, "exclusive", hold=1.0):
        with pytest.raises(DatabaseBusyError, match=r"busy_timeout=0\.2s.*--busy-timeout"):
            queue.submit(Job("n", jobfns.noop))
        gave_up = queue.lock_stats().since(before)
        assert gave_up.busy_errors == 1 and gave_up.busy_retries >= 1
        # it waited the busy timeout, counted at BEGIN, and no transaction took place
        assert LOW * 0.2 <= gave_up.lock_wait_begin_s <= HIGH * 0.2
        assert gave_up.transactions == 0
    queue.submit(Job("n", jobfns.noop))  # the lock is free again: no error, no wait
    after = queue.lock_stats().since(before)
    assert after.busy_errors == 1 and after.transactions == 1
    assert after.histogram[0] == 1  # the wait given up on is not charged to the next one


def test_a_commit_that_gives_up_is_rolled_back_and_releases_the_database(db_path):
    queue = JobQueue(db_path, settings=settings_for("delete", busy_timeout=0.2))
    queue.submit(Job("n", jobfns.noop))
    with held(db_path, "shared", hold=1.0), pytest.raises(
            DatabaseBusyError, match="rolled back, nothing was written"):
        queue.submit(Job("lost", jobfns.noop))
    assert queue.lock_stats().commit_waits == 1
    assert [j["name"] for j in queue.list_jobs()] == ["n"]
    queue.submit(Job("next", jobfns.noop))  # nothing left open on this connection
    assert queue.stats()["total"] == 2


def test_a_read_that_gives_up_is_a_one_line_error_on_the_command_line(db_path):
    JobQueue(db_path, settings=settings_for("delete")).submit(Job("n", jobfns.noop))
    with held(db_path, "exclusive", hold=3.0):
        done = run_cli("--db", db_path, "--journal-mode", "delete", "--busy-timeout", "0.3",
                       "stats")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "busy_timeout=0.3s" in lines[0] and db_path in lines[0]


def test_the_per_site_counters_survive_a_round_trip_and_add_up(db_path):
    queue = JobQueue(db_path, settings=settings_for("delete"))
    queue.submit(Job("n", jobfns.noop))
    with held(db_path, "shared"):
        queue.submit(Job("n", jobfns.noop))
    snap = queue.lock_stats()
    total = snap.lock_wait_begin_s + snap.lock_wait_commit_s + snap.lock_wait_read_s
    assert snap.lock_wait_total_s == pytest.approx(total)
    assert type(snap).from_dict(snap.as_dict()) == snap
    assert snap.merge(snap).commit_waits == 2 * snap.commit_waits
    assert snap.since(snap).lock_wait_commit_s == 0
    assert os.path.exists(db_path)


def test_the_benchmark_splits_lock_wait_share_by_site_and_counts_exact_waits(db_path):
    from gigq.bench.metrics import TrialData, WorkerReport, lock_contention

    queue = JobQueue(db_path, settings=settings_for("delete"))
    queue.submit(Job("n", jobfns.noop))
    with held(db_path, "shared"):
        queue.submit(Job("n", jobfns.noop))  # one wait, at COMMIT
    lock = queue.lock_stats().as_dict()
    report = WorkerReport(t_go=0.0, t_end=10.0, cpu_s=1.0, threads=1, lock=lock)
    data = TrialData(submitted=2, submit_seconds=1.0, jobs=[], ledger={}, workers=[report])
    out = lock_contention(data, jobs_completed=2)
    assert out["lock_wait_commit_share"] == pytest.approx(lock["lock_wait_commit_s"] / 10)
    assert out["lock_wait_begin_share"] == out["lock_wait_read_share"] == 0
    assert out["lock_wait_share"] == pytest.approx(out["lock_wait_commit_share"])
    assert out["lock_waits_per_job"] == pytest.approx(1 / 2)


def test_a_truncate_checkpoint_still_waits_for_readers(db_path):
    # A checkpoint reports "busy" in its result instead of failing, so SQLite's own
    # handler does this wait (busy_timeout 0 would give up at once).
    queue = JobQueue(db_path)
    queue.submit_many([Job("n", jobfns.noop) for _ in range(50)])
    with held(db_path, "shared"):
        busy, log, done = queue.checkpoint("truncate")
    assert busy == 0 and log == done == 0


def test_snapshots_with_histograms_of_different_lengths_merge_bucket_by_bucket():
    # Worker processes of other GigQ versions may count fewer buckets: merging must
    # keep the longer histogram's last buckets (the longest waits), not drop them.
    from gigq.storage import LockStatsSnapshot

    short = LockStatsSnapshot(transactions=2, histogram=(1, 1))
    long = LockStatsSnapshot(transactions=3, lock_wait_max_s=0.004, histogram=(1, 0, 0, 2))
    assert short.merge(long).histogram == (2, 1, 0, 2) == long.merge(short).histogram
    assert short.merge(long).transactions == 5
    # p99 lies in bucket 3, which only the longer histogram has: its bound, 8 µs.
    assert short.merge(long).wait_percentile(99) == pytest.approx(8e-6)


def test_wait_percentiles_are_on_the_percentile_scale():
    from gigq.storage import LockStatsSnapshot

    hist = [0] * 28
    hist[0], hist[12] = 98, 2  # 98 uncontended, 2 waits of 2-4 ms
    snap = LockStatsSnapshot(transactions=100, lock_wait_max_s=0.003, histogram=tuple(hist))
    assert snap.wait_percentile(50) == 0.0 and snap.wait_percentile(99) == 0.003
    assert snap.as_dict()["lock_wait_p99_ms"] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="0-100"):
        snap.wait_percentile(101)
