"""Measure crash recovery and the cost of GigQ's safety features, on this machine.

    python bench/recovery.py kill --trials 5      # kill -9 a worker mid-job: time to restart
    python bench/recovery.py lease --trials 5     # a hung worker (SIGSTOP): lease expiry
    python bench/recovery.py overhead --reps 5    # jobs/s: heartbeats and isolation=process

Recovery time = from the kill (or stop) of the worker running a job to the moment another
worker starts the job again (its ``started_epoch``), read from the database. Overheads are
ratios of drain throughput measured in the same run, variants interleaved.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

JOBS_MODULE = textwrap.dedent('''
    import os, time

    def block(release, marker):
        open(marker, "w").close()
        while not os.path.exists(release):
            time.sleep(0.01)

    def noop():
        return None
''')


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(workdir), env.get("PYTHONPATH", "")])
    return env


def _worker(db: Path, workdir: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gigq.cli", "--db", str(db), "worker", "--polling-interval",
         "1", *extra], cwd=workdir, env=_env(workdir), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)


def _wait(condition, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.01)


def recovery_trial(mode: str, workdir: Path) -> float:
    """One trial: seconds from killing/stopping the job's worker to the job's restart."""
    from gigq import Job, JobQueue

    sys.path.insert(0, str(workdir))
    import recovery_jobs

    db = workdir / f"recovery-{time.time_ns()}.db"
    marker, release = workdir / f"{db.name}.started", workdir / f"{db.name}.release"
    queue = JobQueue(str(db))
    job_id = queue.submit(Job("block", recovery_jobs.block,
                              params={"release": str(release), "marker": str(marker)}))
    victim = _worker(db, workdir, "--worker-id", "victim")
    _wait(marker.exists)
    rescuer = _worker(db, workdir, "--worker-id", "rescuer")

    def registered() -> bool:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT COUNT(*) FROM gigq_workers WHERE worker_id = "
                                "'rescuer'").fetchone()[0] == 1
    _wait(registered)
    time.sleep(0.5)  # the rescuer is idle and polling, as in real life
    t0 = time.time()
    if mode == "kill":
        victim.kill()
        victim.wait()
    else:
        victim.send_signal(signal.SIGSTOP)  # hung: alive, but no heartbeat

    def restarted() -> float | None:
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT attempts, started_epoch FROM jobs WHERE id = ?",
                               (job_id,)).fetchone()
        return row[1] if row and row[0] >= 2 else None
    _wait(lambda: restarted() is not None, timeout=600)
    elapsed = restarted() - t0
    release.touch()
    for proc in (victim, rescuer):
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return elapsed


def drain_rate(workdir: Path, n: int, **worker_kwargs) -> float:
    """Jobs/s of one in-process worker draining ``n`` no-op jobs (database timestamps)."""
    from gigq import Job, JobQueue, Worker

    sys.path.insert(0, str(workdir))
    import recovery_jobs

    db = workdir / f"drain-{time.time_ns()}.db"
    JobQueue(str(db)).submit_many([Job("n", recovery_jobs.noop) for _ in range(n)])
    Worker(str(db), polling_interval=0.1, burst=True, **worker_kwargs).start()
    with sqlite3.connect(db) as conn:
        first, last = conn.execute(
            "SELECT MIN(started_epoch), MAX(completed_epoch) FROM jobs").fetchone()
    return n / (last - first)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("kill", "lease", "overhead"))
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gigq-recovery-") as tmp:
        workdir = Path(tmp)
        (workdir / "recovery_jobs.py").write_text(JOBS_MODULE)
        if args.what in ("kill", "lease"):
            times = [recovery_trial(args.what, workdir) for _ in range(args.trials)]
            print(f"{args.what}: restart after p50 {statistics.median(times):.2f}s, "
                  f"max {max(times):.2f}s over {len(times)} trials "
                  f"({', '.join(f'{t:.2f}' for t in times)})")
            return 0
        variants = {
            "default (heartbeat every 10 s, reaper every 0.5 s)": {},
            "no heartbeat (lease 1e9 s)": {"lease_timeout": 1e9},
            "isolation=process": {"isolation": "process"},
        }
        rates: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.reps):
            for name, kwargs in variants.items():
                rates[name].append(drain_rate(workdir, args.jobs, **kwargs))
        base = statistics.median(rates[next(iter(variants))])
        for name, values in rates.items():
            med = statistics.median(values)
            print(f"{med:8.0f} jobs/s  ×{med / base:.2f}  {name}  "
                  f"({', '.join(f'{v:.0f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
