"""Where a ``gigq-bench`` run writes when no ``--out`` is given."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

REPORTS = Path("reports")


def default_out_dir(name: str) -> Path:
    """``reports/<timestamp>-<name>/``: runs sort by time, and the name says what ran.

    Characters other than letters, digits and ``-_+`` become ``_`` so that a profile
    or config name always gives one plain directory.
    """
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_+" else "_" for c in name)
    return REPORTS / f"{stamp}-{safe}"
