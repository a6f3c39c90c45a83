"""The charts show the noise, explain lock contention and mark durability (issue 16).

Pages are rendered from hand-made results (report_fixtures) and read back from their
SVG and HTML; every expected number is computed from the rows themselves.
"""

from __future__ import annotations

import math
import re
import statistics

import pytest
import report_fixtures as fx
from bs4 import BeautifulSoup

from gigq.bench import numbers as num
from gigq.bench.metrics import METRICS
from gigq.bench.report import render_html
from gigq.bench.stats import bootstrap_median

GRID = {"workers": [1, 2, 4], "journal_mode": ["wal", "delete"]}
LOST = "3 jobs lost (397 of 400 completed)"


def _page(results) -> BeautifulSoup:
    return BeautifulSoup(render_html(results), "html.parser")


def _trial_marks(page: BeautifulSoup, key: str) -> list:
    """The per-trial marker groups of chart ``key``, in document (drawing) order."""
    return page.select(f"#chart-{key}-figure svg g[id^='chart-{key}-trial-']")


def _valid_rows(results, **where):
    rows = results.rows[results.rows["valid"]]
    for column, value in where.items():
        rows = rows[rows[column] == value]
    return rows


@pytest.fixture(scope="module")
def grid_run():
    """Workers × journal mode, with one trial that lost jobs."""
    return fx.make_results(GRID, design="grid", invalid=[({"workers": 4}, 2, LOST)])


@pytest.fixture(scope="module")
def grid_page(grid_run):
    return _page(grid_run)


# -- each trial is a point ---------------------------------------------------------------


@pytest.mark.parametrize("key", ["throughput", "lock-wait"])
def test_line_charts_draw_one_point_per_valid_trial(grid_run, grid_page, key):
    marks = _trial_marks(grid_page, key)
    assert len(marks) == len(_valid_rows(grid_run)) == len(grid_run.rows) - 1
    # each carries its own value on hover
    assert all(m.find("title") for m in marks)


def test_trial_points_carry_the_values_of_their_trials(grid_run, grid_page):
    shown = sorted(float(re.search(r", ([\d.,]+) jobs/s", m.find("title").text)[1]
                         .replace(",", ""))
                   for m in _trial_marks(grid_page, "throughput"))
    expected = sorted(float(num.number(v).replace(",", ""))
                      for v in _valid_rows(grid_run)["jobs_per_sec"])
    assert shown == expected


def test_bar_charts_draw_one_point_per_valid_trial():
    results = fx.make_results({"cache_size": [None, -64000]}, repeat=4,
                              invalid=[({"cache_size": -64000}, 3, LOST)])
    marks = _trial_marks(_page(results), "cache")
    assert len(marks) == len(_valid_rows(results)) == 7


# -- the smallest change the run resolves -------------------------------------------------


def test_resolution_is_twice_the_typical_half_width_of_the_medians_intervals():
    results = fx.make_results({"workers": [1, 2, 4], "mode": ["drain", "steady"]}, repeat=5)
    drain = _valid_rows(results, mode="drain")
    half_widths = []
    for _, group in drain.groupby("config_id"):
        iv = bootstrap_median(list(group["jobs_per_sec"]))
        half_widths.append((iv.high - iv.low) / 2 / iv.estimate)
    typical = statistics.median(half_widths)
    page = _page(results)
    text = page.select_one("#chart-trial-order-explanation").get_text(" ", strip=True)
    assert f"about {num.percent(2 * typical)} or more" in text
    assert f"±{num.percent(typical)}" in text
    assert f"widest ±{num.percent(max(half_widths))}" in text
    # steady-mode configurations (jobs/s = the producer's rate) are not counted
    assert f"each of the {drain['config_id'].nunique()} configurations" in text
    assert "half the width of the 95% bootstrap interval of its median" in text


def test_a_run_without_repetitions_says_it_cannot_resolve_anything():
    page = _page(fx.make_results({"workers": [1, 2, 4]}, repeat=1))
    text = page.select_one("#chart-trial-order-explanation").get_text(" ", strip=True)
    assert "cannot say how large a difference is noise" in text


# -- drift: trials in run order, with the load average -----------------------------------


def _with_load(results):
    results.rows["load_1m"] = [0.4 + 0.03 * order for order in results.rows["order"]]
    return results


def test_trial_order_plot_has_one_point_per_drain_trial_in_run_order():
    results = _with_load(fx.make_results({"workers": [1, 2], "mode": ["drain", "steady"]},
                                         invalid=[({"workers": 2}, 1, LOST)]))
    page = _page(results)
    marks = _trial_marks(page, "trial-order")
    orders = [int(re.match(r"trial (\d+) ", m.find("title").text)[1]) for m in marks]
    drain = results.rows[results.rows["mode"] == "drain"]
    assert orders == sorted(drain["order"])  # every drain trial, in order, invalid too
    invalid = [m for m in marks if "invalid" in m.find("title").text]
    assert len(invalid) == 1
    # each point is its trial's jobs/s against its configuration's median
    first = drain.sort_values("order").iloc[0]
    median = statistics.median(_valid_rows(results, config_id=first["config_id"])
                               ["jobs_per_sec"])
    title = next(m.find("title").text for m, o in zip(marks, orders, strict=True)
                 if o == first["order"])
    assert f"{num.percent(first['jobs_per_sec'] / median)} of its configuration's median" \
        in title
    caption = page.select_one("#chart-trial-order-figure figcaption").get_text(" ")
    loads = drain["load_1m"]  # the trials drawn
    assert f"ranged {num.number(loads.min())}–{num.number(loads.max())} on 2 cores" in caption
    assert "load average (1 min)" in page.select_one("#chart-trial-order-figure svg").text


def test_trial_order_plot_says_when_no_load_average_was_recorded(grid_page):
    figure = grid_page.select_one("#chart-trial-order-figure")
    assert "load average was not recorded" in figure.get_text(" ")
    assert "load average (1 min)" not in figure.select_one("svg").text


# -- lock contention explained -----------------------------------------------------------


def test_lock_wait_share_is_explained_with_its_formula_and_companions(grid_run, grid_page):
    figure = grid_page.select_one("#chart-lock-wait-figure")
    text = figure.select_one("#chart-lock-wait-explanation").get_text(" ", strip=True)
    assert METRICS["lock_wait_share"].description in text
    assert METRICS["lock_wait_p99_ms"].description in text
    head = [th.get_text(strip=True) for th in figure.select("table thead th")]
    assert head[1:] == ["lock-wait share (%)", "lock wait p99 (ms)",
                        "lock waits per job (waits/job)", "busy errors (count)"]
    rows = figure.select("table tbody tr")
    assert len(rows) == grid_run.rows["config_id"].nunique()
    wal4 = next(r for r in rows if r.td.get_text() == "WAL, 4 workers")
    p99 = statistics.median(_valid_rows(grid_run, journal_mode="wal", workers=4)
                            ["lock_wait_p99_ms"])
    assert wal4.select("td")[2].get_text() == num.number(p99)


def test_no_unfounded_contention_threshold(grid_page):
    html = str(grid_page)
    assert "where contention starts" not in html
    assert "contention" not in grid_page.select_one("#chart-lock-wait-figure svg").text


def test_lock_sites_are_broken_down_when_measured(grid_run, grid_page):
    figure = grid_page.select_one("#chart-lock-sites-figure")
    svg_text = figure.select_one("svg").text
    assert all(site in svg_text for site in ("BEGIN", "COMMIT", "reads"))
    delete2 = _valid_rows(grid_run, journal_mode="delete", workers=2)
    commit = statistics.median(delete2["lock_wait_commit_share"])
    tips = [t.text for t in figure.select("svg title")]
    assert f"DELETE 2 workers: COMMIT {num.number(commit * 100)}%" in [
        t.replace("\n", " ") for t in tips]


def test_lock_sites_say_why_they_are_missing_when_not_measured():
    results = fx.make_results(GRID, design="grid")
    for site in ("begin", "commit", "read"):
        results.rows[f"lock_wait_{site}_share"] = math.nan
    page = _page(results)
    assert page.select_one("#chart-lock-sites-figure") is None
    note = page.select_one(".omitted[data-chart='lock-sites']").get_text(" ")
    assert "reports the totals only" in note
    assert page.select_one("#chart-lock-wait-explanation")  # the totals still explained


# -- durability inside the charts --------------------------------------------------------


def _bar_fills(page, key: str) -> dict[str, str]:
    """Each bar's hover text and the fill of its shape."""
    out = {}
    for group in page.select(f"#chart-{key}-figure svg g[id^='chart-{key}-tip-']"):
        path = group.find("path")
        out[group.find("title").text] = path.get("style", "") if path else ""
    return out


def test_unsafe_bars_are_hatched_and_labelled():
    results = fx.make_results({"location": ["disk", "tmpfs"]})
    page = _page(results)
    fills = _bar_fills(page, "locations")
    tmpfs = next(style for title, style in fills.items() if title.startswith("tmpfs"))
    disk = next(style for title, style in fills.items() if title.startswith("disk"))
    assert "url(#chart-locations-h" in tmpfs  # a hatch pattern, not only a colour
    assert "url(#" not in disk
    svg_text = page.select_one("#chart-locations-figure svg").text
    assert "unsafe" in svg_text and "hatched: unsafe settings" in svg_text


def test_unsafe_heat_map_cells_are_hatched(grid_page):
    results = fx.make_results({"synchronous": ["off", "normal", "full"]})
    svg = _page(results).select_one("#chart-heatmap-figure svg")
    assert svg.select("pattern") and "unsafe" in svg.text
    # a run with no unsafe cell has no hatching
    assert not grid_page.select("#chart-heatmap-figure svg pattern")


def test_the_charts_say_power_loss_safe_assumes_fsync(grid_page):
    notes = grid_page.select_one("#durability-notes").get_text(" ")
    assert "Power-loss-safe assumes the disk honours fsync" in notes


@pytest.mark.parametrize(("dimensions", "base", "phrase"), [
    (GRID, {}, "This run has no :memory: location"),
    ({"location": ["disk", "memory"]}, {}, ":memory: was planned but not measured: WAL is "
                                           "not available for :memory:"),
    ({"location": ["disk", "memory"]}, {"journal_mode": "delete", "workers": 1},
     ":memory: is in this run"),
])
def test_memory_is_present_or_its_absence_explained(dimensions, base, phrase):
    page = _page(fx.make_results(dimensions, base=base))
    assert phrase in page.select_one("#durability-notes").get_text(" ")


def test_a_line_whose_every_point_is_unsafe_is_labelled_unsafe():
    results = fx.make_results({"workers": [1, 2, 4], "journal_mode": ["wal", "memory"]},
                              design="grid")
    svg_text = _page(results).select_one("#chart-throughput-figure svg").text
    assert "MEMORY (unsafe)" in svg_text  # journal_mode=memory: a crash corrupts the queue
    assert "WAL (unsafe)" not in svg_text
