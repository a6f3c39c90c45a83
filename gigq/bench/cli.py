"""The ``gigq-bench`` command group.

The sweep commands (sweep, report, profiles, tune) are added by their own issues;
the regression gate (compare, ab) lives in :mod:`gigq.bench.gate_cli`.
"""

from __future__ import annotations

import click

from .gate_cli import ab_command, compare_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """gigq-bench: measure GigQ on this machine and gate performance regressions."""


cli.add_command(compare_command)
cli.add_command(ab_command)


def main() -> int:
    """Run the command group (exits with the command's exit code)."""
    return cli.main(prog_name="gigq-bench")
