"""Sweep space: value parsing, profiles, layering, designs, validity rules, plans."""

from __future__ import annotations

import re

import pytest

from gigq.bench.sweep import space
from gigq.bench.sweep.locations import Location, Locations
from gigq.bench.sweep.space import SpaceError, build_spec, config_id, make_plan, parse_value


def test_values_are_parsed_and_normalised():
    assert parse_value("workers", "4") == 4
    assert parse_value("journal_mode", "WAL") == "wal"
    assert parse_value("cache_size", "default") is None
    assert parse_value("cache_size", "-64000") == -64000
    assert parse_value("polling_interval", "0.1") == 0.1
    assert parse_value("jobs", "auto") == "auto"
    assert parse_value("jobs", 500) == 500
    assert parse_value("location", "hdd=/mnt/hdd") == "hdd"


@pytest.mark.parametrize("dim, value, fragment", [
    ("workers", "0", "integer >= 1"),
    ("workers", "two", "integer >= 1"),
    ("workers", True, "integer >= 1"),
    ("journal_mode", "fast", "wal, delete"),
    ("synchronous", "maybe", "off, normal, full, extra"),
    ("polling_interval", "-1", "number >= 0"),
    ("arrival_rate", "0", "number > 0"),
    ("mode", "burst", "drain, steady"),
    ("job_type", "gpu", "noop, cpu, io, mixed"),
    ("cache_size", "big", "integer"),
])
def test_bad_values_name_the_problem(dim, value, fragment):
    with pytest.raises(SpaceError) as err:
        parse_value(dim, value)
    assert dim in str(err.value) and fragment in str(err.value)


def test_unknown_dimension_lists_the_known_ones():
    with pytest.raises(SpaceError, match=r"unknown dimension 'wokers'.*workers"):
        parse_value("wokers", 1)
    with pytest.raises(SpaceError, match="unknown dimension 'wokers'"):
        build_spec(set_values=["wokers=1,2"])


def test_builtin_profiles_load_and_plan():
    for name in space.PROFILES:
        spec = space.load_profile(name)
        plan = make_plan(spec, Locations("/nonexistent/out", create=False))
        assert plan.configs, name
        ids = [config_id(c) for c in plan.configs]
        assert len(ids) == len(set(ids)), "configurations are de-duplicated"


def test_quick_profile_covers_the_required_dimensions():
    spec = space.load_profile("quick")
    plan = make_plan(spec, Locations("/nonexistent/out", create=False))
    seen = {dim: {c[dim] for c in plan.configs} for dim in space.CONFIG_ORDER}
    assert {"wal", "delete"} <= seen["journal_mode"]
    assert {"normal", "full"} <= seen["synchronous"]
    assert {1, 2, 4} <= seen["workers"]
    assert {"noop", "io"} <= seen["job_type"]
    assert {"disk", "tmpfs", "memory"} <= seen["location"] | {
        s["config"]["location"] for s in plan.skipped}
    io_threads = {c["concurrency"] for c in plan.configs if c["job_type"] == "io"}
    assert {1, 8} <= io_threads
    steady_polling = {c["polling_interval"] for c in plan.configs if c["mode"] == "steady"}
    assert len(steady_polling) >= 2


def test_set_with_several_values_varies_a_dimension():
    spec = build_spec(set_values=["workers=1,3"])
    assert spec.dimensions["workers"] == [1, 3]


def test_set_with_one_value_fixes_it_everywhere():
    spec = build_spec(set_values=["job_type=cpu"])
    plan = make_plan(spec, Locations("/nonexistent/out", create=False))
    assert {c["job_type"] for c in plan.configs} == {"cpu"}


def test_base_changes_the_center_of_oat():
    spec = build_spec(base=["workers=3"])
    assert spec.base["workers"] == 3
    plan = make_plan(spec, Locations("/nonexistent/out", create=False))
    assert plan.configs[0]["workers"] == 3


def test_config_file_layers_over_profile(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('repeat = 2\n[base]\nworkers = 1\n[dimensions]\nworkers = [1, 2]\n')
    spec = build_spec(config_file=path)
    assert spec.repeat == 2 and spec.base["workers"] == 1
    assert spec.dimensions["workers"] == [1, 2]
    assert "journal_mode" in spec.dimensions  # inherited from quick
    assert spec.profile == "quick+mine"


def test_config_file_extends_none_starts_from_defaults(tmp_path):
    path = tmp_path / "alone.toml"
    path.write_text('extends = "none"\n[dimensions]\nworkers = [1, 2]\n')
    spec = build_spec(config_file=path)
    assert list(spec.dimensions) == ["workers"] and spec.groups == []
    plan = make_plan(spec, Locations("/nonexistent/out", create=False))
    assert [c["workers"] for c in plan.configs] == [2, 1]  # base first, then the others


@pytest.mark.parametrize("text, fragment", [
    ("repeat = [", "not valid TOML"),
    ("repeat = 0", "repeat must be a positive integer"),
    ("colour = 'red'", "unknown key(s) colour"),
    ("[dimensions]\nworkers = ['x']", "invalid value 'x' for workers"),
    ("[dimensions]\nthreads = [1]", "unknown dimension 'threads'"),
    ("[base]\nworkers = [1, 2]", "takes one value"),
    ("extends = 'huge'", "extends = 'huge'"),
    ("[job_sizes]\nio_seconds = 3", "unknown job size 'io_seconds'"),
])
def test_config_file_errors_say_what_is_wrong(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpaceError) as err:
        build_spec(config_file=path)
    assert fragment in str(err.value)
    assert "bad.toml" in str(err.value)


def test_missing_config_file():
    with pytest.raises(SpaceError, match="cannot read config file"):
        build_spec(config_file="/nonexistent/sweep.toml")


def test_repeat_zero_is_refused():
    with pytest.raises(SpaceError, match="--repeat 0"):
        build_spec(repeat=0)


def test_location_paths_are_checked_before_running(tmp_path):
    spec = build_spec(set_values=[f"location=disk,ghost={tmp_path / 'missing'}"])
    with pytest.raises(SpaceError, match="does not exist"):
        make_plan(spec, Locations(tmp_path / "out", create=False))
    a_file = tmp_path / "file"
    a_file.write_text("")
    spec = build_spec(locations=[f"odd={a_file}"], set_values=["location=disk,odd"])
    with pytest.raises(SpaceError, match="not a directory"):
        make_plan(spec, Locations(tmp_path / "out", create=False))


def test_unknown_location_name_is_an_error(tmp_path):
    spec = build_spec(set_values=["location=disk,nvme"])
    with pytest.raises(SpaceError, match=r"unknown location 'nvme'.*--location nvme=/path"):
        make_plan(spec, Locations(tmp_path / "out", create=False))


def test_user_location_is_usable(tmp_path):
    spec = build_spec(set_values=[f"location=disk,mine={tmp_path}"])
    plan = make_plan(spec, Locations(tmp_path / "out", create=False))
    assert "mine" in {c["location"] for c in plan.configs}


def test_oat_and_grid_designs():
    base = {"a": 1, "b": 1}
    dims = {"a": [1, 2], "b": [3]}
    assert space.oat(base, dims) == [{"a": 1, "b": 1}, {"a": 1, "b": 1}, {"a": 2, "b": 1},
                                     {"a": 1, "b": 3}]
    assert space.grid(base, dims) == [{"a": 1, "b": 3}, {"a": 2, "b": 3}]


def _plan_with(tmp_path, *sets, locations=None):
    spec = build_spec(config_file=None, set_values=sets)
    spec.groups = []
    spec.dimensions = {}
    for text in sets:
        dim, values = text.split("=", 1)
        vals = values.split(",")
        if len(vals) > 1:
            spec.dimensions[dim] = [space.parse_value(dim, v) for v in vals]
    return make_plan(spec, locations or Locations(tmp_path / "out", create=False))


def test_memory_across_processes_is_skipped(tmp_path):
    plan = _plan_with(tmp_path, "location=memory", "journal_mode=memory", "workers=1,2")
    assert [c["workers"] for c in plan.configs] == [1]
    (skip,) = plan.skipped
    assert skip["config"]["workers"] == 2
    assert "in-memory database lives inside one process" in skip["reason"]


def test_wal_on_memory_is_skipped(tmp_path):
    plan = _plan_with(tmp_path, "location=memory", "workers=1", "journal_mode=wal,memory")
    assert [c["journal_mode"] for c in plan.configs] == ["memory"]
    assert plan.skipped[0]["reason"].startswith("WAL is not available for :memory:")


def test_missing_tmpfs_is_skipped(tmp_path):
    locs = Locations(tmp_path / "out", create=False)
    locs._resolved["tmpfs"] = Location("tmpfs", None, "none", problem="no writable tmpfs found")
    plan = _plan_with(tmp_path, "location=disk,tmpfs", locations=locs)
    assert [c["location"] for c in plan.configs] == ["disk"]
    assert plan.skipped[0]["reason"] == "no writable tmpfs found"


def test_wal_on_network_file_system_is_skipped(tmp_path):
    locs = Locations(tmp_path / "out", create=False)
    locs.define("share", str(tmp_path))
    locs._resolved["share"] = Location("share", str(tmp_path), "nfs4")
    plan = _plan_with(tmp_path, "location=share", "journal_mode=wal,delete", locations=locs)
    assert [c["journal_mode"] for c in plan.configs] == ["delete"]
    assert "shared memory" in plan.skipped[0]["reason"]


def test_config_id_is_stable_and_ignores_what_the_mode_does_not_use():
    base = dict(space.DEFAULT_BASE)
    a = config_id({**base, "arrival_rate": 10})
    b = config_id({**base, "arrival_rate": 99})
    assert a == b  # drain mode has no arrival rate
    assert "cache_size=default" in a and "jobs=auto" in a
    steady = config_id({**base, "mode": "steady", "jobs": 5})
    assert "jobs=" not in steady and "arrival_rate=200" in steady
    assert config_id(base) == config_id(dict(reversed(list(base.items()))))


@pytest.mark.parametrize("dim, value, limit", [
    ("workers", 10**20, "<= 256"), ("concurrency", 5000, "<= 1024"),
    ("lease_timeout", 1e10, "<= 1e+09"), ("lease_timeout", 0.5, ">= 1"),
])
def test_values_gigq_itself_refuses_are_refused_before_any_trial(dim, value, limit):
    # The same ranges as the core's own checks, so a sweep never starts a trial that
    # can only fail (and then reads as a lost job).
    with pytest.raises(SpaceError, match=re.escape(limit)):
        parse_value(dim, value)
