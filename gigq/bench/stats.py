"""Medians, bootstrap confidence intervals and ratios of medians.

Benchmarks on a shared machine are noisy and rarely normal, so everything here is
median-based with percentile-bootstrap intervals, seeded for reproducibility.
"""

from __future__ import annotations

import itertools
import math
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

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval."""
        return self.low <= value <= self.high


def _clean(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


def _clean_pairs(base: Sequence[float], current: Sequence[float]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (base[i], current[i]) whose two values are both finite.

    A non-finite value drops its whole pair: cleaning each side on its own would
    shift every later value onto another repetition's partner.
    """
    b = np.asarray(base, dtype=float)
    c = np.asarray(current, dtype=float)
    if b.shape != c.shape or b.ndim != 1:
        raise ValueError(f"paired samples must have the same length (base {b.size}, "
                         f"current {c.size}): pass one value per repetition on each side")
    keep = np.isfinite(b) & np.isfinite(c)
    return b[keep], c[keep]


def _clean_both(base: Sequence[float], current: Sequence[float], paired: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    return _clean_pairs(base, current) if paired else (_clean(base), _clean(current))


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
    order) resamples repetitions together, which cancels drift shared by a pair; the
    two sequences must have the same length, and a non-finite value drops its pair.
    """
    b, c = _clean_both(base, current, paired)
    n = min(b.size, c.size)
    if b.size == 0 or c.size == 0 or np.median(b) == 0:
        nan = float("nan")
        return Interval(nan, nan, nan, level, n)
    est = float(np.median(c) / np.median(b))
    if b.size < 2 or c.size < 2:
        return Interval(est, est, est, level, n)
    rng = np.random.default_rng(seed)
    if paired:
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


DEFAULT_PERMUTATIONS = 10000
# Enumerate every rearrangement up to this many; beyond it, sample them at random.
_EXACT_LIMIT = 20000


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values``, ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=float)
    ranks[order] = np.arange(1, values.size + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def permutation_pvalue(
    base: Sequence[float],
    current: Sequence[float],
    paired: bool = False,
    resamples: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
) -> float:
    """Two-sided p-value of a randomisation test for "base and current do not differ".

    ``paired=True``: the Wilcoxon signed-rank statistic of the per-pair changes
    (log ratios when every value is positive, so shared drift cancels; differences
    otherwise), with every sign flip of the pairs as the reference (valid when the
    order inside a pair was random, as in an interleaved A/B run). Otherwise: the
    Mann-Whitney rank sum of ``current`` with every relabelling of the pooled values.

    Both are computed exactly, by enumerating every rearrangement, when there are at
    most 20,000; else from ``resamples`` random ones. Rank statistics (rather than a
    difference of medians, which many rearrangements leave unchanged) let every
    rearrangement count, so 6 pairs can reach p = 2/64. Unlike a percentile bootstrap
    this keeps its nominal false-alarm rate at the small sample sizes benchmarks have.
    """
    b, c = _clean_both(base, current, paired)
    if b.size == 0 or c.size == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    if paired:
        n = b.size
        change = np.log(c / b) if (b > 0).all() and (c > 0).all() else c - b
        signed = np.sign(change) * _ranks(np.abs(change))
        observed = abs(float(signed.sum()))
        weights = np.abs(signed)
        exact = 2**n <= _EXACT_LIMIT
        if exact:
            bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        else:
            bits = rng.integers(0, 2, size=(resamples, n))
        stats = ((1 - 2 * bits) * weights).sum(axis=1)
    else:
        pooled_ranks = _ranks(np.concatenate([b, c]))
        nc, total = c.size, b.size + c.size
        center = nc * (total + 1) / 2
        observed = abs(float(pooled_ranks[b.size:].sum()) - center)
        exact = math.comb(total, nc) <= _EXACT_LIMIT
        if exact:
            picks = np.array(list(itertools.combinations(range(total), nc)))
        else:
            picks = np.argsort(rng.random((resamples, total)), axis=1)[:, :nc]
        stats = pooled_ranks[picks].sum(axis=1) - center
    # A tolerance so that rearrangements equal to the observed one count as ties
    # despite floating-point rounding.
    tol = 1e-9 * max(1.0, observed)
    extreme = int(np.count_nonzero(np.abs(stats) >= observed - tol))
    if exact:
        return extreme / len(stats)
    # The observed arrangement counts as one of the draws (keeps p > 0).
    return (extreme + 1) / (len(stats) + 1)


def min_pvalue(n_base: int, n_current: int, paired: bool = False) -> float:
    """The smallest two-sided p-value :func:`permutation_pvalue` can return for these sizes
    (of its exact reference distribution, which the sampled branch estimates).

    Below a certain size no difference, however large, can be significant: 5 pairs
    give at best p = 2/32 = 0.0625, so a 95% verdict needs at least 6 pairs. Unpaired,
    the most extreme split (``current`` holding every top rank) always ties with its
    mirror image (every bottom rank), whatever the sizes: 4 against 4 give at best
    2/70 = 0.029, 3 against 4 give 2/35 = 0.057.
    """
    if n_base < 1 or n_current < 1:
        return 1.0
    if paired:
        if n_base != n_current:
            raise ValueError(f"paired samples must have the same length (base {n_base}, "
                             f"current {n_current})")
        return min(1.0, 2.0 ** (1 - n_base))
    return min(1.0, 2 / math.comb(n_base + n_current, n_base))


def min_samples_for(level: float = DEFAULT_LEVEL, paired: bool = False) -> int:
    """Fewest samples per side (pairs, if paired) for which :func:`min_pvalue` < 1 - level."""
    alpha = 1 - level
    n = 1
    while min_pvalue(n, n, paired) > alpha and n < 64:
        n += 1
    return n


@dataclass(frozen=True)
class Difference:
    """The outcome of a two-sided randomisation test of ``current`` against ``base``."""

    p_value: float
    n: int  # pairs when paired, else the smaller side
    paired: bool
    significant: bool  # p <= 1 - level, from at least the required samples per side
    direction: int  # +1: current's median is higher; -1: lower; 0: equal or unknown


def difference(
    base: Sequence[float],
    current: Sequence[float],
    *,
    paired: bool,
    level: float = DEFAULT_LEVEL,
    min_n: int = 1,
    seed: int = 0,
) -> Difference:
    """Whether ``current`` differs from ``base``: :func:`permutation_pvalue` at ``level``,
    two-sided, and only from at least ``min_n`` samples per side (pairs, if paired).

    The direction is that of the medians, read after the test (which looked at both
    directions), so a caller can ask "significantly higher" without a one-sided peek.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    b, c = _clean_both(base, current, paired)
    n = int(min(b.size, c.size))
    if n == 0:
        return Difference(float("nan"), 0, paired, False, 0)
    p = permutation_pvalue(base, current, paired=paired, seed=seed)
    direction = int(np.sign(np.median(c) - np.median(b)))
    return Difference(p, n, paired, bool(n >= min_n and p <= 1 - level), direction)
