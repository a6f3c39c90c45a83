"""Console entry point of ``gigq-bench``: explains how to install the extra if missing."""

from __future__ import annotations

import importlib.util
import sys

from .exit_codes import ExitCode

INSTALL_HINT = "pip install 'gigq[bench]'   (or, in a checkout: pip install -e '.[bench]')"


def main() -> int:
    """Run the gigq-bench CLI, or say which command installs what it needs."""
    # find_spec looks the packages up without importing them: importing pandas and
    # matplotlib only to see that they exist cost most of `gigq-bench --help`'s time.
    missing = [module for module in ("click", "pandas", "matplotlib", "jinja2")
               if importlib.util.find_spec(module) is None]
    if missing:
        print(
            f"gigq-bench needs {', '.join(missing)}, which the 'bench' extra installs:\n"
            f"    {INSTALL_HINT}",
            file=sys.stderr,
        )
        return ExitCode.BAD_INPUT
    from .cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
