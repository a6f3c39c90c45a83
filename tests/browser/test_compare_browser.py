"""The comparison page (``gigq-bench compare --html``) in a real browser: headless
Chromium at a laptop's and a phone's width, from a file:// URL (see
test_report_browser.py for the set-up; skipped, with the reason, without a browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchdata import BASE_CONFIG, make_rows, write_run
from click.testing import CliRunner

# The report's browser (a fresh Chromium profile, no network) serves this page too.
# Its fixtures are imported so that pytest finds them here.
from test_report_browser import PageLog, browser_context, playwright  # noqa: F401

from gigq.bench.cli import cli

pytestmark = pytest.mark.browser

WIDTHS = (1366, 420)


@pytest.fixture(scope="module")
def compare_page(tmp_path_factory) -> Path:
    """compare.html of an A/B run: workers=1 unchanged, workers=2 half as fast."""
    root = tmp_path_factory.mktemp("cmp")
    slow = make_rows([{**BASE_CONFIG, "workers": 2}], {"baseline": 1.0, "current": 0.5}, 8,
                     seed=2)
    for row in slow:
        row["trial_id"], row["order"] = f"slow-{row['trial_id']}", row["order"] + 100
    rows = make_rows([BASE_CONFIG], {"baseline": 1.0, "current": 1.0}, 8, seed=1) + slow
    run = write_run(root / "ab", rows, {
        "baseline": {"name": "HEAD~1 (3f2a9c1d0e)", "description": "git HEAD~1 = 3f2a9c1d0e"},
        "current": {"name": "working tree at 9c1d2e3f4a", "description": "working tree"}})
    page = root / "compare.html"
    result = CliRunner().invoke(cli, ["compare", str(run), "--threshold", "25%",
                                      "--html", str(page)])
    assert result.exit_code == 1, result.output
    return page


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_page_fits_names_sides_and_folds_the_rest(request, compare_page, width):
    pg = request.getfixturevalue("browser_context").new_page()
    log = PageLog(pg)
    try:
        pg.set_viewport_size({"width": width, "height": 900})
        pg.goto(compare_page.resolve().as_uri(), wait_until="load")
        assert pg.evaluate("document.documentElement.scrollWidth") <= width
        facts = pg.locator(".facts").inner_text()
        assert "HEAD~1 (3f2a9c1d0e)" in facts and "working tree at 9c1d2e3f4a" in facts
        # Regressions are on screen; the other rows are folded until asked for.
        assert pg.locator("#regression-rows tbody tr.slower").first.is_visible()
        assert not pg.locator("#rows tbody tr").first.is_visible()
        pg.locator("#other-rows > summary").click()
        assert pg.locator("#rows tbody tr").first.is_visible()
        assert pg.evaluate("document.documentElement.scrollWidth") <= width
        assert log.errors == []
        assert all(url.startswith("file://") for url in log.requests), log.requests
    finally:
        pg.close()


def test_compare_rows_sort_by_a_header_click(request, compare_page):
    pg = request.getfixturevalue("browser_context").new_page()
    try:
        pg.goto(compare_page.resolve().as_uri(), wait_until="load")
        pg.locator("#other-rows > summary").click()
        change = pg.locator("#rows thead th[data-key='change'] button.sort")

        def factors() -> list[float]:
            return [float(x) for x in pg.eval_on_selector_all(
                "#rows tbody tr td:nth-child(7)", "cells => cells.map(c => c.dataset.sort)")]

        change.click()
        ascending = factors()
        assert ascending == sorted(ascending) and len(set(ascending)) > 1
        change.click()
        assert factors() == sorted(ascending, reverse=True)
        assert pg.locator("#rows thead th[data-key='change']").get_attribute(
            "aria-sort") == "descending"
    finally:
        pg.close()
