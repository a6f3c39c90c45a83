"""Chaos: real `gigq worker` processes killed at random, or paused past their lease,
while jobs drain. No two attempts of a job may overlap, every job completes, and
every attempt is accounted for. Run with -s to see the measured figures."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import ledgerjobs
import pytest
from conftest import gigq_cli, stop_process, wait_until

from gigq import Job, JobQueue
from gigq.percentile import percentile

WORKERS = 3
JOBS = 300
KILL_FOR = 20.0  # seconds of random kill -9 (while jobs remain)
MAX_ATTEMPTS = 100  # a job may be hit by many kills; none may be lost for that


def _hold(rng: random.Random, i: int) -> float:
    # Mostly short jobs; every tenth long enough to outlast a reclaim (about 0.5 s), so
    # that an attempt surviving its worker would still be running beside the retry.
    return rng.uniform(1.0, 2.0) if i % 10 == 0 else rng.uniform(0.05, 0.3)


def _worker(db: str, isolation: str, name: str, log: Path, lease: float) -> subprocess.Popen:
    return gigq_cli("--db", db, "worker", "--worker-id", name, "--concurrency", "2",
                    "--isolation", isolation, "--polling-interval", "0.05",
                    "--lease-timeout", str(lease), "--shutdown-timeout", "5",
                    stdout=subprocess.DEVNULL, stderr=log.open("a"))


def _unfinished(db: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM jobs WHERE status != 'completed'").fetchone()[0]


def _parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _mid_job(procs: list[subprocess.Popen], ledger: str) -> list[int]:
    """Indexes of the workers running a job's code now (its own pid, or its child's)."""
    running = {a.pid for runs in ledgerjobs.read_ledger(ledger).values() for a in runs
               if not a.ended}
    owners = running | {_parent_pid(pid) for pid in running}
    return [i for i, p in enumerate(procs) if p.pid in owners]


def _accounting(db: str) -> dict[str, tuple[int, int, int, str]]:
    """Per job key: (attempts, execution rows, completed executions, status)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT j.name, j.attempts, j.status, "
            "(SELECT COUNT(*) FROM job_executions e WHERE e.job_id = j.id), "
            "(SELECT COUNT(*) FROM job_executions e WHERE e.job_id = j.id "
            " AND e.status = 'completed') FROM jobs j"
        ).fetchall()
    return {name: (attempts, execs, done, status) for name, attempts, status, execs, done in rows}


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_random_kill_9_never_runs_a_job_twice_at_once(db_path, tmp_path, isolation):
    ledger = str(tmp_path / "ledger")
    rng = random.Random(14)
    q = JobQueue(db_path)
    q.submit_many([
        Job(f"k{i}", ledgerjobs.ledger_job, max_attempts=MAX_ATTEMPTS,
            params={"ledger": ledger, "key": f"k{i}", "hold": _hold(rng, i)})
        for i in range(JOBS)
    ])
    log = tmp_path / "workers.log"
    procs = [_worker(db_path, isolation, f"w{i}", log, 30) for i in range(WORKERS)]
    kills: list[float] = []
    busy_kills = 0
    began = time.monotonic()
    try:
        while time.monotonic() - began < KILL_FOR and _unfinished(db_path):
            time.sleep(rng.uniform(0.3, 0.8))
            # Mostly a worker whose job's code is running (killing one that is still
            # starting up tests little), sometimes any.
            busy = _mid_job(procs, ledger)
            if busy:
                i = rng.choice(busy)
                busy_kills += 1
            elif rng.random() < 0.15:
                i = rng.randrange(WORKERS)
            else:
                continue
            procs[i].kill()
            procs[i].wait()
            kills.append(time.time())
            procs[i] = _worker(db_path, isolation, f"w{i}r{len(kills)}", log, 30)
        drain_start = time.monotonic()
        wait_until(lambda: _unfinished(db_path) == 0, timeout=180, interval=0.2,
                   what="every job to complete")
        drained_in = time.monotonic() - drain_start
    finally:
        for p in procs:
            stop_process(p)
    attempts = ledgerjobs.read_ledger(ledger)
    overlapping = ledgerjobs.overlaps(attempts)
    accounts = _accounting(db_path)
    retried = [runs for runs in attempts.values() if len(runs) > 1]
    # Recovery: from a kill to the start of the retry of a job it interrupted.
    recovery = []
    for runs in retried:
        for later in runs[1:]:
            before = [k for k in kills if k <= later.start_time]
            if before:
                recovery.append(later.start_time - before[-1])
    unstarted = sum(a[0] - len(attempts.get(k, [])) for k, a in accounts.items())
    p50 = percentile(recovery, 50)
    p50_text = "–" if p50 is None else f"{p50:.2f}"
    print(f"\nchaos[{isolation}]: {len(kills)} kills ({busy_kills} mid-job), "
          f"{len(kills)} restarts, "
          f"{len(overlapping)} overlaps, {len(retried)} jobs retried, "
          f"{sum(len(r) for r in attempts.values())} attempts started, "
          f"{unstarted} claimed attempts killed before the job's code started, "
          f"recovery p50 {p50_text}s max {max(recovery, default=0):.2f}s, "
          f"drained {drained_in:.1f}s after the last kill")
    assert kills, "the chaos loop never killed a worker"
    assert not overlapping, [(a.token, a.pid, b.token, b.pid) for a, b in overlapping[:5]]
    assert len(accounts) == JOBS and set(attempts) == set(accounts)
    for key, (n_attempts, executions, completed, status) in accounts.items():
        assert status == "completed" and completed == 1, (key, accounts[key])
        # Every claimed attempt ended in exactly one execution row (completed, or failed
        # with the reclaim's reason), and the code of each started attempt was claimed.
        assert n_attempts == executions, (key, accounts[key])
        assert 1 <= len(attempts[key]) <= n_attempts, (key, accounts[key])


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_worker_paused_past_its_lease_loses_its_jobs_to_another(db_path, tmp_path, isolation):
    lease, hold = 3.0, 6.0
    ledger = str(tmp_path / "ledger")
    q = JobQueue(db_path)
    long_ids = q.submit_many([
        Job(f"long{i}", ledgerjobs.ledger_job, max_attempts=5,
            params={"ledger": ledger, "key": f"long{i}", "hold": hold, "step": 0.05})
        for i in range(2)
    ])
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    a = _worker(db_path, isolation, "paused", log_a, lease)
    b = None
    try:
        wait_until(lambda: len(ledgerjobs.read_ledger(ledger)) == 2, timeout=60,
                   what="the paused-to-be worker to start both long jobs")
        b = _worker(db_path, isolation, "rescuer", log_b, lease)
        q.submit_many([
            Job(f"short{i}", ledgerjobs.ledger_job,
                params={"ledger": ledger, "key": f"short{i}", "hold": 0.05})
            for i in range(20)
        ])
        a.send_signal(signal.SIGSTOP)
        stopped_at = time.time()
        wait_until(lambda: all(len(ledgerjobs.read_ledger(ledger).get(f"long{i}", [])) == 2
                               for i in range(2)), timeout=60,
                   what="the rescuer to start both long jobs again")
        rerun_after = time.time() - stopped_at
        time.sleep(1.0)  # resume while the rescuer's attempts still run
        a.send_signal(signal.SIGCONT)
        wait_until(lambda: _unfinished(db_path) == 0, timeout=120, interval=0.2,
                   what="every job to complete")
    finally:
        a.send_signal(signal.SIGCONT)
        stop_process(a)
        if b is not None:
            stop_process(b)
    attempts = ledgerjobs.read_ledger(ledger)
    overlapping = ledgerjobs.overlaps(attempts)
    paused_log = log_a.read_text()
    print(f"\npaused[{isolation}]: lease {lease:g}s, rerun {rerun_after:.2f}s after SIGSTOP, "
          f"{len(overlapping)} overlaps of effects")
    for job_id in long_ids:
        executions = q.get_status(job_id)["executions"]
        assert [e["status"] for e in executions].count("completed") == 1
        # The paused attempt was taken away (lease expired) and its late outcome dropped.
        assert executions[0]["worker_id"].startswith("paused")
        assert "lease expired" in executions[0]["error"]
        assert executions[-1]["status"] == "completed"
        assert not executions[-1]["worker_id"].startswith("paused")
        assert (f"Job {job_id}: attempt 1 lost its lease" in paused_log
                or f"Job {job_id}: outcome of attempt 1 discarded" in paused_log), paused_log
    if isolation == "process":
        # Each job process stopped its job at the lease's end: nothing it did
        # follows the rescuer's start.
        assert not overlapping, [(x.key, x.pid, y.pid) for x, y in overlapping]
        assert "the job's lease lapsed" in paused_log
    else:
        # A paused thread resumes mid-call and cannot be stopped: the only effects
        # after the rescuer's start are those resumed calls', whose outcomes are dropped.
        assert {x.key for x, _ in overlapping} <= {"long0", "long1"}
        assert all(x.pid == a.pid for x, _ in overlapping)
