"""Trial order (interleaved, seeded) and the end-of-sweep summary on hand-made rows."""

from __future__ import annotations

from gigq.bench.results import Results
from gigq.bench.sweep.plan import estimate_trial, rows_frame, schedule
from gigq.bench.sweep.space import DEFAULT_BASE, SweepSpec, canonical_config, config_id
from gigq.bench.sweep.summary import summary_text


def _configs(n):
    return [canonical_config({**DEFAULT_BASE, "workers": i + 1}) for i in range(n)]


def test_repetitions_are_interleaved_and_order_is_seeded():
    configs = _configs(4)
    tasks = schedule(configs, repeat=3, seed=5)
    assert [t.repetition for t in tasks] == [1] * 4 + [2] * 4 + [3] * 4
    for rep in (1, 2, 3):
        assert sorted(t.config["workers"] for t in tasks if t.repetition == rep) == [1, 2, 3, 4]
    assert [t.order for t in tasks] == list(range(1, 13))
    again = schedule(configs, repeat=3, seed=5)
    assert [t.config_id for t in tasks] == [t.config_id for t in again]
    orders = {tuple(t.config_id for t in schedule(configs, 3, seed)) for seed in range(6)}
    assert len(orders) > 1, "the seed changes the order"


def test_versions_run_back_to_back():
    tasks = schedule(_configs(3), repeat=2, seed=1, versions=["a", "b"])
    assert len(tasks) == 12
    for first, second in zip(tasks[::2], tasks[1::2], strict=True):
        assert first.config_id == second.config_id
        assert {first.version, second.version} == {"a", "b"}


def test_estimates_grow_with_work():
    spec = SweepSpec()
    cfg = canonical_config(DEFAULT_BASE)
    assert estimate_trial(cfg, spec, 100) < estimate_trial(cfg, spec, 100_000)
    steady = canonical_config({**DEFAULT_BASE, "mode": "steady", "duration": 10})
    assert estimate_trial(steady, spec) > 10


def _row(config, rate, durability, valid=True, rep=1, version="current"):
    return {**config, "jobs": 1000, "config_id": config_id(config), "trial_id": f"t{rep}",
            "repetition": rep, "order": rep, "version": version, "jobs_per_sec": rate,
            "durability": durability, "valid": valid,
            "invalid_reason": None if valid else "3 jobs never ran",
            "end_to_end_p50_ms": 5.0, "end_to_end_p95_ms": 9.0}


def test_summary_recommends_only_what_the_data_supports():
    # The unsafe configuration is fastest, the safe one had an invalid trial, io ran
    # once: nothing is recommendable (the rule is pinned in test_recommend.py); a
    # second safe configuration with three clean trials is.
    fast_unsafe = canonical_config({**DEFAULT_BASE, "location": "memory", "workers": 1,
                             "journal_mode": "memory"})
    safe = canonical_config(DEFAULT_BASE)
    clean = canonical_config({**DEFAULT_BASE, "concurrency": 2})
    io = canonical_config({**DEFAULT_BASE, "job_type": "io"})
    steady = canonical_config({**DEFAULT_BASE, "mode": "steady"})
    rows = [
        _row(fast_unsafe, 5000, "unsafe", rep=1), _row(fast_unsafe, 6000, "unsafe", rep=2),
        _row(safe, 3000, "crash-safe", rep=1), _row(safe, 3100, "crash-safe", rep=2),
        _row(safe, 9999, "crash-safe", valid=False, rep=3),  # invalid: never counted
        *(_row(clean, rate, "crash-safe", rep=rep)
          for rep, rate in ((1, 2000), (2, 2100), (3, 2050))),
        _row(io, 400, "crash-safe"),
        _row(steady, 200, "crash-safe"),
    ]
    results = Results(rows=rows_frame(rows), spec={"base": DEFAULT_BASE},
                      skipped=[{"config": {}, "config_id": "x", "reason": "no tmpfs"}])
    text = summary_text(results, ["/x/results.json"])
    assert "10 trials (9 valid, 1 invalid), 1 configurations skipped" in text
    assert "noop: 2,050 jobs/s [2,000-2,100], crash-safe, n=3" in text
    assert ("fastest measured: 5,500 jobs/s [5,000-6,000], unsafe, n=2 — not recommended: "
            "only 2 valid trials (needs at least 3); durability unsafe") in text
    assert "io: nothing to recommend" in text and "only 1 valid trial" in text
    assert "Steady-mode latency" in text and "p95 9.0 ms" in text
    assert "3 jobs never ran" in text and "1 x no tmpfs" in text and "/x/results.json" in text


def test_summary_of_nothing():
    text = summary_text(Results(rows=rows_frame([])), interrupted=True)
    assert text.startswith("Sweep interrupted: 0 trials")
