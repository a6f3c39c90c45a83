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

pytest.importorskip("gigq.bench.sweep", reason="needs the sweep engine (gigq.bench.sweep)")

ROOT = Path(__file__).resolve().parents[2]
# Completion path: every outcome is recorded through claims.settle (looked up as a
# module attribute at call time), so wrapping it delays each job's completion.
DELAY = '''

import time as _delay_time

_undelayed_settle = settle


def settle(*args, **kwargs):  # injected by the ab regression test
    _delay_time.sleep(0.004)
    return _undelayed_settle(*args, **kwargs)
'''
TINY = ["--profile", "ci", "--set", "workers=1", "--set", "jobs=200", "--set", "submit=batch",
        "--repeat", "6", "--metric", "jobs_per_sec", "--threshold", "100%", "--seed", "3"]


def copy_package(dest: Path, slow: bool = False) -> Path:
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
    return dest


def ab(*args: str, out: Path) -> tuple[int, dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "gigq.bench.entry", "ab", *args, *TINY, "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=out.parent)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    compare = json.loads((out / "compare.json").read_text())
    return proc.returncode, compare


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

    code, doc = ab("--baseline", str(same), "--current", str(same), out=tmp_path / "ab-same")
    assert code == 0, doc["headline"]
    assert "slower" not in {r["verdict"] for r in doc["rows"]}
    assert "noise_floor" in doc  # an A/A run prints its calibration


def test_ab_exits_4_when_the_baseline_cannot_be_built(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "pyproject.toml").write_text("this is not toml [")
    proc = subprocess.run(
        [sys.executable, "-m", "gigq.bench.entry", "ab", "--baseline", str(broken), *TINY,
         "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "could not build" in proc.stderr
