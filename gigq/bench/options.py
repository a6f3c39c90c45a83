"""Click parameter types shared by the ``gigq-bench`` commands.

click's ``FloatRange`` lets ``nan`` through (NaN fails no comparison), and ``inf``
passes any lower bound; a NaN timeout or arrival rate then breaks a run long after
the command started. :class:`FiniteFloat` refuses both where they are typed, with
the check of the core (:func:`gigq.validation.number`).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from gigq import validation


class FiniteFloat(click.ParamType):
    """A finite float ``>= low`` (``> low`` with ``low_open``) and ``<= high``."""

    name = "number"

    def __init__(self, low: float, high: float = sys.float_info.max, *,
                 low_open: bool = False) -> None:
        self.low, self.high, self.low_open = low, high, low_open

    def _expected(self) -> str:
        text = f"a finite number {'>' if self.low_open else '>='} {self.low:g}"
        if self.high != sys.float_info.max:
            text += f" and <= {self.high:g}"
        return text

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
        if number is None or not self._accepts(number):
            self.fail(f"{value!r} is not {self._expected()}; give one, "
                      f"e.g. {max(self.low, 1):g}", param, ctx)
        return number

    def _accepts(self, number: float) -> bool:
        try:
            validation.number(number, "value", self.low, self.high)
        except ValueError:
            return False
        return not (self.low_open and number == self.low)
