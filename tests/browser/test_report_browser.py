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
def report_results():
    """Results with every chart, an invalid trial, a skipped configuration and steady-mode
    (rate-limited) trials."""
    return _fixtures().make_results(base={"job_type": "io"},
                                    invalid=[({"workers": 4}, 2, "3 jobs lost (397 of 400)")])


@pytest.fixture(scope="module")
def report(report_results, tmp_path_factory) -> Path:
    run = _fixtures().write_run(report_results, tmp_path_factory.mktemp("run"))
    return render_report(report_results, run)


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
    # machine, date and profile: what a tab, a bookmark or a mailed copy should say
    assert pg.title() == "GigQ on bench-host · 2025-11-27 10:00 · test profile"
    assert log.errors == []
    assert log.requests and all(u.startswith(("file://", "data:", "about:"))
                                for u in log.requests), log.requests


def test_every_chart_is_visible(page, report, tmp_path):
    pg, _ = page
    charts = pg.locator("#charts figure svg.chart")
    assert charts.count() == 10  # lock sites and trial order besides the eight
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
    pg.fill("#results .table-tools input[type=search]", "invalid")
    rows = pg.locator("#results-table tbody tr:not([hidden])")
    assert rows.count() == 1
    assert "invalid" in rows.first.get_attribute("class")
    pg.fill("#results .table-tools input[type=search]", "")
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


# -- every width, tables people can use, a page that travels (issue 16) ---------------------

PHONE = {"width": 420, "height": 860}
SIDEWAYS = "document.scrollingElement.scrollWidth - window.innerWidth"
# The rendered size of each chart text: its font size times the SVG's scale on screen.
CHART_TEXT_PX = """() => [...document.querySelectorAll('svg.chart text')].map(t => {
    const m = t.getScreenCTM();
    return parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b);
})"""


def test_no_sideways_page_scroll_from_a_phone_to_a_laptop(page, tmp_path):
    pg, _ = page
    for width in (360, 420, 1366):
        pg.set_viewport_size({"width": width, "height": 860})
        assert pg.evaluate(SIDEWAYS) <= 0, f"page scrolls sideways at {width}px"
        # wide tables scroll inside their own frame instead
        wrap = pg.locator("#results-table").locator("xpath=..")
        assert wrap.evaluate("w => getComputedStyle(w).overflowX") == "auto"
        pg.locator("#results details.columns summary").click()  # the open chooser fits too
        assert pg.evaluate(SIDEWAYS) <= 0, f"the column chooser overflows at {width}px"
        pg.locator("#results details.columns summary").click()
    pg.set_viewport_size(PHONE)
    pg.screenshot(path=str(tmp_path / "phone.png"), full_page=True)


def test_environment_list_stacks_on_a_phone(page):
    pg, _ = page
    pg.set_viewport_size(PHONE)
    values = pg.locator("#environment dl.kv dd")
    assert values.count() > 10
    content = pg.evaluate("document.querySelector('#environment').clientWidth")
    for box in (values.nth(i).bounding_box() for i in range(values.count())):
        # each value has the width of the page, not a sliver beside its label
        assert box["width"] >= content - 2


def test_durability_table_fits_a_laptop_screen(page):
    pg, _ = page
    pg.set_viewport_size(LAPTOP)
    wrap = pg.locator("#durability-table").locator("xpath=..")
    assert wrap.evaluate("w => w.scrollWidth - w.clientWidth") <= 0


def test_chart_text_is_at_least_11px_on_a_laptop_and_readable_on_a_phone(page):
    pg, _ = page
    pg.set_viewport_size(LAPTOP)
    sizes = pg.evaluate(CHART_TEXT_PX)
    assert len(sizes) > 50 and min(sizes) >= 11, min(sizes)
    pg.set_viewport_size(PHONE)
    sizes = pg.evaluate(CHART_TEXT_PX)
    assert min(sizes) >= 9, min(sizes)
    assert pg.evaluate(SIDEWAYS) <= 0  # a chart wider than a phone scrolls in its frame


def test_results_table_leads_with_the_key_columns(page):
    pg, _ = page
    labels = pg.eval_on_selector_all("#results-table thead tr:first-child th",
                                     "ths => ths.map(th => th.dataset.label)")
    assert labels[:4] == ["configuration", "throughput", "95% CI", "valid"]
    first = pg.locator("#results-table thead th").first.bounding_box()
    frame = pg.locator("#results-table").locator("xpath=..").bounding_box()
    assert abs(first["x"] - frame["x"]) <= 2  # on screen where the table starts


def test_results_header_sticks_when_the_table_scrolls(page, tmp_path):
    pg, _ = page
    pg.set_viewport_size(LAPTOP)
    wrap = pg.locator("#results-table").locator("xpath=..")
    wrap.scroll_into_view_if_needed()
    assert wrap.evaluate("w => w.scrollHeight > w.clientHeight")  # the table does scroll
    wrap.hover()
    pg.mouse.wheel(0, 1500)
    pg.wait_for_function("document.querySelector('#results-table').parentNode.scrollTop > 500")
    header = pg.locator("#results-table thead th").nth(1)
    box, frame = header.bounding_box(), wrap.bounding_box()
    assert abs(box["y"] - frame["y"]) <= 2, (box, frame)  # still at the top of the table
    hit = pg.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('thead') !== null",
                      [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert hit, "the header is covered by the rows scrolled under it"
    pg.screenshot(path=str(tmp_path / "sticky.png"))


def _shown_trials(pg) -> list[str]:
    return _column(pg, "#results-table", "trial")


def test_workers_filter_finds_exactly_the_rows_with_four_workers(page, report_results):
    pg, _ = page
    rows = report_results.rows
    expected = sorted(rows.loc[rows["workers"] == 4, "trial_id"])
    assert 0 < len(expected) < len(rows)
    pg.fill("#results .table-tools input[type=search]", "workers=4")
    assert sorted(_shown_trials(pg)) == expected
    assert f"{len(expected)} of {len(rows)} rows" in pg.locator("#results .count").inner_text()
    pg.fill("#results .table-tools input[type=search]", "")
    column = pg.locator("#results-table tr.filters input[aria-label^='Filter by workers']")
    column.fill("4")
    assert sorted(_shown_trials(pg)) == expected
    column.fill(">=2")
    assert sorted(_shown_trials(pg)) == sorted(rows.loc[rows["workers"] >= 2, "trial_id"])
    column.fill("")
    pg.fill("#results .table-tools input[type=search]", "journal=wal workers=4")
    both = rows[(rows["workers"] == 4) & (rows["journal_mode"] == "wal")]
    assert sorted(_shown_trials(pg)) == sorted(both["trial_id"])


def test_column_chooser_works_from_the_keyboard(page):
    pg, _ = page
    trial = pg.locator("#results-table thead th[data-key=trial_id]")
    assert not trial.is_visible()  # secondary columns start hidden
    assert pg.locator("#results-table thead th[data-key=jobs_per_sec]").is_visible()
    summary = pg.locator("#results details.columns summary")
    summary.focus()
    pg.keyboard.press("Enter")
    box = pg.locator("#results details.columns input[data-column=trial_id]")
    assert box.is_visible() and not box.is_checked()
    box.focus()
    pg.keyboard.press("Space")
    assert box.is_checked() and trial.is_visible()
    index = pg.eval_on_selector_all("#results-table thead tr:first-child th",
                                    "ths => ths.findIndex(th => th.dataset.key === 'trial_id')")
    cell = pg.locator("#results-table tbody tr").first.locator("td").nth(index)
    assert cell.is_visible()
    pg.keyboard.press("Space")
    assert not trial.is_visible() and not cell.is_visible()


def test_rate_limited_rows_are_marked(page, report_results):
    pg, _ = page
    rows = report_results.rows
    steady = (rows["mode"] == "steady").sum()
    assert steady > 0
    marked = pg.locator("#results-table tbody tr.rate-limited")
    assert marked.count() == steady
    badge = marked.first.locator(".badge.mark")
    assert badge.inner_text() == "rate-limited" and badge.is_visible()


def _luminance(css: str) -> float:
    r, g, b = (float(v) for v in css[css.index("(") + 1:css.index(")")].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def test_dark_mode_renders_dark_with_readable_charts(playwright, tmp_path_factory, report,
                                                     tmp_path):
    context = launch(playwright, tmp_path_factory.mktemp("chromium-dark"), color_scheme="dark")
    try:
        pg = context.new_page()
        log = PageLog(pg)
        pg.goto(report.resolve().as_uri(), wait_until="load")
        style = pg.evaluate("() => { const s = getComputedStyle(document.body);"
                            " return [s.backgroundColor, s.color]; }")
        assert _luminance(style[0]) < 0.15 and _luminance(style[1]) > 0.75, style
        card = pg.evaluate("getComputedStyle(document.querySelector('.rec')).backgroundColor")
        assert _luminance(card) < 0.2
        for i in range(pg.locator("svg.chart").count()):
            chart = pg.locator("svg.chart").nth(i)
            chart.scroll_into_view_if_needed()
            assert chart.is_visible()
            # the chart keeps its light canvas, so its dark text stays readable
            assert _luminance(chart.evaluate("c => getComputedStyle(c).backgroundColor")) > 0.9
            text = chart.locator("text").first.evaluate("t => getComputedStyle(t).fill")
            assert _luminance(text) < 0.3
        assert log.errors == []
        pg.screenshot(path=str(tmp_path / "dark.png"), full_page=True)
    finally:
        context.close()


def test_embedded_data_downloads_with_no_network(playwright, tmp_path_factory, report,
                                                 report_results, tmp_path):
    import json

    import pandas as pd

    context = launch(playwright, tmp_path_factory.mktemp("chromium-offline"),
                     accept_downloads=True)
    requests: list[str] = []
    # No network at all: anything but the page itself and data: URLs is refused.
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        ("file://", "data:")) else (requests.append(route.request.url), route.abort()))
    try:
        pg = context.new_page()
        pg.goto(report.resolve().as_uri(), wait_until="load")
        got = {}
        for name in ("results.csv", "results.json"):
            with pg.expect_download() as info:
                pg.locator(f"#downloads a[download='{name}']").click()
            path = tmp_path / name
            info.value.save_as(path)
            got[name] = path
        assert requests == []
        expected = report_results.rows.reset_index(drop=True)
        from_csv = pd.read_csv(got["results.csv"])
        assert list(from_csv["trial_id"]) == list(expected["trial_id"])
        pd.testing.assert_series_equal(from_csv["jobs_per_sec"], expected["jobs_per_sec"],
                                       check_names=False)
        document = json.loads(got["results.json"].read_text())
        rows = document["rows"]
        assert [r["trial_id"] for r in rows] == list(expected["trial_id"])
        assert [r["jobs_per_sec"] for r in rows] == pytest.approx(list(expected["jobs_per_sec"]))
    finally:
        context.close()


def test_every_section_and_chart_has_a_permalink(page):
    pg, _ = page
    targets = pg.eval_on_selector_all(
        "main section, main h3[id], #charts figure, article.rec",
        "els => els.map(e => [e.id, !!e.querySelector(`a.anchor[href='#${e.id}']`) ||"
        " !!(e.matches('h3') && e.querySelector('a.anchor'))])")
    assert len(targets) > 15
    missing = [t for t, linked in targets if not t or not linked]
    assert missing == []
    ids = [t for t, _ in targets]
    assert len(ids) == len(set(ids))
    link = pg.locator("#charts figure a.anchor").nth(2)
    target = link.get_attribute("href")
    link.click()
    assert pg.evaluate("location.hash") == target
    assert pg.locator(target).is_visible()


def test_chart_values_show_on_hover(page):
    pg, _ = page
    pg.set_viewport_size(LAPTOP)
    chart = pg.locator("#chart-throughput-figure svg.chart")
    chart.scroll_into_view_if_needed()
    point = chart.locator("g[id*='-tip-'] use").first  # a point's (invisible) hover target
    box = point.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tip = pg.evaluate("([x, y]) => { const g = document.elementFromPoint(x, y)"
                      ".closest('g[id*=\"-tip-\"]'); return g && g.querySelector('title')"
                      ".textContent; }", [x, y])
    assert tip and "jobs/s" in tip and "95% CI" in tip, tip


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


def test_comparison_page_reads_offline_without_script_and_fits_a_laptop(playwright, tmp_path):
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

    # The page's only script sorts its tables; with JavaScript off everything still reads.
    context = launch(playwright, tmp_path / "noscript-profile", java_script_enabled=False)
    pg = context.new_page()
    log = PageLog(pg)
    try:
        pg.goto(page_file.resolve().as_uri(), wait_until="load")
        assert log.errors == []
        assert all(u.startswith(("file://", "data:", "about:")) for u in log.requests)
        assert pg.locator("script[src]").count() == 0
        assert pg.locator("h1").inner_text() == "Performance regression"
        slower = pg.locator("#regression-rows tr.slower")
        assert slower.count() >= 1 and "workers=4" in slower.first.inner_text()
        assert pg.locator("#regression-rows tr.slower svg").first.is_visible()
        pg.set_viewport_size(LAPTOP)
        assert pg.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        assert pg.locator("#regression-rows td.reason").first.is_visible()
        pg.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    finally:
        pg.close()
        context.close()
