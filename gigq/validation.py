"""Checks of numbers given at GigQ's boundary: the Python API, the CLI, config files.

Every number a user hands GigQ passes through one of these, so a value SQLite,
``datetime`` or ``select()`` could not take is refused where it was given, with the
valid range in the message, instead of crashing a worker later. A bool is not a
number here (``True`` would otherwise pass as 1).
"""

from __future__ import annotations

import math
from typing import Any

# One year: the longest timeout, retry delay or wait GigQ takes. Far below what
# datetime arithmetic, threading waits and select() can hold (~9.2e9 s on Linux).
MAX_SECONDS = 31_536_000
# SQLite's INTEGER range: a larger Python int cannot be stored at all.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# What SQLite keeps in a C int (cache_size): larger values wrap around silently.
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
ONE_DAY = 86_400

_NAMED_BOUNDS: dict[float, str] = {
    MAX_SECONDS: "1 year", ONE_DAY: "1 day", INT64_MAX: "SQLite's integer range",
    INT32_MAX: "SQLite's C int range",
}


def _bound(value: float) -> str:
    text = f"{value:,}" if isinstance(value, int) else f"{value:,g}"
    return f"{text} ({_NAMED_BOUNDS[value]})" if value in _NAMED_BOUNDS else text


def _got(value: Any) -> str:
    return f"the string {value!r}" if isinstance(value, str) else repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number(
    value: Any,
    name: str,
    low: float,
    high: float,
    *,
    unit: str = "",
    error: type[Exception] = ValueError,
) -> float:
    """``value`` if it is a finite number in ``[low, high]``, else ``error``.

    ``unit`` ("seconds") goes into the message: "NAME must be a finite number of
    seconds between LOW and HIGH; got VALUE".
    """
    if _is_number(value) and low <= value <= high:  # NaN fails both comparisons
        return value
    what = f"a finite number of {unit}" if unit else "a finite number"
    raise error(f"{name} must be {what} between {_bound(low)} and {_bound(high)}; "
                f"got {_got(value)}")


def seconds(
    value: Any, name: str, high: float = MAX_SECONDS, *, error: type[Exception] = ValueError
) -> float:
    """A duration in seconds between 0 and ``high`` (default one year)."""
    return number(value, name, 0, high, unit="seconds", error=error)


def integer(
    value: Any,
    name: str,
    low: int = INT64_MIN,
    high: int = INT64_MAX,
    *,
    error: type[Exception] = ValueError,
) -> int:
    """``value`` if it is an int (not a bool) in ``[low, high]``, else ``error``."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        problem = f"got {value!r}"
    else:
        problem = f"got {_got(value)}, which is not an integer"
    raise error(f"{name} must be an integer between {_bound(low)} and {_bound(high)}; "
                f"{problem}")


def longest_retry_delay(retry_delay: float, retry_backoff: float, max_attempts: int) -> float:
    """The pause before the last retry, retry_delay × retry_backoff^(max_attempts − 2);
    ``inf`` where that overflows a float."""
    if retry_delay <= 0 or max_attempts < 2:
        return 0.0
    try:
        return retry_delay * float(retry_backoff) ** (max_attempts - 2)
    except OverflowError:
        return math.inf
