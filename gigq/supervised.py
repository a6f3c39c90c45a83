"""Entry point of a worker process started by ``gigq worker --processes``.

It is ``gigq``'s command line, in a process that stops gracefully (as on SIGTERM:
running jobs finish or are handed back) when its supervisor dies, however it dies —
so no worker runs on unsupervised, restarted by nobody.
"""

from __future__ import annotations

import os
import signal
import sys

from gigq import lifeline
from gigq.cli import main
from gigq.supervisor import SUPERVISOR_FD_ENV, SUPERVISOR_PID_ENV


def follow_supervisor() -> None:
    """Arrange a SIGTERM to this process when the supervisor that started it dies."""
    # Popped, so that the worker's own job processes do not inherit them.
    pid = os.environ.pop(SUPERVISOR_PID_ENV, "")
    fd = os.environ.pop(SUPERVISOR_FD_ENV, "")
    if not pid.isdigit():
        return
    # One mechanism only: a second SIGTERM would make the worker exit at once.
    if lifeline.arm_parent_death_signal(signal.SIGTERM, int(pid)):
        return
    if fd.isdigit():
        lifeline.watch_pipe(int(fd), lambda: os.kill(os.getpid(), signal.SIGTERM),
                            name="gigq-supervisor-lifeline")


if __name__ == "__main__":
    follow_supervisor()
    sys.exit(main())
