"""Baseline vs current: per configuration and metric, a ratio, a verdict, an exit code.

The rule (docs/regressions.md, "How a row is judged"): a row is ``slower`` only when the
change is both *larger than the threshold* and *statistically clear*. Concretely, for one
configuration and one metric:

* the ratio of medians ``current / base`` with a bootstrap confidence interval
  (resampling whole pairs when both versions ran interleaved in one run);
* a randomisation test (:func:`gigq.bench.stats.permutation_pvalue`), because the
  percentile bootstrap alone raises false alarms at the 5-8 samples benchmarks have;
* the *slowdown factor*: how many times worse the current version is — ``base/current``
  for higher-is-better metrics (jobs/s), ``current/base`` for lower-is-better ones
  (latency). A threshold of 25% means a factor of 1.25: jobs/s fell below 1/1.25 = 80%
  of the baseline (each job takes 25% longer), or a latency grew by 25%. Improvements
  use the mirror image (factor below 1/1.25).

Verdicts:

``slower``
    significant (p <= 1 - level and the interval excludes 1) and the estimated factor
    exceeds ``1 + threshold``.
``faster``
    significant and the estimated factor is below ``1 / (1 + threshold)``.
``unchanged``
    the whole interval stays below ``1 + threshold``: a regression larger than the
    threshold is ruled out (a smaller, significant change is still ``unchanged``).
``inconclusive``
    anything else: too few samples to ever reach the confidence level, an interval too
    wide to rule out a regression beyond the threshold, or a baseline median of zero.

A *correctness regression* comes before all of these: a configuration whose current
trials include invalid ones (jobs lost or run twice) where the baseline's trials of
it were all valid. Its rows are not timed comparisons at all, so the gate fails on
it whatever the numbers say.

Default metrics depend on what a configuration's mode can measure
(:data:`DEFAULT_METRICS`): a drain creates every job before the workers exist, so
its latency is mostly worker start-up and only steady-mode rows are compared on
latency.

Exit codes (:class:`~gigq.bench.exit_codes.ExitCode`): ``OK`` (0) no significant
regression beyond the threshold; ``FAILED`` (1) a correctness regression or at least one
``slower`` row; ``BAD_INPUT`` (2) unreadable input or nothing comparable;
``INCONCLUSIVE`` (3) some row is ``inconclusive`` and ``strict`` was asked for
(otherwise inconclusive rows pass with a warning).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import stats
from ..exit_codes import ExitCode
from ..metrics import METRICS, metric
from ..numbers import times
from ..results import (
    CONFIG_COLUMNS,
    OUTCOME_COLUMNS,
    TRIAL_COLUMNS,
    Results,
    ResultsError,
    json_ready,
)
from ..toml_reader import tomllib
from .defaults import (
    DEFAULT_METRICS,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_THRESHOLD,
    DRAIN,
    STEADY,
)

SLOWER, FASTER, UNCHANGED, INCONCLUSIVE = "slower", "faster", "unchanged", "inconclusive"
VERDICTS = (SLOWER, INCONCLUSIVE, FASTER, UNCHANGED)  # also the display order

COMPARE_FORMAT = "gigq-bench-compare"
COMPARE_FORMAT_VERSION = 1


# Said first, on every page, when both sides hold the same numbers. The exit code
# stays what the (meaningless) verdicts give: docs/regressions.md, "Identical data".
IDENTICAL_WARNING = (
    "IDENTICAL DATA: both sides hold exactly the same measurements, so this comparison "
    "says nothing about any change; check that BASE and CURRENT are different runs "
    "(or different versions of one run)"
)


class CompareError(ResultsError):
    """Input that cannot be compared (bad thresholds, unknown version label, nothing in common)."""


# ---------------------------------------------------------------------------
# Thresholds


def parse_threshold(value: Any) -> float:
    """``"10%"``, ``10`` or ``0.1`` → 0.1. Bare numbers of 1 or more are percentages."""
    text = str(value).strip()
    try:
        if text.endswith("%"):
            number = float(text[:-1]) / 100
        else:
            number = float(text)
            if number >= 1:
                number /= 100
    except ValueError:
        raise CompareError(
            f"invalid threshold {value!r}; write it as a percentage such as 10% (or 0.1)"
        ) from None
    if not math.isfinite(number) or number <= 0:
        raise CompareError(f"invalid threshold {value!r}; it must be a positive percentage")
    return number


@dataclass(frozen=True)
class ThresholdRule:
    """A threshold for the configurations matching ``where`` (and ``metric``, if set)."""

    threshold: float
    metric: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, metric_name: str, config_id: str, config: Mapping[str, Any]) -> bool:
        """Whether this rule applies to the row for ``metric_name`` in that configuration."""
        if self.metric is not None and self.metric != metric_name:
            return False
        for key, wanted in self.where.items():
            if key == "config_id":
                if str(wanted) != config_id:
                    return False
            elif _normal(config.get(key)) != _normal(wanted):
                return False
        return True


def _normal(value: Any) -> str:
    # Compare values across TOML / JSON / pandas types: 2, 2.0 and "2" are the same.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return repr(float(value))
    text = str(value)
    try:
        return repr(float(text))
    except ValueError:
        return text


@dataclass(frozen=True)
class Thresholds:
    """The threshold of every row: a default, per-metric values, per-configuration rules.

    The most specific setting wins: the last matching ``[[rule]]`` of the file, then
    the metric's own threshold, then the default.
    """

    default: float = DEFAULT_THRESHOLD
    metrics: Mapping[str, float] = field(default_factory=dict)
    rules: tuple[ThresholdRule, ...] = ()
    # What an A/A calibration measured (the file's [noise_floor] table): shown beside
    # the verdicts so a reader sees how large a change noise alone makes; never judged.
    noise: Mapping[str, float] = field(default_factory=dict)
    noise_source: str = ""

    def for_metric(self, metric_name: str) -> float:
        """The threshold of ``metric_name`` before per-configuration rules."""
        return self.metrics.get(metric_name, self.default)

    def for_row(self, metric_name: str, config_id: str, config: Mapping[str, Any]) -> float:
        """The threshold that applies to one metric of one configuration."""
        for rule in reversed(self.rules):
            if rule.matches(metric_name, config_id, config):
                return rule.threshold
        return self.for_metric(metric_name)

    @classmethod
    def from_toml(cls, path: str | Path, default: float | None = None) -> tuple[
            Thresholds, list[str]]:
        """Read a thresholds file; ``default`` (from ``--threshold``) beats its top-level value.

        Returns the thresholds and the file's ``metrics`` list (empty if absent)::

            threshold = "10%"                 # default for every row
            metrics = ["jobs_per_sec"]        # optional: what to compare
            [metric.wait_p95_ms]
            threshold = "40%"
            [[rule]]                          # per configuration (and metric)
            where = { workers = 4, journal_mode = "delete" }
            metric = "jobs_per_sec"           # optional
            threshold = "30%"
            [noise_floor]                     # optional: what A/A calibration measured
            source = "A/A, ci profile, 2-core CI machine, 2026-12-01"
            jobs_per_sec = "18%"
        """
        p = Path(path)
        try:
            doc = tomllib.loads(p.read_text())
        except OSError as exc:
            raise CompareError(f"cannot read thresholds file {p}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise CompareError(f"thresholds file {p} is not valid TOML: {exc}") from None
        known = {"threshold", "metrics", "metric", "rule", "noise_floor"}
        unknown = set(doc) - known
        if unknown:
            raise CompareError(
                f"{p}: unknown key(s) {', '.join(sorted(unknown))}; known: "
                f"{', '.join(sorted(known))}"
            )
        base = default if default is not None else (
            parse_threshold(doc["threshold"]) if "threshold" in doc else DEFAULT_THRESHOLD)
        per_metric: dict[str, float] = {}
        for name, table in (doc.get("metric") or {}).items():
            _check_metric(name, p)
            if not isinstance(table, dict) or "threshold" not in table:
                raise CompareError(f"{p}: [metric.{name}] needs a threshold = \"NN%\" line")
            per_metric[name] = parse_threshold(table["threshold"])
        rules = []
        for i, table in enumerate(doc.get("rule") or [], 1):
            if not isinstance(table, dict) or "threshold" not in table:
                raise CompareError(f"{p}: [[rule]] number {i} needs a threshold")
            where = table.get("where") or {}
            if not isinstance(where, dict):
                raise CompareError(f"{p}: [[rule]] number {i}: where must be a table")
            name = table.get("metric")
            if name is not None:
                _check_metric(name, p)
            rules.append(ThresholdRule(parse_threshold(table["threshold"]), name, where))
        names = doc.get("metrics") or []
        if not isinstance(names, list):
            raise CompareError(f"{p}: metrics must be a list of metric names")
        for name in names:
            _check_metric(name, p)
        noise, source = _noise_table(doc.get("noise_floor") or {}, p)
        return cls(base, per_metric, tuple(rules), noise, source), list(names)


def _noise_table(table: Any, where: Path) -> tuple[dict[str, float], str]:
    """The ``[noise_floor]`` table: metric = "NN%" lines and an optional ``source``."""
    if not isinstance(table, dict):
        raise CompareError(f"{where}: noise_floor must be a table ([noise_floor])")
    source = table.get("source", "")
    if not isinstance(source, str):
        raise CompareError(f"{where}: [noise_floor] source must be a string")
    noise = {}
    for name, value in table.items():
        if name == "source":
            continue
        _check_metric(name, where)
        try:
            noise[name] = parse_threshold(value)
        except CompareError as exc:
            raise CompareError(f"{where}: [noise_floor] {name}: {exc}") from None
    return noise, source


def _check_metric(name: str, where: Any) -> None:
    if name not in METRICS:
        raise CompareError(f"{where}: unknown metric {name!r}; known: {', '.join(METRICS)}")


# ---------------------------------------------------------------------------
# One row's verdict


@dataclass(frozen=True)
class Verdict:
    """The outcome for one metric of one configuration.

    ``ratio`` is current/base (with its interval); ``factor`` and its bounds are the
    slowdown factor (> 1 = worse, whatever the metric's direction).
    """

    verdict: str
    reason: str
    ratio: stats.Interval
    factor: float
    factor_low: float
    factor_high: float
    p_value: float
    threshold: float
    n_base: int
    n_current: int
    paired: bool
    base_median: float
    current_median: float

    @property
    def change(self) -> float:
        """Relative change of the metric itself: current/base - 1 (-0.2 = 20% lower)."""
        return self.ratio.estimate - 1


def judge(
    base: Sequence[float],
    current: Sequence[float],
    *,
    higher_is_better: bool,
    threshold: float = DEFAULT_THRESHOLD,
    level: float = stats.DEFAULT_LEVEL,
    paired: bool = False,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Verdict:
    """The verdict for one metric: see the module docstring for the rule.

    With ``paired=True`` the two sequences are aligned pair by pair (same repetition);
    non-finite values drop their whole pair.
    """
    b = np.asarray(base, dtype=float)
    c = np.asarray(current, dtype=float)
    if paired:
        if b.size != c.size:
            raise ValueError("paired samples must have the same length")
        keep = np.isfinite(b) & np.isfinite(c)
        b, c = b[keep], c[keep]
    else:
        b, c = b[np.isfinite(b)], c[np.isfinite(c)]
    nb, nc = int(b.size), int(c.size)
    nan = float("nan")
    bm = float(np.median(b)) if nb else nan
    cm = float(np.median(c)) if nc else nan

    def make(verdict: str, reason: str, ratio: stats.Interval | None = None,
             p: float = nan) -> Verdict:
        ratio = ratio or stats.Interval(nan, nan, nan, level, min(nb, nc))
        f, lo, hi = _factor(ratio, higher_is_better)
        return Verdict(verdict, reason, ratio, f, lo, hi, p, threshold, nb, nc, paired, bm, cm)

    what = "pairs" if paired else "samples"
    # The ratio is shown whenever there are data, even when too few samples stop a
    # verdict: "3 pairs, 5.2x faster, interval 4.1-6.0" is still worth reading.
    ratio = None
    if nb and nc and bm != 0:
        ratio = stats.ratio_of_medians(b, c, paired=paired, level=level,
                                       resamples=resamples, seed=seed)
    if min(nb, nc) < max(min_samples, 1):
        return make(INCONCLUSIVE, f"too few {what} (base {nb}, current {nc}; "
                                  f"need at least {min_samples})", ratio)
    alpha = 1 - level
    floor = stats.min_pvalue(nb, nc, paired)
    if floor > alpha:
        need = stats.min_samples_for(level, paired)
        return make(INCONCLUSIVE, f"too few {what} for {level:.0%} confidence (base {nb}, "
                                  f"current {nc}; need at least {need} each)", ratio)
    if bm == 0 or ratio is None:
        if cm == 0:
            one = stats.Interval(1.0, 1.0, 1.0, level, min(nb, nc))
            return make(UNCHANGED, "both medians are 0", one, 1.0)
        return make(INCONCLUSIVE, "baseline median is 0, so there is no ratio")
    p = stats.permutation_pvalue(b, c, paired=paired, seed=seed)
    f, _low, hi = _factor(ratio, higher_is_better)
    limit = 1 + threshold
    significant = p <= alpha and not ratio.contains(1.0)
    pct = f"{threshold:.0%}" if threshold >= 0.01 else f"{threshold:.1%}"
    if significant and f > limit:
        return make(SLOWER, f"{times(f)}\u00d7 worse, beyond the {pct} threshold (p={p:.3g})",
                    ratio, p)
    if significant and f < 1 / limit:
        return make(FASTER, f"{times(1 / f)}\u00d7 better, beyond the {pct} threshold (p={p:.3g})",
                    ratio, p)
    if hi <= limit:
        if significant:
            word = "worse" if f > 1 else "better"
            return make(UNCHANGED, f"a significant but small change ({times(max(f, 1 / f))}\u00d7 "
                                   f"{word}), within the {pct} threshold", ratio, p)
        return make(UNCHANGED, f"no regression beyond {pct} (interval up to "
                               f"{times(hi)}\u00d7 worse)", ratio, p)
    if significant:
        return make(INCONCLUSIVE, f"significantly worse ({times(f)}\u00d7), but the interval "
                                  f"straddles the {pct} threshold", ratio, p)
    return make(INCONCLUSIVE, f"too noisy to rule out a regression beyond {pct} (interval "
                              f"up to {times(hi)}\u00d7 worse, p={p:.3g})", ratio, p)


def _factor(ratio: stats.Interval, higher_is_better: bool) -> tuple[float, float, float]:
    """(estimate, low, high) of the slowdown factor from a current/base ratio interval."""
    if not math.isfinite(ratio.estimate) or ratio.estimate <= 0:
        nan = float("nan")
        return nan, nan, nan
    if not higher_is_better:
        return ratio.estimate, ratio.low, ratio.high
    inv = [1 / x if x > 0 else math.inf for x in (ratio.estimate, ratio.high, ratio.low)]
    return inv[0], inv[1], inv[2]


# ---------------------------------------------------------------------------
# Matching two runs


@dataclass
class Side:
    """The rows of one version chosen from one results file."""

    results: Results
    label: str
    rows: pd.DataFrame
    invalid: int
    invalid_rows: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def description(self) -> str:
        """What this side is, for humans: the version's description, else the label."""
        versions = self.results.spec.get("versions") or {}
        desc = versions.get(self.label) if isinstance(versions, dict) else None
        if isinstance(desc, dict):  # {"description": ..., "interpreter": ...}
            desc = desc.get("description")
        return str(desc) if desc else self.label

    @property
    def version_entry(self) -> dict[str, Any]:
        """This side's ``spec.versions`` entry (empty for a plain sweep)."""
        versions = self.results.spec.get("versions") or {}
        entry = versions.get(self.label) if isinstance(versions, dict) else None
        return entry if isinstance(entry, dict) else {}

    @property
    def name(self) -> str:
        """What this side is: a git revision, a version or a path, never just "current".

        An ``ab`` run records it per version (:attr:`~gigq.bench.gate.versions.Version.name`);
        a plain run is named by its results directory and the commit (else the GigQ
        version) it ran from.
        """
        entry = self.version_entry
        if entry.get("name"):
            return str(entry["name"])
        if self.description != self.label:
            return self.description  # an older ab run: its description says what it is
        env = self.results.environment
        commit = self.commit
        what = f"commit {commit[:10]}{'+dirty' if commit.endswith('+dirty') else ''}" \
            if isinstance(commit, str) and commit else None
        what = what or (f"gigq {entry.get('gigq_version') or env.get('gigq_version')}"
                        if entry.get("gigq_version") or env.get("gigq_version") else None)
        where = str(self.results.path) if self.results.path else None
        if where and what:
            return f"{where} ({what})"
        return where or what or self.label

    @property
    def commit(self) -> str | None:
        """The commit this side's code was built from, if it was one.

        In an ``ab`` run the environment's commit is the checkout gigq-bench ran from,
        which is neither side's code unless recorded per version; a run of one version
        ran the code of its checkout.
        """
        entry = self.version_entry
        if "kind" in entry or len(self.results.spec.get("versions") or {}) > 1:
            return entry.get("commit")
        return self.results.environment.get("git_commit")

    def identity(self) -> dict[str, Any]:
        """The side for the JSON: its name, label, what it was built from, its run."""
        env = self.results.environment
        entry = self.version_entry
        return {
            "name": self.name,
            "path": str(self.results.path) if self.results.path else None,
            "version": self.label,
            "description": self.description,
            "kind": entry.get("kind"),
            "ref": entry.get("ref"),
            "commit": self.commit,
            "gigq_version": entry.get("gigq_version") or env.get("gigq_version"),
            "trials": len(self.rows),
            "invalid_trials": self.invalid,
            "hostname": env.get("hostname"),
            "started_at": env.get("started_at"),
        }


def select_version(results: Results, label: str | None, role: str) -> Side:
    """The rows of version ``label`` (default: the only version, else ``current``)."""
    rows = results.rows
    if rows.empty:
        raise CompareError(f"{_where(results)} holds no trials ({role})")
    labels = _labels(rows)
    if label is None:
        if len(labels) == 1:
            label = labels[0]
        elif "current" in labels:
            label = "current"
        else:
            raise CompareError(
                f"{_where(results)} holds versions {', '.join(labels)}; choose the {role} "
                f"with --{role}-version"
            )
    elif label not in labels:
        raise CompareError(
            f"{_where(results)} has no version {label!r}; it holds {', '.join(labels)}"
        )
    mine = rows[_version_column(rows) == label].copy()
    if "config_id" not in mine:
        mine["config_id"] = _config_ids(mine)
    valid = mine["valid"].fillna(False).astype(bool) if "valid" in mine else None
    if valid is None:
        return Side(results, label, mine, 0, mine.iloc[0:0])
    return Side(results, label, mine[valid], int((~valid).sum()), mine[~valid])


def _where(results: Results) -> str:
    return str(results.path) if results.path else "the results"


def _version_column(rows: pd.DataFrame) -> pd.Series:
    if "version" in rows:
        return rows["version"].fillna("current").astype(str)
    return pd.Series("current", index=rows.index)


def _labels(rows: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(_version_column(rows)))


def _config_ids(rows: pd.DataFrame) -> pd.Series:
    cols = [c for c in CONFIG_COLUMNS if c in rows]
    return rows[cols].astype(str).agg("|".join, axis=1)


def ab_labels(results: Results) -> tuple[str, str]:
    """(baseline, current) labels of an A/B run: from ``spec.versions`` order, else defaults."""
    labels = _labels(results.rows) if not results.rows.empty else []
    declared = list((results.spec.get("versions") or {}).keys())
    ordered = [x for x in declared if x in labels] + [x for x in labels if x not in declared]
    if "baseline" in ordered and "current" in ordered:
        return "baseline", "current"
    if len(ordered) == 2:
        return ordered[0], ordered[1]
    raise CompareError(
        f"{_where(results)} holds version(s) {', '.join(ordered) or 'none'}; comparing one "
        "run needs exactly two (an 'ab' run) or --base-version/--current-version"
    )


# ---------------------------------------------------------------------------
# The comparison


@dataclass
class Row:
    """One metric of one configuration in a comparison."""

    config_id: str
    config: dict[str, Any]
    label: str
    metric: str
    unit: str
    higher_is_better: bool
    result: Verdict
    note: str = ""

    @property
    def verdict(self) -> str:
        """``slower``, ``faster``, ``unchanged`` or ``inconclusive``."""
        return self.result.verdict

    def to_json_dict(self) -> dict[str, Any]:
        """This row as plain JSON values."""
        r = self.result
        return json_ready({
            "config_id": self.config_id, "config": self.config, "label": self.label,
            "metric": self.metric, "unit": self.unit, "higher_is_better": self.higher_is_better,
            "verdict": r.verdict, "reason": r.reason, "threshold": r.threshold,
            "base_median": r.base_median, "current_median": r.current_median,
            "ratio": r.ratio.estimate, "ratio_low": r.ratio.low, "ratio_high": r.ratio.high,
            "change": r.change, "slowdown_factor": r.factor,
            "slowdown_factor_low": r.factor_low, "slowdown_factor_high": r.factor_high,
            "p_value": r.p_value, "n_base": r.n_base, "n_current": r.n_current,
            "paired": r.paired, "note": self.note,
        })


@dataclass(frozen=True)
class CorrectnessIssue:
    """A configuration whose current trials lost or doubled jobs where the baseline's
    did not: a correctness regression, which fails the gate before any timing."""

    config_id: str
    label: str
    invalid: int
    trials: int
    reasons: tuple[str, ...]

    @property
    def message(self) -> str:
        """One line naming the configuration and what went wrong."""
        why = "; ".join(self.reasons) or "no reason recorded"
        return (f"{self.label}: {self.invalid} of {self.trials} current trial(s) invalid "
                f"({why}); every baseline trial of it was valid")

    def to_json_dict(self) -> dict[str, Any]:
        """This issue as plain JSON values."""
        return {"config_id": self.config_id, "label": self.label, "invalid": self.invalid,
                "trials": self.trials, "reasons": list(self.reasons),
                "message": self.message}


@dataclass
class Comparison:
    """Every row of a comparison plus what could not be compared and why."""

    rows: list[Row]
    base: Side
    current: Side
    level: float
    strict: bool = False
    correctness: list[CorrectnessIssue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    only_in_base: list[str] = field(default_factory=list)
    only_in_current: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    thresholds: Thresholds = field(default_factory=Thresholds)
    # Every compared row had the very same values on both sides (a run against a copy
    # of itself): the verdicts say nothing about any change, and every page says so.
    identical: bool = False
    # Both sides are the same code (an A/A run, or --calibrate): the comparison itself
    # measures the noise floor.
    calibration: bool = False

    def count(self, verdict: str) -> int:
        """How many rows have ``verdict``."""
        return sum(1 for r in self.rows if r.verdict == verdict)

    @property
    def exit_code(self) -> ExitCode:
        """0 pass, 1 regression (correctness or speed), 2 nothing compared,
        3 inconclusive (only when strict)."""
        if self.correctness:
            return ExitCode.FAILED
        if not self.rows:
            return ExitCode.BAD_INPUT
        if self.count(SLOWER):
            return ExitCode.FAILED
        if self.strict and self.count(INCONCLUSIVE):
            return ExitCode.INCONCLUSIVE
        return ExitCode.OK

    @property
    def nothing_judged(self) -> bool:
        """Rows were compared but every one is inconclusive: the run says nothing either
        way (too few trials or too much noise), though a non-strict gate passes it."""
        return bool(self.rows) and self.count(INCONCLUSIVE) == len(self.rows)

    @property
    def headline(self) -> str:
        """One line: the outcome and the counts."""
        code = self.exit_code
        if self.correctness:
            issues = "; ".join(i.message for i in self.correctness)
            return (f"CORRECTNESS REGRESSION in {len(self.correctness)} configuration(s): "
                    f"{issues}")
        outcome = {
            ExitCode.OK: "pass", ExitCode.FAILED: "REGRESSION",
            ExitCode.BAD_INPUT: "nothing comparable",
            ExitCode.INCONCLUSIVE: "inconclusive (strict)",
        }[code]
        if code == ExitCode.OK and self.nothing_judged:
            outcome = "pass, but nothing could be judged (every row inconclusive)"
        elif code == ExitCode.OK and self.count(INCONCLUSIVE):
            outcome = "pass, with inconclusive rows"
        counts = ", ".join(f"{self.count(v)} {v}" for v in VERDICTS)
        return f"{outcome}: {counts}"

    def sorted_rows(self) -> list[Row]:
        """Rows with regressions first, then inconclusive, faster, unchanged."""
        rank = {v: i for i, v in enumerate(VERDICTS)}
        order = {name: i for i, name in enumerate(self.metrics)}
        configs = {cid: i for i, cid in enumerate(dict.fromkeys(r.config_id for r in self.rows))}
        return sorted(self.rows, key=lambda r: (rank[r.verdict], configs[r.config_id],
                                                order.get(r.metric, len(order))))

    def noise_floors(self) -> list[dict[str, Any]]:
        """Per compared metric: its threshold, the noise floor calibration recorded (the
        thresholds file's ``[noise_floor]``) and, when this comparison is itself an A/A
        calibration, what it measured (the fields of :class:`NoiseFloor`, else None)."""
        measured = {f.metric: f for f in noise_floor(self)} if self.calibration else {}
        out = []
        for name in self.metrics:
            found = measured.get(name)
            out.append({
                "metric": name, "threshold": self.thresholds.for_metric(name),
                "calibrated": self.thresholds.noise.get(name),
                "calibration_source": self.thresholds.noise_source or None,
                "measured": found is not None,
                **{k: getattr(found, k) if found else None for k in _NOISE_FIELDS},
            })
        return out

    def to_json_dict(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return json_ready({
            "format": COMPARE_FORMAT,
            "format_version": COMPARE_FORMAT_VERSION,
            "exit_code": int(self.exit_code),
            "headline": self.headline,
            "correctness_regressions": [i.to_json_dict() for i in self.correctness],
            "level": self.level,
            "strict": self.strict,
            "default_threshold": self.thresholds.default,
            "metrics": self.metrics,
            "base": self.base.identity(),
            "current": self.current.identity(),
            "counts": {v: self.count(v) for v in VERDICTS},
            "warnings": self.warnings,
            "identical_data": self.identical,
            "noise_floor": self.noise_floors(),
            "only_in_base": self.only_in_base,
            "only_in_current": self.only_in_current,
            "rows": [r.to_json_dict() for r in self.sorted_rows()],
        })


def compare(
    base: Results,
    current: Results,
    *,
    base_version: str | None = None,
    current_version: str | None = None,
    metrics: Iterable[str] | None = None,
    thresholds: Thresholds | None = None,
    level: float = stats.DEFAULT_LEVEL,
    paired: bool | None = None,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    strict: bool = False,
    seed: int = 0,
) -> Comparison:
    """Compare two runs (or two versions of one run) configuration by configuration.

    ``paired=None`` pairs trials by repetition when both sides come from the same run
    (an interleaved A/B run) and not otherwise. Raises :class:`CompareError` when a
    version label or metric is unknown; an empty intersection gives a comparison
    without rows (exit code 2) whose warnings say why.
    """
    if not 0.5 <= level < 1:
        raise CompareError(f"confidence level must be between 0.5 and 1, got {level}")
    thresholds = thresholds or Thresholds()
    b = select_version(base, base_version, "base")
    c = select_version(current, current_version, "current")
    same_run = base is current or (
        base.path is not None and current.path is not None
        and Path(base.path).resolve() == Path(current.path).resolve())
    if same_run and b.label == c.label:
        raise CompareError(
            f"both sides are version {b.label!r} of the same run; pick two different versions"
        )
    if paired is None:
        paired = same_run
    chosen = list(metrics) if metrics else None
    for name in chosen or []:
        _check_metric(name, "--metric")
    comparison = Comparison([], b, c, level, strict, thresholds=thresholds)
    comparison.correctness = correctness_regressions(b, c)
    for side in (b, c):
        if side.invalid:
            comparison.warnings.append(
                f"{side.invalid} invalid trial(s) of {side.label!r} (jobs lost or doubled) "
                "were left out of the timings; see the run's report"
            )
    base_ids = list(dict.fromkeys(b.rows["config_id"].astype(str)))
    current_ids = set(c.rows["config_id"].astype(str))
    comparison.only_in_base = [x for x in base_ids if x not in current_ids]
    comparison.only_in_current = sorted(current_ids - set(base_ids))
    common = [x for x in base_ids if x in current_ids]
    if not common:
        comparison.warnings.append(
            "no configuration was measured on both sides; compare runs of the same profile "
            "(configurations match by config_id)"
        )
        return comparison
    spec = b.results.spec
    labels = _short_labels(b.rows, common, spec)
    missing_metrics: set[str] = set()
    names: list[str] = []
    identical = True
    for config_id in common:
        brows = b.rows[b.rows["config_id"].astype(str) == config_id]
        crows = c.rows[c.rows["config_id"].astype(str) == config_id]
        config = _config_of(brows, spec)
        wanted = chosen or list(DEFAULT_METRICS[mode_of(config)])
        names.extend(n for n in wanted if n not in names)
        for name in wanted:
            if name not in brows or name not in crows:
                missing_metrics.add(name)
                continue
            bvals = pd.to_numeric(brows[name], errors="coerce")
            cvals = pd.to_numeric(crows[name], errors="coerce")
            if not (bvals.notna().any() and cvals.notna().any()):
                missing_metrics.add(name)
                continue
            identical = identical and np.array_equal(np.sort(bvals.dropna().to_numpy()),
                                                     np.sort(cvals.dropna().to_numpy()))
            note = ""
            if paired and "repetition" in brows and "repetition" in crows:
                left = pd.Series(bvals.to_numpy(), index=brows["repetition"].to_numpy())
                right = pd.Series(cvals.to_numpy(), index=crows["repetition"].to_numpy())
                left = left[~left.index.duplicated()]
                right = right[~right.index.duplicated()]
                reps = [r for r in left.index if r in right.index]
                bseq, cseq = left[reps].to_numpy(), right[reps].to_numpy()
                dropped = len(left) + len(right) - 2 * len(reps)
                if dropped:
                    note = f"{dropped} trial(s) without a partner left out of the pairing"
                pair = True
            else:
                bseq, cseq, pair = bvals.to_numpy(), cvals.to_numpy(), False
            info = metric(name)
            result = judge(
                bseq, cseq, higher_is_better=info.higher_is_better,
                threshold=thresholds.for_row(name, config_id, config), level=level,
                paired=pair, min_samples=min_samples, seed=seed,
            )
            extra = _notes(brows, crows)
            note = "; ".join(x for x in (note, extra) if x)
            comparison.rows.append(Row(config_id, config, labels[config_id], name, info.unit,
                                       info.higher_is_better, result, note))
    comparison.metrics = names or list(chosen or [])
    if comparison.rows and identical:
        comparison.identical = True
        comparison.warnings.insert(0, IDENTICAL_WARNING)
    if missing_metrics:
        comparison.warnings.append(
            "not measured on both sides, so not compared: " + ", ".join(sorted(missing_metrics))
        )
    if not comparison.rows:
        comparison.warnings.append(
            f"none of the metrics {', '.join(names or chosen or [])} has values on "
            "both sides"
        )
    for label, ids in (("base", comparison.only_in_base),
                       ("current", comparison.only_in_current)):
        if ids:
            comparison.warnings.append(
                f"{len(ids)} configuration(s) only in {label}, not compared"
            )
    return comparison


def mode_of(config: Mapping[str, Any]) -> str:
    """The configuration's mode (``drain`` when the rows do not say)."""
    mode = config.get("mode")
    return STEADY if mode == STEADY else DRAIN


def correctness_regressions(base: Side, current: Side) -> list[CorrectnessIssue]:
    """Configurations with invalid current trials whose baseline trials were all valid.

    Only configurations the baseline measured count (a new configuration has nothing
    to regress from); one the baseline also broke is a warning, not a regression.
    """
    bad = current.invalid_rows
    if bad.empty:
        return []
    base_all = pd.concat([base.rows, base.invalid_rows])
    base_ids = set(base_all["config_id"].astype(str))
    base_broken = set(base.invalid_rows["config_id"].astype(str)) \
        if not base.invalid_rows.empty else set()
    current_all = pd.concat([current.rows, current.invalid_rows])
    ids = [x for x in dict.fromkeys(bad["config_id"].astype(str))
           if x in base_ids and x not in base_broken]
    if not ids:
        return []
    labels = _short_labels(base_all, ids, base.results.spec)
    issues = []
    for config_id in ids:
        rows = bad[bad["config_id"].astype(str) == config_id]
        reasons = rows["invalid_reason"].dropna().astype(str) if "invalid_reason" in rows \
            else pd.Series(dtype=str)
        total = int((current_all["config_id"].astype(str) == config_id).sum())
        issues.append(CorrectnessIssue(config_id, labels[config_id], len(rows), total,
                                       tuple(dict.fromkeys(r for r in reasons if r))))
    return issues


def compare_run(results: Results, **kwargs: Any) -> Comparison:
    """Compare the two versions of an A/B run (paired by repetition)."""
    base_label = kwargs.pop("base_version", None)
    current_label = kwargs.pop("current_version", None)
    if base_label is None or current_label is None:
        default_base, default_current = ab_labels(results)
        base_label = base_label or default_base
        current_label = current_label or default_current
    return compare(results, results, base_version=base_label, current_version=current_label,
                   **kwargs)


# Columns that are never part of a configuration (besides the metrics).
_NOT_CONFIG = {*TRIAL_COLUMNS, *OUTCOME_COLUMNS, "load_1m"}


def _config_columns(rows: pd.DataFrame, spec: Mapping[str, Any]) -> list[str]:
    """The configuration's dimensions: the standard ones plus what the spec varies."""
    named = set(CONFIG_COLUMNS) | set(spec.get("base") or {}) | set(spec.get("dimensions") or {})
    if len(named) > len(CONFIG_COLUMNS):
        return [c for c in rows.columns if c in named]
    # No spec to go by: every column that is not known to be something else.
    return [c for c in rows.columns if c not in _NOT_CONFIG and c not in METRICS]


def _config_of(rows: pd.DataFrame, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    first = rows.iloc[0]
    config = {}
    for col in _config_columns(rows, spec or {}):
        value = first[col]
        if isinstance(value, float) and math.isnan(value):
            value = None
        config[col] = value.item() if hasattr(value, "item") else value
    return config


def _short_labels(rows: pd.DataFrame, ids: list[str], spec: Mapping[str, Any]) -> dict[str, str]:
    """A readable name per configuration.

    With the run's base configuration known (every sweep records it): how the
    configuration differs from the base ("journal_mode=delete", "base"), leaving out
    dimensions that do not apply (null) and pilot-sized job counts. Otherwise, or if
    that leaves two configurations with one name: the dimensions that differ between
    the compared configurations.
    """
    configs = {i: _config_of(rows[rows["config_id"].astype(str) == i], spec) for i in ids}
    base = spec.get("base") or {}
    if base:
        labels = {}
        for i, cfg in configs.items():
            diffs = [f"{k}={_display(v)}" for k, v in cfg.items()
                     if v is not None and k != "jobs" and k in base
                     and _normal(v) != _normal(base.get(k))]
            labels[i] = " ".join(diffs) or "base"
        if len(set(labels.values())) == len(labels):
            if len(labels) == 1:
                return {i: _describe(cfg) for i, cfg in configs.items()}
            return labels
    if len(configs) == 1:
        return {i: _describe(cfg) or i for i, cfg in configs.items()}
    columns = list(dict.fromkeys(k for cfg in configs.values() for k in cfg))
    varying = [k for k in columns
               if len({_normal(cfg.get(k)) for cfg in configs.values()}) > 1]
    return {i: " ".join(f"{k}={_display(cfg.get(k))}" for k in varying) or i
            for i, cfg in configs.items()}


def _describe(config: Mapping[str, Any]) -> str:
    keys = ("job_type", "workers", "concurrency", "journal_mode")
    return " ".join(f"{k}={_display(config[k])}" for k in keys if config.get(k) is not None)


def _display(value: Any) -> str:
    if value is None:
        return "default"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _notes(brows: pd.DataFrame, crows: pd.DataFrame) -> str:
    if "note" not in brows and "note" not in crows:
        return ""
    notes: list[str] = []
    for rows in (brows, crows):
        if "note" in rows:
            notes.extend(str(n) for n in rows["note"].dropna().unique() if str(n))
    return "; ".join(dict.fromkeys(notes))


# ---------------------------------------------------------------------------
# Calibration: an A/A comparison (a version against itself) measures the noise floor


@dataclass(frozen=True)
class NoiseFloor:
    """What an A/A comparison says about one metric.

    ``noise`` is the largest deviation from "no change" that any configuration's
    confidence interval reached, in either direction (as a fraction: 0.08 = 8%).
    A threshold at or above it would have produced no false alarm in this run *and*
    rated every configuration ``unchanged``; ``recommended`` rounds it up to a whole
    percent. ``largest_estimate`` is the largest point-estimate deviation seen.
    """

    metric: str
    configurations: int
    noise: float
    largest_estimate: float
    recommended: float
    false_alarms: int
    unusable: int


_NOISE_FIELDS = tuple(f.name for f in fields(NoiseFloor) if f.name != "metric")


def noise_floor(comparison: Comparison) -> list[NoiseFloor]:
    """Per metric, the noise floor of an A/A comparison (see :class:`NoiseFloor`)."""
    out = []
    for name in comparison.metrics:
        rows = [r for r in comparison.rows if r.metric == name]
        if not rows:
            continue
        usable = [r.result for r in rows if math.isfinite(r.result.factor_high)
                  and math.isfinite(r.result.factor_low) and r.result.factor_low > 0]
        if not usable:
            out.append(NoiseFloor(name, len(rows), math.nan, math.nan, math.nan,
                                  sum(r.verdict == SLOWER for r in rows), len(rows)))
            continue
        noise = max(max(v.factor_high - 1, 1 / v.factor_low - 1) for v in usable)
        est = max(max(v.factor, 1 / v.factor) - 1 for v in usable)
        recommended = max(0.01, math.ceil(round(noise * 100, 6)) / 100)
        out.append(NoiseFloor(name, len(rows), noise, est, recommended,
                              sum(r.verdict == SLOWER for r in rows), len(rows) - len(usable)))
    return out
