"""Worker behaviour on real files: order, retries, dependencies, timeouts, stopping."""

import threading
import time

import jobfns
import pytest
from conftest import wait_until

from gigq import Job, JobQueue, SQLiteSettings, Worker, Workflow
from gigq.errors import SettingsError


def drain(db_path, **kwargs):
    worker = Worker(db_path, **kwargs)
    n = 0
    while worker.process_one():
        n += 1
    return n


def test_process_one_runs_a_job_and_records_it(db_path):
    q = JobQueue(db_path)
    job_id = q.submit(Job("add", jobfns.add, params={"a": 1, "b": 2}))
    worker = Worker(db_path, worker_id="w1")
    assert worker.process_one() is True
    status = q.get_status(job_id)
    assert status["status"] == "completed" and status["result"] == 3
    assert status["attempts"] == 1 and status["worker_id"] is None
    assert status["started_at"] and status["completed_at"]
    (execution,) = status["executions"]
    assert execution["status"] == "completed" and execution["result"] == 3
    assert execution["worker_id"] == "w1"
    assert worker.process_one() is False


def test_priority_then_fifo(db_path):
    q = JobQueue(db_path)
    low = [q.submit(Job(f"low{i}", jobfns.noop, priority=0)) for i in range(3)]
    high = [q.submit(Job(f"high{i}", jobfns.noop, priority=5)) for i in range(3)]
    mid = q.submit(Job("mid", jobfns.noop, priority=2))
    worker = Worker(db_path)
    order = []
    while worker.process_one():
        done = {j["id"]: j for j in q.list_jobs(status="completed", limit=100)}
        order = sorted(done, key=lambda i: done[i]["completed_at"])
    assert order == [*high, mid, *low]


def test_priority_is_global_between_jobs_with_and_without_dependencies(db_path):
    q = JobQueue(db_path)
    parent = Job("parent", jobfns.noop, priority=0)
    q.submit(parent)
    Worker(db_path).process_one()
    child = q.submit(Job("child", jobfns.noop, priority=9, dependencies=[parent.id]))
    plain = q.submit(Job("plain", jobfns.noop, priority=1))
    worker = Worker(db_path)
    worker.process_one()
    assert q.get_status(child)["status"] == "completed"
    assert q.get_status(plain)["status"] == "pending"


def test_failure_retries_then_fails(db_path):
    q = JobQueue(db_path)
    job_id = q.submit(Job("f", jobfns.fail, params={"message": "nope"}, max_attempts=2))
    worker = Worker(db_path)
    worker.process_one()
    status = q.get_status(job_id)
    assert status["status"] == "pending" and status["error"] == "nope" and status["attempts"] == 1
    worker.process_one()
    status = q.get_status(job_id)
    assert status["status"] == "failed" and status["attempts"] == 2
    assert [e["status"] for e in status["executions"]] == ["failed", "failed"]
    assert worker.process_one() is False


def test_flaky_job_succeeds_on_retry(db_path, tmp_path):
    q = JobQueue(db_path)
    job_id = q.submit(Job("flaky", jobfns.flaky,
                          params={"marker_dir": str(tmp_path / "m"), "fail_times": 2}))
    assert drain(db_path) == 3
    status = q.get_status(job_id)
    assert status["status"] == "completed" and status["result"] == 3 and status["error"] is None


def test_retry_delay_holds_the_job_back(db_path):
    q = JobQueue(db_path)
    job_id = q.submit(Job("f", jobfns.fail, max_attempts=2, retry_delay=30))
    worker = Worker(db_path)
    worker.process_one()
    status = q.get_status(job_id)
    assert status["status"] == "pending" and status["retry_after"]
    assert worker.process_one() is False  # not due for 30 s


def test_retry_backoff_grows_the_delay(db_path):
    from gigq.claims import Claim, retry_delay_for

    def claim(attempt):
        return Claim(id="x", name="x", module="m", function="f", params={}, dependencies=[],
                     attempt=attempt, max_attempts=5, timeout=None, retry_delay=2,
                     retry_backoff=3, pass_parent_results=None, queue="default",
                     claim_id="c", worker_id="w", started=0.0, rowid=1)

    assert [retry_delay_for(claim(a)) for a in (1, 2, 3)] == [2, 6, 18]


def test_dependencies_and_parent_results(db_path):
    q = JobQueue(db_path)
    wf = Workflow("fan-in")
    source = wf.add_task(jobfns.produce)
    sink = wf.add_task(jobfns.consume, depends_on=[source])
    plain = wf.add_job(Job("plain", jobfns.no_parents), depends_on=[source])
    kw = wf.add_job(Job("kw", jobfns.takes_kwargs), depends_on=[source])
    forced_off = wf.add_job(Job("off", jobfns.takes_kwargs, pass_parent_results=False),
                            depends_on=[source])
    wf.submit_all(q)
    worker = Worker(db_path)
    worker.process_one()
    assert q.get_status(source.id)["status"] == "completed"
    assert drain(db_path) == 4
    assert q.get_result(sink.id) == 3
    assert q.get_result(plain.id) == "plain"
    assert q.get_result(kw.id) == ["parent_results"]
    assert q.get_result(forced_off.id) == []


def test_parent_results_in_dependency_order(db_path):
    q = JobQueue(db_path)
    a = Job("a", jobfns.add, params={"a": 1, "b": 1})
    b = Job("b", jobfns.add, params={"a": 2, "b": 2})
    child = Job("c", jobfns.takes_parents, dependencies=[b.id, a.id])
    q.submit_many([a, b, child])
    drain(db_path)
    assert list(q.get_result(child.id).items()) == [(b.id, 4), (a.id, 2)]


def test_dependents_of_a_failed_parent_wait_and_say_why(db_path):
    q = JobQueue(db_path)
    parent = Job("p", jobfns.fail, max_attempts=1)
    child = Job("c", jobfns.noop, dependencies=[parent])
    q.submit_many([parent, child])
    drain(db_path)
    status = q.get_status(child.id)
    assert status["status"] == "pending"
    assert status["waiting_on"] == [{"id": parent.id, "status": "failed"}]
    # a requeued parent that then completes releases the child
    with __import__("sqlite3").connect(db_path) as conn:
        conn.execute("UPDATE jobs SET function_name = 'noop' WHERE id = ?", (parent.id,))
    assert q.requeue_job(parent.id)
    drain(db_path)
    assert q.get_status(child.id)["status"] == "completed"


def test_completing_a_parent_by_direct_sql_is_reconciled(db_path):
    q = JobQueue(db_path)
    parent, child = Job("p", jobfns.noop), Job("c", jobfns.noop)
    child.dependencies = [parent.id]
    q.submit_many([parent, child])
    with __import__("sqlite3").connect(db_path) as conn:
        conn.execute("UPDATE jobs SET status = 'completed' WHERE id = ?", (parent.id,))
    worker = Worker(db_path)
    worker._check_for_timeouts()  # applies every bookkeeping rule now
    assert worker.process_one() is True
    assert q.get_status(child.id)["status"] == "completed"


def test_result_that_is_not_json_fails_without_retry(db_path):
    q = JobQueue(db_path)
    job_id = q.submit(Job("set", jobfns.returns_set, max_attempts=3))
    assert drain(db_path) == 1
    status = q.get_status(job_id)
    assert status["status"] == "failed" and "cannot be stored" in status["error"]
    assert status["attempts"] == 1


def test_in_process_timeout_is_recorded_and_never_runs_twice(db_path, tmp_path):
    q = JobQueue(db_path)
    release = tmp_path / "release"
    started = tmp_path / "started"
    job_id = q.submit(Job("hang", jobfns.wait_for_file, timeout=1, max_attempts=2,
                          params={"path": str(release), "marker": str(started)}))
    worker = Worker(db_path, lease_timeout=30)
    thread = threading.Thread(target=worker.process_one)
    thread.start()
    wait_until(started.exists, what="job start")
    other = Worker(db_path)
    wait_until(lambda: q.get_status(job_id)["executions"][0]["status"] == "timeout",
               what="the timeout to be recorded")
    status = q.get_status(job_id)
    assert status["status"] == "running" and "timed out" in status["error"]
    assert other.process_one() is False  # the first call is still running: no second run
    release.touch()
    thread.join(30)
    status = q.get_status(job_id)
    assert status["status"] == "pending" and status["attempts"] == 1  # retried, result dropped
    assert q.get_result(job_id) is None


def test_in_process_timeout_on_last_attempt_ends_as_timeout(db_path, tmp_path):
    q = JobQueue(db_path)
    release = tmp_path / "release"
    job_id = q.submit(Job("hang", jobfns.wait_for_file, timeout=1, max_attempts=1,
                          params={"path": str(release)}))
    worker = Worker(db_path)
    thread = threading.Thread(target=worker.process_one)
    thread.start()
    wait_until(lambda: q.get_status(job_id)["status"] == "timeout", what="timeout status")
    release.touch()
    thread.join(30)
    status = q.get_status(job_id)
    assert status["status"] == "timeout" and status["result"] is None


def test_zero_or_none_timeout_means_no_timeout(db_path):
    q = JobQueue(db_path)
    a = q.submit(Job("a", jobfns.sleep_then, params={"seconds": 0.01, "value": 1}, timeout=0))
    b = q.submit(Job("b", jobfns.sleep_then, params={"seconds": 0.01, "value": 2}, timeout=None))
    drain(db_path)
    assert q.get_result(a) == 1 and q.get_result(b) == 2
    assert q.get_status(b)["timeout"] is None


def test_concurrency_threads_use_suffixed_ids(db_path, tmp_path):
    q = JobQueue(db_path)
    q.submit_many([Job(f"r{i}", jobfns.record, params={"job_key": i, "out_dir": str(tmp_path)})
                   for i in range(40)])
    worker = Worker(db_path, worker_id="w", concurrency=4, polling_interval=0.05, burst=True)
    worker.start()
    assert q.stats()["completed"] == 40
    ids = {e["worker_id"] for j in q.list_jobs(limit=100)
           for e in q.get_status(j["id"])["executions"]}
    assert ids <= {"w-0", "w-1", "w-2", "w-3"}


def test_stop_lets_the_running_job_finish(db_path, tmp_path):
    q = JobQueue(db_path)
    marker = tmp_path / "started"
    job_id = q.submit(Job("slow", jobfns.sleep_then,
                          params={"seconds": 1.0, "value": "done", "marker": str(marker)}))
    worker = Worker(db_path, polling_interval=0.05)
    thread = threading.Thread(target=worker.start)
    thread.start()
    wait_until(marker.exists, what="job start")
    worker.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert q.get_status(job_id)["status"] == "completed"


def test_stop_hands_back_a_process_job_that_outlives_the_shutdown_timeout(db_path, tmp_path):
    # Its child process is killed first; a job in a thread is never handed back while
    # its call runs (test_worker_robustness).
    q = JobQueue(db_path)
    marker, release = tmp_path / "started", tmp_path / "release"
    job_id = q.submit(Job("hang", jobfns.wait_for_file,
                          params={"path": str(release), "marker": str(marker)}))
    worker = Worker(db_path, polling_interval=0.05, shutdown_timeout=0.5, isolation="process")
    thread = threading.Thread(target=worker.start)
    thread.start()
    wait_until(marker.exists, what="job start")
    worker.stop()
    thread.join(30)
    status = q.get_status(job_id)
    assert status["status"] == "pending" and status["attempts"] == 0
    assert status["executions"][-1]["status"] == "cancelled"
    assert "handed back" in status["executions"][-1]["error"]
    release.touch()


def test_start_from_a_non_main_thread(db_path):
    q = JobQueue(db_path)
    q.submit(Job("n", jobfns.noop))
    worker = Worker(db_path, polling_interval=0.05, burst=True)
    thread = threading.Thread(target=worker.start)
    thread.start()
    thread.join(30)
    assert q.stats()["completed"] == 1


def test_idle_worker_wakes_on_submit_before_polling_interval(db_path):
    q = JobQueue(db_path)
    worker = Worker(db_path, polling_interval=600)
    thread = threading.Thread(target=worker.start)
    thread.start()
    try:
        time.sleep(0.3)  # let it go idle with a ten-minute polling interval
        job_id = q.submit(Job("n", jobfns.add, params={"a": 1, "b": 1}))
        # without the wake-up the job would wait ten minutes; 60 s is a generous bound
        wait_until(lambda: q.get_result(job_id) == 2, timeout=60, what="wake-up")
    finally:
        worker.stop()
        thread.join(30)


def test_allowed_modules_refuse_other_functions(db_path):
    q = JobQueue(db_path)
    ok = q.submit(Job("ok", jobfns.noop))
    refused = q.submit(Job("other", __import__("os.path").path.basename, params={"p": "/a/b"}))
    drain(db_path, allowed_modules=["jobfns"])
    assert q.get_status(ok)["status"] == "completed"
    status = q.get_status(refused)
    assert status["status"] == "failed" and "not allowed" in status["error"]
    assert status["attempts"] == 1


def test_worker_on_a_new_database_creates_the_schema(db_path):
    worker = Worker(db_path)
    assert worker.process_one() is False


@pytest.mark.parametrize("kwargs", [
    {"polling_interval": -1}, {"isolation": "fiber"}, {"lease_timeout": 0},
    {"shutdown_timeout": -5}, {"queues": "urgent"},
])
def test_bad_worker_settings(db_path, kwargs):
    with pytest.raises(SettingsError):
        Worker(db_path, **kwargs)


def test_memory_database_is_shared_by_threads_of_one_process(tmp_path):
    q = JobQueue(":memory:")
    jobs = [Job(f"r{i}", jobfns.record, params={"job_key": i, "out_dir": str(tmp_path)})
            for i in range(200)]
    q.submit_many(jobs)
    Worker(":memory:", concurrency=4, polling_interval=0.05, burst=True).start()
    assert q.stats()["completed"] == 200
    lines = (tmp_path / f"ran-{__import__('os').getpid()}.txt").read_text().split()
    assert sorted(map(int, lines)) == list(range(200))


@pytest.mark.parametrize("mode", ["wal", "delete", "truncate"])
def test_threads_with_each_journal_mode_run_every_job_once(db_path, tmp_path, mode):
    settings = SQLiteSettings(journal_mode=mode, busy_timeout=30)
    q = JobQueue(db_path, settings=settings)
    q.submit_many([Job(f"r{i}", jobfns.record, params={"job_key": i, "out_dir": str(tmp_path)})
                   for i in range(300)])
    workers = [Worker(db_path, settings=settings, concurrency=3, polling_interval=0.05,
                      burst=True) for _ in range(2)]
    threads = [threading.Thread(target=w.start) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert q.stats()["completed"] == 300
    lines = (tmp_path / f"ran-{__import__('os').getpid()}.txt").read_text().split()
    assert sorted(map(int, lines)) == list(range(300))
