"""The result data model: one tidy row per trial, plus the sweep spec and environment.

On disk a run is a directory holding ``results.json`` (everything) and
``results.csv`` (the rows only). ``load(path)`` gives a pandas DataFrame whose
``attrs`` carry ``spec``, ``environment`` and ``skipped``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

FORMAT = "gigq-bench-results"
FORMAT_VERSION = 1

# The dimensions of a configuration, in display order; a sweep may add more.
CONFIG_COLUMNS = (
    "job_type", "workers", "concurrency", "journal_mode", "synchronous", "cache_size",
    "polling_interval", "location", "jobs", "mode", "submit",
)
# Identity of a trial within a run.
TRIAL_COLUMNS = ("config_id", "trial_id", "repetition", "order", "version", "started_at")
# What every trial row carries: without them no row can be aggregated or shown.
REQUIRED_ROW_FIELDS = ("config_id", "valid")
# Outcome columns besides the metrics of gigq.bench.metrics.
OUTCOME_COLUMNS = (
    "durability", "valid", "invalid_reason", "jobs_completed", "duration_s",
    "ceiling_commits_per_sec", "note", "load_1m",
    # The spread of the ceiling probes whose median is ceiling_commits_per_sec.
    "ceiling_min_commits_per_sec", "ceiling_max_commits_per_sec",
    # Why a trial is too short to trust (metrics.too_short), None when it is not.
    "too_short",
)


class ResultsError(Exception):
    """A results file or directory that cannot be used; the message says why and what to do."""


@dataclass
class Results:
    """A run: the rows (DataFrame), the sweep spec, the environment, skipped configs."""

    rows: pd.DataFrame
    spec: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None

    @property
    def holds_nothing(self) -> bool:
        """No trial rows and nothing skipped: a file with nothing any page can show."""
        return self.rows.empty and not self.skipped

    @property
    def valid_rows(self) -> pd.DataFrame:
        """Rows of trials that passed verification (the only ones ever aggregated)."""
        if self.rows.empty or "valid" not in self.rows:
            return self.rows
        return self.rows[self.rows["valid"].astype(bool)]

    def to_json_dict(self) -> dict[str, Any]:
        """The results.json document."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "spec": self.spec,
            "environment": self.environment,
            "skipped": self.skipped,
            "rows": json_ready(self.rows.to_dict(orient="records")),
        }


def json_ready(value: Any) -> Any:
    """``value`` as plain JSON data, for every JSON file gigq-bench writes.

    numpy scalars become Python numbers, NaN and ±inf become None (JSON has no
    such numbers: ``json.dumps`` would write ``NaN``, which other readers reject),
    dicts, lists and tuples are cleaned all the way down and dict keys become
    strings.
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary name and a rename, so an
    interrupted write never leaves a half-written file in place of a good one."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def json_text(results: Results) -> str:
    """The text of ``results.json`` (what :func:`save` writes)."""
    return json.dumps(results.to_json_dict(), indent=1, default=str)


def csv_text(results: Results) -> str:
    """The text of ``results.csv``: the rows only (what :func:`save` writes)."""
    return results.rows.to_csv(index=False)


def save(results: Results, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.csv`` into ``out_dir`` (each atomically);
    returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = write_atomic(out / "results.json", json_text(results))
    csv_path = write_atomic(out / "results.csv", csv_text(results))
    results.path = out
    return json_path, csv_path


def _resolve(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if p.is_dir():
        candidate = p / "results.json"
        if not candidate.exists():
            raise ResultsError(
                f"{p} holds no results.json; point at a directory written by "
                "'gigq-bench sweep --out DIR' (or at its results.json)"
            )
        return candidate
    if not p.exists():
        raise ResultsError(f"{p} does not exist; pass a results directory or results.json")
    if p.suffix == ".csv":
        sibling = p.with_name("results.json")
        if sibling.exists():
            return sibling
        raise ResultsError(f"{p}: load the run's results.json (it carries the spec too)")
    return p


_NUMERIC_OUTCOMES = ("jobs_completed", "duration_s", "ceiling_commits_per_sec", "load_1m",
                     "ceiling_min_commits_per_sec", "ceiling_max_commits_per_sec")


def _coerce(df: pd.DataFrame) -> pd.DataFrame:
    """Metric columns numeric (null → NaN) even when a column holds only nulls."""
    from .metrics import METRICS

    for column in (*METRICS, *_NUMERIC_OUTCOMES):
        if column in df:
            df[column] = pd.to_numeric(df[column], errors="coerce").astype(float)
    if "valid" in df:
        df["valid"] = df["valid"].astype(bool)
    return df


def _checked_rows(json_path: Path, rows: Any) -> list[dict[str, Any]]:
    """The rows, or :class:`ResultsError` naming the fields a trial row must have
    (a report made of other rows would be a page of blanks)."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ResultsError(f"{json_path}: 'rows' must be a list of trial rows (objects)")
    lacking = [r for r in rows if not all(f in r for f in REQUIRED_ROW_FIELDS)]
    if lacking:
        missing = sorted({f for r in lacking for f in REQUIRED_ROW_FIELDS if f not in r})
        raise ResultsError(
            f"{json_path}: {len(lacking)} of {len(rows)} rows lack the field(s) "
            f"{', '.join(missing)} every trial row has; this is not the output of "
            "'gigq-bench sweep' (re-run it, or fix the file)"
        )
    seen: dict[Any, str] = {}
    for index, row in enumerate(rows):
        where = _row_name(row, index)
        problem = _row_problem(row)
        if problem is None:
            key = _trial_key(row)
            if key is not None and key in seen:
                problem = f"repeats the trial of {seen[key]} (same {_key_text(key)})"
            elif key is not None:
                seen[key] = where
        if problem is not None:
            raise ResultsError(
                f"{json_path}: {where}: {problem}; this is not what 'gigq-bench sweep' "
                "writes (fix or remove the row, or re-run the sweep)"
            )
    return rows


def _row_name(row: Mapping[str, Any], index: int) -> str:
    trial = row.get("trial_id")
    if isinstance(trial, str) and trial:
        return f"trial {trial} (row {index + 1})"
    return f"row {index + 1}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _row_problem(row: Mapping[str, Any]) -> str | None:
    """What is wrong with one trial row's values, or None."""
    from .metrics import METRICS

    if not isinstance(row["valid"], bool):
        return f"valid is {row['valid']!r}, it must be true or false"
    if "repetition" in row:
        rep = row["repetition"]
        if not (_is_number(rep) and math.isfinite(rep) and float(rep).is_integer()):
            return f"repetition is {rep!r}, it must be an integer"
    for name in (*METRICS, *_NUMERIC_OUTCOMES):
        value = row.get(name)
        if value is None:
            continue
        if not _is_number(value) or not math.isfinite(value):
            return f"{name} is {value!r}, it must be null or a finite number"
        minimum = METRICS[name].minimum if name in METRICS else None
        if minimum is not None and value < minimum:
            return f"{name} is {value!r}, it cannot be below {minimum:g}"
    return None


def _trial_key(row: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What identifies the row's trial in a run: its trial_id, else its configuration,
    version and repetition (None when the row carries neither)."""
    trial = row.get("trial_id")
    if trial is not None:
        return ("trial_id", trial)
    if row.get("repetition") is not None:
        return ("config_id", row["config_id"], "version", row.get("version"),
                "repetition", row["repetition"])
    return None


def _key_text(key: tuple[Any, ...]) -> str:
    return ", ".join(f"{key[i]} {key[i + 1]!r}" for i in range(0, len(key), 2))


def _checked_object(json_path: Path, doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``doc[name]`` as a dict (null or absent: empty), else :class:`ResultsError`."""
    value = doc.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ResultsError(
            f"{json_path}: '{name}' is a {type(value).__name__}, it must be an object "
            "(fix the file, or re-run the sweep)"
        )
    return value


def load_results(path: str | os.PathLike[str]) -> Results:
    """Read a run from its directory or ``results.json``; raises :class:`ResultsError`."""
    json_path = _resolve(path)
    try:
        doc = json.loads(json_path.read_text())
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{json_path} is not a readable results file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ResultsError(f"{json_path} is not a gigq-bench results file")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise ResultsError(
            f"{json_path} has results format {version}, this gigq-bench reads format "
            f"{FORMAT_VERSION}; "
            + ("upgrade gigq[bench] to read it" if newer else
               "re-run the sweep with this version to compare")
        )
    rows = _coerce(pd.DataFrame(_checked_rows(json_path, doc.get("rows") or [])))
    return Results(
        rows=rows,
        spec=_checked_object(json_path, doc, "spec"),
        environment=_checked_object(json_path, doc, "environment"),
        skipped=doc.get("skipped") or [],
        path=json_path.parent,
    )


def load(path: str | Path) -> pd.DataFrame:
    """The trial rows of a run as a DataFrame (``attrs``: spec, environment, skipped)."""
    results = load_results(path)
    df = results.rows
    df.attrs["spec"] = results.spec
    df.attrs["environment"] = results.environment
    df.attrs["skipped"] = results.skipped
    return df
