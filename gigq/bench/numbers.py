"""How gigq-bench writes numbers, sizes and durations: the one formatter family.

Every page and every terminal line formats through these, so a rate, a share or a
cache size reads the same in the sweep summary, the tune output, the gate and the
HTML reports. Plain functions of plain values: no pandas, no HTML, no definitions
(labels and units live on :class:`gigq.bench.sweep.space.Dimension` and
:class:`gigq.bench.metrics.Metric`; :mod:`gigq.bench.html.format` combines them).
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "–"


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


def number(value: Any, digits: int = 3) -> str:
    """A measurement with about ``digits`` significant figures and thousands separators."""
    value = plain_value(value)
    if value is None:
        return MISSING
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


def rate(value: float) -> str:
    """A terminal rate: ``1,234`` from 100 on, ``42.5`` below (one decimal)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def measure(value: float | None) -> str:
    """A compared metric's median: ``5,123`` / ``42.1`` / ``0.0371`` (``n/a`` if none)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size == 0:
        return "0"
    return f"{value:.3g}"


def percent(fraction: float) -> str:
    """0.25 → ``25%``; 0.125 → ``12.5%`` (``n/a`` if not finite)."""
    if not math.isfinite(fraction):
        return "n/a"
    pct = fraction * 100
    return f"{pct:.0f}%" if abs(pct - round(pct)) < 0.05 else f"{pct:.1f}%"


def times(value: float) -> str:
    """A ratio's number before ``×``: two decimals below 10 (1.05× must not read as 1×,
    and 5.00–6.20 lines up), one below 100, none above."""
    if value < 10:
        return f"{value:.2f}"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


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
