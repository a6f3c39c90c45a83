"""How a :class:`~gigq.bench.compare.Comparison` is shown: terminal, markdown, HTML.

The HTML page is one self-contained file (inline CSS and SVG, no scripts, no network),
in the style of the sweep report. Every chart is drawn in *slowdown-factor* space on
a log scale, so "worse" is always to the right whatever the metric's direction.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone
from typing import Any

from jinja2 import Environment

from .compare import FASTER, INCONCLUSIVE, SLOWER, UNCHANGED, Comparison, Row

ANSI = {SLOWER: "\x1b[1;31m", FASTER: "\x1b[32m", INCONCLUSIVE: "\x1b[33m", UNCHANGED: ""}
ANSI_RESET = "\x1b[0m"
MARK = {SLOWER: "\u274c", FASTER: "\U0001f680", INCONCLUSIVE: "\u26a0\ufe0f",
        UNCHANGED: "\u2705"}
TIMES = "\u00d7"
ARROW = {True: "\u2191", False: "\u2193"}  # higher / lower is better


def fmt_value(value: float, unit: str = "") -> str:
    """A metric value with sensible precision: 5,123 / 42.1 / 0.0371."""
    if value is None or not math.isfinite(value):
        return "n/a"
    a = abs(value)
    if a >= 100:
        text = f"{value:,.0f}"
    elif a >= 10:
        text = f"{value:.1f}"
    elif a == 0:
        text = "0"
    else:
        text = f"{value:.3g}"
    return text


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


def fmt_pct(x: float) -> str:
    """0.25 → ``25%``; 0.125 → ``12.5%``."""
    if not math.isfinite(x):
        return "n/a"
    pct = x * 100
    return f"{pct:.0f}%" if abs(pct - round(pct)) < 0.05 else f"{pct:.1f}%"


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
                           fmt_value(r.base_median), fmt_value(r.current_median),
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

    out = [f"gigq-bench compare: {comparison.headline}",
           f"  {describe_run(comparison)}",
           f"  threshold {fmt_pct(comparison.thresholds.default)} (default), "
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
    counts = " \u00b7 ".join(
        (f"**{comparison.count(v)} {v}**" if v == SLOWER and comparison.count(v) else
         f"{comparison.count(v)} {v}") for v in (SLOWER, INCONCLUSIVE, FASTER, UNCHANGED))
    out = [f"### gigq-bench: {title}", "",
           f"{counts} \u2014 threshold {fmt_pct(comparison.thresholds.default)}, "
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
                f"| {fmt_value(r.base_median)} | {fmt_value(r.current_median)} "
                f"| {fmt_ratio(row)} | {fmt_change(row)} | {fmt_pct(r.threshold)} "
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


# Mirrors the sweep report's stylesheet (palette, masthead, fact cards, callouts) so
# both pages look like one product; self-contained like it.
STYLE = """
:root { --text:#1f2328; --muted:#59636e; --line:#d1d9e0; --soft:#f6f8fa; --accent:#0969da;
  --accent-soft:#ddf4ff; --safe:#1a7f37; --safe-soft:#dafbe1; --crash:#9a6700;
  --crash-soft:#fff8c5; --unsafe:#cf222e; --unsafe-soft:#ffebe9;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--text); background: #fff;
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
        "Noto Sans", "DejaVu Sans", sans-serif; }
.page { max-width: 1180px; margin: 0 auto; padding: 0 28px 48px; }
code { font-family: var(--mono); font-size: .86em; background: var(--soft); padding: 1px 4px;
  border-radius: 4px; }
h1, h2, h3 { line-height: 1.25; margin: 0; }
h2 { font-size: 1.45rem; margin: 28px 0 14px; padding-bottom: 8px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 18px 0 8px; }
p { margin: 0 0 10px; }
.muted { color: var(--muted); }
.masthead { border-bottom: 1px solid var(--line); background: linear-gradient(#f6f8fa, #fff); }
.masthead .page { padding-top: 26px; padding-bottom: 18px; }
.eyebrow { text-transform: uppercase; letter-spacing: .08em; font-size: .75rem; font-weight: 600;
  color: var(--accent); margin-bottom: 6px; }
.masthead h1 { font-size: 1.9rem; margin-bottom: 6px; }
.lede { color: var(--muted); margin: 0; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px;
  margin: 18px 0; padding: 0; }
.fact { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; margin: 0; }
.fact dt { font-size: .75rem; text-transform: uppercase; letter-spacing: .05em;
  color: var(--muted); }
.fact dd { margin: 2px 0 0; font-weight: 600; font-size: 1.3rem; }
.callout { border-left: 4px solid var(--crash); background: var(--crash-soft);
  padding: 10px 14px; border-radius: 0 6px 6px 0; margin: 18px 0 12px; font-weight: 600; }
.callout.bad { border-color: var(--unsafe); background: var(--unsafe-soft); }
.callout.good { border-color: var(--safe); background: var(--safe-soft); }
.warnings { padding-left: 18px; color: var(--crash); }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line);
  vertical-align: middle; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.slower td.verdict { color: var(--unsafe); font-weight: 700; }
tr.faster td.verdict { color: var(--safe); font-weight: 600; }
tr.inconclusive td.verdict { color: var(--crash); font-weight: 600; }
.reason { color: var(--muted); font-size: .86rem; }
svg.ci { display: block; }
dl.env { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
dl.env dt { color: var(--muted); } dl.env dd { margin: 0; word-break: break-all; }
footer { margin-top: 36px; color: var(--muted); font-size: .8rem; }
@media print { .masthead { background: none; } }
@media (max-width: 800px) { td.chart, th.chart { display: none; } .page { padding: 0 14px; } }
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="gigq-bench">
<title>gigq-bench comparison: {{ headline }}</title>
<style>{{ style }}</style></head>
<body>
<header class="masthead"><div class="page">
<div class="eyebrow">gigq-bench comparison</div>
<h1>{{ title }}</h1>
<p class="lede">{{ run }} &middot; generated {{ generated }}</p>
</div></header>
<main class="page">
<div class="callout {{ banner_class }}">{{ banner }}</div>
<dl class="facts">
{% for v, n in counts %}<div class="fact"><dt>{{ v }}</dt><dd>{{ n }}</dd></div>{% endfor %}
<div class="fact"><dt>default threshold</dt><dd>{{ threshold }}</dd></div>
<div class="fact"><dt>confidence</dt><dd>{{ level }}</dd></div>
</dl>
{% if warnings %}<ul class="warnings">{% for w in warnings %}<li>{{ w }}</li>{% endfor %}
</ul>{% endif %}
<h2>Ratios with confidence intervals</h2>
<p>Each bar is the 95% interval of the <em>slowdown factor</em> (how many times worse the
current version is; log scale), the dot its estimate. Right of 1 is worse, left is better,
for every metric. The shaded band is the threshold: a row fails only when its estimate is
beyond the right edge and the change is statistically clear.</p>
{% if rows %}
<table>
<thead><tr><th>verdict</th><th>configuration</th><th>metric</th><th class="num">base</th>
<th class="num">current</th><th class="num">current/base [CI]</th>
<th class="chart">{{ axis|safe }}</th><th>why</th></tr></thead>
<tbody>
{% for r in rows %}<tr class="{{ r.verdict }}">
<td class="verdict">{{ r.verdict }}</td><td>{{ r.label }}</td>
<td title="{{ r.metric_help }}" style="white-space:nowrap">{{ r.metric }}</td>
<td class="num">{{ r.base }}</td><td class="num">{{ r.current }}</td>
<td class="num">{{ r.ratio }}</td><td class="chart">{{ r.svg|safe }}</td>
<td class="reason">{{ r.reason }}{% if r.note %}<br>{{ r.note }}{% endif %}</td></tr>
{% endfor %}</tbody></table>
{% else %}<p>Nothing was comparable.</p>{% endif %}
{% if only_base or only_current %}<h2>Not compared</h2>
<ul>{% for c in only_base %}<li>only in base: <code>{{ c }}</code></li>{% endfor %}
{% for c in only_current %}<li>only in current: <code>{{ c }}</code></li>{% endfor %}</ul>
{% endif %}
<h2>The two sides</h2>
{% for side in sides %}<h3>{{ side.title }}</h3><dl class="env">
{% for k, v in side.fields %}<dt>{{ k }}</dt><dd>{{ v }}</dd>{% endfor %}</dl>{% endfor %}
<h2>Reproduce</h2><p><code>{{ command }}</code></p>
<footer>Made by gigq-bench. This page is self-contained: it loads nothing and works
offline.</footer>
</main></body></html>
"""

_CHART_W, _CHART_H = 220, 22


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
    ticks = [t for t in (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0)
             if axis.lo <= math.log(t) <= axis.hi]
    parts = [f'<svg width="{_CHART_W}" height="16" xmlns="http://www.w3.org/2000/svg" '
             'role="img" aria-label="slowdown factor axis">']
    for t in ticks:
        parts.append(f'<text x="{axis.x(t):.1f}" y="12" font-size="10" text-anchor="middle" '
                     f'fill="#5f6b7a">{t:g}{TIMES}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(comparison: Comparison, command: str = "") -> str:
    """The comparison as one self-contained HTML page."""
    from .metrics import METRICS

    rows = comparison.sorted_rows()
    axis = _Axis(rows)
    code = comparison.exit_code
    banner_class = {0: "good", 1: "bad"}.get(code, "")
    if code == 0 and comparison.count(INCONCLUSIVE):
        banner_class = ""
    env = Environment(autoescape=True)
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
    return env.from_string(TEMPLATE).render(
        style=STYLE,
        headline=comparison.headline,
        title={0: "No performance regression", 1: "Performance regression",
               2: "Nothing comparable", 3: "Inconclusive"}[code],
        run=describe_run(comparison),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        banner=f"Exit code {code}: {comparison.headline}",
        banner_class=banner_class,
        counts=[(v, comparison.count(v)) for v in (SLOWER, INCONCLUSIVE, FASTER, UNCHANGED)],
        threshold=fmt_pct(comparison.thresholds.default),
        level=f"{comparison.level:.0%}",
        warnings=comparison.warnings,
        axis=_svg_axis(axis),
        rows=[{
            "verdict": r.verdict, "label": r.label, "metric": metric_label(r),
            "metric_help": METRICS[r.metric].description if r.metric in METRICS else "",
            "base": fmt_value(r.result.base_median),
            "current": fmt_value(r.result.current_median),
            "ratio": fmt_ratio(r), "svg": _svg_bar(r, axis), "reason": r.result.reason,
            "note": r.note,
        } for r in rows],
        only_base=comparison.only_in_base,
        only_current=comparison.only_in_current,
        sides=sides,
        command=command,
    )
