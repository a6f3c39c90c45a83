"""The ``gigq-bench`` command: ``sweep``, ``tune``, ``report``, ``compare``, ``ab``
and ``profiles`` (``report`` lives in :mod:`gigq.bench.report.cli`, ``compare`` and
``ab`` in :mod:`gigq.bench.gate.cli`; the search behind ``tune`` in
:mod:`gigq.bench.tune.search`).

Each command parses its options, calls one library function and prints; the exit
codes are :class:`gigq.bench.exit_codes.ExitCode` (``SWEEP_EXITS`` and ``TUNE_EXITS``
say what they mean here). Modules that need pandas, numpy or matplotlib are imported
inside the commands, so ``gigq-bench --help`` stays fast.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gigq.storage import DURABILITY_CLASSES

from . import numbers as num
from .exit_codes import ExitCode, documents_exits
from .gate.cli import ab_command, compare_command
from .history.cli import history_command
from .numbers import clock
from .options import FiniteFloat
from .report.cli import report_command
from .sweep.locations import LocationError, Locations
from .sweep.space import (
    DIMENSIONS,
    PROFILES,
    SpaceError,
    config_id,
    describe,
    load_profile,
    make_plan,
    profile_text,
)
from .sweep.trial import DEFAULT_TIMEOUT
from .sweep.workloads import JOB_TYPES
from .tune.cli import tune_report_command

if TYPE_CHECKING:
    from .sweep.plan import SweepProgress
    from .tune.search import TuneProgress

SWEEP_EXITS = {
    ExitCode.OK: "all trials valid",
    ExitCode.FAILED: "some trial invalid",
    ExitCode.BAD_INPUT: "bad input",
    ExitCode.INTERRUPTED: "interrupted",
}
TUNE_EXITS = {
    ExitCode.OK: "settings recommended",
    ExitCode.FAILED: "nothing completed a valid trial",
    ExitCode.BAD_INPUT: "bad input",
    ExitCode.INTERRUPTED: "interrupted",
}


class InputError(click.ClickException):
    """Bad input: shown as ``Error: …``, exit code 2, before any trial runs."""

    exit_code = ExitCode.BAD_INPUT


def _command_line() -> str:
    """The command as typed, for the results and the page (it reproduces the run)."""
    return "gigq-bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


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
                   f"{num.rate(rate)} jobs/s {verdict}" if rate else f"{head}{verdict}"
        else:
            text = f"{head}{p.stage}: {p.label}"
        self.show(text)


def _render_report(results: Any, out_dir: Path) -> Path | None:
    """Write ``out_dir/index.html`` (issue 5). A failure is reported, never fatal:
    the measurements are already on disk and `gigq-bench report` can retry."""
    from .report.cli import render_after_sweep

    return render_after_sweep(results, out_dir, echo=False)


def _print_plan(plan: Any, seconds: float) -> None:
    from .sweep.plan import estimate_trial, needs_pilot

    spec = plan.spec
    pilots = sum(1 for c in plan.configs if needs_pilot(c))
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
@click.option("--trial-timeout", type=FiniteFloat(1), default=DEFAULT_TIMEOUT,
              show_default=True,
              help="Seconds one trial may take before it is stopped and marked invalid.")
@click.option("--python", "python", type=click.Path(exists=True, dir_okay=False),
              help="Interpreter that runs the worker processes (e.g. a virtualenv with "
                   "another GigQ version) [default: this Python].")
@documents_exits(SWEEP_EXITS)
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
    """
    from .sweep.run import all_valid, plan_sweep, run_sweep
    from .sweep.summary import summary_text

    try:
        setup = plan_sweep(profile=profile, config_file=config_file, set_values=set_values,
                           base=base, design=design, repeat=repeat, seed=seed,
                           job_sizes=job_sizes, locations=locations, out_dir=out_dir,
                           python=python, dry_run=dry_run)
    except (SpaceError, LocationError) as exc:
        raise InputError(str(exc)) from None
    seconds = setup.seconds
    if dry_run:
        _print_plan(setup.plan, seconds)
        return ExitCode.OK
    spec, plan = setup.spec, setup.plan
    click.echo(f"gigq-bench sweep: profile {spec.profile}, {len(plan.configs)} configurations "
               f"x {spec.repeat} = {plan.trials} trials, about {clock(seconds)}; "
               f"results in {setup.out_dir}/", err=True)
    t0 = time.monotonic()
    outcome = run_sweep(setup, timeout=trial_timeout, progress=_ProgressLine(),
                        command_line=_command_line())
    paths = list(outcome.paths)
    report_path = None
    if not no_report and len(outcome.results.rows):
        report_path = _render_report(outcome.results, outcome.out_dir)
        if report_path is not None:
            paths.append(report_path)
    click.echo(summary_text(outcome.results, paths, outcome.interrupted))
    click.echo(f"\nWall time {clock(time.monotonic() - t0)}.")
    if report_path is not None:
        click.echo(f"Report: {report_path}  (open it in a browser; it needs no network)")
    if outcome.interrupted:
        click.echo("Interrupted: the trials finished so far are saved above.", err=True)
        return ExitCode.INTERRUPTED
    return ExitCode.OK if all_valid(outcome) else ExitCode.FAILED


# ---------------------------------------------------------------------------
# tune


class _TuneProgress(_StatusLine):
    """Tune progress: budget used, trials, stage, best so far."""

    def __init__(self, unit: str, stream: Any = None) -> None:
        super().__init__(stream)
        self.unit = unit

    def __call__(self, p: TuneProgress) -> None:
        if p.stage == "done":
            self.clear()
            return
        best = ""
        if p.best_value is not None:
            best = f"  best {num.rate(p.best_value)} {self.unit}"
        self.show(f"{_bar(p.spent / p.budget if p.budget else 1)} {clock(p.spent)} of "
                  f"{clock(p.budget)}  {p.evaluations} trials{best}  {p.label}")


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
@click.option("--arrival-rate", type=FiniteFloat(0, low_open=True), default=None,
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
@documents_exits(TUNE_EXITS)
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

    """
    from .tune.run import run_tune
    from .tune.search import TuneError

    try:
        run = run_tune(job_type=job_type, job=job, params=params, job_sizes=job_sizes,
                       durability=durability, objective=objective, arrival_rate=arrival_rate,
                       location=location, budget=budget, write=write, db=db,
                       out_dir=out_dir, seed=seed, report=not no_report,
                       log=lambda message: click.echo(message, err=True),
                       progress=_TuneProgress, command_line=_command_line())
    except (SpaceError, LocationError, TuneError) as exc:
        raise InputError(str(exc)) from None
    from .tune.output import summary_text

    click.echo(summary_text(run.result, run.context, run.paths))
    if run.interrupted:
        click.echo("Interrupted: what was measured is reported above.", err=True)
        return ExitCode.INTERRUPTED
    return ExitCode.OK if run.result.winner is not None else ExitCode.FAILED


# ---------------------------------------------------------------------------
# profiles


@cli.command()
@click.option("--show", metavar="NAME", type=click.Choice(PROFILES),
              help="Print the profile's TOML (a starting point for --config).")
def profiles(show: str | None) -> int:
    """List the built-in sweep profiles: what they vary, trials, estimated time."""
    if show:
        click.echo(profile_text(show), nl=False)
        return ExitCode.OK
    from .sweep.plan import PILOT_JOBS, estimate_plan

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
    return ExitCode.OK


cli.add_command(report_command)
cli.add_command(compare_command)
cli.add_command(ab_command)
cli.add_command(history_command)
cli.add_command(tune_report_command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (used by the ``gigq-bench`` entry point)."""
    try:
        result = cli.main(args=argv, prog_name="gigq-bench", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return ExitCode.INTERRUPTED
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return result if isinstance(result, int) else ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
