"""A health check of a running queue: depth, age, throughput, latencies, workers.

Reads only, except for the optional round trip, which submits one tiny job (high
priority, so it measures pick-up time rather than the backlog), waits for a worker
to complete it and deletes it again.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from . import job_rows, validation
from .errors import DatabaseFileError
from .job import Job
from .job_queue import JobQueue
from .leases import list_workers
from .percentile import percentile
from .storage import MEMORY, SQLiteSettings, Storage

PROBE_PRIORITY = 2**31 - 1
PROBE_NAME = "gigq-probe"


def ping() -> str:
    """The probe job: does nothing, proves a worker can import and run GigQ jobs."""
    return "pong"


@dataclass
class ProbeReport:
    """The figures of one probe; ``healthy`` is False when a threshold was exceeded."""

    db_path: str
    checked_at: float
    depth: dict[str, dict[str, int]]
    pending: int
    oldest_pending_age_s: float | None
    completed_last_minute: int
    jobs_per_sec_last_minute: float
    sample_size: int
    wait_p50_s: float | None
    wait_p95_s: float | None
    run_p50_s: float | None
    run_p95_s: float | None
    workers_live: int
    workers_dead: int
    workers_stale: int
    round_trip: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """True when no threshold was exceeded and the round trip (if tried) worked."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with ``healthy``."""
        return {**asdict(self), "healthy": self.healthy}


def probe(
    db_path: str | os.PathLike[str],
    settings: SQLiteSettings | None = None,
    last_n: int = 1000,
    round_trip: bool = True,
    round_trip_timeout: float = 10.0,
    queue: str = "default",
    max_age: float | None = None,
    max_depth: int | None = None,
    now: float | None = None,
) -> ProbeReport:
    """Measure the health of the queue in ``db_path`` (see :class:`ProbeReport`).

    ``max_age`` (seconds of the oldest pending job) and ``max_depth`` (pending jobs)
    are thresholds; exceeding one, or a round trip that does not complete within
    ``round_trip_timeout`` while live workers exist, is recorded in ``problems``.
    """
    validation.integer(last_n, "last_n (--last)", 1)
    validation.seconds(round_trip_timeout, "round_trip_timeout (--timeout)")
    if max_age is not None:
        validation.seconds(max_age, "max_age (--max-age)")
    if max_depth is not None:
        validation.integer(max_depth, "max_depth (--max-depth)", 0)
    if str(db_path) != MEMORY and not os.path.exists(db_path):
        raise DatabaseFileError(
            f"{db_path} does not exist; check the path (a probe reads a queue, it does "
            "not create one)")
    jobs = JobQueue(db_path, settings=settings)
    storage = Storage.shared(db_path, jobs.settings)
    now = time.time() if now is None else now
    # Per queue, every status (0 if none), without stats' "total".
    depth = {q: {status: n for status, n in counts.items() if status != "total"}
             for q, counts in jobs.stats(by_queue=True).items()}
    with storage.read() as conn:
        oldest = job_rows.oldest_pending_epoch(conn)
        recent = job_rows.completed_since(conn, now - 60)
        sample = job_rows.recent_timings(conn, last_n)
    waits = [w for w, _ in sample if w is not None]
    runs = [r for _, r in sample if r is not None]
    states = [w["state"] for w in list_workers(storage)]
    pending = sum(c.get("pending", 0) for c in depth.values())
    report = ProbeReport(
        db_path=str(db_path),
        checked_at=now,
        depth=depth,
        pending=pending,
        oldest_pending_age_s=None if oldest is None else max(now - oldest, 0.0),
        completed_last_minute=recent,
        jobs_per_sec_last_minute=recent / 60.0,
        sample_size=len(sample),
        wait_p50_s=percentile(waits, 50),
        wait_p95_s=percentile(waits, 95),
        run_p50_s=percentile(runs, 50),
        run_p95_s=percentile(runs, 95),
        workers_live=states.count("live"),
        workers_dead=states.count("dead"),
        workers_stale=states.count("stale"),
    )
    if max_age is not None and (report.oldest_pending_age_s or 0) > max_age:
        report.problems.append(
            f"oldest pending job is {report.oldest_pending_age_s:.1f}s old (> {max_age}s)")
    if max_depth is not None and pending > max_depth:
        report.problems.append(f"{pending} jobs pending (> {max_depth})")
    if round_trip and report.workers_live:
        report.round_trip = _round_trip(jobs, storage, queue, round_trip_timeout)
        if not report.round_trip["completed"]:
            report.problems.append(
                f"probe job not completed within {round_trip_timeout}s "
                f"({report.round_trip['status']})")
    return report


def _round_trip(
    jobs: JobQueue, storage: Storage, queue: str, timeout: float
) -> dict[str, Any]:
    job = Job(PROBE_NAME, ping, priority=PROBE_PRIORITY, queue=queue, max_attempts=1,
              timeout=timeout, description="health probe; deleted after the check")
    submitted = time.time()
    jobs.submit(job)
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    try:
        while time.monotonic() < deadline:
            status = jobs.get_status(job.id)
            if status["status"] in ("completed", "failed", "timeout"):
                break
            time.sleep(0.01)
        with storage.read() as conn:
            started, completed = job_rows.run_epochs(conn, job.id)
    finally:
        # Take it back out: a probe should leave the queue as it found it.
        with storage.write() as conn:
            job_rows.delete_unless_running(conn, job.id)
    return {
        "queue": queue,
        "status": status.get("status", "unknown"),
        "completed": status.get("status") == "completed",
        "pickup_s": None if started is None else started - submitted,
        "total_s": None if completed is None else completed - submitted,
    }
