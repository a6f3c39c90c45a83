"""The gigq command: every 0.5.x command's text, new commands, and bad arguments."""

import json
import sqlite3
from types import SimpleNamespace

import jobfns
import pytest
from conftest import run_cli

from gigq import Job, JobQueue, Worker, close_connections
from gigq.cli import cmd_stats, cmd_submit, main


@pytest.fixture
def cli(db_path, capsys):
    def run(*args):
        code = main(["--db", db_path, *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_submit_with_json_and_string_params(cli, db_path):
    code, out, _ = cli("submit", "jobfns.echo", "--name", "e", "-p", "n=3", "-p", "s=hello",
                       "--param", 'l=[1, 2]', "--priority", "4", "--max-attempts", "2",
                       "--timeout", "9", "--description", "desc", "--retry-delay", "1.5")
    assert code == 0 and out.startswith("Job submitted: ")
    job_id = out.split(": ")[1].strip()
    status = JobQueue(db_path).get_status(job_id)
    assert status["params"] == {"n": 3, "s": "hello", "l": [1, 2]}
    assert (status["priority"], status["max_attempts"], status["timeout"]) == (4, 2, 9)
    assert status["description"] == "desc" and status["retry_delay"] == 1.5


def test_submit_import_failure(cli):
    code, out, _ = cli("submit", "no_such_module.fn", "--name", "x")
    assert code == 1 and out.startswith("Error: Could not import no_such_module.fn")


@pytest.mark.parametrize("args, message", [
    (["submit", "nodots", "--name", "x"], "module.function"),
    (["submit", "jobfns.add", "--name", "x", "-p", "novalue"], "key=value"),
])
def test_submit_bad_arguments(cli, args, message):
    code, _, err = cli(*args)
    assert code == 1 and message in err and "Traceback" not in err


def test_unparsable_flags_exit_2_with_usage(db_path):
    done = run_cli("--db", db_path, "worker", "--concurrency", "many")
    assert done.returncode == 2 and "invalid int value" in done.stderr
    done = run_cli("--db", db_path, "frobnicate")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_status_output(cli, db_path):
    q = JobQueue(db_path)
    job_id = q.submit(Job("adder", jobfns.echo, params={"x": 1}))
    Worker(db_path, worker_id="w9").process_one()
    code, out, _ = cli("status", job_id, "--show-params", "--show-result", "--show-executions")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == f"Job: adder ({job_id})" and lines[1] == "Status: completed"
    assert lines[2].startswith("Created: 20") and lines[6] == "Attempts: 1 / 3"
    assert "Parameters:" in lines and "  x: 1" in lines and "Result:" in lines
    assert "Executions:" in lines
    assert any(line.startswith("| ID") for line in lines)
    code, out, _ = cli("status", "missing-id")
    assert code == 1 and out.strip() == "Job missing-id not found."


def test_status_shows_what_a_job_waits_on(cli, db_path):
    q = JobQueue(db_path)
    parent = Job("p", jobfns.fail, max_attempts=1)
    child = Job("c", jobfns.noop, dependencies=[parent])
    q.submit_many([parent, child])
    Worker(db_path).process_one()
    _, out, _ = cli("status", child.id)
    assert f"Waiting on: {parent.id} (failed)" in out


def test_list_output_and_invalid_status(cli, db_path):
    JobQueue(db_path)  # list refuses a missing file (it would show an empty queue)
    code, out, _ = cli("list")
    assert code == 0 and out.strip() == "No jobs found."
    job_id = JobQueue(db_path).submit(Job("named", jobfns.noop, priority=2))
    code, out, _ = cli("list", "--status", "pending", "--limit", "5")
    assert "| ID " in out and job_id in out and "named" in out
    header = [c.strip() for c in out.splitlines()[1].strip("|").split("|")]
    assert header == ["ID", "Name", "Status", "Priority", "Created", "Updated"]
    code, out, _ = cli("list", "--status", "nope")
    assert code == 1 and out.splitlines()[0] == "Error: Invalid status 'nope'"
    assert "pending, running, completed, failed, cancelled, timeout" in out


def test_cancel_requeue_messages(cli, db_path):
    q = JobQueue(db_path)
    job_id = q.submit(Job("n", jobfns.noop))
    assert cli("cancel", job_id)[1].strip() == f"Job {job_id} cancelled."
    code, out, _ = cli("cancel", job_id)
    assert code == 1 and out.strip() == (
        f"Could not cancel job {job_id}. It might not be in pending state.")
    assert cli("requeue", job_id)[1].strip() == f"Job {job_id} requeued."
    code, out, _ = cli("requeue", job_id)
    assert code == 1 and out.strip() == (
        f"Could not requeue job {job_id}. It might not be in a failed state.")


def test_clear_and_stats(cli, db_path):
    q = JobQueue(db_path)
    q.submit(Job("n", jobfns.noop))
    Worker(db_path).process_one()
    q.submit(Job("m", jobfns.noop))
    _, out, _ = cli("stats")
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in out.splitlines() if line.startswith("|")]
    assert rows[0] == ["Status", "Count"]
    assert [r[0] for r in rows[1:]] == [
        "pending", "running", "completed", "failed", "cancelled", "timeout", "total"]
    assert dict(rows[1:])["completed"] == "1" and dict(rows[1:])["total"] == "2"
    assert cli("clear", "--before", "1")[1].strip() == "Cleared 0 completed jobs."
    assert cli("clear")[1].strip() == "Cleared 1 completed jobs."
    _code, out, _ = cli("stats", "--by-queue")
    assert "default" in out


def test_worker_once(cli, db_path):
    assert cli("worker", "--once")[1].strip() == "No jobs available to process."
    JobQueue(db_path).submit(Job("n", jobfns.noop))
    assert cli("worker", "--once", "--polling-interval", "0.5")[1].strip() == "Processed one job."


def test_worker_burst_with_settings_flags(cli, db_path):
    JobQueue(db_path).submit_many([Job("n", jobfns.noop) for _ in range(5)])
    close_connections()  # the journal mode can only change while nobody has the file open
    code, out, _ = cli("worker", "--burst", "--journal-mode", "delete", "--synchronous", "full",
                       "--cache-size", "-2000", "--busy-timeout", "5", "--concurrency", "2")
    assert code == 0 and out.startswith("Starting worker ")
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("SELECT COUNT(*) FROM jobs WHERE status = 'completed'"
                            ).fetchone()[0] == 5


def test_switching_journal_mode_under_an_open_connection_is_explained(db_path, capsys):
    JobQueue(db_path)  # keeps a WAL connection open in this thread
    assert main(["--db", db_path, "--journal-mode", "delete", "stats"]) == 1
    assert "cannot switch" in capsys.readouterr().err


def test_bad_setting_value_names_the_valid_ones(cli):
    code, _, err = cli("--journal-mode", "fast", "stats")
    assert code == 1 and "wal, delete" in err


def test_env_defaults(db_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GIGQ_DB", db_path)
    monkeypatch.setenv("GIGQ_WORKER_ID", "env-worker")
    monkeypatch.setenv("GIGQ_POLLING_INTERVAL", "0.25")
    JobQueue(db_path).submit(Job("n", jobfns.noop))
    assert main(["worker", "--once"]) == 0
    (job,) = JobQueue(db_path).list_jobs()
    assert JobQueue(db_path).get_status(job["id"])["executions"][0]["worker_id"] == "env-worker"


def test_cmd_functions_accept_05x_args_objects(db_path, capsys):
    args = SimpleNamespace(db=db_path, function="jobfns.add", name="n", param=["a=1", "b=2"],
                           priority=0, max_attempts=3, timeout=300, description=None,
                           retry_delay=0)
    assert cmd_submit(args) == 0
    assert cmd_stats(SimpleNamespace(db=db_path)) == 0
    assert "| pending   | 1     |" in capsys.readouterr().out


def test_maintenance_commands(cli, db_path, tmp_path):
    JobQueue(db_path).submit(Job("n", jobfns.noop))
    assert cli("optimize")[0] == 0
    assert cli("vacuum")[0] == 0
    code, out, _ = cli("checkpoint")
    assert code == 0 and out.startswith("Checkpoint:")
    dest = tmp_path / "copy.db"
    code, out, _ = cli("backup", str(dest))
    assert code == 0 and str(dest) in out
    assert JobQueue(str(dest)).stats()["pending"] == 1
    code, out, _ = cli("check")
    assert code == 0 and out.strip().endswith(": ok")


def test_check_reports_a_damaged_file(tmp_path):
    path = tmp_path / "jobs.db"
    q = JobQueue(str(path))
    q.submit_many([Job("n", jobfns.echo, params={"pad": "x" * 500}) for _ in range(200)])
    q.checkpoint()
    q.close()
    from gigq.storage import Storage

    for storage in Storage.opened():
        storage.close_thread_connection()
    data = bytearray(path.read_bytes())
    data[8192:12288] = b"\x00\xff" * 2048  # overwrite a page in the middle
    path.write_bytes(bytes(data))
    done = run_cli("--db", str(path), "check")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "problem" in done.stdout or "damaged" in done.stderr


@pytest.mark.parametrize("content", [b"", b"SQLite format 3\x00" + b"\x00" * 50, b"hello" * 100])
def test_unusable_files_give_clear_errors_without_traceback(tmp_path, content):
    path = tmp_path / "jobs.db"
    path.write_bytes(content)
    done = run_cli("--db", str(path), "stats")
    if content == b"":
        assert done.returncode == 0  # an empty file is a new database
        return
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and str(path) in done.stderr


def test_workers_listing(cli, db_path):
    JobQueue(db_path)  # workers refuses a missing file (it would show no workers)
    assert cli("workers")[1].strip() == "No workers found."
    Worker(db_path, worker_id="lister").process_one()
    _code, out, _ = cli("workers")
    assert "lister" in out and "live" in out
    json.dumps(out)


def test_every_value_taking_global_flag_is_skipped_when_finding_the_command():
    # The supervisor splits argv at "worker": a global flag that takes a value but is
    # missing from _GLOBAL_VALUE_OPTIONS would have its value read as the command.
    import argparse

    from gigq import cli
    from gigq.config import STORAGE_KEYS

    parser = cli.build_parser()
    taking_values = {flag for action in parser._actions if action.option_strings
                     and action.nargs != 0 and not isinstance(action, argparse._HelpAction)
                     for flag in action.option_strings if flag.startswith("--")}
    assert taking_values == cli._GLOBAL_VALUE_OPTIONS
    assert set(cli._SETTINGS_FLAGS) <= set(STORAGE_KEYS)
    assert cli._split_at_command(["--cache-size", "worker", "worker", "--once"],
                                 "worker") == (["--cache-size", "worker"], ["--once"])
