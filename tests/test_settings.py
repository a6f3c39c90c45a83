"""Storage settings: validation, environment, durability classes, in-memory databases."""

import os
import sqlite3

import pytest

from gigq import JobQueue, SQLiteSettings, durability_class
from gigq.errors import SettingsError
from gigq.storage import Storage


def test_defaults():
    s = SQLiteSettings()
    assert (s.journal_mode, s.synchronous, s.cache_size, s.busy_timeout, s.mmap_size) == (
        "wal", "normal", None, 30.0, None)


@pytest.mark.parametrize("kwargs, listed", [
    ({"journal_mode": "fast"}, "wal, delete, truncate, persist, memory, off"),
    ({"synchronous": "sometimes"}, "off, normal, full, extra"),
    ({"cache_size": "big"}, "integer"),
    ({"busy_timeout": -1}, "seconds"),
    ({"mmap_size": -5}, "bytes"),
])
def test_invalid_values_list_the_valid_ones(kwargs, listed):
    with pytest.raises(SettingsError, match=listed):
        SQLiteSettings(**kwargs)


def test_values_are_case_insensitive():
    assert SQLiteSettings(journal_mode="WAL", synchronous="Full").journal_mode == "wal"


def test_from_env():
    env = {"GIGQ_JOURNAL_MODE": "delete", "GIGQ_SYNCHRONOUS": "full",
           "GIGQ_CACHE_SIZE": "-8000", "GIGQ_BUSY_TIMEOUT": "2.5", "GIGQ_MMAP_SIZE": "0"}
    s = SQLiteSettings.from_env(env)
    assert (s.journal_mode, s.synchronous, s.cache_size, s.busy_timeout, s.mmap_size) == (
        "delete", "full", -8000, 2.5, 0)
    with pytest.raises(SettingsError, match=r"GIGQ|cache_size"):
        SQLiteSettings.from_env({"GIGQ_CACHE_SIZE": "lots"})
    with pytest.raises(SettingsError, match="unknown"):
        SQLiteSettings.from_mapping({"jornal_mode": "wal"})


@pytest.mark.parametrize("journal, sync, expected", [
    ("wal", "normal", "crash-safe"),
    ("wal", "full", "power-loss-safe"),
    ("wal", "extra", "power-loss-safe"),
    ("delete", "full", "power-loss-safe"),
    ("delete", "normal", "crash-safe"),
    ("truncate", "off", "unsafe"),
    ("memory", "full", "unsafe"),
    ("off", "full", "unsafe"),
    ("wal", "off", "unsafe"),
])
def test_durability_classes(journal, sync, expected):
    assert durability_class(SQLiteSettings(journal_mode=journal, synchronous=sync)) == expected


def test_in_memory_is_always_unsafe():
    assert durability_class(SQLiteSettings(synchronous="extra"), in_memory=True) == "unsafe"
    assert JobQueue(":memory:").durability == "unsafe"


@pytest.mark.parametrize("journal", ["wal", "delete", "truncate", "persist"])
def test_settings_are_applied_to_connections(db_path, journal):
    settings = SQLiteSettings(journal_mode=journal, synchronous="full", cache_size=-4096,
                              busy_timeout=7, mmap_size=1 << 20)
    JobQueue(db_path, settings=settings)
    conn = Storage.shared(db_path, settings).connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == journal
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == -4096
    # GigQ waits out locks itself (to time them), so SQLite's own handler is off
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 0 and conn.busy_timeout == 7
    assert conn.execute("PRAGMA mmap_size").fetchone()[0] == 1 << 20
    # the journal mode is a property of the file: a plain connection sees it too
    with sqlite3.connect(db_path) as plain:
        expected = "wal" if journal == "wal" else "delete"
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] in (expected, journal)


def test_connections_are_per_thread_and_reused(db_path):
    import threading

    storage = Storage.shared(db_path, SQLiteSettings())
    main = storage.connection()
    assert storage.connection() is main
    seen = []
    t = threading.Thread(target=lambda: seen.append(storage.connection()))
    t.start()
    t.join()
    assert seen[0] is not main


def test_opened_lists_the_shared_storages_of_a_path_with_any_settings(db_path, tmp_path):
    default = Storage.shared(db_path)
    tuned = Storage.shared(db_path, SQLiteSettings(synchronous="full"))
    other = Storage.shared(str(tmp_path / "other.db"))
    mine = Storage.opened(db_path)
    assert default in mine and tuned in mine and other not in mine and len(mine) == 2
    assert {default, tuned, other} <= set(Storage.opened())
    relative = Storage.opened(os.path.relpath(db_path))
    assert set(relative) == set(mine)  # filed under the absolute path
    assert Storage.opened(str(tmp_path / "never-opened.db")) == []


def test_memory_queues_share_one_database():
    import jobfns

    from gigq import Job

    a, b = JobQueue(":memory:"), JobQueue(":memory:")
    job_id = a.submit(Job("n", jobfns.noop))
    assert b.get_status(job_id)["exists"]


def test_memory_database_is_refused_by_the_cli(capsys):
    from gigq.cli import main

    assert main(["--db", ":memory:", "stats"]) == 1
    assert "one process" in capsys.readouterr().err


def test_processes_opening_a_new_file_at_once_all_succeed(tmp_path):
    import subprocess
    import sys

    from conftest import subprocess_env

    code = "import sys; from gigq import JobQueue; JobQueue(sys.argv[1]).stats()"
    for i in range(8):
        db = str(tmp_path / f"fresh{i}.db")
        procs = [subprocess.Popen([sys.executable, "-c", code, db], env=subprocess_env(),
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        for p in procs:
            assert p.wait(120) == 0, p.stderr.read()


def test_lock_stats_since(db_path):
    import jobfns

    from gigq import Job

    q = JobQueue(db_path)
    before = q.lock_stats()
    q.submit(Job("n", jobfns.noop))
    q.submit(Job("n", jobfns.noop))
    delta = q.lock_stats().since(before)
    assert delta.transactions == 2 and sum(delta.histogram) == 2
