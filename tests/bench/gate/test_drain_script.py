"""bench/drain.py end to end with real worker processes (a few dozen jobs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "drain.py"


def test_drain_with_a_baseline_interpreter(tmp_path: Path) -> None:
    out = tmp_path / "drain.json"
    # The same interpreter as "baseline" exercises the interleaved two-version path.
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--jobs", "40", "--workers", "1,2", "--repeat", "1",
         "--baseline-python", sys.executable, "--json", str(out)],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "current/baseline" in proc.stdout
    doc = json.loads(out.read_text())
    assert len(doc["trials"]) == 4
    assert {(t["version"], t["workers"]) for t in doc["trials"]} == {
        ("current", 1), ("current", 2), ("baseline", 1), ("baseline", 2)}
    assert all(t["valid"] for t in doc["trials"])
    # The printed rate is the jobs over the drain time the trial recorded.
    assert all(t["jobs_per_sec"] == pytest.approx(40 / t["drain_s"]) for t in doc["trials"])
    assert all(t["submit_method"] == "batch" and t["worker_mode"] == "burst"
               for t in doc["trials"])


def test_drain_rejects_bad_arguments() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--workers", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--workers" in proc.stderr
