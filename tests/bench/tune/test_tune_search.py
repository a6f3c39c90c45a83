"""The tuner's search on synthetic objectives: known optimum, noise, floors, budgets.

Costs are simulated seconds reported by the evaluator, so nothing here depends on
how fast this machine is; every run is deterministic for its seed.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest

from gigq.bench.sweep.space import durability_of
from gigq.bench.tune.output import verdict_text
from gigq.bench.tune.search import (
    MIN_GAIN_PAIRS,
    TUNED,
    EvalContext,
    Observation,
    SearchSpace,
    TuneError,
    Tuner,
    build_space,
    gigq_defaults,
    latin_sample,
    meets_floor,
    parse_duration,
    reference_settings,
    settings_key,
)
from gigq.storage import DURABILITY_CLASSES

# -- a synthetic queue: throughput limited by threads and by the commit cost ------------

COMMIT_CAP = {  # jobs/s the journal x synchronous combination allows
    ("wal", "off"): 3600, ("wal", "normal"): 3000, ("wal", "full"): 1500,
    ("wal", "extra"): 1400,
}


def true_rate(s) -> float:
    """Jobs/s of a configuration: threads x 150/s up to the commit cap, a penalty for
    too many threads or processes, a small gain from a bigger cache."""
    cap = COMMIT_CAP.get((s["journal_mode"], s["synchronous"]))
    if cap is None:
        cap = {"off": 2500, "normal": 800, "full": 200, "extra": 180}[s["synchronous"]]
        if s["journal_mode"] in ("memory", "off"):
            cap *= 1.5
    threads = s["workers"] * s["concurrency"]
    rate = min(threads * 150, cap)
    rate *= 1 - 0.004 * max(0, threads - 32)
    rate *= 1 - 0.05 * max(0, s["workers"] - 4)
    rate *= {None: 1.0, -10000: 1.01, -64000: 1.02}[s["cache_size"]]
    return rate


def trial_cost(s) -> float:
    """Simulated seconds of one trial: start-up grows with processes."""
    return 1.2 + 0.15 * s["workers"] + 1.0


class Synthetic:
    """An evaluator: the true rate times lognormal noise, at a simulated cost."""

    def __init__(self, rate=true_rate, noise=0.05, seed=7, fail=None):
        self.rate = rate
        self.noise = noise
        self.rng = random.Random(seed)
        self.fail = fail or (lambda s: None)
        self.calls: list[tuple[dict, EvalContext]] = []

    def __call__(self, settings, context):
        self.calls.append((dict(settings), context))
        cost = trial_cost(settings)
        failure = self.fail(settings)
        if failure is not None:
            value, reason = failure
            return Observation(settings, value, False, cost, reason)
        value = self.rate(settings) * math.exp(self.rng.gauss(0, self.noise))
        return Observation(settings, value, True, cost)


def all_configs(space: SearchSpace):
    combos = itertools.product(*(space.levels[d] for d in TUNED))
    return [c for c in (dict(zip(TUNED, combo, strict=True)) for combo in combos)
            if space.allowed(c)]


def tune(floor="crash-safe", budget=300.0, seed=1, evaluator=None, **kw):
    space = build_space(floor, "throughput", cores=2)
    reference, _ = reference_settings(floor)
    evaluator = evaluator or Synthetic(seed=seed + 100)
    tuner = Tuner(space, evaluator, budget=budget, reference=reference, seed=seed, **kw)
    return tuner.run(), space, evaluator


# -- finding the optimum -------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_finds_the_optimum_or_one_within_the_noise(seed):
    result, space, _ = tune(seed=seed)
    best = max(true_rate(c) for c in all_configs(space))
    assert result.winner is not None
    # 5% noise per trial: the winner is the optimum or indistinguishable from it.
    assert true_rate(result.winner) >= 0.9 * best, settings_key(result.winner)
    assert result.verdict == "gain" and result.comparison.significant
    # The winner is ~20x the defaults in this model; the interval says so.
    ratio = result.comparison.ratio
    assert ratio.low > 10 and ratio.low <= ratio.estimate <= ratio.high
    assert result.recommended == result.winner


def test_finds_the_latency_optimum_when_lower_is_better():
    def p95(s):  # ms: best with 8-16 threads in all and a short poll
        threads = s["workers"] * s["concurrency"]
        return 20 + abs(math.log2(threads / 12)) * 15 + s["polling_interval"] * 2

    space = build_space("crash-safe", "latency", cores=2)
    reference, _ = reference_settings("crash-safe")
    evaluator = Synthetic(rate=p95, seed=11)
    result = Tuner(space, evaluator, budget=300, reference=reference,
                   higher_is_better=False, seed=3).run()
    best = min(p95(c) for c in all_configs(space))
    assert p95(result.winner) <= best * 1.1 + 2
    assert result.verdict == "gain"
    assert result.comparison.ratio.high < 1  # a lower p95 than the defaults


def test_a_flat_objective_says_the_defaults_are_fine():
    result, _, _ = tune(evaluator=Synthetic(rate=lambda s: 1000.0, noise=0.05, seed=3))
    assert result.verdict == "defaults-fine"
    assert result.recommended == result.reference


@pytest.mark.parametrize(("budget", "runs"), [(30.0, 100), (60.0, 100), (120.0, 100)])
def test_a_flat_objective_declares_a_gain_at_most_at_the_tests_alpha(budget, runs):
    # Every setting is equally fast: any "gain" is a false one. The paired test at 95%
    # allows 5% (2.5% in the winner's favour); a bootstrap interval from 2-5 pairs
    # called 12-24% of these runs a gain.
    gains = 0
    for seed in range(runs):
        result, _, _ = tune(budget=budget, seed=seed,
                            evaluator=Synthetic(rate=lambda s: 1000.0, seed=seed + 500))
        if result.verdict == "gain":
            gains += 1
            assert result.comparison.pairs >= MIN_GAIN_PAIRS
    assert gains / runs <= 0.05


def test_a_gain_from_fewer_than_six_pairs_is_not_declared():
    # The winner is ~20x the defaults, but 30 s only buy 3-4 pairs: not significant,
    # and the output says why.
    result, _, _ = tune(budget=30.0)
    assert 2 <= result.comparison.pairs < MIN_GAIN_PAIRS == 6
    assert not result.comparison.significant and result.verdict == "not-significant"
    assert result.recommended == result.reference
    assert "at least 6" in result.comparison.why_not
    assert verdict_text(result).startswith("Not significant: only ")


@pytest.mark.parametrize("seed", range(10))
def test_a_real_thirty_percent_gain_is_found_with_enough_pairs(seed):
    def rate(s):
        return 1000.0 * (1.3 if s["concurrency"] >= 4 else 1.0)

    result, _, _ = tune(budget=120.0, seed=seed, evaluator=Synthetic(rate=rate, seed=seed + 900))
    assert result.comparison.pairs >= MIN_GAIN_PAIRS
    assert result.verdict == "gain" and result.comparison.p_value <= 0.05
    assert result.recommended["concurrency"] >= 4
    assert "p=" in verdict_text(result)


# -- durability floor ----------------------------------------------------------------------


@pytest.mark.parametrize("floor", DURABILITY_CLASSES)
def test_never_measures_or_recommends_below_the_floor(floor):
    # Unsafe settings are by far the fastest here: a tuner that looks below the
    # floor would pick them.
    def rate(s):
        return true_rate(s) * (10 if durability_of(s) == "unsafe" else 1)

    result, space, evaluator = tune(floor=floor, evaluator=Synthetic(rate=rate, seed=5))
    assert evaluator.calls
    for settings, _ in evaluator.calls:
        assert meets_floor(settings, floor), settings
    assert meets_floor(result.winner, floor) and meets_floor(result.recommended, floor)
    assert meets_floor(result.reference, floor)
    if floor == "unsafe":
        assert durability_of(result.winner) == "unsafe"
    else:
        assert all(meets_floor(c, floor) for c in space.coarse_grid())


def test_power_loss_safe_floor_raises_the_defaults_to_it():
    reference, notes = reference_settings("power-loss-safe")
    assert reference["synchronous"] == "full" and notes
    assert {k: v for k, v in reference.items() if k != "synchronous"} == \
        {k: v for k, v in gigq_defaults().items() if k != "synchronous"}
    assert reference_settings("crash-safe") == (gigq_defaults(), [])


def test_the_space_without_wal_keeps_a_runnable_reference():
    space = build_space("crash-safe", wal_ok=False)
    assert "wal" not in space.levels["journal_mode"]
    reference, notes = reference_settings("crash-safe", wal_ok=False)
    assert reference["journal_mode"] == "delete" and space.allowed(reference) and notes


# -- budget --------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [20.0, 60.0, 300.0, 1200.0])
def test_the_budget_is_respected(budget):
    result, _, evaluator = tune(budget=budget)
    costs = [trial_cost(s) for s, _ in evaluator.calls]
    assert sum(costs) == pytest.approx(result.spent)
    assert result.spent <= budget
    assert result.evaluations == len(evaluator.calls) <= budget / min(costs)
    # Every trial was told how much budget was left when it started.
    spent = 0.0
    for (_, context), cost in zip(evaluator.calls, costs, strict=True):
        assert context.remaining == pytest.approx(budget - spent)
        spent += cost
    # The final comparison always gets its rounds: the winner, the reference and (when
    # it differs) the winner with the minor settings at their defaults.
    assert result.comparison is not None and result.comparison.pairs >= 2
    final = [o for o in result.observations if o.stage == "final"]
    for pair in range(result.comparison.pairs):
        roles = {o.role for o in final if o.rung == pair}
        assert {"reference", "winner"} <= roles <= {"reference", "winner", "simplified"}


def test_a_bigger_budget_buys_more_of_the_search():
    small, _, _ = tune(budget=60)
    large, _, _ = tune(budget=600)
    search = [o for o in large.observations if o.stage != "final"]
    assert len(search) > 3 * len([o for o in small.observations if o.stage != "final"])
    assert len(large.rounds) > 1 and large.rounds[0].name == "coarse"
    assert large.rounds[1].name.startswith("fine")


def test_successive_halving_gives_the_contenders_more_trials():
    result, _, _ = tune(budget=600)
    coarse = result.rounds[0]
    sizes = [sum(1 for e in r.ranking if e["n"]) for r in coarse.rungs]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    assert [r.reps for r in coarse.rungs] == [2 ** k for k in range(len(coarse.rungs))]
    # The last rung's candidates were measured as often as the rung says.
    last = coarse.rungs[-1]
    assert all(e["n"] == last.reps for e in last.ranking if e["n"])


def test_non_positive_budget_is_refused():
    space = build_space()
    with pytest.raises(TuneError):
        Tuner(space, Synthetic(), budget=0, reference=gigq_defaults())


# -- failures and Ctrl-C ---------------------------------------------------------------------


def test_candidates_that_did_not_complete_never_win():
    # Configurations with 16+ threads per process "time out" while claiming a
    # great partial rate: they may rank, never win.
    def fail(s):
        if s["concurrency"] >= 16:
            return 1e6, "too slow: not done within 10 s"
        return None

    result, _, _ = tune(evaluator=Synthetic(seed=9, fail=fail))
    assert result.winner["concurrency"] < 16
    assert any(not o.valid for o in result.observations)


def test_failed_trials_without_a_value_are_dropped_at_once():
    def fail(s):
        return (None, "2 jobs ran more than once") if s["workers"] == 8 else None

    result, _, _ = tune(evaluator=Synthetic(seed=9, fail=fail))
    for record in result.rounds:
        for rung in record.rungs[1:]:
            assert all(e["settings"]["workers"] != 8 for e in rung.ranking)


class Interrupting(Synthetic):
    def __init__(self, at: int, **kw):
        super().__init__(**kw)
        self.at = at

    def __call__(self, settings, context):
        if len(self.calls) + 1 == self.at:
            raise KeyboardInterrupt
        return super().__call__(settings, context)


def test_ctrl_c_during_the_search_keeps_the_best_so_far():
    result, _, _ = tune(evaluator=Interrupting(at=12, seed=4))
    assert result.interrupted and result.evaluations == 11
    assert result.comparison is None and result.verdict == "unverified"
    measured = {}
    for o in result.observations:
        measured.setdefault(o.key, []).append(o.value)
    best = max(measured, key=lambda k: sorted(measured[k])[len(measured[k]) // 2])
    assert settings_key(result.winner) == best


def test_ctrl_c_during_the_final_comparison_keeps_the_finished_pairs():
    full, _, _ = tune(budget=120)
    first_final = next(i for i, o in enumerate(full.observations) if o.stage == "final")
    per_round = len({o.role for o in full.observations if o.stage == "final"})
    # Interrupted in the middle of the third round of the final comparison.
    at = first_final + 2 * per_round + 2
    result, _, _ = tune(budget=120, evaluator=Interrupting(at=at, seed=101))
    assert result.interrupted
    assert settings_key(result.found) == settings_key(full.found)
    assert result.comparison.pairs == 2  # rounds 1-2 complete, round 3 cut short


# -- the space ---------------------------------------------------------------------------


def test_space_levels_follow_the_floor():
    safe = build_space("power-loss-safe")
    assert set(safe.levels["synchronous"]) == {"full", "extra"}
    crash = build_space("crash-safe")
    assert "off" not in crash.levels["synchronous"]
    assert not {"memory", "off"} & set(crash.levels["journal_mode"])
    unsafe = build_space("unsafe")
    assert {"memory", "off"} <= set(unsafe.levels["journal_mode"])
    assert "off" in unsafe.levels["synchronous"]
    assert build_space(cores=2).levels["workers"] == (1, 2, 4, 8)
    assert build_space(cores=4).levels["workers"] == (1, 2, 4, 8, 16)
    with pytest.raises(TuneError):
        build_space("paranoid")
    with pytest.raises(TuneError):
        build_space(objective="fun")


def test_neighbours_are_one_step_away_and_in_the_space():
    space = build_space("crash-safe", cores=2)
    start = {**gigq_defaults(), "workers": 2, "concurrency": 8}
    near = space.neighbours(start)
    assert near and all(space.allowed(c) for c in near)
    for c in near:
        changed = [d for d in TUNED if c[d] != start[d]]
        assert len(changed) == 1
    assert {"workers": 1} in [{"workers": c["workers"]} for c in near]
    assert {c["concurrency"] for c in near} >= {4, 16}
    assert {c["journal_mode"] for c in near} == {"wal", "delete", "truncate", "persist"}


def test_latin_sample_is_distinct_balanced_and_from_the_grid():
    space = build_space("crash-safe", cores=2)
    grid = space.coarse_grid()
    sample = latin_sample(grid, space.coarse, 12, random.Random(1))
    keys = [settings_key(c) for c in sample]
    assert len(keys) == len(set(keys)) == 12
    assert set(keys) <= {settings_key(c) for c in grid}
    for dim in ("workers", "concurrency", "journal_mode"):
        counts = {v: sum(1 for c in sample if c[dim] == v) for v in space.coarse[dim]}
        assert min(counts.values()) >= 1, (dim, counts)
    assert len(latin_sample(grid, space.coarse, 10_000, random.Random(1))) == len(grid)


@pytest.mark.parametrize("text,seconds", [("20s", 20), ("5m", 300), ("1h", 3600),
                                          ("90", 90), ("2.5min", 150), ("500ms", 0.5)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "five minutes", "-3s", "0s", "5d"])
def test_parse_duration_refuses_nonsense(text):
    with pytest.raises(TuneError, match=r"e\.g\. 20s, 5m|positive"):
        parse_duration(text)


def test_settings_that_make_no_difference_go_back_to_the_defaults():
    # Only threads count in this model; journal, synchronous, cache and polling are
    # noise. Whatever the search lands on for them, GigQ's defaults are recommended.
    def rate(s):
        return min(s["workers"] * s["concurrency"] * 150, 3000)

    result, _, _ = tune(budget=300, evaluator=Synthetic(rate=rate, seed=21))
    assert result.verdict == "gain"
    defaults = gigq_defaults()
    for dim in ("journal_mode", "synchronous", "cache_size", "polling_interval"):
        assert result.winner[dim] == defaults[dim], dim
    assert rate(result.winner) == 3000
    if result.simplified is not None:
        assert result.winner == result.simplified
        assert result.simplification.low <= 1 <= result.simplification.high or \
            result.simplification.estimate >= 1


def test_settings_that_matter_are_kept():
    # synchronous=FULL is what makes this model fast: simplifying would lose it.
    def rate(s):
        threads = min(s["workers"] * s["concurrency"] * 150, 3000)
        return threads * (3 if s["synchronous"] == "full" else 1)

    result, _, _ = tune(budget=300, evaluator=Synthetic(rate=rate, seed=22))
    assert result.winner["synchronous"] == "full"
    assert result.verdict == "gain"


def test_when_the_defaults_win_the_search_uses_the_comparison_budget():
    reference, _ = reference_settings("crash-safe")

    def rate(s):
        return 1000.0 if settings_key(s) == settings_key(reference) else 500.0

    result, _, _ = tune(budget=120, evaluator=Synthetic(rate=rate, seed=23))
    assert result.winner_is_reference and result.verdict == "defaults-fine"
    # "Fine" only after the defaults were compared with the best of the rest over the
    # pairs the test needs; the rest of the reserve went to the search.
    assert result.challenger is not None and result.comparison.pairs >= MIN_GAIN_PAIRS
    assert not result.comparison.significant
    assert verdict_text(result).startswith("The defaults are fine here: the best other")
    assert result.spent > 0.8 * 120
    assert result.spent <= 120


class SlowDefaults(Synthetic):
    """6 simulated seconds a trial; GigQ's defaults 10x slower than anything else."""

    def __call__(self, settings, context):
        obs = super().__call__(settings, context)
        obs.cost = 6.0
        if settings_key(settings) == settings_key(reference_settings("crash-safe")[0]):
            obs.value /= 10
        return obs


@pytest.mark.parametrize("seed", range(10))
def test_one_expensive_trial_is_not_called_defaults_fine(seed):
    # 40 s at 6 s a trial: the coarse round's own share pays for one trial. The search
    # goes on within its budget to a challenger, and a comparison of fewer than 6
    # pairs is "not significant", never "the defaults are fine".
    result, _, evaluator = tune(budget=40.0, seed=seed,
                                evaluator=SlowDefaults(rate=lambda s: 1000.0, seed=seed))
    assert len({settings_key(s) for s, _ in evaluator.calls}) >= 2
    assert result.spent <= 40.0
    assert result.verdict != "defaults-fine"
    if result.comparison is None or result.comparison.pairs < MIN_GAIN_PAIRS:
        assert result.verdict in ("not-significant", "inconclusive", "unverified")
        assert "defaults are fine" not in verdict_text(result)
        assert "--budget" in verdict_text(result)


def test_defaults_measured_alone_are_inconclusive():
    # A budget that pays for the defaults' trial only: nothing was compared with them.
    reference, _ = reference_settings("crash-safe")
    result, _, _ = tune(budget=8.0, evaluator=SlowDefaults(rate=lambda s: 1000.0))
    assert result.winner_is_reference
    assert result.verdict == "inconclusive" and result.recommended == reference
    text = verdict_text(result)
    assert text.startswith("Inconclusive: GigQ's defaults were measured 1 time")
    assert "--budget" in text and "defaults are fine" not in text


def test_a_first_candidate_that_times_out_does_not_end_the_search():
    # Every trial but the defaults' times out at a high cost; the defaults are still
    # measured instead of "no candidate completed a valid trial".
    reference, _ = reference_settings("crash-safe")

    def fail(s):
        return None if settings_key(s) == settings_key(reference) else (5.0, "too slow")

    class Expensive(Synthetic):
        def __call__(self, settings, context):
            obs = super().__call__(settings, context)
            obs.cost = 6.0
            return obs

    result, _, evaluator = tune(budget=40.0, seed=2, evaluator=Expensive(fail=fail))
    assert any(settings_key(s) == settings_key(reference) for s, _ in evaluator.calls)
    assert result.winner is not None and result.spent <= 40.0
    assert result.verdict == "inconclusive"
