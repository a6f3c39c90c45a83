"""A database written by GigQ 0.5.x opens, migrates in place and its pending jobs run."""

import json
import sqlite3
import uuid
from datetime import datetime, timedelta

import pytest

from gigq import JobQueue, Worker

# The schema GigQ 0.5.1 creates (its CREATE statements), optionally without the
# columns 0.5.0 did not have yet.
SCHEMA_051 = """
CREATE TABLE jobs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, function_name TEXT NOT NULL,
    function_module TEXT NOT NULL, params TEXT, priority INTEGER DEFAULT 0,
    dependencies TEXT, max_attempts INTEGER DEFAULT 3, timeout INTEGER DEFAULT 300,
    description TEXT, status TEXT NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, attempts INTEGER DEFAULT 0, result TEXT, error TEXT,
    started_at TEXT, completed_at TEXT, worker_id TEXT{extra}
);
CREATE INDEX idx_jobs_status ON jobs (status);
CREATE INDEX idx_jobs_priority ON jobs (priority);
CREATE TABLE job_executions (
    id TEXT PRIMARY KEY, job_id TEXT NOT NULL, worker_id TEXT NOT NULL,
    status TEXT NOT NULL, started_at TEXT NOT NULL, completed_at TEXT, result TEXT,
    error TEXT, FOREIGN KEY (job_id) REFERENCES jobs (id)
);
"""
EXTRA_051 = ", pass_parent_results INTEGER, retry_delay INTEGER DEFAULT 0, retry_after TEXT"


def make_legacy_db(path, with_new_columns=True):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(SCHEMA_051.format(extra=EXTRA_051 if with_new_columns else ""))
    now = datetime.now()
    ids = {}

    def insert(name, status, priority=0, deps=(), params=None, function="add", when=0,
               result=None, **cols):
        job_id = str(uuid.uuid4())
        ts = (now + timedelta(seconds=when)).isoformat()
        values = dict(id=job_id, name=name, function_name=function, function_module="jobfns",
                      params=json.dumps(params or {}), priority=priority,
                      dependencies=json.dumps(list(deps)), max_attempts=3, timeout=300,
                      description="", status=status, created_at=ts, updated_at=ts,
                      attempts=0, result=result, **cols)
        conn.execute(f"INSERT INTO jobs ({', '.join(values)}) VALUES "
                     f"({', '.join('?' * len(values))})", list(values.values()))
        ids[name] = job_id
        return job_id

    done = insert("done", "completed", params={"a": 1, "b": 1}, result="2", when=-10,
                  completed_at=(now - timedelta(seconds=9)).isoformat())
    insert("first", "pending", params={"a": 1, "b": 2}, when=-5)
    insert("second", "pending", params={"a": 2, "b": 2}, when=-4)
    insert("urgent", "pending", priority=5, params={"a": 3, "b": 3}, when=-3)
    insert("child", "pending", deps=[done], function="takes_parents", when=-2)
    blocker = insert("blocker", "failed", when=-1)
    insert("blocked", "pending", deps=[blocker], function="noop", when=0)
    conn.execute(
        "INSERT INTO job_executions VALUES (?, ?, 'old-worker', 'completed', ?, ?, '2', NULL)",
        (str(uuid.uuid4()), done, now.isoformat(), now.isoformat()))
    conn.commit()
    conn.close()
    return ids


@pytest.mark.parametrize("with_new_columns", [True, False], ids=["0.5.1", "0.5.0"])
def test_legacy_database_migrates_and_drains(db_path, with_new_columns):
    ids = make_legacy_db(db_path, with_new_columns)
    q = JobQueue(db_path)
    assert q.stats()["pending"] == 5
    worker = Worker(db_path)
    order = []
    while worker.process_one():
        order.append(max(q.list_jobs(status="completed", limit=50),
                         key=lambda j: j["completed_at"] or "")["name"])
    assert order == ["urgent", "first", "second", "child"]
    assert q.get_result(ids["urgent"]) == 6
    assert q.get_result(ids["child"]) == {ids["done"]: 2}
    status = q.get_status(ids["blocked"])
    assert status["status"] == "pending"
    assert status["waiting_on"] == [{"id": ids["blocker"], "status": "failed"}]
    history = q.get_status(ids["done"])["executions"]
    assert history[0]["worker_id"] == "old-worker" and history[0]["result"] == 2
    with sqlite3.connect(db_path) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(jobs)")]
        assert columns[:22][-3:] == ["pass_parent_results", "retry_delay", "retry_after"]
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(job_executions)")}
        assert "job_executions_job" in indexes


def test_migration_is_idempotent_and_keeps_working(db_path):
    make_legacy_db(db_path)
    JobQueue(db_path)
    JobQueue(db_path)
    assert Worker(db_path).process_one()


def test_a_newer_schema_is_refused(db_path):
    from gigq.errors import DatabaseFileError

    JobQueue(db_path)
    from gigq.storage import Storage

    for storage in Storage.opened():
        storage.close_thread_connection()
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(DatabaseFileError, match="newer GigQ"):
        JobQueue(db_path)
