"""The sweep space: dimensions, value parsing, profiles, designs and validity rules.

A *configuration* is one value for every dimension. A *spec* says which
configurations to run: a base configuration, the dimensions to vary (values per
dimension), a design (``oat``: one factor at a time around the base; ``grid``: the
cross product) and optional extra *groups* — further designs around a changed
base, e.g. "vary concurrency, with io jobs" or "vary polling_interval, in steady
mode". The plan is the union of all groups' configurations, de-duplicated, with
the combinations that cannot run listed as skipped together with the reason.

Specs come from a built-in profile (``quick``, ``standard``, ``full``; TOML files in
``gigq/bench/profiles/``), layered with a user TOML file (``--config``), then
``--base`` and ``--set`` from the command line. Every value is validated here, so
bad input fails before any trial runs.
"""

from __future__ import annotations

import copy
import itertools
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from gigq import validation
from gigq.leases import DEFAULT_LEASE_TIMEOUT, MAX_LEASE_TIMEOUT, MIN_LEASE_TIMEOUT
from gigq.storage import JOURNAL_MODES, SYNCHRONOUS_LEVELS, SQLiteSettings, durability_class
from gigq.worker import ISOLATION_MODES, MAX_CONCURRENCY, MAX_PROCESSES

from ..numbers import MISSING, cache_bytes, cache_label, seconds_label
from ..toml_reader import tomllib
from .locations import (
    BUILTIN,
    NETWORK_FILE_SYSTEMS,
    LocationError,
    Locations,
    parse_defined_location,
    parse_location,
)
from .trial_worker import queue_name
from .workloads import CUSTOM, DEFAULT_SIZES, JOB_TYPES


class SpaceError(ValueError):
    """Bad sweep input (dimension, value, profile, TOML); the message says the fix."""


DESIGNS = ("oat", "grid")
# A drain times how fast a backlog empties; steady mode produces at a fixed arrival
# rate, so its jobs/s is that rate and only its latency measures the queue.
DRAIN, STEADY = "drain", "steady"
MODES = (DRAIN, STEADY)
SUBMIT_MODES = ("single", "batch")
CONNECTION_MODES = ("reused", "per_call")
AUTO = "auto"
# Job types a configuration may name: the built-in workloads and "custom" (a user's
# own function, given with --job module.function).
ALL_JOB_TYPES = (*JOB_TYPES, CUSTOM)


# ---------------------------------------------------------------------------
# Dimensions


@dataclass(frozen=True)
class Dimension:
    """A sweep dimension: everything the toolkit knows about it, in one place.

    How to parse a value and what it means (``--help``, errors); its default and
    whether it is *quiet* (left out of config ids at its default); and how a reader
    sees it: ``label`` (``worker processes``), ``short_label`` (table headers),
    ``show`` (a value: ``WAL``, ``64 MiB``), ``phrase`` (a value standing alone in a
    sentence; fields ``{value}``, ``{shown}``, ``{label}``, ``{s}`` for a plural),
    ``order``/``sort_key`` (reading order of values) and ``workload`` (it describes
    the work, not a setting to choose, so it is never reported as an effect).

    ``worker_option`` says how a worker or storage setting reaches a deployed
    worker: the ``Worker``/``SQLiteSettings`` keyword (and ``[worker]`` config key)
    it sets, from which ``gigq.bench.worker_settings`` derives the ``gigq worker``
    flag and ``GIGQ_*`` variable; ``worker_value`` turns a value into that option's
    value (None: the option is left out, e.g. one process).
    """

    name: str
    parse: Callable[[Any], Any]
    description: str
    # Values shown in --help and errors (for dimensions with a fixed set).
    choices: tuple[str, ...] | None = None
    default: Any = None
    # Added after results format 1 was fixed: at its default it is left out of
    # config_id and of short descriptions, so a configuration keeps the id it had in
    # runs made before the dimension existed (compare matches runs by config_id).
    quiet: bool = False
    label: str = ""
    short_label: str = ""
    phrase: str = "{label}={shown}"
    show: Callable[[Any], str] = str
    none_text: str = MISSING
    order: tuple[Any, ...] | None = None
    sort_key: Callable[[Any], Any] | None = None
    workload: bool = False
    worker_option: str | None = None
    worker_value: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        # Frozen: fill the derived labels through object.__setattr__.
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " "))
        if not self.short_label:
            object.__setattr__(self, "short_label", self.label)

    def value_text(self, value: Any) -> str:
        """A value as the reports write it (``WAL``, ``64 MiB``, ``50 ms``)."""
        return self.none_text if value is None else self.show(value)

    def phrase_text(self, value: Any) -> str:
        """A value with enough context to stand alone: ``4 workers``, ``synchronous=FULL``."""
        return self.phrase.format(value=value, shown=self.value_text(value), label=self.label,
                                  s="" if value == 1 else "s")


def _upper(value: Any) -> str:
    return str(value).upper()


def _seconds(value: Any) -> str:
    return seconds_label(float(value))


def _fail(dim: str, value: Any, expected: str) -> SpaceError:
    return SpaceError(f"invalid value {value!r} for {dim}: expected {expected}")


def _int(dim: str, minimum: int, maximum: int | None = None) -> Callable[[Any], int]:
    expected = f"an integer >= {minimum}" + ("" if maximum is None else f" and <= {maximum}")

    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise _fail(dim, value, expected)
        try:
            number = int(str(value).strip()) if not isinstance(value, int) else value
        except ValueError:
            raise _fail(dim, value, expected) from None
        if number < minimum or (maximum is not None and number > maximum):
            raise _fail(dim, value, expected)
        return number
    return parse


def _float(dim: str, minimum: float, strict: bool,
           maximum: float = math.inf) -> Callable[[Any], float]:
    expected = f"a number {'>' if strict else '>='} {minimum:g}"
    if maximum != math.inf:
        expected += f" and <= {maximum:g}"

    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise _fail(dim, value, expected)
        try:
            number = float(str(value).strip()) if not isinstance(value, (int, float)) \
                else float(value)
        except ValueError:
            raise _fail(dim, value, expected) from None
        if not math.isfinite(number) or number < minimum or number > maximum or (
                strict and number == minimum):
            raise _fail(dim, value, expected)
        return number
    return parse


def _choice(dim: str, choices: Sequence[str]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise _fail(dim, value, f"one of {', '.join(choices)}")
        return text
    return parse


def _processes(workers: int) -> int | None:
    # One process is a plain worker: no supervisor, no --processes.
    return workers if workers > 1 else None


def _queue_names(queues: int) -> list[str] | None:
    # The trial's own queue names: a worker serves them by name.
    return [queue_name(i) for i in range(queues)] if queues > 1 else None


def _cache_size(value: Any) -> int | None:
    if value is None or str(value).strip().lower() in ("default", "none", ""):
        return None
    if isinstance(value, bool):
        raise _fail("cache_size", value, "an integer (negative = KiB, positive = pages) "
                    "or 'default'")
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise _fail("cache_size", value, "an integer (negative = KiB, e.g. -64000 for "
                    "64 MB; positive = pages) or 'default'") from None
    # The core's own bound (SQLiteSettings), so --dry-run refuses what a trial would.
    return validation.integer(number, "cache_size (negative = KiB, e.g. -64000 for 64 MB; "
                              "positive = pages; or 'default')", validation.INT32_MIN,
                              validation.INT32_MAX, error=SpaceError)


def _jobs(value: Any) -> int | str:
    if str(value).strip().lower() == AUTO:
        return AUTO
    return _int("jobs", 1)(value)


def _location(value: Any) -> str:
    try:
        name, _ = parse_location(str(value))
    except LocationError as exc:
        raise SpaceError(str(exc)) from None
    return name


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("job_type", _choice("job_type", ALL_JOB_TYPES),
                  "what each job does: noop, cpu (pure-Python loop), io (sleep, like a "
                  "network call), mixed (both), custom (your function, --job)",
                  ALL_JOB_TYPES, default="noop", phrase="{shown} jobs", order=JOB_TYPES,
                  workload=True),
        Dimension("workers", _int("workers", 1, MAX_PROCESSES), "worker processes",
                  default=2, label="worker processes", short_label="workers",
                  phrase="{value} worker{s}", worker_option="processes",
                  worker_value=_processes),
        Dimension("concurrency", _int("concurrency", 1, MAX_CONCURRENCY),
                  "job threads per worker process", default=1,
                  label="threads per worker (concurrency)", short_label="threads",
                  phrase="{value} thread{s} per worker", worker_option="concurrency"),
        Dimension("journal_mode", _choice("journal_mode", JOURNAL_MODES),
                  "SQLite journal mode", JOURNAL_MODES, default="wal", short_label="journal",
                  phrase="{shown}", show=_upper, order=JOURNAL_MODES,
                  worker_option="journal_mode"),
        Dimension("synchronous", _choice("synchronous", SYNCHRONOUS_LEVELS),
                  "SQLite synchronous level", SYNCHRONOUS_LEVELS, default="normal",
                  phrase="synchronous={shown}", show=_upper, order=SYNCHRONOUS_LEVELS,
                  worker_option="synchronous"),
        Dimension("cache_size", _cache_size,
                  "SQLite cache_size (negative = KiB, positive = pages, 'default')",
                  default=None, short_label="cache", phrase="cache {shown}", show=cache_label,
                  none_text="default", sort_key=cache_bytes, worker_option="cache_size"),
        Dimension("polling_interval", _float("polling_interval", 0, strict=False),
                  "longest sleep of an idle worker, seconds", default=1.0,
                  short_label="polling", phrase="polling every {shown}", show=_seconds,
                  worker_option="polling_interval"),
        Dimension("location", _location,
                  "where the database lives: disk, tmpfs, memory or NAME=/path",
                  default="disk", label="storage location", short_label="location",
                  phrase="on {shown}", order=BUILTIN),
        Dimension("jobs", _jobs,
                  "jobs per drain trial, or 'auto' (sized so the timed window lasts "
                  "about target_seconds)", default=AUTO, label="jobs per trial",
                  phrase="{value} jobs", workload=True),
        Dimension("mode", _choice("mode", MODES),
                  "drain (submit everything, then work it off) or steady (a producer "
                  "submits at arrival_rate for duration while workers run)", MODES,
                  default="drain", phrase="{shown} mode", workload=True),
        Dimension("submit", _choice("submit", SUBMIT_MODES),
                  "single (one submit per job) or batch (submit_many)", SUBMIT_MODES,
                  default="batch", phrase="{shown} submit"),
        Dimension("arrival_rate", _float("arrival_rate", 0, strict=True),
                  "steady mode: jobs submitted per second", default=200.0, workload=True),
        Dimension("duration", _float("duration", 0, strict=True),
                  "steady mode: seconds of arrivals", default=3.0, workload=True),
        Dimension("connections", _choice("connections", CONNECTION_MODES),
                  "reused (GigQ: each thread keeps its connection) or per_call (the "
                  "connection is closed after every queue operation and reopened, like "
                  "code that connects per call)", CONNECTION_MODES, default="reused",
                  quiet=True),
        Dimension("payload_bytes", _int("payload_bytes", 0),
                  "characters of padding in each job's params, returned as its result",
                  default=0, quiet=True, label="payload per job", workload=True),
        Dimension("isolation", _choice("isolation", ISOLATION_MODES),
                  "thread (GigQ's default: jobs run in the worker's threads) or process "
                  "(each job in a child process that a timeout can kill)", ISOLATION_MODES,
                  default="thread", quiet=True, worker_option="isolation"),
        Dimension("lease_timeout", _float("lease_timeout", MIN_LEASE_TIMEOUT, strict=False,
                                          maximum=MAX_LEASE_TIMEOUT),
                  "seconds a running job's lease lasts; workers renew it by heartbeat every "
                  "third of it, and their service thread wakes every sixth (at most 0.5 s)",
                  default=DEFAULT_LEASE_TIMEOUT, quiet=True, label="lease (s)",
                  worker_option="lease_timeout"),
        Dimension("queues", _int("queues", 1),
                  "named queues the jobs are spread over; above 1, each worker process "
                  "serves only its share of them (specialised workers)", default=1,
                  quiet=True, worker_option="queues", worker_value=_queue_names),
    )
}

# The quiet dimensions at their defaults (see Dimension.quiet).
QUIET_DEFAULTS: dict[str, Any] = {d.name: d.default for d in DIMENSIONS.values() if d.quiet}

# Column order of a configuration (results.CONFIG_COLUMNS, then steady-mode ones).
CONFIG_ORDER = tuple(DIMENSIONS)

DEFAULT_BASE: dict[str, Any] = {d.name: d.default for d in DIMENSIONS.values()}

DEFAULT_TARGET_SECONDS = 1.5
DEFAULT_BATCH_SIZE = 500
MAX_AUTO_JOBS = 200_000
MIN_AUTO_JOBS = 200
# The sizing rule of jobs = "auto": enough jobs for target_seconds at the measured
# rate, and never fewer than this many per worker thread, so that the threads'
# start-up and the last jobs' tail are a small part of the timed window (a trial
# below metrics.TRUST_JOBS_PER_THREAD is flagged too short to trust).
AUTO_JOBS_PER_THREAD = 50


def worker_threads(config: Mapping[str, Any]) -> int:
    """Threads running jobs in a trial of ``config``: processes x threads each."""
    return max(int(config["workers"]), 1) * max(int(config["concurrency"]), 1)


def auto_job_count(config: Mapping[str, Any], rate: float, seconds: float) -> int:
    """Jobs for a drain trial of ``config`` at ``rate`` jobs/s: about ``seconds`` of
    work, at least AUTO_JOBS_PER_THREAD per worker thread and MIN_AUTO_JOBS, at most
    MAX_AUTO_JOBS."""
    wanted = max(rate * seconds if rate > 0 else 0.0, AUTO_JOBS_PER_THREAD * worker_threads(config),
                 MIN_AUTO_JOBS)
    return int(min(wanted, MAX_AUTO_JOBS))


def durability_of(config: Mapping[str, Any], in_ram: bool = False) -> str:
    """Durability class of a configuration's (or tune settings') SQLite settings.

    ``in_ram``: the database lives in RAM (``memory``, tmpfs, ramfs), where every
    setting is ``unsafe``: a reboot or power cut loses all of it.
    """
    return durability_class(SQLiteSettings(journal_mode=config["journal_mode"],
                                           synchronous=config["synchronous"],
                                           cache_size=config.get("cache_size")),
                            in_memory=in_ram)


def parse_value(dim: str, value: Any) -> Any:
    """Validate and canonicalise one value of ``dim``; SpaceError names the problem."""
    try:
        dimension = DIMENSIONS[dim]
    except KeyError:
        raise SpaceError(
            f"unknown dimension {dim!r}; known dimensions: {', '.join(DIMENSIONS)}"
        ) from None
    return dimension.parse(value)


def _missing_as_none(value: Any) -> Any:
    # Rows read back through pandas carry NaN where a configuration had None (e.g.
    # cache_size "default" in a column that also holds numbers).
    return None if isinstance(value, float) and math.isnan(value) else value


def canonical_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration with the dimensions that do not apply to its mode blanked.

    Drain trials have no arrival rate or duration; a steady trial's job count is
    arrival_rate x duration. Blanking them makes equal trials equal (one config_id).
    """
    out = {dim: _missing_as_none(config.get(dim)) for dim in CONFIG_ORDER}
    for dim, default in QUIET_DEFAULTS.items():
        if out[dim] is None:  # a configuration from before the dimension existed
            out[dim] = default
    extra = {k: v for k, v in config.items() if k not in out}
    out.update(extra)
    if out["mode"] == "drain":
        out["arrival_rate"] = None
        out["duration"] = None
    else:
        out["jobs"] = None
    return out


def format_value(value: Any, none: str = "-") -> str:
    """A dimension's value as text (floats without trailing zeros; None as ``none``)."""
    if value is None:
        return none
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def config_id(config: Mapping[str, Any]) -> str:
    """Stable id of a configuration: ``dim=value;…`` in column order.

    Equal across runs for the same configuration; cache_size None is ``default``,
    dimensions that do not apply to the mode are left out, and so are the later
    dimensions at their defaults (:data:`QUIET_DEFAULTS`).
    """
    parts = []
    for dim, value in canonical_config(config).items():
        if value is None and dim != "cache_size":
            continue
        if dim in QUIET_DEFAULTS and value == QUIET_DEFAULTS[dim]:
            continue
        parts.append(f"{dim}={'default' if value is None else format_value(value)}")
    return ";".join(parts)


def describe(config: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> str:
    """Short human text: the dimensions that differ from ``base`` (all if no base)."""
    cfg = {k: v for k, v in canonical_config(config).items() if k in DIMENSIONS}
    if base is None:
        shown = {k: v for k, v in cfg.items()
                 if v is not None and QUIET_DEFAULTS.get(k, object()) != v}
    else:
        # Against the raw base: a steady config's arrival_rate equal to the base's
        # is no difference, even though a drain base blanks it.
        def reference(k: str) -> Any:
            value = base.get(k)
            return QUIET_DEFAULTS.get(k) if value is None else value

        shown = {k: v for k, v in cfg.items() if reference(k) != v and v is not None}
    if not shown:
        return "base configuration"
    return " ".join(f"{k}={format_value(v)}" for k, v in shown.items())


# ---------------------------------------------------------------------------
# Specs


@dataclass
class Group:
    """One design block: configurations around ``base`` (overrides of the spec base)."""

    name: str
    base: dict[str, Any] = field(default_factory=dict)
    dimensions: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class SweepSpec:
    """Everything that decides which trials run and how."""

    profile: str = "quick"
    description: str = ""
    design: str = "oat"
    base: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_BASE))
    dimensions: dict[str, list[Any]] = field(default_factory=dict)
    groups: list[Group] = field(default_factory=list)
    repeat: int = 3
    seed: int = 1
    target_seconds: float = DEFAULT_TARGET_SECONDS
    batch_size: int = DEFAULT_BATCH_SIZE
    job_sizes: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SIZES))
    locations: dict[str, str] = field(default_factory=dict)
    # The user's own job for job_type "custom": {"function": "module.function",
    # "params": {...}} (see parse_custom_job).
    custom_job: dict[str, Any] | None = None

    def all_groups(self) -> list[Group]:
        """The main group (top-level dimensions) followed by the extra groups."""
        return [Group("main", {}, self.dimensions), *self.groups]

    def varied(self) -> dict[str, list[Any]]:
        """Every varied dimension with the union of its values over all groups."""
        out: dict[str, list[Any]] = {}
        for group in self.all_groups():
            for dim, values in group.dimensions.items():
                seen = out.setdefault(dim, [])
                seen.extend(v for v in values if v not in seen)
        return out

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain data (results.json ``spec``)."""
        return {
            "profile": self.profile,
            "description": self.description,
            "design": self.design,
            "base": ordered_base(self.base),
            "dimensions": self.varied(),
            "groups": [{"name": g.name, "base": g.base, "dimensions": g.dimensions}
                       for g in self.all_groups()],
            "repeat": self.repeat,
            "seed": self.seed,
            "target_seconds": self.target_seconds,
            "batch_size": self.batch_size,
            "job_sizes": dict(self.job_sizes),
            "locations": dict(self.locations),
            "custom_job": copy.deepcopy(self.custom_job),
        }


def ordered_base(base: Mapping[str, Any]) -> dict[str, Any]:
    """The base in column order."""
    return {dim: base.get(dim) for dim in CONFIG_ORDER}


_TOP_KEYS = {"description", "design", "repeat", "seed", "target_seconds", "batch_size",
             "base", "dimensions", "group", "job_sizes", "locations", "extends", "job"}


def _parse_values(dim: str, raw: Any, spec: SweepSpec, where: str) -> list[Any]:
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise SpaceError(f"{where}: dimension {dim} has no values")
    parsed = []
    for value in values:
        if dim == "location" and "=" in str(value):
            try:
                name, path = parse_defined_location(str(value))
            except LocationError as exc:
                raise SpaceError(f"{where}: {exc}") from None
            spec.locations[name] = path
            value = name
        try:
            item = parse_value(dim, value)
        except SpaceError as exc:
            raise SpaceError(f"{where}: {exc}") from None
        if item not in parsed:
            parsed.append(item)
    return parsed


def _parse_base(raw: Any, spec: SweepSpec, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise SpaceError(f"{where}: 'base' must be a table of dimension = value")
    out = {}
    for dim, value in raw.items():
        if isinstance(value, list):
            raise SpaceError(f"{where}: base {dim} takes one value, not a list "
                             "(vary it under [dimensions])")
        out[dim] = _parse_values(dim, value, spec, where)[0]
    return out


def _positive_number(key: str, value: Any, where: str, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (
            kind is int and int(value) != value):
        what = "a positive integer" if kind is int else "a positive number"
        raise SpaceError(f"{where}: {key} must be {what}, got {value!r}")
    return kind(value)


def apply_document(spec: SweepSpec, doc: Mapping[str, Any], where: str) -> SweepSpec:
    """Layer a profile/config document over ``spec`` (in place; returns it).

    Scalars replace; ``base``, ``job_sizes`` and ``locations`` merge key by key;
    each dimension listed replaces that dimension's values; a ``group`` array, if
    present, replaces the groups.
    """
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise SpaceError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                         f"valid: {', '.join(sorted(_TOP_KEYS))}")
    if "description" in doc:
        spec.description = str(doc["description"])
    if "design" in doc:
        design = str(doc["design"]).lower()
        if design not in DESIGNS:
            raise SpaceError(f"{where}: design {doc['design']!r} unknown; use oat or grid")
        spec.design = design
    if "repeat" in doc:
        spec.repeat = _positive_number("repeat", doc["repeat"], where, int)
    if "seed" in doc:
        if isinstance(doc["seed"], bool) or not isinstance(doc["seed"], int):
            raise SpaceError(f"{where}: seed must be an integer")
        spec.seed = doc["seed"]
    if "target_seconds" in doc:
        spec.target_seconds = _positive_number("target_seconds", doc["target_seconds"],
                                               where, float)
    if "batch_size" in doc:
        spec.batch_size = _positive_number("batch_size", doc["batch_size"], where, int)
    for name, path in (doc.get("locations") or {}).items():
        try:
            loc_name, loc_path = parse_defined_location(f"{name}={path}")
        except LocationError as exc:
            raise SpaceError(f"{where}: {exc}") from None
        spec.locations[loc_name] = loc_path
    if "job_sizes" in doc:
        spec.job_sizes.update(parse_job_sizes(doc["job_sizes"], where))
    if "job" in doc:
        job = doc["job"]
        if not isinstance(job, Mapping) or set(job) - {"function", "params"}:
            raise SpaceError(f"{where}: [job] takes function = \"module.function\" and "
                             "an optional params table")
        spec.custom_job = parse_custom_job(job.get("function"), job.get("params"), where)
    if "base" in doc:
        spec.base.update(_parse_base(doc["base"], spec, where))
    dims = doc.get("dimensions") or {}
    if not isinstance(dims, Mapping):
        raise SpaceError(f"{where}: [dimensions] must be a table of dimension = [values]")
    for dim, values in dims.items():
        spec.dimensions[dim] = _parse_values(dim, values, spec, f"{where} [dimensions]")
    if "group" in doc:
        groups = doc["group"]
        if not isinstance(groups, list):
            raise SpaceError(f"{where}: use [[group]] tables for groups")
        spec.groups = []
        for i, raw in enumerate(groups, 1):
            gwhere = f"{where} [[group]] #{i}"
            if not isinstance(raw, Mapping):
                raise SpaceError(f"{gwhere}: a group is a table")
            extra = set(raw) - {"name", "base", "dimensions"}
            if extra:
                raise SpaceError(f"{gwhere}: unknown key(s) {', '.join(sorted(extra))}; "
                                 "valid: name, base, dimensions")
            spec.groups.append(Group(
                name=str(raw.get("name", f"group {i}")),
                base=_parse_base(raw.get("base") or {}, spec, gwhere),
                dimensions={d: _parse_values(d, v, spec, gwhere)
                            for d, v in (raw.get("dimensions") or {}).items()},
            ))
    return spec


def parse_job_sizes(raw: Any, where: str = "job sizes") -> dict[str, float]:
    """Validate a ``{name: number}`` mapping of job sizes."""
    if not isinstance(raw, Mapping):
        raise SpaceError(f"{where}: job_sizes must be a table of name = number")
    out = {}
    for key, value in raw.items():
        if key not in DEFAULT_SIZES:
            raise SpaceError(f"{where}: unknown job size {key!r}; known: "
                             f"{', '.join(DEFAULT_SIZES)}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SpaceError(f"{where}: job size {key} must be a number, got {value!r}") \
                from None
        if isinstance(value, bool) or number < 0 or not math.isfinite(number):
            raise SpaceError(f"{where}: job size {key} must be a number >= 0, got {value!r}")
        out[key] = number
    return out


def parse_custom_job(function: Any, params: Any = None,
                     where: str = "--job") -> dict[str, Any]:
    """Validate a user's job: an import path and JSON params (text or a mapping).

    The function is imported here, so a typo fails before any trial runs; lambdas
    and nested functions are refused because worker processes could never import
    them.
    """
    import importlib
    import json

    text = str(function or "").strip()
    module_name, _, name = text.rpartition(".")
    if not module_name or not name:
        raise SpaceError(f"{where} {text!r}: write the job as module.function "
                         "(e.g. myapp.tasks.resize)")
    if isinstance(params, str):
        try:
            params = json.loads(params) if params.strip() else {}
        except ValueError as exc:
            raise SpaceError(f"{where}: --params is not valid JSON ({exc}); e.g. "
                             "--params '{\"path\": \"/tmp/a.png\"}'") from None
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        raise SpaceError(f"{where}: the params must be a JSON object (keyword arguments), "
                         f"got {type(params).__name__}")
    try:
        json.dumps(params)
    except (TypeError, ValueError) as exc:
        raise SpaceError(f"{where}: the params must be JSON-serialisable ({exc})") from None
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        # Like `gigq worker`: modules next to you are importable.
        sys.path.insert(0, str(Path.cwd()))
    try:
        func = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise SpaceError(f"{where} {text}: cannot import it ({exc}); run from the "
                         "directory that holds the module, or install it") from None
    qualname = getattr(func, "__qualname__", name)
    if not callable(func) or "<lambda>" in qualname or "<locals>" in qualname:
        raise SpaceError(f"{where} {text}: not a module-level function; worker processes "
                         "import jobs by module and name, so lambdas and nested functions "
                         "cannot be jobs")
    return {"function": text, "params": dict(params)}


# ---------------------------------------------------------------------------
# Profiles and files

PROFILES = ("quick", "standard", "full", "ci")


def _read_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpaceError(f"{where} is not valid TOML: {exc}") from None


def profile_text(name: str) -> str:
    """The TOML source of a built-in profile."""
    if name not in PROFILES:
        raise SpaceError(f"unknown profile {name!r}; built-in profiles: {', '.join(PROFILES)}")
    # One name per joinpath: before Python 3.11 a Traversable (a zipped install's) takes one.
    return resources.files("gigq.bench").joinpath("profiles").joinpath(f"{name}.toml") \
        .read_text()


def load_profile(name: str) -> SweepSpec:
    """A built-in profile as a spec."""
    spec = SweepSpec(profile=name)
    return apply_document(spec, _read_toml(profile_text(name), f"profile {name}"),
                          f"profile {name}")


def parse_job_size_options(job_sizes: Iterable[str]) -> dict[str, float]:
    """``--job-size`` values (``["io_ms=10"]``) → ``{"io_ms": 10.0}``, checked."""
    sizes = {}
    for text in job_sizes:
        if "=" not in text:
            raise SpaceError(f"--job-size {text!r}: expected NAME=NUMBER, e.g. io_ms=10; "
                             f"known: {', '.join(DEFAULT_SIZES)}")
        key, value = text.split("=", 1)
        sizes[key.strip()] = value.strip()
    return parse_job_sizes(sizes, "--job-size")


def parse_assignment(text: str, option: str) -> tuple[str, str]:
    """``"dim=values"`` → ``(dim, "values")`` with a clear error otherwise."""
    if "=" not in text:
        raise SpaceError(f"{option} {text!r}: expected DIMENSION=VALUE (e.g. workers=1,2,4)")
    dim, values = text.split("=", 1)
    dim = dim.strip()
    if dim not in DIMENSIONS:
        raise SpaceError(f"{option} {text!r}: unknown dimension {dim!r}; known dimensions: "
                         f"{', '.join(DIMENSIONS)}")
    if not values.strip():
        raise SpaceError(f"{option} {text!r}: no value given")
    return dim, values.strip()


def _split_values(dim: str, text: str) -> list[str]:
    # A location path may not contain commas; every other value never does.
    return [v.strip() for v in text.split(",") if v.strip()]


def build_spec(
    profile: str = "quick",
    config_file: str | Path | None = None,
    base: Iterable[str] = (),
    set_values: Iterable[str] = (),
    design: str | None = None,
    repeat: int | None = None,
    seed: int | None = None,
    job_sizes: Iterable[str] = (),
    locations: Iterable[str] = (),
) -> SweepSpec:
    """The spec from a profile, a TOML file and command-line overrides.

    Layers, later wins: the profile (or the one the file ``extends``; ``extends =
    "none"`` starts from the defaults) → the file → ``--base dim=value`` →
    ``--set dim=v1,v2`` (two or more values: vary the dimension over exactly these,
    in every group that varies it, or in the main group; one value: fix it in every
    trial) → design, repeat, seed, job sizes and locations options.
    """
    doc: dict[str, Any] | None = None
    config_path = Path(config_file) if config_file is not None else None
    if config_path is not None:
        try:
            text = config_path.read_text()
        except OSError as exc:
            raise SpaceError(f"cannot read config file {config_path}: {exc.strerror or exc}") \
                from None
        doc = _read_toml(text, f"config file {config_path}")
        extends = doc.get("extends", profile)
        if extends not in (*PROFILES, "none"):
            raise SpaceError(f"config file {config_path}: extends = {extends!r}; use one of "
                             f"{', '.join(PROFILES)} or 'none'")
        profile = str(extends)
    spec = SweepSpec(profile="none") if profile == "none" else load_profile(profile)
    if doc is not None and config_path is not None:
        apply_document(spec, doc, f"config file {config_file}")
        spec.profile = f"{profile}+{config_path.stem}" if profile != "none" \
            else config_path.stem
    for text in locations:
        try:
            name, loc_path = parse_defined_location(text)
        except LocationError as exc:
            raise SpaceError(f"--location {text!r}: {exc}") from None
        spec.locations[name] = loc_path
    for text in base:
        dim, value = parse_assignment(text, "--base")
        spec.base[dim] = _parse_values(dim, value, spec, "--base")[0]
    for text in set_values:
        dim, raw = parse_assignment(text, "--set")
        values = _parse_values(dim, _split_values(dim, raw), spec, "--set")
        if len(values) == 1:
            # One value fixes the dimension everywhere, overriding group bases.
            spec.base[dim] = values[0]
            spec.dimensions.pop(dim, None)
            for group in spec.groups:
                group.dimensions.pop(dim, None)
                if dim in group.base:
                    group.base[dim] = values[0]
        else:
            replaced = False
            for group in spec.groups:
                if dim in group.dimensions:
                    group.dimensions[dim] = values
                    replaced = True
            if dim in spec.dimensions or not replaced:
                spec.dimensions[dim] = values
    if design is not None:
        if design not in DESIGNS:
            raise SpaceError(f"--design {design!r}: use oat or grid")
        spec.design = design
    if repeat is not None:
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise SpaceError(f"--repeat {repeat}: repeat each configuration at least once "
                             "(--repeat 1 or more; 3+ for medians worth comparing)")
        spec.repeat = repeat
    if seed is not None:
        spec.seed = seed
    spec.job_sizes.update(parse_job_size_options(job_sizes))
    return spec


# ---------------------------------------------------------------------------
# Designs and the plan


def oat(base: Mapping[str, Any], dimensions: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """One factor at a time: the base, then each dimension's values with the rest at base."""
    configs = [dict(base)]
    for dim, values in dimensions.items():
        for value in values:
            configs.append({**base, dim: value})
    return configs


def grid(base: Mapping[str, Any], dimensions: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """The cross product of every dimension's values (the rest at base)."""
    names = list(dimensions)
    return [
        {**base, **dict(zip(names, combo, strict=True))}
        for combo in itertools.product(*(dimensions[n] for n in names))
    ]


DESIGN_FUNCTIONS = {"oat": oat, "grid": grid}


def skip_reason(config: Mapping[str, Any], locations: Locations) -> str | None:
    """Why ``config`` cannot run on this machine, or None if it can."""
    loc = locations.resolve(config["location"])
    if loc.problem:
        return loc.problem
    if config.get("isolation") == "process" and config.get("connections") == "per_call":
        return ("connections=per_call closes the worker thread's connection after each "
                "job, but with isolation=process the job runs in a child process: measure "
                "them one at a time")
    if loc.in_memory:
        if config["workers"] > 1:
            return ("an in-memory database lives inside one process: workers > 1 needs a "
                    "database file (use workers=1; concurrency threads share it)")
        if config["journal_mode"] not in ("memory", "off"):
            return (f"{config['journal_mode'].upper()} is not available for :memory: "
                    "(an in-memory database keeps its journal in memory; use "
                    "journal_mode=memory)")
    elif config["journal_mode"] == "wal" and loc.fs_type in NETWORK_FILE_SYSTEMS:
        return (f"WAL needs shared memory between processes, which {loc.fs_type} "
                f"({loc.name}) does not provide")
    return None


@dataclass
class Plan:
    """The configurations to run (in plan order) and the ones skipped, with reasons."""

    spec: SweepSpec
    configs: list[dict[str, Any]]
    skipped: list[dict[str, Any]]

    @property
    def trials(self) -> int:
        """Recorded trials: configurations x repetitions."""
        return len(self.configs) * self.spec.repeat


def make_plan(spec: SweepSpec, locations: Locations) -> Plan:
    """Expand the spec into configurations, apply validity rules, de-duplicate.

    Unknown location names are an error here (before any trial runs).
    """
    for name, path in spec.locations.items():
        try:
            locations.define(name, path)
        except LocationError as exc:
            raise SpaceError(str(exc)) from None
    configs: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    seen: set[str] = set()
    make = DESIGN_FUNCTIONS[spec.design]
    for group in spec.all_groups():
        group_base = {**spec.base, **group.base}
        for raw in make(group_base, group.dimensions):
            config = canonical_config(raw)
            cid = config_id(config)
            if cid in seen:
                continue
            seen.add(cid)
            if config["job_type"] == CUSTOM and not spec.custom_job:
                raise SpaceError("job_type=custom runs your own function: give it with "
                                 "--job module.function (and --params JSON)")
            if not locations.known(config["location"]):
                raise SpaceError(
                    f"unknown location {config['location']!r}; use "
                    f"{', '.join(locations.names())}, or define it with --location "
                    f"{config['location']}=/path"
                )
            reason = skip_reason(config, locations)
            if reason:
                skipped.append({"config": copy.deepcopy(config), "config_id": cid,
                                "reason": reason})
            else:
                configs.append(config)
    return Plan(spec, configs, skipped)
