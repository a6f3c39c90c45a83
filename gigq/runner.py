"""Running a claimed job's function: in the worker's thread, or in a child process.

``ThreadRunner`` calls the function in the worker thread (fast; a timeout can be
recorded but not enforced). ``ProcessRunner`` keeps one child process per worker
thread (started with ``python -m gigq.job_process``, no fork) and kills it when a job
runs past its timeout or must be abandoned. The child dies with its worker (see
:mod:`gigq.lifeline`) and stops its job itself when the job's lease lapses: the
worker forwards each lease renewal, so a child whose worker is hung, paused or gone
never runs on past the moment another worker may reclaim the job.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import queue
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from . import lifeline
from .claims import Claim, Outcome
from .job import encode_json
from .job import main_script_module as _main_script_module

_function_cache: dict[tuple[str, str], Callable[..., Any]] = {}
_accepts_cache: dict[Callable[..., Any], bool] = {}


class JobRefused(Exception):
    """The job may never run here (e.g. module not allowed); fails without retry."""


class ShutdownInterrupt(KeyboardInterrupt):
    """The worker's own signal-driven shutdown, raised into a job it runs in the main
    thread: the job is handed back. A ``KeyboardInterrupt`` or ``SystemExit`` the
    job's code raises itself is a failed attempt of that job instead."""


def check_allowed(module: str, allowed_modules: tuple[str, ...] | None) -> None:
    """Raise :class:`JobRefused` unless ``module`` is under an allowed prefix."""
    if allowed_modules is None:
        return
    for prefix in allowed_modules:
        if module == prefix or module.startswith(prefix + "."):
            return
    raise JobRefused(
        f"module {module!r} is not allowed on this worker (allowed: "
        f"{', '.join(allowed_modules) or 'none'}); start the worker with "
        f"--allow-module {module.split('.')[0]} if this job is trusted"
    )


def load_function(module: str, name: str) -> Callable[..., Any]:
    """Import ``module.name``; a job stored from the running script resolves to it."""
    key = (module, name)
    func = _function_cache.get(key)
    if func is not None:
        return func
    mod = None
    if module not in sys.modules and module == _main_script_module():
        main = sys.modules["__main__"]
        if hasattr(main, name):
            mod = main
    if mod is None:
        # import_module, not sys.modules: another thread may be importing the module
        # right now, and only the import system waits for it to finish initialising.
        mod = importlib.import_module(module)
    try:
        func = getattr(mod, name)
    except AttributeError:
        raise AttributeError(f"module {module!r} has no function {name!r}") from None
    _function_cache[key] = func
    return func


def accepts_parent_results(func: Callable[..., Any]) -> bool:
    """True if ``func`` takes a ``parent_results`` argument or ``**kwargs``."""
    cached = _accepts_cache.get(func)
    if cached is None:
        params: Iterable[inspect.Parameter]
        try:
            params = inspect.signature(func).parameters.values()
        except (TypeError, ValueError):
            params = ()
        cached = any(
            p.kind is inspect.Parameter.VAR_KEYWORD or p.name == "parent_results" for p in params
        )
        _accepts_cache[func] = cached
    return cached


def call_job(
    func: Callable[..., Any],
    params: dict[str, Any],
    parent_results: dict[str, Any] | None,
    mode: bool | None,
) -> Any:
    """Call a job function, injecting ``parent_results`` as the job asks."""
    if parent_results is not None and (
        mode is True or (mode is None and accepts_parent_results(func))
    ):
        params = {**params, "parent_results": parent_results}
    return func(**params)


def error_text(exc: BaseException) -> str:
    """The error text stored for a job's exception; never raises.

    0.5.x stored str(exc); keep it, naming the type only when the text is empty. An
    exception whose ``__str__`` itself raises must not crash the worker that records
    it (nor leave its job ``running``): it is named by type, with why its message
    could not be shown.
    """
    try:
        return str(exc) or type(exc).__name__
    except Exception as inner:
        try:
            why = f"{type(inner).__name__}: {inner}"
        except Exception:
            why = type(inner).__name__
        return f"{type(exc).__name__} (its message could not be shown: {why})"


def run_in_this_thread(
    claim: Claim,
    parent_results: dict[str, Any] | None,
    allowed_modules: tuple[str, ...] | None,
) -> Outcome:
    """Run a job here and now; only :class:`ShutdownInterrupt` propagates."""
    try:
        check_allowed(claim.module, allowed_modules)
        func = load_function(claim.module, claim.function)
        result = call_job(func, claim.params, parent_results, claim.pass_parent_results)
    except JobRefused as exc:
        return Outcome("fatal", error=str(exc))
    except ShutdownInterrupt:
        raise
    except (SystemExit, KeyboardInterrupt) as exc:
        # The job's own sys.exit() or raise: that attempt failed, the worker goes on.
        text = error_text(exc)
        detail = f" ({text})" if text != type(exc).__name__ else ""
        return Outcome("failed", error=f"the job raised {type(exc).__name__}{detail}")
    except Exception as exc:
        return Outcome("failed", error=error_text(exc))
    if result is None:
        return Outcome("completed")
    try:
        return Outcome("completed", result_json=encode_json(result, "the job's result"))
    except ValueError as exc:
        return Outcome("fatal", error=f"job returned a result that cannot be stored: {exc}")


class ThreadRunner:
    """Runs jobs in the calling worker thread."""

    isolation = "thread"
    # A thread cannot be killed: nothing is ever abandoned.
    abandoned = False

    def __init__(self, allowed_modules: tuple[str, ...] | None) -> None:
        self.allowed_modules = allowed_modules

    def run(self, claim: Claim, parent_results: dict[str, Any] | None) -> Outcome:
        """Run one job; the timeout is watched by the worker, not enforced here."""
        return run_in_this_thread(claim, parent_results, self.allowed_modules)

    def abandon(self) -> None:
        """Nothing to kill: a thread cannot be stopped from outside."""

    def renew(self, lease_until: float) -> None:
        """Nothing to tell: the lease of an in-process run is the worker's own."""

    def close(self) -> None:
        """Nothing to release."""


# -- child processes --------------------------------------------------------

_HEADER = struct.Struct("!I")


def _send(fd: int, message: Any) -> None:
    data = json.dumps(message).encode()
    payload = _HEADER.pack(len(data)) + data
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _recv_exact(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _recv(fd: int) -> Any:
    (size,) = _HEADER.unpack(_recv_exact(fd, _HEADER.size))
    return json.loads(_recv_exact(fd, size))


# Exit code of a job process that stopped its job because the lease lapsed.
LEASE_LAPSED_EXIT = 75
# Seconds before the lease's end at which a job process stops its job: it must be gone
# before another worker, comparing the same clock, may reclaim the job.
_FENCE_MARGIN_MAX = 1.0
# The longest single wait in select() (larger timeouts overflow it).
_MAX_WAIT = 3600.0


def fence_time(lease_until: float, lease_timeout: float) -> float:
    """When a job process must stop a job whose lease ends at ``lease_until``."""
    return lease_until - min(_FENCE_MARGIN_MAX, lease_timeout / 10)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


class ProcessRunner:
    """Runs jobs in a persistent child process, killed on timeout.

    The child is started with ``python -m gigq.job_process`` (a fresh interpreter, no
    fork) and gets the worker's ``sys.path``; it is restarted after it dies or is
    killed.
    """

    isolation = "process"

    def __init__(
        self,
        allowed_modules: tuple[str, ...] | None,
        lease_timeout: float,
        on_spawn: Callable[[int], None] | None = None,
    ) -> None:
        self.allowed_modules = allowed_modules
        self.lease_timeout = lease_timeout
        # Called with a new child's pid before it is given a job (the worker records it,
        # so that a reclaim on this host can make sure it is gone first).
        self.on_spawn = on_spawn
        self._busy = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._to_child = -1
        self._from_child = -1
        self._lock = threading.Lock()
        self._abandoned = False

    def _spawn(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p or os.getcwd() for p in sys.path)
        try:
            proc = lifeline.spawn(
                [sys.executable, "-m", "gigq.job_process", str(to_child_r), str(from_child_w),
                 str(os.getpid())],
                pass_fds=(to_child_r, from_child_w),
                env=env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._proc, self._to_child, self._from_child = proc, to_child_w, from_child_r
        if self.on_spawn is not None:
            self.on_spawn(proc.pid)

    def _discard(self) -> str:
        """Kill and reap the child; return how it ended."""
        proc = self._proc
        self._proc = None
        # Kill before closing the pipes: a child that saw its pipe close first would
        # exit by itself (code 0) and hide that it was killed.
        if proc is not None and proc.poll() is None:
            proc.kill()
        for fd in (self._to_child, self._from_child):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._to_child = self._from_child = -1
        if proc is None:
            return "no process"
        code = proc.wait()
        if code < 0:
            return f"killed by {_signal_name(code)}"
        if code == LEASE_LAPSED_EXIT:
            return "stopped itself: the job's lease lapsed without a renewal from the worker"
        return f"exit code {code}"

    def run(self, claim: Claim, parent_results: dict[str, Any] | None) -> Outcome:
        """Run one job in the child; kill the child if it passes the job's timeout."""
        try:
            check_allowed(claim.module, self.allowed_modules)
        except JobRefused as exc:
            return Outcome("fatal", error=str(exc))
        with self._lock:
            self._abandoned = False
            if self._proc is None or self._proc.poll() is not None:
                if self._proc is not None:
                    self._discard()
                self._spawn()
            from_child = self._from_child
            fence = fence_time(claim.started + self.lease_timeout, self.lease_timeout)
            try:
                _send(self._to_child, ["job", claim.module, claim.function, claim.params,
                                       parent_results, claim.pass_parent_results, fence])
            except OSError:
                how = self._discard()
                return Outcome("failed", error=f"job process was not running ({how})")
            self._busy = True
        try:
            return self._await(claim, from_child)
        finally:
            with self._lock:
                self._busy = False

    def _await(self, claim: Claim, from_child: int) -> Outcome:
        deadline = claim.deadline
        while True:
            wait = _MAX_WAIT if deadline is None else min(max(deadline - time.time(), 0),
                                                          _MAX_WAIT)
            try:
                ready, _, _ = select.select([from_child], [], [], wait)
            except (OSError, ValueError):
                ready = [from_child]
            if ready:
                break
            if deadline is None or time.time() < deadline:
                continue
            with self._lock:
                how = self._discard()
            return Outcome(
                "timeout",
                error=f"Job timed out after {claim.timeout} seconds (job process {how})",
            )
        try:
            kind, payload = _recv(from_child)
        except (EOFError, OSError, ValueError):
            with self._lock:
                abandoned = self._abandoned
                how = self._discard()
            if abandoned:
                return Outcome("interrupted", error="worker shut down")
            return Outcome("failed", error=f"job process died while running the job ({how})")
        if kind == "ok":
            return Outcome("completed", result_json=payload)
        # child_main sends "failed" or "fatal" (a result that cannot be stored).
        return Outcome("fatal" if kind == "fatal" else "failed", error=payload)

    def abandon(self) -> None:
        """Kill the child now: its job is handed back, or is no longer ours to run."""
        with self._lock:
            self._abandoned = True
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()

    @property
    def abandoned(self) -> bool:
        """Whether the current job's child was killed by :meth:`abandon`."""
        return self._abandoned

    def renew(self, lease_until: float) -> None:
        """Tell the child running a job that its lease now lasts until ``lease_until``."""
        with self._lock:
            if not self._busy or self._to_child < 0:
                return
            try:
                _send(self._to_child, ["lease", fence_time(lease_until, self.lease_timeout)])
            except OSError:
                pass  # the child is gone; run() finds out and reports how

    def close(self) -> None:
        """Stop the child process."""
        with self._lock:
            if self._proc is not None:
                self._discard()


class _Fence:
    """When the running job must stop (epoch seconds; None while idle)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at: float | None = None


def _child_reader(read_fd: int, inbox: queue.SimpleQueue[Any], fence: _Fence) -> None:
    """Read the worker's messages; exit the process when the worker is gone or the
    running job's lease lapses."""
    while True:
        with fence.lock:
            at = fence.at
        wait = _MAX_WAIT if at is None else min(max(at - time.time(), 0), _MAX_WAIT)
        try:
            ready, _, _ = select.select([read_fd], [], [], wait)
        except InterruptedError:
            continue
        if not ready:
            with fence.lock:
                lapsed = fence.at is not None and time.time() >= fence.at
            if lapsed:
                print("gigq job process: the job's lease lapsed without a renewal from the "
                      "worker (hung, paused or gone): stopping the job", file=sys.stderr,
                      flush=True)
                os._exit(LEASE_LAPSED_EXIT)
            continue
        try:
            message = _recv(read_fd)
        except (EOFError, OSError, ValueError):
            # The worker died or let go of us: nobody would record this job's outcome.
            os._exit(0)
        if message[0] == "lease":
            with fence.lock:
                if fence.at is not None:
                    fence.at = message[1]
            continue
        with fence.lock:
            fence.at = message[-1]
        inbox.put(message[1:-1])


def child_main(read_fd: int, write_fd: int, parent_pid: int | None = None) -> None:
    """Loop of the job process: receive a job, run it, send back the outcome.

    The process ends when its worker dies (parent-death signal, or EOF on the pipe
    from the worker) and when the running job's lease lapses.
    """
    # The worker handles SIGINT/SIGTERM; the child must not die of a Ctrl-C meant
    # for the whole process group before the worker decides what to do.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if parent_pid is not None:
        lifeline.arm_parent_death_signal(signal.SIGKILL, parent_pid)
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    fence = _Fence()
    threading.Thread(target=_child_reader, args=(read_fd, inbox, fence),
                     name="gigq-job-lifeline", daemon=True).start()
    while True:
        module, name, params, parent_results, mode = inbox.get()
        try:
            func = load_function(module, name)
            result = call_job(func, params, parent_results, mode)
        except BaseException as exc:
            traceback.print_exc()
            _finish(fence, write_fd, ["failed", error_text(exc)])
            continue
        try:
            payload = None if result is None else encode_json(result, "the job's result")
        except ValueError as exc:
            _finish(fence, write_fd,
                    ["fatal", f"job returned a result that cannot be stored: {exc}"])
            continue
        _finish(fence, write_fd, ["ok", payload])


def _finish(fence: _Fence, write_fd: int, message: list[Any]) -> None:
    with fence.lock:
        fence.at = None
    _send(write_fd, message)
