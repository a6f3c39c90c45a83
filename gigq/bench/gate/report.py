"""How a :class:`~gigq.bench.gate.compare.Comparison` is shown: terminal, markdown, HTML.

The HTML page is one self-contained file (inline CSS and SVG, no scripts, no network),
in the style of the sweep report. Every chart is drawn in *slowdown-factor* space on
a log scale, so "worse" is always to the right whatever the metric's direction.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone
from typing import Any

from ..numbers import measure, percent
from ..report.render import jinja_environment
from .compare import FASTER, INCONCLUSIVE, SLOWER, UNCHANGED, Comparison, Row

ANSI = {SLOWER: "\x1b[1;31m", FASTER: "\x1b[32m", INCONCLUSIVE: "\x1b[33m", UNCHANGED: ""}
ANSI_RESET = "\x1b[0m"
MARK = {SLOWER: "\u274c", FASTER: "\U0001f680", INCONCLUSIVE: "\u26a0\ufe0f",
        UNCHANGED: "\u2705"}
TIMES = "\u00d7"
ARROW = {True: "\u2191", False: "\u2193"}  # higher / lower is better


def fmt_ratio(row: Row) -> str:
    """``0.76 [0.71, 0.80]``: current/base with its interval."""
    r = row.result.ratio
    if not math.isfinite(r.estimate):
        return "n/a"
    if r.low == r.high:
        return f"{r.estimate:.2f}"
    return f"{r.estimate:.2f} [{r.low:.2f}, {r.high:.2f}]"


def fmt_change(row: Row) -> str:
    """``1.31x worse`` / ``1.10x better`` / ``same``: the slowdown factor in words."""
    f = row.result.factor
    if not math.isfinite(f):
        return "n/a"
    if abs(f - 1) < 0.005:
        return "same"
    if f > 1:
        return f"{f:.2f}{TIMES} worse"
    return f"{1 / f:.2f}{TIMES} better"


def metric_label(row: Row) -> str:
    """``jobs_per_sec ↑`` (arrow: the better direction)."""
    return f"{row.metric} {ARROW[row.higher_is_better]}"


def describe_run(comparison: Comparison) -> str:
    """One sentence on how the two sides were measured."""
    paired = any(r.result.paired for r in comparison.rows)
    how = ("both versions interleaved in one run, paired by repetition" if paired
           else "two separate runs (unpaired)")
    return f"{comparison.base.description} vs {comparison.current.description}; {how}"


# ---------------------------------------------------------------------------
# Terminal


def render_terminal(comparison: Comparison, color: bool = False, width: int = 0) -> str:
    """A fixed-width table with a headline and the reasons for non-unchanged rows."""
    header = ("verdict", "configuration", "metric", "base", "current",
              "current/base [CI]", "change", "n")
    lines_data = []
    for row in comparison.sorted_rows():
        r = row.result
        n = f"{r.n_base}" + ("p" if r.paired else f"/{r.n_current}")
        lines_data.append((row.verdict, row.label, metric_label(row),
                           measure(r.base_median), measure(r.current_median),
                           fmt_ratio(row), fmt_change(row), n))
    widths = [max(len(h), *(len(line[i]) for line in lines_data)) if lines_data else len(h)
              for i, h in enumerate(header)]
    if width:
        # Keep the table inside the terminal: the configuration column gives way first.
        excess = sum(widths) + 2 * (len(widths) - 1) - width
        if excess > 0:
            widths[1] = max(16, widths[1] - excess)

    def line(cells: tuple[str, ...], verdict: str | None = None) -> str:
        parts = []
        for i, (cell, w) in enumerate(zip(cells, widths, strict=True)):
            cell = cell if len(cell) <= w else cell[: w - 1] + "\u2026"
            text = cell.rjust(w) if i >= 3 and i != 6 else cell.ljust(w)
            if i == 0 and color and verdict and ANSI[verdict]:
                text = ANSI[verdict] + text + ANSI_RESET
            parts.append(text)
        return "  ".join(parts).rstrip()

    out = [f"gigq-bench compare: {comparison.headline}"]
    out += [f"correctness regression: {i.message}" for i in comparison.correctness]
    out += [f"  {describe_run(comparison)}",
           f"  threshold {percent(comparison.thresholds.default)} (default), "
           f"{comparison.level:.0%} confidence; change = how many times worse/better",
           ""]
    if lines_data:
        out.append(line(header))
        out.append(line(tuple("-" * w for w in widths)))
        for cells in lines_data:
            out.append(line(cells, cells[0]))
    notable = [r for r in comparison.sorted_rows() if r.verdict != UNCHANGED]
    if notable:
        out.append("")
        for row in notable:
            out.append(f"{row.verdict}: {row.label} {row.metric}: {row.result.reason}"
                       + (f" ({row.note})" if row.note else ""))
    for warning in comparison.warnings:
        out.append(f"warning: {warning}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# Markdown (a PR comment or a CI step summary)


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(comparison: Comparison) -> str:
    """GitHub-flavoured markdown: headline, the table, the reading guide, the warnings."""
    code = comparison.exit_code
    title = {0: "\u2705 no performance regression", 1: "\u274c performance regression",
             2: "\u26a0\ufe0f nothing comparable",
             3: "\u26a0\ufe0f inconclusive (strict)"}[code]
    if code == 0 and comparison.count(INCONCLUSIVE):
        title = "\u2705 no performance regression found (some rows inconclusive)"
    if comparison.correctness:
        title = "\u274c correctness regression (jobs lost or run twice)"
    counts = " \u00b7 ".join(
        (f"**{comparison.count(v)} {v}**" if v == SLOWER and comparison.count(v) else
         f"{comparison.count(v)} {v}") for v in (SLOWER, INCONCLUSIVE, FASTER, UNCHANGED))
    out = [f"### gigq-bench: {title}", ""]
    if comparison.correctness:
        out += [f"- **correctness regression**: {_md(i.message)}"
                for i in comparison.correctness] + [""]
    out += [f"{counts} \u2014 threshold {percent(comparison.thresholds.default)}, "
           f"{comparison.level:.0%} confidence, exit code {code}", "",
           f"Base: {_md(_side_text(comparison, 'base'))}  ",
           f"Current: {_md(_side_text(comparison, 'current'))}  ",
           f"Measured: {_md(describe_run(comparison))}", ""]
    if comparison.rows:
        out += ["| | configuration | metric | base | current | current/base [95% CI] "
                "| change | threshold | verdict |",
                "|---|---|---|---:|---:|---:|---|---:|---|"]
        for row in comparison.sorted_rows():
            r = row.result
            verdict = f"**{row.verdict}**" if row.verdict == SLOWER else row.verdict
            out.append(
                f"| {MARK[row.verdict]} | {_md(row.label)} | {_md(metric_label(row))} "
                f"| {measure(r.base_median)} | {measure(r.current_median)} "
                f"| {fmt_ratio(row)} | {fmt_change(row)} | {percent(r.threshold)} "
                f"| {verdict}: {_md(r.reason)} |"
            )
        out.append("")
    if comparison.warnings:
        out += [f"> \u26a0\ufe0f {_md(w)}" for w in comparison.warnings] + [""]
    out += [
        "<details><summary>How to read this</summary>", "",
        "Each row is one configuration and one metric. *current/base* is the ratio of "
        "the medians with its bootstrap confidence interval; \u2191 marks metrics where "
        "higher is better (jobs/s), \u2193 where lower is better (latency, CPU). *change* "
        "says how many times worse or better the current version is. A row is **slower** "
        "only when the change is beyond the threshold *and* statistically clear "
        "(the interval excludes 1 and a randomisation test agrees); only those fail the "
        "gate. *inconclusive* means the data cannot rule out a regression beyond the "
        "threshold: add repetitions, or calibrate the threshold with "
        "`gigq-bench ab --baseline HEAD`.", "", "</details>", ""]
    return "\n".join(out)


def _side_text(comparison: Comparison, which: str) -> str:
    side = comparison.base if which == "base" else comparison.current
    env = side.results.environment
    bits = [f"`{side.label}`"]
    if side.description != side.label:
        bits.append(side.description)
    if env.get("git_commit") and side.label == "current":
        bits.append(f"commit {str(env['git_commit'])[:12]}")
    bits.append(f"{len(side.rows)} valid trials")
    if side.invalid:
        bits.append(f"{side.invalid} invalid")
    return ", ".join(bits)


# ---------------------------------------------------------------------------
# HTML


_CHART_W, _CHART_H = 220, 22
_TICK_LABEL_W = 34  # px between tick centres, so labels such as 0.67× never overlap


class _Axis:
    """Log-scale mapping shared by every row's bar, so bars are comparable."""

    def __init__(self, rows: list[Row]) -> None:
        values = [1.0]
        for row in rows:
            r = row.result
            for x in (r.factor_low, r.factor_high, 1 + r.threshold, 1 / (1 + r.threshold)):
                if math.isfinite(x) and x > 0:
                    values.append(x)
        lo, hi = min(values), max(values)
        # Symmetric around 1 in log space; at least +-30%, at most 10x.
        span = min(max(abs(math.log(lo)), abs(math.log(hi)), math.log(1.3)) * 1.1,
                   math.log(10))
        self.lo, self.hi = -span, span

    def x(self, factor: float) -> float:
        v = min(max(math.log(factor), self.lo), self.hi) if factor > 0 else self.lo
        return 4 + (v - self.lo) / (self.hi - self.lo) * (_CHART_W - 8)


def _svg_bar(row: Row, axis: _Axis) -> str:
    r = row.result
    t = 1 + r.threshold
    parts = [f'<svg class="ci" width="{_CHART_W}" height="{_CHART_H}" role="img" '
             f'aria-label="{html.escape(fmt_change(row))}" xmlns="http://www.w3.org/2000/svg">']
    x0, x1 = axis.x(1 / t), axis.x(t)
    parts.append(f'<rect x="{x0:.1f}" y="2" width="{x1 - x0:.1f}" height="{_CHART_H - 4}" '
                 'fill="#eef3f8"/>')
    parts.append(f'<rect x="{x1:.1f}" y="2" width="{_CHART_W - 4 - x1:.1f}" '
                 f'height="{_CHART_H - 4}" fill="#fdecec"/>')
    one = axis.x(1.0)
    parts.append(f'<line x1="{one:.1f}" x2="{one:.1f}" y1="0" y2="{_CHART_H}" '
                 'stroke="#8a94a3" stroke-width="1"/>')
    if math.isfinite(r.factor) and math.isfinite(r.factor_low) and r.factor_low > 0:
        color = {SLOWER: "#c62828", FASTER: "#2e7d32", INCONCLUSIVE: "#b26a00",
                 UNCHANGED: "#1f5fa8"}[row.verdict]
        a, b = axis.x(r.factor_low), axis.x(r.factor_high)
        mid = _CHART_H / 2
        parts.append(f'<line x1="{a:.1f}" x2="{b:.1f}" y1="{mid}" y2="{mid}" '
                     f'stroke="{color}" stroke-width="4" stroke-linecap="round"/>')
        parts.append(f'<circle cx="{axis.x(r.factor):.1f}" cy="{mid}" r="4.5" '
                     f'fill="#fff" stroke="{color}" stroke-width="2"/>')
        parts.append(f"<title>{html.escape(fmt_change(row))}; interval "
                     f"{r.factor_low:.2f}\u2013{r.factor_high:.2f}{TIMES}</title>")
    parts.append("</svg>")
    return "".join(parts)


def _svg_axis(axis: _Axis) -> str:
    # Outward from 1, each tick only where its label clears the ones kept already.
    candidates = (1.0, 1.25, 0.8, 1.5, 0.67, 2.0, 0.5, 3.0, 0.33, 5.0, 0.2, 10.0, 0.1)
    ticks: list[float] = []
    for t in candidates:
        if axis.lo <= math.log(t) <= axis.hi and all(
                abs(axis.x(t) - axis.x(k)) >= _TICK_LABEL_W for k in ticks):
            ticks.append(t)
    parts = [f'<svg width="{_CHART_W}" height="16" xmlns="http://www.w3.org/2000/svg" '
             'role="img" aria-label="slowdown factor axis">']
    for t in ticks:
        parts.append(f'<text x="{axis.x(t):.1f}" y="12" font-size="10" text-anchor="middle" '
                     f'fill="#5f6b7a">{t:g}{TIMES}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(comparison: Comparison, command: str = "") -> str:
    """The comparison as one self-contained HTML page."""
    from ..metrics import METRICS

    rows = comparison.sorted_rows()
    axis = _Axis(rows)
    code = comparison.exit_code
    banner_class = {0: "good", 1: "bad"}.get(code, "")
    if code == 0 and comparison.count(INCONCLUSIVE):
        banner_class = ""
    sides = []
    for title, side in (("Base", comparison.base), ("Current", comparison.current)):
        e = side.results.environment
        items = [("version", side.label), ("description", side.description),
                 ("results", str(side.results.path or "")),
                 ("valid trials", len(side.rows)), ("invalid trials", side.invalid)]
        for key in ("gigq_version", "git_commit", "python", "sqlite_version", "hostname",
                    "cpu_model", "cores", "started_at"):
            if e.get(key) is not None:
                items.append((key.replace("_", " "), e[key]))
        sides.append({"title": f"{title}: {side.label}", "fields": items})
    return jinja_environment().get_template("compare.html.j2").render(
        headline=comparison.headline,
        title=("Correctness regression" if comparison.correctness else
               {0: "No performance regression", 1: "Performance regression",
                2: "Nothing comparable", 3: "Inconclusive"}[code]),
        correctness=[i.message for i in comparison.correctness],
        run=describe_run(comparison),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        banner=f"Exit code {code}: {comparison.headline}",
        banner_class=banner_class,
        counts=[(v, comparison.count(v)) for v in (SLOWER, INCONCLUSIVE, FASTER, UNCHANGED)],
        threshold=percent(comparison.thresholds.default),
        level=f"{comparison.level:.0%}",
        warnings=comparison.warnings,
        axis=_svg_axis(axis),
        rows=[{
            "verdict": r.verdict, "label": r.label, "metric": metric_label(r),
            "metric_help": METRICS[r.metric].description if r.metric in METRICS else "",
            "base": measure(r.result.base_median),
            "current": measure(r.result.current_median),
            "ratio": fmt_ratio(r), "svg": _svg_bar(r, axis), "reason": r.result.reason,
            "note": r.note,
        } for r in rows],
        only_base=comparison.only_in_base,
        only_current=comparison.only_in_current,
        sides=sides,
        command=command,
    )
