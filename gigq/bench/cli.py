"""The ``gigq-bench`` command: ``sweep``, ``tune``, ``report``, ``compare``, ``ab``
and ``profiles`` (``report`` lives in :mod:`gigq.bench.report.cli`, ``compare`` and
``ab`` in :mod:`gigq.bench.gate.cli`; the search behind ``tune`` in
:mod:`gigq.bench.tune.search`).

Exit codes of ``sweep``: 0 every trial valid, 1 at least one trial failed
verification (a job lost or run twice, a worker crashed, a timeout), 2 bad input
(nothing ran), 130 interrupted (finished trials are kept on disk). ``tune``: 0 a
recommendation was made (a significant gain, "the defaults are fine here", not
significant or inconclusive),
1 no candidate completed a valid trial, 2 bad input, 130 interrupted (what was
measured is kept and reported).
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from gigq.storage import DURABILITY_CLASSES

from .gate.cli import ab_command, compare_command
from .numbers import clock
from .report.cli import report_command
from .sweep import metadata
from .sweep.locations import LocationError, Locations
from .sweep.plan import PILOT_JOBS, SweepProgress, estimate_plan, estimate_trial, run_plan
from .sweep.space import (
    AUTO,
    DIMENSIONS,
    PROFILES,
    SpaceError,
    build_spec,
    config_id,
    describe,
    load_profile,
    make_plan,
    profile_text,
)
from .sweep.trial import DEFAULT_TIMEOUT, TrialFailure, interpreter_capabilities
from .sweep.workloads import JOB_TYPES

EXIT_OK, EXIT_INVALID, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class InputError(click.ClickException):
    """Bad input: shown as ``Error: …``, exit code 2, before any trial runs."""

    exit_code = EXIT_INPUT


def _dimension_help() -> str:
    lines = ["Dimensions (for --set, --base and sweep files):"]
    for dim in DIMENSIONS.values():
        lines.append(f"  {dim.name}: {dim.description}")
    return "\b\n" + "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """Measure GigQ on this machine: throughput, latency and lock contention under
    every setting that matters (journal mode, synchronous, cache size, workers,
    threads, polling interval, storage location, job type).

    Start with `gigq-bench sweep` (the quick profile, a few minutes), then look at
    the summary it prints and the results it writes. `gigq-bench profiles` lists
    the built-in sweeps. `gigq-bench tune --job-type io` (or `--job module.function`)
    searches for the best worker settings for one kind of job and prints them ready
    to paste.
    """


# ---------------------------------------------------------------------------
# sweep


class _StatusLine:
    """One line of progress on stderr: redrawn in place on a terminal, one line per
    update otherwise (CI logs)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = 0

    def show(self, text: str) -> None:
        """Replace the line with ``text``."""
        if self.tty:
            import shutil

            columns = shutil.get_terminal_size((120, 20)).columns - 1
            text = text[:columns]
            self.stream.write("\r" + text + " " * max(self.width - len(text), 0))
            self.width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Erase the line (on a terminal) when the work is done."""
        if self.tty and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


def _bar(fraction: float, length: int = 20) -> str:
    filled = max(0, min(length, int(length * fraction)))
    return "[" + "#" * filled + "-" * (length - filled) + "]"


class _ProgressLine(_StatusLine):
    """Sweep progress: trial n/N, what runs, elapsed, remaining."""

    def __call__(self, p: SweepProgress) -> None:
        if p.stage == "done":
            self.clear()
            return
        done = p.index
        head = f"{_bar(done / p.total if p.total else 1)} {done}/{p.total} trials  " \
               f"elapsed {clock(p.elapsed)}  remaining ~{clock(p.remaining)}  "
        if p.stage == "trial" and p.last_row is not None:
            row = p.last_row
            rate = row.get("jobs_per_sec")
            verdict = "ok" if row.get("valid") else f"INVALID: {row.get('invalid_reason')}"
            text = f"{head}done {row['trial_id']}: " \
                   f"{rate:,.0f} jobs/s {verdict}" if rate else f"{head}{verdict}"
        else:
            text = f"{head}{p.stage}: {p.label}"
        self.show(text)


def _default_out(profile: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_+" else "_" for c in profile)
    return Path("reports") / f"{stamp}-{safe}"


def _render_report(results: Any, out_dir: Path) -> Path | None:
    """Write ``out_dir/index.html`` (issue 5). A failure is reported, never fatal:
    the measurements are already on disk and `gigq-bench report` can retry."""
    from .report.cli import render_after_sweep

    return render_after_sweep(results, out_dir, echo=False)


def _print_plan(plan: Any, seconds: float) -> None:
    spec = plan.spec
    pilots = sum(1 for c in plan.configs if c["mode"] == "drain" and c["jobs"] == AUTO)
    click.echo(f"Profile {spec.profile} ({spec.design} design): {len(plan.configs)} "
               f"configurations x {spec.repeat} repetitions = {plan.trials} trials, "
               f"plus 1 warm-up and {pilots} pilot trials (not recorded).")
    click.echo(f"Base: {describe(spec.base)}")
    click.echo("")
    click.echo("Planned configurations (differences from the base; est. seconds per trial):")
    for config in plan.configs:
        click.echo(f"  {estimate_trial(config, spec):5.1f}s  {describe(config, spec.base)}")
        click.echo(f"          id {config_id(config)}")
    if plan.skipped:
        click.echo("")
        click.echo("Skipped:")
        for item in plan.skipped:
            click.echo(f"  {describe(item['config'], spec.base)}: {item['reason']}")
    click.echo("")
    click.echo(f"Estimated duration: about {clock(seconds)} (rough; the progress bar "
               "refines it as trials finish).")


@cli.command(epilog=_dimension_help())
@click.option("--profile", "-p", type=click.Choice(PROFILES), default="quick", show_default=True,
              help="Built-in sweep to start from (see `gigq-bench profiles`).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML file layered over the profile (or over the profile it names with "
                   "`extends`; `extends = \"none\"` starts from scratch). Same keys as the "
                   "profile files: `gigq-bench profiles --show quick` prints one.")
@click.option("--set", "set_values", multiple=True, metavar="DIM=V1,V2,...",
              help="Vary DIM over exactly these values (repeatable). One value fixes DIM "
                   "in every trial. E.g. --set workers=1,2,4,8 --set job_type=io.")
@click.option("--base", "base", multiple=True, metavar="DIM=VALUE",
              help="Change the base configuration the other dimensions vary around "
                   "(repeatable). E.g. --base location=tmpfs.")
@click.option("--design", type=click.Choice(["oat", "grid"]),
              help="oat: one factor at a time around the base (the profiles' default); "
                   "grid: every combination of the varied values.")
@click.option("--location", "locations", multiple=True, metavar="NAME=/PATH",
              help="Define a storage location to use as a `location` value, e.g. "
                   "hdd=/mnt/hdd or nfs=/mnt/share (repeatable); disk=/PATH overrides "
                   "where 'disk' trials run.")
@click.option("--job-size", "job_sizes", multiple=True, metavar="NAME=NUMBER",
              help="Job sizes: cpu_iterations, io_ms, mixed_cpu_iterations, mixed_io_ms "
                   "(repeatable).")
@click.option("--repeat", "-r", type=int,
              help="Repetitions of each configuration (quick: 5, standard: 5, full: 3).")
@click.option("--seed", type=int, help="Seed of the random trial order.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output directory [default: reports/<timestamp>-<profile>/].")
@click.option("--dry-run", is_flag=True,
              help="Print the planned and skipped trials and the estimated duration; "
                   "run nothing.")
@click.option("--no-report", is_flag=True, help="Do not render the HTML report.")
@click.option("--trial-timeout", type=click.FloatRange(min=1), default=DEFAULT_TIMEOUT,
              show_default=True,
              help="Seconds one trial may take before it is stopped and marked invalid.")
@click.option("--python", "python", type=click.Path(exists=True, dir_okay=False),
              help="Interpreter that runs the worker processes (e.g. a virtualenv with "
                   "another GigQ version) [default: this Python].")
def sweep(profile: str, config_file: str | None, set_values: tuple[str, ...],
          base: tuple[str, ...], design: str | None, locations: tuple[str, ...],
          job_sizes: tuple[str, ...], repeat: int | None, seed: int | None,
          out_dir: str | None, dry_run: bool, no_report: bool, trial_timeout: float,
          python: str | None) -> int:
    """Run trials over the tuning dimensions and write results.csv / results.json.

    Each trial uses a fresh database, real worker processes running the real
    Worker, a start barrier (interpreter start-up is not timed) and checks that
    every job ran exactly once. Repetitions are interleaved in a seeded random
    order after one unrecorded warm-up. Ctrl-C stops cleanly and keeps every
    finished trial. At the end: the best configuration per job type and the
    paths written.

    Exit status: 0 all trials valid, 1 some trial invalid, 2 bad input,
    130 interrupted.
    """
    try:
        spec = build_spec(profile=profile, config_file=config_file, base=base,
                          set_values=set_values, design=design, repeat=repeat, seed=seed,
                          job_sizes=job_sizes, locations=locations)
        out = Path(out_dir) if out_dir else _default_out(spec.profile)
        locs = Locations(out, create=not dry_run)
        plan = make_plan(spec, locs)
    except (SpaceError, LocationError) as exc:
        raise InputError(str(exc)) from None
    if not plan.configs:
        raise InputError("nothing to run: every configuration was skipped ("
                         + "; ".join(sorted({s["reason"] for s in plan.skipped})) + ")")
    versions = {"current": python} if python else None
    descriptions = None
    if python:
        try:
            caps = interpreter_capabilities(python)
        except TrialFailure as exc:
            raise InputError(f"--python {python}: {exc}") from None
        descriptions = {"current": f"GigQ {caps['gigq_version']} at {caps['gigq_path']}"}
    seconds = estimate_plan(plan)
    if dry_run:
        _print_plan(plan, seconds)
        return EXIT_OK
    command = "gigq-bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    click.echo(f"gigq-bench sweep: profile {spec.profile}, {len(plan.configs)} configurations "
               f"x {spec.repeat} = {plan.trials} trials, about {clock(seconds)}; "
               f"results in {out}/", err=True)
    t0 = time.monotonic()
    outcome = run_plan(plan, out, versions=versions, version_descriptions=descriptions,
                       timeout=trial_timeout,
                       progress=_ProgressLine(), command_line=command, locations=locs)
    paths = list(outcome.paths)
    report_path = None
    if not no_report and len(outcome.results.rows):
        report_path = _render_report(outcome.results, outcome.out_dir)
        if report_path is not None:
            paths.append(report_path)
    from .sweep.summary import summary_text

    click.echo(summary_text(outcome.results, paths, outcome.interrupted))
    click.echo(f"\nWall time {clock(time.monotonic() - t0)}.")
    if report_path is not None:
        click.echo(f"Report: {report_path}  (open it in a browser; it needs no network)")
    if outcome.interrupted:
        click.echo("Interrupted: the trials finished so far are saved above.", err=True)
        return EXIT_INTERRUPTED
    rows = outcome.results.rows
    if len(rows) and not rows["valid"].astype(bool).all():
        return EXIT_INVALID
    return EXIT_OK


# ---------------------------------------------------------------------------
# tune


class _TuneProgress(_StatusLine):
    """Tune progress: budget used, trials, stage, best so far."""

    def __init__(self, unit: str, stream: Any = None) -> None:
        super().__init__(stream)
        self.unit = unit

    def __call__(self, p: Any) -> None:
        if p.stage == "done":
            self.clear()
            return
        best = ""
        if p.best_value is not None:
            best = f"  best {p.best_value:,.0f} {self.unit}" if p.best_value >= 100 else \
                f"  best {p.best_value:,.1f} {self.unit}"
        self.show(f"{_bar(p.spent / p.budget if p.budget else 1)} {clock(p.spent)} of "
                  f"{clock(p.budget)}  {p.evaluations} trials{best}  {p.label}")


def _tune_location(value: str | None, locations: Locations) -> str:
    """The location name for --location (a built-in name, NAME=/path or a path)."""
    if not value:
        return "disk"
    text = value.strip()
    if text == "memory":
        raise InputError("--location memory: tune runs worker processes, and an in-memory "
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
        raise InputError(f"--location {value}: {exc}") from None
    return name.strip()


@cli.command()
@click.option("--job-type", type=click.Choice(JOB_TYPES), default=None,
              help="Built-in job to tune for: noop (the queue's own cost), cpu (~5 ms of "
                   "pure Python), io (a 5 ms wait, like a network call), mixed "
                   "[default: io, unless --job is given].")
@click.option("--job", "job", metavar="MODULE.FUNCTION",
              help="Tune for your own importable job function instead (run from the "
                   "directory its module is in); each trial checks it ran exactly once.")
@click.option("--params", "params", metavar="JSON", default=None,
              help="Keyword arguments of --job as a JSON object, e.g. '{\"width\": 640}'.")
@click.option("--job-size", "job_sizes", multiple=True, metavar="NAME=NUMBER",
              help="Sizes of the built-in jobs: cpu_iterations, io_ms, "
                   "mixed_cpu_iterations, mixed_io_ms (repeatable).")
@click.option("--durability", type=click.Choice(DURABILITY_CLASSES),
              default="crash-safe", show_default=True,
              help="The floor: no setting less durable than this is tried or recommended.")
@click.option("--objective", type=click.Choice(["throughput", "latency"]),
              default="throughput", show_default=True,
              help="throughput: jobs/s draining a backlog; latency: p95 time from submit "
                   "to completion at --arrival-rate.")
@click.option("--arrival-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Jobs/s submitted while measuring latency [default: 100].")
@click.option("--location", "location", metavar="PATH",
              help="Directory the database lives in (your disk, an SSD mount, ...), or "
                   "disk / tmpfs [default: disk, next to --out].")
@click.option("--budget", default="5m", show_default=True, metavar="DURATION",
              help="Total time, search and final comparison, e.g. 20s, 5m, 1h.")
@click.option("--write", "write", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the recommended settings to a TOML file for "
                   "`gigq worker --config FILE` and `Worker.from_config(db, FILE)`.")
@click.option("--db", "db", metavar="PATH",
              help="Database path to show in the printed commands [default: jobs.db, in "
                   "--location if given].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output directory [default: reports/<timestamp>-tune/].")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seed of the sample and of the trial order.")
@click.option("--no-report", is_flag=True, help="Do not render the HTML page.")
def tune(job_type: str | None, job: str | None, params: str | None,
         job_sizes: tuple[str, ...], durability: str, objective: str,
         arrival_rate: float | None, location: str | None, budget: str, write: str | None,
         db: str | None, out_dir: str | None, seed: int, no_report: bool) -> int:
    """Find the fastest worker settings for your jobs on this machine, never below
    the durability floor, and check them against GigQ's defaults.

    Searches workers (processes) x concurrency (threads) x journal_mode x
    synchronous x cache_size x polling_interval, coarse to fine, dropping the
    losers early (successive halving) so the budget goes to the contenders. Then
    re-measures the winner against GigQ's defaults in interleaved pairs and reports
    the gain with its 95% confidence interval ("the defaults are fine here" only
    from at least 6 pairs; "not significant" or "inconclusive" otherwise). Prints
    the settings as gigq worker flags, GIGQ_* environment variables and Python;
    writes tune.json, results.json/.csv and an HTML page. Ctrl-C stops and reports
    what was measured.

    Exit status: 0 settings recommended, 1 nothing completed a valid trial, 2 bad
    input, 130 interrupted.
    """
    from .sweep.locations import NETWORK_FILE_SYSTEMS
    from .sweep.plan import harness_for
    from .sweep.space import DEFAULT_BASE, SweepSpec, parse_custom_job, parse_job_sizes
    from .tune import output as tune_output
    from .tune import search as tuning
    from .tune.trials import TrialEvaluator, trial_window

    try:
        seconds = tuning.parse_duration(budget)
        if job and job_type:
            raise InputError("give --job-type or --job, not both")
        if params is not None and not job:
            raise InputError("--params goes with --job (your own function)")
        spec = SweepSpec(profile="tune", description="gigq-bench tune", design="grid",
                         seed=seed)
        if job:
            spec.custom_job = parse_custom_job(job, params or "{}")
        sizes = {}
        for text in job_sizes:
            if "=" not in text:
                raise InputError(f"--job-size {text!r}: expected NAME=NUMBER, e.g. io_ms=10")
            key, value = text.split("=", 1)
            sizes[key.strip()] = value.strip()
        spec.job_sizes.update(parse_job_sizes(sizes, "--job-size"))
        out = Path(out_dir) if out_dir else _default_out("tune")
        locs = Locations(out)
        loc_name = _tune_location(location, locs)
        loc = locs.resolve(loc_name)
        if loc.problem:
            raise InputError(f"--location {location or loc_name}: {loc.problem}")
        if loc.in_ram and durability != "unsafe":
            raise InputError(f"--location {location}: {loc.path} is a RAM file system "
                             f"({loc.fs_type}); a reboot or power cut loses it whatever the "
                             f"settings, so nothing there is {durability}. Tune on a disk, "
                             "or pass --durability unsafe")
        if loc_name not in ("disk", "tmpfs"):
            spec.locations[loc_name] = loc.path
        wal_ok = loc.fs_type not in NETWORK_FILE_SYSTEMS
        space = tuning.build_space(durability, objective, wal_ok=wal_ok)
        reference, ref_notes = tuning.reference_settings(durability, wal_ok)
        metric = tuning.objective_metric(objective)
    except (SpaceError, LocationError, tuning.TuneError) as exc:
        raise InputError(str(exc)) from None
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
    command = "gigq-bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    shown_db = db or (os.path.join(loc.path, "jobs.db") if loc_name not in ("disk", "tmpfs")
                      and loc.path else "jobs.db")
    context = tune_output.TuneContext(
        job=job_label, objective=objective, metric=metric.name, unit=metric.unit,
        floor=durability, budget=seconds, location=loc_name, location_path=loc.path,
        fs_type=loc.fs_type, db=shown_db, in_ram=loc.in_ram,
        arrival_rate=rate if objective == "latency" else None, command=command,
        reference_notes=ref_notes)
    click.echo(f"gigq-bench tune: {job_label} jobs, objective {objective}, durability floor "
               f"{durability}, budget {clock(seconds)}; results in {out}/", err=True)
    environment = metadata.collect({loc_name: loc}, command)
    with harness_for(spec, out) as harness:
        evaluator = TrialEvaluator(harness, spec, base, objective, window)
        tuner = tuning.Tuner(space, evaluator, budget=seconds, reference=reference,
                             higher_is_better=metric.higher_is_better, seed=seed,
                             progress=_TuneProgress(metric.unit))
        result = tuner.run()
    metadata.finish(environment)
    paths = _save_tune(result, context, spec, environment, out, write, no_report)
    click.echo(tune_output.summary_text(result, context, paths))
    if result.interrupted:
        click.echo("Interrupted: what was measured is reported above.", err=True)
        return EXIT_INTERRUPTED
    return EXIT_OK if result.winner is not None else EXIT_INVALID


def _save_tune(result: Any, context: Any, spec: Any, environment: dict[str, Any], out: Path,
               write: str | None, no_report: bool) -> list[Path]:
    """Write tune.json, results.json/.csv, the page and the --write file."""
    from .results import Results, save
    from .sweep.plan import rows_frame
    from .tune import output as tune_output

    out.mkdir(parents=True, exist_ok=True)
    document = tune_output.tune_document(result, context, environment)
    paths = [tune_output.write_tune_json(out / "tune.json", document)]
    spec_doc = spec.as_dict()
    spec_doc.update(command=context.command, interrupted=result.interrupted,
                    tune=context.as_dict())
    results = Results(rows_frame(tune_output.trial_rows(result)), spec_doc, environment, [])
    paths.extend(save(results, out))
    if not no_report:
        try:
            from .tune.report import render_tune_report

            paths.append(render_tune_report(out, document, results))
        except Exception as exc:  # a page failure must not lose the measurements
            click.echo(f"warning: could not render the tune page: {exc}", err=True)
    if write and result.recommended is not None:
        when = datetime.now().strftime("%Y-%m-%d %H:%M")
        paths.append(tune_output.write_toml(
            write, result.recommended, tune_output.toml_comments(result, context, when)))
    return paths


# ---------------------------------------------------------------------------
# profiles


@cli.command()
@click.option("--show", metavar="NAME", type=click.Choice(PROFILES),
              help="Print the profile's TOML (a starting point for --config).")
def profiles(show: str | None) -> int:
    """List the built-in sweep profiles: what they vary, trials, estimated time."""
    if show:
        click.echo(profile_text(show), nl=False)
        return EXIT_OK
    for name in PROFILES:
        spec = load_profile(name)
        plan = make_plan(spec, Locations(Path("reports") / "profile-estimate", create=False))
        varied = ", ".join(f"{d} ({len(v)})" for d, v in spec.varied().items())
        click.echo(f"{name}{' (default)' if name == 'quick' else ''}: {spec.description}")
        click.echo(f"    {spec.design} design, {len(plan.configs)} configurations x "
                   f"{spec.repeat} repetitions = {plan.trials} trials, about "
                   f"{clock(estimate_plan(plan))}; "
                   f"{len(plan.skipped)} skipped on this machine")
        click.echo(f"    varies: {varied}")
        click.echo(f"    groups: {', '.join(g.name for g in spec.groups) or '-'}")
        click.echo("")
    click.echo(f"Pilot trials of {PILOT_JOBS} jobs size 'jobs = auto' configurations; "
               "run `gigq-bench sweep --profile NAME --dry-run` for the full plan.")
    return EXIT_OK


cli.add_command(report_command)
cli.add_command(compare_command)
cli.add_command(ab_command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (used by the ``gigq-bench`` entry point)."""
    try:
        result = cli.main(args=argv, prog_name="gigq-bench", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_INTERRUPTED
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return result if isinstance(result, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
