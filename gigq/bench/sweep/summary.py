"""The short text summary printed at the end of a sweep.

The recommended configuration per job type (by the rule of
:mod:`gigq.bench.recommend`, which the report uses too: median jobs/s over valid
repetitions with a bootstrap 95% interval, the ties named), the latency of steady-mode
configurations, the invalid trials and why, and the files written.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..numbers import rate
from ..recommend import (
    MIN_VALID_TRIALS,
    Candidate,
    candidates,
    choose,
    example_db,
    invalid_notes,
    why_not_best,
    worker_command,
)
from ..results import Results
from .space import STEADY, describe


def _candidate_line(c: Candidate) -> str:
    iv = c.interval
    return (f"{rate(iv.estimate)} jobs/s [{rate(iv.low)}-{rate(iv.high)}], "
            f"{c.durability}, n={iv.n}")


def recommendation_lines(results: Results) -> list[str]:
    """Per job type: the recommended configuration and the command that runs it, the
    ones tied with it, why the fastest measured is not recommended when it is not, and
    the configurations with invalid trials."""
    choices = choose(candidates(results))
    if not choices:
        return []
    filesystems = results.environment.get("filesystems") or {}
    multi = len({ch.version for ch in choices}) > 1
    lines = [f"Recommended configuration per job type (median jobs/s [95% CI], durability; "
             f"the cheapest of those within the fastest one's interval, from "
             f"{MIN_VALID_TRIALS}+ trials, none invalid, crash-safe or better, on disk; "
             f"steady-mode trials are rate-limited and not compared):"]
    for ch in choices:
        who = f"{ch.job_type}{f' [{ch.version}]' if multi else ''}"
        rec = ch.recommended
        if rec is None:
            lines.append(f"  {who}: nothing to recommend: {ch.reason}")
        else:
            lines.append(f"  {who}: {_candidate_line(rec)}")
            lines.append(f"      {describe(rec.values, None)}")
            db = example_db(rec.values, filesystems)
            lines.append(f"      run: {worker_command(rec.values, db)}")
            if ch.others:
                lines.append(f"    tied (within the interval, but not cheaper): "
                             f"{len(ch.others)}")
                for c in ch.others[:4]:
                    lines.append(f"      {describe(c.values, None)}: {_candidate_line(c)}")
                if len(ch.others) > 4:
                    lines.append(f"      … and {len(ch.others) - 4} more")
            if why_not_best(ch):
                lines.append(f"    {why_not_best(ch)}")
        fast = ch.fastest
        if fast is not None and fast is not rec and fast not in ch.ties:
            why = fast.ineligible()
            lines.append(f"    fastest measured: {_candidate_line(fast)}"
                         + (f" — not recommended: {why}" if why else ""))
            lines.append(f"      {describe(fast.values, None)}")
        lines.extend(f"    {line}" for line in invalid_notes(ch))
    return lines


def latency_lines(results: Results) -> list[str]:
    """One line per steady configuration: median p50/p95 end-to-end latency."""
    rows = results.valid_rows
    if rows.empty or "mode" not in rows:
        return []
    steady = rows[rows["mode"] == STEADY]
    lines = []
    base = results.spec.get("base")
    for _cid, part in steady.groupby("config_id", sort=False):
        p50 = part["end_to_end_p50_ms"].median()
        p95 = part["end_to_end_p95_ms"].median()
        label = describe(part.iloc[0].to_dict(), base)
        lines.append(f"  {label}: end-to-end p50 {p50:.1f} ms, p95 {p95:.1f} ms "
                     f"({len(part)} trials)")
    return lines


def summary_text(results: Results, paths: Iterable[Path] = (), interrupted: bool = False) -> str:
    """The end-of-sweep summary as text."""
    rows = results.rows
    total = len(rows)
    valid = int(rows["valid"].astype(bool).sum()) if total else 0
    lines = []
    state = "interrupted" if interrupted else "finished"
    lines.append(f"Sweep {state}: {total} trials ({valid} valid, {total - valid} invalid), "
                 f"{len(results.skipped)} configurations skipped.")
    recs = recommendation_lines(results)
    if recs:
        lines.append("")
        lines.extend(recs)
    lat = latency_lines(results)
    if lat:
        lines.append("")
        lines.append("Steady-mode latency (vs the base configuration; rate-limited: jobs/s "
                     "there is the producer's arrival rate, not a speed):")
        lines.extend(lat)
    if total and valid < total:
        bad = rows[~rows["valid"].astype(bool)]
        lines.append("")
        lines.append("Invalid trials (never averaged in):")
        for _, row in bad.head(8).iterrows():
            lines.append(f"  {row['trial_id']} {row['config_id']}: {row['invalid_reason']}")
        if len(bad) > 8:
            lines.append(f"  … and {len(bad) - 8} more (see results.csv)")
    if total and "too_short" in rows and rows["too_short"].notna().any():
        short = rows[rows["too_short"].notna() & rows["valid"].astype(bool)]
        if not short.empty:
            lines.append("")
            lines.append(f"Too short to trust ({len(short)} valid trials; start-up or other "
                         "load took much of their window — raise jobs or target_seconds, "
                         "or re-run on a quieter machine):")
            for _, row in short.head(8).iterrows():
                lines.append(f"  {row['trial_id']} {row['config_id']}: {row['too_short']}")
            if len(short) > 8:
                lines.append(f"  … and {len(short) - 8} more (see results.csv)")
    if results.skipped:
        reasons = pd.Series([s["reason"] for s in results.skipped]).value_counts()
        lines.append("")
        lines.append("Skipped configurations:")
        for reason, count in reasons.items():
            lines.append(f"  {count} x {reason}")
    paths = list(paths)
    if paths:
        lines.append("")
        lines.append("Written:")
        lines.extend(f"  {p}" for p in paths)
    return "\n".join(lines)
