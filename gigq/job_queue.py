"""JobQueue: the producer and admin side — submit, inspect, cancel, requeue, clean up."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from . import maintenance
from .errors import DatabaseFileError, JobSubmissionError
from .job import Job, encode_json, importable_reference
from .job_rows import MAX_VARIABLES, collector_paused, insert_rows
from .job_status import JobStatus
from .schema import (
    EXECUTION_COLUMNS,
    PUBLIC_JOB_COLUMNS,
    ensure_schema,
    iso_to_epoch,
    verify_ownership,
)
from .storage import LockStatsSnapshot, SQLiteSettings, Storage
from .utils import iso_time

logger = logging.getLogger("gigq.job_queue")

_SELECT_PUBLIC = ", ".join(PUBLIC_JOB_COLUMNS)


def _pass_parent_value(value: Any) -> bool | None:
    """SQLite 0/1/NULL → False/True/None (auto)."""
    if value is None:
        return None
    if value in (0, False):
        return False
    if value in (1, True):
        return True
    return None


def decode_job_row(row: sqlite3.Row, lenient: bool = False) -> dict[str, Any]:
    """A ``jobs`` row as the 0.5.x-shaped dict: JSON columns decoded.

    A JSON column written over by hand with something that is not JSON raises
    :class:`DatabaseFileError` naming the job and the column; with ``lenient`` (a
    listing, where one bad row must not hide the others) it stays as stored.
    """
    job = dict(row)
    for column, empty in (("params", None), ("dependencies", []), ("result", None)):
        text = job.get(column)
        if not text:
            if empty is not None:
                job[column] = empty
            continue
        try:
            job[column] = json.loads(text)
        except (TypeError, ValueError):
            if not lenient:
                raise DatabaseFileError(
                    f"job {job.get('id')}: its {column} column is not JSON "
                    f"({str(text)[:40]!r}); it was written outside GigQ. Fix the row with "
                    "SQL, or delete the job"
                ) from None
    if "pass_parent_results" in job:
        job["pass_parent_results"] = _pass_parent_value(job["pass_parent_results"])
    return job


def _status_value(status: JobStatus | str) -> str:
    if isinstance(status, JobStatus):
        return status.value
    try:
        return JobStatus(status).value
    except ValueError:
        valid = ", ".join(s.value for s in JobStatus)
        raise ValueError(f"invalid status {status!r}; valid statuses: {valid}") from None


class JobQueue:
    """A queue of jobs in one SQLite file.

    ``settings`` are the storage settings (journal mode, synchronous, cache size,
    busy timeout, mmap size); ``":memory:"`` is one in-memory database shared by
    every queue and worker thread of this process.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        initialize: bool = True,
        *,
        settings: SQLiteSettings | None = None,
    ) -> None:
        self.db_path = db_path
        self._storage = Storage.shared(db_path, settings)
        self.settings = self._storage.settings
        if initialize:
            ensure_schema(self._storage)
        else:  # no schema work, but never open another application's file as ours
            verify_ownership(self._storage)

    @property
    def durability(self) -> str:
        """Durability class of this database with its settings."""
        return self._storage.durability

    # -- submitting ------------------------------------------------------------

    def _row(self, job: Job, now_iso: str) -> tuple[Any, ...]:
        """The job as a row in the order of ``job_rows.SUBMITTED_COLUMNS``."""
        module, name = importable_reference(job.function, self._storage.in_memory)
        params = (encode_json(job.params, f"params of job {job.name!r}", string_keys=True)
                  if job.params else "{}")
        pass_val = None if job.pass_parent_results is None else int(job.pass_parent_results)
        return (
            job.id, job.name, name, module, params, job.priority,
            json.dumps(job.dependencies) if job.dependencies else "[]", job.max_attempts,
            job.timeout, job.description,
            job.created_at, now_iso, pass_val, job.retry_delay, job.queue, job.retry_backoff,
            getattr(job, "created_epoch", None) or time.time(),
        )

    def submit(self, job: Job) -> str:
        """Store ``job`` as pending and return its id.

        Raises :class:`~gigq.errors.JobDefinitionError` for a job no worker could run
        and :class:`~gigq.errors.JobSubmissionError` for a duplicate or an unknown
        dependency; nothing is stored then.
        """
        self.submit_many((job,))
        logger.info("Job submitted: %s (%s)", job.id, job.name)
        return job.id

    def submit_many(self, jobs: Iterable[Job]) -> list[str]:
        """Submit a batch in one transaction: all of it, or (on any error) none of it.

        Jobs may depend on jobs earlier or later in the same batch.
        """
        jobs = list(jobs)
        if not jobs:
            return []
        with collector_paused(len(jobs)):
            now_iso = iso_time(time.time())
            rows = [self._row(job, now_iso) for job in jobs]
            ids = [job.id for job in jobs]
            if len(set(ids)) != len(ids):
                raise JobSubmissionError("the batch holds the same Job more than once")
            with self._storage.write() as conn:
                insert_rows(conn, rows)
                dependent = [job for job in jobs if job.dependencies]
                if dependent:
                    _link_dependencies(conn, dependent, set(ids))
        return ids

    # -- reading ------------------------------------------------------------------

    def get_status(self, job_id: str) -> dict[str, Any]:
        """Everything about one job, ``{"exists": False}`` if unknown.

        A pending job held back by parents that did not complete has ``waiting_on``:
        a list of ``{"id", "status"}`` (status ``missing`` for a deleted parent).
        """
        with self._storage.read() as conn:
            row = conn.execute(
                f"SELECT {_SELECT_PUBLIC}, blocked_by, claim_id FROM jobs WHERE id = ?",
                (job_id,),
            ).fetchone()
            if row is None:
                return {"exists": False}
            job = decode_job_row(row)
            blocked_by = job.pop("blocked_by")
            claim_id = job.pop("claim_id")
            job["exists"] = True
            executions = conn.execute(
                f"SELECT {', '.join(EXECUTION_COLUMNS)} FROM job_executions "
                "WHERE job_id = ? ORDER BY started_at, completed_at",
                (job_id,),
            ).fetchall()
            job["executions"] = [
                {**dict(e), "result": json.loads(e["result"]) if e["result"] else e["result"]}
                for e in executions
            ]
            # A running attempt's execution row is written when it ends; show it now.
            if job["status"] == JobStatus.RUNNING.value and claim_id and not any(
                e["id"] == claim_id for e in job["executions"]
            ):
                job["executions"].append({
                    "id": claim_id, "job_id": job_id, "worker_id": job["worker_id"],
                    "status": JobStatus.RUNNING.value, "started_at": job["started_at"],
                    "completed_at": None, "result": None, "error": None,
                })
            if job["status"] == JobStatus.PENDING.value and blocked_by:
                job["waiting_on"] = [
                    {"id": r[0], "status": r[1] or "missing"}
                    for r in conn.execute(
                        "SELECT d.parent_id, p.status FROM job_dependencies d "
                        "LEFT JOIN jobs p ON p.id = d.parent_id "
                        "WHERE d.job_id = ? AND (p.status IS NULL OR p.status != 'completed')",
                        (job_id,),
                    ).fetchall()
                ]
        return job

    def get_result(self, job_id: str) -> Any:
        """The decoded result of a completed job; None if it has not completed.

        Raises ``KeyError`` for an unknown id.
        """
        with self._storage.read() as conn:
            row = conn.execute("SELECT status, result FROM jobs WHERE id = ?",
                               (job_id,)).fetchone()
        if row is None:
            raise KeyError(f"Job with id {job_id!r} not found")
        if row[0] != JobStatus.COMPLETED.value or not row[1]:
            return None
        return json.loads(row[1])

    def list_jobs(
        self, status: JobStatus | str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Jobs, newest first, optionally of one status; at most ``limit``."""
        with self._storage.read() as conn:
            if status:
                rows = conn.execute(
                    f"SELECT {_SELECT_PUBLIC} FROM jobs WHERE status = ? "
                    "ORDER BY rowid DESC LIMIT ?",
                    (_status_value(status), limit),
                ).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT {_SELECT_PUBLIC} FROM jobs ORDER BY rowid DESC LIMIT ?", (limit,)
                ).fetchall()
        return [decode_job_row(r, lenient=True) for r in rows]

    def stats(self, by_queue: bool = False) -> dict[str, Any]:
        """Count of jobs per status (all six, 0 if none) plus ``total``.

        With ``by_queue=True``: ``{queue: {status: count, ..., "total": n}}``.
        """
        with self._storage.read() as conn:
            if by_queue:
                rows = conn.execute(
                    "SELECT queue, status, COUNT(*) FROM jobs GROUP BY queue, status"
                ).fetchall()
            else:
                rows = [("", s, n) for s, n in conn.execute(
                    "SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()]
        grouped: dict[str, dict[str, int]] = {}
        for queue, status, count in rows:
            counts = grouped.setdefault(queue, {s.value: 0 for s in JobStatus} | {"total": 0})
            counts[status] = counts.get(status, 0) + count
            counts["total"] += count
        if by_queue:
            return dict(sorted(grouped.items()))
        return grouped.get("", {s.value: 0 for s in JobStatus} | {"total": 0})

    def lock_stats(self) -> LockStatsSnapshot:
        """Write-lock contention of this process's connections to the database."""
        return self._storage.lock_stats()

    # -- changing jobs ------------------------------------------------------------

    def cancel(self, job_id: str) -> bool:
        """Cancel a pending job; False for any other state or an unknown id."""
        now = time.time()
        with self._storage.write() as conn:
            changed = conn.execute(
                "UPDATE jobs SET status = 'cancelled', updated_at = ?, completed_epoch = ? "
                "WHERE id = ? AND status = 'pending'",
                (iso_time(now), now, job_id),
            ).rowcount
        if changed:
            logger.info("Job cancelled: %s", job_id)
        else:
            logger.warning("Could not cancel job %s, it may be already running or completed",
                           job_id)
        return bool(changed)

    def requeue_job(self, job_id: str) -> bool:
        """Failed, timed-out or cancelled → pending with attempts reset; False otherwise."""
        with self._storage.write() as conn:
            changed = conn.execute(
                """
                UPDATE jobs SET status = 'pending', attempts = 0, error = NULL,
                    retry_after = NULL, ready_at = 0, updated_at = ?, completed_epoch = NULL
                WHERE id = ? AND status IN ('failed', 'timeout', 'cancelled')
                """,
                (iso_time(time.time()), job_id),
            ).rowcount
        return bool(changed)

    def clear_completed(self, before_timestamp: str | None = None) -> int:
        """Delete completed and cancelled jobs (and their executions); return how many.

        With ``before_timestamp`` (ISO text, local time) only those finished before it.
        """
        with self._storage.write() as conn:
            if before_timestamp:
                cutoff = iso_to_epoch(before_timestamp)
                if cutoff is None:
                    raise ValueError(
                        f"before_timestamp {before_timestamp!r} is not an ISO timestamp "
                        "(e.g. 2026-01-31T12:00:00)"
                    )
                return conn.execute(
                    "DELETE FROM jobs WHERE status IN ('completed', 'cancelled') "
                    "AND COALESCE(completed_epoch, 0) < ?",
                    (cutoff,),
                ).rowcount
            return conn.execute(
                "DELETE FROM jobs WHERE status IN ('completed', 'cancelled')"
            ).rowcount

    # -- maintenance -----------------------------------------------------------

    def optimize(self) -> None:
        """Refresh the query planner's statistics (``PRAGMA optimize``)."""
        maintenance.optimize(self._storage)

    def vacuum(self) -> None:
        """Rebuild the file to reclaim free pages (takes the write lock for a while)."""
        maintenance.vacuum(self._storage)

    def backup(self, dest: str | os.PathLike[str]) -> str:
        """Copy the live database to ``dest`` with SQLite's online backup API."""
        return maintenance.backup(self._storage, dest)

    def checkpoint(self, mode: str = "truncate") -> tuple[int, int, int]:
        """Checkpoint the WAL into the main file; returns SQLite's (busy, log, checkpointed)."""
        return maintenance.checkpoint(self._storage, mode)

    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check``: ``["ok"]`` for a healthy file."""
        return maintenance.integrity_check(self._storage)

    def close(self) -> None:
        """Close this thread's connection to the database."""
        self._storage.close_thread_connection()


def _link_dependencies(
    conn: sqlite3.Connection, dependent: list[Job], batch_ids: set[str]
) -> None:
    """Record parents of ``dependent`` and how many of them are unfinished.

    Unknown parent ids, self-dependencies and cycles within the batch are refused.
    """
    parents = sorted({p for job in dependent for p in job.dependencies})
    status: dict[str, str] = {}
    for i in range(0, len(parents), MAX_VARIABLES):
        chunk = parents[i : i + MAX_VARIABLES]
        marks = ",".join("?" * len(chunk))
        status.update(conn.execute(
            f"SELECT id, status FROM jobs WHERE id IN ({marks})", chunk).fetchall())
    missing = [p for p in parents if p not in status]
    if missing:
        raise JobSubmissionError(
            f"unknown dependency id(s): {', '.join(missing[:5])}"
            f"{' …' if len(missing) > 5 else ''}; submit parent jobs first (or in the "
            "same submit_many batch / Workflow)"
        )
    edges = {job.id: set(job.dependencies) for job in dependent}
    for job in dependent:
        if job.id in edges[job.id]:
            raise JobSubmissionError(f"job {job.name!r} ({job.id}) depends on itself")
    _refuse_cycles(edges, batch_ids)
    links: list[tuple[str, str]] = []
    blocked: list[tuple[int, str]] = []
    for job in dependent:
        unique = set(job.dependencies)
        links.extend((p, job.id) for p in unique)
        waiting = sum(1 for p in unique if status[p] != JobStatus.COMPLETED.value)
        if waiting:
            blocked.append((waiting, job.id))
    conn.executemany("INSERT INTO job_dependencies (parent_id, job_id) VALUES (?, ?)", links)
    conn.executemany("UPDATE jobs SET has_dependents = 1 WHERE id = ?", [(p,) for p in parents])
    conn.executemany("UPDATE jobs SET blocked_by = ? WHERE id = ?", blocked)


def _refuse_cycles(edges: dict[str, set[str]], batch_ids: set[str]) -> None:
    visiting, done = set(), set()

    def visit(node: str) -> None:
        if node in done:
            return
        if node in visiting:
            raise JobSubmissionError(
                f"dependency cycle in the batch through job {node}; no job of the cycle "
                "could ever run"
            )
        visiting.add(node)
        for parent in edges.get(node, ()):
            if parent in batch_ids:
                visit(parent)
        visiting.discard(node)
        done.add(node)

    for node in edges:
        visit(node)
