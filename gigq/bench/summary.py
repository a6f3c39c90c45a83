"""The short text summary printed at the end of a sweep.

Best configuration per job type (median jobs/s over valid repetitions, with a
bootstrap 95% interval and the durability class), the latency of steady-mode
configurations, the invalid trials and why, and the files written.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from .results import Results
from .space import describe
from .stats import bootstrap_median


def _fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


SAFE = ("crash-safe", "power-loss-safe")


def best_per_job_type(results: Results, durable_only: bool = False) -> list[dict[str, Any]]:
    """Per job type (and version), the drain configuration with the highest median
    jobs/s: ``{job_type, version, config_id, config, median, low, high, n,
    durability}``. Steady trials are left out: their rate is the arrival rate.
    ``durable_only`` keeps crash-safe and power-loss-safe configurations only."""
    rows = results.valid_rows
    if rows.empty or "jobs_per_sec" not in rows:
        return []
    rows = rows[(rows["mode"] == "drain") & rows["jobs_per_sec"].notna()]
    if durable_only:
        rows = rows[rows["durability"].isin(SAFE)]
    best = []
    for (job_type, version), part in rows.groupby(["job_type", "version"], sort=True):
        medians = part.groupby("config_id")["jobs_per_sec"].median()
        cid = medians.idxmax()
        sample = part[part["config_id"] == cid]
        ci = bootstrap_median(sample["jobs_per_sec"].tolist())
        best.append({
            "job_type": job_type, "version": version, "config_id": cid,
            "config": sample.iloc[0].to_dict(), "median": ci.estimate, "low": ci.low,
            "high": ci.high, "n": ci.n, "durability": sample["durability"].iloc[0],
        })
    return best


def latency_lines(results: Results) -> list[str]:
    """One line per steady configuration: median p50/p95 end-to-end latency."""
    rows = results.valid_rows
    if rows.empty or "mode" not in rows:
        return []
    steady = rows[rows["mode"] == "steady"]
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
    best = best_per_job_type(results)
    durable = {(b["job_type"], b["version"]): b for b in best_per_job_type(results, True)}
    multi = len({b["version"] for b in best}) > 1
    if best:
        lines.append("")
        lines.append("Best configuration per job type (median jobs/s [95% CI], durability):")
        for b in best:
            who = f" [{b['version']}]" if multi else ""
            settings = describe(b["config"], None)
            lines.append(
                f"  {b['job_type']}{who}: {_fmt_rate(b['median'])} jobs/s "
                f"[{_fmt_rate(b['low'])}-{_fmt_rate(b['high'])}], {b['durability']}, "
                f"n={b['n']}"
            )
            lines.append(f"      {settings}")
            safe = durable.get((b["job_type"], b["version"]))
            if b["durability"] not in SAFE and safe is not None:
                lines.append(
                    f"    best that survives an application crash: {_fmt_rate(safe['median'])} "
                    f"jobs/s [{_fmt_rate(safe['low'])}-{_fmt_rate(safe['high'])}], "
                    f"{safe['durability']}, n={safe['n']}"
                )
                lines.append(f"      {describe(safe['config'], None)}")
    lat = latency_lines(results)
    if lat:
        lines.append("")
        lines.append("Steady-mode latency (vs the base configuration):")
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
            lines.append(f"Too short to trust ({len(short)} valid trials; their jobs/s "
                         "mostly measures start-up — raise jobs or target_seconds):")
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
