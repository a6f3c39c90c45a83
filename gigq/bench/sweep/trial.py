"""One trial: fresh database → submit → workers → barrier → drain → verify → metrics.

The trial side runs in the sweep's process and does little while the timed window
is open: it waits on pipes, and where workers cannot stop by themselves it reads
the job counts every 20 ms. The work happens in processes started from
``trial_worker.py`` with the interpreter under test (by default this one), so the
same trial measures any GigQ version installed in any virtualenv.

Sequence (file databases):

1. a fresh directory and database in the location's scratch directory;
2. drain mode: a ``submit`` process submits the jobs (submit rate measured there);
3. ``workers`` processes build their Worker (interpreter start-up, imports, schema
   check happen now, outside the timed window) and report ``ready``;
   steady mode: a ``produce`` process creates the database and gets ready first;
4. the barrier: every process gets ``go`` at once; the timed window starts;
5. drain: workers exit when the queue is empty (``burst``); for GigQ versions
   without it, and in steady mode once the producer is done, the trial watches
   the database from its own process and sends ``stop`` when no job is pending or
   running — the measured processes spend nothing on watching;
6. the trial reads the jobs' timestamps from the database, the jobs' ledgers
   (the side channel proving each job ran exactly once) and the workers' counters,
   then computes the metrics (:mod:`gigq.bench.metrics`).

The in-memory location runs everything in one ``solo`` process (threads only) that
hands back a copy of its database. Whatever happens — failure, timeout, Ctrl-C —
every process is stopped and the trial directory removed before ``run`` returns
or raises.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gigq.leases import DEFAULT_LEASE_TIMEOUT

from .. import metrics
from . import ceiling, trial_worker, workloads
from .locations import Location, Locations, Scratch, python_for
from .space import STEADY, durability_of
from .workloads import LEDGER_ENV

TRIAL_WORKER = str(Path(trial_worker.__file__).resolve())
WORKLOADS_FILE = str(Path(workloads.__file__).resolve())
DEFAULT_TIMEOUT = 300.0
# How long processes get to exit on their own (closing stdin tells them to stop)
# before SIGTERM, then SIGKILL.
_GRACE = 3.0


class TrialFailure(Exception):
    """A trial could not complete; the message says where and why."""


@dataclass
class TrialOutcome:
    """What a trial produced: the measured values and what the workers reported."""

    values: dict[str, Any]
    capabilities: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Whether the trial passed verification."""
        return bool(self.values.get("valid"))


# ---------------------------------------------------------------------------
# Child processes


@contextlib.contextmanager
def _interrupts_deferred() -> Any:
    """Hold Ctrl-C (SIGINT) back while a child is started and registered.

    A KeyboardInterrupt between fork and registration would leave a process nobody
    stops; blocked, the signal arrives right after, when cleanup knows every child.
    (The child inherits the blocked SIGINT; it is stopped through stdin or
    SIGTERM/SIGKILL, never SIGINT.)
    """
    if not hasattr(signal, "pthread_sigmask") or \
            threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Child:
    """A trial_worker process: JSON messages from stdout, commands to stdin."""

    def __init__(self, role: str, spec: dict[str, Any], python: str, env: dict[str, str],
                 log_path: str) -> None:
        self.role = role
        self.log_path = log_path
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        # A session of its own: Ctrl-C in the terminal reaches only the sweep, which
        # then stops the children itself (so a trial is always torn down in order).
        self.proc = subprocess.Popen(
            [python, TRIAL_WORKER, json.dumps({**spec, "role": role})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            env=env, start_new_session=True, text=True, bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                self.messages.put(json.loads(line))
            except ValueError:
                continue  # stray output of a job; not ours
        self.messages.put(None)

    def send(self, command: str) -> None:
        """Write one command line; a dead child is noticed by the next wait."""
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()

    def stderr_tail(self, limit: int = 600) -> str:
        """The end of the child's stderr, for error messages."""
        try:
            data = Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""
        lines = [ln for ln in data.strip().splitlines() if ln.strip()]
        return " | ".join(lines[-4:])[-limit:]

    def wait_for(self, event: str, deadline: float, stage: str) -> dict[str, Any]:
        """The next message, which must be ``event``; raise TrialFailure otherwise."""
        remaining = deadline - time.monotonic()
        try:
            message = self.messages.get(timeout=max(remaining, 0.001))
        except queue.Empty:
            raise TrialFailure(f"timed out {stage} ({self.role} process)") from None
        if message is None:
            try:
                code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            tail = self.stderr_tail()
            raise TrialFailure(
                f"{self.role} process exited (code {code}) {stage}"
                + (f": {tail}" if tail else "")
            )
        if message.get("event") == "error":
            raise TrialFailure(f"{self.role} process failed {stage}: {message.get('message')}")
        if message.get("event") != event:
            raise TrialFailure(f"{self.role} process said {message.get('event')!r} {stage}, "
                               f"expected {event!r}")
        return message

    def wait_exit(self, deadline: float) -> int | None:
        """Exit code, or None if still running at the deadline."""
        try:
            return self.proc.wait(timeout=max(deadline - time.monotonic(), 0.001))
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Make sure the process is gone: close stdin, then SIGTERM, then SIGKILL."""
        proc = self.proc
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                if proc.stdin:
                    proc.stdin.close()
            try:
                proc.wait(timeout=_GRACE)
            except subprocess.TimeoutExpired:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, sig)
                    try:
                        proc.wait(timeout=_GRACE)
                        break
                    except subprocess.TimeoutExpired:
                        continue
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                if stream:
                    stream.close()
        self._log.close()


def interpreter_env(python: str) -> dict[str, str]:
    """The environment for processes run with ``python`` (trial workers, the probe)."""
    env = dict(os.environ)
    if python != python_for(None):
        # Another interpreter must import its own GigQ, not this tree's.
        env.pop("PYTHONPATH", None)
    return env


def interpreter_capabilities(python: str, timeout: float = 60.0) -> dict[str, Any]:
    """What the GigQ importable by ``python`` can do (see trial_worker.capabilities).

    Raises TrialFailure, saying why, when that interpreter cannot drive a trial
    (not a Python, no gigq installed, ...). Call it before a run to fail early.
    """
    try:
        proc = subprocess.run([python, TRIAL_WORKER, "--capabilities"], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env=interpreter_env(python))
    except (OSError, subprocess.SubprocessError) as exc:
        raise TrialFailure(f"cannot run {python}: {exc}") from None
    for line in proc.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("event") == "capabilities":
            return message["capabilities"]
    tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
    raise TrialFailure(f"{python} cannot run GigQ trials (exit code {proc.returncode}"
                       + (f": {tail}" if tail else "") + "); give a Python that has gigq "
                       "installed")


# ---------------------------------------------------------------------------
# Reading the database


def _epoch(text: Any) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


def read_jobs(db_path: str) -> list[metrics.JobRecord]:
    """Status, attempts and timestamps of every job in a GigQ database file.

    Uses the epoch columns where the GigQ version has them, else parses 0.5.x's
    ISO timestamp columns (local time).
    """
    conn = sqlite3.connect(db_path)
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
        if not columns:
            return []
        if {"created_epoch", "started_epoch", "completed_epoch"} <= columns:
            rows = conn.execute(
                "SELECT status, attempts, created_epoch, started_epoch, completed_epoch "
                "FROM jobs").fetchall()
            return [metrics.JobRecord(*row) for row in rows]
        rows = conn.execute(
            "SELECT status, attempts, created_at, started_at, completed_at FROM jobs"
        ).fetchall()
        return [metrics.JobRecord(s, a or 0, _epoch(c), _epoch(st), _epoch(d))
                for s, a, c, st, d in rows]
    finally:
        conn.close()


# How often the trial reads the queue's counts when it watches for the drain.
WATCH_INTERVAL = 0.02


def database_drained(conn: sqlite3.Connection) -> bool:
    """No job pending or running in the database of ``conn`` (every GigQ version's
    status values). A busy database counts as not drained yet."""
    try:
        row = conn.execute(
            "SELECT COUNT(*) FROM jobs WHERE status IN ('pending', 'running')").fetchone()
    except sqlite3.OperationalError:
        return False
    return row[0] == 0


def watch_drain(db_path: str, workers: list[_Child], deadline: float) -> None:
    """Return once the queue at ``db_path`` is drained, a worker has exited (its
    message says why) or the deadline has passed (the wait that follows says so)."""
    conn = sqlite3.connect(db_path, timeout=1.0, isolation_level=None)
    try:
        while time.monotonic() < deadline:
            if database_drained(conn) or any(w.proc.poll() is not None for w in workers):
                return
            time.sleep(WATCH_INTERVAL)
    finally:
        conn.close()


def database_bytes(db_path: str) -> int | None:
    """Bytes of a database file plus its WAL (None if there is no file)."""
    if not os.path.exists(db_path):
        return None
    total = os.path.getsize(db_path)
    wal = db_path + "-wal"
    if os.path.exists(wal):
        total += os.path.getsize(wal)
    return total


# ---------------------------------------------------------------------------
# The trial


def settings_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The storage settings a configuration asks for (SQLiteSettings keywords)."""
    return {"journal_mode": config["journal_mode"], "synchronous": config["synchronous"],
            "cache_size": config["cache_size"]}


@dataclass
class Harness:
    """Runs trials and ceiling probes; holds what every trial of a sweep shares.

    ``interpreter`` is the Python that runs the worker processes (a virtualenv with
    another GigQ version for A/B runs). ``timeout`` bounds one whole trial.
    """

    locations: Locations
    scratch: Scratch
    interpreter: str | None = None
    job_sizes: dict[str, float] = field(default_factory=dict)
    batch_size: int = 500
    timeout: float = DEFAULT_TIMEOUT
    # The user's job for job_type "custom" (space.parse_custom_job) and the
    # directory its module is imported from (the current directory, as for
    # `gigq worker`).
    custom_job: dict[str, Any] | None = None
    job_path: str | None = None

    def probe(self, config: Mapping[str, Any], seconds: float = ceiling.DEFAULT_SECONDS) -> float:
        """Raw single-row commits/s for the configuration's location and settings."""
        loc = self.locations.resolve(config["location"])
        directory = None if loc.in_memory else self.scratch.dir_for(loc)
        return ceiling.commit_rate(directory, config["journal_mode"], config["synchronous"],
                                   config["cache_size"], seconds=seconds)

    def run(self, config: Mapping[str, Any], jobs: int | None = None,
            ceiling_rate: float | None = None, interpreter: str | None = None) -> TrialOutcome:
        """Run one trial of ``config`` (``jobs`` overrides its job count).

        Never raises for a failed trial — the outcome is marked invalid with the
        reason — except KeyboardInterrupt, after cleaning up.
        """
        loc = self.locations.resolve(config["location"])
        python = python_for(interpreter or self.interpreter)
        trial_dir = tempfile.mkdtemp(prefix="trial-", dir=self.scratch.dir_for(loc))
        try:
            return self._run(config, loc, python, trial_dir, jobs, ceiling_rate)
        finally:
            shutil.rmtree(trial_dir, ignore_errors=True)

    def _run(self, config: Mapping[str, Any], loc: Location, python: str, trial_dir: str,
             jobs: int | None, ceiling_rate: float | None) -> TrialOutcome:
        ledger = os.path.join(trial_dir, "ledger")
        os.mkdir(ledger)
        db_file = os.path.join(trial_dir, "jobs.db")
        steady = config["mode"] == STEADY
        count = jobs if jobs is not None else config["jobs"]
        if not steady and not isinstance(count, int):
            raise ValueError(f"drain trial needs a job count, got {count!r}")
        lease = float(config.get("lease_timeout") or DEFAULT_LEASE_TIMEOUT)
        spec = {
            "db": ":memory:" if loc.in_memory else db_file,
            "settings": settings_of(config),
            "job_type": config["job_type"],
            "sizes": self.job_sizes,
            "jobs": count,
            "submit": config["submit"],
            "batch_size": self.batch_size,
            "mode": config["mode"],
            "arrival_rate": config["arrival_rate"],
            "duration": config["duration"],
            "polling_interval": config["polling_interval"],
            "concurrency": config["concurrency"],
            "workloads_path": WORKLOADS_FILE,
            "workloads_module": workloads.MODULE_NAME,
            "connections": config.get("connections") or "reused",
            "payload_bytes": int(config.get("payload_bytes") or 0),
            "queues": int(config.get("queues") or 1),
            "isolation": config.get("isolation") or "thread",
            # Only a non-default lease is passed on (other versions have no leases).
            "lease_timeout": None if lease == DEFAULT_LEASE_TIMEOUT else lease,
            "custom_job": self.custom_job,
            "job_path": self.job_path or os.getcwd(),
        }
        if spec["isolation"] == "process":
            # The job children import the workloads by name from the worker's sys.path,
            # so they need a file of that name (worker processes load it by path).
            module_dir = os.path.join(trial_dir, "modules")
            os.mkdir(module_dir)
            spec["workloads_path"] = shutil.copy(
                WORKLOADS_FILE, os.path.join(module_dir, f"{workloads.MODULE_NAME}.py"))
            spec["module_dir"] = module_dir
        env = {**interpreter_env(python), LEDGER_ENV: ledger}
        children: list[_Child] = []
        failures: list[str] = []
        notes: list[str] = []
        caps: dict[str, Any] | None = None
        submitted, submit_s = 0, None
        reports: list[metrics.WorkerReport] = []
        deadline = time.monotonic() + self.timeout
        barrier = None

        def start(role: str, **extra: Any) -> _Child:
            with _interrupts_deferred():
                child = _Child(role, {**spec, **extra}, python, env,
                               os.path.join(trial_dir, f"{role}-{len(children)}.log"))
                children.append(child)
            return child

        def report(msg: dict[str, Any]) -> metrics.WorkerReport:
            return metrics.WorkerReport(msg["t_go"], msg["t_end"], msg["cpu_s"],
                                        msg["threads"], msg.get("lock"))

        try:
            if loc.in_memory:
                copy = os.path.join(trial_dir, "copy.db")
                solo = start("solo", backup_to=copy)
                caps = solo.wait_for("ready", deadline, "while starting")["capabilities"]
                barrier = time.time()
                solo.send("go")
                done = solo.wait_for("done", deadline, "while running the trial")
                reports.append(report(done))
                submitted, submit_s = done.get("submitted", 0), done.get("submit_s")
                notes.extend(done.get("notes") or [])
                db_file = copy
            else:
                if not steady:
                    sub = start("submit")
                    done = sub.wait_for("done", deadline, "while submitting")
                    submitted, submit_s = done["submitted"], done["submit_s"]
                    caps = done["capabilities"]
                    notes.extend(done.get("notes") or [])
                producer = None
                if steady:
                    # The producer creates the database (schema, journal mode) before
                    # workers open it: switching the journal mode of a file other
                    # processes are opening at the same moment can fail.
                    producer = start("produce")
                    caps = producer.wait_for("ready", deadline, "while starting")["capabilities"]
                workers = [start("work", worker_index=i, worker_count=config["workers"])
                           for i in range(config["workers"])]
                for child in workers:
                    caps = child.wait_for("ready", deadline, "while starting")["capabilities"]
                barrier = time.time()
                for child in [*workers, *([producer] if producer else [])]:
                    child.send("go")
                if producer is not None:
                    done = producer.wait_for("done", deadline, "while producing")
                    submitted, submit_s = done["submitted"], done["submit_s"]
                    notes.extend(done.get("notes") or [])
                if producer is not None or not (caps or {}).get("burst"):
                    watch_drain(db_file, workers, deadline)
                    for child in workers:
                        child.send("stop")
                for child in workers:
                    reports.append(report(child.wait_for("done", deadline,
                                                         "while working off the queue")))
            for child in children:
                code = child.wait_exit(deadline)
                if code is None:
                    raise TrialFailure(f"timed out waiting for the {child.role} process to exit")
                if code != 0:
                    raise TrialFailure(f"{child.role} process exited with code {code}: "
                                       f"{child.stderr_tail()}")
        except TrialFailure as exc:
            failures.append(str(exc))
        finally:
            for child in children:
                child.stop()
        if failures and time.monotonic() >= deadline:
            failures[-1] += f" (trial timeout {self.timeout:g} s)"
        db_bytes = database_bytes(db_file)
        try:
            jobs_found = read_jobs(db_file) if os.path.exists(db_file) else []
        except sqlite3.Error as exc:
            jobs_found = []
            failures.append(f"could not read the trial database: {exc}")
        data = metrics.TrialData(
            submitted=submitted,
            submit_seconds=submit_s,
            jobs=jobs_found,
            ledger=workloads.read_ledgers(ledger),
            workers=reports,
            barrier=min((r.t_go for r in reports), default=barrier),
            ceiling=ceiling_rate,
            failures=failures,
            db_bytes=db_bytes,
            mode=config["mode"],
        )
        values = metrics.compute(data)
        values["jobs"] = submitted if steady else count
        if caps and not caps.get("settings"):
            values["durability"] = None
        else:
            values["durability"] = durability_of(config, loc.in_ram)
        attempts = sum(1 for j in jobs_found if j.attempts and j.attempts > 1)
        if attempts:
            notes.append(f"{attempts} jobs needed more than one attempt")
        return TrialOutcome(values, caps, list(dict.fromkeys(notes)))
