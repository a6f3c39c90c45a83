"""pytest-benchmark micro-suite: the queue's hot paths at small and large backlogs.

Run it with ``tox -e bench`` (saves every run under ``.benchmarks/``) or
``pytest bench``; compare a change against the last saved run with
``pytest bench --benchmark-compare --benchmark-compare-fail=median:15%``
(docs/regressions.md). These numbers are for before/after checks on one machine; the
CI gate is ``gigq-bench ab``, which measures both versions in the same run.

Backlogs are built with ``submit_many`` in batches, so the 100k case costs about two
seconds to set up, once per module.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from gigq import Job, JobQueue, Worker

BACKLOGS = (1_000, 100_000)
# Rounds per benchmark of a state-changing call: each claim+complete consumes one job,
# so the backlog stays within 1,000 of its nominal size.
ROUNDS = 1_000
BATCH = 10_000  # the batch size of the submit_many target


def noop() -> None:
    """The benchmark job: does nothing, so the queue's own cost is what is measured."""


def make_jobs(n: int) -> list[Job]:
    """``n`` fresh no-op jobs."""
    return [Job(name="noop", function=noop) for _ in range(n)]


def fill(queue: JobQueue, n: int) -> list[str]:
    """Submit ``n`` no-op jobs in batches; returns their ids."""
    ids: list[str] = []
    for start in range(0, n, 10_000):
        ids += queue.submit_many(make_jobs(min(10_000, n - start)))
    return ids


@pytest.fixture(scope="module", params=BACKLOGS, ids=lambda n: f"backlog={n // 1000}k")
def backlog(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[JobQueue, list[str], Path]:
    """A database holding ``n`` pending jobs (plus room for ROUNDS claims)."""
    db = tmp_path_factory.mktemp("backlog") / "jobs.db"
    queue = JobQueue(db)
    ids = fill(queue, request.param + ROUNDS)
    return queue, ids, db


@pytest.fixture
def empty_queue(tmp_path: Path) -> JobQueue:
    """A fresh database with default settings (WAL, synchronous=NORMAL)."""
    return JobQueue(tmp_path / "jobs.db")


def test_submit(benchmark, empty_queue: JobQueue) -> None:
    """One-by-one submit of a no-op job (job construction not timed)."""
    benchmark.pedantic(empty_queue.submit, setup=lambda: ((make_jobs(1)[0],), {}),
                       rounds=ROUNDS, warmup_rounds=50)
    assert empty_queue.stats()["pending"] == ROUNDS + 50


def test_submit_many(benchmark, tmp_path: Path) -> None:
    """``submit_many`` of 10,000 jobs into an empty database, in one transaction."""
    fresh = itertools.count()

    def setup() -> tuple[tuple[JobQueue, list[Job]], dict]:
        queue = JobQueue(tmp_path / f"jobs-{next(fresh)}.db")
        return (queue, make_jobs(BATCH)), {}

    def submit(queue: JobQueue, jobs: list[Job]) -> None:
        queue.submit_many(jobs)
        submitted.append(queue)

    submitted: list[JobQueue] = []
    benchmark.extra_info["jobs_per_round"] = BATCH
    benchmark.pedantic(submit, setup=setup, rounds=15, warmup_rounds=2)
    assert [q.stats()["pending"] for q in submitted] == [BATCH] * 17


def test_claim_complete(benchmark, backlog: tuple[JobQueue, list[str], Path]) -> None:
    """Claim the best ready job, run the no-op and record its completion."""
    queue, _, db = backlog
    worker = Worker(db, worker_id="bench", polling_interval=0)
    before = queue.stats()["completed"]
    claimed = benchmark.pedantic(worker.process_one, rounds=ROUNDS // 2, warmup_rounds=10)
    assert claimed
    assert queue.stats()["completed"] == before + ROUNDS // 2 + 10
    worker.close()


def test_get_status(benchmark, backlog: tuple[JobQueue, list[str], Path]) -> None:
    """``get_status`` of a random job in the backlog."""
    queue, ids, _ = backlog
    picks = itertools.cycle(random.Random(0).sample(ids, 1000))
    status = benchmark(lambda: queue.get_status(next(picks)))
    assert status["exists"]


def test_stats(benchmark, backlog: tuple[JobQueue, list[str], Path]) -> None:
    """``stats()``: counts per status over the whole table."""
    queue, ids, _ = backlog
    counts = benchmark(queue.stats)
    assert counts["total"] == len(ids)
