"""The report's charts as data: which configurations each chart draws, and its caption.

Each chart holds every setting fixed except the one(s) it is about (a line that mixed
settings would mix their effects), says which settings those are, and states in one
sentence what it shows and what to conclude, judged against the 95% intervals. A chart
whose dimension was not swept is not drawn; its :class:`ChartBlock` carries a note instead.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import numbers as num
from ..html import format as fmt
from ..html.charts import (
    DURABILITY_COLORS,
    UNSAFE,
    BarChart,
    Chart,
    HeatMap,
    LineChart,
    Points,
    ScatterChart,
    Series,
    StackedBarChart,
)
from ..metrics import LOCK_WAIT_SITES, METRICS
from ..recommend import overlaps
from ..stats import median, ratio_of_medians
from ..sweep.locations import MEMORY
from ..sweep.space import DRAIN, STEADY
from .insights import (
    THROUGHPUT,
    Analysis,
    Config,
    Resolution,
    TrialPoint,
    difference_test,
    resolution,
    sort_values,
    trial_order,
)

# The lock metrics shown beside the lock-wait chart, in reading order.
LOCK_METRICS = ("lock_wait_share", "lock_wait_p99_ms", "lock_waits_per_job", "busy_errors")
LOCK_SITE_METRICS = tuple(f"lock_wait_{site}_share" for site in LOCK_WAIT_SITES)


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
    # Text shown with the chart, above its caption (e.g. what a metric means).
    explanation: str = ""
    # A small table shown under the chart: header and rows of text.
    table_head: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)


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
                  and all(c.values.get(k) == v for k, v in fixed.items())
                  # Steady-mode jobs/s is the arrival rate: never drawn as a speed.
                  and not (metric == THROUGHPUT and c.rate_limited)]
    context_dims = [d for d in swept if d not in (x, series) and d not in fixed]
    groups: dict[tuple, list[Config]] = defaultdict(list)
    for c in candidates:
        groups[tuple(repr(c.values.get(d)) for d in context_dims)].append(c)
    best_score, best_members = None, None
    for members in groups.values():
        xs = {repr(m.values.get(x)) for m in members}
        points = {(repr(m.values.get(x)), repr(m.values.get(series) if series else None))
                  for m in members}
        if len(xs) < min_x or len(points) < 2:
            continue
        ctx = members[0].values
        score = (
            sum(ctx.get(d) == v for d, v in prefer.items()),
            len(points),
            sum(ctx.get(d) == num.plain_value(base.get(d)) for d in context_dims),
        )
        if best_score is None or score > best_score:
            best_score, best_members = score, members
    if best_members is None:
        return None
    context = {d: best_members[0].values.get(d) for d in context_dims}
    context.update(fixed)
    return best_members, context


def _context_line(context: Mapping[str, Any], repeat: int | None, trials: bool = True) -> str:
    """The settings held fixed and what the marks are (``trials``: circles per trial)."""
    parts = []
    if context:
        parts.append("Other settings: " + fmt.context_phrase(context) + ".")
    if repeat and trials:
        parts.append(f"Median of up to {repeat} repetitions; bands and whiskers: 95% CI; "
                     "small circles: each valid trial.")
    elif repeat:
        parts.append(f"Median of up to {repeat} repetitions.")
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

    def at_x(m: Config) -> Any:
        return m.values.get(x)

    out = []
    for s in ordered:
        points = sorted(by_series[s], key=at_x)
        out.append((s, points))
    return out


def _trial_values(c: Config, metric: str, label: str) -> list[tuple[float, str]]:
    """Each valid trial of ``c`` for ``metric``: its value (as drawn) and a hover text."""
    scale = 100.0 if fmt.is_share(metric) else 1.0
    values = c.samples.get(metric, [])
    recorded = c.repetitions.get(metric)
    reps: list[int | None] = list(recorded) if recorded else [None] * len(values)
    return [(v * scale, f"{label}: repetition {r}, {fmt.metric_value(metric, v)}"
             if r is not None else f"{label}: one trial, {fmt.metric_value(metric, v)}")
            for v, r in zip(values, reps, strict=True)]


def _line(label: str, points: Sequence[Config], x: str, metric: str,
          dashed: bool = False) -> Series:
    scale = 100.0 if fmt.is_share(metric) else 1.0
    unsafe = [p for p in points if p.durability == UNSAFE]
    if unsafe and len(unsafe) == len(points):
        label += f" ({UNSAFE})"
    trials = [(float(p.values[x]), v, text) for p in points
              for v, text in _trial_values(p, metric, f"{label}, "
                                           f"{fmt.setting_phrase(x, p.values[x])}")]
    return Series(
        label=label,
        x=[float(p.values[x]) for p in points],
        y=[p.stats[metric].estimate * scale for p in points],
        low=[p.stats[metric].low * scale for p in points],
        high=[p.stats[metric].high * scale for p in points],
        dashed=dashed,
        trials=trials,
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
    found = _lines_per_journal_mode(a, block, THROUGHPUT, "trials")
    if found is None:
        return block
    members, series, by_mode = found
    lines, peaks = [], []
    leader: tuple[Config, list[Config]] | None = None
    for label, points in by_mode:
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
    block.chart = LineChart(title, fmt.dimension_label("workers"),
                            fmt.metric_label(THROUGHPUT), lines, x_ticks=ticks,
                            x_tick_labels=[f"{t:g}" for t in ticks], log_x=log)
    per = "one line per journal mode" if series else "at one journal mode"
    versus = _journal_comparison(members) if series else ""
    block.caption = (f"Median jobs/s for each number of worker processes, {per}: "
                     + "; ".join(peaks) + conclusion + versus + ".")
    return block


def _lines_per_journal_mode(
    a: Analysis, block: ChartBlock, metric: str, measured: str, trials: bool = True
) -> tuple[list[Config], str | None, list[tuple[str, list[Config]]]] | None:
    """The slice for a chart of ``metric`` against workers, one line per journal mode.

    Returns the slice's configurations, the series dimension (None: one mode) and
    ``(label, points)`` per line, and sets the block's context line; or sets the
    block's note and returns None when there is nothing to draw.
    """
    if "workers" not in a.swept:
        block.note = _not_swept("workers", a.constant)
        return None
    series = "journal_mode" if "journal_mode" in a.swept else None
    picked = _pick_slice(a.configs, a.swept, a.base, "workers", metric, series)
    if picked is None:
        block.note = (f"Not drawn: no two worker counts have valid {measured} with the "
                      "other settings equal.")
        return None
    members, context = picked
    lines = [
        (fmt.value_label("journal_mode", s if series else points[0].values.get("journal_mode")),
         points)
        for s, points in _series_lines(members, "workers", series, metric)
    ]
    if series:
        context.pop("journal_mode", None)
    block.context = _context_line(context, a.results.spec.get("repeat"), trials)
    return members, series, lines


def _journal_comparison(members: Sequence[Config]) -> str:
    """"; at 4 workers WAL is 3.1× DELETE (95% CI …)": WAL against the first other mode."""
    by_mode: dict[Any, dict[Any, Config]] = defaultdict(dict)
    for m in members:
        by_mode[m.values.get("journal_mode")][m.values.get("workers")] = m
    if "wal" not in by_mode:
        return ""
    others = [mode for mode in sort_values("journal_mode", by_mode) if mode != "wal"]
    for other in others:
        shared = sorted(set(by_mode["wal"]) & set(by_mode[other]))
        if not shared:
            continue
        workers = shared[-1]
        wal, alt = by_mode["wal"][workers], by_mode[other][workers]
        ratio = ratio_of_medians(alt.samples[THROUGHPUT], wal.samples[THROUGHPUT])
        factor, _, interval = fmt.ratio(ratio).partition(" (")
        return (f"; at {fmt.setting_phrase('workers', workers)} WAL is {factor} as fast as "
                f"{fmt.value_label('journal_mode', other)} ({interval}")
    return ""


def _scaling_conclusion(top: Config, points: Sequence[Config]) -> str:
    """What the best line says about adding workers, judged against its uncertainty."""
    best = top.stats[THROUGHPUT]
    plateau = next(p for p in points
                   if p is top or (best.n >= 2 and overlaps(p.stats[THROUGHPUT], best)))
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
                f"{label}: {num.number(lo.values['concurrency'])} → "
                f"{num.number(hi.values['concurrency'])} threads changes jobs/s "
                f"{gain:.2g}× ({num.number(lo.median())} → {num.number(hi.median())})")
    if not gains:
        conclusion = ""
    elif any(hi.stats[THROUGHPUT].low > lo.stats[THROUGHPUT].high for _, lo, hi in gains):
        conclusion = ", so io-bound work wants more threads per worker"
    else:
        conclusion = ", so more threads add nothing measurable here"
    log, ticks = _numeric_axis([p for line in lines for p in line.x])
    block.chart = LineChart(title, fmt.dimension_label("concurrency"),
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
                         prefer={"mode": STEADY})
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
        f"{fmt.metric_value('wait_p95_ms', hi.median('wait_p95_ms'))}"
        + _latency_conclusion(lo, hi) + ".")
    extra = ""
    if context.get("mode") == DRAIN:
        extra = " In drain mode waits include the time jobs spend in the backlog."
    block.context = _context_line(context, a.results.spec.get("repeat")) + extra
    return block


def _latency_conclusion(fast: Config, slow: Config) -> str:
    a, b = fast.stats["wait_p95_ms"], slow.stats["wait_p95_ms"]
    if a.n < 2 or b.n < 2:
        return ""
    if overlaps(a, b):
        return " — within noise, so a long interval costs no measurable latency here"
    cost = b.estimate - a.estimate
    direction = "adds" if cost > 0 else "saves"
    return (f" — the longer interval {direction} {fmt.metric_value('wait_p95_ms', abs(cost))} "
            "at p95")


def lock_explanation() -> str:
    """What the lock metrics are, in words, from their definitions."""
    share, p99 = METRICS["lock_wait_share"], METRICS["lock_wait_p99_ms"]
    per_job, busy = METRICS["lock_waits_per_job"], METRICS["busy_errors"]
    return (f"Lock-wait share = {share.description}: 0% means no worker thread ever waited "
            "for the database, 50% that half of the workers' time went to waiting. "
            f"It is the total wait; the tail is {p99.label} ({p99.description}). Also "
            f"measured: {per_job.label} ({per_job.description}) and {busy.label} "
            f"({busy.description}). The longest single wait is not recorded per trial. "
            "A high share says workers queue for the one write lock; whether that costs "
            "throughput is read off the throughput chart, not from a threshold.")


def lock_wait_chart(a: Analysis) -> ChartBlock:
    """Share of worker time spent waiting for SQLite locks, against workers, with the
    lock metrics of each point in a table beside it."""
    metric = "lock_wait_share"
    title = "Lock-wait share vs worker processes"
    block = ChartBlock("lock-wait", title, None)
    found = _lines_per_journal_mode(a, block, metric, "lock-wait measurements")
    if found is None:
        return block
    lines, findings = [], []
    for label, points in found[2]:
        lines.append(_line(label, points, "workers", metric))
        lo, hi = points[0], points[-1]
        if lo is hi:
            findings.append(f"with {label} it is {fmt.metric_value(metric, lo.median(metric))} "
                            f"at {fmt.setting_phrase('workers', lo.values['workers'])}")
        else:
            findings.append(
                f"with {label} it goes from {fmt.metric_value(metric, lo.median(metric))} at "
                f"{fmt.setting_phrase('workers', lo.values['workers'])} to "
                f"{fmt.metric_value(metric, hi.median(metric))} at "
                f"{fmt.setting_phrase('workers', hi.values['workers'])}")
    log, ticks = _numeric_axis([p for line in lines for p in line.x])
    block.chart = LineChart(title, fmt.dimension_label("workers"), fmt.metric_label(metric), lines,
                            x_ticks=ticks, x_tick_labels=[f"{t:g}" for t in ticks], log_x=log,
                            y_percent=True)
    block.caption = ("Share of worker time spent waiting for SQLite's locks: "
                     + "; ".join(findings) + ".")
    block.explanation = lock_explanation()
    block.table_head = ["configuration (median of valid trials)",
                        *(fmt.metric_label(m) for m in LOCK_METRICS)]
    for label, points in found[2]:
        for p in points:
            block.table_rows.append(
                [f"{label}, {fmt.setting_phrase('workers', p.values['workers'])}",
                 *(fmt.interval(m, p.stats.get(m)) if m == metric
                   else fmt.metric_value(m, p.median(m), unit=False) for m in LOCK_METRICS)])
    return block


def lock_sites_chart(a: Analysis) -> ChartBlock:
    """Where the lock waits happen (BEGIN, COMMIT, reads), per point of the lock chart."""
    title = "Where workers wait for locks"
    block = ChartBlock("lock-sites", title, None)
    if not any(c.has(LOCK_SITE_METRICS[0]) for c in a.configs):
        block.note = ("Not drawn: no trial counted where lock waits happen (BEGIN, COMMIT, "
                      "reads); the GigQ version measured reports the totals only.")
        return block
    found = _lines_per_journal_mode(a, block, LOCK_SITE_METRICS[0], "per-site lock waits",
                                    trials=False)
    if found is None:
        return block
    points = [(label, p) for label, members in found[2] for p in members]
    labels = [f"{label}\n{fmt.setting_phrase('workers', p.values['workers'])}"
              for label, p in points]
    # The statements by name (BEGIN, COMMIT), reads as what they are.
    stacks = [("reads" if site == "read" else site.upper(),
               [p.median(m) * 100 if p.has(m) else 0.0 for _, p in points])
              for site, m in zip(LOCK_WAIT_SITES, LOCK_SITE_METRICS, strict=True)]
    block.chart = StackedBarChart(title, "share of worker time (%)", labels, stacks,
                                  y_percent=True)
    label, worst = max(points, key=lambda lp: lp[1].median("lock_wait_share")
                       if lp[1].has("lock_wait_share") else -1)
    parts = [f"{name} {num.percent(worst.median(m))}" for (name, _), m in
             zip(stacks, LOCK_SITE_METRICS, strict=True) if worst.has(m)]
    block.caption = (
        "The lock-wait share split by where the wait happened: "
        + "; ".join(f"{name} — waiting {where}" for (name, _), where in
                    zip(stacks, LOCK_WAIT_SITES.values(), strict=True))
        + f". Most contended: {label} at "
        f"{fmt.setting_phrase('workers', worst.values['workers'])} "
        f"({', '.join(parts)}).")
    return block


def trial_order_chart(a: Analysis) -> ChartBlock:
    """Each drain trial's jobs/s (against its configuration's median) and the load
    average, in the order the trials ran: drift during the run shows as a trend."""
    title = "Trials in the order they ran"
    block = ChartBlock("trial-order", title, None)
    trials = trial_order(a)
    if len(trials) < 3:  # two points make no trend
        block.note = "Not drawn: fewer than three drain trials measured jobs/s."
        return block
    groups = []
    for valid, label in ((True, "valid trial"), (False, "invalid trial")):
        members = [t for t in trials if t.valid == valid]
        if members:
            groups.append(Points(label, [float(t.order) for t in members],
                                 [t.relative * 100 for t in members], hollow=not valid,
                                 texts=[_trial_text(t) for t in members]))
    loads = [(float(t.order), t.load) for t in trials if t.load is not None]
    secondary = (Series("load average (1 min)", [x for x, _ in loads], [y for _, y in loads],
                        [], []) if loads else None)
    block.chart = ScatterChart(title, "trial, in run order", "jobs/s ÷ its configuration's "
                               "median (%)", groups, reference=100.0,
                               reference_label="the configuration's median", y_percent=True,
                               secondary=secondary, secondary_label="load average (1 min)")
    block.caption = "Each drain trial's jobs/s as a share of its configuration's median, " \
        "in the order the run made them" + (", with the machine's 1-minute load average "
                                            "when each started" if loads else "") \
        + ": " + _drift_finding(trials, a.results.environment.get("cores")) + "."
    if not loads:
        block.context = "The load average was not recorded for these trials."
    block.explanation = resolution_text(resolution(a.configs), a.swept)
    return block


def _config_name(c: Config, swept: Sequence[str]) -> str:
    return fmt.context_phrase({d: c.values.get(d) for d in swept}) or "the only configuration"


def _trial_text(t: TrialPoint) -> str:
    load = f", load {num.number(t.load)}" if t.load is not None else ""
    return (f"trial {t.order} ({t.trial_id}): {fmt.metric_value(THROUGHPUT, t.jobs_per_sec)}, "
            f"{num.percent(t.relative)} of its configuration's median{load}"
            + ("" if t.valid else " — invalid"))


def _drift_finding(trials: Sequence[TrialPoint], cores: Any) -> str:
    """The first third of the run against the last, by the median relative jobs/s."""
    third = max(1, len(trials) // 3)
    first = median([t.relative for t in trials[:third] if t.valid])
    last = median([t.relative for t in trials[-third:] if t.valid])
    text = (f"the first third of the trials ran at a median {num.percent(first)} of their "
            f"configuration's median, the last third at {num.percent(last)}")
    loads = [t.load for t in trials if t.load is not None]
    if loads:
        text += f"; the load average ranged {num.number(min(loads))}–{num.number(max(loads))}"
        if cores:
            text += f" on {cores} cores"
    return text


def resolution_text(res: Resolution | None, swept: Sequence[str]) -> str:
    """The smallest change the run resolves, and how it is computed, in words."""
    if res is None:
        return ("Resolution: no configuration has two valid drain trials, so this run "
                "cannot say how large a difference is noise. Re-run with --repeat 3 or more.")
    return (f"This run resolves differences in jobs/s of about {num.percent(res.smallest_change)}"
            f" or more. How: for each of the {res.configs} configurations with repeated "
            f"trials (typically {res.repetitions}), half the width of the 95% bootstrap "
            "interval of its median, as a share of the median; the median of those is "
            f"±{num.percent(res.half_width)} (widest ±{num.percent(res.widest)}, "
            f"{_config_name(res.widest_config, swept)}). Two configurations "
            "with such intervals stop overlapping when they differ by more than twice that. "
            "More repetitions narrow it.")


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
    block.chart = HeatMap(title, fmt.dimension_label("journal_mode"),
                          fmt.dimension_label("synchronous"),
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
    block.context = _context_line(context, a.results.spec.get("repeat"), trials=False)
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
    labels = [labeler(m) for m in ordered]
    block.chart = BarChart(
        title, fmt.metric_label(THROUGHPUT), labels,
        [iv.estimate for iv in ivs], [iv.low for iv in ivs], [iv.high for iv in ivs],
        annotations=[num.number(iv.estimate) for iv in ivs], log_y=spread > 30,
        trials=[_trial_values(m, THROUGHPUT, label.replace("\n", " "))
                for m, label in zip(ordered, labels, strict=True)],
        unsafe=[m.durability == UNSAFE for m in ordered],
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
        + (" (within noise)" if overlaps(fastest.stats[THROUGHPUT], slowest.stats[THROUGHPUT])
           else "")
        + (f", but {' and '.join(str(m.values['location']) for m in ram)} "
           f"{'keeps' if len(ram) == 1 else 'keep'} the queue in RAM and "
           f"{'loses' if len(ram) == 1 else 'lose'} it on a reboot" if ram else "")
        + ".")
    return block


def cache_chart(a: Analysis) -> ChartBlock:
    """Jobs/s per SQLite cache size."""
    block, ordered = _bar_chart(a, "cache", "cache_size", "Cache size",
                                lambda m: num.cache_label(m.values.get("cache_size")))
    if not ordered:
        return block
    meds = [m.median() for m in ordered]
    change = max(meds) / min(meds) - 1 if min(meds) > 0 else math.nan
    fastest = max(ordered, key=lambda m: m.median())
    block.caption = (
        f"Median jobs/s for each SQLite cache size: the sizes differ by at most {change:.0%}, "
        f"fastest with {num.cache_label(fastest.values.get('cache_size'))}"
        + (" — within noise, so the default is fine." if _all_overlap(ordered) else "."))
    return block


def job_type_chart(a: Analysis) -> ChartBlock:
    """Jobs/s per job type at the same settings."""
    block, ordered = _bar_chart(a, "job-types", "job_type", "Job types",
                                lambda m: str(m.values.get("job_type")))
    if not ordered:
        return block
    parts = [f"{m.values['job_type']} {num.number(m.median())}" for m in ordered]
    block.caption = ("Median jobs/s of each job type at the same settings ("
                     + ", ".join(parts) + " jobs/s): jobs that compute or wait dominate "
                     "the queue's own cost, so each job type gets its own recommendation "
                     "in the Summary.")
    return block


def queues_chart(a: Analysis) -> ChartBlock:
    """Jobs/s with one shared queue vs several queues served by specialised workers."""
    block, ordered = _bar_chart(a, "queues", "queues", "Specialised workers",
                                lambda m: f"{m.values.get('queues')} "
                                          f"queue{'s' if m.values.get('queues') != 1 else ''}")
    if not ordered:
        return block
    one = next((m for m in ordered if m.values.get("queues") == 1), ordered[0])
    parts = []
    for m in ordered:
        if m is one:
            continue
        ratio = m.median() / one.median() if one.median() else math.nan
        parts.append(f"{m.values['queues']} queues: {ratio:.2f}× "
                     + _difference_phrase(m, one))
    block.caption = (
        "Median jobs/s when all workers share one queue, and when the jobs are spread over "
        "several queues with each worker process serving only its own (as with "
        "gigq worker --queue NAME): " + "; ".join(parts)
        + ". This is the price, if any, of dedicating workers to queues.")
    return block


def isolation_chart(a: Analysis) -> ChartBlock:
    """Jobs/s with jobs in the worker's threads vs in killable child processes."""
    block, ordered = _bar_chart(a, "isolation", "isolation", "Process isolation",
                                lambda m: f"isolation={m.values.get('isolation')}")
    thread = next((m for m in ordered if m.values.get("isolation") == "thread"), None)
    process = next((m for m in ordered if m.values.get("isolation") == "process"), None)
    if thread is None or process is None or not thread.median():
        return block
    ratio = process.median() / thread.median()
    block.caption = (
        "Median jobs/s with jobs run in the worker's own threads (the default) and in a "
        "child process per worker thread, which a timeout can kill "
        f"(isolation=process): {ratio:.2f}× "
        + _difference_phrase(process, thread)
        + ". The cost is a round trip to the child per job; it matters for short jobs.")
    return block


def lease_chart(a: Analysis) -> ChartBlock:
    """Jobs/s against the lease timeout (heartbeat every third of it)."""
    block, ordered = _bar_chart(a, "leases", "lease_timeout", "Leases and heartbeats",
                                lambda m: f"lease {m.values.get('lease_timeout'):g} s")
    if len(ordered) < 2:
        return block
    longest = max(ordered, key=lambda m: m.values["lease_timeout"])
    parts = []
    for m in ordered:
        if m is longest or not longest.median():
            continue
        ratio = m.median() / longest.median()
        parts.append(f"{m.values['lease_timeout']:g} s: {ratio:.2f}× "
                     + _difference_phrase(m, longest))
    block.caption = (
        "Median jobs/s by lease timeout: workers renew their leases every third of it, "
        "and a shorter lease lets a hung worker's jobs be reclaimed sooner. Against "
        f"{longest.values['lease_timeout']:g} s: " + "; ".join(parts) + ".")
    return block


def _difference_phrase(a: Config, b: Config) -> str:
    """The badge of a caption's ratio: the effects' own test (see ``difference_test``)."""
    test = difference_test(a, b)
    if test is None:
        return "(too few repetitions to tell)"
    return "(a clear difference)" if test.significant else "(within noise)"


def _all_overlap(configs: Sequence[Config]) -> bool:
    ivs = [c.stats[THROUGHPUT] for c in configs]
    return all(overlaps(x, y) for x in ivs for y in ivs) and all(iv.n >= 2 for iv in ivs)


CHART_BUILDERS = (throughput_chart, io_concurrency_chart, latency_chart, lock_wait_chart,
                  lock_sites_chart, heatmap_chart, location_chart, cache_chart, job_type_chart,
                  trial_order_chart)

# Charts of dimensions that few runs vary: drawn when swept, otherwise left out
# without a note (one per run would be noise).
OPTIONAL_CHART_BUILDERS = {"isolation": isolation_chart, "lease_timeout": lease_chart,
                           "queues": queues_chart}


def durability_notes(a: Analysis) -> list[str]:
    """How the charts show durability, what power-loss-safe assumes, and where
    ``:memory:`` is (or why it is not in this run)."""
    notes = [f"Unsafe settings are hatched and labelled \"{UNSAFE}\" inside the charts (bars "
             "and heat-map cells; a line is labelled when all its points are), so the mark "
             "survives print and needs no colour vision.",
             "Power-loss-safe assumes the disk honours fsync: a drive, controller or virtual "
             "disk that acknowledges writes before they are stored can lose committed jobs in "
             "a power cut whatever the settings say."]
    in_memory = [c for c in a.configs if c.values.get("location") == MEMORY]
    skipped = [s for s in a.results.skipped
               if (s.get("config") or {}).get("location") == MEMORY]
    if in_memory:
        notes.append(":memory: is in this run: the database lives in the worker process and "
                     "dies with it, so it is unsafe and never recommended; it shows what the "
                     "disk costs.")
    elif skipped:
        reasons = sorted({str(s.get("reason") or "no reason recorded") for s in skipped})
        notes.append(":memory: was planned but not measured: " + "; ".join(reasons) + ".")
    else:
        notes.append("This run has no :memory: location (sweep location=memory to add it): "
                     "an in-memory database shows what the disk costs, but lives in one "
                     "process and is lost with it, so it is never recommended.")
    return notes


def add_charts(a: Analysis) -> Analysis:
    """Fill ``a.charts`` (nothing to draw when no trial is valid); returns ``a``."""
    if a.empty:
        a.charts = []
        return a
    a.charts = [build(a) for build in CHART_BUILDERS]
    a.charts += [build(a) for dim, build in OPTIONAL_CHART_BUILDERS.items() if dim in a.swept]
    return a
