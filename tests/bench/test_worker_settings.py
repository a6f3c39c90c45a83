"""Settings -> worker: one definition (Dimension.worker_option) in every form."""

from __future__ import annotations

import shlex
import sys

import jobfns
import pytest
from conftest import registered_workers, run_cli

from gigq import Job, JobQueue
from gigq.bench import worker_settings as ws
from gigq.bench.recommend import EXAMPLE_DB
from gigq.bench.report.insights import worker_command
from gigq.bench.sweep import space
from gigq.bench.tune.output import toml_text, write_toml
from gigq.cli import parse_args
from gigq.config import DEPLOYMENT_KEYS, STORAGE_KEYS, WORKER_KEYS, load_config, merge

CHOSEN = {"workers": 2, "concurrency": 3, "journal_mode": "delete", "synchronous": "full",
          "cache_size": -8000, "polling_interval": 0.2, "isolation": "process",
          "lease_timeout": 12.0, "queues": 2, "job_type": "io", "location": "disk"}


def _worker_args(command: str):
    """The command's arguments through gigq's own parser (as `gigq` would)."""
    words = shlex.split(command)
    assert words[0] == "gigq"
    return parse_args(words[1:])


def test_every_worker_option_is_a_key_gigq_accepts():
    known = {*WORKER_KEYS, *STORAGE_KEYS, *DEPLOYMENT_KEYS}
    marked = {d.name: d.worker_option for d in space.DIMENSIONS.values() if d.worker_option}
    assert set(marked.values()) <= known
    # every setting tune chooses reaches the worker
    assert {"workers", "concurrency", "journal_mode", "synchronous", "cache_size",
            "polling_interval"} <= set(marked)


def test_isolation_lease_and_queues_reach_every_form():
    # Before, the command, environment, Python and TOML knew only six settings.
    command = ws.worker_command(CHOSEN, "jobs.db")
    args = _worker_args(command)
    assert args.command == "worker" and args.db == "jobs.db"
    assert (args.processes, args.concurrency, args.polling_interval) == (2, 3, 0.2)
    assert (args.isolation, args.lease_timeout, args.queue) == ("process", 12.0, ["q0", "q1"])
    assert (args.journal_mode, args.synchronous, args.cache_size) == ("delete", "full", -8000)
    # the report card's command is the same line, with a path of the user's own
    assert worker_command(CHOSEN) == command.replace(" --db jobs.db", f" --db {EXAMPLE_DB}")

    merged = merge(ws.worker_config(CHOSEN))
    assert merged.processes == 2
    assert dict(merged.options) == {"concurrency": 3, "polling_interval": 0.2,
                                    "isolation": "process", "lease_timeout": 12.0,
                                    "queues": ["q0", "q1"]}
    assert merged.settings.as_dict()["cache_size"] == -8000

    env = ws.environment(CHOSEN)
    assert list(env.items()) == [("GIGQ_JOURNAL_MODE", "delete"), ("GIGQ_SYNCHRONOUS", "full"),
                                 ("GIGQ_CACHE_SIZE", "-8000"), ("GIGQ_POLLING_INTERVAL", "0.2")]
    from_env = merge({}, environ=env)
    assert from_env.options["polling_interval"] == 0.2
    assert from_env.settings.journal_mode == "delete"
    # what has no variable stays a flag
    line = ws.environment_command(CHOSEN)
    rest = line[line.index("gigq "):]
    args = _worker_args(rest)
    assert (args.processes, args.concurrency, args.isolation, args.lease_timeout,
            args.queue) == (2, 3, "process", 12.0, ["q0", "q1"])
    assert args.journal_mode is None and args.polling_interval is None


def test_the_python_code_builds_that_worker(tmp_path):
    db = tmp_path / "jobs.db"
    namespace: dict = {}
    code = ws.python_code(CHOSEN, str(db))
    exec(code.replace("worker.start()", "worker.close()"), namespace)  # it runs as printed
    worker = namespace["worker"]
    assert (worker.concurrency, worker.isolation, worker.lease_timeout) == (3, "process", 12.0)
    assert "2 processes" in code


def test_quiet_settings_at_their_default_are_left_out():
    at_defaults = {**CHOSEN, "isolation": "thread", "lease_timeout": space.DEFAULT_BASE[
        "lease_timeout"], "queues": 1, "workers": 1, "cache_size": None}
    command = ws.worker_command(at_defaults)
    assert command == ("gigq worker --concurrency 3 --polling-interval 0.2 "
                       "--journal-mode delete --synchronous full")
    assert set(ws.worker_config(at_defaults)) == {"concurrency", "polling_interval",
                                                  "journal_mode", "synchronous"}


def test_a_dimension_marked_as_a_worker_setting_reaches_every_form(monkeypatch, tmp_path):
    # Marking the Dimension is all it takes: flag, variable, Python and TOML follow.
    monkeypatch.setitem(space.DIMENSIONS, "busy_timeout", space.Dimension(
        "busy_timeout", space._float("busy_timeout", 0, strict=True), "seconds a locked "
        "database is waited for", default=30.0, quiet=True, worker_option="busy_timeout"))
    monkeypatch.setitem(space.DIMENSIONS, "grace", space.Dimension(
        "grace", space._float("grace", 0, strict=False), "seconds to finish on SIGTERM",
        default=10.0, quiet=True, worker_option="shutdown_timeout"))
    settings = {**CHOSEN, "busy_timeout": 4.5, "grace": 2.0}
    args = _worker_args(ws.worker_command(settings))
    assert (args.busy_timeout, args.shutdown_timeout) == (4.5, 2.0)
    assert ws.environment(settings)["GIGQ_BUSY_TIMEOUT"] == "4.5"
    assert "--shutdown-timeout 2" in ws.environment_command(settings)
    assert "--busy-timeout" not in ws.environment_command(settings)
    text = toml_text(settings)
    assert "busy_timeout = 4.5" in text and "shutdown_timeout = 2.0" in text
    code = ws.python_code(settings)
    assert "busy_timeout=4.5" in code and "shutdown_timeout=2.0" in code
    merged = merge(ws.worker_config(settings))
    assert merged.options["shutdown_timeout"] == 2.0
    assert merged.settings.busy_timeout == 4.5


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TOML config needs Python 3.11+")
def test_the_written_file_and_the_printed_command_run_a_real_worker(tmp_path):
    # the queue keeps its own (WAL) journal open while the worker runs
    settings = {**CHOSEN, "isolation": "thread", "workers": 1, "journal_mode": "wal"}
    path = write_toml(tmp_path / "tuned.toml", settings)
    assert load_config(path)["queues"] == ["q0", "q1"]
    db = tmp_path / "jobs.db"
    queue = JobQueue(str(db))
    queue.submit_many([Job("n", jobfns.noop, queue=q) for q in ("q0", "q1", "q0")])
    done = run_cli("--db", str(db), "worker", "--config", str(path), "--burst")
    assert done.returncode == 0, done.stderr
    assert queue.stats()["completed"] == 3
    assert {c for _, c in registered_workers(db)} == {3}
    # the printed command line runs too: same settings, flags instead of the file
    queue.submit(Job("m", jobfns.noop, queue="q1"))
    words = shlex.split(ws.worker_command(settings, str(db)))[1:]
    done = run_cli(*words, "--burst")
    assert done.returncode == 0, done.stderr
    assert queue.stats()["completed"] == 4
