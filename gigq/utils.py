"""Logging set-up and timestamp display."""

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


def format_timestamp(timestamp: str | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` for ISO text, ``-`` for empty, anything else unchanged."""
    if not timestamp:
        return "-"
    try:
        return datetime.fromisoformat(timestamp).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return timestamp
