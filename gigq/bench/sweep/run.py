"""What ``gigq-bench sweep`` runs: the plan from its options, then the trials.

:func:`plan_sweep` checks everything the options say and builds the plan (all a
``--dry-run`` needs); :func:`run_sweep` runs it. The command parses, calls them and
prints. Bad input raises :class:`~gigq.bench.sweep.space.SpaceError` or
:class:`~gigq.bench.sweep.locations.LocationError` before any trial runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..outputs import default_out_dir
from .locations import Locations
from .space import Plan, SpaceError, SweepSpec, build_spec, make_plan
from .trial import DEFAULT_TIMEOUT, TrialFailure, interpreter_capabilities

if TYPE_CHECKING:
    from .plan import SweepOutcome, SweepProgress


@dataclass
class SweepSetup:
    """A checked sweep, ready to run: its plan, where it writes, which interpreter."""

    spec: SweepSpec
    plan: Plan
    out_dir: Path
    locations: Locations
    versions: dict[str, str] | None = None
    version_descriptions: dict[str, str] | None = None

    @property
    def seconds(self) -> float:
        """The estimated duration of the whole plan."""
        from .plan import estimate_plan

        return estimate_plan(self.plan)


def plan_sweep(*, profile: str = "quick", config_file: str | None = None,
               set_values: Iterable[str] = (), base: Iterable[str] = (),
               design: str | None = None, repeat: int | None = None,
               seed: int | None = None, job_sizes: Iterable[str] = (),
               locations: Iterable[str] = (), out_dir: str | Path | None = None,
               python: str | None = None, dry_run: bool = False) -> SweepSetup:
    """Build and check the plan; ``dry_run`` creates no directory.

    ``python`` is the interpreter whose GigQ the workers run (checked by starting it).
    """
    spec = build_spec(profile=profile, config_file=config_file, base=tuple(base),
                      set_values=tuple(set_values), design=design, repeat=repeat, seed=seed,
                      job_sizes=tuple(job_sizes), locations=tuple(locations))
    out = Path(out_dir) if out_dir else default_out_dir(spec.profile)
    locs = Locations(out, create=not dry_run)
    plan = make_plan(spec, locs)
    if not plan.configs:
        raise SpaceError("nothing to run: every configuration was skipped ("
                         + "; ".join(sorted({s["reason"] for s in plan.skipped})) + ")")
    setup = SweepSetup(spec, plan, out, locs)
    if python:
        try:
            caps = interpreter_capabilities(python)
        except TrialFailure as exc:
            raise SpaceError(f"--python {python}: {exc}") from None
        setup.versions = {"current": python}
        setup.version_descriptions = {
            "current": f"GigQ {caps['gigq_version']} at {caps['gigq_path']}"}
    return setup


def run_sweep(setup: SweepSetup, *, timeout: float = DEFAULT_TIMEOUT,
              progress: Callable[[SweepProgress], None] | None = None,
              command_line: str | None = None) -> SweepOutcome:
    """Run every trial of the plan; results.json/.csv are written as trials finish."""
    from .plan import run_plan

    return run_plan(setup.plan, setup.out_dir, versions=setup.versions,
                    version_descriptions=setup.version_descriptions, timeout=timeout,
                    progress=progress, command_line=command_line,
                    locations=setup.locations)


def all_valid(outcome: SweepOutcome) -> bool:
    """Whether every recorded trial passed verification (exit status 0 rather than 1)."""
    rows = outcome.results.rows
    return not len(rows) or bool(rows["valid"].astype(bool).all())
