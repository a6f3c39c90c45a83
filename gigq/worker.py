"""Worker: claim → run → record, with retries, timeouts, leases and graceful shutdown.

A worker runs ``concurrency`` loop threads. Each loop records the outcome of its
last job and claims the next one in the same write transaction. When there is no
work, a loop checks for it with a read (no write lock) and otherwise sleeps until
the database changes or ``polling_interval`` passes. A service thread renews the
worker's heartbeat and job leases, enforces in-process timeouts and reclaims the
jobs of dead workers.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from . import claims, leases, validation
from .claims import Claim, ClaimFilter, Outcome
from .config import MAX_PROCESSES as MAX_PROCESSES
from .config import STORAGE_KEYS, WORKER_KEYS, merge
from .config import load_config as load_config
from .errors import (
    DatabaseBusyError,
    DatabaseCorruptError,
    DatabaseFileError,
    DiskFullError,
    GigQError,
    SettingsError,
)
from .runner import ProcessRunner, ShutdownInterrupt, ThreadRunner, error_text
from .schema import ensure_schema
from .storage import LockStatsSnapshot, SQLiteSettings, Storage

# MAX_PROCESSES and load_config live in gigq.config; the "as" imports above keep
# them importable from gigq.worker, where they were first.
logger = logging.getLogger("gigq.worker")
_T = TypeVar("_T")

ISOLATION_MODES = ("thread", "process")
# Storage trouble a worker waits out instead of crashing: the lock is taken by
# someone else, the disk is full, the file is briefly unreadable.
_TRANSIENT = (DatabaseBusyError, DiskFullError, DatabaseFileError)
# How often an idle worker looks at data_version (a counter in shared memory, not a
# query on the jobs table): the latency of waking up for another process's commit.
_CHANGE_CHECK = 0.01
_RECONCILE_EVERY = 30.0
# Seconds running jobs get to finish after SIGTERM/stop() before the child processes of
# unfinished ones are killed and those jobs handed back (see Worker.stop).
DEFAULT_SHUTDOWN_TIMEOUT = 30.0
# Loop threads per worker: each holds a connection; beyond this, run more processes.
MAX_CONCURRENCY = 1024
# Seconds a --burst worker waits out one episode of storage trouble before it gives
# up: a burst run must end, and a long-running worker (which waits for ever) is the
# one to outlast a locked or full database.
BURST_STORAGE_PATIENCE = 60.0


@dataclass
class _ActiveRun:
    claim: Claim
    runner: ThreadRunner | ProcessRunner
    timed_out: bool = False
    # The heartbeat found the job no longer held by this run (reclaimed elsewhere).
    lost: bool = False


class Worker:
    """Processes jobs from a GigQ database.

    ``isolation="thread"`` (default) runs jobs inside this process; a job past its
    timeout is recorded as timed out and is never run twice at the same time, but
    the call itself cannot be stopped. ``isolation="process"`` runs each job in a
    child process that is killed at the timeout. ``queues`` and the priority range
    restrict what this worker claims (default: every queue, every priority). With
    ``burst=True``, :meth:`start` returns once no job is pending or running (jobs
    whose parents failed for good are counted in :attr:`stranded`).

    When :meth:`start` returns because the worker could not go on (a worker thread
    crashed, the database is damaged, a burst run gave up on storage trouble),
    :attr:`failure` says why; it is None after a requested stop or a finished burst.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        worker_id: str | None = None,
        polling_interval: float = 5,
        concurrency: int = 1,
        *,
        settings: SQLiteSettings | None = None,
        isolation: str = "thread",
        lease_timeout: float = leases.DEFAULT_LEASE_TIMEOUT,
        shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
        allowed_modules: list[str] | tuple[str, ...] | None = None,
        queues: list[str] | tuple[str, ...] | None = None,
        min_priority: int | None = None,
        max_priority: int | None = None,
        burst: bool = False,
    ) -> None:
        validation.integer(concurrency, "concurrency", 1, MAX_CONCURRENCY, error=SettingsError)
        validation.seconds(polling_interval, "polling_interval", error=SettingsError)
        if isolation not in ISOLATION_MODES:
            raise SettingsError(
                f"invalid isolation {isolation!r}; valid values: {', '.join(ISOLATION_MODES)}"
            )
        lease_timeout = leases.check_lease_timeout(lease_timeout)
        if shutdown_timeout is not None:
            validation.seconds(shutdown_timeout, "shutdown_timeout (None = wait for ever)",
                               error=SettingsError)
        for name, bound in (("min_priority", min_priority), ("max_priority", max_priority)):
            if bound is not None:
                validation.integer(bound, name, error=SettingsError)
        if min_priority is not None and max_priority is not None and min_priority > max_priority:
            raise SettingsError(
                f"min_priority {min_priority} is above max_priority {max_priority}: no job "
                "could ever be claimed; swap them or drop one"
            )
        if queues is not None and (
            isinstance(queues, str) or not all(isinstance(q, str) and q for q in queues)
        ):
            raise SettingsError(f"queues must be a list of queue names, got {queues!r}")
        self.db_path = db_path
        self.worker_id = worker_id or f"worker-{uuid.uuid4()}"
        self.polling_interval = polling_interval
        self.concurrency = concurrency
        self.isolation = isolation
        self.lease_timeout = lease_timeout
        self.shutdown_timeout = shutdown_timeout
        self.allowed_modules = tuple(allowed_modules) if allowed_modules is not None else None
        self.burst = burst
        self.running = False
        self.logger = logging.getLogger(f"gigq.worker.{self.worker_id}")
        self._filter = ClaimFilter(queues, min_priority, max_priority)
        self._storage = Storage.shared(db_path, settings)
        self.settings = self._storage.settings
        ensure_schema(self._storage)
        self._instance_id = uuid.uuid4().hex
        self._local = threading.local()
        self._runs: dict[int, _ActiveRun] = {}
        self._runs_lock = threading.Lock()
        self._runners: list[ThreadRunner | ProcessRunner] = []
        self._registered = False
        self._service: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._service_stop = threading.Event()
        self._shutdown_deadline: float | None = None
        self._signals_seen = 0
        # Set when the running start() has shut down (close() waits for it).
        self._start_done: threading.Event | None = None
        self._start_thread: int | None = None
        self.failure: str | None = None
        self.stranded = 0

    # -- public API ----------------------------------------------------------

    @property
    def queues(self) -> tuple[str, ...] | None:
        """The queues this worker claims from (None: all)."""
        return self._filter.queues

    @property
    def current_job_id(self) -> str | None:
        """The id of the job this thread is running, if any."""
        return getattr(self._local, "current_job_id", None)

    @current_job_id.setter
    def current_job_id(self, value: str | None) -> None:
        self._local.current_job_id = value

    def lock_stats(self) -> LockStatsSnapshot:
        """Write-lock contention of this process's connections to the database."""
        return self._storage.lock_stats()

    def process_one(self) -> bool:
        """Claim one ready job, run it and record the outcome.

        True if a job was claimed (whether it then succeeded or failed).
        """
        self._ensure_registered()
        self._reap()
        claim = self._with_storage_retry(self._claim_only, "claim a job")
        if claim is None:
            return False
        # The job runs in this thread: a SIGINT/SIGTERM now is the worker's shutdown
        # (the job is handed back), told apart from a KeyboardInterrupt of the job.
        previous = self._install_signal_handlers(interrupt=True)
        try:
            outcome = self._execute(claim)
        finally:
            self._restore_signal_handlers(previous)
        self._with_storage_retry(lambda: self._settle_and_claim((claim, outcome), False),
                                 "record a job")
        return True

    def start(self) -> None:
        """Process jobs until :meth:`stop` or SIGINT/SIGTERM.

        On the first signal the worker stops claiming and lets running jobs finish
        within ``shutdown_timeout``; see :meth:`stop` for what happens to the ones
        that do not. A second signal exits the process at once.
        """
        self.running = True
        self._stop_event.clear()
        self._shutdown_deadline = None
        self._start_thread = threading.get_ident()
        self._start_done = threading.Event()
        self.failure = None
        self.stranded = 0
        previous = self._install_signal_handlers()
        self.logger.info(
            "Worker %s starting (%d thread(s), %s isolation, %s)",
            self.worker_id, self.concurrency, self.isolation, self._filter.describe(),
        )
        self._ensure_registered()
        threads = [
            threading.Thread(
                target=self._loop, args=(i,), name=f"gigq-{self._thread_worker_id(i)}",
                daemon=True,
            )
            for i in range(self.concurrency)
        ]
        for t in threads:
            t.start()
        try:
            while self.running and any(t.is_alive() for t in threads):
                self._stop_event.wait(0.2)
            finished = self.running  # every loop ended by itself: a finished burst
            self._drain(threads)
            if finished and self.burst and self.failure is None:
                self._report_stranded()
        finally:
            self.running = False
            self._restore_signal_handlers(previous)
            try:
                self._shutdown_services("failed" if self.failure else "stopped")
            finally:
                self._start_done.set()
            if self.failure:
                self.logger.error("Worker %s stopped: %s", self.worker_id, self.failure)
            else:
                self.logger.info("Worker %s stopped", self.worker_id)

    def stop(self) -> None:
        """Stop claiming; :meth:`start` returns once running jobs have ended.

        Jobs get ``shutdown_timeout`` seconds to finish. Then a job in a child process
        (``isolation="process"``) is killed and handed back (pending again, the
        attempt not counted). A job running in a thread of this process cannot be
        stopped, so it is never handed back while its code runs: the worker keeps
        renewing its lease, waits for the call to return and records its outcome.
        To give up on such a job, end the process (a second SIGINT/SIGTERM, or a
        kill); other workers then reclaim the job as a failed attempt.
        """
        if self._shutdown_deadline is None and self.shutdown_timeout is not None:
            self._shutdown_deadline = time.monotonic() + self.shutdown_timeout
        self.running = False
        self._stop_event.set()
        self.logger.info("Worker %s stopping", self.worker_id)

    def close(self) -> None:
        """Stop the worker, wait for it to stop, then stop its background services and
        close this thread's connection.

        If :meth:`start` is running in another thread, close() stops it as
        :meth:`stop` does and blocks until it has returned: a job still running in a
        thread of this process keeps its lease renewed until its call returns and its
        outcome is recorded (a lapsed lease would let another worker run the job beside
        it), however long that takes. The same holds for a job that
        :meth:`process_one` runs in another thread. Called from one of this worker's
        own jobs, it only stops the worker (as :meth:`stop`): the services shut down
        once that job's outcome is recorded, when :meth:`start` returns or at a later
        close().
        """
        if self.running:
            self.stop()
        self.running = False
        self._stop_event.set()
        here = threading.get_ident()
        with self._runs_lock:
            in_own_job = here in self._runs
        if in_own_job:
            return
        done = self._start_done
        if done is not None and self._start_thread != here:
            done.wait()
        while True:
            with self._runs_lock:
                busy = any(r.runner.isolation == "thread" for r in self._runs.values())
            if not busy:
                break
            time.sleep(0.05)
        self._shutdown_services("closed")
        self._storage.close_thread_connection()

    def _check_for_timeouts(self) -> None:
        """Apply the timeout and lease rules now: this worker's timed-out in-process
        runs are recorded, and jobs of dead workers or expired leases reclaimed."""
        self._enforce_thread_timeouts()
        self._reap()
        self._reconcile()

    @classmethod
    def from_config(
        cls,
        db_path: str | os.PathLike[str],
        config: Mapping[str, Any] | str | os.PathLike[str],
        **overrides: Any,
    ) -> Worker:
        """A worker from a mapping of settings, or from a TOML file of them (as
        written by ``gigq-bench tune --write`` and read by ``gigq worker --config``).

        Keys: the storage settings (journal_mode, synchronous, cache_size,
        busy_timeout, mmap_size) and the Worker keyword arguments. ``processes`` is
        accepted and not applied: it tells ``gigq worker --config`` how many
        supervised processes to start, while a Worker object is one process (start
        that many yourself). ``overrides`` (Worker arguments or storage settings)
        win over the file; the layers are merged by :func:`gigq.config.merge`.
        """
        keys = {*WORKER_KEYS, *STORAGE_KEYS}
        # Anything else (``settings``, a misspelt argument) goes to the constructor as is.
        passed = {k: v for k, v in overrides.items() if k not in keys}
        merged = merge(config, {k: v for k, v in overrides.items() if k in keys})
        kwargs = {**merged.options, **passed}
        if merged.settings is not None and "settings" not in kwargs:
            kwargs["settings"] = merged.settings
        return cls(db_path, **kwargs)

    # -- per-thread state ----------------------------------------------------

    def _thread_worker_id(self, index: int) -> str:
        return f"{self.worker_id}-{index}" if self.concurrency > 1 else self.worker_id

    def _thread_state(self) -> tuple[str, ThreadRunner | ProcessRunner, logging.Logger]:
        state = getattr(self._local, "state", None)
        if state is None:
            index = getattr(self._local, "index", 0)
            wid = self._thread_worker_id(index)
            runner: ThreadRunner | ProcessRunner
            if self.isolation == "process":
                runner = ProcessRunner(self.allowed_modules, self.lease_timeout,
                                       self._record_child)
            else:
                runner = ThreadRunner(self.allowed_modules)
            self._runners.append(runner)
            state = (wid, runner, logging.getLogger(f"gigq.worker.{wid}"))
            self._local.state = state
        return state

    # -- the loop ------------------------------------------------------------

    def _loop(self, index: int) -> None:
        self._local.index = index
        wid, _, log = self._thread_state()
        previous: tuple[Claim, Outcome] | None = None
        try:
            while self.running:
                if previous is None:
                    marks = (self._storage.commit_seq(), self._storage.data_version())
                    if not self._with_storage_retry(self._work_visible, "check for work",
                                                    only_while_running=True):
                        if self.burst and not self._with_storage_retry(
                            self._unfinished_work, "check for work", only_while_running=True
                        ):
                            break
                        self._idle_wait(*marks)
                        continue
                claim = self._with_storage_retry(
                    partial(self._settle_and_claim, previous, True), "record a job"
                )
                previous = None
                if claim is None:
                    continue
                if not self.running:  # stopped between claim and start: never started
                    previous = (claim, Outcome("interrupted", error="worker stopped before "
                                                                    "the job started"))
                    break
                previous = (claim, self._execute(claim))
            if previous is not None:
                last, previous = previous, None
                self._with_storage_retry(
                    lambda: self._settle_and_claim(last, False), "record a job"
                )
        except GigQError as exc:  # a damaged file, or storage trouble a burst run gave up on
            self._fail(str(exc))
        except BaseException as exc:
            log.exception("Worker thread %s crashed", wid)
            self._fail(f"worker thread {wid} crashed ({type(exc).__name__}: "
                       f"{error_text(exc)}); its unrecorded job is reclaimed as a failed "
                       "attempt when the worker stops")
        finally:
            self._storage.close_thread_connection()

    def _fail(self, reason: str) -> None:
        """The worker cannot go on: remember why (the first reason wins) and stop."""
        if self.failure is None:
            self.failure = reason
            self.logger.error("%s; worker stopping", reason)
        self.stop()

    def _report_stranded(self) -> None:
        self.stranded = self._with_storage_retry(self._count_stranded, "count waiting jobs") or 0
        if self.stranded:
            self.logger.warning(
                "Burst finished with %d job(s) still waiting on parents that failed, timed "
                "out or were cancelled: they cannot run until those parents are requeued "
                "(gigq list --status failed)", self.stranded,
            )

    def _count_stranded(self) -> int:
        with self._storage.read() as conn:
            return claims.stranded_jobs(conn, self._filter)

    def _work_visible(self) -> bool:
        with self._storage.read() as conn:
            return claims.has_ready_work(conn, self._filter)

    def _unfinished_work(self) -> bool:
        with self._storage.read() as conn:
            return claims.has_unfinished_work(conn, self._filter)

    def _idle_wait(self, seq: int, version: int) -> None:
        """Sleep until the database changes, a retry comes due or polling_interval ends.

        ``seq`` and ``version`` are the commit counter and ``data_version`` read
        before the last look for work, so a commit made since then wakes us at once.
        """
        limit = float(self.polling_interval)
        try:
            with self._storage.read() as conn:
                due = self._filter.next_ready_at(conn)
            if due is not None:
                limit = min(limit, max(due - time.time(), 0.0))
            deadline = time.monotonic() + limit
            while self.running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                if self._storage.wait_for_commit(seq, min(_CHANGE_CHECK, remaining)):
                    return
                if self._storage.data_version() != version:
                    return
        except _TRANSIENT:
            self._stop_event.wait(min(limit, 1.0))

    def _claim_only(self) -> Claim | None:
        wid, _, _ = self._thread_state()
        with self._storage.write() as conn:
            return claims.claim(conn, self._filter, wid, self._instance_id, self.lease_timeout)

    def _settle_and_claim(
        self, previous: tuple[Claim, Outcome] | None, claim_next: bool
    ) -> Claim | None:
        """Record the last outcome and claim the next job, in one transaction."""
        wid, _, log = self._thread_state()
        try:
            with self._storage.write() as conn:
                now = time.time()
                if previous is not None:
                    self._settle(conn, previous, now, log)
                if not (claim_next and self.running):
                    return None
                return claims.claim(
                    conn, self._filter, wid, self._instance_id, self.lease_timeout, now
                )
        except DatabaseCorruptError:
            if previous is None:
                raise
            # The claim found the file damaged and took the finished job's outcome down
            # with its transaction: record that outcome on its own, then give up.
            with self._storage.write() as conn:
                self._settle(conn, previous, time.time(), log)
            raise

    @staticmethod
    def _settle(conn: Any, previous: tuple[Claim, Outcome], now: float,
                log: logging.Logger) -> None:
        claim, outcome = previous
        if not claims.settle(conn, claim, outcome, now):
            log.warning(
                "Job %s: outcome of attempt %d discarded, the job was reclaimed or "
                "timed out meanwhile", claim.id, claim.attempt,
            )

    def _execute(self, claim: Claim) -> Outcome:
        """Run a claimed job and return how it ended (outcome not yet recorded)."""
        _, runner, log = self._thread_state()
        if claim.broken:
            error = f"the job's row cannot be run: {claim.broken}"
            log.error("Job %s failed: %s", claim.id, error)
            return Outcome("fatal", error=error)
        self.current_job_id = claim.id
        key = threading.get_ident()
        run = _ActiveRun(claim, runner)
        with self._runs_lock:
            self._runs[key] = run
        log.info("Processing job %s (%s), attempt %d", claim.id, claim.name, claim.attempt)
        started = time.perf_counter()
        try:
            outcome = self._run(claim, runner)
        except ShutdownInterrupt:
            # The worker's own SIGINT/SIGTERM reached the job's thread: the job's code
            # has unwound (a child process is killed first), so it may be handed back.
            runner.abandon()
            handed_back = (claim, Outcome("interrupted", error="worker interrupted by a signal"))
            self._with_storage_retry(
                lambda: self._settle_and_claim(handed_back, False), "hand back a job"
            )
            self.stop()
            raise
        finally:
            with self._runs_lock:
                self._runs.pop(key, None)
            self.current_job_id = None
        if run.timed_out:
            outcome = Outcome(
                "timeout",
                error=f"Job timed out after {claim.timeout} seconds (result discarded)",
            )
        elapsed = time.perf_counter() - started
        if outcome.kind == "completed":
            log.info("Job %s completed successfully in %.2fs", claim.id, elapsed)
        elif outcome.kind != "interrupted":
            log.error("Job %s %s: %s", claim.id, outcome.kind, outcome.error)
        return outcome

    def _run(self, claim: Claim, runner: ThreadRunner | ProcessRunner) -> Outcome:
        try:
            parent_results = self._with_storage_retry(
                lambda: self._parent_results(claim), "read parent results"
            )
        except ValueError as exc:  # a parent's stored result that is not JSON
            return Outcome("failed", error=f"could not read the results of its parents: {exc}")
        return runner.run(claim, parent_results)

    def _parent_results(self, claim: Claim) -> dict[str, Any] | None:
        with self._storage.read() as conn:
            return claims.parent_results(conn, claim)

    # -- storage trouble -----------------------------------------------------

    def _with_storage_retry(
        self, action: Callable[[], _T], what: str, *, only_while_running: bool = False
    ) -> _T | None:
        """Run ``action``; wait out locks, a full disk or a briefly unusable file.

        Logs once per episode and backs off; gives up (returning None) when the
        worker is stopping — at once for an action ``only_while_running`` (a look
        for work: nothing is lost), else past the shutdown deadline (the lease
        mechanism then recovers what was not recorded) — and, in a burst run, after
        ``BURST_STORAGE_PATIENCE`` seconds (raising the last error). A damaged file
        raises at once.
        """
        pause = 0.05
        episode_logged = False
        episode_start = time.monotonic()
        while True:
            try:
                result = action()
            except DatabaseCorruptError:
                raise  # waiting does not mend a damaged file
            except _TRANSIENT as exc:
                if not episode_logged:
                    self.logger.warning("Could not %s, retrying: %s", what, exc)
                    episode_logged = True
                if self.burst and time.monotonic() - episode_start > BURST_STORAGE_PATIENCE:
                    raise type(exc)(
                        f"gave up trying to {what} after {BURST_STORAGE_PATIENCE:g}s "
                        f"(a --burst run ends rather than wait for ever): {exc}"
                    ) from exc
                if not self.running and (
                    only_while_running
                    or (self._shutdown_deadline is not None
                        and time.monotonic() > self._shutdown_deadline)
                ):
                    self.logger.error("Gave up trying to %s while stopping: %s", what, exc)
                    return None
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            if episode_logged:
                self.logger.warning("Database usable again; resumed (%s)", what)
            return result

    # -- services: heartbeat, timeouts, reaping --------------------------------

    def _ensure_registered(self) -> None:
        if self._registered:
            return
        self._with_storage_retry(
            lambda: leases.register(
                self._storage, self._instance_id, self.worker_id, self.concurrency,
                self.isolation, self._filter.queues,
            ),
            "register the worker",
        )
        self._registered = True
        self._service_stop.clear()
        self._service = threading.Thread(
            target=_service_loop, args=(weakref.ref(self),), name="gigq-heartbeat", daemon=True
        )
        self._service.start()

    def _shutdown_services(self, reason: str) -> None:
        self._service_stop.set()
        for runner in list(self._runners):
            runner.close()
        if self._registered:
            self._registered = False
            try:
                for job_id, why in leases.release_claims(self._storage, self._instance_id,
                                                         reason):
                    self.logger.error("Reclaimed job %s: %s", job_id, why)
            except Exception as exc:  # what broke the worker may break this too
                self.logger.error("Could not hand back unrecorded jobs (they are reclaimed "
                                  "when their leases expire): %s", exc)
            try:
                leases.unregister(self._storage, self._instance_id, reason)
            except _TRANSIENT as exc:
                self.logger.warning("Could not record worker stop: %s", exc)

    def _reap(self) -> None:
        try:
            for job_id, reason in leases.reap(self._storage):
                self.logger.warning("Reclaimed job %s: %s", job_id, reason)
        except _TRANSIENT as exc:
            self.logger.warning("Could not reclaim jobs of dead workers yet: %s", exc)

    def _enforce_thread_timeouts(self) -> None:
        now = time.time()
        with self._runs_lock:
            due = [
                r for r in self._runs.values()
                if not r.timed_out and r.runner.isolation == "thread"
                and r.claim.deadline is not None and now > r.claim.deadline
            ]
        for run in due:
            run.timed_out = True
            error = f"Job timed out after {run.claim.timeout} seconds"
            self.logger.warning("Job %s: %s (in-process; cannot be stopped)", run.claim.id, error)
            self._with_storage_retry(
                partial(self._mark_timed_out, run.claim, error), "record a timeout"
            )

    def _mark_timed_out(self, claim: Claim, error: str) -> None:
        with self._storage.write() as conn:
            claims.mark_timed_out(conn, claim, error)

    def _reconcile(self) -> None:
        with self._storage.read() as conn:
            if not claims.dependencies_out_of_sync(conn):
                return
        with self._storage.write() as conn:
            fixed = claims.reconcile_dependencies(conn)
        if fixed:
            self.logger.warning("Recounted the parents of %d waiting job(s) (statuses were "
                                "edited outside GigQ)", fixed)

    def _heartbeat(self) -> None:
        with self._runs_lock:
            before = list(self._runs.values())
        until, renewed = leases.heartbeat(self._storage, self._instance_id, self.lease_timeout)
        for run in before:
            if run.claim.claim_id in renewed:
                run.runner.renew(until)
            else:
                self._lease_lost(run)

    def _lease_lost(self, run: _ActiveRun) -> None:
        """A running attempt's job was taken from it: stop the attempt (a job process is
        killed; an in-process call cannot be, and its outcome is discarded)."""
        with self._runs_lock:
            current = any(r is run for r in self._runs.values())
        if not current or run.lost or run.timed_out or run.runner.abandoned:
            return  # finished, already known, or given up by this worker itself
        run.lost = True
        self.logger.error(
            "Job %s: attempt %d lost its lease (the job was reclaimed: this worker did not "
            "renew it in time); %s", run.claim.id, run.claim.attempt,
            "killing its job process" if run.runner.isolation == "process"
            else "its outcome will be discarded",
        )
        run.runner.abandon()

    def _record_child(self, pid: int) -> None:
        self._with_storage_retry(
            lambda: leases.record_child(self._storage, self._instance_id, pid),
            "record a job process",
        )

    # -- shutdown ------------------------------------------------------------

    def _drain(self, threads: list[threading.Thread]) -> None:
        """After a stop: wait for running jobs; past ``shutdown_timeout`` kill the child
        processes of those that run in one, then wait for every loop to record its job.

        A job's code running in one of this process's threads is never handed back:
        its loop records the outcome when the call returns, and the service thread
        keeps renewing its lease meanwhile.
        """
        timeout = self.shutdown_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in threads:
            while t.is_alive():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                t.join(0.1 if remaining is None else min(0.1, remaining))
        with self._runs_lock:
            leftover = list(self._runs.values())
        for run in leftover:
            if run.runner.isolation == "process":
                self.logger.warning(
                    "Job %s still running after shutdown_timeout=%ss: killing its process "
                    "and handing it back", run.claim.id, timeout,
                )
                run.runner.abandon()  # its loop then records the hand-back
            else:
                self.logger.warning(
                    "Job %s still running after shutdown_timeout=%ss: a call in a thread "
                    "cannot be stopped, so the worker waits for it to return and keeps its "
                    "lease (signal again to exit now; the job is then reclaimed)",
                    run.claim.id, timeout,
                )
        for t in threads:
            t.join()

    def _install_signal_handlers(self, interrupt: bool = False) -> dict[int, Any] | None:
        """SIGINT/SIGTERM stop the worker; with ``interrupt`` the first one also raises
        :class:`ShutdownInterrupt` into the job running in the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return None
        self._signals_seen = 0

        def handle(signum: int, frame: Any) -> None:
            self._signals_seen += 1
            if self._signals_seen > 1:
                self.logger.warning("Second signal %d: exiting now", signum)
                os._exit(128 + signum)
            self.logger.info(
                "Received signal %d: stopping; running jobs get %ss to finish "
                "(send it again to exit at once)", signum, self.shutdown_timeout,
            )
            self.stop()
            if interrupt:
                raise ShutdownInterrupt(f"signal {signum}")

        previous: dict[int, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handle)
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, Any] | None) -> None:
        if previous:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _service_loop(ref: weakref.ReferenceType[Worker]) -> None:
    """Heartbeat, in-process timeouts and reaping, until the worker goes away."""
    last_beat = last_reconcile = time.monotonic()
    while True:
        worker = ref()
        if worker is None or not worker._registered:
            return
        tick = min(0.5, worker.lease_timeout / 6)
        beat_every = worker.lease_timeout / 3
        stop_event = worker._service_stop
        try:
            worker._enforce_thread_timeouts()
            if time.monotonic() - last_beat >= beat_every:
                worker._with_storage_retry(worker._heartbeat, "renew the heartbeat")
                last_beat = time.monotonic()
            worker._reap()
            if time.monotonic() - last_reconcile >= _RECONCILE_EVERY:
                worker._with_storage_retry(worker._reconcile, "recount dependencies")
                last_reconcile = time.monotonic()
        except Exception:
            worker.logger.exception("Worker service thread error (continuing)")
        del worker  # a worker nobody else holds must be free to go while this sleeps
        stop_event.wait(tick)
