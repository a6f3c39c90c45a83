"""The rows a submit writes to ``jobs``: one by one, or many per statement; and the
probe's reads of those rows and its round trip's clean-up.

``JobQueue`` turns each Job into a tuple in the order of :data:`SUBMITTED_COLUMNS`;
this module writes those tuples inside the caller's write transaction. Every function
takes the caller's connection (``Storage.read()`` or ``Storage.write()``).
"""

from __future__ import annotations

import functools
import gc
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import JobSubmissionError

# The columns a submit writes, in the order of JobQueue's row tuples.
SUBMITTED_COLUMNS = (
    "id", "name", "function_name", "function_module", "params", "priority", "dependencies",
    "max_attempts", "timeout", "description", "created_at", "updated_at",
    "pass_parent_results", "retry_delay", "queue", "retry_backoff", "created_epoch",
)
_INSERT_HEAD = f"INSERT INTO jobs ({', '.join(SUBMITTED_COLUMNS)}, status, attempts) "
_INSERT = _INSERT_HEAD + f"VALUES ({', '.join('?' * len(SUBMITTED_COLUMNS))}, 'pending', 0)"
# Most parameters one statement takes: 999 is the smallest limit SQLite has had.
MAX_VARIABLES = 999

# Batches at least this big pause the cyclic garbage collector while they are built
# and written.
_LARGE_BATCH = 1_000


@contextmanager
def collector_paused(batch_size: int) -> Iterator[None]:
    """Pause Python's cyclic GC for a large batch.

    A batch allocates a row tuple per job, which sets off collections that walk the
    caller's young objects (the Job objects just built among them): a few percent of
    a 10,000-job ``submit_many``. Those rows hold no cycles, so nothing is lost by
    waiting; the collector is switched back on when the batch is written or fails.
    """
    if batch_size < _LARGE_BATCH or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def insert_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert submitted rows in order, many per statement.

    Within each chunk a value every row shares (the function, the options, the
    timestamp: most of a typical batch) is bound once, and only the columns that
    differ go into a ``VALUES`` list. Binding (a copy of every text value) is much of
    what a row costs through Python's sqlite3, so this writes a batch of alike jobs
    about 1.7× as fast as ``executemany`` (1.35× when names and params differ).
    Rows keep their order, so rowids (FIFO) follow the batch.
    """
    if len(rows) == 1:
        _insert_chunk(conn, _INSERT, rows[0], rows)
        return
    start = 0
    while start < len(rows):
        # A chunk that fits even when every column differs; then, knowing how many
        # columns do, as many rows as fit. Widening can only make columns differ.
        chunk = rows[start:start + MAX_VARIABLES // len(SUBMITTED_COLUMNS)]
        shared, varying = _split_columns(chunk)
        wider = rows[start:start + (MAX_VARIABLES - len(shared)) // len(varying)]
        if len(wider) > len(chunk):
            wide_shared, wide_varying = _split_columns(wider)
            if len(wide_shared) + len(wide_varying) * len(wider) <= MAX_VARIABLES:
                chunk, shared, varying = wider, wide_shared, wide_varying
        _insert_chunk(conn, *_batch_statement(chunk, shared, varying), chunk)
        start += len(chunk)


def _insert_chunk(
    conn: sqlite3.Connection, sql: str, args: Sequence[Any], chunk: list[tuple[Any, ...]]
) -> None:
    try:
        conn.execute(sql, args)
    except sqlite3.IntegrityError:
        # Only this statement was undone: earlier chunks of the batch are still in
        # the table (until the transaction rolls back), so look among this chunk.
        ids = [row[0] for row in chunk]
        raise JobSubmissionError(_duplicate_message(conn, ids)) from None


def _duplicate_message(conn: sqlite3.Connection, ids: Sequence[str]) -> str:
    """Which of one statement's ids was already stored, as the error a duplicate gets."""
    marks = ",".join("?" * len(ids))
    row = conn.execute(f"SELECT id FROM jobs WHERE id IN ({marks}) LIMIT 1", ids).fetchone()
    if row is None:
        return "a job in the batch was already submitted"
    return (
        f"job {row[0]} was already submitted; create a new Job to run the same work "
        "again, or requeue_job() to retry it"
    )


def _split_columns(chunk: list[tuple[Any, ...]]) -> tuple[list[int], list[int]]:
    """Indexes of the columns whose value is the same in every row, and of the rest."""
    shared: list[int] = []
    varying: list[int] = [0]  # the id always differs
    # Values equal in Python (1, 1.0, True) are stored alike by these columns'
    # affinities, so equality is enough.
    for index, column in enumerate(zip(*chunk, strict=True)):
        if index and column.count(column[0]) == len(column):
            shared.append(index)
        elif index:
            varying.append(index)
    return shared, varying


def _batch_statement(
    chunk: list[tuple[Any, ...]], shared: list[int], varying: list[int]
) -> tuple[str, list[Any]]:
    """``INSERT … SELECT`` of one chunk and its arguments: shared values first."""
    args = [chunk[0][i] for i in shared]
    args += [row[i] for row in chunk for i in varying]
    return _batch_sql(tuple(shared), tuple(varying), len(chunk)), args


@functools.lru_cache(maxsize=64)
def _batch_sql(shared: tuple[int, ...], varying: tuple[int, ...], rows: int) -> str:
    """Shared columns as ``?1…?S``, the others from a ``VALUES`` list numbered after them."""
    names = {index: f"?{number}" for number, index in enumerate(shared, 1)}
    names.update({index: f"column{number}" for number, index in enumerate(varying, 1)})
    first, width = len(shared) + 1, len(varying)
    values = ", ".join(
        "(" + ", ".join(f"?{first + r * width + c}" for c in range(width)) + ")"
        for r in range(rows)
    )
    select = ", ".join(names[i] for i in range(len(SUBMITTED_COLUMNS)))
    return f"{_INSERT_HEAD}SELECT {select}, 'pending', 0 FROM (VALUES {values})"


# ---------------------------------------------------------------------------
# The probe (gigq/probe.py): health figures and the round trip's own row


def _numeric(column: str) -> str:
    """SQL: ``column`` holds a number. Epoch columns are only ever written as numbers
    by GigQ, but other code editing rows by SQL may leave text there."""
    return f"typeof({column}) IN ('integer', 'real')"


def oldest_pending_epoch(conn: sqlite3.Connection) -> float | None:
    """``created_epoch`` of the oldest pending job (None when none is pending)."""
    return conn.execute(
        f"SELECT MIN(created_epoch) FROM jobs WHERE status = 'pending' "
        f"AND {_numeric('created_epoch')}"
    ).fetchone()[0]


def completed_since(conn: sqlite3.Connection, since: float) -> int:
    """How many jobs completed after epoch ``since``."""
    return conn.execute(
        "SELECT COUNT(*) FROM jobs WHERE status = 'completed' AND completed_epoch > ? "
        f"AND {_numeric('completed_epoch')}",
        (since,),
    ).fetchone()[0]


def recent_timings(conn: sqlite3.Connection, last_n: int) -> list[tuple[Any, Any]]:
    """(wait, run) seconds of the ``last_n`` most recently completed jobs."""
    return conn.execute(
        "SELECT started_epoch - created_epoch, completed_epoch - started_epoch FROM jobs "
        f"WHERE status = 'completed' AND {_numeric('completed_epoch')} "
        f"AND {_numeric('started_epoch')} AND {_numeric('created_epoch')} "
        "ORDER BY completed_epoch DESC LIMIT ?",
        (last_n,),
    ).fetchall()


def run_epochs(conn: sqlite3.Connection, job_id: str) -> tuple[Any, Any]:
    """(started_epoch, completed_epoch) of one job."""
    return conn.execute(
        "SELECT started_epoch, completed_epoch FROM jobs WHERE id = ?", (job_id,)
    ).fetchone()


def delete_unless_running(conn: sqlite3.Connection, job_id: str) -> None:
    """Delete one job's row, unless a worker is running it right now."""
    conn.execute("DELETE FROM jobs WHERE id = ? AND status != 'running'", (job_id,))
