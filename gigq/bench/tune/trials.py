"""The real evaluator of ``gigq-bench tune``: one candidate, one real trial.

:class:`gigq.bench.tune.search.Tuner` searches with any evaluator (the tests give it
synthetic ones); :class:`TrialEvaluator` measures candidates with the sweep's
trial machinery (real worker processes, verified exactly-once).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..stats import median
from ..sweep.plan import Runner, measure, rough_rate
from ..sweep.space import DRAIN, MAX_AUTO_JOBS, STEADY, SweepSpec, canonical_config, config_id
from ..sweep.trial import Harness
from .search import TUNED, EvalContext, Observation, objective_metric

MIN_TUNE_JOBS = 100


def trial_window(budget: float) -> float:
    """Seconds of timed window per tuning trial: short for small budgets (more
    candidates), longer for big ones (less noise per trial)."""
    if budget < 60:
        return 0.5
    if budget < 900:
        return 1.0
    return 2.0


class TrialEvaluator:
    """Measures a candidate with one real trial (:func:`gigq.bench.sweep.plan.measure`).

    ``base`` is the configuration every candidate's settings are laid over (job
    type, location, mode, …). Throughput trials are drain trials sized to last
    about ``window`` seconds: by the candidate's own measured rate once known,
    else by :func:`gigq.bench.sweep.plan.rough_rate` calibrated against the rates
    measured so far. A trial that runs past a few windows is stopped: the
    candidate is too slow to matter, and its partial rate ranks it. Latency trials
    are steady trials at ``base["arrival_rate"]`` for ``base["duration"]`` s.
    """

    def __init__(self, harness: Harness, spec: SweepSpec, base: Mapping[str, Any], objective: str,
                 window: float) -> None:
        self.harness = harness
        self.spec = spec
        self.base = dict(base)
        self.objective = objective
        self.metric = objective_metric(objective)
        self.window = window
        self.runner = Runner(harness, spec)
        self.rates: dict[str, list[float]] = {}
        # Rates reached by trials cut off as too slow: they size the next trial.
        self.partial_rates: dict[str, list[float]] = {}
        self.calibration: list[float] = []
        self.trials = 0
        self.repetitions: dict[str, int] = {}

    def config_for(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The full trial configuration of a candidate."""
        return canonical_config({**self.base, **{d: settings[d] for d in TUNED}})

    def job_count(self, config: Mapping[str, Any]) -> int:
        """Jobs for a drain trial of about ``window`` seconds."""
        own = self.rates.get(config_id(config)) or self.partial_rates.get(config_id(config))
        if own:
            rate = median(own)
        else:
            factor = median(self.calibration) if self.calibration else 1.0
            rate = rough_rate(config, self.spec.job_sizes) * factor
        return int(min(max(rate * self.window, MIN_TUNE_JOBS), MAX_AUTO_JOBS))

    def timeout_for(self, config: Mapping[str, Any], jobs: int | None) -> float:
        """Seconds the trial may take: start-up, submit, and 4 windows of work."""
        startup = 4.0 + 0.5 * (config["workers"] + 1)
        if config["mode"] == STEADY:
            return startup + 4 * float(config["duration"]) + 2.0
        submit = (jobs or 0) / 5000.0
        return startup + submit + 4 * self.window

    def __call__(self, settings: dict[str, Any], context: EvalContext) -> Observation:
        """Run one trial of ``settings``; return its observation (row attached)."""
        config = self.config_for(settings)
        cid = config_id(config)
        jobs = None
        if config["mode"] == DRAIN:
            jobs = self.job_count(config)
            self.runner.job_counts[cid] = jobs
        self.harness.timeout = self.timeout_for(config, jobs)
        started = time.monotonic()
        row = measure(config, 1, self.harness, self.spec, runner=self.runner)[0]
        cost = time.monotonic() - started
        self.trials += 1
        self.repetitions[cid] = self.repetitions.get(cid, 0) + 1
        row.update(trial_id=f"t{self.trials:04d}", order=self.trials,
                   repetition=self.repetitions[cid])
        valid = bool(row.get("valid"))
        reason = row.get("invalid_reason")
        timed_out = not valid and "trial timeout" in (reason or "")
        value = row.get(self.metric.name)
        if config["mode"] == DRAIN:
            rate = row.get("jobs_per_sec")
            if valid and rate:
                self.rates.setdefault(cid, []).append(rate)
                self.calibration.append(rate / rough_rate(config, self.spec.job_sizes))
            if timed_out:
                # The rate it reached before the cut-off ranks it; it cannot win
                # without a complete, verified trial.
                if rate:
                    self.partial_rates.setdefault(cid, []).append(rate)
                done = int(row.get("jobs_completed") or 0)
                progress = (f"{done} of {jobs} jobs done" if done < (jobs or 0) else
                            f"all {jobs} jobs done, but its processes had not finished")
                reason = f"too slow: not done within {self.harness.timeout:.0f} s ({progress})"
            elif not valid:
                value = None
        elif not valid:
            value = None
            if timed_out:
                reason = (f"could not keep up with {config['arrival_rate']:g} jobs/s: not "
                          f"drained within {self.harness.timeout:.0f} s")
        return Observation(dict(settings), value, valid, cost, reason, row)
