"""Connections, storage settings, write transactions and lock-wait accounting.

Every write in GigQ goes through :meth:`Storage.write` (``BEGIN IMMEDIATE`` …
``COMMIT``) and every statement runs on a :class:`GigQConnection`, which waits out a
locked database itself instead of leaving it to SQLite's busy handler. So the time an
operation waits for a lock is measured where it happens — at BEGIN, at COMMIT (the
exclusive lock of a rollback journal) and on reads — from timestamps taken just
before each attempt, never counting time spent waiting for the GIL. Those counters
are the lock-contention figures the benchmark reports. Connections are opened once
per thread with the settings applied, and reused.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from . import validation
from .errors import (
    DatabaseBusyError,
    DatabaseCorruptError,
    DatabaseFileError,
    DiskFullError,
    SettingsError,
)
from .percentile import check_percent

MEMORY = ":memory:"
JOURNAL_MODES = ("wal", "delete", "truncate", "persist", "memory", "off")
SYNCHRONOUS_LEVELS = ("off", "normal", "full", "extra")
DURABILITY_CLASSES = ("power-loss-safe", "crash-safe", "unsafe")
# A checkpoint costs two fsyncs however little it copies; checkpointing every 10,000
# WAL pages (~40 MB) instead of SQLite's 1,000 spreads that cost over 10x more jobs
# (measured: +5-8% drain throughput on ext4; the WAL file then stays ~40 MB).
WAL_AUTOCHECKPOINT_PAGES = 10_000
# SQLite takes the busy timeout as a C int of milliseconds (at most ~24.8 days).
MAX_BUSY_TIMEOUT = validation.ONE_DAY

ENV_SETTINGS = {
    "journal_mode": "GIGQ_JOURNAL_MODE",
    "synchronous": "GIGQ_SYNCHRONOUS",
    "cache_size": "GIGQ_CACHE_SIZE",
    "busy_timeout": "GIGQ_BUSY_TIMEOUT",
    "mmap_size": "GIGQ_MMAP_SIZE",
}


@dataclass(frozen=True)
class SQLiteSettings:
    """The SQLite tunables GigQ applies to every connection it opens.

    ``cache_size`` follows SQLite: negative is KiB, positive is pages, ``None`` keeps
    SQLite's default. ``busy_timeout`` is in seconds. ``mmap_size`` is in bytes.
    """

    journal_mode: str = "wal"
    synchronous: str = "normal"
    cache_size: int | None = None
    busy_timeout: float = 30.0
    mmap_size: int | None = None

    def __post_init__(self) -> None:
        for name, valid in (("journal_mode", JOURNAL_MODES), ("synchronous", SYNCHRONOUS_LEVELS)):
            value = getattr(self, name)
            normal = value.lower() if isinstance(value, str) else value
            if normal not in valid:
                raise SettingsError(
                    f"invalid {name} {value!r}; valid values: {', '.join(valid)}"
                )
            object.__setattr__(self, name, normal)
        if self.cache_size is not None:
            validation.integer(self.cache_size, "cache_size (negative = KiB, e.g. -64000 for "
                               "64 MB; positive = pages; None = SQLite's default)",
                               validation.INT32_MIN, validation.INT32_MAX,
                               error=SettingsError)
        validation.seconds(self.busy_timeout, "busy_timeout", MAX_BUSY_TIMEOUT,
                           error=SettingsError)
        if self.mmap_size is not None:
            validation.integer(self.mmap_size, "mmap_size (bytes; None = SQLite's default)",
                               0, error=SettingsError)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SQLiteSettings:
        """Build settings from strings or values (CLI, environment, TOML files)."""
        unknown = set(values) - set(ENV_SETTINGS)
        if unknown:
            raise SettingsError(
                f"unknown storage setting(s) {', '.join(sorted(unknown))}; "
                f"valid: {', '.join(ENV_SETTINGS)}"
            )
        parsed: dict[str, Any] = {}
        for name, raw in values.items():
            if raw is None or raw == "":
                continue
            if name in ("cache_size", "mmap_size"):
                parsed[name] = _parse_number(name, raw, int)
            elif name == "busy_timeout":
                parsed[name] = _parse_number(name, raw, float)
            else:
                parsed[name] = raw
        return cls(**parsed)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SQLiteSettings:
        """Settings from ``GIGQ_JOURNAL_MODE``, ``GIGQ_SYNCHRONOUS``, ``GIGQ_CACHE_SIZE``,
        ``GIGQ_BUSY_TIMEOUT`` and ``GIGQ_MMAP_SIZE``; unset ones keep the defaults."""
        env = os.environ if environ is None else environ
        values = {k: env.get(v) for k, v in ENV_SETTINGS.items()}
        try:
            return cls.from_mapping(values)
        except SettingsError:
            # Name the variable that holds the bad value.
            for name, raw in values.items():
                try:
                    cls.from_mapping({name: raw})
                except SettingsError as exc:
                    raise SettingsError(f"{ENV_SETTINGS[name]}={raw!r}: {exc}") from None
            raise

    def replace(self, **changes: Any) -> SQLiteSettings:
        """A copy with some settings changed (validated)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain dict."""
        return asdict(self)

    def durability(self, in_memory: bool = False) -> str:
        """This combination's durability class (see :func:`durability_class`)."""
        return durability_class(self, in_memory=in_memory)


def _parse_number(name: str, raw: Any, kind: type) -> Any:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return kind(raw) if kind is float else raw
    try:
        return kind(str(raw).strip())
    except ValueError:
        unit = "seconds" if kind is float else "an integer"
        raise SettingsError(f"invalid {name} {raw!r}; expected {unit}") from None


def durability_class(settings: SQLiteSettings, in_memory: bool = False) -> str:
    """What a crash can cost with these settings.

    ``power-loss-safe``: committed jobs survive a power cut (synchronous FULL/EXTRA).
    ``crash-safe``: an application crash loses nothing; a power cut may lose the
    last transactions (WAL or a rollback journal with synchronous NORMAL).
    ``unsafe``: synchronous OFF, journal OFF/MEMORY or an in-memory database.
    """
    if in_memory or settings.synchronous == "off" or settings.journal_mode in ("off", "memory"):
        return "unsafe"
    if settings.synchronous in ("full", "extra"):
        return "power-loss-safe"
    return "crash-safe"


# ---------------------------------------------------------------------------
# Lock-wait accounting

_BUCKETS = 28  # bucket k holds waits below 2**k microseconds (~134 s for the last)

# Where an operation waited: taking the write lock (BEGIN IMMEDIATE), committing (a
# rollback journal needs the exclusive lock, so readers' shared locks hold it up), or
# running a statement outside a write transaction (reads, PRAGMAs, checkpoints).
BEGIN, COMMIT, READ = 0, 1, 2
WAIT_SITES = ("begin", "commit", "read")


class LockStats:
    """Counters for one connection; only its own thread writes them.

    ``pending`` is the wait of the write transaction in progress (BEGIN plus
    COMMIT), added to the per-transaction histogram when it ends.
    """

    __slots__ = (
        "busy_errors", "busy_retries", "histogram", "pending", "site_wait", "site_waits",
        "transactions", "wait_max", "wait_total",
    )

    def __init__(self) -> None:
        self.transactions = 0
        self.wait_total = 0.0
        self.wait_max = 0.0
        self.busy_retries = 0
        self.busy_errors = 0
        self.histogram = [0] * _BUCKETS
        self.site_wait = [0.0] * len(WAIT_SITES)
        self.site_waits = [0] * len(WAIT_SITES)
        self.pending = 0.0

    def waited(self, site: int, wait: float) -> None:
        """Count one statement that waited ``wait`` seconds for a lock at ``site``."""
        self.site_wait[site] += wait
        self.site_waits[site] += 1
        self.wait_total += wait
        if site == BEGIN:  # a transaction starts: its wait so far is this one
            self.pending = wait
        elif site == COMMIT:
            self.pending += wait
        elif wait > self.wait_max:
            self.wait_max = wait

    def end_transaction(self) -> None:
        """Count the write transaction that just ended (committed or rolled back)."""
        wait = self.pending
        self.transactions += 1
        if wait:
            self.pending = 0.0
            if wait > self.wait_max:
                self.wait_max = wait
            self.histogram[min(int(wait * 1e6).bit_length(), _BUCKETS - 1)] += 1
        else:
            self.histogram[0] += 1

    def discard_transaction(self) -> None:
        """Forget the wait of a transaction that never began (BEGIN gave up)."""
        if self.pending > self.wait_max:
            self.wait_max = self.pending
        self.pending = 0.0


# Fields of LockStatsSnapshot that add up across connections (the rest: the maximum
# and the histogram).
_SUMMED = (
    "transactions", "lock_wait_total_s", "busy_retries", "busy_errors",
    *(f"lock_wait_{site}_s" for site in WAIT_SITES), *(f"{site}_waits" for site in WAIT_SITES),
)


@dataclass(frozen=True)
class LockStatsSnapshot:
    """Lock contention seen by a set of connections, as plain numbers.

    ``lock_wait_total_s`` is the time spent waiting for SQLite locks anywhere;
    ``lock_wait_begin_s``, ``lock_wait_commit_s`` and ``lock_wait_read_s`` split it by
    where it happened, and ``begin_waits``/``commit_waits``/``read_waits`` count the
    statements that waited there. A wait runs from the first attempt that found the
    database busy to the last one that still did, plus the last backoff pause (at most
    2 ms): time spent waiting for the GIL after the lock was freed is not in it.
    ``transactions`` counts write transactions; ``histogram[k]`` counts those whose
    wait (BEGIN plus COMMIT) was shorter than ``2**k`` microseconds (and at least
    ``2**(k-1)``). ``lock_wait_max_s`` is the longest wait of one transaction or read.
    ``busy_retries`` counts attempts that found the database busy and retried;
    ``busy_errors`` counts operations that gave up after the busy timeout.
    """

    transactions: int = 0
    lock_wait_total_s: float = 0.0
    lock_wait_max_s: float = 0.0
    busy_retries: int = 0
    busy_errors: int = 0
    histogram: tuple[int, ...] = field(default_factory=lambda: (0,) * _BUCKETS)
    lock_wait_begin_s: float = 0.0
    lock_wait_commit_s: float = 0.0
    lock_wait_read_s: float = 0.0
    begin_waits: int = 0
    commit_waits: int = 0
    read_waits: int = 0

    @classmethod
    def of(cls, stats: list[LockStats]) -> LockStatsSnapshot:
        """Sum the counters of several connections."""
        hist = [0] * _BUCKETS
        for s in stats:
            for i, n in enumerate(s.histogram):
                hist[i] += n
        sites: dict[str, Any] = {}
        for i, site in enumerate(WAIT_SITES):
            sites[f"lock_wait_{site}_s"] = sum(s.site_wait[i] for s in stats)
            sites[f"{site}_waits"] = sum(s.site_waits[i] for s in stats)
        return cls(
            transactions=sum(s.transactions for s in stats),
            lock_wait_total_s=sum(s.wait_total for s in stats),
            lock_wait_max_s=max((s.wait_max for s in stats), default=0.0),
            busy_retries=sum(s.busy_retries for s in stats),
            busy_errors=sum(s.busy_errors for s in stats),
            histogram=tuple(hist),
            **sites,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LockStatsSnapshot:
        """Inverse of :meth:`as_dict` (ignores derived keys; missing ones are 0)."""
        hist = tuple(data.get("histogram") or (0,) * _BUCKETS)
        names = (*_SUMMED, "lock_wait_max_s")
        return cls(**{k: data[k] for k in names if k in data}, histogram=hist)

    def _combine(self, other: LockStatsSnapshot, sign: int, wait_max: float,
                 histogram: tuple[int, ...]) -> LockStatsSnapshot:
        summed = {k: getattr(self, k) + sign * getattr(other, k) for k in _SUMMED}
        return LockStatsSnapshot(**summed, lock_wait_max_s=wait_max, histogram=histogram)

    def merge(self, other: LockStatsSnapshot) -> LockStatsSnapshot:
        """Counters of both snapshots together (e.g. of several worker processes).

        Histograms of different lengths (other GigQ versions) are added bucket by
        bucket, the shorter one counting 0 in the buckets it lacks.
        """
        hist = tuple(a + b for a, b in itertools.zip_longest(self.histogram, other.histogram,
                                                             fillvalue=0))
        return self._combine(other, 1, max(self.lock_wait_max_s, other.lock_wait_max_s), hist)

    def since(self, earlier: LockStatsSnapshot) -> LockStatsSnapshot:
        """What happened between ``earlier`` and this snapshot (the maximum is this one's)."""
        hist = tuple(a - b for a, b in zip(self.histogram, earlier.histogram, strict=True))
        return self._combine(earlier, -1, self.lock_wait_max_s, hist)

    def wait_percentile(self, q: float) -> float:
        """Upper bound (seconds) of the bucket holding the ``q``-th percentile wait
        (0-100, as :func:`gigq.percentile.percentile`): exact to a factor of 2, never
        above the longest wait seen."""
        check_percent(q)
        total = sum(self.histogram)
        if total == 0:
            return 0.0
        rank = q / 100 * total
        seen = 0
        for k, n in enumerate(self.histogram):
            seen += n
            if seen >= rank and n:
                return min((2**k) / 1e6, self.lock_wait_max_s) if k else 0.0
        return self.lock_wait_max_s

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready), with p50/p99 wait in milliseconds added."""
        data = asdict(self)
        data["histogram"] = list(self.histogram)
        data["lock_wait_p50_ms"] = self.wait_percentile(50) * 1000
        data["lock_wait_p99_ms"] = self.wait_percentile(99) * 1000
        return data


# ---------------------------------------------------------------------------
# Errors


def _message(exc: BaseException) -> str:
    return str(exc).lower()


def is_busy_error(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" / "database table is locked"."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in _message(exc)


def translate_error(exc: sqlite3.Error, where: str) -> Exception:
    """Turn an SQLite error about the file itself into a GigQ error that names it."""
    msg = _message(exc)
    if "file is not a database" in msg or "not a database" in msg:
        return DatabaseFileError(
            f"{where} is not an SQLite database (or is encrypted); point GigQ at a "
            "database file it created, or move this file out of the way"
        )
    if "malformed" in msg or "corrupt" in msg:
        return DatabaseCorruptError(
            f"{where} is damaged ({exc}); run 'gigq --db {where} check' and restore it "
            "from a backup ('gigq backup' makes safe copies)"
        )
    if "readonly" in msg or "read-only" in msg:
        return DatabaseFileError(
            f"{where} is read-only ({exc}); GigQ must write the database and its "
            "-wal/-shm files: make the file and its directory writable"
        )
    if "disk is full" in msg or "database or disk is full" in msg:
        return DiskFullError(
            f"the disk holding {where} is full; the last operation was rolled back and "
            "nothing committed before it is lost. Free space and retry"
        )
    if "unable to open" in msg or "disk i/o error" in msg:
        return DatabaseFileError(
            f"cannot open {where} ({exc}); check that the path is a writable file in a "
            "writable directory"
        )
    return exc


# ---------------------------------------------------------------------------
# Connections that wait out locks themselves

_clock = time.perf_counter
_execute = sqlite3.Connection.execute
# Backoff between attempts on a locked database: short at first (most waits are a
# commit or two long), doubling up to a small cap so that a freed lock is noticed
# within ~2 ms (SQLite's own handler sleeps up to 100 ms, overshooting the real wait).
_FIRST_PAUSE = 0.0001
_MAX_PAUSE = 0.002


def _retry_site(sql: str, in_transaction: bool) -> int | None:
    """Where a statement that found the database busy waits, or None if it cannot
    be retried (a statement inside a transaction other than its COMMIT)."""
    head = sql.lstrip()[:6].upper()
    if in_transaction:  # a COMMIT that found readers is still open and may be retried
        return COMMIT if head.startswith(("COMMIT", "END")) else None
    return BEGIN if head.startswith("BEGIN") else READ  # retried whole


class GigQConnection(sqlite3.Connection):
    """A connection whose SQLite busy handler is off (``busy_timeout`` 0): a statement
    that finds the database locked is retried here, with backoff, for up to
    ``busy_timeout`` seconds, and the wait is counted in ``lock_stats``.

    The wait runs from the first attempt that found the database busy to the last
    attempt that still did, plus the pause before the attempt that succeeded: each
    timestamp is taken just before an attempt, so time spent getting the GIL back
    after the lock was freed is not counted. Before :meth:`start_waiting` (while the
    connection is being set up) busy errors are raised unchanged.
    """

    __slots__ = ("busy_timeout", "lock_stats", "where")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock_stats: LockStats | None = None
        self.busy_timeout = 0.0
        self.where = ""

    def start_waiting(self, busy_timeout: float, where: str) -> LockStats:
        """Hand lock waits over from SQLite to this connection; returns its counters."""
        _execute(self, "PRAGMA busy_timeout = 0")
        self.busy_timeout = busy_timeout
        self.where = where
        self.lock_stats = LockStats()
        return self.lock_stats

    @contextmanager
    def sqlite_busy_handler(self) -> Iterator[None]:
        """Let SQLite's own busy handler wait (up to ``busy_timeout``) inside the block.

        For statements that report a busy database in their result instead of failing
        (a TRUNCATE checkpoint waiting for readers): they cannot be retried here. Those
        waits are not counted.
        """
        _execute(self, f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        try:
            yield
        finally:
            _execute(self, "PRAGMA busy_timeout = 0")

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        """Run one statement, waiting out a locked database where it can be retried."""
        try:
            return _execute(self, sql, parameters)
        except sqlite3.OperationalError as exc:
            # The clock is read only once a statement has found the lock taken, so the
            # statements that did not (nearly all) pay nothing for the accounting. The
            # busy answer comes at once (busy_timeout is 0), so the wait starts here.
            start = _clock()
            if self.lock_stats is None or not is_busy_error(exc):
                raise
            site = _retry_site(sql, self.in_transaction)
            if site is None:
                raise
            return self._wait_out(site, sql, parameters, start, exc)

    def _wait_out(self, site: int, sql: str, parameters: Any, start: float,
                  exc: sqlite3.OperationalError) -> sqlite3.Cursor:
        stats = self.lock_stats
        assert stats is not None
        deadline = start + self.busy_timeout
        last_busy = start
        pause = _FIRST_PAUSE
        while _clock() < deadline:
            stats.busy_retries += 1
            time.sleep(pause)
            attempt = _clock()
            try:
                cursor = _execute(self, sql, parameters)
            except sqlite3.OperationalError as again:
                if not is_busy_error(again):
                    raise
                exc, last_busy = again, attempt
                pause = min(pause * 2, _MAX_PAUSE)
                continue
            # The lock was freed after last_busy and before this attempt; count at most
            # the pause in between, not the time it took to be scheduled again.
            stats.waited(site, last_busy - start + pause)
            return cursor
        stats.waited(site, last_busy - start)
        stats.busy_errors += 1
        if site == BEGIN:
            stats.discard_transaction()
        elif site == COMMIT:
            # Giving up leaves the transaction open, holding off every reader: end it.
            _execute(self, "ROLLBACK")
        raise DatabaseBusyError(self._busy_message(site)) from exc

    def _busy_message(self, site: int) -> str:
        limit = (f"busy_timeout={self.busy_timeout}s; raise it (--busy-timeout, "
                 "GIGQ_BUSY_TIMEOUT) or stop the process holding the lock")
        if site == BEGIN:
            return (f"could not take the write lock on {self.where} within {limit}; "
                    "nothing was written")
        if site == COMMIT:
            return (f"could not commit to {self.where}: readers held it for longer than "
                    f"{limit}; the transaction was rolled back, nothing was written")
        return (f"could not read {self.where}: another connection held it locked for "
                f"longer than {limit}")


# ---------------------------------------------------------------------------
# Storage


def _registry_path(db_path: str | os.PathLike[str]) -> str:
    """The path :meth:`Storage.shared` files a database under: absolute, or MEMORY."""
    return MEMORY if str(db_path) == MEMORY else os.path.abspath(os.fspath(db_path))


class _ThreadState(threading.local):
    conn: GigQConnection | None = None


class Storage:
    """One database with one set of settings: per-thread connections and writes.

    Use :meth:`shared` to get the process-wide instance for a path and settings, so
    that every ``JobQueue`` and ``Worker`` on the same file reuses connections.
    """

    _registry: dict[tuple[str, SQLiteSettings], Storage] = {}
    _registry_lock = threading.Lock()

    def __init__(self, db_path: str | os.PathLike[str], settings: SQLiteSettings) -> None:
        self.settings = settings
        self.in_memory = str(db_path) == MEMORY
        if self.in_memory:
            self.path = MEMORY
            self._target = f"file:gigq-memory-{os.getpid()}?mode=memory&cache=shared"
        else:
            self.path = os.path.abspath(os.fspath(db_path))
            self._target = self.path
        self._local = _ThreadState()
        self._all_stats: list[LockStats] = []
        self._stats_lock = threading.Lock()
        self._commit_seq = 0
        self._waiters = 0
        self._commit_cond = threading.Condition()
        self._anchor: sqlite3.Connection | None = None
        if self.in_memory:
            # The shared in-memory database lives as long as one connection is open.
            self._anchor = self._open()

    @classmethod
    def shared(
        cls, db_path: str | os.PathLike[str], settings: SQLiteSettings | None = None
    ) -> Storage:
        """The process-wide storage for ``db_path`` with ``settings``."""
        settings = settings or SQLiteSettings()
        key = (_registry_path(db_path), settings)
        storage = cls._registry.get(key)
        if storage is None:
            with cls._registry_lock:
                storage = cls._registry.get(key)
                if storage is None:
                    storage = cls(db_path, settings)
                    cls._registry[key] = storage
        return storage

    @classmethod
    def opened(cls, db_path: str | os.PathLike[str] | None = None) -> list[Storage]:
        """The storages :meth:`shared` has made in this process: all of them, or those
        of ``db_path`` (with any settings)."""
        with cls._registry_lock:
            made = list(cls._registry.items())
        wanted = None if db_path is None else _registry_path(db_path)
        return [storage for (path, _), storage in made if wanted is None or path == wanted]

    @classmethod
    def _forget_all(cls) -> None:
        # A forked child must not use its parent's connections.
        cls._registry = {}
        cls._registry_lock = threading.Lock()

    @property
    def durability(self) -> str:
        """Durability class of this database with its settings."""
        return durability_class(self.settings, in_memory=self.in_memory)

    # -- connections ---------------------------------------------------------

    def _check_path(self) -> None:
        path = Path(self.path)
        if path.is_dir():
            raise DatabaseFileError(f"{self.path} is a directory; pass a database file path")
        parent = path.parent
        if not parent.is_dir():
            raise DatabaseFileError(
                f"cannot open database {self.path}: directory {parent} does not exist; "
                "create it first (mkdir -p) or choose another path"
            )
        if not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
            raise DatabaseFileError(
                f"cannot create database {self.path}: directory {parent} is not writable; "
                "choose a writable directory or fix its permissions"
            )

    def _open(self) -> GigQConnection:
        if not self.in_memory:
            self._check_path()
        s = self.settings
        try:
            conn = sqlite3.connect(
                self._target,
                timeout=s.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=self.in_memory,
                factory=GigQConnection,
            )
        except sqlite3.Error as exc:
            raise translate_error(exc, self.path) from exc
        conn.row_factory = sqlite3.Row
        try:
            # Set-up (once per thread) still waits in SQLite's busy handler; from
            # then on the connection waits, and counts, itself.
            self._apply_settings(conn)
            conn.start_waiting(s.busy_timeout, self.path)
        except sqlite3.Error as exc:
            conn.close()
            if is_busy_error(exc):
                raise DatabaseBusyError(
                    f"cannot open {self.path}: another connection kept it locked for longer "
                    f"than busy_timeout={s.busy_timeout}s; raise it (--busy-timeout, "
                    "GIGQ_BUSY_TIMEOUT) or stop the process holding the lock"
                ) from exc
            raise translate_error(exc, self.path) from exc
        return conn

    def _apply_settings(self, conn: sqlite3.Connection) -> None:
        s = self.settings
        if self.in_memory:
            conn.execute("PRAGMA read_uncommitted = 1")
        else:
            current = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if current != s.journal_mode:
                try:
                    mode = self._switch_journal_mode(conn)
                except sqlite3.OperationalError as exc:
                    if not is_busy_error(exc):
                        raise
                    raise DatabaseFileError(
                        f"cannot switch {self.path} from journal_mode={current} to "
                        f"{s.journal_mode} while other connections use it; stop them first, "
                        "or open it with the journal mode it already has"
                    ) from exc
                if mode != s.journal_mode:
                    raise DatabaseFileError(
                        f"{self.path}: SQLite refused journal_mode={s.journal_mode} "
                        f"(still {mode}); WAL needs a local file system with shared memory"
                    )
        conn.execute(f"PRAGMA synchronous = {s.synchronous}")
        if s.journal_mode == "wal" and not self.in_memory:
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        if s.cache_size is not None:
            conn.execute(f"PRAGMA cache_size = {int(s.cache_size)}")
        if s.mmap_size is not None:
            conn.execute(f"PRAGMA mmap_size = {int(s.mmap_size)}")

    def _switch_journal_mode(self, conn: sqlite3.Connection) -> str:
        """Set the journal mode, retrying while others briefly hold the file.

        SQLite's busy handler does not cover this switch: processes opening a new
        file at the same moment would otherwise see "database is locked".
        """
        deadline = time.monotonic() + self.settings.busy_timeout
        pause = 0.001
        while True:
            try:
                return conn.execute(
                    f"PRAGMA journal_mode = {self.settings.journal_mode}").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if not is_busy_error(exc) or time.monotonic() >= deadline:
                    raise
                current = conn.execute("PRAGMA journal_mode").fetchone()[0]
                if current == self.settings.journal_mode:  # someone else switched it
                    return current
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    def connection(self) -> GigQConnection:
        """This thread's connection, opened on first use."""
        conn = self._local.conn
        if conn is None:
            conn = self._open()
            assert conn.lock_stats is not None
            with self._stats_lock:
                self._all_stats.append(conn.lock_stats)
            self._local.conn = conn
        return conn

    def close_thread_connection(self) -> None:
        """Close this thread's connection (a later call opens a new one)."""
        conn = self._local.conn
        if conn is not None:
            self._local.conn = None
            conn.close()

    # -- transactions --------------------------------------------------------

    def write(self) -> _WriteTransaction:
        """A write transaction: ``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on error.

        Use as ``with storage.write() as conn:``. The time spent waiting for locks at
        BEGIN and at COMMIT is recorded; a lock not obtained within ``busy_timeout``
        raises :class:`DatabaseBusyError` (rolled back), a full disk
        :class:`DiskFullError`.
        """
        return _WriteTransaction(self)

    def _rollback_and_translate(self, conn: GigQConnection, exc: BaseException) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        if isinstance(exc, sqlite3.Error):
            if is_busy_error(exc):
                # A statement inside the transaction found a lock (a shared-cache table
                # lock): it cannot be retried alone, so the transaction is given up.
                if conn.lock_stats is not None:
                    conn.lock_stats.busy_errors += 1
                raise DatabaseBusyError(
                    f"{self.path} was locked by another connection in the middle of a "
                    "write transaction; it was rolled back, nothing was written"
                ) from exc
            translated = translate_error(exc, self.path)
            if translated is not exc:
                raise translated from exc

    @contextmanager
    def read(self) -> Iterator[GigQConnection]:
        """This thread's connection for reads, with file errors translated.

        A statement that finds the database locked (a writer committing in a
        rollback-journal mode) is retried for up to ``busy_timeout``, its wait counted
        at the ``read`` site; then :class:`DatabaseBusyError`.
        """
        conn = self.connection()
        try:
            yield conn
        except sqlite3.Error as exc:
            translated = translate_error(exc, self.path)
            if translated is not exc:
                raise translated from exc
            raise

    # -- change notification -------------------------------------------------

    def _notify_commit(self) -> None:
        self._commit_seq += 1
        if self._waiters:
            with self._commit_cond:
                self._commit_cond.notify_all()

    def commit_seq(self) -> int:
        """Number of write transactions committed through this object so far."""
        return self._commit_seq

    def wait_for_commit(self, seen: int, timeout: float) -> bool:
        """Wait until a commit in this process moves past ``seen``; False on timeout."""
        with self._commit_cond:
            self._waiters += 1
            try:
                return self._commit_cond.wait_for(lambda: self._commit_seq != seen, timeout)
            finally:
                self._waiters -= 1

    def data_version(self) -> int:
        """SQLite's ``data_version`` on this thread's connection: changes when another
        connection (any process) commits."""
        return self.connection().execute("PRAGMA data_version").fetchone()[0]

    # -- accounting ----------------------------------------------------------

    def lock_stats(self) -> LockStatsSnapshot:
        """Lock contention over all connections this object has opened."""
        with self._stats_lock:
            return LockStatsSnapshot.of(list(self._all_stats))


class _WriteTransaction:
    """Context manager of :meth:`Storage.write` (a class: this is the hot path)."""

    __slots__ = ("conn", "storage")

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.conn: GigQConnection | None = None

    def __enter__(self) -> sqlite3.Connection:
        storage = self.storage
        conn = storage.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise translate_error(exc, storage.path) from exc
        self.conn = conn
        return conn

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        conn = self.conn
        assert conn is not None and conn.lock_stats is not None
        try:
            if exc is None:
                try:
                    conn.execute("COMMIT")
                except BaseException as commit_error:
                    self.storage._rollback_and_translate(conn, commit_error)
                    raise
                self.storage._notify_commit()
                return
            self.storage._rollback_and_translate(conn, exc)
        finally:
            conn.lock_stats.end_transaction()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=Storage._forget_all)
