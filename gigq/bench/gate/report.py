"""How a :class:`~gigq.bench.gate.compare.Comparison` is shown: terminal, markdown, HTML.

The HTML page is one self-contained file (inline CSS, SVG and the kit's table.js for
sorting, no network), in the style of the sweep report. Every chart is drawn in
*slowdown-factor* space on a log scale, so "worse" is always to the right whatever the
metric's direction.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone
from typing import Any

from ..exit_codes import ExitCode
from ..numbers import measure, percent
from ..report.render import jinja_environment
from .compare import (
    FASTER,
    IDENTICAL_WARNING,
    INCONCLUSIVE,
    SLOWER,
    UNCHANGED,
    VERDICTS,
    Comparison,
    Row,
    Side,
)

ANSI = {SLOWER: "\x1b[1;31m", FASTER: "\x1b[32m", INCONCLUSIVE: "\x1b[33m", UNCHANGED: ""}
ANSI_RESET = "\x1b[0m"
MARK = {SLOWER: "\u274c", FASTER: "\U0001f680", INCONCLUSIVE: "\u26a0\ufe0f",
        UNCHANGED: "\u2705"}
TIMES = "\u00d7"
ARROW = {True: "\u2191", False: "\u2193"}  # higher / lower is better
TOP_CHANGES = 5  # rows besides the regressions that a PR comment lists before folding


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


def how_measured(comparison: Comparison) -> str:
    """``both versions interleaved in one run, …`` or ``two separate runs (unpaired)``."""
    paired = any(r.result.paired for r in comparison.rows)
    return ("both versions interleaved in one run, paired by repetition" if paired
            else "two separate runs (unpaired)")


def describe_run(comparison: Comparison) -> str:
    """One sentence on what was compared and how the two sides were measured."""
    return (f"base {comparison.base.name} vs current {comparison.current.name}; "
            f"{how_measured(comparison)}")


def noise_line(comparison: Comparison) -> str:
    """``jobs_per_sec 18% (threshold 25%), … (A/A calibration: …)``, or "" if unknown."""
    parts = []
    for f in comparison.noise_floors():
        value = f["noise"] if f["measured"] else f["calibrated"]
        if value is not None:
            parts.append(f"{f['metric']} {percent(value)} (threshold {percent(f['threshold'])})")
    if not parts:
        return ""
    source = ("measured by this A/A comparison" if comparison.calibration
              else f"A/A calibration: {comparison.thresholds.noise_source or 'thresholds file'}")
    return ", ".join(parts) + f" ({source})"


def largest_changes(comparison: Comparison, count: int = TOP_CHANGES) -> list[Row]:
    """The ``count`` rows other than regressions that moved most, either way."""
    rows = [r for r in comparison.rows if r.verdict != SLOWER
            and math.isfinite(r.result.factor) and r.result.factor > 0]
    rows.sort(key=lambda r: -abs(math.log(r.result.factor)))
    return [r for r in rows[:count] if abs(r.result.factor - 1) >= 0.005]


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
    if comparison.identical:
        out.append(f"!! {IDENTICAL_WARNING}")
    out += [f"correctness regression: {i.message}" for i in comparison.correctness]
    out += [f"  {describe_run(comparison)}",
           f"  threshold {percent(comparison.thresholds.default)} (default), "
           f"{comparison.level:.0%} confidence; change = how many times worse/better"]
    if noise_line(comparison):
        out.append(f"  noise floor: {noise_line(comparison)}")
    out.append("")
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
        if warning != IDENTICAL_WARNING:  # said at the top already
            out.append(f"warning: {warning}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# Markdown (a PR comment or a CI step summary)


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(comparison: Comparison) -> str:
    """GitHub-flavoured markdown, short enough for a PR comment: the outcome, what was
    compared, the regressions and the largest other changes, the warnings; the full
    table and the reading guide folded in ``<details>``."""
    code = comparison.exit_code
    title = {ExitCode.OK: "\u2705 no performance regression",
             ExitCode.FAILED: "\u274c performance regression",
             ExitCode.BAD_INPUT: "\u26a0\ufe0f nothing comparable",
             ExitCode.INCONCLUSIVE: "\u26a0\ufe0f inconclusive (strict)"}[code]
    if code == ExitCode.OK and comparison.nothing_judged:
        title = (f"\u26a0\ufe0f nothing could be judged: all {len(comparison.rows)} rows "
                 "inconclusive")
    elif code == ExitCode.OK and comparison.count(INCONCLUSIVE):
        title = "\u2705 no performance regression found (some rows inconclusive)"
    if comparison.correctness:
        title = "\u274c correctness regression (jobs lost or run twice)"
    if comparison.identical:
        title = "\u26a0\ufe0f identical data on both sides: nothing was compared"
    counts = " \u00b7 ".join(
        (f"**{comparison.count(v)} {v}**" if v == SLOWER and comparison.count(v) else
         f"{comparison.count(v)} {v}") for v in (SLOWER, INCONCLUSIVE, FASTER, UNCHANGED))
    out = [f"### gigq-bench: {title}", ""]
    if comparison.identical:
        out += [f"> [!WARNING]\n> **{_md(IDENTICAL_WARNING)}**", ""]
    if comparison.correctness:
        out += [f"- **correctness regression**: {_md(i.message)}"
                for i in comparison.correctness] + [""]
    out += [f"{counts} \u2014 threshold {percent(comparison.thresholds.default)}, "
           f"{comparison.level:.0%} confidence, exit code {code}", "",
           f"Base: {_md(_side_text(comparison.base))}  ",
           f"Current: {_md(_side_text(comparison.current))}  ",
           f"Measured: {how_measured(comparison)}"]
    if noise_line(comparison):
        out[-1] += "  "
        out.append(f"Noise floor: {_md(noise_line(comparison))}")
    out.append("")
    slower = [r for r in comparison.sorted_rows() if r.verdict == SLOWER]
    if slower:
        out += [f"**Regressions ({len(slower)})**", "", *_md_table(slower), ""]
    elif comparison.rows:
        out += ["No regression beyond the threshold.", ""]
    top = largest_changes(comparison)
    if top:
        out += [f"**Largest other changes (top {len(top)})**", "", *_md_table(top), ""]
    if comparison.rows:
        out += [f"<details><summary>All {len(comparison.rows)} rows</summary>", "",
                *_md_table(comparison.sorted_rows()), "", "</details>", ""]
    warnings = [w for w in comparison.warnings if w != IDENTICAL_WARNING]
    if warnings:
        out += [f"> \u26a0\ufe0f {_md(w)}" for w in warnings] + [""]
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
        "`gigq-bench ab --baseline HEAD`. The *noise floor* is how far from no change an "
        "A/A comparison (the same code on both sides) reached: a change below it is "
        "indistinguishable from noise.", "", "</details>", ""]
    return "\n".join(out)


def _md_table(rows: list[Row]) -> list[str]:
    lines = ["| | configuration | metric | base | current | current/base [95% CI] "
             "| change | threshold | verdict |",
             "|---|---|---|---:|---:|---:|---|---:|---|"]
    for row in rows:
        r = row.result
        verdict = f"**{row.verdict}**" if row.verdict == SLOWER else row.verdict
        lines.append(
            f"| {MARK[row.verdict]} | {_md(row.label)} | {_md(metric_label(row))} "
            f"| {measure(r.base_median)} | {measure(r.current_median)} "
            f"| {fmt_ratio(row)} | {fmt_change(row)} | {percent(r.threshold)} "
            f"| {verdict}: {_md(r.reason)} |"
        )
    return lines


def _side_text(side: Side) -> str:
    """``**HEAD~1 (3f2a9c1d0e)** (`baseline`, git HEAD~1 = …, 16 valid trials)``."""
    bits = [f"`{side.label}`"]
    if side.description not in (side.label, side.name):
        bits.append(side.description)
    bits.append(f"{len(side.rows)} valid trials")
    if side.invalid:
        bits.append(f"{side.invalid} invalid")
    return f"**{side.name}** ({', '.join(bits)})"


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


def _html_row(row: Row, axis: _Axis, rank: dict[str, int]) -> dict[str, Any]:
    from ..metrics import METRICS

    r = row.result
    finite = math.isfinite(r.factor)
    return {
        "verdict": row.verdict, "rank": rank[row.verdict], "label": row.label,
        "metric": metric_label(row),
        "metric_help": METRICS[row.metric].description if row.metric in METRICS else "",
        "base": measure(r.base_median), "base_sort": _sort(r.base_median),
        "current": measure(r.current_median), "current_sort": _sort(r.current_median),
        "ratio": fmt_ratio(row), "ratio_sort": _sort(r.ratio.estimate),
        "change": fmt_change(row), "factor_sort": _sort(r.factor) if finite else "",
        "svg": _svg_bar(row, axis), "reason": r.reason, "note": row.note,
    }


def _sort(value: float) -> str:
    """A cell's ``data-sort``: the raw number ("" when missing, which sorts last)."""
    return repr(float(value)) if math.isfinite(value) else ""


def _side_fields(side: Side) -> list[tuple[str, Any]]:
    e = side.results.environment
    entry = side.version_entry
    items: list[tuple[str, Any]] = [("what it is", side.name), ("label", side.label)]
    if side.description not in (side.label, side.name):
        items.append(("built from", side.description))
    items += [("results", str(side.results.path or "")),
              ("valid trials", len(side.rows)), ("invalid trials", side.invalid)]
    gigq = entry.get("gigq_version") or e.get("gigq_version")
    if gigq:
        items.append(("gigq version", gigq))
    if side.commit:
        items.append(("git commit", side.commit))
    for key in ("python", "sqlite_version", "hostname", "cpu_model", "cores", "started_at"):
        if e.get(key) is not None:
            items.append((key.replace("_", " "), e[key]))
    return items


def _noise_rows(comparison: Comparison) -> list[dict[str, Any]]:
    """The noise-floor table: per metric, its threshold, the calibrated and the measured
    floor, and whether the threshold sits below the floor (false alarms then likely)."""
    out = []
    for f in comparison.noise_floors():
        floor = f["noise"] if f["measured"] else f["calibrated"]
        out.append({
            "metric": f["metric"], "threshold": percent(f["threshold"]),
            "calibrated": percent(f["calibrated"]) if f["calibrated"] is not None else "",
            "measured": percent(f["noise"]) if f["measured"] else "",
            "below": floor is not None and math.isfinite(floor) and floor > f["threshold"],
        })
    return out


def render_html(comparison: Comparison, command: str = "") -> str:
    """The comparison as one self-contained HTML page: regressions first, every other
    row folded, sortable tables (the kit's table.js, inline), the noise floor."""
    rows = comparison.sorted_rows()
    axis = _Axis(rows)
    rank = {v: i for i, v in enumerate(VERDICTS)}
    code = comparison.exit_code
    banner_class = {ExitCode.OK: "good", ExitCode.FAILED: "bad"}.get(code, "")
    if code == ExitCode.OK and comparison.count(INCONCLUSIVE):
        banner_class = ""
    if comparison.identical:
        banner_class = "bad"
    shown = [_html_row(r, axis, rank) for r in rows]
    others = [r for r in shown if r["verdict"] != SLOWER]
    folded = ", ".join(f"{comparison.count(v)} {v}" for v in VERDICTS
                       if v != SLOWER and comparison.count(v))
    return jinja_environment().get_template("compare.html.j2").render(
        headline=comparison.headline,
        title=("Identical data: nothing compared" if comparison.identical else
               "Correctness regression" if comparison.correctness else
               "Nothing could be judged: every row inconclusive"
               if comparison.nothing_judged else
               {ExitCode.OK: "No performance regression",
                ExitCode.FAILED: "Performance regression",
                ExitCode.BAD_INPUT: "Nothing comparable",
                ExitCode.INCONCLUSIVE: "Inconclusive"}[code]),
        identical=IDENTICAL_WARNING if comparison.identical else "",
        correctness=[i.message for i in comparison.correctness],
        base_name=comparison.base.name, current_name=comparison.current.name,
        run=how_measured(comparison),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        banner=f"Exit code {code}: {comparison.headline}",
        banner_class=banner_class,
        counts=[(v, comparison.count(v)) for v in (SLOWER, INCONCLUSIVE, FASTER, UNCHANGED)],
        threshold=percent(comparison.thresholds.default),
        level=f"{comparison.level:.0%}",
        warnings=[w for w in comparison.warnings if w != IDENTICAL_WARNING],
        axis=_svg_axis(axis),
        any_rows=bool(rows),
        regressions=[r for r in shown if r["verdict"] == SLOWER],
        others=others,
        folded=folded,
        noise=_noise_rows(comparison),
        noise_source=comparison.thresholds.noise_source,
        calibration=comparison.calibration,
        only_base=comparison.only_in_base,
        only_current=comparison.only_in_current,
        sides=[{"title": f"{title}: {side.name}", "fields": _side_fields(side)}
               for title, side in (("Base", comparison.base), ("Current", comparison.current))],
        command=command,
    )
