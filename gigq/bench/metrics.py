"""The one definition of every metric gigq-bench reports: name, unit, direction, meaning.

Computations live next to their definitions below the registry; nothing else in the
toolkit defines a metric.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gigq.percentile import percentile
from gigq.storage import LockStatsSnapshot

from .sweep.space import DRAIN, STEADY


@dataclass(frozen=True)
class Metric:
    """A measured quantity: its column name, unit, which direction is better, meaning."""

    name: str
    unit: str
    higher_is_better: bool
    description: str
    # The smallest value the metric can take (None: unbounded). Every metric below is
    # a rate, a duration, a count, a share or a ratio of them: none is ever negative.
    minimum: float | None = 0.0
    # Short label for axes and headers (the description goes in tooltips); empty:
    # the name with spaces.
    label: str = ""

    def __post_init__(self) -> None:
        # Frozen: fill the derived label through object.__setattr__.
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " "))

    @property
    def is_share(self) -> bool:
        """Stored as a fraction, shown as a percentage."""
        return self.unit == "fraction"

    @property
    def shown_unit(self) -> str:
        """The unit a reader sees (fractions are shown in %)."""
        return "%" if self.is_share else self.unit


# Where GigQ's lock counters place a wait (versions with per-site counters).
LOCK_WAIT_SITES = {
    "begin": "to take the write lock (BEGIN IMMEDIATE)",
    "commit": "at COMMIT (a rollback journal's exclusive lock waits for readers)",
    "read": "on reads (a rollback-journal writer was committing)",
}

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("jobs_per_sec", "jobs/s", True,
               "completed jobs / time from the start barrier to the last completion",
               label="throughput"),
        Metric("submit_per_sec", "jobs/s", True, "jobs submitted / submit phase time",
               label="submit rate"),
        Metric("wait_p50_ms", "ms", False, "median of started - created (steady mode)",
               label="wait p50"),
        Metric("wait_p95_ms", "ms", False,
               "95th percentile of started - created (steady mode)",
               label="wait p95"),
        Metric("wait_p99_ms", "ms", False,
               "99th percentile of started - created (steady mode)",
               label="wait p99"),
        Metric("end_to_end_p50_ms", "ms", False,
               "median of completed - created (steady mode)",
               label="end-to-end p50"),
        Metric("end_to_end_p95_ms", "ms", False,
               "95th percentile of completed - created (steady mode)",
               label="end-to-end p95"),
        Metric("end_to_end_p99_ms", "ms", False,
               "99th percentile of completed - created (steady mode)",
               label="end-to-end p99"),
        Metric("lock_wait_share", "fraction", False,
               "time workers spent waiting for SQLite locks (at BEGIN, at COMMIT and on "
               "reads; GIL time excluded) / total worker thread time",
               label="lock-wait share"),
        *(Metric(f"lock_wait_{site}_share", "fraction", False,
                 f"the part of lock_wait_share spent waiting {where}")
          for site, where in LOCK_WAIT_SITES.items()),
        Metric("lock_wait_p99_ms", "ms", False,
               "99th percentile lock wait of a write transaction, BEGIN plus COMMIT "
               "(power-of-two bucket bound)",
               label="lock wait p99"),
        Metric("lock_waits_per_job", "waits/job", False,
               "statements that found the database locked and waited (at BEGIN, at "
               "COMMIT or on a read), per completed job",
               label="lock waits per job"),
        Metric("busy_errors", "count", False,
               "operations that gave up after the busy timeout",
               label="busy errors"),
        Metric("cpu_per_1k_jobs", "CPU s", False,
               "user+sys CPU seconds of the worker processes and of the job processes "
               "they ran (isolation=process) per 1,000 jobs",
               label="CPU per 1k jobs"),
        Metric("ceiling_ratio", "ratio", True,
               "jobs_per_sec / raw SQLite single-row commits per second, same location and "
               "settings (GigQ's connection PRAGMAs), same run: the median of at least 5 "
               "probes of 1 s spread over the run (their min and max are in the rows)",
               label="share of SQLite ceiling"),
        Metric("db_bytes_per_job", "bytes/job", False,
               "size of the database file(s) after the trial / jobs in it (params, "
               "results, history and indexes of a finished job)",
               label="database bytes per job"),
    )
}


def metric(name: str) -> Metric:
    """The definition of ``name``; KeyError lists the known metrics."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


# ---------------------------------------------------------------------------
# Computations: one function per metric family, fed by what a trial measured.
# Everything below works on plain numbers so it can be checked on hand-made data.

# Versions without per-site counters time BEGIN IMMEDIATE around SQLite's busy
# handler: there a transaction counts as a "lock wait" when BEGIN took at least this
# long (an uncontended BEGIN takes microseconds, the handler sleeps at least 1 ms).
# Histogram bucket k holds waits in [2**(k-1), 2**k) µs; 2**9 µs = 0.512 ms.
LOCK_WAIT_MIN_BUCKET = 10
# The per-site lock counters, reported by versions that count where a wait happened.
LOCK_SITE_COUNTERS = (*(f"lock_wait_{site}_s" for site in LOCK_WAIT_SITES),
                      *(f"{site}_waits" for site in LOCK_WAIT_SITES))


# Latency is measured in steady mode only. In a drain every job is created before
# the worker processes exist, so a job's wait is its place in the backlog plus the
# workers' start-up: it measures the job count and `import gigq`, not the queue.
LATENCY_METRICS = tuple(f"{name}_p{q}_ms" for name in ("wait", "end_to_end")
                        for q in (50, 95, 99))

# A drain trial is too short to trust (flagged, still recorded) when its threads ran
# fewer jobs each than this, or its timed window was shorter than TRUST_MIN_SECONDS:
# the threads' start-up (up to a job each, on 64 threads ~1 s) and the last jobs'
# tail then weigh on the rate. space.auto_job_count sizes well above it. Directly:
# when the first half of the window completed fewer than TRUST_MIN_HALF_RATIO times
# the jobs of the second half, the window is not mostly steady state (start-up, e.g.
# job processes under isolation=process, took much of it).
TRUST_JOBS_PER_THREAD = 20
TRUST_MIN_SECONDS = 0.5
TRUST_MIN_HALF_RATIO = 0.5


class JobRecord(NamedTuple):
    """One job as the trial found it in the database (epoch seconds)."""

    status: str
    attempts: int
    created: float | None
    started: float | None
    completed: float | None


@dataclass
class WorkerReport:
    """What one worker process reported: its timed window, CPU and lock counters."""

    t_go: float
    t_end: float
    cpu_s: float
    threads: int
    lock: dict[str, Any] | None = None


@dataclass
class TrialData:
    """Raw measurements of one trial, from the database, ledgers and workers."""

    submitted: int
    submit_seconds: float | None
    jobs: list[JobRecord]
    ledger: dict[int, int]
    workers: list[WorkerReport]
    barrier: float | None = None
    ceiling: float | None = None
    failures: list[str] = field(default_factory=list)
    # Bytes of the database file (and its WAL, if any) when the trial ended.
    db_bytes: int | None = None
    # "drain" or "steady": latency is measured in steady mode only.
    mode: str = DRAIN


def barrier_time(data: TrialData) -> float | None:
    """Start of the timed window: the barrier, else the first worker's release."""
    if data.barrier is not None:
        return data.barrier
    starts = [w.t_go for w in data.workers]
    return min(starts) if starts else None


def throughput(data: TrialData) -> dict[str, Any]:
    """``jobs_per_sec`` (completed / barrier → last completion), ``submit_per_sec``,
    ``jobs_completed`` and ``duration_s`` (the timed window)."""
    done = [j.completed for j in data.jobs if j.status == "completed" and j.completed]
    start = barrier_time(data)
    duration = (max(done) - start) if done and start is not None else None
    jobs_per_sec = len(done) / duration if duration and duration > 0 else None
    submit = (data.submitted / data.submit_seconds
              if data.submit_seconds and data.submit_seconds > 0 else None)
    return {"jobs_per_sec": jobs_per_sec, "submit_per_sec": submit,
            "jobs_completed": len(done), "duration_s": duration}


def latency(data: TrialData) -> dict[str, float | None]:
    """``wait`` (started - created) and ``end_to_end`` (completed - created)
    p50/p95/p99 in milliseconds, over completed jobs."""
    done = [j for j in data.jobs if j.status == "completed"]
    waits = [(j.started - j.created) * 1000 for j in done
             if j.started is not None and j.created is not None]
    e2e = [(j.completed - j.created) * 1000 for j in done
           if j.completed is not None and j.created is not None]
    out: dict[str, float | None] = {}
    for name, values in (("wait", waits), ("end_to_end", e2e)):
        for q in (50, 95, 99):
            out[f"{name}_p{q}_ms"] = percentile(values, q)
    return out


def half_window_jobs(data: TrialData, duration: float | None) -> tuple[int, int] | None:
    """Jobs completed in the first and in the second half of the timed window."""
    start = barrier_time(data)
    if start is None or not duration or duration <= 0:
        return None
    middle = start + duration / 2
    done = [j.completed for j in data.jobs if j.status == "completed" and j.completed]
    first = sum(1 for t in done if t <= middle)
    return first, len(done) - first


def late_rate(data: TrialData, duration: float | None) -> float | None:
    """jobs/s in the second half of the timed window: the rate once started up."""
    halves = half_window_jobs(data, duration)
    if halves is None or not halves[1] or duration is None:
        return None
    return halves[1] / (duration / 2)


def too_short(data: TrialData, duration: float | None) -> str | None:
    """Why a drain trial is too short to trust its rate, or None: its threads ran
    fewer than TRUST_JOBS_PER_THREAD jobs each, its window was under
    TRUST_MIN_SECONDS, or its first half completed under TRUST_MIN_HALF_RATIO
    times the jobs of its second half (start-up took much of the window)."""
    if data.mode != DRAIN or not duration or duration <= 0:
        return None
    threads = sum(max(r.threads, 1) for r in data.workers) or 1
    done = sum(1 for j in data.jobs if j.status == "completed")
    reasons = []
    if done / threads < TRUST_JOBS_PER_THREAD:
        reasons.append(f"{done / threads:.0f} jobs per thread (< {TRUST_JOBS_PER_THREAD})")
    if duration < TRUST_MIN_SECONDS:
        reasons.append(f"{duration:.2f} s window (< {TRUST_MIN_SECONDS:g} s)")
    halves = half_window_jobs(data, duration)
    if halves and halves[1] and halves[0] < TRUST_MIN_HALF_RATIO * halves[1]:
        reasons.append(f"first half of the window ran {halves[0] / halves[1]:.0%} of the "
                       f"second half's jobs (< {TRUST_MIN_HALF_RATIO:.0%}: start-up)")
    return "; ".join(reasons) or None


def merge_lock(reports: Sequence[WorkerReport]) -> LockStatsSnapshot | None:
    """Lock counters of all workers together (None if any worker has none)."""
    locks = [r.lock for r in reports if r.lock is not None]
    if not reports or len(locks) < len(reports):
        return None
    return functools.reduce(LockStatsSnapshot.merge,
                            (LockStatsSnapshot.from_dict(lock) for lock in locks))


def counts_lock_sites(reports: Sequence[WorkerReport]) -> bool:
    """Whether every worker's GigQ counts lock waits where they happened (BEGIN,
    COMMIT, reads): older versions report the totals and the histogram only."""
    return all(r.lock is not None and key in r.lock
               for r in reports for key in LOCK_SITE_COUNTERS)


def lock_contention(data: TrialData, jobs_completed: int) -> dict[str, Any]:
    """``lock_wait_share`` (and its per-site parts), ``lock_wait_p99_ms``,
    ``lock_waits_per_job``, ``busy_errors``.

    Share: seconds spent waiting for locks / thread-seconds the workers ran (each
    process's window x its threads). None where the GigQ version under test has no
    lock counters; the per-site shares are None where it does not count per site.
    """
    site_shares = [f"lock_wait_{site}_share" for site in LOCK_WAIT_SITES]
    merged = merge_lock(data.workers)
    if merged is None:
        return dict.fromkeys(["lock_wait_share", *site_shares, "lock_wait_p99_ms",
                              "lock_waits_per_job", "busy_errors"])
    thread_seconds = sum(max(r.t_end - r.t_go, 0.0) * max(r.threads, 1) for r in data.workers)
    sited = counts_lock_sites(data.workers)
    if sited:  # counted exactly where they happened
        waits = sum(getattr(merged, f"{site}_waits") for site in LOCK_WAIT_SITES)
    else:
        waits = sum(merged.histogram[LOCK_WAIT_MIN_BUCKET:])

    def share(seconds: float) -> float | None:
        return seconds / thread_seconds if thread_seconds > 0 else None

    out: dict[str, Any] = {"lock_wait_share": share(merged.lock_wait_total_s)}
    for site, name in zip(LOCK_WAIT_SITES, site_shares, strict=True):
        out[name] = share(getattr(merged, f"lock_wait_{site}_s")) if sited else None
    out.update({
        "lock_wait_p99_ms": merged.wait_percentile(99) * 1000,
        "lock_waits_per_job": waits / jobs_completed if jobs_completed else None,
        "busy_errors": merged.busy_errors,
    })
    return out


def cpu_per_1k_jobs(data: TrialData, jobs_completed: int) -> float | None:
    """User+sys CPU seconds of the worker processes and their job processes (timed
    window) per 1,000 jobs."""
    if not jobs_completed or not data.workers:
        return None
    return sum(r.cpu_s for r in data.workers) / jobs_completed * 1000


def ceiling_ratio(jobs_per_sec: float | None, ceiling: float | None) -> float | None:
    """jobs/s ÷ raw single-row commits/s of the same location and settings."""
    if not jobs_per_sec or not ceiling:
        return None
    return jobs_per_sec / ceiling


def db_bytes_per_job(data: TrialData) -> float | None:
    """Database bytes on disk after the trial per job it holds."""
    if not data.db_bytes or not data.jobs:
        return None
    return data.db_bytes / len(data.jobs)


def verify(data: TrialData) -> tuple[bool, str | None]:
    """Every submitted job completed exactly once, none lost — per the queue *and*
    the jobs' own ledger. Returns ``(valid, reason)``.

    A trial whose processes failed (crash, timeout) is invalid for that reason
    alone; what it left in the queue and ledgers follows from it.
    """
    if data.failures:
        return False, "; ".join(data.failures)
    problems = []
    if len(data.jobs) != data.submitted:
        problems.append(f"the queue holds {len(data.jobs)} jobs, {data.submitted} were "
                        "submitted")
    statuses: dict[str, int] = {}
    for job in data.jobs:
        statuses[job.status] = statuses.get(job.status, 0) + 1
    not_done = {s: n for s, n in statuses.items() if s != "completed"}
    if not_done:
        text = ", ".join(f"{n} {s}" for s, n in sorted(not_done.items()))
        problems.append(f"{sum(not_done.values())} jobs did not complete ({text})")
    expected = set(range(data.submitted))
    missing = expected - set(data.ledger)
    if missing:
        problems.append(f"{len(missing)} jobs never ran (no ledger entry, e.g. job "
                        f"{min(missing)})")
    repeated = {n: c for n, c in data.ledger.items() if c > 1}
    if repeated:
        n = min(repeated)
        problems.append(f"{len(repeated)} jobs ran more than once (job {n} ran "
                        f"{repeated[n]} times)")
    unknown = set(data.ledger) - expected
    if unknown:
        problems.append(f"the ledger holds {len(unknown)} job numbers that were never "
                        "submitted")
    return (not problems, "; ".join(problems) or None)


def compute(data: TrialData) -> dict[str, Any]:
    """Every metric of :data:`METRICS` plus ``valid``, ``invalid_reason``,
    ``jobs_completed``, ``duration_s``, ``too_short`` and ``ceiling_commits_per_sec``.

    Drain trials carry no latency (None: see LATENCY_METRICS)."""
    row = throughput(data)
    row.update(latency(data) if data.mode == STEADY else dict.fromkeys(LATENCY_METRICS))
    row["too_short"] = too_short(data, row["duration_s"])
    # Not a column: what the sizing pilots read (sweep.Runner.pilot_rate).
    row["late_jobs_per_sec"] = late_rate(data, row["duration_s"])
    row.update(lock_contention(data, row["jobs_completed"]))
    row["cpu_per_1k_jobs"] = cpu_per_1k_jobs(data, row["jobs_completed"])
    row["ceiling_commits_per_sec"] = data.ceiling
    row["ceiling_ratio"] = ceiling_ratio(row["jobs_per_sec"], data.ceiling)
    row["db_bytes_per_job"] = db_bytes_per_job(data)
    row["valid"], row["invalid_reason"] = verify(data)
    return row
