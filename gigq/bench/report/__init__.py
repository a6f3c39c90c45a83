"""The gigq-bench HTML report: one self-contained ``index.html`` per run.

``render_report(results, out_path)`` writes it; ``render_from_path(path)`` loads a run
directory (or ``results.json``) first. See docs/report.md.
"""

from .render import jinja_environment, render_from_path, render_html, render_report

__all__ = ["jinja_environment", "render_from_path", "render_html", "render_report"]
