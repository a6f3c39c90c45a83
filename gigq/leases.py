"""Worker registrations, heartbeats and the reclaiming of jobs whose worker is gone.

Each running ``Worker`` registers one row in ``gigq_workers`` (host, pid, start) and
renews a heartbeat; each job it runs carries a lease expiry. A job is reclaimed at
once when its worker was on this host and its process no longer exists, otherwise
when its lease expires. A worker also records the pids of its job processes: a
reclaim on this host first makes sure the old attempt's process is gone (killing it
if need be), so a job never runs again beside its previous attempt.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from typing import Any

from . import claims, validation
from .errors import SettingsError
from .storage import Storage
from .utils import iso_time

HOST = socket.gethostname()
# Seconds a running job's lease lasts without a heartbeat (workers renew at a third).
DEFAULT_LEASE_TIMEOUT = 30.0
# The shortest lease a worker accepts. Renewals come every third of the lease from a
# service thread that wakes at most every sixth, so a 1 s lease leaves a renewal about
# 0.5 s to land; below that an ordinary pause (a commit's fsync, a garbage collection,
# a busy machine's scheduler) lets the lease lapse under a live worker and the job run
# again elsewhere.
MIN_LEASE_TIMEOUT = 1.0
# The longest: about 31 years, far beyond any job, and safe in date arithmetic.
MAX_LEASE_TIMEOUT = 1e9
# Seconds a reclaim waits for a killed job process to be gone (SIGKILL takes
# milliseconds); if it is not, the next reap tries again. Short: the same service
# thread renews this worker's own leases.
_CHILD_EXIT_WAIT = 0.2


def check_lease_timeout(value: object, where: str = "lease_timeout") -> float:
    """``value`` as a lease in seconds, or SettingsError naming ``where`` and the range."""
    try:
        return float(validation.number(value, where, MIN_LEASE_TIMEOUT, MAX_LEASE_TIMEOUT,
                                       unit="seconds", error=SettingsError))
    except SettingsError as exc:
        raise SettingsError(f"{exc}: the heartbeat renews a lease every third of it, and "
                            "a shorter lease can lapse under a live worker") from None


def process_start_token(pid: int) -> str | None:
    """An id of a process's start (Linux: start time in clock ticks), to detect pid reuse."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return None


def process_alive(pid: int, start_token: str | None = None) -> bool:
    """Whether ``pid`` is a live (non-zombie) process, and the same one if a token is given."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return True
    if fields and fields[0] in ("Z", "X"):
        return False
    return start_token is None or len(fields) < 20 or fields[19] == start_token


def register(
    storage: Storage,
    instance_id: str,
    worker_id: str,
    concurrency: int,
    isolation: str,
    queues: tuple[str, ...] | None,
) -> None:
    """Record a starting worker instance."""
    now = time.time()
    pid = os.getpid()
    with storage.write() as conn:
        conn.execute(
            """
            INSERT OR REPLACE INTO gigq_workers (instance_id, worker_id, host, pid, pid_start,
                started_at, started_epoch, heartbeat_epoch, stopped_epoch, stop_reason,
                concurrency, isolation, queues)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)
            """,
            (instance_id, worker_id, HOST, pid, process_start_token(pid),
             iso_time(now), now, now, concurrency, isolation,
             json.dumps(list(queues)) if queues else None),
        )
        # Keep the registry small: forget workers that stopped more than a week ago.
        conn.execute(
            "DELETE FROM gigq_workers WHERE stopped_epoch IS NOT NULL AND stopped_epoch < ?",
            (now - 7 * 86400,),
        )


def heartbeat(
    storage: Storage, instance_id: str, lease_timeout: float
) -> tuple[float, set[str]]:
    """Renew the worker's heartbeat and the leases of the jobs it runs.

    Returns the new lease expiry and the claim ids renewed: a run of this worker
    whose claim is not among them has lost its job.
    """
    now = time.time()
    until = now + lease_timeout
    with storage.write() as conn:
        conn.execute(
            "UPDATE gigq_workers SET heartbeat_epoch = ? WHERE instance_id = ?",
            (now, instance_id),
        )
        rows = conn.execute(
            f"UPDATE jobs SET lease_expires_at = ? WHERE {claims.RUNNING} AND lease_owner = ? "
            "RETURNING claim_id",
            (until, instance_id),
        ).fetchall()
    return until, {r[0] for r in rows}


def record_child(storage: Storage, instance_id: str, pid: int) -> None:
    """Record a job process started by a worker instance (before it gets a job)."""
    token = process_start_token(pid)
    with storage.write() as conn:
        row = conn.execute(
            "SELECT children FROM gigq_workers WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        known = _children(row[0] if row else None)
        live = [c for c in known if process_alive(c[0], c[1])]
        conn.execute(
            "UPDATE gigq_workers SET children = ? WHERE instance_id = ?",
            (json.dumps([*live, [pid, token]]), instance_id),
        )


def _children(text: str | None) -> list[tuple[int, str | None]]:
    try:
        return [(int(c[0]), c[1]) for c in json.loads(text)] if text else []
    except (ValueError, TypeError, IndexError):
        return []


def _stop_children(storage: Storage, instance_id: str) -> bool:
    """Kill the live job processes of a local worker instance; True once all are gone."""
    with storage.read() as conn:
        row = conn.execute(
            "SELECT children FROM gigq_workers WHERE instance_id = ? AND host = ?",
            (instance_id, HOST),
        ).fetchone()
    # Without a start token (no /proc) a pid cannot be told apart from a process that
    # reused it: those are left to the job process's own lifeline, never killed.
    live = [c for c in _children(row[0] if row else None)
            if c[1] is not None and process_alive(*c)]
    for pid, _ in live:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + _CHILD_EXIT_WAIT
    while live and time.monotonic() < deadline:
        time.sleep(0.02)
        live = [c for c in live if process_alive(*c)]
    return not live


def release_claims(storage: Storage, instance_id: str, reason: str) -> list[tuple[str, str]]:
    """Take back, as failed attempts, the jobs a stopping worker instance still holds.

    The caller has no job code running any more (its job processes are gone, its
    calls in threads returned), so a claim still open here was never recorded (a
    worker thread crashed, or gave up on storage trouble): nobody is left to renew
    its lease, and waiting for the lease to run out would only delay the retry.
    Returns ``(job_id, reason)`` for every job reclaimed.
    """
    reclaimed: list[tuple[str, str]] = []
    with storage.write() as conn:
        for c in claims.running_claims(conn, "lease_owner = ?", (instance_id,)):
            why = (f"worker {c.worker_id or 'unknown'} stopped ({reason}) without "
                   "recording the attempt")
            if claims.reclaim(conn, c, why):
                reclaimed.append((c.id, why))
    return reclaimed


def unregister(storage: Storage, instance_id: str, reason: str) -> None:
    """Mark a worker instance as stopped."""
    with storage.write() as conn:
        conn.execute(
            "UPDATE gigq_workers SET stopped_epoch = ?, stop_reason = ? "
            "WHERE instance_id = ? AND stopped_epoch IS NULL",
            (time.time(), reason, instance_id),
        )


def _dead_local_instances(storage: Storage, own_pid: int) -> list[tuple[str, str, int]]:
    with storage.read() as conn:
        rows = conn.execute(
            "SELECT instance_id, worker_id, pid, pid_start FROM gigq_workers "
            "WHERE host = ? AND stopped_epoch IS NULL AND pid != ?",
            (HOST, own_pid),
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows if not process_alive(r[2], r[3])]


def _has_expired_lease(storage: Storage, now: float) -> bool:
    with storage.read() as conn:
        row = conn.execute(
            f"SELECT 1 FROM jobs WHERE {claims.RUNNING} "
            "AND (lease_expires_at IS NULL OR lease_expires_at < ?) LIMIT 1",
            (now,),
        ).fetchone()
    return row is not None


def _expired_local_owners(storage: Storage, now: float) -> list[str]:
    with storage.read() as conn:
        rows = conn.execute(
            f"SELECT DISTINCT j.lease_owner FROM jobs j JOIN gigq_workers w "
            f"ON w.instance_id = j.lease_owner WHERE j.{claims.RUNNING} AND w.host = ? "
            "AND w.children IS NOT NULL AND j.lease_expires_at < ?",
            (HOST, now),
        ).fetchall()
    return [r[0] for r in rows]


def reap(storage: Storage) -> list[tuple[str, str]]:
    """Reclaim jobs of dead local workers and of expired leases.

    Returns ``(job_id, reason)`` for every job reclaimed. Reads only, unless there is
    something to reclaim.
    """
    reclaimed: list[tuple[str, str]] = []
    now = time.time()
    for instance_id, worker_id, pid in _dead_local_instances(storage, os.getpid()):
        reason = f"worker {worker_id} died (pid {pid} on {HOST} no longer exists)"
        if not _stop_children(storage, instance_id):
            continue  # its job process is still alive: never start a retry beside it
        with storage.write() as conn:
            for c in claims.running_claims(conn, "lease_owner = ?", (instance_id,)):
                if claims.reclaim(conn, c, reason):
                    reclaimed.append((c.id, reason))
            conn.execute(
                "UPDATE gigq_workers SET stopped_epoch = ?, stop_reason = 'died' "
                "WHERE instance_id = ? AND stopped_epoch IS NULL",
                (now, instance_id),
            )
    if _has_expired_lease(storage, now):
        # A local worker that stopped renewing (hung, paused) may still have job
        # processes running the expired jobs: they go first (they stop themselves at
        # the lease's end; this covers one that could not).
        held = [i for i in _expired_local_owners(storage, now) if not _stop_children(storage, i)]
        with storage.write() as conn:
            skip = f" AND COALESCE(lease_owner, '') NOT IN ({','.join('?' * len(held))})"
            expired = claims.running_claims(
                conn, "(lease_expires_at IS NULL OR lease_expires_at < ?)" + (skip if held else ""),
                (now, *held),
            )
            for c in expired:
                reason = (
                    f"lease expired: worker {c.worker_id or 'unknown'} stopped renewing it "
                    "(process hung, killed on another host, or cut off from the database)"
                )
                if claims.reclaim(conn, c, reason):
                    reclaimed.append((c.id, reason))
    return reclaimed


def list_workers(
    storage: Storage, lease_timeout: float = DEFAULT_LEASE_TIMEOUT
) -> list[dict[str, Any]]:
    """Every registered worker with its state: live, stale, dead or stopped."""
    now = time.time()
    with storage.read() as conn:
        rows = conn.execute(
            "SELECT w.*, (SELECT COUNT(*) FROM jobs j WHERE j.status = 'running' "
            "AND j.lease_owner = w.instance_id) AS running_jobs "
            "FROM gigq_workers w ORDER BY started_epoch DESC"
        ).fetchall()
    out = []
    for row in rows:
        info = dict(row)
        beat = info["heartbeat_epoch"]
        # A value written over by hand (not a number) tells nothing of liveness.
        age = now - beat if isinstance(beat, (int, float)) else None
        if info["stopped_epoch"] is not None:
            state = "dead" if info["stop_reason"] == "died" else "stopped"
        elif info["host"] == HOST and not process_alive(info["pid"], info["pid_start"]):
            state = "dead"
        elif age is None or age > lease_timeout:
            state = "stale"
        else:
            state = "live"
        info["state"] = state
        info["heartbeat_age_s"] = age
        info["queues"] = json.loads(info["queues"]) if info["queues"] else None
        out.append(info)
    return out
