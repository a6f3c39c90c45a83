"""``gigq-bench ab`` with two real code versions (tiny trials, real processes).

A copy of the package whose completion path sleeps must be reported as a regression
(exit 1); the unmodified copy against itself must pass (exit 0). The thresholds are
wide and the injected delay large, so the verdicts do not depend on how busy the
machine is; the test asserts verdicts and exit codes, never timings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("gigq.bench.sweep.plan", reason="needs the sweep engine")

ROOT = Path(__file__).resolve().parents[3]
# Completion path: every outcome is recorded through claims.settle (looked up as a
# module attribute at call time), so wrapping it delays each job's completion.
DELAY = '''

import time as _delay_time

_undelayed_settle = settle


def settle(*args, **kwargs):  # injected by the ab regression test
    _delay_time.sleep(0.004)
    return _undelayed_settle(*args, **kwargs)
'''
# The job-running path: every job function is called through runner.call_job (looked
# up as a module global at call time), so wrapping it runs every 10th job twice.
DOUBLE = '''

_single_call_job = call_job
_calls = [0]


def call_job(*args, **kwargs):  # injected by the ab correctness test
    _calls[0] += 1
    if _calls[0] % 10 == 0:
        _single_call_job(*args, **kwargs)
    return _single_call_job(*args, **kwargs)
'''
TINY = ["--profile", "ci", "--set", "workers=1", "--set", "jobs=200", "--set", "submit=batch",
        "--repeat", "6", "--metric", "jobs_per_sec", "--threshold", "100%", "--seed", "3"]


def copy_package(dest: Path, slow: bool = False, double: bool = False) -> Path:
    """A buildable copy of this source tree (package, pyproject, README)."""
    dest.mkdir()
    shutil.copytree(ROOT / "gigq", dest / "gigq",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    if slow:
        claims = dest / "gigq" / "claims.py"
        text = claims.read_text()
        assert "\ndef settle(" in text, "the completion path moved: update this test"
        claims.write_text(text + DELAY)
    if double:
        runner = dest / "gigq" / "runner.py"
        text = runner.read_text()
        assert "\ndef call_job(" in text, "the job-running path moved: update this test"
        runner.write_text(text + DOUBLE)
    return dest


def ab(*args: str, out: Path, options: list[str] = TINY) -> tuple[int, dict]:
    code, compare, _ = ab_run(*args, out=out, options=options)
    return code, compare


def ab_run(*args: str, out: Path, options: list[str] = TINY) -> tuple[int, dict, str]:
    """Exit code, compare.json and stderr of one ``gigq-bench ab`` run."""
    proc = subprocess.run(
        [sys.executable, "-m", "gigq.bench.entry", "ab", *args, *options, "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=out.parent)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    compare = json.loads((out / "compare.json").read_text())
    return proc.returncode, compare, proc.stderr


@pytest.mark.timeout(400)
def test_ab_catches_a_slower_completion_path_and_passes_the_same_code(tmp_path: Path) -> None:
    same = copy_package(tmp_path / "same")
    slow = copy_package(tmp_path / "slow", slow=True)

    code, doc = ab("--baseline", str(same), "--current", str(slow), out=tmp_path / "ab-slow")
    assert code == 1, doc["headline"]
    verdicts = {r["verdict"] for r in doc["rows"]}
    assert verdicts == {"slower"}
    assert all(r["paired"] and r["n_base"] == 6 for r in doc["rows"])
    results = json.loads((tmp_path / "ab-slow" / "results.json").read_text())
    assert {r["version"] for r in results["rows"]} == {"baseline", "current"}
    assert all(r["valid"] for r in results["rows"])
    assert (tmp_path / "ab-slow" / "compare.html").exists()
    assert "performance regression" in (tmp_path / "ab-slow" / "summary.md").read_text()
    # Each side is named by what it was built from, in the results and the comparison.
    assert results["spec"]["versions"]["baseline"]["name"] == f"source tree {same}"
    assert doc["base"]["name"] == f"source tree {same}" and doc["base"]["kind"] == "path"
    assert doc["current"]["name"] == f"source tree {slow}"
    assert f"Current: **source tree {slow}**" in (tmp_path / "ab-slow" / "summary.md").read_text()

    code, doc = ab("--baseline", str(same), "--current", str(same), out=tmp_path / "ab-same")
    assert code == 0, doc["headline"]
    assert "slower" not in {r["verdict"] for r in doc["rows"]}
    assert "noise_floor" in doc  # an A/A run prints its calibration
    assert doc["noise_floor"] and all(f["measured"] for f in doc["noise_floor"])


def test_ab_exits_4_when_the_baseline_cannot_be_built(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "pyproject.toml").write_text("this is not toml [")
    proc = subprocess.run(
        [sys.executable, "-m", "gigq.bench.entry", "ab", "--baseline", str(broken), *TINY,
         "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "could not build" in proc.stderr


def test_a_current_version_that_cannot_be_built_fails_the_gate_not_skips_it(
        tmp_path: Path) -> None:
    # Exit 4 means "skip the gate" to CI scripts: it must only ever be the baseline's.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "pyproject.toml").write_text("this is not toml [")
    proc = subprocess.run(
        [sys.executable, "-m", "gigq.bench.entry", "ab", "--baseline", str(ROOT),
         "--current", str(broken), *TINY, "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "could not build the version under test" in proc.stderr


@pytest.mark.timeout(400)
def test_ab_fails_a_version_that_runs_jobs_twice_as_a_correctness_regression(
        tmp_path: Path) -> None:
    clean = copy_package(tmp_path / "clean")
    double = copy_package(tmp_path / "double", double=True)
    # No --seed: the ci profile sets none, so the order's seed is random, printed, stored.
    options = [x for x in TINY if x not in ("--seed", "3")]
    code, doc, err = ab_run("--baseline", str(clean), "--current", str(double),
                            out=tmp_path / "ab", options=options)
    assert code == 1, doc["headline"]
    assert doc["headline"].startswith("CORRECTNESS REGRESSION")
    issues = doc["correctness_regressions"]
    assert issues, "every configuration ran jobs twice"
    for issue in issues:
        assert "ran more than once" in issue["message"]
        assert issue["invalid"] == issue["trials"] == 6
    assert "correctness regression" in err
    results = json.loads((tmp_path / "ab" / "results.json").read_text())
    seed = results["spec"]["seed"]
    assert f"seed {seed} (random; --seed {seed} repeats this order)" in err
    assert all(r["valid"] for r in results["rows"] if r["version"] == "baseline")
    summary = (tmp_path / "ab" / "summary.md").read_text()
    assert "correctness regression" in summary.splitlines()[0]
