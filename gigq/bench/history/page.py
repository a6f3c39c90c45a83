"""The history page: per configuration, charts of each plotted metric over the runs,
gate verdicts marked, and the table of runs. One self-contained HTML file."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import numbers as num
from ..gate.compare import VERDICTS
from ..html import format as fmt
from ..html.charts import LineChart, Series, to_svg
from ..report.render import Cell, Column, Row, Table, jinja_environment
from ..results import write_atomic
from ..stats import median
from .runs import Run, Verdict, load_runs, short_commit
from .series import (
    CEILING_RATIO,
    LOCK_SHARE,
    PLOTTED_METRICS,
    THROUGHPUT,
    ConfigHistory,
    History,
    build_history,
)

DEFAULT_NAME = "history.html"
TITLES = {
    THROUGHPUT: "jobs/s",
    CEILING_RATIO: "jobs/s ÷ the same run's SQLite ceiling",
    LOCK_SHARE: "lock-wait share",
}
# How a verdict reads under a chart's x axis; "correctness" marks lost or doubled jobs.
MARKS = {"slower": "▼ slower", "faster": "▲ faster", "inconclusive": "? inconclusive",
         "unchanged": "= unchanged", "correctness": "✕ jobs lost"}
# More tick labels than this crowd the axis: only every k-th run (and marked runs) is named.
MAX_TICK_LABELS = 10


@dataclass
class Figure:
    """One chart of a configuration, ready for the template."""

    key: str
    title: str
    svg: str
    caption: str


@dataclass
class ConfigBlock:
    """A configuration's section: its charts and the verdicts the gate gave it."""

    key: str
    label: str
    config_id: str
    figures: list[Figure]
    verdicts: list[tuple[str, str, str, str]]  # run, metric, verdict, reason


def _verdict_for(verdicts: Sequence[Verdict], metric: str) -> str | None:
    if any(v.verdict == "correctness" for v in verdicts):
        return "correctness"
    return next((v.verdict for v in verdicts if v.metric == metric), None)


def tick_labels(runs: Sequence[Run], marks: Sequence[str | None]) -> list[str]:
    """Per run: short commit, date, and the verdict mark; thinned when runs are many."""
    step = max(1, math.ceil(len(runs) / MAX_TICK_LABELS))
    labels = []
    for i, (run, mark) in enumerate(zip(runs, marks, strict=True)):
        if i % step and not mark and i != len(runs) - 1:
            labels.append("")
            continue
        day = run.started.strftime("%m-%d") if run.started else "?"
        labels.append("\n".join(x for x in (run.label, day, MARKS.get(mark or "", "")) if x))
    return labels


def chart(history: History, config: ConfigHistory, metric: str) -> LineChart:
    """The line of ``metric`` over the runs that measured it, with its 95% band."""
    measured = [(i, p) for i, p in enumerate(config.points[metric]) if p is not None]
    scale = 100.0 if fmt.is_share(metric) else 1.0
    series = Series("median of the run's valid trials", [float(i) for i, _ in measured],
                    [p.estimate * scale for _, p in measured],
                    [p.low * scale for _, p in measured],
                    [p.high * scale for _, p in measured])
    marks = [_verdict_for(v, metric) for v in config.verdicts]
    return LineChart(
        title=f"{TITLES[metric]} — {config.label}", x_label="run (oldest first)",
        y_label=fmt.metric_label(metric), series=[series],
        x_ticks=[float(i) for i in range(len(history.runs))],
        x_tick_labels=tick_labels(history.runs, marks), y_percent=scale != 1.0,
    )


def _caption(metric: str, config: ConfigHistory, runs: Sequence[Run]) -> str:
    points = [p for p in config.points[metric] if p is not None]
    first, last = points[0].estimate, points[-1].estimate
    change = (f"; newest/oldest {last / first:.2f}×" if first else "")
    what = {
        THROUGHPUT: "Median jobs/s of each run with its 95% interval. Other load on the "
                    "machine moves it as much as code does: read it with the chart below.",
        CEILING_RATIO: "jobs/s divided by raw SQLite commits/s measured in the same run. "
                       "Machine drift that slows commits cancels here, but the ceiling "
                       "is one short measurement per run with its own noise, and jobs "
                       "that mostly wait (io) are not limited by commits: read a step "
                       "as GigQ's only when raw jobs/s moved the same way.",
        LOCK_SHARE: "Share of worker time spent waiting for SQLite locks.",
    }[metric]
    return f"{what} {len(points)} of {len(runs)} runs measured it{change}."


def config_blocks(history: History) -> list[ConfigBlock]:
    """Each plotted configuration with its charts (SVG drawn) and verdicts."""
    blocks = []
    for n, config in enumerate(history.configs, start=1):
        key = f"config-{n}"
        figures = [Figure(f"{key}-{m.replace('_', '-')}", TITLES[m],
                          to_svg(chart(history, config, m), f"{key}-{m}"),
                          _caption(m, config, history.runs))
                   for m in PLOTTED_METRICS if config.has(m)]
        verdicts = [(f"#{i + 1} {history.runs[i].label}", v.metric, v.verdict, v.reason)
                    for i, vs in enumerate(config.verdicts) for v in vs]
        blocks.append(ConfigBlock(key, config.label, config.config_id, figures, verdicts))
    return blocks


def gate_summary(run: Run) -> str:
    """``pass: 1 inconclusive, 5 unchanged``: the gate's outcome (its headline up to the
    colon) and the verdicts it gave, zeros left out; ``–`` for a run without any."""
    if not run.gate:
        return "–"
    counts = Counter(v.verdict for vs in run.verdicts.values() for v in vs
                     if v.verdict != "correctness")
    given = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
    outcome = run.gate.split(":", 1)[0]
    return f"{outcome}: {given}" if given else outcome


def runs_table(history: History) -> Table:
    """One row per run, oldest first: what identifies it and what it measured."""
    table = Table([Column("#", numeric=True), Column("commit"), Column("date", "UTC"),
                   Column("machine"), Column("profile"), Column("gate"),
                   Column("valid trials", numeric=True),
                   Column("SQLite ceiling", "commits/s", numeric=True,
                          title="median of the run's ceiling probes: the machine's speed"),
                   Column("GigQ"), Column("directory")])
    for i, run in enumerate(history.runs, start=1):
        rows = run.rows
        valid = int(rows["valid"].astype(bool).sum()) if "valid" in rows else len(rows)
        ceiling = (median(list(rows["ceiling_commits_per_sec"]))
                   if "ceiling_commits_per_sec" in rows else math.nan)
        gate = gate_summary(run)
        if run.baseline:
            gate = f"{gate} (vs {run.baseline})" if run.gate else f"ab vs {run.baseline}"
        table.rows.append(Row([
            Cell(str(i), i, numeric=True), Cell(short_commit(run.commit) or "–",
                                                title=run.commit or ""),
            Cell(run.date, run.started.isoformat() if run.started else ""),
            Cell(run.machine, wrap=True, title=str(run.environment.get("cpu_model") or "")),
            Cell(run.profile), Cell(gate, wrap=True, title=run.gate or ""),
            Cell(f"{valid} of {len(rows)}", valid, numeric=True),
            Cell(num.number(ceiling), None if math.isnan(ceiling) else ceiling, numeric=True),
            Cell(run.gigq_version or "–"), Cell(run.path.name, title=str(run.path)),
        ], "invalid" if run.gate and "CORRECTNESS" in run.gate else ""))
    return table


def summary(history: History) -> tuple[str, list[str]]:
    """The page's lede and its notices (one run, nothing in common, several machines)."""
    runs = history.runs
    dated = [r for r in runs if r.started]
    span = f"{dated[0].date} to {dated[-1].date} UTC" if dated else "dates unknown"
    lede = (f"{len(runs)} run{'s' if len(runs) != 1 else ''}, {span}; "
            f"{len(history.configs)} configuration{'s' if len(history.configs) != 1 else ''} "
            "measured in several runs")
    notices = []
    if len(runs) == 1:
        notices.append("Only one run: a history draws a configuration once at least two "
                       "runs measured it, so nothing is plotted yet. Keep one run "
                       "directory per commit and pass them all.")
    elif not history.configs:
        notices.append("No configuration has valid trials in two of these runs, so "
                       "nothing is plotted: runs of the same profile share their "
                       "configurations (see the list below).")
    machines = sorted({r.environment.get("hostname") or "unknown" for r in runs})
    if len(machines) > 1:
        notices.append(f"These runs come from {len(machines)} machines "
                       f"({', '.join(machines)}): compare the charts divided by the "
                       "ceiling, which cancel a machine's speed.")
    return lede, notices


def render_html(history: History) -> str:
    """The history page as one HTML document."""
    lede, notices = summary(history)
    template = jinja_environment().get_template("history.html.j2")
    return template.render(
        title="GigQ performance history", lede=lede, notices=notices,
        blocks=config_blocks(history), runs=runs_table(history),
        unplotted=history.unplotted, marks=MARKS,
    )


def write_history(paths: Sequence[str | os.PathLike[str]],
                  out: str | os.PathLike[str] | None = None) -> Path:
    """Load the runs named by ``paths`` (run directories or directories of them), write
    the history page and return its path.

    ``out`` is a file, or a directory for ``history.html``; default: ``history.html`` in
    the one directory of runs given, else in the current directory. Raises
    :class:`gigq.bench.history.runs.HistoryError` (a ResultsError) on bad input.
    """
    history = build_history(load_runs(paths))
    if out is None:
        single = Path(paths[0]) if len(paths) == 1 else None
        holder = single is not None and single.is_dir() and not (single / "results.json").exists()
        out = (single / DEFAULT_NAME) if holder and single else Path(DEFAULT_NAME)
    target = Path(out)
    if target.is_dir():
        target = target / DEFAULT_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(target, render_html(history))
