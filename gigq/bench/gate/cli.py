"""The regression-gate commands of ``gigq-bench``: ``compare`` (and ``ab``, see ab.py).

They live apart from the sweep's commands; ``gigq.bench.cli`` registers them.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import numbers as num
from ..exit_codes import ExitCode, exit_codes_block
from ..numbers import percent
from . import defaults

if TYPE_CHECKING:
    from .compare import Comparison

# The statistics (numpy, pandas) and the pages are imported inside the commands, so
# registering these with the gigq-bench group costs nothing at start-up.

# What each code means for the gate; the numbers come from ExitCode.
GATE_EXITS = {
    ExitCode.OK: "no significant regression beyond the threshold (inconclusive rows "
                 "pass with a warning unless --strict)",
    ExitCode.FAILED: "regression: a correctness regression (a configuration's current "
                     "trials lost or doubled jobs, its baseline trials did not) or some "
                     "row is 'slower' (beyond the threshold AND statistically clear)",
    ExitCode.BAD_INPUT: "bad input, or nothing comparable (no configuration or metric on "
                        "both sides)",
    ExitCode.INCONCLUSIVE: "inconclusive rows and --strict",
}
AB_EXITS = {
    **GATE_EXITS,
    ExitCode.NOT_BUILT: "the baseline could not be built, started or measured (no valid "
                        "trial): CI scripts treat this as 'skip the gate'. A current "
                        "version that cannot be built or started is exit 2, never 4.",
}
EXIT_CODES_HELP = exit_codes_block(GATE_EXITS)
AB_EXIT_CODES_HELP = exit_codes_block(AB_EXITS)


def _threshold(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from . import compare as cmp

    try:
        return cmp.parse_threshold(value)
    except cmp.CompareError as exc:
        raise click.BadParameter(str(exc)) from None


def _confidence(ctx: click.Context, param: click.Parameter, value: str) -> float:
    text = value.strip()
    try:
        level = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a confidence level such as 95%") from None
    if level >= 1:
        level /= 100
    if not 0.5 <= level < 1:
        raise click.BadParameter("the confidence level must be between 50% and 99.9%")
    return level


def gate_options(f):  # type: ignore[no-untyped-def]
    """The options shared by ``compare`` and ``ab``: thresholds, metrics, outputs."""
    options = [
        click.option("--threshold", callback=_threshold, metavar="PCT",
                     help="Default threshold: a slowdown must exceed it to fail "
                          "(e.g. 10%; means 'more than 1.10x worse'). [default: 10%]"),
        click.option("--thresholds", "thresholds_file", type=click.Path(dir_okay=False),
                     help="TOML file with per-metric / per-configuration thresholds "
                          "(see docs/regressions.md)."),
        click.option("--metric", "metrics", multiple=True, metavar="NAME",
                     help="Metric to compare (repeatable; 'all' for every metric). "
                          "[default: by each configuration's mode: "
                          + "; ".join(f"{mode}: {', '.join(names)}"
                                      for mode, names in defaults.DEFAULT_METRICS.items())
                          + "]"),
        click.option("--confidence", default="95%", show_default=True,
                     callback=_confidence, help="Confidence level of intervals and tests."),
        click.option("--min-samples", default=defaults.DEFAULT_MIN_SAMPLES, show_default=True,
                     type=click.IntRange(1), help="Fewer valid trials per side: inconclusive."),
        click.option("--strict", is_flag=True,
                     help="Exit 3 when any row is inconclusive (default: pass, warn)."),
        click.option("--markdown", "markdown_file", type=click.Path(dir_okay=False),
                     help="Write a markdown summary (PR comment / CI step summary); "
                          "'-' for stdout. Appends when FILE is $GITHUB_STEP_SUMMARY."),
        click.option("--json", "json_file", type=click.Path(dir_okay=False),
                     help="Write the comparison as JSON."),
        click.option("--html", "html_file", type=click.Path(dir_okay=False),
                     help="Write the HTML comparison page (self-contained)."),
        click.option("--calibrate", is_flag=True,
                     help="Also print the noise floor per metric (meaningful for an A/A "
                          "comparison of a version against itself)."),
        click.option("--seed", type=int,
                     help="Seed of the bootstrap and randomisation test (and, for ab, of "
                          "the trial order). [default: compare 0; ab the profile's seed, "
                          "else random, printed and stored in the results]"),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def emit(comparison: Comparison, *, markdown_file: str | None, json_file: str | None,
         html_file: str | None, calibrate: bool, command: str | None = None) -> None:
    """Print the terminal table and write the requested files."""
    from ..results import json_ready
    from .report import render_html, render_markdown, render_terminal

    command = command or " ".join(shlex.quote(a) for a in ["gigq-bench", *sys.argv[1:]])
    comparison.calibration = comparison.calibration or calibrate
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    try:
        width = os.get_terminal_size().columns if sys.stdout.isatty() else 0
    except OSError:
        width = 0
    click.echo(render_terminal(comparison, color=color, width=width), nl=False)
    if calibrate:
        click.echo(render_noise_floor(comparison))
    if markdown_file:
        text = render_markdown(comparison)
        if calibrate:
            text += "\n```\n" + render_noise_floor(comparison) + "```\n"
        if markdown_file == "-":
            click.echo(text)
        else:
            summary = os.environ.get("GITHUB_STEP_SUMMARY", "")
            append = bool(summary) and Path(summary).resolve() == Path(markdown_file).resolve()
            with open(markdown_file, "a" if append else "w", encoding="utf-8") as fh:
                fh.write(text)
    if json_file:
        doc = comparison.to_json_dict()
        Path(json_file).write_text(json.dumps(json_ready(doc), indent=1))
    if html_file:
        Path(html_file).write_text(render_html(comparison, command=command), encoding="utf-8")
    for path, what in ((markdown_file, "markdown"), (json_file, "json"), (html_file, "html")):
        if path and path != "-":
            click.echo(f"wrote {what}: {path}", err=True)


def render_noise_floor(comparison: Comparison) -> str:
    """The calibration table: per metric, the smallest threshold without a false alarm."""
    from . import compare as cmp

    floors = cmp.noise_floor(comparison)
    level = f"{comparison.level:.0%}"
    lines = [f"Noise floor (A/A: the same code on both sides), {level} confidence:",
             f"  {'metric':<20} {'configs':>7} {'largest estimate':>17} "
             f"{'interval reaches':>17} {'smallest safe threshold':>24}"]
    for f in floors:
        lines.append(f"  {f.metric:<20} {f.configurations:>7} {percent(f.largest_estimate):>17} "
                     f"{percent(f.noise):>17} {percent(f.recommended):>24}"
                     + (f"   ({f.unusable} config(s) without an interval)" if f.unusable
                        else "")
                     + (f"   {f.false_alarms} false alarm(s) at the thresholds used"
                        if f.false_alarms else ""))
    usable = [f for f in floors if math.isfinite(f.recommended)]
    if usable:
        lines.append("A threshold at or above 'smallest safe threshold' would have rated every "
                     "configuration 'unchanged' in this A/A run (no false alarm); leave a "
                     "margin, and re-calibrate on the machine that runs the gate. As a "
                     "thresholds file:")
        lines.append(f'  threshold = "{percent(max(f.recommended for f in usable))}"')
        for f in usable:
            lines.append(f'  [metric.{f.metric}]\n  threshold = "{percent(f.recommended)}"')
        # The measured floor itself, so later comparisons show it beside their verdicts.
        env = comparison.current.results.environment
        lines.append(f'  [noise_floor]\n  source = "A/A calibration on {env.get("hostname")}, '
                     f'{str(env.get("started_at") or "")[:10]}"')
        lines += [f'  {f.metric} = "{percent(f.noise)}"' for f in usable]
    return "\n".join(lines) + "\n"


@click.command("compare", epilog=EXIT_CODES_HELP)
@click.argument("base", type=click.Path())
@click.argument("current", type=click.Path(), required=False)
@click.option("--base-version", metavar="LABEL",
              help="Version label of the base rows (runs holding several versions).")
@click.option("--current-version", metavar="LABEL",
              help="Version label of the current rows.")
@click.option("--pairing", type=click.Choice(["auto", "paired", "unpaired"]), default="auto",
              show_default=True,
              help="Pair trials by repetition: auto = when both sides come from one "
                   "interleaved run.")
@gate_options
def compare_command(base: str, current: str | None, base_version: str | None,
                    current_version: str | None, pairing: str, threshold: float | None,
                    thresholds_file: str | None, metrics: tuple[str, ...], confidence: float,
                    min_samples: int, strict: bool, markdown_file: str | None,
                    json_file: str | None, html_file: str | None, calibrate: bool,
                    seed: int | None) -> None:
    """Compare BASE with CURRENT and fail on a significant slowdown.

    BASE and CURRENT are results directories or results.json files of runs of the same
    profile; configurations match by config_id. With only BASE, it must be an A/B run
    ('gigq-bench ab'), and its two versions are compared, paired by repetition.

    Per configuration and metric: the ratio of medians current/base with a bootstrap
    confidence interval, and a verdict: slower, faster, unchanged or inconclusive.
    A row is 'slower' only when it is worse by more than the threshold and the change
    is statistically clear.
    """
    from ..results import ResultsError
    from . import compare as cmp
    from .run import run_compare

    try:
        comparison = run_compare(
            base, current, base_version=base_version, current_version=current_version,
            pairing=pairing, threshold=threshold, thresholds_file=thresholds_file,
            metrics=metrics, level=confidence, min_samples=min_samples, strict=strict,
            seed=seed)
    except ResultsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.BAD_INPUT)
    emit(comparison, markdown_file=markdown_file, json_file=json_file, html_file=html_file,
         calibrate=calibrate)
    if comparison.exit_code == ExitCode.OK and comparison.count(cmp.INCONCLUSIVE):
        click.echo(f"warning: {comparison.count(cmp.INCONCLUSIVE)} inconclusive row(s) "
                   "pass; --strict would fail them", err=True)
    if comparison.exit_code == ExitCode.BAD_INPUT:
        click.echo("error: nothing comparable (see warnings above)", err=True)
    if comparison.exit_code == ExitCode.FAILED:
        click.echo(fail_message(comparison), err=True)
    sys.exit(comparison.exit_code)


def fail_message(comparison: Comparison) -> str:
    """The closing FAIL line: correctness first, then slowdowns."""
    from . import compare as cmp

    parts = []
    if comparison.correctness:
        parts.append(f"correctness regression in {len(comparison.correctness)} "
                     "configuration(s) (jobs lost or run twice)")
    if comparison.count(cmp.SLOWER):
        parts.append(f"{comparison.count(cmp.SLOWER)} regression(s) beyond the threshold "
                     f"(default {percent(comparison.thresholds.default)})")
    return "FAIL: " + "; ".join(parts)


@click.command("ab", epilog=AB_EXIT_CODES_HELP)
@click.option("--baseline", "baseline_ref", required=True, metavar="REF",
              help="The version to compare against: a git revision (HEAD~1, main, a commit; "
                   "HEAD for an A/A calibration run), a requirement (gigq==0.5.1), a "
                   "source directory or a Python interpreter.")
@click.option("--current", "current_ref", default=".", show_default=True, metavar="REF",
              help="The version under test ('.' = this working tree); same forms as "
                   "--baseline.")
@click.option("--profile", default="quick", show_default=True,
              help="Sweep profile giving the trial plan ('ci' is the CI gate's).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Sweep config TOML layered over the profile.")
@click.option("--set", "set_values", multiple=True, metavar="DIM=V1,V2",
              help="Vary (or, with one value, fix) a dimension.")
@click.option("--base", "base_values", multiple=True, metavar="DIM=VALUE",
              help="Change the base configuration.")
@click.option("--repeat", type=click.IntRange(1), help="Repetitions per configuration "
              "and version (at least 6 for a 95% verdict).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Results directory [default: reports/<timestamp>-ab-<profile>/].")
@gate_options
def ab_command(baseline_ref: str, current_ref: str, profile: str, config_file: str | None,
               set_values: tuple[str, ...], base_values: tuple[str, ...], repeat: int | None,
               out_dir: str | None, threshold: float | None, thresholds_file: str | None,
               metrics: tuple[str, ...], confidence: float, min_samples: int, strict: bool,
               markdown_file: str | None, json_file: str | None, html_file: str | None,
               calibrate: bool, seed: int | None) -> None:
    """Measure two versions of GigQ in one run, interleaved, and compare them.

    Builds REF into a temporary virtualenv (git revisions via a temporary git
    worktree), warms both up, runs the profile's trial plan with both versions, each
    configuration's pair in counterbalanced order (each version first equally
    often), and then compares exactly like 'gigq-bench compare RESULTS' (paired by
    repetition). The run's results, compare.json, compare.html and summary.md land
    in --out. --seed sets both the trial order and the statistics' seed; without it
    the profile's seed is used, or a random one (printed, and stored in results.json
    so that --seed repeats the run's order).

    \b
    Examples:
      gigq-bench ab --baseline HEAD~1 --profile ci --threshold 25%
      gigq-bench ab --baseline gigq==0.5.1 --profile quick
      gigq-bench ab --baseline HEAD --profile ci    # A/A: calibrate thresholds
    """
    from ..results import ResultsError
    from . import compare as cmp
    from .ab import run_ab
    from .run import resolve_gate
    from .versions import CurrentVersionError, VersionError

    try:
        thresholds, chosen = resolve_gate(threshold, thresholds_file, metrics)
    except ResultsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.BAD_INPUT)
    gate = {"metrics": chosen, "thresholds": thresholds, "level": confidence,
            "min_samples": min_samples, "strict": strict, "seed": seed}
    command = " ".join(shlex.quote(a) for a in ["gigq-bench", *sys.argv[1:]])
    try:
        run = run_ab(baseline_ref, current_ref, profile=profile, config_file=config_file,
                     set_values=set_values, base_values=base_values, repeat=repeat,
                     seed=seed, out_dir=out_dir, gate=gate, log=lambda m: click.echo(m, err=True),
                     progress=_progress_printer(), command_line=command)
    except CurrentVersionError as exc:
        # The change itself does not build or start: that fails a gate, never skips it.
        click.echo(f"error: could not build the version under test: {exc}", err=True)
        sys.exit(ExitCode.BAD_INPUT)
    except VersionError as exc:
        click.echo(f"error: could not build the baseline: {exc}", err=True)
        sys.exit(ExitCode.NOT_BUILT)
    except (ResultsError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.BAD_INPUT)
    out = run.out_dir
    comparison = run.comparison
    if run.baseline_unmeasured:
        click.echo(f"error: the baseline ({run.baseline.description}) completed no valid "
                   f"trial; see {out / 'results.json'}", err=True)
        sys.exit(ExitCode.NOT_BUILT)
    emit(comparison, markdown_file=markdown_file or str(out / "summary.md"),
         json_file=json_file or str(out / "compare.json"),
         html_file=html_file or str(out / "compare.html"),
         calibrate=calibrate or run.is_aa, command=command)
    click.echo(f"results: {out / 'results.json'}", err=True)
    if comparison.exit_code == ExitCode.FAILED:
        click.echo(fail_message(comparison), err=True)
    elif comparison.exit_code == ExitCode.OK and comparison.count(cmp.INCONCLUSIVE):
        click.echo(f"warning: {comparison.count(cmp.INCONCLUSIVE)} inconclusive row(s) "
                   "pass; --strict would fail them", err=True)
    sys.exit(comparison.exit_code)


def _progress_printer():  # type: ignore[no-untyped-def]
    """One line per finished trial on stderr (from the sweep's SweepProgress reports)."""
    def show(p: Any) -> None:
        row = getattr(p, "last_row", None)
        if getattr(p, "stage", "") != "trial" or row is None:
            return
        jobs = row.get("jobs_per_sec")
        rate = (f"{num.rate(jobs)} jobs/s" if row.get("valid") and isinstance(jobs, (int, float))
                else "INVALID: " + str(row.get("invalid_reason")))
        keys = ("job_type", "workers", "concurrency", "journal_mode", "location", "submit",
                "jobs")
        what = " ".join(f"{k}={row[k]}" for k in keys if row.get(k) is not None)
        if row.get("mode") == "steady":  # throughput is the arrival rate there
            what += f" steady@{row.get('arrival_rate')}/s"
        click.echo(f"  [{p.index}/{p.total}] {row.get('version'):>8} "
                   f"rep {row.get('repetition')} {what}: {rate}  (~{p.remaining:.0f} s left)",
                   err=True)
    return show
