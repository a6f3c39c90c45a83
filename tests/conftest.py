"""Shared fixtures: fresh database paths, worker subprocesses, waiting on conditions."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
ROOT = TESTS_DIR.parent
# Test helpers are imported by name: tests/ (jobfns, conftest) and tests/bench (benchdata,
# report_fixtures), whose sub-folders mirror gigq/bench.
for _helpers in (TESTS_DIR, TESTS_DIR / "bench"):
    if str(_helpers) not in sys.path:
        sys.path.insert(0, str(_helpers))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run the long load tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("GIGQ_RUNSLOW") == "1":
        return
    skip = pytest.mark.skip(reason="long load test: run with --runslow or GIGQ_RUNSLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: tests/ and the project on PYTHONPATH."""
    env = dict(os.environ)
    paths = [str(TESTS_DIR), str(ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra)
    return env


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "jobs.db")


def wait_until(condition, timeout: float = 60.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``condition`` until truthy; fail the test after a generous deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def gigq_cli(*args: str, cwd: str | Path | None = None, **popen) -> subprocess.Popen:
    """Start ``gigq ARGS`` as a real process (python -m gigq.cli)."""
    return subprocess.Popen(
        [sys.executable, "-m", "gigq.cli", *args],
        cwd=cwd, env=subprocess_env(), **popen,
    )


def run_cli(
    *args: str, cwd: str | Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``gigq ARGS`` to completion and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "gigq.cli", *args], cwd=cwd, env=subprocess_env(),
        capture_output=True, text=True, timeout=timeout,
    )


def registered_workers(db: str | Path) -> list[tuple[str, int]]:
    """(worker_id, concurrency) of every worker registered in the database."""
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT worker_id, concurrency FROM gigq_workers").fetchall()


def journal_mode_of(db: str | Path) -> str:
    """The database file's journal mode, as a fresh connection sees it."""
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
    """Signal a child and reap it, killing it if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    return proc.returncode


@pytest.fixture(autouse=True)
def fresh_memory_database():
    """Each test starts with an empty ':memory:' queue (it lives as long as the process)."""
    yield
    from gigq.storage import MEMORY, Storage

    for storage in Storage.opened(MEMORY):
        with storage.write() as conn:
            for table in ("jobs", "job_executions", "job_dependencies", "gigq_workers"):
                try:
                    conn.execute(f"DELETE FROM {table}")
                except Exception:
                    pass


@pytest.fixture(autouse=True)
def restore_gigq_logging():
    """In-process CLI calls attach a handler to pytest's captured stderr; detach it after."""
    import logging

    logger = logging.getLogger("gigq")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate
