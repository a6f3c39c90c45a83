"""Running a plan: schedule, warm-up, pilots, probes, trials, rows, files.

* Repetitions are interleaved — repetition 1 of every configuration, then
  repetition 2 … — each round in a seeded random order, so slow drift (other load,
  thermal throttling, page cache) spreads evenly over the configurations instead of
  favouring whichever ran first.
* One warm-up trial per version runs first and is not recorded.
* Drain configurations with ``jobs = "auto"`` are sized by a short pilot trial so
  their timed window lasts about ``target_seconds``, with at least
  ``space.AUTO_JOBS_PER_THREAD`` jobs per worker thread (:func:`space.auto_job_count`):
  fast settings get more jobs, slow ones fewer, many threads many, and every trial
  is long enough to measure. All repetitions (and all versions of an A/B run) of a
  configuration use the same job count.
* The raw SQLite ceiling of each location and settings is the median of
  ``ceiling.MIN_PROBES`` probes spread over the repetition rounds and interleaved
  with the trials that need it (:func:`ceiling.probes_due`); every row carries the
  median and spread (min, max), filled in again from all probes when the run ends.
* Results are saved after every trial: Ctrl-C (or a crash) keeps everything
  finished so far.

Seams for the other gigq-bench commands:

* :func:`run_plan` with ``versions={"baseline": "/venv-a/bin/python",
  "current": sys.executable}`` runs the plan against two GigQ versions, each
  configuration's pair in counterbalanced order (ABBA blocks), rows labelled by version
  (``gigq-bench ab``).
* :func:`measure` runs one configuration N times and returns its rows
  (``gigq-bench tune``).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..metrics import METRICS, ceiling_ratio
from ..results import OUTCOME_COLUMNS, TRIAL_COLUMNS, Results, save
from . import ceiling, metadata
from .locations import Locations, Scratch
from .space import (
    AUTO,
    AUTO_JOBS_PER_THREAD,
    CONFIG_ORDER,
    MAX_AUTO_JOBS,
    Plan,
    SweepSpec,
    auto_job_count,
    config_id,
    worker_threads,
)
from .trial import DEFAULT_TIMEOUT, Harness, TrialOutcome

ROW_COLUMNS = (*CONFIG_ORDER, *TRIAL_COLUMNS, *METRICS, *OUTCOME_COLUMNS)
CURRENT = "current"
PILOT_JOBS = 400
# A pilot window shorter than this fraction of target_seconds is re-measured.
PILOT_MIN_WINDOW = 0.3
WARMUP_JOBS = 400


def needs_pilot(config: Mapping[str, Any]) -> bool:
    """Whether ``config`` is sized by a pilot trial: a drain with ``jobs = "auto"``."""
    return config["mode"] == "drain" and config["jobs"] == AUTO


def pilot_jobs(config: Mapping[str, Any]) -> int:
    """Jobs of the first pilot of ``config``: PILOT_JOBS, or the per-thread minimum."""
    return min(max(PILOT_JOBS, AUTO_JOBS_PER_THREAD * worker_threads(config)), MAX_AUTO_JOBS)


# ---------------------------------------------------------------------------
# Schedule


@dataclass(frozen=True)
class Task:
    """One scheduled trial."""

    order: int
    repetition: int
    version: str
    config: dict[str, Any]

    @property
    def config_id(self) -> str:
        """The configuration's stable id."""
        return config_id(self.config)


def schedule(configs: Sequence[Mapping[str, Any]], repeat: int, seed: int,
             versions: Sequence[str] = (CURRENT,)) -> list[Task]:
    """Interleaved repetitions in seeded random order; with several versions, each
    configuration's versions run back to back in counterbalanced order (paired A/B).

    Counterbalanced: per configuration, repetitions come in blocks of two whose
    orders mirror each other (AB then BA, or BA then AB, chosen at random), so each
    version runs first equally often (an odd last repetition gets a random order).
    Whatever running first or second costs then cancels out of the paired ratio,
    while which side leads each block stays random, as the sign-flip test needs.
    """
    rng = random.Random(seed)
    orders = {id(config): _balanced_orders(list(versions), repeat, rng) for config in configs}
    tasks: list[Task] = []
    for repetition in range(1, repeat + 1):
        round_configs = list(configs)
        rng.shuffle(round_configs)
        for config in round_configs:
            for version in orders[id(config)][repetition - 1]:
                tasks.append(Task(len(tasks) + 1, repetition, version, dict(config)))
    return tasks


def _balanced_orders(versions: list[str], repeat: int, rng: random.Random) -> list[list[str]]:
    """One version order per repetition, mirrored in blocks of two (see schedule)."""
    out: list[list[str]] = []
    while len(out) < repeat:
        first = list(versions)
        rng.shuffle(first)
        out.extend([first, first[::-1]])
    return out[:repeat]


# ---------------------------------------------------------------------------
# Estimates (for --dry-run and the progress bar before the first trial ends)

_PROBE_SECONDS = ceiling.DEFAULT_SECONDS + 0.05


def _startup_seconds(config: Mapping[str, Any]) -> float:
    # Interpreter start-up and imports of the processes, on a busy 2-core machine.
    procs = 1 if config["location"] == "memory" else config["workers"] + 1
    return 0.45 + 0.12 * procs


def rough_rate(config: Mapping[str, Any], sizes: Mapping[str, float]) -> float:
    """A guess at jobs/s: for time estimates of fixed job counts, and (calibrated
    against measured rates) for sizing the tuner's trials."""
    per_job = 0.0003 + {
        "custom": 0.005,  # unknown: guess a short job
        "noop": 0.0,
        "cpu": sizes.get("cpu_iterations", 50_000) * 6e-8,
        "io": sizes.get("io_ms", 5.0) / 1000,
        "mixed": sizes.get("mixed_cpu_iterations", 25_000) * 6e-8
        + sizes.get("mixed_io_ms", 2.5) / 1000,
    }[config["job_type"]]
    threads = config["workers"] * (config["concurrency"] if config["job_type"] in
                                   ("io", "mixed") else 1)
    db_cap = 600.0 if config["synchronous"] in ("full", "extra") or \
        config["journal_mode"] != "wal" else 3500.0
    return max(min(threads / per_job, db_cap), 1.0)


def estimate_trial(config: Mapping[str, Any], spec: SweepSpec, jobs: int | None = None) -> float:
    """Rough wall seconds of one trial of ``config``."""
    if config["mode"] == "steady":
        window = float(config["duration"]) + 0.3
    else:
        count = jobs if jobs is not None else config["jobs"]
        if count == AUTO:
            rate = rough_rate(config, spec.job_sizes)
            window = auto_job_count(config, rate, spec.target_seconds) / rate
        else:
            window = count / rough_rate(config, spec.job_sizes)
    return _startup_seconds(config) + window


def estimate_plan(plan: Plan, versions: int = 1) -> float:
    """Rough wall seconds of the whole plan: warm-up, pilots, probes and trials."""
    spec = plan.spec
    if not plan.configs:
        return 0.0
    total = estimate_trial(plan.configs[0], spec, WARMUP_JOBS) * versions
    keys = {ceiling.probe_key(c) for c in plan.configs}
    total += len(keys) * ceiling.MIN_PROBES * _PROBE_SECONDS
    for config in plan.configs:
        if needs_pilot(config):
            # A pilot, and for fast configurations (about half) a second one.
            second = _startup_seconds(config) + spec.target_seconds / 2
            total += (estimate_trial(config, spec, pilot_jobs(config)) + second / 2) * versions
        total += estimate_trial(config, spec) * spec.repeat * versions
    return total


# ---------------------------------------------------------------------------
# Progress


@dataclass
class SweepProgress:
    """What the runner is doing, for a progress display."""

    stage: str            # "warm-up", "pilot", "probe", "trial", "done"
    index: int            # trials finished (recorded ones)
    total: int            # recorded trials planned
    label: str            # what runs now
    elapsed: float        # seconds since the run started
    remaining: float      # estimated seconds left
    last_row: dict[str, Any] | None = None


ProgressCallback = Callable[[SweepProgress], None]


# ---------------------------------------------------------------------------
# The runner


@dataclass
class Runner:
    """Runs trials for a sweep, an A/B run or the tuner, and turns them into rows.

    ``versions`` maps a version label to the interpreter its workers run with
    (None: this one). Job counts for ``jobs = "auto"`` come from pilots and are
    reused for every repetition and version.
    """

    harness: Harness
    spec: SweepSpec
    versions: dict[str, str | None] = field(default_factory=lambda: {CURRENT: None})
    # config_id -> job count for "auto" configurations (filled by pilots).
    job_counts: dict[str, int] = field(default_factory=dict)
    # probe_key -> every probe's commits/s so far (NaN: a failed probe).
    ceilings: dict[tuple[Any, ...], list[float]] = field(default_factory=dict)
    # (*probe_key, repetition) -> scheduled trials of that round not yet run, for
    # spreading the probes (see plan_probes); empty for the tuner's one-off trials.
    trials_left: dict[tuple[Any, ...], int] = field(default_factory=dict)
    capabilities: dict[str, dict[str, Any]] = field(default_factory=dict)

    def plan_probes(self, tasks: Sequence[Task]) -> None:
        """Tell the runner the schedule, so its ceiling probes spread over it."""
        for task in tasks:
            key = (*ceiling.probe_key(task.config), task.repetition)
            self.trials_left[key] = self.trials_left.get(key, 0) + 1

    def interpreter(self, version: str) -> str | None:
        """The interpreter of ``version``."""
        return self.versions[version]

    def jobs_for(self, config: Mapping[str, Any]) -> int | None:
        """The job count a drain trial of ``config`` uses (None for steady mode)."""
        if config["mode"] == "steady":
            return None
        if config["jobs"] != AUTO:
            return int(config["jobs"])
        return self.job_counts.get(config_id(config))

    def size(self, config: Mapping[str, Any]) -> int | None:
        """Pilot trial for ``jobs = "auto"``: jobs for a ~target_seconds window.

        With several versions each gets a pilot and the largest count wins, so the
        faster version's window is long enough too (the slower one's is longer).
        Pre-fill ``job_counts`` to choose counts yourself.
        """
        cid = config_id(config)
        if not needs_pilot(config):
            return self.jobs_for(config)
        if cid not in self.job_counts:
            rate = max(self.pilot_rate(config, version) for version in self.versions)
            self.job_counts[cid] = auto_job_count(config, rate, self.spec.target_seconds)
        return self.job_counts[cid]

    def pilot_rate(self, config: Mapping[str, Any], version: str) -> float:
        """jobs/s of ``config`` from a pilot of PILOT_JOBS jobs (0.0 if it failed).

        A pilot of a fast configuration is over in a fraction of a second, where
        thread start-up and the last jobs' tail weigh enough to underestimate the
        rate; then a second pilot of about half the target window measures it.
        """
        target = self.spec.target_seconds
        # Many threads need many jobs before the rate means anything.
        jobs, rate = pilot_jobs(config), 0.0
        for _ in range(2):
            pilot = self.harness.run(config, jobs=jobs, interpreter=self.interpreter(version))
            # The rate once started up: a pilot whose start-up (threads, job
            # processes) took much of its window would size the trials too small.
            rate = max(pilot.values.get("jobs_per_sec") or 0.0,
                       pilot.values.get("late_jobs_per_sec") or 0.0)
            window = pilot.values.get("duration_s") or 0.0
            if rate <= 0 or window >= PILOT_MIN_WINDOW * target:
                break
            jobs = int(min(rate * target / 2, MAX_AUTO_JOBS))
        return rate

    def ceiling_for(self, config: Mapping[str, Any], repetition: int) -> ceiling.Ceiling | None:
        """The ceiling of the configuration's location and settings: the median of
        its probes so far, after taking the probes due before this trial."""
        key = ceiling.probe_key(config)
        rates = self.ceilings.setdefault(key, [])
        slot = (*key, repetition)
        left = self.trials_left.get(slot)
        for _ in range(ceiling.probes_due(len(rates), repetition, self.spec.repeat, left)):
            try:
                rates.append(self.harness.probe(config))
            except Exception:
                # A ceiling is a normalisation aid; a failed probe leaves a gap.
                rates.append(math.nan)
        if left is not None:
            self.trials_left[slot] = left - 1
        return ceiling.summarise(rates)

    def apply_ceilings(self, rows: Sequence[dict[str, Any]]) -> None:
        """Set every row's ceiling to the median (and spread) of all its probes."""
        for row in rows:
            fill_ceiling(row, ceiling.summarise(self.ceilings.get(ceiling.probe_key(row), [])))

    def warm_up(self, config: Mapping[str, Any]) -> list[TrialOutcome]:
        """One unrecorded trial per version: imports, page cache and CPU clocks settle
        (every version, so that none pays for a cold start in its first trial)."""
        jobs = None if config["mode"] == "steady" else WARMUP_JOBS
        return [self.harness.run(config, jobs=jobs, interpreter=self.interpreter(version))
                for version in self.versions]

    def trial(self, task: Task) -> dict[str, Any]:
        """Run one scheduled trial; return its row."""
        config = task.config
        jobs = self.size(config)
        probed = self.ceiling_for(config, task.repetition)
        started_at = metadata.now_iso()
        load = metadata.load_average()
        outcome = self.harness.run(config, jobs=jobs,
                                   interpreter=self.interpreter(task.version))
        if outcome.capabilities and task.version not in self.capabilities:
            self.capabilities[task.version] = outcome.capabilities
        row = make_row(task, outcome, started_at)
        fill_ceiling(row, probed)
        # Other load on the machine explains outliers; recorded, never corrected for.
        row["load_1m"] = load[0] if load else None
        return row


def fill_ceiling(row: dict[str, Any], probed: ceiling.Ceiling | None) -> None:
    """A row's ceiling columns and ``ceiling_ratio`` from the probes' summary."""
    median = probed.median if probed else None
    row["ceiling_commits_per_sec"] = median
    row["ceiling_min_commits_per_sec"] = probed.low if probed else None
    row["ceiling_max_commits_per_sec"] = probed.high if probed else None
    row["ceiling_ratio"] = ceiling_ratio(row.get("jobs_per_sec"), median)


def make_row(task: Task, outcome: TrialOutcome, started_at: str) -> dict[str, Any]:
    """The tidy row of a trial: configuration, identity, metrics, outcome."""
    values = outcome.values
    row: dict[str, Any] = {dim: task.config.get(dim) for dim in CONFIG_ORDER}
    row["jobs"] = values.get("jobs")
    row.update({
        "config_id": task.config_id,
        "trial_id": f"t{task.order:04d}",
        "repetition": task.repetition,
        "order": task.order,
        "version": task.version,
        "started_at": started_at,
    })
    for name in METRICS:
        row[name] = values.get(name)
    for name in OUTCOME_COLUMNS:
        row[name] = values.get(name)
    row["note"] = "; ".join(outcome.notes) or None
    return row


def rows_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with the standard columns first (header even when empty)."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return pd.DataFrame(columns=list(ROW_COLUMNS))
    extra = [c for c in frame.columns if c not in ROW_COLUMNS]
    return frame.reindex(columns=[*ROW_COLUMNS, *extra])


@contextlib.contextmanager
def harness_for(spec: SweepSpec, out_dir: str | os.PathLike[str],
                interpreter: str | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> Iterator[Harness]:
    """A Harness for ``spec`` whose scratch directories are removed on exit."""
    locations = Locations(out_dir)
    for name, path in spec.locations.items():
        locations.define(name, path)
    scratch = Scratch()
    try:
        yield Harness(locations, scratch, interpreter=interpreter,
                      job_sizes=dict(spec.job_sizes), batch_size=spec.batch_size,
                      timeout=timeout, custom_job=spec.custom_job)
    finally:
        scratch.cleanup()


# ---------------------------------------------------------------------------
# Whole runs


@dataclass
class SweepOutcome:
    """A finished (or interrupted) run: its results and where they were written."""

    results: Results
    out_dir: Path
    paths: list[Path]
    interrupted: bool = False


def run_plan(
    plan: Plan,
    out_dir: str | os.PathLike[str],
    *,
    versions: Mapping[str, str | None] | None = None,
    version_descriptions: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: ProgressCallback | None = None,
    command_line: str | None = None,
    locations: Locations | None = None,
) -> SweepOutcome:
    """Run every trial of ``plan``, writing results.json/.csv to ``out_dir`` as it goes.

    ``versions``: label → worker interpreter (None = this Python); default one
    version, ``current``. Rows are labelled with the version; with several versions
    each configuration's versions run back to back in counterbalanced order. Returns
    normally on Ctrl-C with ``interrupted=True`` and every finished trial saved.
    """
    spec = plan.spec
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    versions = dict(versions or {CURRENT: None})
    locations = locations or Locations(out)
    for name, path in spec.locations.items():
        locations.define(name, path)
    used = {c["location"] for c in plan.configs} | {s["config"]["location"]
                                                    for s in plan.skipped}
    environment = metadata.collect({n: locations.resolve(n) for n in sorted(used)},
                                   command_line)
    spec_doc = spec.as_dict()
    spec_doc["command"] = environment["command_line"]
    spec_doc["versions"] = {label: {"interpreter": interp or sys.executable,
                                    "description": (version_descriptions or {}).get(label)}
                            for label, interp in versions.items()}
    rows: list[dict[str, Any]] = []
    results = Results(rows=rows_frame(rows), spec=spec_doc, environment=environment,
                      skipped=plan.skipped)
    paths = list(save(results, out))
    tasks = schedule(plan.configs, spec.repeat, spec.seed, list(versions))
    scratch = Scratch()
    harness = Harness(locations, scratch, job_sizes=dict(spec.job_sizes),
                      batch_size=spec.batch_size, timeout=timeout,
                      custom_job=spec.custom_job)
    runner = Runner(harness, spec, versions)
    runner.plan_probes(tasks)
    started = time.monotonic()
    estimates = {t.order: estimate_trial(t.config, spec) for t in tasks}
    remaining_est = estimate_plan(plan, len(versions))
    spent_on_trials, estimated_done = 0.0, 0.0

    def remaining(extra: float = 0.0) -> float:
        # Scale the rough per-trial estimates by how this machine actually does.
        left = sum(estimates[t.order] for t in tasks[len(rows):]) + extra
        if estimated_done > 0:
            return left * spent_on_trials / estimated_done
        return max(remaining_est - (time.monotonic() - started), left)

    def tell(stage: str, label: str, row: dict[str, Any] | None = None,
             extra: float = 0.0) -> None:
        if progress:
            progress(SweepProgress(stage, len(rows), len(tasks), label,
                              time.monotonic() - started, remaining(extra), row))

    interrupted = False
    try:
        if tasks:
            tell("warm-up", "warm-up (not recorded)", extra=remaining_est)
            runner.warm_up(tasks[0].config)
            pilots = [c for c in plan.configs if needs_pilot(c)]
            for i, config in enumerate(pilots, 1):
                tell("pilot", f"sizing {i}/{len(pilots)}: {config_id(config)}")
                runner.size(config)
        for task in tasks:
            tell("trial", f"{task.config_id} (rep {task.repetition}, {task.version})")
            t0 = time.monotonic()
            row = runner.trial(task)
            spent_on_trials += time.monotonic() - t0
            estimated_done += estimates[task.order]
            rows.append(row)
            results.rows = rows_frame(rows)
            _record_versions(results, runner)
            save(results, out)
            tell("trial", f"{task.config_id} (rep {task.repetition}, {task.version})", row)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        scratch.cleanup()
        runner.apply_ceilings(rows)
        results.rows = rows_frame(rows)
        _record_versions(results, runner)
        results.spec["interrupted"] = interrupted
        results.spec["job_counts"] = dict(runner.job_counts)
        metadata.finish(results.environment)
        # The sweep process's own CPU (probes, saving, waiting on pipes): evidence
        # that the harness leaves the cores to the workers.
        results.environment["harness_cpu_s"] = round(metadata.process_cpu_seconds(), 2)
        paths = list(save(results, out))
    tell("done", "finished" if not interrupted else "interrupted")
    return SweepOutcome(results, out, paths, interrupted)


def _record_versions(results: Results, runner: Runner) -> None:
    for label, caps in runner.capabilities.items():
        entry = results.spec["versions"].setdefault(label, {})
        entry["gigq_version"] = caps.get("gigq_version")
        entry["gigq_path"] = caps.get("gigq_path")
        entry["capabilities"] = {k: v for k, v in caps.items() if isinstance(v, bool)}


def measure(
    config: Mapping[str, Any],
    repeat: int,
    harness: Harness,
    spec: SweepSpec,
    *,
    version: str = CURRENT,
    interpreter: str | None = None,
    runner: Runner | None = None,
) -> list[dict[str, Any]]:
    """Run one configuration ``repeat`` times and return its rows (no files).

    For the tuner: pass the same ``runner`` across calls to reuse pilot sizes and
    ceilings; ``config`` must be a full configuration (see space.canonical_config).
    """
    runner = runner or Runner(harness, spec, {version: interpreter})
    if version not in runner.versions:
        runner.versions[version] = interpreter
    rows = []
    for repetition in range(1, repeat + 1):
        task = Task(repetition, repetition, version, dict(config))
        rows.append(runner.trial(task))
    return rows
