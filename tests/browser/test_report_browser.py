"""The report in a real browser: headless Chromium opens index.html from a file:// URL.

Needs Debian's ``chromium`` package (or GIGQ_CHROMIUM=/path/to/chrome) and the
``playwright`` Python package, which drives that browser; playwright's own browser
download is not used. Skipped, with the reason, when either is missing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

from gigq.bench.report import render_report

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 800}


def _chromium() -> str | None:
    candidates = [os.environ.get("GIGQ_CHROMIUM"), "/usr/bin/chromium",
                  shutil.which("chromium"), shutil.which("chromium-browser")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def _fixtures():
    # The hand-made results live next to the rendering tests (tests/bench).
    if "report_fixtures" in sys.modules:
        return sys.modules["report_fixtures"]
    path = Path(__file__).resolve().parents[1] / "bench" / "report_fixtures.py"
    spec = importlib.util.spec_from_file_location("report_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["report_fixtures"] = module
    spec.loader.exec_module(module)
    return module


CHROMIUM = _chromium()
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None

# CI sets GIGQ_REQUIRE_BROWSER=1 so that a missing browser fails instead of hiding.
def _missing(reason: str, **_: object) -> None:
    if os.environ.get("GIGQ_REQUIRE_BROWSER") == "1":
        pytest.fail(f"GIGQ_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


if CHROMIUM is None:
    _missing("headless Chromium is not installed (apt-get install -y chromium, or set "
                "GIGQ_CHROMIUM to a Chrome/Chromium binary)", allow_module_level=True)
if sync_playwright is None:
    _missing("the playwright package is not installed (pip install -e '.[test]')",
                allow_module_level=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A report with every chart, an invalid trial and a skipped configuration."""
    fx = _fixtures()
    results = fx.make_results(base={"job_type": "io"},
                              invalid=[({"workers": 4}, 2, "3 jobs lost (397 of 400)")])
    run = fx.write_run(results, tmp_path_factory.mktemp("run"))
    return render_report(results, run)


@pytest.fixture(scope="module")
def playwright():
    with sync_playwright() as p:
        yield p


def launch(playwright, profile: Path, **options):
    """Chromium with a fresh profile and no network besides file:// (see CHROMIUM_ARGS)."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport=LAPTOP, timeout=120_000, **options,
    )
    context.set_default_timeout(60_000)
    return context


@pytest.fixture(scope="module")
def browser_context(playwright, tmp_path_factory):
    context = launch(playwright, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield context
    finally:
        context.close()


class PageLog:
    """Console errors, uncaught exceptions and every URL the page requested."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("request", lambda r: self.requests.append(r.url))


@pytest.fixture
def page(browser_context, report):
    page = browser_context.new_page()
    log = PageLog(page)
    page.goto(report.resolve().as_uri(), wait_until="load")
    yield page, log
    page.close()


def test_opens_offline_without_console_errors_or_network(page):
    pg, log = page
    assert pg.title().startswith("GigQ on bench-host")
    assert log.errors == []
    assert log.requests and all(u.startswith(("file://", "data:", "about:"))
                                for u in log.requests), log.requests


def test_every_chart_is_visible(page, report, tmp_path):
    pg, _ = page
    charts = pg.locator("#charts figure svg.chart")
    assert charts.count() == 8
    for i in range(charts.count()):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        assert chart.is_visible()
        assert box is not None and box["width"] > 200 and box["height"] > 100
    shot = tmp_path / "report.png"
    pg.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000


def _column(pg, table: str, header: str) -> list[str]:
    index = pg.eval_on_selector_all(
        f"{table} thead th",
        "(ths, h) => ths.findIndex(th => th.textContent.trim().startsWith(h))", header)
    assert index >= 0, f"no column {header!r}"
    return pg.eval_on_selector_all(
        f"{table} tbody tr",
        "(rows, i) => rows.filter(r => !r.hidden).map(r => r.cells[i].dataset.sort ?? "
        "r.cells[i].textContent.trim())", index)


def test_results_table_sorts_by_clicking_a_header(page, tmp_path):
    pg, log = page
    table = "#results-table"
    before = _column(pg, table, "trial")
    header = pg.locator(f"{table} thead th", has_text="throughput").first
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    values = [float(v) for v in _column(pg, table, "throughput")]
    assert values == sorted(values)
    after = _column(pg, table, "trial")
    assert after != before and sorted(after) == sorted(before)
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    values = [float(v) for v in _column(pg, table, "throughput")]
    assert values == sorted(values, reverse=True)
    pg.locator(table).scroll_into_view_if_needed()
    pg.screenshot(path=str(tmp_path / "sorted.png"))
    assert log.errors == []


def test_filter_box_narrows_the_table(page):
    pg, _ = page
    pg.fill("#results .table-tools input", "invalid")
    rows = pg.locator("#results-table tbody tr:not([hidden])")
    assert rows.count() == 1
    assert "invalid" in rows.first.get_attribute("class")
    pg.fill("#results .table-tools input", "")
    assert pg.locator("#results-table tbody tr:not([hidden])").count() > 40


def test_fits_a_laptop_screen_and_a_narrow_window(page, tmp_path):
    pg, _ = page
    for width in (1366, 1024, 800):
        pg.set_viewport_size({"width": width, "height": 800})
        overflow = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"page scrolls sideways at {width}px"
    pg.screenshot(path=str(tmp_path / "narrow.png"), full_page=True)


def test_print_layout_hides_navigation_and_keeps_charts(page, tmp_path):
    pg, _ = page
    pg.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    pg.emulate_media(media="print")
    assert not pg.locator("nav.toc").is_visible()
    assert pg.locator("#charts svg.chart").first.is_visible()
    # the widest table keeps its main columns only, so nothing runs off the page
    assert not pg.locator("#results-table th.secondary").first.is_visible()
    assert pg.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    pdf = tmp_path / "report.pdf"
    pg.pdf(path=str(pdf))
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_reads_fully_without_javascript(playwright, tmp_path_factory, report):
    context = launch(playwright, tmp_path_factory.mktemp("chromium-nojs"),
                     java_script_enabled=False)
    try:
        pg = context.new_page()
        pg.goto(report.resolve().as_uri())
        assert pg.locator("#results-table tbody tr").count() > 40
        assert pg.locator("#results-table th button").count() == 0
        assert pg.locator("#charts svg.chart").first.is_visible()
        assert pg.locator("#summary article.rec").count() == 4
    finally:
        context.close()


# -- the tune page -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tune_page_file(tmp_path_factory) -> Path:
    """A tune page from a search over a synthetic queue (the page, not the search, is
    under test here; tests/bench/tune/test_tune_cli.py runs a real one)."""
    import math
    import random

    from gigq.bench.tune import output as tune_output
    from gigq.bench.tune import search as tuning
    from gigq.bench.tune.report import render_tune_report

    rng = random.Random(5)

    def evaluate(settings, context):
        threads = settings["workers"] * settings["concurrency"]
        rate = min(threads * 150.0, 3000.0) * math.exp(rng.gauss(0, 0.05))
        return tuning.Observation(settings, rate, True, 2.0 + 0.2 * settings["workers"])

    space = tuning.build_space("crash-safe", "throughput", cores=2)
    reference, _ = tuning.reference_settings("crash-safe")
    result = tuning.Tuner(space, evaluate, budget=240.0, reference=reference, seed=2).run()
    context = tune_output.TuneContext(
        job="io", objective="throughput", metric="jobs_per_sec", unit="jobs/s",
        floor="crash-safe", budget=240.0, location="disk", location_path="/tmp",
        fs_type="ext4", command="gigq-bench tune --job-type io --budget 4m")
    out = tmp_path_factory.mktemp("tune")
    document = tune_output.tune_document(result, context, {"hostname": "bench-host"})
    tune_output.write_tune_json(out / "tune.json", document)
    return render_tune_report(out, document)


def test_tune_page_opens_offline_with_its_charts_and_verdict(browser_context, tune_page_file,
                                                            tmp_path):
    pg = browser_context.new_page()
    log = PageLog(pg)
    try:
        pg.goto(tune_page_file.resolve().as_uri(), wait_until="load")
        assert pg.title().startswith("Tuning GigQ on bench-host")
        assert log.errors == []
        assert all(u.startswith(("file://", "data:", "about:")) for u in log.requests)
        assert pg.locator("#verdict").is_visible()
        assert "gigq --db jobs.db worker" in pg.locator("body").inner_text()
        charts = pg.locator("svg.chart")
        assert charts.count() == 2
        for i in range(charts.count()):
            charts.nth(i).scroll_into_view_if_needed()
            box = charts.nth(i).bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 100
        for width in (1366, 800):
            pg.set_viewport_size({"width": width, "height": 800})
            overflow = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the tune page scrolls sideways at {width}px"
        pg.screenshot(path=str(tmp_path / "tune.png"), full_page=True)
    finally:
        pg.close()


# -- the comparison page ---------------------------------------------------------------------


def test_comparison_page_reads_offline_without_script_and_fits_a_laptop(browser_context,
                                                                        tmp_path):
    from gigq.bench.gate.compare import compare
    from gigq.bench.gate.report import render_html as render_comparison

    fx = _fixtures()
    base = fx.make_results({"workers": [1, 2, 4]}, repeat=5, seed=1)
    current = fx.make_results({"workers": [1, 2, 4]}, repeat=5, seed=2)
    slow = current.rows["workers"] == 4
    current.rows.loc[slow, "jobs_per_sec"] *= 0.6  # a clear regression in one row
    comparison = compare(base, current)
    assert comparison.exit_code == 1
    page_file = tmp_path / "compare.html"
    page_file.write_text(render_comparison(comparison, "gigq-bench compare a b"))

    pg = browser_context.new_page()
    log = PageLog(pg)
    try:
        pg.goto(page_file.resolve().as_uri(), wait_until="load")
        assert log.errors == []
        assert all(u.startswith(("file://", "data:", "about:")) for u in log.requests)
        assert pg.locator("script").count() == 0
        assert pg.locator("h1").inner_text() == "Performance regression"
        slower = pg.locator("#ratios tr.slower")
        assert slower.count() >= 1 and "workers=4" in slower.first.inner_text()
        assert pg.locator("#ratios tr.slower svg").first.is_visible()
        pg.set_viewport_size(LAPTOP)
        assert pg.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        assert pg.locator("#ratios td.reason").first.is_visible()
        pg.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    finally:
        pg.close()
