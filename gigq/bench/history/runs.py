"""The runs of a history: found on disk, loaded, described and sorted by date.

A run is a results directory (``results.json``, docs/bench-results.md). Runs made by
``gigq-bench ab`` also hold ``compare.json`` (the gate's verdicts, written by
:func:`gigq.bench.gate.cli.emit`); so does any run that ``gigq-bench compare … --json
RUN/compare.json`` judged as its current side. The history reads those verdicts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ..gate.compare import COMPARE_FORMAT, ab_labels, select_version
from ..html.format import parse_time
from ..results import ResultsError, load_results

# The file a run's gate verdicts live in (what `gigq-bench ab` writes next to results.json).
VERDICT_FILE = "compare.json"
# How gate.versions describes a git revision it built: "git HEAD~1 = 3f2a9c1d0e (subject)".
_GIT_VERSION = re.compile(r"^git \S+ = ([0-9a-f]{7,40})\b")


class HistoryError(ResultsError):
    """Input a history cannot be made of; the message names the path and the fix."""


@dataclass(frozen=True)
class Verdict:
    """One row of a run's gate comparison: a metric of a configuration, judged."""

    metric: str
    verdict: str  # slower, faster, unchanged, inconclusive; "correctness" for lost jobs
    reason: str


@dataclass
class Run:
    """One run of the history: its plotted rows and what identifies it."""

    path: Path
    rows: pd.DataFrame  # the plotted version's trials, valid and invalid
    valid_rows: pd.DataFrame  # those that passed verification (the only ones plotted)
    version: str  # the plotted version label ("current" for a sweep or an ab run)
    started: datetime | None
    commit: str | None
    machine: str
    profile: str
    gigq_version: str | None
    environment: dict[str, Any]
    spec: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None  # what an ab run measured against, when it is one
    gate: str | None = None  # the gate's headline, when the run holds verdicts
    verdicts: dict[str, list[Verdict]] = field(default_factory=dict)  # by config_id

    @property
    def label(self) -> str:
        """What names the run on an axis: its short commit, else its directory."""
        return short_commit(self.commit) or self.path.name

    @property
    def date(self) -> str:
        """``2026-12-01 23:40`` (UTC), or ``unknown``."""
        return self.started.strftime("%Y-%m-%d %H:%M") if self.started else "unknown"


def short_commit(commit: str | None) -> str | None:
    """``3f2a9c1`` of a full commit id, keeping a ``+dirty`` mark."""
    if not commit:
        return None
    dirty = commit.endswith("+dirty")
    bare = commit.removesuffix("+dirty")
    return bare[:7] + ("+dirty" if dirty else "")


def find_runs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The run directories named by ``paths``: each a run (a directory holding
    results.json, or the file itself) or a directory of runs (its subdirectories
    that hold one). Raises :class:`HistoryError` for a path that is neither."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise HistoryError(f"{path} does not exist; pass run directories written by "
                               "'gigq-bench sweep' or 'gigq-bench ab', or a directory of them")
        if path.is_file():
            if path.name != "results.json":
                raise HistoryError(f"{path} is not a results.json; pass the run directory "
                                   "that holds it")
            found.append(path.parent)
        elif (path / "results.json").exists():
            found.append(path)
        else:
            runs = sorted(p for p in path.iterdir() if (p / "results.json").is_file())
            if not runs:
                raise HistoryError(
                    f"{path} holds no results.json and no run directories with one; pass "
                    "run directories written by 'gigq-bench sweep' or 'gigq-bench ab' (e.g. "
                    "one --out directory per commit), or the directory that holds them")
            found.extend(runs)
    unique = {p.resolve(): p for p in found}
    if not unique:
        raise HistoryError("no runs given; pass run directories (or a directory of them)")
    return list(unique.values())


def _as_utc(moment: datetime | None) -> datetime | None:
    # Runs record aware times; a naive one (hand-made) is read as UTC so all compare.
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _started(environment: Mapping[str, Any], rows: pd.DataFrame) -> datetime | None:
    moment = parse_time(environment.get("started_at"))
    if moment is None and "started_at" in rows and not rows.empty:
        times = [u for u in (_as_utc(parse_time(v)) for v in rows["started_at"]) if u]
        return min(times) if times else None
    return _as_utc(moment)


def _machine(environment: Mapping[str, Any]) -> str:
    host = environment.get("hostname") or "unknown machine"
    cores = environment.get("cores")
    return f"{host}, {cores} cores" if cores else str(host)


def _judges(current: Mapping[str, Any], run_dir: Path, environment: Mapping[str, Any],
            version: str) -> bool:
    """Whether a comparison's current side is this run's version under test. Matched by
    what the run recorded (start time, machine), not by path: runs are kept by copying
    the gate's output directory, and compare.json holds the path it was written at."""
    if current.get("version") not in (None, version):
        return False
    if current.get("started_at") is not None or environment.get("started_at") is not None:
        return (current.get("started_at") == environment.get("started_at")
                and current.get("hostname") == environment.get("hostname"))
    path = current.get("path")
    return not path or Path(path).resolve() == run_dir.resolve()


def _verdicts(run_dir: Path, environment: Mapping[str, Any], version: str
              ) -> tuple[str | None, dict[str, list[Verdict]]]:
    """The gate headline and verdicts per configuration in ``run_dir/compare.json``,
    when the file exists and judged this run's ``version`` as its current side."""
    path = run_dir / VERDICT_FILE
    if not path.is_file():
        return None, {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HistoryError(f"{path} is not readable JSON ({exc}); delete it or write it "
                           "again with 'gigq-bench compare … --json'") from None
    if not isinstance(doc, dict) or doc.get("format") != COMPARE_FORMAT:
        raise HistoryError(f"{path} is not a gigq-bench comparison; delete it or write it "
                           "again with 'gigq-bench compare … --json'")
    if not _judges(doc.get("current") or {}, run_dir, environment, version):
        return None, {}  # this run was the comparison's base (or another run's file)
    verdicts: dict[str, list[Verdict]] = {}
    for issue in doc.get("correctness_regressions") or []:
        verdicts.setdefault(str(issue.get("config_id")), []).append(
            Verdict("valid", "correctness", str(issue.get("message") or "")))
    for row in doc.get("rows") or []:
        verdicts.setdefault(str(row.get("config_id")), []).append(
            Verdict(str(row.get("metric")), str(row.get("verdict")), str(row.get("reason") or "")))
    return doc.get("headline"), verdicts


def load_run(run_dir: Path) -> Run:
    """One run: the rows of its version under test (an ab run's current side), its
    metadata and its gate verdicts. Raises :class:`HistoryError` naming the problem."""
    results = load_results(run_dir)
    if results.holds_nothing:
        raise HistoryError(f"{run_dir} holds no trials (no rows, nothing skipped); give "
                           "the directory of a finished 'gigq-bench sweep' or 'ab' run")
    env = results.environment
    versions = results.spec.get("versions") or {}
    baseline = None
    if results.rows.empty:
        side_rows = valid_rows = results.rows
        label = "current"
    else:
        labels = list(dict.fromkeys(results.rows.get("version", pd.Series(["current"]))
                                    .fillna("current").astype(str)))
        if len(labels) > 1:
            base_label, label = ab_labels(results)
            described = _description(versions.get(base_label)) or base_label
            built = _GIT_VERSION.match(described)
            baseline = short_commit(built.group(1)) if built else described
        else:
            label = labels[0]
        side = select_version(results, label, "current")
        side_rows, valid_rows = pd.concat([side.rows, side.invalid_rows]), side.rows
    headline, verdicts = _verdicts(run_dir, env, label)
    return Run(
        path=run_dir, rows=side_rows, valid_rows=valid_rows, version=label,
        started=_started(env, results.rows),
        commit=_commit(env, versions.get(label)), machine=_machine(env),
        profile=str(results.spec.get("profile") or "unknown"),
        gigq_version=env.get("gigq_version"), environment=env, spec=results.spec,
        baseline=baseline,
        gate=headline, verdicts=verdicts,
    )


def _commit(environment: Mapping[str, Any], version: Any) -> str | None:
    """The commit measured: a git revision built for the run's version under test
    (``ab --current REF``), else the checkout the run was made in."""
    match = _GIT_VERSION.match(_description(version) or "")
    return match.group(1) if match else environment.get("git_commit")


def _description(version: Any) -> str | None:
    if isinstance(version, dict):
        return version.get("description") or version.get("gigq_version")
    return str(version) if version else None


def load_runs(paths: Iterable[str | os.PathLike[str]]) -> list[Run]:
    """Every run named by ``paths``, oldest first (runs without a date last, by path)."""
    runs = _distinct([load_run(p) for p in find_runs(paths)])
    latest = datetime.max.replace(tzinfo=timezone.utc)
    return sorted(runs, key=lambda r: (r.started is None, r.started or latest, str(r.path)))


def _distinct(runs: list[Run]) -> list[Run]:
    """One run per measurement: a copied run directory (same start, machine and trials)
    is the same run, counted once like a directory given twice, never as a second
    run that agreed with the first."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for run in runs:
        trials = tuple(sorted(map(str, run.rows.get("trial_id", pd.Series(dtype=str)))))
        key = (run.started, run.machine, run.version, trials)
        if key not in seen:
            seen.add(key)
            out.append(run)
    return out
