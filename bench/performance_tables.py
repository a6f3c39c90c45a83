"""Print the tables of docs/performance.md from the gigq-bench runs behind them.

    python bench/performance_tables.py standard reports/standard-1
    python bench/performance_tables.py workers reports/workers-per-job-type-1
    python bench/performance_tables.py backlog reports/backlog-1
    python bench/performance_tables.py queues reports/queues-1
    python bench/performance_tables.py isolation reports/isolation-1
    python bench/performance_tables.py leases reports/leases-1

Each table row is one configuration of the run: the median over its valid
repetitions with a bootstrap 95% confidence interval (gigq.bench.stats, as in the
sweep's report), and, where a row names a reference, the ratio of medians with its
interval. Nothing here measures anything; it only reads results.json.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gigq.bench.results import load_results
from gigq.bench.stats import bootstrap_median, ratio_of_medians
from gigq.bench.sweep.space import canonical_config


def _num(value: float) -> str:
    if value != value:  # NaN
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


class Run:
    """The valid rows of one run, grouped by configuration."""

    def __init__(self, path: str) -> None:
        self.results = load_results(path)
        rows = self.results.valid_rows
        self.groups: list[tuple[dict[str, Any], Any]] = []
        for _, part in rows.groupby("config_id", sort=False):
            self.groups.append((canonical_config(part.iloc[0].to_dict()), part))
        self.base = dict(self.results.spec.get("base") or {})

    def rows(self, **where: Any) -> Any:
        """The trials of the one configuration that differs from the base only in
        ``where`` (after the dimensions the mode does not use are blanked)."""
        wanted = canonical_config({**self.base, **where})
        keys = [k for k in wanted if k not in ("jobs",)] if wanted["jobs"] == "auto" \
            else list(wanted)
        for config, part in self.groups:
            if all(config.get(k) == wanted.get(k) for k in keys):
                return part
        raise KeyError(f"no configuration with {where} in {self.results.path}")

    def load(self) -> str:
        """The 1-minute load average over the run's trials."""
        load = self.results.rows["load_1m"]
        return f"{load.min():.2f}-{load.max():.2f} (median {load.median():.2f})"


def table(run: Run, metric: str, rows: Sequence[tuple[str, Mapping[str, Any]]],
          reference: Mapping[str, Any] | None = None,
          extra: Sequence[tuple[str, str, Callable[[float], str]]] = ()) -> str:
    """A markdown table: label, median [CI] of ``metric``, ratio to ``reference``."""
    head = ["setting", f"{metric} (median [95% CI])"]
    head += [name for name, _, _ in extra]
    if reference is not None:
        head.append("ratio to the first row [95% CI]")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ref = run.rows(**reference)[metric].tolist() if reference is not None else None
    for label, where in rows:
        part = run.rows(**where)
        ci = bootstrap_median(part[metric].tolist())
        cells = [label, f"{_num(ci.estimate)} [{_num(ci.low)}-{_num(ci.high)}]"]
        for _, column, show in extra:
            cells.append(show(bootstrap_median(part[column].tolist()).estimate))
        if ref is not None:
            r = ratio_of_medians(ref, part[metric].tolist())
            cells.append(f"{r.estimate:.2f} [{r.low:.2f}-{r.high:.2f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def standard(run: Run) -> None:
    print(f"load during the run: {run.load()}\n")
    jps = "jobs_per_sec"
    print("## journal mode (noop, 2 workers, synchronous=normal)\n")
    print(table(run, jps, [(m, {"journal_mode": m}) for m in
                           ("wal", "delete", "truncate", "persist")], {"journal_mode": "wal"},
                [("ceiling ratio", "ceiling_ratio", _num)]))
    print("\n## synchronous (noop, 2 workers, WAL)\n")
    print(table(run, jps, [(s, {"synchronous": s}) for s in ("normal", "full", "extra", "off")],
                {"synchronous": "normal"}))
    print("\n## cache size (noop, 2 workers, WAL)\n")
    print(table(run, jps, [(str(c), {"cache_size": c}) for c in (None, -10000, -64000)],
                {"cache_size": None}))
    print("\n## location (noop)\n")
    print(table(run, jps, [
        ("disk, 2 workers", {}), ("disk, 1 worker", {"workers": 1}),
        ("tmpfs, 2 workers", {"location": "tmpfs"}),
        ("memory, 1 process x 1 thread", {"location": "memory", "workers": 1,
                                          "journal_mode": "memory"}),
        ("memory, 1 process x 8 threads", {"location": "memory", "workers": 1,
                                           "journal_mode": "memory", "concurrency": 8}),
    ], {}))
    print("\n## workers, noop\n")
    print(table(run, jps, [(f"{w} workers", {"workers": w}) for w in (1, 2, 4, 8)],
                {"workers": 1}, [("lock-wait share", "lock_wait_share",
                                  lambda v: f"{v * 100:.0f}%")]))
    print("\n## cpu jobs, workers (1 thread each)\n")
    print(table(run, jps, [(f"{w} workers", {"job_type": "cpu", "workers": w})
                           for w in (1, 2, 4)], {"job_type": "cpu", "workers": 1}))
    print("\n## io jobs: threads (2 workers) and workers (1 thread)\n")
    print(table(run, jps,
                [(f"{w} workers x 1 thread", {"job_type": "io", "workers": w})
                 for w in (1, 2, 4)]
                + [(f"2 workers x {c} threads", {"job_type": "io", "concurrency": c})
                   for c in (2, 4, 8, 16)],
                {"job_type": "io", "workers": 1}))
    print("\n## mixed jobs\n")
    print(table(run, jps,
                [(f"{w} workers x 1 thread", {"job_type": "mixed", "workers": w})
                 for w in (1, 2, 4)]
                + [("2 workers x 4 threads", {"job_type": "mixed", "concurrency": 4})],
                {"job_type": "mixed", "workers": 1}))
    print("\n## submit: batch vs single (noop)\n")
    print(table(run, "submit_per_sec", [("submit_many (batches of 500)", {}),
                                        ("one submit per job", {"submit": "single"})], {}))
    print("\n## connections (one submit per job)\n")
    for metric in ("submit_per_sec", jps, "cpu_per_1k_jobs"):
        print(table(run, metric, [("reused (GigQ)", {"submit": "single"}),
                                  ("per_call", {"submit": "single",
                                                "connections": "per_call"})],
                    {"submit": "single"}))
        print()
    print("## payload size (noop, 2 workers)\n")
    print(table(run, jps, [(f"{p:,} bytes", {"payload_bytes": p})
                           for p in (0, 1000, 10000, 100000)], {"payload_bytes": 0},
                [("database bytes per job", "db_bytes_per_job", lambda v: f"{v:,.0f}"),
                 ("submit/s", "submit_per_sec", lambda v: f"{v:,.0f}")]))
    print("\n## polling interval, steady mode (noop, 2 workers)\n")
    rows = [(f"{p:g} s at 200 jobs/s", {"mode": "steady", "polling_interval": p})
            for p in (0.01, 0.1, 1.0, 5.0)]
    rows += [(f"5 s at {a} jobs/s", {"mode": "steady", "polling_interval": 5.0,
                                     "arrival_rate": a}) for a in (50, 800)]
    print(table(run, "end_to_end_p95_ms", rows, None,
                [("p50 ms", "end_to_end_p50_ms", _num),
                 ("CPU s per 1k jobs", "cpu_per_1k_jobs", _num)]))


def workers(run: Run) -> None:
    print(f"load during the run: {run.load()}\n")
    for job_type in ("cpu", "io", "mixed"):
        print(f"## {job_type} jobs: worker processes x threads per process\n")
        rows = [(f"{w} x {c}", {"job_type": job_type, "workers": w, "concurrency": c})
                for w in (1, 2, 4, 8) for c in (1, 4, 16)]
        print(table(run, "jobs_per_sec", rows, {"job_type": job_type},
                    [("CPU s per 1k jobs", "cpu_per_1k_jobs", _num),
                     ("lock-wait share", "lock_wait_share", lambda v: f"{v * 100:.0f}%")]))
        print()


def backlog(run: Run) -> None:
    print(f"load during the run: {run.load()}\n")
    print(table(run, "jobs_per_sec", [(f"{n:,} jobs", {"jobs": n})
                                      for n in (2000, 20000, 200000)], {"jobs": 2000},
                [("submit/s", "submit_per_sec", lambda v: f"{v:,.0f}"),
                 ("database bytes per job", "db_bytes_per_job", lambda v: f"{v:,.0f}")]))


def _by_job_type(run: Run, setup: str, rows: Callable[[str], list[tuple[str, dict]]],
                 extra: tuple[str, str, Callable[[float], str]]) -> None:
    """One jobs/s table per job type (noop, io), rows relative to the job type's base."""
    print(f"load during the run: {run.load()}\n")
    for job_type in ("noop", "io"):
        print(f"## {job_type} jobs, {setup}\n")
        print(table(run, "jobs_per_sec", rows(job_type), {"job_type": job_type}, [extra]))
        print()


def queues(run: Run) -> None:
    _by_job_type(run, "4 worker processes", lambda jt: [
        (f"{q} queue{'s' if q > 1 else ''}", {"job_type": jt, "queues": q})
        for q in (1, 2, 4)], ("lock-wait share", "lock_wait_share", lambda v: f"{v * 100:.0f}%"))


def isolation(run: Run) -> None:
    _by_job_type(run, "1 worker process", lambda jt: [
        (f"{c} thread{'s' if c > 1 else ''}, isolation={i}",
         {"job_type": jt, "concurrency": c, "isolation": i})
        for c in (1, 4) for i in ("thread", "process")],
        ("worker CPU s per 1k jobs", "cpu_per_1k_jobs", _num))


def leases(run: Run) -> None:
    _by_job_type(run, "2 worker processes", lambda jt: [
        (f"lease {t:g} s (heartbeat every {t / 3:.2g} s)", {"job_type": jt, "lease_timeout": t})
        for t in (30.0, 3.0, 1.0)], ("CPU s per 1k jobs", "cpu_per_1k_jobs", _num))


if __name__ == "__main__":
    which, path = sys.argv[1], sys.argv[2]
    {"standard": standard, "workers": workers, "backlog": backlog,
     "queues": queues, "isolation": isolation, "leases": leases}[which](Run(path))
