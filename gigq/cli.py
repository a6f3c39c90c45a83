"""The ``gigq`` command (argparse, so the core stays dependency-free).

The ``cmd_*`` functions keep GigQ 0.5.x's signatures: existing code calls them with
an args object holding only 0.5.x's attributes, so every newer option is read with
a default.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
from datetime import datetime, timedelta
from typing import Any

from . import validation
from .config import STORAGE_KEYS, WORKER_KEYS, WorkerConfig, check_processes, merge
from .errors import DatabaseFileError, GigQError
from .job import DEFAULT_QUEUE, Job
from .job_queue import JobQueue
from .job_status import JobStatus
from .leases import DEFAULT_LEASE_TIMEOUT
from .storage import MEMORY, SQLiteSettings, Storage
from .table_formatter import format_table
from .utils import format_timestamp, setup_logging
from .worker import DEFAULT_SHUTDOWN_TIMEOUT, ISOLATION_MODES, Worker

format_time = format_timestamp
# ``clear --before`` in days: beyond this, datetime arithmetic would leave year 1.
MAX_BEFORE_DAYS = 36_500


class UsageError(GigQError):
    """A command-line value that does not parse."""


def _opt(args: Any, name: str, default: Any = None) -> Any:
    """``args.name``, or ``default`` when the args object does not really carry it.

    Code written for 0.5.x passes its own args objects: an attribute it never heard
    of is missing, or (on a ``unittest.mock`` object) made up on the spot.
    """
    value = getattr(args, name, None)
    if value is None:
        return default
    mock = sys.modules.get("unittest.mock")  # a made-up attribute needs it loaded
    if mock is not None and isinstance(value, mock.NonCallableMock):
        return default
    return value


def _settings(args: argparse.Namespace) -> SQLiteSettings:
    env = SQLiteSettings.from_env()
    given = {name: _opt(args, name) for name in STORAGE_KEYS if _opt(args, name) is not None}
    return SQLiteSettings.from_mapping({**env.as_dict(), **given}) if given else env


def _db(args: argparse.Namespace) -> str:
    db = _opt(args, "db", os.environ.get("GIGQ_DB", "gigq.db"))
    if db == MEMORY:
        raise UsageError(
            "':memory:' is a database inside one process; each gigq command is its own "
            "process, so it would vanish at exit. Use a file path (e.g. --db jobs.db)"
        )
    return db


def _existing_db(args: argparse.Namespace) -> str:
    """The database path of a command that must not create one (a mistyped --db
    would otherwise show an empty, healthy queue)."""
    db = _db(args)
    if not os.path.exists(db):
        raise DatabaseFileError(
            f"{db} does not exist; check --db (or $GIGQ_DB): this command works on an "
            "existing queue and does not create one"
        )
    return db


def _queue(args: argparse.Namespace) -> JobQueue:
    return JobQueue(_db(args), settings=_settings(args))


def _existing_queue(args: argparse.Namespace) -> JobQueue:
    settings = _settings(args)  # a bad flag is the first thing to hear about
    return JobQueue(_existing_db(args), settings=settings)


def _import_function(path: str) -> Any:
    module_path, _, function_name = path.rpartition(".")
    if not module_path or not function_name:
        raise UsageError(
            f"{path!r} is not an import path; write it as module.function "
            "(e.g. myapp.tasks.send_email)"
        )
    __import__(module_path)
    return getattr(sys.modules[module_path], function_name)


class _NotJSON(Exception):
    """A value Python's json reads but strict JSON has not: NaN, Infinity, 1e999."""


def _refuse_constant(text: str) -> Any:
    raise _NotJSON(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotJSON(text)
    return value


def _parse_params(items: list[str] | None) -> dict[str, Any]:
    """``-p key=value`` items as params: a value is JSON if it parses, else a string."""
    params: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {item!r} must be key=value (e.g. -p count=3)")
        if key in params:
            raise UsageError(f"--param {key!r} is given twice; give each parameter once")
        try:
            params[key] = json.loads(value, parse_constant=_refuse_constant,
                                     parse_float=_finite_float)
        except json.JSONDecodeError:
            params[key] = value
        except _NotJSON as exc:
            raise UsageError(
                f"--param {item!r}: {exc} is not a JSON number (JSON has no NaN or "
                f"infinity); quote it to pass a string: -p '{key}=\"{value}\"'"
            ) from None
    return params


def cmd_submit(args: argparse.Namespace) -> int:
    """Submit a job to the queue."""
    try:
        function = _import_function(args.function)
    except (ImportError, AttributeError) as exc:
        print(f"Error: Could not import {args.function}")
        print(str(exc))
        return 1
    job = Job(
        name=args.name,
        function=function,
        params=_parse_params(args.param),
        priority=args.priority,
        max_attempts=args.max_attempts,
        timeout=args.timeout,
        description=args.description or "",
        retry_delay=args.retry_delay,
        queue=_opt(args, "queue", DEFAULT_QUEUE),
    )
    job_id = _queue(args).submit(job)
    print(f"Job submitted: {job_id}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Show one job."""
    status = _existing_queue(args).get_status(args.job_id)
    if not status.get("exists", False):
        print(f"Job {args.job_id} not found.")
        return 1
    print(f"Job: {status['name']} ({status['id']})")
    print(f"Status: {status['status']}")
    print(f"Created: {format_time(status['created_at'])}")
    print(f"Updated: {format_time(status['updated_at'])}")
    print(f"Started: {format_time(status.get('started_at'))}")
    print(f"Completed: {format_time(status.get('completed_at'))}")
    print(f"Attempts: {status['attempts']} / {status['max_attempts']}")
    if status.get("worker_id"):
        print(f"Worker: {status['worker_id']}")
    if status.get("error"):
        print(f"Error: {status['error']}")
    if status.get("waiting_on"):
        held = ", ".join(f"{p['id']} ({p['status']})" for p in status["waiting_on"])
        print(f"Waiting on: {held}")
    if args.show_params and status.get("params"):
        print("\nParameters:")
        for key, value in status["params"].items():
            print(f"  {key}: {value}")
    if args.show_result and status.get("result") is not None:
        print("\nResult:")
        if isinstance(status["result"], dict):
            for key, value in status["result"].items():
                print(f"  {key}: {value}")
        else:
            print(f"  {status['result']}")
    if args.show_executions and status.get("executions"):
        print("\nExecutions:")
        rows = [
            [e["id"], format_time(e["started_at"]), format_time(e.get("completed_at")),
             e["status"]]
            for e in status["executions"]
        ]
        print(format_table(rows, headers=["ID", "Started", "Completed", "Status"]))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """List jobs, newest first."""
    status = None
    if args.status:
        try:
            status = JobStatus(args.status)
        except ValueError:
            print(f"Error: Invalid status '{args.status}'")
            print(f"Valid statuses: {', '.join(s.value for s in JobStatus)}")
            return 1
    limit = validation.integer(args.limit, "--limit", error=UsageError)
    jobs = _existing_queue(args).list_jobs(status=status, limit=limit)
    if not jobs:
        print("No jobs found.")
        return 0
    rows = [
        [j["id"], j["name"], j["status"], j["priority"], format_time(j["created_at"]),
         format_time(j["updated_at"])]
        for j in jobs
    ]
    print(format_table(rows, headers=["ID", "Name", "Status", "Priority", "Created", "Updated"]))
    return 0


def _no_such_job(queue: JobQueue, job_id: str) -> bool:
    """True (after saying so) when ``job_id`` is not in the queue at all."""
    if queue.get_status(job_id).get("exists", False):
        return False
    print(f"Error: there is no job {job_id} in {queue.db_path}", file=sys.stderr)
    return True


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel a pending job."""
    queue = _existing_queue(args)
    if queue.cancel(args.job_id):
        print(f"Job {args.job_id} cancelled.")
        return 0
    if not _no_such_job(queue, args.job_id):
        print(f"Could not cancel job {args.job_id}. It might not be in pending state.")
    return 1


def cmd_requeue(args: argparse.Namespace) -> int:
    """Requeue a failed, timed-out or cancelled job."""
    queue = _existing_queue(args)
    if queue.requeue_job(args.job_id):
        print(f"Job {args.job_id} requeued.")
        return 0
    if not _no_such_job(queue, args.job_id):
        print(f"Could not requeue job {args.job_id}. It might not be in a failed state.")
    return 1


def cmd_clear(args: argparse.Namespace) -> int:
    """Delete completed and cancelled jobs (and their history)."""
    before = None
    if args.before is not None:
        if args.before < 0:
            print("Error: Invalid value for --before (days must be >= 0)")
            return 1
        days = validation.number(args.before, "--before", 0, MAX_BEFORE_DAYS, unit="days",
                                 error=UsageError)
        before = (datetime.now() - timedelta(days=days)).isoformat()
    count = _existing_queue(args).clear_completed(before_timestamp=before)
    print(f"Cleared {count} completed jobs.")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """Count jobs per status (and per queue with --by-queue)."""
    queue = _existing_queue(args)
    order = [s.value for s in JobStatus] + ["total"]
    if _opt(args, "by_queue", False):
        per_queue = queue.stats(by_queue=True)
        if not per_queue:
            print("No jobs found.")
            return 0
        rows = [[name] + [counts[s] for s in order] for name, counts in per_queue.items()]
        print(format_table(rows, headers=["Queue"] + [s.capitalize() for s in order]))
        return 0
    stats = queue.stats()
    print(format_table([[s, stats.get(s, 0)] for s in order], headers=["Status", "Count"]))
    return 0


# Worker keyword arguments whose option has another name on the command line.
_WORKER_FLAGS = {"allowed_modules": "allow_module", "queues": "queue"}


def _worker_config(args: argparse.Namespace) -> WorkerConfig:
    """The worker's settings: defaults, $GIGQ_*, ``--config`` and flags, merged by
    :func:`gigq.config.merge` (flags given on the command line win)."""
    given_flags = _opt(args, "_explicit", set())
    held: dict[str, Any] = {}
    explicit: dict[str, Any] = {}
    for key in WORKER_KEYS:
        flag = _WORKER_FLAGS.get(key, key)
        value = _opt(args, flag)
        if value is not None:
            (explicit if flag in given_flags else held)[key] = value
    explicit.update((k, _opt(args, k)) for k in STORAGE_KEYS if _opt(args, k) is not None)
    return merge(_opt(args, "config") or None, explicit, held=held, environ=os.environ)


def _worker_from_args(args: argparse.Namespace, config: WorkerConfig | None = None) -> Worker:
    config = config or _worker_config(args)
    return Worker(_db(args), settings=config.settings, **config.options)


def _processes(args: argparse.Namespace, config: WorkerConfig) -> int | None:
    """How many supervised processes to run: --processes, else the config file's
    ``processes`` (not for --once, nor inside a child the supervisor started)."""
    flag = _opt(args, "processes")
    if flag is not None or _opt(args, "supervised_child", False) or _opt(args, "once", False):
        return flag
    return config.processes


# The storage flags every command takes, by SQLiteSettings field (mmap_size has none).
_SETTINGS_FLAGS: dict[str, dict[str, Any]] = {
    "journal_mode": {"help": "SQLite journal mode: wal (default), delete, truncate, "
                             "persist, memory, off"},
    "synchronous": {"help": "SQLite synchronous level: off, normal (default), full, extra"},
    "cache_size": {"type": int,
                   "help": "SQLite cache_size (negative = KiB, positive = pages)"},
    "busy_timeout": {"type": float,
                     "help": "seconds to wait for a locked database (default 30)"},
}


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


# The global options that take a value, so the worker's own arguments can be found.
_GLOBAL_VALUE_OPTIONS = {"--db", *(_flag(key) for key in _SETTINGS_FLAGS)}


def _split_at_command(argv: list[str], command: str) -> tuple[list[str], list[str]]:
    """Split ``argv`` into the global options and the arguments after ``command``."""
    i = 0
    while i < len(argv):
        if argv[i] == command:
            return argv[:i], argv[i + 1:]
        i += 2 if argv[i] in _GLOBAL_VALUE_OPTIONS else 1
    raise UsageError(f"no {command!r} command in the arguments")


def _supervise(args: argparse.Namespace, config: WorkerConfig, processes: int) -> int:
    from .supervisor import Supervisor, child_command, strip_option

    check_processes(processes, "--processes")
    if args.once:
        raise UsageError("--once and --processes do not go together")
    global_args, worker_args = _split_at_command(list(args._argv), "worker")
    worker_args = strip_option(worker_args, "--processes", "--worker-id")
    # Each child gets its own id: from one given anywhere (flag, $GIGQ_WORKER_ID, the
    # config file), or else each generates one.
    base = config.options.get("worker_id")

    def argv_for(i: int) -> list[str]:
        extra = ["--worker-id", f"{base}-p{i}"] if base else []
        # A child reads the same --config file: it must not supervise in turn.
        return child_command(global_args, [*worker_args, *extra, "--supervised-child"])

    # Validates every option (and the database) up front, and settles what the
    # children will run with: the supervisor must agree with them on burst and shutdown.
    worker = _worker_from_args(args, config)
    worker.close()
    print(f"Starting {processes} worker processes...", flush=True)
    supervisor = Supervisor(argv_for, processes, burst=worker.burst,
                            shutdown_timeout=worker.shutdown_timeout)
    return supervisor.run()


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a worker until SIGINT/SIGTERM (or one job with --once)."""
    setup_logging(logging.INFO)
    config = _worker_config(args)
    processes = _processes(args, config)
    if processes is not None and _opt(args, "_argv") is not None:
        return _supervise(args, config, processes)
    worker = _worker_from_args(args, config)
    if args.once:
        try:
            processed = worker.process_one()
        except KeyboardInterrupt:  # SIGINT/SIGTERM during the job: it was handed back
            print("Worker stopped by user.")
            return 0
        finally:
            worker.close()
        print("Processed one job." if processed else "No jobs available to process.")
        return 0
    print(f"Starting worker {worker.worker_id}...", flush=True)
    try:
        worker.start()
    except KeyboardInterrupt:
        print("Worker stopped by user.")
    if worker.stranded:
        print(f"{worker.stranded} job(s) wait on parents that failed, timed out or were "
              "cancelled; they run once those parents are requeued.")
    if worker.failure:
        # Non-zero so that a supervisor (systemd, --processes) restarts the worker.
        print(f"Error: {worker.failure}", file=sys.stderr)
        return 1
    return 0


def cmd_workers(args: argparse.Namespace) -> int:
    """List registered workers: live, stale, dead or stopped."""
    from .leases import list_workers

    queue = _existing_queue(args)
    workers = list_workers(Storage.shared(queue.db_path, queue.settings),
                           _opt(args, "lease_timeout", DEFAULT_LEASE_TIMEOUT))
    if not _opt(args, "all", False):
        workers = [w for w in workers if w["state"] != "stopped"]
    if not workers:
        print("No workers found.")
        return 0
    rows = [
        [w["worker_id"], w["state"], w["host"], w["pid"], format_time(w["started_at"]),
         "-" if w["heartbeat_age_s"] is None else f"{w['heartbeat_age_s']:.1f}s ago",
         w["running_jobs"], w["concurrency"],
         w["isolation"]]
        for w in workers
    ]
    print(format_table(rows, headers=["Worker", "State", "Host", "PID", "Started",
                                      "Heartbeat", "Running", "Threads", "Isolation"]))
    return 0


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def cmd_probe(args: argparse.Namespace) -> int:
    """Report the queue's health; exit 1 when a threshold is exceeded."""
    from .probe import probe

    settings = _settings(args)
    try:
        report = probe(
            _db(args), settings=settings, last_n=_opt(args, "last", 1000),
            round_trip=not _opt(args, "no_round_trip", False),
            round_trip_timeout=_opt(args, "timeout", 10.0),
            queue=_opt(args, "queue", DEFAULT_QUEUE),
            max_age=_opt(args, "max_age"), max_depth=_opt(args, "max_depth"),
        )
    except DatabaseFileError as exc:  # missing, damaged, not GigQ's: unhealthy
        if _opt(args, "json", False):
            print(json.dumps({"db_path": _db(args), "healthy": False, "problems": [str(exc)]}))
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if _opt(args, "json", False):
        print(json.dumps(report.as_dict(), indent=2))
        return 0 if report.healthy else 1
    order = [s.value for s in JobStatus]
    rows = [[q] + [counts.get(s, 0) for s in order] for q, counts in report.depth.items()]
    print(format_table(rows, headers=["Queue"] + [s.capitalize() for s in order])
          if rows else "No jobs.")
    age = report.oldest_pending_age_s
    print(f"Pending: {report.pending} (oldest {_seconds(age)})")
    print(f"Completed in the last minute: {report.completed_last_minute} "
          f"({report.jobs_per_sec_last_minute:.1f} jobs/s)")
    print(f"Last {report.sample_size} completions: wait p50 {_seconds(report.wait_p50_s)}, "
          f"p95 {_seconds(report.wait_p95_s)}; run p50 {_seconds(report.run_p50_s)}, "
          f"p95 {_seconds(report.run_p95_s)}")
    print(f"Workers: {report.workers_live} live, {report.workers_stale} stale, "
          f"{report.workers_dead} dead")
    trip = report.round_trip
    if trip is None:
        print("Round trip: skipped" + ("" if report.workers_live else " (no live worker)"))
    else:
        print(f"Round trip on '{trip['queue']}': {trip['status']}, picked up after "
              f"{_seconds(trip['pickup_s'])}, completed after {_seconds(trip['total_s'])}")
    print("Healthy." if report.healthy else "UNHEALTHY: " + "; ".join(report.problems))
    return 0 if report.healthy else 1


def cmd_optimize(args: argparse.Namespace) -> int:
    """Refresh the query planner's statistics."""
    _existing_queue(args).optimize()
    print("Optimized.")
    return 0


def cmd_vacuum(args: argparse.Namespace) -> int:
    """Rebuild the database file to reclaim free space."""
    _existing_queue(args).vacuum()
    print("Vacuumed.")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Write a consistent copy of the live database."""
    path = _existing_queue(args).backup(args.dest)
    print(f"Backup written: {path}")
    return 0


def cmd_checkpoint(args: argparse.Namespace) -> int:
    """Move the WAL's content into the main database file."""
    busy, log, done = _existing_queue(args).checkpoint(_opt(args, "mode", "truncate"))
    print(f"Checkpoint: {done} of {log} WAL frames copied" + (" (busy)" if busy else "") + ".")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Run SQLite's integrity check on the database."""
    db = _existing_db(args)
    try:
        problems = JobQueue(db, initialize=False, settings=_settings(args)).integrity_check()
    except DatabaseFileError as exc:
        # Too damaged for the check itself to run (the usual advice is to run it).
        print(f"Error: {db} cannot be checked: SQLite cannot read it "
              f"({exc.__cause__ or exc}); "
              "restore it from a backup ('gigq backup' makes safe copies)", file=sys.stderr)
        return 1
    if problems == ["ok"]:
        print(f"{db}: ok")
        return 0
    print(f"{db}: {len(problems)} problem(s) found:")
    for line in problems:
        print(f"  {line}")
    print("Restore from a backup ('gigq backup' makes safe copies).")
    return 1


def _add_settings_flags(parser: argparse.ArgumentParser, top: bool) -> None:
    default = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("storage settings")
    for key, options in _SETTINGS_FLAGS.items():
        group.add_argument(_flag(key), default=default, **options)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n(run '{self.prog} --help' for usage)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gigq`` command."""
    parser = _Parser(prog="gigq", description="GigQ: a job queue in one SQLite file")
    parser.add_argument("--db", default=os.environ.get("GIGQ_DB", "gigq.db"),
                        help="path of the SQLite database (default: $GIGQ_DB or gigq.db)")
    _add_settings_flags(parser, top=True)
    sub = parser.add_subparsers(dest="command", help="command to run", parser_class=_Parser)
    sub.required = True

    def command(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        _add_settings_flags(p, top=False)
        return p

    p = command("submit", cmd_submit, "Submit a job to the queue")
    p.add_argument("function", help="function to run, as module.function")
    p.add_argument("--name", required=True, help="name for the job")
    p.add_argument("--param", "-p", action="append", help="parameter as key=value (JSON value)")
    p.add_argument("--priority", type=int, default=0, help="priority (higher runs first)")
    p.add_argument("--max-attempts", type=int, default=3, help="maximum attempts")
    p.add_argument("--timeout", type=float, default=300, help="timeout in seconds (0: none)")
    p.add_argument("--description", help="job description")
    p.add_argument("--retry-delay", type=float, default=0,
                   help="seconds to wait before retrying a failed job (default: 0)")
    p.add_argument("--queue", default="default", help="queue name (default: default)")

    p = command("status", cmd_status, "Show a job's status")
    p.add_argument("job_id", help="job id")
    p.add_argument("--show-params", action="store_true", help="show job parameters")
    p.add_argument("--show-result", action="store_true", help="show job result")
    p.add_argument("--show-executions", action="store_true", help="show execution history")

    p = command("list", cmd_list, "List jobs, newest first")
    p.add_argument("--status", help="only jobs with this status")
    p.add_argument("--limit", type=int, default=100, help="maximum number of jobs to list")

    p = command("cancel", cmd_cancel, "Cancel a pending job")
    p.add_argument("job_id", help="job id")

    p = command("requeue", cmd_requeue, "Requeue a failed, timed-out or cancelled job")
    p.add_argument("job_id", help="job id")

    p = command("clear", cmd_clear, "Delete completed and cancelled jobs and their history")
    p.add_argument("--before", type=float, help="only jobs finished more than N days ago")

    p = command("stats", cmd_stats, "Count jobs per status")
    p.add_argument("--by-queue", action="store_true", help="one row per queue")

    p = command("worker", cmd_worker, "Run a worker")
    p.add_argument("--worker-id", help="worker id (default: $GIGQ_WORKER_ID or generated)")
    p.add_argument("--polling-interval", type=float, default=None,
                   help="longest idle sleep in seconds; a worker wakes earlier when the "
                        "database changes (default: $GIGQ_POLLING_INTERVAL or 5)")
    p.add_argument("--once", action="store_true", help="process one job and exit")
    p.add_argument("--burst", action="store_true",
                   help="exit once no job is pending or running (drain the queue)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="job-processing threads (default: 1)")
    p.add_argument("--isolation", choices=ISOLATION_MODES, default=None,
                   help="thread (default): run jobs in this process; process: run each job "
                        "in a child process that is killed at its timeout")
    p.add_argument("--lease-timeout", type=float, default=None,
                   help="seconds without heartbeat before another worker reclaims this "
                        f"worker's jobs (default: {DEFAULT_LEASE_TIMEOUT:g})")
    p.add_argument("--shutdown-timeout", type=float, default=None,
                   help="on SIGTERM/SIGINT, seconds running jobs get to finish before a "
                        "job's child process (--isolation process) is killed and the job "
                        "handed back; a job in a thread is waited for "
                        f"(default: {DEFAULT_SHUTDOWN_TIMEOUT:g})")
    p.add_argument("--allow-module", action="append", metavar="PREFIX",
                   help="only run functions from modules under PREFIX (repeatable)")
    p.add_argument("--queue", action="append", metavar="NAME",
                   help="only claim jobs of this queue (repeatable; default: all queues)")
    p.add_argument("--min-priority", type=int, help="only claim jobs with priority >= N")
    p.add_argument("--max-priority", type=int, help="only claim jobs with priority <= N")
    p.add_argument("--config", metavar="FILE",
                   help="TOML file of worker and storage settings (e.g. from gigq-bench tune)")
    p.add_argument("--processes", type=int, metavar="N",
                   help="run N worker processes (each with --concurrency threads) under a "
                        "supervisor that restarts the ones that die (also read from "
                        "--config: processes = N)")
    # Set by the supervisor on its children's command line (not for users).
    p.add_argument("--supervised-child", action="store_true", help=argparse.SUPPRESS)

    p = command("workers", cmd_workers, "List registered workers and their heartbeat")
    p.add_argument("--all", action="store_true", help="include cleanly stopped workers")

    p = command("probe", cmd_probe, "Check a running queue's health (exit 1 if unhealthy)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--max-age", type=float, metavar="SECONDS",
                   help="unhealthy if the oldest pending job is older than this")
    p.add_argument("--max-depth", type=int, metavar="N",
                   help="unhealthy if more than N jobs are pending")
    p.add_argument("--no-round-trip", action="store_true",
                   help="do not submit the probe job (read-only check)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for the probe job (default 10)")
    p.add_argument("--queue", default="default", help="queue for the probe job")
    p.add_argument("--last", type=int, default=1000,
                   help="latency percentiles over the last N completions (default 1000)")

    command("optimize", cmd_optimize, "Refresh SQLite's query planner statistics")
    command("vacuum", cmd_vacuum, "Rebuild the database file to reclaim space")
    p = command("backup", cmd_backup, "Copy the live database safely (online backup API)")
    p.add_argument("dest", help="path of the copy")
    p = command("checkpoint", cmd_checkpoint, "Checkpoint the WAL into the database file")
    p.add_argument("--mode", default="truncate",
                   help="passive, full, restart or truncate (default)")
    command("check", cmd_check, "Check the database file's integrity")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed, plus ``_explicit``: the options it gives itself (they win over
    a config file), and ``_argv`` (for the supervisor's children)."""
    args = build_parser().parse_args(argv)
    # Parsed again with every default suppressed, the namespace holds only what argv
    # gives: an abbreviation argparse accepts (--conc for --concurrency) counts too.
    given = build_parser()
    _suppress_defaults(given)
    args._explicit = set(vars(given.parse_args(argv)))
    args._argv = argv
    return args


def _suppress_defaults(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _suppress_defaults(sub)
        else:
            action.default = argparse.SUPPRESS


def main(argv: list[str] | None = None) -> int:
    """Run the ``gigq`` command; returns the exit code."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (``gigq list | head -1``): stop quietly, as a
        # SIGPIPE-killed tool would, and keep the exit-time flush from complaining.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13
    except GigQError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # e.g. Job option values
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # The output could not be written (``> /dev/full``, a vanished terminal) or
        # another file error: one line, and no second complaint at exit.
        if exc.errno is not None and _is_stdout_error(exc):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            print(f"Error: cannot write the output: {exc.strerror}", file=sys.stderr)
        else:
            print(f"Error: {exc}", file=sys.stderr)
        return 1


def _is_stdout_error(exc: OSError) -> bool:
    """Whether ``exc`` came from writing standard output (not from another file)."""
    return exc.filename is None and exc.errno in (errno.ENOSPC, errno.EIO, errno.EPIPE,
                                                 errno.EDQUOT, errno.EFBIG)


if __name__ == "__main__":
    sys.exit(main())
