"""How the report writes things: dimension names, setting values, numbers, units.

One place for presentation, so the summary, the charts and the tables agree (e.g.
cache sizes are always written "64 MiB", lock-wait shares always as percentages).
Units come from :data:`gigq.bench.metrics.METRICS`; nothing here defines a metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..metrics import METRICS
from ..stats import Interval

# Dimension names as a reader says them.
DIMENSION_LABELS = {
    "job_type": "job type",
    "workers": "worker processes",
    "concurrency": "threads per worker (concurrency)",
    "journal_mode": "journal mode",
    "synchronous": "synchronous",
    "cache_size": "cache size",
    "polling_interval": "polling interval",
    "location": "storage location",
    "jobs": "jobs per trial",
    "mode": "mode",
    "submit": "submit",
    "version": "version",
    "connections": "connections",
    "payload_bytes": "payload per job",
    "queues": "queues",
    "isolation": "isolation",
    "lease_timeout": "lease (s)",
}

# Column headers, where space is short; the full label goes in the tooltip.
SHORT_DIMENSION_LABELS = {
    "job_type": "job type",
    "workers": "workers",
    "concurrency": "threads",
    "journal_mode": "journal",
    "synchronous": "synchronous",
    "cache_size": "cache",
    "polling_interval": "polling",
    "location": "location",
}

# Short metric labels for axes and headers; the registry's description goes in tooltips.
METRIC_LABELS = {
    "jobs_per_sec": "throughput",
    "submit_per_sec": "submit rate",
    "wait_p50_ms": "wait p50",
    "wait_p95_ms": "wait p95",
    "wait_p99_ms": "wait p99",
    "end_to_end_p50_ms": "end-to-end p50",
    "end_to_end_p95_ms": "end-to-end p95",
    "end_to_end_p99_ms": "end-to-end p99",
    "lock_wait_share": "lock-wait share",
    "lock_wait_p99_ms": "lock wait p99",
    "lock_waits_per_job": "lock waits per job",
    "busy_errors": "busy errors",
    "cpu_per_1k_jobs": "CPU per 1k jobs",
    "ceiling_ratio": "share of SQLite ceiling",
    "db_bytes_per_job": "database bytes per job",
}


def is_missing(value: Any) -> bool:
    """None, NaN or pandas' missing markers."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and pd.NA compare unequal to themselves
    except (TypeError, ValueError):
        return False


def plain_value(value: Any) -> Any:
    """A configuration value as plain Python: None for missing, ints for whole floats.

    pandas turns a column of ints with a null (``cache_size``) into floats; the
    report must still print ``-64000``, not ``-64000.0``.
    """
    if is_missing(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def dimension_label(dim: str) -> str:
    """``journal_mode`` → ``journal mode``."""
    return DIMENSION_LABELS.get(dim, dim.replace("_", " "))


def short_dimension_label(dim: str) -> str:
    """``concurrency`` → ``threads`` (table headers)."""
    return SHORT_DIMENSION_LABELS.get(dim, dimension_label(dim))


def shell_lines(command: str, width: int = 40) -> str:
    """Wrap a command at option boundaries with ``\\`` continuations (still pastes)."""
    words = command.split(" --")
    lines = [words[0]]
    for word in words[1:]:
        option = "--" + word
        if len(lines[-1]) + 1 + len(option) > width:
            lines.append("    " + option)
        else:
            lines[-1] += " " + option
    return " \\\n".join(lines)


def cache_label(value: Any) -> str:
    """SQLite's cache_size meaning: negative = KiB, positive = pages, None = default."""
    value = plain_value(value)
    if value is None:
        return "default"
    if value < 0:
        kib = -value
        if kib >= 1024:
            return f"{kib / 1024:.3g} MiB"
        return f"{kib} KiB"
    return f"{value:,} pages"


def cache_bytes(value: Any, page_size: int = 4096) -> float:
    """An ordering key for cache sizes (default first; pages at SQLite's 4 KiB default)."""
    value = plain_value(value)
    if value is None:
        return -1.0
    return float(-value * 1024 if value < 0 else value * page_size)


def seconds_label(seconds: float) -> str:
    """0.05 → ``50 ms``, 0.5 → ``500 ms``, 2 → ``2 s``."""
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds:.3g} s"


def value_label(dim: str, value: Any) -> str:
    """A setting's value as the report writes it (``WAL``, ``64 MiB``, ``50 ms``)."""
    value = plain_value(value)
    if value is None:
        return "default" if dim == "cache_size" else "–"
    if dim == "journal_mode":
        return str(value).upper()
    if dim == "synchronous":
        return str(value).upper()
    if dim == "cache_size":
        return cache_label(value)
    if dim == "polling_interval":
        return seconds_label(float(value))
    return str(value)


def setting_phrase(dim: str, value: Any) -> str:
    """A value with enough context to stand alone: ``4 workers``, ``synchronous=FULL``."""
    value = plain_value(value)
    label = value_label(dim, value)
    if dim == "workers":
        return f"{value} worker{'s' if value != 1 else ''}"
    if dim == "concurrency":
        return f"{value} thread{'s' if value != 1 else ''} per worker"
    if dim == "synchronous":
        return f"synchronous={label}"
    if dim == "cache_size":
        return f"cache {label}"
    if dim == "polling_interval":
        return f"polling every {label}"
    if dim == "job_type":
        return f"{label} jobs"
    if dim == "location":
        return f"on {label}"
    if dim == "submit":
        return f"{label} submit"
    if dim == "mode":
        return f"{label} mode"
    if dim == "jobs":
        return f"{value} jobs"
    if dim == "journal_mode":
        return label
    return f"{dimension_label(dim)}={label}"


def context_phrase(context: Mapping[str, Any]) -> str:
    """``noop jobs, 2 workers, synchronous=NORMAL`` (empty when nothing to say)."""
    return ", ".join(setting_phrase(d, v) for d, v in context.items())


def number(value: Any, digits: int = 3) -> str:
    """A measurement with about ``digits`` significant figures and thousands separators."""
    value = plain_value(value)
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return str(value)
    if value == 0:
        return "0"
    if isinstance(value, int) or abs(value) >= 10 ** (digits - 1):
        return f"{round(value):,}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def is_share(metric: str) -> bool:
    """Metrics stored as a fraction, shown as a percentage."""
    return METRICS.get(metric) is not None and METRICS[metric].unit == "fraction"


def display_unit(metric: str) -> str:
    """The unit a reader sees for ``metric`` (fractions are shown in %)."""
    if metric not in METRICS:
        return ""
    return "%" if is_share(metric) else METRICS[metric].unit


def scaled(metric: str, value: Any) -> Any:
    """The value in :func:`display_unit` (fractions ×100)."""
    value = plain_value(value)
    if value is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return value
    return value * 100 if is_share(metric) else value


def metric_value(metric: str, value: Any, unit: bool = True) -> str:
    """``812 jobs/s``, ``4.2%``, ``12.5 ms``."""
    shown = number(scaled(metric, value))
    if shown == "–" or not unit:
        return shown
    u = display_unit(metric)
    return f"{shown}%" if u == "%" else f"{shown} {u}".rstrip()


def metric_label(metric: str) -> str:
    """Axis/heading label with its unit: ``throughput (jobs/s)``."""
    label = METRIC_LABELS.get(metric, metric.replace("_", " "))
    unit = display_unit(metric)
    return f"{label} ({unit})" if unit else label


def interval(metric: str, iv: Interval | None) -> str:
    """``812 jobs/s (95% CI 790–830)``, or what is missing about it."""
    if iv is None or is_missing(iv.estimate):
        return "no valid trial"
    text = metric_value(metric, iv.estimate)
    if iv.n < 2:
        return f"{text} (one valid trial: no interval)"
    low, high = number(scaled(metric, iv.low)), number(scaled(metric, iv.high))
    return f"{text} (95% CI {low}–{high})"


def ratio(iv: Interval) -> str:
    """``3.1× (95% CI 2.8–3.4×)``."""
    text = f"{_ratio_number(iv.estimate)}×"
    if iv.low == iv.high:
        return f"{text} (one trial each: no interval)"
    return f"{text} (95% CI {_ratio_number(iv.low)}–{_ratio_number(iv.high)}×)"


def _ratio_number(value: float) -> str:
    # Two decimals below 10: 1.05× must not read as 1×, and 5.00–6.20 lines up.
    if value < 10:
        return f"{value:.2f}"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def clock(seconds: float) -> str:
    """``3:25`` (``1h05m`` from an hour), for progress lines and terminal summaries."""
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}:{seconds % 60:02d}"


def duration(seconds: float | None) -> str:
    """``3 min 25 s``."""
    if seconds is None or is_missing(seconds):
        return "unknown"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def parse_time(value: Any) -> datetime | None:
    """An ISO timestamp from the environment, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def byte_size(value: Any) -> str:
    """``24.0 GiB``."""
    value = plain_value(value)
    if not isinstance(value, (int, float)):
        return "unknown"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TiB"
