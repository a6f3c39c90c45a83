"""The report page's tables, hover values, title and embedded data (issue 16, items 6–8),
from hand-made results; tests/browser/test_report_browser.py checks them in Chromium."""

from __future__ import annotations

import base64
import io

import pandas as pd
import pytest
import report_fixtures as fx
from bs4 import BeautifulSoup

from gigq.bench import numbers as num
from gigq.bench.html import format as fmt
from gigq.bench.report import render_html
from gigq.bench.report.figures import add_charts
from gigq.bench.report.insights import analyse
from gigq.bench.results import csv_text, json_text


@pytest.fixture(scope="module")
def results():
    # Two modes, so some trials are rate-limited (steady mode); never saved to disk.
    return fx.make_results({"workers": [1, 2, 4], "mode": ["drain", "steady"]}, design="grid")


@pytest.fixture(scope="module")
def page(results):
    return BeautifulSoup(render_html(results), "html.parser")


def test_results_table_leads_with_configuration_throughput_interval_valid(page):
    headers = page.select("#results-table thead th")
    assert [th["data-label"] for th in headers[:4]] == [
        "configuration", "throughput", "95% CI", "valid"]
    keys = [th.get("data-key") for th in headers]
    assert keys[:4] == ["configuration", "jobs_per_sec", "interval", "valid"]
    # each swept setting still has its own column, named by its dimension for filters
    assert {"workers", "mode"} <= set(keys)


def test_each_trial_row_shows_its_configuration_and_that_configurations_interval(results,
                                                                                 page):
    a = analyse(results)
    by_summary = {fmt.context_phrase({d: c.values.get(d) for d in a.swept}): c
                  for c in a.configs}
    rows = page.select("#results-table tbody tr")
    assert len(rows) == len(results.rows)
    for tr in rows:
        cells = tr.find_all("td")
        config = by_summary[cells[0].get_text(strip=True)]
        iv = config.stats["jobs_per_sec"]
        assert float(cells[2]["data-sort"]) == pytest.approx(iv.low)
        assert cells[2].get_text() == f"{num.number(iv.low)}–{num.number(iv.high)}"


def test_steady_mode_rows_are_marked_rate_limited(results, page):
    marked = page.select("#results-table tbody tr.rate-limited")
    assert len(marked) == (results.rows["mode"] == "steady").sum() > 0
    for tr in marked:
        assert tr.select_one("td .badge.mark").get_text() == "rate-limited"
    drain = page.select("#results-table tbody tr:not(.rate-limited)")
    assert drain and not any(tr.select(".badge.mark") for tr in drain)
    steady_configs = page.select("#durability-table tbody tr .badge.mark")
    assert len(steady_configs) == results.rows.loc[results.rows["mode"] == "steady",
                                                   "config_id"].nunique()


def test_points_and_bars_carry_their_values_as_hover_titles(results, page):
    a = add_charts(analyse(results))
    chart = next(b.chart for b in a.charts if b.key == "throughput")
    svg = page.select_one("#chart-throughput-figure svg")
    titles = [t.get_text() for t in svg.select("g[id*='-tip-'] > title")]
    expected = [f"{num.number(y)} (95% CI {num.number(lo)}–{num.number(hi)})"
                for s in chart.series for y, lo, hi in zip(s.y, s.low, s.high, strict=True)]
    assert len(titles) == len(expected)
    # every other title is one trial's
    assert len(svg.select("g > title")) == len(titles) + sum(len(s.trials) for s in chart.series)
    for title, value in zip(titles, expected, strict=True):
        assert title.endswith(value)


def test_title_names_machine_date_and_profile(page):
    assert page.title.get_text() == "GigQ on bench-host · 2025-11-27 10:00 · test profile"
    assert page.select_one("h1").get_text() == page.title.get_text()


def test_unsaved_results_embed_what_save_would_write(results, page):
    links = {a["download"]: a["href"] for a in page.select("#downloads a[download]")}
    assert set(links) == {"results.csv", "results.json"}
    csv = base64.b64decode(links["results.csv"].partition(",")[2]).decode()
    assert csv == csv_text(results)
    assert base64.b64decode(links["results.json"].partition(",")[2]).decode() == json_text(
        results)
    rows = pd.read_csv(io.StringIO(csv))
    assert list(rows["trial_id"]) == list(results.rows["trial_id"])


def test_every_section_heading_and_chart_has_a_permalink(page):
    for el in page.select("main section[id], main h3[id], #charts figure[id]"):
        assert el.select_one(f'a.anchor[href="#{el["id"]}"]') is not None, el["id"]
    ids = [el["id"] for el in page.select("[id]")]
    assert len(ids) == len(set(ids))
