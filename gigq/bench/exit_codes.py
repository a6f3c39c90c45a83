"""The exit codes of every ``gigq-bench`` command, and the help text that lists them.

One number means one thing across the commands, so a CI script can read any of them
the same way: 0 success, 1 the measurement's own verdict is negative, 2 bad input (the
user's to fix), 3 and 4 only from the gate, 130 interrupted. Each command says in its
help what a code means *for it*, built with :func:`exit_status` or :func:`exit_codes_block`
so the numbers shown are the ones returned.

The core ``gigq`` command (``gigq/cli.py``) is standard-library only and keeps its own
conventional 0 / 1 / 2.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Mapping
from enum import IntEnum
from typing import Any, TypeVar


class ExitCode(IntEnum):
    """A ``gigq-bench`` exit status; each member's ``__doc__`` says what it means."""

    doc: str

    def __new__(cls, value: int, doc: str) -> ExitCode:
        member = int.__new__(cls, value)
        member._value_ = value
        member.doc = doc
        member.__doc__ = doc
        return member

    OK = 0, "Success: the run finished and its verdict is positive (or neutral)."
    FAILED = 1, ("The run finished and its verdict is negative: a sweep trial failed "
                 "verification, no tune candidate completed a valid trial, or the gate "
                 "found a regression.")
    BAD_INPUT = 2, ("Bad input, or nothing usable to work on; the message names the "
                    "problem and the fix.")
    INCONCLUSIVE = 3, "The gate with --strict: some row is inconclusive."
    NOT_BUILT = 4, ("ab: the baseline could not be built, started or measured; CI treats "
                    "it as 'skip the gate'.")
    INTERRUPTED = 130, "Interrupted (Ctrl-C); what was finished is kept on disk."


def exit_status(meanings: Mapping[ExitCode, str]) -> str:
    """One line for a command's docstring: ``Exit status: 0 ok, 1 …, 2 bad input.``"""
    return "Exit status: " + ", ".join(
        f"{int(code)} {text}" for code, text in sorted(meanings.items())) + "."


def exit_codes_block(meanings: Mapping[ExitCode, str], width: int = 72) -> str:
    """An ``Exit codes:`` epilog, one wrapped entry per code (click keeps it as is)."""
    lines = ["\b", "Exit codes:"]
    for code, text in sorted(meanings.items()):
        head = f"  {int(code)}  "
        lines.extend(textwrap.wrap(text, width, initial_indent=head,
                                   subsequent_indent=" " * len(head)))
    return "\n".join(lines) + "\n"


F = TypeVar("F", bound=Callable[..., Any])


def documents_exits(meanings: Mapping[ExitCode, str]) -> Callable[[F], F]:
    """Append :func:`exit_status` to a command function's docstring (its click help).

    Put it below ``@click.command`` so the help is complete when click reads it.
    """
    def decorate(function: F) -> F:
        doc = inspect.cleandoc(function.__doc__ or "")
        function.__doc__ = f"{doc}\n\n{exit_status(meanings)}"
        return function
    return decorate
