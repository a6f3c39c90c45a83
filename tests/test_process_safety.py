"""A job's processes die with their worker, a retry never runs beside the attempt it
replaces, and leases too short to be renewed reliably are refused."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import threading
import time

import ledgerjobs
import pytest
from conftest import gigq_cli, run_cli, stop_process, wait_until

from gigq import Job, JobQueue, Worker
from gigq.errors import SettingsError
from gigq.leases import MIN_LEASE_TIMEOUT, process_alive


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _started(ledger: str, count: int = 1) -> list[ledgerjobs.Attempt]:
    runs = [a for runs in ledgerjobs.read_ledger(ledger).values() for a in runs]
    return runs if len(runs) >= count else []


def _live_worker_pids(db_path: str) -> list[int]:
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT pid FROM gigq_workers WHERE stopped_epoch IS NULL")
        return [r[0] for r in rows if process_alive(r[0])]


@pytest.mark.parametrize("job, how", [
    (ledgerjobs.ledger_job, "by its parent-death signal"),
    # The portable fallback: EOF on the pipe from the worker.
    (ledgerjobs.without_parent_death_signal, "when it sees its worker's pipe close"),
], ids=["death-signal", "pipe-only"])
def test_job_process_dies_when_its_worker_is_killed(db_path, tmp_path, job, how):
    ledger = str(tmp_path / "ledger")
    JobQueue(db_path).submit(Job("long", job, params={"ledger": ledger, "key": "long",
                                                      "hold": 120}))
    worker = gigq_cli("--db", db_path, "worker", "--isolation", "process",
                      "--polling-interval", "0.05", "--lease-timeout", "3600")
    child = None
    try:
        child = wait_until(lambda: _started(ledger), what="the job to start")[0].pid
        worker.kill()
        worker.wait()
        wait_until(lambda: not process_alive(child), timeout=30,
                   what=f"job process {child} to die {how}")
    finally:
        stop_process(worker, signal.SIGKILL)
        if child is not None:
            _kill(child)


def test_job_process_outlives_the_thread_that_started_it(db_path):
    # Linux sends the parent-death signal when the starting *thread* ends: the job
    # process must follow the worker process, not the thread that first needed it.
    q = JobQueue(db_path)
    job_id = q.submit(Job("pid", ledgerjobs.pid))
    worker = Worker(db_path, isolation="process", lease_timeout=3600)
    try:
        thread = threading.Thread(target=worker.process_one)
        thread.start()
        thread.join(120)
        child = q.get_status(job_id)["result"]
        time.sleep(0.5)  # a death signal, if any, has arrived by now
        assert process_alive(child)
    finally:
        worker.close()
    assert not process_alive(child)


def test_schema_1_database_gains_the_job_process_column(db_path):
    JobQueue(db_path)
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE gigq_workers DROP COLUMN children")
        conn.execute("PRAGMA user_version = 1")
    Worker(db_path).close()
    with sqlite3.connect(db_path) as conn:
        assert "children" in [r[1] for r in conn.execute("PRAGMA table_info(gigq_workers)")]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2


def test_reclaim_on_this_host_never_starts_a_retry_beside_a_live_old_attempt(
    db_path, tmp_path
):
    # The first attempt's process escapes the parent-death signal and holds the GIL,
    # so it outlives its worker: the rescuer must kill it before running the retry.
    ledger, marker = str(tmp_path / "ledger"), str(tmp_path / "first-pid")
    q = JobQueue(db_path)
    job_id = q.submit(Job("stubborn", ledgerjobs.stubborn_first_attempt,
                          params={"ledger": ledger, "key": "k", "marker": marker}))
    victim = gigq_cli("--db", db_path, "worker", "--isolation", "process",
                      "--polling-interval", "0.05", "--lease-timeout", "3600")
    first = None
    try:
        first = wait_until(lambda: _started(ledger), what="the first attempt")[0].pid
        victim.kill()
        victim.wait()
        assert process_alive(first)  # it did escape: the reclaim has something to do
        rescuer = run_cli("--db", db_path, "worker", "--burst", "--isolation", "process",
                          "--polling-interval", "0.05", "--lease-timeout", "3600")
        assert rescuer.returncode == 0, rescuer.stderr
    finally:
        stop_process(victim, signal.SIGKILL)
        if first is not None:
            _kill(first)
    status = q.get_status(job_id)
    assert status["status"] == "completed"
    assert status["result"] == "first-gone"
    assert not ledgerjobs.overlaps(ledgerjobs.read_ledger(ledger))


def test_supervised_workers_stop_when_their_supervisor_is_killed(db_path, tmp_path):
    ledger = str(tmp_path / "ledger")
    q = JobQueue(db_path)
    ids = [q.submit(Job(f"long-{i}", ledgerjobs.ledger_job,
                        params={"ledger": ledger, "key": f"k{i}", "hold": 120, "step": 0.5}))
           for i in range(2)]
    supervisor = gigq_cli("--db", db_path, "worker", "--processes", "2", "--isolation",
                          "process", "--polling-interval", "0.05", "--shutdown-timeout", "1",
                          "--lease-timeout", "3600")
    workers: list[int] = []
    children: list[int] = []
    try:
        children = [a.pid for a in wait_until(lambda: _started(ledger, 2), timeout=90,
                                              what="both jobs to start")]
        workers = wait_until(lambda: len(_live_worker_pids(db_path)) == 2
                             and _live_worker_pids(db_path), what="two workers")
        supervisor.kill()
        supervisor.wait()
        for pid in workers + children:
            wait_until(lambda p=pid: not process_alive(p), timeout=60,
                       what=f"process {pid} to stop after its supervisor died")
    finally:
        stop_process(supervisor, signal.SIGKILL)
        for pid in workers + children:
            _kill(pid)
    # They stopped gracefully: the jobs were handed back, not left running.
    for job_id in ids:
        status = q.get_status(job_id)
        assert status["status"] == "pending" and status["attempts"] == 0


@pytest.mark.parametrize("bad", [0, 0.5, MIN_LEASE_TIMEOUT - 0.01, -1, math.nan, math.inf,
                                 2e9, "30", True, None])
def test_worker_refuses_a_lease_that_is_not_a_reliable_number_of_seconds(db_path, bad):
    with pytest.raises(SettingsError, match=r"lease_timeout must be a finite number of "
                                            r"seconds between 1 and 1e\+09"):
        Worker(db_path, lease_timeout=bad)


def test_worker_accepts_the_minimum_lease(db_path):
    assert Worker(db_path, lease_timeout=MIN_LEASE_TIMEOUT).lease_timeout == MIN_LEASE_TIMEOUT


@pytest.mark.parametrize("value", ["nan", "0.2", "inf", "-5"])
def test_cli_refuses_a_bad_lease_in_one_line(db_path, value):
    done = run_cli("--db", db_path, "worker", "--burst", "--lease-timeout", value)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: lease_timeout must be"), lines


def test_config_file_refuses_a_bad_lease_in_one_line(db_path, tmp_path):
    config = tmp_path / "worker.toml"
    config.write_text("[worker]\nlease_timeout = 0.1\n")
    done = run_cli("--db", db_path, "worker", "--burst", "--config", str(config))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "Error: lease_timeout must be a finite number of seconds between 1 and" in done.stderr
    with pytest.raises(SettingsError, match="lease_timeout"):
        Worker.from_config(db_path, {"lease_timeout": math.nan})
