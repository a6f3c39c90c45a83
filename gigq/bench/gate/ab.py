"""Same-run A/B: one trial plan against two code versions, interleaved, then compared.

Noise on a shared machine is mostly *between* runs, so the gate never compares with
numbers recorded on another day: it builds the baseline (a git revision, a PyPI
release, a source tree — :mod:`gigq.bench.gate.versions`), warms both up, then runs every
configuration's trials for both versions back to back, each version first equally
often (ABBA blocks, :func:`~gigq.bench.sweep.plan.schedule`), and compares the two
versions of that one run, paired by repetition (:func:`~gigq.bench.gate.compare.compare_run`).

The seed of the order (and of the statistics) is ``--seed`` when given, else the
profile's or config file's ``seed``, else a fresh random one; it is printed and
stored in the results (``spec.seed``), so ``--seed N`` repeats a run's order exactly.

The worker processes drive each version through GigQ's public API only and detect
what it supports; a version that lacks a setting (GigQ 0.5.1 has no journal_mode /
synchronous options) runs with its own defaults, and the row's ``note`` says so.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import outputs
from ..results import Results, save
from ..toml_reader import tomllib
from . import compare as cmp
from .versions import GIT, SELF, CurrentVersionError, Version, VersionBuilder, VersionError

BASELINE, CURRENT = "baseline", "current"


@dataclass
class ABRun:
    """What ``ab`` measured: the two versions, the results and their comparison."""

    baseline: Version
    current: Version
    results: Results
    out_dir: Path
    comparison: cmp.Comparison
    interrupted: bool = False

    @property
    def is_aa(self) -> bool:
        """Whether both sides are the same code (a calibration run)."""
        same_commit = (self.baseline.commit is not None
                       and self.baseline.commit == self.current.commit)
        clean = "uncommitted" not in self.current.description
        return (same_commit and clean) or self.baseline.python == self.current.python

    @property
    def baseline_unmeasured(self) -> bool:
        """Whether the baseline ran but completed no valid trial while the current did.

        That says nothing about the change (e.g. a broken old commit), so the gate
        reports it as 'could not measure the baseline', never as a verdict.
        """
        return self.comparison.base.rows.empty and not self.comparison.current.rows.empty

    def notes(self) -> list[str]:
        """What a reader must know: capabilities a version lacked, A/A or not."""
        out = []
        for version in (self.baseline, self.current):
            if version.missing:
                out.append(
                    f"{version.label} ({version.description}, gigq "
                    f"{version.info.get('gigq_version', '?')}) has no "
                    f"{', '.join(version.missing)}: its trials ran with its defaults, "
                    "and metrics it cannot report are left out")
        if self.is_aa:
            out.append("A/A run: both sides are the same code, so every difference is "
                       "noise (use it to calibrate thresholds)")
        elif (self.baseline.kind == GIT and self.current.kind == SELF
              and self.baseline.commit == self.current.commit):
            out.append("the working tree has uncommitted changes on top of the baseline "
                       "commit")
        return out


def default_out_dir(profile: str) -> Path:
    """``reports/<timestamp>-ab-<profile>/``."""
    return outputs.default_out_dir(f"ab-{profile}")


def run_ab(
    baseline_ref: str,
    current_ref: str = ".",
    *,
    profile: str = "quick",
    config_file: str | None = None,
    set_values: Iterable[str] = (),
    base_values: Iterable[str] = (),
    repeat: int | None = None,
    seed: int | None = None,
    out_dir: str | Path | None = None,
    gate: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
    progress: Callable[[Any], None] | None = None,
    command_line: str | None = None,
) -> ABRun:
    """Build both versions, run the plan interleaved, compare; see the module docstring.

    ``gate`` holds :func:`~gigq.bench.gate.compare.compare` keyword arguments (metrics,
    thresholds, level, min_samples, strict, seed). Raises
    :class:`~gigq.bench.gate.versions.VersionError` when a version cannot be built
    (:class:`~gigq.bench.gate.versions.CurrentVersionError` when it is the current one) and
    :class:`~gigq.bench.sweep.space.SpaceError` for a bad profile or option; the temporary
    worktrees and virtualenvs are gone when it returns or raises.
    """
    from ..sweep.locations import Locations
    from ..sweep.plan import run_plan
    from ..sweep.space import build_spec, make_plan

    if seed is None:
        seed = declared_seed(profile, config_file)
    chosen_by = "given" if seed is not None else "random"
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    spec = build_spec(profile=profile, config_file=config_file, base=list(base_values),
                      set_values=list(set_values), repeat=repeat, seed=seed)
    # The statistics share the run's seed unless the caller fixed theirs.
    gate = dict(gate or {})
    if gate.get("seed") is None:
        gate["seed"] = seed
    out = Path(out_dir) if out_dir else default_out_dir(spec.profile)
    out.mkdir(parents=True, exist_ok=True)
    plan = make_plan(spec, Locations(out))
    if not plan.configs:
        raise cmp.CompareError("the plan has no runnable configuration: "
                               + "; ".join(s["reason"] for s in plan.skipped))
    with VersionBuilder(log=log) as builder:
        baseline = builder.build(baseline_ref, BASELINE)
        try:
            current = builder.build(current_ref, CURRENT)
        except VersionError as exc:
            raise CurrentVersionError(f"the current version ({current_ref}): {exc}") from None
        log(f"baseline: {baseline.description} -> gigq {baseline.info.get('gigq_version')}")
        log(f"current:  {current.description} -> gigq {current.info.get('gigq_version')}")
        log(f"{len(plan.configs)} configuration(s) x {spec.repeat} repetition(s) x 2 versions"
            f" = {plan.trials * 2} trials, counterbalanced, seed {spec.seed} "
            f"({chosen_by}; --seed {spec.seed} repeats this order)")
        outcome = run_plan(
            plan, out,
            versions={BASELINE: baseline.python, CURRENT: current.python},
            version_descriptions={BASELINE: baseline.description,
                                  CURRENT: current.description},
            progress=progress,
            command_line=command_line or " ".join(sys.argv),
        )
    results = outcome.results
    results.path = outcome.out_dir
    # What each side was built from, so every later page (compare, history) names it.
    for version in (baseline, current):
        results.spec["versions"].setdefault(version.label, {}).update(version.identity())
    save(results, outcome.out_dir)
    comparison = cmp.compare_run(results, **(gate or {}))
    run = ABRun(baseline, current, results, outcome.out_dir, comparison, outcome.interrupted)
    comparison.calibration = run.is_aa
    comparison.warnings[:0] = run.notes()
    if outcome.interrupted:
        comparison.warnings.insert(0, "interrupted: only the finished trials were compared")
    return run


def declared_seed(profile: str, config_file: str | Path | None) -> int | None:
    """The ``seed`` a config file sets, else the one of the profile it extends, else None."""
    from ..sweep.space import PROFILES, profile_text

    texts = []
    if config_file is not None:
        try:
            texts.append(Path(config_file).read_text())
        except OSError:
            return None  # build_spec reports the unreadable file
    for text in texts:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return None  # build_spec reports the broken file, naming it
        if "seed" in doc:
            return int(doc["seed"])
        profile = str(doc.get("extends", profile))
    if profile not in PROFILES:
        return None
    doc = tomllib.loads(profile_text(profile))
    return int(doc["seed"]) if "seed" in doc else None
