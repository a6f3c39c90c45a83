"""The one rule that picks the recommended configuration per job type, on synthetic
trials whose answer is known, and the sweep summary and the report agreeing on it."""

from __future__ import annotations

import subprocess

import pytest
from bs4 import BeautifulSoup

from gigq.bench.html import format as fmt
from gigq.bench.html.format import shell_lines
from gigq.bench.recommend import (
    EXAMPLE_DB,
    MIN_VALID_TRIALS,
    Candidate,
    candidates,
    choose,
    example_db,
    explain,
    invalid_notes,
    why_not_best,
    why_not_fastest,
    worker_command,
)
from gigq.bench.report import render_html
from gigq.bench.report.figures import _pick_slice
from gigq.bench.report.insights import analyse, largest_effects
from gigq.bench.results import Results
from gigq.bench.sweep.plan import rows_frame
from gigq.bench.sweep.space import DEFAULT_BASE, canonical_config, config_id, describe
from gigq.bench.sweep.summary import summary_text
from gigq.cli import parse_args


def cand(key, rates, *, workers=1, threads=1, durability="crash-safe", invalid=0,
         job_type="noop", **values):
    """A configuration with these valid jobs/s and ``invalid`` more failed trials."""
    settings = {"job_type": job_type, "mode": "drain", "workers": workers,
                "concurrency": threads, **values}
    return Candidate(key, settings, list(rates), len(rates) + invalid, durability)


def only(candidates):
    (choice,) = choose(candidates)
    return choice


def test_the_cheapest_of_the_ties_is_recommended_and_the_ties_are_named():
    # Three configurations the data cannot tell apart, one clearly slower.
    four = cand("p4", [1010, 1000, 990, 1020, 1005], workers=4, threads=2)
    two = cand("p2", [1000, 985, 1012, 995, 1003], workers=2, threads=2)
    one = cand("p1t4", [995, 1008, 990, 1001, 1010], workers=1, threads=4)
    slow = cand("slow", [500, 510, 490, 505, 495], workers=1, threads=1)
    choice = only([four, two, one, slow])
    assert choice.recommended is one
    assert [c.key for c in choice.ties] == ["p1t4", "p2", "p4"]
    assert [c.key for c in choice.others] == ["p2", "p4"]
    assert choice.fastest is four


def test_four_processes_overlapping_one_recommend_one():
    # The case: --processes 4 was recommended on a 2-core machine though one
    # process was inside the same interval.
    four = cand("p4", [2100, 1900, 2050, 1950, 2000], workers=4)
    one = cand("p1", [1980, 1900, 2010, 1870, 1940], workers=1)
    choice = only([four, one])
    assert four.interval.estimate > one.interval.estimate
    assert choice.recommended is one and choice.others == [four]


def test_a_clearly_faster_costlier_configuration_wins():
    four = cand("p4", [4000, 4100, 3950, 4050, 4020], workers=4)
    one = cand("p1", [1000, 1010, 990, 1005, 995], workers=1)
    choice = only([four, one])
    assert choice.recommended is four and choice.ties == [four]


def test_the_more_durable_of_two_equally_cheap_ties_is_recommended():
    normal = cand("normal", [1000, 1010, 990, 1005], durability="crash-safe")
    full = cand("full", [995, 1000, 985, 1002], durability="power-loss-safe")
    assert only([normal, full]).recommended is full


def test_one_valid_trial_of_five_is_never_recommended():
    # Its single surviving trial is by far the fastest, with a zero-width "interval".
    lucky = cand("lucky", [9000], invalid=4)
    steady = cand("steady", [1000, 1010, 990, 1005, 995])
    choice = only([lucky, steady])
    assert choice.recommended is steady and choice.fastest is lucky
    assert lucky.ineligible() == "4 of 5 trials invalid or unmeasured"


def test_any_invalid_trial_makes_a_configuration_ineligible():
    flaky = cand("flaky", [3000, 3100, 2900, 3050], invalid=1)
    steady = cand("steady", [1000, 1010, 990, 1005])
    assert only([flaky, steady]).recommended is steady
    assert flaky.ineligible() == "1 of 5 trials invalid or unmeasured"


@pytest.mark.parametrize("n", range(1, MIN_VALID_TRIALS))
def test_fewer_than_three_valid_trials_are_not_enough(n):
    few = cand("few", [3000 + i for i in range(n)])
    enough = cand("enough", [1000, 1010, 990])
    assert only([few, enough]).recommended is enough
    assert "needs at least 3" in few.ineligible()


def test_unsafe_winners_are_never_recommended():
    unsafe = cand("off", [5000, 5100, 4900], durability="unsafe")
    safe = cand("wal", [1000, 1010, 990])
    choice = only([unsafe, safe])
    assert choice.recommended is safe and choice.fastest is unsafe
    assert "unsafe" in unsafe.ineligible()


def test_only_unsafe_configurations_recommend_nothing_and_say_why():
    choice = only([cand("off", [5000, 5100, 4900], durability="unsafe"),
                   cand("lucky", [9000], invalid=2)])
    assert choice.recommended is None and choice.ties == []
    assert "3+ valid trials" in choice.reason and "crash-safe" in choice.reason


def test_each_job_type_and_version_gets_its_own_choice_and_steady_rows_are_ignored():
    choices = choose([
        cand("noop", [1000, 1010, 990]), cand("io", [300, 310, 290], job_type="io"),
        cand("io-b", [600, 610, 590], job_type="io", version="b"),
        Candidate("steady", {"job_type": "cpu", "mode": "steady"}, [50, 50, 50], 3,
                  "crash-safe"),
    ])
    assert [(c.job_type, c.version, c.recommended.key) for c in choices] == [
        ("noop", None, "noop"), ("io", None, "io"), ("io", "b", "io-b")]


# -- the summary and the report say the same --------------------------------------------


def _rows(config, rates, durability="crash-safe", invalid=0):
    config = canonical_config({**DEFAULT_BASE, **config})
    rows = []
    for rep, rate in enumerate(list(rates) + [None] * invalid, start=1):
        rows.append({**config, "jobs": 1000, "config_id": config_id(config),
                     "trial_id": f"{config_id(config)}-{rep}", "repetition": rep,
                     "order": rep, "version": "current", "jobs_per_sec": rate,
                     "durability": durability, "valid": rate is not None,
                     "invalid_reason": None if rate is not None else "3 jobs never ran",
                     "end_to_end_p50_ms": 5.0, "end_to_end_p95_ms": 9.0})
    return rows


def test_the_sweep_summary_and_the_report_recommend_the_same_configuration():
    one = {"workers": 1, "concurrency": 1}
    rows = [
        *_rows({"workers": 4}, [2100, 1900, 2050, 1950, 2000]),
        *_rows(one, [1980, 1900, 2010, 1870, 1940]),
        *_rows({"workers": 2}, [9000], invalid=4),
        *_rows({"workers": 1, "location": "memory", "journal_mode": "memory"},
               [8000, 8100, 7900, 8050, 7950], durability="unsafe"),
        *_rows({"workers": 1, "concurrency": 4, "job_type": "io"}, [300, 310, 305, 295]),
    ]
    results = Results(rows=rows_frame(rows), spec={"base": DEFAULT_BASE})
    recs = analyse(results).recommendations
    top = {job: next(r for r in rs if r.recommended) for job, rs in recs.items()}
    assert set(top) == {"noop", "io"}
    expected = config_id(canonical_config({**DEFAULT_BASE, **one}))
    assert top["noop"].config.key == expected
    assert top["noop"].tied == 1 and top["noop"].ties[0].values["workers"] == 4
    assert "4 workers" in top["noop"].tie_phrases()[0]
    text = summary_text(results)
    block = text.split("Recommended configuration per job type")[1]
    noop = block.split("\n  noop: ")[1]
    assert noop.startswith("1,940 jobs/s") and "crash-safe, n=5" in noop
    assert "tied (within the interval, but not cheaper): 1" in noop
    assert ("fastest measured: 9,000 jobs/s [9,000-9,000], crash-safe, n=1 — not "
            "recommended: 4 of 5 trials invalid or unmeasured") in noop
    assert "\n  io: 302 jobs/s" in block


def test_summary_and_report_agree_when_trials_recorded_no_durability_class():
    # Trials that recorded no class (results written before they did): the page used
    # to derive it from the settings (WAL + NORMAL on disk: crash-safe) and recommend a
    # configuration, while the summary called every such configuration unsafe and
    # recommended nothing. Both now derive the class the same way.
    rows = [
        *_rows({"workers": 1}, [1000, 1010, 990, 1005, 995], durability=None),
        *_rows({"workers": 2}, [1500, 1510, 1490, 1505, 1495], durability=None),
        *_rows({"workers": 1, "synchronous": "off"}, [3000, 3010, 2990, 3005, 2995],
               durability=None),
    ]
    results = Results(rows=rows_frame(rows), spec={"base": DEFAULT_BASE})
    recs = analyse(results).recommendations
    page = next(r for r in recs["noop"] if r.recommended).config
    assert page.values["workers"] == 2 and page.durability == "crash-safe"
    block = summary_text(results).split("Recommended configuration per job type")[1]
    noop = block.split("\n  noop: ")[1]
    assert noop.startswith("1,500 jobs/s") and "crash-safe, n=5" in noop
    assert noop.split("\n")[1].strip() == describe(page.values, None)
    # synchronous=OFF is derived unsafe on both sides: the fastest, never recommended.
    assert "fastest measured: 3,000 jobs/s" in noop and "durability unsafe" in noop


# -- the rule's defence: ties named, why the fastest lost, invalid trials, the command ----


def test_the_card_says_why_four_processes_lost_to_one():
    four = cand("p4", [4229, 4457, 3664, 4300, 4100], workers=4)
    one = cand("p1", [3938, 4522, 3493, 3900, 4000], workers=1)
    choice = only([four, one])
    assert choice.best is four and choice.recommended is one
    assert why_not_best(choice) == ("4 workers measured 4,229 jobs/s, within the interval "
                                    "of 1 worker: the cheaper one is recommended")
    assert why_not_fastest(choice) == ""  # the fastest is eligible: only the tie to defend
    assert explain(choice) == [why_not_best(choice)]


def test_a_more_durable_tie_is_defended_as_more_durable():
    normal = cand("normal", [1010, 1020, 1000, 1015], durability="crash-safe",
                  synchronous="normal")
    full = cand("full", [995, 1000, 985, 1002], durability="power-loss-safe",
                synchronous="full")
    choice = only([normal, full])
    assert choice.recommended is full
    assert why_not_best(choice).endswith("the more durable one is recommended")
    assert why_not_best(choice).startswith("synchronous=NORMAL measured 1,012 jobs/s")


def test_nothing_to_defend_when_the_fastest_is_recommended():
    choice = only([cand("p4", [4000, 4100, 3950], workers=4),
                   cand("p1", [1000, 1010, 990], workers=1)])
    assert explain(choice) == [] and invalid_notes(choice) == []


def test_ties_count_only_eligible_configurations():
    # tmpfs and a flaky run overlap the recommended one's interval: they are no ties.
    one = cand("p1", [1000, 1010, 990, 1005], workers=1)
    two = cand("p2", [1002, 1008, 995, 1001], workers=2)
    ram = cand("tmpfs", [1004, 1009, 992, 1003], durability="unsafe", location="tmpfs")
    flaky = cand("flaky", [1001, 1006, 998], workers=4, invalid=1)
    choice = only([one, two, ram, flaky])
    assert choice.recommended is one and choice.others == [two]


def test_a_faster_configuration_with_one_invalid_trial_is_named_on_the_card():
    flaky = cand("flaky", [3000, 3100, 2900, 3050], workers=2, invalid=1)
    good = cand("good", [1000, 1010, 990, 1005], workers=1)
    choice = only([flaky, good])
    assert choice.recommended is good and choice.fastest is flaky
    assert why_not_fastest(choice) == ("2 workers measured 3,025 jobs/s but is not "
                                       "recommended: 1 of 5 trials invalid or unmeasured")
    (note,) = invalid_notes(choice)
    assert note.startswith("1 of 5 trials of 2 workers failed verification")
    assert "never recommended" in note and "from its 4 valid trials" in note


def test_invalid_notes_stop_at_the_limit_and_say_how_many_more():
    flawed = [cand(f"f{w}", [900 + w, 905, 910], workers=w, invalid=1) for w in range(2, 7)]
    choice = only([cand("good", [1000, 1010, 990]), *flawed])
    notes = invalid_notes(choice, limit=3)
    assert len(notes) == 4 and notes[-1] == "… and 2 more configurations with invalid trials"


def test_unsafe_fastest_is_explained_and_the_safe_one_recommended():
    off = cand("off", [5000, 5100, 4900], durability="unsafe", synchronous="off")
    safe = cand("safe", [1000, 1010, 990], synchronous="normal")
    choice = only([off, safe])
    assert choice.recommended is safe
    assert why_not_fastest(choice) == ("synchronous=OFF measured 5,000 jobs/s but is not "
                                       "recommended: durability unsafe: a crash can lose jobs")


def test_only_unsafe_or_invalid_configurations_explain_nothing_but_the_reason():
    choice = only([cand("off", [5000, 5100, 4900], durability="unsafe"),
                   cand("flaky", [3000, 3100, 2900], invalid=1)])
    assert choice.recommended is None and explain(choice) == []
    assert choice.reason and invalid_notes(choice)[0].startswith("1 of 4 trials of flaky")


def test_steady_rows_are_no_candidates():
    rows = [*_rows({"workers": 1}, [1000, 1010, 990]),
            *_rows({"workers": 2, "mode": "steady", "arrival_rate": 200.0, "duration": 3.0},
                   [200, 200, 200])]
    results = Results(rows=rows_frame(rows), spec={"base": DEFAULT_BASE})
    assert [c.values["mode"] for c in candidates(results)] == ["drain"]


def shell_words(printed: str) -> list[str]:
    """The words a POSIX shell passes to ``gigq`` for a pasted command (bash parses it)."""
    out = subprocess.run(["bash", "-c", "gigq() { printf '%s\\0' \"$@\"; }\n" + printed],
                         capture_output=True, text=True, check=True).stdout
    return out.split("\0")[:-1]


@pytest.mark.parametrize("settings", [
    {"workers": 4, "concurrency": 8, "polling_interval": 0.05, "journal_mode": "wal",
     "synchronous": "full", "cache_size": -64000},
    {"workers": 1, "concurrency": 1, "polling_interval": 1.0, "journal_mode": "delete",
     "synchronous": "normal", "cache_size": None},
])
def test_the_printed_command_runs_as_printed_through_the_gigq_parser(settings):
    command = worker_command(settings)
    assert command.startswith(f"gigq --db {EXAMPLE_DB} worker")
    # As the card shows it: wrapped with backslash continuations.
    words = shell_words(shell_lines(command))
    args = parse_args(words)
    assert args.command == "worker" and args.db == EXAMPLE_DB
    assert not args.db.startswith("reports")
    assert args.processes == (settings["workers"] if settings["workers"] > 1 else None)
    assert (args.concurrency, args.polling_interval) == (settings["concurrency"],
                                                         settings["polling_interval"])
    assert (args.journal_mode, args.synchronous) == (settings["journal_mode"],
                                                     settings["synchronous"])
    assert args.cache_size == settings["cache_size"]


def test_a_named_location_puts_the_database_in_its_directory():
    fs = {"hdd": {"path": "/mnt/hdd", "fs_type": "xfs"},
          "disk": {"path": "/work/reports/x/scratch", "fs_type": "ext4"}}
    assert example_db({"location": "hdd"}, fs) == "/mnt/hdd/jobs.db"
    # disk measured a scratch directory inside the reports folder: never shown.
    assert example_db({"location": "disk"}, fs) == EXAMPLE_DB


def card_results():
    """noop: 4 workers fastest but tied with 1; a flaky 2-worker run faster still; tmpfs
    fastest of all; a steady configuration at 200 jobs/s."""
    rows = [
        *_rows({"workers": 4}, [4229, 4457, 3664, 4300, 4100]),
        *_rows({"workers": 1}, [3938, 4522, 3493, 3900, 4000]),
        *_rows({"workers": 1, "concurrency": 2}, [3950, 4100, 3600, 3990, 3800]),
        *_rows({"workers": 2}, [6000, 6100, 5900, 6050], invalid=1),
        *_rows({"workers": 1, "location": "tmpfs"}, [7000, 7100, 6900, 7050, 6950],
               durability="unsafe"),
        *_rows({"workers": 1, "mode": "steady", "arrival_rate": 200.0, "duration": 3.0},
               [200, 199, 201, 200, 200]),
        *_rows({"workers": 1, "polling_interval": 0.01, "mode": "steady",
                "arrival_rate": 200.0, "duration": 3.0}, [200, 200, 200, 200, 200]),
    ]
    env = {"hostname": "bench-host", "cores": 2, "started_at": "2026-12-01T10:00:00+00:00",
           "filesystems": {"disk": {"path": "/work/reports/run/scratch", "fs_type": "ext4"},
                           "tmpfs": {"path": "/dev/shm", "fs_type": "tmpfs"}}}
    return Results(rows=rows_frame(rows),
                   spec={"profile": "quick", "base": DEFAULT_BASE, "repeat": 5},
                   environment=env)


@pytest.fixture(scope="module")
def card_page():
    results = card_results()
    return results, BeautifulSoup(render_html(results), "html.parser")


def test_the_card_names_each_tie_with_its_jobs_per_second_and_interval(card_page):
    results, page = card_page
    card = page.select_one("#best-noop")
    (rec,) = [r for r in analyse(results).recommendations["noop"] if r.recommended]
    assert rec.config.values["workers"] == 1 and rec.config.values["concurrency"] == 1
    ties = card.select("ul.ties li")
    assert [li["data-config-id"] for li in ties] == [t.key for t in rec.ties]
    assert len(ties) == 2  # 1 worker × 2 threads and 4 workers; not tmpfs, not the flaky one
    text = [li.get_text(" ", strip=True) for li in ties]
    assert text[0].startswith("crash-safe 2 threads per worker: 3,950 jobs/s (95% CI")
    four = rec.ties[1].stats["jobs_per_sec"]
    assert text[1] == (f"crash-safe 4 workers: {fmt.interval('jobs_per_sec', four)}")
    assert "other configurations within this interval" not in card.get_text()


def test_the_card_says_why_the_fastest_is_not_recommended(card_page):
    _, page = card_page
    why = [li.get_text(" ", strip=True) for li in page.select("#best-noop ul.why li")]
    assert why[0].startswith("on tmpfs measured 7,000 jobs/s but is not recommended: "
                             "durability unsafe")
    assert why[1] == ("4 workers measured 4,229 jobs/s, within the interval of 1 worker: "
                      "the cheaper one is recommended.")


def test_the_card_warns_of_invalid_trials_and_never_recommends_them(card_page):
    results, page = card_page
    card = page.select_one("#best-noop")
    flaky = results.rows[results.rows["workers"] == 2]["config_id"].iloc[0]
    assert card["data-config-id"] != flaky
    warning = card.select_one(".invalid-note").get_text(" ", strip=True)
    assert "1 of 5 trials of 2 workers failed verification" in warning
    assert "never recommended" in warning and "Verification" in warning


def test_the_card_command_is_gigq_db_path_worker_outside_the_reports_folder(card_page):
    _, page = card_page
    printed = page.select_one("#best-noop pre.cmd").get_text()
    words = shell_words(printed)
    assert words[:3] == ["--db", EXAMPLE_DB, "worker"]
    args = parse_args(words)
    assert args.db == EXAMPLE_DB and args.processes is None and args.concurrency == 1
    notes = page.select_one("#best-noop").get_text(" ", strip=True)
    assert "/work/reports" not in notes and "replace /var/lib/myapp/jobs.db" in notes


def test_steady_rows_are_marked_and_kept_out_of_every_throughput_comparison(card_page):
    results, page = card_page
    a = analyse(results)
    steady = {c.key for c in a.configs if c.rate_limited}
    assert len(steady) == 2
    # Not recommended, not compared on the card, not an effect, not in a throughput chart.
    assert all(r.config.key not in steady for recs in a.recommendations.values()
               for r in recs for c in [r.config, *r.ties])
    # Only steady configurations vary the polling interval: 200 vs 200 jobs/s is no
    # polling cost, so there is no polling effect and no polling throughput chart.
    assert "polling_interval" in a.swept
    effects = largest_effects(a.configs, a.swept, a.base, limit=10)
    assert effects and all(e.dimension != "polling_interval" for e in effects)
    assert _pick_slice(a.configs, a.swept, a.base, "polling_interval", "jobs_per_sec") is None
    assert _pick_slice(a.configs, a.swept, a.base, "polling_interval", "end_to_end_p50_ms",
                       prefer={"mode": "steady"}) is not None  # latency is steady's to show
    note = page.select_one("#rate-limited-note").get_text(" ", strip=True)
    assert "2 steady-mode configurations are rate-limited" in note and "200 jobs/s" in note
    marked = page.select("#results-table tr.rate-limited")
    assert len(marked) == 10 and all("rate-limited" in tr.get_text() for tr in marked)


def test_the_sweep_summary_defends_the_choice_and_prints_the_command():
    text = summary_text(card_results())
    noop = text.split("\n  noop: ")[1]
    assert f"run: gigq --db {EXAMPLE_DB} worker --concurrency 1" in noop
    assert ("4 workers measured 4,229 jobs/s, within the interval of 1 worker: the cheaper "
            "one is recommended") in noop
    assert "1 of 5 trials of 2 workers failed verification" in noop
    assert "tied (within the interval, but not cheaper): 2" in noop
    words = shell_words(noop.split("run: ")[1].split("\n")[0])
    assert parse_args(words).command == "worker"


def test_trials_too_short_to_trust_are_never_recommended_and_the_card_says_why():
    # The fastest configuration's trials all ran every job once, but in a window too
    # brief for a rate: it is named with that reason, and a trusted one is recommended.
    short = _rows({"workers": 2}, [9000, 9100, 8900, 9050, 8950])
    for row in short:
        row["too_short"] = "12 jobs per thread (fewer than 50)"
    trusted = _rows({"workers": 1}, [1000, 1010, 990, 1005, 995])
    results = Results(rows=rows_frame([*short, *trusted]), spec={"base": DEFAULT_BASE})
    (choice,) = choose(candidates(results))
    assert choice.recommended is not None and choice.recommended.processes == 1
    assert choice.fastest.ineligible() == "5 of 5 trials too short to trust (raise jobs)"
    recs = analyse(results).recommendations["noop"]
    assert next(r for r in recs if r.recommended).config.values["workers"] == 1
    block = summary_text(results).split("Recommended configuration per job type")[1]
    assert "too short to trust" in block


def test_a_run_of_only_too_short_trials_recommends_nothing_and_says_why():
    rows = _rows({"workers": 1}, [1000, 1010, 990])
    for row in rows:
        row["too_short"] = "window 0.06 s"
    results = Results(rows=rows_frame(rows), spec={"base": DEFAULT_BASE})
    (choice,) = choose(candidates(results))
    assert choice.recommended is None and "too short to trust" in choice.reason
