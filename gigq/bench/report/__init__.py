"""The gigq-bench HTML report: one self-contained ``index.html`` per run.

``render_report(results_or_run_dir, out_path=None)`` writes it; ``render_from_path(path)``
loads a run directory (or ``results.json``) first. See docs/report.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["jinja_environment", "render_from_path", "render_html", "render_report"]


def __getattr__(name: str) -> Any:
    # Rendering needs jinja2 and matplotlib; loading them only when a report is made
    # keeps `gigq-bench --help` (which registers the report command) quick.
    if name in __all__:
        from . import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
