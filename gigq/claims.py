"""The SQL of a job's run: claim, settle the outcome, hand back, reclaim.

Every statement here runs inside a write transaction opened by ``Storage.write``.
Outcome writes are guarded by the claim id (the execution id of the run), so a run
that lost its claim — timed out, reclaimed, handed back — can never overwrite a
newer one.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Literal

from .errors import DatabaseCorruptError
from .job import DEFAULT_QUEUE
from .utils import iso_time

_RETURNING = (
    "rowid, id, name, function_module, function_name, params, dependencies, attempts, "
    "max_attempts, timeout, retry_delay, retry_backoff, pass_parent_results, queue"
)


@dataclass
class Claim:
    """A job claimed by one worker thread for one attempt."""

    id: str
    name: str
    module: str
    function: str
    params: dict[str, Any]
    dependencies: list[str]
    attempt: int
    max_attempts: int
    timeout: float | None
    retry_delay: float
    retry_backoff: float
    pass_parent_results: bool | None
    queue: str
    claim_id: str
    worker_id: str
    started: float
    # The job row's rowid: outcome writes find the row by it, not through the id index.
    rowid: int
    started_iso: str = ""
    # Why this row cannot run (e.g. params that are not JSON): the worker fails the
    # attempt for good without calling anything.
    broken: str | None = None

    @property
    def attempts_left(self) -> bool:
        """Whether a failure of this attempt may be retried."""
        return self.attempt < self.max_attempts

    @property
    def deadline(self) -> float | None:
        """Epoch second after which this attempt has timed out (None: never)."""
        return self.started + self.timeout if self.timeout else None


# How an attempt can end (see Outcome).
OutcomeKind = Literal["completed", "failed", "fatal", "timeout", "interrupted"]


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended.

    ``kind`` is ``completed``; ``failed`` (retried while attempts remain); ``fatal``
    (failed, never retried: e.g. an unstorable result or a refused module);
    ``timeout`` (retried while attempts remain, else status ``timeout``); or
    ``interrupted`` (handed back: pending again, the attempt not counted).
    """

    kind: OutcomeKind
    result_json: str | None = None
    error: str | None = None


def _bool_or_none(value: Any) -> bool | None:
    return None if value is None else bool(value)


# The claim: one UPDATE … RETURNING of the row chosen by {target}.
_CLAIM_SQL = f"""
UPDATE jobs SET status = 'running', worker_id = ?, started_at = ?, updated_at = ?,
    attempts = attempts + 1, claim_id = ?, lease_owner = ?, lease_expires_at = ?,
    started_epoch = ?
WHERE rowid = {{target}} AND status = 'pending'
RETURNING {_RETURNING}
"""
_CLAIM_BY_ROWID_SQL = _CLAIM_SQL.format(target="?")

_CLAIMABLE = "jobs INDEXED BY jobs_claimable WHERE status = 'pending' AND blocked_by = 0"
_NEXT_QUEUE_SQL = f"SELECT queue FROM {_CLAIMABLE} AND queue > ? ORDER BY queue LIMIT 1"


class ClaimFilter:
    """Which jobs a worker may claim (queues, a priority range) and the SQL to find them.

    The claim index is ordered (queue, priority DESC, rowid). A worker bound to one
    queue reads the head of that queue; a worker for several queues (or all of them:
    the default) compares the heads of each queue, found by skipping through the
    index one queue at a time — O(queues × log n), never a scan of the backlog.
    """

    def __init__(
        self,
        queues: list[str] | tuple[str, ...] | None = None,
        min_priority: int | None = None,
        max_priority: int | None = None,
    ) -> None:
        self.queues = tuple(dict.fromkeys(queues)) if queues else None
        self.min_priority = min_priority
        self.max_priority = max_priority
        bounds = ""
        extra: list[Any] = []
        if min_priority is not None:
            bounds += " AND priority >= ?"
            extra.append(min_priority)
        if max_priority is not None:
            bounds += " AND priority <= ?"
            extra.append(max_priority)
        self.extra = tuple(extra)
        # The jobs this filter serves, as a condition to append to a WHERE clause.
        queue_sql = ""
        if self.queues is not None:
            queue_sql = f" AND queue IN ({', '.join('?' * len(self.queues))})"
        self.scope_sql = bounds + queue_sql
        self.scope_args = (*extra, *(self.queues or ()))
        self._head_sql = (
            f"SELECT rowid FROM {_CLAIMABLE} AND queue = ? AND ready_at <= ?{bounds} "
            "ORDER BY priority DESC, rowid LIMIT 1"
        )
        self._head_priority_sql = self._head_sql.replace("SELECT rowid", "SELECT rowid, priority")
        target_sql, self.claim_args = self.single_statement_target()
        # The common claim, formatted once: it runs for every job.
        self.claim_sql = _CLAIM_SQL.format(target=target_sql) if target_sql else ""
        self._next_ready_sql = (
            f"SELECT MIN(ready_at) FROM {_CLAIMABLE} AND queue = ? AND ready_at > 0{bounds}"
        )

    def describe(self) -> str:
        """Short human description, for logs and worker listings."""
        parts = [",".join(self.queues) if self.queues else "all queues"]
        if self.min_priority is not None or self.max_priority is not None:
            lo = "" if self.min_priority is None else self.min_priority
            hi = "" if self.max_priority is None else self.max_priority
            parts.append(f"priority {lo}..{hi}")
        return "; ".join(parts)

    def candidate_queues(self, conn: sqlite3.Connection) -> tuple[str, ...]:
        """The queues to look at: this worker's, or every queue with claimable jobs."""
        if self.queues is not None:
            return self.queues
        found: list[str] = []
        last = ""
        while True:
            row = conn.execute(_NEXT_QUEUE_SQL, (last,)).fetchone()
            if row is None:
                return tuple(found)
            last = row[0]
            found.append(last)

    def single_statement_target(self) -> tuple[str, tuple[Any, ...]]:
        """The rowid subquery for the common case, so a claim is one ``UPDATE … RETURNING``.

        For a worker bound to one queue it reads that queue's head. For a worker on
        all queues it reads the head of the only queue with claimable jobs, and finds
        nothing when there are several; :meth:`multi_queue_target` handles those.
        """
        if self.queues is not None and len(self.queues) == 1:
            return f"({self._head_sql})", (self.queues[0],)
        if self.queues is None:
            first = f"(SELECT MIN(queue) FROM {_CLAIMABLE})"
            sql = (
                f"({self._head_sql.replace('queue = ?', f'queue = {first}')}) "
                f"AND {first} = (SELECT MAX(queue) FROM {_CLAIMABLE})"
            )
            return sql, ()
        return "", ()

    def multi_queue_target(self, conn: sqlite3.Connection, now: float) -> int | None:
        """Rowid of the best head among several queues (None: nothing ready)."""
        queues = self.candidate_queues(conn)
        if len(queues) < 2 and self.queues is None:
            return None  # the single-statement claim already looked at it
        return self._best_head(conn, queues, now) if queues else None

    def _best_head(
        self, conn: sqlite3.Connection, queues: tuple[str, ...], now: float
    ) -> int | None:
        best = None
        for queue in queues:
            row = conn.execute(self._head_priority_sql, (queue, now, *self.extra)).fetchone()
            if row and (best is None or (-row[1], row[0]) < (-best[1], best[0])):
                best = row
        return best[0] if best else None

    def best_candidate(self, conn: sqlite3.Connection, now: float) -> int | None:
        """Rowid of the job this filter would claim next, or None."""
        queues = self.candidate_queues(conn)
        return self._best_head(conn, queues, now) if queues else None

    def next_ready_at(self, conn: sqlite3.Connection) -> float | None:
        """Earliest ``ready_at`` among claimable jobs still waiting for a retry delay."""
        times = [
            conn.execute(self._next_ready_sql, (q, *self.extra)).fetchone()[0]
            for q in self.candidate_queues(conn)
        ]
        times = [t for t in times if t is not None]
        return min(times) if times else None


ALL_JOBS = ClaimFilter()


def _new_id_prefix() -> str:
    r = os.urandom(10).hex()
    return f"{r[:8]}-{r[8:12]}-4{r[12:15]}-{'89ab'[int(r[15], 16) % 4]}{r[16:19]}-"


# Claim ids are UUID-shaped: 76 random bits per process, then a counter, so they are
# unique without a system call per claim (reseeded in a forked child).
_ids: dict[str, Any] = {"prefix": _new_id_prefix(), "count": itertools.count(1)}


def _reseed_ids() -> None:
    _ids["prefix"] = _new_id_prefix()
    _ids["count"] = itertools.count(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_ids)


def new_claim_id() -> str:
    """A fresh execution/claim id (UUID-shaped string)."""
    return f"{_ids['prefix']}{next(_ids['count']):012x}"


def claim(
    conn: sqlite3.Connection,
    filt: ClaimFilter,
    worker_id: str,
    lease_owner: str,
    lease_timeout: float,
    now: float | None = None,
) -> Claim | None:
    """Claim the best ready job (priority, then FIFO) or return None.

    The attempt's ``job_executions`` row is written when the attempt ends; while it
    runs, the job row itself (``claim_id``, ``worker_id``, ``started_at``) describes it.
    ``now`` (epoch seconds) lets a transaction that also settles share one timestamp.
    """
    now = time.time() if now is None else now
    now_iso = iso_time(now)
    claim_id = new_claim_id()
    values = (worker_id, now_iso, now_iso, claim_id, lease_owner, now + lease_timeout, now)
    rows: list[Any] = []
    if filt.claim_sql:
        rows = conn.execute(filt.claim_sql, (*values, *filt.claim_args, now, *filt.extra)
                            ).fetchall()
    if not rows:
        rowid = filt.multi_queue_target(conn, now)
        if rowid is None and filt.claim_sql:
            # The single statement claimed nothing. Normally its index read found no
            # row; ask the index again to tell that apart from a damaged index.
            rowid = filt.best_candidate(conn, now)
        if rowid is None:
            return None
        rows = conn.execute(_CLAIM_BY_ROWID_SQL, (*values, rowid)).fetchall()
        if not rows:
            # In this write transaction the claim index named row ``rowid`` as pending
            # and the row is not: the index and the table disagree. Claiming again
            # would find the same row for ever.
            raise DatabaseCorruptError(
                f"the database is damaged: its claim index lists job row {rowid} as "
                "pending but the row is not; run 'gigq check' to see the damage, then "
                "restore a backup or run REINDEX in sqlite3 before starting workers again"
            )
    return _claim_of_row(rows[0], claim_id, worker_id, now, now_iso)


# Readers of one column of a job row: a value that cannot be used is described in
# ``problems`` and replaced by the default.
def _number(value: Any, default: float, column: str, problems: list[str]) -> float:
    if value is None:
        return default
    if isinstance(value, (int, float)):
        return value
    problems.append(f"{column} {value!r} is not a number")
    return default


def _whole(value: Any, default: int, column: str, problems: list[str]) -> int:
    got = _number(value, default, column, problems)
    if isinstance(got, float) and not got.is_integer():
        problems.append(f"{column} {value!r} is not a whole number")
        return default
    return int(got)


def _decoded(text: Any, kind: type, column: str, problems: list[str]) -> Any:
    if not text or text in ("{}", "[]"):
        return kind()
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        problems.append(f"{column} are not valid JSON ({exc})")
        return kind()
    if not isinstance(value, kind):
        problems.append(f"{column} must be a JSON {kind.__name__}, got {str(text)[:60]!r}")
        return kind()
    return value


def _claim_of_row(
    row: Any, claim_id: str | None, worker_id: str, started: float, started_iso: str = "",
    decode_args: bool = True,
) -> Claim:
    """A :class:`Claim` of a job row (``_RETURNING``'s columns).

    Rows can be written by GigQ 0.5.x or by hand: a value GigQ cannot read makes the
    claim ``broken`` (the attempt then fails with the reason) instead of raising in
    the middle of a worker's transaction.
    """
    (rowid, job_id, name, module, function, params, deps, attempts, max_attempts, timeout,
     retry_delay, retry_backoff, pass_parent, queue) = row[:14]
    problems: list[str] = []
    timeout_s = _number(timeout, 0, "timeout", problems)
    return Claim(
        id=job_id,
        name=name,
        module=module,
        function=function,
        params=_decoded(params, dict, "params", problems) if decode_args else {},
        dependencies=_decoded(deps, list, "dependencies", problems) if decode_args else [],
        attempt=_whole(attempts, 0, "attempts", problems),
        max_attempts=_whole(max_attempts, 3, "max_attempts", problems),
        # Infinite or NaN (written by hand or by 0.5.x) means no timeout.
        timeout=timeout_s if timeout_s and math.isfinite(timeout_s) else None,
        retry_delay=_number(retry_delay, 0, "retry_delay", problems) or 0,
        retry_backoff=_number(retry_backoff, 1.0, "retry_backoff", problems) or 1.0,
        pass_parent_results=_bool_or_none(pass_parent),
        queue=queue or DEFAULT_QUEUE,
        claim_id=claim_id,  # type: ignore[arg-type]  # None: set running outside GigQ
        worker_id=worker_id,
        started=started,
        started_iso=started_iso,
        rowid=rowid,
        broken="; ".join(problems) or None,
    )


_PENDING_IN = "SELECT 1 FROM jobs INDEXED BY jobs_claimable WHERE status = 'pending' " \
    "AND blocked_by = 0"
_RUNNING_IN = "SELECT 1 FROM jobs INDEXED BY jobs_running WHERE status = 'running'"
_WAITING_IN = "SELECT 1 FROM jobs INDEXED BY jobs_blocked WHERE blocked_by != 0 " \
    "AND status = 'pending'"


def has_unfinished_work(conn: sqlite3.Connection, filt: ClaimFilter = ALL_JOBS) -> bool:
    """Read-only: is any job this filter serves pending (ready or delayed) or running,
    or waiting on parents that can still complete?

    A parent completes only through a job that is pending or running somewhere (in
    any queue); when there is none, every waiting job waits for ever (see
    :func:`stranded_jobs`) and does not count.
    """
    scope = filt.scope_sql
    return conn.execute(
        f"SELECT EXISTS ({_PENDING_IN}{scope}) OR EXISTS ({_RUNNING_IN}{scope}) "
        f"OR (EXISTS ({_WAITING_IN}{scope}) "
        f"AND (EXISTS ({_PENDING_IN}) OR EXISTS ({_RUNNING_IN})))",
        filt.scope_args * 3,
    ).fetchone()[0] == 1


def stranded_jobs(conn: sqlite3.Connection, filt: ClaimFilter = ALL_JOBS) -> int:
    """Read-only: how many jobs this filter serves wait on parents when no job is pending
    or running anywhere, i.e. on parents that failed, timed out or were cancelled."""
    if conn.execute(f"SELECT EXISTS ({_PENDING_IN}) OR EXISTS ({_RUNNING_IN})").fetchone()[0]:
        return 0
    return conn.execute(
        f"SELECT COUNT(*) FROM jobs INDEXED BY jobs_blocked WHERE blocked_by != 0 "
        f"AND status = 'pending'{filt.scope_sql}",
        filt.scope_args,
    ).fetchone()[0]


def parent_results(conn: sqlite3.Connection, claim: Claim) -> dict[str, Any] | None:
    """The stored results of the claimed job's parents (None for a parent without one),
    decoded; None when the job has no parents or is not to be given their results."""
    if not claim.dependencies or claim.pass_parent_results is False:
        return None
    parent_ids = claim.dependencies
    marks = ",".join("?" * len(parent_ids))
    rows = conn.execute(f"SELECT id, result FROM jobs WHERE id IN ({marks})", parent_ids)
    by_id = {r[0]: r[1] for r in rows}
    return {pid: (json.loads(by_id[pid]) if by_id.get(pid) else None) for pid in parent_ids}


def has_ready_work(conn: sqlite3.Connection, filt: ClaimFilter) -> bool:
    """A read-only check (no write lock) for a claimable job."""
    return filt.best_candidate(conn, time.time()) is not None


def retry_delay_for(claim: Claim) -> float:
    """Seconds before the next attempt: retry_delay × backoff^(attempt − 1)."""
    if not claim.retry_delay:
        return 0.0
    return float(claim.retry_delay) * float(claim.retry_backoff) ** max(claim.attempt - 1, 0)


def _retry_time(claim: Claim, now: float) -> tuple[float, str | None]:
    """``(ready_at, retry_after)`` of the next attempt, or ValueError naming the settings
    when they put it beyond any date that can be stored (e.g. a huge backoff)."""
    try:
        delay = retry_delay_for(claim)
        if not delay:
            return 0, None
        ready_at = now + delay
        return ready_at, iso_time(ready_at)
    except (ArithmeticError, ValueError, OSError) as exc:
        raise ValueError(
            f"its retry could not be scheduled: retry_delay={claim.retry_delay!r} s x "
            f"retry_backoff={claim.retry_backoff!r}^{max(claim.attempt - 1, 0)} is not a "
            f"storable date ({exc})"
        ) from None


_RECORD_EXECUTION = (
    "INSERT OR REPLACE INTO job_executions "
    "(id, job_id, worker_id, status, started_at, completed_at, result, error) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _record_execution(
    conn: sqlite3.Connection, claim: Claim, status: str, now_iso: str,
    result_json: str | None, error: str | None,
) -> None:
    conn.execute(
        _RECORD_EXECUTION,
        (claim.claim_id, claim.id, claim.worker_id or "unknown", status,
         claim.started_iso or iso_time(claim.started), now_iso,
         result_json, error),
    )


# What can go wrong with one row's values while its outcome is written (a date out of
# range, a value SQLite cannot bind): the job's own problem, not the database's.
_ROW_VALUE_ERRORS = (ArithmeticError, ValueError, TypeError, sqlite3.InterfaceError,
                     sqlite3.DataError, sqlite3.IntegrityError)


def settle(
    conn: sqlite3.Connection, claim: Claim, outcome: Outcome, now: float | None = None
) -> bool:
    """Record how an attempt ended. False if the claim was no longer current.

    When the outcome itself cannot be written (its retry date overflows, its result
    cannot be stored), the job fails for good with both errors: a row must never
    stay ``running`` because its outcome could not be recorded.
    """
    now = time.time() if now is None else now
    try:
        return _settle(conn, claim, outcome, now)
    except _ROW_VALUE_ERRORS as exc:
        # Each statement is atomic: whatever raised wrote nothing; the transaction
        # goes on with the fallback.
        first = outcome.error or f"attempt {outcome.kind}"
        error = f"{first}; then recording that outcome failed: {exc}"
        return _settle(conn, claim, Outcome("fatal", error=error), now)


def _settle(conn: sqlite3.Connection, claim: Claim, outcome: Outcome, now: float) -> bool:
    now_iso = iso_time(now)
    kind = outcome.kind
    if kind == "interrupted":
        return hand_back(conn, claim, outcome.error or "interrupted", now=now)
    if kind == "completed":
        updated = conn.execute(
            """
            UPDATE jobs SET status = 'completed', updated_at = ?, completed_at = ?,
                completed_epoch = ?, result = ?, error = NULL, worker_id = NULL,
                claim_id = NULL, lease_owner = NULL, lease_expires_at = NULL,
                retry_after = NULL, ready_at = 0
            WHERE rowid = ? AND claim_id = ?
            """,
            (now_iso, now_iso, now, outcome.result_json, claim.rowid, claim.claim_id),
        ).rowcount
        # A separate read, not RETURNING: RETURNING costs SQLite a trigger program per
        # row, more than this lookup of a row the transaction just wrote.
        if updated and conn.execute(
            "SELECT has_dependents FROM jobs WHERE rowid = ?", (claim.rowid,)
        ).fetchone()[0]:
            release_children(conn, claim.id)
        execution_status = "completed"
    elif kind in ("failed", "timeout") and claim.attempts_left:
        ready_at, retry_after = _retry_time(claim, now)
        updated = conn.execute(
            """
            UPDATE jobs SET status = 'pending', updated_at = ?, error = ?, worker_id = NULL,
                claim_id = NULL, lease_owner = NULL, lease_expires_at = NULL,
                retry_after = ?, ready_at = ?
            WHERE rowid = ? AND claim_id = ?
            """,
            (now_iso, outcome.error, retry_after, ready_at, claim.rowid, claim.claim_id),
        ).rowcount
        execution_status = "timeout" if kind == "timeout" else "failed"
    else:
        final = "timeout" if kind == "timeout" else "failed"
        updated = conn.execute(
            """
            UPDATE jobs SET status = ?, updated_at = ?, completed_at = ?, completed_epoch = ?,
                error = ?, worker_id = NULL, claim_id = NULL, lease_owner = NULL,
                lease_expires_at = NULL, retry_after = NULL, ready_at = 0
            WHERE rowid = ? AND claim_id = ?
            """,
            (final, now_iso, now_iso, now, outcome.error, claim.rowid, claim.claim_id),
        ).rowcount
        execution_status = final
    if not updated:
        return False
    _record_execution(conn, claim, execution_status, now_iso, outcome.result_json, outcome.error)
    return True


def release_children(conn: sqlite3.Connection, parent_id: str) -> None:
    """A parent completed: each child waits on one parent fewer."""
    conn.execute(
        "UPDATE jobs SET blocked_by = blocked_by - 1 WHERE blocked_by > 0 AND id IN "
        "(SELECT job_id FROM job_dependencies WHERE parent_id = ?)",
        (parent_id,),
    )


_TRUE_BLOCKERS = """
    SELECT COUNT(*) FROM job_dependencies d LEFT JOIN jobs p ON p.id = d.parent_id
    WHERE d.job_id = jobs.id AND (p.status IS NULL OR p.status != 'completed')
"""


def dependencies_out_of_sync(conn: sqlite3.Connection) -> bool:
    """Read-only: does any waiting job count its unfinished parents wrongly?"""
    return conn.execute(
        f"SELECT 1 FROM jobs WHERE blocked_by != 0 AND status = 'pending' "
        f"AND blocked_by != ({_TRUE_BLOCKERS}) LIMIT 1"
    ).fetchone() is not None


def reconcile_dependencies(conn: sqlite3.Connection) -> int:
    """Recount the unfinished parents of waiting jobs; returns how many were wrong.

    Needed only when statuses were edited by direct SQL (e.g. a parent set to
    ``completed`` by hand); GigQ's own writes keep the counts right.
    """
    return conn.execute(
        f"""
        UPDATE jobs SET blocked_by = ({_TRUE_BLOCKERS})
        WHERE blocked_by != 0 AND status = 'pending' AND blocked_by != ({_TRUE_BLOCKERS})
        """
    ).rowcount


def hand_back(
    conn: sqlite3.Connection, claim: Claim, reason: str, now: float | None = None
) -> bool:
    """Return a running job to pending without counting the attempt."""
    now = time.time() if now is None else now
    now_iso = iso_time(now)
    updated = conn.execute(
        """
        UPDATE jobs SET status = 'pending', attempts = MAX(attempts - 1, 0), updated_at = ?,
            worker_id = NULL, claim_id = NULL, lease_owner = NULL, lease_expires_at = NULL,
            ready_at = 0, retry_after = NULL
        WHERE rowid = ? AND claim_id = ?
        """,
        (now_iso, claim.rowid, claim.claim_id),
    ).rowcount
    if updated:
        _record_execution(conn, claim, "cancelled", now_iso, None, f"handed back: {reason}")
    return bool(updated)


def mark_timed_out(conn: sqlite3.Connection, claim: Claim, error: str) -> bool:
    """An in-process run passed its timeout while its call is still going.

    With attempts left the job stays claimed (so it can never run twice at once) and
    is retried when the call returns; on the last attempt it ends as ``timeout`` now.
    """
    if not claim.attempts_left:
        return settle(conn, claim, Outcome("timeout", error=error))
    now_iso = iso_time(time.time())
    updated = conn.execute(
        "UPDATE jobs SET error = ?, updated_at = ? WHERE rowid = ? AND claim_id = ?",
        (f"{error}; it is retried when the running call returns", now_iso, claim.rowid,
         claim.claim_id),
    ).rowcount
    if updated:
        _record_execution(conn, claim, "timeout", now_iso, None, error)
    return bool(updated)


# Repeats the partial index's condition so SQLite knows jobs_unfinished applies.
RUNNING = "status = 'running'"


def running_claims(
    conn: sqlite3.Connection, where: str, args: tuple[Any, ...]
) -> list[Claim]:
    """Running jobs matching ``where`` as claims, for reclaiming them."""
    rows = conn.execute(
        f"""
        SELECT {_RETURNING}, claim_id, worker_id, started_epoch FROM jobs
        WHERE {RUNNING} AND {where}
        """,
        args,
    ).fetchall()
    now = time.time()
    return [
        _claim_of_row(
            r, r[14], r[15] or "",
            r[16] if isinstance(r[16], (int, float)) and math.isfinite(r[16]) else now,
            decode_args=False,
        )
        for r in rows
    ]


def reclaim(conn: sqlite3.Connection, claim: Claim, reason: str) -> bool:
    """Take a job back from a worker that is gone: a failed attempt, with the reason.

    A job without a claim id (set running by direct SQL, or by GigQ 0.5.x) gets one
    first, so the guarded settle applies to it too.
    """
    if claim.claim_id is None:
        claim.claim_id = new_claim_id()
        conn.execute(
            f"UPDATE jobs SET claim_id = ? WHERE id = ? AND {RUNNING} AND claim_id IS NULL",
            (claim.claim_id, claim.id),
        )
    return settle(conn, claim, Outcome("failed", error=reason))
