"""A/B order: counterbalanced per configuration, both versions warmed up, the seed
random unless given, and a profile's seed not overridden by a default."""

from __future__ import annotations

from collections import Counter

import pytest

from gigq.bench.gate.ab import declared_seed
from gigq.bench.sweep.plan import Runner, schedule
from gigq.bench.sweep.space import DEFAULT_BASE, SweepSpec, canonical_config, config_id
from gigq.bench.sweep.trial import TrialOutcome


def _configs(n: int) -> list[dict]:
    return [canonical_config({**DEFAULT_BASE, "workers": i + 1}) for i in range(n)]


def _firsts(tasks) -> Counter:
    """(config_id, version that ran first) counted over repetitions."""
    out: Counter = Counter()
    for first, second in zip(tasks[::2], tasks[1::2], strict=True):
        assert first.config_id == second.config_id
        assert first.repetition == second.repetition
        out[(first.config_id, first.version)] += 1
    return out


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("repeat", [2, 6, 8])
def test_each_version_runs_first_equally_often_per_configuration(seed: int,
                                                                 repeat: int) -> None:
    configs = _configs(3)
    firsts = _firsts(schedule(configs, repeat, seed, versions=["baseline", "current"]))
    for config in configs:
        cid = config_id(config)
        assert firsts[(cid, "baseline")] == firsts[(cid, "current")] == repeat // 2


def test_an_odd_repetition_count_is_as_balanced_as_it_can_be() -> None:
    firsts = _firsts(schedule(_configs(2), 7, 4, versions=["baseline", "current"]))
    for cid in {c for c, _ in firsts}:
        assert abs(firsts[(cid, "baseline")] - firsts[(cid, "current")]) == 1


def test_which_version_leads_still_depends_on_the_seed() -> None:
    leads = {tuple(t.version for t in schedule(_configs(2), 8, seed, ["a", "b"]))
             for seed in range(10)}
    assert len(leads) > 1


class _Recorder:
    """Stands in for the trial harness: records which interpreter each run used."""

    def __init__(self) -> None:
        self.interpreters: list[str | None] = []

    def run(self, config, jobs=None, ceiling_rate=None, interpreter=None) -> TrialOutcome:
        self.interpreters.append(interpreter)
        return TrialOutcome(values={}, notes=[])


def test_warm_up_runs_every_version() -> None:
    harness = _Recorder()
    runner = Runner(harness, SweepSpec(), {"baseline": "/venv-a/python", "current": None})
    runner.warm_up(_configs(1)[0])
    assert harness.interpreters == ["/venv-a/python", None]


def test_profile_seed_is_found_and_a_config_file_overrides_it(tmp_path) -> None:
    assert declared_seed("quick", None) == 1
    assert declared_seed("ci", None) is None  # the gate's order is fresh every run
    own = tmp_path / "own.toml"
    own.write_text('extends = "quick"\nseed = 7\n')
    assert declared_seed("ci", own) == 7
    inherit = tmp_path / "inherit.toml"
    inherit.write_text('extends = "quick"\n')
    assert declared_seed("ci", inherit) == 1
