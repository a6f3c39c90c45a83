"""What the report concludes from a run: per-configuration statistics, the best settings
per job type (with the durability class of each) and the largest effects.

Only valid trials are ever aggregated (an invalid trial is listed, never averaged in).
Every estimate is a median over repetitions with a percentile-bootstrap 95% interval
(:mod:`gigq.bench.stats`). Nothing here draws or writes HTML; :mod:`.figures` turns an
:class:`Analysis` into chart descriptions and captions.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...storage import DURABILITY_CLASSES
from .. import numbers as num
from ..html import format as fmt
from ..metrics import METRICS
from ..recommend import (
    Candidate,
    choose,
    config_durability,
    differences,
    example_db,
    explain,
    invalid_notes,
    too_short_count,
    worker_command,
)
from ..results import CONFIG_COLUMNS, Results
from ..stats import (
    DEFAULT_LEVEL,
    Difference,
    Interval,
    bootstrap_median,
    difference,
    median,
    min_pvalue,
    ratio_of_medians,
)
from ..sweep.locations import DISK, MEMORY
from ..sweep.space import DIMENSIONS, STEADY

# Dimensions that describe the workload, not a setting to choose: "io vs noop: 10x" is
# not an effect anybody can act on, so they are never reported as effects (nor is the
# GigQ version of a multi-version run, which is no dimension).
WORKLOAD_DIMENSIONS = frozenset({d.name for d in DIMENSIONS.values() if d.workload}
                                | {"version"})
# Dimensions always named when an effect's context is described, because a ratio means
# little without them; other dimensions are named only where they differ from the base.
KEY_CONTEXT = ("job_type", "workers", "concurrency")
# Dimensions whose values may differ between configurations without being swept
# (the sweep sizes `jobs` per configuration when a profile says "auto").
INCIDENTAL_DIMENSIONS = frozenset({"jobs"})
THROUGHPUT = "jobs_per_sec"
# Fewest samples per side (pairs, when paired) for any "clear" or "within noise" call.
MIN_EFFECT_SAMPLES = 5


@dataclass
class Config:
    """One configuration of the run and what its trials measured."""

    key: str
    values: dict[str, Any]
    n_trials: int
    n_valid: int
    samples: dict[str, list[float]]
    stats: dict[str, Interval]
    durability: str
    durability_reason: str | None = None
    # The repetition number of each sample, per metric (empty: not recorded).
    repetitions: dict[str, list[int]] = field(default_factory=dict)
    too_short: int = 0  # valid trials too short to trust (recommend.too_short_count)

    def median(self, metric: str = THROUGHPUT) -> float:
        """Median of ``metric`` over valid trials (NaN when none)."""
        iv = self.stats.get(metric)
        return iv.estimate if iv is not None else math.nan

    def has(self, metric: str = THROUGHPUT) -> bool:
        """Whether at least one valid trial measured ``metric``."""
        return not math.isnan(self.median(metric))

    @property
    def rate_limited(self) -> bool:
        """Steady mode: jobs/s is the producer's arrival rate, not a speed, so it is
        never compared (recommendations, effects, throughput charts)."""
        return self.values.get("mode") == STEADY


@dataclass
class Recommendation:
    """One configuration shown for a job type: the recommended one, or the fastest
    of a durability class for comparison."""

    job_type: str | None
    config: Config
    recommended: bool
    command: str
    processes: int
    notes: list[str]
    # Recommended entry: the other eligible configurations whose CI overlaps the
    # fastest one's, cheapest first (the data cannot tell them apart).
    ties: list[Config] = field(default_factory=list)
    differences: dict[str, Any] = field(default_factory=dict)  # vs the recommended one
    ineligible: str | None = None  # why this one cannot be recommended
    reason: str = ""  # why the job type has no recommended entry (empty if it has)
    # Per job type: why the fastest measured is not the recommended one
    # (:func:`gigq.bench.recommend.explain`), and its configurations with invalid
    # trials (:func:`gigq.bench.recommend.invalid_notes`).
    explanations: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> Interval:
        """Median jobs/s with its 95% CI."""
        return self.config.stats[THROUGHPUT]

    @property
    def tied(self) -> int:
        """How many other configurations are within the interval."""
        return len(self.ties)

    def tie_phrases(self) -> list[str]:
        """Each tied configuration, by how it differs from this one."""
        return [fmt.context_phrase(_differences(t, self.config)) or t.key for t in self.ties]

    def tie_items(self) -> list[tuple[str, Config, str]]:
        """Each tied configuration: how it differs, itself, its jobs/s with interval."""
        return [(phrase, t, fmt.interval(THROUGHPUT, t.stats.get(THROUGHPUT)))
                for phrase, t in zip(self.tie_phrases(), self.ties, strict=True)]


@dataclass
class Effect:
    """How much one setting changes throughput, all else equal."""

    dimension: str
    better: Any
    worse: Any
    context: dict[str, Any]
    ratio: Interval
    text: str
    test: Difference | None = None  # None: too few samples to tell

    @property
    def clear(self) -> bool:
        """The two-sided randomisation test says the two configurations differ."""
        return self.test is not None and self.test.significant


@dataclass
class Analysis:
    """Everything the report says about a run."""

    results: Results
    dimensions: list[str]
    swept: list[str]
    constant: dict[str, Any]
    base: dict[str, Any]
    configs: list[Config]
    trials: int
    valid: int
    invalid: int
    skipped: int
    recommendations: dict[str, list[Recommendation]]
    effects: list[Effect]
    incidental: list[str] = field(default_factory=list)  # vary, but are no setting
    charts: list[Any] = field(default_factory=list)  # figures.ChartBlock, filled by figures
    warnings: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No valid trial: nothing can be concluded."""
        return self.valid == 0

    @property
    def rate_limited(self) -> list[Config]:
        """The steady-mode configurations (their jobs/s is the producer's rate)."""
        return [c for c in self.configs if c.rate_limited]

    def rate_limited_note(self) -> str:
        """What the page says about steady-mode rows (empty when there are none)."""
        steady = self.rate_limited
        if not steady:
            return ""
        rows = self.results.rows
        rates = sort_values("arrival_rate", rows.loc[rows["mode"] == STEADY, "arrival_rate"]
                            if "arrival_rate" in rows else [])
        shown = " or ".join(f"{num.number(r)} jobs/s" for r in rates if r is not None)
        many = len(steady) != 1
        return (f"{len(steady)} steady-mode configuration{'s are' if many else ' is'} "
                f"rate-limited: a producer submitted jobs at {shown or 'a fixed rate'}, so "
                f"{'their' if many else 'its'} jobs/s is that arrival rate, not a speed "
                "(nor a polling cost). "
                f"{'They are' if many else 'It is'} marked rate-limited in the tables and left "
                "out of the recommendations, the largest effects and the throughput charts; "
                "the latency chart is where steady mode is measured.")


# ---------------------------------------------------------------------------
# Configurations


def config_dimensions(results: Results) -> list[str]:
    """The configuration columns of the run: the standard ones, swept extras, version."""
    rows = results.rows
    dims = [c for c in CONFIG_COLUMNS if c in rows.columns]
    for extra in (results.spec.get("dimensions") or {}):
        if extra not in dims and extra in rows.columns:
            dims.append(extra)
    if "version" in rows.columns and rows["version"].nunique(dropna=True) > 1:
        dims.append("version")
    return dims


def sort_values(dim: str, values: Iterable[Any]) -> list[Any]:
    """Values of a dimension in reading order (WAL before DELETE, default cache first…)."""
    unique = list(dict.fromkeys(num.plain_value(v) for v in values))
    d = DIMENSIONS.get(dim)
    if d is not None and d.order is not None:
        known = d.order
        return sorted(unique, key=lambda v: (known.index(v) if v in known else len(known),
                                             str(v)))
    if d is not None and d.sort_key is not None:
        return sorted(unique, key=d.sort_key)
    if all(isinstance(v, (int, float)) for v in unique):
        return sorted(unique)
    return sorted(unique, key=lambda v: (v is None, str(v)))


def build_configs(results: Results, dims: Sequence[str]) -> list[Config]:
    """One :class:`Config` per configuration, with bootstrap medians of every metric."""
    rows = results.rows
    if rows.empty:
        return []
    if "config_id" in rows.columns and rows["config_id"].notna().all():
        keys = rows["config_id"].astype(str)
    else:
        keys = rows[list(dims)].astype(str).agg("|".join, axis=1)
    if "version" in dims:
        keys = rows["version"].astype(str) + "/" + keys
    valid_mask = _valid_mask(rows)
    filesystems = results.environment.get("filesystems") or {}
    configs = []
    for key, group in rows.groupby(keys, sort=False):
        first = group.iloc[0]
        values = {d: num.plain_value(first.get(d)) for d in dims}
        good = group[valid_mask.loc[group.index]]
        if "repetition" in good.columns:
            good = good.sort_values("repetition")
        samples: dict[str, list[float]] = {}
        stats: dict[str, Interval] = {}
        repetitions: dict[str, list[int]] = {}
        for metric in METRICS:
            if metric not in good.columns:
                continue
            series = pd.to_numeric(good[metric], errors="coerce").dropna()
            samples[metric] = [float(v) for v in series]
            stats[metric] = bootstrap_median(samples[metric])
            if "repetition" in good.columns:
                reps = pd.to_numeric(good.loc[series.index, "repetition"], errors="coerce")
                if reps.notna().all() and reps.is_unique:
                    repetitions[metric] = [int(r) for r in reps]
        recorded: Iterable[Any] = group["durability"] if "durability" in group.columns else []
        durability, reason = config_durability(recorded, values, filesystems)
        configs.append(Config(str(key), values, len(group), len(good), samples, stats,
                              durability, reason, repetitions, too_short_count(good)))
    return configs


def _valid_mask(rows: pd.DataFrame) -> pd.Series:
    if "valid" not in rows.columns:
        return pd.Series(True, index=rows.index)
    return rows["valid"].map(lambda v: v is True or v == 1 or str(v).lower() == "true")


# ---------------------------------------------------------------------------
# Noise: how finely the run resolves a difference, and the trials in the order they ran


@dataclass(frozen=True)
class Resolution:
    """How finely the run's repetitions pin down a configuration's median jobs/s.

    Per configuration with two or more valid drain trials: half the width of its
    median's 95% bootstrap interval, as a share of the median. ``half_width`` is the
    median of those over the configurations, ``widest`` the largest (at ``widest_config``).
    """

    half_width: float
    widest: float
    widest_config: Config
    configs: int
    repetitions: int  # the median number of valid trials per configuration

    @property
    def smallest_change(self) -> float:
        """The smallest difference in jobs/s that separates two configurations with the
        typical interval: their intervals stop overlapping beyond twice the half-width."""
        return 2 * self.half_width


def resolution(configs: Sequence[Config]) -> Resolution | None:
    """The run's :class:`Resolution` of jobs/s; None when no configuration has two valid
    drain trials. Steady-mode configurations are left out: their jobs/s is the
    producer's arrival rate, not a speed."""
    widths = []
    for c in configs:
        iv = c.stats.get(THROUGHPUT)
        if c.values.get("mode") == STEADY or iv is None or iv.n < 2 or not iv.estimate > 0:
            continue
        widths.append(((iv.high - iv.low) / 2 / iv.estimate, c))
    if not widths:
        return None
    widest, at = max(widths, key=lambda w: w[0])
    return Resolution(median([w for w, _ in widths]), widest, at, len(widths),
                      int(median([c.stats[THROUGHPUT].n for _, c in widths])))


@dataclass(frozen=True)
class TrialPoint:
    """One drain trial in the order the run made it, against its configuration's median."""

    order: int
    trial_id: str
    config: Config
    jobs_per_sec: float
    relative: float  # jobs/s / the configuration's median over its valid trials
    valid: bool
    load: float | None  # 1-minute load average when the trial started (None: not recorded)


def trial_order(a: Analysis) -> list[TrialPoint]:
    """Every drain trial with a jobs/s, in run order (``order``, else the row order).

    Each is divided by its configuration's median, so trials of fast and slow
    configurations share one scale and a drift of the machine shows as a trend.
    """
    rows = a.results.rows
    if rows.empty or THROUGHPUT not in rows.columns:
        return []
    by_values = {tuple(repr(c.values.get(d)) for d in a.dimensions): c for c in a.configs}
    ordered = rows.sort_values("order", kind="stable") if "order" in rows.columns else rows
    valid = _valid_mask(rows)
    out = []
    for position, (index, r) in enumerate(ordered.iterrows(), start=1):
        config = by_values.get(tuple(repr(num.plain_value(r.get(d))) for d in a.dimensions))
        value = num.plain_value(r.get(THROUGHPUT))
        if config is None or config.values.get("mode") == STEADY or value is None \
                or not config.median() > 0:
            continue
        order = num.plain_value(r.get("order"))
        load = num.plain_value(r.get("load_1m"))
        out.append(TrialPoint(int(order) if order is not None else position,
                              str(num.plain_value(r.get("trial_id")) or position), config,
                              float(value), float(value) / config.median(),
                              bool(valid.loc[index]), None if load is None else float(load)))
    return out


# ---------------------------------------------------------------------------
# Recommendations


def _how_to_run(config: Config, filesystems: Mapping[str, Any]) -> list[str]:
    values = config.values
    notes = []
    workers = values.get("workers") or 1
    if workers > 1:
        notes.append(f"--processes {workers} starts {workers} worker processes under one "
                     f"supervisor (or run {workers} such commands without it)")
    location = values.get("location")
    if location == MEMORY:
        notes.append("in-memory database: one process only, through the Python API "
                     "(JobQueue(':memory:') and Worker threads); not reachable by 'gigq worker'")
    elif location:
        info = filesystems.get(location) or {}
        fs_type = info.get("fs_type") if isinstance(info, Mapping) else None
        desc = location + (f" ({fs_type})" if fs_type else "")
        db = example_db(values, filesystems)
        if location == DISK:
            # The run measured a scratch file of its own: the path is the user's to pick.
            notes.append(f"measured with the database on {desc}: replace {db} by your "
                         "queue file on a disk-backed file system")
        else:
            notes.append(f"measured with the database on {desc}: --db {db}")
    if values.get("submit") == "batch":
        notes.append("submit in batches (JobQueue.submit_many)")
    if config.durability_reason:
        notes.append(config.durability_reason)
    return notes


def _differences(config: Config, chosen: Config) -> dict[str, Any]:
    return differences(config.values, chosen.values)


def recommend(configs: Sequence[Config], filesystems: Mapping[str, Any]
              ) -> dict[str, list[Recommendation]]:
    """Per job type: the recommended configuration, then the fastest measured one of
    each durability class for comparison.

    The recommended one is decided by :func:`gigq.bench.recommend.choose` — the rule
    the sweep's summary uses too: eligible with 3+ valid trials and none invalid, never
    unsafe nor in RAM, and the cheapest of those whose interval overlaps the fastest
    eligible one's (its ties are named). A job type with no eligible configuration has
    no recommended entry, only the comparisons (and ``Recommendation.reason`` says why).
    Steady-mode configurations are left out: their jobs/s is the producer's rate.
    The command of each entry is ``gigq --db PATH worker …``
    (:func:`gigq.bench.recommend.worker_command`).
    """
    candidates = [Candidate(c.key, c.values, c.samples.get(THROUGHPUT, []), c.n_trials,
                            c.durability, source=c, too_short=c.too_short) for c in configs]
    out: dict[str, list[Recommendation]] = {}
    choices = choose(candidates)
    multi = len({ch.version for ch in choices}) > 1
    for ch in choices:
        label = f"{ch.job_type} ({ch.version})" if multi else ch.job_type
        chosen: Config | None = ch.recommended.source if ch.recommended else None
        recs = []
        if chosen is not None:
            recs.append(Recommendation(
                ch.job_type, chosen, True,
                worker_command(chosen.values, example_db(chosen.values, filesystems)),
                int(chosen.values.get("workers") or 1), _how_to_run(chosen, filesystems),
                ties=[t.source for t in ch.others]))
        measured = sorted((c for c in ch.candidates if c.n_valid),
                          key=lambda c: -c.interval.estimate)
        # A tie is named on the card already; the comparisons are the others.
        shown = {id(chosen)} | {id(t.source) for t in ch.others}
        for durability in DURABILITY_CLASSES:
            c = next((m for m in measured if m.durability == durability), None)
            if c is None or id(c.source) in shown:
                continue
            shown.add(id(c.source))
            config = c.source
            recs.append(Recommendation(
                ch.job_type, config, False,
                worker_command(config.values, example_db(config.values, filesystems)),
                int(config.values.get("workers") or 1), _how_to_run(config, filesystems),
                differences=_differences(config, chosen) if chosen else {
                    d: v for d, v in config.values.items()
                    if d not in INCIDENTAL_DIMENSIONS | {"job_type", "mode"}},
                ineligible=c.ineligible()))
        if recs:
            explanations, invalid = explain(ch), invalid_notes(ch)
            for r in recs:
                r.reason, r.explanations, r.invalid = ch.reason, explanations, invalid
            out[label] = recs
    return out


# ---------------------------------------------------------------------------
# Effects


def _effect_context(dim: str, config: Mapping[str, Any], swept: Sequence[str],
                    base: Mapping[str, Any]) -> dict[str, Any]:
    """The settings an effect was measured at: the key ones always, others if not base."""
    context = {d: config[d] for d in KEY_CONTEXT if d != dim and config.get(d) is not None}
    for d in swept:
        if d == dim or d in context:
            continue
        if d in base and num.plain_value(base.get(d)) != config.get(d):
            context[d] = config.get(d)
    return context


def difference_test(a: Config, b: Config, metric: str = THROUGHPUT,
                    level: float = DEFAULT_LEVEL) -> Difference | None:
    """Whether ``a`` and ``b`` differ in ``metric``: the two-sided randomisation test at
    ``level``, paired by repetition when both recorded them (a sweep runs every
    configuration once per repetition, so a pair shares the machine's mood), else
    unpaired. ``None`` when the test cannot tell: fewer than
    :data:`MIN_EFFECT_SAMPLES` per side, or too few for any p-value to reach ``level``
    (5 pairs give at best 2/32).
    """
    xa, xb = a.samples.get(metric, []), b.samples.get(metric, [])
    ra, rb = a.repetitions.get(metric), b.repetitions.get(metric)
    paired = ra is not None and rb is not None
    if ra is not None and rb is not None:
        at = dict(zip(ra, xa, strict=True))
        bt = dict(zip(rb, xb, strict=True))
        common = sorted(set(at) & set(bt))
        xa, xb = [at[r] for r in common], [bt[r] for r in common]
    if min(len(xa), len(xb)) < MIN_EFFECT_SAMPLES or \
            min_pvalue(len(xa), len(xb), paired) > 1 - level:
        return None
    return difference(xa, xb, paired=paired, level=level, min_n=MIN_EFFECT_SAMPLES)


def largest_effects(configs: Sequence[Config], swept: Sequence[str], base: Mapping[str, Any],
                    limit: int = 3) -> list[Effect]:
    """The ``limit`` largest throughput effects of a setting, at most one per setting.

    For every pair of configurations that differ in exactly one swept setting, the
    ratio of median jobs/s (faster over slower). Per setting the largest such ratio is
    kept, with the other settings it was measured at; the settings with the largest
    ratios win. Intervals are percentile-bootstrap over repetitions; whether an effect
    is clear is :func:`difference_test`'s (two-sided, so picking the faster side after
    looking does not bias it).
    """
    # Steady-mode jobs/s is the arrival rate: "polling 0.5 s vs 0.02 s: 1.0x" would
    # read as a polling cost that was never measured.
    measured = [c for c in configs if c.n_valid and c.has() and not c.rate_limited]
    candidates: list[tuple[float, str, Config, Config]] = []
    for dim in swept:
        if dim in WORKLOAD_DIMENSIONS:
            continue
        others = [d for d in swept if d != dim]
        groups: dict[tuple, list[Config]] = defaultdict(list)
        for c in measured:
            groups[tuple(repr(c.values.get(d)) for d in others)].append(c)
        best: tuple[float, str, Config, Config] | None = None
        for members in groups.values():
            for i, a in enumerate(members):
                for b in members[i + 1:]:
                    if a.values.get(dim) == b.values.get(dim):
                        continue
                    fast, slow = (a, b) if a.median() >= b.median() else (b, a)
                    if slow.median() <= 0:
                        continue
                    size = math.log(fast.median() / slow.median())
                    if best is None or size > best[0]:
                        best = (size, dim, fast, slow)
        if best is not None:
            candidates.append(best)
    candidates.sort(key=lambda t: -t[0])
    effects = []
    for _size, dim, fast, slow in candidates[:limit]:
        ratio = ratio_of_medians(slow.samples[THROUGHPUT], fast.samples[THROUGHPUT])
        context = _effect_context(dim, fast.values, swept, base)
        better, worse = fast.values.get(dim), slow.values.get(dim)
        text = (f"{fmt.setting_phrase(dim, better)} vs {fmt.setting_phrase(dim, worse)}"
                + (f" ({fmt.context_phrase(context)})" if context else "")
                + f": {fmt.ratio(ratio)} jobs/s")
        effects.append(Effect(dim, better, worse, context, ratio, text,
                              difference_test(slow, fast)))
    return effects


# ---------------------------------------------------------------------------
# The whole analysis


def analyse(results: Results) -> Analysis:
    """Aggregate a run: configurations, recommendations, effects, warnings.

    The charts are added by :func:`gigq.bench.report.figures.add_charts`.
    """
    rows = results.rows
    dims = config_dimensions(results) if not rows.empty else []
    configs = build_configs(results, dims)
    swept: list[str] = []
    constant: dict[str, Any] = {}
    incidental: list[str] = []
    varied = results.spec.get("dimensions") or {}
    for d in dims:
        values = sort_values(d, rows[d])
        if len(values) > 1:
            # `jobs = "auto"` sizes each configuration's trials by a pilot run: the
            # counts differ, but they are a consequence of the settings, not a setting.
            (incidental if d in INCIDENTAL_DIMENSIONS and d not in varied else swept).append(d)
        elif values:
            constant[d] = values[0]
    base = {k: num.plain_value(v) for k, v in (results.spec.get("base") or {}).items()}
    valid = int(_valid_mask(rows).sum()) if not rows.empty else 0
    filesystems = results.environment.get("filesystems") or {}
    analysis = Analysis(
        results=results, dimensions=dims, swept=swept, constant=constant, base=base,
        configs=configs, trials=len(rows), valid=valid, invalid=len(rows) - valid,
        skipped=len(results.skipped), recommendations=recommend(configs, filesystems),
        effects=largest_effects(configs, swept, base), incidental=incidental,
    )
    repeat = results.spec.get("repeat")
    if isinstance(repeat, int) and repeat < 2 and not analysis.empty:
        analysis.warnings.append(
            "Each configuration ran once: no confidence intervals can be given, and "
            "differences below ~10–20% may be noise. Re-run with --repeat 3 or more.")
    if results.spec.get("interrupted"):
        analysis.warnings.append(
            "The sweep was interrupted: only the trials that finished are here, so some "
            "configurations have fewer repetitions than planned or are missing.")
    if analysis.invalid:
        one = analysis.invalid == 1
        analysis.warnings.append(
            f"{analysis.invalid} trial{'' if one else 's'} failed verification (a job lost "
            f"or run twice); {'it is' if one else 'they are'} listed under Correctness and "
            "durability and left out of every number.")
    return analysis
