"""The HTML report, rendered from hand-made results that follow docs/bench-results.md."""

from __future__ import annotations

import base64
import json
import re
import shlex
import statistics
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import report_fixtures as fx
from bs4 import BeautifulSoup

from gigq.bench import numbers as num
from gigq.bench.html import format as fmt
from gigq.bench.report import render_from_path, render_html, render_report
from gigq.bench.report.insights import analyse, worker_command
from gigq.bench.results import ResultsError, load_results
from gigq.bench.stats import bootstrap_median
from gigq.cli import build_parser

SECTIONS = [
    ("summary", "Summary"),
    ("charts", "Charts"),
    ("correctness", "Correctness and durability"),
    ("results", "All results"),
    ("environment", "Environment and reproduction"),
]
LOST = "3 jobs lost (397 of 400 completed)"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "path", "rect", "circle", "line", "polyline", "polygon", "ellipse",
        "use", "stop"}


class _Balance(HTMLParser):
    """Fails on a closing tag that does not match the open element (unbalanced markup)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}> "
                               f"at line {self.getpos()[0]}")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()


def assert_well_formed(html: str) -> BeautifulSoup:
    checker = _Balance()
    checker.feed(html)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert checker.stack == [], f"unclosed elements: {checker.stack}"
    assert html.startswith("<!DOCTYPE html>")
    return BeautifulSoup(html, "html.parser")


_PAGES: dict[int, tuple[object, BeautifulSoup]] = {}


def render(results) -> BeautifulSoup:
    """Render and parse once per results object (charts take a moment on 2 cores)."""
    key = id(results)
    if key not in _PAGES or _PAGES[key][0] is not results:
        _PAGES[key] = (results, assert_well_formed(render_html(results)))
    return _PAGES[key][1]


def valid_rows(results):
    rows = results.rows
    return rows[rows["valid"]]


@pytest.fixture(scope="module")
def oat_run():
    """Every dimension, one factor at a time around a noop base; one invalid trial."""
    return fx.make_results(invalid=[({"workers": 4}, 2, LOST)])


@pytest.fixture(scope="module")
def oat_page(oat_run):
    return render(oat_run)


@pytest.fixture(scope="module")
def io_run():
    """Every dimension around an io base, so every chart of the report can be drawn."""
    return fx.make_results(base={"job_type": "io"})


@pytest.fixture(scope="module")
def grid_run():
    """A full grid of workers × journal mode × synchronous for noop and io jobs."""
    return fx.make_results(
        {"job_type": ["noop", "io"], "workers": [1, 2, 4], "journal_mode": ["wal", "delete"],
         "synchronous": ["normal", "full"]},
        design="grid", repeat=3,
    )


def section_ids(page) -> list[str]:
    return [s["id"] for s in page.select("main > section")]


# ---------------------------------------------------------------------------
# Structure


@pytest.mark.parametrize("name", ["oat", "io", "grid", "single", "empty"])
def test_every_section_present_in_order(name, oat_run, io_run, grid_run):
    results = {
        "oat": oat_run, "io": io_run, "grid": grid_run,
        "single": fx.make_results({}, repeat=2), "empty": fx.all_skipped(),
    }[name]
    page = render(results)
    assert section_ids(page) == [sid for sid, _ in SECTIONS]
    for sid, title in SECTIONS:
        heading = page.select_one(f"#{sid} > h2")
        assert heading.find(string=True, recursive=False).strip() == title
        # a visible permalink to the section
        assert heading.select_one("a.anchor")["href"] == f"#{sid}"


def test_no_resource_is_loaded_from_anywhere(oat_page):
    html = str(oat_page)
    for tag in oat_page.find_all(True):
        for attr in ("src", "href", "xlink:href", "data", "action", "poster", "srcset"):
            value = tag.get(attr)
            if value is None:
                continue
            assert not re.match(r"^\s*(https?:)?//", value), f"<{tag.name} {attr}={value}>"
    assert not oat_page.find_all(["img", "iframe", "object", "embed", "link"])
    assert all(not s.get("src") for s in oat_page.find_all("script"))
    for style in oat_page.find_all("style"):
        assert "@import" not in style.text
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", style.text)
    assert "@font-face" not in html


def test_ids_are_unique_across_all_inline_svgs(io_run):
    page = render(io_run)
    ids = [t["id"] for t in page.find_all(id=True)]
    assert len(ids) == len(set(ids))
    for ref in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', str(page)):
        target = ref[0] or ref[1]
        assert page.find(id=target) is not None, f"dangling reference #{target}"


def test_rendering_is_deterministic(oat_run):
    assert render_html(oat_run) == render_html(oat_run)


def test_untrusted_text_is_escaped():
    results = fx.make_results({"workers": [1, 2]})
    results.environment["hostname"] = "<script>alert('x')</script>"
    results.rows.loc[0, "invalid_reason"] = "<b>bold</b>"
    html = render_html(results)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html
    assert "<b>bold</b>" not in html


# ---------------------------------------------------------------------------
# Charts


def test_every_chart_is_an_inline_svg_with_a_caption(io_run):
    page = render(io_run)
    figures = page.select("#charts figure")
    assert [f["data-chart"] for f in figures] == [
        "throughput", "io-concurrency", "latency", "lock-wait", "lock-sites", "heatmap",
        "locations", "cache", "job-types", "trial-order",
    ]
    for figure in figures:
        svg = figure.find("svg", recursive=False)
        assert svg is not None and "chart" in svg["class"]
        assert svg.get("viewbox") or svg.get("viewBox")
        caption = figure.figcaption.get_text(" ", strip=True)
        assert len(caption) > 40
    assert not page.select("#charts .omitted")


def test_chart_of_a_dimension_not_varied_is_left_out_with_a_note(oat_page):
    # The noop-based OAT sweep varies concurrency for noop jobs only.
    omitted = {d["data-chart"]: d.get_text(" ", strip=True)
               for d in oat_page.select("#charts .omitted")}
    assert list(omitted) == ["io-concurrency"]
    assert "not varied for io jobs" in omitted["io-concurrency"]
    drawn = [f["data-chart"] for f in oat_page.select("#charts figure")]
    assert "io-concurrency" not in drawn and len(drawn) == 9


def test_single_configuration_draws_no_empty_chart():
    results = fx.make_results({}, repeat=2)
    page = render(results)
    assert not page.select("#charts svg")
    notes = page.select("#charts .omitted")
    assert len(notes) == 10  # two trials make no trend either
    text = " ".join(n.get_text(" ", strip=True) for n in notes)
    assert "worker processes was not swept (every trial used 2 workers)" in text
    assert "this run has no io jobs" in text
    assert len(page.select("#summary .rec")) == 1
    assert not page.select("#effects")


def test_heatmap_marks_cells_that_were_not_run(oat_page):
    heat = oat_page.select_one("#chart-heatmap-figure svg").get_text(" ")
    assert "not run" in heat  # OAT: DELETE was only measured at synchronous=NORMAL
    assert "unsafe" in heat and "power-loss-safe" in heat


def test_grid_heatmap_is_complete(grid_run):
    page = render(grid_run)
    heat = page.select_one("#chart-heatmap-figure svg").get_text(" ")
    assert "not run" not in heat


def test_throughput_chart_has_a_line_per_journal_mode(grid_run):
    page = render(grid_run)
    svg = page.select_one("#chart-throughput-figure svg").get_text(" ")
    assert "WAL" in svg and "DELETE" in svg
    caption = page.select_one("#chart-throughput-figure figcaption").get_text(" ", strip=True)
    assert "one line per journal mode" in caption
    rows = valid_rows(grid_run)
    at4 = rows[(rows["workers"] == 4) & (rows["job_type"] == "noop")
               & (rows["synchronous"] == "normal")]
    wal = at4[at4["journal_mode"] == "wal"]["jobs_per_sec"].median()
    delete = at4[at4["journal_mode"] == "delete"]["jobs_per_sec"].median()
    assert f"at 4 workers WAL is {wal / delete:.2f}× as fast as DELETE (95% CI " in caption


def test_auto_sized_job_counts_do_not_split_the_charts():
    # The sweep sizes `jobs = "auto"` per configuration: counts differ, yet jobs is no
    # setting, so the charts must still compare configurations across it.
    results = fx.make_results({"workers": [1, 2, 4], "journal_mode": ["wal", "delete"]},
                              jobs_auto=True)
    assert results.rows["jobs"].nunique() > 1
    page = render(results)
    drawn = [f["data-chart"] for f in page.select("#charts figure")]
    assert drawn == ["throughput", "lock-wait", "lock-sites", "heatmap", "trial-order"]
    headers = [th.find(string=True, recursive=False)
               for th in page.select("#results-table thead th")]
    assert "jobs per trial" in headers
    effects = [e["data-dimension"] for e in page.select("#effects li")]
    assert set(effects) == {"workers", "journal_mode"}


# ---------------------------------------------------------------------------
# Summary numbers


def _expected_best(results, job_type):
    """The recommended configuration, computed from the rows independently of the report:
    3+ trials, all valid, safe and on disk; of those whose CI overlaps the fastest one's,
    the fewest processes, then threads, then the most durable."""
    rows = results.rows
    rows = rows[(rows["job_type"] == job_type) & (rows["mode"] == "drain")
                & (rows["durability"] != "unsafe") & (~rows["location"].isin(["tmpfs", "memory"]))]
    eligible = {}
    for config_id, part in rows.groupby("config_id"):
        if len(part) >= 3 and part["valid"].astype(bool).all():
            values = list(part.sort_values("repetition")["jobs_per_sec"])
            eligible[config_id] = (part.iloc[0], values, bootstrap_median(values))
    best = max(eligible.values(), key=lambda e: e[2].estimate)[2]
    ties = [k for k, (_, _, ci) in eligible.items()
            if ci.low <= best.high and best.low <= ci.high]
    durability = ["power-loss-safe", "crash-safe"]
    config_id = min(ties, key=lambda k: (eligible[k][0]["workers"], eligible[k][0]["concurrency"],
                                         durability.index(eligible[k][0]["durability"]),
                                         -eligible[k][2].estimate))
    return config_id, eligible[config_id][1]


@pytest.mark.parametrize("fixture", ["oat_run", "grid_run"])
def test_summary_numbers_match_the_data(fixture, request):
    results = request.getfixturevalue(fixture)
    page = render(results)
    cards = page.select("#summary article.rec")
    job_types = sorted(set(results.rows["job_type"]), key=["noop", "cpu", "io", "mixed"].index)
    assert [c["data-job-type"] for c in cards] == job_types
    for card in cards:
        config_id, values = _expected_best(results, card["data-job-type"])
        assert card["data-config-id"] == config_id
        assert float(card["data-jobs-per-sec"]) == pytest.approx(statistics.median(values))
        headline = card.select_one(".headline").get_text(" ", strip=True)
        assert headline == f"{num.number(statistics.median(values))} jobs/s"
        ci = bootstrap_median(values)
        assert (f"95% CI {num.number(ci.low)}–{num.number(ci.high)} jobs/s"
                in card.select_one(".ci").get_text(" ", strip=True))
        rows = results.rows[results.rows["config_id"] == config_id].iloc[0]
        assert worker_command({k: num.plain_value(rows[k]) for k in rows.index}) in \
            card.select_one("pre.cmd").get_text().replace(" \\\n    ", " ")


def test_summary_facts(oat_run, oat_page):
    facts = {f.dt.get_text(strip=True): f.dd.get_text(" ", strip=True)
             for f in oat_page.select("#summary .fact")}
    assert facts["Machine"].startswith("bench-host")
    assert facts["Date"].startswith("2025-11-27 10:00")
    assert facts["Profile"].startswith("test")
    assert facts["Duration"] == "3 min 25 s"
    valid = int(oat_run.rows["valid"].sum())
    assert facts["Trials"] == f"{valid} valid 1 invalid · 1 configuration skipped"


def test_recommended_command_uses_the_worker_flags():
    config = {"workers": 4, "concurrency": 8, "polling_interval": 0.05, "journal_mode": "wal",
              "synchronous": "full", "cache_size": -64000}
    command = worker_command(config)
    assert command == (
        "gigq --db /var/lib/myapp/jobs.db worker --processes 4 --concurrency 8 "
        "--polling-interval 0.05 --journal-mode wal --synchronous full --cache-size -64000")
    assert "--cache-size" not in worker_command({**config, "cache_size": None})
    assert "--processes" not in worker_command({**config, "workers": 1})
    # the flags are the gigq CLI's own: it parses them to these settings
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert (args.processes, args.concurrency, args.polling_interval) == (4, 8, 0.05)
    assert (args.journal_mode, args.synchronous, args.cache_size) == ("wal", "full", -64000)


def test_more_than_one_worker_says_to_run_that_many_processes(grid_run):
    page = render(grid_run)
    text = " ".join(c.get_text(" ", strip=True) for c in page.select("#summary article.rec"))
    card = page.select_one("#best-noop")
    best = grid_run.rows[grid_run.rows["config_id"] == card["data-config-id"]].iloc[0]
    assert best["workers"] > 1
    assert f"--processes {best['workers']} starts {best['workers']} worker processes" in text
    assert f"--processes {best['workers']}" in card.select_one("pre.cmd").get_text()


def test_unsafe_and_ram_configurations_are_never_recommended(oat_page):
    noop = oat_page.select_one("#best-noop")
    assert "crash-safe" in noop.h4.get_text()
    alternatives = noop.select(".alts li")
    text = " ".join(li.get_text(" ", strip=True) for li in alternatives)
    # tmpfs is the fastest, but lives in RAM: shown as an unsafe alternative with the reason.
    assert "unsafe" in text and "tmpfs is RAM" in text
    assert "power-loss-safe" in text and "synchronous=FULL" in text


def test_largest_effect_is_the_ratio_of_medians():
    # 6 repetitions: the badge's paired test cannot reach p <= 0.05 from 5 pairs.
    results = fx.make_results({"journal_mode": ["wal", "delete"]}, base={"workers": 4},
                              repeat=6)
    page = render(results)
    effects = page.select("#effects li")
    assert len(effects) == 1
    rows = valid_rows(results)
    wal = rows[rows["journal_mode"] == "wal"]["jobs_per_sec"].median()
    delete = rows[rows["journal_mode"] == "delete"]["jobs_per_sec"].median()
    text = effects[0].get_text(" ", strip=True)
    assert text.startswith("WAL vs DELETE (noop jobs, 4 workers, 1 thread per worker): "
                           f"{wal / delete:.2f}× (95% CI ")
    assert "clear effect" in text
    assert float(effects[0]["data-ratio"]) == pytest.approx(wal / delete)


def test_three_largest_effects_one_per_setting(oat_page):
    effects = oat_page.select("#effects li")
    assert len(effects) == 3
    dims = [e["data-dimension"] for e in effects]
    assert len(set(dims)) == 3 and "job_type" not in dims
    ratios = [float(e["data-ratio"]) for e in effects]
    assert ratios == sorted(ratios, reverse=True) and all(r >= 1 for r in ratios)


def test_interrupted_sweep_is_flagged():
    results = fx.make_results({"workers": [1, 2]})
    results.spec["interrupted"] = True
    assert "The sweep was interrupted" in render(results).select_one("#summary").get_text()


def test_single_repetition_warns_and_claims_no_interval():
    results = fx.make_results({"workers": [1, 2]}, repeat=1)
    page = render(results)
    assert "ran once" in page.select_one("#summary").get_text(" ")
    # One trial per configuration is too few to recommend anything (3 are needed).
    card = page.select_one(".rec").get_text(" ", strip=True)
    assert "Nothing to recommend" in card and "3+ valid trials" in card
    assert "not recommended: only 1 valid trial (needs at least 3)" in card
    assert "no interval" in page.select_one("#effects").get_text(" ")


# ---------------------------------------------------------------------------
# Correctness and durability


def test_every_invalid_trial_is_listed_with_its_reason(oat_run, oat_page):
    invalid = oat_run.rows[~oat_run.rows["valid"]]
    listed = oat_page.select("#invalid-trials tbody tr")
    assert len(listed) == len(invalid) == 1
    cells = [td.get_text(" ", strip=True) for td in listed[0].find_all("td")]
    assert cells[0] == invalid.iloc[0]["trial_id"]
    assert cells[-1] == LOST and cells[3] == "397 of 400"
    assert "4 workers" in cells[2]
    row = oat_page.select_one("#results-table tr.invalid")
    assert row is not None and invalid.iloc[0]["trial_id"] in row.get_text()


def test_invalid_trials_are_left_out_of_medians(oat_run, oat_page):
    rows = oat_run.rows
    config_id = rows[~rows["valid"]].iloc[0]["config_id"]
    good = rows[(rows["config_id"] == config_id) & rows["valid"]]["jobs_per_sec"]
    table = oat_page.select_one("#durability-table")
    headers = [th.get_text(" ", strip=True) for th in table.select("thead th")]
    col = headers.index("throughput jobs/s, median")
    valid_col = headers.index("valid trials")
    workers_col = headers.index("workers")
    matching = [tr for tr in table.select("tbody tr")
                if tr.find_all("td")[workers_col].get_text() == "4"]
    assert len(matching) == 1
    cells = matching[0].find_all("td")
    assert float(cells[col]["data-sort"]) == pytest.approx(good.median())
    assert cells[valid_col].get_text() == "2/3"


def test_durability_class_next_to_speed_for_every_configuration(oat_run, oat_page):
    table = oat_page.select_one("#durability-table")
    assert len(table.select("tbody tr")) == oat_run.rows["config_id"].nunique()
    headers = [th.get_text(" ", strip=True) for th in table.select("thead th")]
    dur = headers.index("durability")
    sync = headers.index("synchronous")
    for tr in table.select("tbody tr"):
        cells = tr.find_all("td")
        if cells[sync].get_text() == "OFF":
            assert cells[dur].get_text(strip=True) == "unsafe"
        if cells[sync].get_text() == "FULL":
            assert cells[dur].get_text(strip=True) == "power-loss-safe"


def test_skipped_configurations_are_listed_with_the_reason(oat_page):
    rows = oat_page.select("#skipped tbody tr")
    assert len(rows) == 1
    assert "on memory" in rows[0].get_text(" ", strip=True)
    assert "WAL is not available for :memory:" in rows[0].get_text()


def test_all_valid_run_says_so(grid_run):
    page = render(grid_run)
    assert "passed verification" in page.select_one("#all-valid").get_text()
    assert not page.select("#invalid-trials")


# ---------------------------------------------------------------------------
# All results, environment


def test_results_table_has_every_trial_with_units(oat_run, oat_page):
    table = oat_page.select_one("#results-table")
    assert "sortable" in table["class"]
    assert len(table.select("tbody tr")) == len(oat_run.rows)
    units = {th.find(string=True, recursive=False): th.select_one(".unit").get_text()
             for th in table.select("thead th") if th.select_one(".unit")}
    assert units["throughput"] == "jobs/s"
    assert units["wait p95"] == "ms"
    assert units["lock-wait share"] == "%"
    assert units["CPU per 1k jobs"] == "CPU s"
    headers = [th.find(string=True, recursive=False) for th in table.select("thead th")]
    for cell_header in ("job type", "workers", "journal", "rep.", "valid", "durability"):
        assert cell_header in headers
    # numeric cells sort by their raw value, not the formatted text
    col = headers.index("throughput")
    first = table.select("tbody tr")[0].find_all("td")[col]
    assert float(first["data-sort"]) > 0


def test_environment_and_exact_command(oat_run, oat_page):
    env = oat_page.select_one("#environment")
    assert env.select_one("#command").get_text(strip=True) == oat_run.spec["command"]
    text = env.get_text(" ", strip=True)
    for value in ("3.40.1", "abc1234", "ext4", "/dev/shm", "24.0 GiB", "Test CPU @ 2.0GHz",
                  "gigq 1.0.0.dev0 · /usr/bin/python3", "io ms 10.0"):
        assert value in text
    assert "interrupted" not in text
    assert "gigq-bench report" in text


# ---------------------------------------------------------------------------
# Bad input and empty results


def test_empty_result_set_renders_a_report_that_says_so(tmp_path):
    run = fx.write_run(fx.all_skipped(), tmp_path / "run")
    out = render_from_path(run)
    assert out == run / "index.html"
    page = assert_well_formed(out.read_text())
    message = page.select_one("#no-results").get_text(" ", strip=True)
    assert "No valid trials" in message and "skipped" in message
    assert page.select_one("#no-charts") is not None
    assert not page.select("svg")
    assert "WAL is not available for :memory:" in page.select_one("#skipped").get_text()


def test_all_trials_invalid_renders_a_report_that_says_so():
    results = fx.make_results({}, repeat=2, invalid=[({}, 1, LOST), ({}, 2, LOST)])
    page = render(results)
    assert "Every one of the 2 trials failed verification" in \
        page.select_one("#no-results").get_text(" ", strip=True)
    assert len(page.select("#invalid-trials tbody tr")) == 2
    assert not page.select("#summary article.rec")


def test_directory_without_results_is_a_clear_error(tmp_path):
    with pytest.raises(ResultsError, match=r"holds no results\.json"):
        render_from_path(tmp_path)
    assert not (tmp_path / "index.html").exists()


@pytest.mark.parametrize(("version", "hint"), [(2, "upgrade"), (0, "re-run")])
def test_other_format_version_is_a_clear_error(tmp_path, version, hint):
    run = fx.write_run(fx.make_results({"workers": [1, 2]}), tmp_path)
    doc = json.loads((run / "results.json").read_text())
    doc["format_version"] = version
    (run / "results.json").write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match=f"format {version}.*{hint}"):
        render_from_path(run / "results.json")


def test_render_report_to_a_file_or_a_directory(tmp_path, oat_run):
    to_dir = render_report(oat_run, tmp_path)
    assert to_dir == tmp_path / "index.html"
    to_file = render_report(oat_run, tmp_path / "sub" / "report.html")
    assert to_file.read_text() == to_dir.read_text()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["index.html", "report.html", "sub"]


def test_render_report_accepts_a_run_directory(tmp_path, oat_run):
    # The form `gigq-bench sweep` uses: render_report(run_dir) -> run_dir/index.html
    run = fx.write_run(oat_run, tmp_path / "run")
    assert render_report(run) == run / "index.html"
    assert render_report(run / "results.json", tmp_path / "copy.html").exists()
    with pytest.raises(ResultsError):
        render_report(tmp_path / "missing")
    with pytest.raises(ValueError, match="out_path"):
        render_report(fx.make_results({}))


def test_report_of_a_saved_run_carries_its_csv_and_json(tmp_path, oat_run):
    # The downloads are data: URLs of the saved files, so a mailed copy still has them.
    run = fx.write_run(oat_run, tmp_path / "run")
    page = assert_well_formed(render_from_path(run).read_text())
    for name in ("results.csv", "results.json"):
        link = page.select_one(f'#results a[download="{name}"]')
        head, _, data = link["href"].partition(",")
        assert head.startswith("data:") and head.endswith(";base64")
        assert base64.b64decode(data) == (run / name).read_bytes()
    reloaded = analyse(load_results(run))
    assert reloaded.valid == int(oat_run.rows["valid"].sum())


# ---------------------------------------------------------------------------
# Formatting


@pytest.mark.parametrize(("value", "label"), [
    (None, "default"), (-64000, "62.5 MiB"), (-2048, "2 MiB"), (-500, "500 KiB"),
    (2000, "2,000 pages"), (-64000.0, "62.5 MiB"), (float("nan"), "default"),
])
def test_cache_size_labels(value, label):
    assert num.cache_label(value) == label


@pytest.mark.parametrize(("value", "text"), [
    (1234.5, "1,234"), (81.04, "81.0"), (0.0123, "0.0123"), (0, "0"), (None, "–"),
    (float("nan"), "–"), (7, "7"),
])
def test_numbers(value, text):
    assert num.number(value) == text


def test_shell_lines_keep_a_pasteable_command():
    cmd = "gigq worker --concurrency 8 --polling-interval 0.05 --journal-mode wal"
    wrapped = fmt.shell_lines(cmd, width=30)
    assert wrapped.count("\\\n") >= 1
    assert wrapped.replace(" \\\n    ", " ") == cmd


def test_lock_wait_share_is_shown_in_percent():
    assert fmt.metric_value("lock_wait_share", 0.125) == "12.5%"
    assert fmt.metric_label("lock_wait_share") == "lock-wait share (%)"
    assert fmt.metric_value("jobs_per_sec", 812.4) == "812 jobs/s"


def test_report_files_are_all_in_the_package(tmp_path):
    templates = Path(fmt.__file__).parent / "templates"
    assert {p.name for p in templates.iterdir()} >= {
        "base.html.j2", "index.html.j2", "macros.html.j2", "report.css", "table.js"}


# ---------------------------------------------------------------------------
# The command (python -m gigq.bench.report / gigq-bench report)


def test_report_command_writes_the_page_and_prints_its_path(tmp_path, oat_run):
    from click.testing import CliRunner

    from gigq.bench.report.cli import report_command

    run = fx.write_run(oat_run, tmp_path / "run")
    result = CliRunner().invoke(report_command, [str(run)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Report: {run / 'index.html'}"
    out = tmp_path / "elsewhere" / "page.html"
    result = CliRunner().invoke(report_command, [str(run / "results.json"), "--out", str(out)])
    assert result.exit_code == 0 and out.exists()


def test_report_command_says_what_is_wrong_with_bad_input(tmp_path):
    from click.testing import CliRunner

    from gigq.bench.report.cli import report_command

    result = CliRunner().invoke(report_command, [str(tmp_path)])
    assert result.exit_code == 2
    assert "holds no results.json" in result.output
    (tmp_path / "results.json").write_text('{"format": "something-else"}')
    result = CliRunner().invoke(report_command, [str(tmp_path)])
    assert result.exit_code == 2
    assert "is not a gigq-bench results file" in result.output


def test_report_command_opens_the_page_in_the_browser(tmp_path, oat_run, monkeypatch):
    import webbrowser

    from click.testing import CliRunner

    from gigq.bench.report.cli import report_command

    opened = tmp_path / "opened.txt"
    fake = tmp_path / "fake-browser"
    fake.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(fake))
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # re-read $BROWSER
    run = fx.write_run(oat_run, tmp_path / "run")
    result = CliRunner().invoke(report_command, [str(run), "--open"])
    assert result.exit_code == 0, result.output
    for _ in range(100):  # the browser command runs in the background
        if opened.exists() and opened.read_text().strip():
            break
        time.sleep(0.05)
    assert opened.read_text().strip() == (run / "index.html").resolve().as_uri()


def test_specialised_workers_chart_only_when_queues_were_swept(oat_page):
    assert not oat_page.select('#charts [data-chart="queues"]')
    results = fx.make_results({"queues": [1, 2, 4]}, repeat=2)
    page = render(results)
    figure = page.select_one('#charts figure[data-chart="queues"]')
    assert figure is not None and figure.select_one("svg")
    caption = figure.get_text(" ", strip=True)
    assert "2 queues:" in caption and "4 queues:" in caption
    assert "dedicating workers to queues" in caption


def test_process_isolation_chart_only_when_isolation_was_swept(oat_page):
    assert not oat_page.select('#charts [data-chart="isolation"]')
    page = render(fx.make_results({"isolation": ["thread", "process"]}, repeat=3))
    figure = page.select_one('#charts figure[data-chart="isolation"]')
    assert figure is not None and figure.select_one("svg")
    assert "isolation=process" in figure.get_text(" ", strip=True)


def test_lease_chart_only_when_the_lease_was_swept(oat_page):
    assert not oat_page.select('#charts [data-chart="leases"]')
    page = render(fx.make_results({"lease_timeout": [30.0, 3.0, 1.0]},
                                  base={"lease_timeout": 30.0}, repeat=3))
    figure = page.select_one('#charts figure[data-chart="leases"]')
    assert figure is not None and figure.select_one("svg")
    caption = figure.get_text(" ", strip=True)
    assert "Against 30 s: 1 s:" in caption and "; 3 s:" in caption


def test_a_dimension_defined_only_in_space_is_labelled_and_phrased_from_its_definition(
        monkeypatch):
    # Adding a dimension takes its Dimension entry (plus the code that runs it): the
    # report's headers, values and phrases all come from that one definition.
    from gigq.bench.sweep import space

    prefetch = space.Dimension("prefetch", space._int("prefetch", 0), "jobs claimed ahead",
                               default=0, quiet=True, label="jobs claimed ahead",
                               short_label="prefetch", phrase="{value} claimed ahead",
                               show=lambda v: f"{v} ahead")
    monkeypatch.setitem(space.DIMENSIONS, "prefetch", prefetch)
    results = fx.make_results({"prefetch": [0, 8]}, base={"prefetch": 0}, repeat=5)
    page = BeautifulSoup(render_html(results), "html.parser")
    # The trials table leads with configuration, jobs/s, interval and valid; the swept
    # dimension's own column follows them.
    headers = [th for th in page.select("#results thead tr:first-child th")
               if th.get_text(strip=True) == "prefetch"]
    assert len(headers) == 1
    header = headers[0]
    assert header.get("title") == "jobs claimed ahead"
    cells = {td.get_text(strip=True) for td in page.select("#results td")}
    assert {"0 ahead", "8 ahead"} <= cells
    text = page.get_text(" ", strip=True)
    assert "8 claimed ahead" in text
    assert fmt.setting_phrase("prefetch", 1) == "1 claimed ahead"
