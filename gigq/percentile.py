"""The one percentile function of GigQ and gigq-bench (``gigq probe``'s latencies,
the sweep's latency metrics, the lock-wait histogram's p50/p99 figures).

``q`` is on the 0-100 scale everywhere, as in ``numpy.percentile`` and in the names
of the figures (``p95``), so a caller cannot mix it up with a 0-1 quantile.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def check_percent(q: float) -> None:
    """ValueError unless ``0 <= q <= 100`` (the percentile scale)."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0-100 (95 for p95), got {q}")


def percentile(values: Iterable[float | None], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks.

    Same method as numpy's default: rank ``(n-1)·q/100``. None and non-finite values
    are left out; None when no value is left.
    """
    data = sorted(v for v in values if v is not None and math.isfinite(v))
    if not data:
        return None
    check_percent(q)
    rank = (len(data) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)
