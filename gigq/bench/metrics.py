"""The one definition of every metric gigq-bench reports: name, unit, direction, meaning.

Computations live next to their definitions below the registry; nothing else in the
toolkit defines a metric.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """A measured quantity: its column name, unit, which direction is better, meaning."""

    name: str
    unit: str
    higher_is_better: bool
    description: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("jobs_per_sec", "jobs/s", True,
               "completed jobs / time from the start barrier to the last completion"),
        Metric("submit_per_sec", "jobs/s", True, "jobs submitted / submit phase time"),
        Metric("wait_p50_ms", "ms", False, "median of started - created"),
        Metric("wait_p95_ms", "ms", False, "95th percentile of started - created"),
        Metric("wait_p99_ms", "ms", False, "99th percentile of started - created"),
        Metric("end_to_end_p50_ms", "ms", False, "median of completed - created"),
        Metric("end_to_end_p95_ms", "ms", False, "95th percentile of completed - created"),
        Metric("end_to_end_p99_ms", "ms", False, "99th percentile of completed - created"),
        Metric("lock_wait_share", "fraction", False,
               "time workers spent waiting for the write lock / total worker time"),
        Metric("lock_wait_p99_ms", "ms", False, "99th percentile wait for the write lock"),
        Metric("lock_waits_per_job", "waits/job", False,
               "write-lock acquisitions that had to retry, per completed job"),
        Metric("busy_errors", "count", False,
               "operations that gave up after the busy timeout"),
        Metric("cpu_per_1k_jobs", "CPU s", False,
               "user+sys CPU seconds of the worker processes per 1,000 jobs"),
        Metric("ceiling_ratio", "ratio", True,
               "jobs_per_sec / raw SQLite single-row commits per second, same location and "
               "settings, same run"),
    )
}


def metric(name: str) -> Metric:
    """The definition of ``name``; KeyError lists the known metrics."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None
