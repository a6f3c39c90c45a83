"""Medians, bootstrap confidence intervals and ratios of medians.

Benchmarks on a shared machine are noisy and rarely normal, so everything here is
median-based with percentile-bootstrap intervals, seeded for reproducibility.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_LEVEL = 0.95
DEFAULT_RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval [low, high] at ``level``."""

    estimate: float
    low: float
    high: float
    level: float = DEFAULT_LEVEL
    n: int = 0

    @property
    def half_width_ratio(self) -> float:
        """Half the interval's width relative to the estimate (0.05 = ±5%)."""
        if not self.estimate:
            return float("inf")
        return (self.high - self.low) / 2 / abs(self.estimate)

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval."""
        return self.low <= value <= self.high


def _clean(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


def median(values: Sequence[float]) -> float:
    """Median of the finite values (NaN if none)."""
    arr = _clean(values)
    return float(np.median(arr)) if arr.size else float("nan")


def bootstrap_median(
    values: Sequence[float],
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Median with a percentile-bootstrap interval. One value: a zero-width interval."""
    arr = _clean(values)
    if arr.size == 0:
        nan = float("nan")
        return Interval(nan, nan, nan, level, 0)
    est = float(np.median(arr))
    if arr.size == 1:
        return Interval(est, est, est, level, 1)
    rng = np.random.default_rng(seed)
    samples = rng.choice(arr, size=(resamples, arr.size), replace=True)
    meds = np.median(samples, axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(meds, [alpha, 1 - alpha])
    return Interval(est, float(lo), float(hi), level, int(arr.size))


def ratio_of_medians(
    base: Sequence[float],
    current: Sequence[float],
    paired: bool = False,
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """median(current) / median(base) with a bootstrap interval.

    ``paired=True`` (both runs interleaved, one value per repetition in the same
    order) resamples repetitions together, which cancels drift shared by a pair.
    """
    b, c = _clean(base), _clean(current)
    n = min(b.size, c.size)
    if b.size == 0 or c.size == 0 or np.median(b) == 0:
        nan = float("nan")
        return Interval(nan, nan, nan, level, n)
    est = float(np.median(c) / np.median(b))
    if b.size < 2 or c.size < 2:
        return Interval(est, est, est, level, n)
    rng = np.random.default_rng(seed)
    if paired and b.size == c.size:
        idx = rng.integers(0, b.size, size=(resamples, b.size))
        ratios = np.median(c[idx], axis=1) / np.median(b[idx], axis=1)
    else:
        bi = rng.integers(0, b.size, size=(resamples, b.size))
        ci = rng.integers(0, c.size, size=(resamples, c.size))
        ratios = np.median(c[ci], axis=1) / np.median(b[bi], axis=1)
    ratios = ratios[np.isfinite(ratios)]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(ratios, [alpha, 1 - alpha])
    return Interval(est, float(lo), float(hi), level, n)
