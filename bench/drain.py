#!/usr/bin/env python3
"""Drain N no-op jobs with W worker processes and print jobs/s.

    python bench/drain.py --jobs 2000 --workers 1,2,4 --repeat 3
    python bench/drain.py --jobs 20000 --baseline-python /tmp/v051/bin/python

With ``--baseline-python`` the same trials run against the GigQ installed for that
interpreter (e.g. ``python3 -m venv /tmp/v051 && /tmp/v051/bin/pip install
gigq==0.5.1``), interleaved with ours in a seeded random order, and the summary gives
our jobs/s over the baseline's, measured in the same run.

A trial: fresh database in a temporary directory; N jobs submitted by the interpreter
under test (``submit_many`` where it exists, else one by one); W worker processes start,
import GigQ, open the database and report ready; the clock starts when they are all
released at once; it stops at the last ``completed_at`` in the database. So interpreter
start-up is outside the timed window. Every job must end ``completed`` exactly once,
or the trial is reported invalid. Worker processes use only the public API:
``Worker(..., burst=True).start()`` where the version has burst mode, otherwise
``process_one()`` until the queue is empty.

This file uses the standard library only, because it also runs as the submitter and
the workers under the baseline interpreter (``--role``, internal).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

JOB_MODULE = "gigq_drain_job"
JOB_SOURCE = '"""The no-op job of bench/drain.py."""\n\n\ndef noop():\n    return None\n'


# ---------------------------------------------------------------------------
# Roles run under the interpreter being measured


def role_submit(db: str, jobs: int, method: str) -> dict:
    """Submit ``jobs`` no-op jobs; returns the submit time and the method used."""
    import gigq
    from gigq import Job, JobQueue

    job_module = __import__(JOB_MODULE)
    queue = JobQueue(db)
    batch = [Job(name="noop", function=job_module.noop) for _ in range(jobs)]
    can_batch = hasattr(queue, "submit_many")
    used = "batch" if method == "batch" and can_batch else "single"
    start = time.perf_counter()
    if used == "batch":
        for i in range(0, jobs, 10_000):
            queue.submit_many(batch[i:i + 10_000])
    else:
        for job in batch:
            queue.submit(job)
    elapsed = time.perf_counter() - start
    return {"submit_s": elapsed, "submit_method": used,
            "gigq_version": getattr(gigq, "__version__", "unknown"),
            "gigq_path": os.path.dirname(gigq.__file__)}


def role_worker(db: str, index: int) -> None:
    """Open a worker, say ``ready``, wait for ``go`` on stdin, drain, report counters."""
    import inspect
    import resource

    from gigq import JobQueue, Worker

    __import__(JOB_MODULE)  # imported before the clock starts, like a warm worker
    params = inspect.signature(Worker).parameters
    kwargs = {"worker_id": f"drain-{index}", "polling_interval": 0.01}
    burst = "burst" in params
    if burst:
        kwargs["burst"] = True
    worker = Worker(db, **kwargs)
    queue = JobQueue(db, initialize=False)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    processed = 0
    if burst:
        worker.start()
    else:
        while True:
            if worker.process_one():
                processed += 1
                continue
            counts = queue.stats()
            if counts.get("pending", 0) == 0 and counts.get("running", 0) == 0:
                break
            time.sleep(0.002)  # another worker holds the last jobs
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"cpu_s": usage.ru_utime + usage.ru_stime - cpu0,
                      "processed": processed, "mode": "burst" if burst else "process_one"}),
          flush=True)


# ---------------------------------------------------------------------------
# The parent: plans, runs and summarises trials


def child_env(job_dir: str) -> dict:
    """Environment of children: the job module importable, nothing of ours on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = job_dir
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_trial(python: str, jobs: int, workers: int, submit: str, workdir: Path,
              timeout: float) -> dict:
    """One trial with ``python``; returns its measurements (``valid`` False on failure)."""
    trial_dir = Path(tempfile.mkdtemp(prefix="trial-", dir=workdir))
    db = str(trial_dir / "jobs.db")
    env = child_env(str(workdir))
    script = os.path.abspath(__file__)
    out = {"jobs": jobs, "workers": workers, "valid": False}
    procs: list[subprocess.Popen] = []
    try:
        sub = subprocess.run([python, script, "--role", "submit", "--db", db, "--jobs",
                              str(jobs), "--submit", submit], env=env, cwd=trial_dir,
                             capture_output=True, text=True, timeout=timeout)
        if sub.returncode != 0:
            out["error"] = "submit failed: " + sub.stderr.strip().splitlines()[-1:][0]
            return out
        out.update(json.loads(sub.stdout.strip().splitlines()[-1]))
        out["submit_per_sec"] = jobs / out["submit_s"] if out["submit_s"] > 0 else None
        for i in range(workers):
            procs.append(subprocess.Popen(
                [python, script, "--role", "worker", "--db", db, "--index", str(i)],
                env=env, cwd=trial_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True))
        for p in procs:
            line = p.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"worker did not start: {line or p.stderr.read()[-300:]}")
        start = time.time()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        cpu, modes = 0.0, set()
        deadline = time.monotonic() + timeout
        for p in procs:
            rest, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            if p.returncode != 0:
                raise RuntimeError(f"worker failed: {err.strip()[-300:]}")
            report = json.loads(rest.strip().splitlines()[-1])
            cpu += report["cpu_s"]
            modes.add(report["mode"])
        out["worker_mode"] = ",".join(sorted(modes))
        with sqlite3.connect(db) as conn:
            counts = dict(conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status"))
            last = conn.execute("SELECT MAX(completed_at) FROM jobs").fetchone()[0]
            runs = conn.execute(
                "SELECT COUNT(*) FROM job_executions WHERE status = 'completed'").fetchone()[0]
        conn.close()
        done = counts.get("completed", 0)
        if done != jobs or runs != jobs:
            out["error"] = f"{done} of {jobs} jobs completed, {runs} completed executions"
            return out
        elapsed = datetime.fromisoformat(last).timestamp() - start
        out.update(valid=True, drain_s=elapsed, jobs_per_sec=jobs / elapsed,
                   cpu_per_1k_jobs=cpu / jobs * 1000)
        return out
    except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError) as exc:
        out["error"] = str(exc)
        return out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(trial_dir, ignore_errors=True)


def parse_workers(text: str) -> list[int]:
    """``"1,2,4"`` → [1, 2, 4]."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--workers takes numbers like 1,2,4, not {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("--workers needs at least one count >= 1")
    return values


def describe(python: str, workdir: Path) -> str:
    """``gigq X.Y.Z at PATH`` for an interpreter (checks that it can import gigq)."""
    probe = subprocess.run(
        [python, "-c", "import gigq, os; print(getattr(gigq, '__version__', '?'), "
                       "os.path.dirname(gigq.__file__))"],
        env=child_env(str(workdir)), cwd=workdir, capture_output=True, text=True)
    if probe.returncode != 0:
        raise SystemExit(f"error: {python} cannot import gigq:\n{probe.stderr.strip()}")
    version, _, path = probe.stdout.strip().partition(" ")
    return f"gigq {version} ({path})"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Example: python bench/drain.py --jobs 20000 "
                                        "--workers 1,2 --baseline-python /tmp/v051/bin/python")
    ap.add_argument("--jobs", type=int, default=2000, help="jobs per trial [2000]")
    ap.add_argument("--workers", type=parse_workers, default=[1, 2],
                    help="worker process counts, comma-separated [1,2]")
    ap.add_argument("--repeat", type=int, default=3, help="trials per configuration [3]")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter whose GigQ is 'current' [this one]")
    ap.add_argument("--baseline-python", metavar="PATH",
                    help="interpreter of another GigQ install to measure in the same run")
    ap.add_argument("--submit", choices=("batch", "single"), default="batch",
                    help="submit_many where available, or one by one [batch]")
    ap.add_argument("--seed", type=int, default=0, help="seed of the trial order [0]")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per trial [600]")
    ap.add_argument("--json", metavar="FILE", help="also write every trial as JSON")
    ap.add_argument("--role", choices=("submit", "worker"), help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.role == "submit":
        print(json.dumps(role_submit(args.db, args.jobs, args.submit)))
        return 0
    if args.role == "worker":
        role_worker(args.db, args.index)
        return 0
    if args.jobs < 1 or args.repeat < 1:
        ap.error("--jobs and --repeat must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="gigq-drain-"))
    try:
        (workdir / f"{JOB_MODULE}.py").write_text(JOB_SOURCE)
        pythons = {"current": args.python}
        if args.baseline_python:
            pythons["baseline"] = args.baseline_python
        labels = {name: describe(py, workdir) for name, py in pythons.items()}
        for name, text in labels.items():
            print(f"{name:>8}: {text}")
        plan = [(rep, name, w) for rep in range(1, args.repeat + 1)
                for name in pythons for w in args.workers]
        rng = random.Random(args.seed)
        # Interleave: every repetition is one shuffled round of all (version, workers)
        # pairs, so drift on a shared machine hits both versions alike.
        rounds = [[p for p in plan if p[0] == rep] for rep in range(1, args.repeat + 1)]
        for r in rounds:
            rng.shuffle(r)
        ordered = [p for r in rounds for p in r]
        for py in pythons.values():  # warm-up: page cache, .pyc files; not recorded
            run_trial(py, min(args.jobs, 200), 1, args.submit, workdir, args.timeout)
        print(f"{len(ordered)} trials of {args.jobs} no-op jobs, seed {args.seed}; "
              f"load average {os.getloadavg()[0]:.2f}")
        trials = []
        for i, (rep, name, w) in enumerate(ordered, 1):
            t = run_trial(pythons[name], args.jobs, w, args.submit, workdir, args.timeout)
            t.update(version=name, repetition=rep)
            trials.append(t)
            if t["valid"]:
                print(f"[{i}/{len(ordered)}] {name:>8} workers={w}: "
                      f"{t['jobs_per_sec']:8.0f} jobs/s  (submit {t['submit_per_sec']:8.0f}/s "
                      f"{t['submit_method']})", flush=True)
            else:
                print(f"[{i}/{len(ordered)}] {name:>8} workers={w}: INVALID: "
                      f"{t.get('error')}", flush=True)
        print()
        print(summary(trials, args.workers, list(pythons)))
        print(f"load average at the end {os.getloadavg()[0]:.2f}; "
              f"{os.cpu_count()} CPUs; medians of {args.repeat} trial(s)")
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"versions": labels, "jobs": args.jobs, "trials": trials}, indent=1))
        return 0 if all(t["valid"] for t in trials) else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _median(trials: list[dict], key: str, **match: object) -> float:
    values = [t[key] for t in trials
              if t["valid"] and all(t[k] == v for k, v in match.items())]
    return statistics.median(values) if values else float("nan")


def _ratio(current: float, baseline: float) -> str:
    ratio = current / baseline if baseline else float("nan")
    return f"{ratio:>17.{1 if ratio >= 10 else 2}f}x"


def summary(trials: list[dict], workers: list[int], versions: list[str]) -> str:
    """Median jobs/s per version and worker count, median submits/s, current ÷ baseline."""
    head = f"{'workers':>7}" + "".join(f"{v + ' jobs/s':>18}" for v in versions)
    if "baseline" in versions:
        head += f"{'current/baseline':>18}"
    lines = [head]
    for w in workers:
        medians = {v: _median(trials, "jobs_per_sec", version=v, workers=w) for v in versions}
        line = f"{w:>7}" + "".join(f"{medians[v]:>18,.0f}" for v in versions)
        if "baseline" in versions:
            line += _ratio(medians["current"], medians["baseline"])
        lines.append(line)
    submits = {v: _median(trials, "submit_per_sec", version=v) for v in versions}
    line = f"{'submit':>7}" + "".join(f"{submits[v]:>18,.0f}" for v in versions)
    if "baseline" in versions:
        line += _ratio(submits["current"], submits["baseline"])
    lines.append(line + "   (jobs/s while submitting, all trials)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
