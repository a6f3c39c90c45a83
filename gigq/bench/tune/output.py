"""What ``gigq-bench tune`` hands back: settings to paste, a TOML file, a summary,
``tune.json`` and the trial rows.

The recommended settings come in every form GigQ accepts — ``gigq worker`` flags,
``GIGQ_*`` environment variables, Python keyword arguments and a ``[worker]`` TOML
file for ``gigq worker --config FILE`` / ``Worker.from_config(db, FILE)`` — always
with their durability class next to them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import worker_settings
from ..html.format import dimension_label
from ..numbers import clock, rate
from ..report.render import DURABILITY_MEANING
from ..results import json_ready, write_atomic
from ..stats import Interval
from ..sweep.space import durability_of
from .search import MIN_GAIN_PAIRS, TUNED, TuneResult, gigq_defaults, settings_key

TUNE_FORMAT = "gigq-bench-tune"
TUNE_FORMAT_VERSION = 1



@dataclass
class TuneContext:
    """What the run was asked to do, for the outputs."""

    job: str                       # "io", or "custom (myapp.tasks.resize)"
    objective: str                 # throughput, latency
    metric: str                    # jobs_per_sec, end_to_end_p95_ms
    unit: str
    floor: str
    budget: float
    location: str                  # name
    location_path: str | None
    fs_type: str | None
    db: str = "jobs.db"            # database path used in the printed commands
    in_ram: bool = False           # the location is a RAM file system: all unsafe
    arrival_rate: float | None = None
    command: str = ""
    reference_notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for tune.json."""
        return dict(self.__dict__)


def _fmt_value(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if unit == "jobs/s":
        return f"{rate(value)} jobs/s"
    return f"{value:,.1f} {unit}"


# ---------------------------------------------------------------------------
# Settings in every form


def worker_flags(settings: Mapping[str, Any], db: str = "jobs.db") -> str:
    """The settings as a ``gigq --db DB worker …`` command line (the report's own)."""
    return worker_settings.worker_command(settings, db)


def environment(settings: Mapping[str, Any]) -> dict[str, str]:
    """The ``GIGQ_*`` environment variables `gigq worker` reads for these settings.

    GigQ has no variables for the process and thread counts; those stay flags.
    """
    return worker_settings.environment(settings)


def environment_command(settings: Mapping[str, Any], db: str = "jobs.db") -> str:
    """``VAR=value … gigq worker --processes N --concurrency C``."""
    return worker_settings.environment_command(settings, db)


def python_code(settings: Mapping[str, Any], db: str = "jobs.db") -> str:
    """The settings as Python: Worker keyword arguments and SQLiteSettings."""
    return worker_settings.python_code(settings, db)


def worker_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[worker]`` table: what ``gigq worker --config`` and
    ``Worker.from_config`` read (``processes`` only when more than one)."""
    return worker_settings.worker_config(settings)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return f"[{', '.join(_toml_value(v) for v in value)}]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def toml_text(settings: Mapping[str, Any], comments: Sequence[str] = ()) -> str:
    """A small TOML file of the settings, with ``comments`` on top."""
    lines = [f"# {c}" if c else "#" for c in comments]
    lines.append("[worker]")
    lines.extend(f"{k} = {_toml_value(v)}" for k, v in worker_config(settings).items())
    return "\n".join(lines) + "\n"


def write_toml(path: str | Path, settings: Mapping[str, Any], comments: Sequence[str] = ()) -> Path:
    """Write :func:`toml_text` to ``path`` (atomically); returns the path."""
    return write_atomic(path, toml_text(settings, comments))


# ---------------------------------------------------------------------------
# Gains


def gain_text(ratio: Interval | None, higher_is_better: bool) -> str:
    """``×7.11 [95% CI ×6.52-×7.19]`` for throughput; for latency the p95 ratio and
    how much lower it is."""
    if ratio is None or not math.isfinite(ratio.estimate):
        return "not measured"
    text = f"×{ratio.estimate:.2f} [95% CI ×{ratio.low:.2f}-×{ratio.high:.2f}]"
    if higher_is_better:
        return f"{text} ({(ratio.estimate - 1) * 100:+.0f}% jobs/s)"
    return f"{text} of the p95 latency ({(1 - ratio.estimate) * 100:.0f}% lower)"


def verdict_text(result: TuneResult) -> str:
    """One sentence: the gain, or "the defaults are fine here", or why unverified."""
    verdict = result.verdict
    comparison = result.comparison
    if result.winner is None:
        return "No candidate completed a valid trial: nothing to recommend."
    if result.winner_is_reference:
        return _reference_won_text(result)
    if verdict == "unverified":
        why = "interrupted before" if result.interrupted else "no budget left for"
        return (f"Not verified ({why} the re-measurement against the defaults): treat "
                "the settings as a lead and re-run with a larger --budget.")
    gain = gain_text(comparison.ratio if comparison else None, result.higher_is_better)
    if verdict == "gain" and comparison is not None:
        return (f"Significant gain over GigQ's defaults: {gain}, p={comparison.p_value:.3g} "
                f"over {comparison.pairs} pairs (paired randomisation test).")
    why = comparison.why_not if comparison else ""
    if comparison is not None and comparison.pairs < MIN_GAIN_PAIRS:
        return (f"Not significant: {why} ({gain}), so GigQ's defaults stay recommended; "
                "re-run with a larger --budget to test the settings found.")
    return (f"The defaults are fine here: the best settings found were not significantly "
            f"better than GigQ's defaults ({gain}; {why}).")


def _reference_won_text(result: TuneResult) -> str:
    """The search's best was GigQ's defaults: fine if a challenger was measured with
    them over enough pairs, else inconclusive, saying what was measured."""
    comparison, challenger = result.comparison, result.challenger
    ref_key = settings_key(result.reference)
    search = [o for o in result.observations if o.stage != "final"]
    ref_trials = sum(1 for o in search if o.key == ref_key)
    others = len({o.key for o in search if o.key != ref_key})
    pairs = comparison.pairs if comparison is not None else 0
    if result.verdict == "defaults-fine" and comparison is not None and challenger is not None:
        gain = gain_text(comparison.ratio, result.higher_is_better)
        return (f"The defaults are fine here: the best other settings found "
                f"({settings_key(challenger)}), re-measured against GigQ's defaults, were "
                f"not significantly better ({gain}; {comparison.why_not}).")
    if others:
        against = (f"{others} other candidate{'' if others == 1 else 's'} in the search, "
                   f"then {pairs} interleaved pair{'' if pairs == 1 else 's'} with the best "
                   "of them")
    else:
        against = "no other candidate"
    measured = (f"GigQ's defaults were measured {ref_trials} time"
                f"{'' if ref_trials == 1 else 's'} and {against}, in "
                f"{clock(result.spent)} of a {clock(result.budget)} budget")
    why = (f"a verdict on the defaults needs at least {MIN_GAIN_PAIRS} interleaved pairs "
           "with a challenger")
    return (f"Inconclusive: {measured}; {why}. GigQ's defaults stay recommended; re-run "
            "with a larger --budget to search further.")


# ---------------------------------------------------------------------------
# Summary text


def _rounds_line(result: TuneResult) -> str:
    parts = []
    for record in result.rounds:
        sizes = " → ".join(str(sum(1 for e in r.ranking if e["n"])) for r in record.rungs)
        parts.append(f"{record.name}: {sizes}")
    return "; ".join(parts)


def summary_text(result: TuneResult, context: TuneContext, paths: Sequence[Path] = ()) -> str:
    """The text printed at the end of a tune run."""
    unit = context.unit
    lines = []
    where = context.location + (f" ({context.location_path}, {context.fs_type})"
                                if context.location_path else "")
    target = "throughput" if context.objective == "throughput" else \
        f"p95 latency at {context.arrival_rate:g} jobs/s"
    state = "interrupted" if result.interrupted else "finished"
    lines.append(f"Tune {state}: {context.job} jobs, {target}, durability floor "
                 f"{context.floor}, database on {where}.")
    lines.append(f"  {result.evaluations} trials in {clock(result.spent)} of a "
                 f"{clock(result.budget)} budget; search rounds (candidates per "
                 f"rung): {_rounds_line(result) or '-'}.")
    invalid = [o for o in result.observations if not o.valid]
    if invalid:
        lines.append(f"  {len(invalid)} trials did not complete (too slow, or failed); "
                     "they only rank candidates out, never in:")
        for o in invalid[:4]:
            lines.append(f"    {o.key}: {o.reason}")
        if len(invalid) > 4:
            lines.append(f"    … and {len(invalid) - 4} more (tune.json)")
    lines.append("")
    if result.winner is None:
        lines.append(verdict_text(result))
        return "\n".join(lines + _written(paths))
    lines.append(f"Best found: {settings_key(result.found or result.winner)}")
    simple = simplification_text(result)
    if simple:
        lines.append(f"  {simple}")
    comparison = result.comparison
    defaults = settings_key(result.reference)
    if comparison is not None and comparison.pairs:
        lines.append(f"Re-measured against GigQ's defaults ({defaults}) in "
                     f"{comparison.pairs} interleaved rounds:")
        tuned = "challenger" if result.winner_is_reference else "tuned"
        for label, ci in ((tuned, comparison.winner_ci),
                          ("defaults", comparison.reference_ci)):
            if ci is not None:
                lines.append(f"  {label:<11} {_fmt_value(ci.estimate, unit):>14}  "
                             f"[95% CI {rate(ci.low)}-{rate(ci.high)}]")
    for note in context.reference_notes:
        lines.append(f"  (defaults: {note})")
    lines.append(verdict_text(result))
    recommended = result.recommended
    if recommended is not None:
        durability = durability_of(recommended, context.in_ram)
        lines.append("")
        which = "GigQ's defaults" if settings_key(recommended) == settings_key(
            result.reference) else "these settings"
        lines.append(f"Recommended: {which} — {durability} ({DURABILITY_MEANING[durability]}).")
        lines.append("  gigq worker flags:")
        lines.append(f"    {worker_flags(recommended, context.db)}")
        lines.append("  environment variables (GigQ reads none for processes or threads: "
                     "those stay flags):")
        lines.append(f"    {environment_command(recommended, context.db)}")
        lines.append("  Python:")
        lines.extend(f"    {line}" if line else "" for line in
                     python_code(recommended, context.db).splitlines())
        if recommended["journal_mode"] != gigq_defaults()["journal_mode"] or \
                recommended["synchronous"] != gigq_defaults()["synchronous"]:
            lines.append("  Give the JobQueue that submits the same storage settings "
                         "(JobQueue(db, settings=settings)): the journal mode belongs to "
                         "the file.")
    return "\n".join(lines + _written(paths))


def simplification_text(result: TuneResult) -> str:
    """What the final comparison said about the minor settings (journal mode,
    synchronous, cache size, polling interval) at GigQ's defaults, if it tried them."""
    ratio = result.simplification
    if result.simplified is None or ratio is None:
        return ""
    changed = [dimension_label(d) for d in ("journal_mode", "synchronous", "cache_size",
                                            "polling_interval")
               if (result.found or {}).get(d) != result.simplified.get(d)]
    what = "throughput" if result.higher_is_better else "p95 latency"
    measured = (f"×{ratio.estimate:.2f} [95% CI ×{ratio.low:.2f}-×{ratio.high:.2f}] of its "
                f"{what}")
    if result.winner == result.simplified:
        return (f"With {', '.join(changed)} at GigQ's defaults: {measured} — no measurable "
                "loss, so those stay at the defaults.")
    return (f"With {', '.join(changed)} at GigQ's defaults: {measured} — a real loss, so "
            "the best found is kept.")


def _written(paths: Sequence[Path]) -> list[str]:
    paths = list(paths)
    if not paths:
        return []
    return ["", "Written:", *(f"  {p}" for p in paths)]


def toml_comments(result: TuneResult, context: TuneContext, when: str) -> list[str]:
    """The comment header of the ``--write`` file: provenance and evidence."""
    recommended = result.recommended or result.reference
    comments = [
        f"GigQ worker settings from gigq-bench tune ({when})",
        f"{context.job} jobs, objective {context.objective}, durability floor "
        f"{context.floor}",
        verdict_text(result),
        f"durability of these settings: {durability_of(recommended, context.in_ram)}",
        f"use: gigq --db {context.db} worker --config FILE",
        f"  or Worker.from_config({json.dumps(context.db)}, \"FILE\")",
    ]
    if context.command:
        comments.append(f"reproduce: {context.command}")
    return comments


# ---------------------------------------------------------------------------
# tune.json


def tune_document(result: TuneResult, context: TuneContext,
                  environment: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The search path, the comparison and the recommendation as plain data."""
    recommended = result.recommended
    rec_doc = None
    if recommended is not None:
        rec_doc = {
            "settings": dict(recommended),
            "key": settings_key(recommended),
            "durability": durability_of(recommended, context.in_ram),
            "flags": worker_flags(recommended, context.db),
            "environment": environment_command(recommended, context.db),
            "python": python_code(recommended, context.db),
            "toml": toml_text(recommended),
        }
    return {
        "format": TUNE_FORMAT,
        "format_version": TUNE_FORMAT_VERSION,
        "context": context.as_dict(),
        "space": result.space.as_dict(),
        "tuned": list(TUNED),
        "reference": {"settings": dict(result.reference),
                      "key": settings_key(result.reference),
                      "notes": list(context.reference_notes)},
        "winner": None if result.winner is None else {
            "settings": dict(result.winner), "key": settings_key(result.winner),
            "durability": durability_of(result.winner, context.in_ram)},
        "found": None if result.found is None else {
            "settings": dict(result.found), "key": settings_key(result.found)},
        "simplified": None if result.simplified is None else {
            "settings": dict(result.simplified), "key": settings_key(result.simplified),
            "adopted": result.winner == result.simplified,
            "ratio": None if result.simplification is None else {
                "estimate": result.simplification.estimate,
                "low": result.simplification.low, "high": result.simplification.high,
                "n": result.simplification.n, "level": result.simplification.level},
            "text": simplification_text(result)},
        "challenger": None if result.challenger is None else {
            "settings": dict(result.challenger), "key": settings_key(result.challenger)},
        "rounds": [r.as_dict() for r in result.rounds],
        "observations": [o.as_dict() for o in result.observations],
        "comparison": None if result.comparison is None else result.comparison.as_dict(),
        "verdict": result.verdict,
        "verdict_text": verdict_text(result),
        "recommendation": rec_doc,
        "budget_s": result.budget,
        "spent_s": round(result.spent, 2),
        "evaluations": result.evaluations,
        "interrupted": result.interrupted,
        "environment": dict(environment or {}),
    }


def write_tune_json(path: str | Path, document: Mapping[str, Any]) -> Path:
    """Write tune.json (NaN/inf as null), atomically."""
    return write_atomic(path, json.dumps(json_ready(dict(document)), indent=1, default=str))


def trial_rows(result: TuneResult) -> list[dict[str, Any]]:
    """Every trial's row (sweep format) with the tune columns ``tune_stage``,
    ``tune_round``, ``tune_rung`` and ``tune_role`` (candidate; in the final comparison
    winner, simplified or reference)."""
    rows = []
    for o in result.observations:
        if o.row is None:
            continue
        row = dict(o.row)
        row.update(tune_stage=o.stage, tune_round=o.round, tune_rung=o.rung, tune_role=o.role)
        rows.append(row)
    return rows
