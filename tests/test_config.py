"""One merge of worker settings (gigq/config.py): ``Worker.from_config`` and ``gigq worker``
given the same file and the same explicit values end up with the same worker."""

from __future__ import annotations

import inspect
import os

import jobfns
import pytest
from conftest import registered_workers, run_cli

from gigq import Job, JobQueue, SQLiteSettings, Worker
from gigq.cli import _worker_from_args, parse_args
from gigq.config import WORKER_KEYS

CONFIG = """
[worker]
worker_id = "from-file"
concurrency = 3
polling_interval = 0.25
isolation = "process"
lease_timeout = 12
shutdown_timeout = 4
allowed_modules = ["jobfns"]
queues = ["a", "b"]
min_priority = -1
max_priority = 9
journal_mode = "delete"
synchronous = "full"
cache_size = -10000
processes = 2
"""


def effective(worker: Worker) -> dict:
    """What a worker runs with, read back from the object."""
    return {
        "worker_id": worker.worker_id, "polling_interval": worker.polling_interval,
        "concurrency": worker.concurrency, "isolation": worker.isolation,
        "lease_timeout": worker.lease_timeout, "shutdown_timeout": worker.shutdown_timeout,
        "allowed_modules": worker.allowed_modules, "queues": worker.queues,
        "priorities": (worker._filter.min_priority, worker._filter.max_priority),
        "burst": worker.burst, "settings": worker.settings,
    }


@pytest.fixture
def clean_env(monkeypatch):
    """No GIGQ_* variable: the Python API reads none, so neither may the command here."""
    for name in list(os.environ):
        if name.startswith("GIGQ_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("flags, overrides", [
    ([], {}),
    (["--concurrency", "2", "--burst"], {"concurrency": 2, "burst": True}),
    # argparse accepts an unambiguous abbreviation; it is as explicit as the full flag
    (["--conc", "2", "--polling-int", "1.5"], {"concurrency": 2, "polling_interval": 1.5}),
    (["--queue", "c", "--allow-module", "json", "--min-priority", "0"],
     {"queues": ["c"], "allowed_modules": ["json"], "min_priority": 0}),
    (["--cache-size", "-2000", "--synchronous", "normal"],
     {"cache_size": -2000, "synchronous": "normal"}),
])
def test_from_config_and_gigq_worker_agree(tmp_path, db_path, clean_env, flags, overrides):
    path = tmp_path / "worker.toml"
    path.write_text(CONFIG)
    from_python = Worker.from_config(db_path, path, **overrides)
    from_command = _worker_from_args(
        parse_args(["--db", db_path, "worker", "--config", str(path), *flags]))
    try:
        assert effective(from_command) == effective(from_python)
        assert effective(from_python)["concurrency"] == overrides.get("concurrency", 3)
    finally:
        from_python.close()
        from_command.close()


def test_a_storage_override_changes_only_its_own_setting(tmp_path, db_path):
    path = tmp_path / "worker.toml"
    path.write_text(CONFIG)
    worker = Worker.from_config(db_path, path, cache_size=-2000)
    try:
        assert worker.settings == SQLiteSettings(journal_mode="delete", synchronous="full",
                                                 cache_size=-2000)
    finally:
        worker.close()


def test_the_supervisor_runs_with_the_files_burst_and_worker_id(tmp_path, db_path):
    """``burst`` and ``worker_id`` from the file reach the supervisor too: it ends when its
    children have drained the queue (rather than restarting them as crashed), and each
    child gets an id of its own."""
    path = tmp_path / "worker.toml"
    path.write_text('[worker]\nprocesses = 2\nburst = true\nworker_id = "w"\n'
                    'journal_mode = "delete"\n')
    queue = JobQueue(db_path, settings=SQLiteSettings(journal_mode="delete"))
    queue.submit_many([Job("n", jobfns.noop) for _ in range(10)])
    done = run_cli("--db", db_path, "worker", "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert "giving up" not in done.stderr
    assert queue.stats()["completed"] == 10
    assert sorted(w for w, _ in registered_workers(db_path)) == ["w-p0", "w-p1"]


def test_unknown_keys_are_named_with_the_file_and_the_valid_ones(tmp_path, db_path):
    path = tmp_path / "worker.toml"
    path.write_text("[worker]\nconcurency = 2\n")
    done = run_cli("--db", db_path, "worker", "--burst", "--config", str(path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = done.stderr.strip()
    assert str(path) in line and "unknown worker setting(s) concurency" in line
    assert "valid: " in line and "concurrency" in line.split("valid: ")[1]


def test_the_config_keys_are_the_workers_arguments():
    """WORKER_KEYS is what a file may set: every Worker argument but the path and the
    settings object (whose fields are the storage keys)."""
    arguments = set(inspect.signature(Worker).parameters) - {"db_path", "settings"}
    assert set(WORKER_KEYS) == arguments
