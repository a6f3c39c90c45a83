"""Console entry point of ``gigq-bench``: explains how to install the extra if missing."""

from __future__ import annotations

import sys

INSTALL_HINT = "pip install 'gigq[bench]'   (or, in a checkout: pip install -e '.[bench]')"


def main() -> int:
    """Run the gigq-bench CLI, or say which command installs what it needs."""
    missing = []
    for module in ("click", "pandas", "matplotlib", "jinja2"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        print(
            f"gigq-bench needs {', '.join(missing)}, which the 'bench' extra installs:\n"
            f"    {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2
    from .cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
