"""What ``gigq-bench tune`` runs: check the request, search, compare, save.

:func:`run_tune` is to ``tune`` what :func:`gigq.bench.gate.ab.run_ab` is to ``ab``:
the command parses its options, calls it, prints :func:`~gigq.bench.tune.output.summary_text`
and maps the outcome to an exit code. Bad input raises :class:`TuneError`
(or :class:`~gigq.bench.sweep.space.SpaceError` /
:class:`~gigq.bench.sweep.locations.LocationError`) before any trial runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..numbers import clock
from ..outputs import default_out_dir
from ..sweep.locations import NETWORK_FILE_SYSTEMS, LocationError, Locations
from ..sweep.space import (
    AUTO,
    DEFAULT_BASE,
    SweepSpec,
    parse_custom_job,
    parse_job_size_options,
)
from . import output as tune_output
from . import search as tuning
from .search import TuneError, TuneProgress, TuneResult


@dataclass
class TuneRun:
    """What ``tune`` found and wrote."""

    result: TuneResult
    context: tune_output.TuneContext
    out_dir: Path
    paths: list[Path]

    @property
    def interrupted(self) -> bool:
        """Whether Ctrl-C stopped the search (what was measured is saved)."""
        return self.result.interrupted


def tune_location(value: str | None, locations: Locations) -> str:
    """The location name for --location (a built-in name, NAME=/path or a path)."""
    if not value:
        return "disk"
    text = value.strip()
    if text == "memory":
        raise TuneError("--location memory: tune runs worker processes, and an in-memory "
                        "database cannot be shared between processes; give a directory")
    if text in ("disk", "tmpfs"):
        return text
    if "=" in text:
        name, path = text.split("=", 1)
    else:
        name, path = "target", text
    try:
        locations.define(name.strip(), path.strip())
    except LocationError as exc:
        raise TuneError(f"--location {value}: {exc}") from None
    return name.strip()


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def run_tune(
    *,
    job_type: str | None = None,
    job: str | None = None,
    params: str | None = None,
    job_sizes: Iterable[str] = (),
    durability: str = "crash-safe",
    objective: str = "throughput",
    arrival_rate: float | None = None,
    location: str | None = None,
    budget: str = "5m",
    write: str | None = None,
    db: str | None = None,
    out_dir: str | Path | None = None,
    seed: int = 1,
    report: bool = True,
    log: Callable[[str], None] = _stderr,
    progress: Callable[[str], Callable[[TuneProgress], None]] | None = None,
    command_line: str | None = None,
) -> TuneRun:
    """Search the worker settings for one kind of job, compare the winner with GigQ's
    defaults, and write tune.json, results.json/.csv, the page and ``write``.

    ``progress`` is called with the objective's unit and returns the callback that
    receives :class:`~gigq.bench.tune.search.TuneProgress` reports; ``log`` gets the
    start line and warnings. Raises TuneError, SpaceError or LocationError for bad
    input, before any trial runs.
    """
    from ..sweep import metadata
    from ..sweep.plan import harness_for
    from .trials import TrialEvaluator, trial_window

    seconds = tuning.parse_duration(budget)
    if job and job_type:
        raise TuneError("give --job-type or --job, not both")
    if params is not None and not job:
        raise TuneError("--params goes with --job (your own function)")
    spec = SweepSpec(profile="tune", description="gigq-bench tune", design="grid", seed=seed)
    if job:
        spec.custom_job = parse_custom_job(job, params or "{}")
    spec.job_sizes.update(parse_job_size_options(job_sizes))
    out = Path(out_dir) if out_dir else default_out_dir("tune")
    locs = Locations(out)
    loc_name = tune_location(location, locs)
    loc = locs.resolve(loc_name)
    if loc.problem:
        raise TuneError(f"--location {location or loc_name}: {loc.problem}")
    if loc.in_ram and durability != "unsafe":
        raise TuneError(f"--location {location}: {loc.path} is a RAM file system "
                        f"({loc.fs_type}); a reboot or power cut loses it whatever the "
                        f"settings, so nothing there is {durability}. Tune on a disk, "
                        "or pass --durability unsafe")
    if loc_name not in ("disk", "tmpfs") and loc.path is not None:  # a --location NAME=/path
        spec.locations[loc_name] = loc.path
    wal_ok = loc.fs_type not in NETWORK_FILE_SYSTEMS
    space = tuning.build_space(durability, objective, wal_ok=wal_ok)
    reference, ref_notes = tuning.reference_settings(durability, wal_ok)
    metric = tuning.objective_metric(objective)

    job_label = f"custom ({spec.custom_job['function']})" if spec.custom_job else \
        (job_type or "io")
    rate = arrival_rate or tuning.DEFAULT_ARRIVAL_RATE
    window = trial_window(seconds)
    base = {**DEFAULT_BASE, "job_type": "custom" if spec.custom_job else (job_type or "io"),
            "location": loc_name, "jobs": AUTO, "submit": "batch",
            "mode": "drain" if objective == "throughput" else "steady",
            "arrival_rate": rate, "duration": max(2 * window, 1.0)}
    spec.base = dict(base)
    spec.dimensions = {d: list(space.levels[d]) for d in tuning.TUNED}
    command = command_line or "gigq-bench tune"
    shown_db = db or (os.path.join(loc.path, "jobs.db") if loc_name not in ("disk", "tmpfs")
                      and loc.path else "jobs.db")
    context = tune_output.TuneContext(
        job=job_label, objective=objective, metric=metric.name, unit=metric.unit,
        floor=durability, budget=seconds, location=loc_name, location_path=loc.path,
        fs_type=loc.fs_type, db=shown_db, in_ram=loc.in_ram,
        arrival_rate=rate if objective == "latency" else None, command=command,
        reference_notes=ref_notes)
    log(f"gigq-bench tune: {job_label} jobs, objective {objective}, durability floor "
        f"{durability}, budget {clock(seconds)}; results in {out}/")
    environment = metadata.collect({loc_name: loc}, command)
    with harness_for(spec, out) as harness:
        evaluator = TrialEvaluator(harness, spec, base, objective, window)
        tuner = tuning.Tuner(space, evaluator, budget=seconds, reference=reference,
                             higher_is_better=metric.higher_is_better, seed=seed,
                             progress=progress(metric.unit) if progress else None)
        result = tuner.run()
    metadata.finish(environment)
    paths = save_tune(result, context, spec, environment, out, write, report=report, log=log)
    return TuneRun(result, context, out, paths)


def save_tune(result: TuneResult, context: tune_output.TuneContext, spec: SweepSpec,
              environment: dict[str, Any], out: Path, write: str | None, *,
              report: bool = True, log: Callable[[str], None] = _stderr) -> list[Path]:
    """Write tune.json, results.json/.csv, the page and the --write file."""
    from ..results import Results, save
    from ..sweep.plan import rows_frame

    out.mkdir(parents=True, exist_ok=True)
    document = tune_output.tune_document(result, context, environment)
    paths = [tune_output.write_tune_json(out / "tune.json", document)]
    spec_doc = spec.as_dict()
    spec_doc.update(command=context.command, interrupted=result.interrupted,
                    tune=context.as_dict())
    results = Results(rows_frame(tune_output.trial_rows(result)), spec_doc, environment, [])
    paths.extend(save(results, out))
    if report:
        try:
            from .report import render_tune_report

            paths.append(render_tune_report(out, document, results))
        except Exception as exc:  # a page failure must not lose the measurements
            log(f"warning: could not render the tune page: {exc}")
    if write and result.recommended is not None:
        when = datetime.now().strftime("%Y-%m-%d %H:%M")
        paths.append(tune_output.write_toml(
            write, result.recommended, tune_output.toml_comments(result, context, when)))
    return paths
