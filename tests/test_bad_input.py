"""Bad input gets a one-line error naming the problem and the fix — and changes nothing.

Numbers that are not finite, out of range or of the wrong type; values JSON or SQLite
would silently rewrite; mistyped database paths; another application's database;
args objects written for 0.5.x. Mostly the real ``gigq`` command in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import MagicMock

import jobfns
import pytest
from conftest import subprocess_env

from gigq import Job, JobQueue, Worker, Workflow, task
from gigq.bench.results import ResultsError, load_results
from gigq.cli import (
    cmd_cancel,
    cmd_clear,
    cmd_list,
    cmd_requeue,
    cmd_stats,
    cmd_status,
    cmd_submit,
)
from gigq.errors import JobDefinitionError, SettingsError
from gigq.storage import SQLiteSettings


def gigq(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gigq.cli", *args], env=subprocess_env(**(env or {})),
        capture_output=True, text=True, timeout=120,
    )


def assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def job_count(db: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def queue_db(db_path):
    JobQueue(db_path).submit(Job("existing", jobfns.noop))
    return db_path


YEAR = "between 0 and 31,536,000 (1 year)"


@pytest.mark.parametrize("args, env, fragments", [
    (["submit", "jobfns.noop", "--name", "x", "--retry-delay", "inf"], {},
     ["retry_delay must be a finite number of seconds", YEAR, "got inf"]),
    (["submit", "jobfns.noop", "--name", "x", "--retry-delay", "1e13"], {}, ["retry_delay"]),
    (["submit", "jobfns.noop", "--name", "x", "--timeout", "1e10"], {}, ["timeout", YEAR]),
    (["submit", "jobfns.noop", "--name", "x", "--timeout", "nan"], {}, ["timeout", "got nan"]),
    (["submit", "jobfns.noop", "--name", "x", "--priority", "99999999999999999999999"], {},
     ["priority must be an integer", "SQLite's integer range"]),
    (["submit", "jobfns.noop", "--name", "x", "--max-attempts", "99999999999999999999"], {},
     ["max_attempts", "SQLite's integer range"]),
    (["submit", "jobfns.echo", "--name", "x", "-p", "k=NaN"], {}, ["'k=NaN'", "JSON"]),
    (["submit", "jobfns.echo", "--name", "x", "-p", "k=1e999"], {}, ["'k=1e999'", "JSON"]),
    (["submit", "jobfns.echo", "--name", "x", "-p", "k=[Infinity]"], {}, ["Infinity"]),
    (["submit", "jobfns.echo", "--name", "x", "-p", "k=1", "-p", "k=2"], {},
     ["'k' is given twice"]),
    (["--busy-timeout", "nan", "stats"], {}, ["busy_timeout", "86,400 (1 day)", "got nan"]),
    (["--cache-size", str(10**23), "stats"], {}, ["cache_size", "2,147,483,647"]),
    (["stats"], {"GIGQ_BUSY_TIMEOUT": "inf"}, ["GIGQ_BUSY_TIMEOUT='inf'", "busy_timeout"]),
    (["worker", "--burst", "--polling-interval", "nan"], {}, ["polling_interval", YEAR]),
    (["worker", "--burst"], {"GIGQ_POLLING_INTERVAL": "inf"}, ["GIGQ_POLLING_INTERVAL"]),
    (["worker", "--burst", "--concurrency", "0"], {}, ["concurrency", "between 1 and"]),
    # A typo must not start a hundred thousand interpreters.
    (["worker", "--burst", "--processes", "100000"], {}, ["--processes", "between 1 and 256"]),
    (["worker", "--burst", "--min-priority", "5", "--max-priority", "1"], {},
     ["min_priority 5 is above max_priority 1"]),
    (["worker", "--burst", "--min-priority", str(2**64)], {}, ["min_priority"]),
    (["clear", "--before", "1e10"], {}, ["--before", "days"]),
    (["list", "--limit", str(2**64)], {}, ["--limit"]),
    (["probe", "--no-round-trip", "--max-age", "nan"], {}, ["max_age"]),
])
def test_cli_refuses_bad_numbers_and_changes_nothing(queue_db, args, env, fragments):
    before = job_count(queue_db)
    done = gigq("--db", queue_db, *args, env=env)
    assert_one_line_error(done, *fragments)
    assert job_count(queue_db) == before


def test_a_config_file_number_is_checked_too(queue_db, tmp_path):
    config = tmp_path / "worker.toml"
    config.write_text("[worker]\npolling_interval = nan\n")
    assert_one_line_error(gigq("--db", queue_db, "worker", "--burst", "--config", str(config)),
                          "polling_interval", "got nan")


@pytest.mark.parametrize("options, fragment", [
    ({"retry_delay": float("inf")}, "retry_delay must be a finite number of seconds"),
    ({"retry_delay": 1e13}, "retry_delay"),
    ({"retry_backoff": 1e300}, "retry_backoff"),
    ({"retry_backoff": float("nan")}, "retry_backoff"),
    ({"timeout": 1e10}, "timeout"),
    ({"timeout": float("nan")}, "timeout"),
    ({"priority": 2**63}, "priority"),
    ({"priority": True}, "not an integer"),
    ({"max_attempts": 2**63}, "max_attempts"),
    # Within range one by one, but the last retry's pause would be 2**38 seconds.
    ({"retry_delay": 1, "retry_backoff": 2, "max_attempts": 40}, "last retry would wait"),
])
def test_job_options_out_of_range_are_refused(options, fragment):
    with pytest.raises(JobDefinitionError, match=fragment):
        Job("j", jobfns.noop, **options)
    with pytest.raises(JobDefinitionError, match=fragment):
        task(**options)(jobfns.noop)  # at decoration, not at the first submit


def test_the_largest_allowed_backoff_schedule_is_accepted():
    Job("j", jobfns.noop, retry_delay=1, retry_backoff=2, max_attempts=26)  # 2**24 s
    Job("j", jobfns.noop, retry_delay=31_536_000, max_attempts=10**6)


def test_worker_arguments_name_the_type_and_range(db_path):
    with pytest.raises(SettingsError, match=r"must be an integer .* got the string '2'"):
        Worker(db_path, concurrency="2")
    with pytest.raises(SettingsError, match=r"polling_interval .* got nan"):
        Worker(db_path, polling_interval=float("nan"))
    with pytest.raises(SettingsError, match="shutdown_timeout"):
        Worker(db_path, shutdown_timeout=float("inf"))
    with pytest.raises(SettingsError, match="min_priority 5 is above max_priority 1"):
        Worker(db_path, min_priority=5, max_priority=1)


def test_storage_settings_refuse_values_sqlite_would_wrap():
    with pytest.raises(SettingsError, match=r"cache_size .* got 100000000000000000000000"):
        SQLiteSettings(cache_size=10**23)
    with pytest.raises(SettingsError, match=r"busy_timeout .* got nan"):
        SQLiteSettings(busy_timeout=float("nan"))
    with pytest.raises(SettingsError, match="busy_timeout"):
        SQLiteSettings.from_mapping({"busy_timeout": "1e12"})
    with pytest.raises(SettingsError, match="mmap_size"):
        SQLiteSettings(mmap_size=2**64)


@pytest.mark.parametrize("params, fragment", [
    ({1: "x"}, "dict key 1 is a int"),
    ({"nested": {"a": [{2.5: "x"}]}}, "dict key 2.5"),
    ({"x": float("nan")}, "NaN"),
    ({"x": [float("inf")]}, "NaN and infinities"),
])
def test_params_json_would_rewrite_are_refused_and_nothing_stored(db_path, params, fragment):
    queue = JobQueue(db_path)
    with pytest.raises(JobDefinitionError, match=fragment):
        queue.submit(Job("p", jobfns.echo, params=params))
    assert job_count(db_path) == 0


def test_a_string_of_dependencies_is_not_read_as_ids(db_path):
    with pytest.raises(JobDefinitionError, match="got the string 'abc'"):
        Job("child", jobfns.noop, dependencies="abc")
    parent = Job("parent", jobfns.noop)
    with pytest.raises(JobDefinitionError, match="list of Job objects"):
        Workflow("w").add_job(Job("child", jobfns.noop), depends_on=parent)


def test_a_result_holding_nan_fails_the_job_clearly(db_path):
    queue = JobQueue(db_path)
    job_id = queue.submit(Job("nan", json.loads, params={"s": "NaN"}, max_attempts=1))
    assert Worker(db_path).process_one()
    status = queue.get_status(job_id)
    assert status["status"] == "failed" and "NaN" in status["error"]


# -- a mistyped --db ------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["stats"], ["list"], ["workers"], ["status", "some-id"], ["cancel", "some-id"],
    ["requeue", "some-id"], ["probe"], ["check"],
    # Maintenance of a queue that is not there would report success on an empty one
    # (a nightly backup with a typo would write empty backups for ever).
    ["clear"], ["optimize"], ["vacuum"], ["checkpoint"], ["backup", "{tmp}/copy.db"],
])
def test_commands_on_an_existing_queue_refuse_a_missing_database(tmp_path, command):
    missing = tmp_path / "tpyo.db"
    done = gigq("--db", str(missing), *(c.format(tmp=tmp_path) for c in command))
    assert_one_line_error(done, f"{missing} does not exist")
    assert not missing.exists() and list(tmp_path.iterdir()) == []


def test_probe_json_on_a_missing_database_is_unhealthy(tmp_path):
    missing = tmp_path / "tpyo.db"
    done = gigq("--db", str(missing), "probe", "--json")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert json.loads(done.stdout)["healthy"] is False
    assert not missing.exists()


def test_a_queue_on_a_missing_file_still_creates_it(db_path):
    JobQueue(db_path).submit(Job("j", jobfns.noop))  # as in 0.5.x
    assert job_count(db_path) == 1


# -- another application's database ----------------------------------------------


@pytest.mark.parametrize("command", [["stats"], ["submit", "jobfns.noop", "--name", "x"],
                                     ["probe", "--no-round-trip"], ["worker", "--burst"],
                                     ["check"], ["vacuum"]])
def test_another_applications_database_is_refused_untouched(tmp_path, command):
    path = str(tmp_path / "app.db")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, title TEXT)")
        conn.execute("INSERT INTO jobs (title) VALUES ('their row')")
    conn.close()
    before = digest(path)
    done = gigq("--db", path, *command)
    assert_one_line_error(done, f"{path} is not a GigQ database", "name, function_name")
    assert digest(path) == before and sorted(os.listdir(tmp_path)) == ["app.db"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["jobs"]


# -- output and messages ------------------------------------------------------------


def test_a_closed_pipe_ends_list_quietly(queue_db):
    for i in range(50):
        JobQueue(queue_db).submit(Job(f"j{i}", jobfns.noop))
    child = subprocess.Popen(
        [sys.executable, "-m", "gigq.cli", "--db", queue_db, "list"], env=subprocess_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # the reader is gone before anything is written
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=120) == 141  # 128 + SIGPIPE, as for a tool killed by it
    assert stderr == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("command", [["list"], ["stats"], ["submit", "jobfns.noop", "--name",
                                                           "x"]])
def test_output_that_cannot_be_written_is_one_line(queue_db, command):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "gigq.cli", "--db", queue_db, *command],
                              env=subprocess_env(), stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: cannot write the output: No space left on device"]


@pytest.mark.parametrize("column, value", [
    ("created_epoch", "'garbage'"), ("created_at", "'not a time'"), ("priority", "'high'"),
    ("created_epoch", "X'00'"),
])
def test_reports_survive_a_row_corrupted_by_sql(queue_db, column, value):
    with sqlite3.connect(queue_db) as conn:
        conn.execute(f"UPDATE jobs SET {column} = {value}")
    conn.close()
    for command in (["stats"], ["stats", "--by-queue"], ["list"], ["probe", "--no-round-trip"],
                    ["probe", "--no-round-trip", "--json"]):
        done = gigq("--db", queue_db, *command)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (command, done.stderr)


def test_a_params_column_overwritten_by_sql_is_named_not_a_json_traceback(queue_db):
    first = JobQueue(queue_db).submit(Job("a", jobfns.noop))
    second = JobQueue(queue_db).submit(Job("b", jobfns.noop))
    with sqlite3.connect(queue_db) as conn:
        conn.execute("UPDATE jobs SET params = '{not json' WHERE id = ?", (first,))
    conn.close()
    listing = gigq("--db", queue_db, "list")  # one bad row does not hide the others
    assert listing.returncode == 0 and first in listing.stdout and second in listing.stdout
    status = gigq("--db", queue_db, "status", first)
    assert_one_line_error(status, f"job {first}: its params column is not JSON",
                          "Fix the row with SQL")


def test_workers_and_probe_survive_a_heartbeat_corrupted_by_sql(queue_db):
    Worker(queue_db, worker_id="live-one")._ensure_registered()
    with sqlite3.connect(queue_db) as conn:
        conn.execute("UPDATE gigq_workers SET heartbeat_epoch = 'garbage'")
    conn.close()
    for command in (["workers", "--all"], ["probe", "--no-round-trip"]):
        done = gigq("--db", queue_db, *command)
        assert "Traceback" not in done.stderr, (command, done.stderr)
    listing = gigq("--db", queue_db, "workers")
    assert listing.returncode == 0 and "live-one" in listing.stdout
    assert "stale" in listing.stdout  # a heartbeat that is not a time proves nothing


def test_cancel_and_requeue_of_an_unknown_id_say_there_is_no_such_job(queue_db):
    for command in ("cancel", "requeue"):
        done = gigq("--db", queue_db, command, "no-such-id")
        assert_one_line_error(done, "there is no job no-such-id")
        assert "might not be" not in done.stdout


def test_check_of_a_truncated_file_does_not_say_run_check(queue_db, tmp_path):
    JobQueue(queue_db).submit_many([Job(f"j{i}", jobfns.noop) for i in range(200)])
    with sqlite3.connect(queue_db) as conn:  # move the pages from the WAL into the file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    truncated = tmp_path / "truncated.db"
    whole = Path(queue_db).read_bytes()
    truncated.write_bytes(whole[:len(whole) // 2])
    done = gigq("--db", str(truncated), "check")
    assert_one_line_error(done, "cannot be checked", "restore it from a backup")
    assert "check'" not in done.stderr


@pytest.mark.parametrize("rows", [[], None])
def test_bench_report_refuses_a_run_without_trials(tmp_path, rows):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({
        "format": "gigq-bench-results", "format_version": 1, "spec": {}, "environment": {},
        "skipped": [], "rows": rows,
    }))
    done = subprocess.run([sys.executable, "-m", "gigq.bench.entry", "report", str(run)],
                          env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "holds no trials" in done.stderr
    assert "Traceback" not in done.stderr and not (run / "index.html").exists()


def test_bench_report_refuses_rows_without_trial_fields(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({
        "format": "gigq-bench-results", "format_version": 1, "spec": {}, "environment": {},
        "skipped": [], "rows": [{"colour": "blue"}, {"colour": "red"}],
    }))
    with pytest.raises(ResultsError, match=r"2 of 2 rows lack the field\(s\) config_id, valid"):
        load_results(run)
    done = subprocess.run([sys.executable, "-m", "gigq.bench.entry", "report", str(run)],
                          env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "config_id, valid" in done.stderr
    assert "Traceback" not in done.stderr and not (run / "index.html").exists()


# -- 0.5.x callers of cmd_* ---------------------------------------------------------


def _args(kind: type, **values):
    args = kind()
    for name, value in values.items():  # MagicMock(name=...) would name the mock
        setattr(args, name, value)
    return args


@pytest.mark.parametrize("kind", [MagicMock, SimpleNamespace])
def test_cmd_functions_take_an_args_object_of_0_5(db_path, kind, capsys):
    """Only 0.5.x's attributes are set; a MagicMock makes up every other one."""
    submit = _args(kind, db=db_path, function="jobfns.echo", name="n", param=["a=1"],
                   priority=0, max_attempts=3, timeout=300, description=None, retry_delay=0)
    assert cmd_submit(submit) == 0
    job_id = JobQueue(db_path).list_jobs()[0]["id"]
    assert JobQueue(db_path).get_status(job_id)["queue"] == "default"
    calls = [
        (cmd_status, {"job_id": job_id, "show_params": True, "show_result": False,
                      "show_executions": False}),
        (cmd_list, {"status": None, "limit": 10}),
        (cmd_stats, {}),
        (cmd_cancel, {"job_id": job_id}),
        (cmd_requeue, {"job_id": job_id}),
        (cmd_clear, {"before": None}),
    ]
    for command, values in calls:
        assert command(_args(kind, db=db_path, **values)) == 0, command.__name__
    out = capsys.readouterr().out
    assert f"Job {job_id} cancelled." in out and f"Job {job_id} requeued." in out
