"""Command-line side of the report: ``gigq-bench report`` and the sweep's final step.

``report_command`` is a click command that the ``gigq-bench`` group registers;
``render_after_sweep`` is what ``gigq-bench sweep`` calls once its results are saved.
``python -m gigq.bench.report DIR`` runs the same command on its own.
"""

from __future__ import annotations

import sys
import traceback
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..exit_codes import ExitCode, documents_exits

if TYPE_CHECKING:
    from ..results import Results

# .render (jinja2, matplotlib) and ..results (pandas) are imported when a report is
# made, not when the gigq-bench group registers this command: `gigq-bench --help`
# stays fast.


@contextmanager
def bad_input_exits(command: str) -> Iterator[None]:
    """Inside a command: a :class:`ResultsError` becomes its one-line message on stderr
    (``gigq-bench COMMAND: …``) and exit status 2, never a traceback."""
    from ..results import ResultsError

    try:
        yield
    except ResultsError as exc:
        click.echo(f"gigq-bench {command}: {exc}", err=True)
        sys.exit(ExitCode.BAD_INPUT)


def open_in_browser(path: Path) -> bool:
    """Open the report in the user's browser; False when no browser could be started."""
    try:
        return webbrowser.open(path.resolve().as_uri())
    except webbrowser.Error:
        return False


@click.command("report")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=True, path_type=Path), default=None,
              help="Where to write the page: a file, or a directory for index.html. "
                   "Default: index.html next to results.json.")
@click.option("--open", "open_", is_flag=True, help="Open the page in a browser afterwards.")
@click.option("--charts", "charts", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Also write each chart as DIR/<name>.svg (e.g. for docs).")
@documents_exits({ExitCode.OK: "on success",
                  ExitCode.BAD_INPUT: "when SOURCE holds no usable results"})
def report_command(source: Path, out: Path | None, open_: bool, charts: Path | None) -> None:
    """Render the HTML report of a sweep from its saved results.

    SOURCE is a run directory written by 'gigq-bench sweep' (reports/<run>/) or its
    results.json. The page is one self-contained index.html (no network needed): the
    best settings per job type, charts, correctness and durability, every trial, and
    the command that reproduces the run.
    """
    from .render import render_from_path

    with bad_input_exits("report"):
        path = render_from_path(source, out)
    click.echo(f"Report: {path}")
    if charts is not None:
        from .render import export_charts

        for chart in export_charts(source, charts):
            click.echo(f"Chart: {chart}")
    if open_ and not open_in_browser(path):
        click.echo(f"No browser could be started; open {path.resolve().as_uri()}", err=True)


def render_after_sweep(results: Results, out_dir: Path, *, open_: bool = False,
                       echo: bool = True) -> Path | None:
    """Write ``out_dir/index.html`` for a finished sweep; print its path if ``echo``.

    The sweep's results are already on disk when this runs, so a failure here must not
    cost them: it is reported with the command that retries it, and None is returned.
    """
    try:
        from .render import render_report

        path = render_report(results, Path(out_dir) / "index.html")
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        click.echo(f"The report could not be rendered ({exc}); the results are saved. "
                   f"Retry with: gigq-bench report {out_dir}", err=True)
        return None
    if echo:
        click.echo(f"Report: {path}")
    if open_:
        open_in_browser(path)
    return path
