"""Where trial databases live: ``disk``, ``tmpfs``, ``memory`` and user paths.

* ``disk`` — a scratch directory on the file system of the output directory (where
  a user's project, and so their queue file, usually lives); never a RAM file
  system: if the output directory is on tmpfs, the first disk-backed directory
  among the current directory, the home directory and ``/var/tmp`` is used.
* ``tmpfs`` — a RAM file system (``/dev/shm``, ``/run/user/<uid>`` or ``/tmp`` when
  it is one). Missing on some machines: its trials are then skipped, with why.
* ``memory`` — GigQ's ``":memory:"`` database (one process, worker threads only).
* ``name=/path`` — any directory the user names, e.g. ``hdd=/mnt/hdd`` or an NFS
  mount; it must exist and be writable.

Every trial gets a fresh directory inside a per-run scratch directory of its
location, removed when the trial ends; nothing is left outside them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# The built-in locations: a directory on disk, a RAM file system, SQLite's :memory:.
DISK, TMPFS, MEMORY = "disk", "tmpfs", "memory"
BUILTIN = (DISK, TMPFS, MEMORY)
RAM_FILE_SYSTEMS = ("tmpfs", "ramfs")
# File systems where SQLite's WAL (which needs shared memory between processes)
# is known not to work.
NETWORK_FILE_SYSTEMS = ("nfs", "nfs4", "cifs", "smbfs", "smb3", "fuse.sshfs", "9p", "afs")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


class LocationError(ValueError):
    """A location that cannot be used; the message names it and says what to do."""


@dataclass(frozen=True)
class Location:
    """A resolved storage location.

    ``path`` is the directory holding trial databases (None for ``memory``);
    ``problem`` says why the location cannot be used on this machine (its trials
    are then skipped with that reason).
    """

    name: str
    path: str | None
    fs_type: str
    problem: str | None = None

    @property
    def in_memory(self) -> bool:
        """True for GigQ's in-memory database."""
        return self.name == MEMORY

    @property
    def in_ram(self) -> bool:
        """True when a reboot or power cut loses everything here (memory, tmpfs, ramfs)."""
        return self.in_memory or self.fs_type in RAM_FILE_SYSTEMS

    def describe(self) -> dict[str, str | None]:
        """``{"path", "fs_type"}`` for the environment record."""
        info: dict[str, str | None] = {"path": self.path, "fs_type": self.fs_type}
        if self.problem:
            info["problem"] = self.problem
        return info


def _unescape(field: str) -> str:
    # /proc/mounts writes spaces, tabs and backslashes in paths as octal escapes.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts() -> list[tuple[str, str]]:
    try:
        text = Path("/proc/mounts").read_text()
    except OSError:
        return []
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            mounts.append((_unescape(parts[1]), parts[2]))
    return mounts


def fs_type(path: str | os.PathLike[str]) -> str:
    """The file-system type holding ``path`` (``ext4``, ``tmpfs``, ``nfs4`` …).

    Linux: the longest matching mount point in /proc/mounts. Elsewhere: ``stat -f``.
    ``unknown`` when neither works.
    """
    real = os.path.realpath(os.fspath(path))
    best, best_type = "", None
    for mount_point, kind in _mounts():
        prefix = mount_point.rstrip("/") + "/"
        if (real == mount_point or real.startswith(prefix) or mount_point == "/") and len(
            mount_point
        ) >= len(best):
            best, best_type = mount_point, kind
    if best_type:
        return best_type
    for args in (["stat", "-f", "-c", "%T", real], ["stat", "-f", "%T", real]):
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    return "unknown"


def _writable_dir(path: str) -> str | None:
    """None if ``path`` is a directory we can create files in, else the reason."""
    p = Path(path)
    if not p.exists():
        return f"{path} does not exist"
    if not p.is_dir():
        return f"{path} is not a directory"
    try:
        fd, probe = tempfile.mkstemp(prefix=".gigq-bench-probe-", dir=path)
    except OSError as exc:
        return f"{path} is not writable ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(probe)
    return None


def find_tmpfs() -> str | None:
    """A writable RAM file system directory, or None if the machine has none."""
    candidates = ["/dev/shm", f"/run/user/{os.getuid()}" if hasattr(os, "getuid") else "",
                  "/tmp"]
    for candidate in candidates:
        if candidate and os.path.isdir(candidate) and fs_type(candidate) in RAM_FILE_SYSTEMS \
                and _writable_dir(candidate) is None:
            return candidate
    return None


def _existing_ancestor(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def default_disk_dir(out_dir: str | os.PathLike[str], create: bool = True) -> str:
    """Directory for ``disk`` trials: the output directory's file system, unless it is RAM.

    The output directory is created if needed (``create=False``, for dry runs,
    only looks at where it would be).
    """
    out = Path(out_dir)
    if create:
        out.mkdir(parents=True, exist_ok=True)
    if fs_type(_existing_ancestor(out)) not in RAM_FILE_SYSTEMS:
        return str(out.resolve())
    for candidate in (os.getcwd(), str(Path.home()), "/var/tmp"):
        if fs_type(candidate) not in RAM_FILE_SYSTEMS and _writable_dir(candidate) is None:
            return candidate
    raise LocationError(
        f"the output directory {out} is on a RAM file system and no disk-backed writable "
        "directory was found for 'disk' trials; pass --location disk=/path/on/a/disk"
    )


def parse_location(value: str) -> tuple[str, str | None]:
    """``"disk"`` → ``("disk", None)``; ``"hdd=/mnt/hdd"`` → ``("hdd", "/mnt/hdd")``."""
    text = str(value).strip()
    if "=" in text:
        name, path = (part.strip() for part in text.split("=", 1))
        if not _NAME.match(name):
            raise LocationError(
                f"invalid location name {name!r} in {text!r}; use letters, digits, '_', '-' "
                "or '.', starting with a letter (e.g. hdd=/mnt/hdd)"
            )
        if not path:
            raise LocationError(f"location {name!r} has no path; write {name}=/some/dir")
        if name == MEMORY:
            raise LocationError("'memory' is GigQ's in-memory database and takes no path")
        return name, os.path.abspath(os.path.expanduser(path))
    if not _NAME.match(text):
        raise LocationError(
            f"invalid location {text!r}; use disk, tmpfs, memory, a name defined with "
            "--location NAME=/path, or NAME=/path"
        )
    return text, None


def parse_defined_location(value: str) -> tuple[str, str]:
    """``"hdd=/mnt/hdd"`` → ``("hdd", "/mnt/hdd")``: a location that must name its path
    (callers put what was given before the message)."""
    name, path = parse_location(value)
    if path is None:
        raise LocationError("expected NAME=/path (e.g. hdd=/mnt/hdd)")
    return name, path


class Locations:
    """The locations of one sweep: built-ins plus user-defined ``name=/path`` ones.

    ``define`` validates a user path at once (exists, directory, writable) so bad
    input fails before any trial runs.
    """

    def __init__(self, out_dir: str | os.PathLike[str], create: bool = True) -> None:
        self.out_dir = Path(out_dir)
        self.create = create
        self._paths: dict[str, str] = {}
        self._resolved: dict[str, Location] = {}

    def define(self, name: str, path: str) -> None:
        """Register (or override, e.g. ``disk=/mnt/ssd``) a location by name."""
        problem = _writable_dir(path)
        if problem:
            raise LocationError(
                f"location {name}={path}: {problem}; create it or give a writable directory"
            )
        self._paths[name] = os.path.abspath(path)
        self._resolved.pop(name, None)

    def known(self, name: str) -> bool:
        """Whether ``name`` is a built-in or defined location."""
        return name in BUILTIN or name in self._paths

    def names(self) -> list[str]:
        """Every usable name: built-ins first, then user names."""
        return list(BUILTIN) + [n for n in self._paths if n not in BUILTIN]

    def resolve(self, name: str) -> Location:
        """The location called ``name`` (cached)."""
        if name in self._resolved:
            return self._resolved[name]
        if name in self._paths:
            path = self._paths[name]
            loc = Location(name, path, fs_type(path))
        elif name == MEMORY:
            loc = Location(MEMORY, None, MEMORY)
        elif name == DISK:
            path = default_disk_dir(self.out_dir, self.create)
            loc = Location("disk", path, fs_type(_existing_ancestor(Path(path))))
        elif name == TMPFS:
            tmpfs = find_tmpfs()
            if tmpfs is None:
                loc = Location("tmpfs", None, "none", problem=(
                    "no writable tmpfs found (looked at /dev/shm, /run/user/<uid>, /tmp); "
                    "pass --location tmpfs=/path/to/a/ram/fs"))
            else:
                loc = Location("tmpfs", tmpfs, fs_type(tmpfs))
        else:
            raise LocationError(
                f"unknown location {name!r}; use {', '.join(self.names())} or define it "
                f"with --location {name}=/path"
            )
        self._resolved[name] = loc
        return loc


class Scratch:
    """Per-run scratch directories, one per location, removed by :meth:`cleanup`.

    Named ``gigq-bench-scratch-*`` so a leftover from a killed run is recognisable.
    """

    def __init__(self) -> None:
        self._dirs: dict[str, str] = {}

    def dir_for(self, location: Location) -> str:
        """The scratch directory of ``location`` (created on first use).

        The in-memory location still needs a directory for its ledger files and
        the database copy: the system temporary directory.
        """
        key = location.name
        if key not in self._dirs:
            base = location.path if location.path else tempfile.gettempdir()
            self._dirs[key] = tempfile.mkdtemp(prefix="gigq-bench-scratch-", dir=base)
        return self._dirs[key]

    def cleanup(self) -> None:
        """Remove every scratch directory (errors ignored: best effort at exit)."""
        for path in self._dirs.values():
            shutil.rmtree(path, ignore_errors=True)
        self._dirs.clear()


def python_for(interpreter: str | None) -> str:
    """The interpreter to run worker processes with (default: this one)."""
    return interpreter or sys.executable
