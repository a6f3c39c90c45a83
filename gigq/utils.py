"""Logging set-up and timestamps: stored (ISO text, local time) and displayed."""

from __future__ import annotations

import logging
from datetime import datetime

LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


def setup_logging(level: int = logging.INFO) -> None:
    """Send GigQ's logs to stderr at ``level`` (opt-in; importing gigq configures nothing)."""
    logger = logging.getLogger("gigq")
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger.addHandler(handler)


# The last epoch second formatted: a transaction that settles one job and claims the
# next stamps both with the same time, and formatting it costs more than this check.
_last_iso: tuple[float, str] = (-1.0, "")


def iso_time(epoch: float) -> str:
    """An epoch second as GigQ 0.5.x stored timestamps: ISO text, local time, no offset."""
    global _last_iso
    last = _last_iso
    if last[0] == epoch:
        return last[1]
    text = datetime.fromtimestamp(epoch).isoformat()
    _last_iso = (epoch, text)
    return text


def format_timestamp(timestamp: str | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` for ISO text, ``-`` for empty, anything else unchanged."""
    if not timestamp:
        return "-"
    try:
        return datetime.fromisoformat(timestamp).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return timestamp
