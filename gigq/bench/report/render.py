"""Turn a run into ``index.html``: the analysis, the charts as inline SVG, jinja2 templates.

The page is one file with inline CSS and SVG and a few lines of inline JavaScript that
only add sorting and filtering to tables that are complete without it. Nothing is
loaded from anywhere: it opens offline, from a ``file://`` URL, and prints.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from ...storage import DURABILITY_CLASSES
from .. import numbers as num
from ..html import format as fmt
from ..html.charts import to_svg
from ..metrics import METRICS
from ..results import Results, ResultsError, csv_text, json_text, load_results, write_atomic
from ..sweep.space import DIMENSIONS, STEADY
from .figures import add_charts, durability_notes
from .insights import THROUGHPUT, Analysis, Config, analyse, sort_values

# Metrics the printed results table keeps; the others are on screen and in results.csv.
PRINTED_METRICS = ("jobs_per_sec", "wait_p50_ms", "wait_p95_ms", "lock_wait_share")
# Shown beside the throughput of steady-mode rows: there jobs/s is the producer's rate.
RATE_LIMITED = ("rate-limited", "steady mode: jobs/s follows the arrival rate the producer "
                "keeps, so it is no measure of speed (or of a polling cost)")
# Columns of the results table besides configuration dimensions and metrics.
_OUTCOME_COLUMNS = (("jobs_completed", "jobs completed", "jobs"),
                    ("duration_s", "timed window", "s"),
                    # The ceiling behind ceiling_ratio: median of the probes, spread.
                    ("ceiling_commits_per_sec", "SQLite ceiling", "commits/s"),
                    ("ceiling_min_commits_per_sec", "ceiling min", "commits/s"),
                    ("ceiling_max_commits_per_sec", "ceiling max", "commits/s"))
DURABILITY_MEANING = {
    "power-loss-safe": "committed jobs survive a power cut",
    "crash-safe": "an application crash loses nothing; a power cut may lose the last "
                  "transactions",
    "unsafe": "a crash or power cut can lose or corrupt the queue",
}


@dataclass
class Column:
    """A table header: label, unit line, whether it is numeric, tooltip.

    ``secondary`` columns are left out when printing, where a page is too narrow for
    every metric (the note above the table points to results.csv), and start hidden on
    screen (the table's column chooser shows them). ``key`` is the dimension or metric
    name, which a filter such as ``workers=4`` may use instead of the label. A column
    not ``printed`` is on screen only (e.g. a summary whose parts have columns of their own).
    """

    label: str
    unit: str = ""
    numeric: bool = False
    title: str = ""
    secondary: bool = False
    key: str = ""
    printed: bool = True


@dataclass
class Cell:
    """A table cell: what is shown, what it sorts by, and an optional badge style."""

    text: str
    sort: Any = None
    badge: str = ""
    numeric: bool = False
    wrap: bool = False  # free text: may wrap (other cells keep to one line)
    title: str = ""  # tooltip
    mark: str = ""  # a badge after the text (e.g. "rate-limited"); its tooltip is title


@dataclass
class Row:
    """A table row and its CSS classes (``invalid``, ``recommended``)."""

    cells: list[Cell]
    classes: str = ""


@dataclass
class Table:
    """A table the templates draw with the ``data_table`` macro."""

    columns: list[Column]
    rows: list[Row] = field(default_factory=list)


def jinja_environment() -> jinja2.Environment:
    """The report's template environment (autoescaped), shared with pages in its style.

    Other pages (e.g. a comparison page) extend ``base.html.j2`` and call the macros in
    ``macros.html.j2`` to look the same.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gigq.bench.html", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        number=num.number,
        metric_value=fmt.metric_value,
        interval=fmt.interval,
        value_label=fmt.value_label,
        dimension_label=fmt.dimension_label,
        setting_phrase=fmt.setting_phrase,
        context_phrase=fmt.context_phrase,
        shell_lines=fmt.shell_lines,
    )
    env.globals.update(DURABILITY_CLASSES=DURABILITY_CLASSES,
                       DURABILITY_MEANING=DURABILITY_MEANING)
    return env


# ---------------------------------------------------------------------------
# Page content


def _sort_key(dim: str, value: Any) -> Any:
    value = num.plain_value(value)
    d = DIMENSIONS.get(dim)
    if d is not None and d.sort_key is not None:
        return d.sort_key(value)
    return "" if value is None else value


def _metrics_present(results: Results) -> list[str]:
    rows = results.rows
    return [m for m in METRICS if m in rows.columns and rows[m].notna().any()]


def _durability_cell(durability: str) -> Cell:
    return Cell(durability, durability, badge=durability if durability in DURABILITY_CLASSES
                else "neutral")


def _metric_column(m: str) -> Column:
    return Column(fmt.short_metric_label(m), fmt.display_unit(m), True,
                  f"{m}: {METRICS[m].description}", m not in PRINTED_METRICS, key=m)


def _ci_cell(iv: Any) -> Cell:
    """A configuration's 95% interval of jobs/s (none from fewer than two trials)."""
    if iv is None or iv.n < 2:
        return Cell("–", "", numeric=True)
    return Cell(f"{num.number(iv.low)}–{num.number(iv.high)}", iv.low, numeric=True)


def _mark_rate_limited(cell: Cell) -> None:
    cell.mark, cell.title = RATE_LIMITED


def results_table(a: Analysis) -> Table:
    """Every trial, one row each. What a reader looks for leads — the configuration in
    words, jobs/s, the 95% interval of its configuration, valid — then each swept
    setting in its own column (to sort and filter by), identity, outcome, every metric."""
    rows = a.results.rows
    metrics = _metrics_present(a.results)
    lead = [m for m in metrics if m == THROUGHPUT]
    dims = a.swept + a.incidental
    columns = [Column("configuration", title="the swept settings of this trial",
                      key="configuration", printed=False)]
    columns += [_metric_column(m) for m in lead]
    if lead:
        # Not printed: paper has the durability table's intervals, one per configuration.
        columns.append(Column("95% CI", fmt.display_unit(THROUGHPUT), True,
                              "95% interval of the configuration's median, over its valid "
                              "trials", key="interval", printed=False))
    columns.append(Column("valid", title="every job completed exactly once", key="valid"))
    columns += [Column(fmt.short_dimension_label(d), title=fmt.dimension_label(d), key=d)
                for d in dims]
    columns.append(Column("rep.", numeric=True, title="repetition", key="repetition"))
    columns += [_metric_column(m) for m in metrics if m not in lead]
    extras = [c for c in _OUTCOME_COLUMNS if c[0] in rows.columns]
    columns += [Column(label, unit, True, name, True, key=name) for name, label, unit in extras]
    columns += [Column("durability", title="durability class of the settings", key="durability"),
                Column("trial", title="trial_id", secondary=True, key="trial_id")]
    text_columns = [c for c in ("invalid_reason", "too_short", "note") if c in rows.columns
                    and rows[c].notna().any()]
    columns += [Column(c.replace("_", " "), title=c, secondary=True, key=c)
                for c in text_columns]
    config_by_values = {tuple(repr(c.values.get(d)) for d in a.dimensions): c
                        for c in a.configs}
    table = Table(columns)
    ordered = rows.sort_values("order") if "order" in rows.columns else rows
    for _, r in ordered.iterrows():
        values = {d: num.plain_value(r.get(d)) for d in a.dimensions}
        config = config_by_values.get(tuple(repr(values.get(d)) for d in a.dimensions))
        valid = config is not None and _is_valid(r)
        limited = values.get("mode") == STEADY
        summary = fmt.context_phrase({d: values[d] for d in a.swept})
        cells = [Cell(summary or "the only configuration", wrap=True)]
        for m in lead:
            value = num.plain_value(r.get(m))
            cells.append(Cell(num.number(value), "" if value is None else value, numeric=True))
            if limited:
                _mark_rate_limited(cells[-1])
            cells.append(_ci_cell(config.stats.get(m) if config else None))
        if not valid:
            cells.append(Cell("invalid", 0, badge="invalid"))
        elif num.plain_value(r.get("too_short")):
            # Every job ran once, but too few per thread to trust the rate (see
            # the "too short" column).
            cells.append(Cell("too short", 0.5, badge="noise"))
        else:
            cells.append(Cell("valid", 1, badge="ok"))
        cells += [Cell(fmt.value_label(d, values[d]), _sort_key(d, values[d])) for d in dims]
        cells.append(Cell(num.number(r.get("repetition")), num.plain_value(r.get("repetition")),
                          numeric=True))
        for m in metrics:
            if m in lead:
                continue
            value = num.plain_value(r.get(m))
            cells.append(Cell(num.number(fmt.scaled(m, value)),
                              "" if value is None else value, numeric=True))
        for name, _label, _unit in extras:
            value = num.plain_value(r.get(name))
            cells.append(Cell(num.number(value), "" if value is None else value, numeric=True))
        durability = config.durability if config else str(r.get("durability") or "–")
        cells.append(_durability_cell(durability))
        cells.append(Cell(str(num.plain_value(r.get("trial_id")) or "–")))
        for name in text_columns:
            value = num.plain_value(r.get(name))
            cells.append(Cell("" if value is None else str(value), wrap=True))
        classes = ("" if valid else "invalid") + (" rate-limited" if limited else "")
        table.rows.append(Row(cells, classes.strip()))
    return table


def _is_valid(row: pd.Series) -> bool:
    value = row.get("valid")
    return value is True or value == 1 or str(value).lower() == "true"


def durability_table(a: Analysis) -> Table:
    """Every configuration: speed (median, CI) and durability class first, then settings.

    The verdict columns come first so they stay in view when a sweep has so many
    settings that the table scrolls sideways.
    """
    first = [d for d in ("job_type",) if d in a.swept]
    dims = [d for d in a.swept if d not in first]
    columns = [Column(fmt.short_dimension_label(d), title=fmt.dimension_label(d))
               for d in first]
    columns += [Column("throughput", "jobs/s, median", True, "median over valid trials"),
                Column("95% CI", "jobs/s", True, "percentile bootstrap over repetitions"),
                Column("durability", title="what a crash or power cut can cost"),
                Column("valid trials", numeric=True)]
    columns += [Column(fmt.short_dimension_label(d), title=fmt.dimension_label(d))
                for d in dims]
    recommended = {id(r.config) for recs in a.recommendations.values() for r in recs
                   if r.recommended}
    table = Table(columns)
    job_types = sort_values("job_type", (c.values.get("job_type") for c in a.configs))
    for job_type in job_types:
        group = [c for c in a.configs if c.values.get("job_type") == job_type]
        group.sort(key=lambda c: -(c.median() if c.has() else -1))
        for c in group:
            table.rows.append(_durability_row(c, first, dims, id(c) in recommended))
    return table


def _setting_cells(c: Config, dims: Sequence[str]) -> list[Cell]:
    return [Cell(fmt.value_label(d, c.values.get(d)), _sort_key(d, c.values.get(d)))
            for d in dims]


def _durability_row(c: Config, first: Sequence[str], dims: Sequence[str],
                    recommended: bool) -> Row:
    iv = c.stats.get("jobs_per_sec")
    cells = _setting_cells(c, first)
    if iv is not None and c.has():
        cells.append(Cell(num.number(iv.estimate), iv.estimate, numeric=True))
        if c.values.get("mode") == STEADY:
            _mark_rate_limited(cells[-1])
        cells.append(_ci_cell(iv))
    else:
        cells += [Cell("no valid trial", ""), Cell("–", "")]
    cell = _durability_cell(c.durability)
    if c.durability_reason:
        cell.text += " (RAM)"
        cell.title = c.durability_reason
    cells.append(cell)
    cells.append(Cell(f"{c.n_valid}/{c.n_trials}", c.n_valid, numeric=True))
    cells += _setting_cells(c, dims)
    classes = "recommended" if recommended else ("invalid" if c.n_valid == 0 else "")
    return Row(cells, classes)


def ram_locations(a: Analysis) -> list[tuple[str, str]]:
    """Locations shown as unsafe because the database lives in RAM, with the reason."""
    seen: dict[str, str] = {}
    for c in a.configs:
        if c.durability_reason:
            seen.setdefault(str(c.values.get("location")), c.durability_reason)
    return sorted(seen.items())


def invalid_trials(a: Analysis) -> list[dict[str, Any]]:
    """Each trial that failed verification, with its settings and the reason."""
    rows = a.results.rows
    if rows.empty:
        return []
    out = []
    for _, r in rows.iterrows():
        if _is_valid(r):
            continue
        context = {d: num.plain_value(r.get(d)) for d in a.swept}
        jobs = num.plain_value(r.get("jobs"))
        done = num.plain_value(r.get("jobs_completed"))
        out.append({
            "trial": num.plain_value(r.get("trial_id")) or "–",
            "repetition": num.plain_value(r.get("repetition")),
            "settings": fmt.context_phrase(context) or "the only configuration",
            "reason": num.plain_value(r.get("invalid_reason")) or "no reason recorded",
            "completed": (f"{num.number(done)} of {num.number(jobs)}"
                          if done is not None and jobs is not None else "–"),
        })
    return out


def skipped_configs(a: Analysis) -> list[dict[str, str]]:
    """Configurations the sweep could not run, with the reason."""
    out = []
    dims = a.swept or list(a.dimensions)
    for item in a.results.skipped:
        config = item.get("config") or {}
        shown = {d: num.plain_value(config.get(d)) for d in dims if d in config}
        if not shown:
            shown = {d: num.plain_value(v) for d, v in config.items()}
        out.append({"settings": fmt.context_phrase(shown) or str(item.get("config_id", "")),
                    "reason": str(item.get("reason") or "no reason recorded")})
    return out


def facts(a: Analysis) -> list[tuple[str, str, str]]:
    """The Summary's headline facts: machine, date, profile, duration, trials."""
    env, spec = a.results.environment, a.results.spec
    started, finished = fmt.parse_time(env.get("started_at")), fmt.parse_time(
        env.get("finished_at"))
    cores = env.get("cores")
    machine_detail = " · ".join(str(p) for p in (
        env.get("cpu_model"), f"{cores} cores" if cores else None,
        num.byte_size(env.get("memory_bytes")) if env.get("memory_bytes") else None) if p)
    duration = ((finished - started).total_seconds() if started and finished else None)
    design = spec.get("design")
    repeat = spec.get("repeat")
    profile_detail = " · ".join(p for p in (
        f"{design} design" if design else None,
        f"{repeat} repetition{'s' if repeat != 1 else ''}" if repeat else None) if p)
    trials_detail = (f"{a.invalid} invalid · {a.skipped} configuration"
                     f"{'s' if a.skipped != 1 else ''} skipped")
    return [
        ("Machine", str(env.get("hostname") or "unknown"), machine_detail),
        ("Date", started.strftime("%Y-%m-%d %H:%M") if started else "unknown",
         started.tzname() or "" if started else ""),
        ("Profile", str(spec.get("profile") or "custom"), profile_detail),
        ("Duration", num.duration(duration), ""),
        ("Trials", f"{a.valid} valid", trials_detail),
    ]


def environment_items(results: Results) -> list[tuple[str, str]]:
    """The environment as label/value pairs, known keys first, unknown ones after."""
    env = dict(results.environment)
    labels = {
        "hostname": "host", "cpu_model": "CPU", "cores": "cores",
        "memory_bytes": "memory", "os": "operating system", "python": "Python",
        "sqlite_version": "SQLite", "gigq_version": "gigq", "git_commit": "git commit",
        "started_at": "started", "finished_at": "finished",
    }
    items = []
    for key, label in labels.items():
        if key not in env:
            continue
        value = env.pop(key)
        if key == "memory_bytes":
            value = num.byte_size(value)
        items.append((label, "–" if value is None else str(value)))
    env.pop("filesystems", None)
    env.pop("command_line", None)
    for key, value in env.items():
        shown = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        items.append((key.replace("_", " "), shown))
    return items


def spec_items(a: Analysis) -> list[tuple[str, str]]:
    """The sweep spec as label/value pairs."""
    spec = dict(a.results.spec)
    items: list[tuple[str, str]] = []
    for key in ("profile", "design", "repeat", "seed"):
        if key in spec:
            items.append((key, str(spec.pop(key))))
    base = spec.pop("base", None)
    if isinstance(base, Mapping) and base:
        items.append(("base configuration", fmt.context_phrase(
            {k: num.plain_value(v) for k, v in base.items()})))
    dims = spec.pop("dimensions", None)
    if isinstance(dims, Mapping):
        for dim, values in dims.items():
            shown = ", ".join(fmt.value_label(dim, v) for v in (values or []))
            items.append((f"dimension: {fmt.dimension_label(dim)}", shown))
    spec.pop("command", None)
    groups = spec.pop("groups", None)
    if isinstance(groups, list) and len(groups) > 1:
        for group in groups:
            if not isinstance(group, Mapping):
                continue
            base = {k: num.plain_value(v) for k, v in (group.get("base") or {}).items()}
            varies = "; ".join(
                f"{fmt.dimension_label(d)} " + ", ".join(fmt.value_label(d, v) for v in vals)
                for d, vals in (group.get("dimensions") or {}).items())
            text = (f"around {fmt.context_phrase(base)}: " if base else "") + f"varies {varies}"
            items.append((f"group: {group.get('name', '')}", text))
    versions = spec.pop("versions", None)
    if isinstance(versions, Mapping):
        for label, info in versions.items():
            if isinstance(info, Mapping):
                parts = [f"gigq {info['gigq_version']}" if info.get("gigq_version") else "",
                         str(info.get("description") or ""), str(info.get("interpreter") or "")]
                items.append((f"version: {label}", " · ".join(p for p in parts if p)))
            elif info:
                items.append((f"version: {label}", str(info)))
    spec.pop("interrupted", None)  # shown as a warning in the Summary when true
    for key, value in spec.items():
        if value in (None, "", {}, []):
            continue
        if isinstance(value, Mapping) and all(not isinstance(v, (dict, list))
                                              for v in value.values()):
            shown = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items())
        elif isinstance(value, (dict, list)):
            shown = json.dumps(value)
        else:
            shown = str(value)
        items.append((key.replace("_", " "), shown))
    return items


def embedded_downloads(results: Results) -> list[dict[str, str]]:
    """The run's ``results.csv`` and ``results.json`` as ``data:`` URLs for download links:
    the page carries its data, so a mailed copy still offers it (no file, no fetch).

    A saved run's files are embedded as they are on disk, byte for byte; results not
    saved are written out as :func:`gigq.bench.results.save` would write them.
    """
    out = []
    for name, media, text in (("results.csv", "text/csv", csv_text),
                              ("results.json", "application/json", json_text)):
        saved = results.path / name if results.path else None
        data = saved.read_bytes() if saved and saved.is_file() else text(results).encode()
        out.append({"name": name, "media": media, "size": num.byte_size(len(data)),
                    "url": f"data:{media};charset=utf-8;base64,"
                           + base64.b64encode(data).decode("ascii")})
    return out


def page_title(results: Results) -> str:
    """``GigQ on HOST · DATE · PROFILE``: what a browser tab or a bookmark should say."""
    env, spec = results.environment, results.spec
    started = fmt.parse_time(env.get("started_at"))
    parts = [f"GigQ on {env.get('hostname') or 'this machine'}",
             started.strftime("%Y-%m-%d %H:%M") if started else "",
             f"{spec.get('profile') or 'custom'} profile"]
    return " · ".join(p for p in parts if p)


def _chart_svgs(a: Analysis) -> None:
    for block in a.charts:
        if block.chart is not None and not block.svg:
            block.svg = to_svg(block.chart, f"chart-{block.key}")


def render_html(results: Results) -> str:
    """The report of ``results`` as one HTML document."""
    a = add_charts(analyse(results))
    _chart_svgs(a)
    env = a.results.environment
    spec = a.results.spec
    command = spec.get("command") or env.get("command_line") or ""
    command_line = env.get("command_line") or ""
    source = str(results.path) if results.path else "DIR"
    template = jinja_environment().get_template("index.html.j2")
    return template.render(
        a=a,
        title=page_title(results),
        facts=facts(a),
        effects=a.effects,
        charts=[c for c in a.charts if c.svg],
        chart_notes=durability_notes(a),
        omitted=[c for c in a.charts if not c.svg],
        invalid=invalid_trials(a),
        skipped=skipped_configs(a),
        durability=durability_table(a),
        ram=ram_locations(a),
        table=results_table(a),
        constants=[(fmt.dimension_label(d), fmt.value_label(d, v))
                   for d, v in a.constant.items()],
        environment=environment_items(results),
        filesystems=[(loc, (info or {}).get("path") or "–", (info or {}).get("fs_type") or "–")
                     for loc, info in (env.get("filesystems") or {}).items()],
        spec=spec_items(a),
        command=command,
        command_line=command_line if command_line and command_line != command else "",
        rerender=f"gigq-bench report {source}",
        downloads=embedded_downloads(results),
    )


def render_report(results: Results | str | os.PathLike[str],
                  out_path: str | os.PathLike[str] | None = None) -> Path:
    """Write the report of ``results`` and return the path of the HTML file.

    ``results`` is a :class:`Results`, or a run directory / ``results.json`` to load
    (raises :class:`gigq.bench.results.ResultsError` when it holds no usable results).
    ``out_path`` is the file to write, or a directory to write ``index.html`` into;
    default: ``index.html`` next to the loaded ``results.json``. The file is written
    under a temporary name and renamed, so a failure never leaves half a report in place
    of a good one.
    """
    if not isinstance(results, Results):
        results = load_results(results)
    if out_path is None:
        if results.path is None:
            raise ValueError("out_path is needed for results that were not loaded from disk")
        out_path = results.path / "index.html"
    out = Path(out_path)
    if out.is_dir() or (not out.suffix and not out.exists()):
        out = out / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(out, render_html(results))


def export_charts(results: Results | str | os.PathLike[str],
                  out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write every chart of the report as ``out_dir/<key>.svg`` (for documents that
    embed them); returns the paths. Charts the run cannot draw are left out."""
    if not isinstance(results, Results):
        results = load_results(results)
    a = add_charts(analyse(results))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for block in a.charts:
        if block.chart is None:
            continue
        path = out / f"{block.key}.svg"
        path.write_text(to_svg(block.chart, f"chart-{block.key}") + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def render_from_path(path: str | os.PathLike[str],
                     out: str | os.PathLike[str] | None = None) -> Path:
    """Load a run (directory or ``results.json``) and write its report.

    Default output: ``index.html`` next to ``results.json``. Raises
    :class:`gigq.bench.results.ResultsError` for a missing or unreadable run, or one
    with nothing to show (no trial rows and nothing skipped).
    """
    results = load_results(path)
    if results.holds_nothing:
        raise ResultsError(f"{path} holds no trials (no rows, nothing skipped); nothing to "
                           "report — run a sweep first (gigq-bench sweep)")
    return render_report(results, out)
