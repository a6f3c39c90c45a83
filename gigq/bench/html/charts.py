"""The report's charts: plain chart descriptions in, inline SVG strings out (matplotlib).

Charts are drawn on :class:`matplotlib.figure.Figure` objects directly (no pyplot), so
rendering touches no global state and needs no display. Text stays text in the SVG
(``svg.fonttype = none``): the page is smaller, searchable and prints crisply; the
browser draws it in the page's own sans-serif font. Element ids are prefixed per chart
because several SVGs share one HTML document and ids must be unique in it.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, NullLocator
from matplotlib.transforms import ScaledTranslation

from ...storage import DURABILITY_CLASSES
from ..numbers import measure
from .format import number

if TYPE_CHECKING:  # annotations only: matplotlib.typing is 3.8+, the extra allows 3.7
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.typing import RcKeyType

# Okabe–Ito: distinguishable with the common colour-vision deficiencies and in greyscale.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999",
           "#F0E442")
NEUTRAL = "#4C6A92"
DURABILITY_COLORS = {
    "power-loss-safe": "#1a7f37",
    "crash-safe": "#9a6700",
    "unsafe": "#cf222e",
}
TEXT = "#1f2328"
GRID = "#d8dee4"
# Unsafe bars and cells are hatched as well as labelled: a mark that survives greyscale
# print and needs no colour vision.
UNSAFE_HATCH = "///"
UNSAFE = DURABILITY_CLASSES[-1]  # the least durable class
# Stacked parts (e.g. where lock waits happen) differ in hatching too, for the same reason.
STACK_HATCHES = ("", "..", "xx", "\\\\", "++")
WIDTH_IN, HEIGHT_IN = 6.4, 3.5


@dataclass
class Series:
    """One line: points at ``x`` with medians ``y`` and a CI band ``low``–``high``."""

    label: str
    x: list[float]
    y: list[float]
    low: list[float]
    high: list[float]
    dashed: bool = False
    # Each trial behind the medians: (x, y, hover text), drawn as small hollow markers.
    trials: list[tuple[float, float, str]] = field(default_factory=list)


@dataclass
class LineChart:
    """Lines with confidence bands against a numeric x axis."""

    title: str
    x_label: str
    y_label: str
    series: list[Series]
    x_ticks: list[float] = field(default_factory=list)
    x_tick_labels: list[str] = field(default_factory=list)
    log_x: bool = False
    y_percent: bool = False


@dataclass
class BarChart:
    """Categories with a median bar and a 95% CI whisker each."""

    title: str
    y_label: str
    labels: list[str]
    y: list[float]
    low: list[float]
    high: list[float]
    colors: list[str] = field(default_factory=list)
    annotations: list[str] = field(default_factory=list)
    log_y: bool = False
    # Per bar: the trials behind its median, as (value, hover text).
    trials: list[list[tuple[float, str]]] = field(default_factory=list)
    # Per bar: whether its settings are unsafe (hatched and labelled "unsafe").
    unsafe: list[bool] = field(default_factory=list)


@dataclass
class StackedBarChart:
    """Categories with one bar each, split into parts (e.g. lock waits by where they
    happen); ``stacks`` holds each part's label and its value per category."""

    title: str
    y_label: str
    labels: list[str]
    stacks: list[tuple[str, list[float]]]
    y_percent: bool = False


@dataclass
class HeatMap:
    """A grid of values (None = not measured) with a second line of text per cell."""

    title: str
    x_label: str
    y_label: str
    columns: list[str]
    rows: list[str]
    values: list[list[float | None]]
    cell_notes: list[list[str]]
    note_colors: list[list[str]]
    unit: str


@dataclass
class Points:
    """Markers of one kind (e.g. the trials of one search round); ``hollow`` ones
    are drawn unfilled (e.g. trials that did not complete)."""

    label: str
    x: list[float]
    y: list[float]
    hollow: bool = False
    texts: list[str] = field(default_factory=list)  # hover text per point (default: x, y)


@dataclass
class ScatterChart:
    """Groups of markers against a numeric x axis, with an optional step line (e.g.
    the best so far) and labelled vertical markers (e.g. where a stage begins)."""

    title: str
    x_label: str
    y_label: str
    groups: list[Points]
    step: Series | None = None
    markers: list[tuple[float, str]] = field(default_factory=list)
    log_y: bool = False
    y_percent: bool = False
    reference: float | None = None  # a labelled horizontal line (e.g. 100% of the median)
    reference_label: str = ""
    # A second quantity on its own right-hand axis (e.g. the load average), as a line.
    secondary: Series | None = None
    secondary_label: str = ""


Chart = LineChart | BarChart | StackedBarChart | HeatMap | ScatterChart


def to_svg(chart: Chart, chart_id: str) -> str:
    """Draw ``chart`` and return it as an ``<svg>`` element ready to inline in HTML."""
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
        ax = fig.add_subplot()
        tips = _Tips()
        if isinstance(chart, LineChart):
            _draw_lines(ax, chart, tips)
        elif isinstance(chart, BarChart):
            _draw_bars(ax, chart, tips)
        elif isinstance(chart, ScatterChart):
            _draw_scatter(ax, chart, tips)
        elif isinstance(chart, StackedBarChart):
            _draw_stacked(ax, chart, tips)
        else:
            _draw_heatmap(fig, ax, chart)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return _inline(buffer.getvalue(), chart_id, chart.title, tips.texts)


class _Tips:
    """Hover texts of a chart's points and bars: each artist gets the gid ``tip-N``
    (``trial-N`` for a single trial's marker, so a page can count them), and
    :func:`_inline` puts a ``<title>`` (the browser's tooltip) into its group."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.trials = 0

    def add(self, artist: Artist, text: str) -> None:
        gid = f"tip-{len(self.texts) - self.trials}"
        artist.set_gid(gid)
        self.texts[gid] = text

    def trial(self, artist: Artist, text: str) -> None:
        gid = f"trial-{self.trials}"
        self.trials += 1
        artist.set_gid(gid)
        self.texts[gid] = text

    def points(self, ax: Axes, x: list[float], y: list[float], texts: list[str],
               kind: str = "tip") -> None:
        # An invisible marker over each point: a larger target than the drawn one.
        add = self.trial if kind == "trial" else self.add
        for px, py, text in zip(x, y, texts, strict=True):
            (hit,) = ax.plot([px], [py], marker="o", markersize=11, linestyle="none",
                             color="#000000", alpha=0.0, zorder=5)
            add(hit, text)


def _interval_text(low: float, high: float, unit: str) -> str:
    if low == high:
        return ""
    return f" (95% CI {number(low)}–{number(high)}{unit})"


_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "gigq-report",  # deterministic ids: the same data gives the same file
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.edgecolor": "#8c959f",
    "axes.labelcolor": TEXT,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": GRID,
    "grid.linewidth": 0.6,
    "xtick.color": TEXT,
    "ytick.color": TEXT,
    "legend.frameon": False,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
}


def _percent(value: float, _pos: object = None) -> str:
    return f"{value:g}%"


def _axes_text(ax: Axes, title: str, y_label: str, x_label: str | None = None, *,
               percent: bool = False) -> None:
    """The title (bold, left), axis labels and percent ticks every chart kind shares."""
    if percent:
        ax.yaxis.set_major_formatter(FuncFormatter(_percent))
    if x_label is not None:
        ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title, loc="left", fontweight="bold")


def _draw_lines(ax: Axes, chart: LineChart, tips: _Tips) -> None:
    ticks = dict(zip(chart.x_ticks, chart.x_tick_labels, strict=False))
    unit = "%" if chart.y_percent else ""
    for i, s in enumerate(chart.series):
        color = PALETTE[i % len(PALETTE)]
        ax.fill_between(s.x, s.low, s.high, color=color, alpha=0.18, linewidth=0)
        ax.plot(s.x, s.y, marker="o", markersize=4.5, color=color, label=s.label,
                linestyle="--" if s.dashed else "-", linewidth=1.8)
        tips.points(ax, s.x, s.y, [
            f"{s.label}, {chart.x_label} {ticks.get(x, f'{x:g}')}: {chart.y_label} "
            f"{number(y)}{unit}" + _interval_text(lo, hi, unit)
            for x, y, lo, hi in zip(s.x, s.y, s.low, s.high, strict=True)])
        _draw_trials(ax, [(x, y) for x, y, _ in s.trials], [t for *_, t in s.trials],
                     color, tips, shift=(i - (len(chart.series) - 1) / 2) * 5,
                     label="each trial" if i == 0 else "")
    if chart.log_x:
        ax.set_xscale("log")
    if chart.x_ticks:
        ax.set_xticks(chart.x_ticks)
        ax.set_xticklabels(chart.x_tick_labels or [f"{t:g}" for t in chart.x_ticks])
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_ylim(bottom=0)
    _axes_text(ax, chart.title, chart.y_label, chart.x_label, percent=chart.y_percent)
    if len(chart.series) > 1 or any(s.trials for s in chart.series):
        ax.legend(loc="best", fontsize=8)


def _draw_trials(ax: Axes, points: list[tuple[float, float]], texts: list[str], color: str,
                 tips: _Tips, shift: float = 0.0, label: str = "") -> None:
    """One small hollow marker per trial, each its own artist with a hover text.

    Repetitions of one configuration share an x: they are spread a few points apart
    sideways (in display space, so it works on log axes) around ``shift`` points.
    """
    by_x: dict[float, int] = {}
    for n, ((x, y), text) in enumerate(zip(points, texts, strict=True)):
        k = by_x.get(x, 0)
        by_x[x] = k + 1
        offset = shift + (k % 5 - 2) * 1.6
        transform = ax.transData + ScaledTranslation(offset / 72, 0,
                                                     ax.figure.dpi_scale_trans)
        (marker,) = ax.plot([x], [y], marker="o", markersize=3.6, linestyle="none",
                            markerfacecolor="white", markeredgecolor=color,
                            markeredgewidth=0.9, alpha=0.9, zorder=4, transform=transform,
                            label=label if n == 0 and label else "_nolegend_")
        tips.trial(marker, text)


def _draw_bars(ax: Axes, chart: BarChart, tips: _Tips) -> None:
    positions = list(range(len(chart.labels)))
    colors = chart.colors or [NEUTRAL] * len(positions)
    lower = [max(0.0, y - lo) for y, lo in zip(chart.y, chart.low, strict=True)]
    upper = [max(0.0, hi - y) for y, hi in zip(chart.y, chart.high, strict=True)]
    unsafe = chart.unsafe or [False] * len(positions)
    bars = ax.bar(positions, chart.y, color=colors, width=0.6, zorder=2)
    for bar, label, y, lo, hi, bad in zip(bars, chart.labels, chart.y, chart.low, chart.high,
                                          unsafe, strict=True):
        tips.add(bar, f"{label}: {chart.y_label} {number(y)}" + _interval_text(lo, hi, "")
                 + (f" — {UNSAFE}" if bad else ""))
        if bad:
            bar.set_hatch(UNSAFE_HATCH)
            bar.set_edgecolor("white")
            bar.set_linewidth(0)
    for pos, trials in enumerate(chart.trials):
        _draw_trials(ax, [(pos, v) for v, _ in trials], [t for _, t in trials], TEXT, tips,
                     label="each trial" if pos == 0 else "")
    ax.errorbar(positions, chart.y, yerr=[lower, upper], fmt="none", ecolor=TEXT,
                elinewidth=1, capsize=4, zorder=3)
    tops = [max([y, hi, *(v for v, _ in trials)]) for y, hi, trials in
            zip(chart.y, chart.high, chart.trials or [[]] * len(positions), strict=True)]
    for pos, top, text, bad in zip(positions, tops, chart.annotations or
                                   [""] * len(positions), unsafe, strict=True):
        if bad:
            text = f"{text}\n{UNSAFE}" if text else UNSAFE
        if text:
            ax.annotate(text, xy=(pos, top), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8, color=TEXT,
                        fontweight="bold" if bad else "normal")
    ax.set_xticks(positions)
    ax.set_xticklabels(chart.labels)
    ax.grid(axis="x", visible=False)
    if chart.log_y:
        ax.set_yscale("log")
    else:
        top = max([*tops, 0.0])
        ax.set_ylim(0, top * (1.3 if any(unsafe) else 1.15) if top > 0 else 1)
    _axes_text(ax, chart.title, chart.y_label)
    handles, _ = ax.get_legend_handles_labels()  # the "each trial" marker, if any
    if any(unsafe):
        handles.append(Patch(facecolor=NEUTRAL, hatch=UNSAFE_HATCH, edgecolor="white",
                             label=f"hatched: {UNSAFE} settings"))
    if handles:  # above the plot, clear of the bars' labels
        ax.figure.legend(handles=handles, loc="outside upper right", fontsize=8, ncols=2)


def _draw_stacked(ax: Axes, chart: StackedBarChart, tips: _Tips) -> None:
    positions = list(range(len(chart.labels)))
    bottom = [0.0] * len(positions)
    unit = "%" if chart.y_percent else ""
    for i, (part, values) in enumerate(chart.stacks):
        bars = ax.bar(positions, values, bottom=bottom, width=0.6, zorder=2, label=part,
                      color=PALETTE[i % len(PALETTE)], edgecolor="white", linewidth=0.5,
                      hatch=STACK_HATCHES[i % len(STACK_HATCHES)])
        for bar, label, value in zip(bars, chart.labels, values, strict=True):
            tips.add(bar, f"{label}: {part} {number(value)}{unit}")
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(positions)
    ax.set_xticklabels(chart.labels)
    ax.grid(axis="x", visible=False)
    top = max([*bottom, 0.0])
    ax.set_ylim(0, top * 1.35 if top > 0 else 1)
    _axes_text(ax, chart.title, chart.y_label, percent=chart.y_percent)
    ax.legend(loc="upper left", fontsize=8, ncols=min(3, len(chart.stacks)))


def _draw_scatter(ax: Axes, chart: ScatterChart, tips: _Tips) -> None:
    trials: list[tuple[float, float, str]] = []
    for i, group in enumerate(chart.groups):
        color = PALETTE[i % len(PALETTE)]
        ax.scatter(group.x, group.y, s=22, label=group.label, zorder=3, linewidths=1.2,
                   facecolors="none" if group.hollow else color, edgecolors=color)
        if group.texts:  # one point per trial: hover targets follow, in x order
            trials += zip(group.x, group.y, group.texts, strict=True)
        else:
            tips.points(ax, group.x, group.y, [
                f"{group.label}: {chart.x_label} {number(x)}, {chart.y_label} {number(y)}"
                for x, y in zip(group.x, group.y, strict=True)])
    trials.sort(key=lambda t: t[0])
    tips.points(ax, [t[0] for t in trials], [t[1] for t in trials], [t[2] for t in trials],
                kind="trial")
    if chart.step is not None and chart.step.x:
        ax.step(chart.step.x, chart.step.y, where="post", color=TEXT, linewidth=1.2,
                label=chart.step.label, zorder=2)
    if chart.reference is not None:
        ax.axhline(chart.reference, color="#6e7781", linewidth=1, linestyle=":", zorder=1,
                   label=chart.reference_label or None)
    for x, label in chart.markers:
        ax.axvline(x, color=GRID, linewidth=1, linestyle=":", zorder=1)
        ax.annotate(label, xy=(x, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -10),
                    textcoords="offset points", fontsize=7.5, color="#6e7781")
    if chart.log_y:
        ax.set_yscale("log")
    elif chart.reference is None:  # values around a reference keep their own range
        ax.set_ylim(bottom=0)
    _axes_text(ax, chart.title, chart.y_label, chart.x_label, percent=chart.y_percent)
    handles, _ = ax.get_legend_handles_labels()
    if chart.secondary is not None and chart.secondary.x:
        right = ax.twinx()
        right.spines["right"].set_visible(True)
        right.grid(False)
        (line,) = right.plot(chart.secondary.x, chart.secondary.y, color=PALETTE[5],
                             linewidth=1.4, linestyle="--", label=chart.secondary.label,
                             zorder=2)
        right.set_ylim(bottom=0, top=max([*chart.secondary.y, 0.0]) * 1.2 or 1)
        right.set_ylabel(chart.secondary_label, color=PALETTE[5])
        right.tick_params(axis="y", colors=PALETTE[5])
        handles.append(line)
    if chart.secondary is not None:  # two axes' worth of points: the legend goes above
        ax.figure.legend(handles=handles, loc="outside upper right", fontsize=8, ncols=2)
    elif handles:
        ax.legend(handles=handles, loc="best", fontsize=8)


def _draw_heatmap(fig: Figure, ax: Axes, chart: HeatMap) -> None:
    present = [v for row in chart.values for v in row if v is not None]
    vmax = max(present) if present else 1.0
    grid = [[math.nan if v is None else v for v in row] for row in chart.values]
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="#f6f8fa")
    image = ax.imshow(grid, cmap=cmap, vmin=0, vmax=vmax * 1.25, aspect="auto")
    ax.grid(False)
    for r, row in enumerate(chart.values):
        for c, value in enumerate(row):
            if value is None:
                ax.text(c, r, "not run", ha="center", va="center", color="#6e7781",
                        fontsize=8, style="italic")
                continue
            dark = value > vmax * 0.7
            if chart.cell_notes[r][c] == UNSAFE:
                ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, linewidth=0,
                                       hatch=UNSAFE_HATCH, alpha=0.5,
                                       edgecolor="white" if value > vmax * 0.45 else "#cf222e"))
            ax.text(c, r - 0.12, measure(value), ha="center", va="center", fontsize=10,
                    fontweight="bold", color="white" if dark else TEXT)
            ax.text(c, r + 0.2, chart.cell_notes[r][c], ha="center", va="center", fontsize=7.5,
                    color="white" if dark else chart.note_colors[r][c])
    ax.set_xticks(range(len(chart.columns)))
    ax.set_xticklabels(chart.columns)
    ax.set_yticks(range(len(chart.rows)))
    ax.set_yticklabels(chart.rows)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    _axes_text(ax, chart.title, chart.y_label, chart.x_label)
    bar = fig.colorbar(image, ax=ax, shrink=0.85, pad=0.02)
    bar.set_label(chart.unit)
    bar.outline.set_visible(False)


_ID = re.compile(r'\bid="([^"]+)"')


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _inline(svg: str, chart_id: str, title: str, tips: dict[str, str] | None = None) -> str:
    """Make matplotlib's SVG document an element that can sit inside HTML.

    Drops the XML prolog, DOCTYPE and RDF metadata, lets CSS size it (keeping the
    viewBox), labels it for screen readers, prefixes every id with ``chart_id`` and
    gives each group of a gid in ``tips`` (``tip-N``, ``trial-N``) its hover text as a
    ``<title>``.
    """
    start = svg.index("<svg")
    svg = svg[start:]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    ids = set(_ID.findall(svg))
    for old in sorted(ids, key=len, reverse=True):
        new = f"{chart_id}-{old}"
        svg = svg.replace(f'id="{old}"', f'id="{new}"')
        svg = svg.replace(f"#{old})", f"#{new})").replace(f'"#{old}"', f'"#{new}"')
    head_end = svg.index(">")
    head = svg[:head_end]
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    head += (f' class="chart" role="img" aria-label="{_escape(title)}"'
             ' preserveAspectRatio="xMidYMid meet"')
    svg = head + svg[head_end:]
    for gid, text in (tips or {}).items():
        group = f'<g id="{chart_id}-{gid}">'
        svg = svg.replace(group, f"{group}<title>{_escape(text)}</title>", 1)
    return svg

