"""The benchmark job functions: ``noop``, ``cpu``, ``io``, ``mixed`` and ``custom``.

Every function takes the job's sequence number ``n`` and, when it has done its
work, appends ``n`` to a ledger file of its process. The trial reads those ledgers
to check that every job ran exactly once — a side channel that does not trust the
queue's own tables. ``custom`` wraps a user's own importable job function
(``gigq-bench tune --job module.function``): the wrapper calls it and writes the
ledger, so the user's code needs no change to be verified.

Every function also takes ``pad``, a string of ``payload_bytes`` characters carried
in the params, and returns it as its result: the ``payload_bytes`` dimension
measures what bigger params and results cost.

Standard library only, and no import of gigq: the trial's worker processes load
this file by path (as the module ``gigq_bench_workloads``) so that the same job
code runs under any GigQ version, including releases that have no ``gigq.bench``.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from typing import Any

# The trial sets this variable for the processes it starts: a directory that
# receives one ``<pid>.ledger`` file per process.
LEDGER_ENV = "GIGQ_BENCH_LEDGER"
# The module name under which the trial's processes register this file.
MODULE_NAME = "gigq_bench_workloads"

JOB_TYPES = ("noop", "cpu", "io", "mixed")
# The job type of a user's own function, wrapped by :func:`custom`.
CUSTOM = "custom"

# Default sizes: a cpu job burns ~5 ms of pure-Python CPU on a typical core, an io
# job waits 5 ms without holding the GIL (like a network call), a mixed job does
# half of each. Override with --job-size / [job_sizes].
DEFAULT_SIZES: dict[str, float] = {
    "cpu_iterations": 50_000,
    "io_ms": 5.0,
    "mixed_cpu_iterations": 25_000,
    "mixed_io_ms": 2.5,
}

_ledger_fd: int | None = None
_ledger_pid: int | None = None
_ledger_lock = threading.Lock()
# Called after every job has recorded itself (set by the trial worker, e.g. to close
# the thread's database connection for the connections=per_call dimension). Kept
# here, not in the trial worker, because the job runs in the worker's own thread.
_after_job: Any = None


def set_after_job(hook: Any) -> None:
    """Call ``hook()`` in the worker thread after every job (None: nothing)."""
    global _after_job
    _after_job = hook


def _ledger() -> int | None:
    """This process's ledger file descriptor (opened once; reopened after a fork)."""
    global _ledger_fd, _ledger_pid
    pid = os.getpid()
    if _ledger_pid == pid:
        return _ledger_fd
    with _ledger_lock:
        if _ledger_pid != pid:
            directory = os.environ.get(LEDGER_ENV)
            fd = None
            if directory:
                # O_APPEND makes each os.write one atomic append, so threads of a
                # process can share the descriptor without a lock per job.
                fd = os.open(os.path.join(directory, f"{pid}.ledger"),
                             os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            _ledger_fd, _ledger_pid = fd, pid
    return _ledger_fd


def record(n: int) -> None:
    """Append job number ``n`` to this process's ledger (no-op without a ledger),
    then run the after-job hook, if any."""
    fd = _ledger()
    if fd is not None:
        os.write(fd, f"{n}\n".encode())
    if _after_job is not None:
        _after_job()


def _spin(iterations: int) -> int:
    total = 0
    for i in range(int(iterations)):
        total += i * i % 7
    return total


def noop(n: int, pad: str | None = None) -> str | None:
    """Do nothing but record the run: measures the queue's own cost per job."""
    record(n)
    return pad


def cpu(n: int, iterations: float = DEFAULT_SIZES["cpu_iterations"],
        pad: str | None = None) -> str | None:
    """Burn CPU in pure Python (holds the GIL) for ``iterations`` loop steps."""
    _spin(int(iterations))
    record(n)
    return pad


def io(n: int, ms: float = DEFAULT_SIZES["io_ms"], pad: str | None = None) -> str | None:
    """Wait ``ms`` milliseconds without holding the GIL, like a network call."""
    time.sleep(ms / 1000.0)
    record(n)
    return pad


def mixed(
    n: int,
    iterations: float = DEFAULT_SIZES["mixed_cpu_iterations"],
    ms: float = DEFAULT_SIZES["mixed_io_ms"],
    pad: str | None = None,
) -> str | None:
    """Some CPU work, then a wait: a typical "fetch and transform" job."""
    _spin(int(iterations))
    time.sleep(ms / 1000.0)
    record(n)
    return pad


_custom_functions: dict[str, Any] = {}


def _import_target(target: str) -> Any:
    func = _custom_functions.get(target)
    if func is None:
        module_name, _, name = target.rpartition(".")
        if not module_name:
            raise ValueError(f"{target!r} is not an import path; write module.function")
        func = getattr(importlib.import_module(module_name), name)
        _custom_functions[target] = func
    return func


def custom(n: int, target: str, params: dict[str, Any] | None = None) -> Any:
    """Run the user's job ``target`` (``module.function``) with ``params``, then
    record the run. Its result is returned, so result sizes are the real ones.

    An exception propagates (the job fails and the trial is invalid), and nothing
    is recorded: a failing job never counts as done.
    """
    result = _import_target(target)(**(params or {}))
    record(n)
    return result


def job_params(job_type: str, n: int, sizes: dict[str, Any], payload_bytes: int = 0,
               custom_job: dict[str, Any] | None = None) -> dict[str, Any]:
    """The params of job number ``n`` of ``job_type`` with the given sizes.

    ``payload_bytes`` > 0 adds a ``pad`` of that many characters (returned as the
    result). ``custom_job`` (``{"function": "module.function", "params": {...}}``)
    is required for the ``custom`` type.
    """
    pad = {"pad": "x" * int(payload_bytes)} if payload_bytes else {}
    if job_type == "noop":
        return {"n": n, **pad}
    if job_type == "cpu":
        return {"n": n, "iterations": sizes.get("cpu_iterations",
                                                DEFAULT_SIZES["cpu_iterations"]), **pad}
    if job_type == "io":
        return {"n": n, "ms": sizes.get("io_ms", DEFAULT_SIZES["io_ms"]), **pad}
    if job_type == "mixed":
        return {
            "n": n,
            "iterations": sizes.get("mixed_cpu_iterations", DEFAULT_SIZES["mixed_cpu_iterations"]),
            "ms": sizes.get("mixed_io_ms", DEFAULT_SIZES["mixed_io_ms"]),
            **pad,
        }
    if job_type == CUSTOM:
        if not custom_job:
            raise ValueError("job type 'custom' needs the user's job (module.function)")
        return {"n": n, "target": custom_job["function"],
                "params": dict(custom_job.get("params") or {})}
    raise ValueError(f"unknown job type {job_type!r}; known: "
                     f"{', '.join((*JOB_TYPES, CUSTOM))}")


def read_ledgers(directory: str) -> dict[int, int]:
    """How many times each job number was recorded in the ledgers of ``directory``."""
    counts: dict[int, int] = {}
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return counts
    for name in names:
        if not name.endswith(".ledger"):
            continue
        with open(os.path.join(directory, name), "rb") as fh:
            for line in fh:
                line = line.strip()
                if line:
                    key = int(line)
                    counts[key] = counts.get(key, 0) + 1
    return counts
