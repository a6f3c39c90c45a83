"""Real worker processes on real files: every job exactly once, graceful SIGTERM."""

import signal
import subprocess
import threading
from collections import Counter
from pathlib import Path

import jobfns
from conftest import gigq_cli, stop_process, wait_until

from gigq import Job, JobQueue, Worker


def read_side_channel(out_dir: Path) -> Counter:
    counts: Counter = Counter()
    for f in out_dir.glob("ran-*.txt"):
        counts.update(f.read_text().split())
    return counts


def test_every_job_runs_exactly_once_across_processes_and_threads(db_path, tmp_path):
    out = tmp_path / "ran"
    out.mkdir()
    q = JobQueue(db_path)
    n = 5000
    jobs = [Job(f"r{i}", jobfns.record, params={"job_key": f"k{i}", "out_dir": str(out)})
            for i in range(n)]
    q.submit_many(jobs)
    procs = [gigq_cli("--db", db_path, "worker", "--burst", "--polling-interval", "0.05",
                      "--worker-id", f"proc{i}", stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
             for i in range(4)]
    local = [Worker(db_path, worker_id=f"thread{i}", concurrency=2, polling_interval=0.05,
                    burst=True) for i in range(2)]
    threads = [threading.Thread(target=w.start) for w in local]
    for t in threads:
        t.start()
    for p in procs:
        assert p.wait(300) == 0
    for t in threads:
        t.join(300)
    counts = read_side_channel(out)
    assert len(counts) == n and set(counts.values()) == {1}
    assert q.stats()["completed"] == n
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        ran_on = {r[0].split("-")[0] for r in conn.execute(
            "SELECT DISTINCT worker_id FROM job_executions")}
    # the work really was shared between the processes and the in-process threads
    assert any(w.startswith("proc") for w in ran_on)
    assert any(w.startswith("thread") for w in ran_on)


def test_sigterm_lets_the_running_job_finish_and_exits_zero(db_path, tmp_path):
    q = JobQueue(db_path)
    marker = tmp_path / "started"
    job_id = q.submit(Job("slow", jobfns.sleep_then,
                          params={"seconds": 1.5, "value": "finished", "marker": str(marker)}))
    proc = gigq_cli("--db", db_path, "worker", "--polling-interval", "0.1",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(marker.exists, what="job start")
    assert stop_process(proc, signal.SIGTERM) == 0
    assert q.get_result(job_id) == "finished"


def test_sigterm_hands_back_a_process_job_after_the_shutdown_timeout(db_path, tmp_path):
    # A thread job is waited for instead (test_worker_robustness).
    q = JobQueue(db_path)
    marker, release = tmp_path / "started", tmp_path / "release"
    job_id = q.submit(Job("hang", jobfns.wait_for_file,
                          params={"path": str(release), "marker": str(marker)}))
    proc = gigq_cli("--db", db_path, "worker", "--shutdown-timeout", "0.5", "--isolation",
                    "process",
                    "--polling-interval", "0.1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(marker.exists, what="job start")
    assert stop_process(proc, signal.SIGTERM) == 0
    status = q.get_status(job_id)
    assert status["status"] == "pending" and status["attempts"] == 0
    release.touch()
    assert Worker(db_path).process_one() is True
    assert q.get_result(job_id) == "released"


def test_second_signal_exits_at_once(db_path, tmp_path):
    q = JobQueue(db_path)
    marker, release = tmp_path / "started", tmp_path / "release"
    q.submit(Job("hang", jobfns.wait_for_file,
                 params={"path": str(release), "marker": str(marker)}))
    proc = gigq_cli("--db", db_path, "worker", "--shutdown-timeout", "600",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(marker.exists, what="job start")
    seen = bytearray()
    def collect():
        for line in proc.stderr:
            seen.extend(line)

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: b"Received signal" in seen, what="first signal to be handled")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 128 + signal.SIGINT
    release.touch()
