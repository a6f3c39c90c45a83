"""The recommendation card in a real browser: what a reader sees and copies from it
(headless Chromium on a file:// URL at a laptop's and a phone's width; see
test_report_browser.py for the browser set-up, skipped with the reason without one)."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_report_browser as browser
from test_recommend import card_results, shell_words

from gigq.bench.recommend import EXAMPLE_DB
from gigq.bench.report import render_report
from gigq.cli import parse_args

pytestmark = pytest.mark.browser

# The browser set-up (and its skip without Chromium) is test_report_browser's own.
playwright, browser_context = browser.playwright, browser.browser_context

WIDTHS = (1366, 420)


@pytest.fixture(scope="module")
def card_file(tmp_path_factory) -> Path:
    """The report of the issue's case: 4 workers fastest, tied with 1; a flaky faster run;
    tmpfs fastest of all; two steady-mode configurations."""
    return render_report(card_results(), tmp_path_factory.mktemp("card") / "index.html")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_card_reads_and_its_command_pastes_at_every_width(browser_context, card_file,
                                                              width):
    pg = browser_context.new_page()
    log = browser.PageLog(pg)
    try:
        pg.set_viewport_size({"width": width, "height": 900})
        pg.goto(card_file.resolve().as_uri(), wait_until="load")
        card = pg.locator("#best-noop")
        # The defence, the named ties and the invalid-trial warning are on screen.
        why = card.locator("ul.why li")
        assert why.count() == 2 and why.nth(1).is_visible()
        assert "within the interval of 1 worker" in why.nth(1).inner_text()
        ties = card.locator("ul.ties li")
        assert ties.count() == 2 and all(ties.nth(i).is_visible() for i in range(2))
        assert "jobs/s (95% CI" in ties.nth(1).inner_text()
        warning = card.locator(".invalid-note")
        assert warning.is_visible() and "failed verification" in warning.inner_text()
        assert pg.locator("#rate-limited-note").is_visible()
        # What a reader selects and copies from the card runs as printed.
        copied = card.locator("pre.cmd").inner_text()
        args = parse_args(shell_words(copied))
        assert args.command == "worker" and args.db == EXAMPLE_DB
        # Nothing on the card is wider than the card (nor the page wider than the window).
        assert card.evaluate("e => e.scrollWidth - e.clientWidth") <= 0
        assert pg.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        assert not log.errors and all(u.startswith(("file:", "data:")) for u in log.requests)
    finally:
        pg.close()
