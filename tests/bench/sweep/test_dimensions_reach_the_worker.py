"""The ``connections`` and ``payload_bytes`` dimensions and job_type ``custom``."""

from __future__ import annotations

import sys
import textwrap

import pytest

from gigq import Job, JobQueue, Worker
from gigq.bench.metrics import METRICS
from gigq.bench.sweep import space, trial_worker, workloads
from gigq.bench.sweep.locations import Locations, Scratch
from gigq.bench.sweep.space import (
    SpaceError,
    build_spec,
    canonical_config,
    config_id,
    describe,
    make_plan,
    parse_custom_job,
    parse_value,
)
from gigq.bench.sweep.trial import Harness
from gigq.storage import Storage

OLD_ID = ("job_type=noop;workers=2;concurrency=1;journal_mode=wal;synchronous=normal;"
          "cache_size=default;polling_interval=1;location=disk;jobs=auto;mode=drain;"
          "submit=batch")


def test_new_dimensions_parse_and_keep_old_ids():
    assert parse_value("connections", "PER_CALL") == "per_call"
    assert parse_value("payload_bytes", "1000") == 1000
    with pytest.raises(SpaceError, match="one of reused, per_call"):
        parse_value("connections", "pooled")
    with pytest.raises(SpaceError, match="integer >= 0"):
        parse_value("payload_bytes", -1)
    base = dict(space.DEFAULT_BASE)
    # At their defaults the new dimensions leave the id of a configuration as it was
    # before they existed, so runs stay comparable (compare matches by config_id).
    assert config_id(base) == OLD_ID
    old = {k: v for k, v in base.items() if k not in ("connections", "payload_bytes")}
    assert config_id(old) == OLD_ID
    assert canonical_config(old)["connections"] == "reused"
    assert config_id({**base, "connections": "per_call"}) == OLD_ID + ";connections=per_call"
    assert config_id({**base, "payload_bytes": 10}) == OLD_ID + ";payload_bytes=10"
    assert "connections" not in describe(base)
    assert describe({**base, "payload_bytes": 10}, base) == "payload_bytes=10"


def test_standard_profile_measures_connections_payload_and_the_cache_rule_of_thumb(tmp_path):
    plan = make_plan(build_spec("standard"), Locations(tmp_path, create=False))
    per_call = [c for c in plan.configs if c["connections"] == "per_call"]
    assert len(per_call) == 1 and per_call[0]["submit"] == "single"
    assert {c["payload_bytes"] for c in plan.configs} == {0, 1000, 10000, 100000}
    assert -10000 in {c["cache_size"] for c in plan.configs}


def test_job_params_carry_the_payload_and_custom_jobs():
    params = workloads.job_params("io", 3, {}, payload_bytes=5)
    assert params == {"n": 3, "ms": 5.0, "pad": "xxxxx"}
    assert "pad" not in workloads.job_params("noop", 3, {})
    custom = workloads.job_params("custom", 4, {}, custom_job={"function": "m.f",
                                                               "params": {"a": 1}})
    assert custom == {"n": 4, "target": "m.f", "params": {"a": 1}}
    with pytest.raises(ValueError, match="needs the user's job"):
        workloads.job_params("custom", 4, {})


USER_JOBS = textwrap.dedent('''
    import os

    def resize(width, out_dir):
        with open(os.path.join(out_dir, "calls.txt"), "a") as f:
            f.write(f"{width}\\n")
        return {"width": width}

    def broken(width=1):
        raise RuntimeError("no such image")

    square = lambda x: x * x

    def factory():
        def inner():
            return 1
        return inner

    nested = factory()
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "tune_user_jobs.py").write_text(USER_JOBS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("tune_user_jobs", None)


def test_parse_custom_job_checks_what_workers_could_never_run(user_module):
    job = parse_custom_job("tune_user_jobs.resize", '{"width": 3, "out_dir": "."}')
    assert job == {"function": "tune_user_jobs.resize", "params": {"width": 3, "out_dir": "."}}
    for function, params, fragment in (
        ("resize", None, "module.function"),
        ("no_such_module_xyz.f", None, "cannot import"),
        ("tune_user_jobs.missing", None, "cannot import"),
        ("tune_user_jobs.square", None, "lambdas and nested functions"),
        ("tune_user_jobs.nested", None, "lambdas and nested functions"),
        ("tune_user_jobs.resize", "{width: 3}", "not valid JSON"),
        ("tune_user_jobs.resize", "[1, 2]", "JSON object"),
    ):
        with pytest.raises(SpaceError, match=fragment):
            parse_custom_job(function, params)


def test_custom_job_type_needs_the_job(tmp_path):
    spec = build_spec(config_file=None, set_values=["job_type=custom"])
    with pytest.raises(SpaceError, match=r"--job module\.function"):
        make_plan(spec, Locations(tmp_path, create=False))


def _harness(tmp_path, **kw):
    scratch = Scratch()
    return Harness(Locations(tmp_path / "out"), scratch, timeout=120, **kw), scratch


def _config(**changes):
    return canonical_config(
        {**space.DEFAULT_BASE, "workers": 1, "polling_interval": 0.1, **changes})


def test_a_custom_job_runs_exactly_once_through_its_wrapper(user_module):
    out_dir = user_module / "calls"
    out_dir.mkdir()
    custom = parse_custom_job("tune_user_jobs.resize",
                              {"width": 7, "out_dir": str(out_dir)})
    harness, scratch = _harness(user_module, custom_job=custom, job_path=str(user_module))
    try:
        outcome = harness.run(_config(job_type="custom", jobs=40, concurrency=2))
    finally:
        scratch.cleanup()
    assert outcome.valid, outcome.values["invalid_reason"]
    assert (out_dir / "calls.txt").read_text().split() == ["7"] * 40
    assert outcome.values["jobs_completed"] == 40


def test_a_custom_job_that_raises_makes_the_trial_invalid(user_module):
    custom = parse_custom_job("tune_user_jobs.broken", {})
    harness, scratch = _harness(user_module, custom_job=custom, job_path=str(user_module))
    try:
        outcome = harness.run(_config(job_type="custom", jobs=5))
    finally:
        scratch.cleanup()
    assert not outcome.valid
    assert "did not complete" in outcome.values["invalid_reason"]


def test_payload_bytes_grow_the_database_by_params_and_results(tmp_path):
    assert "db_bytes_per_job" in METRICS
    harness, scratch = _harness(tmp_path)
    try:
        small = harness.run(_config(jobs=60))
        big = harness.run(_config(jobs=60, payload_bytes=20000, connections="per_call",
                                  submit="single"))
    finally:
        scratch.cleanup()
    assert small.valid and big.valid, big.values["invalid_reason"]
    # The padding is stored in the params and again as the result.
    assert big.values["db_bytes_per_job"] > 2 * 20000
    assert small.values["db_bytes_per_job"] < 20000


def test_per_call_reopens_the_worker_connection_after_every_job(db_path):
    """What the trial worker does for connections=per_call, in this process: the
    after-job hook closes the thread's connection, so each job's "record the outcome
    and claim the next" transaction opens a new one (each adds its lock counters)."""
    module = trial_worker.load_workloads(workloads.__file__, workloads.MODULE_NAME)
    queue = JobQueue(db_path)

    def connections_opened(per_call: bool, jobs: int = 25) -> int:
        queue.submit_many([Job("n", module.noop, {"n": i}) for i in range(jobs)])
        if per_call:
            import gigq

            module.set_after_job(gigq.close_connections)
        storage = Storage.shared(db_path)
        before = len(storage._all_stats)
        try:
            Worker(db_path, polling_interval=0.05, burst=True).start()
        finally:
            module.set_after_job(None)
        return len(storage._all_stats) - before

    assert connections_opened(per_call=False) <= 3
    assert connections_opened(per_call=True) >= 25
    assert queue.stats()["completed"] == 50


def test_queues_dimension_parses_and_keeps_old_ids():
    assert parse_value("queues", "3") == 3
    with pytest.raises(SpaceError, match="integer >= 1"):
        parse_value("queues", 0)
    base = dict(space.DEFAULT_BASE)
    assert config_id(base) == OLD_ID
    assert config_id({**base, "queues": 2}) == OLD_ID + ";queues=2"
    assert describe({**base, "queues": 2}, base) == "queues=2"


@pytest.mark.parametrize("workers,queues", [(1, 2), (2, 2), (3, 2), (2, 3), (4, 2), (2, 5)])
def test_specialised_workers_cover_every_queue_and_none_serves_all(workers, queues):
    served = [trial_worker.served_queues({"queues": queues, "worker_index": i,
                                          "worker_count": workers})
              for i in range(workers)]
    names = {trial_worker.queue_name(j) for j in range(queues)}
    assert set().union(*served) == names
    assert all(s for s in served)
    if workers > 1:
        assert all(set(s) != names for s in served)
    # One queue: every worker serves all (no filter at all).
    assert trial_worker.served_queues({"queues": 1, "worker_index": 0,
                                       "worker_count": workers}) is None


def test_jobs_are_routed_round_robin_and_workers_filter_by_queue(tmp_path):
    spec = {"job_type": "noop", "workloads_path": workloads.__file__,
            "workloads_module": workloads.MODULE_NAME, "queues": 3,
            "polling_interval": 0.1, "concurrency": 1, "db": str(tmp_path / "q.db"),
            "worker_index": 1, "worker_count": 3}
    jobs = trial_worker.build_jobs(spec, 0, 7)
    assert [j.queue for j in jobs] == ["q0", "q1", "q2", "q0", "q1", "q2", "q0"]
    caps = trial_worker.capabilities()
    assert caps["queues"]
    worker = trial_worker.make_worker(spec, caps, None, burst=True)
    assert list(worker.queues) == ["q1"]
    JobQueue(spec["db"]).submit_many(jobs)
    worker.start()
    counts = JobQueue(spec["db"]).stats(by_queue=True)
    # Only its own queue's jobs ran; the others are still waiting for their workers.
    assert counts["q1"]["completed"] == 2
    assert counts["q0"]["pending"] == 3
    assert counts["q2"]["pending"] == 2


def test_a_version_without_named_queues_refuses_queues_above_one():
    caps = {"queues": False, "gigq_version": "0.5.1"}
    trial_worker.check_queues({"queues": 1}, caps)
    with pytest.raises(RuntimeError, match="no named queues"):
        trial_worker.check_queues({"queues": 2}, caps)


def test_standard_profile_measures_specialised_workers(tmp_path):
    plan = make_plan(build_spec("standard"), Locations(tmp_path, create=False))
    assert {c["queues"] for c in plan.configs if c["workers"] == 4} >= {1, 2, 4}


def test_isolation_dimension_parses_keeps_old_ids_and_refuses_per_call(tmp_path):
    assert parse_value("isolation", "Process") == "process"
    with pytest.raises(SpaceError, match="one of thread, process"):
        parse_value("isolation", "fork")
    base = dict(space.DEFAULT_BASE)
    assert config_id({**base, "isolation": "thread"}) == OLD_ID
    assert config_id({**base, "isolation": "process"}) == OLD_ID + ";isolation=process"
    locations = Locations(tmp_path, create=False)
    assert space.skip_reason(canonical_config({**base, "isolation": "process"}), locations) is None
    reason = space.skip_reason(canonical_config({**base, "isolation": "process",
                                          "connections": "per_call"}), locations)
    assert "one at a time" in reason
    plan = make_plan(build_spec("standard"), locations)
    assert {c["isolation"] for c in plan.configs} == {"thread", "process"}


def test_process_isolation_reaches_the_worker_and_a_version_without_it_refuses(tmp_path):
    spec = {"polling_interval": 0.1, "concurrency": 1, "db": str(tmp_path / "i.db"),
            "isolation": "process"}
    caps = trial_worker.capabilities()
    assert caps["isolation"]
    assert trial_worker.make_worker(spec, caps, None, burst=True).isolation == "process"
    assert trial_worker.make_worker({**spec, "isolation": "thread"}, caps, None,
                                    burst=True).isolation == "thread"
    caps = {"isolation": False, "lease_timeout": False, "gigq_version": "0.5.1"}
    trial_worker.check_worker_options({"isolation": "thread"}, caps)
    with pytest.raises(RuntimeError, match="no isolation option"):
        trial_worker.check_worker_options({"isolation": "process"}, caps)


def test_lease_timeout_dimension_keeps_old_ids_and_reaches_the_worker(tmp_path):
    from gigq.leases import DEFAULT_LEASE_TIMEOUT

    assert parse_value("lease_timeout", "2.5") == 2.5
    with pytest.raises(SpaceError, match="lease_timeout"):
        parse_value("lease_timeout", 0)
    base = dict(space.DEFAULT_BASE)
    assert base["lease_timeout"] == DEFAULT_LEASE_TIMEOUT
    assert config_id({**base, "lease_timeout": DEFAULT_LEASE_TIMEOUT}) == OLD_ID
    assert config_id({**base, "lease_timeout": 1}) == OLD_ID + ";lease_timeout=1"
    caps = trial_worker.capabilities()
    assert caps["lease_timeout"]
    spec = {"polling_interval": 0.1, "concurrency": 1, "db": str(tmp_path / "l.db"),
            "lease_timeout": 1.5}
    assert trial_worker.make_worker(spec, caps, None, burst=True).lease_timeout == 1.5
    default = trial_worker.make_worker({**spec, "lease_timeout": None}, caps, None, burst=True)
    assert default.lease_timeout == DEFAULT_LEASE_TIMEOUT
    old = {"isolation": False, "lease_timeout": False, "gigq_version": "0.5.1"}
    trial_worker.check_worker_options({"lease_timeout": None}, old)
    with pytest.raises(RuntimeError, match="no leases"):
        trial_worker.check_worker_options({"lease_timeout": 1.0}, old)


@pytest.mark.parametrize("changes", [
    {"workers": 2, "queues": 2, "jobs": 80},             # specialised workers
    {"isolation": "process", "concurrency": 2, "jobs": 60},  # jobs in child processes
    {"lease_timeout": 1, "workers": 2, "jobs": 200},     # heartbeats 3 times a second
], ids=["queues", "isolation", "lease"])
def test_a_trial_on_the_new_dimensions_runs_every_job_once(tmp_path, changes):
    harness, scratch = _harness(tmp_path)
    try:
        outcome = harness.run(_config(**changes))
    finally:
        scratch.cleanup()
    # Valid means the ledgers (written wherever the jobs ran, child processes included)
    # hold each job exactly once.
    assert outcome.valid, outcome.values["invalid_reason"]
    assert outcome.values["jobs_completed"] == changes["jobs"]
