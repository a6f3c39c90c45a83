"""Worker settings files: ``gigq worker --config FILE`` and ``Worker.from_config``."""

from __future__ import annotations

import jobfns
import pytest
from conftest import journal_mode_of, registered_workers, run_cli

from gigq import Job, JobQueue, SQLiteSettings, Worker
from gigq.errors import SettingsError

CONFIG = """
# written by hand, like gigq-bench tune --write
[worker]
processes = 2
concurrency = 3
polling_interval = 0.1
journal_mode = "delete"
synchronous = "full"
cache_size = -10000
"""




def test_from_config_reads_a_toml_file_and_ignores_processes(tmp_path, db_path):
    path = tmp_path / "worker.toml"
    path.write_text(CONFIG)
    worker = Worker.from_config(db_path, path, worker_id="w")
    try:
        assert worker.concurrency == 3 and worker.polling_interval == 0.1
        assert worker.worker_id == "w"
        assert worker._storage.settings == SQLiteSettings(
            journal_mode="delete", synchronous="full", cache_size=-10000)
    finally:
        worker.close()
    assert journal_mode_of(db_path) == "delete"


def test_from_config_refuses_a_bad_process_count(db_path):
    with pytest.raises(SettingsError, match="processes must be an integer between 1 and 256"):
        Worker.from_config(db_path, {"processes": 0})


def test_gigq_worker_config_starts_the_processes_it_names(tmp_path, db_path):
    path = tmp_path / "worker.toml"
    path.write_text(CONFIG)
    queue = JobQueue(db_path, settings=SQLiteSettings(journal_mode="delete"))
    queue.submit_many([Job("n", jobfns.noop) for _ in range(30)])
    done = run_cli("--db", db_path, "worker", "--config", str(path), "--burst")
    assert done.returncode == 0, done.stderr
    assert "Starting 2 worker processes" in done.stdout
    workers = registered_workers(db_path)
    assert len(workers) == 2 and {c for _, c in workers} == {3}
    assert queue.stats()["completed"] == 30
    assert journal_mode_of(db_path) == "delete"


def test_explicit_flags_win_over_the_config_file(tmp_path, db_path):
    path = tmp_path / "worker.toml"
    path.write_text(CONFIG)
    queue = JobQueue(db_path, settings=SQLiteSettings(journal_mode="delete"))
    queue.submit(Job("n", jobfns.noop))
    done = run_cli("--db", db_path, "worker", "--config", str(path), "--burst",
                   "--processes", "1", "--concurrency", "2")
    assert done.returncode == 0, done.stderr
    assert [c for _, c in registered_workers(db_path)] == [2]
    # --once runs one job in this process, whatever the file says about processes.
    queue.submit(Job("n", jobfns.noop))
    done = run_cli("--db", db_path, "worker", "--config", str(path), "--once")
    assert done.returncode == 0 and "Processed one job." in done.stdout


def test_a_bad_process_count_in_the_file_is_an_error(tmp_path, db_path):
    path = tmp_path / "worker.toml"
    path.write_text("processes = 'two'\n")
    done = run_cli("--db", db_path, "worker", "--config", str(path), "--burst")
    assert done.returncode == 1
    assert "processes must be an integer between 1 and 256" in done.stderr
