"""The gate's statistics on synthetic samples whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from gigq.bench import stats
from gigq.bench.gate.compare import FASTER, INCONCLUSIVE, SLOWER, UNCHANGED, judge


def lognormal(rng: np.random.Generator, n: int, center: float, sigma: float) -> np.ndarray:
    """Benchmark-like samples: positive, right-skewed, multiplicative noise."""
    return center * np.exp(rng.normal(0, sigma, n))


@pytest.mark.parametrize("paired", [True, False])
def test_identical_distributions_are_unchanged_and_rarely_alarm(paired: bool) -> None:
    rng = np.random.default_rng(20250101)
    trials, n = 200, 8
    verdicts = []
    for seed in range(trials):
        shared = rng.normal(0, 0.10, n) if paired else 0.0
        base = lognormal(rng, n, 4000, 0.04) * np.exp(shared)
        current = lognormal(rng, n, 4000, 0.04) * np.exp(shared)
        verdicts.append(judge(base, current, higher_is_better=True, threshold=0.10,
                              paired=paired, seed=seed).verdict)
    false_alarms = verdicts.count(SLOWER) / trials
    assert false_alarms <= 0.05
    # The rest may be inconclusive (an interval that touches the threshold), never faster
    # or slower in bulk: most identical pairs are rated unchanged.
    assert verdicts.count(UNCHANGED) / trials >= 0.8


def test_significance_alone_keeps_its_false_alarm_rate_at_small_n() -> None:
    # Threshold ~0: only the statistics stand between noise and an alarm.
    rng = np.random.default_rng(7)
    trials, alarms = 300, 0
    for seed in range(trials):
        drift = rng.normal(0, 0.1, 6)
        base = lognormal(rng, 6, 1000, 0.08) * np.exp(drift)
        current = lognormal(rng, 6, 1000, 0.08) * np.exp(drift)
        v = judge(base, current, higher_is_better=True, threshold=1e-6, paired=True, seed=seed)
        alarms += v.verdict == SLOWER
    assert alarms / trials <= 0.05


@pytest.mark.parametrize("paired", [True, False])
def test_thirty_percent_slowdown_is_slower(paired: bool) -> None:
    rng = np.random.default_rng(11)
    caught = 0
    for seed in range(50):
        shared = rng.normal(0, 0.08, 10) if paired else 0.0
        base = lognormal(rng, 10, 4000, 0.05) * np.exp(shared)
        current = lognormal(rng, 10, 4000 / 1.3, 0.05) * np.exp(shared)
        v = judge(base, current, higher_is_better=True, threshold=0.10, paired=paired,
                  seed=seed)
        assert v.verdict in (SLOWER, INCONCLUSIVE)
        caught += v.verdict == SLOWER
        assert v.factor > 1
    assert caught >= 45


def test_latency_increase_is_slower_and_decrease_is_faster() -> None:
    rng = np.random.default_rng(3)
    base = lognormal(rng, 10, 20.0, 0.05)
    worse = judge(base, lognormal(rng, 10, 30.0, 0.05), higher_is_better=False,
                  threshold=0.10)
    better = judge(base, lognormal(rng, 10, 12.0, 0.05), higher_is_better=False,
                   threshold=0.10)
    assert worse.verdict == SLOWER and worse.factor > 1.3
    assert better.verdict == FASTER and better.factor < 1


def test_speedup_of_a_higher_is_better_metric_is_never_a_regression() -> None:
    rng = np.random.default_rng(5)
    for seed in range(100):
        base = lognormal(rng, 6, 4000, 0.15)
        current = lognormal(rng, 6, 4000 * rng.uniform(1.0, 3.0), 0.15)
        v = judge(base, current, higher_is_better=True, threshold=0.05, seed=seed)
        assert v.verdict != SLOWER


@pytest.mark.parametrize(("n", "paired"), [(1, False), (2, False), (3, True), (5, True)])
def test_too_few_samples_are_inconclusive(n: int, paired: bool) -> None:
    base = np.full(n, 4000.0)
    current = np.full(n, 1000.0)  # a 4x slowdown, but too few trials to be sure
    v = judge(base, current, higher_is_better=True, threshold=0.10, paired=paired)
    assert v.verdict == INCONCLUSIVE
    assert "too few" in v.reason


def test_noisy_data_cannot_rule_out_a_regression() -> None:
    rng = np.random.default_rng(2)
    base = lognormal(rng, 8, 4000, 0.5)
    current = lognormal(rng, 8, 4000, 0.5)
    v = judge(base, current, higher_is_better=True, threshold=0.05)
    assert v.verdict == INCONCLUSIVE


def test_small_significant_change_within_threshold_is_unchanged() -> None:
    base = np.array([1000.0, 1001, 999, 1002, 998, 1000, 1001, 999])
    current = base * 0.95
    v = judge(base, current, higher_is_better=True, threshold=0.10, paired=True)
    assert v.verdict == UNCHANGED
    assert "within" in v.reason


def test_zero_medians() -> None:
    zeros = np.zeros(8)
    assert judge(zeros, zeros, higher_is_better=False).verdict == UNCHANGED
    assert judge(zeros, np.ones(8), higher_is_better=False).verdict == INCONCLUSIVE


def test_paired_nonfinite_drops_the_pair() -> None:
    base = [1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0]
    current = [1.0, 2.0, 3.0, np.inf, 5.0, 6.0, 7.0]
    v = judge(base, current, higher_is_better=True, paired=True)
    assert (v.n_base, v.n_current) == (5, 5)


def test_verdict_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(9)
    base, current = lognormal(rng, 8, 100, 0.1), lognormal(rng, 8, 90, 0.1)
    a = judge(base, current, higher_is_better=True, seed=4)
    b = judge(base, current, higher_is_better=True, seed=4)
    assert a == b


def test_permutation_pvalue_exact_small_cases() -> None:
    # Six pairs all pointing the same way: only the identity and the full swap are as
    # extreme, so p = 2 / 2**6.
    base = [10.0, 11, 12, 13, 14, 15]
    current = [20.0, 21, 22, 23, 24, 25]
    assert stats.permutation_pvalue(base, current, paired=True) == pytest.approx(2 / 64)
    # Unpaired, 4 vs 4, fully separated: 2 of the C(8, 4) = 70 relabellings (this one
    # and its mirror image) are as extreme.
    assert stats.permutation_pvalue(base[:4], current[:4]) == pytest.approx(2 / 70)
    assert stats.permutation_pvalue(base, base) == 1.0


def test_outer_pairs_count_too() -> None:
    # Six pairs, each about 8x apart but spread out: a difference of medians would tie
    # with many flips (p = 0.125); the signed-rank statistic does not.
    base = [1648.0, 1653.0, 2579.0, 4199.0, 1276.0, 1522.0]
    current = [201.0, 187.0, 200.0, 192.0, 207.0, 202.0]
    assert stats.permutation_pvalue(base, current, paired=True) == pytest.approx(2 / 64)


def test_ranks_average_ties() -> None:
    assert list(stats._ranks(np.array([3.0, 1.0, 3.0, 2.0]))) == [3.5, 1.0, 3.5, 2.0]


def test_permutation_pvalue_sampled_branch_is_seeded() -> None:
    rng = np.random.default_rng(0)
    base, current = rng.normal(10, 1, 20), rng.normal(10.5, 1, 20)
    p1 = stats.permutation_pvalue(base, current, paired=True, resamples=2000, seed=1)
    p2 = stats.permutation_pvalue(base, current, paired=True, resamples=2000, seed=1)
    assert p1 == p2 and 0 < p1 <= 1


def test_min_pvalue_and_min_samples() -> None:
    assert stats.min_pvalue(5, 5, paired=True) == pytest.approx(0.0625)
    assert stats.min_pvalue(6, 6, paired=True) == pytest.approx(0.03125)
    assert stats.min_samples_for(0.95, paired=True) == 6
    assert stats.min_samples_for(0.95, paired=False) == 4
    assert stats.min_pvalue(4, 4) == pytest.approx(2 / 70)
    assert stats.min_pvalue(0, 3) == 1.0
    with pytest.raises(ValueError):
        stats.permutation_pvalue([1.0, 2.0], [1.0], paired=True)


@pytest.mark.parametrize(("n_base", "n_current"), [(3, 4), (4, 3), (2, 5), (4, 4), (1, 6)])
def test_min_pvalue_is_the_p_of_a_complete_separation(n_base: int, n_current: int) -> None:
    # Unequal sizes too: the most extreme split ties with its mirror image, so 3 vs 4
    # reach 2/35 = 0.057 at best (not 1/35 = 0.029, which would claim 95% confidence).
    base = [100.0 + i for i in range(n_base)]
    current = [200.0 + i for i in range(n_current)]
    best = stats.permutation_pvalue(base, current)
    assert stats.min_pvalue(n_base, n_current) == pytest.approx(best)


def test_min_samples_for_unequal_sizes_is_not_fooled() -> None:
    # 3 against 4 cannot reach p <= 0.05: a verdict from them would be a false promise.
    assert stats.min_pvalue(3, 4) == pytest.approx(2 / 35) and stats.min_pvalue(3, 4) > 0.05
    assert stats.min_pvalue(4, 4) <= 0.05


def test_paired_ratio_aligns_pairs_before_dropping_nan() -> None:
    # Every current value is exactly twice its partner: the pair with a NaN goes, the
    # rest stay aligned, so the ratio is exactly 2 with a zero-width interval.
    base = [1.0, 2.0, np.nan, 4.0, 8.0]
    current = [2.0, 4.0, 100.0, 8.0, 16.0]
    ratio = stats.ratio_of_medians(base, current, paired=True)
    assert ratio.n == 4
    assert (ratio.estimate, ratio.low, ratio.high) == pytest.approx((2.0, 2.0, 2.0))


def test_paired_pvalue_aligns_pairs_before_dropping_nan() -> None:
    # Six complete pairs, all pointing up: p = 2/64 (an inf on either side drops a pair).
    base = [10.0, 11.0, np.nan, 13.0, 14.0, 15.0, 16.0, 17.0]
    current = [20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, np.inf]
    assert stats.permutation_pvalue(base, current, paired=True) == pytest.approx(2 / 64)


@pytest.mark.parametrize("fn", [stats.ratio_of_medians, stats.permutation_pvalue])
def test_paired_statistics_refuse_unequal_lengths(fn) -> None:
    with pytest.raises(ValueError, match="same length"):
        fn([1.0, 2.0, 3.0], [1.0, 2.0], paired=True)
    with pytest.raises(ValueError, match="same length"):
        stats.min_pvalue(3, 2, paired=True)
