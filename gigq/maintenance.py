"""Keeping a GigQ database healthy: optimize, vacuum, online backup, checkpoint, check."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .errors import DatabaseFileError, SettingsError
from .storage import Storage, translate_error

CHECKPOINT_MODES = ("passive", "full", "restart", "truncate")


def optimize(storage: Storage) -> None:
    """Let SQLite refresh the statistics its query planner uses."""
    with storage.read() as conn:
        conn.execute("PRAGMA optimize")


def vacuum(storage: Storage) -> None:
    """Rebuild the file, returning free pages to the file system."""
    with storage.read() as conn:
        conn.execute("VACUUM")


def backup(storage: Storage, dest: str | os.PathLike[str]) -> str:
    """Copy the database with SQLite's online backup API and return the copy's path.

    Safe while workers run: unlike copying the file (which misses what is still in
    the ``-wal`` file), the copy is one consistent snapshot.
    """
    target = Path(dest).resolve()
    if storage.path != ":memory:" and target == Path(storage.path):
        raise SettingsError("backup destination is the database itself; choose another path")
    if not target.parent.is_dir():
        raise DatabaseFileError(
            f"cannot write backup {target}: directory {target.parent} does not exist"
        )
    with storage.read() as conn:
        try:
            copy = sqlite3.connect(target)
        except sqlite3.Error as exc:
            raise translate_error(exc, str(target)) from exc
        try:
            conn.backup(copy)
        except sqlite3.Error as exc:
            raise translate_error(exc, str(target)) from exc
        finally:
            copy.close()
    return str(target)


def checkpoint(storage: Storage, mode: str = "truncate") -> tuple[int, int, int]:
    """Move the WAL's content into the main file; returns (busy, log frames, checkpointed)."""
    mode = mode.lower()
    if mode not in CHECKPOINT_MODES:
        raise SettingsError(
            f"invalid checkpoint mode {mode!r}; valid values: {', '.join(CHECKPOINT_MODES)}"
        )
    with storage.read() as conn, conn.sqlite_busy_handler():
        row = conn.execute(f"PRAGMA wal_checkpoint({mode.upper()})").fetchone()
    return tuple(row)


def integrity_check(storage: Storage) -> list[str]:
    """Run ``PRAGMA integrity_check``; ``["ok"]`` means the file is sound."""
    with storage.read() as conn:
        return [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
