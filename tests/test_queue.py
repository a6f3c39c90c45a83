"""JobQueue: submit, inspect, cancel, requeue, clear — on real database files."""

import sqlite3
import time
from datetime import datetime

import jobfns
import pytest

from gigq import Job, JobQueue, JobStatus, Worker
from gigq.errors import DatabaseFileError, JobDefinitionError, JobSubmissionError


@pytest.fixture
def queue(db_path):
    return JobQueue(db_path)


def test_missing_and_empty_files_become_databases(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for path in (tmp_path / "new.db", empty):
        q = JobQueue(str(path))
        assert q.stats()["total"] == 0


def test_submit_and_get_status(queue):
    job = Job("adder", jobfns.add, params={"a": 1, "b": 2}, priority=3, description="d",
              timeout=10, retry_delay=1)
    assert queue.submit(job) == job.id
    status = queue.get_status(job.id)
    assert status["exists"] is True and status["status"] == "pending"
    assert status["params"] == {"a": 1, "b": 2} and status["dependencies"] == []
    assert status["attempts"] == 0 and status["result"] is None
    assert status["function_name"] == "add" and status["function_module"] == "jobfns"
    assert status["pass_parent_results"] is None and status["executions"] == []
    assert status["priority"] == 3 and status["timeout"] == 10 and status["retry_delay"] == 1
    assert status["created_at"] == job.created_at
    datetime.fromisoformat(status["updated_at"])


def test_unknown_job(queue):
    assert queue.get_status("nope") == {"exists": False}
    with pytest.raises(KeyError):
        queue.get_result("nope")
    assert queue.cancel("nope") is False
    assert queue.requeue_job("nope") is False


def test_submitting_the_same_job_twice_is_refused(queue):
    job = Job("n", jobfns.noop)
    queue.submit(job)
    with pytest.raises(JobSubmissionError, match="already submitted"):
        queue.submit(job)
    assert queue.stats()["total"] == 1


def test_list_jobs_newest_first_filter_and_limit(queue):
    ids = [queue.submit(Job(f"j{i}", jobfns.noop)) for i in range(5)]
    listed = queue.list_jobs()
    assert [j["id"] for j in listed] == ids[::-1]
    assert "exists" not in listed[0] and "executions" not in listed[0]
    assert len(queue.list_jobs(limit=2)) == 2
    queue.cancel(ids[1])
    assert [j["id"] for j in queue.list_jobs(status=JobStatus.CANCELLED)] == [ids[1]]
    assert [j["id"] for j in queue.list_jobs(status="cancelled")] == [ids[1]]
    with pytest.raises(ValueError, match="valid statuses"):
        queue.list_jobs(status="bogus")


def test_stats_counts_every_status(queue):
    assert queue.stats() == {s.value: 0 for s in JobStatus} | {"total": 0}
    a = queue.submit(Job("a", jobfns.noop))
    queue.submit(Job("b", jobfns.noop))
    queue.cancel(a)
    stats = queue.stats()
    assert stats["pending"] == 1 and stats["cancelled"] == 1 and stats["total"] == 2


def test_stats_by_queue(queue):
    queue.submit(Job("a", jobfns.noop, queue="urgent"))
    queue.submit(Job("b", jobfns.noop))
    queue.submit(Job("c", jobfns.noop))
    by_queue = queue.stats(by_queue=True)
    assert by_queue["urgent"]["pending"] == 1 and by_queue["default"]["total"] == 2


def test_cancel_only_pending(queue, db_path):
    job_id = queue.submit(Job("n", jobfns.noop))
    assert queue.cancel(job_id) is True
    assert queue.get_status(job_id)["status"] == "cancelled"
    assert queue.cancel(job_id) is False


def test_requeue_failed_resets_attempts_and_error(queue, db_path):
    job_id = queue.submit(Job("f", jobfns.fail, max_attempts=1, retry_delay=5))
    Worker(db_path).process_one()
    assert queue.get_status(job_id)["status"] == "failed"
    assert queue.requeue_job(job_id) is True
    status = queue.get_status(job_id)
    assert (status["status"], status["attempts"], status["error"], status["retry_after"]) == (
        "pending", 0, None, None)
    assert queue.requeue_job(job_id) is False  # pending is not requeueable


def test_get_result(queue, db_path):
    job_id = queue.submit(Job("add", jobfns.add, params={"a": 2, "b": 3}))
    assert queue.get_result(job_id) is None
    Worker(db_path).process_one()
    assert queue.get_result(job_id) == 5


def test_submit_many_is_one_transaction(queue):
    jobs = [Job(f"j{i}", jobfns.noop) for i in range(100)]
    assert queue.submit_many(jobs) == [j.id for j in jobs]
    assert queue.stats()["pending"] == 100


def test_submit_many_all_or_nothing(queue):
    existing = Job("x", jobfns.noop)
    queue.submit(existing)
    batch = [Job("a", jobfns.noop), existing, Job("b", jobfns.noop)]
    with pytest.raises(JobSubmissionError, match="already submitted"):
        queue.submit_many(batch)
    assert queue.stats()["total"] == 1
    with pytest.raises(JobSubmissionError, match="unknown dependency"):
        queue.submit_many([Job("a", jobfns.noop), Job("b", jobfns.noop, dependencies=["nope"])])
    assert queue.stats()["total"] == 1


def _stored_rows(db):
    """Every submitted column of every job, type-exact (quote()), in rowid order."""
    from gigq.job_rows import SUBMITTED_COLUMNS

    columns = [c for c in (*SUBMITTED_COLUMNS, "status", "attempts") if c != "updated_at"]
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            f"SELECT {', '.join(f'quote({c})' for c in columns)} FROM jobs ORDER BY rowid"
        ).fetchall()
    conn.close()
    return rows


def test_submit_many_stores_what_one_by_one_submits_store(tmp_path):
    # Long runs of alike jobs, then jobs that differ in every option, across several
    # statement chunks: the batch must store exactly the rows, types and order that
    # submitting the same jobs one at a time stores.
    jobs = [Job("alike", jobfns.noop) for _ in range(1_200)]
    for i in range(700):
        jobs.append(Job(
            f"job-{i % 7}", jobfns.add if i % 2 else jobfns.echo,
            params={"a": i, "b": 1} if i % 2 else ({"x": [i]} if i % 3 else {}),
            priority=i % 4 - 1, max_attempts=1 + i % 3, timeout=(0, 5, 300)[i % 3],
            description=None if i % 5 else f"d{i}", retry_delay=i % 2,
            retry_backoff=(1.0, 2, 1.5)[i % 3], queue=("default", "q1")[i % 2],
            pass_parent_results=(None, True, False)[i % 3],
            dependencies=[jobs[i]] if i % 11 == 0 else None,
        ))
    jobs += [Job("alike-again", jobfns.noop, priority=2) for _ in range(600)]
    one_by_one, batched = tmp_path / "single.db", tmp_path / "batch.db"
    single_queue = JobQueue(one_by_one)
    for job in jobs:
        single_queue.submit(job)
    assert JobQueue(batched).submit_many(jobs) == [j.id for j in jobs]
    assert _stored_rows(batched) == _stored_rows(one_by_one)
    assert len(_stored_rows(batched)) == len(jobs)


def test_submit_many_rolls_back_every_chunk_on_a_duplicate(queue):
    existing = Job("x", jobfns.noop)
    queue.submit(existing)
    batch = [Job("a", jobfns.noop) for _ in range(1_500)]
    batch.insert(1_400, existing)  # in a later statement than the first rows
    with pytest.raises(JobSubmissionError, match=f"job {existing.id} was already submitted"):
        queue.submit_many(batch)
    assert queue.stats()["total"] == 1


def test_submit_many_allows_dependencies_within_the_batch(queue):
    parent = Job("p", jobfns.noop)
    child = Job("c", jobfns.noop, dependencies=[parent])
    queue.submit_many([child, parent])  # order within the batch does not matter
    assert queue.get_status(child.id)["waiting_on"] == [{"id": parent.id, "status": "pending"}]


def test_dependency_cycles_and_self_dependencies_are_refused(queue):
    a = Job("a", jobfns.noop)
    b = Job("b", jobfns.noop, dependencies=[a])
    a.dependencies = [b.id]
    with pytest.raises(JobSubmissionError, match="cycle"):
        queue.submit_many([a, b])
    c = Job("c", jobfns.noop)
    c.dependencies = [c.id]
    with pytest.raises(JobSubmissionError, match="itself"):
        queue.submit_many([c])
    assert queue.stats()["total"] == 0


def test_clear_completed_removes_jobs_and_their_history(queue, db_path):
    done = queue.submit(Job("a", jobfns.noop))
    cancelled = queue.submit(Job("b", jobfns.noop))
    kept = queue.submit(Job("c", jobfns.fail, max_attempts=1))
    queue.cancel(cancelled)
    worker = Worker(db_path)
    while worker.process_one():
        pass
    assert queue.clear_completed() == 2
    assert queue.get_status(done)["exists"] is False
    assert queue.get_status(kept)["exists"] is True
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM job_executions WHERE job_id = ?",
                            (done,)).fetchone()[0] == 0


def test_clear_completed_before_timestamp(queue, db_path):
    old = queue.submit(Job("a", jobfns.noop))
    Worker(db_path).process_one()
    cutoff = datetime.now().isoformat()
    time.sleep(0.01)
    new = queue.submit(Job("b", jobfns.noop))
    Worker(db_path).process_one()
    assert queue.clear_completed(before_timestamp=cutoff) == 1
    assert not queue.get_status(old)["exists"] and queue.get_status(new)["exists"]
    with pytest.raises(ValueError, match="ISO"):
        queue.clear_completed(before_timestamp="last week")


@pytest.mark.parametrize("kwargs, word", [
    ({"max_attempts": 0}, "max_attempts"),
    ({"timeout": -1}, "timeout"),
    ({"retry_delay": -2}, "retry_delay"),
    ({"priority": "high"}, "priority"),
    ({"params": [1, 2]}, "params"),
    ({"retry_backoff": 0.5}, "retry_backoff"),
    ({"dependencies": [3]}, "dependencies"),
    ({"queue": ""}, "queue"),
])
def test_nonsense_options_are_refused_at_construction(kwargs, word):
    with pytest.raises(JobDefinitionError, match=word):
        Job("n", jobfns.noop, **kwargs)


def test_unimportable_functions_are_refused():
    def nested():
        pass

    class Holder:
        def method(self):
            pass

    with pytest.raises(JobDefinitionError, match="lambda"):
        Job("n", lambda: None)
    with pytest.raises(JobDefinitionError, match="nested"):
        Job("n", nested)
    with pytest.raises(JobDefinitionError, match="method"):
        Job("n", Holder().method)
    with pytest.raises(JobDefinitionError, match=r"partial|module-level"):
        Job("n", __import__("functools").partial(jobfns.add, 1))


def test_non_json_params_are_refused_at_submit_and_nothing_is_stored(queue):
    job = Job("n", jobfns.echo, params={"when": datetime.now()})
    with pytest.raises(JobDefinitionError, match="JSON"):
        queue.submit(job)
    assert queue.stats()["total"] == 0


def test_main_functions_resolve_or_are_refused(queue, monkeypatch):
    import sys
    import types

    main = types.ModuleType("__main__")  # an interactive session: no __file__, no spec

    def interactive():
        pass

    interactive.__module__ = "__main__"
    interactive.__qualname__ = "interactive"
    main.interactive = interactive
    monkeypatch.setitem(sys.modules, "__main__", main)
    with pytest.raises(JobDefinitionError, match="__main__"):
        queue.submit(Job("n", interactive))
    memory = JobQueue(":memory:")
    job = Job("n", interactive)
    memory.submit(job)  # an in-process queue can run it
    assert memory.get_status(job.id)["function_module"] == "__main__"


def test_unknown_dependency_is_refused(queue):
    with pytest.raises(JobSubmissionError, match="unknown dependency"):
        queue.submit(Job("n", jobfns.noop, dependencies=["does-not-exist"]))


def test_database_in_missing_directory(tmp_path):
    with pytest.raises(DatabaseFileError, match="does not exist"):
        JobQueue(str(tmp_path / "nope" / "jobs.db"))


def test_database_in_read_only_directory(tmp_path):
    import os
    import subprocess

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    immutable = False
    try:
        if os.access(ro, os.W_OK):
            # root ignores permission bits; an immutable directory stops it too
            done = subprocess.run(["chattr", "+i", str(ro)], capture_output=True)
            if done.returncode != 0:
                pytest.skip("root can write anywhere and chattr +i is unavailable here")
            immutable = True
        with pytest.raises(DatabaseFileError, match=r"not writable|cannot open|read-only"):
            JobQueue(str(ro / "jobs.db"))
        assert not (ro / "jobs.db").exists()
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(ro)])
        ro.chmod(0o755)


def test_file_that_is_not_sqlite(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(DatabaseFileError, match="not an SQLite database"):
        JobQueue(str(path))
    assert path.read_text().startswith("these are my notes")


def test_lock_stats_count_write_transactions(queue):
    before = queue.lock_stats().transactions
    queue.submit(Job("a", jobfns.noop))
    queue.submit_many([Job("b", jobfns.noop), Job("c", jobfns.noop)])
    snap = queue.lock_stats()
    assert snap.transactions == before + 2
    data = snap.as_dict()
    assert {"lock_wait_total_s", "lock_wait_max_s", "busy_retries", "busy_errors",
            "histogram", "lock_wait_p99_ms"} <= set(data)
    assert sum(data["histogram"]) == snap.transactions
