"""Claiming and settling where GigQ 0.5.1 was wrong, each pinned by a test 0.5.1 fails
(README, "Differences").

Covered elsewhere: timeout=0 means none and in-process timeouts never run a job twice
(test_worker), unknown dependencies and waiting_on (test_queue/test_worker),
non-JSON results (test_worker), executions deleted with their job (test_queue),
worker on a new database and float polling intervals (test_worker/test_cli).
"""

import sqlite3
import threading
import time

import jobfns
from conftest import wait_until

from gigq import Job, JobQueue, SQLiteSettings, Worker
from gigq.claims import ALL_JOBS


def test_a_stale_run_cannot_overwrite_a_newer_claim(db_path, tmp_path):
    q = JobQueue(db_path)
    release, started = tmp_path / "release", tmp_path / "started"
    job_id = q.submit(Job("slow", jobfns.wait_for_file,
                          params={"path": str(release), "marker": str(started)}))
    first = Worker(db_path, worker_id="first", lease_timeout=60)
    thread = threading.Thread(target=first.process_one)
    thread.start()
    wait_until(started.exists, what="first run to start")
    # The first worker looks dead to the others (its lease ran out) ...
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE jobs SET lease_expires_at = 0 WHERE id = ?", (job_id,))
    second = Worker(db_path, worker_id="second")
    second._check_for_timeouts()
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE jobs SET function_name = 'add', params = ? WHERE id = ?",
                     ('{"a": 20, "b": 22}', job_id))
    assert second.process_one() is True  # ... so the second worker reruns the job
    assert q.get_result(job_id) == 42
    release.touch()  # now the first, stale run finishes with "released"
    thread.join(30)
    status = q.get_status(job_id)
    assert status["result"] == 42 and status["status"] == "completed"
    reasons = [e["error"] or "" for e in status["executions"]]
    assert any("lease expired" in r for r in reasons)


def test_claim_reads_one_index_entry_not_the_whole_backlog(db_path):
    q = JobQueue(db_path)
    q.submit_many([Job("n", jobfns.noop, priority=i % 3) for i in range(50)])
    sql = ALL_JOBS.claim_sql
    with sqlite3.connect(db_path) as conn:
        plan = " | ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN " + sql, ("w", "t", "t", "c", "o", 0.0, 0.0, time.time())))
    assert "jobs_claimable" in plan
    assert "TEMP B-TREE" not in plan and "SCAN jobs" not in plan.replace("SCAN jobs USING", "")


def test_jobs_waiting_on_parents_are_not_in_the_claim_index(db_path):
    q = JobQueue(db_path)
    parent = Job("p", jobfns.fail, max_attempts=1)
    q.submit(parent)
    Worker(db_path).process_one()
    q.submit_many([Job(f"c{i}", jobfns.noop, dependencies=[parent]) for i in range(20)])
    with sqlite3.connect(db_path) as conn:
        claimable = conn.execute(
            "SELECT COUNT(*) FROM jobs INDEXED BY jobs_claimable "
            "WHERE status = 'pending' AND blocked_by = 0").fetchone()[0]
    assert claimable == 0
    assert Worker(db_path).process_one() is False


def test_a_locked_database_is_waited_out_not_taken_for_an_empty_queue(db_path):
    settings = SQLiteSettings(busy_timeout=0.2)
    q = JobQueue(db_path, settings=settings)
    job_id = q.submit(Job("n", jobfns.add, params={"a": 1, "b": 1}))
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    worker = Worker(db_path, settings=settings)
    result = []
    thread = threading.Thread(target=lambda: result.append(worker.process_one()))
    thread.start()
    time.sleep(1.0)  # several busy timeouts pass while the lock is held
    holder.execute("COMMIT")
    holder.close()
    thread.join(60)
    assert result == [True]
    assert q.get_result(job_id) == 2
    stats = worker.lock_stats()
    assert stats.busy_errors >= 1 and stats.lock_wait_max_s > 0


def test_system_exit_inside_a_job_is_a_failed_attempt(db_path):
    q = JobQueue(db_path)
    job_id = q.submit(Job("exit", jobfns.sleep_then, params={"seconds": 0}, max_attempts=1))
    with sqlite3.connect(db_path) as conn:  # make the function raise SystemExit
        conn.execute("UPDATE jobs SET function_module = 'sys', function_name = 'exit', "
                     "params = '{}' WHERE id = ?", (job_id,))
    assert Worker(db_path, allowed_modules=None).process_one() is True  # nothing escapes
    status = q.get_status(job_id)
    assert status["status"] == "failed" and status["attempts"] == 1
    assert "SystemExit" in status["error"]


def test_retry_after_is_cleared_on_success(db_path, tmp_path):
    q = JobQueue(db_path)
    job_id = q.submit(Job("flaky", jobfns.flaky, retry_delay=0.2,
                          params={"marker_dir": str(tmp_path / "m"), "fail_times": 1}))
    worker = Worker(db_path)
    worker.process_one()
    assert q.get_status(job_id)["retry_after"] is not None
    wait_until(worker.process_one, what="the retry to become due")
    status = q.get_status(job_id)
    assert status["status"] == "completed" and status["retry_after"] is None
