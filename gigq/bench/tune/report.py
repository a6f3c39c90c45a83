"""The page of a ``gigq-bench tune`` run: the verdict, the settings, the search path
and the final comparison, in the sweep report's style.

Built from ``tune.json`` (the document :func:`gigq.bench.tune.output.tune_document`
writes) and the run's trial rows; drawn with the report package's templates
(``base.html.j2``, ``macros.html.j2``), charts and number formats, so a tune page
looks like a sweep report and writes settings and numbers the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import numbers as num
from ..exit_codes import ExitCode
from ..html import format as fmt
from ..html.charts import DURABILITY_COLORS, BarChart, Points, ScatterChart, Series, to_svg
from ..metrics import METRICS
from ..report.render import Cell, Column, Row, Table, environment_items, jinja_environment
from ..results import Results, load_results, write_atomic
from ..stats import Interval
from .search import TUNED, TuneError

PAGE = "index.html"
FINAL_LABELS = {"winner": "final: best found", "simplified": "final: minor settings at defaults",
                "reference": "final: GigQ defaults"}


def _interval(data: Mapping[str, Any] | None) -> Interval | None:
    if not data or data.get("estimate") is None:
        return None
    return Interval(data["estimate"], data["low"], data["high"], data.get("level", 0.95),
                    data.get("n", 0))


def settings_phrase(settings: Mapping[str, Any]) -> str:
    """``4 workers, 16 threads per worker, WAL, synchronous=NORMAL, …``."""
    return fmt.context_phrase({d: settings.get(d) for d in TUNED})


def differences(settings: Mapping[str, Any], reference: Mapping[str, Any]) -> str:
    """What differs from the reference, as a phrase (or "GigQ's defaults")."""
    changed = {d: settings.get(d) for d in TUNED if settings.get(d) != reference.get(d)}
    return fmt.context_phrase(changed) if changed else "GigQ's defaults"


# ---------------------------------------------------------------------------
# Charts


def search_chart(doc: Mapping[str, Any]) -> ScatterChart | None:
    """Every trial's value in the order it ran, by stage; hollow: did not complete;
    the line: the best valid candidate value so far."""
    metric = doc["context"]["metric"]
    higher = METRICS[metric].higher_is_better
    observations = [o for o in doc["observations"] if o.get("value") is not None]
    if not observations:
        return None
    groups: dict[tuple[str, bool], Points] = {}
    markers: list[tuple[float, str]] = []
    step_x: list[float] = []
    step_y: list[float] = []
    best = None
    last_stage = None
    for i, o in enumerate(doc["observations"], 1):
        stage = o["stage"] if o["stage"] != "final" else FINAL_LABELS.get(o["role"], o["role"])
        if o["stage"] != last_stage:
            markers.append((i - 0.5, o["stage"]))
            last_stage = o["stage"]
        if o.get("value") is None:
            continue
        value = fmt.scaled(metric, o["value"])
        hollow = not o["valid"]
        label = stage + (" (did not complete)" if hollow else "")
        group = groups.setdefault((label, hollow), Points(label, [], [], hollow))
        group.x.append(i)
        group.y.append(value)
        if o["valid"] and o["role"] == "candidate" and (
                best is None or (value > best if higher else value < best)):
            best = value
        if best is not None:
            step_x.append(i)
            step_y.append(best)
    values = [y for g in groups.values() for y in g.y]
    spread = max(values) / max(min(values), 1e-9) if values else 1
    return ScatterChart(
        title="Search path: every trial in the order it ran",
        x_label="trial", y_label=fmt.metric_label(metric),
        groups=list(groups.values()),
        step=Series("best so far", step_x, step_y, [], []) if step_x else None,
        markers=markers, log_y=spread > 20)


def _tuned_label(doc: Mapping[str, Any]) -> str:
    # When the defaults won the search, the comparison's other side is the challenger.
    return "challenger" if doc.get("challenger") else "tuned"


def comparison_chart(doc: Mapping[str, Any]) -> BarChart | None:
    """Medians with 95% CIs of the winner and the defaults in the final comparison."""
    comparison = doc.get("comparison")
    if not comparison or not comparison.get("pairs"):
        return None
    metric = doc["context"]["metric"]
    winner = _interval(comparison.get("winner_median"))
    reference = _interval(comparison.get("reference_median"))
    if winner is None or reference is None:
        return None

    def scale(value: float) -> float:
        return fmt.scaled(metric, value)

    ratio = _interval(comparison.get("ratio"))
    colors = [DURABILITY_COLORS.get((doc.get("winner") or {}).get("durability", ""), "#4C6A92"),
              "#999999"]
    return BarChart(
        title="Final comparison, interleaved rounds",
        y_label=fmt.metric_label(metric),
        labels=[_tuned_label(doc), "GigQ defaults"],
        y=[scale(winner.estimate), scale(reference.estimate)],
        low=[scale(winner.low), scale(reference.low)],
        high=[scale(winner.high), scale(reference.high)],
        colors=colors,
        annotations=[fmt.ratio(ratio).split(" (")[0] if ratio else "", ""],
    )


# ---------------------------------------------------------------------------
# Tables


def rounds_table(doc: Mapping[str, Any]) -> Table:
    """One row per candidate per rung: its median, trials, and whether it went on."""
    metric = doc["context"]["metric"]
    reference = doc["reference"]["settings"]
    winner_key = (doc.get("found") or doc.get("winner") or {}).get("key")
    table = Table([
        Column("round"), Column("rung", numeric=True), Column("settings (vs GigQ's defaults)"),
        Column(fmt.short_metric_label(metric), fmt.display_unit(metric), numeric=True,
               title="median of the candidate's trials in this round"),
        Column("trials", numeric=True), Column("outcome"),
    ])
    for record in doc.get("rounds", []):
        rungs = record["rungs"]
        for r in rungs:
            last = r is rungs[-1]
            for e in r["ranking"]:
                if not e["n"]:
                    continue
                if e["key"] == winner_key and last and record is doc["rounds"][-1]:
                    outcome, badge = "best found", "ok"
                elif e.get("kept"):
                    outcome, badge = "went on", "clear"
                elif e.get("score") is None:
                    outcome, badge = e.get("reason") or "failed", "invalid"
                elif last:
                    outcome, badge = "finalist", "noise"
                else:
                    outcome, badge = "dropped", "neutral"
                median = e.get("median")
                table.rows.append(Row([
                    Cell(record["name"]),
                    Cell(str(r["rung"]), sort=r["rung"], numeric=True),
                    Cell(differences(e["settings"], reference), wrap=True,
                         title=e["key"]),
                    Cell(fmt.metric_value(metric, median, unit=False),
                         sort=fmt.scaled(metric, median), numeric=True),
                    Cell(f"{e['valid_n']}/{e['n']}", sort=e["n"], numeric=True),
                    Cell(outcome, badge=badge, wrap=badge == "invalid"),
                ], "recommended" if outcome == "best found" else
                    ("invalid" if badge == "invalid" else "")))
    return table


def pairs_table(doc: Mapping[str, Any]) -> Table:
    """The final comparison, pair by pair."""
    metric = doc["context"]["metric"]
    comparison = doc.get("comparison") or {}
    table = Table([Column("pair", numeric=True),
                   Column(_tuned_label(doc), fmt.display_unit(metric), numeric=True),
                   Column("GigQ defaults", fmt.display_unit(metric), numeric=True),
                   Column("ratio", numeric=True)])
    for i, (w, r) in enumerate(zip(comparison.get("winner") or [],
                                   comparison.get("reference") or [], strict=False), 1):
        table.rows.append(Row([
            Cell(str(i), sort=i, numeric=True),
            Cell(fmt.metric_value(metric, w, unit=False), sort=w, numeric=True),
            Cell(fmt.metric_value(metric, r, unit=False), sort=r, numeric=True),
            Cell(f"{w / r:.2f}×" if r else "–", sort=w / r if r else None, numeric=True),
        ]))
    return table


def trials_table(doc: Mapping[str, Any]) -> Table:
    """Every trial: stage, role, settings, value, cost, verification."""
    metric = doc["context"]["metric"]
    reference = doc["reference"]["settings"]
    table = Table([Column("trial"), Column("stage"), Column("role"),
                   Column("settings (vs GigQ's defaults)"),
                   Column(fmt.short_metric_label(metric), fmt.display_unit(metric),
                          numeric=True),
                   Column("cost", "s", numeric=True, title="seconds of the budget it used"),
                   Column("verified")])
    for i, o in enumerate(doc["observations"], 1):
        table.rows.append(Row([
            Cell(o.get("trial_id") or str(i), sort=i),
            Cell(o["stage"]), Cell(o["role"]),
            Cell(differences(o["settings"], reference), wrap=True, title=o["key"]),
            Cell(fmt.metric_value(metric, o.get("value"), unit=False),
                 sort=fmt.scaled(metric, o.get("value")), numeric=True),
            Cell(f"{o['cost_s']:.1f}", sort=o["cost_s"], numeric=True),
            Cell("ok" if o["valid"] else (o.get("reason") or "invalid"),
                 badge="ok" if o["valid"] else "invalid", wrap=not o["valid"]),
        ], "" if o["valid"] else "invalid"))
    return table


# ---------------------------------------------------------------------------
# The page


def facts(doc: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The boxes at the top: what was tuned, for what, where, with how much time."""
    c = doc["context"]
    objective = "throughput" if c["objective"] == "throughput" else \
        f"p95 latency at {c['arrival_rate']:g} jobs/s"
    where = c["location"] + (f" ({c['fs_type']})" if c.get("fs_type") else "")
    return [
        ("job", str(c["job"]), ""),
        ("objective", objective, ""),
        ("durability floor", c["floor"], "nothing less durable was tried"),
        ("database on", where, c.get("location_path") or ""),
        ("budget", num.duration(doc["budget_s"]), f"{num.duration(doc['spent_s'])} used"),
        ("trials", str(doc["evaluations"]),
         f"{len(doc.get('rounds') or [])} search rounds + final comparison"),
    ]


def render_html(doc: Mapping[str, Any], results: Results | None = None) -> str:
    """The tune page as one HTML document."""
    charts = []
    for key, chart, caption in (
        ("comparison", comparison_chart(doc),
         "The recommended settings and GigQ's defaults re-measured in interleaved rounds "
         "(order random within each round): medians with bootstrap 95% confidence "
         "intervals; the label is the paired ratio of medians."),
        ("search", search_chart(doc),
         "Each dot is one trial. Successive halving gives most trials to the contenders: "
         "the best third of each rung is measured again with twice the repetitions. "
         "Hollow dots did not complete (cut off as too slow, or failed verification) and "
         "can rank a candidate out, never in."),
    ):
        if chart is not None:
            charts.append({"key": key, "svg": to_svg(chart, f"chart-{key}"),
                           "caption": caption})
    rec = doc.get("recommendation")
    c = doc["context"]
    environment = environment_items(results) if results is not None else \
        [(k.replace("_", " "), json.dumps(v) if isinstance(v, (dict, list)) else str(v))
         for k, v in (doc.get("environment") or {}).items()]
    comparison = doc.get("comparison") or {}
    verdict = doc.get("verdict")
    template = jinja_environment().get_template("tune.html.j2")
    return template.render(
        title=f"Tuning GigQ on {(doc.get('environment') or {}).get('hostname') or 'this machine'}",
        doc=doc,
        context=c,
        facts=facts(doc),
        verdict=verdict,
        verdict_text=doc.get("verdict_text", ""),
        verdict_kind={"gain": "good", "defaults-fine": "info"}.get(verdict or "", ""),
        rec=rec,
        rec_phrase=settings_phrase(rec["settings"]) if rec else "",
        winner_phrase=settings_phrase(doc["winner"]["settings"]) if doc.get("winner") else "",
        found_phrase=settings_phrase(doc["found"]["settings"]) if doc.get("found") else "",
        simplified_text=(doc.get("simplified") or {}).get("text", ""),
        reference_phrase=settings_phrase(doc["reference"]["settings"]),
        winner_median=fmt.interval(c["metric"], _interval(comparison.get("winner_median"))),
        reference_median=fmt.interval(c["metric"],
                                      _interval(comparison.get("reference_median"))),
        ratio=fmt.ratio(ratio) if (ratio := _interval(comparison.get("ratio"))) else "",
        charts=charts,
        rounds=rounds_table(doc),
        pairs=pairs_table(doc),
        trials=trials_table(doc),
        environment=environment,
        space=[(fmt.dimension_label(d), ", ".join(fmt.value_label(d, v) for v in values))
               for d, values in doc["space"]["levels"].items()],
        command=c.get("command") or "",
    )


# What the page reads from tune.json's top level (tune_document writes more).
_REQUIRED = ("context", "space", "reference", "rounds", "observations", "budget_s",
             "spent_s", "evaluations")
_FIX = "give the --out directory of a 'gigq-bench tune' run, or run it again"


def load_tune_document(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``out_dir/tune.json``, checked to be a tune document; TuneError says what to do."""
    path = Path(out_dir) / "tune.json"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise TuneError(f"no tune.json in {out_dir}: {_FIX}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TuneError(f"cannot read {path} ({exc}): {_FIX}") from None
    if not isinstance(document, dict):
        shown = json.dumps(document)
        shown = shown if len(shown) <= 30 else shown[:29] + "…"
        raise TuneError(f"{path} holds {shown}, not a tune document (a JSON object): "
                        f"{_FIX}")
    missing = [key for key in _REQUIRED if key not in document]
    if missing:
        raise TuneError(f"{path} is not a tune document (missing {', '.join(missing)}): "
                        f"{_FIX}")
    return document


def render_tune_report(out_dir: str | os.PathLike[str],
                       document: Mapping[str, Any] | None = None,
                       results: Results | None = None) -> Path:
    """Write ``out_dir/index.html`` for a tune run; returns its path.

    ``document`` defaults to ``out_dir/tune.json`` and ``results`` to the run's
    results.json. Written under a temporary name and renamed.
    """
    out = Path(out_dir)
    if document is None:
        document = load_tune_document(out)
    if results is None and (out / "results.json").exists():
        results = load_results(out)
    return write_atomic(out / PAGE, render_html(document, results))


def main(argv: list[str] | None = None) -> int:
    """``python -m gigq.bench.tune.report DIR``: ``gigq-bench tune-report DIR`` alone."""
    from .cli import tune_report_command

    try:
        tune_report_command.main(args=argv, prog_name="python -m gigq.bench.tune.report")
    except SystemExit as exc:
        return int(exc.code or ExitCode.OK)
    return ExitCode.OK


if __name__ == "__main__":
    raise SystemExit(main())
