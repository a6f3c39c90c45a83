"""``gigq-bench history RUN_DIR…``: parse, write the page, print its path."""

from __future__ import annotations

from pathlib import Path

import click

from ..exit_codes import ExitCode, documents_exits
from ..report.cli import bad_input_exits


@click.command("history")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path),
                metavar="RUN_DIR...")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="The page to write, or a directory for history.html. Default: "
                   "history.html in the one directory of runs given, else here.")
@documents_exits({ExitCode.OK: "the page was written",
                  ExitCode.BAD_INPUT: "a RUN_DIR holds no usable results"})
def history_command(run_dirs: tuple[Path, ...], out: Path | None) -> None:
    """Draw how each configuration's speed changed across runs, in one HTML page.

    RUN_DIR is a run directory (written by 'gigq-bench sweep' or 'gigq-bench ab') or
    a directory holding run directories, e.g. one gate output per commit. Per
    configuration measured in several runs: jobs/s, jobs/s divided by the run's
    SQLite ceiling, lock-wait share, each run's gate verdict; and the table of runs.
    """
    from .page import write_history

    with bad_input_exits("history"):
        path = write_history(run_dirs, out)
    click.echo(f"History: {path}")
