"""What ``gigq-bench compare`` runs: the gate's settings from its options, then the
comparison of two saved runs (or of the two versions of one A/B run).

The click commands in :mod:`gigq.bench.gate.cli` only parse, call these (or
:func:`gigq.bench.gate.ab.run_ab`) and print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..results import load_results
from . import compare as cmp

PAIRING = {"auto": None, "paired": True, "unpaired": False}


def resolve_gate(threshold: float | None, thresholds_file: str | None,
                 metrics: tuple[str, ...]) -> tuple[cmp.Thresholds, list[str] | None]:
    """Thresholds and the metric list from the command-line options (CompareError if bad)."""
    file_metrics: list[str] = []
    if thresholds_file:
        thresholds, file_metrics = cmp.Thresholds.from_toml(thresholds_file, threshold)
    else:
        thresholds = cmp.Thresholds(threshold if threshold is not None else
                                    cmp.DEFAULT_THRESHOLD)
    from ..metrics import METRICS

    if metrics and any(m == "all" for m in metrics):
        chosen: list[str] | None = list(METRICS)
    else:
        chosen = [m for name in metrics for m in name.split(",") if m] or file_metrics or None
    for name in chosen or []:
        if name not in METRICS:
            raise cmp.CompareError(
                f"unknown metric {name!r}; known: {', '.join(METRICS)} (or 'all')")
    return thresholds, chosen


def run_compare(base: str | Path, current: str | Path | None = None, *,
                base_version: str | None = None, current_version: str | None = None,
                pairing: str = "auto", threshold: float | None = None,
                thresholds_file: str | None = None, metrics: tuple[str, ...] = (),
                level: float = 0.95, min_samples: int = cmp.DEFAULT_MIN_SAMPLES,
                strict: bool = False, seed: int | None = None) -> cmp.Comparison:
    """Compare run ``base`` with run ``current``; without ``current``, the two versions
    of the A/B run ``base``. Raises ResultsError (CompareError) for unusable input."""
    thresholds, chosen = resolve_gate(threshold, thresholds_file, metrics)
    base_results = load_results(base)
    options: dict[str, Any]  # values of mixed types, given to compare() as keywords
    options = dict(base_version=base_version, current_version=current_version,
                   metrics=chosen, thresholds=thresholds, level=level,
                   paired=PAIRING[pairing], min_samples=min_samples, strict=strict,
                   seed=seed if seed is not None else 0)
    if current is None:
        return cmp.compare_run(base_results, **options)
    return cmp.compare(base_results, load_results(current), **options)
