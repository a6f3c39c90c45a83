"""Child processes that die with their parent: a parent-death signal and a pipe watch.

A process GigQ starts (a job's child, a supervised worker) must not outlive the
process that started it: once its parent is gone nobody records its outcome, and the
job it runs is reclaimed and run again beside it. Two mechanisms, the first Linux
only, the second portable:

* ``PR_SET_PDEATHSIG``: the kernel signals the child when its parent dies. Linux
  sends it when the parent *thread* that started the child exits, so children are
  started from one long-lived thread of the parent (:func:`spawn`).
* the lifeline pipe: the parent keeps the write end of a pipe whose read end only the
  child holds; when the parent dies the kernel closes it and the child reads EOF.
"""

from __future__ import annotations

import ctypes
import os
import queue
import select
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

_PR_SET_PDEATHSIG = 1


def arm_parent_death_signal(sig: int, parent_pid: int) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux).

    Returns False where unsupported. Exits at once if the parent is already gone
    (it died before the signal was armed: our parent pid is no longer ``parent_pid``).
    """
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:
        os._exit(1)
    return armed


def watch_pipe(fd: int, on_eof: Callable[[], None], name: str = "gigq-lifeline") -> None:
    """Call ``on_eof`` (in a daemon thread) once ``fd`` reaches end of file."""

    def watch() -> None:
        while True:
            try:
                select.select([fd], [], [])
                if not os.read(fd, 4096):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        on_eof()

    threading.Thread(target=watch, name=name, daemon=True).start()


# -- starting children from one long-lived thread ------------------------------

_requests: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]]] = (
    queue.SimpleQueue()
)
_spawner: threading.Thread | None = None
_spawner_lock = threading.Lock()


def _spawner_loop() -> None:
    while True:
        start, reply = _requests.get()
        try:
            reply.put((True, start()))
        except BaseException as exc:  # handed to the caller, raised there
            reply.put((False, exc))


def spawn(argv: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **popen)``, run in this process's spawner thread.

    The spawner thread lives as long as the process, so a child's parent-death
    signal fires when the process dies, not when the thread that asked for it ends.
    """
    global _spawner
    with _spawner_lock:
        if _spawner is None or not _spawner.is_alive():
            _spawner = threading.Thread(target=_spawner_loop, name="gigq-spawner",
                                        daemon=True)
            _spawner.start()
    reply: queue.SimpleQueue[Any] = queue.SimpleQueue()
    _requests.put((lambda: subprocess.Popen(list(argv), **popen), reply))
    ok, value = reply.get()
    if not ok:
        raise value
    return value


def _reseed_after_fork() -> None:
    # A forked child has no spawner thread (only the forking thread survives a fork).
    global _spawner, _spawner_lock
    _spawner = None
    _spawner_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_after_fork)

