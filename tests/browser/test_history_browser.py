"""The history page in a real browser: three saved runs, opened from a file:// URL in
headless Chromium at a laptop's and a phone's width (see test_report_browser.py for the
browser set-up; skipped, with the reason, without a browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from test_report_browser import PageLog, _fixtures, launch

from gigq.bench.cli import cli

pytestmark = pytest.mark.browser

WIDTHS = (1366, 420)


@pytest.fixture(scope="module")
def history_file(tmp_path_factory) -> Path:
    """history.html of three saved runs, the newest judged by the real gate."""
    fx = _fixtures()
    root = tmp_path_factory.mktemp("runs")
    for i, commit in enumerate(("c0ffee1", "beef002", "f00d003")):
        results = fx.make_results({"workers": [1, 2]}, seed=i, repeat=5)
        if i == 2:  # a step: the newest commit made workers=2 slower, on both charts
            slow = results.rows["workers"] == 2
            results.rows.loc[slow, ["jobs_per_sec", "ceiling_ratio"]] *= 0.6
        results.environment.update(git_commit=commit,
                                   started_at=f"2026-11-{28 + i}T09:00:00+00:00")
        fx.write_run(results, root / f"run-{i}")
    runner = CliRunner()
    runner.invoke(cli, ["compare", str(root / "run-1"), str(root / "run-2"),
                        "--json", str(root / "run-2" / "compare.json")])
    result = runner.invoke(cli, ["history", str(root)])
    assert result.exit_code == 0, result.output
    return root / "history.html"


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = launch(p, tmp_path_factory.mktemp("chromium-profile"))
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_history_page_draws_three_runs_without_sideways_scroll(context, history_file,
                                                              tmp_path, width):
    pg = context.new_page()
    log = PageLog(pg)
    try:
        pg.set_viewport_size({"width": width, "height": 900})
        pg.goto(history_file.resolve().as_uri(), wait_until="load")
        assert pg.title() == "GigQ performance history"
        assert log.errors == []
        assert log.requests and all(u.startswith(("file://", "data:", "about:"))
                                    for u in log.requests), log.requests
        assert pg.locator("#runs-table tbody tr").count() == 3
        charts = pg.locator("#configurations figure svg.chart")
        assert charts.count() == 6  # two configurations x three metrics
        for i in range(charts.count()):
            chart = charts.nth(i)
            chart.scroll_into_view_if_needed()
            box = chart.bounding_box()
            assert chart.is_visible()
            assert box is not None and box["width"] > min(300, width * 0.7)
            assert box["height"] > 150
        # Each chart names the three runs under its axis, the newest with its verdict.
        first = charts.first.inner_html()
        assert all(c in first for c in ("c0ffee1", "beef002", "f00d003"))
        slowed = pg.locator(".config", has=pg.locator("h3", has_text="base"))  # workers=2
        assert "▼ slower" in slowed.locator("figure").first.inner_html()
        overflow = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the history page scrolls sideways at {width}px"
        if width == 1366:  # on a laptop the runs table fits, no scrolling inside its frame
            assert pg.evaluate("(w => w.scrollWidth - w.clientWidth)("
                               "document.querySelector('#runs .table-wrap'))") <= 0
        shot = tmp_path / f"history-{width}.png"
        pg.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        pg.close()
