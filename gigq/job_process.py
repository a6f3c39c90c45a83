"""Entry point of the child process that runs jobs for ``isolation="process"``.

A module of its own (not ``python -m gigq.runner``) so that the package's import of
:mod:`gigq.runner` and the child's ``__main__`` are never the same module twice.
"""

import sys

from gigq.runner import child_main

if __name__ == "__main__":
    child_main(int(sys.argv[1]), int(sys.argv[2]),
               int(sys.argv[3]) if len(sys.argv) > 3 else None)
