"""How the reports write things: dimension names, setting values, metrics with units.

One place for presentation, so the summary, the charts and the tables agree (e.g.
cache sizes are always written "64 MiB", lock-wait shares always as percentages).
Nothing here defines anything: labels, phrases and value formats come from the
:class:`~gigq.bench.sweep.space.Dimension` definitions, labels and units from
:data:`gigq.bench.metrics.METRICS`, numbers from :mod:`gigq.bench.numbers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..metrics import METRICS
from ..numbers import MISSING, is_missing, number, plain_value, times
from ..stats import Interval
from ..sweep.space import DIMENSIONS, Dimension


def _dimension(dim: str) -> Dimension | None:
    return DIMENSIONS.get(dim)


def dimension_label(dim: str) -> str:
    """``journal_mode`` → ``journal mode``."""
    d = _dimension(dim)
    return d.label if d else dim.replace("_", " ")


def short_dimension_label(dim: str) -> str:
    """``concurrency`` → ``threads`` (table headers)."""
    d = _dimension(dim)
    return d.short_label if d else dimension_label(dim)


def shell_lines(command: str, width: int = 40) -> str:
    """Wrap a command at option boundaries with ``\\`` continuations (still pastes)."""
    words = command.split(" --")
    lines = [words[0]]
    for word in words[1:]:
        option = "--" + word
        if len(lines[-1]) + 1 + len(option) > width:
            lines.append("    " + option)
        else:
            lines[-1] += " " + option
    return " \\\n".join(lines)


def value_label(dim: str, value: Any) -> str:
    """A setting's value as the report writes it (``WAL``, ``64 MiB``, ``50 ms``)."""
    value = plain_value(value)
    d = _dimension(dim)
    if d is not None:
        return d.value_text(value)
    return MISSING if value is None else str(value)


def setting_phrase(dim: str, value: Any) -> str:
    """A value with enough context to stand alone: ``4 workers``, ``synchronous=FULL``."""
    value = plain_value(value)
    d = _dimension(dim)
    if d is not None:
        return d.phrase_text(value)
    return f"{dimension_label(dim)}={value_label(dim, value)}"


def context_phrase(context: Mapping[str, Any]) -> str:
    """``noop jobs, 2 workers, synchronous=NORMAL`` (empty when nothing to say)."""
    return ", ".join(setting_phrase(d, v) for d, v in context.items())


def is_share(metric: str) -> bool:
    """Metrics stored as a fraction, shown as a percentage."""
    return metric in METRICS and METRICS[metric].is_share


def display_unit(metric: str) -> str:
    """The unit a reader sees for ``metric`` (fractions are shown in %)."""
    return METRICS[metric].shown_unit if metric in METRICS else ""


def scaled(metric: str, value: Any) -> Any:
    """The value in :func:`display_unit` (fractions ×100)."""
    value = plain_value(value)
    if value is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return value
    return value * 100 if is_share(metric) else value


def metric_value(metric: str, value: Any, unit: bool = True) -> str:
    """``812 jobs/s``, ``4.2%``, ``12.5 ms``."""
    shown = number(scaled(metric, value))
    if shown == MISSING or not unit:
        return shown
    u = display_unit(metric)
    return f"{shown}%" if u == "%" else f"{shown} {u}".rstrip()


def short_metric_label(metric: str) -> str:
    """``throughput`` (the metric's own label; its name for columns that are no metric)."""
    return METRICS[metric].label if metric in METRICS else metric.replace("_", " ")


def metric_label(metric: str) -> str:
    """Axis/heading label with its unit: ``throughput (jobs/s)``."""
    label = short_metric_label(metric)
    unit = display_unit(metric)
    return f"{label} ({unit})" if unit else label


def interval(metric: str, iv: Interval | None) -> str:
    """``812 jobs/s (95% CI 790–830)``, or what is missing about it."""
    if iv is None or is_missing(iv.estimate):
        return "no valid trial"
    text = metric_value(metric, iv.estimate)
    if iv.n < 2:
        return f"{text} (one valid trial: no interval)"
    low, high = number(scaled(metric, iv.low)), number(scaled(metric, iv.high))
    return f"{text} (95% CI {low}–{high})"


def ratio(iv: Interval) -> str:
    """``3.1× (95% CI 2.8–3.4×)``."""
    text = f"{times(iv.estimate)}×"
    if iv.low == iv.high:
        return f"{text} (one trial each: no interval)"
    return f"{text} (95% CI {times(iv.low)}–{times(iv.high)}×)"


def parse_time(value: Any) -> datetime | None:
    """An ISO timestamp from the environment, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
