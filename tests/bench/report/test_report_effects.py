"""The report's "clear effect" badge on synthetic data whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from gigq.bench.report.insights import analyse
from gigq.bench.results import Results
from gigq.bench.sweep.plan import rows_frame
from gigq.bench.sweep.space import DEFAULT_BASE, canonical_config, config_id


def _results(rng: np.random.Generator, n: int, delete_factor: float = 1.0,
             drift: float = 0.10, noise: float = 0.05) -> Results:
    """WAL against DELETE, ``n`` repetitions each, interleaved as a sweep runs them:
    each repetition shares a drift of the machine's speed, each trial has its own noise."""
    rows = []
    shared = np.exp(rng.normal(0, drift, n))
    for journal, factor in (("wal", 1.0), ("delete", delete_factor)):
        config = canonical_config({**DEFAULT_BASE, "journal_mode": journal})
        rates = 1000 * factor * shared * np.exp(rng.normal(0, noise, n))
        for rep, rate in enumerate(rates, start=1):
            rows.append({**config, "jobs": 1000, "config_id": config_id(config),
                         "trial_id": f"{journal}-{rep}", "repetition": rep, "order": rep,
                         "version": "current", "jobs_per_sec": float(rate),
                         "durability": "crash-safe", "valid": True, "invalid_reason": None})
    return Results(rows=rows_frame(rows), spec={"base": DEFAULT_BASE, "repeat": n})


def _effect(results: Results):
    (effect,) = analyse(results).effects
    return effect


@pytest.mark.parametrize(("n", "drift"), [(2, 0.0), (3, 0.0), (2, 0.1), (6, 0.1), (8, 0.1)])
def test_no_real_effect_is_called_clear_at_most_at_alpha(n, drift):
    # The unpaired bootstrap with the direction picked after looking said "clear" in
    # a third of these at n=2 without drift.
    rng = np.random.default_rng(1000 + n)
    runs = 100
    clear = sum(_effect(_results(rng, n, drift=drift)).clear for _ in range(runs))
    assert clear / runs <= 0.05


@pytest.mark.parametrize("n", [2, 3, 4])
def test_fewer_than_five_repetitions_get_no_badge(n):
    effect = _effect(_results(np.random.default_rng(n), n, delete_factor=0.5))
    assert effect.test is None and not effect.clear


def test_five_pairs_cannot_reach_95_percent_so_get_no_badge_either():
    # Even a 2x effect: 5 pairs give at best p = 2/32.
    effect = _effect(_results(np.random.default_rng(5), 5, delete_factor=0.5))
    assert effect.test is None


def test_a_real_effect_with_six_pairs_is_clear_despite_drift():
    # 20% slower with DELETE, under a drift twice that size shared by each repetition:
    # the pairing cancels the drift.
    hits = 0
    rng = np.random.default_rng(6)
    for _ in range(20):
        effect = _effect(_results(rng, 6, delete_factor=0.8, drift=0.2, noise=0.03))
        assert effect.test is not None and effect.test.paired and effect.test.n == 6
        hits += effect.clear
    assert hits >= 18
