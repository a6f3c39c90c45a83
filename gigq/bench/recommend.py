"""Which configuration a sweep recommends for each job type.

One rule, used by the end-of-sweep summary and by the report, so the two never
disagree:

* **eligible**: at least :data:`MIN_VALID_TRIALS` valid trials and no invalid one (a
  configuration that lost or double-ran a job is not recommended, however fast its
  other trials were), none too short to trust (a rate from a window of a few
  milliseconds is noise), a durability class other than ``unsafe``, and a database
  that does not live in RAM (``:memory:``, tmpfs, ramfs);
* **best**: the eligible configuration with the highest median jobs/s; every eligible
  configuration whose bootstrap 95% interval overlaps the best one's is *tied* with it
  (the data cannot tell them apart);
* **recommended**: the cheapest of the tied ones — fewest worker processes, then fewest
  threads per process, then the most durable class (then the higher median).

Only drain-mode throughput is compared: in steady mode jobs/s follow the arrival rate.

The rule's defence is written here too (:func:`explain`, :func:`invalid_notes`) and the
command that runs a choice (:func:`worker_command`), so the page and the terminal say
the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gigq.storage import DURABILITY_CLASSES, SettingsError

from . import worker_settings
from .html import format as fmt
from .numbers import plain_value
from .results import Results
from .stats import Interval, bootstrap_median
from .sweep.locations import BUILTIN, MEMORY, RAM_FILE_SYSTEMS
from .sweep.space import DIMENSIONS, DRAIN, durability_of
from .sweep.workloads import JOB_TYPES

MIN_VALID_TRIALS = 3
# The database path of a printed command: a place of the user's own, never the run's
# scratch directory (inside the reports folder, and deleted when the sweep ends).
EXAMPLE_DB = "/var/lib/myapp/jobs.db"


def ram_reason(config: Mapping[str, Any], filesystems: Mapping[str, Any]) -> str | None:
    """Why a configuration's database is in RAM (``None`` when it is on disk).

    A database in RAM (``memory``, or a file on a RAM file system) is lost by a reboot
    or power cut whatever synchronous says, so it is never called safe nor recommended.

    ``filesystems`` maps a location name to its ``{"fs_type": ...}`` as recorded in a
    run's environment.
    """
    location = config.get("location")
    if location == MEMORY:
        return "in-memory database: lost when the process exits"
    info = filesystems.get(location) if isinstance(location, str) else None
    fs_type = info.get("fs_type") if isinstance(info, Mapping) else None
    if fs_type in RAM_FILE_SYSTEMS:
        where = location if location == fs_type else f"{location} ({fs_type})"
        return f"{where} is RAM: a reboot or power cut loses the whole queue"
    return None


def config_durability(recorded: Iterable[Any], config: Mapping[str, Any],
                      filesystems: Mapping[str, Any]) -> tuple[str, str | None]:
    """A configuration's durability class, and why its database is in RAM (or None).

    The class its trials recorded (the first non-empty one of ``recorded``), else the
    class of its settings (results written before trials recorded one); settings that
    cannot be read are ``unsafe``: never claim a safety that cannot be shown. A
    database in RAM is ``unsafe`` whatever was recorded (:func:`ram_reason`).
    """
    known = [d for d in recorded if isinstance(d, str) and d]
    if known:
        durability = known[0]
    else:
        try:
            durability = durability_of(
                {dim: config.get(dim) or DIMENSIONS[dim].default
                 for dim in ("journal_mode", "synchronous")},
                in_ram=config.get("location") == MEMORY)
        except (SettingsError, TypeError, ValueError):
            durability = "unsafe"
    reason = ram_reason(config, filesystems)
    return ("unsafe" if reason else durability), reason


@dataclass
class Candidate:
    """One configuration's throughput trials, as the rule needs them.

    ``samples`` are the jobs/s of its valid trials; ``durability`` is its class with
    the RAM rule already applied (a tmpfs database is ``unsafe``).
    """

    key: str
    values: Mapping[str, Any]
    samples: Sequence[float]
    n_trials: int
    durability: str
    source: Any = None  # the caller's own object for this configuration
    # Valid trials too short to trust (metrics.too_short): every job ran once, but the
    # timed window was too brief for its rate to mean anything.
    too_short: int = 0
    interval: Interval = field(init=False)

    def __post_init__(self) -> None:
        self.interval = bootstrap_median(self.samples)

    @property
    def n_valid(self) -> int:
        """Valid trials with a throughput."""
        return self.interval.n

    @property
    def processes(self) -> int:
        """Worker processes (the ``workers`` setting)."""
        return _count(self.values.get("workers"))

    @property
    def threads(self) -> int:
        """Threads per worker process (the ``concurrency`` setting)."""
        return _count(self.values.get("concurrency"))

    def ineligible(self) -> str | None:
        """Why this configuration cannot be recommended (``None``: it can)."""
        reasons = []
        invalid = self.n_trials - self.n_valid
        if invalid > 0:
            reasons.append(f"{invalid} of {self.n_trials} trials invalid or unmeasured")
        elif self.n_valid < MIN_VALID_TRIALS:
            trials = "trial" if self.n_valid == 1 else "trials"
            reasons.append(f"only {self.n_valid} valid {trials} "
                           f"(needs at least {MIN_VALID_TRIALS})")
        if self.too_short > 0:
            reasons.append(f"{self.too_short} of {self.n_trials} trials too short to trust "
                           "(raise jobs)")
        if self.durability not in DURABILITY_CLASSES[:-1]:
            reasons.append(f"durability {self.durability}: a crash can lose jobs")
        return "; ".join(reasons) or None


def _count(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and value >= 1 else 1


def overlaps(a: Interval, b: Interval) -> bool:
    """Whether two intervals share any value (the data cannot tell them apart)."""
    return a.low <= b.high and b.low <= a.high


@dataclass
class Choice:
    """What the rule decided for one job type (and version)."""

    job_type: str
    version: Any
    recommended: Candidate | None  # None: no configuration is eligible
    # Eligible configurations the data cannot tell from the fastest one, the
    # recommended one first, then the others from cheapest to costliest.
    ties: list[Candidate]
    fastest: Candidate | None  # the highest median measured, eligible or not
    candidates: list[Candidate]

    @property
    def best(self) -> Candidate | None:
        """The fastest eligible configuration (None when none is eligible)."""
        return max(self.ties, key=lambda c: c.interval.estimate, default=None)

    @property
    def others(self) -> list[Candidate]:
        """The ties except the recommended configuration."""
        return [c for c in self.ties if c is not self.recommended]

    @property
    def reason(self) -> str:
        """Why nothing is recommended (empty when something is)."""
        if self.recommended is not None:
            return ""
        return (f"no configuration has {MIN_VALID_TRIALS}+ valid trials, none invalid or "
                "too short to trust, and a durability that survives a crash (crash-safe or "
                "power-loss-safe, on disk)")


def cost_key(c: Candidate) -> tuple[int, int, int, float]:
    """Cheapest first: fewer processes, fewer threads, more durable, then faster."""
    durability = (DURABILITY_CLASSES.index(c.durability)
                  if c.durability in DURABILITY_CLASSES else len(DURABILITY_CLASSES))
    return (c.processes, c.threads, durability, -c.interval.estimate)


def candidates(results: Results) -> list[Candidate]:
    """One :class:`Candidate` per drain configuration (and version) of a run, invalid
    trials counted, durability by :func:`config_durability`."""
    rows = results.rows
    if rows.empty or "jobs_per_sec" not in rows or "mode" not in rows:
        return []
    rows = rows[rows["mode"] == DRAIN]
    filesystems = results.environment.get("filesystems") or {}
    keys = ["version", "config_id"] if "version" in rows else ["config_id"]
    out = []
    for key, part in rows.groupby(keys, sort=True):
        valid = part[part["valid"].astype(bool)]
        rates = pd.to_numeric(valid["jobs_per_sec"], errors="coerce").dropna()
        values = part.iloc[0].to_dict()
        durability, _ = config_durability(part.get("durability", []), values, filesystems)
        out.append(Candidate(str(key), values, rates.tolist(), len(part), durability,
                             too_short=too_short_count(valid)))
    return out


def too_short_count(valid_rows: pd.DataFrame) -> int:
    """How many of these valid trials were flagged too short to trust."""
    if "too_short" not in valid_rows:
        return 0
    return int(valid_rows["too_short"].map(lambda v: isinstance(v, str) and bool(v)).sum())


def choose(candidates: Iterable[Candidate]) -> list[Choice]:
    """The recommendation per (job type, version): job types in the order of
    :data:`gigq.bench.sweep.workloads.JOB_TYPES` (others after them), versions as first seen."""
    groups: dict[tuple[str, Any], list[Candidate]] = {}
    for c in candidates:
        if c.values.get("mode") not in (None, DRAIN):
            continue
        job_type = str(c.values.get("job_type") or "all")
        groups.setdefault((job_type, c.values.get("version")), []).append(c)
    choices = []
    for (job_type, version), members in groups.items():
        measured = [c for c in members if c.n_valid]
        fastest = max(measured, key=lambda c: c.interval.estimate, default=None)
        eligible = [c for c in measured if c.ineligible() is None]
        best = max(eligible, key=lambda c: c.interval.estimate, default=None)
        ties = sorted((c for c in eligible if best is not None
                       and overlaps(c.interval, best.interval)), key=cost_key)
        choices.append(Choice(job_type, version, ties[0] if ties else None, ties, fastest,
                              members))
    rank = {job_type: i for i, job_type in enumerate(JOB_TYPES)}
    return sorted(choices, key=lambda ch: rank.get(ch.job_type, len(rank)))


# ---------------------------------------------------------------------------
# The rule's defence, and the command that runs a choice


def differences(values: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """The settings in ``values`` that differ from ``other``'s, in dimension order (not
    the job count, which ``jobs = "auto"`` sizes per configuration)."""
    named = [d for d in DIMENSIONS if d != "jobs"] + ["version"]
    return {d: values.get(d) for d in named
            if plain_value(values.get(d)) != plain_value(other.get(d))}


def _names(c: Candidate, other: Candidate) -> tuple[str, str]:
    """``("4 workers", "1 worker")``: each side by the settings where they differ."""
    dims = differences(c.values, other.values)
    return (fmt.context_phrase(dims) or c.key,
            fmt.context_phrase({d: other.values.get(d) for d in dims}) or other.key)


def _jobs_per_sec(c: Candidate) -> str:
    return fmt.metric_value("jobs_per_sec", c.interval.estimate)


def explain(choice: Choice) -> list[str]:
    """Why the fastest configuration measured is not the one recommended, when it is not:
    :func:`why_not_fastest` (it cannot be recommended) and :func:`why_not_best` (it is
    tied with a cheaper one). Empty when the fastest is recommended or nothing is."""
    if choice.recommended is None:
        return []
    return [line for line in (why_not_fastest(choice), why_not_best(choice)) if line]


def why_not_fastest(choice: Choice) -> str:
    """E.g. "synchronous=OFF measured 9,000 jobs/s but is not recommended: durability
    unsafe: a crash can lose jobs" (empty when the fastest is eligible)."""
    rec, fastest = choice.recommended, choice.fastest
    if rec is None or fastest is None or any(fastest is t for t in choice.ties):
        return ""
    name, _ = _names(fastest, rec)
    return (f"{name} measured {_jobs_per_sec(fastest)} but is not recommended: "
            f"{fastest.ineligible()}")


def why_not_best(choice: Choice) -> str:
    """E.g. "4 workers measured 4,229 jobs/s, within the interval of 1 worker: the
    cheaper one is recommended" (empty when the fastest eligible one is recommended)."""
    rec, best = choice.recommended, choice.best
    if rec is None or best is None or best is rec:
        return ""
    name, rec_name = _names(best, rec)
    why = ("cheaper" if (rec.processes, rec.threads) < (best.processes, best.threads)
           else "more durable")
    return (f"{name} measured {_jobs_per_sec(best)}, within the interval of {rec_name}: "
            f"the {why} one is recommended")


def invalid_notes(choice: Choice, limit: int = 3) -> list[str]:
    """One line per configuration of the choice with invalid or unmeasured trials (at
    most ``limit``, then how many more): none of them is recommended, and their numbers
    come from their valid trials only."""
    flawed = sorted((c for c in choice.candidates if c.n_trials > c.n_valid),
                    key=lambda c: -c.interval.estimate if c.n_valid else 0)
    ref = choice.recommended
    lines = []
    for c in flawed[:limit]:
        name = _names(c, ref)[0] if ref is not None else c.key
        bad = c.n_trials - c.n_valid
        lines.append(f"{bad} of {c.n_trials} trials of {name} failed verification or "
                     f"measured nothing: never recommended"
                     + (f"; its {_jobs_per_sec(c)} is from its {c.n_valid} valid "
                        f"trial{'' if c.n_valid == 1 else 's'}" if c.n_valid else ""))
    if len(flawed) > limit:
        lines.append(f"… and {len(flawed) - limit} more configurations with invalid trials")
    return lines


def example_db(values: Mapping[str, Any], filesystems: Mapping[str, Any]) -> str:
    """The ``--db`` path of a configuration's printed command.

    A location the user named (``hdd=/mnt/hdd``) is a directory of theirs: the queue
    file goes there. ``disk`` measured a scratch directory of the run, so the command
    shows :data:`EXAMPLE_DB`, a path on a disk of the user's own.
    """
    location = values.get("location")
    info = filesystems.get(location) if isinstance(location, str) else None
    path = info.get("path") if isinstance(info, Mapping) else None
    if location not in (*BUILTIN, None) and isinstance(path, str) and path:
        return os.path.join(path, "jobs.db")
    return EXAMPLE_DB


def worker_command(settings: Mapping[str, Any], db: str = EXAMPLE_DB) -> str:
    """The ``gigq --db DB worker …`` command that runs these settings, as a shell line
    (:func:`gigq.bench.worker_settings.worker_command`, with a path of the user's own)."""
    return worker_settings.worker_command(settings, db)
