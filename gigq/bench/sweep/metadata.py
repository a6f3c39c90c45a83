"""The environment a sweep ran in: machine, software, file systems, command, times.

Recorded in results.json so numbers can be interpreted (and reproduced) later:
CPU model, cores, memory, OS, Python, SQLite and GigQ versions, the git commit
when running from a checkout, the file system of each location, the command line,
start and end times and the load average at both ends (a busy machine explains
noisy numbers).
"""

from __future__ import annotations

import os
import platform
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import gigq

from .locations import Location


def now_iso() -> str:
    """Local time, ISO 8601 with the UTC offset, to the second."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def cpu_model() -> str:
    """The CPU's marketing name, best effort."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                 capture_output=True, text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def memory_bytes() -> int | None:
    """Physical memory in bytes, if the OS says."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (None where unavailable)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def process_cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (its threads included)."""
    try:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    except (ImportError, OSError):
        return float("nan")


def git_commit(path: str | os.PathLike[str] | None = None) -> str | None:
    """The commit of the checkout GigQ runs from (``+dirty`` if modified), else None."""
    where = Path(path) if path else Path(gigq.__file__).resolve().parent.parent
    if not (where / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        commit = head.stdout.strip()
        status = subprocess.run(["git", "-C", str(where), "status", "--porcelain",
                                 "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
        if status.returncode == 0 and status.stdout.strip():
            commit += "+dirty"
        return commit
    except (OSError, subprocess.SubprocessError):
        return None


def collect(locations: Mapping[str, Location], command_line: str | None = None) -> dict[str, Any]:
    """The environment record (``finished_at`` is filled in by :func:`finish`)."""
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory_bytes": memory_bytes(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite_version": sqlite3.sqlite_version,
        "gigq_version": getattr(gigq, "__version__", "unknown"),
        "git_commit": git_commit(),
        "filesystems": {name: loc.describe() for name, loc in locations.items()},
        "command_line": command_line if command_line is not None else " ".join(sys.argv),
        "started_at": now_iso(),
        "finished_at": None,
        "load_average_start": load_average(),
        "load_average_end": None,
    }


def finish(environment: dict[str, Any]) -> dict[str, Any]:
    """Stamp the end time and load average (in place; returns it)."""
    environment["finished_at"] = now_iso()
    environment["load_average_end"] = load_average()
    return environment
