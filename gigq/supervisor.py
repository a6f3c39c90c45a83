"""Running N worker processes: restart the ones that die, stop them all cleanly.

``gigq worker --processes N`` runs this. Each child is an ordinary ``gigq worker``
in its own process group, so a Ctrl-C in the terminal reaches the supervisor only,
which forwards exactly one SIGTERM to every child (a graceful stop). A child that
dies is restarted with a growing pause; a child that keeps dying makes the
supervisor give up loudly, stop the others and exit non-zero. A child never runs
unsupervised: when the supervisor dies (even by SIGKILL) each child gets a SIGTERM
and stops gracefully (see :mod:`gigq.supervised`).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger("gigq.supervisor")

# How a supervised child finds its supervisor (read by gigq.supervised).
SUPERVISOR_PID_ENV = "GIGQ_SUPERVISOR_PID"
SUPERVISOR_FD_ENV = "GIGQ_SUPERVISOR_FD"
# A child that lived this long was healthy: its next crash starts the backoff over.
HEALTHY_AFTER = 60.0
MAX_BACKOFF = 30.0


@dataclass
class _Slot:
    index: int
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 0.5
    restart_at: float | None = None
    crashes: deque[float] = field(default_factory=deque)
    lifeline: int = -1


class Supervisor:
    """Keeps ``processes`` children running the command ``child_argv(i)``.

    ``crash_limit`` crashes of one child within ``crash_window`` seconds count as a
    crash loop: the supervisor gives up. With ``burst`` a child that exits 0 has
    finished its work and is not restarted; the supervisor ends when all have.
    """

    def __init__(
        self,
        child_argv: Callable[[int], Sequence[str]],
        processes: int,
        burst: bool = False,
        crash_limit: int = 5,
        crash_window: float = 60.0,
        shutdown_timeout: float | None = 30.0,
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be >= 1, got {processes}")
        self.slots = [_Slot(i, list(child_argv(i))) for i in range(processes)]
        self.burst = burst
        self.crash_limit = crash_limit
        self.crash_window = crash_window
        self.shutdown_timeout = shutdown_timeout
        self._stopping = False
        self._signals = 0
        self.gave_up = False

    def _start(self, slot: _Slot) -> None:
        # The lifeline: the child holds the read end; it reads EOF when we die.
        read_fd, write_fd = os.pipe()
        env = {**os.environ, SUPERVISOR_PID_ENV: str(os.getpid()),
               SUPERVISOR_FD_ENV: str(read_fd)}
        try:
            slot.proc = subprocess.Popen(slot.argv, start_new_session=True, env=env,
                                         pass_fds=(read_fd,))
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        if slot.lifeline >= 0:
            os.close(slot.lifeline)
        slot.lifeline = write_fd
        slot.started = time.monotonic()
        slot.restart_at = None
        logger.info("Started worker process %d (pid %d)", slot.index, slot.proc.pid)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals += 1
        self._stopping = True
        # First signal: one SIGTERM per child (graceful). Second: children exit now.
        for slot in self.slots:
            if slot.proc is not None and slot.proc.poll() is None:
                try:
                    slot.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if self._signals == 1:
            logger.info("Received signal %d: stopping %d worker process(es)", signum,
                        len(self.slots))

    def run(self) -> int:
        """Supervise until stopped (0), all burst children finished (0) or a crash loop (1)."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for slot in self.slots:
                if self._stopping:  # a signal during start-up: start no more
                    break
                self._start(slot)
            while not self._stopping:
                if self._tick():
                    break
                time.sleep(0.2)
            self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for slot in self.slots:
                if slot.lifeline >= 0:
                    os.close(slot.lifeline)
                    slot.lifeline = -1
        return 1 if self.gave_up else 0

    def _tick(self) -> bool:
        """One round of checks; True when supervision is over."""
        now = time.monotonic()
        finished = 0
        for slot in self.slots:
            proc = slot.proc
            if proc is None:
                if slot.restart_at is not None and now >= slot.restart_at:
                    self._start(slot)
                elif slot.restart_at is None:
                    finished += 1
                continue
            code = proc.poll()
            if code is None:
                continue
            slot.proc = None
            if code == 0 and self.burst:
                logger.info("Worker process %d finished its work", slot.index)
                finished += 1
                continue
            lived = now - slot.started
            if lived >= HEALTHY_AFTER:
                slot.backoff = 0.5
            slot.crashes.append(now)
            while slot.crashes and now - slot.crashes[0] > self.crash_window:
                slot.crashes.popleft()
            if len(slot.crashes) >= self.crash_limit:
                logger.error(
                    "Worker process %d died %d times within %.0fs (last exit code %s): "
                    "giving up. Fix the cause (see its log above) and start again.",
                    slot.index, len(slot.crashes), self.crash_window, code)
                self.gave_up = True
                return True
            slot.restart_at = now + slot.backoff
            logger.warning("Worker process %d exited with code %s after %.1fs; restarting "
                           "in %.1fs", slot.index, code, lived, slot.backoff)
            slot.backoff = min(slot.backoff * 2, MAX_BACKOFF)
        return finished == len(self.slots)

    def _stop_all(self) -> None:
        running = [s.proc for s in self.slots if s.proc is not None and s.proc.poll() is None]
        if not running:
            return
        if not self._signals:  # giving up, or finished: ask the rest to stop
            for proc in running:
                proc.send_signal(signal.SIGTERM)
        limit = None if self.shutdown_timeout is None else self.shutdown_timeout + 10
        deadline = None if limit is None else time.monotonic() + limit
        for proc in running:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.1)
            try:
                proc.wait(remaining)
            except subprocess.TimeoutExpired:
                logger.error("Worker process %d did not stop; killing it", proc.pid)
                proc.kill()
                proc.wait()


def child_command(global_args: Sequence[str], worker_args: Sequence[str]) -> list[str]:
    """The command line of one child: ``python -m gigq.supervised GLOBAL worker ARGS``
    (``gigq``'s command line, in a process that stops when its supervisor dies)."""
    return [sys.executable, "-m", "gigq.supervised", *global_args, "worker", *worker_args]


def strip_option(argv: Sequence[str], *names: str) -> list[str]:
    """``argv`` without ``--name VALUE`` / ``--name=VALUE`` for each of ``names``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in names:
            skip = True
            continue
        if any(arg.startswith(n + "=") for n in names):
            continue
        out.append(arg)
    return out

