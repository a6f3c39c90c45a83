"""Tables, indexes, triggers and in-place migrations (tracked by ``PRAGMA user_version``).

The ``jobs`` and ``job_executions`` tables keep GigQ 0.5.x's columns, in order; ours
follow. Bookkeeping that must stay right even when other code edits rows by SQL —
dependency readiness, deleting a job's executions with it — lives in triggers.
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.parse
import weakref
from datetime import datetime

from .errors import DatabaseFileError
from .storage import MEMORY, Storage

SCHEMA_VERSION = 2

# 0.5.x columns, in their order; a database written by 0.5.0 may lack the last three.
LEGACY_JOB_COLUMNS = (
    ("id", "TEXT PRIMARY KEY"),
    ("name", "TEXT NOT NULL"),
    ("function_name", "TEXT NOT NULL"),
    ("function_module", "TEXT NOT NULL"),
    ("params", "TEXT"),
    ("priority", "INTEGER DEFAULT 0"),
    ("dependencies", "TEXT"),
    ("max_attempts", "INTEGER DEFAULT 3"),
    ("timeout", "INTEGER DEFAULT 300"),
    ("description", "TEXT"),
    ("status", "TEXT NOT NULL"),
    ("created_at", "TEXT NOT NULL"),
    ("updated_at", "TEXT NOT NULL"),
    ("attempts", "INTEGER DEFAULT 0"),
    ("result", "TEXT"),
    ("error", "TEXT"),
    ("started_at", "TEXT"),
    ("completed_at", "TEXT"),
    ("worker_id", "TEXT"),
    ("pass_parent_results", "INTEGER"),
    ("retry_delay", "INTEGER DEFAULT 0"),
    ("retry_after", "TEXT"),
)

# Our additions. Epoch columns (seconds) are what the engine compares; the ISO text
# columns above stay for users. ``blocked_by`` counts unfinished parents;
# ``has_dependents`` spares jobs without children the work of releasing them.
ADDED_JOB_COLUMNS = (
    ("queue", "TEXT NOT NULL DEFAULT 'default'"),
    ("retry_backoff", "REAL NOT NULL DEFAULT 1.0"),
    ("blocked_by", "INTEGER NOT NULL DEFAULT 0"),
    ("has_dependents", "INTEGER NOT NULL DEFAULT 0"),
    ("ready_at", "REAL NOT NULL DEFAULT 0"),
    ("claim_id", "TEXT"),
    ("lease_owner", "TEXT"),
    ("lease_expires_at", "REAL"),
    ("created_epoch", "REAL"),
    ("started_epoch", "REAL"),
    ("completed_epoch", "REAL"),
)

# Columns shown in get_status / list_jobs: 0.5.x's plus the ones users set.
PUBLIC_JOB_COLUMNS = (*(name for name, _ in LEGACY_JOB_COLUMNS), "queue", "retry_backoff")

EXECUTION_COLUMNS = (
    "id", "job_id", "worker_id", "status", "started_at", "completed_at", "result", "error",
)

# New databases store a job's executions together (clustered by job id): recording
# an attempt then writes one page, and reading a job's history is one range read.
# A 0.5.x database keeps its rowid table and gets an index on job_id instead.
_EXECUTIONS = """
CREATE TABLE job_executions (
    id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    completed_at TEXT,
    result TEXT,
    error TEXT,
    PRIMARY KEY (job_id, id)
) WITHOUT ROWID
"""

_TABLES = """
CREATE TABLE IF NOT EXISTS job_dependencies (
    parent_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    PRIMARY KEY (parent_id, job_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gigq_workers (
    instance_id TEXT PRIMARY KEY,
    worker_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT,
    started_at TEXT NOT NULL,
    started_epoch REAL NOT NULL,
    heartbeat_epoch REAL NOT NULL,
    stopped_epoch REAL,
    stop_reason TEXT,
    concurrency INTEGER NOT NULL,
    isolation TEXT NOT NULL,
    queues TEXT,
    children TEXT
);
"""

# Every index costs pages written for every job, so there are few and they are
# partial. The claim index holds only claimable rows — claiming is O(log n) in the
# backlog and jobs waiting on parents cost a claim nothing — ordered queue, priority
# DESC, rowid. The running index serves heartbeats and the reaper; the blocked
# index lists jobs waiting on parents (only dependent jobs enter it). Admin queries
# (stats, list by status) scan; 0.5.x's status and priority indexes are dropped.
_INDEXES = """
DROP INDEX IF EXISTS idx_jobs_priority;
DROP INDEX IF EXISTS idx_jobs_status;
CREATE INDEX IF NOT EXISTS jobs_claimable
    ON jobs (queue, priority DESC) WHERE status = 'pending' AND blocked_by = 0;
CREATE INDEX IF NOT EXISTS jobs_running ON jobs (lease_owner) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS job_dependencies_child ON job_dependencies (job_id);
CREATE INDEX IF NOT EXISTS jobs_blocked ON jobs (blocked_by) WHERE blocked_by != 0;
"""

# Deleting a job deletes its history, however it is deleted. (Releasing children
# when a parent completes is done by the completing statement, not a trigger: a
# trigger on status would cost every claim; see claims.release_children and
# claims.reconcile_dependencies for edits made by direct SQL.)
_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS jobs_delete_history
AFTER DELETE ON jobs
BEGIN
    DELETE FROM job_executions WHERE job_id = OLD.id;
    DELETE FROM job_dependencies WHERE job_id = OLD.id;
END;
"""


def iso_to_epoch(text: str | None) -> float | None:
    """Epoch seconds of a 0.5.x ISO timestamp (local time); None if unparsable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return None


# Storages whose file was found to be GigQ's (or new): checked once per process.
_verified: weakref.WeakSet[Storage] = weakref.WeakSet()
# The columns every GigQ jobs/job_executions table has had, 0.5.0 on.
_REQUIRED_COLUMNS = {
    "jobs": [name for name, _ in LEGACY_JOB_COLUMNS[:-3]],
    "job_executions": list(EXECUTION_COLUMNS),
}


def refuse_foreign(path: str, busy_timeout: float = 5.0) -> None:
    """Raise :class:`DatabaseFileError` when ``path`` holds another application's
    ``jobs`` (or ``job_executions``) table.

    Runs on a read-only connection of its own before GigQ opens the file, since
    opening it the usual way already switches the journal mode and a migration would
    add GigQ's tables and columns to that application's database.
    """
    if path == MEMORY or not os.path.isfile(path) or os.path.getsize(path) == 0:
        return
    try:
        # Waits for a lock no longer than the caller's own operations would.
        conn = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True,
                               timeout=busy_timeout)
    except sqlite3.Error:
        return  # the usual open reports what is wrong with the file
    try:
        for table, required in _REQUIRED_COLUMNS.items():
            existing = set(_columns(conn, table))
            missing = [c for c in required if c not in existing]
            if existing and missing:
                raise DatabaseFileError(
                    f"{path} is not a GigQ database: its {table} table lacks GigQ's "
                    f"column(s) {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}, "
                    "so it belongs to another application; nothing was changed. Point "
                    "GigQ at a file of its own (e.g. --db gigq.db)"
                )
    except sqlite3.Error:
        return  # not a database, damaged: the usual open says so
    finally:
        conn.close()


def verify_ownership(storage: Storage) -> None:
    """Refuse, before anything opens it the usual way, a file whose tables are another
    application's (:func:`refuse_foreign`); checked once per :class:`Storage`."""
    if storage not in _verified:
        refuse_foreign(storage.path, storage.settings.busy_timeout)
        _verified.add(storage)


def ensure_schema(storage: Storage) -> None:
    """Create the schema, or migrate an older GigQ database in place. Idempotent.

    Refuses (before changing anything) a file whose tables are another application's.
    """
    verify_ownership(storage)
    with storage.read() as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise DatabaseFileError(
            f"{storage.path} was written by a newer GigQ (schema {version}, this one "
            f"knows {SCHEMA_VERSION}); upgrade gigq to use it"
        )
    with storage.write() as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        _create_or_upgrade(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _create_or_upgrade(conn: sqlite3.Connection) -> None:
    existing = _columns(conn, "jobs")
    if not existing:
        columns = ",\n    ".join(f"{n} {t}" for n, t in LEGACY_JOB_COLUMNS + ADDED_JOB_COLUMNS)
        conn.execute(f"CREATE TABLE jobs (\n    {columns}\n)")
        legacy = False
    else:
        legacy = "blocked_by" not in existing
        for name, decl in LEGACY_JOB_COLUMNS + ADDED_JOB_COLUMNS:
            if name not in existing:
                conn.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")
    if not _columns(conn, "job_executions"):
        conn.execute(_EXECUTIONS)
    else:
        conn.execute("CREATE INDEX IF NOT EXISTS job_executions_job ON job_executions (job_id)")
    for statement in (_TABLES + _INDEXES).split(";"):
        if statement.strip():
            conn.execute(statement)
    # Schema 2: the pids of each worker's job processes (JSON list of [pid, start]).
    if "children" not in _columns(conn, "gigq_workers"):
        conn.execute("ALTER TABLE gigq_workers ADD COLUMN children TEXT")
    for trigger in _TRIGGERS.split("END;"):
        if trigger.strip():
            conn.execute(trigger + "END;")
    if legacy:
        _backfill_legacy(conn)


def _backfill_legacy(conn: sqlite3.Connection) -> None:
    """Fill our columns for rows written by GigQ 0.5.x."""
    conn.create_function("gigq_epoch", 1, iso_to_epoch, deterministic=True)
    conn.execute(
        """
        UPDATE jobs SET
            created_epoch = gigq_epoch(created_at),
            started_epoch = gigq_epoch(started_at),
            completed_epoch = gigq_epoch(completed_at),
            ready_at = COALESCE(gigq_epoch(retry_after), 0)
        """
    )
    # A 0.5.x worker had no lease: reclaim its running jobs when 0.5.x would have
    # (after the job's timeout), unless a 1.x worker finishes them first.
    conn.execute(
        """
        UPDATE jobs SET lease_expires_at =
            COALESCE(started_epoch, 0) + COALESCE(NULLIF(timeout, 0), 300)
        WHERE status = 'running'
        """
    )
    rows = conn.execute(
        "SELECT id, dependencies FROM jobs "
        "WHERE dependencies IS NOT NULL AND dependencies NOT IN ('', '[]')"
    ).fetchall()
    for job_id, deps_json in rows:
        try:
            parents = [p for p in json.loads(deps_json) if isinstance(p, str)]
        except ValueError:
            continue
        conn.executemany(
            "INSERT OR IGNORE INTO job_dependencies (parent_id, job_id) VALUES (?, ?)",
            [(p, job_id) for p in parents],
        )
    conn.execute(
        "UPDATE jobs SET has_dependents = 1 WHERE id IN (SELECT parent_id FROM job_dependencies)"
    )
    # 0.5.x treated a dependency on a missing job as satisfied; existing rows keep that.
    conn.execute(
        """
        UPDATE jobs SET blocked_by = (
            SELECT COUNT(*) FROM job_dependencies d JOIN jobs p ON p.id = d.parent_id
            WHERE d.job_id = jobs.id AND p.status != 'completed'
        )
        WHERE id IN (SELECT job_id FROM job_dependencies)
        """
    )
