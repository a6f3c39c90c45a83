"""0.5.x's per-thread connection helpers, served by :mod:`gigq.storage`."""

from __future__ import annotations

import os
import sqlite3

from .storage import SQLiteSettings, Storage


def _storage(db_path: str | os.PathLike[str]) -> Storage:
    return Storage.shared(db_path, SQLiteSettings.from_env())


def get_connection(db_path: str | os.PathLike[str]) -> sqlite3.Connection:
    """This thread's cached connection to ``db_path`` (rows are ``sqlite3.Row``)."""
    return _storage(db_path).connection()


def close_connection(db_path: str | os.PathLike[str]) -> None:
    """Close this thread's connection(s) to ``db_path``, if open."""
    for storage in Storage.opened(db_path):
        storage.close_thread_connection()


def close_connections() -> None:
    """Close every connection this thread has open."""
    for storage in Storage.opened():
        storage.close_thread_connection()
