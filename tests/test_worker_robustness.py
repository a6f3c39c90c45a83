"""A worker survives what its jobs and its database throw at it (issue 14).

No job runs twice at once because of a stop; a job's own ``sys.exit()`` is a failed
attempt, not a shutdown; rows that cannot be run or recorded fail and the worker goes
on; a damaged database, a crashed thread or an endless burst ends the worker with a
non-zero exit and an error line instead of spinning or exiting 0.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time

import jobfns
import pytest
from conftest import gigq_cli, run_cli, stop_process, wait_until

from gigq import Job, JobQueue, SQLiteSettings, Worker, claims
from gigq import worker as worker_module
from gigq.claims import ALL_JOBS, Outcome

# Generous: a run that should end ends in seconds; one that spins never does.
ENDS_WITHIN = 90


def _sql(db_path: str, statement: str, *args: object) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(statement, args)


def _burst(db_path: str, *extra: str) -> subprocess.CompletedProcess:
    return run_cli("--db", db_path, "worker", "--burst", "--polling-interval", "0.1", *extra,
                   timeout=ENDS_WITHIN)


# -- defect 2: stop() never hands back a job whose code still runs ------------


def _worker_inside_a_hanging_job(db_path, tmp_path):
    """A worker thread running a job that blocks until ``release`` exists (1.5 s lease)."""
    q = JobQueue(db_path)
    marker, release = tmp_path / "started", tmp_path / "release"
    job_id = q.submit(Job("hang", jobfns.wait_for_file,
                          params={"path": str(release), "marker": str(marker)}))
    worker = Worker(db_path, polling_interval=0.05, shutdown_timeout=0.2, lease_timeout=1.5)
    thread = threading.Thread(target=worker.start)
    thread.start()
    wait_until(marker.exists, what="job start")
    return q, job_id, release, worker, thread

def test_stop_keeps_the_lease_of_a_thread_job_until_its_call_returns(db_path, tmp_path):
    q, job_id, release, worker, thread = _worker_inside_a_hanging_job(db_path, tmp_path)
    worker.stop()
    # Well past the shutdown timeout and two leases: the call is still running here,
    # so the job must stay claimed by this worker with a live lease ...
    thread.join(3.5)
    assert thread.is_alive(), "start() returned while the job's call was still running"
    with sqlite3.connect(db_path) as conn:
        status, expires = conn.execute(
            "SELECT status, lease_expires_at FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
    assert status == "running" and expires > time.time()
    # ... and no other worker may take it.
    other = Worker(db_path, worker_id="other")
    other._check_for_timeouts()
    assert other.process_one() is False
    other.close()
    release.touch()
    thread.join(30)
    assert not thread.is_alive()
    status = q.get_status(job_id)
    assert status["status"] == "completed" and status["attempts"] == 1
    assert [e["status"] for e in status["executions"]] == ["completed"]


def test_sigterm_with_a_thread_job_past_the_shutdown_timeout_waits_for_it(db_path, tmp_path):
    q = JobQueue(db_path)
    marker, release = tmp_path / "started", tmp_path / "release"
    job_id = q.submit(Job("hang", jobfns.wait_for_file,
                          params={"path": str(release), "marker": str(marker)}))
    proc = gigq_cli("--db", db_path, "worker", "--shutdown-timeout", "0.2",
                    "--polling-interval", "0.1", stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
    wait_until(marker.exists, what="job start")
    proc.send_signal(signal.SIGTERM)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(2)  # the call in its thread cannot be stopped: the worker waits
    assert q.get_status(job_id)["status"] == "running"
    release.touch()
    assert proc.wait(60) == 0
    status = q.get_status(job_id)
    assert status["status"] == "completed" and status["attempts"] == 1


# -- defect 4: a job's own SystemExit / KeyboardInterrupt is a failed attempt ---


def test_a_job_calling_sys_exit_fails_and_the_burst_worker_drains_the_rest(db_path):
    q = JobQueue(db_path)
    exiting = q.submit(Job("exit", jobfns.noop, max_attempts=2))
    _sql(db_path, "UPDATE jobs SET function_module = 'sys', function_name = 'exit', "
         "params = '{}' WHERE id = ?", exiting)
    others = [q.submit(Job(f"n{i}", jobfns.noop)) for i in range(3)]
    done = _burst(db_path)
    assert done.returncode == 0, done.stderr
    status = q.get_status(exiting)
    assert status["status"] == "failed" and status["attempts"] == 2
    assert "SystemExit" in status["error"]
    assert [q.get_status(j)["status"] for j in others] == ["completed"] * 3


def test_a_job_calling_sys_exit_under_processes_fails_once_per_attempt(db_path):
    q = JobQueue(db_path)
    exiting = q.submit(Job("exit", jobfns.noop, max_attempts=2))
    _sql(db_path, "UPDATE jobs SET function_module = 'sys', function_name = 'exit' "
         "WHERE id = ?", exiting)
    after = q.submit(Job("n", jobfns.noop))
    done = _burst(db_path, "--processes", "2")
    assert done.returncode == 0, done.stderr
    assert "exited with code" not in done.stderr  # no child stopped, none restarted
    status = q.get_status(exiting)
    assert status["status"] == "failed" and status["attempts"] == 2
    assert q.get_status(after)["status"] == "completed"


def test_a_job_raising_keyboard_interrupt_is_a_failed_attempt(db_path):
    q = JobQueue(db_path)
    job_id = q.submit(Job("ki", jobfns.raise_keyboard_interrupt, max_attempts=1))
    worker = Worker(db_path)
    assert worker.process_one() is True  # no KeyboardInterrupt escapes
    worker.close()
    status = q.get_status(job_id)
    assert status["status"] == "failed" and status["attempts"] == 1
    assert "KeyboardInterrupt" in status["error"]


def test_sigint_during_once_still_hands_the_job_back(db_path, tmp_path):
    q = JobQueue(db_path)
    marker, release = tmp_path / "started", tmp_path / "release"
    job_id = q.submit(Job("hang", jobfns.wait_for_file,
                          params={"path": str(release), "marker": str(marker)}))
    proc = gigq_cli("--db", db_path, "worker", "--once", stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
    wait_until(marker.exists, what="job start")
    assert stop_process(proc, signal.SIGINT) == 0
    assert b"Traceback" not in proc.stderr.read()
    status = q.get_status(job_id)
    assert status["status"] == "pending" and status["attempts"] == 0


# -- defect 5 (worker side): rows whose outcome cannot be written -------------


@pytest.mark.parametrize("column, value", [("retry_delay", 1e13), ("retry_backoff", 1e300)])
def test_a_retry_date_out_of_range_fails_the_job_and_the_worker_goes_on(db_path, column, value):
    q = JobQueue(db_path)
    job_id = q.submit(Job("f", jobfns.fail, max_attempts=3, retry_delay=1))
    after = q.submit(Job("n", jobfns.noop))
    # Written by hand (or by 0.5.x): the API refuses such numbers up front.
    _sql(db_path, f"UPDATE jobs SET {column} = ?, attempts = 1 WHERE id = ?", value, job_id)
    done = _burst(db_path)
    assert done.returncode == 0, done.stderr
    status = q.get_status(job_id)
    assert status["status"] == "failed"
    assert "boom" in status["error"] and "retry could not be scheduled" in status["error"]
    assert q.get_status(after)["status"] == "completed"


def test_reclaiming_a_row_whose_retry_overflows_fails_it_once(db_path):
    q = JobQueue(db_path)
    job_id = q.submit(Job("orphan", jobfns.noop, max_attempts=3))
    # Running under a worker that is gone (lease long expired), with a huge delay.
    _sql(db_path, "UPDATE jobs SET status = 'running', attempts = 1, retry_delay = 1e13, "
         "claim_id = 'gone-claim', lease_owner = 'gone', lease_expires_at = 1, "
         "worker_id = 'gone' WHERE id = ?", job_id)
    done = _burst(db_path)
    assert done.returncode == 0, done.stderr
    assert "Worker service thread error" not in done.stderr
    status = q.get_status(job_id)
    assert status["status"] == "failed" and "lease expired" in status["error"]


def test_a_result_sqlite_cannot_store_fails_the_job(db_path):
    q = JobQueue(db_path)
    job_id = q.submit(Job("big", jobfns.noop))
    conn = sqlite3.connect(db_path, isolation_level=None)
    # SQLite refuses strings over this length ("string or blob too big").
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 2000)
    conn.execute("BEGIN IMMEDIATE")
    claim = claims.claim(conn, ALL_JOBS, "w", "owner", 30)
    result = '"' + "x" * 5000 + '"'
    assert claims.settle(conn, claim, Outcome("completed", result_json=result)) is True
    conn.execute("COMMIT")
    conn.close()
    status = q.get_status(job_id)
    assert status["status"] == "failed" and "too big" in status["error"]


@pytest.mark.parametrize("timeout", ["1e10", "'inf'"])
def test_a_huge_timeout_with_process_isolation_runs_the_job(db_path, timeout):
    q = JobQueue(db_path)
    job_id = q.submit(Job("a", jobfns.add, params={"a": 1, "b": 2}))
    _sql(db_path, f"UPDATE jobs SET timeout = CAST({timeout} AS REAL) WHERE id = ?", job_id)
    done = _burst(db_path, "--isolation", "process")
    assert done.returncode == 0, done.stderr
    assert q.get_status(job_id)["status"] == "completed" and q.get_result(job_id) == 3


def test_a_row_with_unparsable_params_fails_and_the_worker_goes_on(db_path):
    q = JobQueue(db_path)
    broken = q.submit(Job("bad", jobfns.noop))
    after = q.submit(Job("good", jobfns.add, params={"a": 2, "b": 3}))
    _sql(db_path, "UPDATE jobs SET params = '{not json' WHERE id = ?", broken)
    done = _burst(db_path)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db_path) as conn:  # get_status would parse the params too
        status, error = conn.execute("SELECT status, error FROM jobs WHERE id = ?",
                                     (broken,)).fetchone()
    assert status == "failed" and "params are not valid JSON" in error
    assert q.get_result(after) == 5


# -- defect 6: a damaged database stops the worker loudly ---------------------


def _complete_behind_the_claim_index(db_path: str, where: str, params: tuple) -> None:
    """Mark the jobs matching ``where`` completed while jobs_claimable's schema row is
    hidden, so SQLite does not update the index: it goes on listing them as pending."""
    conn = sqlite3.connect(db_path)
    row = conn.execute("SELECT type, name, tbl_name, rootpage, sql FROM sqlite_master "
                       "WHERE name = 'jobs_claimable'").fetchone()
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("DELETE FROM sqlite_master WHERE name = 'jobs_claimable'")
    conn.commit()
    conn.close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"UPDATE jobs SET status = 'completed' WHERE {where}", params)
    conn.commit()
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("INSERT INTO sqlite_master VALUES (?, ?, ?, ?, ?)", row)
    conn.commit()
    conn.close()


def _stale_claim_index(db_path: str, count: int) -> None:
    """Make jobs_claimable list ``count`` completed jobs as pending."""
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    _complete_behind_the_claim_index(db_path, "rowid <= ?", (count,))
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok"


def _garbage_in_claim_index(db_path: str) -> None:
    """Overwrite the claim index's root page with garbage bytes."""
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = conn.execute("SELECT rootpage FROM sqlite_master "
                            "WHERE name = 'jobs_claimable'").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(db_path, "r+b") as f:
        f.seek((root - 1) * page_size + 8)
        f.write(b"\xff" * (page_size - 8))


@pytest.mark.parametrize("damage", ["stale index", "garbage pages"])
@pytest.mark.parametrize("burst", [False, True])
def test_a_damaged_claim_index_stops_the_worker_with_an_error(db_path, damage, burst):
    q = JobQueue(db_path)
    q.submit_many([Job(f"j{i}", jobfns.noop) for i in range(300)])
    if damage == "stale index":
        _stale_claim_index(db_path, 10)
    else:
        _garbage_in_claim_index(db_path)
    flags = ["--burst"] if burst else []
    done = run_cli("--db", db_path, "worker", "--polling-interval", "0.1", *flags,
                   timeout=ENDS_WITHIN)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "damaged" in last and "check" in last


# -- weak: exit status, endless runs ------------------------------------------


def test_a_crashed_worker_thread_exits_non_zero(db_path, tmp_path):
    q = JobQueue(db_path)
    marker, release = tmp_path / "started", tmp_path / "release"
    q.submit(Job("hang", jobfns.wait_for_file,
                 params={"path": str(release), "marker": str(marker)}))
    proc = gigq_cli("--db", db_path, "worker", "--polling-interval", "0.1",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(marker.exists, what="job start")
    # Recording the outcome now fails with an error no retry can fix.
    _sql(db_path, "DROP TABLE job_executions")
    release.touch()
    try:
        code = proc.wait(ENDS_WITHIN)
    finally:
        stop_process(proc)
    stderr = proc.stderr.read().decode()
    assert code == 1
    assert "crashed" in stderr.strip().splitlines()[-1]


def test_burst_returns_when_the_rest_wait_on_a_failed_parent(db_path):
    q = JobQueue(db_path)
    parent = q.submit(Job("parent", jobfns.fail, max_attempts=1))
    child = q.submit(Job("child", jobfns.noop, dependencies=[parent]))
    grandchild = q.submit(Job("grandchild", jobfns.noop, dependencies=[child]))
    done = _burst(db_path)
    assert done.returncode == 0, done.stderr
    assert "2 job(s) wait on parents that failed" in done.stdout
    assert q.get_status(parent)["status"] == "failed"
    assert {q.get_status(j)["status"] for j in (child, grandchild)} == {"pending"}


def test_burst_still_waits_for_a_parent_that_can_complete(db_path):
    q = JobQueue(db_path)
    parent = q.submit(Job("parent", jobfns.sleep_then, params={"seconds": 0.3, "value": 1}))
    child = q.submit(Job("child", jobfns.noop, dependencies=[parent]))
    done = _burst(db_path, "--concurrency", "2")
    assert done.returncode == 0, done.stderr
    assert q.get_status(child)["status"] == "completed"
    assert "wait on parents" not in done.stdout


def test_a_burst_worker_gives_up_on_storage_trouble_that_never_ends(db_path, monkeypatch):
    monkeypatch.setattr(worker_module, "BURST_STORAGE_PATIENCE", 1.0)
    q = JobQueue(db_path)
    job_id = q.submit(Job("n", jobfns.noop))
    # Due in a few seconds: the worker registers and waits for it, then finds the
    # write lock taken (by this test, for good) when it comes to claim it.
    _sql(db_path, "UPDATE jobs SET ready_at = ? WHERE id = ?", time.time() + 4, job_id)
    worker = Worker(db_path, burst=True, polling_interval=0.05,
                    settings=SQLiteSettings(busy_timeout=0.1))
    thread = threading.Thread(target=worker.start)
    thread.start()
    wait_until(lambda: worker._registered, what="worker registration")
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        thread.join(ENDS_WITHIN)
        assert not thread.is_alive(), "the burst worker kept retrying"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert worker.failure is not None and "gave up" in worker.failure
    assert q.get_status(job_id)["status"] == "pending"


# -- no error text, crash, close() or damaged index loses or doubles an attempt


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_job_error_whose_message_cannot_be_shown_is_a_failed_attempt(db_path, isolation):
    q = JobQueue(db_path)
    bad = q.submit(Job("bad", jobfns.raise_bad_str, max_attempts=1))
    after = q.submit(Job("after", jobfns.add, params={"a": 2, "b": 3}))
    done = _burst(db_path, "--isolation", isolation)
    assert done.returncode == 0, done.stderr
    status = q.get_status(bad)
    assert status["status"] == "failed"
    assert status["error"] == ("BadStr (its message could not be shown: "
                               "RuntimeError: str fails)")
    assert q.get_result(after) == 5


def test_a_worker_whose_thread_crashed_hands_back_its_job_at_once(db_path):
    q = JobQueue(db_path)
    # A BaseException the job's error handling does not catch crashes the loop thread.
    job_id = q.submit(Job("escape", jobfns.raise_base_exception, max_attempts=2))
    done = run_cli("--db", db_path, "worker", "--polling-interval", "0.1",
                   timeout=ENDS_WITHIN)
    assert done.returncode == 1
    assert "crashed" in done.stderr.strip().splitlines()[-1]
    # Not left running until the lease (30 s) runs out: a failed attempt, retried.
    status = q.get_status(job_id)
    assert status["status"] == "pending" and status["attempts"] == 1
    assert "without recording the attempt" in status["error"]


def test_close_keeps_the_lease_of_a_running_thread_job_until_its_call_returns(
        db_path, tmp_path):
    q, job_id, release, worker, thread = _worker_inside_a_hanging_job(db_path, tmp_path)
    other = Worker(db_path, polling_interval=0.05, lease_timeout=1.5)
    other_thread = threading.Thread(target=other.start)
    other_thread.start()
    closer = threading.Thread(target=worker.close)
    try:
        worker.stop()
        closer.start()
        # Well past the shutdown timeout and two leases, with another worker polling:
        # the call still runs here, so nobody may take the job from this worker.
        closer.join(4)
        assert closer.is_alive(), "close() returned while the job's call was still running"
        with sqlite3.connect(db_path) as conn:
            status, attempts = conn.execute(
                "SELECT status, attempts FROM jobs WHERE id = ?", (job_id,)).fetchone()
        assert (status, attempts) == ("running", 1)
    finally:
        release.touch()
        if closer.ident is not None:
            closer.join(ENDS_WITHIN)
        thread.join(ENDS_WITHIN)
        other.stop()
        other_thread.join(ENDS_WITHIN)
        other.close()
    assert not closer.is_alive() and not thread.is_alive()
    status = q.get_status(job_id)
    assert status["status"] == "completed" and status["attempts"] == 1
    assert q.get_result(job_id) == "released"


def test_a_damaged_claim_index_does_not_lose_the_outcome_of_the_job_just_finished(
        db_path, tmp_path):
    q = JobQueue(db_path)
    marker, release = tmp_path / "started", tmp_path / "release"
    job_id = q.submit(Job("hang", jobfns.wait_for_file,
                          params={"path": str(release), "marker": str(marker)}))
    worker = Worker(db_path, polling_interval=0.05)
    thread = threading.Thread(target=worker.start)
    thread.start()
    try:
        wait_until(marker.exists, what="job start")
        q.submit_many([Job(f"j{i}", jobfns.noop) for i in range(20)])
        # The claim index goes on listing these as pending while the rows are not.
        _complete_behind_the_claim_index(db_path, "id != ?", (job_id,))
    finally:
        release.touch()
        thread.join(ENDS_WITHIN)
    assert not thread.is_alive()
    assert worker.failure is not None and "damaged" in worker.failure
    status = q.get_status(job_id)
    assert status["status"] == "completed" and status["attempts"] == 1
    assert q.get_result(job_id) == "released"


def test_a_job_that_closes_its_own_worker_completes_and_the_worker_stops(db_path, monkeypatch):
    q = JobQueue(db_path)
    job_id = q.submit(Job("closer", jobfns.close_own_worker))
    worker = Worker(db_path, polling_interval=0.05)
    monkeypatch.setattr(jobfns, "WORKER", worker)
    thread = threading.Thread(target=worker.start)
    thread.start()
    thread.join(ENDS_WITHIN)
    assert not thread.is_alive(), "close() from a job deadlocked its worker"
    assert q.get_result(job_id) == "closed"
    assert q.get_status(job_id)["attempts"] == 1
