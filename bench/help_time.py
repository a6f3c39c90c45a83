"""How long ``gigq-bench --help`` takes in two source trees, measured interleaved.

    python bench/help_time.py BEFORE_TREE AFTER_TREE [--runs 15]

Each tree is a checkout (e.g. ``git worktree add /tmp/before REV``); both run with this
interpreter and its installed dependencies, the tree first on ``PYTHONPATH``. Runs
alternate in ABBA order so drift on a busy machine hits both sides alike; medians and
their ratio are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HELP = ("import sys; sys.argv = ['gigq-bench', '--help']; "
        "from gigq.bench.entry import main; main()")


def seconds(tree: str) -> float:
    """Wall time of one ``gigq-bench --help`` with ``tree`` first on the path."""
    env = dict(os.environ, PYTHONPATH=tree)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", HELP], env=env, cwd="/", check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    times: dict[str, list[float]] = {args.before: [], args.after: []}
    for i in range(args.runs):
        order = (args.before, args.after) if i % 2 == 0 else (args.after, args.before)
        for tree in order:
            times[tree].append(seconds(tree))
    before, after = (statistics.median(times[t]) for t in (args.before, args.after))
    print(f"before {before * 1000:.0f} ms, after {after * 1000:.0f} ms "
          f"(medians of {args.runs}), after/before {after / before:.2f}")


if __name__ == "__main__":
    main()
