"""The one rule that picks the recommended configuration per job type, on synthetic
trials whose answer is known, and the sweep summary and the report agreeing on it."""

from __future__ import annotations

import pytest

from gigq.bench.recommend import MIN_VALID_TRIALS, Candidate, choose
from gigq.bench.report.insights import analyse
from gigq.bench.results import Results
from gigq.bench.sweep.plan import rows_frame
from gigq.bench.sweep.space import DEFAULT_BASE, canonical_config, config_id, describe
from gigq.bench.sweep.summary import summary_text


def cand(key, rates, *, workers=1, threads=1, durability="crash-safe", invalid=0,
         job_type="noop", **values):
    """A configuration with these valid jobs/s and ``invalid`` more failed trials."""
    settings = {"job_type": job_type, "mode": "drain", "workers": workers,
                "concurrency": threads, **values}
    return Candidate(key, settings, list(rates), len(rates) + invalid, durability)


def only(candidates):
    (choice,) = choose(candidates)
    return choice


def test_the_cheapest_of_the_ties_is_recommended_and_the_ties_are_named():
    # Three configurations the data cannot tell apart, one clearly slower.
    four = cand("p4", [1010, 1000, 990, 1020, 1005], workers=4, threads=2)
    two = cand("p2", [1000, 985, 1012, 995, 1003], workers=2, threads=2)
    one = cand("p1t4", [995, 1008, 990, 1001, 1010], workers=1, threads=4)
    slow = cand("slow", [500, 510, 490, 505, 495], workers=1, threads=1)
    choice = only([four, two, one, slow])
    assert choice.recommended is one
    assert [c.key for c in choice.ties] == ["p1t4", "p2", "p4"]
    assert [c.key for c in choice.others] == ["p2", "p4"]
    assert choice.fastest is four


def test_four_processes_overlapping_one_recommend_one():
    # The case: --processes 4 was recommended on a 2-core machine though one
    # process was inside the same interval.
    four = cand("p4", [2100, 1900, 2050, 1950, 2000], workers=4)
    one = cand("p1", [1980, 1900, 2010, 1870, 1940], workers=1)
    choice = only([four, one])
    assert four.interval.estimate > one.interval.estimate
    assert choice.recommended is one and choice.others == [four]


def test_a_clearly_faster_costlier_configuration_wins():
    four = cand("p4", [4000, 4100, 3950, 4050, 4020], workers=4)
    one = cand("p1", [1000, 1010, 990, 1005, 995], workers=1)
    choice = only([four, one])
    assert choice.recommended is four and choice.ties == [four]


def test_the_more_durable_of_two_equally_cheap_ties_is_recommended():
    normal = cand("normal", [1000, 1010, 990, 1005], durability="crash-safe")
    full = cand("full", [995, 1000, 985, 1002], durability="power-loss-safe")
    assert only([normal, full]).recommended is full


def test_one_valid_trial_of_five_is_never_recommended():
    # Its single surviving trial is by far the fastest, with a zero-width "interval".
    lucky = cand("lucky", [9000], invalid=4)
    steady = cand("steady", [1000, 1010, 990, 1005, 995])
    choice = only([lucky, steady])
    assert choice.recommended is steady and choice.fastest is lucky
    assert lucky.ineligible() == "4 of 5 trials invalid or unmeasured"


def test_any_invalid_trial_makes_a_configuration_ineligible():
    flaky = cand("flaky", [3000, 3100, 2900, 3050], invalid=1)
    steady = cand("steady", [1000, 1010, 990, 1005])
    assert only([flaky, steady]).recommended is steady
    assert flaky.ineligible() == "1 of 5 trials invalid or unmeasured"


@pytest.mark.parametrize("n", range(1, MIN_VALID_TRIALS))
def test_fewer_than_three_valid_trials_are_not_enough(n):
    few = cand("few", [3000 + i for i in range(n)])
    enough = cand("enough", [1000, 1010, 990])
    assert only([few, enough]).recommended is enough
    assert "needs at least 3" in few.ineligible()


def test_unsafe_winners_are_never_recommended():
    unsafe = cand("off", [5000, 5100, 4900], durability="unsafe")
    safe = cand("wal", [1000, 1010, 990])
    choice = only([unsafe, safe])
    assert choice.recommended is safe and choice.fastest is unsafe
    assert "unsafe" in unsafe.ineligible()


def test_only_unsafe_configurations_recommend_nothing_and_say_why():
    choice = only([cand("off", [5000, 5100, 4900], durability="unsafe"),
                   cand("lucky", [9000], invalid=2)])
    assert choice.recommended is None and choice.ties == []
    assert "3+ valid trials" in choice.reason and "crash-safe" in choice.reason


def test_each_job_type_and_version_gets_its_own_choice_and_steady_rows_are_ignored():
    choices = choose([
        cand("noop", [1000, 1010, 990]), cand("io", [300, 310, 290], job_type="io"),
        cand("io-b", [600, 610, 590], job_type="io", version="b"),
        Candidate("steady", {"job_type": "cpu", "mode": "steady"}, [50, 50, 50], 3,
                  "crash-safe"),
    ])
    assert [(c.job_type, c.version, c.recommended.key) for c in choices] == [
        ("noop", None, "noop"), ("io", None, "io"), ("io", "b", "io-b")]


# -- the summary and the report say the same --------------------------------------------


def _rows(config, rates, durability="crash-safe", invalid=0):
    config = canonical_config({**DEFAULT_BASE, **config})
    rows = []
    for rep, rate in enumerate(list(rates) + [None] * invalid, start=1):
        rows.append({**config, "jobs": 1000, "config_id": config_id(config),
                     "trial_id": f"{config_id(config)}-{rep}", "repetition": rep,
                     "order": rep, "version": "current", "jobs_per_sec": rate,
                     "durability": durability, "valid": rate is not None,
                     "invalid_reason": None if rate is not None else "3 jobs never ran",
                     "end_to_end_p50_ms": 5.0, "end_to_end_p95_ms": 9.0})
    return rows


def test_the_sweep_summary_and_the_report_recommend_the_same_configuration():
    one = {"workers": 1, "concurrency": 1}
    rows = [
        *_rows({"workers": 4}, [2100, 1900, 2050, 1950, 2000]),
        *_rows(one, [1980, 1900, 2010, 1870, 1940]),
        *_rows({"workers": 2}, [9000], invalid=4),
        *_rows({"workers": 1, "location": "memory", "journal_mode": "memory"},
               [8000, 8100, 7900, 8050, 7950], durability="unsafe"),
        *_rows({"workers": 1, "concurrency": 4, "job_type": "io"}, [300, 310, 305, 295]),
    ]
    results = Results(rows=rows_frame(rows), spec={"base": DEFAULT_BASE})
    recs = analyse(results).recommendations
    top = {job: next(r for r in rs if r.recommended) for job, rs in recs.items()}
    assert set(top) == {"noop", "io"}
    expected = config_id(canonical_config({**DEFAULT_BASE, **one}))
    assert top["noop"].config.key == expected
    assert top["noop"].tied == 1 and top["noop"].ties[0].values["workers"] == 4
    assert "4 workers" in top["noop"].tie_phrases()[0]
    text = summary_text(results)
    block = text.split("Recommended configuration per job type")[1]
    noop = block.split("\n  noop: ")[1]
    assert noop.startswith("1,940 jobs/s") and "crash-safe, n=5" in noop
    assert "tied (within the interval, but not cheaper): 1" in noop
    assert ("fastest measured: 9,000 jobs/s [9,000-9,000], crash-safe, n=1 — not "
            "recommended: 4 of 5 trials invalid or unmeasured") in noop
    assert "\n  io: 302 jobs/s" in block


def test_summary_and_report_agree_when_trials_recorded_no_durability_class():
    # Trials that recorded no class (results written before they did): the page used
    # to derive it from the settings (WAL + NORMAL on disk: crash-safe) and recommend a
    # configuration, while the summary called every such configuration unsafe and
    # recommended nothing. Both now derive the class the same way.
    rows = [
        *_rows({"workers": 1}, [1000, 1010, 990, 1005, 995], durability=None),
        *_rows({"workers": 2}, [1500, 1510, 1490, 1505, 1495], durability=None),
        *_rows({"workers": 1, "synchronous": "off"}, [3000, 3010, 2990, 3005, 2995],
               durability=None),
    ]
    results = Results(rows=rows_frame(rows), spec={"base": DEFAULT_BASE})
    recs = analyse(results).recommendations
    page = next(r for r in recs["noop"] if r.recommended).config
    assert page.values["workers"] == 2 and page.durability == "crash-safe"
    block = summary_text(results).split("Recommended configuration per job type")[1]
    noop = block.split("\n  noop: ")[1]
    assert noop.startswith("1,500 jobs/s") and "crash-safe, n=5" in noop
    assert noop.split("\n")[1].strip() == describe(page.values, None)
    # synchronous=OFF is derived unsafe on both sides: the fastest, never recommended.
    assert "fastest measured: 3,000 jobs/s" in noop and "durability unsafe" in noop
