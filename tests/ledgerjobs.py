"""Job functions that write a ledger of their effects, for the no-overlap tests.

Each attempt appends lines ``KIND KEY TOKEN PID TIME`` (KIND: S start, T tick, E end)
to one file opened with O_APPEND, one ``os.write`` per line: the file's order is the
real order of the writes, across processes. TOKEN tells attempts apart.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
import uuid
from dataclasses import dataclass, field

from gigq.leases import process_alive


def _line(ledger: str, kind: str, key: str, token: str) -> None:
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{kind} {key} {token} {os.getpid()} {time.time():.6f}\n".encode())
    finally:
        os.close(fd)


def ledger_job(ledger: str, key: str, hold: float = 0.1, step: float = 0.02) -> str:
    """Start, tick every ``step`` seconds for ``hold`` seconds, end."""
    token = uuid.uuid4().hex[:12]
    _line(ledger, "S", key, token)
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        time.sleep(step)
        _line(ledger, "T", key, token)
    _line(ledger, "E", key, token)
    return token


def stubborn_first_attempt(ledger: str, key: str, marker: str) -> str:
    """First attempt: escape the parent-death signal and hold the GIL in one long C
    call, so that neither the kernel nor the pipe watch can stop this process (as a job
    stuck in an extension might). Later attempts record whether it is still alive."""
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG, none
        _line(ledger, "S", key, "first")
        sum(range(10**11))  # holds the GIL for minutes: no other thread of ours runs
        _line(ledger, "E", key, "first")
        return "first"
    with open(marker) as f:
        first_pid = int(f.read())
    _line(ledger, "S", key, "later")
    alive = "first-alive" if process_alive(first_pid) else "first-gone"
    _line(ledger, "E", key, "later")
    return alive


@dataclass
class Attempt:
    """One attempt of one job as the ledger saw it."""

    key: str
    token: str
    pid: int
    first: int  # line number of its start
    last: int = 0  # line number of its last line
    start_time: float = 0.0
    last_time: float = 0.0
    ended: bool = False
    lines: list[int] = field(default_factory=list)


def read_ledger(ledger: str) -> dict[str, list[Attempt]]:
    """The attempts of each job key, in the order they started."""
    attempts: dict[str, list[Attempt]] = {}
    by_token: dict[tuple[str, str], Attempt] = {}
    if not os.path.exists(ledger):
        return attempts
    with open(ledger) as f:
        for n, raw in enumerate(f):
            kind, key, token, pid, when = raw.split()
            if kind == "S":
                a = Attempt(key, token, int(pid), n, n, float(when), float(when))
                by_token[(key, token)] = a
                attempts.setdefault(key, []).append(a)
            else:
                a = by_token[(key, token)]
                a.last, a.last_time = n, float(when)
                a.ended = a.ended or kind == "E"
    return attempts


def overlaps(attempts: dict[str, list[Attempt]]) -> list[tuple[Attempt, Attempt]]:
    """Pairs of attempts of one job where the earlier wrote after the later started."""
    found = []
    for runs in attempts.values():
        for i, earlier in enumerate(runs):
            for later in runs[i + 1:]:
                if earlier.last > later.first:
                    found.append((earlier, later))
    return found


def without_parent_death_signal(ledger: str, key: str, hold: float) -> str:
    """A ledger job that first disarms its process's parent-death signal: only the
    watch on the pipe from its worker can then stop it when the worker dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG, none
    return ledger_job(ledger, key, hold, step=0.2)


def pid() -> int:
    """The pid of the process running the job."""
    return os.getpid()
