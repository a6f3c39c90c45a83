"""Trials long enough to trust: the jobs = "auto" sizing rule and the too-short flag."""

from __future__ import annotations

import report_fixtures as fx
from bs4 import BeautifulSoup

from gigq.bench import metrics
from gigq.bench.metrics import JobRecord, TrialData, WorkerReport
from gigq.bench.report import render_html
from gigq.bench.sweep import space
from gigq.bench.sweep.locations import Locations, Scratch
from gigq.bench.sweep.plan import Runner, Task, needs_pilot
from gigq.bench.sweep.space import SweepSpec, auto_job_count, canonical_config
from gigq.bench.sweep.summary import summary_text
from gigq.bench.sweep.trial import Harness


def _drain(threads, jobs, seconds, mode="drain"):
    """``jobs`` completed jobs evenly over ``seconds`` from a barrier at 100.0, by
    one process of ``threads`` threads."""
    records = [JobRecord("completed", 1, 99.0, 100.0 + i * seconds / jobs,
                         100.0 + (i + 1) * seconds / jobs) for i in range(jobs)]
    return TrialData(submitted=jobs, submit_seconds=0.1, jobs=records,
                     ledger={i: 1 for i in range(jobs)},
                     workers=[WorkerReport(100.0, 100.0 + seconds, 1.0, threads)],
                     barrier=100.0, mode=mode)


def test_the_sizing_rule_gives_every_thread_many_jobs():
    io64 = canonical_config({**space.DEFAULT_BASE, "job_type": "io", "workers": 1,
                      "concurrency": 64})
    # The defect: 408 jobs at 64 threads from a pilot's 275 jobs/s.
    assert auto_job_count(io64, 275.0, 1.5) == 64 * space.AUTO_JOBS_PER_THREAD
    # A fast configuration is sized by its rate, a failed pilot by the floors.
    assert auto_job_count(io64, 10_000.0, 2.0) == 20_000
    noop = canonical_config(dict(space.DEFAULT_BASE))
    assert auto_job_count(noop, 0.0, 2.0) == space.MIN_AUTO_JOBS
    assert auto_job_count(noop, 1e9, 2.0) == space.MAX_AUTO_JOBS
    assert space.AUTO_JOBS_PER_THREAD >= 2 * metrics.TRUST_JOBS_PER_THREAD


def test_a_drain_is_flagged_too_short_with_the_reason():
    row = metrics.compute(_drain(threads=64, jobs=408, seconds=1.4))
    assert row["too_short"] == "6 jobs per thread (< 20)"
    assert metrics.compute(_drain(threads=64, jobs=6400, seconds=5.0))["too_short"] is None
    assert "0.30 s window" in metrics.compute(_drain(threads=2, jobs=400, seconds=0.3))[
        "too_short"]
    both = metrics.compute(_drain(threads=64, jobs=640, seconds=0.25))["too_short"]
    assert both == "10 jobs per thread (< 20); 0.25 s window (< 0.5 s)"
    # Long enough per thread, but start-up took the first half: 100 jobs in the first
    # second, 900 in the second (e.g. job processes still starting).
    ramp = _drain(threads=4, jobs=1000, seconds=2.0)
    done = [100.0 + (i + 1) / 100 for i in range(100)] + \
           [101.0 + (i + 1) / 900 for i in range(900)]
    ramp.jobs[:] = [j._replace(completed=t) for j, t in zip(ramp.jobs, done, strict=True)]
    assert metrics.half_window_jobs(ramp, 2.0) == (100, 900)
    assert metrics.compute(ramp)["too_short"] == (
        "first half of the window ran 11% of the second half's jobs (< 50%: start-up)")
    # The sizing pilots read the rate once started up: 900 jobs in the last second.
    assert metrics.compute(ramp)["late_jobs_per_sec"] == 900
    # Steady mode's rate is the arrival rate: nothing to flag.
    steady = _drain(threads=64, jobs=408, seconds=1.4, mode="steady")
    assert metrics.compute(steady)["too_short"] is None


def test_an_auto_sized_trial_at_many_threads_is_long_enough(tmp_path):
    scratch = Scratch()
    harness = Harness(Locations(tmp_path / "out"), scratch, timeout=180,
                      job_sizes={"io_ms": 10.0})
    # A short target, where a rate-only rule gives a few jobs per thread.
    spec = SweepSpec(repeat=1, target_seconds=0.3)
    runner = Runner(harness, spec)
    config = canonical_config({**space.DEFAULT_BASE, "job_type": "io", "workers": 1,
                        "concurrency": 32, "polling_interval": 0.1})
    try:
        jobs = runner.size(config)
        row = runner.trial(Task(1, 1, "current", config))
    finally:
        scratch.cleanup()
    assert jobs >= 32 * space.AUTO_JOBS_PER_THREAD
    assert row["valid"] and row["jobs_completed"] == jobs
    # Enough jobs per thread and a long enough window. (Whether the threads were up
    # for most of it depends on the machine's load: that criterion may still flag it.)
    reason = row["too_short"] or ""
    assert "jobs per thread" not in reason and "s window" not in reason, reason


def test_too_short_trials_are_shown_in_the_summary_and_the_trials_table():
    results = fx.make_results()
    rows = results.rows
    rows["too_short"] = None
    rows.loc[rows.index[0], "too_short"] = "6 jobs per thread (< 20)"
    text = summary_text(results)
    assert "Too short to trust (1 valid trials" in text
    assert f"{rows['trial_id'].iloc[0]} {rows['config_id'].iloc[0]}: 6 jobs per thread" in text
    page = BeautifulSoup(render_html(results), "html.parser")
    table = page.select_one("#results-table")
    assert [td.get_text() for td in table.select("tbody td")].count("too short") == 1
    assert table.find(string="6 jobs per thread (< 20)") is not None


def test_one_rule_says_which_configurations_get_a_pilot(tmp_path):
    base = canonical_config(dict(space.DEFAULT_BASE))
    assert needs_pilot({**base, "mode": "drain", "jobs": space.AUTO})
    assert not needs_pilot({**base, "mode": "drain", "jobs": 500})
    assert not needs_pilot({**base, "mode": "steady", "jobs": space.AUTO})
    # The dry run counts the pilots the run will do: one per such configuration.
    plan = space.make_plan(space.build_spec(set_values=["mode=drain,steady"]),
                           Locations(tmp_path, create=False))
    pilots = [c for c in plan.configs if needs_pilot(c)]
    assert 0 < len(pilots) < len(plan.configs)
