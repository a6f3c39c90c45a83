"""Per configuration, what each run measured: the medians a history plots.

A configuration is matched across runs by ``config_id`` (equal across runs for the same
configuration, docs/bench-results.md). It is plotted when at least two runs hold a valid
trial of it; one measured in a single run is listed instead. Steady-mode configurations
are listed too: their jobs/s is the arrival rate the producer was asked for, not a speed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..gate.compare import _short_labels as short_labels
from ..metrics import ceiling_ratio
from ..stats import Interval, bootstrap_median
from ..sweep.space import STEADY
from .runs import Run, Verdict

THROUGHPUT = "jobs_per_sec"
CEILING_RATIO = "ceiling_ratio"
LOCK_SHARE = "lock_wait_share"
# What a history plots per configuration, in page order: jobs/s raw and divided by the
# same run's SQLite ceiling (machine drift moves the first only; a code change both).
PLOTTED_METRICS = (THROUGHPUT, CEILING_RATIO, LOCK_SHARE)


@dataclass
class ConfigHistory:
    """One configuration across the runs: per metric, one interval per run (None where
    the run has no valid trial measuring it)."""

    config_id: str
    label: str
    points: dict[str, list[Interval | None]] = field(default_factory=dict)
    verdicts: list[list[Verdict]] = field(default_factory=list)  # per run of the history

    def has(self, metric: str) -> bool:
        """Whether at least two runs measured ``metric`` (a line can be drawn)."""
        return sum(p is not None for p in self.points.get(metric, [])) >= 2


@dataclass
class Unplotted:
    """A configuration the history lists but does not draw, and why."""

    config_id: str
    label: str
    runs: list[str]
    reason: str


@dataclass
class History:
    """The runs, oldest first, and per configuration what they measured."""

    runs: list[Run]
    configs: list[ConfigHistory]
    unplotted: list[Unplotted]


def _samples(rows: pd.DataFrame, metric: str) -> list[float]:
    """Valid trials' values of ``metric``; ceiling_ratio from its parts where only they
    were recorded (the ratio is jobs/s ÷ the run's ceiling, metrics.ceiling_ratio)."""
    if metric == CEILING_RATIO and (metric not in rows or rows[metric].isna().all()) \
            and {THROUGHPUT, "ceiling_commits_per_sec"} <= set(rows.columns):
        values = [ceiling_ratio(j, c) for j, c in
                  zip(rows[THROUGHPUT], rows["ceiling_commits_per_sec"], strict=True)]
        return [v for v in values if v is not None and math.isfinite(v)]
    if metric not in rows:
        return []
    return [float(v) for v in pd.to_numeric(rows[metric], errors="coerce").dropna()]


def _is_steady(rows: pd.DataFrame) -> bool:
    return "mode" in rows and bool((rows["mode"] == STEADY).any())


def build_history(runs: Sequence[Run]) -> History:
    """Per configuration (first-seen order), the median and 95% interval of each
    plotted metric in every run (seeded bootstrap, as in the report)."""
    frames: dict[str, dict[int, pd.DataFrame]] = {}  # config_id -> {run index: rows}
    for index, run in enumerate(runs):
        if run.rows.empty:
            continue
        for cid, group in run.rows.groupby(run.rows["config_id"].astype(str), sort=False):
            frames.setdefault(cid, {})[index] = group
    labels = _labels(runs, list(frames))
    configs, unplotted = [], []
    for cid, by_run in frames.items():
        valid = {i: runs[i].valid_rows[runs[i].valid_rows["config_id"].astype(str) == cid]
                 for i in by_run}
        measured = [i for i, rows in valid.items() if not rows.empty]
        names = [runs[i].label for i in by_run]
        if any(_is_steady(rows) for rows in by_run.values()):
            unplotted.append(Unplotted(cid, labels[cid], names,
                                       "steady mode: its jobs/s is the arrival rate the "
                                       "producer kept, not a speed"))
            continue
        if len(measured) < 2:
            reason = ("in one run only" if len(by_run) == 1 else
                      f"a valid trial in {len(measured)} of the {len(by_run)} runs holding it")
            unplotted.append(Unplotted(cid, labels[cid], names, reason))
            continue
        history = ConfigHistory(cid, labels[cid])
        for metric in PLOTTED_METRICS:
            history.points[metric] = [
                _interval(_samples(valid[i], metric)) if i in valid else None
                for i in range(len(runs))
            ]
        history.verdicts = [run.verdicts.get(cid, []) for run in runs]
        configs.append(history)
    return History(list(runs), configs, unplotted)


def _interval(samples: list[float]) -> Interval | None:
    return bootstrap_median(samples) if samples else None


def _labels(runs: Sequence[Run], ids: list[str]) -> dict[str, str]:
    """A readable name per configuration: how it differs from the newest run's base
    configuration, else the dimensions that differ (the gate's naming, gate.compare)."""
    if not ids:
        return {}
    rows = pd.concat([r.rows for r in reversed(runs) if not r.rows.empty])
    rows = rows.drop_duplicates("config_id")
    return short_labels(rows, ids, _newest_spec(runs))


def _newest_spec(runs: Sequence[Run]) -> dict[str, Any]:
    return next((r.spec for r in reversed(runs) if r.spec), {})
