"""``gigq-bench tune-report DIR``: render a tune run's page again from what it saved.

Also ``python -m gigq.bench.tune.report DIR``. The page's modules (jinja2, pandas,
matplotlib) are imported when the command runs, not when ``gigq-bench`` starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..exit_codes import ExitCode, documents_exits


@click.command("tune-report")
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path))
@documents_exits({ExitCode.OK: "the page was written",
                  ExitCode.BAD_INPUT: "DIR is not a tune run"})
def tune_report_command(directory: Path) -> None:
    """Render the HTML page of a tune run again (DIR/index.html).

    DIR is a directory written by 'gigq-bench tune' (its --out): the page is built
    from its tune.json and results.json, e.g. after upgrading gigq-bench.
    """
    from .report import render_tune_report

    try:
        path = render_tune_report(directory)
    except (OSError, ValueError, KeyError) as exc:
        click.echo(f"Error: {directory} is not a tune run ({exc})", err=True)
        sys.exit(ExitCode.BAD_INPUT)
    click.echo(path)
