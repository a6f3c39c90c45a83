"""What the gate compares and how strictly, when the options do not say.

Plain constants, apart from :mod:`gigq.bench.gate.compare` (numpy, pandas), so the
commands' help can show them without loading the statistics.
"""

from __future__ import annotations

from ..sweep.space import DRAIN, STEADY

DEFAULT_THRESHOLD = 0.10
DEFAULT_MIN_SAMPLES = 3
# What is compared when no --metric is given, by the configuration's mode: what that
# mode measures. A drain times throughput both ways, and its CPU per job, the figure
# other load on a shared machine disturbs least (A/A within 5% where jobs/s strayed
# 20%, docs/regressions.md); its latency is not the queue's (every job exists before
# the workers start, so it is mostly their start-up). A steady run's throughput is its
# arrival rate, so it is compared on latency. Tail latencies and lock counters are too
# noisy in short trials; ask for any metric with --metric or in the thresholds file.
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    DRAIN: ("jobs_per_sec", "submit_per_sec", "cpu_per_1k_jobs"),
    STEADY: ("end_to_end_p50_ms",),
}
