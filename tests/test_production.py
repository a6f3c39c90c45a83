"""Named queues, priority ranges, the worker supervisor and the health probe."""

import json
import signal
import sqlite3
import subprocess
import threading
import time

import jobfns
import pytest
from conftest import gigq_cli, run_cli, stop_process, wait_until

from gigq import Job, JobQueue, Worker, task
from gigq.percentile import percentile
from gigq.probe import probe


def completed_order(q):
    done = q.list_jobs(status="completed", limit=1000)
    return [j["name"] for j in sorted(done, key=lambda j: j["completed_at"])]


def drain(worker):
    while worker.process_one():
        pass


def test_a_worker_claims_only_its_queues_in_global_priority_then_fifo(db_path):
    q = JobQueue(db_path)
    for name, queue, prio in [("d1", "default", 0), ("u1", "urgent", 1), ("m1", "mail", 9),
                              ("d2", "default", 5), ("u2", "urgent", 1), ("d3", "default", 0)]:
        q.submit(Job(name, jobfns.noop, queue=queue, priority=prio))
    drain(Worker(db_path, queues=["urgent", "default"]))
    assert completed_order(q) == ["d2", "u1", "u2", "d1", "d3"]
    assert q.get_status(q.list_jobs(status="pending")[0]["id"])["queue"] == "mail"


def test_a_worker_without_queues_serves_every_queue_in_one_priority_order(db_path):
    q = JobQueue(db_path)
    for name, queue, prio in [("a", "x", 0), ("b", "y", 3), ("c", "z", 1), ("d", "x", 3)]:
        q.submit(Job(name, jobfns.noop, queue=queue, priority=prio))
    drain(Worker(db_path))
    assert completed_order(q) == ["b", "d", "c", "a"]


def test_priority_range(db_path):
    q = JobQueue(db_path)
    for p in (0, 5, 10, 15):
        q.submit(Job(f"p{p}", jobfns.noop, priority=p))
    drain(Worker(db_path, min_priority=5, max_priority=10))
    assert completed_order(q) == ["p10", "p5"]


def test_task_queue_option_and_cli_queue_flags(db_path, capsys):
    from gigq.cli import main

    routed = task(queue="reports")(jobfns.add.__wrapped__ if hasattr(jobfns.add, "__wrapped__")
                                   else jobfns.add)
    q = JobQueue(db_path)
    job_id = routed.submit(q, a=1, b=1)
    assert q.get_status(job_id)["queue"] == "reports"
    assert main(["--db", db_path, "submit", "jobfns.noop", "--name", "n", "--queue", "mail"]) == 0
    assert main(["--db", db_path, "worker", "--burst", "--queue", "mail",
                 "--polling-interval", "0.05"]) == 0
    by_queue = q.stats(by_queue=True)
    assert by_queue["mail"]["completed"] == 1 and by_queue["reports"]["pending"] == 1
    capsys.readouterr()
    assert main(["--db", db_path, "stats", "--by-queue"]) == 0
    out = capsys.readouterr().out
    assert "reports" in out and "mail" in out


def test_claiming_by_queue_uses_the_claim_index(db_path):
    from gigq.claims import ClaimFilter

    JobQueue(db_path)
    filt = ClaimFilter(["urgent"], min_priority=1)
    sql, args = filt.single_statement_target()
    with sqlite3.connect(db_path) as conn:
        plan = " ".join(r[3] for r in conn.execute(
            f"EXPLAIN QUERY PLAN SELECT 1 FROM jobs WHERE rowid = {sql}", (*args, 0.0, 1)))
    assert "jobs_claimable (queue=? AND priority>?)" in plan and "TEMP B-TREE" not in plan


def test_supervisor_restarts_a_killed_child_and_stops_all_on_sigterm(db_path, tmp_path):
    q = JobQueue(db_path)
    sup = gigq_cli("--db", db_path, "worker", "--processes", "2", "--concurrency", "2",
                   "--queue", "urgent", "--queue", "default", "--polling-interval", "0.1",
                   "--worker-id", "sup", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def live_pids():
            with sqlite3.connect(db_path) as conn:
                return {w: p for w, p in conn.execute(
                    "SELECT worker_id, pid FROM gigq_workers WHERE stopped_epoch IS NULL")}

        pids = wait_until(lambda: (p := live_pids()) and len(p) == 2 and p, what="2 children")
        assert set(pids) == {"sup-p0", "sup-p1"}
        victim = pids["sup-p0"]
        __import__("os").kill(victim, signal.SIGKILL)
        wait_until(lambda: live_pids().get("sup-p0") not in (None, victim), timeout=60,
                   what="the killed child to be replaced")
        job_id = q.submit(Job("after", jobfns.add, params={"a": 4, "b": 4}))
        wait_until(lambda: q.get_result(job_id) == 8, what="the restarted pool to work")
        children = list(live_pids().values())
    finally:
        code = stop_process(sup, signal.SIGTERM)
    assert code == 0
    for pid in children:
        wait_until(lambda p=pid: not __import__("gigq.leases").leases.process_alive(p),
                   what=f"child {pid} to exit")


def test_supervisor_gives_up_on_a_crash_loop(tmp_path):
    from gigq.supervisor import Supervisor

    crashing = ["python3", "-c", "import sys; sys.exit(7)"]
    sup = Supervisor(lambda i: crashing, processes=2, crash_limit=3, crash_window=60)
    assert sup.run() == 1 and sup.gave_up


def test_supervisor_with_burst_ends_when_the_work_is_done(db_path):
    q = JobQueue(db_path)
    q.submit_many([Job("n", jobfns.noop) for _ in range(50)])
    done = run_cli("--db", db_path, "worker", "--processes", "2", "--burst",
                   "--polling-interval", "0.05")
    assert done.returncode == 0 and q.stats()["completed"] == 50


def test_systemd_unit_in_the_readme_is_valid(tmp_path):
    import shutil
    from pathlib import Path

    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    unit = readme.split("```ini\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "gigq-worker.service"
    path.write_text(unit.replace("/srv/app/.venv/bin/gigq", shutil.which("true")))
    done = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                          text=True)
    problems = [line for line in done.stderr.splitlines() if str(path.name) in line]
    assert not problems, problems


def test_percentile():
    # One percentile function for the core and the bench, on the 0-100 scale.
    assert percentile([], 50) is None
    assert percentile([3, 1, 2], 50) == 2
    assert percentile([0, 10], 95) == pytest.approx(9.5)


def test_probe_figures_on_known_timestamps(db_path):
    q = JobQueue(db_path)
    now = 1_800_000_000.0
    ids = q.submit_many([Job(f"j{i}", jobfns.noop, queue="a" if i < 8 else "b")
                         for i in range(10)])
    with sqlite3.connect(db_path) as conn:
        for i, job_id in enumerate(ids[:6]):  # completed: wait i s, run 0.5 s, at now-10*i
            created = now - 100 - 10 * i
            conn.execute(
                "UPDATE jobs SET status = 'completed', created_epoch = ?, started_epoch = ?, "
                "completed_epoch = ? WHERE id = ?",
                (created, created + i, created + i + 0.5, job_id))
        conn.execute("UPDATE jobs SET created_epoch = ? WHERE id = ?", (now - 300, ids[6]))
        conn.execute("UPDATE jobs SET created_epoch = ? WHERE id IN (?, ?, ?)",
                     (now - 5, *ids[7:]))
    report = probe(db_path, now=now, round_trip=False)
    assert report.depth["a"]["completed"] == 6 and report.depth["a"]["pending"] == 2
    assert report.depth["b"]["pending"] == 2 and report.pending == 4
    assert report.oldest_pending_age_s == pytest.approx(300)
    # completed at now-100+i*(1-10)+0.5: within the last minute none; widen to check count
    assert report.completed_last_minute == 0
    assert report.sample_size == 6
    assert report.wait_p50_s == pytest.approx(2.5) and report.run_p50_s == pytest.approx(0.5)
    assert report.wait_p95_s == pytest.approx(4.75)
    assert report.healthy and report.round_trip is None


def test_probe_thresholds_and_exit_codes(db_path):
    q = JobQueue(db_path)
    q.submit_many([Job("n", jobfns.noop) for _ in range(3)])
    ok = run_cli("--db", db_path, "probe", "--max-depth", "10", "--max-age", "3600")
    assert ok.returncode == 0 and "Healthy." in ok.stdout
    deep = run_cli("--db", db_path, "probe", "--json", "--max-depth", "2")
    assert deep.returncode == 1
    data = json.loads(deep.stdout)
    assert data["healthy"] is False and data["pending"] == 3
    assert "3 jobs pending" in data["problems"][0]
    time.sleep(0.2)
    old = run_cli("--db", db_path, "probe", "--max-age", "0.1")
    assert old.returncode == 1 and "UNHEALTHY" in old.stdout


def test_probe_round_trip_with_a_running_worker(db_path):
    worker = Worker(db_path, polling_interval=0.1)
    thread = threading.Thread(target=worker.start)
    thread.start()
    try:
        wait_until(lambda: probe(db_path, round_trip=False).workers_live == 1,
                   what="the worker to register")
        report = probe(db_path, round_trip_timeout=30)
    finally:
        worker.stop()
        thread.join(30)
    assert report.round_trip["completed"] and report.round_trip["total_s"] >= 0
    assert report.healthy
    assert JobQueue(db_path).stats()["total"] == 0  # the probe job was removed again


def test_probe_holds_no_sql_of_its_own():
    # Its statements live in gigq/job_rows.py, the module that owns the jobs rows.
    import inspect

    import gigq.probe

    source = inspect.getsource(gigq.probe)
    for word in ("execute(", "SELECT ", "DELETE ", "INSERT ", "UPDATE "):
        assert word not in source, word
