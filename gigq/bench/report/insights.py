"""What the report concludes from a run: per-configuration statistics, the best settings
per job type, the largest effects, and the data and captions of every chart.

Only valid trials are ever aggregated (an invalid trial is listed, never averaged in).
Every estimate is a median over repetitions with a percentile-bootstrap 95% interval
(:mod:`gigq.bench.stats`). Nothing here draws or formats HTML: charts get plain chart
descriptions (:mod:`.charts`), the templates get these objects.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...storage import JOURNAL_MODES, SYNCHRONOUS_LEVELS, SQLiteSettings, durability_class
from ..metrics import METRICS
from ..results import CONFIG_COLUMNS, Results
from ..stats import Interval, bootstrap_median, ratio_of_medians
from . import format as fmt
from .charts import DURABILITY_COLORS, BarChart, Chart, HeatMap, LineChart, Series

DURABILITY_ORDER = ("power-loss-safe", "crash-safe", "unsafe")
# A database on these file systems lives in RAM: a reboot or power cut loses all of it,
# whatever synchronous says, so the report never calls it safe.
RAM_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
# Lock contention "starts" where waiting for the write lock takes this share of worker time.
LOCK_CONTENTION_SHARE = 0.10
# Dimensions that describe the workload, not a setting to choose: "io vs noop: 10x" is
# not an effect anybody can act on, so they are never reported as effects.
WORKLOAD_DIMENSIONS = frozenset({"job_type", "jobs", "mode", "version", "arrival_rate",
                                 "duration", "payload_bytes"})
# Dimensions always named when an effect's context is described, because a ratio means
# little without them; other dimensions are named only where they differ from the base.
KEY_CONTEXT = ("job_type", "workers", "concurrency")
JOB_TYPE_ORDER = ("noop", "cpu", "io", "mixed")
LOCATION_ORDER = ("disk", "tmpfs", "memory")
THROUGHPUT = "jobs_per_sec"


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

    def median(self, metric: str = THROUGHPUT) -> float:
        """Median of ``metric`` over valid trials (NaN when none)."""
        iv = self.stats.get(metric)
        return iv.estimate if iv is not None else math.nan

    def has(self, metric: str = THROUGHPUT) -> bool:
        """Whether at least one valid trial measured ``metric``."""
        return not math.isnan(self.median(metric))


@dataclass
class Recommendation:
    """The fastest configuration of one durability class for one job type."""

    job_type: str | None
    config: Config
    recommended: bool
    command: str
    processes: int
    notes: list[str]
    tied: int  # other configurations of the same job type whose CI overlaps this one's
    differences: dict[str, Any] = field(default_factory=dict)  # vs the recommended one

    @property
    def throughput(self) -> Interval:
        """Median jobs/s with its 95% CI."""
        return self.config.stats[THROUGHPUT]


@dataclass
class Effect:
    """How much one setting changes throughput, all else equal."""

    dimension: str
    better: Any
    worse: Any
    context: dict[str, Any]
    ratio: Interval
    text: str

    @property
    def clear(self) -> bool:
        """The 95% interval excludes 1 (no change)."""
        return self.ratio.n >= 2 and self.ratio.low > 1.0


@dataclass
class ChartBlock:
    """A chart of the report, or the note that says why it is left out."""

    key: str
    title: str
    chart: Chart | None
    caption: str = ""
    context: str = ""
    note: str = ""
    svg: str = ""


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
    charts: list[ChartBlock] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No valid trial: nothing can be concluded."""
        return self.valid == 0


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
    unique = list(dict.fromkeys(fmt.normalize(v) for v in values))
    orders = {
        "journal_mode": JOURNAL_MODES,
        "synchronous": SYNCHRONOUS_LEVELS,
        "job_type": JOB_TYPE_ORDER,
        "location": LOCATION_ORDER,
    }
    if dim in orders:
        known = orders[dim]
        return sorted(unique, key=lambda v: (known.index(v) if v in known else len(known),
                                             str(v)))
    if dim == "cache_size":
        return sorted(unique, key=fmt.cache_bytes)
    if all(isinstance(v, (int, float)) for v in unique):
        return sorted(unique)
    return sorted(unique, key=lambda v: (v is None, str(v)))


def _ram_reason(config: Mapping[str, Any], filesystems: Mapping[str, Any]) -> str | None:
    location = config.get("location")
    if location == "memory":
        return "in-memory database: lost when the process exits"
    info = filesystems.get(location) if isinstance(location, str) else None
    fs_type = info.get("fs_type") if isinstance(info, Mapping) else None
    if fs_type in RAM_FILESYSTEMS:
        where = location if location == fs_type else f"{location} ({fs_type})"
        return f"{where} is RAM: a reboot or power cut loses the whole queue"
    return None


def _durability(rows: pd.DataFrame, values: Mapping[str, Any],
                filesystems: Mapping[str, Any]) -> tuple[str, str | None]:
    recorded = None
    if "durability" in rows.columns:
        known = [d for d in rows["durability"] if isinstance(d, str) and d]
        recorded = known[0] if known else None
    if recorded is None:
        try:
            recorded = durability_class(
                SQLiteSettings(journal_mode=values.get("journal_mode") or "wal",
                               synchronous=values.get("synchronous") or "normal"),
                in_memory=values.get("location") == "memory",
            )
        except Exception:
            recorded = "unsafe"  # unknown settings: never claim safety we cannot show
    reason = _ram_reason(values, filesystems)
    if reason and recorded != "unsafe":
        return "unsafe", reason
    return recorded, reason


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
        values = {d: fmt.normalize(first.get(d)) for d in dims}
        good = group[valid_mask.loc[group.index]]
        if "repetition" in good.columns:
            good = good.sort_values("repetition")
        samples: dict[str, list[float]] = {}
        stats: dict[str, Interval] = {}
        for metric in METRICS:
            if metric not in good.columns:
                continue
            series = pd.to_numeric(good[metric], errors="coerce").dropna()
            samples[metric] = [float(v) for v in series]
            stats[metric] = bootstrap_median(samples[metric])
        durability, reason = _durability(group, values, filesystems)
        configs.append(Config(str(key), values, len(group), len(good), samples, stats,
                              durability, reason))
    return configs


def _valid_mask(rows: pd.DataFrame) -> pd.Series:
    if "valid" not in rows.columns:
        return pd.Series(True, index=rows.index)
    return rows["valid"].map(lambda v: v is True or v == 1 or str(v).lower() == "true")


# ---------------------------------------------------------------------------
# Recommendations


def worker_command(config: Mapping[str, Any]) -> str:
    """The ``gigq worker`` flags that reproduce a configuration's settings."""
    parts = ["gigq worker"]
    if config.get("concurrency") is not None:
        parts.append(f"--concurrency {config['concurrency']}")
    if config.get("polling_interval") is not None:
        parts.append(f"--polling-interval {config['polling_interval']:g}")
    if config.get("journal_mode"):
        parts.append(f"--journal-mode {config['journal_mode']}")
    if config.get("synchronous"):
        parts.append(f"--synchronous {config['synchronous']}")
    if config.get("cache_size") is not None:
        parts.append(f"--cache-size {config['cache_size']}")
    return " ".join(parts)


def _how_to_run(config: Config, filesystems: Mapping[str, Any]) -> list[str]:
    values = config.values
    notes = []
    workers = values.get("workers") or 1
    if workers > 1:
        notes.append(f"run {workers} such worker processes side by side")
    location = values.get("location")
    if location == "memory":
        notes.append("in-memory database: one process only, through the Python API "
                     "(JobQueue(':memory:') and Worker threads); not reachable by 'gigq worker'")
    elif location:
        info = filesystems.get(location) or {}
        where = info.get("path") if isinstance(info, Mapping) else None
        fs_type = info.get("fs_type") if isinstance(info, Mapping) else None
        desc = location + (f" ({fs_type})" if fs_type else "")
        notes.append(f"database on {desc}" + (f", e.g. --db {where}/jobs.db" if where else ""))
    if values.get("submit") == "batch":
        notes.append("submit in batches (JobQueue.submit_many)")
    if config.durability_reason:
        notes.append(config.durability_reason)
    return notes


def _overlaps(a: Interval, b: Interval) -> bool:
    return a.low <= b.high and b.low <= a.high


def recommend(configs: Sequence[Config], filesystems: Mapping[str, Any]
              ) -> dict[str, list[Recommendation]]:
    """Per job type: the fastest configuration of each durability class.

    The *recommended* one is the fastest that is not ``unsafe`` (an application crash
    loses nothing); only when every measured configuration is unsafe is the fastest
    unsafe one marked, and the report says so. Throughput is compared in ``drain``
    mode when the run has it (``steady`` mode jobs/s only follow the arrival rate).
    """
    measured = [c for c in configs if c.n_valid and c.has()]
    # In steady mode jobs/s is capped by the arrival rate the producer was told to keep:
    # it measures latency under load, not how fast a configuration can go.
    if any(c.values.get("mode") == "drain" for c in measured):
        measured = [c for c in measured if c.values.get("mode") in ("drain", None)]
    by_type: dict[str, list[Config]] = defaultdict(list)
    for c in measured:
        by_type[c.values.get("job_type") or "all"].append(c)
    out: dict[str, list[Recommendation]] = {}
    for job_type in sort_values("job_type", by_type):
        ranked = sorted(by_type[job_type], key=lambda c: -c.median())
        best_by_class = {}
        for c in ranked:
            best_by_class.setdefault(c.durability, c)
        safe = [c for c in ranked if c.durability != "unsafe"]
        chosen = safe[0] if safe else ranked[0]
        recs = []
        for durability in DURABILITY_ORDER:
            c = best_by_class.get(durability)
            if c is None:
                continue
            tied = sum(1 for o in ranked if o is not c
                       and _overlaps(o.stats[THROUGHPUT], c.stats[THROUGHPUT]))
            recs.append(Recommendation(job_type, c, c is chosen, worker_command(c.values),
                                       int(c.values.get("workers") or 1),
                                       _how_to_run(c, filesystems), tied))
        for r in recs:
            if not r.recommended:
                r.differences = {d: v for d, v in r.config.values.items()
                                 if v != chosen.values.get(d)}
        out[job_type] = recs
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
        if d in base and fmt.normalize(base.get(d)) != config.get(d):
            context[d] = config.get(d)
    return context


def largest_effects(configs: Sequence[Config], swept: Sequence[str], base: Mapping[str, Any],
                    limit: int = 3) -> list[Effect]:
    """The ``limit`` largest throughput effects of a setting, at most one per setting.

    For every pair of configurations that differ in exactly one swept setting, the
    ratio of median jobs/s (faster over slower). Per setting the largest such ratio is
    kept, with the other settings it was measured at; the settings with the largest
    ratios win. Intervals are percentile-bootstrap over repetitions.
    """
    measured = [c for c in configs if c.n_valid and c.has()]
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
        effects.append(Effect(dim, better, worse, context, ratio, text))
    return effects


# ---------------------------------------------------------------------------
# Chart data


def _pick_slice(configs: Sequence[Config], swept: Sequence[str], base: Mapping[str, Any],
                x: str, metric: str, series: str | None = None,
                fixed: Mapping[str, Any] | None = None, prefer: Mapping[str, Any] | None = None,
                min_x: int = 2) -> tuple[list[Config], dict[str, Any]] | None:
    """The configurations to draw ``metric`` against ``x`` (one line per ``series``).

    Every other swept setting must be held fixed, or a line would mix effects. Of the
    possible fixed contexts, take the one that (1) matches ``prefer``, (2) has the most
    points, (3) is closest to the base configuration. Returns the configs and context.
    """
    fixed = dict(fixed or {})
    prefer = dict(prefer or {})
    candidates = [c for c in configs if c.n_valid and c.has(metric)
                  and all(c.values.get(k) == v for k, v in fixed.items())]
    context_dims = [d for d in swept if d not in (x, series) and d not in fixed]
    groups: dict[tuple, list[Config]] = defaultdict(list)
    for c in candidates:
        groups[tuple(repr(c.values.get(d)) for d in context_dims)].append(c)
    best_score, best_members = None, None
    for members in groups.values():
        xs = {repr(m.values.get(x)) for m in members}
        points = {(repr(m.values.get(x)), repr(m.values.get(series))) for m in members}
        if len(xs) < min_x or len(points) < 2:
            continue
        ctx = members[0].values
        score = (
            sum(ctx.get(d) == v for d, v in prefer.items()),
            len(points),
            sum(ctx.get(d) == fmt.normalize(base.get(d)) for d in context_dims),
        )
        if best_score is None or score > best_score:
            best_score, best_members = score, members
    if best_members is None:
        return None
    context = {d: best_members[0].values.get(d) for d in context_dims}
    context.update(fixed)
    return best_members, context


def _context_line(context: Mapping[str, Any], repeat: int | None) -> str:
    parts = []
    if context:
        parts.append("Other settings: " + fmt.context_phrase(context) + ".")
    if repeat:
        parts.append(f"Median of up to {repeat} repetitions; bands and whiskers: 95% CI.")
    return " ".join(parts)


def _not_swept(dim: str, constant: Mapping[str, Any]) -> str:
    if dim in constant:
        return (f"Not drawn: {fmt.dimension_label(dim)} was not swept (every trial used "
                f"{fmt.setting_phrase(dim, constant[dim])}).")
    return f"Not drawn: {fmt.dimension_label(dim)} is not a dimension of this run."


def _series_lines(members: Sequence[Config], x: str, series: str | None, metric: str
                  ) -> list[tuple[Any, list[Config]]]:
    by_series: dict[Any, list[Config]] = defaultdict(list)
    for m in members:
        by_series[m.values.get(series) if series else None].append(m)
    ordered = sort_values(series, by_series) if series else [None]
    out = []
    for s in ordered:
        points = sorted(by_series[s], key=lambda m: m.values.get(x))
        out.append((s, points))
    return out


def _line(label: str, points: Sequence[Config], x: str, metric: str,
          dashed: bool = False) -> Series:
    scale = 100.0 if fmt.is_share(metric) else 1.0
    return Series(
        label=label,
        x=[float(p.values[x]) for p in points],
        y=[p.stats[metric].estimate * scale for p in points],
        low=[p.stats[metric].low * scale for p in points],
        high=[p.stats[metric].high * scale for p in points],
        dashed=dashed,
    )


def _numeric_axis(values: Sequence[float]) -> tuple[bool, list[float]]:
    ticks = sorted(set(values))
    positive = [v for v in ticks if v > 0]
    log = len(positive) == len(ticks) and len(ticks) > 2 and max(ticks) / min(ticks) >= 8
    return log, ticks


def throughput_chart(a: Analysis) -> ChartBlock:
    """Jobs/s against worker processes, one line per journal mode, with CI bands."""
    title = "Throughput vs worker processes"
    block = ChartBlock("throughput", title, None)
    if "workers" not in a.swept:
        block.note = _not_swept("workers", a.constant)
        return block
    series = "journal_mode" if "journal_mode" in a.swept else None
    picked = _pick_slice(a.configs, a.swept, a.base, "workers", THROUGHPUT, series)
    if picked is None:
        block.note = ("Not drawn: no two worker counts have valid trials with the other "
                      "settings equal.")
        return block
    members, context = picked
    lines, peaks = [], []
    leader: tuple[Config, list[Config]] | None = None
    for s, points in _series_lines(members, "workers", series, THROUGHPUT):
        label = fmt.value_label("journal_mode", s if series else
                                points[0].values.get("journal_mode"))
        lines.append(_line(label, points, "workers", THROUGHPUT))
        top = max(points, key=lambda p: p.median())
        workers = fmt.setting_phrase("workers", top.values["workers"])
        value = fmt.metric_value(THROUGHPUT, top.median())
        if len(points) == 1:
            peaks.append(f"{label} was measured at {workers} only ({value})")
        else:
            peaks.append(f"{label} peaks at {workers} ({value})")
            if leader is None or top.median() > leader[0].median():
                leader = (top, points)
    conclusion = _scaling_conclusion(*leader) if leader else ""
    log, ticks = _numeric_axis([p for line in lines for p in line.x])
    block.chart = LineChart(title, "worker processes", fmt.metric_label(THROUGHPUT), lines,
                            x_ticks=ticks, x_tick_labels=[f"{t:g}" for t in ticks], log_x=log)
    per = "one line per journal mode" if series else "at one journal mode"
    block.caption = (f"Median jobs/s for each number of worker processes, {per}: "
                     + "; ".join(peaks) + conclusion + ".")
    if series:
        context.pop("journal_mode", None)
    block.context = _context_line(context, a.results.spec.get("repeat"))
    return block


def _scaling_conclusion(top: Config, points: Sequence[Config]) -> str:
    """What the best line says about adding workers, judged against its uncertainty."""
    best = top.stats[THROUGHPUT]
    plateau = next(p for p in points
                   if p is top or (best.n >= 2 and _overlaps(p.stats[THROUGHPUT], best)))
    later = [p for p in points if p.values["workers"] > top.values["workers"]]
    if plateau is points[-1]:
        return " — still rising at the largest count measured, so more workers may help"
    if any(p.stats[THROUGHPUT].high < best.low for p in later):
        return (f" — beyond {fmt.setting_phrase('workers', top.values['workers'])} "
                "throughput falls: more processes only add lock contention")
    return (f" — from {fmt.setting_phrase('workers', plateau.values['workers'])} on, more "
            "processes add nothing measurable")


def io_concurrency_chart(a: Analysis) -> ChartBlock:
    """Jobs/s of io jobs against threads per worker."""
    title = "io jobs: throughput vs concurrency"
    block = ChartBlock("io-concurrency", title, None)
    has_io = any(c.values.get("job_type") == "io" for c in a.configs)
    if not has_io:
        block.note = "Not drawn: this run has no io jobs."
        return block
    if "concurrency" not in a.swept:
        block.note = _not_swept("concurrency", a.constant)
        return block
    series = "workers" if "workers" in a.swept else None
    fixed = {"job_type": "io"} if "job_type" in a.dimensions else {}
    picked = _pick_slice(a.configs, a.swept, a.base, "concurrency", THROUGHPUT, series,
                         fixed=fixed)
    if picked is None:
        picked = _pick_slice(a.configs, a.swept, a.base, "concurrency", THROUGHPUT, None,
                             fixed=fixed)
        series = None
    if picked is None:
        block.note = ("Not drawn: concurrency was not varied for io jobs (it was swept for "
                      "other job types only).")
        return block
    members, context = picked
    lines, findings = [], []
    groups = _series_lines(members, "concurrency", series, THROUGHPUT)
    if any(len(points) > 1 for _, points in groups):
        # A worker count measured at one concurrency says nothing about threads.
        groups = [(s, points) for s, points in groups if len(points) > 1]
    gains = []
    for s, points in groups:
        label = fmt.setting_phrase("workers", s) if series else "io jobs"
        lines.append(_line(label, points, "concurrency", THROUGHPUT))
        if len(points) >= 2:
            lo, hi = points[0], points[-1]
            gain = hi.median() / lo.median() if lo.median() else math.nan
            gains.append((gain, lo, hi))
            findings.append(
                f"{label}: {fmt.number(lo.values['concurrency'])} → "
                f"{fmt.number(hi.values['concurrency'])} threads changes jobs/s "
                f"{gain:.2g}× ({fmt.number(lo.median())} → {fmt.number(hi.median())})")
    if not gains:
        conclusion = ""
    elif any(hi.stats[THROUGHPUT].low > lo.stats[THROUGHPUT].high for _, lo, hi in gains):
        conclusion = ", so io-bound work wants more threads per worker"
    else:
        conclusion = ", so more threads add nothing measurable here"
    log, ticks = _numeric_axis([p for line in lines for p in line.x])
    block.chart = LineChart(title, "threads per worker (concurrency)",
                            fmt.metric_label(THROUGHPUT), lines, x_ticks=ticks,
                            x_tick_labels=[f"{t:g}" for t in ticks], log_x=log)
    block.caption = ("Median jobs/s of io jobs (which wait rather than compute) against "
                     "threads per worker process — "
                     + ("; ".join(findings) if findings else "one point per series")
                     + conclusion + ".")
    if series:
        context.pop("workers", None)
    context.pop("job_type", None)
    block.context = _context_line(context, a.results.spec.get("repeat"))
    return block


def latency_chart(a: Analysis) -> ChartBlock:
    """Wait p50/p95 against the polling interval."""
    title = "Latency vs polling interval"
    block = ChartBlock("latency", title, None)
    if "polling_interval" not in a.swept:
        block.note = _not_swept("polling_interval", a.constant)
        return block
    picked = _pick_slice(a.configs, a.swept, a.base, "polling_interval", "wait_p95_ms",
                         prefer={"mode": "steady"})
    if picked is None:
        block.note = ("Not drawn: no two polling intervals have valid latency measurements "
                      "with the other settings equal.")
        return block
    members, context = picked
    points = sorted(members, key=lambda m: m.values["polling_interval"])
    lines = [_line("wait p50", points, "polling_interval", "wait_p50_ms"),
             _line("wait p95", points, "polling_interval", "wait_p95_ms", dashed=True)]
    x_ms = [p * 1000 for p in lines[0].x]
    for line in lines:
        line.x = x_ms
    log, ticks = _numeric_axis(x_ms)
    block.chart = LineChart(title, "polling interval (ms)", "wait, submit → start (ms)", lines,
                            x_ticks=ticks, x_tick_labels=[f"{t:g}" for t in ticks], log_x=log)
    lo, hi = points[0], points[-1]
    block.caption = (
        "Time from submit until a worker starts the job (median and 95th percentile) against "
        "the idle workers' polling interval: polling every "
        f"{fmt.value_label('polling_interval', lo.values['polling_interval'])} gives a p95 wait "
        f"of {fmt.metric_value('wait_p95_ms', lo.median('wait_p95_ms'))}, every "
        f"{fmt.value_label('polling_interval', hi.values['polling_interval'])} "
        f"{fmt.metric_value('wait_p95_ms', hi.median('wait_p95_ms'))}.")
    extra = ""
    if context.get("mode") == "drain":
        extra = " In drain mode waits include the time jobs spend in the backlog."
    block.context = _context_line(context, a.results.spec.get("repeat")) + extra
    return block


def lock_wait_chart(a: Analysis) -> ChartBlock:
    """Share of worker time spent waiting for the write lock, against workers."""
    metric = "lock_wait_share"
    title = "Lock-wait share vs worker processes"
    block = ChartBlock("lock-wait", title, None)
    if "workers" not in a.swept:
        block.note = _not_swept("workers", a.constant)
        return block
    series = "journal_mode" if "journal_mode" in a.swept else None
    picked = _pick_slice(a.configs, a.swept, a.base, "workers", metric, series)
    if picked is None:
        block.note = ("Not drawn: no two worker counts have valid lock-wait measurements with "
                      "the other settings equal.")
        return block
    members, context = picked
    lines, findings = [], []
    for s, points in _series_lines(members, "workers", series, metric):
        label = fmt.value_label("journal_mode", s if series else
                                points[0].values.get("journal_mode"))
        lines.append(_line(label, points, "workers", metric))
        over = [p for p in points if p.median(metric) >= LOCK_CONTENTION_SHARE]
        if over:
            first = over[0]
            workers = fmt.setting_phrase("workers", first.values["workers"])
            findings.append(f"with {label} it passes {LOCK_CONTENTION_SHARE:.0%} from "
                            f"{workers} ({fmt.metric_value(metric, first.median(metric))})")
        else:
            top = points[-1]
            findings.append(f"with {label} it stays below {LOCK_CONTENTION_SHARE:.0%} up to "
                            f"{fmt.setting_phrase('workers', top.values['workers'])}")
    log, ticks = _numeric_axis([p for line in lines for p in line.x])
    share = f"{LOCK_CONTENTION_SHARE:.0%}"
    block.chart = LineChart(title, "worker processes", fmt.metric_label(metric), lines,
                            x_ticks=ticks, x_tick_labels=[f"{t:g}" for t in ticks], log_x=log,
                            y_percent=True, threshold=LOCK_CONTENTION_SHARE * 100,
                            threshold_label=f"{share}: contention")
    block.caption = (f"Share of worker time spent waiting for SQLite's write lock (dotted "
                     f"line: {share}, where contention starts to cost throughput): "
                     + "; ".join(findings) + ".")
    if series:
        context.pop("journal_mode", None)
    block.context = _context_line(context, a.results.spec.get("repeat"))
    return block


def heatmap_chart(a: Analysis) -> ChartBlock:
    """Median jobs/s for each journal mode × synchronous level, with durability classes."""
    title = "Journal mode × synchronous"
    block = ChartBlock("heatmap", title, None)
    if "journal_mode" not in a.swept and "synchronous" not in a.swept:
        mode = fmt.value_label("journal_mode", a.constant.get("journal_mode"))
        level = fmt.value_label("synchronous", a.constant.get("synchronous"))
        block.note = ("Not drawn: neither journal mode nor synchronous was swept (every trial "
                      f"used {mode} with synchronous={level}).")
        return block
    picked = _pick_slice(a.configs, a.swept, a.base, "journal_mode", THROUGHPUT, "synchronous",
                         min_x=1)
    if picked is None:
        block.note = "Not drawn: fewer than two journal × synchronous cells have valid trials."
        return block
    members, context = picked
    modes = sort_values("journal_mode", (m.values.get("journal_mode") for m in members))
    levels = sort_values("synchronous", (m.values.get("synchronous") for m in members))
    cell = {(m.values.get("synchronous"), m.values.get("journal_mode")): m for m in members}
    values, notes, colors = [], [], []
    for level in levels:
        values.append([cell[(level, mode)].median() if (level, mode) in cell else None
                       for mode in modes])
        notes.append([cell[(level, mode)].durability if (level, mode) in cell else ""
                      for mode in modes])
        colors.append([DURABILITY_COLORS.get(n, "#57606a") for n in notes[-1]])
    block.chart = HeatMap(title, "journal mode", "synchronous",
                          [fmt.value_label("journal_mode", m) for m in modes],
                          [fmt.value_label("synchronous", s) for s in levels],
                          values, notes, colors, fmt.metric_label(THROUGHPUT))
    fastest = max(members, key=lambda m: m.median())
    safe = [m for m in members if m.durability == "power-loss-safe"]
    finding = (f"fastest is {_cell_name(fastest)} ({fastest.durability}, "
               f"{fmt.metric_value(THROUGHPUT, fastest.median())})")
    if safe and fastest.durability != "power-loss-safe":
        s = max(safe, key=lambda m: m.median())
        finding += (f", fastest that survives a power cut is {_cell_name(s)} "
                    f"({fmt.metric_value(THROUGHPUT, s.median())})")
    block.caption = ("Median jobs/s for each journal mode and synchronous level measured, "
                     "with the durability class in each cell: " + finding + ".")
    context.pop("journal_mode", None)
    context.pop("synchronous", None)
    block.context = _context_line(context, a.results.spec.get("repeat"))
    return block


def _cell_name(c: Config) -> str:
    return (f"{fmt.value_label('journal_mode', c.values.get('journal_mode'))} + "
            f"synchronous={fmt.value_label('synchronous', c.values.get('synchronous'))}")


def _bar_chart(a: Analysis, key: str, dim: str, title: str,
               labeler: Callable[[Config], str]) -> tuple[ChartBlock, list[Config]]:
    """Median jobs/s per value of ``dim``; no configs back when the chart is left out."""
    block = ChartBlock(key, title, None)
    if dim not in a.swept:
        block.note = _not_swept(dim, a.constant)
        return block, []
    picked = _pick_slice(a.configs, a.swept, a.base, dim, THROUGHPUT)
    if picked is None:
        block.note = (f"Not drawn: no two values of {fmt.dimension_label(dim)} have valid "
                      "trials with the other settings equal.")
        return block, []
    members, context = picked
    ordered = [next(m for m in members if m.values.get(dim) == v)
               for v in sort_values(dim, (m.values.get(dim) for m in members))]
    ivs = [m.stats[THROUGHPUT] for m in ordered]
    spread = max(iv.estimate for iv in ivs) / max(min(iv.estimate for iv in ivs), 1e-9)
    block.chart = BarChart(
        title, fmt.metric_label(THROUGHPUT), [labeler(m) for m in ordered],
        [iv.estimate for iv in ivs], [iv.low for iv in ivs], [iv.high for iv in ivs],
        annotations=[fmt.number(iv.estimate) for iv in ivs], log_y=spread > 30,
    )
    context.pop(dim, None)
    block.context = _context_line(context, a.results.spec.get("repeat"))
    return block, ordered


def location_chart(a: Analysis) -> ChartBlock:
    """Jobs/s per storage location (with the file system of each)."""
    filesystems = a.results.environment.get("filesystems") or {}

    def label(m: Config) -> str:
        loc = m.values.get("location")
        info = filesystems.get(loc) or {}
        fs_type = info.get("fs_type") if isinstance(info, Mapping) else None
        return f"{loc}\n({fs_type})" if fs_type and fs_type != loc else str(loc)

    block, ordered = _bar_chart(a, "locations", "location", "Storage locations", label)
    if not ordered:
        return block
    fastest = max(ordered, key=lambda m: m.median())
    slowest = min(ordered, key=lambda m: m.median())
    ram = [m for m in ordered if m.durability_reason]
    block.caption = (
        f"Median jobs/s with the database on each storage location: "
        f"{fastest.values['location']} is {fastest.median() / slowest.median():.2g}× "
        f"{slowest.values['location']}"
        + (f", but {' and '.join(str(m.values['location']) for m in ram)} "
           f"{'keeps' if len(ram) == 1 else 'keep'} the queue in RAM and "
           f"{'loses' if len(ram) == 1 else 'lose'} it on a reboot" if ram else "")
        + ".")
    return block


def cache_chart(a: Analysis) -> ChartBlock:
    """Jobs/s per SQLite cache size."""
    block, ordered = _bar_chart(a, "cache", "cache_size", "Cache size",
                                lambda m: fmt.cache_label(m.values.get("cache_size")))
    if not ordered:
        return block
    meds = [m.median() for m in ordered]
    change = max(meds) / min(meds) - 1 if min(meds) > 0 else math.nan
    fastest = max(ordered, key=lambda m: m.median())
    block.caption = (
        f"Median jobs/s for each SQLite cache size: the sizes differ by at most {change:.0%}, "
        f"fastest with {fmt.cache_label(fastest.values.get('cache_size'))}"
        + (" — within noise, so the default is fine." if _all_overlap(ordered) else "."))
    return block


def job_type_chart(a: Analysis) -> ChartBlock:
    """Jobs/s per job type at the same settings."""
    block, ordered = _bar_chart(a, "job-types", "job_type", "Job types",
                                lambda m: str(m.values.get("job_type")))
    if not ordered:
        return block
    parts = [f"{m.values['job_type']} {fmt.number(m.median())}" for m in ordered]
    block.caption = ("Median jobs/s of each job type at the same settings ("
                     + ", ".join(parts) + " jobs/s): jobs that compute or wait dominate "
                     "the queue's own cost, so each job type gets its own recommendation "
                     "in the Summary.")
    return block


def _all_overlap(configs: Sequence[Config]) -> bool:
    ivs = [c.stats[THROUGHPUT] for c in configs]
    return all(_overlaps(x, y) for x in ivs for y in ivs) and all(iv.n >= 2 for iv in ivs)


CHART_BUILDERS = (throughput_chart, io_concurrency_chart, latency_chart, lock_wait_chart,
                  heatmap_chart, location_chart, cache_chart, job_type_chart)


# ---------------------------------------------------------------------------
# The whole analysis


def analyse(results: Results) -> Analysis:
    """Aggregate a run and derive everything the report shows."""
    rows = results.rows
    dims = config_dimensions(results) if not rows.empty else []
    configs = build_configs(results, dims)
    swept, constant = [], {}
    for d in dims:
        values = sort_values(d, rows[d])
        if len(values) > 1:
            swept.append(d)
        elif values:
            constant[d] = values[0]
    base = {k: fmt.normalize(v) for k, v in (results.spec.get("base") or {}).items()}
    valid = int(_valid_mask(rows).sum()) if not rows.empty else 0
    filesystems = results.environment.get("filesystems") or {}
    analysis = Analysis(
        results=results, dimensions=dims, swept=swept, constant=constant, base=base,
        configs=configs, trials=len(rows), valid=valid, invalid=len(rows) - valid,
        skipped=len(results.skipped), recommendations=recommend(configs, filesystems),
        effects=largest_effects(configs, swept, base),
    )
    if not analysis.empty:
        analysis.charts = [build(analysis) for build in CHART_BUILDERS]
    repeat = results.spec.get("repeat")
    if isinstance(repeat, int) and repeat < 2 and not analysis.empty:
        analysis.warnings.append(
            "Each configuration ran once: no confidence intervals can be given, and "
            "differences below ~10–20% may be noise. Re-run with --repeat 3 or more.")
    if analysis.invalid:
        one = analysis.invalid == 1
        analysis.warnings.append(
            f"{analysis.invalid} trial{'' if one else 's'} failed verification (a job lost "
            f"or run twice); {'it is' if one else 'they are'} listed under Correctness and "
            "durability and left out of every number.")
    return analysis
